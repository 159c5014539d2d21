//! PodSecurityException: waive one check, for one workload, for the exact values it needs, with
//! an owner and a reason, until a date.
//!
//! Pure: takes decoded exceptions and a pod's violations, returns what stays denied and what
//! is waived by which exception. An exception never weakens anything beyond what it names: a
//! violation is waived only when every offending field of it is covered — by a waiver of that
//! check, on a container the exception names, with a value it allows — otherwise the violation
//! stays, with upstream's message.

mod exception;
mod glob;
pub mod psp;
pub mod time;
mod values;

use std::collections::HashMap;
use std::sync::Arc;

use podsec_policy::Violation;
use podsec_policy::{CheckId, ObjectMeta, PodSpec};
use serde_json::Value;

pub use exception::{
    Exception, ExceptionError, Match, Target, Waiver, WorkloadRef, API_VERSION, KIND,
};
pub use glob::Glob;
pub use values::Allowed;
use values::{segments, Segment};

/// What a pod is, for matching: its namespace, the workloads that stand for it (a Deployment's
/// pod is its ReplicaSet and its Deployment), labels, service account, containers.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub namespace: &'a str,
    /// (kind, name) of the workloads that stand for the pod, most specific first.
    pub workloads: [Option<(&'a str, &'a str)>; 2],
    pub meta: &'a ObjectMeta,
    pub spec: &'a PodSpec,
}

impl<'a> Subject<'a> {
    /// A pod (or pod template) in `namespace`; `workload` is the object that carries the
    /// template (a Deployment in a manifest), or `None` for a pod, whose controller owner
    /// reference names it.
    pub fn new(
        namespace: &'a str,
        workload: Option<(&'a str, &'a str)>,
        meta: &'a ObjectMeta,
        spec: &'a PodSpec,
    ) -> Subject<'a> {
        let workloads = match workload {
            Some(w) => [Some(w), None],
            None => match meta.controller() {
                Some(owner) => {
                    // A Deployment's ReplicaSet is `<deployment>-<hash>`; a CronJob's Job
                    // `<cronjob>-<scheduled time>`.
                    let parent = owner.name.rsplit_once('-').and_then(|(base, _)| {
                        match owner.kind.as_str() {
                            "ReplicaSet" => Some(("Deployment", base)),
                            "Job" => Some(("CronJob", base)),
                            _ => None,
                        }
                    });
                    [Some((owner.kind.as_str(), owner.name.as_str())), parent]
                }
                None => [Some(("Pod", meta.name_or_generate_name())), None],
            },
        };
        Subject {
            namespace,
            workloads,
            meta,
            spec,
        }
    }

    /// The object's own controller (a Job's CronJob, a ReplicaSet's Deployment) stands for
    /// it too.
    pub fn with_owner(
        mut self,
        owner: Option<&'a podsec_policy::pod::OwnerReference>,
    ) -> Subject<'a> {
        if let (Some(owner), None) = (owner, self.workloads[1]) {
            self.workloads[1] = Some((owner.kind.as_str(), owner.name.as_str()));
        }
        self
    }

    fn service_account(&self) -> &str {
        self.spec
            .service_account_name
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
    }
}

impl Exception {
    /// Whether the exception is for this pod (its namespace, and every selector it gives).
    pub fn applies_to(&self, subject: &Subject<'_>) -> bool {
        let m = &self.matches;
        self.namespace == subject.namespace
            && (m.workloads.is_empty()
                || m.workloads.iter().any(|w| {
                    subject.workloads.iter().flatten().any(|(kind, name)| {
                        w.kind.as_deref().is_none_or(|k| k == *kind) && w.name.matches(name)
                    })
                }))
            && m.pod_labels
                .iter()
                .all(|(k, v)| subject.meta.labels.get(k) == Some(v))
            && (m.service_accounts.is_empty()
                || m.service_accounts
                    .iter()
                    .any(|g| g.matches(subject.service_account())))
    }

    pub fn expired(&self, now: i64) -> bool {
        now >= self.expires
    }

    fn waiver(&self, check: CheckId) -> Option<&Waiver> {
        self.waivers
            .iter()
            .find(|w| w.target == Target::Check(check))
    }

    /// Whether it waives a Gatekeeper constraint's violation.
    pub fn waives_constraint(&self, kind: &str, name: &str) -> bool {
        self.waivers.iter().any(|w| matches!(&w.target, Target::Constraint { kind: k, name: n } if k == kind && n.matches(name)))
    }

    /// Whether it waives a constraint for this object: the whole object is reviewed, so an
    /// exception scoped to some containers waives it only when the object's containers are
    /// all among them; an object without pods is matched by `workloads` alone.
    pub fn waives_constraint_for(
        &self,
        subject: &Subject<'_>,
        has_pods: bool,
        kind: &str,
        name: &str,
    ) -> bool {
        if !self.waives_constraint(kind, name) {
            return false;
        }
        if has_pods {
            return self.covers_containers(&[], subject.spec);
        }
        self.matches.pod_labels.is_empty()
            && self.matches.service_accounts.is_empty()
            && !self.scoped_to_containers()
    }

    fn container_allowed(&self, name: &str, image: Option<&str>) -> bool {
        let m = &self.matches;
        (m.containers.is_empty() || m.containers.iter().any(|g| g.matches(name)))
            && (m.images.is_empty() || image.is_some_and(|i| m.images.iter().any(|g| g.matches(i))))
    }

    fn scoped_to_containers(&self) -> bool {
        !self.matches.containers.is_empty() || !self.matches.images.is_empty()
    }

    /// Whether the exception covers one offending field of a violation of `check`.
    fn covers(&self, check: CheckId, field: &str, pod: &Pod<'_, '_>) -> bool {
        let Some(waiver) = self.waiver(check) else {
            return false;
        };
        let path = segments(field);
        if !self.covers_containers(&path, pod.subject.spec) {
            return false;
        }
        // At restricted, a hostPath volume fails restrictedVolumes, which replaces the baseline
        // hostPathVolumes check: waiving the volume type must not waive every path. The
        // hostPathVolumes waiver (and its path prefixes) must cover it too.
        if check == CheckId::RestrictedVolumes
            && matches!(path.last(), Some(Segment::Key(k)) if k == "hostPath")
            && !self.covers(CheckId::HostPathVolumes, field, pod)
        {
            return false;
        }
        // Likewise capabilities_restricted replaces capabilities_baseline: a capability baseline
        // forbids must be allowed by the baseline waiver too, or a waiver for a missing
        // `drop: [ALL]` would admit `add: [SYS_ADMIN]`.
        if check == CheckId::CapabilitiesRestricted && field.contains(".capabilities.add[") {
            let forbidden_at_baseline = values::lookup(pod.json(), &path)
                .and_then(Value::as_str)
                .is_none_or(|cap| {
                    !podsec_policy::pss::allowed::baseline_capability(
                        cap.trim_start_matches("CAP_"),
                    )
                });
            if forbidden_at_baseline && !self.covers(CheckId::CapabilitiesBaseline, field, pod) {
                return false;
            }
        }
        waiver
            .allow
            .as_ref()
            .is_none_or(|allowed| allowed.covers(pod.json(), &path))
    }

    /// The containers a field concerns must all be ones the exception names.
    fn covers_containers(&self, path: &[Segment], spec: &PodSpec) -> bool {
        if !self.scoped_to_containers() {
            return true;
        }
        let key = |i: usize| match path.get(i) {
            Some(Segment::Key(k)) => Some(k.as_str()),
            _ => None,
        };
        let index = match path.get(2) {
            Some(Segment::Index(i)) => Some(*i),
            _ => None,
        };
        let list = match key(1) {
            Some("containers") => Some(&spec.containers),
            Some("initContainers") => Some(&spec.init_containers),
            Some("ephemeralContainers") => Some(&spec.ephemeral_containers),
            _ => None,
        };
        let allowed =
            |c: &podsec_policy::pod::Container| self.container_allowed(&c.name, c.image.as_deref());
        let all = || spec.containers_with_paths().all(|(_, c)| allowed(c));
        if key(0) == Some("spec") {
            if let (Some(list), Some(i)) = (list, index) {
                return list.get(i).is_some_and(allowed);
            }
            // A volume: every container mounting it.
            if key(1) == Some("volumes") {
                let Some(volume) = index.and_then(|i| spec.volumes.get(i)) else {
                    return false;
                };
                let mut mounting = spec
                    .containers_with_paths()
                    .filter(|(_, c)| c.volume_mounts.iter().any(|m| m.name == volume.name))
                    .peekable();
                // A volume no container mounts is nobody's to waive by container.
                return mounting.peek().is_some() && mounting.all(|(_, c)| allowed(c));
            }
            return all();
        }
        // A per-container annotation (`…/<container name>`), else the whole pod.
        if key(1) == Some("annotations") {
            if let Some(Segment::Key(annotation)) = path.get(2) {
                let per_container = annotation.starts_with("container.");
                if let Some((_, container)) = annotation.rsplit_once('/').filter(|_| per_container)
                {
                    if let Some((_, c)) = spec
                        .containers_with_paths()
                        .find(|(_, c)| c.name == container)
                    {
                        return allowed(c);
                    }
                }
            }
        }
        all()
    }
}

/// The pod being judged, with its JSON form made on first use.
struct Pod<'s, 'a> {
    json: &'s std::cell::OnceCell<Value>,
    subject: &'s Subject<'a>,
}

impl Pod<'_, '_> {
    fn json(&self) -> &Value {
        self.json.get_or_init(|| {
            serde_json::json!({
                "metadata": serde_json::to_value(self.subject.meta).unwrap_or(Value::Null),
                "spec": serde_json::to_value(self.subject.spec).unwrap_or(Value::Null),
            })
        })
    }
}

/// A violation an exception waived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waived {
    pub violation: Violation,
    /// `namespace/name` of the exceptions that cover it.
    pub exceptions: Vec<String>,
    /// The earliest expiry among them (Unix seconds).
    pub expires: i64,
}

/// The violations that stand and those waived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub remaining: Vec<Violation>,
    pub waived: Vec<Waived>,
}

impl Outcome {
    /// The exceptions used, each once, in first-use order.
    pub fn exceptions_used(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for w in &self.waived {
            for e in &w.exceptions {
                if !out.contains(e) {
                    out.push(e.clone());
                }
            }
        }
        out
    }
}

/// Exceptions indexed by namespace (a lookup per admission, not a scan).
#[derive(Debug, Clone, Default)]
pub struct ExceptionSet {
    by_namespace: HashMap<String, Vec<Arc<Exception>>>,
    len: usize,
}

impl ExceptionSet {
    pub fn new(exceptions: impl IntoIterator<Item = Exception>) -> ExceptionSet {
        let mut set = ExceptionSet::default();
        for e in exceptions {
            set.len += 1;
            set.by_namespace
                .entry(e.namespace.clone())
                .or_default()
                .push(Arc::new(e));
        }
        set
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The exception `namespace/name`.
    pub fn get(&self, id: &str) -> Option<&Arc<Exception>> {
        let (namespace, name) = id.split_once('/')?;
        self.by_namespace
            .get(namespace)?
            .iter()
            .find(|e| e.name == name)
    }

    /// Whether any exception lives in the namespace (most requests stop here).
    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.by_namespace.contains_key(namespace)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Exception>> {
        self.by_namespace.values().flatten()
    }

    /// The unexpired exceptions for this pod.
    pub fn applicable(&self, subject: &Subject<'_>, now: i64) -> Vec<&Arc<Exception>> {
        self.by_namespace
            .get(subject.namespace)
            .into_iter()
            .flatten()
            .filter(|e| !e.expired(now) && e.applies_to(subject))
            .collect()
    }

    /// The exceptions for this pod that have expired (reported, no longer applied).
    pub fn expired_for(&self, subject: &Subject<'_>, now: i64) -> Vec<&Arc<Exception>> {
        self.by_namespace
            .get(subject.namespace)
            .into_iter()
            .flatten()
            .filter(|e| e.expired(now) && e.applies_to(subject))
            .collect()
    }

    /// Splits `violations` into those that stand and those the pod's exceptions waive.
    pub fn waive(&self, subject: &Subject<'_>, violations: Vec<Violation>, now: i64) -> Outcome {
        let candidates: Vec<&Arc<Exception>> = self
            .applicable(subject, now)
            .into_iter()
            .filter(|e| violations.iter().any(|v| e.waiver(v.check).is_some()))
            .collect();
        if candidates.is_empty() || violations.is_empty() {
            return Outcome {
                remaining: violations,
                waived: Vec::new(),
            };
        }
        waive_with(&candidates, subject, violations)
    }
}

fn waive_with(
    candidates: &[&Arc<Exception>],
    subject: &Subject<'_>,
    violations: Vec<Violation>,
) -> Outcome {
    // The pod as JSON, for the values at the offending fields: built once, when a waiver
    // narrowed to values first needs it.
    let pod_json = std::cell::OnceCell::new();
    let pod = Pod {
        json: &pod_json,
        subject,
    };
    let mut out = Outcome::default();
    for violation in violations {
        let relevant: Vec<&Arc<Exception>> = candidates
            .iter()
            .copied()
            .filter(|e| e.waiver(violation.check).is_some())
            .collect();
        let mut used: Vec<&Arc<Exception>> = Vec::new();
        // runAsNonRoot and seccompProfile_restricted list only the explicit settings when a
        // container sets one, not the containers that set nothing: a container-scoped waiver
        // of them covers only a pod whose every container it names.
        let partial = matches!(
            violation.check,
            CheckId::RunAsNonRoot | CheckId::SeccompProfileRestricted
        );
        let covered = if violation.fields.is_empty() || partial {
            // Nothing to narrow by: only a whole-check waiver for every container does.
            match relevant.iter().find(|e| {
                e.waiver(violation.check).is_some_and(|w| w.allow.is_none())
                    && e.covers_containers(&[], subject.spec)
            }) {
                Some(e) => {
                    used.push(e);
                    true
                }
                None => false,
            }
        } else {
            violation.fields.iter().all(|field| {
                match relevant
                    .iter()
                    .find(|e| e.covers(violation.check, field, &pod))
                {
                    Some(e) => {
                        if !used.iter().any(|u| Arc::ptr_eq(u, e)) {
                            used.push(e);
                        }
                        true
                    }
                    None => false,
                }
            })
        };
        if covered && !used.is_empty() {
            out.waived.push(Waived {
                exceptions: used.iter().map(|e| e.id()).collect(),
                expires: used.iter().map(|e| e.expires).min().unwrap_or(i64::MAX),
                violation,
            });
        } else {
            out.remaining.push(violation);
        }
    }
    out
}

#[cfg(test)]
mod tests;
