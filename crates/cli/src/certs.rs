//! `podsec generate-certs`: a CA and a serving certificate for the webhook Service, for
//! clusters without cert-manager.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use podsec_server::Validity;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// DNS names (and IPs) the serving certificate is valid for; the first is its common name.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "podsec.podsec.svc,podsec.podsec.svc.cluster.local"
    )]
    pub hosts: Vec<String>,
    /// Directory to write ca.crt, tls.crt and tls.key to.
    #[arg(long, default_value = ".")]
    pub out_dir: PathBuf,
    /// Days the serving certificate is valid (rotate it before then).
    #[arg(long, default_value_t = Validity::default().serving_days)]
    pub cert_validity_days: u32,
    /// Days the CA is valid.
    #[arg(long, default_value_t = Validity::default().ca_days)]
    pub ca_validity_days: u32,
    /// Replace ca.crt, tls.crt and tls.key if they exist (by default an existing file is an
    /// error: a new CA invalidates the caBundle the webhook configurations hold).
    #[arg(long)]
    pub force: bool,
}

/// The files written: name, mode. The private key is readable by its owner only.
const FILES: [(&str, u32); 3] = [("ca.crt", 0o644), ("tls.crt", 0o644), ("tls.key", 0o600)];

pub fn run(args: Args) -> anyhow::Result<u8> {
    let generated = podsec_server::self_signed_for(
        &args.hosts,
        Validity {
            ca_days: args.ca_validity_days,
            serving_days: args.cert_validity_days,
        },
    )?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    if !args.force {
        let existing: Vec<String> = FILES
            .iter()
            .map(|(name, _)| args.out_dir.join(name))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            bail!(
                "{} already exist{}; pass --force to replace them (then update the caBundle of the webhook configurations)",
                existing.join(", "),
                if existing.len() == 1 { "s" } else { "" }
            );
        }
    }
    for ((name, mode), pem) in
        FILES
            .iter()
            .zip([&generated.ca_pem, &generated.cert_pem, &generated.key_pem])
    {
        write_file(&args.out_dir.join(name), pem, *mode)?;
    }
    println!(
        "wrote ca.crt, tls.crt and tls.key (mode 0600) to {}",
        args.out_dir.display()
    );
    println!(
        "the serving certificate expires {}, the CA {}: generate new ones (--force) and update the Secret and the caBundle before then",
        generated.cert_not_after, generated.ca_not_after
    );
    println!(
        "caBundle: {}",
        podsec_admission::review::base64_encode(generated.ca_pem.as_bytes())
    );
    Ok(0)
}

/// Writes `text` to `path` with `mode`, replacing the file (and its mode) if it exists.
fn write_file(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
