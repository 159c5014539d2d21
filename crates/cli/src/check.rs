//! `podsec check`: evaluate manifests against the Pod Security Standards, offline.

use std::collections::BTreeMap;

use podsec_manifest::{classify, decode, Format, Limits, Object, Workload};
use podsec_policy::namespace_policy::{ENFORCE_LEVEL_LABEL, ENFORCE_VERSION_LABEL};
use podsec_policy::{evaluate, Level, LevelVersion, Policy, Version};

use crate::report::{ErrorEntry, ObjectResult, Report, Summary, ViolationEntry};
use podsec_cluster::files::read_paths;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Manifests to check: files, directories (searched recursively for .yaml, .yml and
    /// .json), or - for stdin. Multi-document YAML, JSON and *List objects are read.
    #[arg(required = true, value_name = "PATH|-")]
    pub paths: Vec<String>,
    /// Level to check against, unless the input holds the object's Namespace with a
    /// pod-security.kubernetes.io/enforce label.
    #[arg(long, default_value = "restricted", value_parser = parse_level)]
    pub level: Level,
    /// Policy version: v1.N or latest. Versions newer than podsec knows are evaluated as the
    /// newest it knows, and printed as given.
    #[arg(long, default_value = "latest", value_parser = parse_version)]
    pub version: Version,
    /// Output format.
    #[arg(short = 'o', long, default_value = "table", value_enum)]
    pub output: crate::report::OutputFormat,
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).map_err(|e| e.to_string())
}

fn parse_version(s: &str) -> Result<Version, String> {
    Version::parse(s).map_err(|e| e.to_string())
}

/// A pod-bearing object waiting for its namespace's policy.
struct Pending {
    file: String,
    line: usize,
    api_version: String,
    workload: Workload,
}

/// Reads, classifies and evaluates everything; never stops at the first bad document.
pub fn run(args: &Args) -> Report {
    let (inputs, read_errors) = read_paths(&args.paths);
    let mut errors: Vec<ErrorEntry> = read_errors
        .into_iter()
        .map(|e| ErrorEntry {
            file: e.name,
            line: None,
            message: e.message,
        })
        .collect();
    let mut pending = Vec::new();
    let mut namespaces: BTreeMap<String, (String, usize, BTreeMap<String, String>)> =
        BTreeMap::new();
    let mut skipped = 0;
    let limits = Limits::default();

    for input in inputs {
        let text_hint =
            String::from_utf8_lossy(&input.bytes[..input.bytes.len().min(64)]).into_owned();
        let format = Format::detect(input.format_hint.as_deref(), &text_hint);
        for doc in decode(&input.bytes, format, &limits) {
            let located = match doc {
                Ok(l) => l,
                Err(e) => {
                    errors.push(ErrorEntry {
                        file: input.name.clone(),
                        line: Some(e.line),
                        message: e.message,
                    });
                    continue;
                }
            };
            let api_version = located
                .value
                .get("apiVersion")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            match classify(located.value) {
                Ok(Object::Workload(workload)) => pending.push(Pending {
                    file: input.name.clone(),
                    line: located.line,
                    api_version,
                    workload: *workload,
                }),
                Ok(Object::Namespace(ns)) => {
                    skipped += 1;
                    namespaces.insert(ns.name, (input.name.clone(), located.line, ns.labels));
                }
                Ok(Object::Other { .. }) => skipped += 1,
                Err(e) => errors.push(ErrorEntry {
                    file: input.name.clone(),
                    line: Some(located.line),
                    message: e.to_string(),
                }),
            }
        }
    }

    let defaults = Policy {
        enforce: LevelVersion::new(args.level, args.version),
        ..Policy::default()
    };
    // Namespaces in the input that set an enforce policy override --level/--version.
    let mut namespace_policy: BTreeMap<&str, LevelVersion> = BTreeMap::new();
    for (name, (file, line, labels)) in &namespaces {
        if !labels.contains_key(ENFORCE_LEVEL_LABEL) && !labels.contains_key(ENFORCE_VERSION_LABEL)
        {
            continue;
        }
        let (policy, label_errors) = Policy::from_labels(labels, defaults);
        for e in label_errors {
            errors.push(ErrorEntry {
                file: file.clone(),
                line: Some(*line),
                message: format!(
                    "Namespace {name}: {e} (objects in it are checked at {})",
                    policy.enforce
                ),
            });
        }
        namespace_policy.insert(name, policy.enforce);
    }

    let results: Vec<ObjectResult> = pending
        .into_iter()
        .map(|p| {
            let ns = &p.workload.meta.namespace;
            let lv = namespace_policy
                .get(ns.as_str())
                .copied()
                .unwrap_or(defaults.enforce);
            evaluate_object(p, lv)
        })
        .collect();

    let allowed = results.iter().filter(|r| r.allowed).count();
    let summary = Summary {
        objects: results.len(),
        allowed,
        denied: results.len() - allowed,
        skipped,
        errors: errors.len(),
    };
    Report {
        results,
        errors,
        summary,
    }
}

fn evaluate_object(p: Pending, lv: LevelVersion) -> ObjectResult {
    let w = &p.workload;
    let evaluation = evaluate(lv, &w.pod_meta, &w.pod_spec);
    let message = evaluation.deny_message();
    let violations = evaluation
        .violations
        .into_iter()
        .map(|v| ViolationEntry {
            check: v.check.as_str().to_string(),
            reason: v.reason,
            detail: v.detail,
            fields: v.fields.iter().map(|f| w.object_path(f)).collect(),
            hint: v.check.fix_hint().to_string(),
        })
        .collect::<Vec<_>>();
    let name = if w.meta.name.is_empty() {
        w.meta.generate_name.clone()
    } else {
        w.meta.name.clone()
    };
    ObjectResult {
        file: p.file,
        line: p.line,
        api_version: p.api_version,
        kind: w.kind.as_str().to_string(),
        namespace: (!w.meta.namespace.is_empty()).then(|| w.meta.namespace.clone()),
        name,
        level: lv.level.as_str().to_string(),
        version: lv.version.to_string(),
        allowed: violations.is_empty(),
        message,
        violations,
    }
}
