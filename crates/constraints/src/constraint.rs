//! Constraints: a template's kind, a match, parameters and what to do with a violation.

use serde_json::Value;

use crate::cel::ConstraintValues;
use crate::cel_value::CelData;
use crate::library::rego_value;
use crate::matching::Match;
use crate::template::Template;
use crate::CONSTRAINTS_GROUP;

/// What a violation of a constraint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EnforcementAction {
    /// Reported only (audit, logs, audit annotations).
    Dryrun,
    /// Admitted with a warning.
    Warn,
    /// Denied.
    Deny,
}

impl EnforcementAction {
    pub fn label(self) -> &'static str {
        match self {
            EnforcementAction::Deny => "deny",
            EnforcementAction::Warn => "warn",
            EnforcementAction::Dryrun => "dryrun",
        }
    }

    fn parse(raw: &str) -> Option<EnforcementAction> {
        match raw.to_ascii_lowercase().as_str() {
            "deny" => Some(EnforcementAction::Deny),
            "warn" => Some(EnforcementAction::Warn),
            "dryrun" => Some(EnforcementAction::Dryrun),
            _ => None,
        }
    }
}

/// Where a constraint is being enforced (`scopedEnforcementActions` can differ per point).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnforcementPoint {
    /// The admission webhook (`validation.gatekeeper.sh`).
    Validation,
    /// The audit of existing objects (`audit.gatekeeper.sh`).
    Audit,
    /// Offline evaluation: gator, `podsec check` and `podsec verify` (`gator.gatekeeper.sh`).
    Gator,
}

impl EnforcementPoint {
    fn name(self) -> &'static str {
        match self {
            EnforcementPoint::Validation => "validation.gatekeeper.sh",
            EnforcementPoint::Audit => "audit.gatekeeper.sh",
            EnforcementPoint::Gator => "gator.gatekeeper.sh",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConstraintError {
    #[error("apiVersion {0:?} is not a constraint version: use constraints.gatekeeper.sh/v1beta1 (or v1alpha1)")]
    Version(String),
    #[error("metadata.name {0:?} must be a DNS-1123 label of at most 63 characters")]
    Name(String),
    #[error("no ConstraintTemplate defines kind {0:?}; load its template first")]
    NoTemplate(String),
    #[error("{0}")]
    Spec(String),
    #[error("invalid parameters: {0}")]
    Parameters(String),
}

/// A constraint, ready to match and evaluate.
#[derive(Debug)]
pub struct Constraint {
    kind: String,
    name: String,
    matcher: Match,
    parameters: Value,
    parameters_rego: regorus::Value,
    parameters_cel: CelData,
    object_cel: CelData,
    cel_values: ConstraintValues,
    action: Action,
}

#[derive(Debug, Clone)]
enum Action {
    Fixed(EnforcementAction),
    Scoped(Vec<(EnforcementAction, Vec<String>)>),
}

impl Constraint {
    /// Reads a constraint of `template`'s kind: checks its spec and applies the parameters
    /// schema (types, defaults, pruning) as the API server would.
    pub fn from_json(object: &Value, template: &Template) -> Result<Constraint, ConstraintError> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !matches!(
            api_version.rsplit_once('/'),
            Some((CONSTRAINTS_GROUP, "v1beta1" | "v1alpha1" | "v1"))
        ) {
            return Err(ConstraintError::Version(api_version.to_string()));
        }
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind != template.kind() {
            return Err(ConstraintError::NoTemplate(kind.to_string()));
        }
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !is_dns_label(name) {
            return Err(ConstraintError::Name(name.to_string()));
        }
        let spec = match object.get("spec") {
            None | Some(Value::Null) => &serde_json::Map::new(),
            Some(Value::Object(spec)) => spec,
            Some(_) => return Err(ConstraintError::Spec("spec: must be an object".into())),
        };
        let known = [
            "match",
            "parameters",
            "enforcementAction",
            "scopedEnforcementActions",
        ];
        if let Some(unknown) = spec.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ConstraintError::Spec(format!(
                "spec.{unknown}: unknown field (known: {})",
                known.join(", ")
            )));
        }
        let matcher = Match::parse(spec.get("match")).map_err(ConstraintError::Spec)?;
        let raw_parameters = match spec.get("parameters") {
            None | Some(Value::Null) => Value::Object(serde_json::Map::new()),
            Some(p) => p.clone(),
        };
        let parameters = template
            .parameters()
            .apply(&raw_parameters)
            .map_err(ConstraintError::Parameters)?;
        let action = action(spec)?;
        // CEL's `params` is the constraint with its stored (defaulted) parameters.
        let mut stored = object.clone();
        if let Some(Value::Object(spec)) = stored.get_mut("spec") {
            spec.insert("parameters".into(), parameters.clone());
        }
        Ok(Constraint {
            kind: kind.to_string(),
            name: name.to_string(),
            matcher,
            parameters_rego: rego_value(&parameters),
            parameters_cel: CelData::from_json(&parameters),
            object_cel: CelData::from_json(&stored),
            cel_values: ConstraintValues::default(),
            parameters,
            action,
        })
    }

    pub fn kind(&self) -> &str {
        &self.kind
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameters after defaulting and pruning.
    pub fn parameters(&self) -> &Value {
        &self.parameters
    }

    /// What a violation does at `point`; `None` when a scoped constraint skips that point.
    pub fn action_at(&self, point: EnforcementPoint) -> Option<EnforcementAction> {
        match &self.action {
            Action::Fixed(action) => Some(*action),
            Action::Scoped(scoped) => scoped
                .iter()
                .filter(|(_, points)| points.iter().any(|p| p == "*" || p == point.name()))
                .map(|(action, _)| *action)
                .max(),
        }
    }

    pub(crate) fn matcher(&self) -> &Match {
        &self.matcher
    }

    pub(crate) fn parameters_rego(&self) -> &regorus::Value {
        &self.parameters_rego
    }

    pub(crate) fn parameters_cel(&self) -> &CelData {
        &self.parameters_cel
    }

    pub(crate) fn object_cel(&self) -> &CelData {
        &self.object_cel
    }

    pub(crate) fn cel_values(&self) -> &ConstraintValues {
        &self.cel_values
    }
}

fn action(spec: &serde_json::Map<String, Value>) -> Result<Action, ConstraintError> {
    let raw = spec
        .get("enforcementAction")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .unwrap_or("deny");
    if raw.eq_ignore_ascii_case("scoped") {
        let Some(Value::Array(entries)) = spec.get("scopedEnforcementActions") else {
            return Err(ConstraintError::Spec(
                "enforcementAction scoped needs spec.scopedEnforcementActions".into(),
            ));
        };
        let mut scoped = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let at = format!("spec.scopedEnforcementActions[{index}]");
            let name = entry
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let action = EnforcementAction::parse(name).ok_or_else(|| {
                ConstraintError::Spec(format!("{at}.action: {name:?} is not deny, warn or dryrun"))
            })?;
            let points = match entry.get("enforcementPoints") {
                Some(Value::Array(points)) => points
                    .iter()
                    .filter_map(|p| p.get("name").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect(),
                _ => Vec::new(),
            };
            scoped.push((action, points));
        }
        return Ok(Action::Scoped(scoped));
    }
    EnforcementAction::parse(raw)
        .map(Action::Fixed)
        .ok_or_else(|| {
            ConstraintError::Spec(format!(
                "spec.enforcementAction: {raw:?} is not deny, warn, dryrun or scoped"
            ))
        })
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !name.starts_with(['-', '.'])
        && !name.ends_with(['-', '.'])
}
