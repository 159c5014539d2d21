//! `seccompProfile_baseline` (baseline): seccomp must not be explicitly disabled. Up to v1.18
//! the deprecated annotations are checked; from v1.19 the `seccompProfile` fields are.

use super::{Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec, SeccompProfile};
use crate::text::{containers_phrase, go_quote, join_quote, pluralize, SortedSet};

pub(super) const VERSIONS: &[VersionedCheck] = &[
    VersionedCheck::since(0, seccomp_profile_baseline_1_0),
    VersionedCheck::since(19, seccomp_profile_baseline_1_19),
];

const POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

pub(super) fn valid_type(profile: &SeccompProfile) -> bool {
    matches!(profile.type_.as_str(), "RuntimeDefault" | "Localhost")
}

fn valid_annotation_value(value: &str) -> bool {
    value == "runtime/default" || value == "docker/default" || value.starts_with("localhost/")
}

fn seccomp_profile_baseline_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut forbidden = SortedSet::new();
    let mut fields = Vec::new();
    let mut inspect = |key: &str| {
        if let Some(value) = meta.annotations.get(key) {
            if !valid_annotation_value(value) {
                forbidden.insert(format!("{key}={}", go_quote(value)));
                fields.push(format!("metadata.annotations[{key}]"));
            }
        }
    };
    inspect(POD_ANNOTATION);
    // Container annotations count only for containers that exist in the spec.
    for (_, c) in spec.containers_with_paths() {
        inspect(&format!("{CONTAINER_ANNOTATION_PREFIX}{}", c.name));
    }
    (!forbidden.is_empty()).then(|| Forbidden {
        reason: "seccompProfile".into(),
        detail: format!(
            "forbidden {} {}",
            pluralize("annotation", "annotations", forbidden.len()),
            forbidden.into_iter().collect::<Vec<_>>().join(", ")
        ),
        fields,
    })
}

fn seccomp_profile_baseline_1_19(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut setters = Vec::new();
    let mut bad_types = SortedSet::new();
    let mut fields = Vec::new();
    if let Some(p) = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.seccomp_profile.as_ref())
    {
        if !valid_type(p) {
            setters.push("pod".to_string());
            bad_types.insert(p.type_.clone());
            fields.push("spec.securityContext.seccompProfile.type".to_string());
        }
    }
    let mut containers = Vec::new();
    for (path, c) in spec.containers_with_paths() {
        if let Some(p) = c
            .security_context
            .as_ref()
            .and_then(|sc| sc.seccomp_profile.as_ref())
        {
            if !valid_type(p) {
                containers.push(c.name.as_str());
                bad_types.insert(p.type_.clone());
                fields.push(path.field("securityContext.seccompProfile.type"));
            }
        }
    }
    if !containers.is_empty() {
        setters.push(containers_phrase(&containers));
    }
    (!setters.is_empty()).then(|| Forbidden {
        reason: "seccompProfile".into(),
        detail: format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            setters.join(" and "),
            join_quote(&bad_types)
        ),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pss::testing::{assert_allowed, assert_forbidden};
    use serde_json::json;

    #[test]
    fn annotations_allow_defaults_and_localhost() {
        assert_allowed(
            seccomp_profile_baseline_1_0,
            json!({
            "metadata": {"annotations": {
                "seccomp.security.alpha.kubernetes.io/pod": "runtime/default",
                "container.seccomp.security.alpha.kubernetes.io/a": "docker/default",
                "container.seccomp.security.alpha.kubernetes.io/b": "localhost/x"}},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
        );
    }

    #[test]
    fn annotations_for_absent_containers_are_ignored() {
        assert_allowed(
            seccomp_profile_baseline_1_0,
            json!({
            "metadata": {"annotations": {"container.seccomp.security.alpha.kubernetes.io/gone": "unconfined"}},
            "spec": {"containers": [{"name": "a"}]}}),
        );
    }

    #[test]
    fn forbidden_annotations_sorted_and_quoted() {
        assert_forbidden(
            seccomp_profile_baseline_1_0,
            json!({"metadata": {"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}}}),
            "seccompProfile",
            r#"forbidden annotation seccomp.security.alpha.kubernetes.io/pod="unconfined""#,
        );
        assert_forbidden(
            seccomp_profile_baseline_1_0,
            json!({
                "metadata": {"annotations": {
                    "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
                    "container.seccomp.security.alpha.kubernetes.io/b": "",
                    "container.seccomp.security.alpha.kubernetes.io/a": "bogus"}},
                "spec": {"initContainers": [{"name": "b"}], "containers": [{"name": "a"}]}}),
            "seccompProfile",
            r#"forbidden annotations container.seccomp.security.alpha.kubernetes.io/a="bogus", container.seccomp.security.alpha.kubernetes.io/b="", seccomp.security.alpha.kubernetes.io/pod="unconfined""#,
        );
    }

    #[test]
    fn fields_from_1_19_ignore_annotations() {
        assert_allowed(
            seccomp_profile_baseline_1_19,
            json!({
            "metadata": {"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}},
            "spec": {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "a", "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "p"}}}, {"name": "b"}]}}),
        );
    }

    #[test]
    fn unconfined_fields() {
        assert_forbidden(
            seccomp_profile_baseline_1_19,
            json!({"spec": {"securityContext": {"seccompProfile": {"type": "Unconfined"}}}}),
            "seccompProfile",
            r#"pod must not set securityContext.seccompProfile.type to "Unconfined""#,
        );
        let f = assert_forbidden(
            seccomp_profile_baseline_1_19,
            json!({"spec": {
                "securityContext": {"seccompProfile": {"type": "Unconfined"}},
                "containers": [
                    {"name": "a", "securityContext": {"seccompProfile": {"type": "Unconfined"}}},
                    {"name": "b", "securityContext": {"seccompProfile": {"type": "Bogus"}}}]}}),
            "seccompProfile",
            r#"pod and containers "a", "b" must not set securityContext.seccompProfile.type to "Bogus", "Unconfined""#,
        );
        assert_eq!(
            f.fields[1],
            "spec.containers[0].securityContext.seccompProfile.type"
        );
    }

    #[test]
    fn container_annotations_with_and_without_pod_annotation() {
        let spec = json!({"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]});
        assert_forbidden(
            seccomp_profile_baseline_1_0,
            json!({
                "metadata": {"annotations": {
                    "container.seccomp.security.alpha.kubernetes.io/a": "unconfined",
                    "container.seccomp.security.alpha.kubernetes.io/b": "unknown"}},
                "spec": spec.clone()}),
            "seccompProfile",
            r#"forbidden annotations container.seccomp.security.alpha.kubernetes.io/a="unconfined", container.seccomp.security.alpha.kubernetes.io/b="unknown""#,
        );
        assert_forbidden(
            seccomp_profile_baseline_1_0,
            json!({
                "metadata": {"annotations": {
                    "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
                    "container.seccomp.security.alpha.kubernetes.io/a": "unconfined",
                    "container.seccomp.security.alpha.kubernetes.io/b": "unknown"}},
                "spec": spec}),
            "seccompProfile",
            r#"forbidden annotations container.seccomp.security.alpha.kubernetes.io/a="unconfined", container.seccomp.security.alpha.kubernetes.io/b="unknown", seccomp.security.alpha.kubernetes.io/pod="unconfined""#,
        );
    }

    #[test]
    fn fields_pod_and_container_setters_at_1_19() {
        let containers = json!([
            {"name": "a"},
            {"name": "b", "securityContext": {}},
            {"name": "c", "securityContext": {"seccompProfile": {"type": "Unconfined"}}},
            {"name": "d", "securityContext": {"seccompProfile": {"type": "Unconfined"}}},
            {"name": "e", "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}},
            {"name": "f", "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}]);
        assert_forbidden(
            seccomp_profile_baseline_1_19,
            json!({"spec": {
                "securityContext": {"seccompProfile": {"type": "Unconfined"}},
                "containers": [{"name": "a"}]}}),
            "seccompProfile",
            r#"pod must not set securityContext.seccompProfile.type to "Unconfined""#,
        );
        assert_forbidden(
            seccomp_profile_baseline_1_19,
            json!({"spec": {
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "containers": containers.clone()}}),
            "seccompProfile",
            r#"containers "c", "d" must not set securityContext.seccompProfile.type to "Unconfined""#,
        );
        assert_forbidden(
            seccomp_profile_baseline_1_19,
            json!({"spec": {
                "securityContext": {"seccompProfile": {"type": "Unconfined"}},
                "containers": containers}}),
            "seccompProfile",
            r#"pod and containers "c", "d" must not set securityContext.seccompProfile.type to "Unconfined""#,
        );
    }
}
