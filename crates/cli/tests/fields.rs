//! Strict field checking in `podsec check`: seed 004's Deployment puts `privileged` in the
//! pod's securityContext, where no such field exists; podsec says so, with where it belongs,
//! and `--strict` refuses it as `kubectl apply --validate=strict` does.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use std::path::PathBuf;

use util::{kubectl, podsec};

fn seed_deployment() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../policies/gatekeeper/seed-004/seed-deployment.yaml")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn seed_004_warns_and_strict_refuses() {
    let seed = seed_deployment();
    let run = podsec(&["check", &seed, "-o", "json"], b"");
    assert_eq!(
        run.code, 1,
        "denied at restricted, not an input error: {}",
        run.stdout
    );
    assert_eq!(
        run.json()["results"][0]["fieldWarnings"],
        serde_json::json!(["unknown field \"spec.template.spec.securityContext.privileged\" (did you mean spec.template.spec.containers[0].securityContext.privileged?)"])
    );
    // The warning never changes the verdict: at privileged the Deployment passes.
    let run = podsec(&["check", &seed, "--level", "privileged"], b"");
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("warning")
            && run.stdout.contains(
                "did you mean spec.template.spec.containers[0].securityContext.privileged?"
            ),
        "{}",
        run.stdout
    );

    let strict = podsec(&["check", &seed, "--level", "privileged", "--strict"], b"");
    assert_eq!(strict.code, 2, "{}", strict.stdout);
    assert!(
        strict.stderr.contains("seed-deployment.yaml:1: Deployment nginx-deployment: strict decoding error: unknown field \"spec.template.spec.securityContext.privileged\""),
        "{}",
        strict.stderr
    );
}

#[test]
fn kubectl_manifests_and_common_mistakes() {
    // What kubectl writes has no unknown field (creationTimestamp: null, status: {}, …).
    for args in [
        [
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "--dry-run=client",
            "-o",
            "yaml",
        ]
        .as_slice(),
        [
            "create",
            "cronjob",
            "c",
            "--image=busybox",
            "--schedule=* * * * *",
            "--dry-run=client",
            "-o",
            "yaml",
        ]
        .as_slice(),
        [
            "create",
            "job",
            "j",
            "--image=busybox",
            "--dry-run=client",
            "-o",
            "json",
        ]
        .as_slice(),
    ] {
        let manifest = kubectl(args, None);
        let run = podsec(
            &["check", "-", "--strict", "--level", "privileged"],
            manifest.as_bytes(),
        );
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    let typo = "apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: a
    image: a
    securityContex: {runAsNonRoot: true}
    seccompProfile: {type: RuntimeDefault}
  securityContext:
    runAsNonroot: true
  terminationGracePeriodSeconds: '30'
";
    let run = podsec(
        &["check", "-", "-o", "json", "--level", "privileged"],
        typo.as_bytes(),
    );
    assert_eq!(
        run.json()["results"][0]["fieldWarnings"],
        serde_json::json!([
            "unknown field \"spec.containers[0].seccompProfile\" (did you mean spec.containers[0].securityContext.seccompProfile?)",
            "unknown field \"spec.containers[0].securityContex\" (did you mean spec.containers[0].securityContext?)",
            "unknown field \"spec.securityContext.runAsNonroot\" (did you mean spec.securityContext.runAsNonRoot?)",
            "spec.terminationGracePeriodSeconds: expected an integer, found a string (\"30\")",
        ])
    );
}
