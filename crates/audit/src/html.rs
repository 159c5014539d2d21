//! The audit as one self-contained HTML page, rendered here: the summary, the charts (CSS
//! bars), every namespace's workloads and what-if, exceptions, constraints and network gaps
//! are in the HTML itself, so the page reads the same where scripts are blocked (mail
//! clients, CI artifact viewers). The inline script only adds interaction: a namespace filter
//! and expand/collapse all.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::audit::{AuditReport, LevelCounts, NamespaceReport};
use crate::reports::xml_escape as escape;

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1d2430; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; }
.card { border: 1px solid #d0d7de; border-radius: 8px; padding: .75rem 1rem; min-width: 10rem; }
.card b { display: block; font-size: 1.6rem; }
.track { width: 300px; background: #eef1f4; border-radius: 3px; }
.bar { height: 1.2rem; display: block; border-radius: 3px; min-width: 2px; }
.bar.zero { min-width: 0; }
.restricted { background: #2da44e; } .baseline { background: #d4a72c; } .privileged { background: #cf222e; }
table { border-collapse: collapse; margin-top: .5rem; } td, th { border-bottom: 1px solid #eaeef2; padding: .25rem .6rem; text-align: left; }
td.count { text-align: right; font-variant-numeric: tabular-nums; }
details { margin: .4rem 0; } summary { cursor: pointer; } code { background: #f6f8fa; padding: 0 .2rem; }
.warning { margin: .2rem 0 .2rem 1rem; color: #9a6700; font-family: ui-monospace, monospace; font-size: 12px; }
.controls { margin: .5rem 0; display: flex; gap: .5rem; }
.controls[hidden] { display: none; }
"#;

const SCRIPT: &str = r##"
"use strict";
const controls = document.getElementById("controls");
controls.hidden = false;
const namespaces = Array.from(document.querySelectorAll("#namespaces details"));
document.getElementById("filter").addEventListener("input", e => {
  const text = e.target.value.trim().toLowerCase();
  for (const d of namespaces) d.hidden = text !== "" && !d.dataset.ns.toLowerCase().includes(text);
});
document.getElementById("expand").addEventListener("click", () => namespaces.forEach(d => d.open = true));
document.getElementById("collapse").addEventListener("click", () => namespaces.forEach(d => d.open = false));
document.body.setAttribute("data-rendered", "yes");
"##;

/// The audit report as a self-contained page (no external assets).
pub fn audit_html(report: &AuditReport) -> String {
    let mut body = String::new();
    summary(&mut body, report);
    charts(&mut body, report);
    if let Some(audit) = &report.exceptions {
        exceptions(&mut body, audit);
    }
    if !report.constraints.is_empty() {
        constraints(&mut body, report);
    }
    if let Some(network) = &report.network {
        network_gaps(&mut body, network);
    }
    namespaces(&mut body, report);
    notes(&mut body, report);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>podsec audit</title>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <style>{STYLE}</style></head>\n<body>\n<h1>podsec audit</h1>\n{body}<script>{SCRIPT}</script>\n</body></html>\n"
    )
}

fn pods(n: u64) -> String {
    format!("{n} {}", if n == 1 { "pod" } else { "pods" })
}

fn summary(out: &mut String, report: &AuditReport) {
    let s = &report.summary;
    let unlabelled = if s.unlabelled_namespaces.is_empty() {
        "none".to_string()
    } else {
        s.unlabelled_namespaces.join(", ")
    };
    let _ = write!(
        out,
        "<p id=\"static-summary\">{} namespaces, {}. Unlabelled namespaces: {}.</p>\n<div id=\"summary\" class=\"cards\">",
        s.namespaces,
        pods(s.pods),
        escape(&unlabelled)
    );
    for (label, value) in [
        ("namespaces", s.namespaces as u64),
        ("pods", s.pods),
        (
            "unlabelled namespaces",
            s.unlabelled_namespaces.len() as u64,
        ),
        ("pods passing restricted", s.pods_by_level.restricted),
        ("errors", s.errors as u64),
    ] {
        let _ = write!(out, "<div class=\"card\"><b>{value}</b>{label}</div>");
    }
    out.push_str("</div>\n");
}

/// A horizontal bar chart as a table: label, a bar as wide as the value's share of the
/// largest, the value.
fn bar_chart(out: &mut String, id: &str, rows: &[(String, u64, &str)]) {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let _ = write!(out, "<table id=\"{id}\" class=\"chart\">");
    for (label, value, class) in rows {
        let width = (*value as f64 * 100.0 / max as f64).round();
        let zero = if *value == 0 { " zero" } else { "" };
        let _ = write!(
            out,
            "<tr><td>{}</td><td><div class=\"track\"><span class=\"bar {class}{zero}\" style=\"width:{width}%\"></span></div></td><td class=\"count\">{value}</td></tr>",
            escape(label)
        );
    }
    out.push_str("</table>\n");
}

fn level_rows(counts: &LevelCounts) -> Vec<(String, u64, &'static str)> {
    vec![
        ("restricted".into(), counts.restricted, "restricted"),
        ("baseline".into(), counts.baseline, "baseline"),
        ("privileged".into(), counts.privileged, "privileged"),
    ]
}

fn charts(out: &mut String, report: &AuditReport) {
    out.push_str("<h2>Namespaces by the highest level all their pods pass</h2>\n");
    bar_chart(
        out,
        "chart-levels",
        &level_rows(&report.summary.namespaces_by_level),
    );
    out.push_str("<h2>Pods by the highest level they pass</h2>\n");
    bar_chart(
        out,
        "chart-pods",
        &level_rows(&report.summary.pods_by_level),
    );
    let mut checks: BTreeMap<&str, (u64, &str)> = BTreeMap::new();
    for ns in &report.namespaces {
        for c in &ns.violations_by_check {
            let entry = checks.entry(c.check.as_str()).or_insert((0, ""));
            entry.0 += c.pods;
            // A baseline check leaves its pods at privileged (red); a restricted one at
            // baseline (amber).
            entry.1 = if c.level == "baseline" {
                "privileged"
            } else {
                "baseline"
            };
        }
    }
    out.push_str("<h2>Pods failing each check (at latest)</h2>\n");
    if checks.is_empty() {
        out.push_str("<p id=\"chart-checks\">Every pod passes restricted.</p>\n");
    } else {
        let rows: Vec<(String, u64, &str)> = checks
            .into_iter()
            .map(|(check, (pods, class))| (check.to_string(), pods, class))
            .collect();
        bar_chart(out, "chart-checks", &rows);
    }
}

fn exceptions(out: &mut String, audit: &crate::exceptions::ExceptionAudit) {
    out.push_str("<h2>PodSecurityExceptions</h2><table id=\"exceptions\"><tr><th>exception</th><th>status</th><th>expires</th><th>owner</th><th>pods</th><th>workloads</th><th>checks</th></tr>");
    for e in &audit.exceptions {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"count\">{}</td><td class=\"count\">{}</td><td>{}</td></tr>",
            escape(&e.exception),
            escape(&e.status),
            escape(&e.expires),
            escape(&e.owner),
            e.pods,
            e.workloads,
            escape(&e.checks.join(", "))
        );
    }
    out.push_str("</table>\n");
    for r in &audit.namespaces_that_would_rise {
        let _ = writeln!(
            out,
            "<p class=\"rise\">Namespace {} passes {} today, {} with its exceptions.</p>",
            escape(&r.namespace),
            escape(&r.level),
            escape(&r.with_exceptions)
        );
    }
    for invalid in &audit.invalid {
        let _ = writeln!(out, "<p class=\"warning\">{}</p>", escape(invalid));
    }
}

fn constraints(out: &mut String, report: &AuditReport) {
    out.push_str("<h2>Gatekeeper constraints</h2><table id=\"constraints\"><tr><th>constraint</th><th>enforcementAction</th><th>totalViolations</th><th>first violations</th></tr>");
    for c in &report.constraints {
        let examples: Vec<String> = c
            .violations
            .iter()
            .take(3)
            .map(|v| {
                let object = match &v.namespace {
                    Some(ns) => format!("{} {ns}/{}", v.kind, v.name),
                    None => format!("{} {}", v.kind, v.name),
                };
                format!("{}: {}", escape(&object), escape(&v.message))
            })
            .collect();
        let _ = write!(
            out,
            "<tr><td>{}/{}</td><td>{}</td><td class=\"count\">{}</td><td>{}</td></tr>",
            escape(&c.kind),
            escape(&c.name),
            escape(&c.enforcement_action),
            c.total_violations,
            examples.join("<br>")
        );
    }
    out.push_str("</table>\n");
}

fn network_gaps(out: &mut String, network: &crate::network::NetworkAudit) {
    let _ = write!(
        out,
        "<h2>NetworkPolicies</h2><p id=\"network-summary\">{} workloads, {} NetworkPolicies, {} gaps.</p><table id=\"network\"><tr><th>gap</th><th>namespace</th><th>finding</th></tr>",
        network.workloads,
        network.policies,
        network.findings.len()
    );
    for f in &network.findings {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&f.gap),
            escape(&f.namespace),
            escape(&f.message)
        );
    }
    out.push_str("</table>\n");
}

fn namespaces(out: &mut String, report: &AuditReport) {
    out.push_str(
        "<h2>Namespaces</h2>\n<div id=\"controls\" class=\"controls\" hidden>\
         <input id=\"filter\" type=\"search\" placeholder=\"filter namespaces\" aria-label=\"filter namespaces\">\
         <button id=\"expand\" type=\"button\">expand all</button><button id=\"collapse\" type=\"button\">collapse all</button></div>\n\
         <div id=\"namespaces\">\n",
    );
    for ns in &report.namespaces {
        namespace(out, ns);
    }
    out.push_str("</div>\n");
}

fn namespace(out: &mut String, ns: &NamespaceReport) {
    let _ = write!(
        out,
        "<details data-ns=\"{name}\"><summary>{name} — {pods}, passes {level}; enforce {enforce}</summary>",
        name = escape(&ns.name),
        pods = pods(ns.pods),
        level = escape(&ns.highest_level),
        enforce = escape(&ns.enforce)
    );
    out.push_str("<table><tr><th>workload</th><th>pods</th><th>passes</th><th>fails</th></tr>");
    for w in &ns.workloads {
        let pods = if w.pods == 0 {
            "none (template)".to_string()
        } else {
            w.pods.to_string()
        };
        let fails = if w.checks.is_empty() {
            "-".to_string()
        } else {
            w.checks.join(", ")
        };
        let _ = write!(
            out,
            "<tr><td>{} {}</td><td class=\"count\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(&w.kind),
            escape(&w.name),
            pods,
            escape(&w.highest_level),
            escape(&fails)
        );
    }
    out.push_str("</table>");
    if let Some(what_if) = &ns.what_if {
        let _ = write!(
            out,
            "<p>What if enforce={}: {} rejected</p>",
            escape(&what_if.policy),
            pods(what_if.rejected_pods)
        );
        for w in &what_if.warnings {
            let _ = write!(out, "<p class=\"warning\">{}</p>", escape(w));
        }
    }
    for e in &ns.label_errors {
        let _ = write!(out, "<p class=\"warning\">{}</p>", escape(e));
    }
    out.push_str("</details>\n");
}

fn notes(out: &mut String, report: &AuditReport) {
    if report.warnings.is_empty() && report.errors.is_empty() && !report.incomplete {
        return;
    }
    out.push_str("<h2>Notes</h2>\n");
    if report.incomplete {
        out.push_str(
            "<p class=\"warning\">The snapshot ended early: the results cover what was read.</p>\n",
        );
    }
    for w in report.warnings.iter().chain(&report.errors) {
        let _ = writeln!(out, "<p class=\"warning\">{}</p>", escape(w));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        assert_eq!(
            escape("<a href=\"x\">O'Brien & co</a>"),
            "&lt;a href=&quot;x&quot;&gt;O&apos;Brien &amp; co&lt;/a&gt;"
        );
    }

    #[test]
    fn bars_are_shares_of_the_largest_value() {
        let mut out = String::new();
        bar_chart(
            &mut out,
            "c",
            &[
                ("a".into(), 4, "restricted"),
                ("b".into(), 1, "baseline"),
                ("c".into(), 0, "privileged"),
            ],
        );
        assert!(out.contains("class=\"bar restricted\" style=\"width:100%\""));
        assert!(out.contains("class=\"bar baseline\" style=\"width:25%\""));
        assert!(out.contains("class=\"bar privileged zero\" style=\"width:0%\""));
        assert!(out.contains("<td class=\"count\">4</td>"));
    }
}
