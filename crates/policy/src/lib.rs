//! podsec's policy core: pure evaluation of Pod Security Standards, exactly as upstream Pod
//! Security Admission decides. No I/O, no async, no global state.
//!
//! ```
//! use podsec_policy::{evaluate, Level, LevelVersion, ObjectMeta, PodSpec, Version};
//! let spec: PodSpec = serde_json::from_str(r#"{"containers":[{"name":"web","image":"nginx"}]}"#).unwrap();
//! let eval = evaluate(LevelVersion::new(Level::Baseline, Version::Latest), &ObjectMeta::default(), &spec);
//! assert!(eval.allowed());
//! ```

pub mod defaults;
mod level;
pub mod namespace_policy;
pub mod pod;
pub mod psp;
pub mod pss;
pub mod rbac;
mod reason_groups;
mod text;

pub use level::{Level, LevelVersion, ParseError, Version};
pub use namespace_policy::{LabelError, Policy};
pub use pod::{ObjectMeta, PodSpec};
pub use pss::{evaluate, CheckId, Evaluation, Violation};
pub use reason_groups::ReasonGroups;
pub use text::go_quote;
