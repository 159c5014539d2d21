//! Soak: the real `podsec serve` process on loopback for SOAK_SECONDS (default 600) at a fixed
//! rate of the mixed workload (SOAK_RATE reviews/s, default 5,000, over SOAK_CONNECTIONS
//! HTTP/1.1 keep-alive TLS connections, default 32), while
//! - the serving certificate is renewed every minute (a fresh connection then checks the
//!   server presents the new one),
//! - the configuration changes every minute, every third change invalid (the server must
//!   keep the last good one),
//! - namespaces are added and removed in the state directory every 5 s,
//! - SOAK_STALLED connections (default 500) stall throughout: half of them never start TLS,
//!   half stop halfway through a request line; each is re-opened as soon as the server closes
//!   it,
//!
//! then SIGTERM with reviews in flight. Prints, per minute: reviews answered, p50/p99 and the
//! server's RSS; then sent/answered/failed, stalled connections closed by the server, and the
//! time from SIGTERM to exit. Run: `scripts/soak.sh`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

mod common;
mod process;
use common::{namespaces, workload};
use process::{connector, env_or, rss_kib, server_binary, start_server, Error};

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    answered: AtomicU64,
    failed: AtomicU64,
    reconnects: AtomicU64,
    stalled_closed: AtomicU64,
    stalled_handshake_failures: AtomicU64,
    /// Set just before SIGTERM: a review sent after it may be refused (the server closes
    /// idle keep-alive connections as it drains), one sent before it must be answered.
    terminating: AtomicBool,
    sent_after_term: AtomicU64,
    refused_after_term: AtomicU64,
}

/// Latencies (µs) of the reviews sent in each minute.
type PerMinute = Arc<Mutex<Vec<Vec<u64>>>>;

async fn h1(addr: &str, tls: &TlsConnector) -> Result<http1::SendRequest<Full<Bytes>>, Error> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let stream = tls.connect(ServerName::try_from("localhost")?, tcp).await?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn review(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    body: Vec<u8>,
) -> Result<bool, Error> {
    let request = hyper::Request::post("/validate?timeout=10s")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let ok = response.status() == 200;
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok(ok && bytes.starts_with(b"{\"apiVersion\""))
}

/// One keep-alive connection sending its share of the schedule: request `k` of connection
/// `c` is due at `start + (k * connections + c) / rate`. Late requests go at once (the
/// latency is measured from when each is sent).
#[allow(clippy::too_many_arguments)]
async fn paced_connection(
    addr: String,
    tls: TlsConnector,
    bodies: Arc<Vec<Vec<u8>>>,
    index: usize,
    connections: usize,
    rate: f64,
    start: Instant,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    minutes: PerMinute,
) {
    let mut sender = None;
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let due =
            start + Duration::from_secs_f64((k as f64 * connections as f64 + index as f64) / rate);
        tokio::time::sleep_until(due.into()).await;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let body = bodies[(k as usize * connections + index) % bodies.len()].clone();
        k += 1;
        if sender.is_none() {
            match h1(&addr, &tls).await {
                Ok(s) => sender = Some(s),
                Err(_) => {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            counts.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        let Some(s) = sender.as_mut() else { continue };
        let sent = Instant::now();
        let late = counts.terminating.load(Ordering::SeqCst);
        if late {
            counts.sent_after_term.fetch_add(1, Ordering::Relaxed);
        } else {
            counts.sent.fetch_add(1, Ordering::Relaxed);
        }
        let answer = review(s, body).await;
        if late {
            if !matches!(answer, Ok(true)) {
                counts.refused_after_term.fetch_add(1, Ordering::Relaxed);
            }
            break;
        }
        match answer {
            Ok(true) => {
                counts.answered.fetch_add(1, Ordering::Relaxed);
                let minute = (sent - start).as_secs() as usize / 60;
                let latency = sent.elapsed().as_micros() as u64;
                if let Ok(mut m) = minutes.lock() {
                    if m.len() <= minute {
                        m.resize_with(minute + 1, Vec::new);
                    }
                    m[minute].push(latency);
                }
            }
            Ok(false) | Err(_) => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                sender = None;
            }
        }
    }
}

/// A connection that stalls until the server closes it, then another, until `stop`.
async fn stalled(
    addr: String,
    tls: Arc<Mutex<TlsConnector>>,
    handshake: bool,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut tcp) = tokio::net::TcpStream::connect(&addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut byte = [0u8; 1];
        let closed = if handshake {
            // The client of the certificate served now (it is renewed every minute).
            let current = tls.lock().map(|t| t.clone());
            let (Ok(current), Ok(name)) = (current, ServerName::try_from("localhost")) else {
                return;
            };
            match current.connect(name, tcp).await {
                Ok(mut stream) => {
                    let _ = stream.write_all(b"POST /validate HT").await;
                    let _ = stream.flush().await;
                    tokio::select! {
                        _ = stream.read(&mut byte) => true,
                        _ = wait_for(&stop) => false,
                    }
                }
                Err(_) => {
                    // A handshake that fails is not a stall: note it and try again later.
                    counts
                        .stalled_handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    false
                }
            }
        } else {
            tokio::select! {
                _ = tcp.read(&mut byte) => true,
                _ = wait_for(&stop) => false,
            }
        };
        if closed {
            counts.stalled_closed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The server's `/metrics` text.
async fn metrics(addr: &str, tls: &TlsConnector) -> Result<String, Error> {
    let mut sender = h1(addr, tls).await?;
    let request = hyper::Request::get("/metrics")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

async fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or(0) as f64 / 1000.0
}

const CONFIGS: [&str; 3] = [
    "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {warn: baseline, audit: baseline}\n",
    "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {warn: restricted, audit: restricted}\n",
    "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {enforce: strict}\n",
];

fn main() -> Result<(), Error> {
    let seconds = env_or("SOAK_SECONDS", 600);
    let rate = env_or("SOAK_RATE", 5_000) as f64;
    let connections = env_or("SOAK_CONNECTIONS", 32) as usize;
    let stalled_count = env_or("SOAK_STALLED", 500) as usize;
    let namespace_count = env_or("SOAK_NAMESPACES", 1_000) as usize;
    let bin = server_binary()?;
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    std::fs::create_dir(&state)?;
    std::fs::write(state.join("namespaces.yaml"), namespaces(namespace_count))?;
    let first = podsec_server::self_signed(&["localhost".into()])?;
    std::fs::write(dir.path().join("tls.crt"), &first.cert_pem)?;
    std::fs::write(dir.path().join("tls.key"), &first.key_pem)?;
    std::fs::write(dir.path().join("psa.yaml"), CONFIGS[0])?;
    let server = start_server(&bin, dir.path(), &[])?;
    let pid = server.child.id();
    let bodies = Arc::new(workload(namespace_count));
    println!(
        "soak: {seconds} s at {rate:.0} reviews/s over {connections} HTTP/1.1 keep-alive TLS connections, {} distinct reviews, {namespace_count} namespaces; {stalled_count} stalled connections; certificate and configuration change every 60 s, namespace churn every 5 s",
        bodies.len()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let counts = Arc::new(Counts::default());
    let minutes: PerMinute = Arc::default();
    let (rss_by_minute, invalid_changes, rotations_checked, drain) = runtime.block_on(async {
        let tls = connector(&first.ca_pem, false)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_stalling = Arc::new(AtomicBool::new(false));
        let stalling_tls = Arc::new(Mutex::new(tls.clone()));
        let mut stallers = Vec::new();
        for i in 0..stalled_count {
            stallers.push(tokio::spawn(stalled(
                server.addr.clone(),
                Arc::clone(&stalling_tls),
                i % 2 == 0,
                Arc::clone(&stop_stalling),
                Arc::clone(&counts),
            )));
        }
        let start = Instant::now();
        let mut senders = Vec::new();
        for c in 0..connections {
            senders.push(tokio::spawn(paced_connection(
                server.addr.clone(),
                tls.clone(),
                Arc::clone(&bodies),
                c,
                connections,
                rate,
                start,
                Arc::clone(&stop),
                Arc::clone(&counts),
                Arc::clone(&minutes),
            )));
        }

        let mut rss_by_minute = Vec::new();
        let mut invalid_changes = 0;
        let mut rotations_checked = 0;
        let mut churn = 0u64;
        let mut next_minute = start + Duration::from_secs(60);
        let mut latest_tls = tls.clone();
        while start.elapsed() < Duration::from_secs(seconds) {
            tokio::time::sleep(Duration::from_secs(5)).await;
            // Namespace churn: a file of 50 namespaces appears, the one before it goes.
            churn += 1;
            let text: String = (0..50)
                .map(|i| format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: churn-{churn}-{i}\n  labels: {{pod-security.kubernetes.io/enforce: baseline}}\n---\n"))
                .collect();
            let _ = std::fs::write(state.join(format!("churn-{churn}.yaml")), text);
            let _ = std::fs::remove_file(state.join(format!("churn-{}.yaml", churn - 1)));
            if Instant::now() < next_minute {
                continue;
            }
            next_minute += Duration::from_secs(60);
            let minute = rss_by_minute.len() + 1;
            rss_by_minute.push(rss_kib(pid).0);
            // Every third configuration is invalid; the server keeps the one before.
            let config = CONFIGS[minute % 3];
            if minute % 3 == 2 {
                invalid_changes += 1;
            }
            let _ = std::fs::write(dir.path().join("psa.yaml"), config);
            let renewed = podsec_server::self_signed(&["localhost".into()])?;
            let _ = std::fs::write(dir.path().join("tls.key"), &renewed.key_pem);
            let _ = std::fs::write(dir.path().join("tls.crt"), &renewed.cert_pem);
            // A new connection must get the new certificate (trusting only the new CA).
            let fresh = connector(&renewed.ca_pem, false)?;
            latest_tls = fresh.clone();
            if let Ok(mut t) = stalling_tls.lock() {
                *t = fresh.clone();
            }
            let probe_start = Instant::now();
            loop {
                if let Ok(mut s) = h1(&server.addr, &fresh).await {
                    if review(&mut s, bodies[0].clone()).await.unwrap_or(false) {
                        rotations_checked += 1;
                        break;
                    }
                }
                if probe_start.elapsed() > Duration::from_secs(10) {
                    println!("minute {minute}: the renewed certificate was not served within 10 s");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        rss_by_minute.push(rss_kib(pid).0);
        let reloads = metrics(&server.addr, &latest_tls).await.unwrap_or_default();
        for line in reloads.lines().filter(|l| l.starts_with("podsec_reloads_total")) {
            println!("server metric: {line}");
        }

        // SIGTERM with reviews in flight: stop scheduling, signal, and wait for the exit.
        stop.store(true, Ordering::Relaxed);
        counts.terminating.store(true, Ordering::SeqCst);
        let term = Instant::now();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        for s in senders {
            let _ = s.await;
        }
        stop_stalling.store(true, Ordering::Relaxed);
        let drain = loop {
            let exited = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')))
                .unwrap_or(true);
            if exited || term.elapsed() > Duration::from_secs(60) {
                break term.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        for s in stallers {
            let _ = s.await;
        }
        Ok::<_, Error>((rss_by_minute, invalid_changes, rotations_checked, drain))
    })?;

    let minutes = minutes.lock().map(|m| m.clone()).unwrap_or_default();
    println!("minute  answered   p50 ms   p99 ms   server RSS MiB (at the minute's end)");
    for (i, latencies) in minutes.iter().enumerate() {
        let mut sorted = latencies.clone();
        sorted.sort_unstable();
        let rss = rss_by_minute.get(i).copied().unwrap_or(0) as f64 / 1024.0;
        println!(
            "{:>6}  {:>8}  {:>7.2}  {:>7.2}  {:>6.1}",
            i + 1,
            sorted.len(),
            percentile(&sorted, 0.50),
            percentile(&sorted, 0.99),
            rss
        );
    }
    let (sent, answered, failed) = (
        counts.sent.load(Ordering::Relaxed),
        counts.answered.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
    );
    println!(
        "reviews: sent {sent}, answered {answered}, failed {failed} ({:.0} reviews/s answered)",
        answered as f64 / seconds as f64
    );
    println!(
        "certificate renewals served to a new connection: {rotations_checked}; invalid configurations written: {invalid_changes}; review connections opened: {}",
        counts.reconnects.load(Ordering::Relaxed)
    );
    println!(
        "stalled connections closed by the server: {} (failed TLS handshakes of stalling clients: {})",
        counts.stalled_closed.load(Ordering::Relaxed),
        counts.stalled_handshake_failures.load(Ordering::Relaxed)
    );
    println!(
        "SIGTERM to exit: {:.2} s; reviews sent after SIGTERM: {}, refused: {}",
        drain.as_secs_f64(),
        counts.sent_after_term.load(Ordering::Relaxed),
        counts.refused_after_term.load(Ordering::Relaxed)
    );
    if let (Some(&second), Some(&last)) = (rss_by_minute.get(1), rss_by_minute.last()) {
        println!(
            "RSS at the end vs minute 2: {:+.1}%",
            100.0 * (last as f64 - second as f64) / second as f64
        );
    }
    drop(server);
    Ok(())
}
