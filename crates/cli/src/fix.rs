//! `podsec fix`: rewrites manifests so that their pods pass a level where that is safe, as a
//! unified diff (default), in place (`--write`), or as the fixed stream (stdin → stdout).
//! What cannot be fixed safely is listed on stderr with what would admit it.

use podsec_fix::text::{apply, text_edits, TextEdit};
use podsec_fix::{fix_object, json_patch, objects_of, rebase, tree, Mode};
use podsec_manifest::{yaml_documents, yaml_options, Format, Limits};
use podsec_policy::{Level, LevelVersion, Version};
use serde::Serialize;

use crate::check::{level_parser, parse_version};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Manifests to fix: files, directories (recursively: .yaml, .yml, .json), or - for
    /// stdin (the fixed stream is written to stdout).
    #[arg(required_unless_present = "files", value_name = "PATH|-")]
    pub paths: Vec<String>,
    /// Manifests to fix, as the positional PATHs (kubectl's `-f`; repeatable).
    #[arg(short = 'f', long = "filename", value_name = "PATH|-")]
    pub files: Vec<String>,
    /// The level the pods must pass.
    #[arg(long, default_value = "restricted", value_parser = level_parser())]
    pub level: Level,
    /// Policy version: v1.N or latest.
    #[arg(long, default_value = "latest", value_parser = parse_version)]
    pub version: Version,
    /// Change the files in place instead of printing a diff.
    #[arg(long)]
    pub write: bool,
    /// Also remove added capabilities the level forbids (by default they are listed as
    /// unfixable: the workload may need them).
    #[arg(long)]
    pub remove_capabilities: bool,
    /// Output: a unified diff, or a JSON report (the edits as JSON patches, what cannot be
    /// fixed, errors).
    #[arg(short = 'o', long, default_value = "diff", value_enum)]
    pub output: FixOutput,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixOutput {
    Diff,
    Json,
}

#[derive(Serialize, Default)]
struct Report {
    level: String,
    version: String,
    objects: Vec<ObjectReport>,
    errors: Vec<ErrorReport>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectReport {
    file: String,
    line: usize,
    kind: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    /// The changes, as an RFC 6902 patch of the object.
    patch: serde_json::Value,
    unfixable: Vec<Unfixable>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Unfixable {
    check: String,
    reason: String,
    detail: String,
    fields: Vec<String>,
    admitted_by: String,
}

#[derive(Serialize)]
struct ErrorReport {
    file: String,
    line: usize,
    message: String,
}

/// One input file and what the fix made of it.
struct FileFix {
    name: String,
    original: String,
    fixed: String,
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let lv = LevelVersion::new(args.level, args.version);
    let mode = Mode::Fix {
        remove_capabilities: args.remove_capabilities,
    };
    let inputs: Vec<String> = args.paths.iter().chain(&args.files).cloned().collect();
    let (files, read_errors) = podsec_cluster::files::read_paths(&inputs);
    let mut report = Report {
        level: args.level.as_str().to_string(),
        version: args.version.to_string(),
        ..Report::default()
    };
    for e in read_errors {
        report.errors.push(ErrorReport {
            file: e.name,
            line: 0,
            message: e.message,
        });
    }
    let mut fixes = Vec::new();
    for file in files {
        let Ok(text) = String::from_utf8(file.bytes) else {
            report.errors.push(ErrorReport {
                file: file.name,
                line: 0,
                message: "not UTF-8 text".into(),
            });
            continue;
        };
        let json = Format::detect(file.format_hint.as_deref(), &text) == Format::Json;
        let fixed = fix_text(&file.name, &text, json, lv, mode, &mut report);
        fixes.push(FileFix {
            name: file.name,
            original: text,
            fixed,
        });
    }

    let stdin_only = inputs.iter().all(|p| p == "-");
    match args.output {
        FixOutput::Json => {
            crate::write_stdout(&format!("{}\n", serde_json::to_string_pretty(&report)?))?
        }
        FixOutput::Diff if stdin_only => {
            for f in &fixes {
                crate::write_stdout(&f.fixed)?;
            }
        }
        FixOutput::Diff if !args.write => {
            for f in fixes.iter().filter(|f| f.fixed != f.original) {
                // Patience: anchored on unique lines (names), so a file of thousands of
                // similar documents diffs in linear time.
                let diff = similar::TextDiff::configure()
                    .algorithm(similar::Algorithm::Patience)
                    .diff_lines(&f.original, &f.fixed);
                let text = diff
                    .unified_diff()
                    .context_radius(3)
                    .missing_newline_hint(true)
                    .header(&diff_name("a", &f.name), &diff_name("b", &f.name))
                    .to_string();
                crate::write_stdout(&text)?;
            }
        }
        FixOutput::Diff => {}
    }
    if args.write {
        for f in fixes
            .iter()
            .filter(|f| f.fixed != f.original && f.name != "<stdin>")
        {
            std::fs::write(&f.name, &f.fixed)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", f.name))?;
            eprintln!("fixed {}", f.name);
        }
    }
    if args.output != FixOutput::Json {
        for o in &report.objects {
            for u in &o.unfixable {
                eprintln!(
                    "{}:{}: {}/{}: cannot fix {} ({}: {}); admit it with {}",
                    o.file, o.line, o.kind, o.name, u.check, u.reason, u.detail, u.admitted_by
                );
            }
        }
        for e in &report.errors {
            eprintln!("{}:{}: {}", e.file, e.line, e.message);
        }
    }
    Ok(if !report.errors.is_empty() {
        2
    } else if report.objects.iter().any(|o| !o.unfixable.is_empty()) {
        1
    } else {
        0
    })
}

/// Fixes every document of one file; documents that cannot be parsed or edited stay as they
/// are (and are reported).
fn fix_text(
    name: &str,
    text: &str,
    json: bool,
    lv: LevelVersion,
    mode: Mode,
    report: &mut Report,
) -> String {
    let documents = if json {
        vec![(0, text)]
    } else {
        yaml_documents(text)
    };
    let options = yaml_options(&Limits::default());
    // Line starts, for the line of an offset by binary search (files hold thousands of objects).
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let line_of = |offset: usize| line_starts.partition_point(|&start| start <= offset);
    let mut changes: Vec<TextEdit> = Vec::new();
    for (offset, document) in documents {
        if document
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
        {
            continue;
        }
        let root = match tree::parse(document, options.clone()) {
            Ok(root) => root,
            Err(message) => {
                report.errors.push(ErrorReport {
                    file: name.to_string(),
                    line: line_of(offset),
                    message,
                });
                continue;
            }
        };
        let value = root.to_json();
        let mut edits = Vec::new();
        for (prefix, object) in objects_of(&value) {
            let object_offset = root.at(&prefix).map_or(offset, |n| offset + n.start);
            let line = line_of(object_offset);
            match fix_object(object, lv, mode) {
                None => {}
                Some(Err(e)) => report.errors.push(ErrorReport {
                    file: name.to_string(),
                    line,
                    message: e.to_string(),
                }),
                Some(Ok(fixed)) => {
                    let pod_path = |f: &str| match fixed.kind.template_path() {
                        "" => f.to_string(),
                        template => format!("{template}.{f}"),
                    };
                    report.objects.push(ObjectReport {
                        file: name.to_string(),
                        line,
                        kind: fixed.kind.as_str().to_string(),
                        name: fixed.name.clone(),
                        namespace: fixed.namespace.clone(),
                        patch: json_patch(&fixed.edits),
                        unfixable: fixed
                            .unfixable
                            .iter()
                            .map(|u| Unfixable {
                                check: u.violation.check.as_str().to_string(),
                                reason: u.violation.reason.clone(),
                                detail: u.violation.detail.clone(),
                                fields: u.violation.fields.iter().map(|f| pod_path(f)).collect(),
                                admitted_by: u.what_admits(),
                            })
                            .collect(),
                    });
                    edits.extend(rebase(fixed.edits, &prefix));
                }
            }
        }
        match text_edits(document, &root, &edits, json) {
            Ok(list) => changes.extend(list.into_iter().map(|mut c| {
                c.offset += offset;
                c
            })),
            Err(e) => report.errors.push(ErrorReport {
                file: name.to_string(),
                line: line_of(offset),
                message: format!("cannot write the fix: {e}"),
            }),
        }
    }
    apply(text, &changes)
}

/// `a/path` as git writes it for a relative path; an absolute path as it is.
fn diff_name(side: &str, name: &str) -> String {
    if name.starts_with('/') {
        name.to_string()
    } else {
        format!("{side}/{name}")
    }
}
