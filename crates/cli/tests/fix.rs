//! `podsec fix` end to end: kubectl's own manifests, `examples/` and a multi-document file
//! with comments come out passing `podsec check` where that can be done safely, byte-identical
//! outside the inserted lines, unchanged on a second run, with the exact unfixable list.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use util::{kubectl, podsec};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// Every line of `before` is in `after`, in order: the fix only inserted lines.
fn only_insertions(before: &str, after: &str) {
    let mut rest = after.split_inclusive('\n');
    for line in before.split_inclusive('\n') {
        assert!(
            rest.any(|l| l == line || l.trim_end_matches('\n') == line),
            "line {line:?} was changed or moved:\n{after}"
        );
    }
}

#[test]
fn kubectl_manifests_are_fixed_to_pass_restricted_idempotently() {
    let manifests = [
        kubectl(
            &[
                "create",
                "deployment",
                "web",
                "--image=nginx",
                "--dry-run=client",
                "-o",
                "yaml",
            ],
            None,
        ),
        kubectl(
            &[
                "create",
                "cronjob",
                "nightly",
                "--image=busybox",
                "--schedule=0 3 * * *",
                "--dry-run=client",
                "-o",
                "yaml",
            ],
            None,
        ),
        kubectl(
            &[
                "create",
                "job",
                "once",
                "--image=busybox",
                "--dry-run=client",
                "-o",
                "yaml",
            ],
            None,
        ),
        kubectl(
            &[
                "create",
                "deployment",
                "web",
                "--image=nginx",
                "--dry-run=client",
                "-o",
                "json",
            ],
            None,
        ),
    ];
    for manifest in manifests {
        let before = podsec(
            &["check", "-", "--level", "restricted"],
            manifest.as_bytes(),
        );
        assert_eq!(
            before.code, 1,
            "kubectl's manifest fails restricted:\n{}",
            before.stdout
        );
        let fixed = podsec(&["fix", "-", "--level", "restricted"], manifest.as_bytes());
        assert_eq!(fixed.code, 0, "{}", fixed.stderr);
        assert!(
            fixed.stderr.is_empty(),
            "nothing unfixable: {}",
            fixed.stderr
        );
        let after = podsec(
            &["check", "-", "--level", "restricted"],
            fixed.stdout.as_bytes(),
        );
        assert_eq!(after.code, 0, "{}\n{}", fixed.stdout, after.stdout);
        if manifest.trim_start().starts_with('{') {
            serde_json::from_str::<serde_json::Value>(&fixed.stdout).expect("still JSON");
        } else {
            only_insertions(&manifest, &fixed.stdout);
        }
        let again = podsec(
            &["fix", "-", "--level", "restricted"],
            fixed.stdout.as_bytes(),
        );
        assert_eq!(again.stdout, fixed.stdout, "a second run changes nothing");
    }
}

const MULTI: &str = "# Team web's manifests.
apiVersion: v1
kind: ConfigMap   # not a workload: untouched
metadata:
  name: settings
data:
  mode: 'production'
---
# The API.
apiVersion: apps/v1
kind: Deployment
metadata:
    name: api
spec:
    selector:
        matchLabels: {app: api}
    template:
        metadata:
            labels: {app: api}
        spec:
            containers:
                - name: api        # the server
                  image: \"registry.example.com/api:1.2\"
                  ports:
                      - containerPort: 8080
                - name: proxy
                  image: envoy
                  securityContext:
                      runAsNonRoot: true
---
apiVersion: v1
kind: Pod
metadata:
  name: agent
spec:
  hostNetwork: true
  containers:
  - name: agent
    image: agent
    securityContext:
      capabilities:
        add: [NET_ADMIN]
...
";

#[test]
fn a_multi_document_file_keeps_comments_quoting_and_indentation() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("team.yaml");
    std::fs::write(&file, MULTI).unwrap();
    let path = file.to_str().unwrap();

    let diff = podsec(&["fix", path], b"");
    assert_eq!(diff.code, 1, "the agent cannot be fixed: {}", diff.stderr);
    assert!(
        diff.stdout
            .starts_with(&format!("--- {path}\n+++ {path}\n")),
        "{}",
        diff.stdout
    );
    let changed: Vec<&str> = diff
        .stdout
        .lines()
        .filter(|l| l.starts_with(['+', '-']) && !l.starts_with("---") && !l.starts_with("+++"))
        .collect();
    assert!(
        changed.iter().all(|l| l.starts_with('+')),
        "only insertions: {changed:?}"
    );

    let write = podsec(&["fix", "--write", path], b"");
    assert_eq!(write.code, 1);
    let after = std::fs::read_to_string(&file).unwrap();
    only_insertions(MULTI, &after);
    // The four-space document got four-space insertions, at the containers' indentation.
    assert!(
        after.contains(
            "                  ports:
                      - containerPort: 8080
                  securityContext:
                      allowPrivilegeEscalation: false
                      capabilities:
                          drop: [ALL]
"
        ),
        "{after}"
    );
    assert!(
        after.contains(
            "            securityContext:
                runAsNonRoot: true
                seccompProfile:
                    type: RuntimeDefault
"
        ),
        "{after}"
    );
    // The ConfigMap document is byte-identical.
    assert!(after.starts_with(&MULTI[..MULTI.find("---").unwrap()]));

    // The unfixable list is exact: the agent's host network and its NET_ADMIN.
    let unfixable: Vec<&str> = write
        .stderr
        .lines()
        .filter(|l| l.contains("cannot fix"))
        .collect();
    assert_eq!(unfixable.len(), 2, "{}", write.stderr);
    assert!(
        unfixable[0]
            .contains(": Pod/agent: cannot fix hostNamespaces (host namespaces: hostNetwork=true)"),
        "{}",
        unfixable[0]
    );
    assert!(unfixable[0].ends_with("admit it with a PodSecurityException waiving hostNamespaces for this workload, or namespace level privileged"), "{}", unfixable[0]);
    assert!(
        unfixable[1].contains("cannot fix capabilities_restricted"),
        "{}",
        unfixable[1]
    );
    assert!(unfixable[1].ends_with("waiving capabilities_restricted and capabilities_baseline for this workload, or namespace level privileged"), "{}", unfixable[1]);

    // Checked: everything but the agent passes; the agent fails exactly what was listed.
    let check = podsec(&["check", path, "--level", "restricted", "-o", "json"], b"");
    let results = check.json()["results"].as_array().unwrap().clone();
    for r in &results {
        let failed: Vec<&str> = r["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["check"].as_str().unwrap())
            .collect();
        match r["name"].as_str().unwrap() {
            "agent" => assert_eq!(failed, ["hostNamespaces", "capabilities_restricted"]),
            other => assert!(failed.is_empty(), "{other}: {failed:?}"),
        }
    }
    // A second run changes nothing.
    let again = podsec(&["fix", path], b"");
    assert!(again.stdout.is_empty(), "{}", again.stdout);
}

/// `examples/`: the fix of each file, checked again, fails exactly what was reported
/// unfixable. (Without `namespaces.yaml`: its labels would make `check` judge some namespaces
/// at other levels than the `--level` both are given.)
#[test]
fn examples_fail_after_the_fix_exactly_what_is_reported_unfixable() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo("examples"), dir.path());
    let path = dir.path().to_str().unwrap();
    let report = podsec(&["fix", path, "--write", "-o", "json"], b"");
    assert_eq!(report.code, 1, "{}", report.stderr);
    let report = report.json();
    let reported: BTreeSet<(String, String)> = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| {
            o["unfixable"].as_array().unwrap().iter().map(move |u| {
                (
                    o["name"].as_str().unwrap().to_string(),
                    u["check"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect();
    assert!(!reported.is_empty());
    let check = podsec(&["check", path, "--level", "restricted", "-o", "json"], b"");
    let failing: BTreeSet<(String, String)> = check.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["violations"].as_array().unwrap().iter().map(move |v| {
                (
                    r["name"].as_str().unwrap().to_string(),
                    v["check"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect();
    assert_eq!(reported, failing);
    // Nothing fixable is left: a second run has no edits.
    let again = podsec(&["fix", path, "-o", "json"], b"").json();
    for o in again["objects"].as_array().unwrap() {
        assert_eq!(o["patch"], serde_json::json!([]), "{o}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() && entry.file_name() != "namespaces.yaml" {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}
