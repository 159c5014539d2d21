//! Admission decisions, request by request, against upstream's expected responses.
//!
//! The expected messages, warnings, annotations and metric events are upstream Pod Security
//! Admission's (`admission/admission.go`, `admission_test.go`, `response.go`). As upstream's
//! `admission_test.go` does, each test is a table of cases run by one runner, `run`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use podsec_admission::{
    parse_review, Admission, BoxFuture, Cluster, Configuration, Decision, ExistingPod,
    MetricDecision, Mode, NamespaceGetter, NamespaceMeta, NoPsp, Options, PodLister, Recorder,
    RequestLabels, ViewError,
};
use serde_json::{json, Value};

/// Old labels and new labels of a namespace update.
type LabelChange<'a> = (&'a [(&'a str, &'a str)], &'a [(&'a str, &'a str)]);

/// A fixed, in-memory cluster for these tests (the real sources live in `podsec-cluster`).
#[derive(Default)]
struct FixedCluster {
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    pods: Vec<(String, Value)>,
    fail_pod_list: bool,
}

impl FixedCluster {
    fn with_ns(mut self, name: &str, labels: &[(&str, &str)]) -> Self {
        self.namespaces.insert(
            name.into(),
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        self
    }
    fn with_pod(mut self, ns: &str, pod: Value) -> Self {
        self.pods.push((ns.into(), pod));
        self
    }
    /// A cluster whose pod list fails: a namespace dry run that lists pods shows up as a warning.
    fn failing_pod_list() -> Self {
        FixedCluster {
            fail_pod_list: true,
            ..FixedCluster::default()
        }
    }
}

impl NamespaceGetter for FixedCluster {
    fn namespace<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<NamespaceMeta>, ViewError>> {
        let found = self.namespaces.get(name).map(|labels| NamespaceMeta {
            name: name.into(),
            labels: labels.clone(),
        });
        Box::pin(async move { Ok(found) })
    }
}

impl PodLister for FixedCluster {
    fn pods<'a>(
        &'a self,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Vec<ExistingPod>>, ViewError>> {
        let result: Result<Arc<Vec<ExistingPod>>, ViewError> = if self.fail_pod_list {
            Err(ViewError::Unavailable("boom".into()))
        } else {
            Ok(Arc::new(
                self.pods
                    .iter()
                    .filter(|(ns, _)| ns == namespace)
                    .map(|(_, p)| {
                        let w = podsec_manifest::decode_workload_json(
                            podsec_manifest::WorkloadKind::Pod,
                            &p.to_string(),
                        )
                        .expect("pod");
                        ExistingPod {
                            meta: w.pod_meta,
                            spec: w.pod_spec,
                        }
                    })
                    .collect(),
            ))
        };
        Box::pin(async move { result })
    }
}

/// Records metric events as strings, to assert on them.
#[derive(Default)]
struct Events(Mutex<Vec<String>>);

/// `<operation> <resource>[ <subresource>]`, the request labels of every metric.
fn request_labels(r: RequestLabels<'_>) -> String {
    if r.subresource.is_empty() {
        format!("{} {}", r.operation, r.resource)
    } else {
        format!("{} {} {}", r.operation, r.resource, r.subresource)
    }
}

impl Recorder for Events {
    fn evaluation(
        &self,
        d: MetricDecision,
        p: podsec_policy::LevelVersion,
        m: Mode,
        r: RequestLabels<'_>,
    ) {
        let v = podsec_admission::metrics::policy_version_label(p);
        self.0.lock().unwrap().push(format!(
            "eval {} {} {} {} {}",
            d.label(),
            p.level,
            v,
            m.label(),
            request_labels(r)
        ));
    }
    fn exemption(&self, r: RequestLabels<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("exempt {}", request_labels(r)));
    }
    fn error(&self, fatal: bool, r: RequestLabels<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("error {fatal} {}", request_labels(r)));
    }
}

const ENFORCE: &str = "pod-security.kubernetes.io/enforce";
const ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";
const AUDIT: &str = "pod-security.kubernetes.io/audit";
const AUDIT_VERSION: &str = "pod-security.kubernetes.io/audit-version";
const WARN: &str = "pod-security.kubernetes.io/warn";
const WARN_VERSION: &str = "pod-security.kubernetes.io/warn-version";

fn nginx_pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"run": name}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}})
}

/// The nginx pod with a privileged container: baseline forbids it.
fn privileged_pod(name: &str) -> Value {
    let mut pod = nginx_pod(name);
    pod["spec"]["containers"][0]["securityContext"] = json!({"privileged": true});
    pod
}

/// A pod that restricted:latest allows.
fn restricted_pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "nginx", "image": "nginx", "securityContext": {
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}})
}

/// Hardened enough for restricted:v1.18, not for restricted:latest (no capabilities drop, no
/// seccomp profile).
fn partially_hardened_pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "securityContext": {"runAsNonRoot": true},
            "containers": [{"name": "nginx", "image": "nginx", "securityContext": {
                "allowPrivilegeEscalation": false}}]}})
}

/// The pod with its first container running `image`.
fn with_image(mut pod: Value, image: &str) -> Value {
    pod["spec"]["containers"][0]["image"] = json!(image);
    pod
}

/// The pod, run with runtime class `class`.
fn with_runtime_class(mut pod: Value, class: &str) -> Value {
    pod["spec"]["runtimeClassName"] = json!(class);
    pod
}

/// The pod with an ephemeral `debugger` container (no securityContext) running `image`.
fn with_debugger(mut pod: Value, image: &str) -> Value {
    pod["spec"]["ephemeralContainers"] = json!([{"name": "debugger", "image": image}]);
    pod
}

/// The pod, owned by the controller with `uid`.
fn owned_by(mut pod: Value, uid: &str) -> Value {
    pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "name": format!("rs-{uid}"), "uid": uid, "controller": true}]);
    pod
}

fn deployment(name: &str, pod: &Value) -> Value {
    let spec = pod["spec"].clone();
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}})
}

fn cron_job(name: &str, pod: &Value) -> Value {
    let mut spec = pod["spec"].clone();
    spec["restartPolicy"] = json!("Never");
    json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
        "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": spec}}}}})
}

fn namespace_object(name: &str, labels: &[(&str, &str)]) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::from(*v)))
        .collect();
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

fn review(
    resource: (&str, &str),
    kind: &str,
    op: &str,
    ns: &str,
    name: &str,
    object: Value,
    old: Option<Value>,
) -> Vec<u8> {
    let (group, res) = resource;
    let mut request = json!({
        "uid": "uid-1",
        "kind": {"group": group, "version": "v1", "kind": kind},
        "resource": {"group": group, "version": "v1", "resource": res},
        "name": name, "namespace": ns, "operation": op,
        "userInfo": {"username": "k8user", "groups": ["system:authenticated"]},
        "object": object,
    });
    if let Some(old) = old {
        request["oldObject"] = old;
    }
    serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})).unwrap()
}

/// A review of the pod `object` (its name is the request's name).
fn pod_review(op: &str, ns: &str, object: Value, old: Option<Value>) -> Vec<u8> {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    review(("", "pods"), "Pod", op, ns, &name, object, old)
}

fn deployment_review(op: &str, ns: &str, object: Value) -> Vec<u8> {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    review(
        ("apps", "deployments"),
        "Deployment",
        op,
        ns,
        &name,
        object,
        None,
    )
}

/// A namespace CREATE; as kube-apiserver does, the request's namespace is the namespace's name.
fn namespace_create(name: &str, labels: &[(&str, &str)]) -> Vec<u8> {
    review(
        ("", "namespaces"),
        "Namespace",
        "CREATE",
        name,
        name,
        namespace_object(name, labels),
        None,
    )
}

fn namespace_update(name: &str, labels: &[(&str, &str)], old: &[(&str, &str)]) -> Vec<u8> {
    review(
        ("", "namespaces"),
        "Namespace",
        "UPDATE",
        name,
        name,
        namespace_object(name, labels),
        Some(namespace_object(name, old)),
    )
}

/// Namespace `team`'s enforce level tightened from baseline to restricted.
fn team_tightened() -> Vec<u8> {
    namespace_update("team", &[(ENFORCE, "restricted")], &[(ENFORCE, "baseline")])
}

/// Sets one field of the review's request (`subResource`, `userInfo`, …).
fn with_request_field(body: Vec<u8>, key: &str, value: Value) -> Vec<u8> {
    let mut review: Value = serde_json::from_slice(&body).unwrap();
    review["request"][key] = value;
    serde_json::to_vec(&review).unwrap()
}

async fn decide(
    admission: &Admission,
    cluster: &FixedCluster,
    body: &[u8],
) -> (Decision, Vec<String>) {
    let (_, req) = parse_review(body).expect("review");
    let events = Events::default();
    let ports = Cluster {
        namespaces: cluster,
        pods: cluster,
        psp: &NoPsp,
        constraints: &podsec_admission::NoConstraints,
        exceptions: &podsec_admission::NoExceptions,
    };
    let d = admission.validate(&req, ports, &events, None).await;
    (d, events.0.into_inner().unwrap())
}

fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn violates(policy: &str, detail: &str) -> String {
    format!("violates PodSecurity \"{policy}\": {detail}")
}

fn would_violate(policy: &str, detail: &str) -> String {
    format!("would violate PodSecurity \"{policy}\": {detail}")
}

/// The enforce denial of object `name` of `resource` (`pods`, `deployments.apps`).
fn forbidden(resource: &str, name: &str, policy: &str, detail: &str) -> String {
    format!(
        "{resource} \"{name}\" is forbidden: {}",
        violates(policy, detail)
    )
}

/// The nginx pod's restricted:latest (and any newer version's) violations.
const NGINX_RESTRICTED: &str = concat!(
    r#"allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), "#,
    r#"unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), "#,
    r#"runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), "#,
    r#"seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
);

/// The same, reasons only (`ForbiddenReason()`), as the namespace dry run groups them.
const NGINX_RESTRICTED_REASONS: &str =
    "allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile";

/// The nginx pod at restricted:v1.18: neither capabilities (v1.22) nor seccomp (v1.19) yet.
const NGINX_RESTRICTED_1_18: &str = concat!(
    r#"allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), "#,
    r#"runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true)"#
);

const PRIVILEGED_NGINX: &str =
    r#"privileged (container "nginx" must not set securityContext.privileged=true)"#;

const PARTIAL_RESTRICTED: &str = concat!(
    r#"unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), "#,
    r#"seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
);

const DEBUGGER_RESTRICTED: &str = concat!(
    r#"allowPrivilegeEscalation != false (container "debugger" must set securityContext.allowPrivilegeEscalation=false), "#,
    r#"unrestricted capabilities (container "debugger" must set securityContext.capabilities.drop=["ALL"])"#
);

const BOGUS_ENFORCE: &str = r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "bogus": must be one of privileged, baseline, restricted"#;

fn seed_cluster() -> FixedCluster {
    FixedCluster::default()
        .with_ns("default", &[(ENFORCE, "restricted")])
        .with_ns("dmz", &[(ENFORCE, "privileged")])
        .with_ns("open", &[])
        .with_ns(
            "old-privileged",
            &[(ENFORCE, "privileged"), (ENFORCE_VERSION, "v1.20")],
        )
        .with_ns("base", &[(ENFORCE, "baseline")])
        .with_ns(
            "mixed",
            &[
                (ENFORCE, "baseline"),
                (AUDIT, "restricted"),
                (WARN, "restricted"),
            ],
        )
        .with_ns(
            "pinned",
            &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "v1.18")],
        )
        .with_ns(
            "skewed",
            &[
                (ENFORCE, "restricted"),
                (ENFORCE_VERSION, "v1.18"),
                (WARN_VERSION, "latest"),
            ],
        )
        .with_ns(
            "future",
            &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "v1.99")],
        )
        .with_ns("quiet", &[(ENFORCE, "restricted"), (WARN, "privileged")])
        .with_ns("broken", &[(ENFORCE, "bogus")])
        .with_ns("twice-broken", &[(ENFORCE, "bogus"), (WARN_VERSION, "1.0")])
        .with_ns("audited", &[(AUDIT, "bogus")])
}

fn no_files(_: &str) -> Result<String, String> {
    Err("no files".into())
}

/// A `PodSecurityConfiguration` with `body` after its type.
fn configuration(body: &str) -> Configuration {
    let text = format!(
        "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\n{body}"
    );
    Configuration::parse(&text, &no_files).expect("valid configuration")
}

const EXEMPTIONS: &str =
    "exemptions:\n  usernames: [ci-admin]\n  namespaces: [infra]\n  runtimeClasses: [kata]\n";

/// Exempts user `ci-admin`, namespace `infra` and runtime class `kata`.
fn exempting(options: Options) -> Admission {
    Admission::new(configuration(EXEMPTIONS), options)
}

// ---------------------------------------------------------------------------------------------
// Cases and their runner
// ---------------------------------------------------------------------------------------------

/// One request and what upstream decides for it. What a case leaves unset is not checked:
/// each case pins the parts of the decision its scenario is about.
#[derive(Default)]
struct Case {
    name: String,
    request: Vec<u8>,
    /// The whole decision.
    decision: Option<Decision>,
    allowed: Option<bool>,
    no_status: bool,
    code: Option<u16>,
    reason: Option<&'static str>,
    message: Option<String>,
    warnings: Option<Vec<String>>,
    annotations: Option<BTreeMap<String, String>>,
    /// The `enforce-policy` annotation, whatever the others are.
    enforce_policy: Option<&'static str>,
    /// The metric events, in order.
    events: Option<Vec<String>>,
    /// What fits none of the fields above.
    also: Option<fn(&Decision)>,
}

impl Case {
    fn new(name: impl Into<String>, request: Vec<u8>) -> Case {
        Case {
            name: name.into(),
            request,
            ..Case::default()
        }
    }

    fn decision(mut self, decision: Decision) -> Case {
        self.decision = Some(decision);
        self
    }

    fn allowed(mut self) -> Case {
        self.allowed = Some(true);
        self
    }

    fn denied(mut self) -> Case {
        self.allowed = Some(false);
        self
    }

    fn no_status(mut self) -> Case {
        self.no_status = true;
        self
    }

    fn code(mut self, code: u16) -> Case {
        self.code = Some(code);
        self
    }

    fn reason(mut self, reason: &'static str) -> Case {
        self.reason = Some(reason);
        self
    }

    fn message(mut self, message: impl Into<String>) -> Case {
        self.message = Some(message.into());
        self
    }

    fn warnings<S: Into<String>>(mut self, warnings: impl IntoIterator<Item = S>) -> Case {
        self.warnings = Some(warnings.into_iter().map(Into::into).collect());
        self
    }

    fn no_warnings(mut self) -> Case {
        self.warnings = Some(Vec::new());
        self
    }

    fn annotations(mut self, pairs: &[(&str, &str)]) -> Case {
        self.annotations = Some(annotations(pairs));
        self
    }

    fn enforce_policy(mut self, policy: &'static str) -> Case {
        self.enforce_policy = Some(policy);
        self
    }

    fn events<S: Into<String>>(mut self, events: impl IntoIterator<Item = S>) -> Case {
        self.events = Some(events.into_iter().map(Into::into).collect());
        self
    }

    fn no_events(mut self) -> Case {
        self.events = Some(Vec::new());
        self
    }

    fn also(mut self, check: fn(&Decision)) -> Case {
        self.also = Some(check);
        self
    }

    fn check(&self, d: &Decision, events: &[String]) {
        let name = &self.name;
        if let Some(decision) = &self.decision {
            assert_eq!(d, decision, "{name}");
        }
        if let Some(allowed) = self.allowed {
            assert_eq!(d.allowed, allowed, "{name}: {d:?}");
        }
        if self.no_status {
            assert!(d.status.is_none(), "{name}: {:?}", d.status);
        }
        if self.code.is_some() || self.reason.is_some() || self.message.is_some() {
            let status = d
                .status
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: no status"));
            if let Some(code) = self.code {
                assert_eq!(status.code, code, "{name}");
            }
            if let Some(reason) = self.reason {
                assert_eq!(status.reason, reason, "{name}");
            }
            if let Some(message) = &self.message {
                assert_eq!(&status.message, message, "{name}");
            }
        }
        if let Some(warnings) = &self.warnings {
            assert_eq!(&d.warnings, warnings, "{name}");
        }
        if let Some(annotations) = &self.annotations {
            assert_eq!(&d.audit_annotations, annotations, "{name}");
        }
        if let Some(policy) = self.enforce_policy {
            assert_eq!(
                d.audit_annotations
                    .get("enforce-policy")
                    .map(String::as_str),
                Some(policy),
                "{name}"
            );
        }
        if let Some(expected) = &self.events {
            assert_eq!(events, expected.as_slice(), "{name}");
        }
        if let Some(also) = self.also {
            also(d);
        }
    }
}

/// Decides every case with one admission configuration and cluster. A failing case does not
/// stop the others, so a regression shows all the cases it breaks (as upstream's subtests do).
async fn run(admission: &Admission, cluster: &FixedCluster, cases: Vec<Case>) {
    let mut failed = Vec::new();
    for case in &cases {
        let (d, events) = decide(admission, cluster, &case.request).await;
        if std::panic::catch_unwind(AssertUnwindSafe(|| case.check(&d, &events))).is_err() {
            failed.push(case.name.as_str());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed (their panics are above): {failed:#?}",
        failed.len(),
        cases.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Pods
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn pods() {
    let parse_error = format!("Failed to parse policy: {BOGUS_ENFORCE}");
    let parse_errors = format!(
        r#"Failed to parse policy: [{BOGUS_ENFORCE}, metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "1.0": must be "latest" or "v1.x"]"#
    );
    let audit_nginx = would_violate("restricted:latest", NGINX_RESTRICTED);
    let audit_privileged = would_violate(
        "restricted:latest",
        &format!("{PRIVILEGED_NGINX}, {NGINX_RESTRICTED}"),
    );
    let garbled = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx"},
        "spec": {"containers": "nginx"}});
    let mut relabelled = nginx_pod("nginx");
    relabelled["metadata"]["labels"]["tier"] = json!("web");
    relabelled["spec"]["tolerations"] = json!([{"operator": "Exists"}]);

    let mut cases = vec![
        // The seed scenario.
        Case::new(
            "restricted default denies nginx",
            pod_review("CREATE", "default", nginx_pod("nginx"), None),
        )
        .denied()
        .code(403)
        .message(forbidden(
            "pods",
            "nginx",
            "restricted:latest",
            NGINX_RESTRICTED,
        ))
        .enforce_policy("restricted:latest")
        .no_warnings() // none on a denied request
        .events(["eval deny restricted latest enforce create pod"]),
        Case::new(
            "privileged dmz allows nginx",
            pod_review("CREATE", "dmz", nginx_pod("nginx"), None),
        )
        .allowed()
        .enforce_policy("privileged:latest")
        .events(["eval allow privileged latest enforce create pod"]),
        // Namespace lookup.
        Case::new(
            "a missing namespace is an internal error",
            pod_review("CREATE", "nowhere", restricted_pod("app"), None),
        )
        .denied()
        .no_warnings()
        .code(500)
        .reason("InternalError")
        .message(r#"Internal error occurred: failed to lookup namespace "nowhere""#)
        .annotations(&[(
            "error",
            r#"Internal error occurred: failed to lookup namespace "nowhere": namespaces "nowhere" not found"#,
        )])
        .events(["error true create pod"]),
        // A fully privileged namespace short-circuits before the object is even decoded.
        Case::new(
            "privileged dmz allows an undecodable pod",
            pod_review(
                "CREATE",
                "dmz",
                json!({"metadata": {"name": "x"}, "spec": {"containers": "nginx"}}),
                None,
            ),
        )
        .allowed(),
        // Label errors are annotated, and enforce fails closed.
        Case::new(
            "an invalid enforce level enforces restricted, without raising warn",
            pod_review("CREATE", "broken", nginx_pod("nginx"), None),
        )
        .denied()
        .no_warnings()
        .code(403)
        .message(forbidden(
            "pods",
            "nginx",
            "restricted:latest",
            NGINX_RESTRICTED,
        ))
        .annotations(&[
            ("enforce-policy", "restricted:latest"),
            ("error", parse_error.as_str()),
        ])
        .events([
            "error false create pod",
            "eval deny restricted latest enforce create pod",
        ]),
        Case::new(
            "several label errors are aggregated in brackets",
            pod_review("CREATE", "twice-broken", restricted_pod("app"), None),
        )
        .allowed()
        .no_warnings()
        .annotations(&[
            ("enforce-policy", "restricted:latest"),
            ("error", parse_errors.as_str()),
        ])
        .events([
            "error false create pod",
            "eval allow restricted latest enforce create pod",
        ]),
        Case::new(
            "an invalid audit level fails open, without short-circuiting the namespace",
            pod_review("CREATE", "audited", privileged_pod("nginx"), None),
        )
        .allowed()
        .annotations(&[
            ("enforce-policy", "privileged:latest"),
            (
                "error",
                r#"Failed to parse policy: metadata.labels[pod-security.kubernetes.io/audit]: Invalid value: "bogus": must be one of privileged, baseline, restricted"#,
            ),
        ])
        .events([
            "error false create pod",
            "eval allow privileged latest enforce create pod",
        ]),
        // enforce=baseline audit=restricted warn=restricted.
        Case::new(
            "mixed allows, audits and warns a baseline pod",
            pod_review("CREATE", "mixed", nginx_pod("nginx"), None),
        )
        .allowed()
        .no_status()
        .annotations(&[
            ("enforce-policy", "baseline:latest"),
            ("audit-violations", audit_nginx.as_str()),
        ])
        .warnings([audit_nginx.as_str()])
        .events([
            "eval allow baseline latest enforce create pod",
            "eval deny restricted latest audit create pod",
            "eval deny restricted latest warn create pod",
        ]),
        Case::new(
            "mixed denies a privileged pod, audits it, but does not warn",
            pod_review("CREATE", "mixed", privileged_pod("priv"), None),
        )
        .denied()
        .no_warnings()
        .message(forbidden(
            "pods",
            "priv",
            "baseline:latest",
            PRIVILEGED_NGINX,
        ))
        .annotations(&[
            ("enforce-policy", "baseline:latest"),
            ("audit-violations", audit_privileged.as_str()),
        ])
        .events([
            "eval deny baseline latest enforce create pod",
            "eval deny restricted latest audit create pod",
        ]),
        Case::new(
            "mixed records only the enforce evaluation of a pod within every level",
            pod_review("CREATE", "mixed", restricted_pod("app"), None),
        )
        .decision(Decision::allow().with_annotation("enforce-policy", "baseline:latest"))
        .events(["eval allow baseline latest enforce create pod"]),
        // Warn defaults to a stricter enforce level and its version.
        Case::new(
            "restricted:v1.18 warns nothing about a pod within v1.18",
            pod_review("CREATE", "pinned", partially_hardened_pod("app"), None),
        )
        .decision(Decision::allow().with_annotation("enforce-policy", "restricted:v1.18"))
        .events(["eval allow restricted v1.18 enforce create pod"]),
        Case::new(
            "warn-version=latest takes the enforce level but keeps its own version",
            pod_review("CREATE", "skewed", partially_hardened_pod("app"), None),
        )
        .allowed()
        .annotations(&[("enforce-policy", "restricted:v1.18")])
        .warnings([would_violate("restricted:latest", PARTIAL_RESTRICTED)])
        .events([
            "eval allow restricted v1.18 enforce create pod",
            "eval deny restricted latest warn create pod",
        ]),
        // Pinned versions, and future versions printed as given.
        Case::new(
            "a pinned version evaluates that version",
            pod_review("CREATE", "pinned", nginx_pod("nginx"), None),
        )
        .denied()
        .message(forbidden(
            "pods",
            "nginx",
            "restricted:v1.18",
            NGINX_RESTRICTED_1_18,
        ))
        .annotations(&[("enforce-policy", "restricted:v1.18")])
        .events(["eval deny restricted v1.18 enforce create pod"]),
        Case::new(
            "a future version evaluates as latest, keeps its name, and is labelled future",
            pod_review("CREATE", "future", nginx_pod("nginx"), None),
        )
        .denied()
        .message(forbidden(
            "pods",
            "nginx",
            "restricted:v1.99",
            NGINX_RESTRICTED,
        ))
        .annotations(&[("enforce-policy", "restricted:v1.99")])
        .events(["eval deny restricted future enforce create pod"]),
        // Only significant updates are evaluated.
        Case::new(
            "an update of metadata and tolerations is allowed unevaluated",
            pod_review("UPDATE", "default", relabelled, Some(nginx_pod("nginx"))),
        )
        .decision(Decision::allow())
        .no_events(),
        Case::new(
            "an update of the image is evaluated",
            pod_review(
                "UPDATE",
                "default",
                with_image(nginx_pod("nginx"), "nginx:1.27"),
                Some(nginx_pod("nginx")),
            ),
        )
        .denied()
        .message(forbidden(
            "pods",
            "nginx",
            "restricted:latest",
            NGINX_RESTRICTED,
        ))
        .events(["eval deny restricted latest enforce update pod"]),
        Case::new(
            "a significant update that the policy allows",
            pod_review(
                "UPDATE",
                "default",
                with_image(restricted_pod("app"), "nginx:1.27"),
                Some(restricted_pod("app")),
            ),
        )
        .decision(Decision::allow().with_annotation("enforce-policy", "restricted:latest"))
        .events(["eval allow restricted latest enforce update pod"]),
        Case::new(
            "an added ephemeral container is evaluated",
            pod_review(
                "UPDATE",
                "default",
                with_debugger(restricted_pod("app"), "busybox"),
                Some(restricted_pod("app")),
            ),
        )
        .denied()
        .message(forbidden(
            "pods",
            "app",
            "restricted:latest",
            DEBUGGER_RESTRICTED,
        ))
        .events(["eval deny restricted latest enforce update pod"]),
        Case::new(
            "an ephemeral container whose image changed is evaluated",
            pod_review(
                "UPDATE",
                "default",
                with_debugger(restricted_pod("app"), "busybox:2"),
                Some(with_debugger(restricted_pod("app"), "busybox")),
            ),
        )
        .denied(),
        Case::new(
            "an ephemeral container left as it was is not evaluated",
            pod_review(
                "UPDATE",
                "default",
                with_debugger(restricted_pod("app"), "busybox"),
                Some(with_debugger(restricted_pod("app"), "busybox")),
            ),
        )
        .decision(Decision::allow())
        .no_events(),
        // Undecodable pods are bad requests.
        Case::new(
            "an undecodable object",
            pod_review("CREATE", "default", garbled.clone(), None),
        )
        .denied()
        .code(400)
        .reason("BadRequest")
        .message("failed to decode object")
        .also(|d: &Decision| {
            let error = d.audit_annotations.get("error").expect("error annotation");
            assert!(error.starts_with("failed to decode object: "), "{error}");
            assert_eq!(d.audit_annotations.len(), 1);
        })
        .events(["error true create pod"]),
        Case::new(
            "an undecodable old object",
            pod_review("UPDATE", "default", nginx_pod("nginx"), Some(garbled)),
        )
        .denied()
        .code(400)
        .message("failed to decode old object")
        .also(|d: &Decision| {
            let error = d.audit_annotations.get("error").expect("error annotation");
            assert!(
                error.starts_with("failed to decode old object: "),
                "{error}"
            );
        })
        .events(["error true update pod"]),
    ];
    // Subresources that cannot change what a pod runs.
    cases.extend(
        [
            "exec",
            "attach",
            "binding",
            "eviction",
            "log",
            "portforward",
            "proxy",
            "status",
        ]
        .map(|sub| {
            Case::new(
                format!("the {sub} subresource is allowed without evaluation"),
                with_request_field(
                    pod_review(
                        "UPDATE",
                        "default",
                        privileged_pod("nginx"),
                        Some(nginx_pod("nginx")),
                    ),
                    "subResource",
                    json!(sub),
                ),
            )
            .decision(Decision::allow())
            .no_events()
        }),
    );
    // Subresources that can.
    cases.extend(["ephemeralcontainers", "resize"].map(|sub| {
        Case::new(
            format!("the {sub} subresource is evaluated"),
            with_request_field(
                pod_review(
                    "UPDATE",
                    "default",
                    with_debugger(restricted_pod("app"), "busybox"),
                    Some(restricted_pod("app")),
                ),
                "subResource",
                json!(sub),
            ),
        )
        .denied()
        .code(403)
        .reason("Forbidden")
        .message(forbidden(
            "pods",
            "app",
            "restricted:latest",
            DEBUGGER_RESTRICTED,
        ))
        .annotations(&[("enforce-policy", "restricted:latest")])
        .events([format!(
            "eval deny restricted latest enforce update pod {sub}"
        )])
    }));
    // Fully privileged namespaces short-circuit.
    cases.extend(["dmz", "open", "old-privileged"].map(|ns| {
        Case::new(
            format!("fully privileged {ns} short-circuits"),
            pod_review("CREATE", ns, privileged_pod("nginx"), None),
        )
        .decision(Decision::allow().with_annotation("enforce-policy", "privileged:latest"))
        .events(["eval allow privileged latest enforce create pod"])
    }));
    run(&Admission::default(), &seed_cluster(), cases).await;
}

// ---------------------------------------------------------------------------------------------
// Pod controllers
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn controllers_are_warned_and_audited_never_denied() {
    let parse_error = format!("Failed to parse policy: {BOGUS_ENFORCE}");
    let audit_nginx = would_violate("restricted:latest", NGINX_RESTRICTED);
    let mut cases = vec![
        Case::new(
            "warn defaults to the namespace's enforce level; no enforce-policy annotation",
            deployment_review("CREATE", "default", deployment("web", &nginx_pod("web"))),
        )
        .allowed()
        .no_status()
        .annotations(&[])
        .warnings([would_violate("restricted:latest", NGINX_RESTRICTED)])
        .events(["eval deny restricted latest warn create controller"]),
        Case::new(
            "updates are evaluated whatever changed",
            review(
                ("apps", "deployments"),
                "Deployment",
                "UPDATE",
                "base",
                "web",
                deployment("web", &privileged_pod("web")),
                Some(deployment("web", &privileged_pod("web"))),
            ),
        )
        .allowed()
        .annotations(&[])
        .warnings([would_violate("baseline:latest", PRIVILEGED_NGINX)])
        .events(["eval deny baseline latest warn update controller"]),
        Case::new(
            "a CronJob's template is under spec.jobTemplate.spec.template",
            review(
                ("batch", "cronjobs"),
                "CronJob",
                "CREATE",
                "mixed",
                "nightly",
                cron_job("nightly", &nginx_pod("nightly")),
                None,
            ),
        )
        .allowed()
        .annotations(&[("audit-violations", audit_nginx.as_str())])
        .warnings([audit_nginx.as_str()])
        .events([
            "eval deny restricted latest audit create controller",
            "eval deny restricted latest warn create controller",
        ]),
        Case::new(
            "label errors are annotated; an invalid enforce is not enforced on controllers",
            deployment_review("CREATE", "broken", deployment("web", &nginx_pod("web"))),
        )
        .allowed()
        .no_warnings()
        .annotations(&[("error", parse_error.as_str())])
        .events(["error false create controller"]),
        Case::new(
            "a missing namespace is allowed with an error annotation",
            deployment_review("CREATE", "nowhere", deployment("web", &nginx_pod("web"))),
        )
        .decision(Decision::allow().with_annotation(
            "error",
            r#"failed to lookup namespace "nowhere": namespaces "nowhere" not found"#,
        ))
        .events(["error true create controller"]),
    ];
    cases.extend(["scale", "status"].map(|sub| {
        Case::new(
            format!("the {sub} subresource is skipped"),
            with_request_field(
                deployment_review("UPDATE", "default", deployment("web", &nginx_pod("web"))),
                "subResource",
                json!(sub),
            ),
        )
        .decision(Decision::allow())
        .no_events()
    }));
    // Audit and warn privileged: nothing to do, whatever enforce says.
    cases.extend(["dmz", "open", "quiet"].map(|ns| {
        Case::new(
            format!("{ns} neither audits nor warns"),
            deployment_review("CREATE", ns, deployment("web", &privileged_pod("web"))),
        )
        .decision(Decision::allow())
        .no_events()
    }));
    run(&Admission::default(), &seed_cluster(), cases).await;
}

#[tokio::test]
async fn enforce_templates_denies_controllers_whose_template_violates_enforce() {
    let admission = Admission::new(
        Configuration::default(),
        Options {
            enforce_templates: true,
            namespace_pod_limit: None,
            ..Options::default()
        },
    );
    let cases = vec![
        Case::new(
            "a violating template is denied",
            deployment_review("CREATE", "default", deployment("web", &nginx_pod("web"))),
        )
        .denied()
        .no_warnings()
        .code(403)
        .message(forbidden(
            "deployments.apps",
            "web",
            "restricted:latest",
            NGINX_RESTRICTED,
        ))
        .annotations(&[("enforce-policy", "restricted:latest")])
        .events(["eval deny restricted latest enforce create controller"]),
        Case::new(
            "enforced even where audit and warn are privileged",
            deployment_review("CREATE", "quiet", deployment("web", &nginx_pod("web"))),
        )
        .denied(),
        Case::new(
            "a CronJob at a pinned version",
            review(
                ("batch", "cronjobs"),
                "CronJob",
                "CREATE",
                "pinned",
                "nightly",
                cron_job("nightly", &nginx_pod("nightly")),
                None,
            ),
        )
        .message(forbidden(
            "cronjobs.batch",
            "nightly",
            "restricted:v1.18",
            NGINX_RESTRICTED_1_18,
        )),
        Case::new(
            "a compliant template passes",
            deployment_review(
                "CREATE",
                "default",
                deployment("good", &restricted_pod("good")),
            ),
        )
        .decision(Decision::allow().with_annotation("enforce-policy", "restricted:latest"))
        .events(["eval allow restricted latest enforce create controller"]),
        Case::new(
            "a privileged namespace is still skipped",
            deployment_review("CREATE", "dmz", deployment("web", &privileged_pod("web"))),
        )
        .decision(Decision::allow())
        .no_events(),
    ];
    run(&admission, &seed_cluster(), cases).await;
}

// ---------------------------------------------------------------------------------------------
// Exemptions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn exemptions() {
    let cases = vec![
        // The namespace exemption comes before the namespace lookup: `infra` need not exist.
        Case::new(
            "pod in an exempt namespace",
            pod_review("CREATE", "infra", privileged_pod("nginx"), None),
        )
        .decision(Decision::allow().with_annotation("exempt", "namespace"))
        .events(["exempt create pod"]),
        Case::new(
            "pod by an exempt user",
            with_request_field(
                pod_review("CREATE", "default", privileged_pod("nginx"), None),
                "userInfo",
                json!({"username": "ci-admin", "groups": ["system:authenticated"]}),
            ),
        )
        .decision(Decision::allow().with_annotation("exempt", "user"))
        .events(["exempt create pod"]),
        Case::new(
            "pod with an exempt runtime class",
            pod_review(
                "CREATE",
                "default",
                with_runtime_class(privileged_pod("nginx"), "kata"),
                None,
            ),
        )
        .decision(Decision::allow().with_annotation("exempt", "runtimeClass"))
        .events(["exempt create pod"]),
        // Another runtime class, another user: evaluated as usual.
        Case::new(
            "pod with another runtime class",
            pod_review(
                "CREATE",
                "default",
                with_runtime_class(privileged_pod("nginx"), "gvisor"),
                None,
            ),
        )
        .denied()
        .events(["eval deny restricted latest enforce create pod"]),
        Case::new(
            "controller in an exempt namespace",
            deployment_review("CREATE", "infra", deployment("web", &privileged_pod("web"))),
        )
        .decision(Decision::allow().with_annotation("exempt", "namespace"))
        .events(["exempt create controller"]),
        Case::new(
            "controller by an exempt user",
            with_request_field(
                deployment_review(
                    "CREATE",
                    "default",
                    deployment("web", &privileged_pod("web")),
                ),
                "userInfo",
                json!({"username": "ci-admin"}),
            ),
        )
        .decision(Decision::allow().with_annotation("exempt", "user"))
        .events(["exempt create controller"]),
        Case::new(
            "controller with an exempt runtime class",
            deployment_review(
                "CREATE",
                "default",
                deployment("web", &with_runtime_class(privileged_pod("web"), "kata")),
            ),
        )
        .decision(Decision::allow().with_annotation("exempt", "runtimeClass"))
        .events(["exempt create controller"]),
    ];
    run(&exempting(Options::default()), &seed_cluster(), cases).await;
}

// ---------------------------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn namespace_labels_are_validated() {
    let admission = Admission::default();
    let cases = vec![
        Case::new(
            "create with an invalid enforce level",
            namespace_create("x", &[(ENFORCE, "bogus")]),
        )
        .denied()
        .no_events()
        .code(422)
        .reason("Invalid")
        .message(format!("Namespace \"x\" is invalid: {BOGUS_ENFORCE}"))
        .also(|d: &Decision| {
            let details = d
                .status
                .as_ref()
                .and_then(|s| s.details.as_ref())
                .expect("details");
            assert_eq!(details.kind, "Namespace");
            assert_eq!(details.name, "x");
            assert_eq!(details.causes.len(), 1);
            assert_eq!(details.causes[0].type_, "FieldValueInvalid");
            assert_eq!(
                details.causes[0].field,
                "metadata.labels[pod-security.kubernetes.io/enforce]"
            );
            assert_eq!(
                details.causes[0].message,
                r#"Invalid value: "bogus": must be one of privileged, baseline, restricted"#
            );
        }),
        Case::new(
            "create with an invalid enforce version",
            namespace_create(
                "x",
                &[(ENFORCE, "privileged"), (ENFORCE_VERSION, "unknown")],
            ),
        )
        .message(r#"Namespace "x" is invalid: metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "unknown": must be "latest" or "v1.x""#),
        Case::new(
            "create with two invalid labels",
            namespace_create("x", &[(ENFORCE, "bogus"), (AUDIT_VERSION, "1.2")]),
        )
        .message(format!(
            r#"Namespace "x" is invalid: [{BOGUS_ENFORCE}, metadata.labels[pod-security.kubernetes.io/audit-version]: Invalid value: "1.2": must be "latest" or "v1.x"]"#
        ))
        .also(|d: &Decision| {
            let details = d
                .status
                .as_ref()
                .and_then(|s| s.details.as_ref())
                .expect("details");
            assert_eq!(details.causes.len(), 2);
        }),
        Case::new(
            "the status subresource is not validated",
            with_request_field(
                namespace_create("x", &[(ENFORCE, "bogus")]),
                "subResource",
                json!("status"),
            ),
        )
        .decision(Decision::allow()),
    ];
    run(&admission, &FixedCluster::default(), cases).await;

    // Any dry run would list pods, and fail loudly. Valid labels: allowed, and pods are never
    // checked on create.
    let mut cases: Vec<Case> = [
        &[(ENFORCE, "privileged"), (ENFORCE_VERSION, "v1.0")][..],
        &[(ENFORCE, "baseline")][..],
        &[(ENFORCE, "restricted")][..],
    ]
    .into_iter()
    .map(|labels| {
        Case::new(
            format!("create with {labels:?}"),
            namespace_create("x", labels),
        )
        .decision(Decision::allow())
    })
    .collect();
    // Already invalid in the same way: allowed, no dry run.
    cases.extend(
        [
            &[(ENFORCE, "bogus")][..],
            &[(ENFORCE, "baseline"), (ENFORCE_VERSION, "unknown")][..],
        ]
        .map(|labels| {
            Case::new(
                format!("update keeping {labels:?}"),
                namespace_update("ns", labels, labels),
            )
            .decision(Decision::allow())
        }),
    );
    // Newly invalid, or invalid differently: rejected.
    cases.extend([
        Case::new(
            "update to an invalid enforce level",
            namespace_update(
                "ns",
                &[(ENFORCE, "bogus")],
                &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "v1.0")],
            ),
        )
        .code(422)
        .message(format!("Namespace \"ns\" is invalid: {BOGUS_ENFORCE}")),
        Case::new(
            "update to an invalid enforce version",
            namespace_update(
                "ns",
                &[(ENFORCE, "privileged"), (ENFORCE_VERSION, "unknown")],
                &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "v1.0")],
            ),
        )
        .message(r#"Namespace "ns" is invalid: metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "unknown": must be "latest" or "v1.x""#),
        Case::new(
            "update from one invalid enforce level to another",
            namespace_update("ns", &[(ENFORCE, "bogus")], &[(ENFORCE, "junk")]),
        )
        .denied()
        .code(422),
    ]);
    run(&admission, &FixedCluster::failing_pod_list(), cases).await;
}

#[tokio::test]
async fn namespace_update_dry_runs_only_when_enforce_tightens() {
    let list_failed = ["failed to list pods while checking new PodSecurity enforce level"];

    // No dry run: unchanged, relaxed at the same version, or privileged.
    let unchecked: [LabelChange; 7] = [
        (
            &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "v1.0")],
            &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "v1.0")],
        ),
        (
            &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "latest")],
            &[(ENFORCE, "restricted")],
        ),
        (
            &[(ENFORCE, "baseline"), (ENFORCE_VERSION, "v1.0")],
            &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "v1.0")],
        ),
        (
            &[(ENFORCE, "baseline"), (ENFORCE_VERSION, "latest")],
            &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "latest")],
        ),
        (&[(ENFORCE, "baseline")], &[(ENFORCE, "restricted")]),
        (
            &[(ENFORCE, "privileged")],
            &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "v1.0")],
        ),
        (&[], &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "v1.0")]),
    ];
    // Dry run: a stricter level, or another version (even with a laxer level).
    let checked: [LabelChange; 3] = [
        (&[(ENFORCE, "restricted")], &[(ENFORCE, "baseline")]),
        (
            &[(ENFORCE, "restricted")],
            &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "v1.20")],
        ),
        (
            &[(ENFORCE, "baseline")],
            &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "v1.0")],
        ),
    ];
    let cases = unchecked
        .map(|(new, old)| {
            Case::new(
                format!("{new:?} <- {old:?}"),
                namespace_update("ns", new, old),
            )
            .decision(Decision::allow())
            .no_events()
        })
        .into_iter()
        .chain(checked.map(|(new, old)| {
            Case::new(
                format!("{new:?} <- {old:?}"),
                namespace_update("ns", new, old),
            )
            .allowed()
            .no_status()
            .warnings(list_failed)
        }))
        .collect();
    run(
        &Admission::default(),
        &FixedCluster::failing_pod_list(),
        cases,
    )
    .await;

    // Tightened by the configured default: no labels at all now means restricted.
    let defaulted = Admission::new(
        configuration("defaults:\n  enforce: restricted\n"),
        Options::default(),
    );
    let cases = vec![Case::new(
        "labels removed under a restricted default",
        namespace_update(
            "ns",
            &[],
            &[(ENFORCE, "baseline"), (ENFORCE_VERSION, "v1.0")],
        ),
    )
    .warnings(list_failed)];
    run(&defaulted, &FixedCluster::failing_pod_list(), cases).await;
}

#[tokio::test]
async fn namespace_update_warns_about_existing_pods() {
    let admission = Admission::default();
    let no_seccomp = |name: &str| {
        let mut pod = restricted_pod(name);
        pod["spec"]["securityContext"] = json!({"runAsNonRoot": true});
        pod
    };
    let cluster = FixedCluster::default()
        .with_pod("team", nginx_pod("web-c"))
        .with_pod("team", owned_by(no_seccomp("rs-x2"), "uid-x"))
        .with_pod("team", nginx_pod("web-a"))
        .with_pod("team", restricted_pod("fine"))
        .with_pod("team", privileged_pod("priv"))
        .with_pod("team", owned_by(no_seccomp("rs-x1"), "uid-x"))
        .with_pod("team", nginx_pod("web-b"))
        .with_pod("elsewhere", nginx_pod("aaa"));
    let cases = vec![
        Case::new("violating pods, grouped", team_tightened())
            .allowed()
            .no_status()
            .annotations(&[])
            .no_events()
            .warnings([
                r#"existing pods in namespace "team" violate the new PodSecurity enforce level "restricted:latest""#.to_string(),
                format!("priv: privileged, {NGINX_RESTRICTED_REASONS}"),
                "rs-x1 (and 1 other pod): seccompProfile".to_string(),
                format!("web-a (and 2 other pods): {NGINX_RESTRICTED_REASONS}"),
            ]),
        // A new privileged enforce level: no dry run at all.
        Case::new(
            "a new privileged enforce level",
            namespace_update(
                "team",
                &[(ENFORCE, "privileged")],
                &[(ENFORCE, "restricted")],
            ),
        )
        .decision(Decision::allow()),
    ];
    run(&admission, &cluster, cases).await;

    // Nothing to report when every pod complies.
    let compliant = FixedCluster::default().with_pod("team", restricted_pod("fine"));
    let cases = vec![Case::new("compliant pods", team_tightened()).decision(Decision::allow())];
    run(&admission, &compliant, cases).await;

    // A failed pod list is one warning.
    let failing = FixedCluster::failing_pod_list().with_pod("team", nginx_pod("web"));
    let cases = vec![Case::new("the pod list fails", team_tightened())
        .allowed()
        .warnings(["failed to list pods while checking new PodSecurity enforce level"])];
    run(&admission, &failing, cases).await;
}

#[tokio::test]
async fn namespace_pod_limit_bounds_the_dry_run_after_prioritizing() {
    // Upstream "bound number of pods": five alike pods, four checked.
    let admission = Admission::new(
        Configuration::default(),
        Options {
            enforce_templates: false,
            namespace_pod_limit: Some(4),
            ..Options::default()
        },
    );
    let cluster = (1..=5).fold(FixedCluster::default(), |c, i| {
        c.with_pod("team", nginx_pod(&format!("pod{i}")))
    });
    let cases = vec![Case::new("five alike pods", team_tightened()).warnings([
        "new PodSecurity enforce level only checked against the first 4 of 5 existing pods"
            .to_string(),
        r#"existing pods in namespace "team" violate the new PodSecurity enforce level "restricted:latest""#.to_string(),
        format!("pod1 (and 3 other pods): {NGINX_RESTRICTED_REASONS}"),
    ])];
    run(&admission, &cluster, cases).await;

    // Exempt runtime classes are dropped and not counted; unowned pods and the first replica
    // of each controller come before further replicas.
    let admission = exempting(Options {
        enforce_templates: false,
        namespace_pod_limit: Some(2),
        ..Options::default()
    });
    let cluster = FixedCluster::default()
        .with_pod("team", with_runtime_class(privileged_pod("kata-1"), "kata"))
        .with_pod("team", owned_by(nginx_pod("rs1-a"), "1"))
        .with_pod("team", owned_by(nginx_pod("rs1-b"), "1"))
        .with_pod("team", owned_by(nginx_pod("rs1-c"), "1"))
        .with_pod("team", privileged_pod("solo"));
    let cases = vec![Case::new("replicas and an exempt pod", team_tightened()).warnings([
        "new PodSecurity enforce level only checked against the first 2 of 4 existing pods"
            .to_string(),
        r#"existing pods in namespace "team" violate the new PodSecurity enforce level "restricted:latest""#.to_string(),
        format!("rs1-a: {NGINX_RESTRICTED_REASONS}"),
        format!("solo: privileged, {NGINX_RESTRICTED_REASONS}"),
    ])];
    run(&admission, &cluster, cases).await;
}

#[tokio::test]
async fn exempt_namespaces_get_a_warning_instead_of_a_dry_run() {
    let cases = vec![
        Case::new(
            "create an exempt namespace with a policy",
            namespace_create("infra", &[(ENFORCE, "restricted")]),
        )
        .allowed()
        .no_events()
        .warnings([
            r#"namespace "infra" is exempt from Pod Security, and the policy (enforce=restricted:latest) will be ignored"#,
        ]),
        Case::new(
            "update an exempt namespace's policy",
            namespace_update(
                "infra",
                &[
                    (ENFORCE, "restricted"),
                    (ENFORCE_VERSION, "v1.0"),
                    (AUDIT, "restricted"),
                    (WARN, "baseline"),
                ],
                &[],
            ),
        )
        .allowed()
        .warnings([
            r#"namespace "infra" is exempt from Pod Security, and the policy (enforce=restricted:v1.0, audit=restricted:latest, warn=baseline:latest) will be ignored"#,
        ]),
        // Only the modes whose labels are set, and no warning for a privileged policy.
        Case::new(
            "only the modes whose labels are set",
            namespace_create("infra", &[(AUDIT, "restricted")]),
        )
        .warnings([
            r#"namespace "infra" is exempt from Pod Security, and the policy (audit=restricted:latest) will be ignored"#,
        ]),
        Case::new(
            "no warning for a privileged policy",
            namespace_create(
                "infra",
                &[(ENFORCE, "privileged"), (ENFORCE_VERSION, "v1.24")],
            ),
        )
        .decision(Decision::allow()),
        Case::new(
            "no warning for a namespace that is not exempt",
            namespace_create("team", &[(ENFORCE, "restricted")]),
        )
        .decision(Decision::allow()),
    ];
    run(
        &exempting(Options::default()),
        &FixedCluster::failing_pod_list(),
        cases,
    )
    .await;
}
