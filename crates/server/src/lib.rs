//! The podsec admission webhook server: rustls HTTPS, upstream PSA's HTTP contract, metrics,
//! health, and live reload of configuration, certificates and directory state.

mod app;
mod connections;
mod metrics;
mod tls;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum_server::Handle;
use podsec_admission::{Admission, Configuration};

use crate::app::ClusterPorts;
use podsec_cluster::{ConstraintsApi, ConstraintsDir, DirSource, LiveCluster};

pub use app::{parse_go_duration, router, AppState, MAX_REQUEST_BYTES};
pub use connections::Limits;
pub use metrics::Metrics;
pub use tls::{self_signed, self_signed_for, SelfSigned, TlsError, Validity};

/// Where the serving certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsOptions {
    /// PEM files, reloaded when they change.
    Files { cert: PathBuf, key: PathBuf },
    /// A CA and serving certificate generated at start, for development.
    SelfSigned { hosts: Vec<String> },
}

/// Where cluster state comes from.
#[derive(Debug, Clone)]
pub enum StateOptions {
    /// A directory of Namespace and Pod manifests, reloaded when it changes.
    Dir(PathBuf),
    /// The Kubernetes API: this kubeconfig, or the in-cluster service account if `None`.
    Live { kubeconfig: Option<PathBuf> },
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub bind: SocketAddr,
    pub tls: TlsOptions,
    /// A PodSecurityConfiguration (or AdmissionConfiguration) file; none means upstream's
    /// defaults (privileged, latest; no exemptions).
    pub config: Option<PathBuf>,
    pub state: StateOptions,
    pub admission: podsec_admission::Options,
    /// How often configuration, certificate and state files are checked for changes.
    pub reload_interval: Duration,
    /// Serve `POST /null` (parse and allow) for benchmarks.
    pub null_endpoint: bool,
    /// A directory of PodSecurityPolicies and RBAC objects for PSP mode, when cluster state
    /// comes from the live API (which has had no PodSecurityPolicy since Kubernetes 1.25).
    pub psp_state: Option<PathBuf>,
    /// Timeouts and the connection cap that keep misbehaving clients from holding the server.
    pub limits: Limits,
    /// Gatekeeper ConstraintTemplates and Constraints (files or directories); none: off.
    pub constraints: Vec<PathBuf>,
    /// The engine for templates that carry both Rego and CEL.
    pub constraint_engine: podsec_constraints::EnginePreference,
    /// With live state: read ConstraintTemplates and constraints from the Kubernetes API
    /// (Gatekeeper's CRDs) instead of files.
    pub constraints_from_api: bool,
    /// The clock PodSecurityExceptions' expiry is judged by; `None`: the system clock.
    pub clock: Option<Clock>,
}

/// A source of the current time (Unix seconds), for judging exceptions' expiry.
#[derive(Clone)]
pub struct Clock(pub Arc<dyn Fn() -> i64 + Send + Sync>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// Exceptions judged by another clock.
struct Clocked {
    inner: Arc<dyn podsec_admission::ExceptionSource>,
    clock: Clock,
}

impl podsec_admission::ExceptionSource for Clocked {
    fn exceptions(&self) -> Option<Arc<podsec_exceptions::ExceptionSet>> {
        self.inner.exceptions()
    }

    fn now(&self) -> i64 {
        (self.clock.0)()
    }
}

/// Why the server did not start (or a configuration reload was rejected).
///
/// Each message says what podsec was doing and names the file or address; the underlying
/// error is the [source](std::error::Error::source), not repeated in the message. Print the
/// chain to see both: anyhow's `{:#}` (as the CLI does) or [`podsec_cluster::error_chain`]
/// (as the logs do).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read the configuration file {path}")]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid --config {path}")]
    Config {
        path: PathBuf,
        #[source]
        source: podsec_admission::ConfigError,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    State(#[from] podsec_cluster::DirError),
    #[error(transparent)]
    Constraints(#[from] podsec_cluster::ConstraintsError),
    #[error("cannot connect to the Kubernetes API")]
    Kube(#[source] podsec_admission::ViewError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Reads and validates a configuration file; `path:` entries of an AdmissionConfiguration are
/// resolved relative to the file's directory.
pub fn load_configuration(path: &Path) -> Result<Configuration, ServeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServeError::ConfigRead {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    // The message names the file actually opened: `path:` is relative to --config's directory.
    let read = |p: &str| {
        let file = base.join(p);
        std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))
    };
    Configuration::parse(&text, &read).map_err(|source| ServeError::Config {
        path: path.to_path_buf(),
        source,
    })
}

/// A started server.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// The generated CA, with `--self-signed`: the webhook configuration's `caBundle`.
    pub ca_pem: Option<String>,
    pub state: Arc<AppState>,
    handle: Handle<SocketAddr>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting connections and waits up to `grace` for in-flight requests to finish.
    pub async fn shutdown(self, grace: Duration) -> std::io::Result<()> {
        self.handle.graceful_shutdown(Some(grace));
        let result = match self.server.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        };
        for task in self.background {
            task.abort();
        }
        result
    }
}

fn file_hash(path: &Path) -> Option<u64> {
    let mut h = DefaultHasher::new();
    std::fs::read(path).ok()?.hash(&mut h);
    Some(h.finish())
}

/// Starts the server: loads configuration, state and certificates, binds, and spawns the
/// reload tasks. Returns once it is listening.
pub async fn start(opts: ServeOptions) -> Result<RunningServer, ServeError> {
    // One TLS crypto provider for the whole process (kube-rs uses ring too).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let metrics = Arc::new(Metrics::new());
    let configuration = match &opts.config {
        Some(path) => load_configuration(path)?,
        None => Configuration::default(),
    };
    let mut background = Vec::new();

    // The live view, for sources that read more than namespaces and pods from the API.
    let mut live_view: Option<LiveCluster> = None;
    let (mut cluster, ready): (ClusterPorts, Arc<dyn Fn() -> bool + Send + Sync>) = match &opts
        .state
    {
        StateOptions::Dir(dir) => {
            let (source, report) = DirSource::open(dir)?;
            for e in &report.errors {
                tracing::warn!(error = %e, "skipped a state document");
            }
            tracing::info!(dir = %dir.display(), namespaces = report.namespaces, pods = report.pods, "loaded cluster state");
            let m = Arc::clone(&metrics);
            background.push(
                Arc::clone(&source).watch(opts.reload_interval, move |report| {
                    m.reloaded("state", report.errors.is_empty());
                    for e in &report.errors {
                        tracing::warn!(error = %e, "skipped a state document");
                    }
                    tracing::info!(
                        namespaces = report.namespaces,
                        pods = report.pods,
                        "reloaded cluster state"
                    );
                }),
            );
            let ports = ClusterPorts {
                namespaces: source.clone(),
                pods: source.clone(),
                psp: source.clone(),
                constraints: Arc::new(podsec_admission::NoConstraints),
                exceptions: source,
            };
            (ports, Arc::new(|| true))
        }
        StateOptions::Live { kubeconfig } => {
            let connection = podsec_cluster::connect(kubeconfig.as_deref())
                .await
                .map_err(ServeError::Kube)?;
            tracing::info!(server = %connection.server, "reading cluster state from the Kubernetes API");
            let (live, driver) = LiveCluster::start(connection.client);
            let live = live.with_server(&connection.server);
            background.push(tokio::spawn(driver));
            live_view = Some(live.clone());
            let probe = live.clone();
            let live = Arc::new(live);
            let ports = ClusterPorts {
                namespaces: live.clone(),
                pods: live,
                psp: Arc::new(podsec_admission::NoPsp),
                constraints: Arc::new(podsec_admission::NoConstraints),
                exceptions: Arc::new(podsec_admission::NoExceptions),
            };
            (ports, Arc::new(move || probe.is_ready()))
        }
    };

    // PodSecurityPolicies and RBAC from a directory, whatever the rest comes from.
    if let Some(dir) = &opts.psp_state {
        {
            let (psp, report) = DirSource::open(dir)?;
            for e in &report.errors {
                tracing::warn!(error = %e, "PodSecurityPolicy state problem");
            }
            let m = Arc::clone(&metrics);
            background.push(Arc::clone(&psp).watch(opts.reload_interval, move |report| {
                m.reloaded("psp-state", report.errors.is_empty());
                tracing::info!("reloaded PodSecurityPolicy state");
            }));
            cluster.psp = psp;
        }
    }
    // PodSecurityExceptions from the API, when the state is live.
    if let Some(live) = live_view.clone() {
        let source = match podsec_cluster::ExceptionsApi::open(live.clone()).await {
            Ok((source, report)) => {
                tracing::info!(
                    exceptions = report.exceptions,
                    "loaded PodSecurityExceptions from the API"
                );
                for e in &report.errors {
                    tracing::warn!(error = %e, "skipped a PodSecurityException");
                }
                source
            }
            // Not fatal: until a listing succeeds nothing is waived (fail closed).
            Err(e) => {
                tracing::warn!(error = %podsec_cluster::error_chain(&e), "cannot list PodSecurityExceptions yet; none apply until a listing succeeds");
                podsec_cluster::ExceptionsApi::empty(live)
            }
        };
        let m = Arc::clone(&metrics);
        background.push(
            Arc::clone(&source).watch(opts.reload_interval, move |report| {
                m.reloaded("exceptions", report.errors.is_empty());
                for e in &report.errors {
                    tracing::warn!(error = %e, "PodSecurityException problem");
                }
            }),
        );
        cluster.exceptions = source;
    }
    if let Some(clock) = &opts.clock {
        cluster.exceptions = Arc::new(Clocked {
            inner: Arc::clone(&cluster.exceptions),
            clock: clock.clone(),
        });
    }
    if opts.constraints_from_api {
        let Some(live) = live_view.clone() else {
            return Err(ServeError::Constraints(podsec_cluster::ConstraintsError(vec![
                "templates and constraints come from the API only with --kubeconfig or --in-cluster; with --state, give --constraints DIR".into(),
            ])));
        };
        let (source, report) = ConstraintsApi::open(live, opts.constraint_engine).await?;
        log_constraints_load(&report, "the API");
        metrics.constraint_load_errors(0);
        background.push(Arc::clone(&source).watch(
            opts.reload_interval,
            constraints_reloaded(&metrics, "the API"),
        ));
        cluster.constraints = source;
    }
    if !opts.constraints.is_empty() {
        let inventory_dir = match &opts.state {
            StateOptions::Dir(dir) => Some(dir.as_path()),
            StateOptions::Live { .. } => None,
        };
        let (source, report) =
            ConstraintsDir::open(&opts.constraints, inventory_dir, opts.constraint_engine)?;
        log_constraints_load(&report, "files");
        metrics.constraint_load_errors(0);
        background.push(Arc::clone(&source).watch(
            opts.reload_interval,
            constraints_reloaded(&metrics, "files"),
        ));
        cluster.constraints = source;
    }
    let state = Arc::new(AppState {
        admission: RwLock::new(Arc::new(Admission::new(
            configuration,
            opts.admission.clone(),
        ))),
        cluster,
        body_read_timeout: opts.limits.body_read,
        metrics: Arc::clone(&metrics),
        ready,
    });

    if let Some(path) = opts.config.clone() {
        let state = Arc::clone(&state);
        let options = opts.admission.clone();
        let interval = opts.reload_interval;
        background.push(tokio::spawn(async move {
            let mut last = file_hash(&path);
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = file_hash(&path);
                if now.is_none() || now == last {
                    continue;
                }
                last = now;
                match load_configuration(&path) {
                    Ok(config) => {
                        state.replace_admission(Admission::new(config, options.clone()));
                        state.metrics.reloaded("configuration", true);
                        tracing::info!(config = %path.display(), "configuration reloaded");
                    }
                    Err(e) => {
                        state.metrics.reloaded("configuration", false);
                        tracing::error!(error = %podsec_cluster::error_chain(&e), "new configuration rejected; the previous one stays in force");
                    }
                }
            }
        }));
    }

    let (rustls, ca_pem) = match &opts.tls {
        TlsOptions::Files { cert, key } => {
            let config = tls::config_from_files(cert, key).await?;
            background.push(tls::watch_files(
                config.clone(),
                cert.clone(),
                key.clone(),
                opts.reload_interval,
                Arc::clone(&metrics),
            ));
            (config, None)
        }
        TlsOptions::SelfSigned { hosts } => {
            let generated = tls::self_signed(hosts)?;
            (
                tls::config_from_pem(&generated.cert_pem, &generated.key_pem).await?,
                Some(generated.ca_pem),
            )
        }
    };

    let bind_error = |source: std::io::Error| ServeError::Bind {
        addr: opts.bind,
        source,
    };
    let listener = std::net::TcpListener::bind(opts.bind).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let handle = Handle::new();
    let app = router(Arc::clone(&state), opts.null_endpoint);
    let acceptor = connections::Limited::new(
        axum_server::tls_rustls::RustlsAcceptor::new(rustls)
            .handshake_timeout(opts.limits.tls_handshake),
        &opts.limits,
    );
    let mut server = axum_server::from_tcp(listener)
        .map_err(bind_error)?
        .acceptor(acceptor)
        .handle(handle.clone());
    server
        .http_builder()
        .http1()
        .header_read_timeout(opts.limits.header_read);
    let server = server.serve(app.into_make_service());
    let server = tokio::spawn(server);
    tracing::info!(%addr, "serving AdmissionReviews over HTTPS");
    Ok(RunningServer {
        addr,
        ca_pem,
        state,
        handle,
        server,
        background,
    })
}

fn log_constraints_load(report: &podsec_cluster::ConstraintsReport, from: &'static str) {
    tracing::info!(
        templates = report.templates,
        constraints = report.constraints,
        inventory = report.inventory,
        from,
        "loaded Gatekeeper templates and constraints"
    );
}

/// What each constraints reload attempt does with its report: metrics, and a log line (a
/// rejected set keeps the previous one in force).
fn constraints_reloaded(
    metrics: &Arc<Metrics>,
    from: &'static str,
) -> impl Fn(&podsec_cluster::ConstraintsReport) + Send + 'static {
    let m = Arc::clone(metrics);
    move |report| {
        m.reloaded("constraints", report.errors.is_empty());
        m.constraint_load_errors(report.errors.len());
        if report.errors.is_empty() {
            tracing::info!(
                templates = report.templates,
                constraints = report.constraints,
                inventory = report.inventory,
                from,
                "reloaded Gatekeeper templates and constraints"
            );
        } else {
            for e in &report.errors {
                tracing::error!(error = %e, from, "constraints reload rejected; the previous set stays in force");
            }
        }
    }
}
