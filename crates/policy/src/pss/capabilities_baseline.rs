//! `capabilities_baseline` (baseline): only the default container runtime capabilities may be
//! added.

use super::{Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec};
use crate::text::{containers_phrase, join_quote, SortedSet};

pub(super) const VERSIONS: &[VersionedCheck] =
    &[VersionedCheck::since(0, capabilities_baseline_1_0)];

/// Capabilities a container may add under baseline (exact, case-sensitive names).
pub(crate) const ALLOWED_1_0: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn capabilities_baseline_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut names = Vec::new();
    let mut capabilities = SortedSet::new();
    let mut fields = Vec::new();
    for (path, c) in spec.containers_with_paths() {
        let Some(caps) = c
            .security_context
            .as_ref()
            .and_then(|sc| sc.capabilities.as_ref())
        else {
            continue;
        };
        let mut valid = true;
        for (i, cap) in caps.add.iter().enumerate() {
            if !ALLOWED_1_0.contains(&cap.as_str()) {
                valid = false;
                capabilities.insert(cap.clone());
                fields.push(path.field(&format!("securityContext.capabilities.add[{i}]")));
            }
        }
        if !valid {
            names.push(c.name.as_str());
        }
    }
    (!names.is_empty()).then(|| Forbidden {
        reason: "non-default capabilities".into(),
        detail: format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&names),
            join_quote(&capabilities)
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
    fn allows_default_capabilities_and_any_drop() {
        assert_allowed(
            capabilities_baseline_1_0,
            json!({"spec": {"containers": [{"name": "a", "securityContext": {
            "capabilities": {"add": ALLOWED_1_0, "drop": ["ALL", "SYS_ADMIN"]}}}]}}),
        );
    }

    #[test]
    fn names_are_exact_and_case_sensitive() {
        assert_forbidden(
            capabilities_baseline_1_0,
            json!({"spec": {"containers": [{"name": "a", "securityContext": {"capabilities": {"add": ["chown", "CAP_CHOWN"]}}}]}}),
            "non-default capabilities",
            r#"container "a" must not include "CAP_CHOWN", "chown" in securityContext.capabilities.add"#,
        );
    }

    #[test]
    fn capabilities_are_distinct_and_sorted() {
        let f = assert_forbidden(
            capabilities_baseline_1_0,
            json!({"spec": {
                "containers": [
                    {"name": "a", "securityContext": {"capabilities": {"add": ["SYS_ADMIN", "CHOWN", "NET_RAW"]}}},
                    {"name": "b", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}},
                    {"name": "c", "securityContext": {"capabilities": {"add": ["KILL"]}}}]}}),
            "non-default capabilities",
            r#"containers "a", "b" must not include "NET_RAW", "SYS_ADMIN" in securityContext.capabilities.add"#,
        );
        assert_eq!(
            f.fields,
            [
                "spec.containers[0].securityContext.capabilities.add[0]",
                "spec.containers[0].securityContext.capabilities.add[2]",
                "spec.containers[1].securityContext.capabilities.add[0]",
            ]
        );
    }

    #[test]
    fn capabilities_from_several_containers_are_merged() {
        assert_forbidden(
            capabilities_baseline_1_0,
            json!({"spec": {"containers": [
                {"name": "a", "securityContext": {"capabilities": {"add": ["FOO", "BAR"]}}},
                {"name": "b", "securityContext": {"capabilities": {"add": ["BAR", "BAZ"]}}}]}}),
            "non-default capabilities",
            r#"containers "a", "b" must not include "BAR", "BAZ", "FOO" in securityContext.capabilities.add"#,
        );
    }
}
