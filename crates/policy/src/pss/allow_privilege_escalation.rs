//! `allowPrivilegeEscalation` (restricted, from v1.8): every container must explicitly set
//! `allowPrivilegeEscalation: false`. Windows pods are exempt from v1.25.

use super::{Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec};
use crate::text::containers_phrase;

pub(super) const VERSIONS: &[VersionedCheck] = &[
    VersionedCheck::since(8, allow_privilege_escalation_1_8),
    VersionedCheck::since(25, allow_privilege_escalation_1_25),
];

fn allow_privilege_escalation_1_8(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut names = Vec::new();
    let mut fields = Vec::new();
    for (path, c) in spec.containers_with_paths() {
        if c.security_context
            .as_ref()
            .and_then(|sc| sc.allow_privilege_escalation)
            != Some(false)
        {
            names.push(c.name.as_str());
            fields.push(path.field("securityContext.allowPrivilegeEscalation"));
        }
    }
    (!names.is_empty()).then(|| Forbidden {
        reason: "allowPrivilegeEscalation != false".into(),
        detail: format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&names)
        ),
        fields,
    })
}

fn allow_privilege_escalation_1_25(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if spec.is_windows() {
        return None;
    }
    allow_privilege_escalation_1_8(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pss::testing::{assert_allowed, assert_forbidden};
    use serde_json::json;

    #[test]
    fn requires_explicit_false() {
        assert_allowed(
            allow_privilege_escalation_1_8,
            json!({"spec": {"containers": [
            {"name": "a", "securityContext": {"allowPrivilegeEscalation": false}}]}}),
        );
        let f = assert_forbidden(
            allow_privilege_escalation_1_8,
            json!({"spec": {"containers": [
                {"name": "a"},
                {"name": "b", "securityContext": {}},
                {"name": "c", "securityContext": {"allowPrivilegeEscalation": true}},
                {"name": "d", "securityContext": {"allowPrivilegeEscalation": false}}]}}),
            "allowPrivilegeEscalation != false",
            r#"containers "a", "b", "c" must set securityContext.allowPrivilegeEscalation=false"#,
        );
        assert_eq!(
            f.fields[2],
            "spec.containers[2].securityContext.allowPrivilegeEscalation"
        );
        assert_forbidden(
            allow_privilege_escalation_1_8,
            json!({"spec": {"ephemeralContainers": [{"name": "e"}]}}),
            "allowPrivilegeEscalation != false",
            r#"container "e" must set securityContext.allowPrivilegeEscalation=false"#,
        );
    }

    #[test]
    fn windows_pods_are_exempt_from_1_25() {
        let pod = json!({"spec": {"os": {"name": "windows"}, "containers": [{"name": "a"}]}});
        assert_allowed(allow_privilege_escalation_1_25, pod.clone());
        assert_forbidden(
            allow_privilege_escalation_1_8,
            pod,
            "allowPrivilegeEscalation != false",
            r#"container "a" must set securityContext.allowPrivilegeEscalation=false"#,
        );
    }

    #[test]
    fn linux_and_unset_os_pods_are_checked_from_1_25() {
        assert_forbidden(
            allow_privilege_escalation_1_25,
            json!({"spec": {"containers": [
                {"name": "a"},
                {"name": "b", "securityContext": {"allowPrivilegeEscalation": null}},
                {"name": "c", "securityContext": {"allowPrivilegeEscalation": true}},
                {"name": "d", "securityContext": {"allowPrivilegeEscalation": false}}]}}),
            "allowPrivilegeEscalation != false",
            r#"containers "a", "b", "c" must set securityContext.allowPrivilegeEscalation=false"#,
        );
        assert_forbidden(
            allow_privilege_escalation_1_25,
            json!({"spec": {"os": {"name": "linux"}, "containers": [{"name": "a"}]}}),
            "allowPrivilegeEscalation != false",
            r#"container "a" must set securityContext.allowPrivilegeEscalation=false"#,
        );
    }
}
