//! Certificates, configuration and state change under a running server; in-flight requests
//! survive a graceful shutdown.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod support;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

use support::{nginx_pod, options, pod_review, start, write, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Lays out certificates the way a Kubernetes Secret volume does: `tls.crt -> ..data/tls.crt`,
/// `..data -> ..<version>`; a new version is swapped in with one atomic rename of `..data`.
fn secret_volume_swap(dir: &Path, version: &str, cert_pem: &str, key_pem: &str) {
    let versioned = dir.join(format!("..{version}"));
    std::fs::create_dir_all(&versioned).unwrap();
    std::fs::write(versioned.join("tls.crt"), cert_pem).unwrap();
    std::fs::write(versioned.join("tls.key"), key_pem).unwrap();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(format!("..{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for name in ["tls.crt", "tls.key"] {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("..data/{name}"), &link).unwrap();
        }
    }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_by_secret_symlink_swap_keeps_connections() {
    let secret = tempfile::tempdir().unwrap();
    let first = podsec_server::self_signed(&["localhost".into()]).unwrap();
    secret_volume_swap(
        secret.path(),
        "2026_11_23_01",
        &first.cert_pem,
        &first.key_pem,
    );
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "ns.yaml", support::SEED_NAMESPACES);
    let certs = support::Certs {
        dir: tempfile::tempdir().unwrap(),
        ca_pem: first.ca_pem.clone(),
        cert: secret.path().join("tls.crt"),
        key: secret.path().join("tls.key"),
    };
    let server = start(options(&certs, state.path(), None)).await;
    let mut old = Client::connect(server.addr, &first.ca_pem).await.unwrap();
    let review = pod_review("r1", "dmz", "u", nginx_pod("nginx"));
    assert_eq!(old.review("/validate", &review).await.status, 200);

    let second = podsec_server::self_signed(&["localhost".into()]).unwrap();
    secret_volume_swap(
        secret.path(),
        "2026_11_23_02",
        &second.cert_pem,
        &second.key_pem,
    );
    // New handshakes get the new certificate (so only the new CA verifies them)...
    let addr = server.addr;
    let ca = second.ca_pem.clone();
    eventually("the new certificate", || {
        let ca = ca.clone();
        async move { Client::connect(addr, &ca).await.is_ok() }
    })
    .await;
    assert!(
        Client::connect(server.addr, &first.ca_pem).await.is_err(),
        "the old certificate is no longer served"
    );
    // ...and the connection made before the swap keeps working.
    let reply = old.review("/validate", &review).await;
    assert_eq!(reply.status, 200);
    let mut fresh = Client::connect(server.addr, &second.ca_pem).await.unwrap();
    let metrics = fresh.get("/metrics").await.text();
    assert!(
        metrics.contains(r#"podsec_reloads_total{what="certificate",result="success"} 1"#),
        "{metrics}"
    );

    // A broken new pair is refused and the current one stays.
    secret_volume_swap(
        secret.path(),
        "2026_11_23_03",
        "not a certificate",
        "not a key",
    );
    eventually("the failed reload to be counted", || {
        let addr = server.addr;
        let ca = second.ca_pem.clone();
        async move {
            let Ok(mut c) = Client::connect(addr, &ca).await else {
                return false;
            };
            c.get("/metrics")
                .await
                .text()
                .contains(r#"podsec_reloads_total{what="certificate",result="failure"} 1"#)
        }
    })
    .await;
    assert!(Client::connect(server.addr, &second.ca_pem).await.is_ok());
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_and_state_reload_and_bad_configuration_is_refused() {
    let certs = support::certs();
    let state = tempfile::tempdir().unwrap();
    write(
        state.path(),
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: plain}\n",
    );
    let config_dir = tempfile::tempdir().unwrap();
    let config = write(config_dir.path(), "psa.yaml", "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {enforce: privileged}\n");
    let server = start(options(&certs, state.path(), Some(config.clone()))).await;
    let mut client = Client::connect(server.addr, &certs.ca_pem).await.unwrap();
    let plain = pod_review("p", "plain", "u", nginx_pod("nginx"));
    assert_eq!(
        client.review("/validate", &plain).await.json()["response"]["allowed"],
        true
    );

    std::fs::write(&config, "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {enforce: restricted}\n").unwrap();
    let addr = server.addr;
    let ca = certs.ca_pem.clone();
    let denied = || {
        let ca = ca.clone();
        let plain = plain.clone();
        async move {
            let mut c = Client::connect(addr, &ca).await.unwrap();
            c.review("/validate", &plain).await.json()["response"]["allowed"] == false
        }
    };
    eventually("the restricted default", denied).await;

    // An invalid configuration is refused; the restricted default stays in force.
    std::fs::write(&config, "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {enforce: strict}\n").unwrap();
    eventually("the refused reload to be counted", || {
        let ca = ca.clone();
        async move {
            let mut c = Client::connect(addr, &ca).await.unwrap();
            c.get("/metrics")
                .await
                .text()
                .contains(r#"podsec_reloads_total{what="configuration",result="failure"} 1"#)
        }
    })
    .await;
    assert!(denied().await, "the last good configuration stays in force");

    // State: a namespace that appears in the directory is found after the reload.
    let fresh = pod_review("q", "fresh", "u", nginx_pod("nginx"));
    let reply = client.review("/validate", &fresh).await.json();
    assert_eq!(
        reply["response"]["status"]["code"], 500,
        "unknown namespace: {reply}"
    );
    write(state.path(), "fresh.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: fresh, labels: {pod-security.kubernetes.io/enforce: privileged}}\n");
    eventually("the new namespace", || {
        let ca = ca.clone();
        let fresh = fresh.clone();
        async move {
            let mut c = Client::connect(addr, &ca).await.unwrap();
            c.review("/validate", &fresh).await.json()["response"]["allowed"] == true
        }
    })
    .await;
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests_and_stops_accepting() {
    let certs = support::certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "ns.yaml", support::SEED_NAMESPACES);
    let server = start(options(&certs, state.path(), None)).await;
    let addr = server.addr;

    // Send the headers and half the body, then shut down, then send the rest.
    let body =
        serde_json::to_vec(&pod_review("in-flight", "default", "u", nginx_pod("nginx"))).unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = support::tls_connector(&certs.ca_pem)
        .connect(name, tcp)
        .await
        .unwrap();
    let head = format!("POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
    tls.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    tls.write_all(first).await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let shutdown = tokio::spawn(server.shutdown(Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections once shutting down"
    );

    tls.write_all(rest).await.unwrap();
    tls.flush().await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
        if response.windows(9).any(|w| w == b"in-flight") && response.ends_with(b"}}") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains(r#""uid":"in-flight""#) && text.contains(r#""allowed":false"#),
        "{text}"
    );
    drop(tls);
    shutdown.await.unwrap().unwrap();
}
