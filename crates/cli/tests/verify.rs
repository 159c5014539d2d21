//! `podsec verify`: gatekeeper-library's pod-security-policy suites (gator Suite files) pass,
//! with each engine, and failures are reported and exit 1.
//!
//! The suites are read from `$PODSEC_GATEKEEPER_CORPUS`, else from
//! `shared/conformance/gatekeeper/pod-security-policy` next to the repository. A missing
//! corpus fails the test: it is never skipped.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use std::path::PathBuf;

use util::podsec;

fn corpus() -> PathBuf {
    if let Some(dir) = std::env::var_os("PODSEC_GATEKEEPER_CORPUS") {
        return PathBuf::from(dir);
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        repo.join("../shared/conformance/gatekeeper/pod-security-policy"),
        PathBuf::from("/work/shared/conformance/gatekeeper/pod-security-policy"),
    ];
    for c in &candidates {
        if c.join("privileged-containers/suite.yaml").is_file() {
            return c.clone();
        }
    }
    panic!(
        "the gatekeeper-library corpus is missing: looked in {candidates:?}. \
         Set PODSEC_GATEKEEPER_CORPUS to the pod-security-policy directory."
    );
}

#[test]
fn every_library_case_passes_with_each_engine() {
    let dir = corpus();
    let dir = dir.to_str().unwrap();
    for engine in ["auto", "rego", "cel"] {
        let run = podsec(&["verify", dir, "--engine", engine, "-o", "json"], b"");
        let json = run.json();
        let failures: Vec<String> = json["suites"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["tests"].as_array().unwrap().iter().map(move |t| (s, t)))
            .flat_map(|(s, t)| {
                t["cases"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["passed"] != true)
                    .map(move |c| format!("{} {} {}: {c}", s["file"], t["name"], c["name"]))
            })
            .collect();
        assert!(failures.is_empty(), "engine {engine}: {failures:#?}");
        assert_eq!(run.code, 0, "engine {engine}: {}", run.stderr);
        let summary = &json["summary"];
        assert_eq!(summary["suites"], 19, "engine {engine}");
        assert_eq!(summary["cases"], 140, "engine {engine}");
        assert_eq!(summary["passed"], 140, "engine {engine}");
        assert_eq!(summary["failed"], 0, "engine {engine}");
    }
}

#[test]
fn text_output_is_go_test_style() {
    let dir = corpus().join("privileged-containers");
    let run = podsec(&["verify", dir.to_str().unwrap()], b"");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("=== RUN   privileged-containers-disallowed\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("    --- PASS: example-disallowed\t("),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\nok\t"), "{}", run.stdout);
    assert!(
        run.stdout
            .ends_with("1 suites, 1 tests, 5 cases: 5 passed, 0 failed, 0 skipped\n"),
        "{}",
        run.stdout
    );
}

/// A suite whose expectations are wrong fails, says why, and exits 1.
#[test]
fn failing_assertions_are_reported() {
    let corpus = corpus().join("privileged-containers");
    let tmp = tempfile::tempdir().unwrap();
    for file in ["template.yaml", "samples"] {
        let status = std::process::Command::new("cp")
            .args([
                "-r",
                corpus.join(file).to_str().unwrap(),
                tmp.path().to_str().unwrap(),
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
    std::fs::write(
        tmp.path().join("suite.yaml"),
        r#"kind: Suite
apiVersion: test.gatekeeper.sh/v1alpha1
tests:
- name: wrong-expectations
  template: template.yaml
  constraint: samples/psp-privileged-container/constraint.yaml
  cases:
  - name: says-allowed-but-is-denied
    object: samples/psp-privileged-container/example_disallowed.yaml
    assertions:
    - violations: no
  - name: wrong-message
    object: samples/psp-privileged-container/example_disallowed.yaml
    assertions:
    - violations: 1
      message: "no such text"
  - name: no-assertions
    object: samples/psp-privileged-container/example_disallowed.yaml
    assertions: []
  - name: skipped
    skip: true
    object: samples/psp-privileged-container/example_disallowed.yaml
    assertions:
    - violations: no
- name: not-invalid
  template: template.yaml
  constraint: samples/psp-privileged-container/constraint.yaml
  invalid: true
"#,
    )
    .unwrap();
    let run = podsec(&["verify", tmp.path().to_str().unwrap()], b"");
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("--- FAIL: says-allowed-but-is-denied"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("got 1 violations but want none"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("got 0 violations matching \"no such text\" but want exactly 1"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("assertions must be non-empty"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("--- SKIP: skipped"), "{}", run.stdout);
    assert!(
        run.stdout.contains("expected to be invalid"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Privileged container is not allowed: nginx"),
        "{}",
        run.stdout
    );
}
