//! `serve` with `--kubeconfig`, end to end over real HTTP: a loopback HTTP server plays the
//! Kubernetes API (no API server can be installed here), unavailable at first. `/readyz`
//! stays 503 until the namespace cache syncs, pods are refused as upstream refuses them while
//! their namespace cannot be read, and once the API answers the namespace's labels decide.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use podsec_server::StateOptions;
use serde_json::json;
use support::*;

const NAMESPACE: &str = r#"{"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadata","metadata":{"name":"team","resourceVersion":"3","labels":{"pod-security.kubernetes.io/enforce":"restricted"}}}"#;

async fn fake_api(State(available): State<Arc<AtomicBool>>, request: Request) -> Response {
    if !available.load(Ordering::SeqCst) {
        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "reason": "ServiceUnavailable", "message": "etcd is starting", "code": 503});
        return (StatusCode::SERVICE_UNAVAILABLE, status.to_string()).into_response();
    }
    let path = request.uri().path();
    let watch = request.uri().query().unwrap_or("").contains("watch=true");
    match (path, watch) {
        ("/api/v1/namespaces", false) => format!(
            r#"{{"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadataList","metadata":{{"resourceVersion":"3"}},"items":[{NAMESPACE}]}}"#
        )
        .into_response(),
        ("/api/v1/namespaces", true) => {
            // A quiet watch: nothing happens, then the stream ends and is re-opened.
            tokio::time::sleep(Duration::from_millis(500)).await;
            "".into_response()
        }
        ("/api/v1/namespaces/team", false) => NAMESPACE.into_response(),
        _ => (StatusCode::NOT_FOUND, "{}").into_response(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_the_namespace_cache_and_pods_fail_closed_until_the_api_answers() {
    let available = Arc::new(AtomicBool::new(false));
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(fake_api)
        .with_state(Arc::clone(&available));
    tokio::spawn(async move { axum::serve(api, app).await });

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
    opts.state = StateOptions::Live {
        kubeconfig: Some(kubeconfig),
    };
    let server = start(opts).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();

    let readyz = client.get("/readyz").await;
    assert_eq!(
        (readyz.status, readyz.text().as_str()),
        (503, "cluster state not synced yet\n")
    );
    let pod = pod_review("p1", "team", "u", nginx_pod("nginx"));
    let answer = client.review("/validate", &pod).await.json()["response"].clone();
    assert_eq!(answer["allowed"], false, "{answer}");
    assert_eq!(answer["status"]["code"], 500);
    assert_eq!(
        answer["status"]["message"],
        "Internal error occurred: failed to lookup namespace \"team\""
    );
    assert_eq!(
        client.get("/healthz").await.status,
        200,
        "alive while not ready"
    );

    available.store(true, Ordering::SeqCst);
    let start = Instant::now();
    while client.get("/readyz").await.status != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never ready after the API came up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = client.review("/validate", &pod).await.json()["response"].clone();
    assert_eq!(answer["allowed"], false);
    assert!(
        answer["status"]["message"]
            .as_str()
            .unwrap()
            .starts_with("pods \"nginx\" is forbidden: violates PodSecurity \"restricted:latest\""),
        "{answer}"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}
