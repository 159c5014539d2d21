//! Gatekeeper-compatible policies, decided as Gatekeeper decides them.
//!
//! A [`Library`] holds ConstraintTemplates (compiled once: Rego through regorus, CEL through
//! the `cel` crate with Kubernetes' libraries) and the Constraints that instantiate them. [`Library::review`] matches a
//! [`Review`] against every constraint first and evaluates only the templates that matched, so
//! a Pod costs nothing for constraints on Services. No I/O: callers hand in decoded JSON.
//!
//! [`suite`] holds the model of gator's `Suite` files, so `podsec verify` asserts exactly what
//! `gator verify` asserts.

mod cel;
mod cel_k8s;
mod cel_net;
mod cel_quantity;
mod cel_semver;
mod cel_value;
mod conflicts;
mod constraint;
mod inventory;
mod library;
mod matching;
mod negation;
mod rego;
mod review;
mod schema;
pub mod suite;
mod template;

pub use constraint::{Constraint, ConstraintError, EnforcementAction, EnforcementPoint};
pub use inventory::Inventory;
pub use library::{Evaluated, Library, LoadError, Violation};
pub use review::Review;
pub use template::{Engine, EnginePreference, Template, TemplateError};

/// The only target Gatekeeper's admission webhook serves.
pub const ADMISSION_TARGET: &str = "admission.k8s.gatekeeper.sh";

/// `apiVersion` group of ConstraintTemplates.
pub const TEMPLATES_GROUP: &str = "templates.gatekeeper.sh";

/// `apiVersion` group of Constraints.
pub const CONSTRAINTS_GROUP: &str = "constraints.gatekeeper.sh";

/// The group of an `apiVersion` (`""` for the core group's `v1`).
pub(crate) fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}
