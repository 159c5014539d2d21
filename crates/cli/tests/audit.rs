//! `podsec audit` and `podsec migrate` end to end: the real binary on the fixture snapshot.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use util::podsec;

fn snapshot_text() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../audit/tests/fixtures/cluster-snapshot.json"),
    )
    .unwrap()
}

#[test]
fn audit_reads_a_snapshot_from_stdin_and_groups_pods_by_workload() {
    let run = podsec(
        &["audit", "-", "--what-if", "enforce=baseline,namespace=dmz"],
        snapshot_text().as_bytes(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    assert!(
        out.starts_with(
            "Cluster: 5 namespaces pass restricted 0, baseline 2, only privileged 3; 6 pods"
        ),
        "{out}"
    );
    assert!(out.contains(
        "Unlabelled namespaces (no Pod Security labels; the gaps): default, dmz, kube-system"
    ));
    assert!(
        out.contains("  Deployment web (2 pods): passes baseline; fails seccompProfile_restricted"),
        "{out}"
    );
    assert!(
        out.contains("  what if enforce=baseline:latest: 1 pod rejected"),
        "{out}"
    );
    assert!(
        out.contains("    debug: host namespaces, hostPort, privileged"),
        "{out}"
    );
    assert!(out.contains("example.com/v1 Widget (1)"));
}

#[test]
fn a_truncated_snapshot_still_gives_a_report_and_exits_2() {
    let text = snapshot_text();
    let cut = &text[..text.find("\"kind\": \"PodSecurityPolicy\"").unwrap()];
    let run = podsec(&["audit", "-", "-o", "json"], cut.as_bytes());
    assert_eq!(run.code, 2, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["incomplete"], true);
    assert_eq!(
        report["summary"]["pods"], 6,
        "every pod came before the cut"
    );
    let error = report["errors"][0].as_str().unwrap();
    assert!(
        error.starts_with("<stdin>: snapshot: EOF while parsing"),
        "{error}"
    );
}

#[test]
fn migrate_prints_the_rollout_commands_per_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.json");
    std::fs::write(&path, snapshot_text()).unwrap();
    let run = podsec(&["migrate", path.to_str().unwrap()], b"");
    assert_eq!(run.code, 1, "the unusable PSP is a finding: {}", run.stderr);
    assert!(
        run.stderr.is_empty(),
        "the snapshot reads in full: {}",
        run.stderr
    );
    let out = &run.stdout;
    assert!(
        out.contains("  deny-all: strictest equivalent level privileged; mutating"),
        "{out}"
    );
    assert!(
        out.contains(
            "    Deployment default/web (2 pods) relies on its defaults; set in the template:"
        ),
        "{out}"
    );
    assert!(out.contains("    $ kubectl label --overwrite ns dmz pod-security.kubernetes.io/enforce=privileged pod-security.kubernetes.io/enforce-version=latest"), "{out}");
    assert!(out.contains("RBAC: RoleBinding/shop/dangling: refers to Role/shop/psp-user, which does not exist; it grants nothing"));
    assert!(out.contains(
        "    unusable: error creating provider for PSP broken: MustRunAs requires at least one range"
    ));
    assert!(!out.contains("error: "), "{out}");
}

#[test]
fn migrate_refuses_the_audit_report_formats_and_puts_input_errors_on_stderr() {
    for format in ["sarif", "junit", "policyreport", "html"] {
        let run = podsec(&["migrate", "-", "-o", format], snapshot_text().as_bytes());
        assert_eq!(run.code, 2, "-o {format}");
        assert!(run.stdout.is_empty(), "-o {format}: {}", run.stdout);
        assert!(
            run.stderr
                .contains(&format!("run `podsec audit -o {format}`")),
            "-o {format}: {}",
            run.stderr
        );
    }
    let text = snapshot_text();
    let cut = &text[..text.find("\"kind\": \"PodSecurityPolicy\"").unwrap()];
    let run = podsec(&["migrate", "-"], cut.as_bytes());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("podsec: error: <stdin>: snapshot: EOF while parsing"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("error: "), "{}", run.stdout);
    assert!(
        run.stdout.contains("1 input error (on stderr)"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_yaml_snapshot_is_read_item_by_item_and_a_broken_item_is_named_by_line() {
    let yaml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../audit/tests/fixtures/cluster-snapshot.yaml"),
    )
    .unwrap();
    // Break the first item's YAML: the rest of the list is still audited.
    let broken = yaml.replacen(
        "  kind: Namespace\n",
        "  kind: Namespace\n  metadata: [unclosed\n",
        1,
    );
    let run = podsec(&["audit", "-", "-o", "json"], broken.as_bytes());
    assert_eq!(run.code, 2, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["summary"]["pods"], 6, "{}", run.stdout);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = errors[0].as_str().unwrap();
    // The item starts on line 4 (after a comment, `apiVersion` and `items:`); the parser
    // notices the unclosed sequence on line 7.
    assert!(
        error.starts_with("<stdin>: object at line 4: line 7: "),
        "{error}"
    );
}

/// `--kubeconfig` reads the cluster through the same cluster view as the webhook, listing
/// every resource from the API server (here a stand-in serving the fixture's objects): the
/// report is the one the snapshot file gives, but for the unknown kind, which is not listed.
#[test]
fn audit_and_migrate_read_the_live_api_as_they_read_a_snapshot() {
    let snapshot: serde_json::Value = serde_json::from_str(&snapshot_text()).unwrap();
    let objects = snapshot["items"].as_array().unwrap().clone();
    let (_dir, kubeconfig) = util::list_stub(objects, None);
    let kubeconfig = kubeconfig.to_str().unwrap();

    let live = podsec(&["audit", "--kubeconfig", kubeconfig, "-o", "json"], b"");
    assert_eq!(live.code, 0, "{}", live.stderr);
    let live = live.json();
    let file = podsec(&["audit", "-", "-o", "json"], snapshot_text().as_bytes()).json();
    assert_eq!(live["summary"]["pods"], 6);
    assert_eq!(live["namespaces"], file["namespaces"]);
    assert_eq!(live["summary"]["skipped_kinds"], serde_json::json!({}));

    let live = podsec(&["migrate", "--kubeconfig", kubeconfig, "-o", "json"], b"");
    let file = podsec(&["migrate", "-", "-o", "json"], snapshot_text().as_bytes());
    assert_eq!(live.code, file.code, "{}", live.stderr);
    let (live, file) = (live.json(), file.json());
    assert!(live["policies"].as_array().unwrap().len() >= 4);
    assert_eq!(live["policies"], file["policies"]);
    assert_eq!(live["namespaces"], file["namespaces"]);
}

#[test]
fn a_live_listing_that_fails_midway_gives_the_report_so_far_marked_incomplete() {
    let snapshot: serde_json::Value = serde_json::from_str(&snapshot_text()).unwrap();
    let objects = snapshot["items"].as_array().unwrap().clone();
    let (_dir, kubeconfig) = util::list_stub(objects, Some("/apis/apps/v1/deployments"));
    let run = podsec(
        &[
            "audit",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "-o",
            "json",
        ],
        b"",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["incomplete"], true);
    assert_eq!(
        report["summary"]["pods"], 6,
        "pods are listed before deployments"
    );
    let error = report["errors"][0].as_str().unwrap();
    assert!(
        error.starts_with("cluster: listing stopped: listing deployments: ")
            && error.contains("etcd is on fire"),
        "{error}"
    );
}

/// A snapshot without Namespace objects (`kubectl get pods -A -o json`) cannot say what the
/// namespaces enforce: the audit says so on stderr, and migrate gives no label commands.
#[test]
fn a_snapshot_without_namespace_objects_warns_and_gives_no_label_commands() {
    let pods = r#"{"apiVersion":"v1","kind":"List","items":[
        {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"team"},"spec":{"containers":[{"name":"c","image":"x"}]}}]}"#;
    let audit = podsec(&["audit", "-"], pods.as_bytes());
    assert_eq!(audit.code, 0, "{}", audit.stderr);
    assert_eq!(
        audit.stderr,
        "podsec: warning: namespace team: no Namespace object in the snapshot, so its labels are unknown: its pods were judged as if it had none, and no label commands are given; list namespaces too (kubectl get namespaces,pods,… -A -o json)\n"
    );
    let migrate = podsec(&["migrate", "-", "-o", "json"], pods.as_bytes());
    assert_eq!(migrate.code, 0, "{}", migrate.stderr);
    let plan = migrate.json();
    assert_eq!(plan["namespaces"][0]["name"], "team");
    assert_eq!(plan["namespaces"][0]["commands"], serde_json::json!([]));
    assert!(plan["namespaces"][0]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n
            .as_str()
            .unwrap()
            .starts_with("its labels are not (all) in the snapshot")));
}

/// Pods listed before their Namespace object were judged without its labels: warned.
#[test]
fn pods_before_their_namespace_are_warned_about() {
    let snapshot = r#"{"apiVersion":"v1","kind":"List","items":[
        {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"team"},"spec":{"containers":[{"name":"c","image":"x"}]}},
        {"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team","labels":{"pod-security.kubernetes.io/enforce":"baseline","pod-security.kubernetes.io/enforce-version":"v1.25"}}}]}"#;
    let audit = podsec(&["audit", "-"], snapshot.as_bytes());
    assert_eq!(audit.code, 0, "{}", audit.stderr);
    assert!(
        audit.stderr.contains("podsec: warning: namespace team: 1 pod came before its Namespace object and was judged without its labels"),
        "{}",
        audit.stderr
    );
    let migrate = podsec(&["migrate", "-", "-o", "json"], snapshot.as_bytes());
    assert_eq!(
        migrate.json()["namespaces"][0]["commands"],
        serde_json::json!([])
    );
}

/// `podsec … | head -1`: the reader going away ends podsec quietly, as kubectl ends.
#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let mut items = Vec::new();
    for i in 0..20_000 {
        items.push(format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p{i}","namespace":"n"}},"spec":{{"containers":[{{"name":"c","image":"x"}}]}}}}"#
        ));
    }
    let input = format!(
        r#"{{"kind":"List","apiVersion":"v1","items":[{}]}}"#,
        items.join(",")
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_podsec"))
        .args(["check", "-o", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "{\n");
    // stdout is closed here, with megabytes still to come.
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(0));
}
