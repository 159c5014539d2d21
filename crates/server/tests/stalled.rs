//! Clients that open connections and stall — before the TLS handshake, in the headers, in a
//! body, in a chunked body, or idle after a request — are closed within their timeouts,
//! while good reviews on other connections are answered; at the connection cap a new
//! connection makes room by closing the one quiet for longest.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

mod support;

use std::time::{Duration, Instant};

use support::{
    certs, nginx_pod, options, pod_review, start, tls_connector, write, Client, SEED_NAMESPACES,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;

const LIMITS: podsec_server::Limits = podsec_server::Limits {
    tls_handshake: Duration::from_secs(1),
    header_read: Duration::from_secs(1),
    body_read: Duration::from_secs(1),
    idle: Duration::from_secs(2),
    max_connections: 64,
};

/// Reads until the server closes the connection; returns what it sent and when it closed.
async fn until_closed<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    started: Instant,
) -> (String, Duration) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "still open after 10 s: {}",
        String::from_utf8_lossy(&got)
    );
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

async fn tls(addr: std::net::SocketAddr, ca: &str) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tls_connector(ca)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_are_closed_within_their_timeouts() {
    let certs = certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "namespaces.yaml", SEED_NAMESPACES);
    let mut opts = options(&certs, state.path(), None);
    opts.limits = LIMITS;
    let server = start(opts).await;
    let addr = server.addr;
    let started = Instant::now();

    // No TLS handshake at all.
    let mut no_handshake = TcpStream::connect(addr).await.unwrap();
    // Headers that never finish.
    let mut headers = tls(addr, &certs.ca_pem).await;
    headers
        .write_all(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: appl")
        .await
        .unwrap();
    // A body shorter than its Content-Length.
    let mut body = tls(addr, &certs.ca_pem).await;
    body.write_all(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"kind\":")
        .await
        .unwrap();
    // A chunked body that never ends.
    let mut chunked = tls(addr, &certs.ca_pem).await;
    chunked
        .write_all(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"kin\r\n")
        .await
        .unwrap();
    // Idle after the handshake.
    let mut idle = tls(addr, &certs.ca_pem).await;

    // Meanwhile, good reviews are answered on another connection.
    let mut client = Client::connect(addr, &certs.ca_pem).await.unwrap();
    for i in 0..5 {
        let reply = client
            .review(
                "/validate",
                &pod_review(&format!("u{i}"), "dmz", "k8user", nginx_pod("nginx")),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["response"]["allowed"], true);
    }

    let (_, t) = until_closed(&mut no_handshake, started).await;
    assert!(
        t < Duration::from_secs(4),
        "TLS handshake stall closed after {t:?}"
    );
    let (_, t) = until_closed(&mut headers, started).await;
    assert!(
        t < Duration::from_secs(4),
        "header stall closed after {t:?}"
    );
    let (sent, t) = until_closed(&mut body, started).await;
    assert!(t < Duration::from_secs(4), "body stall closed after {t:?}");
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    let (sent, t) = until_closed(&mut chunked, started).await;
    assert!(
        t < Duration::from_secs(4),
        "chunked stall closed after {t:?}"
    );
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    let (_, t) = until_closed(&mut idle, started).await;
    assert!(
        t < Duration::from_secs(5),
        "idle connection closed after {t:?}"
    );

    // The good connection idled past its timeout meanwhile, and was closed like any other; a
    // new one is served.
    drop(client);
    let mut client = Client::connect(addr, &certs.ca_pem).await.unwrap();
    let reply = client
        .review(
            "/validate",
            &pod_review("last", "default", "k8user", nginx_pod("nginx")),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["response"]["allowed"], false);
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// At the cap, a new connection makes room by closing the connection quiet for longest: a
/// client holding every slot with stalled connections cannot shut the API server out, and
/// the API server's busy connections are not the ones closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_the_quietest_connection_makes_room() {
    let certs = certs();
    let state = tempfile::tempdir().unwrap();
    write(state.path(), "namespaces.yaml", SEED_NAMESPACES);
    let mut opts = options(&certs, state.path(), None);
    opts.limits = podsec_server::Limits {
        max_connections: 8,
        // Long enough that nothing times out during the test: only eviction closes.
        tls_handshake: Duration::from_secs(30),
        header_read: Duration::from_secs(30),
        body_read: Duration::from_secs(30),
        idle: Duration::from_secs(30),
    };
    let server = start(opts).await;
    let addr = server.addr;
    // The API server's connection, busy.
    let mut api_server = Client::connect(addr, &certs.ca_pem).await.unwrap();
    // Seven stalled connections fill the cap.
    let mut held = Vec::new();
    for _ in 0..7 {
        held.push(TcpStream::connect(addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..3 {
        let reply = api_server
            .review(
                "/validate",
                &pod_review(&format!("busy{i}"), "dmz", "k8user", nginx_pod("nginx")),
            )
            .await;
        assert_eq!(reply.status, 200);
    }
    // A second API server connection gets in at once: the oldest stalled one is closed.
    let started = Instant::now();
    let mut second = Client::connect(addr, &certs.ca_pem).await.unwrap();
    let reply = second
        .review(
            "/validate",
            &pod_review("second", "dmz", "k8user", nginx_pod("nginx")),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let (_, t) = until_closed(&mut held[0], started).await;
    assert!(
        t < Duration::from_secs(2),
        "the oldest stalled connection closed after {t:?}"
    );
    // The busy connection was not the one closed.
    let reply = api_server
        .review(
            "/validate",
            &pod_review("still", "default", "k8user", nginx_pod("nginx")),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["response"]["allowed"], false);
    drop(held);
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}
