//! `podsec check` end to end: the real binary on real manifests.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use serde_json::Value;
use util::{kubectl, kubectl_run, podsec};

const RESTRICTED_NGINX: &str = concat!(
    r#"violates PodSecurity "restricted:latest": "#,
    r#"allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), "#,
    r#"unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), "#,
    r#"runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), "#,
    r#"seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
);

fn only_result(run: &util::Run) -> Value {
    let report = run.json();
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{}", run.stdout);
    results[0].clone()
}

/// The check IDs of a result's violations, in order.
fn violated_checks(result: &Value) -> Vec<&str> {
    result["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| v["check"].as_str().expect("check"))
        .collect()
}

#[test]
fn kubectl_create_deployment_fails_restricted_as_a_cluster_would_warn() {
    let manifest = kubectl(
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        None,
    );
    let run = podsec(&["check", "-o", "json", "-"], manifest.as_bytes());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = only_result(&run);
    assert_eq!(r["kind"], "Deployment");
    assert_eq!(r["apiVersion"], "apps/v1");
    assert_eq!(r["name"], "web");
    assert_eq!(r["allowed"], false);
    assert_eq!(r["message"], RESTRICTED_NGINX);
    assert_eq!(
        violated_checks(&r),
        [
            "allowPrivilegeEscalation",
            "capabilities_restricted",
            "runAsNonRoot",
            "seccompProfile_restricted"
        ]
    );
    assert_eq!(
        r["violations"][0]["fields"][0],
        "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation"
    );
}

#[test]
fn kubectl_run_pod_passes_baseline_and_fails_restricted() {
    let manifest = kubectl_run(&["nginx", "--image=nginx", "--dry-run=client", "-o", "yaml"]);
    let baseline = podsec(&["check", "--level", "baseline", "-"], manifest.as_bytes());
    assert_eq!(baseline.code, 0, "{}{}", baseline.stdout, baseline.stderr);
    assert!(
        baseline.stdout.contains("1 object: 1 allowed, 0 denied"),
        "{}",
        baseline.stdout
    );
    let restricted = podsec(&["check", "-o", "json", "-"], manifest.as_bytes());
    assert_eq!(restricted.code, 1);
    assert_eq!(only_result(&restricted)["message"], RESTRICTED_NGINX);
}

#[test]
fn examples_check_as_documented() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let run = podsec(&["check", "-o", "json", examples], b"");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    let verdicts: Vec<(String, String, bool)> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                format!(
                    "{}/{}",
                    r["kind"].as_str().unwrap_or(""),
                    r["name"].as_str().unwrap_or("")
                ),
                format!(
                    "{}:{}",
                    r["level"].as_str().unwrap_or(""),
                    r["version"].as_str().unwrap_or("")
                ),
                r["allowed"].as_bool().unwrap_or(true),
            )
        })
        .collect();
    let expected = [
        ("Pod/debug-shell", "restricted:v1.30", false),
        ("Pod/batch-probe", "baseline:latest", true),
        ("CronJob/nightly-report", "baseline:latest", false),
        ("DaemonSet/node-exporter", "privileged:latest", true),
        ("Deployment/api", "restricted:v1.30", true),
        ("Deployment/web", "restricted:latest", false),
    ];
    let expected: Vec<(String, String, bool)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
        .collect();
    assert_eq!(verdicts, expected);
    assert_eq!(
        report["summary"],
        serde_json::json!({"objects": 6, "allowed": 3, "denied": 3, "skipped": 4, "errors": 0,
            "skipped_kinds": {"Namespace": 3, "Service": 1}})
    );
}

#[test]
fn json_contract_has_every_documented_field() {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: team}\nspec:\n  containers: [{name: c, image: x, securityContext: {privileged: true}}]\n---\nkind: Pod\n";
    let run = podsec(
        &[
            "check",
            "--level",
            "baseline",
            "--version",
            "v1.99",
            "-o",
            "json",
            "-",
        ],
        pod.as_bytes(),
    );
    let report = run.json();
    let r = &report["results"][0];
    for key in [
        "file",
        "line",
        "apiVersion",
        "kind",
        "namespace",
        "name",
        "level",
        "version",
        "allowed",
        "message",
        "violations",
    ] {
        assert!(r.get(key).is_some(), "result lacks {key}");
    }
    assert_eq!(r["file"], "<stdin>");
    assert_eq!(r["line"], 1);
    assert_eq!(r["namespace"], "team");
    assert_eq!(r["version"], "v1.99");
    assert_eq!(
        r["message"],
        r#"violates PodSecurity "baseline:v1.99": privileged (container "c" must not set securityContext.privileged=true)"#
    );
    let v = &r["violations"][0];
    assert_eq!(v["check"], "privileged");
    assert_eq!(v["reason"], "privileged");
    assert_eq!(
        v["detail"],
        r#"container "c" must not set securityContext.privileged=true"#
    );
    assert_eq!(
        v["fields"],
        serde_json::json!(["spec.containers[0].securityContext.privileged"])
    );
    assert!(v["hint"].as_str().is_some_and(|h| !h.is_empty()));
    let e = &report["errors"][0];
    assert_eq!(
        (e["file"].as_str(), e["line"].as_u64()),
        (Some("<stdin>"), Some(7))
    );
    assert!(e["message"]
        .as_str()
        .is_some_and(|m| m.contains("apiVersion is missing")));
    assert_eq!(
        report["summary"],
        serde_json::json!({"objects": 1, "allowed": 0, "denied": 1, "skipped": 0, "errors": 1})
    );
    assert_eq!(run.code, 2, "an input error outranks a violation");
}

#[test]
fn yaml_output_says_the_same_as_json() {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x}]}\n";
    let json = podsec(&["check", "-o", "json", "-"], pod.as_bytes()).json();
    let yaml = podsec(&["check", "-o", "yaml", "-"], pod.as_bytes());
    assert_eq!(yaml.code, 1, "{}", yaml.stderr);
    // JSON is YAML too: printing JSON for `-o yaml` would pass the comparison below.
    assert!(
        !yaml.stdout.trim_start().starts_with('{'),
        "{}",
        yaml.stdout
    );
    let from_yaml: Value = serde_saphyr::from_str(&yaml.stdout).expect("yaml output parses");
    // Two empty or equally wrong reports would compare equal: pin down what this one says.
    let results = from_yaml["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{}", yaml.stdout);
    let r = &results[0];
    assert_eq!(
        (
            r["kind"].as_str(),
            r["name"].as_str(),
            r["level"].as_str(),
            r["version"].as_str(),
            r["allowed"].as_bool()
        ),
        (
            Some("Pod"),
            Some("p"),
            Some("restricted"),
            Some("latest"),
            Some(false)
        )
    );
    assert_eq!(
        violated_checks(r),
        [
            "allowPrivilegeEscalation",
            "capabilities_restricted",
            "runAsNonRoot",
            "seccompProfile_restricted"
        ]
    );
    assert_eq!(
        r["message"],
        RESTRICTED_NGINX.replace(r#""nginx""#, r#""c""#)
    );
    assert_eq!(
        from_yaml["summary"],
        serde_json::json!({"objects": 1, "allowed": 0, "denied": 1, "skipped": 0, "errors": 0})
    );
    assert_eq!(from_yaml, json);
}

#[test]
fn table_names_object_location_check_and_detail() {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  hostNetwork: true\n  containers: [{name: c, image: x}]\n";
    let run = podsec(&["check", "--level", "baseline", "-"], pod.as_bytes());
    assert_eq!(run.code, 1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("RESULT") && lines[0].contains("DETAIL"),
        "{}",
        run.stdout
    );
    assert!(
        lines[1].starts_with("deny")
            && lines[1].contains("Pod/p")
            && lines[1].contains("<stdin>:1")
            && lines[1].contains("hostNamespaces")
            && lines[1].contains("host namespaces (hostNetwork=true)"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains('\u{1b}'),
        "no colour when not a terminal"
    );
    assert!(run
        .stdout
        .trim_end()
        .ends_with("1 object: 0 allowed, 1 denied; 0 skipped; 0 errors"));
}

#[test]
fn namespace_labels_choose_level_and_version() {
    let input = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: legacy}\nspec:\n  containers: [{name: c, image: x, securityContext: {runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}]\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: legacy\n  labels:\n    pod-security.kubernetes.io/enforce: restricted\n    pod-security.kubernetes.io/enforce-version: v1.18\n";
    // At v1.18 restricted did not require seccomp yet; at latest it does.
    let run = podsec(&["check", "-o", "json", "-"], input.as_bytes());
    let r = only_result(&run);
    assert_eq!(
        (
            r["level"].as_str(),
            r["version"].as_str(),
            r["allowed"].as_bool()
        ),
        (Some("restricted"), Some("v1.18"), Some(true))
    );
    assert_eq!(run.code, 0);
    let without_ns = input.split("---").next().unwrap_or_default();
    let run = podsec(&["check", "-o", "json", "-"], without_ns.as_bytes());
    assert_eq!(only_result(&run)["allowed"], false);
}

#[test]
fn invalid_namespace_label_fails_closed_and_is_reported() {
    let input = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  labels: {pod-security.kubernetes.io/enforce: strict}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec: {containers: [{name: c, image: x}]}\n";
    let run = podsec(
        &["check", "--level", "privileged", "-o", "json", "-"],
        input.as_bytes(),
    );
    assert_eq!(run.code, 2);
    let report = run.json();
    assert_eq!(report["results"][0]["level"], "restricted");
    assert_eq!(report["results"][0]["allowed"], false);
    let message = report["errors"][0]["message"].as_str().expect("message");
    assert!(
        message.contains(
            r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict""#
        ),
        "{message}"
    );
}

#[test]
fn reads_directories_recursively_lists_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nested = dir.path().join("a/b");
    std::fs::create_dir_all(&nested).expect("mkdir");
    std::fs::write(nested.join("pods.json"), r#"{"apiVersion":"v1","kind":"PodList","items":[
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"one"},"spec":{"containers":[{"name":"c"}]}},
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"two"},"spec":{"hostPID":true,"containers":[{"name":"c"}]}}]}"#).expect("write");
    std::fs::write(dir.path().join("a/rc.yml"), "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: rc}\nspec:\n  template:\n    spec: {containers: [{name: c}]}\n").expect("write");
    std::fs::write(dir.path().join("notes.txt"), "not a manifest").expect("write");
    let run = podsec(
        &[
            "check",
            "--level",
            "baseline",
            "-o",
            "json",
            dir.path().to_str().expect("utf-8 path"),
        ],
        b"",
    );
    let report = run.json();
    let names: Vec<(&str, u64, bool)> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or(""),
                r["line"].as_u64().unwrap_or(0),
                r["allowed"].as_bool().unwrap_or(true),
            )
        })
        .collect();
    assert_eq!(
        names,
        [("one", 2, true), ("two", 3, false), ("rc", 1, true)]
    );
    assert_eq!(run.code, 1);
}

#[test]
fn usage_errors_exit_2() {
    // Every clap usage error exits 2, so the message tells which error this is.
    let no_path = podsec(&["check"], b"");
    assert_eq!(no_path.code, 2);
    assert!(
        no_path
            .stderr
            .contains("error: the following required arguments were not provided:\n  <PATH|->"),
        "{}",
        no_path.stderr
    );
    let bad_version = podsec(&["check", "--version", "1.30", "-"], b"");
    assert_eq!(bad_version.code, 2);
    assert!(
        bad_version.stderr.contains(r#"must be "latest" or "v1.x""#),
        "{}",
        bad_version.stderr
    );
    let bad_level = podsec(&["check", "--level", "strict", "-"], b"");
    assert_eq!(bad_level.code, 2);
    assert!(
        bad_level
            .stderr
            .contains("error: invalid value 'strict' for '--level <LEVEL>'\n  [possible values: privileged, baseline, restricted]"),
        "{}",
        bad_level.stderr
    );
    let missing = podsec(
        &["check", "-o", "json", "/nonexistent/podsec/file.yaml"],
        b"",
    );
    assert_eq!(missing.code, 2);
    assert!(missing.json()["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("cannot read file")));
}

/// A pod-bearing kind under an apiVersion that does not serve it is what the API server
/// refuses; skipping it would pass a privileged pod.
#[test]
fn pod_bearing_kind_under_the_wrong_api_group_is_an_error() {
    for (api_version, kind, served) in [
        ("apps/v1", "Pod", "v1"),
        ("foo/v1", "Pod", "v1"),
        ("batch/v1", "Pod", "v1"),
        ("extensions/v1beta1", "Pod", "v1"),
        ("v1", "Deployment", "apps/v1"),
    ] {
        let spec = if kind == "Pod" {
            "spec: {containers: [{name: c, image: x, securityContext: {privileged: true}}]}"
        } else {
            "spec: {template: {spec: {containers: [{name: c, image: x, securityContext: {privileged: true}}]}}}"
        };
        let input =
            format!("apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: p}}\n{spec}\n");
        let run = podsec(
            &["check", "--level", "baseline", "-o", "json", "-"],
            input.as_bytes(),
        );
        assert_eq!(run.code, 2, "{api_version} {kind}: {}", run.stdout);
        let report = run.json();
        assert_eq!(report["summary"]["skipped"], 0, "{}", run.stdout);
        assert_eq!(report["errors"][0]["line"], 1);
        assert_eq!(
            report["errors"][0]["message"],
            format!("unknown apiVersion \"{api_version}\" for {kind}; Kubernetes serves {kind} as {served}")
        );
    }
    // A custom resource group's own `Job` is another resource: skipped, not an error.
    let volcano =
        "apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata: {name: j}\nspec: {}\n";
    let run = podsec(&["check", "-o", "json", "-"], volcano.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["summary"]["skipped"], 1);
}

/// An empty stream or a directory without manifests is usually a broken pipeline.
#[test]
fn nothing_to_check_exits_2_unless_allowed() {
    let empty = podsec(&["check", "-"], b"");
    assert_eq!(empty.code, 2);
    assert_eq!(
        empty.stderr,
        "podsec: nothing to check: no Kubernetes objects in -; if that is expected, pass --allow-empty\n"
    );
    assert!(empty.stdout.is_empty());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("README.md"), "not a manifest").expect("write");
    let run = podsec(&["check", dir.path().to_str().expect("path")], b"");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nothing to check"), "{}", run.stderr);
    let allowed = podsec(&["check", "--allow-empty", "-o", "json", "-"], b"\n---\n");
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    assert_eq!(allowed.json()["summary"]["objects"], 0);
}

/// In the table, input errors go to stderr (`podsec: FILE:LINE: message`), once; the table
/// on stdout keeps the results and counts the errors.
#[test]
fn table_errors_go_to_stderr_with_file_and_line() {
    let input = "apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\nspec: {containers: [{name: c, image: x}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - name: c\n    securityContext: {privileged: \"yes\"}\n";
    let run = podsec(&["check", "--level", "baseline", "-"], input.as_bytes());
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "podsec: <stdin>:12: Pod bad: spec.containers[0].securityContext.privileged: invalid type: string \"yes\", expected a boolean\n"
    );
    assert!(!run.stdout.contains("invalid type"), "{}", run.stdout);
    assert!(run.stdout.contains("Pod/ok"), "{}", run.stdout);
    assert!(
        run.stdout
            .ends_with("1 object: 1 allowed, 0 denied; 0 skipped; 1 error\n"),
        "{}",
        run.stdout
    );
}

/// Only a `*List`'s `items` are its objects: an object of another kind with a top-level
/// `items` list is not silently dropped (the splitter has handed its items over by the time
/// its kind is known), it is an error, fail closed.
#[test]
fn an_object_with_items_that_is_not_a_list_is_not_passed() {
    let json = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"items":[],"spec":{"template":{"spec":{"containers":[{"name":"c","image":"x","securityContext":{"privileged":true}}]}}}}"#;
    let yaml = "apiVersion: apps/v1\nitems: []\nkind: Deployment\nmetadata: {name: d}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: e}\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: cm}}\nspec: {template: {spec: {containers: [{name: c, image: x}]}}}\n";
    for (input, line) in [(json, 1), (yaml, 6)] {
        let run = podsec(
            &["check", "--level", "baseline", "-o", "json", "-"],
            input.as_bytes(),
        );
        assert_eq!(run.code, 2, "{}", run.stdout);
        let report = run.json();
        let messages: Vec<(u64, String)> = report["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| {
                (
                    e["line"].as_u64().unwrap_or(0),
                    e["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert!(
            messages.contains(&(line, "a Deployment with a top-level `items` list: its items were read as a List's, the Deployment itself was not checked; remove the field (Kubernetes does not know it) or make the object a List".into())),
            "{messages:?}"
        );
    }
}
