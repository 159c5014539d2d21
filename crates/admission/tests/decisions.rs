//! Admission decisions, request by request, against upstream's expected responses.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

use std::collections::BTreeMap;
use std::sync::Mutex;

use podsec_admission::{
    parse_review, Admission, BoxFuture, ClusterView, Configuration, Decision, ExistingPod,
    MetricDecision, Mode, NamespaceMeta, Options, Recorder, RequestLabels, ViewError,
};
use serde_json::{json, Value};

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
    ) -> BoxFuture<'a, Result<Vec<ExistingPod>, ViewError>> {
        let result = if self.fail_pod_list {
            Err(ViewError("boom".into()))
        } else {
            Ok(self
                .pods
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
                .collect())
        };
        Box::pin(async move { result })
    }
}

/// Records metric events as strings, to assert on them.
#[derive(Default)]
struct Events(Mutex<Vec<String>>);

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
            "eval {} {} {} {} {} {}",
            d.label(),
            p.level,
            v,
            m.label(),
            r.operation,
            r.resource
        ));
    }
    fn exemption(&self, r: RequestLabels<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("exempt {} {}", r.operation, r.resource));
    }
    fn error(&self, fatal: bool, r: RequestLabels<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("error {fatal} {} {}", r.operation, r.resource));
    }
}

fn nginx_pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"run": name}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}})
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

const RESTRICTED_NGINX: &str = concat!(
    r#"violates PodSecurity "restricted:latest": "#,
    r#"allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), "#,
    r#"unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), "#,
    r#"runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), "#,
    r#"seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
);

fn seed_cluster() -> FixedCluster {
    FixedCluster::default()
        .with_ns(
            "default",
            &[("pod-security.kubernetes.io/enforce", "restricted")],
        )
        .with_ns(
            "dmz",
            &[("pod-security.kubernetes.io/enforce", "privileged")],
        )
}

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
        format!("pods \"nginx\" is forbidden: {RESTRICTED_NGINX}")
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
