//! `podsec serve`: the admission webhook.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use podsec_server::{parse_go_duration, ServeOptions, StateOptions, TlsOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServeMode {
    /// Pod Security Standards from namespace labels (upstream Pod Security Admission).
    Pss,
    /// PodSecurityPolicies selected by RBAC (the removed plugin); needs --state with the
    /// policies and RBAC objects. POST /mutate applies their defaults.
    Psp,
    /// Both: a pod must pass each.
    Both,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which policies decide.
    #[arg(long, value_enum, default_value = "pss")]
    pub mode: ServeMode,
    /// The IP address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// The port to serve HTTPS on (0 picks a free one).
    #[arg(long, default_value_t = 8443)]
    pub secure_port: u16,
    /// PEM serving certificate; reloaded when it changes.
    #[arg(
        long,
        requires = "tls_private_key_file",
        required_unless_present = "self_signed"
    )]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the serving certificate.
    #[arg(long, requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// Generate a CA and a serving certificate at start (development only); the CA bundle is
    /// printed for the webhook configuration.
    #[arg(long, conflicts_with_all = ["tls_cert_file", "tls_private_key_file"])]
    pub self_signed: bool,
    /// DNS names and IPs for the self-signed certificate.
    #[arg(long, value_delimiter = ',', default_value = "localhost,127.0.0.1")]
    pub self_signed_hosts: Vec<String>,
    /// Also write the generated CA (PEM) to this file.
    #[arg(long, requires = "self_signed")]
    pub ca_bundle_file: Option<PathBuf>,
    /// PodSecurityConfiguration (or AdmissionConfiguration) file; reloaded when it changes.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory of Namespace and Pod manifests to use as cluster state (the default source).
    #[arg(long, conflicts_with_all = ["kubeconfig", "in_cluster"])]
    pub state: Option<PathBuf>,
    /// PodSecurityPolicies and the RBAC objects granting their use, for --mode psp|both with
    /// --kubeconfig or --in-cluster (with --state, that directory is read for them too).
    #[arg(long, value_name = "DIR")]
    pub psp_state: Option<PathBuf>,
    /// Read cluster state from the Kubernetes API with this kubeconfig.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Read cluster state from the Kubernetes API as the pod's service account.
    #[arg(long, conflicts_with = "kubeconfig")]
    pub in_cluster: bool,
    /// Deny pod controllers (Deployments, …) whose pod template the namespace's enforce level
    /// forbids, instead of only warning like upstream.
    #[arg(long)]
    pub enforce_templates: bool,
    /// Warn about unknown fields and wrongly typed values in pod-bearing objects. Requests
    /// from kube-apiserver never have them (it decodes objects before admission); this is
    /// for clients that post AdmissionReviews themselves.
    #[arg(long)]
    pub field_warnings: bool,
    /// On a namespace relabel, check at most this many existing pods (default: all of them,
    /// within half the request timeout; upstream checks 3000).
    #[arg(long)]
    pub namespace_max_pods: Option<usize>,
    /// How often configuration, certificate and state files are checked for changes.
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub reload_interval: Duration,
    /// How long SIGTERM waits for in-flight requests.
    #[arg(long, default_value = "25s", value_parser = duration)]
    pub shutdown_grace_period: Duration,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log level: error, warn, info, debug, trace (or targets, e.g. podsec_server=debug).
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Threads answering requests (default: one per CPU).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub worker_threads: Option<u16>,
    /// Close a connection whose TLS handshake has not finished after this long.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub tls_handshake_timeout: Duration,
    /// Close a connection whose request headers have not all arrived after this long.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub request_header_timeout: Duration,
    /// Answer 408 and close when a request body has not all arrived after this long.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub request_body_timeout: Duration,
    /// Close a keep-alive connection idle for this long (keep it above kube-apiserver's 90s
    /// idle pool, so its connections are reused rather than churned).
    #[arg(long, default_value = "120s", value_parser = duration)]
    pub idle_timeout: Duration,
    /// Connections open at once; at the cap a new connection closes the one quiet for
    /// longest, so stalled clients cannot shut the API server out.
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Gatekeeper ConstraintTemplates and Constraints (files or directories) to enforce on
    /// every request alongside the pod security mode; reloaded when they change (a broken
    /// set is refused and the previous one stays). With --state, its objects are the
    /// templates' data.inventory.
    #[arg(long, value_name = "PATH")]
    pub constraints: Vec<PathBuf>,
    /// With --constraints: the engine for templates that carry both Rego and CEL.
    #[arg(long, default_value = "auto", value_enum)]
    pub constraint_engine: crate::constraints::EngineChoice,
    /// With --kubeconfig or --in-cluster: read Gatekeeper ConstraintTemplates and constraints
    /// from the Kubernetes API (its CRDs; none installed = none enforced), re-listed every
    /// --reload-interval, instead of --constraints files.
    #[arg(long, conflicts_with_all = ["constraints", "state"])]
    pub constraints_from_api: bool,
    /// Serve POST /null (parse and allow) for benchmarks. Never point a webhook at it.
    #[arg(long, hide = true)]
    pub benchmark_null_endpoint: bool,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_go_duration(s).ok_or_else(|| format!("{s:?} is not a duration such as 2s, 500ms or 1m"))
}

fn init_logging(args: &Args) -> anyhow::Result<()> {
    use tracing_subscriber::prelude::*;
    let filter: tracing_subscriber::filter::Targets = args
        .log_level
        .parse()
        .with_context(|| format!("invalid --log-level {:?}", args.log_level))?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match args.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    result.context("cannot set up logging")
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    init_logging(&args)?;
    let tls = match (
        &args.tls_cert_file,
        &args.tls_private_key_file,
        args.self_signed,
    ) {
        (Some(cert), Some(key), false) => TlsOptions::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        (None, None, true) => TlsOptions::SelfSigned {
            hosts: args.self_signed_hosts.clone(),
        },
        _ => bail!("give --tls-cert-file and --tls-private-key-file, or --self-signed"),
    };
    let state = match (&args.state, &args.kubeconfig, args.in_cluster) {
        (Some(dir), None, false) => StateOptions::Dir(dir.clone()),
        (None, Some(kubeconfig), false) => StateOptions::Live { kubeconfig: Some(kubeconfig.clone()) },
        (None, None, true) => StateOptions::Live { kubeconfig: None },
        _ => bail!(
            "say where cluster state comes from: --state DIR (a directory of Namespace and Pod manifests), \
             --kubeconfig FILE, or --in-cluster"
        ),
    };
    let options = ServeOptions {
        bind: SocketAddr::new(args.bind_address, args.secure_port),
        tls,
        config: args.config.clone(),
        state,
        admission: podsec_admission::Options {
            enforce_templates: args.enforce_templates,
            field_warnings: args.field_warnings,
            namespace_pod_limit: args.namespace_max_pods,
            engines: match args.mode {
                ServeMode::Pss => podsec_admission::Engines::Pss,
                ServeMode::Psp => podsec_admission::Engines::Psp,
                ServeMode::Both => podsec_admission::Engines::Both,
            },
        },
        reload_interval: args.reload_interval,
        null_endpoint: args.benchmark_null_endpoint,
        psp_state: args.psp_state.clone(),
        limits: podsec_server::Limits {
            tls_handshake: args.tls_handshake_timeout,
            header_read: args.request_header_timeout,
            body_read: args.request_body_timeout,
            idle: args.idle_timeout,
            max_connections: args.max_connections as usize,
        },
        constraints: args.constraints.clone(),
        constraint_engine: args.constraint_engine.into(),
        constraints_from_api: args.constraints_from_api,
        clock: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let server = podsec_server::start(options).await?;
        let shutdown = shutdown_signal()?;
        if let Some(ca) = &server.ca_pem {
            if let Some(path) = &args.ca_bundle_file {
                std::fs::write(path, ca).with_context(|| format!("cannot write {}", path.display()))?;
            }
            println!("caBundle: {}", podsec_admission::review::base64_encode(ca.as_bytes()));
            println!("{ca}");
        }
        println!("listening on https://{}", server.addr);
        shutdown.await;
        tracing::info!(grace = ?args.shutdown_grace_period, "shutting down: no new connections, finishing in-flight requests");
        server.shutdown(args.shutdown_grace_period).await.context("server error")?;
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(0)
}

/// Listens for SIGTERM and SIGINT from the moment it is made, so a signal that comes right
/// after "listening on" is printed is not lost (nor kills the process uncleanly).
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
