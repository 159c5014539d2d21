//! The decisions of upstream Pod Security Admission (`admission/admission.go`), for pods, pod
//! controllers and namespaces, plus podsec's `--enforce-templates` extension.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use podsec_manifest::{decode_workload_json, ObjectError, Workload};
use podsec_policy::namespace_policy::{
    AUDIT_LEVEL_LABEL, AUDIT_VERSION_LABEL, ENFORCE_LEVEL_LABEL, ENFORCE_VERSION_LABEL,
    WARN_LEVEL_LABEL, WARN_VERSION_LABEL,
};
use podsec_policy::{evaluate, Evaluation, LabelError, Level, LevelVersion, PodSpec, Policy};
use serde::Deserialize;

use crate::config::Configuration;
use crate::metrics::{MetricDecision, Mode, Recorder, RequestLabels};
use crate::objects::{workload_kind, Missing, RequestObjects};
use crate::psp_webhook;
use crate::review::{aggregate, AdmissionRequest, Decision, Operation, Status};
use crate::view::{error_chain, Cluster, ExistingPod};

/// Upstream's audit annotation keys (kube-apiserver prefixes them with the webhook's name).
pub const ENFORCE_POLICY_ANNOTATION: &str = "enforce-policy";
pub const AUDIT_VIOLATIONS_ANNOTATION: &str = "audit-violations";
pub const EXEMPT_ANNOTATION: &str = "exempt";
pub const ERROR_ANNOTATION: &str = "error";
/// The PodSecurityExceptions that waived violations of the request (`namespace/name`, comma
/// separated). The API server records it under the webhook's name (`<webhook>/exception`).
pub const EXCEPTION_ANNOTATION: &str = "exception";
/// Exceptions for the pod that have expired, and so no longer waive anything.
pub const EXPIRED_EXCEPTION_ANNOTATION: &str = "expired-exception";
/// Exceptions expiring within this long are named in the request's warnings.
const EXCEPTION_EXPIRY_WARNING: i64 = 14 * 86_400;

/// Pod subresources that cannot change what a pod runs; any other one is evaluated as a pod,
/// so a version-skewed webhook fails safe on subresources it does not know.
const IGNORED_POD_SUBRESOURCES: [&str; 8] = [
    "exec",
    "attach",
    "binding",
    "eviction",
    "log",
    "portforward",
    "proxy",
    "status",
];

/// Without a request deadline, the namespace dry run gets this long.
const DEFAULT_NAMESPACE_CHECK_BUDGET: Duration = Duration::from_secs(5);

/// podsec's own admission options, beyond the upstream configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Deny pod controllers (Deployment, …) whose template the namespace's enforce level
    /// forbids, instead of only warning as upstream does.
    pub enforce_templates: bool,
    /// Check at most this many existing pods when a namespace's enforce level tightens
    /// (upstream: 3000). `None`: all of them, within half the request's remaining time.
    pub namespace_pod_limit: Option<usize>,
    /// Which policies decide: Pod Security Standards, PodSecurityPolicy, or both.
    pub engines: Engines,
    /// Warn about unknown fields and wrongly typed values in pod-bearing objects (strict
    /// field checking). Off by default: kube-apiserver decodes a request before admission,
    /// so what it sends never has them; this is for clients that post AdmissionReviews
    /// themselves (CI, dry-run tooling).
    pub field_warnings: bool,
}

/// The admission webhook a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Webhook {
    Validating,
    Mutating,
}

/// The policy engines a server runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Engines {
    /// Pod Security Standards (namespace labels), as upstream PSA.
    #[default]
    Pss,
    /// PodSecurityPolicy objects selected by RBAC, as the removed plugin.
    Psp,
    /// Both: a request must pass each.
    Both,
}

/// A namespace's policy as its labels set it, and what was wrong with them.
struct NamespacePolicy {
    policy: Policy,
    errors: Vec<LabelError>,
}

/// Turns AdmissionReview requests into decisions.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    config: Configuration,
    options: Options,
}

fn request_labels<'a>(req: &'a AdmissionRequest<'_>) -> RequestLabels<'a> {
    let resource = match (&*req.resource.group, &*req.resource.resource) {
        ("", "pods") => "pod",
        ("", "namespaces") => "namespace",
        _ => "controller",
    };
    RequestLabels {
        operation: req.operation.label(),
        resource,
        subresource: &req.sub_resource,
    }
}

/// `errorResponse`: deny with `status`, and annotate `error: <status message>[: <err>]`.
fn error_decision(status: Status, err: Option<&str>) -> Decision {
    let detail = match err {
        Some(e) => format!("{}: {e}", status.message),
        None => status.message.clone(),
    };
    Decision::deny(status).with_annotation(ERROR_ANNOTATION, detail)
}

#[derive(Deserialize)]
struct NamespaceObject {
    #[serde(default)]
    metadata: NamespaceMetadata,
}

#[derive(Deserialize, Default)]
struct NamespaceMetadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Why a Namespace request's object (or old object) cannot be read. Its text is the detail of
/// the `error` audit annotation, after `failed to decode object: `.
#[derive(Debug, thiserror::Error)]
enum NamespaceDecodeError {
    #[error("the request has no object")]
    Missing,
    /// The decoder's message as it is (`invalid type: … at line 1 column 9`), as upstream
    /// annotates it.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

fn decode_namespace(
    raw: Option<&serde_json::value::RawValue>,
) -> Result<NamespaceMetadata, NamespaceDecodeError> {
    let raw = raw.ok_or(NamespaceDecodeError::Missing)?;
    let namespace: NamespaceObject = serde_json::from_str(raw.get())?;
    Ok(namespace.metadata)
}

impl Admission {
    pub fn new(config: Configuration, options: Options) -> Admission {
        Admission { config, options }
    }

    pub fn config(&self) -> &Configuration {
        &self.config
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The namespace's policy: its labels over the configured defaults.
    pub fn policy_for(&self, labels: &BTreeMap<String, String>) -> (Policy, Vec<LabelError>) {
        Policy::from_labels(labels, self.config.defaults)
    }

    fn exempt_namespace(&self, namespace: &str) -> bool {
        !namespace.is_empty() && self.config.exemptions.namespaces.contains(namespace)
    }

    fn exempt_user(&self, username: &str) -> bool {
        !username.is_empty() && self.config.exemptions.usernames.contains(username)
    }

    fn exempt_runtime_class(&self, spec: &PodSpec) -> bool {
        spec.runtime_class_name
            .as_deref()
            .is_some_and(|rc| !rc.is_empty() && self.config.exemptions.runtime_classes.contains(rc))
    }

    /// Decides one request for the webhook the API server called: the engines are dispatched
    /// here, for both routes, on one decoding of the request's objects. PSS never mutates, so
    /// with PSS alone the mutating route answers as the validating one does (never allowing
    /// what validation denies). With PodSecurityPolicy it is the plugin's Admit; the
    /// validating webhook that runs after it judges the mutated pod by every engine.
    pub async fn review(
        &self,
        webhook: Webhook,
        req: &AdmissionRequest<'_>,
        cluster: Cluster<'_>,
        metrics: &dyn Recorder,
        deadline: Option<Instant>,
    ) -> Decision {
        // Secure defaults first: every engine then judges the pod as it will be stored.
        let (defaulted, defaults_error) =
            if webhook == Webhook::Mutating && self.options.engines == Engines::Pss {
                self.secure_defaults(req, cluster).await
            } else {
                (None, None)
            };
        let mutated = defaulted.as_ref().map(|d| AdmissionRequest {
            object: Some(&*d.object),
            ..req.clone()
        });
        let req = mutated.as_ref().unwrap_or(req);
        let objects = RequestObjects::new(req);
        let decision = match (webhook, self.options.engines) {
            // PodSecurityPolicy's Admit mutates; the validating webhook after it judges the
            // mutated pod by every engine, Gatekeeper constraints included.
            (Webhook::Mutating, Engines::Psp | Engines::Both) => {
                return psp_webhook::admit(req, &objects, cluster)
            }
            (_, Engines::Pss) => {
                self.validate_pss(req, &objects, cluster, metrics, deadline)
                    .await
            }
            (_, Engines::Psp) => psp_webhook::validate(req, &objects, cluster),
            (_, Engines::Both) => self
                .validate_pss(req, &objects, cluster, metrics, deadline)
                .await
                .and(psp_webhook::validate(req, &objects, cluster)),
        };
        let mut decision = match cluster.constraints.constraints() {
            Some(set) if !set.library.is_empty() => {
                decision.and(crate::constraints::validate(req, &set, cluster, metrics).await)
            }
            _ => decision,
        };
        if let Some(error) = defaults_error {
            decision = decision.with_annotation(ERROR_ANNOTATION, error);
        }
        if self.options.field_warnings && req.sub_resource.is_empty() {
            if let Some(object) = req
                .object
                .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok())
            {
                decision.warnings.extend(
                    podsec_fields::check(&object)
                        .iter()
                        .map(ToString::to_string),
                );
            }
        }
        if let Some(d) = defaulted.filter(|_| decision.allowed) {
            decision.patch = Some(d.patch);
            decision = decision.with_annotation(crate::defaults::DEFAULTED_ANNOTATION, d.summary);
        }
        decision
    }

    /// The secure defaults the pod's namespace asks for (pods being created, outside exempt
    /// namespaces and users), and an error text for a label value that cannot be used.
    async fn secure_defaults(
        &self,
        req: &AdmissionRequest<'_>,
        cluster: Cluster<'_>,
    ) -> (Option<crate::defaults::Defaulted>, Option<String>) {
        let applies = (&*req.resource.group, &*req.resource.resource) == ("", "pods")
            && req.sub_resource.is_empty()
            && req.operation == Operation::Create
            && !self.exempt_namespace(&req.namespace)
            && !self.exempt_user(&req.user_info.username);
        let Some(object) = req.object.filter(|_| applies) else {
            return (None, None);
        };
        // A namespace that cannot be read gets no defaults; validation fails closed on it.
        let Ok(Some(namespace)) = cluster.namespaces.namespace(&req.namespace).await else {
            return (None, None);
        };
        match crate::defaults::secure_defaults(&namespace.labels, object) {
            Ok(defaulted) => (defaulted, None),
            Err(e) => (None, Some(e)),
        }
    }

    /// The validating webhook's decision (see [`Admission::review`]). `deadline` is when the
    /// API server stops waiting (from `?timeout=`).
    pub async fn validate(
        &self,
        req: &AdmissionRequest<'_>,
        cluster: Cluster<'_>,
        metrics: &dyn Recorder,
        deadline: Option<Instant>,
    ) -> Decision {
        self.review(Webhook::Validating, req, cluster, metrics, deadline)
            .await
    }

    async fn validate_pss(
        &self,
        req: &AdmissionRequest<'_>,
        objects: &RequestObjects<'_>,
        cluster: Cluster<'_>,
        metrics: &dyn Recorder,
        deadline: Option<Instant>,
    ) -> Decision {
        match (&*req.resource.group, &*req.resource.resource) {
            ("", "namespaces") => self.validate_namespace(req, cluster, deadline).await,
            ("", "pods") => self.validate_pod(req, objects, cluster, metrics).await,
            _ => {
                self.validate_pod_controller(req, objects, cluster, metrics)
                    .await
            }
        }
    }

    /// Upstream's common start of pod and controller decisions: the exempt namespaces and
    /// users, then the namespace's policy. `Err` is the decision already reached: exempt, or
    /// the namespace could not be read (pods fail closed; controllers, advisory, fail open
    /// and say why in the audit log).
    async fn namespace_policy(
        &self,
        req: &AdmissionRequest<'_>,
        cluster: Cluster<'_>,
        metrics: &dyn Recorder,
        fail_closed: bool,
    ) -> Result<NamespacePolicy, Decision> {
        let labels = request_labels(req);
        if self.exempt_namespace(&req.namespace) {
            metrics.exemption(labels);
            return Err(Decision::allow().with_annotation(EXEMPT_ANNOTATION, "namespace"));
        }
        if self.exempt_user(&req.user_info.username) {
            metrics.exemption(labels);
            return Err(Decision::allow().with_annotation(EXEMPT_ANNOTATION, "user"));
        }
        let namespace = match cluster.namespaces.namespace(&req.namespace).await {
            Ok(Some(ns)) => ns,
            lookup => {
                metrics.error(true, labels);
                let err = match lookup {
                    Err(e) => error_chain(&e),
                    _ => format!(
                        "namespaces {} not found",
                        podsec_policy::go_quote(&req.namespace)
                    ),
                };
                let failed = format!(
                    "failed to lookup namespace {}",
                    podsec_policy::go_quote(&req.namespace)
                );
                return Err(if fail_closed {
                    error_decision(Status::internal(&failed), Some(&err))
                } else {
                    Decision::allow().with_annotation(ERROR_ANNOTATION, format!("{failed}: {err}"))
                });
            }
        };
        let (policy, errors) = self.policy_for(&namespace.labels);
        Ok(NamespacePolicy { policy, errors })
    }

    async fn validate_pod(
        &self,
        req: &AdmissionRequest<'_>,
        objects: &RequestObjects<'_>,
        cluster: Cluster<'_>,
        metrics: &dyn Recorder,
    ) -> Decision {
        let labels = request_labels(req);
        if IGNORED_POD_SUBRESOURCES.contains(&&*req.sub_resource) {
            return Decision::allow();
        }
        let namespace = match self.namespace_policy(req, cluster, metrics, true).await {
            Ok(ns) => ns,
            Err(decided) => return decided,
        };
        if namespace.errors.is_empty() && namespace.policy.fully_privileged() {
            metrics.evaluation(
                MetricDecision::Allow,
                namespace.policy.enforce,
                Mode::Enforce,
                labels,
            );
            return Decision::allow()
                .with_annotation(ENFORCE_POLICY_ANNOTATION, "privileged:latest");
        }
        let pod = match objects.object() {
            Ok(pod) => pod,
            Err(missing) => {
                metrics.error(true, labels);
                return error_decision(
                    Status::bad_request("failed to decode object"),
                    missing.detail().as_deref(),
                );
            }
        };
        if req.operation == Operation::Update {
            let old = match objects.old_object() {
                Ok(old) => old,
                Err(missing) => {
                    metrics.error(true, labels);
                    return error_decision(
                        Status::bad_request("failed to decode old object"),
                        missing.detail().as_deref(),
                    );
                }
            };
            if !significant_pod_update(&pod.pod_spec, &old.pod_spec) {
                return Decision::allow();
            }
        }
        let exceptions = Exceptions::of(cluster, &req.namespace, None);
        self.evaluate_pod(&namespace, pod, req, metrics, true, &exceptions)
    }

    async fn validate_pod_controller(
        &self,
        req: &AdmissionRequest<'_>,
        objects: &RequestObjects<'_>,
        cluster: Cluster<'_>,
        metrics: &dyn Recorder,
    ) -> Decision {
        let labels = request_labels(req);
        if !req.sub_resource.is_empty() {
            return Decision::allow();
        }
        let namespace = match self.namespace_policy(req, cluster, metrics, false).await {
            Ok(ns) => ns,
            Err(decided) => return decided,
        };
        let policy = &namespace.policy;
        let enforce = self.options.enforce_templates;
        let nothing_to_do = policy.warn.level == Level::Privileged
            && policy.audit.level == Level::Privileged
            && (!enforce || policy.enforce.level == Level::Privileged);
        if namespace.errors.is_empty() && nothing_to_do {
            return Decision::allow();
        }
        if objects.kind().is_none() {
            metrics.error(true, labels);
            let message = format!(
                "failed to extract pod template: unexpected object type: {}/{}, Kind={}",
                req.kind.group, req.kind.version, req.kind.kind
            );
            return Decision::allow().with_annotation(ERROR_ANNOTATION, message);
        }
        let workload = match objects.object() {
            Ok(w) => w,
            // A controller without a pod template has nothing to evaluate.
            Err(Missing::Invalid(ObjectError::Required { .. })) => return Decision::allow(),
            Err(missing) => {
                metrics.error(true, labels);
                let err = missing.detail().unwrap_or_else(|| "no object".into());
                return Decision::allow()
                    .with_annotation(ERROR_ANNOTATION, format!("failed to decode object: {err}"));
            }
        };
        let exceptions = Exceptions::of(cluster, &req.namespace, Some((&req.kind.kind, &req.name)));
        self.evaluate_pod(&namespace, workload, req, metrics, enforce, &exceptions)
    }

    /// Upstream `EvaluatePod`: enforce (only when `enforce`), then audit, then warn (only if
    /// still allowed), each level/version evaluated once.
    fn evaluate_pod(
        &self,
        namespace: &NamespacePolicy,
        pod: &Workload,
        req: &AdmissionRequest<'_>,
        metrics: &dyn Recorder,
        enforce: bool,
        exceptions: &Exceptions<'_>,
    ) -> Decision {
        let (policy, policy_errors) = (namespace.policy, &namespace.errors);
        let (meta, spec) = (&pod.pod_meta, &pod.pod_spec);
        let labels = request_labels(req);
        if self.exempt_runtime_class(spec) {
            metrics.exemption(labels);
            return Decision::allow().with_annotation(EXEMPT_ANNOTATION, "runtimeClass");
        }
        let mut annotations = BTreeMap::new();
        if !policy_errors.is_empty() {
            let texts: Vec<String> = policy_errors.iter().map(ToString::to_string).collect();
            annotations.insert(
                ERROR_ANNOTATION.to_string(),
                format!("Failed to parse policy: {}", aggregate(&texts)),
            );
            metrics.error(false, labels);
        }
        // Modes at the same level and version share one evaluation.
        let mut cache: Vec<Evaluation> = Vec::with_capacity(3);
        let mut waived: Vec<podsec_exceptions::Waived> = Vec::new();
        let subject = exceptions.set.as_ref().map(|_| {
            podsec_exceptions::Subject::new(&req.namespace, exceptions.workload, meta, spec)
        });
        let mut evaluated = |cache: &mut Vec<Evaluation>, lv: LevelVersion| -> usize {
            match cache.iter().position(|e| e.level_version == lv) {
                Some(i) => i,
                None => {
                    let mut evaluation = evaluate(lv, meta, spec);
                    if let (Some((set, now)), Some(subject)) = (&exceptions.set, &subject) {
                        let outcome =
                            set.waive(subject, std::mem::take(&mut evaluation.violations), *now);
                        evaluation.violations = outcome.remaining;
                        waived.extend(outcome.waived);
                    }
                    cache.push(evaluation);
                    cache.len() - 1
                }
            }
        };
        let mut decision = Decision::allow();
        if enforce {
            annotations.insert(
                ENFORCE_POLICY_ANNOTATION.to_string(),
                policy.enforce.to_string(),
            );
            let i = evaluated(&mut cache, policy.enforce);
            match cache[i].deny_message() {
                Some(message) => {
                    decision = Decision::deny(Status::forbidden(
                        &req.resource.group,
                        &req.resource.resource,
                        &req.name,
                        &message,
                    ));
                    metrics.evaluation(MetricDecision::Deny, policy.enforce, Mode::Enforce, labels);
                }
                None => {
                    metrics.evaluation(MetricDecision::Allow, policy.enforce, Mode::Enforce, labels)
                }
            }
        }
        let i = evaluated(&mut cache, policy.audit);
        if let Some(message) = cache[i].warning_message() {
            annotations.insert(AUDIT_VIOLATIONS_ANNOTATION.to_string(), message);
            metrics.evaluation(MetricDecision::Deny, policy.audit, Mode::Audit, labels);
        }
        // No warnings on a request that is denied anyway.
        if decision.allowed {
            let i = evaluated(&mut cache, policy.warn);
            if let Some(message) = cache[i].warning_message() {
                decision.warnings.push(message);
                metrics.evaluation(MetricDecision::Deny, policy.warn, Mode::Warn, labels);
            }
        }
        exceptions.report(&waived, subject.as_ref(), &mut decision, &mut annotations);
        decision.audit_annotations = annotations;
        decision
    }

    async fn validate_namespace(
        &self,
        req: &AdmissionRequest<'_>,
        cluster: Cluster<'_>,
        deadline: Option<Instant>,
    ) -> Decision {
        if !req.sub_resource.is_empty() {
            return Decision::allow();
        }
        let namespace = match decode_namespace(req.object) {
            Ok(ns) => ns,
            Err(e) => {
                return error_decision(
                    Status::bad_request("failed to decode object"),
                    Some(&e.to_string()),
                )
            }
        };
        let new_labels = namespace.labels.unwrap_or_default();
        let (new_policy, new_errors) = self.policy_for(&new_labels);
        let invalid = |errors: &[LabelError]| {
            let fields: Vec<(String, String)> = errors
                .iter()
                .map(|e| {
                    let text = e.to_string();
                    let (field, body) = text.split_once(": ").unwrap_or(("", &text));
                    (field.to_string(), body.to_string())
                })
                .collect();
            Decision::deny(Status::invalid(
                &req.kind.group,
                &req.kind.kind,
                &req.name,
                &fields,
            ))
        };
        match req.operation {
            Operation::Create => {
                if !new_errors.is_empty() {
                    return invalid(&new_errors);
                }
                self.exempt_namespace_decision(
                    &req.namespace,
                    &namespace.name,
                    new_policy,
                    &new_labels,
                )
            }
            Operation::Update => {
                let old = match decode_namespace(req.old_object) {
                    Ok(ns) => ns,
                    Err(e) => {
                        return error_decision(
                            Status::bad_request("failed to decode  old object"),
                            Some(&e.to_string()),
                        )
                    }
                };
                let (old_policy, old_errors) = self.policy_for(&old.labels.unwrap_or_default());
                if !new_errors.is_empty() && (old_errors.is_empty() || new_errors != old_errors) {
                    return invalid(&new_errors);
                }
                let (new, old) = (new_policy.enforce, old_policy.enforce);
                let relaxed_or_same = new.version == old.version && new.level <= old.level;
                if new == old || new.level == Level::Privileged || relaxed_or_same {
                    return Decision::allow();
                }
                if self.exempt_namespace(&req.namespace) {
                    return self.exempt_namespace_decision(
                        &req.namespace,
                        &namespace.name,
                        new_policy,
                        &new_labels,
                    );
                }
                let warnings = match cluster.pods.pods(&namespace.name).await {
                    Ok(pods) => {
                        self.evaluate_pods_in_namespace(&namespace.name, new, &pods, deadline)
                    }
                    Err(_) => vec![
                        "failed to list pods while checking new PodSecurity enforce level"
                            .to_string(),
                    ],
                };
                Decision {
                    warnings,
                    ..Decision::allow()
                }
            }
            _ => Decision::allow(),
        }
    }

    fn exempt_namespace_decision(
        &self,
        exempt: &str,
        name: &str,
        policy: Policy,
        labels: &BTreeMap<String, String>,
    ) -> Decision {
        let mut decision = Decision::allow();
        if self.exempt_namespace(exempt) {
            if let Some(w) = self.exempt_namespace_warning(name, policy, labels) {
                decision.warnings.push(w);
            }
        }
        decision
    }

    /// Upstream `exemptNamespaceWarning`: only non-privileged modes whose labels are set.
    fn exempt_namespace_warning(
        &self,
        name: &str,
        policy: Policy,
        labels: &BTreeMap<String, String>,
    ) -> Option<String> {
        if policy.fully_privileged() || policy.equivalent(&self.config.defaults) {
            return None;
        }
        let mut parts = Vec::new();
        for (mode, lv, level_label, version_label) in [
            (
                "enforce",
                policy.enforce,
                ENFORCE_LEVEL_LABEL,
                ENFORCE_VERSION_LABEL,
            ),
            (
                "audit",
                policy.audit,
                AUDIT_LEVEL_LABEL,
                AUDIT_VERSION_LABEL,
            ),
            ("warn", policy.warn, WARN_LEVEL_LABEL, WARN_VERSION_LABEL),
        ] {
            if lv.level != Level::Privileged
                && (labels.contains_key(level_label) || labels.contains_key(version_label))
            {
                parts.push(format!("{mode}={lv}"));
            }
        }
        Some(format!(
            "namespace {} is exempt from Pod Security, and the policy ({}) will be ignored",
            podsec_policy::go_quote(name),
            parts.join(", ")
        ))
    }

    /// Upstream `EvaluatePodsInNamespace`: the warnings for existing pods that the new enforce
    /// level would reject, grouped by reason. Unlike upstream (3000 pods, 1 s), every pod is
    /// checked unless a limit is configured, within half of the request's remaining time.
    pub fn evaluate_pods_in_namespace(
        &self,
        namespace: &str,
        enforce: LevelVersion,
        pods: &[ExistingPod],
        deadline: Option<Instant>,
    ) -> Vec<String> {
        let start = Instant::now();
        let budget = deadline.map_or(DEFAULT_NAMESPACE_CHECK_BUDGET, |d| {
            d.saturating_duration_since(start) / 2
        });
        let stop_at = start + budget;
        let mut pods = self.prioritize_pods(pods);
        let total = pods.len();
        if let Some(limit) = self.options.namespace_pod_limit {
            pods.truncate(limit);
        }
        let mut checked = pods.len();
        let mut groups = podsec_policy::ReasonGroups::default();
        for (i, pod) in pods.iter().enumerate() {
            let result = evaluate(enforce, &pod.meta, &pod.spec);
            if !result.allowed() {
                groups.add(result.forbidden_reason(), &pod.meta.name);
            }
            if Instant::now() >= stop_at {
                checked = i + 1;
                break;
            }
        }
        let mut warnings = Vec::new();
        if checked < total {
            warnings.push(format!(
                "new PodSecurity enforce level only checked against the first {checked} of {total} existing pods"
            ));
        }
        warnings.extend(groups.warnings(namespace, enforce));
        warnings
    }

    /// Drops exempt-runtime-class pods; puts unowned pods and the first pod of each controller
    /// first, further replicas last.
    fn prioritize_pods<'p>(&self, pods: &'p [ExistingPod]) -> Vec<&'p ExistingPod> {
        let mut first = Vec::with_capacity(pods.len());
        let mut replicas = Vec::new();
        let mut seen_controllers: HashSet<String> = HashSet::new();
        for pod in pods {
            if self.exempt_runtime_class(&pod.spec) {
                continue;
            }
            let controller = pod.meta.controller();
            match controller {
                None => first.push(pod),
                Some(c) if seen_controllers.contains(&c.uid) => replicas.push(pod),
                Some(c) => {
                    seen_controllers.insert(c.uid.clone());
                    first.push(pod);
                }
            }
        }
        first.extend(replicas);
        first
    }
}

/// Upstream `isSignificantPodUpdate`: only container counts and images (and new or changed
/// ephemeral containers) can change a verdict on update, since other pod fields are immutable.
fn significant_pod_update(new: &PodSpec, old: &PodSpec) -> bool {
    if new.containers.len() != old.containers.len()
        || new.init_containers.len() != old.init_containers.len()
    {
        return true;
    }
    let image_changed = |a: &[podsec_policy::pod::Container],
                         b: &[podsec_policy::pod::Container]| {
        a.iter().zip(b).any(|(x, y)| x.image != y.image)
    };
    if image_changed(&new.containers, &old.containers)
        || image_changed(&new.init_containers, &old.init_containers)
    {
        return true;
    }
    new.ephemeral_containers.iter().any(|c| {
        match old.ephemeral_containers.iter().find(|o| o.name == c.name) {
            None => true,
            Some(o) => o.image != c.image,
        }
    })
}

/// Decodes the request's object exactly as [`Admission::validate`] would, and decides nothing:
/// the work of the benchmark's null endpoint. True when the object decoded.
pub fn decode_request_object(req: &AdmissionRequest<'_>) -> bool {
    match (&*req.resource.group, &*req.resource.resource) {
        ("", "namespaces") => decode_namespace(req.object).is_ok(),
        (group, resource) => match (workload_kind(group, resource), req.object) {
            (Some(kind), Some(object)) => decode_workload_json(kind, object.get()).is_ok(),
            _ => false,
        },
    }
}

/// The PodSecurityExceptions a request is judged with: the set, the time, and the workload the
/// object is (a controller's own kind and name; for a pod, its owner references say).
struct Exceptions<'r> {
    set: Option<(std::sync::Arc<podsec_exceptions::ExceptionSet>, i64)>,
    workload: Option<(&'r str, &'r str)>,
}

impl<'r> Exceptions<'r> {
    fn of(
        cluster: Cluster<'_>,
        namespace: &str,
        workload: Option<(&'r str, &'r str)>,
    ) -> Exceptions<'r> {
        Exceptions {
            set: cluster
                .exceptions
                .exceptions()
                .filter(|s| s.has_namespace(namespace))
                .map(|s| (s, cluster.exceptions.now())),
            workload,
        }
    }

    /// What the exceptions did, told to the requester and the audit log: a warning per
    /// exception used (its checks, owner, expiry; an expiry within two weeks said so), the
    /// `exception` annotation, and the expired exceptions that would have applied.
    fn report(
        &self,
        waived: &[podsec_exceptions::Waived],
        subject: Option<&podsec_exceptions::Subject<'_>>,
        decision: &mut Decision,
        annotations: &mut BTreeMap<String, String>,
    ) {
        let (Some((set, now)), Some(subject)) = (&self.set, subject) else {
            return;
        };
        let mut used: Vec<(String, Vec<&str>)> = Vec::new();
        for w in waived {
            for e in &w.exceptions {
                let check = w.violation.check.as_str();
                match used.iter_mut().find(|(id, _)| id == e) {
                    Some((_, checks)) if !checks.contains(&check) => checks.push(check),
                    Some(_) => {}
                    None => used.push((e.clone(), vec![check])),
                }
            }
        }
        if !used.is_empty() {
            annotations.insert(
                EXCEPTION_ANNOTATION.to_string(),
                used.iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        if decision.allowed {
            for (id, checks) in &used {
                let Some(e) = set.get(id) else {
                    continue;
                };
                let left = e.expires - now;
                let soon = if left < EXCEPTION_EXPIRY_WARNING {
                    format!(" (expires in {} days)", left / 86_400)
                } else {
                    String::new()
                };
                decision.warnings.push(format!(
                    "{} waived by PodSecurityException {id} (owner {}) until {}{soon}",
                    checks.join(", "),
                    e.owner,
                    e.expires_text
                ));
            }
        }
        // Lapsed exceptions matter where they would have admitted the pod.
        if !decision.allowed {
            let expired: Vec<String> = set
                .expired_for(subject, *now)
                .iter()
                .map(|e| e.id())
                .collect();
            if !expired.is_empty() {
                annotations.insert(EXPIRED_EXCEPTION_ANNOTATION.to_string(), expired.join(","));
            }
        }
    }
}
