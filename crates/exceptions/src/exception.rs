//! The `podsec.dev/v1alpha1` PodSecurityException object: who it applies to, what it waives
//! (narrowed to values), why, and until when. Read and validated here; a problem names the
//! field and what to write instead.

use std::collections::BTreeMap;

use podsec_policy::CheckId;
use serde_json::Value;

use crate::glob::Glob;
use crate::time::parse_rfc3339;
use crate::values::{check_allow, Allowed};

pub const API_VERSION: &str = "podsec.dev/v1alpha1";
pub const KIND: &str = "PodSecurityException";

/// A workload an exception names: its kind (any when absent) and a name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadRef {
    pub kind: Option<String>,
    pub name: Glob,
}

/// Whom an exception applies to, within its namespace. Every selector given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    pub workloads: Vec<WorkloadRef>,
    pub pod_labels: BTreeMap<String, String>,
    pub service_accounts: Vec<Glob>,
    /// Only these containers' fields are waived (all when empty).
    pub containers: Vec<Glob>,
    /// Only containers running these images (all when empty).
    pub images: Vec<Glob>,
}

/// What is waived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Check(CheckId),
    /// A Gatekeeper constraint: `Kind/name` (the name may be a pattern).
    Constraint {
        kind: String,
        name: Glob,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    pub target: Target,
    /// The values allowed; `None`: the check is waived whole.
    pub allow: Option<Allowed>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub namespace: String,
    pub name: String,
    pub owner: String,
    pub reason: String,
    pub ticket: Option<String>,
    /// Unix seconds; the exception applies strictly before.
    pub expires: i64,
    pub expires_text: String,
    pub matches: Match,
    pub waivers: Vec<Waiver>,
}

/// An exception that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PodSecurityException {object}: {}", problems.join("; "))]
pub struct ExceptionError {
    pub object: String,
    pub problems: Vec<String>,
}

fn strings(value: Option<&Value>, field: &str, problems: &mut Vec<String>) -> Vec<String> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v.as_str() {
                Some(s) => Some(s.to_string()),
                None => {
                    problems.push(format!("{field}[{i}]: must be a string"));
                    None
                }
            })
            .collect(),
        Some(_) => {
            problems.push(format!("{field}: must be a list of strings"));
            Vec::new()
        }
    }
}

fn globs(value: Option<&Value>, field: &str, problems: &mut Vec<String>) -> Vec<Glob> {
    strings(value, field, problems)
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match Glob::parse(s) {
            Ok(g) => Some(g),
            Err(e) => {
                problems.push(format!("{field}[{i}]: {e}"));
                None
            }
        })
        .collect()
}

impl Exception {
    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn is_exception(object: &Value) -> bool {
        object.get("kind").and_then(Value::as_str) == Some(KIND)
            && object
                .get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|v| v.starts_with("podsec.dev/"))
    }

    /// Reads an exception. `default_namespace` is used when the object names none.
    pub fn parse(object: &Value, default_namespace: &str) -> Result<Exception, ExceptionError> {
        let mut problems = Vec::new();
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(default_namespace)
            .to_string();
        let id = format!("{namespace}/{name}");
        match object.get("apiVersion").and_then(Value::as_str) {
            Some(API_VERSION) => {}
            other => problems.push(format!(
                "apiVersion {}: podsec knows {API_VERSION}",
                other.unwrap_or("(none)")
            )),
        }
        if name.is_empty() {
            problems.push("metadata.name: required".into());
        }
        let empty = Value::Null;
        let spec = object.get("spec").unwrap_or(&empty);
        let text = |key: &str, problems: &mut Vec<String>, required: bool| -> Option<String> {
            match spec.get(key) {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
                None | Some(Value::Null) if !required => None,
                _ => {
                    problems.push(format!("spec.{key}: required, a non-empty string"));
                    None
                }
            }
        };
        let owner = text("owner", &mut problems, true).unwrap_or_default();
        let reason = text("reason", &mut problems, true).unwrap_or_default();
        let ticket = text("ticket", &mut problems, false);
        let expires_text = text("expires", &mut problems, true).unwrap_or_default();
        let expires = match parse_rfc3339(&expires_text) {
            Some(t) => t,
            None => {
                if !expires_text.is_empty() {
                    problems.push(format!(
                        "spec.expires: {expires_text:?} is not an RFC 3339 time (e.g. 2027-03-31T00:00:00Z)"
                    ));
                }
                0
            }
        };
        let matches = parse_match(spec.get("match"), &mut problems);
        let waivers = parse_waivers(spec.get("waive"), &mut problems);
        for key in spec.as_object().into_iter().flat_map(|m| m.keys()) {
            if !matches!(
                key.as_str(),
                "owner" | "reason" | "ticket" | "expires" | "match" | "waive"
            ) {
                problems.push(format!(
                    "spec.{key}: unknown field (owner, reason, ticket, expires, match, waive)"
                ));
            }
        }
        if !problems.is_empty() {
            return Err(ExceptionError {
                object: id,
                problems,
            });
        }
        Ok(Exception {
            namespace,
            name,
            owner,
            reason,
            ticket,
            expires,
            expires_text,
            matches,
            waivers,
        })
    }
}

fn parse_match(value: Option<&Value>, problems: &mut Vec<String>) -> Match {
    let Some(m) = value.and_then(Value::as_object) else {
        problems.push(
            "spec.match: required: name the workloads (workloads, podLabels or serviceAccounts) the exception is for"
                .into(),
        );
        return Match::default();
    };
    let mut out = Match::default();
    for (key, v) in m {
        match key.as_str() {
            "workloads" => {
                let Some(items) = v.as_array() else {
                    problems.push("spec.match.workloads: must be a list of {kind, name}".into());
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    for key in item.as_object().into_iter().flat_map(|m| m.keys()) {
                        if key != "kind" && key != "name" {
                            problems.push(format!(
                                "spec.match.workloads[{i}].{key}: unknown field (kind, name)"
                            ));
                        }
                    }
                    let kind = match item.get("kind") {
                        None => None,
                        Some(Value::String(k)) if !k.is_empty() => Some(k.clone()),
                        Some(other) => {
                            problems.push(format!(
                                "spec.match.workloads[{i}].kind: {other} is not a kind (Deployment, DaemonSet, …); omit it for any kind"
                            ));
                            continue;
                        }
                    };
                    match item.get("name").and_then(Value::as_str).map(Glob::parse) {
                        Some(Ok(name)) => out.workloads.push(WorkloadRef { kind, name }),
                        Some(Err(e)) => problems.push(format!("spec.match.workloads[{i}].name: {e}")),
                        None => problems.push(format!(
                            "spec.match.workloads[{i}].name: required (a name or pattern)"
                        )),
                    }
                }
            }
            "podLabels" => match v.as_object() {
                Some(labels) => {
                    for (k, l) in labels {
                        match l.as_str() {
                            Some(l) => {
                                out.pod_labels.insert(k.clone(), l.to_string());
                            }
                            None => problems.push(format!("spec.match.podLabels[{k}]: must be a string")),
                        }
                    }
                }
                None => problems.push("spec.match.podLabels: must be a map of strings".into()),
            },
            "serviceAccounts" => out.service_accounts = globs(Some(v), "spec.match.serviceAccounts", problems),
            "containers" => out.containers = globs(Some(v), "spec.match.containers", problems),
            "images" => out.images = globs(Some(v), "spec.match.images", problems),
            other => problems.push(format!(
                "spec.match.{other}: unknown field (workloads, podLabels, serviceAccounts, containers, images)"
            )),
        }
    }
    if out.workloads.is_empty() && out.pod_labels.is_empty() && out.service_accounts.is_empty() {
        problems.push(
            "spec.match: name the workloads (workloads, podLabels or serviceAccounts): an exception for a whole namespace is a namespace level, not an exception"
                .into(),
        );
    }
    out
}

fn parse_waivers(value: Option<&Value>, problems: &mut Vec<String>) -> Vec<Waiver> {
    let Some(items) = value.and_then(Value::as_array).filter(|a| !a.is_empty()) else {
        problems.push(
            "spec.waive: required: a list of {check: ID, allow: [...]} or {constraint: Kind/name}"
                .into(),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("spec.waive[{i}]");
        // A misspelt key (`alow`) must not turn a narrowed waiver into a whole one.
        for key in item.as_object().into_iter().flat_map(|m| m.keys()) {
            if !matches!(key.as_str(), "check" | "constraint" | "allow") {
                problems.push(format!(
                    "{at}.{key}: unknown field (check, constraint, allow)"
                ));
            }
        }
        let check = item.get("check").and_then(Value::as_str);
        let constraint = item.get("constraint").and_then(Value::as_str);
        let target = match (check, constraint) {
            (Some(id), None) => match CheckId::parse(id) {
                Some(id) => Target::Check(id),
                None => {
                    let known: Vec<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
                    problems.push(format!(
                        "{at}.check: unknown check {id:?}; the checks are {}",
                        known.join(", ")
                    ));
                    continue;
                }
            },
            (None, Some(text)) => match text.split_once('/') {
                Some((kind, name)) if !kind.is_empty() => match Glob::parse(name) {
                    Ok(name) => Target::Constraint {
                        kind: kind.to_string(),
                        name,
                    },
                    Err(e) => {
                        problems.push(format!("{at}.constraint: {e}"));
                        continue;
                    }
                },
                _ => {
                    problems.push(format!("{at}.constraint: {text:?} is not Kind/name (e.g. K8sPSPHostFilesystem/psp-host-filesystem)"));
                    continue;
                }
            },
            _ => {
                problems.push(format!("{at}: give exactly one of check or constraint"));
                continue;
            }
        };
        let allow = match (item.get("allow"), &target) {
            (None, _) => None,
            (Some(Value::Null), _) => {
                problems.push(format!(
                    "{at}.allow: null; give the values, or omit allow to waive the check whole"
                ));
                continue;
            }
            (Some(_), Target::Constraint { .. }) => {
                problems.push(format!(
                    "{at}.allow: a constraint is waived whole; values narrow PSS checks only"
                ));
                continue;
            }
            (Some(values), Target::Check(id)) => match check_allow(*id, values) {
                Ok(allowed) => Some(allowed),
                Err(e) => {
                    problems.push(format!("{at}.allow: {e}"));
                    continue;
                }
            },
        };
        out.push(Waiver { target, allow });
    }
    out
}
