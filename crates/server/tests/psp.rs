//! PodSecurityPolicy over the real server: `POST /mutate` (the plugin's Admit, as a JSON
//! patch) and `POST /validate` (its Validate), on seed 000.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{apply, decode_patch, review, start, Client};

fn fixture(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cli/tests/fixtures/psp")
        .join(path)
}

/// Seed 000 with both policies, in one state directory.
fn seed_state() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "seed000/deny-all.yaml",
        "seed000/cluster.yaml",
        "seed000-allow/allow-all.yaml",
    ] {
        std::fs::copy(fixture(f), dir.path().join(f.replace('/', "-"))).unwrap();
    }
    dir
}

fn nginx() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx-01", "labels": {"run": "nginx-01"}},
        "spec": {"serviceAccountName": "default", "containers": [{"name": "nginx-01", "image": "nginx", "ports": [{"containerPort": 80}],
            "resources": {}, "terminationMessagePath": "/dev/termination-log"}], "restartPolicy": "Never"}})
}

fn pod_review(uid: &str, ns: &str, user: &str, groups: &[&str], pod: Value) -> Value {
    let mut r = review(
        uid,
        ("", "v1", "pods"),
        "Pod",
        "CREATE",
        ns,
        "nginx-01",
        user,
        pod,
        None,
    );
    r["request"]["userInfo"]["groups"] = json!(groups);
    r
}

async fn start_server(
    state: &std::path::Path,
    engines: podsec_admission::Engines,
) -> (podsec_server::RunningServer, support::Certs) {
    let certs = support::certs();
    let mut opts = support::options(&certs, state, None);
    opts.admission.engines = engines;
    (start(opts).await, certs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutate_returns_a_minimal_patch_that_yields_the_defaulted_pod() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["seed000/deny-all.yaml", "seed000/cluster.yaml"] {
        std::fs::copy(fixture(f), dir.path().join(f.replace('/', "-"))).unwrap();
    }
    let (server, certs) = start_server(dir.path(), podsec_admission::Engines::Psp).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let pod = nginx();
    let admin = pod_review(
        "m1",
        "default",
        "kubernetes-admin",
        &["system:masters", "system:authenticated"],
        pod.clone(),
    );
    let reply = client.review("/mutate", &admin).await.json();
    let response = &reply["response"];
    assert_eq!(response["allowed"], true, "{reply}");
    assert_eq!(
        response["auditAnnotations"],
        json!({"admit-policy": "deny-all"})
    );
    let patch = decode_patch(response).expect("deny-all sets defaults");
    let mutated = apply(&pod, &patch);
    assert_eq!(
        mutated["metadata"]["annotations"],
        json!({
        "kubernetes.io/psp": "deny-all",
        "seccomp.security.alpha.kubernetes.io/pod": "docker/default",
        "container.apparmor.security.beta.kubernetes.io/nginx-01": "runtime/default"})
    );
    assert_eq!(
        mutated["spec"]["securityContext"],
        json!({"fsGroup": 1, "supplementalGroups": [1]})
    );
    assert_eq!(
        mutated["spec"]["containers"][0]["securityContext"],
        json!({"runAsNonRoot": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}})
    );
    // Everything else of the input is untouched, unknown fields included.
    assert_eq!(
        mutated["spec"]["containers"][0]["terminationMessagePath"],
        "/dev/termination-log"
    );
    assert_eq!(mutated["metadata"]["labels"], pod["metadata"]["labels"]);
    assert!(patch.as_array().unwrap().len() <= 4, "minimal: {patch}");

    // The defaulted pod then passes validation, unchanged, by the policy it names.
    let validated = client
        .review(
            "/validate",
            &pod_review(
                "v1",
                "default",
                "kubernetes-admin",
                &["system:masters"],
                mutated,
            ),
        )
        .await
        .json();
    assert_eq!(validated["response"]["allowed"], true, "{validated}");
    assert_eq!(
        validated["response"]["auditAnnotations"],
        json!({"validate-policy": "deny-all"})
    );
    // The undefaulted pod does not: deny-all would have to change it.
    let raw = client
        .review(
            "/validate",
            &pod_review(
                "v2",
                "default",
                "kubernetes-admin",
                &["system:masters"],
                pod,
            ),
        )
        .await
        .json();
    assert_eq!(raw["response"]["allowed"], false);
    assert_eq!(
        raw["response"]["status"]["message"],
        "pods \"nginx-01\" is forbidden: PodSecurityPolicy: unable to validate pod: []"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_over_the_webhook() {
    let state = seed_state();
    let (server, certs) = start_server(state.path(), podsec_admission::Engines::Psp).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let denied = client
        .review(
            "/mutate",
            &pod_review("a", "default", "k8user", &["system:authenticated"], nginx()),
        )
        .await
        .json();
    assert_eq!(denied["response"]["allowed"], false);
    assert_eq!(denied["response"]["status"]["code"], 403);
    assert_eq!(
        denied["response"]["status"]["message"],
        "pods \"nginx-01\" is forbidden: PodSecurityPolicy: unable to admit pod: []"
    );

    let admitted = client
        .review(
            "/mutate",
            &pod_review("b", "dmz", "k8user", &["system:authenticated"], nginx()),
        )
        .await
        .json();
    let response = &admitted["response"];
    assert_eq!(response["allowed"], true);
    let patch = decode_patch(response).expect("the annotation is added");
    assert_eq!(
        patch,
        json!([{"op": "add", "path": "/metadata/annotations", "value": {"kubernetes.io/psp": "allow-all"}}]),
        "allow-all admits unchanged: only the annotation"
    );
    // A pod that already names its policy and needs nothing: no patch at all is impossible
    // on create (the annotation is rewritten only if it changes).
    let mut named = nginx();
    named["metadata"]["annotations"] = json!({"kubernetes.io/psp": "allow-all"});
    let again = client
        .review(
            "/mutate",
            &pod_review("c", "dmz", "k8user", &["system:authenticated"], named),
        )
        .await
        .json();
    assert!(
        again["response"].get("patch").is_none(),
        "no patch when nothing changes: {again}"
    );

    // PSS and PSP together: PSS (unlabelled namespaces: privileged) allows, PSP denies.
    server.shutdown(Duration::from_secs(5)).await.unwrap();
    let (server, certs) = start_server(state.path(), podsec_admission::Engines::Both).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let both = client
        .review(
            "/validate",
            &pod_review("d", "default", "k8user", &["system:authenticated"], nginx()),
        )
        .await
        .json();
    assert_eq!(both["response"]["allowed"], false);
    assert_eq!(
        both["response"]["status"]["message"],
        "pods \"nginx-01\" is forbidden: PodSecurityPolicy: unable to validate pod: []"
    );
    assert_eq!(
        both["response"]["auditAnnotations"]["enforce-policy"],
        "privileged:latest"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_can_come_from_their_own_directory() {
    // As with --in-cluster: cluster state from one source, policies and RBAC from --psp-state.
    let namespaces = tempfile::tempdir().unwrap();
    support::write(namespaces.path(), "ns.yaml", support::SEED_NAMESPACES);
    let policies = seed_state();
    let certs = support::certs();
    let mut opts = support::options(&certs, namespaces.path(), None);
    opts.admission.engines = podsec_admission::Engines::Psp;
    opts.psp_state = Some(policies.path().to_path_buf());
    let server = start(opts).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let r = client
        .review(
            "/mutate",
            &pod_review("x", "dmz", "k8user", &["system:authenticated"], nginx()),
        )
        .await
        .json();
    assert_eq!(r["response"]["allowed"], true, "{r}");
    assert_eq!(
        r["response"]["auditAnnotations"]["admit-policy"],
        "allow-all"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_002_and_003_over_the_webhook() {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "seed002/eks.yaml",
        "seed002/example.yaml",
        "seed003/unprivileged.yaml",
    ] {
        std::fs::copy(fixture(f), dir.path().join(f.replace('/', "-"))).unwrap();
    }
    let (server, certs) = start_server(dir.path(), podsec_admission::Engines::Psp).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let privileged = |name: &str, ns: &str, sa: &str| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"serviceAccountName": sa, "containers": [{"name": "c", "image": "pause", "securityContext": {"privileged": true}}]}})
    };
    // Seed 002: on EKS every authenticated user may use eks.privileged.
    let mut r = pod_review(
        "e",
        "app-test",
        "system:serviceaccount:kube-system:replicaset-controller",
        &["system:serviceaccounts", "system:authenticated"],
        privileged("p", "app-test", "app"),
    );
    r["request"]["name"] = json!("p");
    let reply = client.review("/mutate", &r).await.json();
    assert_eq!(
        reply["response"]["auditAnnotations"]["admit-policy"], "eks.privileged",
        "{reply}"
    );
    // Seed 003: created as the service account in `team`, where only `unprivileged` is usable.
    let mut r = pod_review(
        "t",
        "team",
        "system:serviceaccount:team:builder",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:team",
            "system:authenticated",
        ],
        privileged("privileged", "team", "default"),
    );
    r["request"]["name"] = json!("privileged");
    let reply = client.review("/mutate", &r).await.json();
    // eks.privileged is usable by every authenticated user here too: the seed 002 pitfall.
    assert_eq!(
        reply["response"]["auditAnnotations"]["admit-policy"],
        "eks.privileged"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();

    // Without the EKS policy (seed 003's cluster), the privileged pod is rejected.
    std::fs::remove_file(dir.path().join("seed002-eks.yaml")).unwrap();
    let (server, certs) = start_server(dir.path(), podsec_admission::Engines::Psp).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let reply = client.review("/mutate", &r).await.json();
    assert_eq!(reply["response"]["allowed"], false);
    assert_eq!(reply["response"]["status"]["message"], "pods \"privileged\" is forbidden: PodSecurityPolicy: unable to admit pod: [spec.containers[0].securityContext.privileged: Invalid value: true: Privileged containers are not allowed]");
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}
