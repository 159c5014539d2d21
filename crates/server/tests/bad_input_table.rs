//! The server's bad-input table: every file in `tests/bad_inputs/` is a malformed input of
//! one kind, named by its first letter, with the answer it must get in `expected.tsv`
//! (`FILE<TAB>EXPECT<TAB>SUBSTRING[<TAB>survivor]`):
//! - `r*`: an AdmissionReview POSTed to `/validate` over TLS. EXPECT is the HTTP status
//!   (`400`: SUBSTRING is in the body), or `denied` or `allowed` (200, that decision; its
//!   message or audit annotations hold SUBSTRING). After each one the same connection still
//!   gets a good review answered.
//! - `c*`: a `--config` file: EXPECT `refused`, SUBSTRING in the error.
//! - `s*`: a `--state` directory holding the file: EXPECT `error`, SUBSTRING in a load error;
//!   `survivor` marks files whose good Namespace (after the bad document) must still load.
//!
//! Every case runs even when one fails; the failures are listed together.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use podsec_cluster::DirSource;
use support::*;

struct Case {
    file: String,
    expect: String,
    substring: String,
    survivor: bool,
}

fn table_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_inputs")
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(table_dir().join("expected.tsv")).unwrap();
    let cases: Vec<Case> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert!(cols.len() >= 3, "expected.tsv: malformed line {line:?}");
            Case {
                file: cols[0].into(),
                expect: cols[1].into(),
                substring: cols[2].into(),
                survivor: cols.get(3) == Some(&"survivor"),
            }
        })
        .collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(table_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "expected.tsv")
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = cases.iter().map(|c| c.file.clone()).collect();
    listed.sort();
    assert_eq!(listed, on_disk, "every input has one line in expected.tsv");
    assert!(cases.len() >= 90, "the table shrank to {}", cases.len());
    cases
}

fn check_review_reply(case: &Case, status: u16, body: &str) -> Result<(), String> {
    let text = match case.expect.as_str() {
        decision @ ("allowed" | "denied") => {
            if status != 200 {
                return Err(format!("HTTP {status}, expected 200: {body}"));
            }
            let answer: serde_json::Value =
                serde_json::from_str(body).map_err(|e| format!("not JSON ({e}): {body}"))?;
            if answer["response"]["allowed"] != (decision == "allowed") {
                return Err(format!("not {decision}: {body}"));
            }
            // The message, and the audit annotation that says why in detail.
            answer["response"].to_string()
        }
        code => {
            if code != status.to_string() {
                return Err(format!("HTTP {status}, expected {code}: {body}"));
            }
            body.to_string()
        }
    };
    if !text.contains(&case.substring) {
        return Err(format!("{text:?} lacks {:?}", case.substring));
    }
    if text.len() > 2_000 {
        return Err(format!("a {}-byte answer echoes the input", text.len()));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_clear_error_and_nothing_else_is_lost() {
    let all = cases();
    let mut failures = Vec::new();

    let certs = certs();
    let state = tempfile::tempdir().unwrap();
    write(
        state.path(),
        "namespaces.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: restricted\n  labels:\n    pod-security.kubernetes.io/enforce: restricted\n",
    );
    let server = start(options(&certs, state.path(), None)).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let good =
        serde_json::to_vec(&pod_review("good", "restricted", "u", nginx_pod("nginx"))).unwrap();

    for case in &all {
        let path = table_dir().join(&case.file);
        let outcome = match case.file.as_bytes()[0] {
            b'r' => {
                let body = std::fs::read(&path).unwrap();
                let reply = client
                    .request("POST", "/validate", Some("application/json"), body)
                    .await;
                let checked = check_review_reply(case, reply.status, &reply.text());
                // A bad request must not cost the good ones after it.
                let after = client
                    .request("POST", "/validate", Some("application/json"), good.clone())
                    .await;
                checked.and_then(|()| {
                    (after.status == 200 && after.json()["response"]["uid"] == "good")
                        .then_some(())
                        .ok_or_else(|| format!("the next good review got {}", after.status))
                })
            }
            b'c' => match podsec_server::load_configuration(&path) {
                Ok(_) => Err("accepted".into()),
                Err(e) => {
                    let message = podsec_admission::error_chain(&e);
                    (case.expect == "refused" && message.contains(&case.substring))
                        .then_some(())
                        .ok_or_else(|| format!("{message:?} lacks {:?}", case.substring))
                }
            },
            b's' => {
                let dir = tempfile::tempdir().unwrap();
                std::fs::copy(&path, dir.path().join(&case.file)).unwrap();
                match DirSource::open(dir.path()) {
                    Err(e) => Err(format!("the directory was refused: {e}")),
                    Ok((source, report)) => {
                        let messages: Vec<String> =
                            report.errors.iter().map(|e| e.to_string()).collect();
                        let survived = source.snapshot().get_namespace("survivor").is_some();
                        if case.expect != "error"
                            || !messages.iter().any(|m| m.contains(&case.substring))
                        {
                            Err(format!("{messages:?} lacks {:?}", case.substring))
                        } else if messages.iter().any(|m| m.len() > 2_000) {
                            Err(format!("a message echoes the input: {messages:?}"))
                        } else if case.survivor && !survived {
                            Err("the good Namespace after the bad document was lost".into())
                        } else {
                            Ok(())
                        }
                    }
                }
            }
            _ => Err("unknown kind of input (first letter r, c or s)".into()),
        };
        if let Err(why) = outcome {
            failures.push(format!("{}: {why}", case.file));
        }
    }
    let health = client.get("/readyz").await;
    assert_eq!(health.status, 200, "the server still serves");
    server.shutdown(Duration::from_secs(5)).await.unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs answered wrongly:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
