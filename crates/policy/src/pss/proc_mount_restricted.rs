//! `procMount_restricted` (restricted, from v1.35): the default /proc mask, with no
//! user-namespace relaxation; replaces baseline `procMount` under restricted.

use super::{proc_mount_baseline::proc_mount_1_0, CheckId, VersionedCheck};

pub(super) const VERSIONS: &[VersionedCheck] =
    &[VersionedCheck::since(35, proc_mount_1_0).overriding(&[CheckId::ProcMount])];

#[cfg(test)]
mod tests {
    use crate::level::{Level, LevelVersion, Version};
    use crate::pss::{evaluate, testing::pod, CheckId};
    use serde_json::json;

    #[test]
    fn user_namespace_does_not_relax_restricted() {
        let (meta, spec) = pod(json!({"spec": {"hostUsers": false, "containers": [
            {"name": "a", "securityContext": {"procMount": "Unmasked"}}]}}));
        let restricted = evaluate(
            LevelVersion::new(Level::Restricted, Version::Minor(35)),
            &meta,
            &spec,
        );
        let v: Vec<_> = restricted
            .violations
            .iter()
            .filter(|v| v.reason == "procMount")
            .collect();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].check, CheckId::ProcMountRestricted);
        assert_eq!(
            v[0].detail,
            r#"container "a" must not set securityContext.procMount to "Unmasked""#
        );
        let baseline = evaluate(
            LevelVersion::new(Level::Baseline, Version::Minor(35)),
            &meta,
            &spec,
        );
        assert!(baseline.allowed());
    }

    #[test]
    fn forbids_non_default_types_whatever_host_users() {
        let check = super::VERSIONS[0].check;
        for host_users in [true, false] {
            crate::pss::testing::assert_forbidden(
                check,
                json!({"spec": {"hostUsers": host_users, "containers": [
                    {"name": "a"},
                    {"name": "b", "securityContext": {}},
                    {"name": "c", "securityContext": {"procMount": "Default"}},
                    {"name": "d", "securityContext": {"procMount": "Unmasked"}},
                    {"name": "e", "securityContext": {"procMount": "other"}}]}}),
                "procMount",
                r#"containers "d", "e" must not set securityContext.procMount to "Unmasked", "other""#,
            );
        }
    }
}
