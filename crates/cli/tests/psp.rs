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
    let result = &run.json()["results"][0];
    assert_eq!(result["psp"]["admittedBy"], "example");
    assert_eq!(result["level"], serde_json::Value::Null);
    assert_eq!(result["version"], serde_json::Value::Null);
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

/// `--psp` names policies to check against: a path that cannot be read, or a policy file
/// that cannot be decoded, is fatal (exit 2, on stderr) — never a fallback to a PSS check.
#[test]
fn check_psp_unreadable_policies_are_fatal() {
    let pod = fixture("nginx-pod.yaml");
    let missing = podsec(
        &["check", "--psp", "/nonexistent/podsec-policies", &pod],
        b"",
    );
    assert_eq!(missing.code, 2, "{}", missing.stdout);
    assert!(missing.stdout.is_empty(), "{}", missing.stdout);
    assert!(
        missing.stderr.starts_with("podsec: --psp /nonexistent/podsec-policies: /nonexistent/podsec-policies: cannot read file:"),
        "{}",
        missing.stderr
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("psp.yaml"),
        "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata:\n  name: dup\nspec:\n  privileged: false\n  privileged: true\n",
    )
    .unwrap();
    let malformed = podsec(&["check", "--psp", dir.path().to_str().unwrap(), &pod], b"");
    assert_eq!(malformed.code, 2, "{}", malformed.stdout);
    assert!(malformed.stdout.is_empty(), "{}", malformed.stdout);
    assert!(
        malformed
            .stderr
            .contains("psp.yaml:7: duplicate key \"privileged\""),
        "{}",
        malformed.stderr
    );
}

/// A pod a policy admits only after setting its defaults is reported as such, with the
/// policy and the defaults; a denial names no policy in POLICY; the namespace of an object
/// without one is `-n`, else `default`, in check as in explain.
#[test]
fn check_psp_reports_the_admitting_policy_its_defaults_and_the_namespace_rule() {
    let seed = fixture("seed000");
    let allow = fixture("seed000-allow");
    let pod = fixture("nginx-pod.yaml");
    let admin = podsec(
        &[
            "check",
            "--psp",
            &seed,
            "--as",
            "admin",
            "--as-group",
            "system:masters",
            "-o",
            "json",
            &pod,
        ],
        b"",
    );
    assert_eq!(admin.code, 0, "{}{}", admin.stdout, admin.stderr);
    let r = &admin.json()["results"][0];
    assert_eq!(r["psp"]["admittedBy"], "deny-all");
    let defaults: Vec<&str> = r["psp"]["defaults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["path"].as_str().unwrap())
        .collect();
    assert!(
        defaults.contains(&"/spec/containers/0/securityContext"),
        "{defaults:?}"
    );
    let table = podsec(
        &[
            "check",
            "--psp",
            &seed,
            "--as",
            "admin",
            "--as-group",
            "system:masters",
            &pod,
        ],
        b"",
    );
    assert!(
        table.stdout.contains("psp/deny-all")
            && table.stdout.contains(
                "admitted by deny-all after setting its defaults: add /metadata/annotations"
            ),
        "{}",
        table.stdout
    );
    // k8user may use allow-all only in dmz: denied in default (no namespace, no -n) ...
    let denied = podsec(
        &[
            "check", "--psp", &seed, "--psp", &allow, "--as", "k8user", &pod,
        ],
        b"",
    );
    assert_eq!(denied.code, 1, "{}", denied.stdout);
    assert!(
        denied.stdout.contains("psp (none admits)"),
        "{}",
        denied.stdout
    );
    assert!(!denied.stdout.contains("psp: "), "{}", denied.stdout);
    // ... and admitted with -n dmz, unchanged.
    let dmz = podsec(
        &[
            "check", "--psp", &seed, "--psp", &allow, "--as", "k8user", "-n", "dmz", "-o", "json",
            &pod,
        ],
        b"",
    );
    assert_eq!(dmz.code, 0, "{}", dmz.stdout);
    let r = &dmz.json()["results"][0];
    assert_eq!(r["namespace"], "dmz");
    assert_eq!(r["psp"]["admittedBy"], "allow-all");
    assert_eq!(r["psp"]["defaults"], serde_json::json!([]));
    // An object in another namespace than -n is refused, as kubectl does.
    let other = podsec(
        &["check", "-n", "dmz", "-o", "json", "-"],
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: team}\nspec: {containers: [{name: c, image: x}]}\n",
    );
    assert_eq!(other.code, 2);
    assert_eq!(
        other.json()["errors"][0]["message"],
        "Pod p: the namespace from the provided object \"team\" does not match the namespace \"dmz\"; pass -n team or remove the object's namespace"
    );
}

/// `explain` explains every pod-bearing object of a multi-document file, not the first only.
#[test]
fn explain_covers_every_object_of_a_multi_document_file() {
    let dir = tempfile::tempdir().unwrap();
    let pod = std::fs::read_to_string(fixture("nginx-pod.yaml")).unwrap();
    let second = pod.replace("name: nginx-01", "name: nginx-02");
    let both = dir.path().join("pods.yaml");
    std::fs::write(&both, format!("{pod}---\n{second}")).unwrap();
    let run = podsec(
        &[
            "explain",
            both.to_str().unwrap(),
            "--as",
            "admin",
            "--as-group",
            "system:masters",
            "--state",
            &fixture("seed000"),
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("Pod nginx-01 in namespace default"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Pod nginx-02 in namespace default"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.matches("Result: admitted by deny-all").count(),
        2,
        "{}",
        run.stdout
    );
}

/// `psp list` with no policies says so as kubectl does; with policies, ends its last line.
#[test]
fn psp_list_without_policies_says_no_resources_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ns.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
    )
    .unwrap();
    let run = podsec(&["psp", "list", dir.path().to_str().unwrap()], b"");
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "No resources found\n");
    let listed = podsec(&["psp", "list", &fixture("seed000")], b"");
    assert!(
        listed.stdout.ends_with("persistentVolumeClaim\n"),
        "{:?}",
        listed.stdout
    );
}
