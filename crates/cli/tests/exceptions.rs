//! `podsec check` with PodSecurityExceptions: the node-exporter DaemonSet in a restricted
//! namespace, denied without its exception, admitted with it (in the input or with
//! `--exceptions`), denied again once it expires; narrowing, other namespaces, bad exceptions.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use std::path::PathBuf;

use util::podsec;

fn example(file: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../policies/exceptions/node-exporter")
        .join(file)
        .to_string_lossy()
        .into_owned()
}

const BEFORE: &str = "2027-01-01T00:00:00Z";
const AFTER: &str = "2027-04-01T00:00:00Z";

#[test]
fn node_exporter_denied_without_admitted_with_denied_after_expiry() {
    let (ns, ds, exception) = (
        example("namespace.yaml"),
        example("daemonset.yaml"),
        example("exception.yaml"),
    );
    let without = podsec(&["check", &ns, &ds, "-o", "json", "--now", BEFORE], b"");
    assert_eq!(without.code, 1, "{}", without.stdout);
    let checks: Vec<String> = without.json()["results"][0]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["check"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(checks, ["hostNamespaces", "hostPorts", "restrictedVolumes"]);

    for args in [
        vec!["check", &ns, &ds, &exception],
        vec!["check", &ns, &ds, "--exceptions", &exception],
    ] {
        let mut args: Vec<&str> = args.iter().map(|s| &**s).collect();
        args.extend(["-o", "json", "--now", BEFORE]);
        let with = podsec(&args, b"");
        assert_eq!(with.code, 0, "{}{}", with.stdout, with.stderr);
        let result = &with.json()["results"][0];
        assert_eq!(result["allowed"], true);
        assert_eq!(result["message"], serde_json::Value::Null);
        let waived: Vec<(String, String, String)> = result["waived"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["check"].as_str().unwrap().into(),
                    w["exception"].as_str().unwrap().into(),
                    w["expires"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            waived,
            [
                (
                    "hostNamespaces".into(),
                    "monitoring/node-exporter".into(),
                    "2027-03-31T00:00:00Z".into()
                ),
                (
                    "hostPorts".into(),
                    "monitoring/node-exporter".into(),
                    "2027-03-31T00:00:00Z".into()
                ),
                (
                    "restrictedVolumes".into(),
                    "monitoring/node-exporter".into(),
                    "2027-03-31T00:00:00Z".into()
                ),
            ]
        );
    }

    let expired = podsec(&["check", &ns, &ds, &exception, "--now", AFTER], b"");
    assert_eq!(expired.code, 1, "enforcement resumes by itself");
    assert!(
        expired.stderr.contains(
            "PodSecurityException monitoring/node-exporter expired at 2027-03-31T00:00:00Z"
        ),
        "{}",
        expired.stderr
    );
    let soon = podsec(
        &[
            "check",
            &ns,
            &ds,
            &exception,
            "--now",
            "2027-03-25T00:00:00Z",
        ],
        b"",
    );
    assert_eq!(soon.code, 0);
    assert!(
        soon.stderr
            .contains("expires at 2027-03-31T00:00:00Z (in 6 days"),
        "{}",
        soon.stderr
    );
}

/// A change to the example exception's text.
type Edit = dyn Fn(&str) -> String;

fn with_exception(edit: &Edit) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example("exception.yaml")).unwrap();
    std::fs::write(dir.path().join("exception.yaml"), edit(&text)).unwrap();
    let path = dir
        .path()
        .join("exception.yaml")
        .to_string_lossy()
        .into_owned();
    (dir, path)
}

#[test]
fn an_exception_waives_only_the_values_workloads_and_namespace_it_names() {
    let (ns, ds) = (example("namespace.yaml"), example("daemonset.yaml"));
    let cases: [(&str, &Edit, &str); 4] = [
        (
            "a path left out",
            &|t| t.replace("allow: [/proc, /sys, /]", "allow: [/proc, /sys]"),
            "restrictedVolumes",
        ),
        (
            "another port",
            &|t| t.replace("allow: [9100]", "allow: [9101]"),
            "hostPorts",
        ),
        (
            "hostPID left out",
            &|t| t.replace("allow: [hostNetwork, hostPID]", "allow: [hostNetwork]"),
            "hostNamespaces",
        ),
        (
            "another workload",
            &|t| {
                t.replace(
                    "{kind: DaemonSet, name: node-exporter}",
                    "{kind: DaemonSet, name: other}",
                )
            },
            "hostPorts",
        ),
    ];
    for (what, edit, still_denied) in cases {
        let (_dir, exception) = with_exception(edit);
        let run = podsec(
            &[
                "check",
                &ns,
                &ds,
                "--exceptions",
                &exception,
                "-o",
                "json",
                "--now",
                BEFORE,
            ],
            b"",
        );
        assert_eq!(run.code, 1, "{what}: {}", run.stdout);
        let json = run.json();
        let denied: Vec<&str> = json["results"][0]["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["check"].as_str().unwrap())
            .collect();
        assert!(denied.contains(&still_denied), "{what}: {denied:?}");
        // Still denied with upstream's message.
        assert!(json["results"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("violates PodSecurity \"restricted:latest\": "));
    }
    let (_dir, exception) =
        with_exception(&|t| t.replace("namespace: monitoring", "namespace: kube-system"));
    let run = podsec(
        &[
            "check",
            &ns,
            &ds,
            "--exceptions",
            &exception,
            "--now",
            BEFORE,
        ],
        b"",
    );
    assert_eq!(run.code, 1, "another namespace's exception does not apply");
}

#[test]
fn malformed_exceptions_are_errors_naming_object_and_field() {
    let (ns, ds) = (example("namespace.yaml"), example("daemonset.yaml"));
    let cases: [(&Edit, &str); 4] = [
        (
            &|t| t.replace("check: hostPorts", "check: hostPort"),
            "unknown check \"hostPort\"",
        ),
        (
            &|t| t.replace("name: node-exporter}", "name: \"node-exporter-[0-9]\"}"),
            "spec.match.workloads[0].name",
        ),
        (
            &|t| t.replace("\"2027-03-31T00:00:00Z\"", "\"31/03/2027\""),
            "spec.expires",
        ),
        (
            &|t| {
                t.replace(
                    "- check: hostPorts\n      allow: [9100]",
                    "- check: privileged\n      allow: [true]",
                )
            },
            "privileged has no values to narrow",
        ),
    ];
    for (edit, expected) in cases {
        let (_dir, exception) = with_exception(edit);
        let flag = podsec(&["check", &ns, &ds, "--exceptions", &exception], b"");
        assert_eq!(flag.code, 2);
        assert!(
            flag.stderr
                .contains("PodSecurityException monitoring/node-exporter")
                && flag.stderr.contains(expected),
            "{}",
            flag.stderr
        );
        let input = podsec(&["check", &ns, &ds, &exception, "-o", "json"], b"");
        assert_eq!(
            input.code, 2,
            "an exception in the input that cannot be read is an input error"
        );
        let errors: Vec<String> = input.json()["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect();
        let errors = errors.join("\n");
        assert!(errors.contains(expected), "{errors}");
    }
}

#[test]
fn audit_reports_exceptions_in_use_unused_expired_and_the_level_they_allow() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["namespace.yaml", "daemonset.yaml", "exception.yaml"] {
        std::fs::copy(example(f), dir.path().join(f)).unwrap();
    }
    let unused = std::fs::read_to_string(example("exception.yaml"))
        .unwrap()
        .replace(
            "name: node-exporter\n  namespace",
            "name: old-agent\n  namespace",
        )
        .replace(
            "{kind: DaemonSet, name: node-exporter}",
            "{kind: DaemonSet, name: old-agent}",
        );
    std::fs::write(dir.path().join("unused.yaml"), unused).unwrap();
    let path = dir.path().to_str().unwrap();
    let json = podsec(&["audit", path, "-o", "json", "--now", BEFORE], b"").json();
    let exceptions = json["exceptions"]["exceptions"].as_array().unwrap();
    let by_name = |name: &str| {
        exceptions
            .iter()
            .find(|e| e["exception"] == name)
            .unwrap()
            .clone()
    };
    let used = by_name("monitoring/node-exporter");
    assert_eq!(
        (used["status"].as_str(), used["workloads"].as_u64()),
        (Some("active"), Some(1))
    );
    assert_eq!(
        used["checks"],
        serde_json::json!(["hostNamespaces", "hostPorts", "restrictedVolumes"])
    );
    assert_eq!(by_name("monitoring/old-agent")["workloads"], 0);
    assert_eq!(
        json["exceptions"]["namespaces_that_would_rise"],
        serde_json::json!([{"namespace": "monitoring", "level": "privileged", "with_exceptions": "restricted"}])
    );
    let expired = podsec(&["audit", path, "-o", "json", "--now", AFTER], b"").json();
    assert!(expired["exceptions"]["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["status"] == "expired"));
    assert_eq!(
        expired["exceptions"]["namespaces_that_would_rise"],
        serde_json::json!([])
    );

    let sarif = podsec(
        &[
            "audit",
            path,
            "-o",
            "sarif",
            "--now",
            "2027-03-25T00:00:00Z",
        ],
        b"",
    )
    .json();
    let rules: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"exception/expiring"), "{rules:?}");
    let table = podsec(&["audit", path, "--now", BEFORE], b"").stdout;
    assert!(
        table.contains("PodSecurityExceptions: 2 active, 0 expiring, 0 expired, 1 unused"),
        "{table}"
    );
    let reports = podsec(&["audit", path, "-o", "policyreport", "--now", AFTER], b"").stdout;
    assert!(
        reports.contains("\"name\":\"podsec-exceptions\"")
            && reports.contains("\"rule\":\"expired\"")
    );
    let junit = podsec(&["audit", path, "-o", "junit", "--now", BEFORE], b"").stdout;
    assert!(junit.contains("pod-security-exceptions"));
    let html = podsec(&["audit", path, "-o", "html", "--now", BEFORE], b"").stdout;
    assert!(
        html.contains("<table id=\"exceptions\">")
            && html.contains(
                "Namespace monitoring passes privileged today, restricted with its exceptions."
            )
    );
}

/// `migrate` proposes an exception where one workload holds its namespace a level down, and
/// with the proposed exceptions applied the audit finds those namespaces one level up.
#[test]
fn migrate_proposes_exceptions_that_let_the_namespace_rise() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../audit/tests/fixtures/cluster-snapshot.json")
        .to_string_lossy()
        .into_owned();
    let run = podsec(&["migrate", &fixture, "-o", "json"], b"");
    let plan = run.json();
    let proposals = plan["exception_proposals"].as_array().unwrap();
    let summary: Vec<(String, String, String)> = proposals
        .iter()
        .map(|p| {
            (
                p["namespace"].as_str().unwrap().into(),
                p["workload"].as_str().unwrap().into(),
                p["level_with_exception"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "batch".to_string(),
                "CronJob/report".to_string(),
                "baseline".to_string()
            ),
            (
                "kube-system".to_string(),
                "DaemonSet/node-agent".to_string(),
                "baseline".to_string()
            ),
        ]
    );
    let node_agent = &proposals[1]["manifest"];
    assert_eq!(
        node_agent["spec"]["waive"],
        serde_json::json!([
            {"check": "hostNamespaces", "allow": ["hostPID"]},
            {"check": "hostPathVolumes", "allow": ["/"]}
        ])
    );
    // The debug pod in dmz is privileged: nothing an exception should narrow, no proposal.
    assert!(!summary.iter().any(|(ns, _, _)| ns == "dmz"));

    let dir = tempfile::tempdir().unwrap();
    let manifests: Vec<String> = proposals
        .iter()
        .map(|p| p["manifest"].to_string())
        .collect();
    std::fs::write(dir.path().join("proposed.json"), manifests.join("\n")).unwrap();
    let proposed = dir.path().join("proposed.json");
    let audit = podsec(
        &[
            "audit",
            &fixture,
            "--exceptions",
            proposed.to_str().unwrap(),
            "-o",
            "json",
        ],
        b"",
    )
    .json();
    assert_eq!(
        audit["exceptions"]["namespaces_that_would_rise"],
        serde_json::json!([
            {"namespace": "batch", "level": "privileged", "with_exceptions": "baseline"},
            {"namespace": "kube-system", "level": "privileged", "with_exceptions": "baseline"}
        ])
    );
    let text = podsec(&["migrate", &fixture], b"").stdout;
    assert!(text.contains("namespace kube-system: DaemonSet/node-agent holds it at privileged; with this exception it passes baseline (hostNamespaces, hostPathVolumes)"), "{text}");
}

/// `check --constraints` applies constraint waivers: the exception's pod is waived, the other
/// privileged pod still denied.
#[test]
fn check_waives_a_constraint_for_the_workload_an_exception_names() {
    let seed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies/gatekeeper/seed-004");
    let dir = tempfile::tempdir().unwrap();
    let exception = dir.path().join("exception.yaml");
    std::fs::write(
        &exception,
        "apiVersion: podsec.dev/v1alpha1\nkind: PodSecurityException\nmetadata: {name: priv, namespace: default}\nspec:\n  owner: platform\n  reason: a node debugger\n  expires: \"2099-01-01T00:00:00Z\"\n  match:\n    workloads: [{kind: Pod, name: privileged}]\n  waive:\n  - constraint: blockprivcontainers/blockprivcontainers\n",
    )
    .unwrap();
    let run = podsec(
        &[
            "check",
            "--level",
            "privileged",
            "--constraints",
            seed.to_str().unwrap(),
            seed.join("pods.yaml").to_str().unwrap(),
            "--exceptions",
            exception.to_str().unwrap(),
            "-o",
            "json",
        ],
        b"",
    );
    assert_eq!(
        run.code, 1,
        "privileged-init is still denied: {}",
        run.stderr
    );
    let json = run.json();
    let result = |name: &str| {
        json["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()
            .clone()
    };
    let privileged = result("privileged");
    assert_eq!(privileged["allowed"], true, "{privileged}");
    assert_eq!(
        privileged["waived"][0]["check"],
        "blockprivcontainers/blockprivcontainers"
    );
    assert_eq!(privileged["waived"][0]["exception"], "default/priv");
    assert_eq!(result("privileged-init")["allowed"], false);

    // audit --constraints: with the exception in the snapshot, its pod's violation is not counted.
    let snapshot = tempfile::tempdir().unwrap();
    std::fs::copy(seed.join("pods.yaml"), snapshot.path().join("pods.yaml")).unwrap();
    let audit = |dir: &std::path::Path| {
        podsec(
            &[
                "audit",
                dir.to_str().unwrap(),
                "--constraints",
                seed.to_str().unwrap(),
                "-o",
                "json",
            ],
            b"",
        )
        .json()
    };
    assert_eq!(
        audit(snapshot.path())["constraints"][0]["totalViolations"],
        2
    );
    std::fs::copy(&exception, snapshot.path().join("exception.yaml")).unwrap();
    let waived = audit(snapshot.path());
    assert_eq!(waived["constraints"][0]["totalViolations"], 1);
    assert_eq!(
        waived["constraints"][0]["violations"][0]["name"],
        "privileged-init"
    );
}

/// `check --psp`: a waived check behaves as the plugin would with the field allowed by the
/// policy, to the values the exception allows.
#[test]
fn check_psp_admits_with_the_exception_and_only_within_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/psp");
    for f in ["seed000/deny-all.yaml", "use-deny-all.yaml"] {
        std::fs::copy(fixtures.join(f), dir.path().join(f.replace('/', "-"))).unwrap();
    }
    let psp = dir.path().to_str().unwrap();
    let (ds, exception) = (example("daemonset.yaml"), example("exception.yaml"));
    let check = |extra: &[&str]| {
        let mut args = vec!["check", "--psp", psp, "-o", "json", "--now", BEFORE];
        args.extend(extra);
        podsec(&args, b"")
    };
    let without = check(&[&ds]);
    assert_eq!(without.code, 1, "{}", without.stdout);
    let with = check(&[&ds, "--exceptions", &exception]);
    assert_eq!(with.code, 0, "{}{}", with.stdout, with.stderr);
    let result = &with.json()["results"][0];
    assert_eq!(result["psp"]["admittedBy"], "deny-all");
    let waived: Vec<&str> = result["waived"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        waived,
        [
            "hostNamespaces",
            "hostPathVolumes",
            "restrictedVolumes",
            "hostPorts"
        ]
    );
    assert_eq!(result["waived"][0]["exception"], "monitoring/node-exporter");
    // A host path outside the waived prefixes is still refused, with the plugin's error:
    // without `/`, the DaemonSet's root volume is not allowed.
    let narrowed = dir.path().join("exception.yaml");
    std::fs::write(
        &narrowed,
        std::fs::read_to_string(&exception)
            .unwrap()
            .replace("allow: [/proc, /sys, /]", "allow: [/proc, /sys]"),
    )
    .unwrap();
    let outside = check(&[&ds, "--exceptions", narrowed.to_str().unwrap()]);
    assert_eq!(outside.code, 1, "{}", outside.stdout);
    // Only what the exception does not cover is reported.
    assert_eq!(
        outside.json()["results"][0]["message"],
        "pods \"node-exporter\" is forbidden: PodSecurityPolicy: unable to admit pod: [spec.volumes[2].hostPath.pathPrefix: Invalid value: \"/\": is not allowed to be used]",
        "{}",
        outside.stdout
    );
    // Expired: refused again.
    let expired = podsec(
        &[
            "check",
            "--psp",
            psp,
            "-o",
            "json",
            "--now",
            AFTER,
            &ds,
            "--exceptions",
            &exception,
        ],
        b"",
    );
    assert_eq!(expired.code, 1, "{}", expired.stdout);
}
