//! Upstream Pod Security Admission conformance: every fixture of the upstream corpus gets
//! upstream's verdict at its level and version, through the same decode → classify → default
//! → evaluate path that `podsec check` uses.
//!
//! The corpus is read from `$PODSEC_PSA_CORPUS`, else from `shared/conformance/psa` next to
//! the repository. A missing corpus fails the test: it is never skipped.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

use std::path::PathBuf;

use podsec_manifest::{classify, decode, Format, Limits, Object};
use podsec_policy::{evaluate, Level, LevelVersion, Version};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    path: String,
    level: String,
    version: String,
    expect: String,
    check_id: Option<String>,
    expect_error_substring: Option<String>,
}

fn corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PODSEC_PSA_CORPUS") {
        return PathBuf::from(dir);
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        repo.join("../shared/conformance/psa"),
        PathBuf::from("/work/shared/conformance/psa"),
    ];
    for c in &candidates {
        if c.join("index.json").is_file() {
            return c.clone();
        }
    }
    panic!(
        "the upstream PSA conformance corpus is missing: looked in {candidates:?}. \
         Set PODSEC_PSA_CORPUS to the directory holding index.json."
    );
}

#[test]
fn every_upstream_fixture_gets_upstreams_verdict() {
    let dir = corpus_dir();
    let index = std::fs::read(dir.join("index.json")).expect("read index.json");
    let fixtures: Vec<Fixture> = serde_json::from_slice(&index).expect("parse index.json");
    assert_eq!(
        fixtures.len(),
        4537,
        "the corpus README promises 4,537 fixtures"
    );

    let mut failures = Vec::new();
    let (mut allowed, mut forbidden) = (0, 0);
    for f in &fixtures {
        let bytes = std::fs::read(dir.join(&f.path)).unwrap_or_else(|e| panic!("{}: {e}", f.path));
        let docs = decode(&bytes, Format::Yaml, &Limits::default());
        assert_eq!(docs.len(), 1, "{}: one document", f.path);
        let value = docs
            .into_iter()
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("{}: decodes", f.path))
            .value;
        let Ok(Object::Workload(workload)) = classify(value) else {
            panic!("{}: is a pod", f.path)
        };
        let level = Level::parse(&f.level).expect("level");
        let version = Version::parse(&f.version).expect("version");
        let eval = evaluate(
            LevelVersion::new(level, version),
            &workload.pod_meta,
            &workload.pod_spec,
        );

        match (f.expect.as_str(), eval.deny_message()) {
            ("allowed", None) => allowed += 1,
            ("allowed", Some(msg)) => {
                failures.push(format!("{}: expected allowed, got: {msg}", f.path))
            }
            ("forbidden", None) => {
                failures.push(format!("{}: expected forbidden, got allowed", f.path))
            }
            ("forbidden", Some(msg)) => {
                forbidden += 1;
                let expected = f
                    .expect_error_substring
                    .as_deref()
                    .or(f.check_id.as_deref())
                    .unwrap_or_default();
                if !msg.contains(expected) {
                    failures.push(format!("{}: message lacks {expected:?}: {msg}", f.path));
                }
                if msg.contains("unknown forbidden reason") {
                    failures.push(format!("{}: unknown forbidden reason: {msg}", f.path));
                }
                // The fixture's check must fire, or, where restricted replaces that baseline
                // check at this version, a restricted check must.
                let check = f.check_id.as_deref().unwrap_or_default();
                let lv = eval.level_version;
                let active = podsec_policy::pss::check_ids(lv)
                    .iter()
                    .any(|id| id.as_str() == check);
                let fired = eval.violations.iter().any(|v| {
                    v.check.as_str() == check || (!active && v.check.level() == Level::Restricted)
                });
                if !fired {
                    failures.push(format!("{}: check {check} did not fire: {msg}", f.path));
                }
            }
            (other, _) => failures.push(format!("{}: unknown expectation {other}", f.path)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures disagree with upstream:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
    assert_eq!((allowed, forbidden), (433 + 618, 1122 + 2364));
}
