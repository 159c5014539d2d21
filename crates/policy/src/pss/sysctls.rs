//! `sysctls` (baseline): only namespaced sysctls known to be safe. The safe set grows with the
//! policy version.

use super::{Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec};

pub(super) const VERSIONS: &[VersionedCheck] = &[
    VersionedCheck::since(0, sysctls_1_0),
    VersionedCheck::since(27, sysctls_1_27),
    VersionedCheck::since(29, sysctls_1_29),
    VersionedCheck::since(32, sysctls_1_32),
    VersionedCheck::since(37, sysctls_1_37),
];

/// Each version's additions to the safe set; a version allows its own and all earlier ones.
const ADDED_1_0: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];
const ADDED_1_27: &[&str] = &["net.ipv4.ip_local_reserved_ports"];
const ADDED_1_29: &[&str] = &[
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
const ADDED_1_32: &[&str] = &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"];
const ADDED_1_37: &[&str] = &[
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
];

fn sysctls_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(meta, spec, &[ADDED_1_0])
}
fn sysctls_1_27(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(meta, spec, &[ADDED_1_0, ADDED_1_27])
}
fn sysctls_1_29(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(meta, spec, &[ADDED_1_0, ADDED_1_27, ADDED_1_29])
}
fn sysctls_1_32(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(meta, spec, &[ADDED_1_0, ADDED_1_27, ADDED_1_29, ADDED_1_32])
}
pub(super) const SAFE_LATEST: &[&[&str]] =
    &[ADDED_1_0, ADDED_1_27, ADDED_1_29, ADDED_1_32, ADDED_1_37];

fn sysctls_1_37(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(meta, spec, SAFE_LATEST)
}

fn sysctls(_: &ObjectMeta, spec: &PodSpec, allowed: &[&[&str]]) -> Option<Forbidden> {
    let is_allowed = |name: &str| allowed.iter().any(|set| set.contains(&name));
    // Spec order, duplicates kept: upstream lists them as it meets them.
    let mut names = Vec::new();
    let mut fields = Vec::new();
    let listed = spec
        .security_context
        .as_ref()
        .map(|sc| sc.sysctls.as_slice())
        .unwrap_or_default();
    for (i, sysctl) in listed.iter().enumerate() {
        if !is_allowed(&sysctl.name) {
            names.push(sysctl.name.as_str());
            fields.push(format!("spec.securityContext.sysctls[{i}].name"));
        }
    }
    (!names.is_empty()).then(|| Forbidden {
        reason: "forbidden sysctls".into(),
        detail: names.join(", "),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pss::testing::{assert_allowed, assert_forbidden};
    use serde_json::json;

    fn with_sysctls(names: &[&str]) -> serde_json::Value {
        let list: Vec<_> = names
            .iter()
            .map(|n| json!({"name": n, "value": "1"}))
            .collect();
        json!({"spec": {"securityContext": {"sysctls": list}}})
    }

    #[test]
    fn safe_set_grows_by_version() {
        assert_allowed(sysctls_1_0, with_sysctls(ADDED_1_0));
        assert_forbidden(
            sysctls_1_0,
            with_sysctls(ADDED_1_27),
            "forbidden sysctls",
            "net.ipv4.ip_local_reserved_ports",
        );
        assert_allowed(sysctls_1_27, with_sysctls(ADDED_1_27));
        assert_forbidden(
            sysctls_1_27,
            with_sysctls(&["net.ipv4.tcp_fin_timeout"]),
            "forbidden sysctls",
            "net.ipv4.tcp_fin_timeout",
        );
        assert_allowed(sysctls_1_29, with_sysctls(ADDED_1_29));
        assert_forbidden(
            sysctls_1_29,
            with_sysctls(ADDED_1_32),
            "forbidden sysctls",
            "net.ipv4.tcp_rmem, net.ipv4.tcp_wmem",
        );
        assert_allowed(sysctls_1_32, with_sysctls(ADDED_1_32));
        assert_forbidden(
            sysctls_1_32,
            with_sysctls(ADDED_1_37),
            "forbidden sysctls",
            "net.ipv4.tcp_slow_start_after_idle, net.ipv4.tcp_notsent_lowat",
        );
        assert_allowed(sysctls_1_37, with_sysctls(ADDED_1_37));
    }

    #[test]
    fn spec_order_and_duplicates_are_kept() {
        let f = assert_forbidden(
            sysctls_1_37,
            with_sysctls(&[
                "kernel.msgmax",
                "a",
                "kernel.shm_rmid_forced",
                "kernel.msgmax",
            ]),
            "forbidden sysctls",
            "kernel.msgmax, a, kernel.msgmax",
        );
        assert_eq!(
            f.fields,
            [
                "spec.securityContext.sysctls[0].name",
                "spec.securityContext.sysctls[1].name",
                "spec.securityContext.sysctls[3].name"
            ]
        );
    }

    #[test]
    fn unknown_sysctls_are_forbidden_at_every_version() {
        let checks: [fn(&ObjectMeta, &PodSpec) -> Option<Forbidden>; 5] = [
            sysctls_1_0,
            sysctls_1_27,
            sysctls_1_29,
            sysctls_1_32,
            sysctls_1_37,
        ];
        for check in checks {
            assert_forbidden(
                check,
                with_sysctls(&["a", "b"]),
                "forbidden sysctls",
                "a, b",
            );
        }
    }

    #[test]
    fn v1_0_forbids_each_later_addition() {
        for set in [ADDED_1_27, ADDED_1_29, ADDED_1_32, ADDED_1_37] {
            for &name in set {
                assert_forbidden(
                    sysctls_1_0,
                    with_sysctls(&[name]),
                    "forbidden sysctls",
                    name,
                );
            }
        }
    }
}
