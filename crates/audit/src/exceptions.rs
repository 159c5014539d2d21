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
/// The exceptions among `objects` after `extra` (from files), and why the others cannot be
/// used: read once, for the audit section and the constraint waivers alike.
pub fn collect(objects: &[Value], extra: Vec<Exception>) -> (Vec<Exception>, Vec<String>) {
    let mut exceptions = extra;
    let mut invalid = Vec::new();
    for o in objects.iter().filter(|o| Exception::is_exception(o)) {
        match Exception::parse(o, "default") {
            Ok(e) => exceptions.push(e),
            Err(e) => invalid.push(e.to_string()),
        }
    }
    (exceptions, invalid)
}

pub fn exception_audit(
    objects: &[Value],
    exceptions: &[Exception],
    invalid: Vec<String>,
    now: i64,
    window: i64,
) -> ExceptionAudit {
    let mut audit = ExceptionAudit {
        invalid,
        ..ExceptionAudit::default()
    };
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
    let set = ExceptionSet::new(exceptions.iter().cloned());
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
        let subject = Subject::new(&namespace, workload, &w.pod_meta, &w.pod_spec)
            .with_owner(w.meta.controller());
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
        let (exceptions, invalid) = collect(&objects, Vec::new());
        let audit = exception_audit(&objects, &exceptions, invalid, now, 14 * 86_400);
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

/// An exception `migrate` proposes: one workload holds its namespace below a level every other
/// workload there passes, and all it fails at that level are host accesses an exception can
/// narrow to the values it uses (so the rest of the namespace is not held back for it).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Proposal {
    pub namespace: String,
    /// `Kind/name`.
    pub workload: String,
    pub level: String,
    pub level_with_exception: String,
    pub checks: Vec<String>,
    /// The PodSecurityException to apply (owner and reason to fill in).
    pub manifest: Value,
}

/// The checks a proposal narrows: host accesses a workload may genuinely need.
fn narrowable(check: podsec_policy::CheckId) -> bool {
    use podsec_policy::CheckId as C;
    matches!(
        check,
        C::HostPathVolumes
            | C::HostNamespaces
            | C::HostPorts
            | C::CapabilitiesBaseline
            | C::Sysctls
            | C::RestrictedVolumes
            | C::SeLinuxOptions
            | C::AppArmorProfile
            | C::SeccompProfileBaseline
    )
}

/// The value an offending field holds, as an `allow` entry of its check.
fn allow_value(check: podsec_policy::CheckId, field: &str, pod: &Value) -> Option<Value> {
    use podsec_policy::CheckId as C;
    let last = field.rsplit('.').next().unwrap_or(field);
    let lookup = |path: &str| -> Option<&Value> {
        let mut v = pod;
        for step in path.split('.') {
            let (name, index) = match step.split_once('[') {
                Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (step, None),
            };
            v = v.get(name)?;
            if let Some(i) = index {
                v = v.get(i)?;
            }
        }
        Some(v)
    };
    match check {
        C::HostPathVolumes => lookup(field)?.get("path").cloned(),
        C::HostNamespaces => Some(Value::String(last.to_string())),
        C::RestrictedVolumes => Some(Value::String(last.to_string())),
        C::SeLinuxOptions => Some(Value::String(format!(
            "{last}:{}",
            lookup(field)?.as_str()?
        ))),
        C::AppArmorProfile if field.starts_with("metadata.annotations[") => {
            let v = pod.get("metadata")?.get("annotations")?.as_object()?.get(
                field
                    .strip_prefix("metadata.annotations[")?
                    .strip_suffix(']')?,
            )?;
            Some(Value::String(v.as_str()?.split('/').next()?.to_string()))
        }
        _ => lookup(field).cloned(),
    }
}

/// Proposals for the snapshot's namespaces; the exceptions expire at `expires`.
pub fn propose(objects: &[Value], expires: &str) -> Vec<Proposal> {
    struct Held {
        level: Level,
        /// Its pods (or templates), to read the values they need.
        objects: Vec<(podsec_policy::ObjectMeta, podsec_policy::PodSpec)>,
    }
    // Namespace → workload key → what it passes.
    let mut namespaces: BTreeMap<String, BTreeMap<(String, String), Held>> = BTreeMap::new();
    for object in objects {
        let Ok(Object::Workload(w)) = classify(object.clone()) else {
            continue;
        };
        let namespace = match w.meta.namespace.as_str() {
            "" => "default".to_string(),
            ns => ns.to_string(),
        };
        // A pod counts for its topmost known owner; a controller owned by another, for that.
        let key = if w.kind == WorkloadKind::Pod {
            let subject = Subject::new(&namespace, None, &w.pod_meta, &w.pod_spec);
            subject
                .workloads
                .iter()
                .flatten()
                .last()
                .map(|(k, n)| (k.to_string(), n.to_string()))
        } else {
            match w.meta.controller() {
                Some(owner) => Some((owner.kind.clone(), owner.name.clone())),
                None => Some((
                    w.kind.as_str().to_string(),
                    w.meta.name_or_generate_name().to_string(),
                )),
            }
        };
        let Some(key) = key else { continue };
        let level = highest_passing(&w.pod_meta, &w.pod_spec, &|v| v);
        let held = namespaces
            .entry(namespace)
            .or_default()
            .entry(key)
            .or_insert(Held {
                level: Level::Restricted,
                objects: Vec::new(),
            });
        if rank(level) < rank(held.level) {
            held.level = level;
        }
        held.objects.push((w.pod_meta.clone(), w.pod_spec.clone()));
    }
    let mut out = Vec::new();
    for (namespace, workloads) in namespaces {
        let Some(lowest) = workloads.values().map(|h| h.level).min_by_key(|l| rank(*l)) else {
            continue;
        };
        let target = match lowest {
            Level::Privileged => Level::Baseline,
            Level::Baseline => Level::Restricted,
            Level::Restricted => continue,
        };
        let below: Vec<(&(String, String), &Held)> = workloads
            .iter()
            .filter(|(_, h)| rank(h.level) < rank(target))
            .collect();
        let [((kind, name), held)] = below.as_slice() else {
            continue;
        };
        // (check → allowed values), over every object of the workload.
        let mut waive: BTreeMap<podsec_policy::CheckId, Vec<Value>> = BTreeMap::new();
        let mut blocked = false;
        for (meta, spec) in &held.objects {
            let pod = serde_json::json!({
                "metadata": serde_json::to_value(meta).unwrap_or(Value::Null),
                "spec": serde_json::to_value(spec).unwrap_or(Value::Null),
            });
            for v in evaluate(LevelVersion::new(target, Version::Latest), meta, spec).violations {
                if !narrowable(v.check) {
                    blocked = true;
                    continue;
                }
                for field in &v.fields {
                    let Some(value) = allow_value(v.check, field, &pod) else {
                        blocked = true;
                        continue;
                    };
                    let values = waive.entry(v.check).or_default();
                    if !values.contains(&value) {
                        values.push(value);
                    }
                    // At restricted a hostPath volume needs its path allowed too.
                    if v.check == podsec_policy::CheckId::RestrictedVolumes
                        && field.ends_with(".hostPath")
                    {
                        if let Some(path) =
                            allow_value(podsec_policy::CheckId::HostPathVolumes, field, &pod)
                        {
                            let paths = waive
                                .entry(podsec_policy::CheckId::HostPathVolumes)
                                .or_default();
                            if !paths.contains(&path) {
                                paths.push(path);
                            }
                        }
                    }
                }
            }
        }
        if blocked || waive.is_empty() {
            continue;
        }
        let checks: Vec<String> = waive.keys().map(|c| c.as_str().to_string()).collect();
        let manifest = serde_json::json!({
            "apiVersion": podsec_exceptions::API_VERSION,
            "kind": podsec_exceptions::KIND,
            "metadata": {"name": name.to_ascii_lowercase(), "namespace": namespace},
            "spec": {
                "owner": format!("TODO: who answers for {kind}/{name}"),
                "reason": format!("TODO: why {kind}/{name} needs {}", checks.join(", ")),
                "expires": expires,
                "match": {"workloads": [{"kind": kind, "name": name}]},
                "waive": waive.iter().map(|(check, values)| serde_json::json!({"check": check.as_str(), "allow": values})).collect::<Vec<_>>(),
            }
        });
        out.push(Proposal {
            namespace,
            workload: format!("{kind}/{name}"),
            level: held.level.as_str().into(),
            level_with_exception: target.as_str().into(),
            checks,
            manifest,
        });
    }
    out
}
