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
