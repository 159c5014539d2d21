//! `capabilities_restricted` (restricted, from v1.22): containers drop ALL capabilities and add
//! nothing but NET_BIND_SERVICE. Windows pods are exempt from v1.25. Replaces
//! `capabilities_baseline` under restricted.

use super::{CheckId, Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec};
use crate::text::{containers_phrase, join_quote, SortedSet};

pub(super) const VERSIONS: &[VersionedCheck] = &[
    VersionedCheck::since(22, capabilities_restricted_1_22)
        .overriding(&[CheckId::CapabilitiesBaseline]),
    VersionedCheck::since(25, capabilities_restricted_1_25)
        .overriding(&[CheckId::CapabilitiesBaseline]),
];

fn capabilities_restricted_1_22(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut missing_drop_all = Vec::new();
    let mut adding_forbidden = Vec::new();
    let mut forbidden = SortedSet::new();
    let mut fields = Vec::new();
    for (path, c) in spec.containers_with_paths() {
        let Some(caps) = c
            .security_context
            .as_ref()
            .and_then(|sc| sc.capabilities.as_ref())
        else {
            missing_drop_all.push(c.name.as_str());
            fields.push(path.field("securityContext.capabilities.drop"));
            continue;
        };
        if !caps.drop.iter().any(|d| d == "ALL") {
            missing_drop_all.push(c.name.as_str());
            fields.push(path.field("securityContext.capabilities.drop"));
        }
        let mut adds_forbidden = false;
        for (i, cap) in caps.add.iter().enumerate() {
            if cap != "NET_BIND_SERVICE" {
                adds_forbidden = true;
                forbidden.insert(cap.clone());
                fields.push(path.field(&format!("securityContext.capabilities.add[{i}]")));
            }
        }
        if adds_forbidden {
            adding_forbidden.push(c.name.as_str());
        }
    }
    let mut details = Vec::new();
    if !missing_drop_all.is_empty() {
        details.push(format!(
            r#"{} must set securityContext.capabilities.drop=["ALL"]"#,
            containers_phrase(&missing_drop_all)
        ));
    }
    if !adding_forbidden.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding_forbidden),
            join_quote(&forbidden)
        ));
    }
    (!details.is_empty()).then(|| Forbidden {
        reason: "unrestricted capabilities".into(),
        detail: details.join("; "),
        fields,
    })
}

fn capabilities_restricted_1_25(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if spec.is_windows() {
        return None;
    }
    capabilities_restricted_1_22(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pss::testing::{assert_allowed, assert_forbidden};
    use serde_json::json;

    #[test]
    fn drop_all_and_net_bind_service_pass() {
        assert_allowed(
            capabilities_restricted_1_22,
            json!({"spec": {"containers": [{"name": "a", "securityContext": {
            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]}}),
        );
    }

    #[test]
    fn missing_drop_all() {
        assert_forbidden(
            capabilities_restricted_1_22,
            json!({"spec": {"containers": [
                {"name": "a"},
                {"name": "b", "securityContext": {"capabilities": {"drop": ["all", "NET_RAW"]}}},
                {"name": "c", "securityContext": {"capabilities": {"drop": ["ALL"]}}}]}}),
            "unrestricted capabilities",
            r#"containers "a", "b" must set securityContext.capabilities.drop=["ALL"]"#,
        );
    }

    #[test]
    fn forbidden_adds() {
        assert_forbidden(
            capabilities_restricted_1_22,
            json!({"spec": {"containers": [
                {"name": "a", "securityContext": {"capabilities": {"drop": ["ALL"], "add": ["CHOWN", "SYS_ADMIN", "NET_BIND_SERVICE"]}}}]}}),
            "unrestricted capabilities",
            r#"container "a" must not include "CHOWN", "SYS_ADMIN" in securityContext.capabilities.add"#,
        );
    }

    #[test]
    fn both_parts_joined_by_semicolon() {
        assert_forbidden(
            capabilities_restricted_1_22,
            json!({"spec": {"containers": [
                {"name": "a", "securityContext": {"capabilities": {"add": ["FOO"]}}},
                {"name": "b", "securityContext": {"capabilities": {"drop": ["ALL"], "add": ["BAR", "FOO"]}}}]}}),
            "unrestricted capabilities",
            r#"container "a" must set securityContext.capabilities.drop=["ALL"]; containers "a", "b" must not include "BAR", "FOO" in securityContext.capabilities.add"#,
        );
    }

    #[test]
    fn windows_pods_are_exempt_from_1_25() {
        let pod = json!({"spec": {"os": {"name": "windows"}, "containers": [{"name": "a"}]}});
        assert_allowed(capabilities_restricted_1_25, pod.clone());
        assert_forbidden(
            capabilities_restricted_1_22,
            pod,
            "unrestricted capabilities",
            r#"container "a" must set securityContext.capabilities.drop=["ALL"]"#,
        );
    }

    #[test]
    fn several_containers_both_parts_sorted_caps() {
        let pod = json!({"spec": {"containers": [
            {"name": "a", "securityContext": {"capabilities": {"add": ["FOO", "BAR"]}}},
            {"name": "b", "securityContext": {"capabilities": {"add": ["BAR", "BAZ"]}}},
            {"name": "c", "securityContext": {"capabilities": {
                "add": ["NET_BIND_SERVICE", "CHOWN"], "drop": ["ALL", "FOO"]}}}]}});
        let checks: [crate::pss::CheckFn; 2] =
            [capabilities_restricted_1_22, capabilities_restricted_1_25];
        for check in checks {
            assert_forbidden(
                check,
                pod.clone(),
                "unrestricted capabilities",
                r#"containers "a", "b" must set securityContext.capabilities.drop=["ALL"]; containers "a", "b", "c" must not include "BAR", "BAZ", "CHOWN", "FOO" in securityContext.capabilities.add"#,
            );
        }
        assert_forbidden(
            capabilities_restricted_1_25,
            json!({"spec": {"os": {"name": "linux"}, "containers": [{"name": "a"}]}}),
            "unrestricted capabilities",
            r#"container "a" must set securityContext.capabilities.drop=["ALL"]"#,
        );
    }
}
