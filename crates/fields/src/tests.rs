//! One case per common mistake, and no complaint about what kubectl itself writes.

use serde_json::{json, Value};

use super::*;

fn deployment(pod_spec: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "creationTimestamp": null},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "strategy": {},
                 "template": {"metadata": {"labels": {"app": "web"}, "creationTimestamp": null}, "spec": pod_spec}},
        "status": {}})
}

fn issues(object: &Value) -> Vec<(String, Option<String>)> {
    check(object)
        .into_iter()
        .map(|i| (i.message, i.suggestion))
        .collect()
}

#[test]
fn seed_004_privileged_in_the_pod_security_context() {
    let object = deployment(json!({
        "containers": [{"name": "nginxdeployment", "image": "nginx:1.23.1", "ports": [{"containerPort": 80}]}],
        "securityContext": {"privileged": true}}));
    assert_eq!(
        issues(&object),
        [(
            "unknown field \"spec.template.spec.securityContext.privileged\"".to_string(),
            Some("spec.template.spec.containers[0].securityContext.privileged".to_string())
        )]
    );
}

#[test]
fn one_case_per_common_mistake() {
    let cases: [(Value, &str, Option<&str>); 8] = [
        // A typo in securityContext itself.
        (
            json!({"containers": [{"name": "a", "image": "a", "securityContex": {"runAsNonRoot": true}}]}),
            "unknown field \"spec.template.spec.containers[0].securityContex\"",
            Some("spec.template.spec.containers[0].securityContext"),
        ),
        // The case of a field.
        (
            json!({"securityContext": {"runAsNonroot": true}, "containers": [{"name": "a", "image": "a"}]}),
            "unknown field \"spec.template.spec.securityContext.runAsNonroot\"",
            Some("spec.template.spec.securityContext.runAsNonRoot"),
        ),
        // drop: ALL as a string.
        (
            json!({"containers": [{"name": "a", "image": "a", "securityContext": {"capabilities": {"drop": "ALL"}}}]}),
            "spec.template.spec.containers[0].securityContext.capabilities.drop: expected a list, found a string (\"ALL\")",
            None,
        ),
        // seccompProfile under the container, not its securityContext.
        (
            json!({"containers": [{"name": "a", "image": "a", "seccompProfile": {"type": "RuntimeDefault"}}]}),
            "unknown field \"spec.template.spec.containers[0].seccompProfile\"",
            Some("spec.template.spec.containers[0].securityContext.seccompProfile"),
        ),
        // A pod-level field in the container's securityContext.
        (
            json!({"containers": [{"name": "a", "image": "a", "securityContext": {"fsGroup": 2000}}]}),
            "unknown field \"spec.template.spec.containers[0].securityContext.fsGroup\"",
            Some("spec.template.spec.securityContext.fsGroup"),
        ),
        // runAsNonRoot directly in the pod spec.
        (
            json!({"runAsNonRoot": true, "containers": [{"name": "a", "image": "a"}]}),
            "unknown field \"spec.template.spec.runAsNonRoot\"",
            Some("spec.template.spec.securityContext.runAsNonRoot"),
        ),
        // A quoted boolean.
        (
            json!({"containers": [{"name": "a", "image": "a", "securityContext": {"allowPrivilegeEscalation": "false"}}]}),
            "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation: expected a boolean, found a string (\"false\")",
            None,
        ),
        // hostNetwork under the container.
        (
            json!({"containers": [{"name": "a", "image": "a", "hostNetwork": true}]}),
            "unknown field \"spec.template.spec.containers[0].hostNetwork\"",
            None,
        ),
    ];
    for (spec, message, suggestion) in cases {
        let found = issues(&deployment(spec));
        assert_eq!(
            found,
            [(message.to_string(), suggestion.map(String::from))],
            "{message}"
        );
    }
}

#[test]
fn several_containers_are_named_in_the_suggestion() {
    let object = deployment(
        json!({"securityContext": {"allowPrivilegeEscalation": false},
        "containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]}),
    );
    assert_eq!(
        check(&object)[0].to_string(),
        "unknown field \"spec.template.spec.securityContext.allowPrivilegeEscalation\" (did you mean spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation, and in each of the 2 containers?)"
    );
}

#[test]
fn valid_objects_and_other_kinds_give_nothing() {
    let object = deployment(json!({
        "containers": [{"name": "a", "image": "a", "resources": {"limits": {"cpu": 1, "memory": "128Mi"}},
            "ports": [{"containerPort": 8080}], "livenessProbe": {"httpGet": {"port": "http", "path": "/"}},
            "securityContext": {"capabilities": {"drop": ["ALL"]}, "allowPrivilegeEscalation": false}}],
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "v", "emptyDir": {}}], "nodeSelector": {"disk": "ssd"}}));
    assert_eq!(issues(&object), []);
    assert_eq!(
        issues(&json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"x": 1}})),
        []
    );
    assert!(knows("batch/v1", "CronJob") && !knows("v1", "ConfigMap"));
}
