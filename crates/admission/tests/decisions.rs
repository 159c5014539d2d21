//! Admission decisions, request by request, against upstream's expected responses.
//!
//! The expected messages, warnings, annotations and metric events are upstream Pod Security
//! Admission's (`admission/admission.go`, `admission_test.go`, `response.go`).

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use podsec_admission::{
    parse_review, Admission, BoxFuture, ClusterView, Configuration, Decision, ExistingPod,
    MetricDecision, Mode, NamespaceMeta, Options, Recorder, RequestLabels, ViewError,
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
}

impl ClusterView for FixedCluster {
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
    fn pods<'a>(
        &'a self,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Vec<ExistingPod>>, ViewError>> {
        let result: Result<Arc<Vec<ExistingPod>>, ViewError> = if self.fail_pod_list {
            Err(ViewError("boom".into()))
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
    let d = admission.validate(&req, cluster, &events, None).await;
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
// Pods
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn seed_scenario_denies_in_default_and_allows_in_dmz() {
    let admission = Admission::default();
    let cluster = seed_cluster();
    let (d, events) = decide(
        &admission,
        &cluster,
        &review(
            ("", "pods"),
            "Pod",
            "CREATE",
            "default",
            "nginx",
            nginx_pod("nginx"),
            None,
        ),
    )
    .await;
    assert!(!d.allowed);
    let status = d.status.expect("status");
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        format!(
            "pods \"nginx\" is forbidden: {}",
            violates("restricted:latest", NGINX_RESTRICTED)
        )
    );
    assert_eq!(
        d.audit_annotations
            .get("enforce-policy")
            .map(String::as_str),
        Some("restricted:latest")
    );
    assert!(d.warnings.is_empty(), "no warnings on a denied request");
    assert_eq!(events, ["eval deny restricted latest enforce create pod"]);

    let (d, events) = decide(
        &admission,
        &cluster,
        &review(
            ("", "pods"),
            "Pod",
            "CREATE",
            "dmz",
            "nginx",
            nginx_pod("nginx"),
            None,
        ),
    )
    .await;
    assert!(d.allowed);
    assert_eq!(
        d.audit_annotations
            .get("enforce-policy")
            .map(String::as_str),
        Some("privileged:latest")
    );
    assert_eq!(events, ["eval allow privileged latest enforce create pod"]);
}

#[tokio::test]
async fn ignored_pod_subresources_are_allowed_without_evaluation() {
    let admission = Admission::default();
    let cluster = seed_cluster();
    for sub in [
        "exec",
        "attach",
        "binding",
        "eviction",
        "log",
        "portforward",
        "proxy",
        "status",
    ] {
        let body = with_request_field(
            pod_review(
                "UPDATE",
                "default",
                privileged_pod("nginx"),
                Some(nginx_pod("nginx")),
            ),
            "subResource",
            json!(sub),
        );
        let (d, events) = decide(&admission, &cluster, &body).await;
        assert_eq!(d, Decision::allow(), "{sub}");
        assert!(events.is_empty(), "{sub}: {events:?}");
    }
}

#[tokio::test]
async fn ephemeralcontainers_and_resize_subresources_are_evaluated() {
    let admission = Admission::default();
    let cluster = seed_cluster();
    for sub in ["ephemeralcontainers", "resize"] {
        let body = with_request_field(
            pod_review(
                "UPDATE",
                "default",
                with_debugger(restricted_pod("app"), "busybox"),
                Some(restricted_pod("app")),
            ),
            "subResource",
            json!(sub),
        );
        let (d, events) = decide(&admission, &cluster, &body).await;
        assert!(!d.allowed, "{sub}");
        let status = d.status.expect("status");
        assert_eq!(status.code, 403);
        assert_eq!(status.reason, "Forbidden");
        assert_eq!(
            status.message,
            format!(
                "pods \"app\" is forbidden: {}",
                violates("restricted:latest", DEBUGGER_RESTRICTED)
            )
        );
        assert_eq!(
            d.audit_annotations,
            annotations(&[("enforce-policy", "restricted:latest")])
        );
        assert_eq!(
            events,
            [format!(
                "eval deny restricted latest enforce update pod {sub}"
            )]
        );
    }
}

#[tokio::test]
async fn exempt_namespace_user_and_runtime_class() {
    let admission = exempting(Options::default());
    let cluster = seed_cluster();

    // The namespace exemption comes before the namespace lookup: `infra` need not exist.
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "infra", privileged_pod("nginx"), None),
    )
    .await;
    assert_eq!(d, Decision::allow().with_annotation("exempt", "namespace"));
    assert_eq!(events, ["exempt create pod"]);

    let body = with_request_field(
        pod_review("CREATE", "default", privileged_pod("nginx"), None),
        "userInfo",
        json!({"username": "ci-admin", "groups": ["system:authenticated"]}),
    );
    let (d, events) = decide(&admission, &cluster, &body).await;
    assert_eq!(d, Decision::allow().with_annotation("exempt", "user"));
    assert_eq!(events, ["exempt create pod"]);

    let mut kata = privileged_pod("nginx");
    kata["spec"]["runtimeClassName"] = json!("kata");
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "default", kata, None),
    )
    .await;
    assert_eq!(
        d,
        Decision::allow().with_annotation("exempt", "runtimeClass")
    );
    assert_eq!(events, ["exempt create pod"]);

    // Another runtime class, another user: evaluated as usual.
    let mut gvisor = privileged_pod("nginx");
    gvisor["spec"]["runtimeClassName"] = json!("gvisor");
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "default", gvisor, None),
    )
    .await;
    assert!(!d.allowed);
    assert_eq!(events, ["eval deny restricted latest enforce create pod"]);
}

#[tokio::test]
async fn pod_namespace_lookup_failure_is_an_internal_error() {
    let admission = Admission::default();
    let cluster = seed_cluster();
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "nowhere", restricted_pod("app"), None),
    )
    .await;
    assert!(!d.allowed);
    assert!(d.warnings.is_empty());
    let status = d.status.expect("status");
    assert_eq!(status.code, 500);
    assert_eq!(status.reason, "InternalError");
    assert_eq!(
        status.message,
        r#"Internal error occurred: failed to lookup namespace "nowhere""#
    );
    assert_eq!(
        d.audit_annotations,
        annotations(&[(
            "error",
            r#"Internal error occurred: failed to lookup namespace "nowhere": namespaces "nowhere" not found"#
        )])
    );
    assert_eq!(events, ["error true create pod"]);
}

#[tokio::test]
async fn fully_privileged_namespaces_short_circuit() {
    let admission = Admission::default();
    let cluster = seed_cluster();
    for ns in ["dmz", "open", "old-privileged"] {
        let (d, events) = decide(
            &admission,
            &cluster,
            &pod_review("CREATE", ns, privileged_pod("nginx"), None),
        )
        .await;
        assert_eq!(
            d,
            Decision::allow().with_annotation("enforce-policy", "privileged:latest"),
            "{ns}"
        );
        assert_eq!(
            events,
            ["eval allow privileged latest enforce create pod"],
            "{ns}"
        );
    }
    // Before the object is even decoded.
    let (d, _) = decide(
        &admission,
        &cluster,
        &pod_review(
            "CREATE",
            "dmz",
            json!({"metadata": {"name": "x"}, "spec": {"containers": "nginx"}}),
            None,
        ),
    )
    .await;
    assert!(d.allowed);
}

#[tokio::test]
async fn label_errors_are_annotated_and_enforce_fails_closed() {
    let admission = Admission::default();
    let cluster = seed_cluster();

    // An invalid enforce level enforces restricted (and does not raise warn).
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "broken", nginx_pod("nginx"), None),
    )
    .await;
    assert!(!d.allowed);
    assert!(d.warnings.is_empty());
    let status = d.status.expect("status");
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        format!(
            "pods \"nginx\" is forbidden: {}",
            violates("restricted:latest", NGINX_RESTRICTED)
        )
    );
    let parse_error = format!("Failed to parse policy: {BOGUS_ENFORCE}");
    assert_eq!(
        d.audit_annotations,
        annotations(&[
            ("enforce-policy", "restricted:latest"),
            ("error", parse_error.as_str()),
        ])
    );
    assert_eq!(
        events,
        [
            "error false create pod",
            "eval deny restricted latest enforce create pod"
        ]
    );

    // Several errors are aggregated in brackets.
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "twice-broken", restricted_pod("app"), None),
    )
    .await;
    assert!(d.allowed);
    assert!(d.warnings.is_empty());
    let parse_error = format!(
        r#"Failed to parse policy: [{BOGUS_ENFORCE}, metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "1.0": must be "latest" or "v1.x"]"#
    );
    assert_eq!(
        d.audit_annotations,
        annotations(&[
            ("enforce-policy", "restricted:latest"),
            ("error", parse_error.as_str()),
        ])
    );
    assert_eq!(
        events,
        [
            "error false create pod",
            "eval allow restricted latest enforce create pod"
        ]
    );

    // An invalid audit level fails open, but the namespace is no longer short-circuited.
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "audited", privileged_pod("nginx"), None),
    )
    .await;
    assert!(d.allowed);
    assert_eq!(
        d.audit_annotations,
        annotations(&[
            ("enforce-policy", "privileged:latest"),
            (
                "error",
                r#"Failed to parse policy: metadata.labels[pod-security.kubernetes.io/audit]: Invalid value: "bogus": must be one of privileged, baseline, restricted"#
            ),
        ])
    );
    assert_eq!(
        events,
        [
            "error false create pod",
            "eval allow privileged latest enforce create pod"
        ]
    );
}

#[tokio::test]
async fn enforce_audit_and_warn_combine() {
    let admission = Admission::default();
    let cluster = seed_cluster();

    // enforce=baseline audit=restricted warn=restricted, a baseline pod: allowed, audited, warned.
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "mixed", nginx_pod("nginx"), None),
    )
    .await;
    assert!(d.allowed);
    assert!(d.status.is_none());
    let audit = would_violate("restricted:latest", NGINX_RESTRICTED);
    assert_eq!(
        d.audit_annotations,
        annotations(&[
            ("enforce-policy", "baseline:latest"),
            ("audit-violations", audit.as_str()),
        ])
    );
    assert_eq!(d.warnings, [audit]);
    assert_eq!(
        events,
        [
            "eval allow baseline latest enforce create pod",
            "eval deny restricted latest audit create pod",
            "eval deny restricted latest warn create pod",
        ]
    );

    // Denied by enforce: still audited, but no warning.
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "mixed", privileged_pod("priv"), None),
    )
    .await;
    assert!(!d.allowed);
    assert!(d.warnings.is_empty());
    assert_eq!(
        d.status.expect("status").message,
        format!(
            "pods \"priv\" is forbidden: {}",
            violates("baseline:latest", PRIVILEGED_NGINX)
        )
    );
    let audit = would_violate(
        "restricted:latest",
        &format!("{PRIVILEGED_NGINX}, {NGINX_RESTRICTED}"),
    );
    assert_eq!(
        d.audit_annotations,
        annotations(&[
            ("enforce-policy", "baseline:latest"),
            ("audit-violations", audit.as_str()),
        ])
    );
    assert_eq!(
        events,
        [
            "eval deny baseline latest enforce create pod",
            "eval deny restricted latest audit create pod",
        ]
    );

    // A pod within every level: only the enforce evaluation is recorded.
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "mixed", restricted_pod("app"), None),
    )
    .await;
    assert_eq!(
        d,
        Decision::allow().with_annotation("enforce-policy", "baseline:latest")
    );
    assert_eq!(events, ["eval allow baseline latest enforce create pod"]);
}

#[tokio::test]
async fn warn_defaults_to_a_stricter_enforce_level_and_its_version() {
    let admission = Admission::default();
    let cluster = seed_cluster();

    // enforce=restricted enforce-version=v1.18: warn is restricted:v1.18 too, so a pod within
    // v1.18 gets no warning.
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "pinned", partially_hardened_pod("app"), None),
    )
    .await;
    assert_eq!(
        d,
        Decision::allow().with_annotation("enforce-policy", "restricted:v1.18")
    );
    assert_eq!(events, ["eval allow restricted v1.18 enforce create pod"]);

    // With warn-version=latest, warn takes the enforce level but keeps its own version.
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "skewed", partially_hardened_pod("app"), None),
    )
    .await;
    assert!(d.allowed);
    assert_eq!(
        d.audit_annotations,
        annotations(&[("enforce-policy", "restricted:v1.18")])
    );
    assert_eq!(
        d.warnings,
        [would_violate("restricted:latest", PARTIAL_RESTRICTED)]
    );
    assert_eq!(
        events,
        [
            "eval allow restricted v1.18 enforce create pod",
            "eval deny restricted latest warn create pod",
        ]
    );
}

#[tokio::test]
async fn versions_are_pinned_and_future_versions_print_as_given() {
    let admission = Admission::default();
    let cluster = seed_cluster();

    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "pinned", nginx_pod("nginx"), None),
    )
    .await;
    assert!(!d.allowed);
    assert_eq!(
        d.status.expect("status").message,
        format!(
            "pods \"nginx\" is forbidden: {}",
            violates("restricted:v1.18", NGINX_RESTRICTED_1_18)
        )
    );
    assert_eq!(
        d.audit_annotations,
        annotations(&[("enforce-policy", "restricted:v1.18")])
    );
    assert_eq!(events, ["eval deny restricted v1.18 enforce create pod"]);

    // A version newer than any known evaluates as latest but keeps its name; its metric
    // label is `future`.
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "future", nginx_pod("nginx"), None),
    )
    .await;
    assert!(!d.allowed);
    assert_eq!(
        d.status.expect("status").message,
        format!(
            "pods \"nginx\" is forbidden: {}",
            violates("restricted:v1.99", NGINX_RESTRICTED)
        )
    );
    assert_eq!(
        d.audit_annotations,
        annotations(&[("enforce-policy", "restricted:v1.99")])
    );
    assert_eq!(events, ["eval deny restricted future enforce create pod"]);
}

#[tokio::test]
async fn only_significant_pod_updates_are_evaluated() {
    let admission = Admission::default();
    let cluster = seed_cluster();

    // Metadata and tolerations changed, containers did not: allowed unevaluated, even though
    // the pod violates the namespace's policy.
    let mut relabelled = nginx_pod("nginx");
    relabelled["metadata"]["labels"]["tier"] = json!("web");
    relabelled["spec"]["tolerations"] = json!([{"operator": "Exists"}]);
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("UPDATE", "default", relabelled, Some(nginx_pod("nginx"))),
    )
    .await;
    assert_eq!(d, Decision::allow());
    assert!(events.is_empty(), "{events:?}");

    // A new image is evaluated.
    let mut new_image = nginx_pod("nginx");
    new_image["spec"]["containers"][0]["image"] = json!("nginx:1.27");
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("UPDATE", "default", new_image, Some(nginx_pod("nginx"))),
    )
    .await;
    assert!(!d.allowed);
    assert_eq!(
        d.status.expect("status").message,
        format!(
            "pods \"nginx\" is forbidden: {}",
            violates("restricted:latest", NGINX_RESTRICTED)
        )
    );
    assert_eq!(events, ["eval deny restricted latest enforce update pod"]);

    // A significant update that the policy allows.
    let mut new_image = restricted_pod("app");
    new_image["spec"]["containers"][0]["image"] = json!("nginx:1.27");
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("UPDATE", "default", new_image, Some(restricted_pod("app"))),
    )
    .await;
    assert_eq!(
        d,
        Decision::allow().with_annotation("enforce-policy", "restricted:latest")
    );
    assert_eq!(events, ["eval allow restricted latest enforce update pod"]);

    // An added ephemeral container is evaluated…
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review(
            "UPDATE",
            "default",
            with_debugger(restricted_pod("app"), "busybox"),
            Some(restricted_pod("app")),
        ),
    )
    .await;
    assert!(!d.allowed);
    assert_eq!(
        d.status.expect("status").message,
        format!(
            "pods \"app\" is forbidden: {}",
            violates("restricted:latest", DEBUGGER_RESTRICTED)
        )
    );
    assert_eq!(events, ["eval deny restricted latest enforce update pod"]);

    // …and so is one whose image changed, but not one left as it was.
    let (d, _) = decide(
        &admission,
        &cluster,
        &pod_review(
            "UPDATE",
            "default",
            with_debugger(restricted_pod("app"), "busybox:2"),
            Some(with_debugger(restricted_pod("app"), "busybox")),
        ),
    )
    .await;
    assert!(!d.allowed);
    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review(
            "UPDATE",
            "default",
            with_debugger(restricted_pod("app"), "busybox"),
            Some(with_debugger(restricted_pod("app"), "busybox")),
        ),
    )
    .await;
    assert_eq!(d, Decision::allow());
    assert!(events.is_empty(), "{events:?}");
}

#[tokio::test]
async fn undecodable_pods_are_bad_requests() {
    let admission = Admission::default();
    let cluster = seed_cluster();
    let garbled = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx"},
        "spec": {"containers": "nginx"}});

    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("CREATE", "default", garbled.clone(), None),
    )
    .await;
    assert!(!d.allowed);
    let status = d.status.expect("status");
    assert_eq!(status.code, 400);
    assert_eq!(status.reason, "BadRequest");
    assert_eq!(status.message, "failed to decode object");
    let error = d.audit_annotations.get("error").expect("error annotation");
    assert!(error.starts_with("failed to decode object: "), "{error}");
    assert_eq!(d.audit_annotations.len(), 1);
    assert_eq!(events, ["error true create pod"]);

    let (d, events) = decide(
        &admission,
        &cluster,
        &pod_review("UPDATE", "default", nginx_pod("nginx"), Some(garbled)),
    )
    .await;
    assert!(!d.allowed);
    let status = d.status.expect("status");
    assert_eq!(status.code, 400);
    assert_eq!(status.message, "failed to decode old object");
    let error = d.audit_annotations.get("error").expect("error annotation");
    assert!(
        error.starts_with("failed to decode old object: "),
        "{error}"
    );
    assert_eq!(events, ["error true update pod"]);
}

// ---------------------------------------------------------------------------------------------
// Pod controllers
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn controllers_are_warned_and_audited_never_denied() {
    let admission = Admission::default();
    let cluster = seed_cluster();

    // Warn defaults to the namespace's enforce level; no enforce-policy annotation.
    let (d, events) = decide(
        &admission,
        &cluster,
        &deployment_review("CREATE", "default", deployment("web", &nginx_pod("web"))),
    )
    .await;
    assert!(d.allowed);
    assert!(d.status.is_none());
    assert!(d.audit_annotations.is_empty(), "{:?}", d.audit_annotations);
    assert_eq!(
        d.warnings,
        [would_violate("restricted:latest", NGINX_RESTRICTED)]
    );
    assert_eq!(
        events,
        ["eval deny restricted latest warn create controller"]
    );

    // Updates are evaluated whatever changed.
    let body = review(
        ("apps", "deployments"),
        "Deployment",
        "UPDATE",
        "base",
        "web",
        deployment("web", &privileged_pod("web")),
        Some(deployment("web", &privileged_pod("web"))),
    );
    let (d, events) = decide(&admission, &cluster, &body).await;
    assert!(d.allowed);
    assert!(d.audit_annotations.is_empty());
    assert_eq!(
        d.warnings,
        [would_violate("baseline:latest", PRIVILEGED_NGINX)]
    );
    assert_eq!(events, ["eval deny baseline latest warn update controller"]);

    // A CronJob's template is under spec.jobTemplate.spec.template.
    let body = review(
        ("batch", "cronjobs"),
        "CronJob",
        "CREATE",
        "mixed",
        "nightly",
        cron_job("nightly", &nginx_pod("nightly")),
        None,
    );
    let (d, events) = decide(&admission, &cluster, &body).await;
    assert!(d.allowed);
    let audit = would_violate("restricted:latest", NGINX_RESTRICTED);
    assert_eq!(
        d.audit_annotations,
        annotations(&[("audit-violations", audit.as_str())])
    );
    assert_eq!(d.warnings, [audit]);
    assert_eq!(
        events,
        [
            "eval deny restricted latest audit create controller",
            "eval deny restricted latest warn create controller",
        ]
    );

    // Label errors are annotated; invalid enforce (restricted) is not enforced on controllers.
    let (d, events) = decide(
        &admission,
        &cluster,
        &deployment_review("CREATE", "broken", deployment("web", &nginx_pod("web"))),
    )
    .await;
    assert!(d.allowed);
    assert!(d.warnings.is_empty());
    let parse_error = format!("Failed to parse policy: {BOGUS_ENFORCE}");
    assert_eq!(
        d.audit_annotations,
        annotations(&[("error", parse_error.as_str())])
    );
    assert_eq!(events, ["error false create controller"]);
}

#[tokio::test]
async fn controller_subresources_and_quiet_namespaces_are_skipped() {
    let admission = Admission::default();
    let cluster = seed_cluster();
    for sub in ["scale", "status"] {
        let body = with_request_field(
            deployment_review("UPDATE", "default", deployment("web", &nginx_pod("web"))),
            "subResource",
            json!(sub),
        );
        let (d, events) = decide(&admission, &cluster, &body).await;
        assert_eq!(d, Decision::allow(), "{sub}");
        assert!(events.is_empty(), "{sub}: {events:?}");
    }
    // Audit and warn privileged: nothing to do, whatever enforce says.
    for ns in ["dmz", "open", "quiet"] {
        let (d, events) = decide(
            &admission,
            &cluster,
            &deployment_review("CREATE", ns, deployment("web", &privileged_pod("web"))),
        )
        .await;
        assert_eq!(d, Decision::allow(), "{ns}");
        assert!(events.is_empty(), "{ns}: {events:?}");
    }
}

#[tokio::test]
async fn controller_namespace_lookup_failure_is_allowed_with_an_error_annotation() {
    let admission = Admission::default();
    let cluster = seed_cluster();
    let (d, events) = decide(
        &admission,
        &cluster,
        &deployment_review("CREATE", "nowhere", deployment("web", &nginx_pod("web"))),
    )
    .await;
    assert_eq!(
        d,
        Decision::allow().with_annotation(
            "error",
            r#"failed to lookup namespace "nowhere": namespaces "nowhere" not found"#
        )
    );
    assert_eq!(events, ["error true create controller"]);
}

#[tokio::test]
async fn controller_exemptions() {
    let admission = exempting(Options::default());
    let cluster = seed_cluster();

    let (d, events) = decide(
        &admission,
        &cluster,
        &deployment_review("CREATE", "infra", deployment("web", &privileged_pod("web"))),
    )
    .await;
    assert_eq!(d, Decision::allow().with_annotation("exempt", "namespace"));
    assert_eq!(events, ["exempt create controller"]);

    let body = with_request_field(
        deployment_review(
            "CREATE",
            "default",
            deployment("web", &privileged_pod("web")),
        ),
        "userInfo",
        json!({"username": "ci-admin"}),
    );
    let (d, events) = decide(&admission, &cluster, &body).await;
    assert_eq!(d, Decision::allow().with_annotation("exempt", "user"));
    assert_eq!(events, ["exempt create controller"]);

    let mut kata = privileged_pod("web");
    kata["spec"]["runtimeClassName"] = json!("kata");
    let (d, events) = decide(
        &admission,
        &cluster,
        &deployment_review("CREATE", "default", deployment("web", &kata)),
    )
    .await;
    assert_eq!(
        d,
        Decision::allow().with_annotation("exempt", "runtimeClass")
    );
    assert_eq!(events, ["exempt create controller"]);
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
    let cluster = seed_cluster();

    let (d, events) = decide(
        &admission,
        &cluster,
        &deployment_review("CREATE", "default", deployment("web", &nginx_pod("web"))),
    )
    .await;
    assert!(!d.allowed);
    assert!(d.warnings.is_empty());
    let status = d.status.expect("status");
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        format!(
            "deployments.apps \"web\" is forbidden: {}",
            violates("restricted:latest", NGINX_RESTRICTED)
        )
    );
    assert_eq!(
        d.audit_annotations,
        annotations(&[("enforce-policy", "restricted:latest")])
    );
    assert_eq!(
        events,
        ["eval deny restricted latest enforce create controller"]
    );

    // Enforced even where audit and warn are privileged.
    let (d, _) = decide(
        &admission,
        &cluster,
        &deployment_review("CREATE", "quiet", deployment("web", &nginx_pod("web"))),
    )
    .await;
    assert!(!d.allowed);

    let body = review(
        ("batch", "cronjobs"),
        "CronJob",
        "CREATE",
        "pinned",
        "nightly",
        cron_job("nightly", &nginx_pod("nightly")),
        None,
    );
    let (d, _) = decide(&admission, &cluster, &body).await;
    assert_eq!(
        d.status.expect("status").message,
        format!(
            "cronjobs.batch \"nightly\" is forbidden: {}",
            violates("restricted:v1.18", NGINX_RESTRICTED_1_18)
        )
    );

    // A compliant template passes; a privileged namespace is still skipped.
    let (d, events) = decide(
        &admission,
        &cluster,
        &deployment_review(
            "CREATE",
            "default",
            deployment("good", &restricted_pod("good")),
        ),
    )
    .await;
    assert_eq!(
        d,
        Decision::allow().with_annotation("enforce-policy", "restricted:latest")
    );
    assert_eq!(
        events,
        ["eval allow restricted latest enforce create controller"]
    );
    let (d, events) = decide(
        &admission,
        &cluster,
        &deployment_review("CREATE", "dmz", deployment("web", &privileged_pod("web"))),
    )
    .await;
    assert_eq!(d, Decision::allow());
    assert!(events.is_empty(), "{events:?}");
}

// ---------------------------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn namespace_create_with_invalid_labels_is_invalid() {
    let admission = Admission::default();
    let cluster = FixedCluster::default();

    let (d, events) = decide(
        &admission,
        &cluster,
        &namespace_create("x", &[(ENFORCE, "bogus")]),
    )
    .await;
    assert!(!d.allowed);
    assert!(events.is_empty());
    let status = d.status.expect("status");
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    assert_eq!(
        status.message,
        format!("Namespace \"x\" is invalid: {BOGUS_ENFORCE}")
    );
    let details = status.details.expect("details");
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

    let (d, _) = decide(
        &admission,
        &cluster,
        &namespace_create(
            "x",
            &[(ENFORCE, "privileged"), (ENFORCE_VERSION, "unknown")],
        ),
    )
    .await;
    assert_eq!(
        d.status.expect("status").message,
        r#"Namespace "x" is invalid: metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "unknown": must be "latest" or "v1.x""#
    );

    let (d, _) = decide(
        &admission,
        &cluster,
        &namespace_create("x", &[(ENFORCE, "bogus"), (AUDIT_VERSION, "1.2")]),
    )
    .await;
    let status = d.status.expect("status");
    assert_eq!(
        status.message,
        format!(
            r#"Namespace "x" is invalid: [{BOGUS_ENFORCE}, metadata.labels[pod-security.kubernetes.io/audit-version]: Invalid value: "1.2": must be "latest" or "v1.x"]"#
        )
    );
    assert_eq!(status.details.expect("details").causes.len(), 2);

    // Valid labels: allowed, and pods are never checked on create.
    for labels in [
        &[(ENFORCE, "privileged"), (ENFORCE_VERSION, "v1.0")][..],
        &[(ENFORCE, "baseline")][..],
        &[(ENFORCE, "restricted")][..],
    ] {
        let failing = FixedCluster {
            fail_pod_list: true,
            ..FixedCluster::default()
        };
        let (d, _) = decide(&admission, &failing, &namespace_create("x", labels)).await;
        assert_eq!(d, Decision::allow(), "{labels:?}");
    }
}

#[tokio::test]
async fn namespace_subresources_are_allowed() {
    let admission = Admission::default();
    let cluster = FixedCluster::default();
    let body = with_request_field(
        namespace_create("x", &[(ENFORCE, "bogus")]),
        "subResource",
        json!("status"),
    );
    let (d, _) = decide(&admission, &cluster, &body).await;
    assert_eq!(d, Decision::allow());
}

#[tokio::test]
async fn namespace_update_label_validation() {
    let admission = Admission::default();
    // Any dry run would list pods, and fail loudly.
    let cluster = FixedCluster {
        fail_pod_list: true,
        ..FixedCluster::default()
    };

    // Already invalid in the same way: allowed, no dry run.
    for labels in [
        &[(ENFORCE, "bogus")][..],
        &[(ENFORCE, "baseline"), (ENFORCE_VERSION, "unknown")][..],
    ] {
        let (d, _) = decide(
            &admission,
            &cluster,
            &namespace_update("ns", labels, labels),
        )
        .await;
        assert_eq!(d, Decision::allow(), "{labels:?}");
    }

    // Newly invalid, or invalid differently: rejected.
    let (d, _) = decide(
        &admission,
        &cluster,
        &namespace_update(
            "ns",
            &[(ENFORCE, "bogus")],
            &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "v1.0")],
        ),
    )
    .await;
    let status = d.status.expect("status");
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        format!("Namespace \"ns\" is invalid: {BOGUS_ENFORCE}")
    );

    let (d, _) = decide(
        &admission,
        &cluster,
        &namespace_update(
            "ns",
            &[(ENFORCE, "privileged"), (ENFORCE_VERSION, "unknown")],
            &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "v1.0")],
        ),
    )
    .await;
    assert_eq!(
        d.status.expect("status").message,
        r#"Namespace "ns" is invalid: metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "unknown": must be "latest" or "v1.x""#
    );

    let (d, _) = decide(
        &admission,
        &cluster,
        &namespace_update("ns", &[(ENFORCE, "bogus")], &[(ENFORCE, "junk")]),
    )
    .await;
    assert!(!d.allowed);
    assert_eq!(d.status.expect("status").code, 422);
}

#[tokio::test]
async fn namespace_update_dry_runs_only_when_enforce_tightens() {
    let admission = Admission::default();
    let cluster = FixedCluster {
        fail_pod_list: true,
        ..FixedCluster::default()
    };
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
    for (new, old) in unchecked {
        let (d, events) = decide(&admission, &cluster, &namespace_update("ns", new, old)).await;
        assert_eq!(d, Decision::allow(), "{new:?} <- {old:?}");
        assert!(events.is_empty());
    }

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
    for (new, old) in checked {
        let (d, _) = decide(&admission, &cluster, &namespace_update("ns", new, old)).await;
        assert!(d.allowed, "{new:?} <- {old:?}");
        assert!(d.status.is_none());
        assert_eq!(d.warnings, list_failed, "{new:?} <- {old:?}");
    }

    // Tightened by the configured default: no labels at all now means restricted.
    let defaulted = Admission::new(
        configuration("defaults:\n  enforce: restricted\n"),
        Options::default(),
    );
    let (d, _) = decide(
        &defaulted,
        &cluster,
        &namespace_update(
            "ns",
            &[],
            &[(ENFORCE, "baseline"), (ENFORCE_VERSION, "v1.0")],
        ),
    )
    .await;
    assert_eq!(d.warnings, list_failed);
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

    let (d, events) = decide(
        &admission,
        &cluster,
        &namespace_update("team", &[(ENFORCE, "restricted")], &[(ENFORCE, "baseline")]),
    )
    .await;
    assert!(d.allowed);
    assert!(d.status.is_none());
    assert!(d.audit_annotations.is_empty());
    assert!(events.is_empty());
    assert_eq!(
        d.warnings,
        [
            r#"existing pods in namespace "team" violate the new PodSecurity enforce level "restricted:latest""#.to_string(),
            format!("priv: privileged, {NGINX_RESTRICTED_REASONS}"),
            "rs-x1 (and 1 other pod): seccompProfile".to_string(),
            format!("web-a (and 2 other pods): {NGINX_RESTRICTED_REASONS}"),
        ]
    );

    // Nothing to report when every pod complies.
    let compliant = FixedCluster::default().with_pod("team", restricted_pod("fine"));
    let (d, _) = decide(
        &admission,
        &compliant,
        &namespace_update("team", &[(ENFORCE, "restricted")], &[(ENFORCE, "baseline")]),
    )
    .await;
    assert_eq!(d, Decision::allow());

    // A new privileged enforce level: no dry run at all.
    let (d, _) = decide(
        &admission,
        &cluster,
        &namespace_update(
            "team",
            &[(ENFORCE, "privileged")],
            &[(ENFORCE, "restricted")],
        ),
    )
    .await;
    assert_eq!(d, Decision::allow());
}

#[tokio::test]
async fn namespace_update_pod_list_failure_is_one_warning() {
    let admission = Admission::default();
    let cluster = FixedCluster {
        fail_pod_list: true,
        ..FixedCluster::default()
    }
    .with_pod("team", nginx_pod("web"));
    let (d, _) = decide(
        &admission,
        &cluster,
        &namespace_update("team", &[(ENFORCE, "restricted")], &[(ENFORCE, "baseline")]),
    )
    .await;
    assert!(d.allowed);
    assert_eq!(
        d.warnings,
        ["failed to list pods while checking new PodSecurity enforce level"]
    );
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
    let (d, _) = decide(
        &admission,
        &cluster,
        &namespace_update("team", &[(ENFORCE, "restricted")], &[(ENFORCE, "baseline")]),
    )
    .await;
    assert_eq!(
        d.warnings,
        [
            "new PodSecurity enforce level only checked against the first 4 of 5 existing pods"
                .to_string(),
            r#"existing pods in namespace "team" violate the new PodSecurity enforce level "restricted:latest""#.to_string(),
            format!("pod1 (and 3 other pods): {NGINX_RESTRICTED_REASONS}"),
        ]
    );

    // Exempt runtime classes are dropped and not counted; unowned pods and the first replica
    // of each controller come before further replicas.
    let admission = exempting(Options {
        enforce_templates: false,
        namespace_pod_limit: Some(2),
        ..Options::default()
    });
    let mut kata = privileged_pod("kata-1");
    kata["spec"]["runtimeClassName"] = json!("kata");
    let cluster = FixedCluster::default()
        .with_pod("team", kata)
        .with_pod("team", owned_by(nginx_pod("rs1-a"), "1"))
        .with_pod("team", owned_by(nginx_pod("rs1-b"), "1"))
        .with_pod("team", owned_by(nginx_pod("rs1-c"), "1"))
        .with_pod("team", privileged_pod("solo"));
    let (d, _) = decide(
        &admission,
        &cluster,
        &namespace_update("team", &[(ENFORCE, "restricted")], &[(ENFORCE, "baseline")]),
    )
    .await;
    assert_eq!(
        d.warnings,
        [
            "new PodSecurity enforce level only checked against the first 2 of 4 existing pods"
                .to_string(),
            r#"existing pods in namespace "team" violate the new PodSecurity enforce level "restricted:latest""#.to_string(),
            format!("rs1-a: {NGINX_RESTRICTED_REASONS}"),
            format!("solo: privileged, {NGINX_RESTRICTED_REASONS}"),
        ]
    );
}

#[tokio::test]
async fn exempt_namespaces_get_a_warning_instead_of_a_dry_run() {
    let admission = exempting(Options::default());
    let cluster = FixedCluster {
        fail_pod_list: true,
        ..FixedCluster::default()
    };

    let (d, events) = decide(
        &admission,
        &cluster,
        &namespace_create("infra", &[(ENFORCE, "restricted")]),
    )
    .await;
    assert!(d.allowed);
    assert!(events.is_empty());
    assert_eq!(
        d.warnings,
        [
            r#"namespace "infra" is exempt from Pod Security, and the policy (enforce=restricted:latest) will be ignored"#
        ]
    );

    let (d, _) = decide(
        &admission,
        &cluster,
        &namespace_update(
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
    .await;
    assert!(d.allowed);
    assert_eq!(
        d.warnings,
        [
            r#"namespace "infra" is exempt from Pod Security, and the policy (enforce=restricted:v1.0, audit=restricted:latest, warn=baseline:latest) will be ignored"#
        ]
    );

    // Only the modes whose labels are set, and no warning for a privileged policy.
    let (d, _) = decide(
        &admission,
        &cluster,
        &namespace_create("infra", &[(AUDIT, "restricted")]),
    )
    .await;
    assert_eq!(
        d.warnings,
        [
            r#"namespace "infra" is exempt from Pod Security, and the policy (audit=restricted:latest) will be ignored"#
        ]
    );
    let (d, _) = decide(
        &admission,
        &cluster,
        &namespace_create(
            "infra",
            &[(ENFORCE, "privileged"), (ENFORCE_VERSION, "v1.24")],
        ),
    )
    .await;
    assert_eq!(d, Decision::allow());

    // A namespace that is not exempt gets no such warning.
    let (d, _) = decide(
        &admission,
        &cluster,
        &namespace_create("team", &[(ENFORCE, "restricted")]),
    )
    .await;
    assert_eq!(d, Decision::allow());
}
