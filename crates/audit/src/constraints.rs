//! Gatekeeper constraints in `check` and `audit`: violations merged into a check report, and
//! per-constraint audit results as Gatekeeper's audit writes them into constraint status.

use std::collections::BTreeMap;

use podsec_constraints::{
    EnforcementAction, EnforcementPoint, Inventory, Library, Review, Violation,
};
use serde::Serialize;

use crate::check::{ObjectResult, Report, ViolationEntry};

/// Gatekeeper's audit keeps at most this many violations per constraint
/// (`--constraint-violations-limit`).
pub const AUDIT_VIOLATIONS_LIMIT: usize = 20;

/// Gatekeeper cuts audit messages longer than this many bytes.
const AUDIT_MESSAGE_LIMIT: usize = 256;

/// One object's constraint violations in a `check` run.
#[derive(Debug)]
pub struct ObjectFindings {
    pub file: String,
    pub line: usize,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub violations: Vec<Violation>,
    /// Violations a PodSecurityException waived.
    pub waived: Vec<crate::check::WaivedEntry>,
}

/// Gatekeeper's deny text: `[<constraint name>] <msg>` lines, in its order (kind, then name).
pub fn deny_message<'v>(violations: impl IntoIterator<Item = &'v Violation>) -> Option<String> {
    let lines: Vec<String> = violations
        .into_iter()
        .filter(|v| v.action == EnforcementAction::Deny)
        .map(Violation::line)
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

impl Report {
    /// Adds constraint violations: to the object's result when it was checked already (a pod
    /// or controller), else as a result of its own. Only `deny` violations deny.
    pub fn add_constraint_findings(&mut self, findings: Vec<ObjectFindings>) {
        for found in findings {
            if found.violations.is_empty() && found.waived.is_empty() {
                continue;
            }
            let existing = self.results.iter_mut().position(|r| {
                r.file == found.file
                    && r.kind == found.kind
                    && r.name == found.name
                    && (r.namespace == found.namespace || found.namespace.is_none())
            });
            let index = match existing {
                Some(index) => index,
                None => {
                    self.results.push(ObjectResult {
                        file: found.file.clone(),
                        line: found.line,
                        api_version: found.api_version.clone(),
                        kind: found.kind.clone(),
                        namespace: found.namespace.clone(),
                        name: found.name.clone(),
                        level: None,
                        version: None,
                        psp: None,
                        allowed: true,
                        message: None,
                        violations: Vec::new(),
                        waived: Vec::new(),
                        field_warnings: Vec::new(),
                    });
                    self.results.len() - 1
                }
            };
            let Some(result) = self.results.get_mut(index) else {
                continue;
            };
            result.waived.extend(found.waived);
            if let Some(deny) = deny_message(&found.violations) {
                result.allowed = false;
                result.message = Some(match result.message.take() {
                    Some(pss) => format!("{pss}\n{deny}"),
                    None => deny,
                });
            }
            result
                .violations
                .extend(found.violations.iter().map(|v| ViolationEntry {
                    check: format!("{}/{}", v.constraint_kind, v.constraint_name),
                    reason: v.message.clone(),
                    detail: match &v.details {
                        serde_json::Value::Null => String::new(),
                        serde_json::Value::Object(o) if o.is_empty() => String::new(),
                        details => details.to_string(),
                    },
                    fields: Vec::new(),
                    hint: String::new(),
                    enforcement_action: Some(v.action.label().to_string()),
                }));
        }
        self.results
            .sort_by(|a, b| (a.file.as_str(), a.line).cmp(&(b.file.as_str(), b.line)));
        let allowed = self.results.iter().filter(|r| r.allowed).count();
        self.summary.objects = self.results.len();
        self.summary.allowed = allowed;
        self.summary.denied = self.results.len() - allowed;
    }
}

/// One constraint's audit, as Gatekeeper writes it into the constraint's status.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConstraintAudit {
    pub kind: String,
    pub name: String,
    pub enforcement_action: String,
    pub total_violations: usize,
    /// The first [`AUDIT_VIOLATIONS_LIMIT`] violations.
    pub violations: Vec<AuditViolation>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditViolation {
    pub group: String,
    pub version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub message: String,
    pub enforcement_action: String,
}

/// Collects violations object by object into per-constraint audits.
#[derive(Debug, Default)]
pub struct AuditCollector {
    by_constraint: BTreeMap<(String, String), ConstraintAudit>,
}

impl AuditCollector {
    /// Registers a constraint so that it is reported even with no violation.
    pub fn constraint(&mut self, kind: &str, name: &str, action: EnforcementAction) {
        self.by_constraint
            .entry((kind.to_string(), name.to_string()))
            .or_insert_with(|| ConstraintAudit {
                kind: kind.to_string(),
                name: name.to_string(),
                enforcement_action: action.label().to_string(),
                total_violations: 0,
                violations: Vec::new(),
            });
    }

    /// The violations of one object (`apiVersion`, kind, namespace, name).
    pub fn object(
        &mut self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        violations: &[Violation],
    ) {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        for v in violations {
            let audit = self
                .by_constraint
                .entry((v.constraint_kind.clone(), v.constraint_name.clone()))
                .or_insert_with(|| ConstraintAudit {
                    kind: v.constraint_kind.clone(),
                    name: v.constraint_name.clone(),
                    enforcement_action: v.action.label().to_string(),
                    total_violations: 0,
                    violations: Vec::new(),
                });
            audit.total_violations += 1;
            if audit.violations.len() < AUDIT_VIOLATIONS_LIMIT {
                audit.violations.push(AuditViolation {
                    group: group.to_string(),
                    version: version.to_string(),
                    kind: kind.to_string(),
                    namespace: namespace.filter(|n| !n.is_empty()).map(str::to_string),
                    name: name.to_string(),
                    message: truncate_message(&v.message),
                    enforcement_action: v.action.label().to_string(),
                });
            }
        }
    }

    pub fn finish(self) -> Vec<ConstraintAudit> {
        self.by_constraint.into_values().collect()
    }
}

/// Over 256 bytes: the first 253 (on a character boundary) and `...`, as Gatekeeper cuts.
fn truncate_message(message: &str) -> String {
    if message.len() <= AUDIT_MESSAGE_LIMIT {
        return message.to_string();
    }
    let mut end = AUDIT_MESSAGE_LIMIT - 3;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

/// Audits objects against constraints one at a time, as Gatekeeper's audit reviews what its
/// cache holds: each object with its Namespace (seen earlier in the stream, or given first).
pub struct ConstraintAuditor<'l> {
    library: &'l Library,
    inventory: Inventory,
    namespaces: BTreeMap<String, serde_json::Value>,
    collector: AuditCollector,
    objects: usize,
    /// PodSecurityExceptions that waive constraints, and the time they are judged at.
    exceptions: Option<(podsec_exceptions::ExceptionSet, i64)>,
}

impl<'l> ConstraintAuditor<'l> {
    pub fn new(library: &'l Library, inventory: Inventory) -> ConstraintAuditor<'l> {
        let mut collector = AuditCollector::default();
        for c in library.constraints() {
            if let Some(action) = c.action_at(EnforcementPoint::Audit) {
                collector.constraint(c.kind(), c.name(), action);
            }
        }
        ConstraintAuditor {
            library,
            inventory,
            namespaces: BTreeMap::new(),
            collector,
            objects: 0,
            exceptions: None,
        }
    }

    /// Constraint violations these exceptions waive are not counted.
    pub fn set_exceptions(&mut self, exceptions: podsec_exceptions::ExceptionSet, now: i64) {
        self.exceptions = Some((exceptions, now));
    }

    /// Makes a Namespace known before the objects in it arrive.
    pub fn namespace(&mut self, namespace: &serde_json::Value) {
        if let Some(name) = namespace
            .pointer("/metadata/name")
            .and_then(serde_json::Value::as_str)
        {
            self.namespaces.insert(name.to_string(), namespace.clone());
        }
    }

    pub fn object(&mut self, object: serde_json::Value) {
        let text = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (api_version, kind) = (text("/apiVersion"), text("/kind"));
        let (namespace, name) = (text("/metadata/namespace"), text("/metadata/name"));
        if api_version == "v1" && kind == "Namespace" {
            self.namespace(&object);
        }
        if Library::is_template(&object) || Library::is_constraint(&object) {
            return;
        }
        self.objects += 1;
        let namespace_object = self.namespaces.get(&namespace).cloned();
        let waivable = self.exceptions.as_ref().is_some_and(|(set, _)| {
            set.has_namespace(if namespace.is_empty() {
                "default"
            } else {
                &namespace
            })
        });
        let kept = waivable.then(|| object.clone());
        let review = Review::from_object(object, namespace_object);
        let mut violations = self
            .library
            .review(&review, &self.inventory, EnforcementPoint::Audit);
        if let (Some(object), Some((set, now))) = (kept, &self.exceptions) {
            if !violations.is_empty() {
                waive_constraint_violations(
                    set,
                    *now,
                    &object,
                    &namespace,
                    &kind,
                    &name,
                    &mut violations,
                );
            }
        }
        self.collector
            .object(&api_version, &kind, Some(&namespace), &name, &violations);
    }

    /// Objects reviewed.
    pub fn objects(&self) -> usize {
        self.objects
    }

    pub fn finish(self) -> Vec<ConstraintAudit> {
        self.collector.finish()
    }
}

/// Removes the constraint violations an exception for the object waives (by `Kind/name`),
/// returning them as waived entries.
pub fn waive_constraint_violations(
    exceptions: &podsec_exceptions::ExceptionSet,
    now: i64,
    object: &serde_json::Value,
    namespace: &str,
    kind: &str,
    name: &str,
    violations: &mut Vec<podsec_constraints::Violation>,
) -> Vec<crate::check::WaivedEntry> {
    // Cluster-scoped objects (and objects whose namespace is unknown) are in no namespace an
    // exception could be in.
    if namespace.is_empty() {
        return Vec::new();
    }
    // A pod-bearing object is matched as its pods are; anything else by its kind and name.
    let decoded = podsec_manifest::classify(object.clone()).ok();
    let (meta, spec, workload) = match &decoded {
        Some(podsec_manifest::Object::Workload(w)) => (
            w.pod_meta.clone(),
            w.pod_spec.clone(),
            (w.kind != podsec_manifest::WorkloadKind::Pod).then_some((kind, name)),
        ),
        _ => (
            object
                .get("metadata")
                .and_then(|m| serde_json::from_value(m.clone()).ok())
                .unwrap_or_default(),
            podsec_policy::PodSpec::default(),
            Some((kind, name)),
        ),
    };
    let has_pods = matches!(decoded, Some(podsec_manifest::Object::Workload(_)));
    let owner = match &decoded {
        Some(podsec_manifest::Object::Workload(w)) => w.meta.controller().cloned(),
        _ => None,
    };
    let subject = podsec_exceptions::Subject::new(namespace, workload, &meta, &spec)
        .with_owner(owner.as_ref());
    let applicable = exceptions.applicable(&subject, now);
    let mut waived = Vec::new();
    violations.retain(|v| {
        match applicable.iter().find(|e| {
            e.waives_constraint_for(&subject, has_pods, &v.constraint_kind, &v.constraint_name)
        }) {
            Some(e) => {
                waived.push(crate::check::WaivedEntry {
                    check: format!("{}/{}", v.constraint_kind, v.constraint_name),
                    exception: e.id(),
                    expires: e.expires_text.clone(),
                    reason: v.message.clone(),
                    detail: String::new(),
                });
                false
            }
            None => true,
        }
    });
    waived
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(name: &str, action: EnforcementAction, message: &str) -> Violation {
        Violation {
            constraint_kind: "K8sPSPPrivilegedContainer".into(),
            constraint_name: name.into(),
            message: message.into(),
            details: serde_json::Value::Null,
            action,
            error: false,
        }
    }

    #[test]
    fn only_deny_lines_make_the_deny_message() {
        let found = [
            violation("a", EnforcementAction::Deny, "one"),
            violation("b", EnforcementAction::Warn, "two"),
            violation("c", EnforcementAction::Deny, "three"),
        ];
        assert_eq!(deny_message(&found).as_deref(), Some("[a] one\n[c] three"));
        assert_eq!(deny_message(&found[1..2]), None);
    }

    #[test]
    fn audits_keep_twenty_violations_and_count_all() {
        let mut audit = AuditCollector::default();
        audit.constraint(
            "K8sPSPPrivilegedContainer",
            "quiet",
            EnforcementAction::Dryrun,
        );
        let long = "x".repeat(300);
        for i in 0..25 {
            audit.object(
                "v1",
                "Pod",
                Some("default"),
                &format!("p{i}"),
                &[violation("loud", EnforcementAction::Deny, &long)],
            );
        }
        let audits = audit.finish();
        assert_eq!(audits.len(), 2);
        let loud = &audits[0];
        assert_eq!(
            (
                loud.name.as_str(),
                loud.total_violations,
                loud.violations.len()
            ),
            ("loud", 25, 20)
        );
        assert_eq!(loud.violations[0].message.len(), 256);
        assert!(loud.violations[0].message.ends_with("..."));
        assert_eq!(
            (audits[1].name.as_str(), audits[1].total_violations),
            ("quiet", 0)
        );
    }
}
