//! `podsec generate-certs`: a CA and a serving certificate for the webhook Service, for
//! clusters without cert-manager.

use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// DNS names (and IPs) the serving certificate is valid for.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "podsec.podsec.svc,podsec.podsec.svc.cluster.local"
    )]
    pub hosts: Vec<String>,
    /// Directory to write ca.crt, tls.crt and tls.key to.
    #[arg(long, default_value = ".")]
    pub out_dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let generated = podsec_server::self_signed(&args.hosts)?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    for (name, pem) in [
        ("ca.crt", &generated.ca_pem),
        ("tls.crt", &generated.cert_pem),
        ("tls.key", &generated.key_pem),
    ] {
        let path = args.out_dir.join(name);
        std::fs::write(&path, pem).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "wrote ca.crt, tls.crt and tls.key to {}",
        args.out_dir.display()
    );
    println!(
        "caBundle: {}",
        podsec_admission::review::base64_encode(generated.ca_pem.as_bytes())
    );
    Ok(0)
}
