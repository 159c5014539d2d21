//! `runAsUser` (restricted, from v1.23): no explicit UID 0. From v1.35, pods in a user
//! namespace are exempt.

use super::{Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec};
use crate::text::containers_phrase;

pub(super) const VERSIONS: &[VersionedCheck] = &[
    VersionedCheck::since(23, run_as_user_1_23),
    VersionedCheck::since(35, run_as_user_1_35),
];

fn run_as_user_1_23(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut setters = Vec::new();
    let mut fields = Vec::new();
    if spec.security_context.as_ref().and_then(|sc| sc.run_as_user) == Some(0) {
        setters.push("pod".to_string());
        fields.push("spec.securityContext.runAsUser".to_string());
    }
    let mut names = Vec::new();
    for (path, c) in spec.containers_with_paths() {
        if c.security_context.as_ref().and_then(|sc| sc.run_as_user) == Some(0) {
            names.push(c.name.as_str());
            fields.push(path.field("securityContext.runAsUser"));
        }
    }
    if !names.is_empty() {
        setters.push(containers_phrase(&names));
    }
    (!setters.is_empty()).then(|| Forbidden {
        reason: "runAsUser=0".into(),
        detail: format!("{} must not set runAsUser=0", setters.join(" and ")),
        fields,
    })
}

fn run_as_user_1_35(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if spec.uses_user_namespace() {
        return None;
    }
    run_as_user_1_23(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pss::testing::{assert_allowed, assert_forbidden};
    use serde_json::json;

    #[test]
    fn allows_non_zero_and_unset() {
        assert_allowed(
            run_as_user_1_23,
            json!({"spec": {"securityContext": {"runAsUser": 1000}, "containers": [
            {"name": "a"}, {"name": "b", "securityContext": {"runAsUser": 1}}]}}),
        );
    }

    #[test]
    fn forbids_root() {
        assert_forbidden(
            run_as_user_1_23,
            json!({"spec": {"securityContext": {"runAsUser": 0}}}),
            "runAsUser=0",
            "pod must not set runAsUser=0",
        );
        assert_forbidden(
            run_as_user_1_23,
            json!({"spec": {"securityContext": {"runAsUser": 0}, "containers": [
                {"name": "a", "securityContext": {"runAsUser": 0}}, {"name": "b", "securityContext": {"runAsUser": 0}}]}}),
            "runAsUser=0",
            r#"pod and containers "a", "b" must not set runAsUser=0"#,
        );
        assert_forbidden(
            run_as_user_1_23,
            json!({"spec": {"initContainers": [{"name": "i", "securityContext": {"runAsUser": 0}}]}}),
            "runAsUser=0",
            r#"container "i" must not set runAsUser=0"#,
        );
    }

    #[test]
    fn user_namespaces_relax_from_1_35() {
        let pod = json!({"spec": {"hostUsers": false, "securityContext": {"runAsUser": 0}}});
        assert_allowed(run_as_user_1_35, pod.clone());
        assert_forbidden(
            run_as_user_1_23,
            pod,
            "runAsUser=0",
            "pod must not set runAsUser=0",
        );
    }

    #[test]
    fn cases_at_1_35() {
        assert_forbidden(
            run_as_user_1_35,
            json!({"spec": {"securityContext": {"runAsUser": 0}, "containers": [{"name": "a"}]}}),
            "runAsUser=0",
            "pod must not set runAsUser=0",
        );
        assert_allowed(
            run_as_user_1_35,
            json!({"spec": {"securityContext": {"runAsUser": 1000}, "containers": [{"name": "a"}]}}),
        );
        assert_allowed(
            run_as_user_1_35,
            json!({"spec": {"securityContext": {}, "containers": [{"name": "a"}]}}),
        );
        assert_forbidden(
            run_as_user_1_35,
            json!({"spec": {"securityContext": {"runAsUser": 1000}, "containers": [
                {"name": "a"},
                {"name": "b", "securityContext": {}},
                {"name": "c", "securityContext": {"runAsUser": 0}},
                {"name": "d", "securityContext": {"runAsUser": 0}},
                {"name": "e", "securityContext": {"runAsUser": 1}},
                {"name": "f", "securityContext": {"runAsUser": 1}}]}}),
            "runAsUser=0",
            r#"containers "c", "d" must not set runAsUser=0"#,
        );
        assert_allowed(
            run_as_user_1_35,
            json!({"spec": {"containers": [
                {"name": "c", "securityContext": {"runAsUser": 1}},
                {"name": "d", "securityContext": {"runAsUser": 2}},
                {"name": "e", "securityContext": {"runAsUser": 3}},
                {"name": "f", "securityContext": {"runAsUser": 4}}]}}),
        );
        assert_allowed(run_as_user_1_35, json!({"spec": {"hostUsers": false}}));
        assert_allowed(
            run_as_user_1_35,
            json!({"spec": {"hostUsers": false, "containers": [
                {"name": "a", "securityContext": {"runAsUser": 0}}]}}),
        );
    }
}
