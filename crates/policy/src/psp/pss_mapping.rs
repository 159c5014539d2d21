//! The PodSecurityPolicy → Pod Security Standards mapping of the upstream migration guide:
//! the strictest level admitting everything a policy admits (and which fields keep it from
//! the stricter ones), and the defaults a policy sets. Judged with the newest checks' own
//! allowed values, so the two cannot drift apart.

use crate::psp::PodSecurityPolicy;
use crate::pss::allowed;
use crate::Level;

/// The strictest Pod Security Standards level that admits everything `psp` admits, and the
/// fields that keep it from the stricter levels (per the upstream PSP → PSS mapping).
pub fn psp_level(psp: &PodSecurityPolicy) -> (Level, Vec<String>, Vec<String>) {
    let s = &psp.spec;
    let mut not_baseline = Vec::new();
    let mut not_restricted = Vec::new();
    if s.privileged {
        not_baseline.push("privileged: true allows privileged containers".to_string());
    }
    for (set, name) in [
        (s.host_network, "hostNetwork"),
        (s.host_pid, "hostPID"),
        (s.host_ipc, "hostIPC"),
    ] {
        if set {
            not_baseline.push(format!("{name}: true allows a host namespace"));
        }
    }
    if !s.host_ports.is_empty() {
        not_baseline.push("hostPorts allows host ports".into());
    }
    if s.volumes.iter().any(|v| v == "*" || v == "hostPath") {
        not_baseline.push(format!("volumes {:?} allows hostPath volumes", s.volumes));
    }
    if let Some(v) = s.volumes.iter().find(|v| !allowed::restricted_volume(v)) {
        not_restricted.push(format!(
            "volumes includes {v:?}, outside the restricted volume types"
        ));
    }
    for (list, name) in [
        (&s.allowed_capabilities, "allowedCapabilities"),
        (&s.default_add_capabilities, "defaultAddCapabilities"),
    ] {
        if let Some(c) = list.iter().find(|c| !allowed::baseline_capability(c)) {
            not_baseline.push(format!(
                "{name} includes {c:?}, beyond the default capabilities"
            ));
        }
        if let Some(c) = list.iter().find(|c| c.as_str() != "NET_BIND_SERVICE") {
            not_restricted.push(format!(
                "{name} includes {c:?} (restricted allows adding only NET_BIND_SERVICE)"
            ));
        }
    }
    if !s.required_drop_capabilities.iter().any(|c| c == "ALL") {
        not_restricted.push("requiredDropCapabilities does not include ALL".into());
    }
    match (s.se_linux.rule.as_str(), &s.se_linux.se_linux_options) {
        ("MustRunAs", Some(o)) => {
            if !o.user.is_empty() || !o.role.is_empty() {
                not_baseline.push("seLinux sets a user or role".into());
            }
            if !allowed::se_linux_type(&o.type_) {
                not_baseline.push(format!(
                    "seLinux type {:?} is not a container type",
                    o.type_
                ));
            }
        }
        (rule, _) => not_baseline.push(format!(
            "seLinux rule {rule} lets pods set any SELinux user, role and type"
        )),
    }
    if s.allowed_proc_mount_types.iter().any(|t| t != "Default") {
        not_baseline.push("allowedProcMountTypes allows Unmasked".into());
    }
    if let Some(sysctl) = s
        .allowed_unsafe_sysctls
        .iter()
        .find(|x| !allowed::safe_sysctl(x))
    {
        not_baseline.push(format!("allowedUnsafeSysctls allows {sysctl:?}"));
    }
    match psp.annotation(crate::psp::model::SECCOMP_ALLOWED_ANNOTATION) {
        None => not_restricted.push(
            "no seccomp allowedProfileNames: pods cannot be required to set RuntimeDefault".into(),
        ),
        Some(list) => {
            let entries: Vec<&str> = list.split(',').collect();
            if entries.iter().any(|e| *e == "*" || *e == "unconfined") {
                not_baseline.push(format!(
                    "seccomp allowedProfileNames {list:?} allows unconfined"
                ));
            } else if entries.iter().any(|e| e.is_empty()) {
                not_restricted.push(format!(
                    "seccomp allowedProfileNames {list:?} allows no profile"
                ));
            }
        }
    }
    match psp.annotation(crate::psp::model::APPARMOR_ALLOWED_ANNOTATION) {
        None => {
            not_baseline.push("no AppArmor allowedProfileNames: pods may run unconfined".into())
        }
        Some(list) if list.split(',').any(|e| e == "unconfined") => not_baseline.push(format!(
            "AppArmor allowedProfileNames {list:?} allows unconfined"
        )),
        Some(_) => {}
    }
    if s.allows_privilege_escalation() {
        not_restricted.push("allowPrivilegeEscalation is not false".into());
    }
    let non_root = match s.run_as_user.rule.as_str() {
        "MustRunAsNonRoot" => true,
        "MustRunAs" => {
            !s.run_as_user.ranges.is_empty() && s.run_as_user.ranges.iter().all(|r| r.min > 0)
        }
        _ => false,
    };
    if !non_root {
        not_restricted.push(format!("runAsUser rule {} allows root", s.run_as_user.rule));
    }
    let level = if !not_baseline.is_empty() {
        Level::Privileged
    } else if !not_restricted.is_empty() {
        Level::Baseline
    } else {
        Level::Restricted
    };
    (level, not_baseline, not_restricted)
}

/// The defaults a PSP sets (its mutating fields).
pub fn psp_defaults(psp: &PodSecurityPolicy) -> Vec<String> {
    let s = &psp.spec;
    let mut d = Vec::new();
    if !s.default_add_capabilities.is_empty() {
        d.push(format!(
            "defaultAddCapabilities adds {:?}",
            s.default_add_capabilities
        ));
    }
    if !s.required_drop_capabilities.is_empty() {
        d.push(format!(
            "requiredDropCapabilities drops {:?}",
            s.required_drop_capabilities
        ));
    }
    match s.run_as_user.rule.as_str() {
        "MustRunAs" => d.push(format!(
            "runAsUser MustRunAs sets runAsUser {}",
            s.run_as_user
                .ranges
                .first()
                .map(|r| r.min)
                .unwrap_or_default()
        )),
        "MustRunAsNonRoot" => d.push("runAsUser MustRunAsNonRoot sets runAsNonRoot: true".into()),
        _ => {}
    }
    for (g, name) in [
        (Some(&s.fs_group), "fsGroup"),
        (Some(&s.supplemental_groups), "supplementalGroups"),
        (s.run_as_group.as_ref(), "runAsGroup"),
    ] {
        if let Some(g) = g.filter(|g| g.rule == "MustRunAs") {
            d.push(format!(
                "{name} MustRunAs sets {}",
                g.ranges.first().map(|r| r.min).unwrap_or_default()
            ));
        }
    }
    if s.se_linux.rule == "MustRunAs" {
        d.push("seLinux MustRunAs sets seLinuxOptions".into());
    }
    if s.read_only_root_filesystem {
        d.push("readOnlyRootFilesystem sets readOnlyRootFilesystem: true".into());
    }
    if let Some(v) = s.default_allow_privilege_escalation {
        d.push(format!(
            "defaultAllowPrivilegeEscalation sets allowPrivilegeEscalation: {v}"
        ));
    }
    if !s.allows_privilege_escalation() {
        d.push("allowPrivilegeEscalation: false sets allowPrivilegeEscalation: false".into());
    }
    if s.runtime_class
        .as_ref()
        .and_then(|r| r.default_runtime_class_name.as_ref())
        .is_some()
    {
        d.push("runtimeClass.defaultRuntimeClassName sets runtimeClassName".into());
    }
    for (key, what) in [
        (crate::psp::model::SECCOMP_DEFAULT_ANNOTATION, "seccomp"),
        (crate::psp::model::APPARMOR_DEFAULT_ANNOTATION, "AppArmor"),
    ] {
        if let Some(p) = psp.annotation(key).filter(|p| !p.is_empty()) {
            d.push(format!("{what} defaultProfileName sets {p}"));
        }
    }
    d
}
