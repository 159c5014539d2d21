//! PodSecurityPolicy from the command line, on the seed scenarios: `psp list`, `can-i`,
//! `explain` and `check --psp`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use util::podsec;

fn fixture(path: &str) -> String {
    format!("{}/tests/fixtures/psp/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn psp_list_prints_what_kubectl_get_psp_printed_in_seed_000() {
    let run = podsec(
        &[
            "psp",
            "list",
            &fixture("seed000"),
            &fixture("seed000-allow"),
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The seed's output, whose column spacing the article lost; compare cell by cell, then
    // check the spacing is kubectl's (tabwriter: 3 spaces of padding, at least 10 wide).
    let seed = "NAME PRIV CAPS SELINUX RUNASUSER FSGROUP SUPGROUP READONLYROOTFS VOLUMES\n\
                allow-all true * RunAsAny RunAsAny RunAsAny RunAsAny false *\n\
                deny-all false RunAsAny MustRunAsNonRoot MustRunAs MustRunAs false configMap,emptyDir,projected,secret,downwardAPI,persistentVolumeClaim";
    let squeeze = |s: &str| {
        s.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(squeeze(&run.stdout), seed);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "NAME        PRIV      CAPS      SELINUX    RUNASUSER          FSGROUP     SUPGROUP    READONLYROOTFS   VOLUMES");
    assert_eq!(lines[2], "deny-all    false               RunAsAny   MustRunAsNonRoot   MustRunAs   MustRunAs   false            configMap,emptyDir,projected,secret,downwardAPI,persistentVolumeClaim");
}

#[test]
fn seed_000_k8user_is_denied_in_default_and_admitted_in_dmz() {
    let state = [fixture("seed000"), fixture("seed000-allow")];
    let run = podsec(
        &[
            "explain",
            &fixture("nginx-pod.yaml"),
            "--as",
            "k8user",
            "-n",
            "default",
            "--state",
            &state[0],
            "--state",
            &state[1],
        ],
        b"",
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.ends_with(
            "Result: pods \"nginx-01\" is forbidden: PodSecurityPolicy: unable to admit pod: []\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("deny-all:\n    may use: neither the service account nor the user"),
        "{}",
        run.stdout
    );

    let run = podsec(
        &[
            "explain",
            &fixture("nginx-pod.yaml"),
            "--as",
            "k8user",
            "-n",
            "dmz",
            "--state",
            &state[0],
            "--state",
            &state[1],
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("allow-all:\n    may use: the user, through RoleBinding/dmz/allow-all-rolebinding (ClusterRole/allow-all-clusterrole, Group system:authenticated)\n    admits the pod unchanged"), "{}", run.stdout);
    assert!(
        run.stdout
            .ends_with("Result: admitted by allow-all (annotation kubernetes.io/psp: allow-all)\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn seed_000_the_administrators_pod_gets_deny_all_defaults() {
    // As in the seed, before allow-all exists: only deny-all, which the administrator may use
    // as a member of system:masters (authorized before RBAC; the seed has no binding for it).
    let run = podsec(
        &[
            "explain",
            &fixture("nginx-pod.yaml"),
            "--as",
            "kubernetes-admin",
            "--as-group",
            "system:masters",
            "-n",
            "default",
            "--state",
            &fixture("seed000"),
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for expected in [
        "may use: the user, through the system:masters group (authorized before RBAC) (every permission, Group system:masters)",
        "add /metadata/annotations {\"container.apparmor.security.beta.kubernetes.io/nginx-01\":\"runtime/default\",\"seccomp.security.alpha.kubernetes.io/pod\":\"docker/default\"}",
        "add /spec/containers/0/securityContext {\"allowPrivilegeEscalation\":false,\"capabilities\":{\"drop\":[\"ALL\"]},\"runAsNonRoot\":true}",
        "add /spec/securityContext {\"fsGroup\":1,\"supplementalGroups\":[1]}",
        "Result: admitted by deny-all",
    ] {
        assert!(run.stdout.contains(expected), "missing {expected:?} in\n{}", run.stdout);
    }
}

#[test]
fn seed_002_eks_privileged_admits_everything_until_removed() {
    let with_eks = [fixture("seed002")];
    let run = podsec(
        &[
            "explain",
            &fixture("privileged-app-pod.yaml"),
            "--as",
            "system:serviceaccount:kube-system:replicaset-controller",
            "--state",
            &with_eks[0],
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "may use: the user, through ClusterRoleBinding/eks:podsecuritypolicy:authenticated"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with(
            "Result: admitted by eks.privileged (annotation kubernetes.io/psp: eks.privileged)\n"
        ),
        "{}",
        run.stdout
    );

    // Without eks.privileged (the seed deletes it and its binding), only `example` remains:
    // the app service account may use it, and it forbids privileged containers.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("seed002/example.yaml"),
        dir.path().join("example.yaml"),
    )
    .unwrap();
    let state = dir.path().to_str().unwrap();
    let run = podsec(
        &[
            "explain",
            &fixture("privileged-app-pod.yaml"),
            "--as",
            "system:serviceaccount:kube-system:replicaset-controller",
            "--state",
            state,
        ],
        b"",
    );
    assert_eq!(run.code, 1);
    assert!(run.stdout.ends_with("Result: pods \"privileged-app\" is forbidden: PodSecurityPolicy: unable to admit pod: [spec.containers[0].securityContext.privileged: Invalid value: true: Privileged containers are not allowed]\n"), "{}", run.stdout);
    // The Deployment's pods (not privileged) pass `example` through the service account.
    let run = podsec(
        &[
            "check",
            "--psp",
            state,
            "-o",
            "json",
            &fixture("seed002/app-deployment.yaml"),
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["results"][0]["version"], "example");
    // With no policy at all, nothing can be admitted.
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(
        empty.path().join("ns.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: app-test}\n",
    )
    .unwrap();
    let run = podsec(
        &[
            "explain",
            &fixture("privileged-app-pod.yaml"),
            "--as",
            "u",
            "--state",
            empty.path().to_str().unwrap(),
        ],
        b"",
    );
    assert!(
        run.stdout
            .contains("PodSecurityPolicy: no providers available to validate pod request"),
        "{}",
        run.stdout
    );
}

#[test]
fn seed_002_a_wildcard_extensions_rule_grants_every_policy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("seed002/example.yaml"),
        dir.path().join("example.yaml"),
    )
    .unwrap();
    std::fs::copy(
        fixture("seed002-wildcard/wildcard.yaml"),
        dir.path().join("wildcard.yaml"),
    )
    .unwrap();
    let state = dir.path().to_str().unwrap();
    let run = podsec(
        &[
            "can-i",
            "use",
            "psp/zz-privileged",
            "--as",
            "system:serviceaccount:app-test:app",
            "-n",
            "app-test",
            "--state",
            state,
        ],
        b"",
    );
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout, "yes\ngranted by ClusterRoleBinding/app:extensions-everything (ClusterRole/extensions-everything; subject ServiceAccount app; API group extensions)\n");
    let run = podsec(
        &[
            "explain",
            &fixture("privileged-app-pod.yaml"),
            "--as",
            "system:serviceaccount:kube-system:replicaset-controller",
            "--state",
            state,
        ],
        b"",
    );
    assert!(run.stdout.contains("zz-privileged:\n    may use: the service account, through ClusterRoleBinding/app:extensions-everything"), "{}", run.stdout);
    assert!(
        run.stdout.ends_with(
            "Result: admitted by zz-privileged (annotation kubernetes.io/psp: zz-privileged)\n"
        ),
        "{}",
        run.stdout
    );
    // kubectl auth can-i's `--as app` is a user named app, not the service account.
    let run = podsec(
        &[
            "can-i",
            "use",
            "podsecuritypolicy/example",
            "--as",
            "app",
            "-n",
            "app-test",
            "--state",
            state,
        ],
        b"",
    );
    assert_eq!((run.code, run.stdout.as_str()), (1, "no\n"));
}

#[test]
fn seed_003_a_privileged_pod_created_as_the_service_account_is_rejected() {
    let state = fixture("seed003");
    let run = podsec(
        &[
            "can-i",
            "use",
            "podsecuritypolicy/unprivileged",
            "--as",
            "system:serviceaccount:team:builder",
            "-n",
            "team",
            "--state",
            &state,
        ],
        b"",
    );
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("yes\ngranted by RoleBinding/team/builder:psp:unprivileged (Role/team/psp:unprivileged; subject ServiceAccount builder; API group policy)"), "{}", run.stdout);
    let run = podsec(
        &[
            "explain",
            &fixture("seed003-privileged-pod.yaml"),
            "--as",
            "system:serviceaccount:team:builder",
            "--state",
            &state,
        ],
        b"",
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains(
            "may use: the service account, through RoleBinding/team/default:psp:unprivileged"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.ends_with("Result: pods \"privileged\" is forbidden: PodSecurityPolicy: unable to admit pod: [spec.containers[0].securityContext.privileged: Invalid value: true: Privileged containers are not allowed]\n"), "{}", run.stdout);
    let run = podsec(
        &[
            "check",
            "--psp",
            &state,
            "--as",
            "system:serviceaccount:team:builder",
            "-o",
            "json",
            &fixture("seed003-privileged-pod.yaml"),
        ],
        b"",
    );
    assert_eq!(run.code, 1);
    let r = &run.json()["results"][0];
    assert_eq!(r["message"], "pods \"privileged\" is forbidden: PodSecurityPolicy: unable to admit pod: [spec.containers[0].securityContext.privileged: Invalid value: true: Privileged containers are not allowed]");
    assert_eq!(r["violations"][0]["check"], "unprivileged");
    assert_eq!(
        r["violations"][0]["fields"][0],
        "spec.containers[0].securityContext.privileged"
    );
}

/// kube-apiserver authorizes system:masters before RBAC: the seed's administrator may use
/// every policy with no binding at all, and nobody else gets that from the group name alone.
#[test]
fn system_masters_may_use_every_policy_without_a_binding() {
    let state = fixture("seed000");
    let admin = podsec(
        &[
            "can-i",
            "use",
            "psp/deny-all",
            "--as",
            "admin",
            "--as-group",
            "system:masters",
            "-n",
            "default",
            "--state",
            &state,
        ],
        b"",
    );
    assert_eq!(admin.code, 0, "{}{}", admin.stdout, admin.stderr);
    assert!(admin.stdout.starts_with("yes"), "{}", admin.stdout);
    assert!(admin.stdout.contains("system:masters"), "{}", admin.stdout);
    let user = podsec(
        &[
            "can-i",
            "use",
            "psp/deny-all",
            "--as",
            "admin",
            "-n",
            "default",
            "--state",
            &state,
        ],
        b"",
    );
    assert_eq!(user.code, 1, "{}{}", user.stdout, user.stderr);
    assert!(user.stdout.starts_with("no"), "{}", user.stdout);
}
