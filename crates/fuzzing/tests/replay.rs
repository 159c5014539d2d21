//! Replays every committed fuzz input (`fuzz/corpus/<target>/`, and the inputs that once
//! crashed a target, `fuzz/regressions/<target>/`) through the target's function on stable:
//! each must pass the target's invariants. A missing or near-empty corpus fails loudly; the
//! corpora come from `fuzz/README.md`'s commands.

use std::path::{Path, PathBuf};

use podsec_fuzzing::TARGETS;

/// A minimized corpus smaller than this is a sign it was lost, not minimized.
const MIN_CORPUS: usize = 20;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8]), dir: &Path) -> usize {
    let files = inputs(dir);
    for file in &files {
        let bytes =
            std::fs::read(file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let outcome = std::panic::catch_unwind(|| run(&bytes));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{target}: {} fails: {message}", file.display());
        }
    }
    files.len()
}

#[test]
fn every_target_has_a_corpus_and_its_inputs_pass() {
    for (target, run) in TARGETS {
        let corpus = fuzz_dir().join("corpus").join(target);
        let replayed = replay(target, *run, &corpus);
        assert!(
            replayed >= MIN_CORPUS,
            "{target}: {replayed} inputs in {}; expected at least {MIN_CORPUS} (see fuzz/README.md)",
            corpus.display()
        );
        eprintln!("{target}: {replayed} corpus inputs pass");
    }
}

#[test]
fn every_input_that_once_crashed_a_target_now_passes() {
    let mut total = 0;
    for (target, run) in TARGETS {
        total += replay(target, *run, &fuzz_dir().join("regressions").join(target));
    }
    eprintln!("{total} former crashers pass");
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    for (target, _) in TARGETS {
        let file = fuzz_dir().join("fuzz_targets").join(format!("{target}.rs"));
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            text.contains(&format!("podsec_fuzzing::{target}(")),
            "{} must call podsec_fuzzing::{target}",
            file.display()
        );
    }
}
