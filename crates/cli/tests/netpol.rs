//! `podsec netpol`: the NetworkPolicy connectivity corpus (np-guard's netpol-analyzer golden
//! files: every `list` and `diff` byte-identical, every refused policy exit 2), seed 004's demo,
//! the output formats (HTML in headless Chromium), explain, audit and the live API.
//!
//! The corpus is read from `$PODSEC_NETPOL_CORPUS`, else from `shared/conformance/netpol` next
//! to the repository. A missing corpus fails the tests: they are never skipped.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use util::podsec;

fn corpus() -> PathBuf {
    if let Some(dir) = std::env::var_os("PODSEC_NETPOL_CORPUS") {
        return PathBuf::from(dir);
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        repo.join("../shared/conformance/netpol"),
        PathBuf::from("/work/shared/conformance/netpol"),
    ];
    for c in &candidates {
        if c.join("index.json").is_file() {
            return c.clone();
        }
    }
    panic!(
        "the NetworkPolicy corpus is missing: looked in {candidates:?}. \
         Set PODSEC_NETPOL_CORPUS to the netpol conformance directory."
    );
}

fn index() -> Value {
    serde_json::from_str(&std::fs::read_to_string(corpus().join("index.json")).unwrap()).unwrap()
}

fn input(name: &str) -> String {
    corpus()
        .join("inputs")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn seed(side: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../policies/netpol/seed-004")
        .join(side)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_list_case_is_byte_identical_to_the_golden_file() {
    let cases = index()["list"].as_array().unwrap().clone();
    assert!(cases.len() >= 12, "the corpus lists {} cases", cases.len());
    let mut failed = Vec::new();
    for case in &cases {
        let run = podsec(
            &["netpol", "list", &input(case["input"].as_str().unwrap())],
            b"",
        );
        let expected =
            std::fs::read_to_string(corpus().join(case["expected"].as_str().unwrap())).unwrap();
        if run.code != 0 || run.stdout != expected {
            failed.push(format!(
                "{} (exit {}): {}",
                case["id"], run.code, run.stderr
            ));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn every_diff_case_is_byte_identical_and_exits_1() {
    let cases = index()["diff"].as_array().unwrap().clone();
    assert!(cases.len() >= 6);
    let mut failed = Vec::new();
    for case in &cases {
        let run = podsec(
            &[
                "netpol",
                "diff",
                &input(case["old"].as_str().unwrap()),
                &input(case["new"].as_str().unwrap()),
            ],
            b"",
        );
        let expected =
            std::fs::read_to_string(corpus().join(case["expected"].as_str().unwrap())).unwrap();
        if run.code != 1 || run.stdout != expected {
            failed.push(format!(
                "{} (exit {}): {}",
                case["id"], run.code, run.stderr
            ));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn every_refused_policy_exits_2_naming_policy_and_field_with_no_list() {
    let expected_field = [
        (
            "bad_netpols__subdir1",
            "spec.ingress[2].from[0].ipBlock.cidr: invalid CIDR address \"A\"",
        ),
        (
            "bad_netpols__subdir2",
            "spec.podSelector.matchLabels: invalid label key \"app@b\"",
        ),
        (
            "bad_netpols__subdir3",
            "spec.ingress[0].from[0]: may not specify more than 1 peer type",
        ),
        (
            "bad_netpols__subdir4",
            "spec.ingress[0].from[0]: must specify a peer",
        ),
    ];
    let cases = index()["error"].as_array().unwrap().clone();
    assert_eq!(cases.len(), expected_field.len());
    for case in &cases {
        let id = case["id"].as_str().unwrap();
        let run = podsec(
            &["netpol", "list", &input(case["input"].as_str().unwrap())],
            b"",
        );
        assert_eq!(run.code, 2, "{id}: {}", run.stdout);
        assert!(run.stdout.is_empty(), "{id}: nothing is listed");
        let (_, field) = expected_field.iter().find(|(i, _)| *i == id).unwrap();
        assert!(
            run.stderr
                .contains("NetworkPolicy default/shippingservice-netpol")
                && run.stderr.contains(field),
            "{id}: {}",
            run.stderr
        );
    }
}

#[test]
fn seed_004_demo_list_diff_and_explain() {
    let before = podsec(&["netpol", "list", &seed("before")], b"");
    assert!(before
        .stdout
        .contains("default/busybox2[Pod] => default/busybox1[Pod] : All Connections\n"));
    let after = podsec(&["netpol", "list", &seed("after")], b"");
    assert!(
        !after.stdout.contains("=> default/busybox1[Pod]"),
        "{}",
        after.stdout
    );
    assert!(after
        .stdout
        .contains("default/busybox1[Pod] => default/busybox2[Pod] : All Connections\n"));

    let diff = podsec(&["netpol", "diff", &seed("before"), &seed("after")], b"");
    assert_eq!(diff.code, 1);
    assert_eq!(
        diff.stdout,
        "Connectivity diff:\n\
         diff-type: removed, source: 0.0.0.0-255.255.255.255[External], destination: default/busybox1[Pod], ref1: All Connections, ref2: No Connections\n\
         diff-type: removed, source: default/busybox2[Pod], destination: default/busybox1[Pod], ref1: All Connections, ref2: No Connections\n"
    );
    let same = podsec(&["netpol", "diff", &seed("after"), &seed("after")], b"");
    assert_eq!((same.code, same.stdout.as_str()), (0, ""));

    let denied = podsec(
        &[
            "netpol",
            "explain",
            "busybox2",
            "busybox1",
            &seed("after"),
            "--port",
            "80",
        ],
        b"",
    );
    assert_eq!(denied.code, 1, "{}", denied.stderr);
    assert!(denied
        .stdout
        .starts_with("default/busybox2[Pod] => default/busybox1[Pod] on TCP/80: DENIED\n"));
    assert!(denied
        .stdout
        .contains("ingress of default/busybox1[Pod]: isolated by default/web-deny-all"));
    let json = podsec(
        &[
            "netpol",
            "explain",
            "default/busybox2",
            "default/busybox1[Pod]",
            &seed("after"),
            "-o",
            "json",
        ],
        b"",
    )
    .json();
    assert_eq!(json["allowed"], false);
    assert_eq!(
        json["ingress"]["isolatedBy"],
        json!(["default/web-deny-all"])
    );
    let allowed = podsec(
        &["netpol", "explain", "busybox2", "busybox1", &seed("before")],
        b"",
    );
    assert_eq!(allowed.code, 0);
    assert!(allowed.stdout.contains(": ALLOWED\n"));
}

#[test]
fn explain_names_the_admitting_rule_and_checks_ports() {
    let dir = input("netpol-analysis-example-minimal");
    let run = podsec(
        &[
            "netpol",
            "explain",
            "default/frontend",
            "default/backend",
            &dir,
            "--port",
            "9090/TCP",
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(" admits it: TCP 9090"),
        "{}",
        run.stdout
    );
    let run = podsec(
        &[
            "netpol",
            "explain",
            "default/frontend",
            "default/backend",
            &dir,
            "--port",
            "9091",
        ],
        b"",
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let run = podsec(
        &[
            "netpol",
            "explain",
            "default/nothing",
            "default/backend",
            &dir,
        ],
        b"",
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no workload default/nothing"),
        "{}",
        run.stderr
    );
}

#[test]
fn list_formats_and_focus() {
    let dir = input("netpol-analysis-example-minimal");
    let json = podsec(&["netpol", "list", &dir, "-o", "json"], b"").json();
    let first = &json["connections"][0];
    assert_eq!(first["src"], "0.0.0.0-255.255.255.255[External]");
    assert_eq!(first["dst"], "default/frontend[Deployment]");
    assert_eq!(first["conn"], "TCP 8080");
    assert_eq!(
        first["allowed"],
        json!({"TCP": [[8080, 8080]], "UDP": [], "SCTP": []})
    );
    assert_eq!(json["connections"].as_array().unwrap().len(), 3);

    let csv = podsec(&["netpol", "list", &dir, "-o", "csv"], b"").stdout;
    assert_eq!(csv.lines().next(), Some("src,dst,conn"));
    assert!(csv.contains("default/frontend[Deployment],default/backend[Deployment],TCP 9090\n"));
    let md = podsec(&["netpol", "list", &dir, "-o", "md"], b"").stdout;
    assert!(
        md.contains("| default/frontend[Deployment] | default/backend[Deployment] | TCP 9090 |")
    );
    let dot = podsec(&["netpol", "list", &dir, "-o", "dot"], b"").stdout;
    assert!(dot.starts_with("digraph netpol {"));
    assert!(dot.contains(
        "\"default/frontend[Deployment]\" -> \"default/backend[Deployment]\" [label=\"TCP 9090\"];"
    ));

    let focus = podsec(&["netpol", "list", &dir, "--focus", "default/backend"], b"");
    assert_eq!(
        focus.stdout,
        "default/frontend[Deployment] => default/backend[Deployment] : TCP 9090\n"
    );
    let missing = podsec(&["netpol", "list", &dir, "--focus", "default/nope"], b"");
    assert_eq!(missing.code, 2);
}

#[test]
fn html_matrix_renders_in_headless_chromium_and_without_scripts() {
    let chromium = std::env::var("PODSEC_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let run = podsec(
        &["netpol", "list", &input("onlineboutique"), "-o", "html"],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !run.stdout.contains("http://") && !run.stdout.contains("https://"),
        "self-contained"
    );
    // The matrix is in the HTML itself, with the policy behind a cell in its title.
    assert!(run
        .stdout
        .contains("data-peer=\"default/frontend-99684f7f8[ReplicaSet]\""));
    assert!(
        run.stdout
            .contains("Ingress: allowed by default/cartservice-netpol spec.ingress[0]"),
        "the policy behind the cell"
    );
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("matrix.html");
    std::fs::write(&page, &run.stdout).unwrap();
    let dump = |extra: &[&str]| -> (String, String) {
        let out = Command::new(&chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0"])
            .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
            .args(extra)
            .arg("--dump-dom")
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap_or_else(|e| panic!("{chromium}: {e}: run `source scripts/test-tools.sh` or the README's test command"));
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "chromium failed:\n{log}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), log)
    };
    let (dom, log) = dump(&[]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(
        dom.contains("data-rendered=\"yes\""),
        "the script ran to the end"
    );
    assert!(dom.contains("<button class=\"toggle\" data-ns=\"default\">"));
    // Where scripts are blocked the page is what the HTML holds: load it with the script
    // removed (Chromium's --dump-dom needs scripting itself).
    let without_script = match run.stdout.split_once("<script>") {
        Some((head, tail)) => format!("{head}{}", tail.split_once("</script>").unwrap().1),
        None => panic!("the page has a script for interaction"),
    };
    std::fs::write(&page, without_script).unwrap();
    let (static_dom, _) = dump(&[]);
    assert!(
        !static_dom.contains("data-rendered=\"yes\""),
        "no script ran"
    );
    assert!(
        static_dom.contains("<td class=\"some\""),
        "the matrix is there without scripts"
    );
}

#[test]
fn audit_reports_gaps_in_every_format() {
    let run = podsec(&["netpol", "audit", &seed("after"), "-o", "json"], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = run.json();
    let gaps: Vec<(String, String)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["gap"].as_str().unwrap().to_string(),
                f["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(gaps.contains(&("no-default-deny-ingress".into(), "default".into())));
    assert!(gaps.contains(&("unprotected-ingress".into(), "default/busybox2[Pod]".into())));
    assert!(!gaps.contains(&("unprotected-ingress".into(), "default/busybox1[Pod]".into())));
    assert!(gaps.contains(&("unprotected-egress".into(), "default/busybox1[Pod]".into())));
    let table = podsec(&["netpol", "audit", &seed("after")], b"").stdout;
    assert!(table.contains("default/busybox2[Pod] is not protected on Ingress"));
    let sarif = podsec(&["netpol", "audit", &seed("after"), "-o", "sarif"], b"").json();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["runs"][0]["results"].as_array().unwrap().len() == gaps.len());
    let html = podsec(&["netpol", "audit", &seed("after"), "-o", "html"], b"").stdout;
    assert!(html.contains("<td>unprotected-egress</td>") && !html.contains("<script"));
}

#[test]
fn reads_the_live_api_with_a_kubeconfig() {
    let objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "busybox1", "namespace": "default", "labels": {"app": "busybox1"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "busybox2", "namespace": "default", "labels": {"app": "busybox2"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "web-deny-all", "namespace": "default"}, "spec": {"podSelector": {"matchLabels": {"app": "busybox1"}}, "ingress": []}}),
    ];
    let (_dir, kubeconfig) = util::list_stub(objects, None);
    let live = podsec(
        &[
            "netpol",
            "list",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(live.code, 0, "{}", live.stderr);
    let files = podsec(&["netpol", "list", &seed("after")], b"");
    assert_eq!(live.stdout, files.stdout);
}

#[test]
fn bad_input_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "kind: NetworkPolicy\nmetadata: {name: x\n").unwrap();
    let run = podsec(&["netpol", "list", bad.to_str().unwrap()], b"");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("bad.yaml"), "{}", run.stderr);
    let run = podsec(&["netpol", "list", "-"], b"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {}, ingress: [{ports: [{port: 99999}]}]}\n");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("NetworkPolicy default/p")
            && run.stderr.contains("spec.ingress[0].ports[0].port"),
        "{}",
        run.stderr
    );
}

#[test]
fn audit_network_folds_the_gaps_into_every_audit_format() {
    let dir = seed("after");
    let run = podsec(&["audit", &dir, "--network", "-o", "json"], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["network"]["policies"], 1);
    assert_eq!(
        json["network"]["by_gap"]["unprotected-ingress"], 1,
        "busybox2 only"
    );
    assert_eq!(json["network"]["by_gap"]["unprotected-egress"], 2);
    let without = podsec(&["audit", &dir, "-o", "json"], b"").json();
    assert!(without.get("network").is_none(), "opt-in");

    let table = podsec(&["audit", &dir, "--network"], b"").stdout;
    assert!(
        table.contains("NetworkPolicies (2 workloads, 1 NetworkPolicies): 5 gaps"),
        "{table}"
    );
    let sarif = podsec(&["audit", &dir, "--network", "-o", "sarif"], b"").json();
    let rules: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"netpol/unprotected-ingress")
            && rules.contains(&"netpol/no-default-deny-egress"),
        "{rules:?}"
    );
    let junit = podsec(&["audit", &dir, "--network", "-o", "junit"], b"").stdout;
    assert!(
        junit.contains("network-policies") && junit.contains("unprotected-egress: 2 findings"),
        "{junit}"
    );
    let reports = podsec(&["audit", &dir, "--network", "-o", "policyreport"], b"").stdout;
    assert!(
        reports.contains("\"name\":\"podsec-netpol\"")
            && reports.contains("\"rule\":\"unprotected-ingress\""),
        "{reports}"
    );
    let html = podsec(&["audit", &dir, "--network", "-o", "html"], b"").stdout;
    assert!(
        html.contains("<table id=\"network\">")
            && html.contains("default/busybox2[Pod] is not protected on Ingress")
    );

    let bad = tempfile::tempdir().unwrap();
    std::fs::write(bad.path().join("p.yaml"), "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {}, ingress: [{from: [{}]}]}\n").unwrap();
    let run = podsec(&["audit", bad.path().to_str().unwrap(), "--network"], b"");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("audit --network") && run.stderr.contains("NetworkPolicy default/p"),
        "{}",
        run.stderr
    );
}
