//! No false warnings: every fixture of the upstream Pod Security Admission corpus (written
//! against the real API types) passes strict field checking.
//!
//! The corpus is read from `$PODSEC_PSA_CORPUS`, else from `shared/conformance/psa` next to
//! the repository. A missing corpus fails the test: it is never skipped.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

use std::path::PathBuf;

use podsec_manifest::{decode, Format, Limits};

fn corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PODSEC_PSA_CORPUS") {
        return PathBuf::from(dir);
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for c in [
        repo.join("../shared/conformance/psa"),
        PathBuf::from("/work/shared/conformance/psa"),
    ] {
        if c.join("index.json").is_file() {
            return c;
        }
    }
    panic!(
        "the PSA conformance corpus is missing (looked next to the repository and in /work/shared). \
         Set PODSEC_PSA_CORPUS to the directory holding index.json."
    )
}

#[test]
fn no_field_warnings_on_the_psa_corpus() {
    let dir = corpus_dir();
    let index: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut objects = 0;
    let mut warnings = Vec::new();
    for fixture in &index {
        let path = dir.join(fixture["path"].as_str().unwrap());
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for doc in decode(&bytes, Format::Yaml, &Limits::default()) {
            let doc = doc.unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            let (api, kind) = (
                doc.value["apiVersion"].as_str().unwrap_or(""),
                doc.value["kind"].as_str().unwrap_or(""),
            );
            assert!(
                podsec_fields::knows(api, kind),
                "{}: {api} {kind} is not checked",
                path.display()
            );
            objects += 1;
            for issue in podsec_fields::check(&doc.value) {
                warnings.push(format!("{}: {issue}", path.display()));
            }
        }
    }
    assert_eq!(index.len(), 4_537, "the corpus changed size");
    assert!(objects >= index.len(), "{objects} objects");
    assert!(
        warnings.is_empty(),
        "{} false warnings:\n{}",
        warnings.len(),
        warnings[..warnings.len().min(20)].join("\n")
    );
}
