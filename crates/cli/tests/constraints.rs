//! `check --constraints` and `audit --constraints`: Gatekeeper constraints through the real
//! binary, in every output format.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use std::path::{Path, PathBuf};

use serde_json::Value;
use util::podsec;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn seed_004() -> String {
    repo()
        .join("policies/gatekeeper/seed-004")
        .display()
        .to_string()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

const TAGS_TEMPLATE: &str = r#"apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sdisallowedtags
spec:
  crd:
    spec:
      names:
        kind: K8sDisallowedTags
      validation:
        openAPIV3Schema:
          type: object
          properties:
            tags: {type: array, items: {type: string}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    code:
    - engine: K8sNativeValidation
      source:
        validations:
        - expression: "!object.spec.containers.exists(c, variables.params.tags.exists(t, c.image.endsWith(':' + t)))"
          messageExpression: "'uses a disallowed tag: ' + object.spec.containers.map(c, c.image).join(', ')"
"#;

fn tags_template() -> String {
    TAGS_TEMPLATE.to_string()
}

fn tags_constraint(action: &str) -> String {
    format!("apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sDisallowedTags\nmetadata:\n  name: no-latest\nspec:\n  enforcementAction: {action}\n  match:\n    kinds: [{{apiGroups: [\"\"], kinds: [Pod]}}]\n  parameters:\n    tags: [latest]\n")
}

const LATEST_POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec:\n  containers:\n  - {name: web, image: nginx:latest}\n";

#[test]
fn seed_004_over_check() {
    let pods = repo().join("policies/gatekeeper/seed-004/pods.yaml");
    let seed = seed_004();
    let run = podsec(
        &[
            "check",
            "--level",
            "privileged",
            "--constraints",
            &seed,
            path(&pods),
            "-o",
            "json",
        ],
        b"",
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let json = run.json();
    let verdicts: Vec<(String, bool)> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["allowed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("privileged".to_string(), false),
            ("privileged-init".into(), false),
            ("unprivileged".into(), true)
        ]
    );
    let first = &json["results"][0];
    assert_eq!(
        first["message"],
        "[blockprivcontainers] Privileged container is not allowed: app, securityContext: {\"privileged\": true}"
    );
    assert_eq!(
        first["violations"][0]["check"],
        "blockprivcontainers/blockprivcontainers"
    );
    assert_eq!(first["violations"][0]["enforcementAction"], "deny");
    assert_eq!(
        first["violations"][0]["reason"],
        "Privileged container is not allowed: app, securityContext: {\"privileged\": true}"
    );

    // The seed's own Deployment passes: its constraint matches Pods only.
    let deployment = repo().join("policies/gatekeeper/seed-004/seed-deployment.yaml");
    let run = podsec(
        &[
            "check",
            "--level",
            "privileged",
            "--constraints",
            &seed,
            path(&deployment),
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn check_combines_pss_and_constraints_and_only_deny_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.yaml"), tags_template()).unwrap();
    let pod = dir.path().join("pod.yaml");
    std::fs::write(&pod, LATEST_POD).unwrap();
    for (action, code) in [("deny", 1), ("warn", 0), ("dryrun", 0)] {
        std::fs::write(dir.path().join("c.yaml"), tags_constraint(action)).unwrap();
        let run = podsec(
            &[
                "check",
                "--level",
                "privileged",
                "--constraints",
                path(dir.path()),
                path(&pod),
                "-o",
                "json",
            ],
            b"",
        );
        assert_eq!(run.code, code, "{action}: {}{}", run.stdout, run.stderr);
        let v = &run.json()["results"][0]["violations"][0];
        assert_eq!(v["check"], "K8sDisallowedTags/no-latest", "{action}");
        assert_eq!(
            v["reason"], "uses a disallowed tag: nginx:latest",
            "{action}"
        );
        assert_eq!(v["enforcementAction"], action);
    }
    // With the restricted level too, the PSS message comes first, Gatekeeper's after it.
    std::fs::write(dir.path().join("c.yaml"), tags_constraint("deny")).unwrap();
    let run = podsec(
        &[
            "check",
            "--constraints",
            path(dir.path()),
            path(&pod),
            "-o",
            "json",
        ],
        b"",
    );
    let message = run.json()["results"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("violates PodSecurity \"restricted:latest\""),
        "{message}"
    );
    assert!(
        message.ends_with("\n[no-latest] uses a disallowed tag: nginx:latest"),
        "{message}"
    );
    // Forcing an engine the template lacks falls back to the one it has.
    let run = podsec(
        &[
            "check",
            "--level",
            "privileged",
            "--constraints",
            path(dir.path()),
            "--engine",
            "rego",
            path(&pod),
        ],
        b"",
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
}

#[test]
fn broken_policy_sets_are_errors_naming_the_object() {
    let dir = tempfile::tempdir().unwrap();
    let pod = dir.path().join("pod.yaml");
    std::fs::write(&pod, LATEST_POD).unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    let cases = [
        (tags_template().replace("kind: K8sDisallowedTags", "kind: K8sOtherName"), tags_constraint("deny"), "must equal spec.crd.spec.names.kind"),
        (tags_template().replace("endsWith(':' + t)", "endsWith(':' + "), tags_constraint("deny"), "ConstraintTemplate k8sdisallowedtags: CEL: validations[0]"),
        (tags_template(), tags_constraint("deny").replace("tags: [latest]", "tags: latest"), "K8sDisallowedTags no-latest: invalid parameters: spec.parameters.tags: Invalid value: string: must be of type array"),
        (tags_template(), tags_constraint("block"), "spec.enforcementAction: \"block\" is not deny, warn, dryrun or scoped"),
        (String::new(), tags_constraint("deny"), "no ConstraintTemplate defines kind \"K8sDisallowedTags\""),
    ];
    for (template, constraint, expected) in cases {
        std::fs::write(policies.join("t.yaml"), &template).unwrap();
        std::fs::write(policies.join("c.yaml"), &constraint).unwrap();
        let run = podsec(
            &["check", "--constraints", path(&policies), path(&pod)],
            b"",
        );
        assert_eq!(run.code, 2, "{expected}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(expected),
            "want {expected:?} in: {}",
            run.stderr
        );
    }
}

#[test]
fn audit_reports_violations_per_constraint_in_every_format() {
    let snapshot = repo().join("crates/audit/tests/fixtures/cluster-snapshot.json");
    let seed = seed_004();
    let run = podsec(
        &[
            "audit",
            path(&snapshot),
            "--constraints",
            &seed,
            "-o",
            "json",
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: Value = run.json();
    assert_eq!(
        json["constraints"],
        serde_json::json!([{
            "kind": "blockprivcontainers", "name": "blockprivcontainers", "enforcementAction": "deny",
            "totalViolations": 1,
            "violations": [{"group": "", "version": "v1", "kind": "Pod", "namespace": "dmz", "name": "debug",
                "message": "Privileged container is not allowed: shell, securityContext: {\"privileged\": true}",
                "enforcementAction": "deny"}]
        }])
    );
    let table = podsec(&["audit", path(&snapshot), "--constraints", &seed], b"").stdout;
    assert!(table.contains("Gatekeeper constraints:\n  blockprivcontainers/blockprivcontainers (deny): 1 violation\n    Pod dmz/debug: Privileged container"), "{table}");

    let sarif = podsec(
        &[
            "audit",
            path(&snapshot),
            "--constraints",
            &seed,
            "-o",
            "sarif",
        ],
        b"",
    )
    .json();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "blockprivcontainers/blockprivcontainers"),
        "{sarif}"
    );

    let reports = podsec(
        &[
            "audit",
            path(&snapshot),
            "--constraints",
            &seed,
            "-o",
            "policyreport",
        ],
        b"",
    )
    .stdout;
    let constraint_report: Value = reports
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .find(|d| d["metadata"]["name"] == "podsec-constraints")
        .expect("a podsec-constraints PolicyReport");
    assert_eq!(constraint_report["metadata"]["namespace"], "dmz");
    assert_eq!(
        constraint_report["results"][0]["policy"],
        "blockprivcontainers"
    );
    assert_eq!(constraint_report["results"][0]["result"], "fail");

    let junit = podsec(
        &[
            "audit",
            path(&snapshot),
            "--constraints",
            &seed,
            "-o",
            "junit",
        ],
        b"",
    )
    .stdout;
    assert!(
        junit.contains("<testsuite name=\"gatekeeper-constraints\" tests=\"1\" failures=\"1\""),
        "{junit}"
    );
}
