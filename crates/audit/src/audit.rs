//! `podsec audit`: what every namespace would pass, what breaks if a level is enforced, grouped
//! by check and by workload. Pods are evaluated as they stream past and only aggregates are
//! kept, so memory grows with namespaces, workloads and distinct problems, not with pods.

use std::collections::{BTreeMap, HashMap};

use podsec_manifest::Workload;
use podsec_policy::namespace_policy::{ENFORCE_VERSION_LABEL, LABELS};
use podsec_policy::ReasonGroups;
use podsec_policy::{evaluate, CheckId, Evaluation, Level, LevelVersion, Policy, Version};
use serde::Serialize;

use crate::snapshot::{Decoded, SnapshotObject};

/// A hypothetical enforce label: for every namespace, or one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatIf {
    pub namespace: Option<String>,
    pub enforce: LevelVersion,
}

impl WhatIf {
    /// Parses `enforce=restricted[,version=v1.30][,namespace=NAME]`.
    pub fn parse(text: &str) -> Result<WhatIf, String> {
        let mut level = None;
        let mut version = Version::Latest;
        let mut namespace = None;
        for part in text.split(',') {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected key=value"))?;
            match key.trim() {
                "enforce" => {
                    level = Some(
                        Level::parse(value.trim()).map_err(|e| format!("enforce={value}: {e}"))?,
                    )
                }
                "version" => {
                    version =
                        Version::parse(value.trim()).map_err(|e| format!("version={value}: {e}"))?
                }
                "namespace" => namespace = Some(value.trim().to_string()),
                other => {
                    return Err(format!(
                        "unknown key {other:?}: use enforce=, version= and namespace="
                    ))
                }
            }
        }
        let level =
            level.ok_or("enforce=LEVEL is required (privileged, baseline or restricted)")?;
        Ok(WhatIf {
            namespace,
            enforce: LevelVersion::new(level, version),
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    pub what_if: Vec<WhatIf>,
    /// The admission configuration's defaults for unlabelled namespaces (upstream: privileged).
    pub defaults: Policy,
}

/// Pods per level: how many pass at most privileged, baseline, restricted.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct LevelCounts {
    pub privileged: u64,
    pub baseline: u64,
    pub restricted: u64,
}

impl LevelCounts {
    fn add(&mut self, level: Level) {
        match level {
            Level::Privileged => self.privileged += 1,
            Level::Baseline => self.baseline += 1,
            Level::Restricted => self.restricted += 1,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckGroup {
    pub check: String,
    /// The level that introduces the check.
    pub level: String,
    pub pods: u64,
    /// Up to five pod names.
    pub examples: Vec<String>,
    /// Upstream's detail for the first pod seen.
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadGroup {
    pub kind: String,
    pub name: String,
    /// 0 for a controller with no pods in the snapshot: then it is judged by its pod template.
    pub pods: u64,
    /// The highest level every pod of the workload passes (at latest).
    pub highest_level: String,
    /// The checks its pods fail at restricted.
    pub checks: Vec<String>,
    /// Upstream's detail for each of `checks`, from this workload's own pods (or its template):
    /// check → detail.
    pub details: BTreeMap<String, String>,
    /// For a controller without pods: whether the namespace's enforce policy rejects the pods
    /// its template would create (absent when the namespace was not known yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforce_rejects_template: Option<bool>,
}

impl WorkloadGroup {
    /// `3 pods`, or for a controller without pods, that its template was judged.
    pub fn pods_text(&self) -> String {
        if self.pods == 0 {
            "no pods, its template".into()
        } else {
            crate::plural(self.pods, "pod")
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WhatIfResult {
    pub policy: String,
    pub rejected_pods: u64,
    /// Upstream's relabel warnings, for every pod (no 3,000-pod cap).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PinnedLevel {
    pub version: String,
    pub highest_level: String,
    /// Pods evaluated at the pinned version: fewer than the namespace's pods when some came
    /// before their Namespace object in the snapshot (its labels were not known yet).
    pub pods: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamespaceReport {
    pub name: String,
    /// False when pods reference a namespace the snapshot does not contain.
    pub in_snapshot: bool,
    /// The pod-security.kubernetes.io labels as set.
    pub labels: BTreeMap<String, String>,
    pub enforce: String,
    pub audit: String,
    pub warn: String,
    pub label_errors: Vec<String>,
    pub pods: u64,
    pub pods_by_level: LevelCounts,
    /// The highest level all its pods pass at `latest`.
    pub highest_level: String,
    /// The same at the namespace's enforce-version, when it pins one.
    pub pinned: Option<PinnedLevel>,
    pub violations_by_check: Vec<CheckGroup>,
    pub workloads: Vec<WorkloadGroup>,
    pub what_if: Option<WhatIfResult>,
    /// Pods read before the namespace's Namespace object (or all of them, when it is not in
    /// the snapshot): they were judged without its labels.
    pub pods_before_namespace: u64,
}

impl NamespaceReport {
    /// Whether the namespace's labels were known for every pod: label commands and pinned
    /// levels computed otherwise would rest on data the snapshot lacks.
    pub fn labels_known(&self) -> bool {
        self.in_snapshot && self.pods_before_namespace == 0
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub namespaces: usize,
    /// Namespaces by the highest level all their pods pass.
    pub namespaces_by_level: LevelCounts,
    /// Namespaces without any pod-security.kubernetes.io label: the gaps.
    pub unlabelled_namespaces: Vec<String>,
    pub pods: u64,
    pub pods_by_level: LevelCounts,
    pub objects: u64,
    /// Objects of kinds the audit does not read, by `apiVersion kind`.
    pub skipped_kinds: BTreeMap<String, u64>,
    pub errors: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub summary: Summary,
    pub namespaces: Vec<NamespaceReport>,
    pub errors: Vec<String>,
    /// What the snapshot lacks for a sound answer (namespaces without their Namespace
    /// object, pods listed before it), with what to do.
    pub warnings: Vec<String>,
    /// True when the snapshot ended early (a syntax error): results cover what was read.
    pub incomplete: bool,
    /// `audit --constraints`: each Gatekeeper constraint's audit, as its status would read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<crate::constraints::ConstraintAudit>,
    /// `audit --network`: what the NetworkPolicies leave open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<crate::network::NetworkAudit>,
    /// PodSecurityExceptions: in use, unused, expired, expiring; levels they would allow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exceptions: Option<crate::exceptions::ExceptionAudit>,
}

#[derive(Default)]
struct WorkloadAcc {
    pods: u64,
    lowest: Option<Level>,
    /// Failing check → upstream's detail for the first of the workload's pods that failed it.
    checks: BTreeMap<CheckId, String>,
    /// For a template: whether the namespace's enforce policy rejects its pods.
    enforce_rejects: Option<bool>,
}

#[derive(Default)]
struct CheckAcc {
    pods: u64,
    examples: Vec<String>,
    detail: String,
}

#[derive(Default)]
struct NamespaceAcc {
    in_snapshot: bool,
    labels: BTreeMap<String, String>,
    pods: u64,
    by_level: LevelCounts,
    lowest: Option<Level>,
    pinned_lowest: Option<Level>,
    pinned_pods: u64,
    pods_before_namespace: u64,
    checks: BTreeMap<CheckId, CheckAcc>,
    /// Direct owner (kind, name) → aggregate; resolved to top-level workloads at the end
    /// (ordered, so that the detail kept when several merge into one does not vary by run).
    workloads: BTreeMap<(String, String), WorkloadAcc>,
    /// Top-level controllers (kind, name) → their pod template's verdict, reported for those
    /// that have no pods in the snapshot (scaled to zero, a CronJob between runs).
    templates: HashMap<(String, String), WorkloadAcc>,
    what_if: Option<(LevelVersion, ReasonGroups)>,
}

/// Consumes snapshot objects one by one.
pub struct Auditor {
    options: AuditOptions,
    namespaces: BTreeMap<String, NamespaceAcc>,
    /// (namespace, kind, name) → its controller (kind, name): ReplicaSet → Deployment, Job → CronJob.
    owners: HashMap<(String, String, String), (String, String)>,
    by_level: LevelCounts,
    pods: u64,
    objects: u64,
    skipped: BTreeMap<String, u64>,
    errors: Vec<String>,
    incomplete: bool,
}

fn highest(
    meta: &podsec_policy::ObjectMeta,
    spec: &podsec_policy::PodSpec,
    version: Version,
) -> Level {
    if evaluate(LevelVersion::new(Level::Restricted, version), meta, spec).allowed() {
        Level::Restricted
    } else if evaluate(LevelVersion::new(Level::Baseline, version), meta, spec).allowed() {
        Level::Baseline
    } else {
        Level::Privileged
    }
}

/// A pod (or template) at `latest`: the highest level it passes, and its evaluations.
struct Judgement {
    level: Level,
    restricted: Evaluation,
    /// Only when restricted fails.
    baseline: Option<Evaluation>,
}

fn judge(meta: &podsec_policy::ObjectMeta, spec: &podsec_policy::PodSpec) -> Judgement {
    let latest = |level| LevelVersion::new(level, Version::Latest);
    let restricted = evaluate(latest(Level::Restricted), meta, spec);
    // Restricted replaces some baseline checks with stricter ones (capabilities, seccomp): a
    // pod failing restricted is evaluated at baseline too, so that what blocks baseline is
    // reported under the baseline check's name.
    let baseline = (!restricted.allowed()).then(|| evaluate(latest(Level::Baseline), meta, spec));
    let level = match &baseline {
        None => Level::Restricted,
        Some(b) if b.allowed() => Level::Baseline,
        Some(_) => Level::Privileged,
    };
    Judgement {
        level,
        restricted,
        baseline,
    }
}

/// The restricted violations, then the baseline ones restricted does not already name.
fn violations<'e>(
    restricted: &'e Evaluation,
    baseline: Option<&'e Evaluation>,
) -> impl Iterator<Item = &'e podsec_policy::Violation> {
    let baseline_only = baseline
        .into_iter()
        .flat_map(|b| &b.violations)
        .filter(|v| !restricted.violations.iter().any(|r| r.check == v.check));
    restricted.violations.iter().chain(baseline_only)
}

fn lower(a: Option<Level>, b: Level) -> Option<Level> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// Controllers that will create pods later even when none run now. A top-level Job without
/// pods has finished (or not started) and is not reported.
fn runs_pods_later(kind: podsec_manifest::WorkloadKind) -> bool {
    use podsec_manifest::WorkloadKind as K;
    matches!(
        kind,
        K::Deployment
            | K::ReplicaSet
            | K::StatefulSet
            | K::DaemonSet
            | K::CronJob
            | K::ReplicationController
    )
}

/// The controller that would have created this object, by the name it gives its children: a
/// Deployment names its ReplicaSets `NAME-HASH`, a CronJob its Jobs `NAME-TIME`. For
/// snapshots that lack the middle object (`kubectl get pods,deployments` without `replicasets`).
pub(crate) fn parent_by_name(kind: &str, name: &str) -> Option<(String, String)> {
    let parent_kind = match kind {
        "ReplicaSet" => "Deployment",
        "Job" => "CronJob",
        _ => return None,
    };
    let (parent, _) = name.rsplit_once('-')?;
    Some((parent_kind.to_string(), parent.to_string()))
}

fn controller_of(meta: &podsec_policy::ObjectMeta) -> Option<(String, String)> {
    meta.controller().map(|o| (o.kind.clone(), o.name.clone()))
}

impl Auditor {
    pub fn new(options: AuditOptions) -> Auditor {
        Auditor {
            options,
            namespaces: BTreeMap::new(),
            owners: HashMap::new(),
            by_level: LevelCounts::default(),
            pods: 0,
            objects: 0,
            skipped: BTreeMap::new(),
            errors: Vec::new(),
            incomplete: false,
        }
    }

    fn what_if_for(&self, namespace: &str) -> Option<LevelVersion> {
        let w = &self.options.what_if;
        w.iter()
            .find(|w| w.namespace.as_deref() == Some(namespace))
            .or_else(|| w.iter().find(|w| w.namespace.is_none()))
            .map(|w| w.enforce)
    }

    pub fn observe(&mut self, object: &Decoded) {
        self.objects += 1;
        match object {
            Err(e) => {
                self.incomplete |= e.ends_stream;
                self.errors.push(e.to_string());
            }
            Ok(SnapshotObject::Namespace { name, labels }) => {
                let acc = self.namespaces.entry(name.clone()).or_default();
                acc.in_snapshot = true;
                acc.labels = labels.clone();
            }
            Ok(SnapshotObject::Pod(w)) => self.pod(w),
            Ok(SnapshotObject::Controller(w)) => {
                if let Some(owner) = controller_of(&w.meta) {
                    self.owners.insert(
                        (
                            w.meta.namespace.clone(),
                            w.kind.as_str().to_string(),
                            w.meta.name.clone(),
                        ),
                        owner,
                    );
                } else if runs_pods_later(w.kind) {
                    self.template(w);
                }
            }
            Ok(SnapshotObject::Other { api_version, kind }) => {
                *self
                    .skipped
                    .entry(format!("{api_version} {kind}"))
                    .or_default() += 1;
            }
            Ok(_) => {}
        }
    }

    fn pod(&mut self, w: &Workload) {
        let namespace = if w.meta.namespace.is_empty() {
            "default".to_string()
        } else {
            w.meta.namespace.clone()
        };
        let what_if = self.what_if_for(&namespace);
        let defaults = self.options.defaults;
        let acc = self.namespaces.entry(namespace).or_default();
        let (meta, spec) = (&w.pod_meta, &w.pod_spec);
        let Judgement {
            level,
            restricted,
            baseline,
        } = judge(meta, spec);
        acc.pods += 1;
        if !acc.in_snapshot {
            acc.pods_before_namespace += 1;
        }
        acc.by_level.add(level);
        acc.lowest = lower(acc.lowest, level);
        self.pods += 1;
        self.by_level.add(level);
        let (policy, _) = Policy::from_labels(&acc.labels, defaults);
        if acc.labels.contains_key(ENFORCE_VERSION_LABEL)
            && policy.enforce.version != Version::Latest
        {
            acc.pinned_lowest = lower(
                acc.pinned_lowest,
                highest(meta, spec, policy.enforce.version),
            );
            acc.pinned_pods += 1;
        }
        let owner = controller_of(&w.meta).unwrap_or_else(|| ("Pod".into(), w.meta.name.clone()));
        let workload = acc.workloads.entry(owner).or_default();
        workload.pods += 1;
        workload.lowest = lower(workload.lowest, level);
        for v in violations(&restricted, baseline.as_ref()) {
            workload
                .checks
                .entry(v.check)
                .or_insert_with(|| v.detail.clone());
            let group = acc.checks.entry(v.check).or_default();
            group.pods += 1;
            if group.examples.len() < 5 {
                group.examples.push(w.meta.name.clone());
            }
            if group.detail.is_empty() {
                group.detail = v.detail.clone();
            }
        }
        if let Some(lv) = what_if {
            let (_, groups) = acc
                .what_if
                .get_or_insert_with(|| (lv, ReasonGroups::default()));
            let result = match baseline {
                _ if lv == restricted.level_version => restricted,
                Some(b) if lv == b.level_version => b,
                _ => evaluate(lv, meta, spec),
            };
            if !result.allowed() {
                groups.add(result.forbidden_reason(), &w.meta.name);
            }
        }
    }

    fn template(&mut self, w: &Workload) {
        let Judgement {
            level,
            restricted,
            baseline,
        } = judge(&w.pod_meta, &w.pod_spec);
        let namespace = if w.meta.namespace.is_empty() {
            "default"
        } else {
            &w.meta.namespace
        };
        let defaults = self.options.defaults;
        let acc = self.namespaces.entry(namespace.to_string()).or_default();
        // Judged against the enforce policy known now: the Namespace object comes first in
        // `kubectl get namespaces,…` output.
        let enforce_rejects = acc.in_snapshot.then(|| {
            let (policy, _) = Policy::from_labels(&acc.labels, defaults);
            if policy.enforce.version == Version::Latest {
                level < policy.enforce.level
            } else {
                !evaluate(policy.enforce, &w.pod_meta, &w.pod_spec).allowed()
            }
        });
        let mut checks = BTreeMap::new();
        for v in violations(&restricted, baseline.as_ref()) {
            checks.entry(v.check).or_insert_with(|| v.detail.clone());
        }
        acc.templates.insert(
            (w.kind.as_str().to_string(), w.meta.name.clone()),
            WorkloadAcc {
                pods: 0,
                lowest: Some(level),
                checks,
                enforce_rejects,
            },
        );
    }

    /// Follows controller references up to the top-level workload (Deployment, CronJob, …),
    /// or by name when the snapshot lacks the middle object ([`parent_by_name`]).
    fn resolve(&self, namespace: &str, mut key: (String, String)) -> (String, String) {
        for _ in 0..4 {
            match self
                .owners
                .get(&(namespace.to_string(), key.0.clone(), key.1.clone()))
            {
                Some(next) => key = next.clone(),
                None => {
                    if let Some(parent) = parent_by_name(&key.0, &key.1) {
                        let known = self
                            .namespaces
                            .get(namespace)
                            .is_some_and(|ns| ns.templates.contains_key(&parent));
                        if known {
                            key = parent;
                        }
                    }
                    break;
                }
            }
        }
        key
    }

    pub fn finish(self) -> AuditReport {
        let mut namespaces = Vec::new();
        let mut ns_by_level = LevelCounts::default();
        let mut unlabelled = Vec::new();
        for (name, acc) in &self.namespaces {
            let (policy, label_errors) = Policy::from_labels(&acc.labels, self.options.defaults);
            let labels: BTreeMap<String, String> = acc
                .labels
                .iter()
                .filter(|(k, _)| LABELS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if labels.is_empty() && acc.in_snapshot {
                unlabelled.push(name.clone());
            }
            let highest_level = acc.lowest.unwrap_or(Level::Restricted);
            ns_by_level.add(highest_level);
            let pinned = (labels.contains_key(ENFORCE_VERSION_LABEL)
                && policy.enforce.version != Version::Latest)
                .then(|| PinnedLevel {
                    version: policy.enforce.version.to_string(),
                    highest_level: acc.pinned_lowest.unwrap_or(Level::Restricted).to_string(),
                    pods: acc.pinned_pods,
                });
            let mut merged: BTreeMap<(String, String), WorkloadAcc> = BTreeMap::new();
            for (key, w) in &acc.workloads {
                let top = self.resolve(name, key.clone());
                let m = merged.entry(top).or_default();
                m.pods += w.pods;
                if let Some(l) = w.lowest {
                    m.lowest = lower(m.lowest, l);
                }
                for (check, detail) in &w.checks {
                    m.checks.entry(*check).or_insert_with(|| detail.clone());
                }
            }
            for (key, t) in &acc.templates {
                if !merged.contains_key(key) {
                    merged.insert(
                        key.clone(),
                        WorkloadAcc {
                            pods: 0,
                            lowest: t.lowest,
                            checks: t.checks.clone(),
                            enforce_rejects: t.enforce_rejects,
                        },
                    );
                }
            }
            let workloads = merged
                .into_iter()
                .map(|((kind, name), w)| WorkloadGroup {
                    kind,
                    name,
                    pods: w.pods,
                    highest_level: w.lowest.unwrap_or(Level::Restricted).to_string(),
                    checks: w.checks.keys().map(|c| c.as_str().to_string()).collect(),
                    details: w
                        .checks
                        .iter()
                        .map(|(c, d)| (c.as_str().to_string(), d.clone()))
                        .collect(),
                    enforce_rejects_template: w.enforce_rejects,
                })
                .collect();
            let violations_by_check = acc
                .checks
                .iter()
                .map(|(id, g)| CheckGroup {
                    check: id.as_str().into(),
                    level: id.level().to_string(),
                    pods: g.pods,
                    examples: g.examples.clone(),
                    detail: g.detail.clone(),
                })
                .collect();
            let what_if = self.what_if_for(name).map(|lv| {
                let groups = acc
                    .what_if
                    .as_ref()
                    .map(|(_, g)| g.clone())
                    .unwrap_or_default();
                WhatIfResult {
                    policy: lv.to_string(),
                    rejected_pods: groups.pods() as u64,
                    warnings: groups.warnings(name, lv),
                }
            });
            namespaces.push(NamespaceReport {
                name: name.clone(),
                in_snapshot: acc.in_snapshot,
                labels,
                enforce: policy.enforce.to_string(),
                audit: policy.audit.to_string(),
                warn: policy.warn.to_string(),
                label_errors: label_errors.iter().map(ToString::to_string).collect(),
                pods: acc.pods,
                pods_by_level: acc.by_level,
                highest_level: highest_level.to_string(),
                pinned,
                violations_by_check,
                workloads,
                what_if,
                pods_before_namespace: acc.pods_before_namespace,
            });
        }
        let mut warnings = Vec::new();
        for n in &namespaces {
            if !n.in_snapshot {
                warnings.push(format!(
                    "namespace {}: no Namespace object in the snapshot, so its labels are unknown: its pods were judged as if it had none, and no label commands are given; list namespaces too (kubectl get namespaces,pods,… -A -o json)",
                    n.name
                ));
            } else if n.pods_before_namespace > 0 {
                warnings.push(format!(
                    "namespace {}: {} came before its Namespace object and {} judged without its labels; list namespaces first (kubectl get namespaces,pods,… -A -o json)",
                    n.name,
                    crate::plural(n.pods_before_namespace, "pod"),
                    if n.pods_before_namespace == 1 { "was" } else { "were" }
                ));
            }
        }
        AuditReport {
            summary: Summary {
                namespaces: namespaces.len(),
                namespaces_by_level: ns_by_level,
                unlabelled_namespaces: unlabelled,
                pods: self.pods,
                pods_by_level: self.by_level,
                objects: self.objects,
                skipped_kinds: self.skipped,
                errors: self.errors.len(),
            },
            namespaces,
            errors: self.errors,
            warnings,
            incomplete: self.incomplete,
            constraints: Vec::new(),
            network: None,
            exceptions: None,
        }
    }
}
