//! `seccompProfile_restricted` (restricted, from v1.19): every container must run with
//! RuntimeDefault or a Localhost profile, set on the pod or on the container. Windows pods are
//! exempt from v1.25. Replaces `seccompProfile_baseline` under restricted.

use super::seccomp_profile_baseline::valid_type;
use super::{CheckId, Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec};
use crate::text::{containers_phrase, join_quote, SortedSet};

pub(super) const VERSIONS: &[VersionedCheck] = &[
    VersionedCheck::since(19, seccomp_profile_restricted_1_19)
        .overriding(&[CheckId::SeccompProfileBaseline]),
    VersionedCheck::since(25, seccomp_profile_restricted_1_25)
        .overriding(&[CheckId::SeccompProfileBaseline]),
];

fn seccomp_profile_restricted_1_19(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut setters = Vec::new();
    let mut bad_types = SortedSet::new();
    let mut explicit_fields = Vec::new();
    let mut pod_sets_valid_profile = false;
    if let Some(p) = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.seccomp_profile.as_ref())
    {
        if valid_type(p) {
            pod_sets_valid_profile = true;
        } else {
            // An invalid pod-level value does not cover containers either.
            setters.push("pod".to_string());
            bad_types.insert(p.type_.clone());
            explicit_fields.push("spec.securityContext.seccompProfile.type".to_string());
        }
    }
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    let mut implicit_fields = Vec::new();
    for (path, c) in spec.containers_with_paths() {
        match c
            .security_context
            .as_ref()
            .and_then(|sc| sc.seccomp_profile.as_ref())
        {
            Some(p) if !valid_type(p) => {
                explicit.push(c.name.as_str());
                bad_types.insert(p.type_.clone());
                explicit_fields.push(path.field("securityContext.seccompProfile.type"));
            }
            Some(_) => {}
            None if !pod_sets_valid_profile => {
                implicit.push(c.name.as_str());
                implicit_fields.push(path.field("securityContext.seccompProfile.type"));
            }
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    if !setters.is_empty() {
        return Some(Forbidden {
            reason: "seccompProfile".into(),
            detail: format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                setters.join(" and "),
                join_quote(&bad_types)
            ),
            fields: explicit_fields,
        });
    }
    (!implicit.is_empty()).then(|| Forbidden {
        reason: "seccompProfile".into(),
        detail: format!(
            r#"pod or {} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
            containers_phrase(&implicit)
        ),
        fields: implicit_fields,
    })
}

fn seccomp_profile_restricted_1_25(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if spec.is_windows() {
        return None;
    }
    seccomp_profile_restricted_1_19(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pss::testing::{assert_allowed, assert_forbidden};
    use serde_json::json;

    #[test]
    fn pod_level_profile_covers_containers() {
        assert_allowed(
            seccomp_profile_restricted_1_19,
            json!({"spec": {
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "a"}, {"name": "b", "securityContext": {"seccompProfile": {"type": "Localhost"}}}]}}),
        );
    }

    #[test]
    fn every_container_needs_a_profile_without_a_pod_one() {
        let f = assert_forbidden(
            seccomp_profile_restricted_1_19,
            json!({"spec": {"initContainers": [{"name": "i"}], "containers": [
                {"name": "a"}, {"name": "b", "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}]}}),
            "seccompProfile",
            r#"pod or containers "i", "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
        );
        assert_eq!(
            f.fields,
            [
                "spec.initContainers[0].securityContext.seccompProfile.type",
                "spec.containers[0].securityContext.seccompProfile.type"
            ]
        );
        assert_forbidden(
            seccomp_profile_restricted_1_19,
            json!({"spec": {"containers": [{"name": "a"}]}}),
            "seccompProfile",
            r#"pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
        );
    }

    #[test]
    fn explicit_bad_values_take_precedence() {
        assert_forbidden(
            seccomp_profile_restricted_1_19,
            json!({"spec": {"securityContext": {"seccompProfile": {"type": "Unconfined"}}, "containers": [{"name": "a"}]}}),
            "seccompProfile",
            r#"pod must not set securityContext.seccompProfile.type to "Unconfined""#,
        );
        assert_forbidden(
            seccomp_profile_restricted_1_19,
            json!({"spec": {"containers": [
                {"name": "a", "securityContext": {"seccompProfile": {"type": "Unconfined"}}},
                {"name": "b"}]}}),
            "seccompProfile",
            r#"container "a" must not set securityContext.seccompProfile.type to "Unconfined""#,
        );
    }

    #[test]
    fn windows_pods_are_exempt_from_1_25() {
        let pod = json!({"spec": {"os": {"name": "windows"}, "containers": [{"name": "a"}]}});
        assert_allowed(seccomp_profile_restricted_1_25, pod.clone());
        assert_forbidden(
            seccomp_profile_restricted_1_19,
            pod,
            "seccompProfile",
            r#"pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
        );
        assert_forbidden(
            seccomp_profile_restricted_1_25,
            json!({"spec": {"os": {"name": "linux"}, "containers": [{"name": "a"}]}}),
            "seccompProfile",
            r#"pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
        );
    }

    #[test]
    fn cases_at_1_19_and_1_25() {
        let checks: [crate::pss::CheckFn; 2] = [
            seccomp_profile_restricted_1_19,
            seccomp_profile_restricted_1_25,
        ];
        for check in checks {
            assert_forbidden(
                check,
                json!({"spec": {"containers": [{"name": "a"}]}}),
                "seccompProfile",
                r#"pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
            );
            assert_forbidden(
                check,
                json!({"spec": {"securityContext": {"seccompProfile": {"type": "Unconfined"}},
                    "containers": [{"name": "a"}]}}),
                "seccompProfile",
                r#"pod must not set securityContext.seccompProfile.type to "Unconfined""#,
            );
            assert_forbidden(
                check,
                json!({"spec": {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}, "containers": [
                    {"name": "a"},
                    {"name": "b", "securityContext": {}},
                    {"name": "c", "securityContext": {"seccompProfile": {"type": "Unconfined"}}},
                    {"name": "d", "securityContext": {"seccompProfile": {"type": "Unconfined"}}},
                    {"name": "e", "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}},
                    {"name": "f", "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}]}}),
                "seccompProfile",
                r#"containers "c", "d" must not set securityContext.seccompProfile.type to "Unconfined""#,
            );
            assert_forbidden(
                check,
                json!({"spec": {"containers": [
                    {"name": "a"},
                    {"name": "b", "securityContext": {}},
                    {"name": "d", "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}},
                    {"name": "e", "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}]}}),
                "seccompProfile",
                r#"pod or containers "a", "b" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
            );
        }
    }
}
