//! Every class of bad input gets an error naming file, line and what is wrong; the other
//! documents of the run are still checked; nothing unevaluated is reported as allowed.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use serde_json::Value;
use util::podsec;

const GOOD_POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: good}\nspec: {containers: [{name: c, image: x}]}\n";

/// Checks `bad` followed by a good pod in the same stream (YAML or JSON), and returns the
/// single error entry after asserting the rest of the run went on.
fn check_with_good_neighbour(bad: &str, separator: &str, good: &str) -> Value {
    let input = format!("{bad}{separator}{good}");
    let run = podsec(
        &["check", "--level", "baseline", "-o", "json", "-"],
        input.as_bytes(),
    );
    assert_eq!(
        run.code, 2,
        "input errors exit 2: {}{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.is_empty() || !run.stderr.contains("panicked"),
        "{}",
        run.stderr
    );
    let report = run.json();
    let results = report["results"].as_array().expect("results");
    assert!(
        results
            .iter()
            .any(|r| r["name"] == "good" && r["allowed"] == true),
        "the good object is still checked: {}",
        run.stdout
    );
    assert!(
        results.iter().all(|r| r["name"] == "good"),
        "nothing from the bad document is reported: {}",
        run.stdout
    );
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    assert_eq!(errors[0]["file"], "<stdin>");
    errors[0].clone()
}

fn message(e: &Value) -> &str {
    e["message"].as_str().expect("message")
}

#[test]
fn malformed_yaml() {
    let e = check_with_good_neighbour(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: [bad\n",
        "---\n",
        GOOD_POD,
    );
    assert_eq!(e["line"], 3);
    assert!(message(&e).contains("column"), "{e}");
}

#[test]
fn malformed_json() {
    let run = podsec(
        &["check", "-o", "json", "-"],
        b"{\"apiVersion\": \"v1\",\n \"kind\": \"Pod\",\n \"metadata\": {\"name\": }\n}",
    );
    assert_eq!(run.code, 2);
    let report = run.json();
    assert_eq!(report["errors"][0]["line"], 3);
    assert!(
        message(&report["errors"][0]).contains("expected value"),
        "{}",
        run.stdout
    );
    assert_eq!(report["summary"]["objects"], 0);
}

#[test]
fn duplicate_keys_in_yaml_and_json() {
    let e = check_with_good_neighbour("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostNetwork: true\n  hostNetwork: false\n  containers: [{name: c}]\n", "---\n", GOOD_POD);
    assert_eq!(e["line"], 6);
    assert!(message(&e).contains("duplicate"), "{e}");
    let good_json = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"good"},"spec":{"containers":[{"name":"c"}]}}"#;
    let e = check_with_good_neighbour(
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"hostNetwork":true,"hostNetwork":false,"containers":[{"name":"c"}]}}"#,
        "\n",
        good_json,
    );
    assert!(message(&e).contains("duplicate key \"hostNetwork\""), "{e}");
}

#[test]
fn wrong_types_the_api_server_rejects() {
    let e = check_with_good_neighbour(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    securityContext: {privileged: \"yes\"}\n",
        "---\n",
        GOOD_POD,
    );
    // The line of the wrong value, not of the object; no position in a re-serialized copy.
    assert_eq!(e["line"], 7);
    assert!(message(&e).ends_with("spec.containers[0].securityContext.privileged: invalid type: string \"yes\", expected a boolean"), "{e}");
    let e = check_with_good_neighbour(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers: {name: c, image: x}\n",
        "---\n",
        GOOD_POD,
    );
    assert!(
        message(&e).contains("Deployment d: spec.template.spec.containers: invalid type: map"),
        "{e}"
    );
}

#[test]
fn missing_spec() {
    let e = check_with_good_neighbour(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: nospec}\n",
        "---\n",
        GOOD_POD,
    );
    assert_eq!(
        message(&e),
        "Pod nospec: spec: Required value: the object has no pod spec to evaluate"
    );
    let e = check_with_good_neighbour(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cj}\nspec: {schedule: x}\n",
        "---\n",
        GOOD_POD,
    );
    assert!(
        message(&e).starts_with("CronJob cj: spec.jobTemplate.spec.template.spec: Required value"),
        "{e}"
    );
}

#[test]
fn unknown_api_version() {
    let e = check_with_good_neighbour(
        "apiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: old}\nspec: {}\n",
        "---\n",
        GOOD_POD,
    );
    assert!(
        message(&e).contains("no longer served") && message(&e).contains("apps/v1"),
        "{e}"
    );
    let e = check_with_good_neighbour(
        "apiVersion: v7\nkind: Pod\nmetadata: {name: future}\nspec: {}\n",
        "---\n",
        GOOD_POD,
    );
    assert!(
        message(&e).contains("unknown apiVersion \"v7\" for Pod"),
        "{e}"
    );
}

#[test]
fn ten_thousand_levels_of_nesting() {
    let deep = format!(
        "apiVersion: v1\nkind: ConfigMap\ndata:\n{}",
        (0..10_000)
            .map(|i| format!("{}a:\n", " ".repeat(i + 1)))
            .collect::<String>()
    );
    let e = check_with_good_neighbour(&deep, "\n---\n", GOOD_POD);
    assert!(
        message(&e).contains("nesting is deeper than the 64-level limit"),
        "{e}"
    );
    let deep_json = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let run = podsec(&["check", "-o", "json", "-"], deep_json.as_bytes());
    assert_eq!(run.code, 2);
    assert!(!run.stderr.contains("panicked"));
    assert!(
        message(&run.json()["errors"][0]).contains("recursion limit")
            || message(&run.json()["errors"][0]).contains("nesting"),
        "{}",
        run.stdout
    );
}

/// One document just over the 64 MiB limit, streamed through stdin (nothing written to disk):
/// refused with its line, the next document still checked.
#[test]
fn an_oversized_document_is_refused_and_the_rest_still_checked() {
    let mut text = String::from(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: huge\n  annotations:\n    blob: \"",
    );
    text.push_str(&"x".repeat((64 << 20) + 1024));
    text.push_str("\"\nspec: {containers: [{name: c}]}\n---\n");
    text.push_str(GOOD_POD);
    let run = podsec(&["check", "-o", "json", "-"], text.as_bytes());
    assert_eq!(run.code, 2, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["results"][0]["name"], "good");
    let e = &report["errors"][0];
    assert_eq!(e["file"], "<stdin>");
    assert_eq!(e["line"], 1);
    assert_eq!(
        message(e),
        "document is larger than the 64 MiB limit; split it into smaller documents"
    );
}

/// The limit is per object: a `v1/List` larger than 64 MiB (what `kubectl get pods -A -o
/// json` prints for a big cluster) is read item by item, lines kept.
#[test]
fn check_reads_a_json_list_larger_than_64_mib() {
    let filler = "x".repeat(4000);
    let pods = 17_000;
    let mut text = String::from("{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n");
    for i in 0..pods {
        if i > 0 {
            text.push_str(",\n");
        }
        text.push_str(&format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{{\"name\":\"p{i}\",\"annotations\":{{\"a\":\"{filler}\"}}}},\"spec\":{{\"containers\":[{{\"name\":\"c\",\"image\":\"x\"}}]}}}}"
        ));
    }
    text.push_str("\n]}\n");
    assert!(text.len() > 64 << 20);
    let run = podsec(
        &["check", "--level", "baseline", "-o", "json", "-"],
        text.as_bytes(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["summary"]["allowed"], pods);
    assert_eq!(report["results"][0]["line"], 2);
    assert_eq!(report["results"][pods - 1]["line"], pods + 1);
    assert_eq!(
        report["results"][pods - 1]["name"],
        format!("p{}", pods - 1)
    );
}

#[test]
fn binary_garbage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.yaml");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, &bytes).expect("write");
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, GOOD_POD).expect("write");
    let run = podsec(
        &["check", "-o", "json", dir.path().to_str().expect("path")],
        b"",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["results"][0]["name"], "good");
    let e = &report["errors"][0];
    assert!(e["file"]
        .as_str()
        .is_some_and(|f| f.ends_with("garbage.yaml")));
    assert!(e["line"].as_u64().is_some());
    assert!(message(e).contains("not UTF-8"), "{e}");
}

#[test]
fn non_object_documents() {
    let e = check_with_good_neighbour("- just\n- a list\n", "---\n", GOOD_POD);
    assert_eq!(
        message(&e),
        "expected a Kubernetes object (a mapping with apiVersion and kind), found a sequence"
    );
}
