//! `podsec check`'s engine: manifests (decoded as authored objects) in, one result per
//! pod-bearing object out, checked against the Pod Security Standards at their namespace's
//! level (from Namespaces in the input) or the default one, or against PodSecurityPolicies.
//! Pure: reading files and rendering the report are the caller's.

use std::collections::BTreeMap;
use std::sync::Arc;

use podsec_manifest::Workload;
use podsec_policy::namespace_policy::{ENFORCE_LEVEL_LABEL, ENFORCE_VERSION_LABEL};
use podsec_policy::psp::selection::{Authorization, Phase, PspState};
use podsec_policy::rbac::UserIdentity;
use podsec_policy::{evaluate, LevelVersion, Policy};
use serde::Serialize;

use crate::snapshot::{Decoded, SnapshotObject};
use podsec_exceptions::{ExceptionSet, Subject};

/// The whole report. Field names and meanings are a contract (see the README).
#[derive(Debug, Serialize)]
pub struct Report {
    pub results: Vec<ObjectResult>,
    pub errors: Vec<ErrorEntry>,
    pub summary: Summary,
}

/// One evaluated pod-bearing object.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectResult {
    pub file: String,
    pub line: usize,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// The Pod Security Standards level and version checked at; null for `check --psp`.
    pub level: Option<String>,
    pub version: Option<String>,
    /// `check --psp`: how PodSecurityPolicy admission decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psp: Option<PspVerdict>,
    pub allowed: bool,
    /// Upstream's denial text, `violates PodSecurity "<level>:<version>": …`; null if allowed.
    pub message: Option<String>,
    pub violations: Vec<ViolationEntry>,
    /// Violations a PodSecurityException waives (not counted against `allowed`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waived: Vec<WaivedEntry>,
    /// Fields the API server would refuse with strict validation or drop silently (unknown
    /// fields, wrongly typed values), with a "did you mean"; never part of the verdict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub field_warnings: Vec<String>,
}

/// A violation waived by a PodSecurityException.
#[derive(Debug, Serialize)]
pub struct WaivedEntry {
    pub check: String,
    /// `namespace/name` of the exception (several joined with `, `).
    pub exception: String,
    /// When the (earliest) exception expires, RFC 3339.
    pub expires: String,
    pub reason: String,
    pub detail: String,
}

/// PodSecurityPolicy admission of one object's pod.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PspVerdict {
    /// The policy that admitted the pod (as `kubernetes.io/psp` would say); null when none did.
    pub admitted_by: Option<String>,
    /// The defaults that policy sets on the pod, as JSON patch operations on the pod (empty
    /// when it admits the pod unchanged): the pod the cluster runs is not the one written.
    pub defaults: Vec<serde_json::Value>,
}

impl ObjectResult {
    /// The policy column: `level:version`, or `psp/NAME` (`psp (none admits)`).
    pub fn policy(&self) -> String {
        match (&self.psp, &self.level, &self.version) {
            (
                Some(PspVerdict {
                    admitted_by: Some(p),
                    ..
                }),
                _,
                _,
            ) => format!("psp/{p}"),
            (Some(_), _, _) => "psp (none admits)".into(),
            (None, Some(level), Some(version)) => format!("{level}:{version}"),
            (None, level, _) => level.clone().unwrap_or_default(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ViolationEntry {
    /// Upstream check ID, in upstream casing.
    pub check: String,
    pub reason: String,
    pub detail: String,
    /// Paths of the offending values, relative to the object.
    pub fields: Vec<String>,
    /// How to comply; podsec's addition.
    pub hint: String,
    /// Gatekeeper constraints only: deny, warn or dryrun (only deny makes `allowed` false).
    #[serde(rename = "enforcementAction", skip_serializing_if = "Option::is_none")]
    pub enforcement_action: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ErrorEntry {
    pub file: String,
    /// The line of the document or object at fault; null when the whole file is.
    pub line: Option<usize>,
    /// `Kind name` or `Kind namespace/name` of the object at fault, when it is known (the
    /// message then starts with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    pub message: String,
}

/// The object a message names at its start (`Pod web: …`, `Deployment shop/api: …`).
fn object_named(message: &str) -> Option<String> {
    let (head, _) = message.split_once(": ")?;
    let (kind, name) = head.split_once(' ')?;
    let is_kind = kind.starts_with(|c: char| c.is_ascii_uppercase())
        && kind.chars().all(|c| c.is_ascii_alphanumeric());
    let is_name = !name.is_empty() && !name.contains(' ');
    (is_kind && is_name).then(|| head.to_string())
}

#[derive(Debug, Serialize)]
pub struct Summary {
    /// Pod-bearing objects evaluated (`allowed + denied`).
    pub objects: usize,
    pub allowed: usize,
    pub denied: usize,
    /// Objects of other kinds, not evaluated.
    pub skipped: usize,
    /// Documents or files that could not be read or understood.
    pub errors: usize,
    /// Files skipped because nothing in them is a Kubernetes object (Helm values,
    /// package.json, Chart.yaml).
    #[serde(skip_serializing_if = "is_zero")]
    pub non_kubernetes_files: usize,
    /// The skipped objects by kind.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped_kinds: BTreeMap<String, usize>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Report {
    pub fn exit_code(&self) -> u8 {
        if self.summary.errors > 0 {
            2
        } else if self.summary.denied > 0 {
            1
        } else {
            0
        }
    }
}

/// What to check against.
pub enum Against {
    /// The Pod Security Standards: this level and version unless the object's Namespace in
    /// the input sets its own.
    Standards(LevelVersion),
    /// PodSecurityPolicy admission, as `user` creating the pods.
    Psp {
        state: Arc<PspState>,
        user: UserIdentity,
    },
}

/// The namespace an object is created in, as `kubectl apply -n` decides it: its own, else
/// `-n`, else `default`; an object naming another namespace than `-n` is an error.
pub fn namespace_of(object: &str, flag: Option<&str>) -> Result<String, String> {
    match (object, flag) {
        ("", Some(ns)) => Ok(ns.to_string()),
        ("", None) => Ok("default".into()),
        (own, Some(ns)) if own != ns => Err(format!(
            "the namespace from the provided object {own:?} does not match the namespace {ns:?}; pass -n {own} or remove the object's namespace"
        )),
        (own, _) => Ok(own.to_string()),
    }
}

/// A pod-bearing object waiting for its namespace's policy.
struct Pending {
    file: String,
    line: usize,
    workload: Workload,
}

/// Collects the objects of a run (in input order), then checks them all: a Namespace later
/// in the input still sets the level of the objects before it.
pub struct Checker {
    against: Against,
    /// `-n`: the namespace of objects that name none.
    namespace: Option<String>,
    pending: Vec<Pending>,
    /// Namespaces in the input: where each was read, and its labels.
    namespaces: BTreeMap<String, (String, usize, BTreeMap<String, String>)>,
    skipped: usize,
    errors: Vec<ErrorEntry>,
    /// PodSecurityExceptions, and the time they are judged at (Unix seconds).
    exceptions: Option<(ExceptionSet, i64)>,
    /// `--strict`: field warnings are input errors, as `kubectl apply --validate=strict`.
    strict: bool,
    non_kubernetes_files: usize,
    skipped_kinds: BTreeMap<String, usize>,
}

impl Checker {
    pub fn new(against: Against, namespace: Option<String>) -> Checker {
        Checker {
            against,
            namespace,
            pending: Vec::new(),
            namespaces: BTreeMap::new(),
            skipped: 0,
            errors: Vec::new(),
            exceptions: None,
            strict: false,
            non_kubernetes_files: 0,
            skipped_kinds: BTreeMap::new(),
        }
    }

    /// Counts an object of a kind that carries no pod.
    fn skip(&mut self, kind: &str) {
        self.skipped += 1;
        *self.skipped_kinds.entry(kind.to_string()).or_default() += 1;
    }

    /// Counts a file skipped because nothing in it is a Kubernetes object.
    pub fn skip_file(&mut self) {
        self.non_kubernetes_files += 1;
    }

    /// Field warnings become input errors (exit 2).
    pub fn set_strict(&mut self, strict: bool) {
        self.strict = strict;
    }

    /// Waives what these exceptions cover, as of `now` (Unix seconds).
    pub fn set_exceptions(&mut self, exceptions: ExceptionSet, now: i64) {
        self.exceptions = Some((exceptions, now));
    }

    /// Takes one object of `file`, starting at `line` (0: unknown).
    pub fn observe(&mut self, file: &str, line: usize, object: &Decoded) {
        match object {
            Ok(SnapshotObject::Pod(w) | SnapshotObject::Controller(w)) => {
                let mut workload = (**w).clone();
                if let Some(flag) = self.namespace.as_deref() {
                    match namespace_of(&workload.meta.namespace, Some(flag)) {
                        Ok(ns) => {
                            workload.meta.namespace = ns.clone();
                            workload.pod_meta.namespace = ns;
                        }
                        Err(e) => {
                            return self.error(
                                file,
                                line,
                                format!("{} {}: {e}", workload.kind, workload.meta.name),
                            )
                        }
                    }
                }
                if self.strict {
                    for warning in std::mem::take(&mut workload.field_warnings) {
                        let object = format!("{} {}", workload.kind, workload.meta.name);
                        self.error(
                            file,
                            line,
                            format!("{object}: strict decoding error: {warning}"),
                        );
                    }
                }
                self.pending.push(Pending {
                    file: file.to_string(),
                    line,
                    workload,
                })
            }
            Ok(SnapshotObject::Namespace { name, labels }) => {
                self.skip("Namespace");
                self.namespaces
                    .insert(name.clone(), (file.to_string(), line, labels.clone()));
            }
            Ok(other) => self.skip(match other {
                SnapshotObject::Other { kind, .. } => kind,
                SnapshotObject::Psp(_) => "PodSecurityPolicy",
                SnapshotObject::Role(_) => "Role",
                SnapshotObject::ClusterRole(_) => "ClusterRole",
                SnapshotObject::RoleBinding(_) => "RoleBinding",
                SnapshotObject::ClusterRoleBinding(_) => "ClusterRoleBinding",
                SnapshotObject::ServiceAccount { .. } => "ServiceAccount",
                _ => "other",
            }),
            Err(e) => self.error(file, line, e.message.clone()),
        }
    }

    /// Records a problem with the input (a file that cannot be read, an object that cannot).
    pub fn error(&mut self, file: &str, line: usize, message: String) {
        self.errors.push(ErrorEntry {
            file: file.to_string(),
            line: (line > 0).then_some(line),
            object: object_named(&message),
            message,
        });
    }

    /// Objects read so far (pod-bearing ones waiting for evaluation and skipped ones).
    pub fn objects_seen(&self) -> usize {
        self.pending.len() + self.skipped
    }

    /// Whether nothing at all was read: no object, no error.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.skipped == 0 && self.errors.is_empty()
    }

    pub fn finish(self) -> Report {
        let Checker {
            against,
            pending,
            namespaces,
            skipped,
            mut errors,
            exceptions,
            non_kubernetes_files,
            skipped_kinds,
            ..
        } = self;
        let results: Vec<ObjectResult> = match against {
            Against::Psp { state, user } => pending
                .into_iter()
                .map(|p| evaluate_psp(p, &state, &user, exceptions.as_ref()))
                .collect(),
            Against::Standards(default) => {
                let namespace_policy = namespace_policies(&namespaces, default, &mut errors);
                pending
                    .into_iter()
                    .map(|p| {
                        let lv = namespace_policy
                            .get(p.workload.meta.namespace.as_str())
                            .copied()
                            .unwrap_or(default);
                        evaluate_object(p, lv, exceptions.as_ref())
                    })
                    .collect()
            }
        };
        let allowed = results.iter().filter(|r| r.allowed).count();
        let summary = Summary {
            objects: results.len(),
            allowed,
            denied: results.len() - allowed,
            skipped,
            errors: errors.len(),
            non_kubernetes_files,
            skipped_kinds,
        };
        Report {
            results,
            errors,
            summary,
        }
    }
}

/// The enforce policy of each Namespace in the input that sets one (it overrides the
/// default level); invalid labels fail closed, as upstream, and are reported.
fn namespace_policies<'n>(
    namespaces: &'n BTreeMap<String, (String, usize, BTreeMap<String, String>)>,
    default: LevelVersion,
    errors: &mut Vec<ErrorEntry>,
) -> BTreeMap<&'n str, LevelVersion> {
    let defaults = Policy {
        enforce: default,
        ..Policy::default()
    };
    let mut out = BTreeMap::new();
    for (name, (file, line, labels)) in namespaces {
        if !labels.contains_key(ENFORCE_LEVEL_LABEL) && !labels.contains_key(ENFORCE_VERSION_LABEL)
        {
            continue;
        }
        let (policy, label_errors) = Policy::from_labels(labels, defaults);
        for e in label_errors {
            errors.push(ErrorEntry {
                file: file.clone(),
                line: Some(*line),
                object: Some(format!("Namespace {name}")),
                message: format!(
                    "Namespace {name}: {e} (objects in it are checked at {})",
                    policy.enforce
                ),
            });
        }
        out.insert(name.as_str(), policy.enforce);
    }
    out
}

fn evaluate_object(
    p: Pending,
    lv: LevelVersion,
    exceptions: Option<&(ExceptionSet, i64)>,
) -> ObjectResult {
    let w = &p.workload;
    let mut evaluation = evaluate(lv, &w.pod_meta, &w.pod_spec);
    let mut waived = Vec::new();
    if let Some((set, now)) = exceptions {
        // Objects that name no namespace are applied to `default` (kubectl's default).
        let namespace = match w.meta.namespace.as_str() {
            "" => "default",
            ns => ns,
        };
        let workload = (w.kind != podsec_manifest::WorkloadKind::Pod)
            .then(|| (w.kind.as_str(), w.meta.name_or_generate_name()));
        let subject = Subject::new(namespace, workload, &w.pod_meta, &w.pod_spec)
            .with_owner(w.meta.controller());
        let outcome = set.waive(&subject, std::mem::take(&mut evaluation.violations), *now);
        evaluation.violations = outcome.remaining;
        waived = outcome
            .waived
            .into_iter()
            .map(|x| WaivedEntry {
                check: x.violation.check.as_str().to_string(),
                exception: x.exceptions.join(", "),
                expires: podsec_exceptions::time::format_rfc3339(x.expires),
                reason: x.violation.reason,
                detail: x.violation.detail,
            })
            .collect();
    }
    let message = evaluation.deny_message();
    let violations = evaluation
        .violations
        .into_iter()
        .map(|v| ViolationEntry {
            check: v.check.as_str().to_string(),
            reason: v.reason,
            detail: v.detail,
            fields: v.fields.iter().map(|f| w.object_path(f)).collect(),
            hint: v.check.fix_hint().to_string(),
            enforcement_action: None,
        })
        .collect::<Vec<_>>();
    ObjectResult {
        level: Some(lv.level.as_str().to_string()),
        version: Some(lv.version.to_string()),
        allowed: violations.is_empty(),
        message,
        violations,
        waived,
        ..ObjectResult::about(&p)
    }
}

/// PodSecurityPolicy admission of one object's pod: which policy admits it, with which
/// defaults, or why none does.
fn evaluate_psp(
    mut p: Pending,
    psp: &PspState,
    user: &UserIdentity,
    exceptions: Option<&(ExceptionSet, i64)>,
) -> ObjectResult {
    podsec_policy::psp::selection::default_service_account(&mut p.workload.pod_spec);
    let w = &p.workload;
    let namespace = match w.meta.namespace.as_str() {
        "" => "default",
        own => own,
    };
    let workload = (w.kind != podsec_manifest::WorkloadKind::Pod)
        .then(|| (w.kind.as_str(), w.meta.name_or_generate_name()));
    let subject =
        Subject::new(namespace, workload, &w.pod_meta, &w.pod_spec).with_owner(w.meta.controller());
    let (outcome, used) = podsec_exceptions::psp::select_policy_waived(
        psp,
        &subject,
        user,
        Phase::Admit,
        exceptions.map(|(set, now)| (set, *now)),
    );
    let admitting = outcome.admitted.as_ref().map_or("", |(p, _, _)| p.as_str());
    let waived: Vec<WaivedEntry> = used
        .iter()
        .flat_map(|e| {
            e.waivers
                .iter()
                .filter_map(move |waiver| match &waiver.target {
                    podsec_exceptions::Target::Check(check) => Some(WaivedEntry {
                        check: check.as_str().to_string(),
                        exception: e.id(),
                        expires: podsec_exceptions::time::format_rfc3339(e.expires),
                        reason: "PodSecurityPolicy".into(),
                        detail: format!(
                            "policy {} admits the pod with {} allowed",
                            admitting,
                            check.as_str()
                        ),
                    }),
                    podsec_exceptions::Target::Constraint { .. } => None,
                })
        })
        .collect();
    let name = w.meta.name_or_generate_name().to_string();
    let violations: Vec<ViolationEntry> = if outcome.admitted.is_some() {
        Vec::new()
    } else {
        let mut list = Vec::new();
        for c in outcome
            .candidates
            .iter()
            .filter(|c| matches!(c.authorization, Some(ref a) if *a != Authorization::Denied))
        {
            for e in &c.errors {
                list.push(ViolationEntry {
                    check: c.policy.clone(),
                    reason: "PodSecurityPolicy".into(),
                    detail: e.to_string(),
                    fields: vec![w.object_path(&e.path)],
                    hint: format!("change the pod so that policy {} admits it, or grant `use` of a policy that does", c.policy),
                    enforcement_action: None,
                });
            }
        }
        if list.is_empty() {
            list.push(ViolationEntry {
                check: "PodSecurityPolicy".into(),
                reason: "PodSecurityPolicy".into(),
                detail: outcome.rejection(Phase::Admit),
                fields: vec![],
                hint: "grant the pod's service account (or the user) `use` of a policy that admits the pod".into(),
                enforcement_action: None,
            });
        }
        list
    };
    let message = outcome.admitted.is_none().then(|| {
        format!(
            "pods {} is forbidden: {}",
            podsec_policy::go_quote(&name),
            outcome.rejection(Phase::Admit)
        )
    });
    ObjectResult {
        psp: Some(PspVerdict {
            admitted_by: outcome
                .admitted
                .as_ref()
                .map(|(policy, _, _)| policy.clone()),
            defaults: outcome
                .admitted
                .as_ref()
                .and_then(|(_, meta, spec)| {
                    podsec_manifest::patch::patch((&w.pod_meta, &w.pod_spec), (meta, spec))
                })
                .and_then(|ops| match ops {
                    serde_json::Value::Array(ops) => Some(ops),
                    _ => None,
                })
                .unwrap_or_default(),
        }),
        allowed: violations.is_empty(),
        message,
        violations,
        waived,
        ..ObjectResult::about(&p)
    }
}

impl ObjectResult {
    /// Where the object is and what it is; allowed, with no verdict yet.
    fn about(p: &Pending) -> ObjectResult {
        let w = &p.workload;
        ObjectResult {
            file: p.file.clone(),
            line: p.line,
            api_version: w.kind.api_version().to_string(),
            kind: w.kind.as_str().to_string(),
            namespace: (!w.meta.namespace.is_empty()).then(|| w.meta.namespace.clone()),
            name: w.meta.name_or_generate_name().to_string(),
            level: None,
            version: None,
            psp: None,
            allowed: true,
            message: None,
            violations: Vec::new(),
            waived: Vec::new(),
            field_warnings: w.field_warnings.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::object_named;

    #[test]
    fn errors_name_the_object_their_message_starts_with() {
        assert_eq!(
            object_named("Pod p: spec.containers: Required value").as_deref(),
            Some("Pod p")
        );
        assert_eq!(
            object_named("Deployment shop/api: strict decoding error: unknown field").as_deref(),
            Some("Deployment shop/api")
        );
        assert_eq!(object_named("cannot read file: No such file"), None);
        assert_eq!(object_named("item at line 3: not a map"), None);
        assert_eq!(object_named("no apiVersion or kind"), None);
    }
}
