//! The `podsec check` report: a stable JSON/YAML contract and a kubectl-like table.

use std::io::{self, Write};

use podsec_audit::check::{PspVerdict, Report};
use podsec_audit::reports::{self, Case, Finding};

/// The SARIF rule of input that could not be read or evaluated.
const INPUT_ERROR_RULE: &str = "podsec/input-error";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Fitted to the terminal (`COLUMNS`, else the terminal's width): long details elided.
    Table,
    /// The table with every detail in full and the fix hint of each violation.
    Wide,
    Json,
    Yaml,
    /// SARIF 2.1.0, for code scanning of manifests in repositories.
    Sarif,
    /// JUnit XML: a suite per file, a test case per object.
    Junit,
    /// kubectl's `-o name`: the objects that fail, one `kind.group/name` per line (for
    /// `xargs kubectl …`).
    Name,
}

/// Writes the report in `format`; colour only in the table, and only when asked.
pub fn write(
    report: &Report,
    format: OutputFormat,
    out: &mut dyn Write,
    color: bool,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)?;
        }
        OutputFormat::Yaml => out.write_all(serde_saphyr::to_string(report)?.as_bytes())?,
        OutputFormat::Table => write_table(report, out, color, false, terminal_width())?,
        OutputFormat::Wide => write_table(report, out, color, true, None)?,
        OutputFormat::Sarif => {
            serde_json::to_writer_pretty(&mut *out, &reports::sarif(&findings(report)))?;
            writeln!(out)?;
        }
        OutputFormat::Junit => out.write_all(reports::junit(&cases(report)).as_bytes())?,
        OutputFormat::Name => {
            for r in report.results.iter().filter(|r| !r.violations.is_empty()) {
                writeln!(out, "{}", kubectl_name(&r.api_version, &r.kind, &r.name))?;
            }
        }
    }
    Ok(())
}

/// An object as `kubectl get -o name` prints it: `pod/web`, `deployment.apps/web`.
fn kubectl_name(api_version: &str, kind: &str, name: &str) -> String {
    let kind = kind.to_ascii_lowercase();
    match api_version.split_once('/') {
        Some((group, _)) => format!("{kind}.{group}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

/// Each violation, and each input error, as a code-scanning finding at its file and line.
fn findings(report: &Report) -> Vec<Finding> {
    let mut findings = Vec::new();
    for r in &report.results {
        for v in &r.violations {
            findings.push(Finding {
                rule: v.check.clone(),
                level: podsec_policy::CheckId::parse(&v.check).map_or_else(
                    || r.level.clone().unwrap_or_else(|| "psp".into()),
                    |id| id.level().to_string(),
                ),
                message: format!(
                    "{} {}: {} ({}). {}",
                    r.kind, r.name, v.reason, v.detail, v.hint
                ),
                api_version: r.api_version.clone(),
                kind: r.kind.clone(),
                namespace: r.namespace.clone(),
                name: r.name.clone(),
                file: Some(r.file.clone()),
                line: Some(r.line),
            });
        }
    }
    for e in &report.errors {
        findings.push(Finding {
            rule: INPUT_ERROR_RULE.into(),
            level: "error".into(),
            message: e.message.clone(),
            api_version: String::new(),
            kind: String::new(),
            namespace: None,
            name: String::new(),
            file: Some(e.file.clone()),
            line: e.line,
        });
    }
    findings
}

/// A test case per object ("passes level:version"), failing with its violations; a
/// failing case per input error.
fn cases(report: &Report) -> Vec<Case> {
    let mut cases: Vec<Case> = report
        .results
        .iter()
        .map(|r| Case {
            suite: r.file.clone(),
            name: format!(
                "{} {}{} (line {}) passes {}",
                r.kind,
                r.namespace
                    .as_deref()
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default(),
                r.name,
                r.line,
                r.policy()
            ),
            failures: r
                .violations
                .iter()
                .map(|v| format!("{}: {}: {}", v.check, v.reason, v.detail))
                .collect(),
        })
        .collect();
    cases.extend(report.errors.iter().map(|e| Case {
        suite: e.file.clone(),
        name: match e.line {
            Some(line) => format!("line {line} can be read"),
            None => "file can be read".into(),
        },
        failures: vec![e.message.clone()],
    }));
    cases
}

/// The table of results on `out`; input errors go to stderr, one line each (`podsec:
/// FILE:LINE: message`), counted in the summary line.
/// The width to fit the table to: `COLUMNS` when set, else the terminal's, else none (a
/// pipe or a file gets every character).
fn terminal_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
    {
        return Some(columns);
    }
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size().map(|(w, _)| usize::from(w.0))
}

/// `text` cut to `width` characters, the cut marked with `…`.
fn elide(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn write_table(
    report: &Report,
    out: &mut dyn Write,
    color: bool,
    wide: bool,
    width: Option<usize>,
) -> io::Result<()> {
    for e in &report.errors {
        match e.line {
            Some(line) => eprintln!("podsec: {}:{line}: {}", e.file, e.message),
            None => eprintln!("podsec: {}: {}", e.file, e.message),
        }
    }
    let mut rows: Vec<[String; 8]> = Vec::new();
    let mut results: Vec<&'static str> = Vec::new();
    for r in &report.results {
        let object = format!("{}/{}", r.kind, r.name);
        let namespace = r.namespace.clone().unwrap_or_else(|| "-".into());
        let policy = r.policy();
        let location = format!("{}:{}", r.file, r.line);
        if r.violations.is_empty() {
            let detail = match &r.psp {
                Some(PspVerdict {
                    admitted_by: Some(p),
                    defaults,
                }) if !defaults.is_empty() => format!(
                    "admitted by {p} after setting its defaults: {}",
                    defaults
                        .iter()
                        .map(|op| format!(
                            "{} {}",
                            op["op"].as_str().unwrap_or_default(),
                            op["path"].as_str().unwrap_or_default()
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => "-".into(),
            };
            results.push("pass");
            rows.push([
                "pass".into(),
                object.clone(),
                namespace.clone(),
                policy.clone(),
                location.clone(),
                "-".into(),
                detail,
                "-".into(),
            ]);
        }
        for f in &r.field_warnings {
            results.push("warning");
            rows.push([
                "warning".into(),
                object.clone(),
                namespace.clone(),
                policy.clone(),
                location.clone(),
                "fields".into(),
                f.clone(),
                "fix the field's name or place (--strict refuses it)".into(),
            ]);
        }
        for w in &r.waived {
            results.push("waived");
            rows.push([
                "waived".into(),
                object.clone(),
                namespace.clone(),
                policy.clone(),
                location.clone(),
                w.check.clone(),
                format!("{} — by {} until {}", w.reason, w.exception, w.expires),
                "-".into(),
            ]);
        }
        for v in &r.violations {
            results.push("deny");
            rows.push([
                "deny".into(),
                object.clone(),
                namespace.clone(),
                policy.clone(),
                location.clone(),
                v.check.clone(),
                if v.detail.is_empty() {
                    v.reason.clone()
                } else {
                    format!("{} ({})", v.reason, v.detail)
                },
                v.hint.clone(),
            ]);
        }
    }
    let header = [
        "RESULT",
        "OBJECT",
        "NAMESPACE",
        "POLICY",
        "LOCATION",
        "CHECK",
        "DETAIL",
        "HINT",
    ]
    .map(String::from);
    let columns = if wide { 8 } else { 7 };
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Fitted: the detail column gets what the others leave of the width (at least 20).
    if let Some(width) = width.filter(|_| !wide) {
        let others: usize = widths[..6].iter().map(|w| w + 3).sum();
        let detail = width.saturating_sub(others).max(20);
        for row in &mut rows {
            row[6] = elide(&row[6], detail);
        }
    }
    let write_row =
        |out: &mut dyn Write, row: &[String; 8], paint: Option<&str>| -> io::Result<()> {
            for (i, cell) in row.iter().take(columns).enumerate() {
                let last = i == columns - 1;
                let pad = if last {
                    0
                } else {
                    widths[i] - cell.chars().count() + 3
                };
                match (i, paint) {
                    (0, Some(code)) => write!(out, "\x1b[{code}m{cell}\x1b[0m{:pad$}", "")?,
                    _ => write!(out, "{cell}{:pad$}", "")?,
                }
            }
            writeln!(out)
        };
    if !rows.is_empty() {
        write_row(out, &header, None)?;
    }
    for (row, result) in rows.iter().zip(results) {
        let paint = color.then_some(match result {
            "pass" => "32",
            "deny" => "31",
            _ => "33",
        });
        write_row(out, row, paint)?;
    }
    let s = &report.summary;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let non_kubernetes = match s.non_kubernetes_files {
        0 => String::new(),
        n => format!(
            "; {} skipped (no Kubernetes object in them)",
            plural(n, "file", "files")
        ),
    };
    let kinds = if s.skipped_kinds.is_empty() {
        String::new()
    } else {
        let named: Vec<String> = s
            .skipped_kinds
            .iter()
            .map(|(kind, n)| match n {
                1 => kind.clone(),
                n => format!("{kind} ×{n}"),
            })
            .collect();
        format!(" ({})", named.join(", "))
    };
    writeln!(
        out,
        "{}{}: {} allowed, {} denied; {} skipped{kinds}; {}{non_kubernetes}",
        if rows.is_empty() { "" } else { "\n" },
        plural(s.objects, "object", "objects"),
        s.allowed,
        s.denied,
        s.skipped,
        plural(s.errors, "error", "errors"),
    )
}
