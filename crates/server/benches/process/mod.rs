//! The `podsec serve` process the load and soak benchmarks run against, and what they read
//! of it: its address, its memory, a TLS client that trusts it, certificate renewal.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::TlsConnector;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bin serve` on a loopback port with the files in `dir` (tls.crt, tls.key, psa.yaml,
/// state/), reloading every 500 ms, plus `extra` arguments; returns once it listens.
pub fn start_server(bin: &Path, dir: &Path, extra: &[&str]) -> Result<Server, Error> {
    use std::io::BufRead;
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--bind-address",
            "127.0.0.1",
            "--secure-port",
            "0",
            "--benchmark-null-endpoint",
            "--reload-interval",
            "500ms",
            "--log-level",
            "warn",
        ])
        .arg("--tls-cert-file")
        .arg(dir.join("tls.crt"))
        .arg("--tls-private-key-file")
        .arg(dir.join("tls.key"))
        .arg("--config")
        .arg(dir.join("psa.yaml"))
        .arg("--state")
        .arg(dir.join("state"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let addr = loop {
        match lines.next() {
            Some(line) => {
                if let Some(a) = line?.strip_prefix("listening on https://") {
                    break a.to_string();
                }
            }
            None => return Err("the server exited before listening".into()),
        }
    };
    Ok(Server { child, addr })
}

/// The process's resident memory and its peak, in KiB.
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A TLS client trusting `ca_pem`, offering HTTP/2 or HTTP/1.1 by ALPN.
pub fn connector(ca_pem: &str, h2: bool) -> Result<TlsConnector, Error> {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let mut config = tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![if h2 {
        b"h2".to_vec()
    } else {
        b"http/1.1".to_vec()
    }];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// A numeric setting from the environment, or its default.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The server binary: PODSEC_BIN, or the perf-profile build.
pub fn server_binary() -> Result<PathBuf, Error> {
    let bin = std::env::var_os("PODSEC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/perf/podsec"
            ))
        });
    if !bin.exists() {
        return Err(format!(
            "{} is missing: build it first (cargo build --profile perf -p podsec), or set PODSEC_BIN",
            bin.display()
        )
        .into());
    }
    Ok(bin)
}
