//! The request mix shared by the webhook benchmarks.

#![allow(dead_code)]

use serde_json::{json, Value};

/// `count` namespaces: a quarter each enforcing restricted, privileged, baseline with warn
/// and audit at restricted, and baseline pinned to v1.30.
pub fn namespaces(count: usize) -> String {
    let mut out = String::new();
    for i in 0..count {
        let labels = match i % 4 {
            0 => "pod-security.kubernetes.io/enforce: restricted".to_string(),
            1 => "pod-security.kubernetes.io/enforce: privileged".to_string(),
            2 => "pod-security.kubernetes.io/enforce: baseline\n    pod-security.kubernetes.io/warn: restricted\n    pod-security.kubernetes.io/audit: restricted".to_string(),
            _ => "pod-security.kubernetes.io/enforce: baseline\n    pod-security.kubernetes.io/enforce-version: v1.30".to_string(),
        };
        out.push_str(&format!("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-{i}\n  labels:\n    {labels}\n"));
    }
    out
}

pub fn review(
    uid: usize,
    resource: (&str, &str),
    kind: &str,
    namespace: &str,
    name: &str,
    object: Value,
) -> Vec<u8> {
    let (group, res) = resource;
    serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": format!("uid-{uid}"),
        "kind": {"group": group, "version": "v1", "kind": kind},
        "resource": {"group": group, "version": "v1", "resource": res},
        "requestKind": {"group": group, "version": "v1", "kind": kind},
        "requestResource": {"group": group, "version": "v1", "resource": res},
        "name": name, "namespace": namespace, "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller", "uid": "x", "groups": ["system:serviceaccounts", "system:authenticated"]},
        "object": object, "oldObject": null, "dryRun": false,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}}}))
    .unwrap_or_default()
}

/// The mixed workload: pods that pass, pods denied, privileged namespaces, warnings, a
/// Deployment; realistic sizes (labels, resources, probes, env).
pub fn workload(namespace_count: usize) -> Vec<Vec<u8>> {
    let pod = |name: &str, hardened: bool| {
        let mut container = json!({"name": "app", "image": "registry.example.com/team/app:1.2.3",
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "MODE", "value": "production"}, {"name": "LOG", "value": "json"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
            "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"});
        let mut pod_sc = json!({});
        if hardened {
            container["securityContext"] = json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": true});
            pod_sc = json!({"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}});
        }
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "generateName": "app-7d4b9c8f5-", "labels": {"app": "app", "pod-template-hash": "7d4b9c8f5"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app-7d4b9c8f5", "uid": "6f1e0c5e-1111-2222-3333-444455556666", "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"containers": [container], "securityContext": pod_sc, "serviceAccountName": "default",
                "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}]}}],
                "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler", "enableServiceLinks": true,
                "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]}})
    };
    let mut bodies = Vec::new();
    for i in 0..64 {
        let ns = |kind: usize| format!("ns-{}", (i * 4 + kind) % namespace_count);
        let body = match i % 6 {
            0 => review(
                i,
                ("", "pods"),
                "Pod",
                &ns(0),
                "app-hardened",
                pod("app-hardened", true),
            ),
            1 => review(
                i,
                ("", "pods"),
                "Pod",
                &ns(0),
                "app-plain",
                pod("app-plain", false),
            ),
            2 => review(
                i,
                ("", "pods"),
                "Pod",
                &ns(1),
                "app-plain",
                pod("app-plain", false),
            ),
            3 => review(
                i,
                ("", "pods"),
                "Pod",
                &ns(2),
                "app-plain",
                pod("app-plain", false),
            ),
            4 => review(
                i,
                ("", "pods"),
                "Pod",
                &ns(3),
                "app-hardened",
                pod("app-hardened", true),
            ),
            _ => {
                let template = pod("x", false);
                let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"},
                    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "app"}},
                        "template": {"metadata": {"labels": {"app": "app"}}, "spec": template["spec"]}}});
                review(
                    i,
                    ("apps", "deployments"),
                    "Deployment",
                    &ns(2),
                    "app",
                    deployment,
                )
            }
        };
        bodies.push(body);
    }
    bodies
}
