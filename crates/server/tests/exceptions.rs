//! PodSecurityExceptions over the real server (HTTPS, the state directory as the cluster):
//! a node-exporter-like DaemonSet's pod in a `restricted` namespace is denied without an
//! exception, admitted with one (warning and audit annotation), denied again once it expires
//! (the clock is injected); a malformed exception is skipped and counted, never applied.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

fn example(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../policies/exceptions/node-exporter")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The DaemonSet's pod, as its controller creates it.
fn node_exporter_pod() -> Value {
    let text = example("daemonset.yaml");
    let daemonset = podsec_manifest::decode(
        text.as_bytes(),
        podsec_manifest::Format::Yaml,
        &Default::default(),
    )
    .into_iter()
    .next()
    .unwrap()
    .unwrap()
    .value;
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "node-exporter-x7k2p", "namespace": "monitoring", "labels": {"app": "node-exporter"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "node-exporter", "uid": "9c1", "controller": true}]},
        "spec": daemonset["spec"]["template"]["spec"].clone()});
    pod["spec"]["nodeName"] = json!("node-1");
    pod
}

const BEFORE: i64 = 1_798_761_600; // 2027-01-01
const AFTER: i64 = 1_806_537_600; // 2027-04-01

async fn decide(client: &mut Client, uid: &str) -> Value {
    client
        .review(
            "/validate",
            &pod_review(
                uid,
                "monitoring",
                "system:serviceaccount:kube-system:daemon-set-controller",
                node_exporter_pod(),
            ),
        )
        .await
        .json()["response"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exporter_denied_admitted_with_its_exception_denied_after_expiry() {
    let certs = certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "namespace.yaml", &example("namespace.yaml"));
    let now = Arc::new(AtomicI64::new(BEFORE));
    let mut opts = options(&certs, state.path(), None);
    let clock = Arc::clone(&now);
    opts.clock = Some(podsec_server::Clock(Arc::new(move || {
        clock.load(Ordering::SeqCst)
    })));
    let server = start(opts).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();

    // No exception: restricted denies what a node agent needs.
    let denied = decide(&mut client, "1").await;
    assert_eq!(denied["allowed"], false, "{denied}");
    assert_eq!(
        denied["status"]["message"],
        "pods \"node-exporter-x7k2p\" is forbidden: violates PodSecurity \"restricted:latest\": host namespaces (hostNetwork=true, hostPID=true), hostPort (container \"node-exporter\" uses hostPort 9100), restricted volume types (volumes \"proc\", \"sys\", \"root\" use restricted volume type \"hostPath\")"
    );

    // The exception appears in the state: admitted, with a warning and the audit annotation.
    write(state.path(), "exception.yaml", &example("exception.yaml"));
    let mut admitted = Value::Null;
    let start = Instant::now();
    while admitted["allowed"] != true {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the exception was never applied: {admitted}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        admitted = decide(&mut client, "2").await;
    }
    assert_eq!(
        admitted["warnings"],
        json!(["hostNamespaces, hostPorts, restrictedVolumes waived by PodSecurityException monitoring/node-exporter (owner team-observability) until 2027-03-31T00:00:00Z"]),
        "{admitted}"
    );
    assert_eq!(
        admitted["auditAnnotations"]["exception"], "monitoring/node-exporter",
        "{admitted}"
    );

    // A week before expiry the warning says so.
    now.store(1_805_932_800, Ordering::SeqCst); // 2027-03-25
    let soon = decide(&mut client, "3").await;
    assert_eq!(soon["allowed"], true);
    assert!(
        soon["warnings"][0]
            .as_str()
            .unwrap()
            .ends_with("until 2027-03-31T00:00:00Z (expires in 6 days)"),
        "{soon}"
    );

    // Expired: enforcement resumes by itself, and the audit log says which exception lapsed.
    now.store(AFTER, Ordering::SeqCst);
    let expired = decide(&mut client, "4").await;
    assert_eq!(expired["allowed"], false, "{expired}");
    assert_eq!(expired["status"]["message"], denied["status"]["message"]);
    assert_eq!(
        expired["auditAnnotations"]["expired-exception"], "monitoring/node-exporter",
        "{expired}"
    );

    // A malformed exception is skipped and counted as a state load error; nothing is waived.
    now.store(BEFORE, Ordering::SeqCst);
    write(
        state.path(),
        "exception.yaml",
        &example("exception.yaml").replace("check: hostPorts", "check: hostPort"),
    );
    let addr = server.addr;
    let ca = certs.ca_pem.clone();
    let failures = || {
        let (addr, ca) = (addr, ca.clone());
        async move {
            let mut c = Client::connect(addr, &ca).await.unwrap();
            c.get("/metrics").await.text()
        }
    };
    let mut metrics = String::new();
    let start = Instant::now();
    while !metrics.contains("podsec_reloads_total{what=\"state\",result=\"failure\"} 1") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the bad exception was not counted:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        metrics = failures().await;
    }
    let after_bad = decide(&mut client, "5").await;
    assert_eq!(
        after_bad["allowed"], false,
        "never a silent widening: {after_bad}"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// The API stand-in: the `monitoring` namespace (restricted) and the exception, listed from
/// the CRD's resource as the API server lists it.
async fn fake_api(request: axum::extract::Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = request.uri().path().to_string();
    let watch = request.uri().query().unwrap_or("").contains("watch=true");
    let yaml = |text: &str| {
        podsec_manifest::decode(
            text.as_bytes(),
            podsec_manifest::Format::Yaml,
            &Default::default(),
        )
        .into_iter()
        .next()
        .unwrap()
        .unwrap()
        .value
    };
    let namespace = yaml(&example("namespace.yaml"));
    match (path.as_str(), watch) {
        ("/api/v1/namespaces", true) => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            "".into_response()
        }
        ("/api/v1/namespaces", false) => json!({"apiVersion": "v1", "kind": "NamespaceList", "metadata": {"resourceVersion": "1"},
            "items": [{"metadata": {"name": "monitoring", "resourceVersion": "1", "labels": namespace["metadata"]["labels"]}}]})
        .to_string()
        .into_response(),
        ("/api/v1/namespaces/monitoring", false) => namespace.to_string().into_response(),
        ("/apis/podsec.dev/v1alpha1/podsecurityexceptions", false) => {
            let mut e = yaml(&example("exception.yaml"));
            if let Some(map) = e.as_object_mut() {
                map.remove("apiVersion");
                map.remove("kind");
            }
            json!({"apiVersion": "podsec.dev/v1alpha1", "kind": "PodSecurityExceptionList", "metadata": {"resourceVersion": "1"}, "items": [e]})
                .to_string()
                .into_response()
        }
        _ => (axum::http::StatusCode::NOT_FOUND, "{}").into_response(),
    }
}

/// With live state, exceptions come from the API (the CRD's resource).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceptions_are_read_from_the_api_with_live_state() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    tokio::spawn(
        async move { axum::serve(listener, axum::Router::new().fallback(fake_api)).await },
    );
    let certs = certs();
    let kubeconfig = write(
        certs.dir.path(),
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: \"http://{api_addr}\"}}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: c\n  context: {{cluster: fake, user: u}}\ncurrent-context: c\n"
        ),
    );
    let state = tempfile::tempdir().unwrap();
    let mut opts = options(&certs, state.path(), None);
    opts.state = podsec_server::StateOptions::Live {
        kubeconfig: Some(kubeconfig),
    };
    opts.clock = Some(podsec_server::Clock(Arc::new(|| BEFORE)));
    let server = start(opts).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let start = Instant::now();
    while client.get("/readyz").await.status != 200 {
        assert!(start.elapsed() < Duration::from_secs(10), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = decide(&mut client, "1").await;
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(
        answer["auditAnnotations"]["exception"],
        "monitoring/node-exporter"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_pod_security_policy_an_exception_allows_exactly_the_waived_fields() {
    let certs = certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "namespace.yaml", &example("namespace.yaml"));
    // Seed 000's `deny-all` PodSecurityPolicy, usable by every service account.
    let psp = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/fixtures/psp");
    for f in ["seed000/deny-all.yaml", "use-deny-all.yaml"] {
        std::fs::copy(psp.join(f), state.path().join(f.replace('/', "-"))).unwrap();
    }
    let now = Arc::new(AtomicI64::new(BEFORE));
    let mut opts = options(&certs, state.path(), None);
    opts.admission.engines = podsec_admission::Engines::Psp;
    let clock = Arc::clone(&now);
    opts.clock = Some(podsec_server::Clock(Arc::new(move || {
        clock.load(Ordering::SeqCst)
    })));
    let server = start(opts).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let admit = |pod: Value, uid: &'static str| {
        pod_review(
            uid,
            "monitoring",
            "system:serviceaccount:kube-system:daemon-set-controller",
            pod,
        )
    };

    let denied = client
        .review("/mutate", &admit(node_exporter_pod(), "1"))
        .await
        .json()["response"]
        .clone();
    assert_eq!(denied["allowed"], false, "{denied}");
    let message = denied["status"]["message"].as_str().unwrap();
    for field in [
        "spec.securityContext.hostNetwork",
        "spec.securityContext.hostPID",
        "hostPath",
    ] {
        assert!(message.contains(field), "{field} in {message}");
    }

    write(state.path(), "exception.yaml", &example("exception.yaml"));
    let mut admitted = Value::Null;
    let start = Instant::now();
    while admitted["allowed"] != true {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the exception was never applied: {admitted}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        admitted = client
            .review("/mutate", &admit(node_exporter_pod(), "2"))
            .await
            .json()["response"]
            .clone();
    }
    assert_eq!(
        admitted["auditAnnotations"]["exception"], "monitoring/node-exporter",
        "{admitted}"
    );
    assert_eq!(
        admitted["auditAnnotations"]["admit-policy"], "deny-all",
        "{admitted}"
    );
    assert_eq!(
        admitted["warnings"],
        json!(["hostNamespaces, hostPathVolumes, restrictedVolumes, hostPorts waived by PodSecurityException monitoring/node-exporter (owner team-observability) until 2027-03-31T00:00:00Z: PodSecurityPolicy deny-all admits the pod with them allowed"]),
        "{admitted}"
    );

    // Beyond the waived values: host IPC and another host port are still denied.
    let mut ipc = node_exporter_pod();
    ipc["spec"]["hostIPC"] = json!(true);
    let ipc = client.review("/mutate", &admit(ipc, "3")).await.json()["response"].clone();
    assert_eq!(ipc["allowed"], false, "{ipc}");
    assert!(
        ipc["status"]["message"]
            .as_str()
            .unwrap()
            .contains("hostIPC"),
        "{ipc}"
    );
    let mut port = node_exporter_pod();
    port["spec"]["containers"][0]["ports"][0]["hostPort"] = json!(9101);
    port["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(9101);
    let port = client.review("/mutate", &admit(port, "4")).await.json()["response"].clone();
    assert_eq!(port["allowed"], false, "{port}");

    // Another container the exception does not name: the policy judges the whole pod.
    let mut sidecar = node_exporter_pod();
    sidecar["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar", "image": "busybox"}));
    let sidecar = client.review("/mutate", &admit(sidecar, "5")).await.json()["response"].clone();
    assert_eq!(sidecar["allowed"], false, "{sidecar}");

    // Expired: denied again.
    now.store(AFTER, Ordering::SeqCst);
    let expired = client
        .review("/mutate", &admit(node_exporter_pod(), "6"))
        .await
        .json()["response"]
        .clone();
    assert_eq!(expired["allowed"], false, "{expired}");
    assert_eq!(expired["status"]["message"], denied["status"]["message"]);
}
