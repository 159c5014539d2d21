//! Webhook load benchmark: the real `podsec serve` process on loopback, a real HTTPS client
//! (hyper over tokio-rustls, keep-alive connections), a mixed pod workload against
//! `/validate` and the same requests against `/null` (parse and allow) in the same run, then a
//! run with a certificate rotation and a configuration reload in the middle.
//!
//! Run: `scripts/bench-webhook.sh` (builds the binary with the perf profile, then
//! `cargo bench -p podsec-server --bench load`). Environment: PODSEC_BIN (the server binary;
//! default target/perf/podsec), BENCH_SECONDS (per phase, default 10), BENCH_CONCURRENCY
//! (requests in flight, default 32), BENCH_PROTOCOL (h2, as kube-apiserver speaks to webhooks,
//! or http1; default http1), BENCH_H2_CONNECTIONS (default 2), BENCH_NAMESPACES (default 10000),
//! BENCH_SERVER_THREADS and BENCH_CLIENT_THREADS (default: CPUs, 2).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

mod common;
mod process;
use common::{namespaces, workload};
use process::{connector, env_or, rss_kib, server_binary, start_server, Error};

/// Busy and idle CPU time of the whole machine so far, in microseconds (from /proc/stat).
fn machine_cpu_us() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    let total: u64 = fields.iter().take(8).sum();
    ((total - idle) * 10_000, idle * 10_000)
}

/// CPU time (user + system) the process has used, in microseconds.
fn cpu_us(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; `rest` starts at field 3 (the state).
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = field(11) + field(12);
    ticks * 10_000 // USER_HZ = 100
}

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
}

struct PhaseResult {
    latencies_us: Vec<u64>,
    elapsed: Duration,
}

/// One client connection: HTTP/1.1 (one request at a time) or HTTP/2 (shared by streams).
#[derive(Clone)]
enum Sender {
    H1(Arc<tokio::sync::Mutex<http1::SendRequest<Full<Bytes>>>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    async fn connect(addr: &str, tls: &TlsConnector, h2: bool) -> Result<Sender, Error> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let stream = tls.connect(ServerName::try_from("localhost")?, tcp).await?;
        if h2 {
            let (sender, conn) =
                http2::handshake(hyper_util::rt::TokioExecutor::new(), TokioIo::new(stream))
                    .await?;
            tokio::spawn(conn);
            Ok(Sender::H2(sender))
        } else {
            let (sender, conn) = http1::Builder::new()
                .writev(false)
                .handshake(TokioIo::new(stream))
                .await?;
            tokio::spawn(conn);
            Ok(Sender::H1(Arc::new(tokio::sync::Mutex::new(sender))))
        }
    }

    async fn send(
        &self,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, Error> {
        match self {
            Sender::H1(s) => {
                let mut s = s.lock().await;
                s.ready().await?;
                Ok(s.send_request(request).await?)
            }
            Sender::H2(s) => {
                let mut s = s.clone();
                s.ready().await?;
                Ok(s.send_request(request).await?)
            }
        }
    }
}

async fn connection(
    sender: Sender,
    path: String,
    bodies: Arc<Vec<Vec<u8>>>,
    offset: usize,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) -> Result<Vec<u64>, Error> {
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut i = offset;
    while !stop.load(Ordering::Relaxed) {
        let body = Bytes::from(bodies[i % bodies.len()].clone());
        i += 1;
        let request = hyper::Request::post(path.as_str())
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(body))?;
        let started = Instant::now();
        counts.sent.fetch_add(1, Ordering::Relaxed);
        let response = sender.send(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        latencies.push(started.elapsed().as_micros() as u64);
        if status == 200 && bytes.starts_with(b"{\"apiVersion\"") {
            counts.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            counts.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(latencies)
}

/// The server and the load to put on it.
struct Target {
    addr: String,
    ca_pem: String,
    bodies: Arc<Vec<Vec<u8>>>,
    /// Requests in flight at any time.
    concurrency: usize,
    /// HTTP/2 (as kube-apiserver talks to webhooks): all requests multiplexed on `h2_connections`
    /// connections. Otherwise HTTP/1.1, one keep-alive connection per request in flight.
    h2: bool,
    h2_connections: usize,
}

async fn phase(
    target: &Target,
    path: &str,
    seconds: u64,
    counts: Arc<Counts>,
    during: Option<Box<dyn FnOnce() + Send>>,
) -> Result<PhaseResult, Error> {
    let tls = connector(&target.ca_pem, target.h2)?;
    let connections = if target.h2 {
        target.h2_connections
    } else {
        target.concurrency
    };
    let mut senders = Vec::new();
    for _ in 0..connections {
        senders.push(Sender::connect(&target.addr, &tls, target.h2).await?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..target.concurrency {
        let sender = senders[c % senders.len()].clone();
        tasks.push(tokio::spawn(connection(
            sender,
            path.to_string(),
            Arc::clone(&target.bodies),
            c * 7,
            Arc::clone(&stop),
            Arc::clone(&counts),
        )));
    }
    if let Some(action) = during {
        tokio::time::sleep(Duration::from_secs(seconds) / 3).await;
        tokio::task::spawn_blocking(action).await?;
    }
    tokio::time::sleep(Duration::from_secs(seconds).saturating_sub(started.elapsed())).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        match t.await? {
            Ok(l) => latencies.extend(l),
            Err(e) => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                eprintln!("connection failed: {e}");
            }
        }
    }
    Ok(PhaseResult {
        latencies_us: latencies,
        elapsed: started.elapsed(),
    })
}

fn summary(name: &str, r: &mut PhaseResult) -> f64 {
    r.latencies_us.sort_unstable();
    let n = r.latencies_us.len();
    let pct = |p: f64| {
        r.latencies_us
            .get(((n as f64 * p) as usize).min(n.saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let rate = n as f64 / r.elapsed.as_secs_f64();
    println!(
        "{name:<28} {n:>9} reviews  {rate:>9.0} reviews/s   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
        pct(0.50) as f64 / 1000.0,
        pct(0.99) as f64 / 1000.0,
        r.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    rate
}

fn main() -> Result<(), Error> {
    let seconds = env_or("BENCH_SECONDS", 10);
    let connections = env_or("BENCH_CONCURRENCY", 32) as usize;
    let protocol = std::env::var("BENCH_PROTOCOL").unwrap_or_else(|_| "http1".into());
    let namespace_count = env_or("BENCH_NAMESPACES", 10_000) as usize;
    let bin = server_binary()?;
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("state"))?;
    std::fs::write(
        dir.path().join("state/namespaces.yaml"),
        namespaces(namespace_count),
    )?;
    let certs = podsec_server::self_signed(&["localhost".into()])?;
    std::fs::write(dir.path().join("tls.crt"), &certs.cert_pem)?;
    std::fs::write(dir.path().join("tls.key"), &certs.key_pem)?;
    std::fs::write(
        dir.path().join("psa.yaml"),
        "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\n",
    )?;

    // BENCH_CONSTRAINTS=DIR: Gatekeeper templates and constraints enforced too
    // (scripts/bench-constraints.sh lays out gatekeeper-library's PSS templates).
    let constraints = std::env::var("BENCH_CONSTRAINTS").ok();
    let engine = std::env::var("BENCH_CONSTRAINT_ENGINE").unwrap_or_else(|_| "auto".into());
    let mut extra: Vec<&str> = Vec::new();
    if let Some(dir) = constraints.as_deref() {
        extra.extend(["--constraints", dir, "--constraint-engine", engine.as_str()]);
        println!("constraints: {dir} (engine {engine})");
    }
    let server = start_server(&bin, dir.path(), &extra)?;
    let pid = server.child.id();
    let (rss, hwm) = rss_kib(pid);
    println!(
        "server: {} namespaces in state; RSS {:.1} MiB (peak {:.1} MiB) after loading",
        namespace_count,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    let bodies = Arc::new(workload(namespace_count));
    let mean_size = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len();
    let transport = if protocol == "h2" {
        format!(
            "HTTP/2 over {} TLS connections",
            env_or("BENCH_H2_CONNECTIONS", 2)
        )
    } else {
        format!("HTTP/1.1, {connections} keep-alive TLS connections")
    };
    println!("workload: {} distinct reviews (mean {} bytes), {connections} requests in flight, {transport}, {seconds} s per phase", bodies.len(), mean_size);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Warm up both endpoints.
        let target = Target {
            addr: server.addr.clone(),
            ca_pem: certs.ca_pem.clone(),
            bodies: Arc::clone(&bodies),
            concurrency: connections,
            h2: protocol == "h2",
            h2_connections: env_or("BENCH_H2_CONNECTIONS", 2) as usize,
        };
        phase(&target, "/null", 2, Arc::default(), None).await?;
        phase(&target, "/validate", 2, Arc::default(), None).await?;
        let me = std::process::id();
        let (cpu0, own0, m0) = (cpu_us(pid), cpu_us(me), machine_cpu_us());
        let mut null = phase(&target, "/null", seconds, Arc::default(), None).await?;
        let (cpu1, own1, m1) = (cpu_us(pid), cpu_us(me), machine_cpu_us());
        let mut validate = phase(&target, "/validate", seconds, Arc::default(), None).await?;
        let (cpu2, own2, m2) = (cpu_us(pid), cpu_us(me), machine_cpu_us());
        let null_rate = summary("null endpoint (parse+allow)", &mut null);
        let rate = summary("validate (mixed pods)", &mut validate);
        let per = |us: u64, r: &PhaseResult| us as f64 / r.latencies_us.len().max(1) as f64;
        println!(
            "CPU per review: server null {:.1} µs, validate {:.1} µs; load client null {:.1} µs, validate {:.1} µs",
            per(cpu1 - cpu0, &null),
            per(cpu2 - cpu1, &validate),
            per(own1 - own0, &null),
            per(own2 - own1, &validate)
        );
        println!(
            "machine CPU per review (server, client, kernel): null {:.1} µs busy ({:.0}% idle), validate {:.1} µs busy ({:.0}% idle)",
            per(m1.0 - m0.0, &null),
            100.0 * (m1.1 - m0.1) as f64 / ((m1.0 - m0.0) + (m1.1 - m0.1)).max(1) as f64,
            per(m2.0 - m1.0, &validate),
            100.0 * (m2.1 - m1.1) as f64 / ((m2.0 - m1.0) + (m2.1 - m1.1)).max(1) as f64
        );
        println!("validate/null throughput: {:.0}%", 100.0 * rate / null_rate);
        let (rss, hwm) = rss_kib(pid);
        println!("server RSS after load: {:.1} MiB (peak {:.1} MiB)", rss as f64 / 1024.0, hwm as f64 / 1024.0);

        // Rotate the certificate (same CA) and change the configuration mid-run.
        let counts = Arc::new(Counts::default());
        let d = dir.path().to_path_buf();
        let rotate: Box<dyn FnOnce() + Send> = Box::new(move || {
            let renewed = renew(&d);
            std::fs::write(d.join("psa.yaml"), "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {warn: baseline, audit: baseline}\n").ok();
            println!("mid-run: certificate renewed ({renewed}) and configuration changed");
        });
        let mut during = phase(&target, "/validate", seconds, Arc::clone(&counts), Some(rotate)).await?;
        summary("validate during reloads", &mut during);
        println!(
            "during reloads: sent {}, answered 200 {}, failed {}",
            counts.sent.load(Ordering::Relaxed),
            counts.ok.load(Ordering::Relaxed),
            counts.failed.load(Ordering::Relaxed)
        );
        Ok::<(), Error>(())
    })?;
    Ok(())
}

/// Writes a new serving certificate. The benchmark's client trusts only the original CA, so the
/// renewed certificate is signed by a new CA *and* the client keeps its connections: what is
/// measured is that no request is lost while the server swaps certificates. (New connections
/// would need the new CA; the run opens none after the swap.)
fn renew(dir: &Path) -> &'static str {
    match podsec_server::self_signed(&["localhost".into()]) {
        Ok(c) => {
            let _ = std::fs::write(dir.join("tls.key"), c.key_pem);
            let _ = std::fs::write(dir.join("tls.crt"), c.cert_pem);
            "new key and certificate"
        }
        Err(_) => "failed",
    }
}
