//! `podsec audit` and `podsec migrate`.

use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use podsec_audit::constraints::{ConstraintAudit, ConstraintAuditor};
use podsec_audit::snapshot::Origin;
use podsec_audit::{
    plural, AuditOptions, AuditReport, Auditor, Decoded, MigrationReport, Migrator, SnapshotError,
    SnapshotObject, WhatIf,
};
use podsec_constraints::{Inventory, Library};
use podsec_manifest::{decode, Format, Limits};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Yaml,
    Sarif,
    Junit,
    Policyreport,
    Html,
}

#[derive(clap::Args, Debug)]
pub struct SnapshotArgs {
    /// Snapshot files or directories, or - for stdin: what this prints (JSON is read as a
    /// stream; YAML too, a document at a time):
    /// `kubectl get namespaces,pods,deployments,replicasets,statefulsets,daemonsets,jobs,cronjobs,podsecuritypolicies,roles,clusterroles,rolebindings,clusterrolebindings,serviceaccounts -A -o json`
    /// With no PATH and no --kubeconfig, the cluster of the current kubeconfig context is
    /// read, as kubectl finds it (`KUBECONFIG`, else `~/.kube/config`).
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    /// Snapshot files or directories, as the positional PATHs (kubectl's `-f`).
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<String>,
    /// Read the live cluster with this kubeconfig instead of files.
    #[arg(long, conflicts_with_all = ["paths", "files"])]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, conflicts_with_all = ["paths", "files", "in_cluster"])]
    pub context: Option<String>,
    /// Read the live cluster as the pod's service account.
    #[arg(long, conflicts_with_all = ["paths", "files", "kubeconfig"])]
    pub in_cluster: bool,
    /// Report only this namespace (repeatable), as `kubectl -n`: its Namespace, pods and
    /// controllers, its exceptions, the constraint violations and network gaps of its objects.
    /// Cluster-scoped objects (PodSecurityPolicies, ClusterRoles) still count, and constraints
    /// and NetworkPolicies are still judged against the whole snapshot.
    #[arg(short = 'n', long = "namespace", value_name = "NAMESPACE")]
    pub namespaces: Vec<String>,
    /// Every namespace (the default; kubectl's `-A`).
    #[arg(short = 'A', long, conflicts_with = "namespaces")]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: ReportFormat,
}

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    pub snapshot: SnapshotArgs,
    /// What would be rejected if this enforce label were set: `enforce=restricted`,
    /// optionally `,version=v1.30` and `,namespace=NAME` (repeatable; a namespace's own
    /// what-if wins over the general one).
    #[arg(long = "what-if", value_name = "enforce=LEVEL[,version=V][,namespace=NS]", value_parser = WhatIf::parse)]
    pub what_if: Vec<WhatIf>,
    /// Also audit every object of the snapshot against these Gatekeeper ConstraintTemplates
    /// and Constraints (files or directories): per constraint, its total violations and the
    /// first 20, as Gatekeeper's audit writes them into the constraint's status.
    #[arg(long, value_name = "PATH")]
    pub constraints: Vec<String>,
    /// With --constraints: the engine for templates that carry both Rego and CEL.
    #[arg(long, default_value = "auto", value_enum, requires = "constraints")]
    pub engine: crate::constraints::EngineChoice,
    /// Also analyse the snapshot's NetworkPolicies: namespaces without default deny,
    /// workloads no policy protects, selectors and named ports that match nothing (as
    /// `podsec netpol audit`).
    #[arg(long)]
    pub network: bool,
    /// PodSecurityExceptions to audit besides those in the snapshot (files or directories):
    /// in use by how many pods, unused, expired, expiring, and the namespaces whose level would
    /// rise with them. The section appears whenever the snapshot holds exceptions.
    #[arg(long, value_name = "PATH")]
    pub exceptions: Vec<String>,
    /// Judge exceptions' expiry as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME", value_parser = crate::check::parse_time)]
    pub now: Option<i64>,
    /// Exceptions expiring within this many days are reported as expiring.
    #[arg(long, value_name = "DAYS", default_value_t = 14)]
    pub expiry_warning_days: u32,
}

/// Counts the bytes read through it, for the progress bar.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A progress bar on stderr (only on a terminal): objects read and, for files, how far in.
struct Progress {
    enabled: bool,
    objects: u64,
    bytes_read: Arc<AtomicU64>,
    bytes_total: u64,
}

impl Progress {
    fn tick(&mut self) {
        self.objects += 1;
        if !self.enabled || !self.objects.is_multiple_of(5_000) {
            return;
        }
        let total = self.bytes_total.max(1);
        let done = self.bytes_read.load(Ordering::Relaxed).min(total);
        let width = 30;
        let filled = (done * width / total) as usize;
        eprint!(
            "\r\x1b[2K[{}{}] {:>3}%  {} objects",
            "#".repeat(filled),
            ".".repeat(width as usize - filled),
            done * 100 / total,
            self.objects
        );
    }

    fn finish(&self) {
        if self.enabled {
            eprint!("\r\x1b[2K");
        }
    }
}

fn read_failed(name: &str, e: std::io::Error) -> SnapshotError {
    SnapshotError {
        object: name.to_string(),
        message: format!("cannot read: {e}"),
        ends_stream: true,
    }
}

/// Reads one source, JSON or YAML, as a stream: objects with the line they start on. With no
/// `json_hint` (stdin, a file named neither `.json` nor `.yaml`), JSON is recognised by its
/// first character. Shared by `audit`/`migrate` (cluster snapshots) and `check` (manifests).
pub(crate) fn read_source(
    name: &str,
    reader: impl Read + Send,
    json_hint: Option<bool>,
    origin: Origin,
    visit: &mut dyn FnMut(usize, &Decoded),
) {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let is_json = match json_hint {
        Some(hint) => hint,
        None => match reader.fill_buf() {
            Ok(head) => matches!(
                head.iter().find(|b| !b.is_ascii_whitespace()),
                Some(b'{' | b'[')
            ),
            Err(e) => return visit(0, &Err(read_failed(name, e))),
        },
    };
    if is_json {
        podsec_audit::snapshot::read_json_at(reader, origin, visit);
    } else {
        podsec_audit::snapshot::read_yaml_at(reader, origin, visit);
    }
}

/// The format a file's name tells: `Some(true)` for JSON, `Some(false)` for YAML.
pub(crate) fn json_by_name(name: &str) -> Option<bool> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".json") {
        Some(true)
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        Some(false)
    } else {
        None
    }
}

/// Reads one snapshot source, its errors named after it.
fn feed_reader(
    name: &str,
    reader: impl Read + Send,
    json_hint: Option<bool>,
    visit: &mut dyn FnMut(&Decoded),
) {
    read_source(
        name,
        reader,
        json_hint,
        Origin::Cluster,
        &mut |_, o| match o {
            Err(e) if e.object != name => visit(&Err(SnapshotError {
                object: format!("{name}: {}", e.object),
                ..e.clone()
            })),
            other => visit(other),
        },
    );
}

impl SnapshotArgs {
    /// The live cluster to read, if no files are given: `--kubeconfig`, `--in-cluster`, or
    /// (as kubectl) `KUBECONFIG` / `~/.kube/config` when one exists.
    fn live(&self) -> Option<podsec_cluster::ClientConfig<'_>> {
        use podsec_cluster::ClientConfig;
        if let Some(path) = &self.kubeconfig {
            return Some(ClientConfig::File(path));
        }
        if self.in_cluster {
            return Some(ClientConfig::InCluster);
        }
        if !self.paths.is_empty() || !self.files.is_empty() {
            return None;
        }
        let from_env = std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty());
        let home = std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".kube/config"))
            .is_some_and(|p| p.is_file());
        (from_env || home || self.context.is_some()).then_some(ClientConfig::Kubectl)
    }

    /// The files to read: the positional PATHs and `-f`'s.
    fn inputs(&self) -> Vec<String> {
        self.paths.iter().chain(&self.files).cloned().collect()
    }

    /// Whether `-n` lets a namespace's results through (every namespace without `-n`).
    fn reports_namespace(&self, namespace: &str) -> bool {
        self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace)
    }

    /// Whether a decoded object belongs in a `-n` audit: namespaced objects of the chosen
    /// namespaces and every cluster-scoped one (policies, cluster roles and bindings).
    fn keeps(&self, object: &Decoded) -> bool {
        let namespace = match object {
            Ok(SnapshotObject::Namespace { name, .. }) => name.as_str(),
            Ok(SnapshotObject::Pod(w) | SnapshotObject::Controller(w)) => {
                if w.meta.namespace.is_empty() {
                    "default"
                } else {
                    w.meta.namespace.as_str()
                }
            }
            Ok(SnapshotObject::Role(r)) => r.metadata.namespace.as_str(),
            Ok(SnapshotObject::RoleBinding(b)) => b.metadata.namespace.as_str(),
            Ok(SnapshotObject::ServiceAccount { namespace, .. }) => namespace.as_str(),
            _ => return true,
        };
        self.reports_namespace(namespace)
    }
}

/// Reads the snapshot into `sink` (only what `-n` keeps), with a progress bar on a terminal.
fn feed(args: &SnapshotArgs, sink: &mut dyn FnMut(&Decoded)) -> anyhow::Result<()> {
    let mut sink = |o: &Decoded| {
        if args.keeps(o) {
            sink(o)
        }
    };
    let bytes_read = Arc::new(AtomicU64::new(0));
    let mut progress = Progress {
        enabled: std::io::stderr().is_terminal(),
        objects: 0,
        bytes_read: Arc::clone(&bytes_read),
        bytes_total: 0,
    };
    if let Some(live) = args.live() {
        let mut objects = 0u64;
        let listed = podsec_audit::read_objects(
            |emit| {
                // The client lives on this runtime, on the listing thread.
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the async runtime: {e}"))?;
                runtime.block_on(async {
                    let connection = podsec_cluster::connect_with(live, args.context.as_deref())
                        .await
                        .map_err(|e| podsec_cluster::error_chain(&e))?;
                    let view = podsec_cluster::LiveCluster::unwatched(connection.client)
                        .with_server(&connection.server);
                    podsec_cluster::fetch_snapshot(&view, emit)
                        .await
                        .map_err(|e| podsec_cluster::error_chain(&e))
                })
            },
            &mut |o| {
                objects += 1;
                progress.tick();
                sink(o);
            },
        );
        progress.finish();
        match listed {
            Ok(()) => return Ok(()),
            // Nothing read: a configuration or connection problem, not a partial audit.
            Err(e) if objects == 0 => anyhow::bail!("{e}"),
            Err(e) => sink(&Err(SnapshotError {
                object: "cluster".into(),
                message: format!("listing stopped: {e}"),
                ends_stream: true,
            })),
        }
        return Ok(());
    }
    let inputs = args.inputs();
    if inputs.is_empty() {
        anyhow::bail!(
            "give snapshot files or directories (- for stdin), or --kubeconfig/--in-cluster (no KUBECONFIG or ~/.kube/config was found)"
        );
    }
    let mut files = Vec::new();
    for path in &inputs {
        let p = PathBuf::from(path);
        if p.is_dir() {
            let mut errors = Vec::new();
            files.extend(podsec_cluster::files::list_dir(&p, &mut errors));
            for e in errors {
                sink(&Err(SnapshotError {
                    object: e.name,
                    message: e.message,
                    ends_stream: true,
                }));
            }
        } else {
            files.push(p);
        }
    }
    progress.bytes_total = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let mut visit = |o: &Decoded| {
        progress.tick();
        sink(o);
    };
    for file in files {
        if file.as_os_str() == "-" {
            feed_reader("<stdin>", std::io::stdin(), None, &mut visit);
            continue;
        }
        let name = file.display().to_string();
        match std::fs::File::open(&file) {
            Ok(f) => {
                let counted = Counting {
                    inner: f,
                    read: Arc::clone(&bytes_read),
                };
                let json = name.to_ascii_lowercase().ends_with(".json");
                feed_reader(&name, counted, Some(json), &mut visit);
            }
            Err(e) => visit(&Err(read_failed(&name, e))),
        }
    }
    progress.finish();
    Ok(())
}

pub fn run_audit(args: AuditArgs) -> anyhow::Result<u8> {
    let mut auditor = Auditor::new(AuditOptions {
        what_if: args.what_if.clone(),
        ..AuditOptions::default()
    });
    feed(&args.snapshot, &mut |o| auditor.observe(o))?;
    let mut report = auditor.finish();
    let library = match args.constraints.is_empty() {
        true => None,
        false => Some(crate::constraints::load(
            &args.constraints,
            args.engine.into(),
        )?),
    };
    let extra_exceptions = crate::check::load_exceptions(&args.exceptions)?;
    let from_stdin = args.snapshot.inputs().iter().any(|p| p == "-");
    let in_snapshot = report
        .summary
        .skipped_kinds
        .keys()
        .any(|kind| kind.ends_with(podsec_exceptions::KIND));
    if in_snapshot && from_stdin && extra_exceptions.is_empty() {
        eprintln!("podsec: the snapshot holds PodSecurityExceptions; save it to a file to audit them (stdin is read once)");
    }
    let wants_exceptions = !extra_exceptions.is_empty() || (in_snapshot && !from_stdin);
    if library.is_some() || args.network || wants_exceptions {
        let flag = if library.is_some() {
            "--constraints"
        } else if args.network {
            "--network"
        } else {
            "--exceptions"
        };
        let objects = snapshot_values(&args.snapshot, flag)?;
        let now = args.now.unwrap_or_else(crate::check::now_seconds);
        // Every exception (files and snapshot), read once for the section and the constraint
        // waivers.
        let mut waivers = None;
        if wants_exceptions {
            let (all, invalid) = podsec_audit::exceptions::collect(&objects, extra_exceptions);
            report.exceptions = Some(podsec_audit::exceptions::exception_audit(
                &objects,
                &all,
                invalid,
                now,
                i64::from(args.expiry_warning_days) * 86_400,
            ));
            waivers = Some((podsec_exceptions::ExceptionSet::new(all), now));
            if let Some(audit) = report.exceptions.as_mut() {
                audit.exceptions.retain(|e| {
                    let namespace = e.exception.split_once('/').map_or("", |(ns, _)| ns);
                    args.snapshot.reports_namespace(namespace)
                });
                audit
                    .namespaces_that_would_rise
                    .retain(|r| args.snapshot.reports_namespace(&r.namespace));
            }
        }
        if args.network {
            let network = podsec_audit::network::network_audit(&objects).map_err(|errors| {
                anyhow::anyhow!(
                    "audit --network: the NetworkPolicies cannot be analysed:\n  {}",
                    errors.join("\n  ")
                )
            })?;
            report.network = Some(network);
            if let Some(network) = report.network.as_mut() {
                if !args.snapshot.namespaces.is_empty() {
                    network
                        .findings
                        .retain(|f| args.snapshot.reports_namespace(&f.namespace));
                    network.by_gap.clear();
                    for f in &network.findings {
                        *network.by_gap.entry(f.gap.clone()).or_default() += 1;
                    }
                }
            }
        }
        if let Some(library) = &library {
            let wants_inventory = library.templates().any(|t| t.uses_inventory());
            report.constraints =
                review_all(library, objects, wants_inventory, waivers, &|object| {
                    args.snapshot.namespaces.is_empty() || in_namespaces(&args.snapshot, object)
                });
        }
    }
    let text = match args.snapshot.output {
        ReportFormat::Table => audit_table(&report),
        ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        ReportFormat::Yaml => serde_saphyr::to_string(&report)?,
        ReportFormat::Sarif => {
            serde_json::to_string_pretty(&podsec_audit::reports::audit_sarif(&report))? + "\n"
        }
        ReportFormat::Junit => podsec_audit::reports::audit_junit(&report),
        ReportFormat::Policyreport => podsec_audit::reports::policy_reports(&report),
        ReportFormat::Html => podsec_audit::html::audit_html(&report),
    };
    crate::write_stdout(&text)?;
    report_problems(&report);
    Ok(if !report.errors.is_empty() { 2 } else { 0 })
}

/// The snapshot's objects as JSON values, for the passes that need whole objects
/// (constraints, NetworkPolicies). Files are read a second time; the live cluster is listed
/// once more.
fn snapshot_values(args: &SnapshotArgs, flag: &str) -> anyhow::Result<Vec<Value>> {
    if let Some(live) = args.live() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut objects = Vec::new();
        runtime.block_on(async {
            let connection = podsec_cluster::connect_with(live, args.context.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!(podsec_cluster::error_chain(&e)))?;
            let view = podsec_cluster::LiveCluster::unwatched(connection.client)
                .with_server(&connection.server);
            podsec_cluster::fetch_snapshot(&view, &mut |json| {
                if let Ok(value) = serde_json::from_str::<Value>(json) {
                    objects.push(value);
                }
            })
            .await
            .map_err(|e| anyhow::anyhow!(podsec_cluster::error_chain(&e)))
        })?;
        return Ok(objects);
    }
    let inputs = args.inputs();
    if inputs.iter().any(|p| p == "-") {
        anyhow::bail!("audit {flag} reads snapshot files or the live cluster, not stdin: save the snapshot to a file first");
    }
    let (files, file_errors) = podsec_cluster::files::read_paths(&inputs);
    if let Some(e) = file_errors.first() {
        anyhow::bail!("{}: {}", e.name, e.message);
    }
    let mut objects = Vec::new();
    for file in &files {
        let text = String::from_utf8_lossy(&file.bytes);
        let format = Format::detect(file.format_hint.as_deref(), &text);
        // Unreadable documents are already reported by the audit's own pass.
        objects.extend(
            decode(&file.bytes, format, &Limits::default())
                .into_iter()
                .flatten()
                .map(|located| located.value),
        );
    }
    Ok(objects)
}

fn review_all(
    library: &Library,
    objects: Vec<Value>,
    wants_inventory: bool,
    exceptions: Option<(podsec_exceptions::ExceptionSet, i64)>,
    reviewed: &dyn Fn(&Value) -> bool,
) -> Vec<ConstraintAudit> {
    let inventory = if wants_inventory {
        Inventory::from_objects(objects.iter())
    } else {
        Inventory::default()
    };
    let mut auditor = ConstraintAuditor::new(library, inventory);
    if let Some((set, now)) = exceptions {
        auditor.set_exceptions(set, now);
    }
    for namespace in objects.iter().filter(|o| {
        o.get("kind").and_then(Value::as_str) == Some("Namespace")
            && o.get("apiVersion").and_then(Value::as_str) == Some("v1")
    }) {
        auditor.namespace(namespace);
    }
    for object in objects.into_iter().filter(|o| reviewed(o)) {
        auditor.object(object);
    }
    auditor.finish()
}

/// Whether a JSON object is in one of `-n`'s namespaces (a Namespace: is one of them).
fn in_namespaces(args: &SnapshotArgs, object: &Value) -> bool {
    let meta = object.get("metadata");
    let namespace = if object.get("kind").and_then(Value::as_str) == Some("Namespace") {
        meta.and_then(|m| m.get("name"))
    } else {
        meta.and_then(|m| m.get("namespace"))
    };
    namespace
        .and_then(Value::as_str)
        .is_some_and(|ns| args.reports_namespace(ns))
}

fn audit_table(r: &AuditReport) -> String {
    let s = &r.summary;
    let mut out = format!(
        "Cluster: {} namespaces pass restricted {}, baseline {}, only privileged {}; {} pods pass restricted {}, baseline {}, only privileged {}.\n",
        s.namespaces,
        s.namespaces_by_level.restricted,
        s.namespaces_by_level.baseline,
        s.namespaces_by_level.privileged,
        s.pods,
        s.pods_by_level.restricted,
        s.pods_by_level.baseline,
        s.pods_by_level.privileged
    );
    if !s.unlabelled_namespaces.is_empty() {
        out.push_str(&format!(
            "Unlabelled namespaces (no Pod Security labels; the gaps): {}\n",
            s.unlabelled_namespaces.join(", ")
        ));
    }
    if !s.skipped_kinds.is_empty() {
        let kinds: Vec<String> = s
            .skipped_kinds
            .iter()
            .map(|(kind, n)| format!("{kind} ({n})"))
            .collect();
        out.push_str(&format!(
            "Skipped objects of kinds the audit does not read: {}\n",
            kinds.join(", ")
        ));
    }
    if r.incomplete {
        out.push_str("The snapshot ended early: results cover what was read.\n");
    }
    let header = [
        "NAMESPACE",
        "ENFORCE",
        "AUDIT",
        "WARN",
        "PODS",
        "PASSES",
        "PINNED",
        "FAILING CHECKS (PODS)",
    ];
    let rows: Vec<Vec<String>> = r
        .namespaces
        .iter()
        .map(|n| {
            vec![
                n.name.clone(),
                n.enforce.clone(),
                n.audit.clone(),
                n.warn.clone(),
                n.pods.to_string(),
                n.highest_level.clone(),
                n.pinned
                    .as_ref()
                    .map(|p| {
                        // Pods listed before their Namespace were not evaluated at its pin.
                        if p.pods < n.pods {
                            format!(
                                "{} at {} ({} of {} pods)",
                                p.highest_level, p.version, p.pods, n.pods
                            )
                        } else {
                            format!("{} at {}", p.highest_level, p.version)
                        }
                    })
                    .unwrap_or_else(|| "-".into()),
                if n.violations_by_check.is_empty() {
                    "-".into()
                } else {
                    n.violations_by_check
                        .iter()
                        .map(|c| format!("{} ({})", c.check, c.pods))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&podsec_policy::psp::kubectl_table(&header, &rows));
    for n in &r.namespaces {
        if n.workloads.iter().all(|w| w.highest_level == "restricted")
            && n.what_if.is_none()
            && n.label_errors.is_empty()
        {
            continue;
        }
        out.push_str(&format!("\n{}:\n", n.name));
        for e in &n.label_errors {
            out.push_str(&format!("  label error: {e}\n"));
        }
        for w in n
            .workloads
            .iter()
            .filter(|w| w.highest_level != "restricted")
        {
            out.push_str(&format!(
                "  {} {} ({}): passes {}; fails {}{}\n",
                w.kind,
                w.name,
                w.pods_text(),
                w.highest_level,
                w.checks.join(", "),
                if w.enforce_rejects_template == Some(true) {
                    format!("; enforce {} rejects its pods", n.enforce)
                } else {
                    String::new()
                }
            ));
        }
        if let Some(w) = &n.what_if {
            out.push_str(&format!(
                "  what if enforce={}: {} rejected\n",
                w.policy,
                plural(w.rejected_pods, "pod")
            ));
            for line in &w.warnings {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }
    if let Some(audit) = &r.exceptions {
        out.push_str(&format!(
            "\nPodSecurityExceptions: {} active, {} expiring, {} expired, {} unused\n",
            audit.count("active"),
            audit.count("expiring"),
            audit.count("expired"),
            audit.unused().count()
        ));
        for e in &audit.exceptions {
            out.push_str(&format!(
                "  {} [{}] until {} (owner {}): {} pods, {} workloads{}\n",
                e.exception,
                e.status,
                e.expires,
                e.owner,
                e.pods,
                e.workloads,
                if e.checks.is_empty() {
                    String::new()
                } else {
                    format!("; waives {}", e.checks.join(", "))
                }
            ));
        }
        for bad in &audit.invalid {
            out.push_str(&format!("  unusable: {bad}\n"));
        }
        for rise in &audit.namespaces_that_would_rise {
            out.push_str(&format!(
                "  namespace {} passes {} today, {} with its exceptions\n",
                rise.namespace, rise.level, rise.with_exceptions
            ));
        }
    }
    if let Some(network) = &r.network {
        out.push_str(&format!(
            "\nNetworkPolicies ({} workloads, {} NetworkPolicies): {}\n",
            network.workloads,
            network.policies,
            plural(network.findings.len() as u64, "gap")
        ));
        for (gap, count) in &network.by_gap {
            out.push_str(&format!("  {gap}: {count}\n"));
        }
        for f in &network.findings {
            out.push_str(&format!("    {}\n", f.message));
        }
    }
    if !r.constraints.is_empty() {
        out.push_str("\nGatekeeper constraints:\n");
        for c in &r.constraints {
            out.push_str(&format!(
                "  {}/{} ({}): {}\n",
                c.kind,
                c.name,
                c.enforcement_action,
                plural(c.total_violations as u64, "violation")
            ));
            for v in &c.violations {
                let at = match &v.namespace {
                    Some(ns) => format!("{ns}/{}", v.name),
                    None => v.name.clone(),
                };
                out.push_str(&format!("    {} {at}: {}\n", v.kind, v.message));
            }
            if c.total_violations > c.violations.len() {
                out.push_str(&format!(
                    "    … and {} more\n",
                    c.total_violations - c.violations.len()
                ));
            }
        }
    }
    if !r.errors.is_empty() {
        out.push_str(&format!(
            "{} (on stderr): the report covers what could be read.\n",
            plural(r.errors.len() as u64, "input error")
        ));
    }
    out
}

/// Input errors and the snapshot's gaps go to stderr, whatever the report format.
fn report_problems(report: &AuditReport) {
    for e in &report.errors {
        eprintln!("podsec: error: {e}");
    }
    for w in &report.warnings {
        eprintln!("podsec: warning: {w}");
    }
}

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub snapshot: SnapshotArgs,
}

/// Exit status: 2 when some input could not be read (listed on stderr), 1 when a
/// PodSecurityPolicy is unusable (a finding of the plan), else 0.
pub fn run_migrate(args: MigrateArgs) -> anyhow::Result<u8> {
    // The plan is policies, namespaces and steps, not per-workload findings: the audit's
    // report formats cannot carry it, and printing the audit under `migrate` would pass off
    // the audit as the plan. Refused before reading anything.
    let render: fn(&MigrationReport) -> anyhow::Result<String> = match args.snapshot.output {
        ReportFormat::Table => |r| Ok(migrate_text(r)),
        ReportFormat::Json => |r| Ok(serde_json::to_string_pretty(r)? + "\n"),
        ReportFormat::Yaml => |r| Ok(serde_saphyr::to_string(r)?),
        other => {
            let name = format!("{other:?}").to_lowercase();
            anyhow::bail!(
                "migrate prints its plan as table, json or yaml, not {name}; for the audit's findings as {name}, run `podsec audit -o {name}` on the same snapshot"
            )
        }
    };
    let mut migrator = Migrator::new(AuditOptions::default());
    feed(&args.snapshot, &mut |o| migrator.observe(o))?;
    let mut report = migrator.finish();
    // Exceptions instead of a lower level: the workloads' values are read from the objects.
    let from_stdin = args.snapshot.inputs().iter().any(|p| p == "-");
    if !from_stdin {
        let objects = snapshot_values(&args.snapshot, "migrate")?;
        let expires =
            podsec_exceptions::time::format_rfc3339(crate::check::now_seconds() + 90 * 86_400);
        report.exception_proposals = podsec_audit::exceptions::propose(&objects, &expires);
    }
    crate::write_stdout(&render(&report)?)?;
    report_problems(&report.audit);
    if from_stdin {
        eprintln!("podsec: note: exception proposals need the snapshot as a file or the live cluster (stdin is read once); none proposed");
    }
    let unusable = report.policies.iter().any(|p| p.unusable.is_some());
    Ok(if !report.audit.errors.is_empty() {
        2
    } else if unusable {
        1
    } else {
        0
    })
}

fn migrate_text(r: &MigrationReport) -> String {
    let mut out = migrate_plan_text(r);
    if !r.exception_proposals.is_empty() {
        out.push_str(
            "\nExceptions instead of a lower level (fill in owner and reason, then apply):\n",
        );
        for p in &r.exception_proposals {
            out.push_str(&format!(
                "  namespace {}: {} holds it at {}; with this exception it passes {} ({})\n",
                p.namespace,
                p.workload,
                p.level,
                p.level_with_exception,
                p.checks.join(", ")
            ));
            let yaml = serde_saphyr::to_string(&p.manifest).unwrap_or_default();
            out.push_str("---\n");
            out.push_str(&yaml);
        }
    }
    out
}

fn migrate_plan_text(r: &MigrationReport) -> String {
    let mut out = String::from("PodSecurityPolicies:\n");
    for p in &r.policies {
        out.push_str(&format!(
            "  {}: strictest equivalent level {}{}\n",
            p.name,
            p.level,
            if p.mutating { "; mutating" } else { "" }
        ));
        for why in &p.not_baseline_because {
            out.push_str(&format!("    not baseline: {why}\n"));
        }
        for why in &p.not_restricted_because {
            out.push_str(&format!("    not restricted: {why}\n"));
        }
        for d in &p.defaults {
            out.push_str(&format!("    default: {d}\n"));
        }
        if let Some(u) = &p.unusable {
            out.push_str(&format!("    unusable: {u}\n"));
        }
        out.push_str(&format!("    pods admitted by it: {}\n", p.pods_admitted));
        for w in &p.relying_workloads {
            out.push_str(&format!(
                "    {} ({}) relies on its defaults; set in the template:\n",
                w.workload,
                plural(w.pods, "pod")
            ));
            for m in &w.must_set {
                out.push_str(&format!("      {m}\n"));
            }
        }
    }
    out.push_str("\nNamespaces:\n");
    for n in &r.namespaces {
        out.push_str(&format!(
            "  {}: {}, highest level all pass: {}; recommend enforce={}, warn/audit={}\n",
            n.name,
            plural(n.pods, "pod"),
            n.pods_pass,
            n.recommended_enforce,
            n.recommended_warn_audit
        ));
        for u in &n.usable_policies {
            out.push_str(&format!(
                "    may use {} ({}): {}\n",
                u.policy,
                u.level,
                u.granted_to.join("; ")
            ));
        }
        for note in &n.notes {
            out.push_str(&format!("    note: {note}\n"));
        }
        for w in &n.fix_before_enforce {
            out.push_str(&format!("    fix before enforcing: {w}\n"));
        }
        for w in &n.fix_before_stricter {
            out.push_str(&format!(
                "    fix before {}:latest: {w}\n",
                n.recommended_warn_audit
            ));
        }
        for c in &n.commands {
            out.push_str(&format!("    $ {c}\n"));
        }
    }
    out.push_str("\nCluster-wide steps:\n");
    for s in &r.cluster_steps {
        out.push_str(&format!("  - {s}\n"));
    }
    for p in &r.rbac_problems {
        out.push_str(&format!("RBAC: {p}\n"));
    }
    if !r.audit.errors.is_empty() {
        out.push_str(&format!(
            "{} (on stderr): the plan covers what could be read.\n",
            plural(r.audit.errors.len() as u64, "input error")
        ));
    }
    out
}
