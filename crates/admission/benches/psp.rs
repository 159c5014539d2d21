//! `cargo bench -p podsec-admission --bench psp`: PodSecurityPolicy admission with 50 policies
//! and 10,000 RBAC bindings in state. Each decision defaults and validates the pod against
//! every policy in order and asks RBAC (indexed by subject) who may use them.

use std::hint::black_box;
use std::time::Instant;

use podsec_policy::psp::selection::{select_policy, Phase, PspState};
use podsec_policy::psp::PodSecurityPolicy;
use podsec_policy::rbac::{Binding, Rbac, Role, UserIdentity};
use podsec_policy::{ObjectMeta, PodSpec};
use serde_json::json;

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    match serde_json::from_value(v) {
        Ok(t) => t,
        Err(e) => panic!("benchmark object: {e}"),
    }
}

fn main() {
    // 50 policies: a mix of restrictive (mutating) and permissive ones.
    let psps: Vec<PodSecurityPolicy> = (0..50)
        .map(|i| {
            let restrictive = i % 2 == 0;
            from(json!({"metadata": {"name": format!("psp-{i:02}"), "annotations": if restrictive {
                    json!({"seccomp.security.alpha.kubernetes.io/allowedProfileNames": "runtime/default", "seccomp.security.alpha.kubernetes.io/defaultProfileName": "runtime/default"})
                } else { json!({}) }},
                "spec": if restrictive { json!({
                    "privileged": false, "allowPrivilegeEscalation": false, "requiredDropCapabilities": ["ALL"],
                    "volumes": ["configMap", "emptyDir", "projected", "secret", "downwardAPI", "persistentVolumeClaim"],
                    "runAsUser": {"rule": "MustRunAsNonRoot"}, "seLinux": {"rule": "RunAsAny"},
                    "supplementalGroups": {"rule": "MustRunAs", "ranges": [{"min": 1, "max": 65535}]},
                    "fsGroup": {"rule": "MustRunAs", "ranges": [{"min": 1, "max": 65535}]}})
                } else { json!({
                    "privileged": i % 4 == 1, "volumes": ["*"], "allowedCapabilities": ["NET_ADMIN"],
                    "runAsUser": {"rule": "RunAsAny"}, "seLinux": {"rule": "RunAsAny"},
                    "supplementalGroups": {"rule": "RunAsAny"}, "fsGroup": {"rule": "RunAsAny"}})
                }}))
        })
        .collect();
    // One ClusterRole per policy; 10,000 RoleBindings across 1,000 namespaces, to users,
    // groups and service accounts.
    let cluster_roles: Vec<Role> = (0..50)
        .map(|i| from(json!({"metadata": {"name": format!("use-psp-{i:02}")},
            "rules": [{"apiGroups": ["policy"], "resources": ["podsecuritypolicies"], "verbs": ["use"], "resourceNames": [format!("psp-{i:02}")]}]})))
        .collect();
    let bindings: Vec<Binding> = (0..10_000)
        .map(|i| {
            let subject = match i % 3 {
                0 => json!({"kind": "User", "name": format!("user-{}", i % 500)}),
                1 => json!({"kind": "Group", "name": format!("team-{}", i % 200)}),
                _ => json!({"kind": "ServiceAccount", "name": "default", "namespace": format!("ns-{}", i % 1000)}),
            };
            from(json!({"metadata": {"name": format!("b-{i}"), "namespace": format!("ns-{}", i % 1000)},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("use-psp-{:02}", i % 50)},
                "subjects": [subject]}))
        })
        .collect();
    let (rbac, problems) = Rbac::build(&[], &cluster_roles, &bindings, &[]);
    assert!(problems.is_empty());
    let state = PspState::new(&psps, rbac, Vec::new());
    let pods: Vec<(ObjectMeta, PodSpec)> = [
        json!({"containers": [{"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}]}], "serviceAccountName": "default"}),
        json!({"containers": [{"name": "app", "image": "app", "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}], "securityContext": {"fsGroup": 10, "supplementalGroups": [10]}, "serviceAccountName": "default"}),
        json!({"containers": [{"name": "agent", "image": "agent", "securityContext": {"privileged": true}}], "serviceAccountName": "default", "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}),
    ]
    .into_iter()
    .map(|spec| (ObjectMeta::default(), from(spec)))
    .collect();
    let users: Vec<UserIdentity> = (0..50)
        .map(|i| {
            UserIdentity::with_default_groups(
                &format!("user-{}", i * 7 % 600),
                vec![format!("team-{}", i * 3 % 250)],
            )
        })
        .collect();

    let mut samples = Vec::with_capacity(60_000);
    let mut admitted = 0;
    for round in 0..20_000 {
        let (meta, spec) = &pods[round % pods.len()];
        let user = &users[round % users.len()];
        let ns = format!("ns-{}", round % 1000);
        let t = Instant::now();
        let outcome = select_policy(&state, meta, spec, &ns, user, Phase::Admit);
        samples.push(t.elapsed().as_nanos() as u64);
        admitted += usize::from(black_box(outcome).admitted.is_some());
    }
    samples.sort_unstable();
    let pct = |p: f64| {
        samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)] as f64 / 1000.0
    };
    println!(
        "50 PSPs, 10,000 RoleBindings: {} decisions ({} admitted): p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        samples.len(),
        admitted,
        pct(0.50),
        pct(0.99),
        samples.last().copied().unwrap_or(0) as f64 / 1000.0
    );
}
