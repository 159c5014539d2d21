//! Opt-in secure defaults over the real server: `POST /mutate` in a namespace labelled
//! `podsec.dev/default-security-context` answers a minimal JSON patch; applied with an
//! independent JSON-patch implementation it gives a pod that passes the level (the validating
//! webhook admits it), leaves the author's values alone, and is absent when nothing is missing
//! or the namespace did not ask.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod support;

use serde_json::{json, Value};
use support::*;

const NAMESPACES: &str = "
apiVersion: v1
kind: Namespace
metadata:
  name: secure
  labels:
    pod-security.kubernetes.io/enforce: restricted
    podsec.dev/default-security-context: restricted
---
apiVersion: v1
kind: Namespace
metadata:
  name: base
  labels:
    pod-security.kubernetes.io/enforce: baseline
    podsec.dev/default-security-context: baseline
---
apiVersion: v1
kind: Namespace
metadata:
  name: plain
---
apiVersion: v1
kind: Namespace
metadata:
  name: typo
  labels:
    podsec.dev/default-security-context: restricted-ish
";

fn nginx(namespace: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": namespace},
        "spec": {"containers": [{"name": "nginx", "image": "nginx"}],
                 "initContainers": [{"name": "init", "image": "busybox"}]}})
}

async fn call(client: &mut Client, path: &str, pod: Value) -> Value {
    let namespace = pod["metadata"]["namespace"].as_str().unwrap().to_string();
    client
        .review(path, &pod_review("1", &namespace, "alice", pod))
        .await
        .json()["response"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutate_adds_the_missing_settings_and_nothing_else() {
    let certs = certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "namespaces.yaml", NAMESPACES);
    let server = start(options(&certs, state.path(), None)).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();

    // Without defaults the pod is refused at restricted.
    let validated = call(&mut client, "/validate", nginx("secure")).await;
    assert_eq!(validated["allowed"], false, "{validated}");

    let mutated = call(&mut client, "/mutate", nginx("secure")).await;
    assert_eq!(mutated["allowed"], true, "{mutated}");
    let patch = decode_patch(&mutated).expect("a patch");
    assert_eq!(
        patch,
        json!([
            {"op": "add", "path": "/spec/securityContext", "value": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}}},
            {"op": "add", "path": "/spec/initContainers/0/securityContext", "value": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}},
            {"op": "add", "path": "/spec/containers/0/securityContext", "value": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}},
        ])
    );
    assert_eq!(
        mutated["auditAnnotations"]["defaulted"],
        "spec.securityContext.runAsNonRoot=true, spec.securityContext.seccompProfile.type=\"RuntimeDefault\", spec.initContainers[0].securityContext.allowPrivilegeEscalation=false, spec.initContainers[0].securityContext.capabilities.drop=[\"ALL\"], spec.containers[0].securityContext.allowPrivilegeEscalation=false, spec.containers[0].securityContext.capabilities.drop=[\"ALL\"]"
    );
    // The patched pod, as the API server stores it, passes validation.
    let patched = apply(&nginx("secure"), &patch);
    let revalidated = call(&mut client, "/validate", patched.clone()).await;
    assert_eq!(revalidated["allowed"], true, "{revalidated}");
    // Nothing missing: no patch (reinvocation changes nothing).
    let again = call(&mut client, "/mutate", patched).await;
    assert_eq!(again["allowed"], true);
    assert!(again.get("patch").is_none(), "{again}");

    // The author's values stay: runAsUser, a Localhost seccomp profile, an added capability.
    let mut own = nginx("secure");
    own["spec"]["securityContext"] = json!({"runAsUser": 1000, "seccompProfile": {"type": "Localhost", "localhostProfile": "web.json"}});
    own["spec"]["containers"][0]["securityContext"] =
        json!({"capabilities": {"add": ["NET_BIND_SERVICE"]}});
    let mutated = call(&mut client, "/mutate", own.clone()).await;
    assert_eq!(mutated["allowed"], true, "{mutated}");
    let patched = apply(&own, &decode_patch(&mutated).unwrap());
    assert_eq!(
        patched["spec"]["securityContext"],
        json!({"runAsUser": 1000, "runAsNonRoot": true, "seccompProfile": {"type": "Localhost", "localhostProfile": "web.json"}})
    );
    assert_eq!(
        patched["spec"]["containers"][0]["securityContext"],
        json!({"allowPrivilegeEscalation": false, "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}})
    );

    // A value set against the level is not overridden: the mutated pod is still refused.
    let mut escalating = nginx("secure");
    escalating["spec"]["containers"][0]["securityContext"] =
        json!({"allowPrivilegeEscalation": true});
    let refused = call(&mut client, "/mutate", escalating).await;
    assert_eq!(refused["allowed"], false, "{refused}");
    assert!(refused.get("patch").is_none());
    assert!(
        refused["status"]["message"]
            .as_str()
            .unwrap()
            .contains("allowPrivilegeEscalation != false"),
        "{refused}"
    );

    // baseline asks only for the runtime's seccomp profile.
    let base = call(&mut client, "/mutate", nginx("base")).await;
    assert_eq!(
        decode_patch(&base).unwrap(),
        json!([{"op": "add", "path": "/spec/securityContext", "value": {"seccompProfile": {"type": "RuntimeDefault"}}}])
    );

    // No label: untouched.
    let plain = call(&mut client, "/mutate", nginx("plain")).await;
    assert_eq!(plain["allowed"], true);
    assert!(plain.get("patch").is_none(), "{plain}");
    // A label value that is not a level: untouched, and said so in the audit log.
    let typo = call(&mut client, "/mutate", nginx("typo")).await;
    assert!(typo.get("patch").is_none(), "{typo}");
    assert_eq!(
        typo["auditAnnotations"]["error"],
        "invalid podsec.dev/default-security-context \"restricted-ish\": must be restricted or baseline; no defaults applied"
    );
}

/// `--field-warnings`: a review posted directly (not through kube-apiserver, which drops
/// unknown fields before admission) gets a warning for a misplaced field; the verdict stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_warnings_for_reviews_posted_directly() {
    let certs = certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "namespaces.yaml", NAMESPACES);
    let mut opts = options(&certs, state.path(), None);
    opts.admission.field_warnings = true;
    let server = start(opts).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let mut pod = nginx("plain");
    pod["spec"]["securityContext"] = json!({"privileged": true});
    let response = call(&mut client, "/validate", pod).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        response["warnings"],
        json!(["unknown field \"spec.securityContext.privileged\" (did you mean spec.containers[0].securityContext.privileged?)"])
    );
}
