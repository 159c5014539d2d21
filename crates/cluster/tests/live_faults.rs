//! The live source when the API server misbehaves, against kube-rs's mock service: a watch
//! that errors, `410 Gone` (the watch's resourceVersion expired) and the relist it forces,
//! the API unavailable at start, and a namespace deleted and re-created with other labels.
//! Each test scripts the API server by request count; every assertion is on what admission
//! reads through the `NamespaceGetter` port, or on the decision itself.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response};
use kube::client::Body;
use podsec_admission::{
    parse_review, Admission, Cluster, Configuration, NamespaceGetter, NoMetrics, NoPsp, Options,
    Webhook,
};
use podsec_cluster::LiveCluster;
use serde_json::{json, Value};

const ENFORCE: &str = "pod-security.kubernetes.io/enforce";

/// What the API server was asked: the path, the query, and how many namespace LISTs and
/// WATCHes came before (this one included).
struct Call {
    path: String,
    query: String,
    list: usize,
    watch: usize,
}

type Reply = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
type Script = Arc<dyn Fn(Call) -> Reply + Send + Sync>;

fn namespace(name: &str, rv: u32, labels: Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": {"name": name, "resourceVersion": rv.to_string(), "labels": labels}})
}

fn list(rv: u32, items: Vec<Value>) -> Response<Body> {
    json_reply(
        200,
        json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
            "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    )
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "reason": reason, "message": message, "code": code})
}

fn json_reply(code: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

/// A watch response: these events, one JSON object per line, then the stream ends.
fn events(events: &[Value]) -> Response<Body> {
    let mut body = Vec::new();
    for e in events {
        body.extend(serde_json::to_vec(e).unwrap());
        body.push(b'\n');
    }
    Response::builder().body(Body::from(body)).unwrap()
}

/// A watch that stays quiet for a while, then ends (the watcher re-watches).
fn quiet() -> Reply {
    Box::pin(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        events(&[])
    })
}

fn now(response: Response<Body>) -> Reply {
    Box::pin(async move { response })
}

/// Starts the live source against `script`, answering each request on its own task.
fn live(script: Script) -> (LiveCluster, Arc<AtomicUsize>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let lists = Arc::new(AtomicUsize::new(0));
    let watches = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&lists);
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let path = request.uri().path().to_string();
            let query = request.uri().query().unwrap_or("").to_string();
            let (list, watch) = if path == "/api/v1/namespaces" {
                if query.contains("watch=true") {
                    (
                        counted.load(Ordering::SeqCst),
                        watches.fetch_add(1, Ordering::SeqCst) + 1,
                    )
                } else {
                    (
                        counted.fetch_add(1, Ordering::SeqCst) + 1,
                        watches.load(Ordering::SeqCst),
                    )
                }
            } else {
                (
                    counted.load(Ordering::SeqCst),
                    watches.load(Ordering::SeqCst),
                )
            };
            let reply = script(Call {
                path,
                query,
                list,
                watch,
            });
            tokio::spawn(async move { send.send_response(reply.await) });
        }
    });
    let (live, driver) = LiveCluster::start(kube::Client::new(service, "default"));
    tokio::spawn(driver);
    (live, lists)
}

async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn enforce_label(live: &LiveCluster, name: &str) -> Option<String> {
    live.namespace(name)
        .await
        .ok()
        .flatten()
        .and_then(|ns| ns.labels.get(ENFORCE).cloned())
}

fn not_found(path: &str) -> Response<Body> {
    json_reply(404, status(404, "NotFound", &format!("{path} not found")))
}

#[tokio::test]
async fn a_failing_watch_is_retried_and_410_gone_forces_a_relist_that_replaces_the_cache() {
    let relisted_after = Arc::new(AtomicUsize::new(0));
    let relist_seen = Arc::clone(&relisted_after);
    let script: Script = Arc::new(move |call: Call| {
        match (call.path.as_str(), call.query.contains("watch=true")) {
            ("/api/v1/namespaces", false) if call.list == 1 => now(list(
                1,
                vec![
                    namespace("a", 1, json!({ENFORCE: "restricted"})),
                    namespace("gone", 1, json!({})),
                ],
            )),
            ("/api/v1/namespaces", false) => {
                relist_seen.store(call.watch, Ordering::SeqCst);
                now(list(
                    7,
                    vec![
                        namespace("a", 6, json!({ENFORCE: "baseline"})),
                        namespace("b", 7, json!({ENFORCE: "privileged"})),
                    ],
                ))
            }
            // The first watch fails outright, the second reports an internal error, the
            // third says its resourceVersion expired; after the relist, watches are quiet.
            ("/api/v1/namespaces", true) => match call.watch {
                1 => now(json_reply(500, status(500, "InternalError", "etcd is sad"))),
                2 => now(events(&[
                    json!({"type": "ERROR", "object": status(500, "InternalError", "watch broke")}),
                ])),
                3 => now(events(&[
                    json!({"type": "ERROR", "object": status(410, "Expired", "too old resource version: 1 (5)")}),
                ])),
                _ => quiet(),
            },
            (path, _) => now(not_found(path)),
        }
    });
    let (live, lists) = live(script);
    eventually("the first sync", async || live.is_ready()).await;
    eventually("the relist after 410 Gone", async || {
        lists.load(Ordering::SeqCst) >= 2
    })
    .await;
    eventually("the relisted labels", async || {
        enforce_label(&live, "a").await.as_deref() == Some("baseline")
    })
    .await;
    assert_eq!(
        relisted_after.load(Ordering::SeqCst),
        3,
        "the watch errors were retried as watches; only 410 Gone relisted"
    );
    assert_eq!(
        enforce_label(&live, "b").await.as_deref(),
        Some("privileged")
    );
    assert_eq!(
        live.namespace("gone").await.unwrap(),
        None,
        "a namespace missing from the relist left the cache (and the live GET says 404)"
    );
    assert!(
        live.is_ready(),
        "errors after the first sync do not unready the source"
    );
}

/// A pod CREATE review in `namespace`.
fn pod_review(namespace: &str, kind: &str) -> Vec<u8> {
    let (group, resource, object) = match kind {
        "Pod" => (
            "",
            "pods",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": namespace},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
        ),
        _ => (
            "apps",
            "deployments",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": namespace},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}),
        ),
    };
    serde_json::to_vec(
        &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u", "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": resource},
            "namespace": namespace, "name": "p", "operation": "CREATE",
            "userInfo": {"username": "dev"}, "object": object}}),
    )
    .unwrap()
}

async fn decide(live: &LiveCluster, body: &[u8]) -> podsec_admission::Decision {
    let admission = Admission::new(
        Configuration::default(),
        Options {
            enforce_templates: false,
            namespace_pod_limit: None,
            ..Options::default()
        },
    );
    let (_, request) = parse_review(body).unwrap();
    let cluster = Cluster {
        namespaces: live,
        pods: live,
        psp: &NoPsp,
        constraints: &podsec_admission::NoConstraints,
        exceptions: &podsec_admission::NoExceptions,
    };
    admission
        .review(Webhook::Validating, &request, cluster, &NoMetrics, None)
        .await
}

#[tokio::test]
async fn with_the_api_unavailable_at_start_pods_are_denied_as_upstream_denies_them_until_it_answers(
) {
    let available = Arc::new(AtomicBool::new(false));
    let up = Arc::clone(&available);
    let script: Script = Arc::new(move |call: Call| {
        if !up.load(Ordering::SeqCst) {
            return now(json_reply(
                503,
                status(
                    503,
                    "ServiceUnavailable",
                    "the server is currently unable to handle the request",
                ),
            ));
        }
        match (call.path.as_str(), call.query.contains("watch=true")) {
            ("/api/v1/namespaces", false) => now(list(
                3,
                vec![namespace("team", 3, json!({ENFORCE: "restricted"}))],
            )),
            ("/api/v1/namespaces", true) => quiet(),
            (path, _) => now(not_found(path)),
        }
    });
    let (live, lists) = live(script);
    eventually("a failed list", async || lists.load(Ordering::SeqCst) >= 1).await;
    assert!(!live.is_ready(), "not ready while the API server refuses");

    // Upstream: a pod whose namespace cannot be read is refused (fail closed) with an
    // internal error; a controller is allowed with an audit annotation (fail open).
    let pod = decide(&live, &pod_review("team", "Pod")).await;
    assert!(!pod.allowed, "{pod:?}");
    let status = pod.status.as_ref().unwrap();
    assert_eq!(
        (status.code, status.message.as_str()),
        (
            500,
            "Internal error occurred: failed to lookup namespace \"team\""
        )
    );
    let deployment = decide(&live, &pod_review("team", "Deployment")).await;
    assert!(deployment.allowed, "{deployment:?}");
    assert!(
        deployment.audit_annotations.contains_key("error"),
        "{deployment:?}"
    );

    available.store(true, Ordering::SeqCst);
    eventually("the first sync once the API answers", async || {
        live.is_ready()
    })
    .await;
    let pod = decide(&live, &pod_review("team", "Pod")).await;
    assert!(!pod.allowed);
    assert!(
        pod.status
            .unwrap()
            .message
            .contains("violates PodSecurity \"restricted:latest\""),
        "now decided by the namespace's labels"
    );
}

#[tokio::test]
async fn a_namespace_deleted_and_recreated_with_other_labels_is_judged_by_the_new_labels() {
    let recreate = Arc::new(AtomicBool::new(false));
    let recreated = Arc::clone(&recreate);
    let script: Script =
        Arc::new(
            move |call: Call| match (call.path.as_str(), call.query.contains("watch=true")) {
                ("/api/v1/namespaces", false) => now(list(
                    1,
                    vec![namespace("team", 1, json!({ENFORCE: "privileged"}))],
                )),
                ("/api/v1/namespaces", true) if call.watch == 1 => now(events(&[json!({
                    "type": "DELETED",
                    "object": namespace("team", 2, json!({ENFORCE: "privileged"}))
                })])),
                ("/api/v1/namespaces", true) if recreated.load(Ordering::SeqCst) => {
                    let added = json!({"type": "ADDED",
                    "object": namespace("team", 3, json!({ENFORCE: "restricted"}))});
                    Box::pin(async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        events(&[added])
                    })
                }
                ("/api/v1/namespaces", true) => quiet(),
                (path, _) => now(not_found(path)),
            },
        );
    let (live, _) = live(script);
    eventually("the deletion", async || {
        live.is_ready() && live.cached_namespaces() == 0
    })
    .await;
    assert_eq!(
        live.namespace("team").await.unwrap(),
        None,
        "deleted: not cached, and the live GET says 404"
    );
    recreate.store(true, Ordering::SeqCst);
    eventually("the re-created namespace", async || {
        enforce_label(&live, "team").await.as_deref() == Some("restricted")
    })
    .await;
    let pod = decide(&live, &pod_review("team", "Pod")).await;
    assert!(!pod.allowed, "judged by the new labels: {pod:?}");
}
