//! `podsec serve --constraints`: Gatekeeper constraints enforced over the real TLS server next
//! to the Pod Security Standards, answered as Gatekeeper's webhook answers, reloaded on change
//! (a broken set is refused and counted), with per-constraint metrics.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{options, pod_review, review, start, write, Client};

fn seed_004() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies/gatekeeper/seed-004")
}

fn pod(name: &str, privileged: bool, init: bool) -> Value {
    let container = json!({"name": "app", "image": "nginx:1.23.1",
                           "securityContext": {"privileged": privileged}});
    let spec = if init {
        json!({"initContainers": [container], "containers": [{"name": "main", "image": "nginx"}]})
    } else {
        json!({"containers": [container]})
    };
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "default"}, "spec": spec})
}

const NAMESPACES: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n  labels: {team: a}\n";

/// Seed 004's ConstraintTemplate and constraint, exactly as printed, over HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_004_denies_privileged_containers_with_gatekeepers_message() {
    let certs = support::certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "ns.yaml", NAMESPACES);
    let mut opts = options(&certs, state.path(), None);
    opts.constraints = vec![
        seed_004().join("template.yaml"),
        seed_004().join("constraint.yaml"),
    ];
    let server = start(opts).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();

    for (name, init) in [("privileged", false), ("privileged-init", true)] {
        let reply = client
            .review(
                "/validate",
                &pod_review(name, "default", "alice", pod(name, true, init)),
            )
            .await
            .json();
        let response = &reply["response"];
        assert_eq!(response["allowed"], false, "{reply}");
        assert_eq!(response["status"]["code"], 403, "{reply}");
        assert_eq!(response["status"]["reason"], "Forbidden", "{reply}");
        assert_eq!(
            response["status"]["message"],
            "[blockprivcontainers] Privileged container is not allowed: app, securityContext: {\"privileged\": true}",
            "{reply}"
        );
    }
    let reply = client
        .review(
            "/validate",
            &pod_review("ok", "default", "alice", pod("ok", false, false)),
        )
        .await
        .json();
    assert_eq!(reply["response"]["allowed"], true, "{reply}");

    // The seed's own Deployment: the constraint matches Pods only, and its `privileged` sits
    // at pod level, where no such field exists — so Gatekeeper (and podsec) admit it.
    // seed-deployment.yaml, as JSON.
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "nginxdeployment"}}, "replicas": 2,
            "template": {"metadata": {"labels": {"app": "nginxdeployment"}},
                "spec": {"containers": [{"name": "nginxdeployment", "image": "nginx:1.23.1",
                    "ports": [{"containerPort": 80}]}],
                    "securityContext": {"privileged": true}}}}});
    let reply = client
        .review(
            "/validate",
            &review(
                "d",
                ("apps", "v1", "deployments"),
                "Deployment",
                "CREATE",
                "default",
                "nginx-deployment",
                "alice",
                deployment,
                None,
            ),
        )
        .await
        .json();
    assert_eq!(reply["response"]["allowed"], true, "{reply}");

    let metrics = client.get("/metrics").await.text();
    assert!(
        metrics.contains(r#"podsec_constraint_evaluations_total{kind="blockprivcontainers",name="blockprivcontainers",engine="Rego"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"podsec_constraint_violations_total{kind="blockprivcontainers",name="blockprivcontainers",engine="Rego"} 2"#),
        "{metrics}"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

const TEMPLATE: &str = r#"apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sdisallowedtags
spec:
  crd:
    spec:
      names:
        kind: K8sDisallowedTags
      validation:
        openAPIV3Schema:
          type: object
          properties:
            tags:
              type: array
              items: {type: string}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8sdisallowedtags
      violation[{"msg": msg}] {
        c := input.review.object.spec.containers[_]
        tag := input.parameters.tags[_]
        endswith(c.image, concat(":", ["", tag]))
        msg := sprintf("container <%v> uses a disallowed tag <%v>", [c.name, tag])
      }
"#;

fn constraint(name: &str, action: &str, namespace_selector: &str) -> String {
    format!(
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sDisallowedTags\nmetadata:\n  name: {name}\nspec:\n  enforcementAction: {action}\n  match:\n    kinds: [{{apiGroups: [\"\"], kinds: [Pod]}}]\n{namespace_selector}  parameters:\n    tags: [latest]\n"
    )
}

fn latest_pod(namespace: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": namespace},
           "spec": {"containers": [{"name": "web", "image": "nginx:latest"}]}})
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_selectors_and_reload() {
    let certs = support::certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "ns.yaml", NAMESPACES);
    let policies = tempfile::tempdir().unwrap();
    write(policies.path(), "template.yaml", TEMPLATE);
    write(
        policies.path(),
        "c.yaml",
        &[
            constraint(
                "deny-team-a",
                "deny",
                "    namespaceSelector: {matchLabels: {team: a}}\n",
            ),
            constraint("warn-everywhere", "warn", ""),
            constraint("audit-only", "dryrun", ""),
        ]
        .join("---\n"),
    );
    let mut opts = options(&certs, state.path(), None);
    opts.constraints = vec![policies.path().to_path_buf()];
    let server = start(opts).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();

    // default: only the warn and dryrun constraints match.
    let reply = client
        .review(
            "/validate",
            &pod_review("1", "default", "u", latest_pod("default")),
        )
        .await
        .json();
    let response = &reply["response"];
    assert_eq!(response["allowed"], true, "{reply}");
    assert_eq!(
        response["warnings"],
        json!(["[warn-everywhere] container <web> uses a disallowed tag <latest>"]),
        "{reply}"
    );
    assert_eq!(
        response["auditAnnotations"]["constraint-dryrun-violations"],
        "[audit-only] container <web> uses a disallowed tag <latest>",
        "{reply}"
    );

    // team-a: its Namespace's labels select the deny constraint.
    let reply = client
        .review(
            "/validate",
            &pod_review("2", "team-a", "u", latest_pod("team-a")),
        )
        .await
        .json();
    assert_eq!(reply["response"]["allowed"], false, "{reply}");
    assert_eq!(
        reply["response"]["status"]["message"],
        "[deny-team-a] container <web> uses a disallowed tag <latest>",
        "{reply}"
    );

    // A broken template is refused and counted; the previous set stays in force.
    write(
        policies.path(),
        "template.yaml",
        &TEMPLATE.replace(
            "violation[{\"msg\": msg}] {",
            "violation[{\"msg\": msg}] {{",
        ),
    );
    let addr = server.addr;
    let ca = certs.ca_pem.clone();
    eventually("the refused reload to be counted", || {
        let ca = ca.clone();
        async move {
            let mut c = Client::connect(addr, &ca).await.unwrap();
            let text = c.get("/metrics").await.text();
            text.contains(r#"podsec_reloads_total{what="constraints",result="failure"} 1"#)
                && text.contains("podsec_constraint_load_errors 4")
        }
    })
    .await;
    let reply = client
        .review(
            "/validate",
            &pod_review("4", "team-a", "u", latest_pod("team-a")),
        )
        .await
        .json();
    assert_eq!(
        reply["response"]["allowed"], false,
        "the last good set stays: {reply}"
    );

    // Fixed, with the deny constraint gone: team-a is admitted (with the warning).
    write(policies.path(), "template.yaml", TEMPLATE);
    write(
        policies.path(),
        "c.yaml",
        &constraint("warn-everywhere", "warn", ""),
    );
    eventually("the new set", || {
        let ca = ca.clone();
        async move {
            let mut c = Client::connect(addr, &ca).await.unwrap();
            let reply = c
                .review(
                    "/validate",
                    &pod_review("5", "team-a", "u", latest_pod("team-a")),
                )
                .await
                .json();
            reply["response"]["allowed"] == true
        }
    })
    .await;
    let metrics = client.get("/metrics").await.text();
    assert!(
        metrics.contains("podsec_constraint_load_errors 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"podsec_reloads_total{what="constraints",result="success"}"#),
        "{metrics}"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// The API stand-in for `--constraints-from-api`: Namespaces (list and a quiet watch), the
/// ConstraintTemplate list and the constraints of its kind, as Gatekeeper's CRDs serve them
/// (items without apiVersion and kind), from a shared, changeable state.
struct GatekeeperApi {
    action: std::sync::Mutex<(&'static str, u32)>,
}

async fn gatekeeper_api(
    axum::extract::State(api): axum::extract::State<std::sync::Arc<GatekeeperApi>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = request.uri().path().to_string();
    let watch = request.uri().query().unwrap_or("").contains("watch=true");
    let list = |items: Vec<Value>| {
        json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items})
            .to_string()
            .into_response()
    };
    let strip = |mut v: Value| {
        if let Some(map) = v.as_object_mut() {
            map.remove("apiVersion");
            map.remove("kind");
        }
        v
    };
    match (path.as_str(), watch) {
        ("/api/v1/namespaces", true) => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            "".into_response()
        }
        ("/api/v1/namespaces", false) => list(vec![
            json!({"metadata": {"name": "default", "resourceVersion": "1"}}),
        ]),
        ("/api/v1/namespaces/default", false) => {
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
                .to_string()
                .into_response()
        }
        ("/apis/templates.gatekeeper.sh/v1/constrainttemplates", false) => {
            let template = podsec_manifest::decode(
                TEMPLATE.as_bytes(),
                podsec_manifest::Format::Yaml,
                &Default::default(),
            )
            .into_iter()
            .next()
            .unwrap()
            .unwrap()
            .value;
            list(vec![strip(template)])
        }
        ("/apis/constraints.gatekeeper.sh/v1beta1/k8sdisallowedtags", false) => {
            let (action, version) = *api.action.lock().unwrap();
            let text = constraint("no-latest", action, "");
            let mut c = podsec_manifest::decode(
                text.as_bytes(),
                podsec_manifest::Format::Yaml,
                &Default::default(),
            )
            .into_iter()
            .next()
            .unwrap()
            .unwrap()
            .value;
            c["metadata"]["resourceVersion"] = json!(version.to_string());
            list(vec![strip(c)])
        }
        _ => (axum::http::StatusCode::NOT_FOUND, "{}").into_response(),
    }
}

/// `--constraints-from-api`: templates and constraints read from the Kubernetes API (kube-rs
/// client, real HTTP to a loopback stand-in), enforced, and re-read when they change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_and_constraints_from_the_api_are_enforced_and_reloaded() {
    let api_state = std::sync::Arc::new(GatekeeperApi {
        action: std::sync::Mutex::new(("deny", 1)),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(gatekeeper_api)
        .with_state(std::sync::Arc::clone(&api_state));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let certs = support::certs();
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
    opts.constraints_from_api = true;
    let server = start(opts).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let start_wait = Instant::now();
    while client.get("/readyz").await.status != 200 {
        assert!(
            start_wait.elapsed() < Duration::from_secs(10),
            "never ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let reply = client
        .review(
            "/validate",
            &pod_review("1", "default", "u", latest_pod("default")),
        )
        .await
        .json();
    assert_eq!(reply["response"]["allowed"], false, "{reply}");
    assert_eq!(
        reply["response"]["status"]["message"],
        "[no-latest] container <web> uses a disallowed tag <latest>",
        "{reply}"
    );

    // The constraint turns to warn in the cluster: the next listing picks it up.
    *api_state.action.lock().unwrap() = ("warn", 2);
    let addr = server.addr;
    let ca = certs.ca_pem.clone();
    eventually("the constraint to turn to warn", || {
        let ca = ca.clone();
        async move {
            let mut c = Client::connect(addr, &ca).await.unwrap();
            let reply = c
                .review(
                    "/validate",
                    &pod_review("2", "default", "u", latest_pod("default")),
                )
                .await
                .json();
            reply["response"]["allowed"] == true
                && reply["response"]["warnings"]
                    == json!(["[no-latest] container <web> uses a disallowed tag <latest>"])
        }
    })
    .await;
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// A PodSecurityException waives a Gatekeeper constraint by `Kind/name` for the workloads it
/// names: the pod is admitted with a warning and the `constraint-exception` annotation; another
/// pod in the namespace is still denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_waives_a_constraint_for_the_workload_it_names() {
    let certs = support::certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "ns.yaml", NAMESPACES);
    write(
        state.path(),
        "exception.yaml",
        "apiVersion: podsec.dev/v1alpha1\nkind: PodSecurityException\nmetadata: {name: legacy, namespace: team-a}\nspec:\n  owner: team-a\n  reason: the legacy image is only published as latest\n  expires: \"2099-01-01T00:00:00Z\"\n  match:\n    workloads: [{kind: Pod, name: legacy}]\n  waive:\n  - constraint: K8sDisallowedTags/deny-*\n",
    );
    let policies = tempfile::tempdir().unwrap();
    write(policies.path(), "template.yaml", TEMPLATE);
    write(
        policies.path(),
        "c.yaml",
        &constraint(
            "deny-team-a",
            "deny",
            "    namespaceSelector: {matchLabels: {team: a}}\n",
        ),
    );
    let mut opts = options(&certs, state.path(), None);
    opts.constraints = vec![policies.path().to_path_buf()];
    let server = start(opts).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let named = |name: &str| {
        let mut pod = latest_pod("team-a");
        pod["metadata"]["name"] = json!(name);
        pod
    };
    let reply = client
        .review(
            "/validate",
            &pod_review("1", "team-a", "u", named("legacy")),
        )
        .await
        .json();
    assert_eq!(reply["response"]["allowed"], true, "{reply}");
    assert_eq!(
        reply["response"]["auditAnnotations"]["constraint-exception"], "team-a/legacy",
        "{reply}"
    );
    assert_eq!(
        reply["response"]["warnings"],
        json!(["Gatekeeper constraints waived by PodSecurityException team-a/legacy"]),
        "{reply}"
    );
    let reply = client
        .review("/validate", &pod_review("2", "team-a", "u", named("other")))
        .await
        .json();
    assert_eq!(reply["response"]["allowed"], false, "{reply}");
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}
