//! The live source against kube-rs's mock service (tower-test): no API server can run on
//! these machines, so a scripted responder plays one. These tests check podsec's wiring
//! (metadata watch, cache, live GET on a miss, paginated pod LIST), not Kubernetes itself.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response};
use kube::client::Body;
use podsec_admission::{NamespaceGetter, PodLister};
use podsec_cluster::LiveCluster;
use serde_json::json;

fn meta(name: &str, labels: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": {"name": name, "resourceVersion": "1", "labels": labels}})
}

fn respond(status: u16, body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

fn pod(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "dmz"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
}

/// Plays the API server for the requests the live source makes, by path.
async fn play_api_server(
    mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    watches: Arc<AtomicUsize>,
) {
    while let Some((request, send)) = handle.next_request().await {
        let path = request.uri().path().to_string();
        let query = request.uri().query().unwrap_or("").to_string();
        let response = match path.as_str() {
            "/api/v1/namespaces" if query.contains("watch=true") => {
                if watches.fetch_add(1, Ordering::SeqCst) == 0 {
                    let event = json!({"type": "ADDED", "object": meta("dmz", json!({"pod-security.kubernetes.io/enforce": "privileged"}))});
                    Response::builder()
                        .body(Body::from(format!("{event}\n").into_bytes()))
                        .unwrap()
                } else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Response::builder().body(Body::from(Vec::new())).unwrap()
                }
            }
            "/api/v1/namespaces" => respond(
                200,
                json!({
                "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {"resourceVersion": "1"},
                "items": [meta("default", json!({"pod-security.kubernetes.io/enforce": "restricted"}))]}),
            ),
            "/api/v1/namespaces/created-just-now" => respond(
                200,
                meta(
                    "created-just-now",
                    json!({"pod-security.kubernetes.io/enforce": "baseline"}),
                ),
            ),
            "/api/v1/namespaces/dmz/pods" if query.contains("continue=page%2B2") => respond(
                200,
                json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [pod("c")]}),
            ),
            "/api/v1/namespaces/dmz/pods" => {
                assert!(
                    query.contains("limit=500"),
                    "pods are listed in pages: {query}"
                );
                respond(
                    200,
                    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"continue": "page+2"}, "items": [pod("a"), pod("b")]}),
                )
            }
            _ => respond(
                404,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
                "message": format!("{path} not found")}),
            ),
        };
        send.send_response(response);
    }
}

#[tokio::test]
async fn mock_api_server_watch_fills_the_namespace_cache_and_readyz_waits_for_it() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let watches = Arc::new(AtomicUsize::new(0));
    tokio::spawn(play_api_server(handle, Arc::clone(&watches)));
    let (live, driver) = LiveCluster::start(client);
    assert!(!live.is_ready(), "not ready before the first list");
    tokio::spawn(driver);

    let start = Instant::now();
    while !live.is_ready() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the cache never synced"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let default = live
        .namespace("default")
        .await
        .unwrap()
        .expect("listed namespace");
    assert_eq!(
        default
            .labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted")
    );

    // The watch event adds dmz to the cache.
    let start = Instant::now();
    while live.cached_namespaces() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the watch event never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let dmz = live
        .namespace("dmz")
        .await
        .unwrap()
        .expect("watched namespace");
    assert_eq!(
        dmz.labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("privileged")
    );
    assert!(watches.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn mock_api_server_cache_miss_falls_back_to_a_live_get() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    tokio::spawn(play_api_server(handle, Arc::new(AtomicUsize::new(1))));
    let (live, driver) = LiveCluster::start(client);
    tokio::spawn(driver);
    let found = live
        .namespace("created-just-now")
        .await
        .unwrap()
        .expect("live GET");
    assert_eq!(
        found
            .labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("baseline")
    );
    assert_eq!(
        live.namespace("missing").await.unwrap(),
        None,
        "404 means no such namespace"
    );
}

#[tokio::test]
async fn mock_api_server_pod_list_follows_continue_tokens() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    tokio::spawn(play_api_server(handle, Arc::new(AtomicUsize::new(1))));
    let (live, _driver) = LiveCluster::start(client);
    let pods = live.pods("dmz").await.unwrap();
    let names: Vec<&str> = pods.iter().map(|p| p.meta.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(pods[0].spec.containers[0].image.as_deref(), Some("nginx"));
}

#[tokio::test]
async fn mock_api_server_snapshot_lists_every_resource_in_pages_and_skips_missing_apis() {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let path = request.uri().path().to_string();
            let query = request.uri().query().unwrap_or("").to_string();
            let response = match path.as_str() {
                "/api/v1/pods" if query.contains("continue=next") => respond(
                    200,
                    json!({"kind": "PodList", "metadata": {}, "items": [{}]}),
                ),
                "/api/v1/pods" => respond(
                    200,
                    json!({"kind": "PodList", "metadata": {"continue": "next"},
                        "items": [{"metadata": {"name": "a", "namespace": "dmz"}}]}),
                ),
                "/apis/apps/v1/deployments" => respond(
                    200,
                    json!({"kind": "DeploymentList", "metadata": {},
                        "items": [{"metadata": {"name": "web", "namespace": "shop"}}]}),
                ),
                // A cluster newer than 1.25 has no PodSecurityPolicy API: a 404 to skip.
                _ => respond(
                    404,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "NotFound", "code": 404}),
                ),
            };
            send.send_response(response);
        }
    });
    let mut seen: Vec<serde_json::Value> = Vec::new();
    let view = podsec_cluster::LiveCluster::unwatched(client);
    podsec_cluster::fetch_snapshot(&view, &mut |doc| {
        seen.push(serde_json::from_str(doc).expect("each object is valid JSON"));
    })
    .await
    .unwrap();
    let kinds: Vec<(&str, &str, &str)> = seen
        .iter()
        .map(|o| {
            (
                o["apiVersion"].as_str().unwrap(),
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("v1", "Pod", "a"),
            ("v1", "Pod", ""),
            ("apps/v1", "Deployment", "web")
        ]
    );
}
