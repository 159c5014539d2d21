//! `audit` with PodSecurityExceptions: which are in use (by how many pods and workloads),
//! unused, expired, expiring soon; and the namespaces whose level would rise if the
//! exceptions stood in for a lower namespace level.

use std::collections::BTreeMap;

use podsec_exceptions::{Exception, ExceptionSet, Subject};
use podsec_manifest::{classify, Object, WorkloadKind};
use podsec_policy::{evaluate, Level, LevelVersion, Version};
use serde::Serialize;
use serde_json::Value;

/// One exception's use across the snapshot.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExceptionUse {
    /// `namespace/name`.
    pub exception: String,
    pub owner: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    pub expires: String,
    /// `active`, `expiring` (within the warning window), `expired`.
    pub status: String,
    /// Pods (objects of kind Pod) with a violation it waives.
    pub pods: u64,
    /// Pod controllers (their templates) with a violation it waives.
    pub workloads: u64,
    /// The checks it waived somewhere.
    pub checks: Vec<String>,
}

/// A namespace whose pods would pass a higher level with the exceptions applied.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LevelRise {
    pub namespace: String,
    /// The highest level every pod passes today.
    pub level: String,
    /// With the exceptions.
    pub with_exceptions: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct ExceptionAudit {
    pub exceptions: Vec<ExceptionUse>,
    /// Exceptions that cannot be used, with why (they waive nothing).
    pub invalid: Vec<String>,
    pub namespaces_that_would_rise: Vec<LevelRise>,
}

impl ExceptionAudit {
    pub fn count(&self, status: &str) -> usize {
        self.exceptions
            .iter()
            .filter(|e| e.status == status)
            .count()
    }

    pub fn unused(&self) -> impl Iterator<Item = &ExceptionUse> {
        self.exceptions
            .iter()
            .filter(|e| e.status != "expired" && e.pods == 0 && e.workloads == 0)
    }
}

const LEVELS: [Level; 2] = [Level::Restricted, Level::Baseline];

fn highest_passing(
    meta: &podsec_policy::ObjectMeta,
    spec: &podsec_policy::PodSpec,
    waive: &dyn Fn(Vec<podsec_policy::Violation>) -> Vec<podsec_policy::Violation>,
) -> Level {
    for level in LEVELS {
        let violations = evaluate(LevelVersion::new(level, Version::Latest), meta, spec).violations;
        if waive(violations).is_empty() {
            return level;
        }
    }
    Level::Privileged
}

fn rank(level: Level) -> u8 {
    match level {
        Level::Privileged => 0,
        Level::Baseline => 1,
        Level::Restricted => 2,
    }
}

/// Audits `exceptions` (from files and the snapshot) against the snapshot's pod-bearing
/// objects, as of `now`, warning about expiry within `window` seconds.
pub fn exception_audit(
    objects: &[Value],
    extra: Vec<Exception>,
    now: i64,
    window: i64,
) -> ExceptionAudit {
    let mut audit = ExceptionAudit::default();
    let mut exceptions = extra;
    for o in objects.iter().filter(|o| Exception::is_exception(o)) {
        match Exception::parse(o, "default") {
            Ok(e) => exceptions.push(e),
            Err(e) => audit.invalid.push(e.to_string()),
        }
    }
    let mut uses: BTreeMap<String, ExceptionUse> = exceptions
        .iter()
        .map(|e| {
            let status = if e.expired(now) {
                "expired"
            } else if e.expires - now < window {
                "expiring"
            } else {
                "active"
            };
            (
                e.id(),
                ExceptionUse {
                    exception: e.id(),
                    owner: e.owner.clone(),
                    reason: e.reason.clone(),
                    ticket: e.ticket.clone(),
                    expires: e.expires_text.clone(),
                    status: status.into(),
                    pods: 0,
                    workloads: 0,
                    checks: Vec::new(),
                },
            )
        })
        .collect();
    let set = ExceptionSet::new(exceptions);
    // Namespace → (lowest level without, lowest level with).
    let mut levels: BTreeMap<String, (Level, Level)> = BTreeMap::new();
    for object in objects {
        let Ok(Object::Workload(w)) = classify(object.clone()) else {
            continue;
        };
        let namespace = match w.meta.namespace.as_str() {
            "" => "default".to_string(),
            ns => ns.to_string(),
        };
        let workload = (w.kind != WorkloadKind::Pod)
            .then(|| (w.kind.as_str(), w.meta.name_or_generate_name()));
        let subject = Subject::new(&namespace, workload, &w.pod_meta, &w.pod_spec);
        let without = highest_passing(&w.pod_meta, &w.pod_spec, &|v| v);
        let with = highest_passing(&w.pod_meta, &w.pod_spec, &|v| {
            set.waive(&subject, v, now).remaining
        });
        let entry = levels
            .entry(namespace.clone())
            .or_insert((Level::Restricted, Level::Restricted));
        if rank(without) < rank(entry.0) {
            entry.0 = without;
        }
        if rank(with) < rank(entry.1) {
            entry.1 = with;
        }
        // Usage: what the exceptions waive at restricted (every check the pod fails there).
        let violations = evaluate(
            LevelVersion::new(Level::Restricted, Version::Latest),
            &w.pod_meta,
            &w.pod_spec,
        )
        .violations;
        let outcome = set.waive(&subject, violations, now);
        let mut counted: Vec<&str> = Vec::new();
        for waived in &outcome.waived {
            for id in &waived.exceptions {
                let Some(u) = uses.get_mut(id) else { continue };
                let check = waived.violation.check.as_str().to_string();
                if !u.checks.contains(&check) {
                    u.checks.push(check);
                }
                if !counted.contains(&id.as_str()) {
                    counted.push(id);
                    if w.kind == WorkloadKind::Pod {
                        u.pods += 1;
                    } else {
                        u.workloads += 1;
                    }
                }
            }
        }
    }
    audit.exceptions = uses.into_values().collect();
    audit.namespaces_that_would_rise = levels
        .into_iter()
        .filter(|(_, (without, with))| rank(*with) > rank(*without))
        .map(|(namespace, (without, with))| LevelRise {
            namespace,
            level: without.as_str().into(),
            with_exceptions: with.as_str().into(),
        })
        .collect();
    audit
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exception(name: &str, expires: &str, labels: Value) -> Value {
        json!({"apiVersion": "podsec.dev/v1alpha1", "kind": "PodSecurityException",
            "metadata": {"name": name, "namespace": "monitoring"},
            "spec": {"owner": "o", "reason": "r", "expires": expires, "match": {"podLabels": labels},
                     "waive": [{"check": "hostPorts", "allow": [9100]}]}})
    }

    #[test]
    fn use_expiry_and_level_rise() {
        let pod = |name: &str, app: &str, host_port: bool| {
            let ports = if host_port {
                json!([{"containerPort": 9100, "hostPort": 9100}])
            } else {
                json!([])
            };
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "monitoring", "labels": {"app": app}},
                "spec": {"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "c", "image": "i", "ports": ports,
                    "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}})
        };
        let objects = vec![
            pod("a", "exporter", true),
            pod("b", "exporter", true),
            pod("c", "web", false),
            exception("in-use", "2027-06-01T00:00:00Z", json!({"app": "exporter"})),
            exception("unused", "2027-06-01T00:00:00Z", json!({"app": "nothing"})),
            exception(
                "expired",
                "2026-01-01T00:00:00Z",
                json!({"app": "exporter"}),
            ),
            exception("soon", "2027-01-20T00:00:00Z", json!({"app": "nothing"})),
            json!({"apiVersion": "podsec.dev/v1alpha1", "kind": "PodSecurityException", "metadata": {"name": "bad", "namespace": "monitoring"}, "spec": {}}),
        ];
        let now = 1_800_000_000; // 2027-01-15
        let audit = exception_audit(&objects, Vec::new(), now, 14 * 86_400);
        let get = |name: &str| {
            audit
                .exceptions
                .iter()
                .find(|e| e.exception == format!("monitoring/{name}"))
                .cloned()
                .unwrap_or_else(|| panic!("{name}"))
        };
        assert_eq!(
            (
                get("in-use").pods,
                get("in-use").checks.clone(),
                get("in-use").status.clone()
            ),
            (2, vec!["hostPorts".to_string()], "active".to_string())
        );
        assert_eq!(get("expired").status, "expired");
        assert_eq!(
            get("expired").pods,
            0,
            "an expired exception waives nothing"
        );
        assert_eq!(get("soon").status, "expiring");
        assert_eq!(
            audit
                .unused()
                .map(|e| e.exception.as_str())
                .collect::<Vec<_>>(),
            ["monitoring/soon", "monitoring/unused"]
        );
        assert_eq!(audit.invalid.len(), 1);
        assert_eq!(
            audit.namespaces_that_would_rise,
            [LevelRise {
                namespace: "monitoring".into(),
                level: "privileged".into(),
                with_exceptions: "restricted".into()
            }]
        );
    }
}
