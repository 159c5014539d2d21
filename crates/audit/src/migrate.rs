//! `podsec migrate`: from PodSecurityPolicies, their RBAC `use` grants and the running pods to
//! Pod Security Standards labels, following the upstream migration guide's steps.

use std::collections::{BTreeMap, HashMap};

use podsec_manifest::patch::patch;
use podsec_manifest::Workload;
use podsec_policy::namespace_policy::{
    AUDIT_LEVEL_LABEL, AUDIT_VERSION_LABEL, ENFORCE_LEVEL_LABEL, ENFORCE_VERSION_LABEL,
    WARN_LEVEL_LABEL, WARN_VERSION_LABEL,
};
use podsec_policy::psp::pss_mapping::{psp_defaults, psp_level};
use podsec_policy::psp::selection::PSP_ANNOTATION;
use podsec_policy::psp::{PodSecurityPolicy, Provider};
use podsec_policy::rbac::{Binding, Rbac, ResourceAttributes, Role};
use podsec_policy::{CheckId, Level, LevelVersion, Version};
use serde::Serialize;

use crate::audit::{AuditOptions, AuditReport, Auditor, NamespaceReport};
use crate::snapshot::{Decoded, SnapshotObject};

#[derive(Debug, Clone, Serialize)]
pub struct RelyingWorkload {
    pub workload: String,
    pub pods: u64,
    /// What the workload's pod template must set itself once the policy's defaults are gone
    /// (as JSON patch operations on the template).
    pub must_set: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyReportEntry {
    pub name: String,
    /// The strictest Pod Security Standards level that admits everything the policy admits.
    pub level: String,
    pub not_baseline_because: Vec<String>,
    pub not_restricted_because: Vec<String>,
    pub mutating: bool,
    pub defaults: Vec<String>,
    /// Set when the plugin could not use the policy at all.
    pub unusable: Option<String>,
    /// Pods annotated `kubernetes.io/psp: <name>` (admitted by it).
    pub pods_admitted: u64,
    pub relying_workloads: Vec<RelyingWorkload>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsablePolicy {
    pub policy: String,
    pub level: String,
    /// `Subject via Binding (Role)`.
    pub granted_to: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamespacePlan {
    pub name: String,
    pub usable_policies: Vec<UsablePolicy>,
    pub pods: u64,
    /// The highest level all its running pods pass.
    pub pods_pass: String,
    pub recommended_enforce: String,
    pub recommended_warn_audit: String,
    /// Why the recommendation is what it is, and what to watch for.
    pub notes: Vec<String>,
    /// Workloads to fix before enforcing the recommended level, and before the stricter
    /// warn/audit level.
    pub fix_before_enforce: Vec<String>,
    pub fix_before_stricter: Vec<String>,
    /// The rollout, as commands: warn and audit first, a server dry run, then enforce.
    pub commands: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    pub policies: Vec<PolicyReportEntry>,
    pub namespaces: Vec<NamespacePlan>,
    pub cluster_steps: Vec<String>,
    pub rbac_problems: Vec<String>,
    /// PodSecurityExceptions that would let a namespace rise a level instead of holding it
    /// down for one workload (filled by the caller, from the snapshot's objects).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exception_proposals: Vec<crate::exceptions::Proposal>,
    /// The audit the plan is based on; its `errors` are the input that could not be read.
    /// (A policy the plugin cannot use is a finding, in its entry's `unusable`.)
    pub audit: AuditReport,
}

/// Consumes a snapshot for migration planning (the audit runs alongside).
pub struct Migrator {
    auditor: Auditor,
    psps: Vec<PodSecurityPolicy>,
    roles: Vec<Role>,
    cluster_roles: Vec<Role>,
    role_bindings: Vec<Binding>,
    cluster_role_bindings: Vec<Binding>,
    service_accounts: BTreeMap<String, Vec<String>>,
    /// (namespace, kind, name) of controllers → their template (to say what they must set).
    templates: HashMap<(String, String, String), Workload>,
    owners: HashMap<(String, String, String), (String, String)>,
    /// policy → (namespace, top owner kind, name) → pods.
    admitted: BTreeMap<String, BTreeMap<(String, String, String), u64>>,
}

impl Migrator {
    pub fn new(options: AuditOptions) -> Migrator {
        Migrator {
            auditor: Auditor::new(options),
            psps: Vec::new(),
            roles: Vec::new(),
            cluster_roles: Vec::new(),
            role_bindings: Vec::new(),
            cluster_role_bindings: Vec::new(),
            service_accounts: BTreeMap::new(),
            templates: HashMap::new(),
            owners: HashMap::new(),
            admitted: BTreeMap::new(),
        }
    }

    pub fn observe(&mut self, object: &Decoded) {
        match object {
            Ok(SnapshotObject::Psp(p)) => self.psps.push((**p).clone()),
            Ok(SnapshotObject::Role(r)) => self.roles.push(r.clone()),
            Ok(SnapshotObject::ClusterRole(r)) => self.cluster_roles.push(r.clone()),
            Ok(SnapshotObject::RoleBinding(b)) => self.role_bindings.push(b.clone()),
            Ok(SnapshotObject::ClusterRoleBinding(b)) => self.cluster_role_bindings.push(b.clone()),
            Ok(SnapshotObject::ServiceAccount { namespace, name }) => self
                .service_accounts
                .entry(namespace.clone())
                .or_default()
                .push(name.clone()),
            Ok(SnapshotObject::Controller(w)) => {
                let key = (
                    w.meta.namespace.clone(),
                    w.kind.as_str().to_string(),
                    w.meta.name.clone(),
                );
                if let Some(o) = w.meta.controller() {
                    self.owners.insert(key, (o.kind.clone(), o.name.clone()));
                } else {
                    // Only top-level controllers' templates are patched (what their pods
                    // relied on is set there), so only they are kept.
                    self.templates.insert(key, (**w).clone());
                }
            }
            Ok(SnapshotObject::Pod(w)) => {
                if let Some(policy) = w.pod_meta.annotations.get(PSP_ANNOTATION) {
                    let ns = if w.meta.namespace.is_empty() {
                        "default".to_string()
                    } else {
                        w.meta.namespace.clone()
                    };
                    let owner = w
                        .meta
                        .controller()
                        .map(|o| (o.kind.clone(), o.name.clone()));
                    let (kind, name) = owner.unwrap_or_else(|| ("Pod".into(), w.meta.name.clone()));
                    *self
                        .admitted
                        .entry(policy.clone())
                        .or_default()
                        .entry((ns, kind, name))
                        .or_default() += 1;
                }
            }
            _ => {}
        }
        self.auditor.observe(object);
    }

    fn top_owner(&self, mut key: (String, String, String)) -> (String, String, String) {
        for _ in 0..4 {
            match self.owners.get(&key) {
                Some((kind, name)) => key = (key.0.clone(), kind.clone(), name.clone()),
                None => {
                    if let Some((kind, name)) = crate::audit::parent_by_name(&key.1, &key.2) {
                        let parent = (key.0.clone(), kind, name);
                        if self.templates.contains_key(&parent) {
                            key = parent;
                        }
                    }
                    break;
                }
            }
        }
        key
    }

    pub fn finish(self) -> MigrationReport {
        let (rbac, problems) = Rbac::build(
            &self.roles,
            &self.cluster_roles,
            &self.role_bindings,
            &self.cluster_role_bindings,
        );
        let mut policies = Vec::new();
        let mut levels: BTreeMap<String, Level> = BTreeMap::new();
        let mut sorted = self.psps.clone();
        sorted.sort_by(|a, b| a.name().cmp(b.name()));
        for psp in &sorted {
            let (level, not_baseline, not_restricted) = psp_level(psp);
            levels.insert(psp.name().to_string(), level);
            let defaults = psp_defaults(psp);
            let provider = Provider::new(psp);
            let unusable = provider.as_ref().err().map(|e| e.to_string());
            let mut relying = BTreeMap::new();
            let mut pods_admitted = 0;
            for ((ns, kind, name), pods) in self.admitted.get(psp.name()).into_iter().flatten() {
                pods_admitted += pods;
                let top = self.top_owner((ns.clone(), kind.clone(), name.clone()));
                let entry = relying.entry(top).or_insert(0u64);
                *entry += pods;
            }
            let relying_workloads = if defaults.is_empty() {
                Vec::new()
            } else {
                relying
                    .into_iter()
                    .map(|((ns, kind, name), pods)| {
                        let must_set = match (self.templates.get(&(ns.clone(), kind.clone(), name.clone())), &provider) {
                            (Some(w), Ok(p)) => {
                                let (mut m, mut s) = (w.pod_meta.clone(), w.pod_spec.clone());
                                p.mutate(&mut m, &mut s);
                                let prefix = w.object_path("").trim_end_matches('.').replace('.', "/");
                                patch((&w.pod_meta, &w.pod_spec), (&m, &s))
                                    .and_then(|v| v.as_array().cloned())
                                    .unwrap_or_default()
                                    .iter()
                                    .map(|op| {
                                        let path = op["path"].as_str().unwrap_or("");
                                        format!("{} /{prefix}{path} {}", op["op"].as_str().unwrap_or(""), op.get("value").map(ToString::to_string).unwrap_or_default())
                                    })
                                    .collect()
                            }
                            _ => vec!["its pods were defaulted at admission; set the policy's defaults in the pod spec before recreating them".to_string()],
                        };
                        RelyingWorkload { workload: format!("{kind} {ns}/{name}"), pods, must_set }
                    })
                    .filter(|r| !r.must_set.is_empty())
                    .collect()
            };
            policies.push(PolicyReportEntry {
                name: psp.name().to_string(),
                level: level.to_string(),
                not_baseline_because: not_baseline,
                not_restricted_because: not_restricted,
                mutating: !defaults.is_empty(),
                defaults,
                unusable,
                pods_admitted,
                relying_workloads,
            });
        }
        let privileged_nonmutating = sorted
            .iter()
            .find(|p| {
                levels.get(p.name()) == Some(&Level::Privileged) && psp_defaults(p).is_empty()
            })
            .map(|p| p.name().to_string());
        let audit = self.auditor.finish();
        let mut namespaces = Vec::new();
        for ns in &audit.namespaces {
            let usable_policies: Vec<UsablePolicy> = sorted
                .iter()
                .filter_map(|psp| {
                    let mut granted: Vec<String> = Vec::new();
                    for group in ["policy", "extensions"] {
                        let attrs = ResourceAttributes {
                            verb: "use",
                            api_group: group,
                            resource: "podsecuritypolicies",
                            name: psp.name(),
                            namespace: &ns.name,
                        };
                        for g in rbac.subjects_allowed(&attrs) {
                            let text = format!("{} via {} ({})", g.subject, g.binding, g.role);
                            if !granted.contains(&text) {
                                granted.push(text);
                            }
                        }
                    }
                    (!granted.is_empty()).then(|| UsablePolicy {
                        policy: psp.name().into(),
                        level: levels
                            .get(psp.name())
                            .copied()
                            .unwrap_or(Level::Privileged)
                            .to_string(),
                        granted_to: granted,
                    })
                })
                .collect();
            let plan = plan_namespace(ns);
            let loosest_usable = usable_policies
                .iter()
                .filter_map(|u| Level::parse(&u.level).ok())
                .min();
            let mut notes = plan.notes;
            match loosest_usable {
                Some(l) if l < plan.enforce.level => notes.push(format!(
                    "subjects here may use a {l} policy today: pods they could create under it would be rejected at {}",
                    plan.enforce.level
                )),
                None if !sorted.is_empty() => notes.push(
                    "no PodSecurityPolicy is usable here: only pods created by subjects with cluster-wide grants can run".into(),
                ),
                _ => {}
            }
            for w in &ns.workloads {
                if w.enforce_rejects_template == Some(true) {
                    notes.push(format!(
                        "{} {} has no pods and its template fails the current enforce {}: its pods will be rejected when it scales up or runs; fix it first",
                        w.kind, w.name, ns.enforce
                    ));
                }
            }
            let n = &ns.name;
            let (enforce, stricter) = (plan.enforce, plan.warn_audit);
            let mut commands = Vec::new();
            if !ns.labels_known() {
                notes.push("its labels are not (all) in the snapshot: no label commands until it is audited with its Namespace object listed first".into());
            } else {
                commands.push(format!(
                "kubectl label --overwrite ns {n} {WARN_LEVEL_LABEL}={stricter} {WARN_VERSION_LABEL}=latest {AUDIT_LEVEL_LABEL}={stricter} {AUDIT_VERSION_LABEL}=latest"
            ));
                let enforce_labels = format!(
                    "{ENFORCE_LEVEL_LABEL}={} {ENFORCE_VERSION_LABEL}={}",
                    enforce.level, enforce.version
                );
                commands.push(format!(
                    "kubectl label --dry-run=server --overwrite ns {n} {enforce_labels}"
                ));
                commands.push(format!("kubectl label --overwrite ns {n} {enforce_labels}"));
                if !sorted.is_empty() {
                    let policy = privileged_nonmutating
                        .as_deref()
                        .unwrap_or("a privileged, non-mutating PodSecurityPolicy");
                    commands.push(format!(
                    "kubectl create rolebinding -n {n} disable-psp --clusterrole=<a ClusterRole with use of {policy}> --group=system:serviceaccounts:{n}   # bypass PodSecurityPolicy here"
                ));
                }
            }
            namespaces.push(NamespacePlan {
                name: n.clone(),
                usable_policies,
                pods: ns.pods,
                pods_pass: ns.highest_level.clone(),
                recommended_enforce: enforce.to_string(),
                recommended_warn_audit: stricter.to_string(),
                notes,
                fix_before_enforce: if plan.pinned_passes {
                    Vec::new()
                } else {
                    failing_workloads(ns, enforce.level)
                },
                fix_before_stricter: if stricter > enforce.level || plan.pinned_passes {
                    failing_workloads(ns, stricter)
                } else {
                    Vec::new()
                },
                commands,
            });
        }
        let mutating: Vec<&str> = policies
            .iter()
            .filter(|p| p.mutating)
            .map(|p| p.name.as_str())
            .collect();
        let mut cluster_steps = Vec::new();
        if !mutating.is_empty() {
            cluster_steps.push(format!(
                "First, make pods independent of the mutating policies ({}): set their defaults in the workloads listed under each policy, so nothing changes when the policies go.",
                mutating.join(", ")
            ));
        }
        cluster_steps.extend([
            "Set cluster-wide defaults for new namespaces in the PodSecurityConfiguration (defaults.enforce/audit/warn) or in your namespace-creation tooling.".to_string(),
            "Remove the PodSecurityPolicy admission plugin from --enable-admission-plugins (Kubernetes < 1.25), or stop running podsec with --mode psp|both.".to_string(),
            "Delete the PodSecurityPolicies and the Roles, ClusterRoles and bindings that grant their use.".to_string(),
        ]);
        MigrationReport {
            policies,
            namespaces,
            cluster_steps,
            rbac_problems: problems
                .iter()
                .map(|p| format!("{}: {}", p.binding, p.message))
                .collect(),
            exception_proposals: Vec::new(),
            audit,
        }
    }
}

struct Plan {
    enforce: LevelVersion,
    /// The namespace pins an older version its pods pass, though they fail it at latest.
    pinned_passes: bool,
    warn_audit: Level,
    notes: Vec<String>,
}

/// The enforce level the namespace's running pods allow, never weaker than what it already
/// enforces: a namespace labelled stricter than its pods keeps its label, and the pods that
/// predate it are listed to fix.
fn plan_namespace(ns: &NamespaceReport) -> Plan {
    let passes = Level::parse(&ns.highest_level).unwrap_or(Level::Privileged);
    let current = ns
        .labels
        .contains_key(ENFORCE_LEVEL_LABEL)
        .then(|| {
            let (level, version) = ns.enforce.split_once(':')?;
            Some(LevelVersion::new(
                Level::parse(level).ok()?,
                Version::parse(version).ok()?,
            ))
        })
        .flatten();
    let mut notes = Vec::new();
    let mut pinned_passes = false;
    let enforce = match current {
        Some(c) if c.level > passes => {
            let pinned_ok = ns
                .pinned
                .as_ref()
                .and_then(|p| Level::parse(&p.highest_level).ok())
                .is_some_and(|l| l >= c.level);
            pinned_passes = pinned_ok;
            if pinned_ok {
                notes.push(format!(
                    "keeps {c}: its pods pass it at {}, not at latest; fix them before moving the version to latest",
                    c.version
                ));
            } else {
                notes.push(format!(
                    "already enforces {c} but running pods fail it (they predate the label or were exempt): they will be rejected when re-created"
                ));
            }
            c
        }
        _ => LevelVersion::new(passes, Version::Latest),
    };
    let warn_audit = match enforce.level {
        Level::Privileged => Level::Baseline,
        _ => Level::Restricted,
    };
    Plan {
        enforce,
        pinned_passes,
        warn_audit,
        notes,
    }
}

/// Workloads that fail `level`, each with the checks that make them fail it.
fn failing_workloads(ns: &NamespaceReport, level: Level) -> Vec<String> {
    ns.workloads
        .iter()
        .filter(|w| Level::parse(&w.highest_level).unwrap_or(Level::Privileged) < level)
        .map(|w| {
            let checks: Vec<&str> = w
                .checks
                .iter()
                .filter(|c| CheckId::parse(c).is_some_and(|id| id.level() <= level))
                .map(String::as_str)
                .collect();
            format!(
                "{} {} ({}: {})",
                w.kind,
                w.name,
                w.pods_text(),
                checks.join(", ")
            )
        })
        .collect()
}

/// `1 pod`, `2 pods`.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
