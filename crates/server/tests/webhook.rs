//! The real server on a loopback port, over TLS, answering the AdmissionReviews a
//! kube-apiserver would send.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{
    certs, nginx_pod, options, pod_review, review, start, write, Client, SEED_NAMESPACES,
};

const RESTRICTED_NGINX: &str = concat!(
    r#"violates PodSecurity "restricted:latest": "#,
    r#"allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), "#,
    r#"unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), "#,
    r#"runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), "#,
    r#"seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
);

fn response(reply: &support::Reply) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.content_type, "application/json");
    let review = reply.json();
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(review["kind"], "AdmissionReview");
    review["response"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_scenario_over_tls() {
    let certs = certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "namespaces.yaml", SEED_NAMESPACES);
    let server = start(options(&certs, state.path(), None)).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();

    let denied = response(
        &client
            .review(
                "/validate?timeout=10s",
                &pod_review("uid-default", "default", "k8user", nginx_pod("nginx")),
            )
            .await,
    );
    assert_eq!(denied["uid"], "uid-default");
    assert_eq!(denied["allowed"], false);
    assert_eq!(denied["status"]["code"], 403);
    assert_eq!(denied["status"]["reason"], "Forbidden");
    assert_eq!(
        denied["status"]["message"],
        format!("pods \"nginx\" is forbidden: {RESTRICTED_NGINX}")
    );
    assert_eq!(
        denied["auditAnnotations"],
        json!({"enforce-policy": "restricted:latest"})
    );

    let allowed = response(
        &client
            .review(
                "/",
                &pod_review("uid-dmz", "dmz", "k8user", nginx_pod("nginx")),
            )
            .await,
    );
    assert_eq!(allowed["uid"], "uid-dmz");
    assert_eq!(allowed["allowed"], true);
    assert_eq!(
        allowed["auditAnnotations"],
        json!({"enforce-policy": "privileged:latest"})
    );
    assert!(allowed.get("warnings").is_none());

    // Any path other than the health and metrics routes takes reviews, like upstream.
    let other = response(
        &client
            .review(
                "/anything/else",
                &pod_review("uid-3", "dmz", "k8user", nginx_pod("nginx")),
            )
            .await,
    );
    assert_eq!(other["allowed"], true);

    let metrics = client.get("/metrics").await.text();
    assert!(metrics.contains(r#"pod_security_evaluations_total{decision="deny",policy_level="restricted",policy_version="latest",mode="enforce",request_operation="create",resource="pod",subresource=""} 1"#), "{metrics}");
    assert!(metrics.contains(r#"pod_security_evaluations_total{decision="allow",policy_level="privileged",policy_version="latest",mode="enforce",request_operation="create",resource="pod",subresource=""} 2"#), "{metrics}");
    assert!(
        metrics.contains("podsec_admission_duration_seconds_count 3"),
        "{metrics}"
    );
    assert_eq!(client.get("/healthz").await.status, 200);
    assert_eq!(client.get("/readyz").await.status, 200);
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// With PSS alone nothing mutates: `POST /mutate` must answer as `/validate` does (a
/// mutating webhook pointed at podsec must never allow what validation denies), and is
/// counted in the metrics like it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pss_mode_mutate_decides_like_validate() {
    let certs = certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "namespaces.yaml", SEED_NAMESPACES);
    let server = start(options(&certs, state.path(), None)).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let review = pod_review("uid-m", "default", "k8user", nginx_pod("nginx"));
    let mutated = response(&client.review("/mutate", &review).await);
    let validated = response(&client.review("/validate", &review).await);
    assert_eq!(mutated["allowed"], false);
    assert_eq!(
        mutated["status"]["message"],
        format!("pods \"nginx\" is forbidden: {RESTRICTED_NGINX}")
    );
    assert!(mutated.get("patch").is_none());
    assert_eq!(mutated, validated);
    let metrics = client.get("/metrics").await.text();
    assert!(metrics.contains(r#"pod_security_evaluations_total{decision="deny",policy_level="restricted",policy_version="latest",mode="enforce",request_operation="create",resource="pod",subresource=""} 2"#), "{metrics}");
    // Upstream's help texts, each ending in exactly one full stop.
    assert!(metrics.contains("# HELP pod_security_evaluations Number of policy evaluations that occurred, not counting ignored or exempt requests.\n"), "{metrics}");
    let help: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("# HELP"))
        .collect();
    assert!(help.len() >= 3, "{metrics}");
    assert!(
        help.iter().all(|l| l.ends_with('.') && !l.ends_with("..")),
        "{help:#?}"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warn_and_audit_combinations_and_v1beta1() {
    let certs = certs();
    let state = tempfile::tempdir().unwrap();
    write(
        state.path(),
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n  labels:\n    pod-security.kubernetes.io/enforce: baseline\n    pod-security.kubernetes.io/audit: restricted\n    pod-security.kubernetes.io/warn: restricted\n    pod-security.kubernetes.io/warn-version: v1.99\n",
    );
    let server = start(options(&certs, state.path(), None)).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let r = response(
        &client
            .review(
                "/validate",
                &pod_review("u1", "team", "alice", nginx_pod("nginx")),
            )
            .await,
    );
    assert_eq!(r["allowed"], true);
    let restricted_checks = concat!(
        r#"allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), "#,
        r#"unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), "#,
        r#"runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), "#,
        r#"seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
    );
    assert_eq!(
        r["warnings"],
        json!([format!(
            r#"would violate PodSecurity "restricted:v1.99": {restricted_checks}"#
        )])
    );
    assert_eq!(r["auditAnnotations"]["enforce-policy"], "baseline:latest");
    assert_eq!(
        r["auditAnnotations"]["audit-violations"],
        format!(r#"would violate PodSecurity "restricted:latest": {restricted_checks}"#)
    );

    // A baseline violation is denied; the denial carries no warning.
    let mut privileged = nginx_pod("priv");
    privileged["spec"]["containers"][0]["securityContext"] = json!({"privileged": true});
    let r = response(
        &client
            .review("/validate", &pod_review("u2", "team", "alice", privileged))
            .await,
    );
    assert_eq!(r["allowed"], false);
    assert_eq!(
        r["status"]["message"],
        r#"pods "priv" is forbidden: violates PodSecurity "baseline:latest": privileged (container "nginx" must not set securityContext.privileged=true)"#
    );
    assert!(r.get("warnings").is_none());

    // v1beta1 in, v1beta1 out.
    let mut beta = pod_review("u3", "team", "alice", nginx_pod("nginx"));
    beta["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let reply = client.review("/validate", &beta).await;
    assert_eq!(reply.status, 200);
    let out = reply.json();
    assert_eq!(out["apiVersion"], "admission.k8s.io/v1beta1");
    assert_eq!(out["response"]["uid"], "u3");
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exempt_user_namespace_relabel_and_templates() {
    let certs = certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "namespaces.yaml", SEED_NAMESPACES);
    // Existing pods in dmz, for the relabel dry run: two replicas of one ReplicaSet and one
    // bare pod, all violating restricted; one hardened pod.
    let mut pods = String::new();
    for (name, owner) in [
        ("web-1", Some("rs-1")),
        ("web-2", Some("rs-1")),
        ("debug", None),
    ] {
        let owner = owner.map(|uid| format!("  ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: web, uid: {uid}, controller: true}}]\n")).unwrap_or_default();
        pods.push_str(&format!("---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: dmz\n{owner}spec:\n  containers: [{{name: c, image: nginx}}]\n"));
    }
    pods.push_str("---\napiVersion: v1\nkind: Pod\nmetadata: {name: hardened, namespace: dmz}\nspec:\n  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n  containers: [{name: c, image: x, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}]\n");
    write(state.path(), "pods.yaml", &pods);
    let config = write(
        state.path(),
        "podsecurity.config",
        "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\nexemptions:\n  usernames: [system:serviceaccount:kube-system:replicaset-controller]\n",
    );
    let mut opts = options(&certs, state.path(), Some(config));
    opts.admission.enforce_templates = true;
    let server = start(opts).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();

    let r = response(
        &client
            .review(
                "/validate",
                &pod_review(
                    "u1",
                    "default",
                    "system:serviceaccount:kube-system:replicaset-controller",
                    nginx_pod("nginx"),
                ),
            )
            .await,
    );
    assert_eq!(r["allowed"], true);
    assert_eq!(r["auditAnnotations"], json!({"exempt": "user"}));

    let ns = |labels: Value| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dmz", "labels": labels}});
    let relabel = review(
        "u2",
        ("", "v1", "namespaces"),
        "Namespace",
        "UPDATE",
        "dmz",
        "dmz",
        "admin",
        ns(json!({"pod-security.kubernetes.io/enforce": "restricted"})),
        Some(ns(
            json!({"pod-security.kubernetes.io/enforce": "privileged"}),
        )),
    );
    let r = response(&client.review("/validate?timeout=5s", &relabel).await);
    assert_eq!(r["allowed"], true);
    assert_eq!(r["warnings"], json!([
        "existing pods in namespace \"dmz\" violate the new PodSecurity enforce level \"restricted:latest\"",
        "debug (and 2 other pods): allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile",
    ]));

    let invalid = review(
        "u3",
        ("", "v1", "namespaces"),
        "Namespace",
        "CREATE",
        "x",
        "x",
        "admin",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "labels": {"pod-security.kubernetes.io/enforce": "bogus"}}}),
        None,
    );
    let r = response(&client.review("/validate", &invalid).await);
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 422);
    assert_eq!(
        r["status"]["message"],
        r#"Namespace "x" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "bogus": must be one of privileged, baseline, restricted"#
    );

    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}});
    let r = response(
        &client
            .review(
                "/validate",
                &review(
                    "u4",
                    ("apps", "v1", "deployments"),
                    "Deployment",
                    "CREATE",
                    "default",
                    "web",
                    "alice",
                    deployment.clone(),
                    None,
                ),
            )
            .await,
    );
    assert_eq!(
        r["allowed"], false,
        "--enforce-templates denies the Deployment"
    );
    assert_eq!(
        r["status"]["message"],
        format!("deployments.apps \"web\" is forbidden: {RESTRICTED_NGINX}")
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();

    // Without --enforce-templates, upstream behaviour: a warning, allowed.
    let server = start(options(&certs, state.path(), None)).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let r = response(
        &client
            .review(
                "/validate",
                &review(
                    "u5",
                    ("apps", "v1", "deployments"),
                    "Deployment",
                    "CREATE",
                    "default",
                    "web",
                    "alice",
                    deployment,
                    None,
                ),
            )
            .await,
    );
    assert_eq!(r["allowed"], true);
    assert_eq!(
        r["warnings"],
        json!([format!(
            "would {}",
            RESTRICTED_NGINX.replacen("violates", "violate", 1)
        )])
    );
    assert!(r["auditAnnotations"].get("enforce-policy").is_none());
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_http_error_path_answers_clearly_and_the_server_keeps_serving() {
    let certs = certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "namespaces.yaml", SEED_NAMESPACES);
    let server = start(options(&certs, state.path(), None)).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let valid = serde_json::to_vec(&pod_review("ok", "dmz", "u", nginx_pod("nginx"))).unwrap();

    // (case, content type, body, expected status, expected body)
    type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, String);
    let cases: Vec<Case> = vec![
        ("oversized", Some("application/json"), vec![b' '; podsec_server::MAX_REQUEST_BYTES], 413, "request entity is too large; limit is 3145728 bytes\n".into()),
        ("empty", Some("application/json"), Vec::new(), 400, "request body is empty\n".into()),
        ("wrong content type", Some("application/yaml"), valid.clone(), 400, "unable to process a request with a non-json content type\n".into()),
        ("no content type", None, valid.clone(), 400, "unable to process a request with a non-json content type\n".into()),
        ("malformed JSON", Some("application/json"), b"{\"apiVersion\": ".to_vec(), 400, "unable to decode the request: EOF while parsing a value at line 1 column 15\n".into()),
        ("wrong kind", Some("application/json"), br#"{"apiVersion":"v1","kind":"Pod"}"#.to_vec(), 400, "unexpected AdmissionReview kind: found apiVersion \"v1\", kind \"Pod\"; expected apiVersion admission.k8s.io/v1 (or v1beta1) and kind AdmissionReview\n".into()),
        ("missing UID", Some("application/json"), br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}"#.to_vec(), 400, "unable to decode the request: missing field `uid` at line 1 column 93\n".into()),
        ("empty UID", Some("application/json"), br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"","operation":"CREATE"}}"#.to_vec(), 400, "the AdmissionReview request has no uid\n".into()),
        ("no request", Some("application/json"), br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(), 400, "the AdmissionReview has no request\n".into()),
    ];
    for (name, content_type, body, status, text) in cases {
        let reply = client
            .request("POST", "/validate", content_type, body)
            .await;
        assert_eq!(reply.status, status, "{name}: {}", reply.text());
        assert_eq!(reply.text(), text, "{name}");
        // The server still answers a valid review on the same connection.
        let ok = client
            .request("POST", "/validate", Some("application/json"), valid.clone())
            .await;
        assert_eq!(ok.status, 200, "after {name}");
        assert_eq!(ok.json()["response"]["uid"], "ok");
    }
    // Just under the limit is read (and, being blank, is not JSON).
    let reply = client
        .request(
            "POST",
            "/validate",
            Some("application/json"),
            vec![b' '; podsec_server::MAX_REQUEST_BYTES - 1],
        )
        .await;
    assert_eq!(reply.status, 400);
    let metrics = client.get("/metrics").await.text();
    assert!(
        metrics.contains(r#"podsec_http_responses_total{code="413"} 1"#),
        "{metrics}"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_endpoint_parses_and_allows() {
    let certs = certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "namespaces.yaml", SEED_NAMESPACES);
    let server = start(options(&certs, state.path(), None)).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let r = response(
        &client
            .review(
                "/null",
                &pod_review("n1", "default", "u", nginx_pod("nginx")),
            )
            .await,
    );
    assert_eq!(
        (r["uid"].as_str(), r["allowed"].as_bool()),
        (Some("n1"), Some(true))
    );
    assert_eq!(
        client
            .request("POST", "/null", Some("application/json"), b"{".to_vec())
            .await
            .status,
        400
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}
