//! `appArmorProfile` (baseline): AppArmor must not be disabled, neither through the
//! `appArmorProfile` fields nor through the deprecated beta annotations.

use super::{Forbidden, VersionedCheck};
use crate::pod::{AppArmorProfile, ObjectMeta, PodSpec};
use crate::text::{containers_phrase, go_quote, join_quote, pluralize, SortedSet};

pub(super) const VERSIONS: &[VersionedCheck] = &[VersionedCheck::since(0, app_armor_profile_1_0)];

const ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

fn allowed_annotation_value(value: &str) -> bool {
    value.is_empty() || value == "runtime/default" || value.starts_with("localhost/")
}

fn allowed_type(profile: &AppArmorProfile) -> bool {
    matches!(profile.type_.as_str(), "RuntimeDefault" | "Localhost")
}

fn app_armor_profile_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut setters = Vec::new();
    let mut bad_types = SortedSet::new();
    let mut fields = Vec::new();

    if let Some(p) = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.app_armor_profile.as_ref())
    {
        if !allowed_type(p) {
            setters.push("pod".to_string());
            bad_types.insert(p.type_.clone());
            fields.push("spec.securityContext.appArmorProfile.type".to_string());
        }
    }
    let mut containers = Vec::new();
    for (path, c) in spec.containers_with_paths() {
        if let Some(p) = c
            .security_context
            .as_ref()
            .and_then(|sc| sc.app_armor_profile.as_ref())
        {
            if !allowed_type(p) {
                containers.push(c.name.as_str());
                bad_types.insert(p.type_.clone());
                fields.push(path.field("securityContext.appArmorProfile.type"));
            }
        }
    }
    if !containers.is_empty() {
        setters.push(containers_phrase(&containers));
    }

    // Any suffix counts, even one that names no container in the spec.
    let mut annotations = SortedSet::new();
    for (key, value) in &meta.annotations {
        if key.starts_with(ANNOTATION_PREFIX) && !allowed_annotation_value(value) {
            annotations.insert(format!("{key}={}", go_quote(value)));
            fields.push(format!("metadata.annotations[{key}]"));
        }
    }
    let mut values: Vec<String> = bad_types.into_iter().collect();
    if !annotations.is_empty() {
        setters.push(pluralize("annotation", "annotations", annotations.len()).to_string());
        values.extend(annotations);
    }

    (!setters.is_empty()).then(|| Forbidden {
        reason: pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            values.len(),
        )
        .into(),
        detail: format!(
            "{} must not set AppArmor profile type to {}",
            setters.join(" and "),
            join_quote(&values)
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
    fn allows_default_localhost_and_empty_annotations_and_allowed_types() {
        assert_allowed(
            app_armor_profile_1_0,
            json!({
            "metadata": {"annotations": {
                "container.apparmor.security.beta.kubernetes.io/a": "runtime/default",
                "container.apparmor.security.beta.kubernetes.io/b": "localhost/sec-profile01",
                "container.apparmor.security.beta.kubernetes.io/c": "",
                "env": "unconfined"}},
            "spec": {
                "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "a", "securityContext": {"appArmorProfile": {"type": "Localhost", "localhostProfile": "x"}}}]}}),
        );
    }

    #[test]
    fn unconfined_pod() {
        assert_forbidden(
            app_armor_profile_1_0,
            json!({"spec": {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}}}),
            "forbidden AppArmor profile",
            r#"pod must not set AppArmor profile type to "Unconfined""#,
        );
    }

    #[test]
    fn unconfined_containers() {
        assert_forbidden(
            app_armor_profile_1_0,
            json!({"spec": {
                "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}},
                "initContainers": [{"name": "bar", "securityContext": {"appArmorProfile": {"type": "Unconfined"}}}],
                "containers": [{"name": "foo"}]}}),
            "forbidden AppArmor profile",
            r#"container "bar" must not set AppArmor profile type to "Unconfined""#,
        );
    }

    #[test]
    fn empty_type_is_forbidden() {
        assert_forbidden(
            app_armor_profile_1_0,
            json!({"spec": {"containers": [{"name": "a", "securityContext": {"appArmorProfile": {"type": ""}}}]}}),
            "forbidden AppArmor profile",
            r#"container "a" must not set AppArmor profile type to """#,
        );
    }

    #[test]
    fn annotations_for_any_suffix_are_quoted_twice() {
        assert_forbidden(
            app_armor_profile_1_0,
            json!({"metadata": {"annotations": {
                "container.apparmor.security.beta.kubernetes.io/": "bogus",
                "container.apparmor.security.beta.kubernetes.io/a": "",
                "container.apparmor.security.beta.kubernetes.io/b": "runtime/default",
                "container.apparmor.security.beta.kubernetes.io/c": "localhost/",
                "container.apparmor.security.beta.kubernetes.io/d": "localhost/foo",
                "container.apparmor.security.beta.kubernetes.io/e": "unconfined",
                "container.apparmor.security.beta.kubernetes.io/f": "unknown"}}}),
            "forbidden AppArmor profiles",
            r#"annotations must not set AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/="bogus"", "container.apparmor.security.beta.kubernetes.io/e="unconfined"", "container.apparmor.security.beta.kubernetes.io/f="unknown"""#,
        );
    }

    #[test]
    fn all_setters_together() {
        let f = assert_forbidden(
            app_armor_profile_1_0,
            json!({
                "metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/x": "unconfined"}},
                "spec": {
                    "securityContext": {"appArmorProfile": {"type": "Unconfined"}},
                    "containers": [
                        {"name": "a", "securityContext": {"appArmorProfile": {"type": "Unconfined"}}},
                        {"name": "b", "securityContext": {"appArmorProfile": {"type": "Bogus"}}}]}}),
            "forbidden AppArmor profiles",
            r#"pod and containers "a", "b" and annotation must not set AppArmor profile type to "Bogus", "Unconfined", "container.apparmor.security.beta.kubernetes.io/x="unconfined"""#,
        );
        assert_eq!(
            f.fields.last().map(String::as_str),
            Some("metadata.annotations[container.apparmor.security.beta.kubernetes.io/x]")
        );
    }

    #[test]
    fn unconfined_regular_container_under_allowed_pod_profile() {
        let f = assert_forbidden(
            app_armor_profile_1_0,
            json!({"spec": {
                "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "foo", "securityContext": {"appArmorProfile": {"type": "Unconfined"}}}]}}),
            "forbidden AppArmor profile",
            r#"container "foo" must not set AppArmor profile type to "Unconfined""#,
        );
        assert_eq!(
            f.fields,
            ["spec.containers[0].securityContext.appArmorProfile.type"]
        );
    }

    #[test]
    fn allows_pods_without_apparmor_settings() {
        assert_allowed(app_armor_profile_1_0, json!({}));
        assert_allowed(
            app_armor_profile_1_0,
            json!({"metadata": {"annotations": {"env": "dev"}}}),
        );
        assert_allowed(
            app_armor_profile_1_0,
            json!({"spec": {"containers": [{"name": "foo", "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}}}]}}),
        );
    }
}
