//! `privileged` (baseline): containers must not run privileged.

use super::{Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec};
use crate::text::containers_phrase;

pub(super) const VERSIONS: &[VersionedCheck] = &[VersionedCheck::since(0, privileged_1_0)];

fn privileged_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut names = Vec::new();
    let mut fields = Vec::new();
    for (path, c) in spec.containers_with_paths() {
        if c.security_context.as_ref().and_then(|sc| sc.privileged) == Some(true) {
            names.push(c.name.as_str());
            fields.push(path.field("securityContext.privileged"));
        }
    }
    (!names.is_empty()).then(|| Forbidden {
        reason: "privileged".into(),
        detail: format!(
            "{} must not set securityContext.privileged=true",
            containers_phrase(&names)
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
    fn allows_unset_and_false() {
        assert_allowed(
            privileged_1_0,
            json!({"spec": {"containers": [
            {"name": "a"}, {"name": "b", "securityContext": {"privileged": false}}]}}),
        );
    }

    #[test]
    fn forbids_privileged_containers_of_every_kind() {
        let f = assert_forbidden(
            privileged_1_0,
            json!({"spec": {
                "initContainers": [{"name": "i", "securityContext": {"privileged": true}}],
                "containers": [{"name": "a", "securityContext": {"privileged": true}}, {"name": "b"}],
                "ephemeralContainers": [{"name": "e", "securityContext": {"privileged": true}}]}}),
            "privileged",
            r#"containers "i", "a", "e" must not set securityContext.privileged=true"#,
        );
        assert_eq!(
            f.fields,
            [
                "spec.initContainers[0].securityContext.privileged",
                "spec.containers[0].securityContext.privileged",
                "spec.ephemeralContainers[0].securityContext.privileged",
            ]
        );
        assert_forbidden(
            privileged_1_0,
            json!({"spec": {"containers": [{"name": "a", "securityContext": {"privileged": true}}]}}),
            "privileged",
            r#"container "a" must not set securityContext.privileged=true"#,
        );
    }

    #[test]
    fn only_explicit_true_counts() {
        assert_forbidden(
            privileged_1_0,
            json!({"spec": {"containers": [
                {"name": "a"},
                {"name": "b", "securityContext": {}},
                {"name": "c", "securityContext": {"privileged": false}},
                {"name": "d", "securityContext": {"privileged": true}},
                {"name": "e", "securityContext": {"privileged": true}}]}}),
            "privileged",
            r#"containers "d", "e" must not set securityContext.privileged=true"#,
        );
    }
}
