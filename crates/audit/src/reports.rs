//! Report formats: SARIF 2.1.0, JUnit XML, PolicyReport (`wgpolicyk8s.io/v1alpha2`) and a
//! self-contained HTML page. Findings come from an audit, or from `podsec check`.

use serde_json::{json, Value};

use crate::audit::{AuditReport, WorkloadGroup};

/// One finding, whatever produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The check ID (upstream casing), or a policy name.
    pub rule: String,
    /// `baseline`, `restricted`, or another category.
    pub level: String,
    pub message: String,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// Where it was found in a manifest, for `check`.
    pub file: Option<String>,
    pub line: Option<usize>,
}

/// What `check` and `audit` know about a rule, for SARIF's rule list.
pub fn rule_help(rule: &str) -> (String, String) {
    match podsec_policy::CheckId::parse(rule) {
        Some(id) => (
            format!(
                "Pod Security Standards {} check {}",
                id.level(),
                id.as_str()
            ),
            id.fix_hint().to_string(),
        ),
        None if rule.starts_with("exception/") => (
            format!("PodSecurityException {}", &rule["exception/".len()..]),
            "Renew or remove the exception; an exception that waives nothing can go.".into(),
        ),
        None if rule.starts_with("netpol/") => (
            format!("NetworkPolicy gap {}", &rule["netpol/".len()..]),
            "Add or fix a NetworkPolicy: a default deny per namespace and direction, then policies allowing what each workload needs (`podsec netpol explain` shows what decides a connection).".into(),
        ),
        None if rule.contains('/') => (
            format!("Gatekeeper constraint {rule}"),
            "Change the object so that the constraint's template admits it, or exclude it in the constraint's match.".into(),
        ),
        None => (rule.to_string(), "See the message.".into()),
    }
}

fn api_version_of(kind: &str) -> &'static str {
    match podsec_manifest::WorkloadKind::from_kind(kind) {
        Some(k) => k.api_version(),
        None => "v1",
    }
}

/// The findings of an audit: one per failing check per workload (at restricted, latest).
pub fn audit_findings(report: &AuditReport) -> Vec<Finding> {
    let mut out = Vec::new();
    for ns in &report.namespaces {
        for w in &ns.workloads {
            for check in &w.checks {
                let detail = check_detail(w, check);
                let level = podsec_policy::CheckId::parse(check)
                    .map(|c| c.level().to_string())
                    .unwrap_or_default();
                out.push(Finding {
                    rule: check.clone(),
                    level,
                    message: format!(
                        "{} {}/{} ({}) fails {check}: {detail}",
                        w.kind,
                        ns.name,
                        w.name,
                        w.pods_text()
                    ),
                    api_version: api_version_of(&w.kind).into(),
                    kind: w.kind.clone(),
                    namespace: Some(ns.name.clone()),
                    name: w.name.clone(),
                    file: None,
                    line: None,
                });
            }
        }
    }
    for c in &report.constraints {
        for v in &c.violations {
            let at = match &v.namespace {
                Some(ns) => format!("{ns}/{}", v.name),
                None => v.name.clone(),
            };
            out.push(Finding {
                rule: format!("{}/{}", c.kind, c.name),
                level: v.enforcement_action.clone(),
                message: format!("{} {at}: [{}] {}", v.kind, c.name, v.message),
                api_version: match v.group.as_str() {
                    "" => v.version.clone(),
                    group => format!("{group}/{}", v.version),
                },
                kind: v.kind.clone(),
                namespace: v.namespace.clone(),
                name: v.name.clone(),
                file: None,
                line: None,
            });
        }
    }
    for (rule, level, message, id) in exception_findings(report) {
        let (namespace, name) = id.split_once('/').unwrap_or(("", id.as_str()));
        out.push(Finding {
            rule: format!("exception/{rule}"),
            level: level.into(),
            message,
            api_version: podsec_exceptions::API_VERSION.into(),
            kind: podsec_exceptions::KIND.into(),
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
            file: None,
            line: None,
        });
    }
    for f in report.network.iter().flat_map(|n| &n.findings) {
        let (api_version, kind, name) = network_subject(f);
        out.push(Finding {
            rule: format!("netpol/{}", f.gap),
            level: "warning".into(),
            message: f.message.clone(),
            api_version: api_version.into(),
            namespace: (kind != "Namespace").then(|| f.namespace.clone()),
            kind,
            name,
            file: None,
            line: None,
        });
    }
    out
}

/// What the exception audit reports as findings: (rule, level, message, `namespace/name`).
fn exception_findings(report: &AuditReport) -> Vec<(&'static str, &'static str, String, String)> {
    let Some(audit) = &report.exceptions else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in &audit.exceptions {
        match e.status.as_str() {
            "expired" => out.push(("expired", "warning", format!("PodSecurityException {} expired at {} (owner {}): it no longer applies; remove it or renew it", e.exception, e.expires, e.owner), e.exception.clone())),
            "expiring" => out.push(("expiring", "warning", format!("PodSecurityException {} expires at {} (owner {})", e.exception, e.expires, e.owner), e.exception.clone())),
            _ => {}
        }
    }
    for e in audit.unused() {
        out.push((
            "unused",
            "note",
            format!(
                "PodSecurityException {} waives nothing in the snapshot (owner {})",
                e.exception, e.owner
            ),
            e.exception.clone(),
        ));
    }
    out
}

/// The object a network finding is about: (apiVersion, kind, name).
fn network_subject(f: &crate::network::NetworkFinding) -> (&'static str, String, String) {
    if let Some(policy) = f.subject.strip_prefix("NetworkPolicy ") {
        let name = policy.split_once('/').map_or(policy, |(_, n)| n);
        return (
            "networking.k8s.io/v1",
            "NetworkPolicy".into(),
            name.to_string(),
        );
    }
    if let Some((base, kind)) = f.subject.strip_suffix(']').and_then(|s| s.split_once('[')) {
        let name = base.split_once('/').map_or(base, |(_, n)| n);
        return (api_version_of(kind), kind.to_string(), name.to_string());
    }
    ("v1", "Namespace".into(), f.subject.clone())
}

/// A SARIF 2.1.0 log of findings.
pub fn sarif(findings: &[Finding]) -> Value {
    let mut rules: Vec<String> = findings.iter().map(|f| f.rule.clone()).collect();
    rules.sort();
    rules.dedup();
    let rule_objects: Vec<Value> = rules
        .iter()
        .map(|r| {
            let (description, help) = rule_help(r);
            json!({"id": r, "name": r, "shortDescription": {"text": description}, "help": {"text": help},
                "properties": {"tags": ["kubernetes", "pod-security"]}})
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let index = rules.iter().position(|r| r == &f.rule).unwrap_or(0);
            let logical = json!([{"fullyQualifiedName": format!("{}/{}/{}", f.namespace.as_deref().unwrap_or("-"), f.kind, f.name), "kind": "resource"}]);
            let mut location = json!({"logicalLocations": logical});
            if let Some(file) = &f.file {
                location["physicalLocation"] = json!({"artifactLocation": {"uri": uri_reference(file)}, "region": {"startLine": f.line.unwrap_or(1).max(1)}});
            }
            json!({"ruleId": f.rule, "ruleIndex": index, "level": "error", "message": {"text": f.message}, "locations": [location]})
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "podsec", "version": env!("CARGO_PKG_VERSION"), "informationUri": "https://github.com/podsec/podsec", "rules": rule_objects}},
            "results": results
        }]
    })
}

pub fn audit_sarif(report: &AuditReport) -> Value {
    sarif(&audit_findings(report))
}

/// A file path as a SARIF artifact URI reference: bytes outside the URI path characters
/// percent-encoded, Windows separators turned into slashes.
fn uri_reference(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry these at all, not even as character references.
            c if ((c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r'))
                || matches!(c, '\u{FFFE}' | '\u{FFFF}') =>
            {
                out.push('\u{FFFD}')
            }
            c => out.push(c),
        }
    }
    out
}

/// A JUnit test case: suite, name, and the failure messages (none: passed).
pub struct Case {
    pub suite: String,
    pub name: String,
    pub failures: Vec<String>,
}

/// JUnit XML: a suite per namespace (or file), a test case per object.
pub fn junit(cases: &[Case]) -> String {
    let mut suites: Vec<&str> = cases.iter().map(|c| c.suite.as_str()).collect();
    suites.sort();
    suites.dedup();
    let failures = cases.iter().filter(|c| !c.failures.is_empty()).count();
    let mut out = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"podsec\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">\n", cases.len());
    for suite in suites {
        let in_suite: Vec<&Case> = cases.iter().filter(|c| c.suite == suite).collect();
        let f = in_suite.iter().filter(|c| !c.failures.is_empty()).count();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" errors=\"0\">\n",
            xml_escape(suite),
            in_suite.len()
        ));
        for c in in_suite {
            out.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                xml_escape(suite),
                xml_escape(&c.name)
            ));
            if c.failures.is_empty() {
                out.push_str("/>\n");
            } else {
                out.push_str(">\n");
                for failure in &c.failures {
                    let first = failure.lines().next().unwrap_or("");
                    out.push_str(&format!(
                        "      <failure message=\"{}\" type=\"PodSecurity\">{}</failure>\n",
                        xml_escape(first),
                        xml_escape(failure)
                    ));
                }
                out.push_str("    </testcase>\n");
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

pub fn audit_junit(report: &AuditReport) -> String {
    let mut cases = Vec::new();
    for ns in &report.namespaces {
        for w in &ns.workloads {
            let failures = w
                .checks
                .iter()
                .map(|check| {
                    let detail = check_detail(w, check);
                    format!("{check}: {detail}")
                })
                .collect();
            cases.push(Case {
                suite: ns.name.clone(),
                name: format!("{} {} passes restricted", w.kind, w.name),
                failures,
            });
        }
    }
    for c in &report.constraints {
        cases.push(Case {
            suite: "gatekeeper-constraints".into(),
            name: format!(
                "{} {} ({}): {} violations",
                c.kind, c.name, c.enforcement_action, c.total_violations
            ),
            failures: c
                .violations
                .iter()
                .map(|v| {
                    format!(
                        "{} {}/{}: {}",
                        v.kind,
                        v.namespace.as_deref().unwrap_or("-"),
                        v.name,
                        v.message
                    )
                })
                .collect(),
        });
    }
    if let Some(audit) = &report.exceptions {
        for e in &audit.exceptions {
            let mut failures = Vec::new();
            if e.status == "expired" {
                failures.push(format!("expired at {}", e.expires));
            }
            cases.push(Case {
                suite: "pod-security-exceptions".into(),
                name: format!(
                    "{} ({}, until {}): {} pods, {} workloads",
                    e.exception, e.status, e.expires, e.pods, e.workloads
                ),
                failures,
            });
        }
    }
    if let Some(network) = &report.network {
        for (gap, count) in &network.by_gap {
            cases.push(Case {
                suite: "network-policies".into(),
                name: format!("{gap}: {count} findings"),
                failures: network
                    .findings
                    .iter()
                    .filter(|f| &f.gap == gap)
                    .map(|f| f.message.clone())
                    .collect(),
            });
        }
    }
    junit(&cases)
}

/// `wgpolicyk8s.io/v1alpha2` PolicyReports: one per namespace (its workloads against the
/// restricted level), and a ClusterPolicyReport for the namespaces' Pod Security labels.
pub fn policy_reports(report: &AuditReport) -> String {
    let mut docs: Vec<Value> = Vec::new();
    let source = "podsec";
    for ns in &report.namespaces {
        let mut results = Vec::new();
        let (mut pass, mut fail) = (0u64, 0u64);
        for w in &ns.workloads {
            let resource = json!([{"apiVersion": api_version_of(&w.kind), "kind": w.kind, "name": w.name, "namespace": ns.name}]);
            if w.checks.is_empty() {
                pass += 1;
                results.push(json!({"policy": "pod-security-standards", "rule": "restricted", "result": "pass", "scored": true,
                    "source": source, "category": "Pod Security Standards", "severity": "info",
                    "message": format!("{} {} ({}) passes restricted", w.kind, w.name, w.pods_text()), "resources": resource}));
            }
            for check in &w.checks {
                fail += 1;
                let id = podsec_policy::CheckId::parse(check);
                let severity = match id.map(|c| c.level()) {
                    Some(podsec_policy::Level::Baseline) => "high",
                    _ => "medium",
                };
                let detail = check_detail(w, check);
                results.push(json!({"policy": format!("pod-security-standards-{}", id.map(|c| c.level().to_string()).unwrap_or_default()),
                    "rule": check, "result": "fail", "scored": true, "source": source, "category": "Pod Security Standards",
                    "severity": severity, "message": format!("{} {} ({}): {detail}", w.kind, w.name, w.pods_text()), "resources": resource}));
            }
        }
        docs.push(json!({
            "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
            "metadata": {"name": format!("podsec-{}", ns.name), "namespace": ns.name, "labels": {"app.kubernetes.io/managed-by": "podsec"}},
            "summary": {"pass": pass, "fail": fail, "warn": 0, "error": 0, "skip": 0},
            "results": results
        }));
    }
    let mut results = Vec::new();
    let (mut pass, mut warn) = (0u64, 0u64);
    for ns in report.namespaces.iter().filter(|n| n.in_snapshot) {
        let labelled = !ns.labels.is_empty();
        if labelled {
            pass += 1;
        } else {
            warn += 1;
        }
        results.push(json!({"policy": "pod-security-admission", "rule": "namespace-labels", "result": if labelled { "pass" } else { "warn" },
            "scored": true, "source": source, "category": "Pod Security Admission", "severity": if labelled { "info" } else { "medium" },
            "message": if labelled { format!("enforce {}, audit {}, warn {}", ns.enforce, ns.audit, ns.warn) } else { format!("namespace {} has no Pod Security labels; its pods pass {}", ns.name, ns.highest_level) },
            "resources": [{"apiVersion": "v1", "kind": "Namespace", "name": ns.name}]}));
    }
    docs.push(json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "ClusterPolicyReport",
        "metadata": {"name": "podsec-namespaces", "labels": {"app.kubernetes.io/managed-by": "podsec"}},
        "summary": {"pass": pass, "fail": 0, "warn": warn, "error": 0, "skip": 0},
        "results": results
    }));
    constraint_reports(report, &mut docs);
    network_reports(report, &mut docs);
    exception_reports(report, &mut docs);
    docs.iter()
        .map(|d| format!("---\n{}", serde_json_to_yaml(d)))
        .collect()
}

/// Gatekeeper constraint violations as PolicyReport results (the constraint is the policy,
/// its kind the rule): in a `podsec-constraints` PolicyReport per namespace, and a
/// ClusterPolicyReport for cluster-scoped objects. `deny` fails; `warn` and `dryrun` warn.
fn constraint_reports(report: &AuditReport, docs: &mut Vec<Value>) {
    let mut by_namespace: std::collections::BTreeMap<Option<String>, Vec<Value>> =
        std::collections::BTreeMap::new();
    for c in &report.constraints {
        for v in &c.violations {
            let result = if c.enforcement_action == "deny" {
                "fail"
            } else {
                "warn"
            };
            let api_version = match v.group.as_str() {
                "" => v.version.clone(),
                group => format!("{group}/{}", v.version),
            };
            let mut resource = json!({"apiVersion": api_version, "kind": v.kind, "name": v.name});
            if let Some(ns) = &v.namespace {
                resource["namespace"] = json!(ns);
            }
            by_namespace.entry(v.namespace.clone()).or_default().push(json!({
                "policy": c.name, "rule": c.kind, "result": result, "scored": true, "source": "podsec",
                "category": "Gatekeeper", "severity": if result == "fail" { "high" } else { "medium" },
                "message": v.message, "resources": [resource],
                "properties": {"enforcementAction": v.enforcement_action}}));
        }
    }
    for (namespace, results) in by_namespace {
        let fail = results.iter().filter(|r| r["result"] == "fail").count();
        let warn = results.len() - fail;
        let summary = json!({"pass": 0, "fail": fail, "warn": warn, "error": 0, "skip": 0});
        let labels = json!({"app.kubernetes.io/managed-by": "podsec"});
        docs.push(match namespace {
            Some(ns) => json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
                "metadata": {"name": "podsec-constraints", "namespace": ns, "labels": labels},
                "summary": summary, "results": results}),
            None => json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "ClusterPolicyReport",
                "metadata": {"name": "podsec-constraints", "labels": labels},
                "summary": summary, "results": results}),
        });
    }
}

/// Expired, expiring and unused exceptions as PolicyReport results in a `podsec-exceptions`
/// report per namespace.
fn exception_reports(report: &AuditReport, docs: &mut Vec<Value>) {
    let mut by_namespace: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for (rule, level, message, id) in exception_findings(report) {
        let (namespace, name) = id.split_once('/').unwrap_or(("", id.as_str()));
        by_namespace.entry(namespace.to_string()).or_default().push(json!({
            "policy": "podsec-exceptions", "rule": rule, "result": if level == "note" { "pass" } else { "warn" },
            "scored": true, "source": "podsec", "category": "PodSecurityException", "severity": "low", "message": message,
            "resources": [{"apiVersion": podsec_exceptions::API_VERSION, "kind": podsec_exceptions::KIND, "namespace": namespace, "name": name}]}));
    }
    for (namespace, results) in by_namespace {
        let warn = results.iter().filter(|r| r["result"] == "warn").count();
        docs.push(json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
            "metadata": {"name": "podsec-exceptions", "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "podsec"}},
            "summary": {"pass": results.len() - warn, "fail": 0, "warn": warn, "error": 0, "skip": 0},
            "results": results}));
    }
}

/// NetworkPolicy gaps as PolicyReport results (`warn`), a `podsec-netpol` PolicyReport per
/// namespace.
fn network_reports(report: &AuditReport, docs: &mut Vec<Value>) {
    let Some(network) = &report.network else {
        return;
    };
    let mut by_namespace: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
    for f in &network.findings {
        let (api_version, kind, name) = network_subject(f);
        let mut resource = json!({"apiVersion": api_version, "kind": kind, "name": name});
        if kind != "Namespace" {
            resource["namespace"] = json!(f.namespace);
        }
        by_namespace.entry(&f.namespace).or_default().push(json!({
            "policy": "podsec-netpol", "rule": f.gap, "result": "warn", "scored": true, "source": "podsec",
            "category": "NetworkPolicy", "severity": "medium", "message": f.message, "resources": [resource]}));
    }
    for (namespace, results) in by_namespace {
        docs.push(json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
            "metadata": {"name": "podsec-netpol", "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "podsec"}},
            "summary": {"pass": 0, "fail": 0, "warn": results.len(), "error": 0, "skip": 0},
            "results": results}));
    }
}

/// JSON is YAML: each document printed as one line of JSON keeps the output exact and simple.
fn serde_json_to_yaml(v: &Value) -> String {
    format!("{v}\n")
}

/// Upstream's detail for a check the workload fails, from its own pods or template (not the
/// namespace's first pod failing the check, which may belong to another workload).
fn check_detail(w: &WorkloadGroup, check: &str) -> String {
    w.details.get(check).cloned().unwrap_or_default()
}
