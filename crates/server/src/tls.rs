//! Serving certificates: from PEM files (reloaded when they change, including a Secret
//! volume's `..data` symlink swap) or generated for development (`--self-signed`).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::metrics::Metrics;

/// Why there is no serving certificate. Where an underlying error is the cause, it is the
/// source, not part of the message: print the chain (`{:#}`, `podsec_cluster::error_chain`).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The PEM files cannot be read, or are not a certificate chain and its private key.
    #[error("cannot load the serving certificate from {cert} and {key}")]
    Load {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// rustls refused a certificate podsec generated.
    #[error("cannot load the generated serving certificate")]
    LoadGenerated(#[source] std::io::Error),
    #[error("cannot generate a self-signed certificate: no host name: give the DNS names (and IPs) the webhook is reached at, such as podsec.podsec.svc")]
    NoHost,
    #[error("cannot generate a self-signed certificate: the serving certificate must be valid for at least a day and no longer than its CA ({ca_days} days), not {serving_days} days")]
    Validity { ca_days: u32, serving_days: u32 },
    #[error("cannot generate a self-signed certificate")]
    Generate(#[source] rcgen::Error),
}

/// A generated CA and a serving certificate it signed.
pub struct SelfSigned {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// When the CA and the serving certificate expire (RFC 3339, UTC).
    pub ca_not_after: String,
    pub cert_not_after: String,
}

fn expiry_text(now: time::OffsetDateTime, days: u32) -> String {
    let t = now + time::Duration::days(i64::from(days));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// How long generated certificates are valid, from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub ca_days: u32,
    pub serving_days: u32,
}

impl Default for Validity {
    /// A serving certificate for a year (rotate it yearly); its CA for ten, so that rotation
    /// need not change the webhook's caBundle if the CA is kept.
    fn default() -> Self {
        Validity {
            ca_days: 3650,
            serving_days: 365,
        }
    }
}

/// Generates a CA and a serving certificate for `hosts` (DNS names or IP addresses), valid
/// for [`Validity::default`].
pub fn self_signed(hosts: &[String]) -> Result<SelfSigned, TlsError> {
    self_signed_for(hosts, Validity::default())
}

/// Generates a CA and a serving certificate for `hosts`, valid from a few minutes ago (for
/// clock skew between nodes) for the given number of days.
pub fn self_signed_for(hosts: &[String], validity: Validity) -> Result<SelfSigned, TlsError> {
    if hosts.is_empty() || hosts.iter().any(|h| h.trim().is_empty()) {
        return Err(TlsError::NoHost);
    }
    if validity.serving_days == 0 || validity.serving_days > validity.ca_days {
        return Err(TlsError::Validity {
            ca_days: validity.ca_days,
            serving_days: validity.serving_days,
        });
    }
    let now = time::OffsetDateTime::now_utc();
    let not_before = now - time::Duration::minutes(5);
    let ca_key = KeyPair::generate().map_err(TlsError::Generate)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(TlsError::Generate)?;
    ca_params.not_before = not_before;
    ca_params.not_after = now + time::Duration::days(i64::from(validity.ca_days));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "podsec webhook CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(TlsError::Generate)?;
    let key = KeyPair::generate().map_err(TlsError::Generate)?;
    let mut params = CertificateParams::new(hosts.to_vec()).map_err(TlsError::Generate)?;
    params.distinguished_name.push(
        DnType::CommonName,
        hosts.first().cloned().unwrap_or_else(|| "podsec".into()),
    );
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = not_before;
    params.not_after = now + time::Duration::days(i64::from(validity.serving_days));
    let cert = params.signed_by(&key, &ca).map_err(TlsError::Generate)?;
    Ok(SelfSigned {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        ca_not_after: expiry_text(now, validity.ca_days),
        cert_not_after: expiry_text(now, validity.serving_days),
    })
}

/// Builds the rustls configuration from PEM text (TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1).
pub async fn config_from_pem(cert_pem: &str, key_pem: &str) -> Result<RustlsConfig, TlsError> {
    RustlsConfig::from_pem(cert_pem.as_bytes().to_vec(), key_pem.as_bytes().to_vec())
        .await
        .map_err(TlsError::LoadGenerated)
}

/// Builds the rustls configuration from PEM files.
pub async fn config_from_files(cert: &Path, key: &Path) -> Result<RustlsConfig, TlsError> {
    RustlsConfig::from_pem_file(cert, key)
        .await
        .map_err(|source| TlsError::Load {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            source,
        })
}

fn content_hash(paths: &[&Path]) -> Option<u64> {
    let mut h = DefaultHasher::new();
    for p in paths {
        std::fs::read(p).ok()?.hash(&mut h);
    }
    Some(h.finish())
}

/// Reloads the certificate when the files' contents change. Established connections keep
/// their session; new handshakes use the new certificate. A bad new pair is logged and
/// counted, and the old one stays in use.
pub fn watch_files(
    config: RustlsConfig,
    cert: PathBuf,
    key: PathBuf,
    interval: Duration,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = content_hash(&[&cert, &key]);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = content_hash(&[&cert, &key]);
            if now.is_none() || now == last {
                continue;
            }
            match config.reload_from_pem_file(&cert, &key).await {
                Ok(()) => {
                    last = now;
                    metrics.reloaded("certificate", true);
                    tracing::info!(cert = %cert.display(), "serving certificate reloaded");
                }
                Err(e) => {
                    // Try again next tick: a Secret update may be half-written.
                    metrics.reloaded("certificate", false);
                    tracing::error!(cert = %cert.display(), error = %e, "new serving certificate rejected; keeping the previous one");
                    last = now;
                }
            }
        }
    })
}
