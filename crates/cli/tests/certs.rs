//! `podsec generate-certs`: private key 0600, no silent overwrite, no empty host, bounded
//! validity; the certificates read back with the real `openssl`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod util;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use util::podsec;

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().expect(
        "openssl must be installed to read the certificates back (apt-get install openssl)",
    );
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Days from now until the certificate's notAfter, by openssl's own check.
fn valid_for_days(cert: &str, days: u64) -> bool {
    Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-in",
            cert,
            "-checkend",
            &(days * 86_400).to_string(),
        ])
        .output()
        .expect("openssl")
        .status
        .success()
}

#[test]
fn generate_certs_writes_a_private_key_0600_and_bounded_validity() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let run = podsec(&["generate-certs", "--out-dir", out], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mode = |name: &str| {
        std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("tls.key"), 0o600);
    assert_ne!(mode("tls.crt") & 0o044, 0, "certificates stay readable");
    assert!(
        run.stdout.contains("the serving certificate expires "),
        "{}",
        run.stdout
    );

    let cert = dir.path().join("tls.crt");
    let cert = cert.to_str().unwrap();
    let ca = dir.path().join("ca.crt");
    let ca = ca.to_str().unwrap();
    // Valid now and for the default year, not beyond; the CA for ten years, not beyond.
    assert!(valid_for_days(cert, 364));
    assert!(!valid_for_days(cert, 366));
    assert!(valid_for_days(ca, 3649));
    assert!(!valid_for_days(ca, 3651));
    let text = openssl(&["x509", "-noout", "-text", "-in", cert]);
    assert!(
        text.contains("DNS:podsec.podsec.svc, DNS:podsec.podsec.svc.cluster.local"),
        "{text}"
    );
    assert!(openssl(&["verify", "-CAfile", ca, cert]).contains(": OK"));

    // Shorter on request.
    let short = tempfile::tempdir().unwrap();
    let run = podsec(
        &[
            "generate-certs",
            "--out-dir",
            short.path().to_str().unwrap(),
            "--cert-validity-days",
            "30",
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let short_cert = short.path().join("tls.crt");
    assert!(valid_for_days(short_cert.to_str().unwrap(), 29));
    assert!(!valid_for_days(short_cert.to_str().unwrap(), 31));
}

#[test]
fn generate_certs_refuses_to_overwrite_and_empty_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    assert_eq!(podsec(&["generate-certs", "--out-dir", out], b"").code, 0);
    let key_before = std::fs::read(dir.path().join("tls.key")).unwrap();
    let again = podsec(&["generate-certs", "--out-dir", out], b"");
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("already exist; pass --force"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read(dir.path().join("tls.key")).unwrap(),
        key_before
    );
    let forced = podsec(&["generate-certs", "--out-dir", out, "--force"], b"");
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_ne!(
        std::fs::read(dir.path().join("tls.key")).unwrap(),
        key_before
    );

    let empty = tempfile::tempdir().unwrap();
    let run = podsec(
        &[
            "generate-certs",
            "--out-dir",
            empty.path().to_str().unwrap(),
            "--hosts",
            "",
        ],
        b"",
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no host name"), "{}", run.stderr);
    assert!(!empty.path().join("tls.key").exists());
    let run = podsec(
        &[
            "generate-certs",
            "--out-dir",
            empty.path().to_str().unwrap(),
            "--cert-validity-days",
            "4000",
        ],
        b"",
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no longer than its CA"),
        "{}",
        run.stderr
    );
}
