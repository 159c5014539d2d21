//! `procMount` (baseline): the default /proc mask; from v1.35 any value is allowed for pods in
//! a user namespace (`hostUsers: false`).

use super::{Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec};
use crate::text::{containers_phrase, join_quote, SortedSet};

pub(super) const VERSIONS: &[VersionedCheck] = &[
    VersionedCheck::since(0, proc_mount_1_0),
    VersionedCheck::since(35, proc_mount_1_35),
];

/// The v1.0 rule; `procMount_restricted` reuses it without the user-namespace relaxation.
pub(super) fn proc_mount_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut names = Vec::new();
    let mut types = SortedSet::new();
    let mut fields = Vec::new();
    for (path, c) in spec.containers_with_paths() {
        let Some(proc_mount) = c
            .security_context
            .as_ref()
            .and_then(|sc| sc.proc_mount.as_ref())
        else {
            continue;
        };
        if proc_mount != "Default" {
            names.push(c.name.as_str());
            types.insert(proc_mount.clone());
            fields.push(path.field("securityContext.procMount"));
        }
    }
    (!names.is_empty()).then(|| Forbidden {
        reason: "procMount".into(),
        detail: format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&names),
            join_quote(&types)
        ),
        fields,
    })
}

fn proc_mount_1_35(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    if spec.uses_user_namespace() {
        return None;
    }
    proc_mount_1_0(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pss::testing::{assert_allowed, assert_forbidden};
    use serde_json::json;

    #[test]
    fn allows_default_and_unset() {
        assert_allowed(
            proc_mount_1_0,
            json!({"spec": {"containers": [
            {"name": "a"}, {"name": "b", "securityContext": {"procMount": "Default"}}]}}),
        );
    }

    #[test]
    fn forbids_unmasked() {
        assert_forbidden(
            proc_mount_1_0,
            json!({"spec": {"containers": [
                {"name": "a", "securityContext": {"procMount": "Unmasked"}},
                {"name": "b", "securityContext": {"procMount": "Default"}},
                {"name": "c", "securityContext": {"procMount": "Other"}},
                {"name": "d", "securityContext": {"procMount": "Unmasked"}}]}}),
            "procMount",
            r#"containers "a", "c", "d" must not set securityContext.procMount to "Other", "Unmasked""#,
        );
    }

    #[test]
    fn user_namespaces_relax_from_1_35_only() {
        let pod = json!({"spec": {"hostUsers": false, "containers": [{"name": "a", "securityContext": {"procMount": "Unmasked"}}]}});
        assert_allowed(proc_mount_1_35, pod.clone());
        assert_forbidden(
            proc_mount_1_0,
            pod,
            "procMount",
            r#"container "a" must not set securityContext.procMount to "Unmasked""#,
        );
        assert_forbidden(
            proc_mount_1_35,
            json!({"spec": {"hostUsers": true, "containers": [{"name": "a", "securityContext": {"procMount": "Unmasked"}}]}}),
            "procMount",
            r#"container "a" must not set securityContext.procMount to "Unmasked""#,
        );
    }

    #[test]
    fn types_sort_byte_wise_and_userns_relaxes_every_value() {
        let containers = json!([
            {"name": "a"},
            {"name": "b", "securityContext": {}},
            {"name": "c", "securityContext": {"procMount": "Default"}},
            {"name": "d", "securityContext": {"procMount": "Unmasked"}},
            {"name": "e", "securityContext": {"procMount": "other"}}]);
        assert_forbidden(
            proc_mount_1_35,
            json!({"spec": {"hostUsers": true, "containers": containers.clone()}}),
            "procMount",
            r#"containers "d", "e" must not set securityContext.procMount to "Unmasked", "other""#,
        );
        assert_allowed(
            proc_mount_1_35,
            json!({"spec": {"hostUsers": false, "containers": containers}}),
        );
    }
}
