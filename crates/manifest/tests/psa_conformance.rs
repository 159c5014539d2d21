//! Upstream Pod Security Admission conformance: every fixture of the upstream corpus gets
//! upstream's verdict at its level and version, through the same decode → classify → default
//! → evaluate path that `podsec check` uses.
//!
//! The corpus is read from `$PODSEC_PSA_CORPUS`, else from `shared/conformance/psa` next to
//! the repository. A missing corpus fails the test: it is never skipped.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

use std::path::PathBuf;

use podsec_manifest::{classify, decode, Format, Limits, Object};
use podsec_policy::{evaluate, CheckId, Level, LevelVersion, Version};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    path: String,
    level: String,
    version: String,
    expect: String,
    check_id: Option<String>,
    index: Option<u32>,
    expect_error_substring: Option<String>,
}

/// The fixture's check, as the corpus defines it: `check_id` in upstream casing, which the file
/// stem repeats lower-cased with the fixture's index (`capabilities_restricted3.yaml`).
fn fixture_check(f: &Fixture) -> Result<Option<CheckId>, String> {
    let stem = f
        .path
        .rsplit('/')
        .next()
        .and_then(|name| name.strip_suffix(".yaml"))
        .ok_or("the file is not a .yaml")?;
    let Some(id) = f.check_id.as_deref() else {
        return if stem.starts_with("base") {
            Ok(None)
        } else {
            Err(format!("{stem}: no check_id"))
        };
    };
    let expected_stem = format!(
        "{}{}",
        id.to_lowercase(),
        f.index.map(|i| i.to_string()).unwrap_or_default()
    );
    if stem != expected_stem {
        return Err(format!("check_id {id} does not match the file stem {stem}"));
    }
    CheckId::parse(id)
        .map(Some)
        .ok_or_else(|| format!("unknown check ID {id}"))
}

/// The check that must forbid a fixture written for `check` at `lv`: the check itself where it
/// runs, else the restricted check that replaces it there (restricted drops the baseline checks
/// it tightens).
fn expected_check(check: CheckId, lv: LevelVersion) -> Result<CheckId, String> {
    let active = podsec_policy::pss::check_ids(lv);
    if active.contains(&check) {
        return Ok(check);
    }
    // Upstream's overrides, written out here rather than read from the evaluator so that a
    // wrong override in the evaluator cannot vouch for itself.
    let replacement = match check {
        CheckId::CapabilitiesBaseline => CheckId::CapabilitiesRestricted,
        CheckId::HostPathVolumes => CheckId::RestrictedVolumes,
        CheckId::ProcMount => CheckId::ProcMountRestricted,
        CheckId::SeccompProfileBaseline => CheckId::SeccompProfileRestricted,
        _ => return Err(format!("check {check} does not run at {lv}")),
    };
    if active.contains(&replacement) {
        Ok(replacement)
    } else {
        Err(format!("neither {check} nor {replacement} runs at {lv}"))
    }
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
    // Forbidden fixtures whose expected substring is their check ID (a null
    // `expect_error_substring`, per the corpus README); index.json gives none of them.
    let mut substring_is_check_id = 0;
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
        let check = fixture_check(f).unwrap_or_else(|e| panic!("{}: {e}", f.path));
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
                let Some(check) = check else {
                    failures.push(format!("{}: a forbidden fixture names no check", f.path));
                    continue;
                };
                let expected = match f.expect_error_substring.as_deref() {
                    Some(substring) => substring,
                    None => {
                        substring_is_check_id += 1;
                        check.as_str()
                    }
                };
                if !msg.contains(expected) {
                    failures.push(format!("{}: message lacks {expected:?}: {msg}", f.path));
                }
                if msg.contains("unknown forbidden reason") {
                    failures.push(format!("{}: unknown forbidden reason: {msg}", f.path));
                }
                match expected_check(check, eval.level_version) {
                    Ok(id) if eval.violations.iter().any(|v| v.check == id) => {}
                    Ok(id) => failures.push(format!("{}: check {id} did not fire: {msg}", f.path)),
                    Err(e) => failures.push(format!("{}: {e}", f.path)),
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
    assert_eq!(
        substring_is_check_id, 0,
        "index.json gives every forbidden fixture its expected substring"
    );
}
