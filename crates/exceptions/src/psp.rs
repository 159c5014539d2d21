//! PodSecurityExceptions under PodSecurityPolicy: a waived check behaves as the plugin would
//! with that field allowed by the policy, and by nothing more.
//!
//! The plugin decides first on the policies as they are. Only when no policy admits the pod
//! are the candidate policies widened, each by exactly the fields the pod's exceptions waive
//! (and only to the values they allow), and the plugin's selection run again: a pod that a
//! policy admits is never decided by a widened one. A policy judges the whole pod, so an
//! exception scoped to some containers widens nothing unless it names every container.

use std::sync::Arc;

use podsec_policy::pod::VolumeType;
use podsec_policy::psp::model::{
    AllowedHostPath, PortRange, APPARMOR_ALLOWED_ANNOTATION, SECCOMP_ALLOWED_ANNOTATION,
};
use podsec_policy::psp::selection::{select_among, select_policy, Phase, PspOutcome, PspState};
use podsec_policy::psp::{PodSecurityPolicy, Provider};
use podsec_policy::rbac::UserIdentity;
use podsec_policy::CheckId;

use crate::{Allowed, Exception, ExceptionSet, Subject, Target, Waiver};

/// PodSecurityPolicy admission of `subject`'s pod with its exceptions: the outcome and the
/// exceptions that were needed for it (none when the policies admit the pod as they are).
pub fn select_policy_waived<'s>(
    state: &PspState,
    subject: &Subject<'_>,
    user: &UserIdentity,
    phase: Phase,
    exceptions: Option<(&'s ExceptionSet, i64)>,
) -> (PspOutcome, Vec<&'s Arc<Exception>>) {
    let plain = select_policy(
        state,
        subject.meta,
        subject.spec,
        subject.namespace,
        user,
        phase,
    );
    let Some((set, now)) = exceptions.filter(|_| plain.admitted.is_none()) else {
        return (plain, Vec::new());
    };
    let usable: Vec<&Arc<Exception>> = set
        .applicable(subject, now)
        .into_iter()
        .filter(|e| {
            e.covers_containers(&[], subject.spec)
                && e.waivers
                    .iter()
                    .any(|w| matches!(w.target, Target::Check(_)))
        })
        .collect();
    if usable.is_empty() {
        return (plain, Vec::new());
    }
    let waivers: Vec<&Waiver> = usable.iter().flat_map(|e| e.waivers.iter()).collect();
    let providers: Vec<Provider> = state
        .providers
        .iter()
        .filter_map(|p| Provider::new(&widen(&p.psp, &waivers)).ok())
        .collect();
    let widened = select_among(
        &providers,
        state,
        subject.meta,
        subject.spec,
        subject.namespace,
        user,
        phase,
    );
    // Still refused: the errors are what the exceptions do not cover.
    let Some((policy, _, _)) = &widened.admitted else {
        return (widened, Vec::new());
    };
    // Name the exceptions that widened the admitting policy, not every one that applies.
    let used = state
        .providers
        .iter()
        .find(|p| p.name() == policy)
        .map(|p| {
            usable
                .iter()
                .copied()
                .filter(|e| {
                    let own: Vec<&Waiver> = e.waivers.iter().collect();
                    widen(&p.psp, &own) != p.psp
                })
                .collect()
        })
        .unwrap_or(usable);
    (widened, used)
}

/// The policy with the fields the waivers name allowed, to the values they allow.
pub fn widen(psp: &PodSecurityPolicy, waivers: &[&Waiver]) -> PodSecurityPolicy {
    let mut out = psp.clone();
    let waived = |check: CheckId| {
        waivers
            .iter()
            .filter(move |w| w.target == Target::Check(check))
            .map(|w| w.allow.as_ref())
    };
    let whole = |check: CheckId| waived(check).any(|a| a.is_none());
    let s = &mut out.spec;

    if whole(CheckId::Privileged) {
        s.privileged = true;
    }
    for allow in waived(CheckId::HostNamespaces) {
        let all = ["hostNetwork", "hostPID", "hostIPC"]
            .map(String::from)
            .to_vec();
        let names = match allow {
            Some(Allowed::HostNamespaces(n)) => n,
            _ => &all,
        };
        for n in names {
            match n.as_str() {
                "hostNetwork" => s.host_network = true,
                "hostPID" => s.host_pid = true,
                "hostIPC" => s.host_ipc = true,
                _ => {}
            }
        }
    }
    for allow in waived(CheckId::HostPorts) {
        match allow {
            Some(Allowed::HostPorts(ports)) => s.host_ports.extend(ports.iter().map(|&p| {
                let p = i32::try_from(p).unwrap_or(i32::MAX);
                PortRange { min: p, max: p }
            })),
            _ => s.host_ports.push(PortRange { min: 0, max: 65535 }),
        }
    }
    widen_host_paths(s, waived(CheckId::HostPathVolumes).collect());
    for allow in waived(CheckId::RestrictedVolumes) {
        // A hostPath volume is the hostPathVolumes waiver's business (with its paths): a
        // volume-type waiver never admits one.
        let types: Vec<&str> = match allow {
            Some(Allowed::VolumeTypes(t)) => t.iter().map(String::as_str).collect(),
            _ => VolumeType::ALL.iter().map(|t| t.field_name()).collect(),
        };
        for t in types.into_iter().filter(|t| *t != "hostPath") {
            add_unique(&mut s.volumes, t);
        }
    }
    for check in [
        CheckId::CapabilitiesBaseline,
        CheckId::CapabilitiesRestricted,
    ] {
        for allow in waived(check) {
            match allow {
                Some(Allowed::Capabilities(caps)) => {
                    for c in caps {
                        add_unique(&mut s.allowed_capabilities, c);
                        s.required_drop_capabilities
                            .retain(|d| !d.eq_ignore_ascii_case(c));
                    }
                }
                _ => {
                    add_unique(&mut s.allowed_capabilities, "*");
                    s.required_drop_capabilities.clear();
                }
            }
        }
    }
    for allow in waived(CheckId::Sysctls) {
        match allow {
            Some(Allowed::Sysctls(names)) => {
                for n in names {
                    add_unique(&mut s.allowed_unsafe_sysctls, n);
                    s.forbidden_sysctls.retain(|f| f != n);
                }
            }
            _ => {
                add_unique(&mut s.allowed_unsafe_sysctls, "*");
                s.forbidden_sysctls.clear();
            }
        }
    }
    if waived(CheckId::ProcMount)
        .chain(waived(CheckId::ProcMountRestricted))
        .next()
        .is_some()
    {
        add_unique(&mut s.allowed_proc_mount_types, "Unmasked");
    }
    // SELinux options with values cannot be a PSP strategy (MustRunAs holds one context):
    // only a whole waiver lets any context run.
    if whole(CheckId::SeLinuxOptions) {
        s.se_linux.rule = "RunAsAny".into();
        s.se_linux.se_linux_options = None;
    }
    if whole(CheckId::RunAsNonRoot) || whole(CheckId::RunAsUser) {
        s.run_as_user.rule = "RunAsAny".into();
        s.run_as_user.ranges.clear();
    }
    if whole(CheckId::AllowPrivilegeEscalation) {
        s.allow_privilege_escalation = Some(true);
    }
    for check in [
        CheckId::SeccompProfileBaseline,
        CheckId::SeccompProfileRestricted,
    ] {
        for allow in waived(check) {
            widen_profiles(
                &mut out.metadata.annotations,
                SECCOMP_ALLOWED_ANNOTATION,
                allow,
            );
        }
    }
    for allow in waived(CheckId::AppArmorProfile) {
        widen_profiles(
            &mut out.metadata.annotations,
            APPARMOR_ALLOWED_ANNOTATION,
            allow,
        );
    }
    out
}

fn add_unique(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|v| v == value || v == "*") {
        list.push(value.to_string());
    }
}

/// hostPath: the volume type, and the path prefixes. An empty `allowedHostPaths` allows every
/// path, so a policy that did not allow hostPath at all gets exactly the waived prefixes.
fn widen_host_paths(s: &mut podsec_policy::psp::PspSpec, waivers: Vec<Option<&Allowed>>) {
    if waivers.is_empty() {
        return;
    }
    let had_host_path = s.volumes.iter().any(|v| v == "hostPath" || v == "*");
    if waivers.iter().any(|a| a.is_none()) {
        add_unique(&mut s.volumes, "hostPath");
        s.allowed_host_paths.clear();
        return;
    }
    if had_host_path && s.allowed_host_paths.is_empty() {
        return;
    }
    add_unique(&mut s.volumes, "hostPath");
    for allow in waivers.into_iter().flatten() {
        if let Allowed::HostPaths(prefixes) = allow {
            for p in prefixes {
                s.allowed_host_paths.push(AllowedHostPath {
                    path_prefix: if p.is_empty() { "/".into() } else { p.clone() },
                    read_only: false,
                });
            }
        }
    }
}

/// The allowed-profiles annotation. Seccomp: without it no profile may be set, `*` allows
/// any. AppArmor: without it any profile may be set. Values add what the annotation can name
/// exactly (`unconfined`); a Localhost waiver with values widens nothing, as neither
/// annotation has a wildcard for local profiles.
fn widen_profiles(
    annotations: &mut std::collections::BTreeMap<String, String>,
    key: &str,
    allow: Option<&Allowed>,
) {
    let current = annotations.get(key).cloned();
    if key == APPARMOR_ALLOWED_ANNOTATION && current.is_none() {
        return;
    }
    let mut names: Vec<String> = current
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect();
    match allow {
        Some(Allowed::Profiles(types)) => {
            if types.iter().any(|t| t.eq_ignore_ascii_case("unconfined")) {
                add_unique(&mut names, "unconfined");
            }
        }
        _ if key == APPARMOR_ALLOWED_ANNOTATION => {
            annotations.remove(key);
            return;
        }
        _ => names = vec!["*".into()],
    }
    if !names.is_empty() {
        annotations.insert(key.to_string(), names.join(","));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use podsec_policy::rbac::{Binding, Rbac, Role};
    use podsec_policy::{ObjectMeta, PodSpec};

    const NOW: i64 = 1_800_000_000; // 2027-01-15

    /// A restricted policy every authenticated user may use.
    fn state() -> PspState {
        let psp: PodSecurityPolicy = serde_json::from_value(json!({
            "metadata": {"name": "restricted"},
            "spec": {"privileged": false, "allowPrivilegeEscalation": false,
                     "volumes": ["configMap", "emptyDir", "secret"],
                     "runAsUser": {"rule": "RunAsAny"}, "seLinux": {"rule": "RunAsAny"},
                     "supplementalGroups": {"rule": "RunAsAny"}, "fsGroup": {"rule": "RunAsAny"}}}))
        .unwrap_or_else(|e| panic!("{e}"));
        let role: Role = serde_json::from_value(json!({"metadata": {"name": "psp-user"},
            "rules": [{"apiGroups": ["policy"], "resources": ["podsecuritypolicies"], "verbs": ["use"]}]}))
        .unwrap_or_else(|e| panic!("{e}"));
        let binding: Binding = serde_json::from_value(json!({"metadata": {"name": "all"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "psp-user"},
            "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:authenticated"}]}))
        .unwrap_or_else(|e| panic!("{e}"));
        let (rbac, _) = Rbac::build(&[], &[role], &[], &[binding]);
        PspState::new(&[psp], rbac, Vec::new())
    }

    fn pod(spec: Value) -> (ObjectMeta, PodSpec) {
        let meta: ObjectMeta = serde_json::from_value(
            json!({"name": "node-exporter-x1", "labels": {"app": "node-exporter"}}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        (
            meta,
            serde_json::from_value(spec).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    fn host_path_pod(path: &str) -> (ObjectMeta, PodSpec) {
        pod(
            json!({"volumes": [{"name": "logs", "hostPath": {"path": path}}],
            "containers": [{"name": "agent", "image": "agent", "securityContext": {"allowPrivilegeEscalation": false},
                            "volumeMounts": [{"name": "logs", "mountPath": "/logs"}]},
                           {"name": "sidecar", "image": "busybox", "securityContext": {"allowPrivilegeEscalation": false}}]}),
        )
    }

    fn set(waive: Value, mut matches: Value, expires: &str) -> ExceptionSet {
        matches["podLabels"] = json!({"app": "node-exporter"});
        let object = json!({"apiVersion": crate::API_VERSION, "kind": crate::KIND,
            "metadata": {"name": "node-exporter", "namespace": "monitoring"},
            "spec": {"owner": "team", "reason": "reads the host", "expires": expires,
                     "match": matches, "waive": waive}});
        ExceptionSet::new([Exception::parse(&object, "default").unwrap_or_else(|e| panic!("{e}"))])
    }

    fn decide(set: &ExceptionSet, (meta, spec): &(ObjectMeta, PodSpec)) -> (bool, Vec<String>) {
        let subject = Subject::new("monitoring", None, meta, spec);
        let user = UserIdentity::with_default_groups("alice", vec![]);
        let (outcome, used) =
            select_policy_waived(&state(), &subject, &user, Phase::Admit, Some((set, NOW)));
        (
            outcome.admitted.is_some(),
            used.iter().map(|e| e.id()).collect(),
        )
    }

    const LATER: &str = "2027-06-01T00:00:00Z";

    #[test]
    fn a_waived_host_path_prefix_admits_only_paths_under_it() {
        let logs = set(
            json!([{"check": "hostPathVolumes", "allow": ["/var/log"]}]),
            json!({}),
            LATER,
        );
        assert_eq!(
            decide(&logs, &host_path_pod("/var/log/pods")),
            (true, vec!["monitoring/node-exporter".to_string()])
        );
        assert_eq!(decide(&logs, &host_path_pod("/etc")), (false, vec![]));
        // The volume type alone (restrictedVolumes) never admits a hostPath.
        let types = set(json!([{"check": "restrictedVolumes"}]), json!({}), LATER);
        assert_eq!(decide(&types, &host_path_pod("/var/log")), (false, vec![]));
    }

    #[test]
    fn an_expired_exception_or_another_check_widens_nothing() {
        let expired = set(
            json!([{"check": "hostPathVolumes"}]),
            json!({}),
            "2026-06-01T00:00:00Z",
        );
        assert_eq!(
            decide(&expired, &host_path_pod("/var/log")),
            (false, vec![])
        );
        let other = set(json!([{"check": "hostPorts"}]), json!({}), LATER);
        assert_eq!(decide(&other, &host_path_pod("/var/log")), (false, vec![]));
    }

    #[test]
    fn a_container_scoped_exception_must_name_every_container() {
        let one = set(
            json!([{"check": "hostPathVolumes"}]),
            json!({"containers": ["agent"]}),
            LATER,
        );
        assert_eq!(decide(&one, &host_path_pod("/var/log")), (false, vec![]));
        let both = set(
            json!([{"check": "hostPathVolumes"}]),
            json!({"containers": ["agent", "sidecar"]}),
            LATER,
        );
        assert!(decide(&both, &host_path_pod("/var/log")).0);
    }

    #[test]
    fn a_pod_the_policies_admit_uses_no_exception() {
        let any = set(json!([{"check": "hostPathVolumes"}]), json!({}), LATER);
        let plain = pod(json!({"containers": [{"name": "app", "image": "app",
            "securityContext": {"allowPrivilegeEscalation": false}}]}));
        assert_eq!(decide(&any, &plain), (true, vec![]));
    }

    #[test]
    fn each_field_is_widened_to_the_waived_values() {
        let base = state().providers[0].psp.clone();
        let waiver = |check: CheckId, allow: Option<Allowed>| Waiver {
            target: Target::Check(check),
            allow,
        };
        let caps = widen(
            &base,
            &[&waiver(
                CheckId::CapabilitiesBaseline,
                Some(Allowed::Capabilities(vec!["NET_ADMIN".into()])),
            )],
        );
        assert_eq!(caps.spec.allowed_capabilities, vec!["NET_ADMIN"]);
        let ports = widen(
            &base,
            &[&waiver(
                CheckId::HostPorts,
                Some(Allowed::HostPorts(vec![9100])),
            )],
        );
        assert_eq!(
            (ports.spec.host_ports[0].min, ports.spec.host_ports[0].max),
            (9100, 9100)
        );
        let ns = widen(
            &base,
            &[&waiver(
                CheckId::HostNamespaces,
                Some(Allowed::HostNamespaces(vec!["hostPID".into()])),
            )],
        );
        assert!(ns.spec.host_pid && !ns.spec.host_network && !ns.spec.host_ipc);
        let sysctl = widen(
            &base,
            &[&waiver(
                CheckId::Sysctls,
                Some(Allowed::Sysctls(vec!["net.ipv4.ip_forward".into()])),
            )],
        );
        assert_eq!(
            sysctl.spec.allowed_unsafe_sysctls,
            vec!["net.ipv4.ip_forward"]
        );
        let privileged = widen(&base, &[&waiver(CheckId::Privileged, None)]);
        assert!(privileged.spec.privileged);
        let seccomp = widen(
            &base,
            &[&waiver(
                CheckId::SeccompProfileBaseline,
                Some(Allowed::Profiles(vec!["Unconfined".into()])),
            )],
        );
        assert_eq!(
            seccomp.annotation(SECCOMP_ALLOWED_ANNOTATION),
            Some("unconfined")
        );
        // Checks with no PodSecurityPolicy field leave the policy as it was.
        assert_eq!(
            widen(&base, &[&waiver(CheckId::WindowsHostProcess, None)]),
            base
        );
    }
}
