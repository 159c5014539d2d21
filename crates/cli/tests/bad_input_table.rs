//! The bad-input table: every file in `tests/bad_inputs/` is a malformed or hostile manifest
//! with its expected clear error in `expected.tsv` (file, exit status, a substring of the
//! error, and `good` when a valid pod follows it in the same file). Each must be refused with
//! that error, without a panic, and the rest of its batch still checked.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use std::collections::BTreeSet;
use std::path::Path;

use util::podsec;

#[test]
fn every_bad_input_gets_its_clear_error_and_the_batch_goes_on() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_inputs");
    let table =
        std::fs::read_to_string(dir.join("expected.tsv")).expect("tests/bad_inputs/expected.tsv");
    let mut listed = BTreeSet::new();
    let mut failures = Vec::new();
    for (n, line) in table.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let columns: Vec<&str> = line.split('\t').collect();
        let [file, exit, expected, rest @ ..] = columns.as_slice() else {
            panic!(
                "expected.tsv line {}: FILE, EXIT, SUBSTRING [good]: {line:?}",
                n + 1
            );
        };
        listed.insert(file.to_string());
        let path = dir.join(file);
        let run = podsec(
            &[
                "check",
                "--level",
                "baseline",
                "-o",
                "json",
                path.to_str().unwrap(),
            ],
            b"",
        );
        let mut problems = Vec::new();
        if run.code.to_string() != *exit {
            problems.push(format!("exit {} (expected {exit})", run.code));
        }
        if run.stderr.contains("panicked") {
            problems.push(format!("panicked: {}", run.stderr));
        }
        match serde_json::from_str::<serde_json::Value>(&run.stdout) {
            Err(e) => problems.push(format!(
                "no JSON report ({e}): {}{}",
                run.stdout, run.stderr
            )),
            Ok(report) => {
                let messages: Vec<&str> = report["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["message"].as_str())
                    .collect();
                if !messages.iter().any(|m| m.contains(expected)) {
                    problems.push(format!("no error contains {expected:?}: {messages:?}"));
                }
                if rest.first() == Some(&"good") {
                    let good = report["results"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|r| r["name"] == "good" && r["allowed"] == true);
                    if !good {
                        problems.push("the good pod after it was not checked".into());
                    }
                }
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{file}: {}", problems.join("; ")));
        }
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "expected.tsv")
        .collect();
    let unlisted: Vec<&String> = on_disk.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "inputs without an expected error: {unlisted:?}"
    );
    assert!(
        listed.len() >= 100,
        "the table has {} inputs; it needs at least 100",
        listed.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} inputs:\n{}",
        failures.len(),
        listed.len(),
        failures.join("\n")
    );
}
