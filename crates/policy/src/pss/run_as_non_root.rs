//! `runAsNonRoot` (restricted): containers must be required to run as a non-root user, set on
//! the pod or on each container. From v1.35, pods in a user namespace are exempt.

use super::{Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec};
use crate::text::containers_phrase;

pub(super) const VERSIONS: &[VersionedCheck] = &[
    VersionedCheck::since(0, run_as_non_root_1_0),
    VersionedCheck::since(35, run_as_non_root_1_35),
];

fn run_as_non_root_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut setters = Vec::new();
    let mut explicit_fields = Vec::new();
    let pod_value = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.run_as_non_root);
    if pod_value == Some(false) {
        setters.push("pod".to_string());
        explicit_fields.push("spec.securityContext.runAsNonRoot".to_string());
    }
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    let mut implicit_fields = Vec::new();
    for (path, c) in spec.containers_with_paths() {
        match c
            .security_context
            .as_ref()
            .and_then(|sc| sc.run_as_non_root)
        {
            Some(false) => {
                explicit.push(c.name.as_str());
                explicit_fields.push(path.field("securityContext.runAsNonRoot"));
            }
            Some(true) => {}
            None if pod_value != Some(true) => {
                implicit.push(c.name.as_str());
                implicit_fields.push(path.field("securityContext.runAsNonRoot"));
            }
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    if !setters.is_empty() {
        return Some(Forbidden {
            reason: "runAsNonRoot != true".into(),
            detail: format!(
                "{} must not set securityContext.runAsNonRoot=false",
                setters.join(" and ")
            ),
            fields: explicit_fields,
        });
    }
    (!implicit.is_empty()).then(|| Forbidden {
        reason: "runAsNonRoot != true".into(),
        detail: format!(
            "pod or {} must set securityContext.runAsNonRoot=true",
            containers_phrase(&implicit)
        ),
        fields: implicit_fields,
    })
}

fn run_as_non_root_1_35(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if spec.uses_user_namespace() {
        return None;
    }
    run_as_non_root_1_0(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pss::testing::{assert_allowed, assert_forbidden};
    use serde_json::json;

    #[test]
    fn pod_or_every_container_true() {
        assert_allowed(
            run_as_non_root_1_0,
            json!({"spec": {"securityContext": {"runAsNonRoot": true}, "containers": [{"name": "a"}]}}),
        );
        assert_allowed(
            run_as_non_root_1_0,
            json!({"spec": {"containers": [{"name": "a", "securityContext": {"runAsNonRoot": true}}]}}),
        );
    }

    #[test]
    fn explicit_false_takes_precedence() {
        assert_forbidden(
            run_as_non_root_1_0,
            json!({"spec": {"securityContext": {"runAsNonRoot": false}, "containers": [{"name": "a"}]}}),
            "runAsNonRoot != true",
            "pod must not set securityContext.runAsNonRoot=false",
        );
        assert_forbidden(
            run_as_non_root_1_0,
            json!({"spec": {"securityContext": {"runAsNonRoot": false}, "containers": [
                {"name": "a", "securityContext": {"runAsNonRoot": false}},
                {"name": "b", "securityContext": {"runAsNonRoot": false}},
                {"name": "c"}]}}),
            "runAsNonRoot != true",
            r#"pod and containers "a", "b" must not set securityContext.runAsNonRoot=false"#,
        );
        assert_forbidden(
            run_as_non_root_1_0,
            json!({"spec": {"securityContext": {"runAsNonRoot": true}, "containers": [
                {"name": "a", "securityContext": {"runAsNonRoot": false}}]}}),
            "runAsNonRoot != true",
            r#"container "a" must not set securityContext.runAsNonRoot=false"#,
        );
    }

    #[test]
    fn unset_everywhere() {
        let f = assert_forbidden(
            run_as_non_root_1_0,
            json!({"spec": {"containers": [{"name": "a"}, {"name": "b", "securityContext": {"runAsNonRoot": true}}, {"name": "c"}]}}),
            "runAsNonRoot != true",
            r#"pod or containers "a", "c" must set securityContext.runAsNonRoot=true"#,
        );
        assert_eq!(
            f.fields,
            [
                "spec.containers[0].securityContext.runAsNonRoot",
                "spec.containers[2].securityContext.runAsNonRoot"
            ]
        );
    }

    #[test]
    fn user_namespaces_relax_from_1_35() {
        let pod = json!({"spec": {"hostUsers": false, "containers": [{"name": "a"}]}});
        assert_allowed(run_as_non_root_1_35, pod.clone());
        assert_forbidden(
            run_as_non_root_1_0,
            pod,
            "runAsNonRoot != true",
            r#"pod or container "a" must set securityContext.runAsNonRoot=true"#,
        );
    }

    #[test]
    fn cases_at_1_35() {
        let reason = "runAsNonRoot != true";
        assert_forbidden(
            run_as_non_root_1_35,
            json!({"spec": {"containers": [{"name": "a"}]}}),
            reason,
            r#"pod or container "a" must set securityContext.runAsNonRoot=true"#,
        );
        assert_forbidden(
            run_as_non_root_1_35,
            json!({"spec": {"securityContext": {"runAsNonRoot": false}, "containers": [{"name": "a"}]}}),
            reason,
            "pod must not set securityContext.runAsNonRoot=false",
        );
        assert_forbidden(
            run_as_non_root_1_35,
            json!({"spec": {"securityContext": {"runAsNonRoot": true}, "containers": [
                {"name": "a"},
                {"name": "b", "securityContext": {}},
                {"name": "c", "securityContext": {"runAsNonRoot": false}},
                {"name": "d", "securityContext": {"runAsNonRoot": false}},
                {"name": "e", "securityContext": {"runAsNonRoot": true}},
                {"name": "f", "securityContext": {"runAsNonRoot": true}}]}}),
            reason,
            r#"containers "c", "d" must not set securityContext.runAsNonRoot=false"#,
        );
        assert_forbidden(
            run_as_non_root_1_35,
            json!({"spec": {"containers": [
                {"name": "a"},
                {"name": "b", "securityContext": {}},
                {"name": "d", "securityContext": {"runAsNonRoot": true}},
                {"name": "e", "securityContext": {"runAsNonRoot": true}}]}}),
            reason,
            r#"pod or containers "a", "b" must set securityContext.runAsNonRoot=true"#,
        );
        assert_allowed(run_as_non_root_1_35, json!({"spec": {"hostUsers": false}}));
        assert_allowed(
            run_as_non_root_1_35,
            json!({"spec": {"hostUsers": false, "securityContext": {"runAsNonRoot": false},
                "containers": [{"name": "a", "securityContext": {"runAsNonRoot": false}}]}}),
        );
    }
}
