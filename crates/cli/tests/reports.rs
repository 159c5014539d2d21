//! Every report format, validated by something other than podsec: SARIF against the SARIF
//! 2.1.0 JSON schema and PolicyReports against the CRD's schema (Python's jsonschema), JUnit
//! parsed back by a real XML parser, and the HTML report opened in headless Chromium.
//!
//! The tools come from `scripts/test-tools.sh` (which the README's test command and CI run):
//! `PODSEC_PYTHON` (a Python with jsonschema and PyYAML), `PODSEC_SARIF_SCHEMA`, and
//! `PODSEC_CHROMIUM`. When one is missing these tests fail and say how to get it; they never
//! skip.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use util::{podsec, Run};

const SETUP: &str = "run `source scripts/test-tools.sh` (it installs the report validators and exports their paths), or use the README's test command";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn snapshot() -> String {
    manifest_dir()
        .join("../audit/tests/fixtures/cluster-snapshot.json")
        .to_string_lossy()
        .into_owned()
}

fn python() -> String {
    let python = std::env::var("PODSEC_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import jsonschema, yaml"])
        .output();
    match probe {
        Ok(o) if o.status.success() => python,
        _ => panic!("{python} with jsonschema and PyYAML is needed to validate reports: {SETUP}"),
    }
}

fn tool_file(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("../..").join(default));
    assert!(
        path.is_file(),
        "{var}: {} is missing: {SETUP}",
        path.display()
    );
    path
}

/// Runs the validation helper; panics with its output when the report is invalid.
fn helper(args: &[&str]) -> String {
    let script = manifest_dir().join("tests/support/reports.py");
    let out = Command::new(python())
        .arg(&script)
        .args(args)
        .output()
        .expect("run the report helper");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn validate_sarif(path: &str) {
    let schema = tool_file(
        "PODSEC_SARIF_SCHEMA",
        "target/test-tools/sarif-schema-2.1.0.json",
    );
    let out = helper(&["schema", &schema.to_string_lossy(), path]);
    assert_eq!(out.trim(), "1 valid");
}

#[test]
fn audit_sarif_is_valid_sarif_2_1_0_with_a_result_per_failing_check_per_workload() {
    let run = podsec(&["audit", &snapshot(), "-o", "sarif"], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dir = tempfile::tempdir().unwrap();
    validate_sarif(&write(dir.path(), "audit.sarif", &run.stdout));
    let sarif = run.json();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    // Deployment web in default fails one check; its finding names the workload.
    let web: Vec<&Value> = results
        .iter()
        .filter(|r| {
            r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
                == "default/Deployment/web"
        })
        .collect();
    assert_eq!(web.len(), 1);
    assert_eq!(web[0]["ruleId"], "seccompProfile_restricted");
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let index = web[0]["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], "seccompProfile_restricted");
}

#[test]
fn check_sarif_is_valid_and_points_at_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(
        dir.path(),
        "my pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  hostNetwork: true\n  containers:\n  - name: c\n    image: nginx\n---\n{not yaml\n",
    );
    let run = podsec(&["check", &manifest, "-o", "sarif"], b"");
    assert_eq!(run.code, 2, "the broken document is an input error");
    let sarif_path = write(dir.path(), "check.sarif", &run.stdout);
    validate_sarif(&sarif_path);
    let sarif = run.json();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let host = results
        .iter()
        .find(|r| r["ruleId"] == "hostNamespaces")
        .expect("hostNamespaces result");
    let location = &host["locations"][0]["physicalLocation"];
    assert!(location["artifactLocation"]["uri"]
        .as_str()
        .unwrap()
        .ends_with("my%20pod.yaml"));
    assert_eq!(location["region"]["startLine"], 1);
    assert!(
        results.iter().any(|r| r["ruleId"] == "podsec/input-error"),
        "the unreadable document is a finding too"
    );
}

#[test]
fn junit_reports_parse_back_with_a_case_per_workload_and_object() {
    let dir = tempfile::tempdir().unwrap();
    let run = podsec(&["audit", &snapshot(), "-o", "junit"], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let parsed: Value = serde_json::from_str(&helper(&[
        "junit",
        &write(dir.path(), "a.xml", &run.stdout),
    ]))
    .unwrap();
    assert_eq!(parsed["tag"], "testsuites");
    let suites = parsed["suites"].as_array().unwrap();
    let names: Vec<&str> = suites
        .iter()
        .map(|s| s["attrib"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["batch", "default", "dmz", "kube-system", "shop"]);
    let default = &suites[1]["cases"][0];
    assert_eq!(default["name"], "Deployment web passes restricted");
    assert_eq!(default["failures"].as_array().unwrap().len(), 1);
    assert!(default["texts"][0]
        .as_str()
        .unwrap()
        .contains("must set securityContext.seccompProfile.type"));

    // `check` too, with text that needs escaping and a control character XML cannot carry.
    let manifest = write(
        dir.path(),
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: \"a<&>\\u0001\"\n    image: nginx\n    securityContext:\n      privileged: true\n",
    );
    let run = podsec(&["check", &manifest, "-o", "junit"], b"");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let parsed: Value = serde_json::from_str(&helper(&[
        "junit",
        &write(dir.path(), "c.xml", &run.stdout),
    ]))
    .unwrap();
    let case = &parsed["suites"][0]["cases"][0];
    assert_eq!(case["name"], "Pod p (line 1) passes restricted:latest");
    let texts: Vec<&str> = case["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("container \"a<&>\u{FFFD}\"")),
        "{texts:?}"
    );
    assert_eq!(parsed["attrib"]["failures"], "1");
}

/// The reports always go through podsec's transcription of the CRDs' schema (it ships with the
/// tests, so nothing can skip it); `PODSEC_POLICYREPORT_CRD`, naming the real CRD YAML, adds a
/// second pass against the originals' `openAPIV3Schema`.
#[test]
fn policy_reports_match_the_crd_schema() {
    let run = podsec(&["audit", &snapshot(), "-o", "policyreport"], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut kinds: Vec<String> = run
        .stdout
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            let doc: Value = serde_json::from_str(d.trim()).unwrap();
            doc["kind"].as_str().unwrap().to_owned()
        })
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "ClusterPolicyReport",
            "PolicyReport",
            "PolicyReport",
            "PolicyReport",
            "PolicyReport",
            "PolicyReport"
        ],
        "the cluster report and one per namespace"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "reports.yaml", &run.stdout);

    let schema = manifest_dir().join("tests/schemas/policyreport-v1alpha2.schema.json");
    let out = helper(&["schema", &schema.to_string_lossy(), &path]);
    assert_eq!(
        out.trim(),
        "6 valid",
        "five namespaces and the cluster report"
    );

    if let Some(crd) = std::env::var_os("PODSEC_POLICYREPORT_CRD").map(PathBuf::from) {
        assert!(
            crd.is_file(),
            "PODSEC_POLICYREPORT_CRD: {} is missing",
            crd.display()
        );
        // The helper validates each kind against its own CRD, in kind order, and fails when the
        // file lacks either CRD at v1alpha2.
        let out = helper(&["crd", &crd.to_string_lossy(), "v1alpha2", &path]);
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            ["1 valid", "5 valid"],
            "the ClusterPolicyReport, then the five PolicyReports"
        );
    }

    // The schema is not a rubber stamp: a wrong result value and an unknown field fail it.
    let mut bad: Value =
        serde_json::from_str(run.stdout.split("---\n").nth(1).unwrap().trim()).unwrap();
    bad["results"][0]["result"] = "failed".into();
    bad["results"][0]["colour"] = "red".into();
    let bad_path = write(dir.path(), "bad.json", &bad.to_string());
    let out = Command::new(python())
        .arg(manifest_dir().join("tests/support/reports.py"))
        .args(["schema", &schema.to_string_lossy(), &bad_path])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("'failed' is not one of"), "{text}");
    assert!(text.contains("'colour' was unexpected"), "{text}");
}

fn audit_html_page() -> Run {
    let run = podsec(
        &[
            "audit",
            &snapshot(),
            "-o",
            "html",
            "--what-if",
            "enforce=restricted",
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

#[test]
fn html_report_renders_in_headless_chromium_without_console_errors() {
    let chromium = std::env::var("PODSEC_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let run = audit_html_page();
    assert!(
        !run.stdout.contains("http://") && !run.stdout.contains("https://"),
        "self-contained: no external assets"
    );
    let dir = tempfile::tempdir().unwrap();
    let page = write(dir.path(), "audit.html", &run.stdout);
    let out = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", dir.path().join("profile").display()),
            "--dump-dom",
        ])
        .arg(format!("file://{page}"))
        .output()
        .unwrap_or_else(|e| panic!("{chromium}: {e}: {SETUP}"));
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed:\n{log}");
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(
        dom.contains("data-rendered=\"yes\""),
        "the script ran to the end:\n{dom}"
    );
    // The page is rendered by podsec (cards, charts, a drill-down per namespace); the script
    // only shows the filter and expand/collapse controls.
    assert!(
        dom.contains("<div id=\"controls\" class=\"controls\">"),
        "the script showed the controls:\n{dom}"
    );
    assert!(
        dom.contains("<div class=\"card\"><b>5</b>namespaces</div>"),
        "{dom}"
    );
    assert!(
        dom.contains("<div class=\"card\"><b>6</b>pods</div>"),
        "{dom}"
    );
    assert!(dom.contains("seccompProfile_restricted"));
    assert_eq!(dom.matches("<details data-ns=").count(), 5);
    assert!(dom.contains("Deployment web"));
    assert!(dom.contains("What if enforce=restricted:latest: 2 pods rejected"));
    assert!(dom.contains("What if enforce=restricted:latest: 1 pod rejected"));
    assert!(
        dom.contains(
            "<p class=\"warning\">web-7d4b9c8f5-abcde (and 1 other pod): seccompProfile</p>"
        ),
        "upstream's relabel warnings in the drill-down:\n{dom}"
    );
}

/// Where scripts are blocked (mail clients, CI artifact viewers) the page must read the same:
/// Chromium loads it with a Content-Security-Policy that forbids every script (so the browser
/// itself refuses to run it), dumps the DOM and takes a screenshot, whose pixels must show
/// the summary text and the charts' bars.
#[test]
fn html_report_reads_the_same_with_javascript_disabled_screenshot() {
    let chromium = std::env::var("PODSEC_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let run = audit_html_page();
    let blocked = run.stdout.replacen(
        "<meta charset=\"utf-8\">",
        "<meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\">",
        1,
    );
    assert_ne!(
        blocked, run.stdout,
        "the page has a <meta charset> to anchor the policy"
    );
    let dir = tempfile::tempdir().unwrap();
    let page = write(dir.path(), "audit.html", &blocked);
    let shot = dir.path().join("audit.png");
    let chrome = |extra: &[String]| {
        let out = Command::new(&chromium)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1000,1400",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .args(extra)
            .arg(format!("file://{page}"))
            .output()
            .unwrap_or_else(|e| panic!("{chromium}: {e}: {SETUP}"));
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "chromium failed:\n{log}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), log)
    };
    let (dom, log) = chrome(&["--dump-dom".to_string()]);
    assert!(
        log.contains("violates the following Content Security Policy"),
        "the browser blocked the script:\n{log}"
    );
    assert!(!dom.contains("data-rendered=\"yes\""), "no script ran");
    assert!(
        dom.contains("<div id=\"controls\" class=\"controls\" hidden=\"\">"),
        "controls that need the script stay hidden:\n{dom}"
    );
    assert!(dom.contains("<div class=\"card\"><b>5</b>namespaces</div>"));
    assert!(dom.contains("<div class=\"card\"><b>6</b>pods</div>"));
    for chart in ["chart-levels", "chart-pods", "chart-checks"] {
        assert!(
            dom.contains(&format!("<table id=\"{chart}\" class=\"chart\">")),
            "{chart}"
        );
    }
    // 3 of the 5 namespaces pass only privileged: the widest bar (red) is 100%.
    assert!(dom.contains("<span class=\"bar privileged\" style=\"width:100%\"></span></div></td><td class=\"count\">3</td>"), "{dom}");
    assert_eq!(dom.matches("<details data-ns=").count(), 5);
    assert!(dom.contains("What if enforce=restricted:latest: 2 pods rejected"));
    assert!(dom.contains("web-7d4b9c8f5-abcde (and 1 other pod): seccompProfile"));

    chrome(&[format!("--screenshot={}", shot.display())]);
    let shot = shot.to_string_lossy().into_owned();
    let pixels: serde_json::Value =
        serde_json::from_str(&helper(&["pixels", &shot, "d4a72c", "cf222e"])).unwrap();
    let colour = |c: &str| &pixels["colours"][c];
    let (amber, red, dark) = (colour("d4a72c"), colour("cf222e"), colour("dark"));
    // The summary (heading, line, cards) is text at the top; the bars come below it.
    assert!(dark["pixels"].as_u64().unwrap() > 5_000, "{pixels}");
    assert!(dark["first_row"].as_u64().unwrap() < 100, "{pixels}");
    for bars in [amber, red] {
        assert!(
            bars["pixels"].as_u64().unwrap() > 5_000,
            "the charts' bars: {pixels}"
        );
        assert!(
            bars["first_row"].as_u64().unwrap() > dark["first_row"].as_u64().unwrap() + 100,
            "{pixels}"
        );
    }
}
