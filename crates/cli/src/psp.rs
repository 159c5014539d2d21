//! PodSecurityPolicy commands: `psp list`, `can-i`, `explain`, and `check --psp` support.

use std::path::PathBuf;

use anyhow::{bail, Context};
use podsec_audit::snapshot::SnapshotObject;
use podsec_cluster::files::read_paths;
use podsec_cluster::ClusterState;
use podsec_manifest::patch::patch;
use podsec_policy::psp::kubectl_table;
use podsec_policy::psp::selection::{
    authorized, default_service_account, pod_service_account, select_policy, Authorization, Phase,
    PspOutcome, PspState, PSP_ANNOTATION,
};
use podsec_policy::rbac::{ResourceAttributes, UserIdentity};

/// Loads policies and RBAC objects from files and directories. A path or document that
/// cannot be read is an error (an answer from part of the policies would be wrong); bindings
/// to missing roles and policies the plugin skips are warnings on stderr, as the plugin went
/// on without them.
pub fn load_state(paths: &[String]) -> anyhow::Result<ClusterState> {
    let (files, read_errors) = read_paths(paths);
    if let Some(e) = read_errors.first() {
        bail!("{}: {}", e.name, e.message);
    }
    if files.is_empty() {
        bail!(
            "no manifests found in {}: give the files or directories holding the PodSecurityPolicies and RBAC objects",
            paths.join(", ")
        );
    }
    let (state, errors) = ClusterState::from_files(&files);
    let unreadable: Vec<String> = errors
        .iter()
        .filter(|e| e.unreadable)
        .map(ToString::to_string)
        .collect();
    if !unreadable.is_empty() {
        bail!(
            "{}; fix the policy files: nothing is decided from part of them",
            unreadable.join("; ")
        );
    }
    for e in &errors {
        eprintln!("podsec: warning: {e}");
    }
    Ok(state)
}

#[derive(clap::Subcommand, Debug)]
pub enum PspCommand {
    /// List PodSecurityPolicies with the columns `kubectl get psp` printed.
    List {
        /// Files or directories holding the policies.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
        /// Output: the table, or the policies as a `v1/List` in JSON or YAML.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: PspOutput,
    },
    /// One PodSecurityPolicy, as `kubectl get psp NAME` printed it.
    Get {
        /// The policy's name.
        name: String,
        /// Files or directories holding the policies.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: PspOutput,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PspOutput {
    Table,
    Json,
    Yaml,
    /// `podsecuritypolicy.policy/NAME`, a line each.
    Name,
}

/// A policy as the API served it: with its apiVersion and kind.
fn as_object(psp: &podsec_policy::psp::PodSecurityPolicy) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(psp)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), "policy/v1beta1".into());
        map.insert("kind".into(), "PodSecurityPolicy".into());
    }
    Ok(value)
}

fn print_psps(
    psps: &[&podsec_policy::psp::PodSecurityPolicy],
    output: PspOutput,
    single: bool,
) -> anyhow::Result<()> {
    let text = match output {
        PspOutput::Table => {
            let header = [
                "NAME",
                "PRIV",
                "CAPS",
                "SELINUX",
                "RUNASUSER",
                "FSGROUP",
                "SUPGROUP",
                "READONLYROOTFS",
                "VOLUMES",
            ];
            let rows: Vec<Vec<String>> = psps.iter().map(|p| p.table_row().to_vec()).collect();
            kubectl_table(&header, &rows)
        }
        PspOutput::Name => psps
            .iter()
            .map(|p| format!("podsecuritypolicy.policy/{}\n", p.name()))
            .collect(),
        PspOutput::Json | PspOutput::Yaml => {
            let objects = psps
                .iter()
                .map(|p| as_object(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let value = match (single, objects.as_slice()) {
                (true, [one]) => one.clone(),
                _ => {
                    serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": objects})
                }
            };
            if output == PspOutput::Json {
                format!("{}\n", serde_json::to_string_pretty(&value)?)
            } else {
                serde_saphyr::to_string(&value)?
            }
        }
    };
    crate::write_stdout(&text)
}

pub fn run_psp(command: PspCommand) -> anyhow::Result<u8> {
    match command {
        PspCommand::List { paths, output } => {
            let state = load_state(&paths)?;
            let mut psps: Vec<&podsec_policy::psp::PodSecurityPolicy> = state.psps.iter().collect();
            psps.sort_by(|a, b| a.name().cmp(b.name()));
            if psps.is_empty() && matches!(output, PspOutput::Table | PspOutput::Name) {
                // As kubectl says it, on stderr: the listing itself is empty.
                eprintln!("No resources found");
                return Ok(0);
            }
            print_psps(&psps, output, false)?;
            Ok(0)
        }
        PspCommand::Get {
            name,
            paths,
            output,
        } => {
            let state = load_state(&paths)?;
            let Some(psp) = state.psps.iter().find(|p| p.name() == name) else {
                eprintln!(
                    "Error from server (NotFound): podsecuritypolicies.policy {} not found",
                    podsec_policy::go_quote(&name)
                );
                return Ok(1);
            };
            print_psps(&[psp], output, true)?;
            Ok(0)
        }
    }
}

/// Who is asking, as `kubectl --as/--as-group` would impersonate them.
#[derive(clap::Args, Debug, Clone)]
pub struct Identity {
    /// The user (or `system:serviceaccount:<namespace>:<name>`).
    #[arg(long = "as", value_name = "USER")]
    pub user: String,
    /// Extra groups (Kubernetes adds system:authenticated and service account groups).
    #[arg(long = "as-group", value_name = "GROUP")]
    pub groups: Vec<String>,
}

impl Identity {
    pub fn user_identity(&self) -> UserIdentity {
        UserIdentity::with_default_groups(&self.user, self.groups.clone())
    }
}

#[derive(clap::Args, Debug)]
pub struct CanIArgs {
    /// The verb: only `use` is meaningful for PodSecurityPolicies.
    pub verb: String,
    /// `psp/NAME` or `podsecuritypolicy/NAME`.
    pub resource: String,
    #[command(flatten)]
    pub identity: Identity,
    /// The namespace of the pod.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Files or directories with the RBAC objects (and policies).
    #[arg(long, required = true, value_name = "PATH")]
    pub state: Vec<String>,
}

pub fn run_can_i(args: CanIArgs) -> anyhow::Result<u8> {
    let name = args
        .resource
        .split_once('/')
        .filter(|(kind, _)| {
            matches!(
                *kind,
                "psp"
                    | "psp.policy"
                    | "podsecuritypolicy"
                    | "podsecuritypolicy.policy"
                    | "podsecuritypolicy.extensions"
                    | "podsecuritypolicies"
                    | "podsecuritypolicies.policy"
                    | "podsecuritypolicies.extensions"
            )
        })
        .map(|(_, n)| n.to_string())
        .with_context(|| format!("{:?} is not psp/NAME", args.resource))?;
    let state = load_state(&args.state)?;
    let psp = state.psp_state();
    let user = args.identity.user_identity();
    for group in ["policy", "extensions"] {
        let attrs = ResourceAttributes {
            verb: &args.verb,
            api_group: group,
            resource: "podsecuritypolicies",
            name: &name,
            namespace: &args.namespace,
        };
        if let Some(grant) = psp.rbac.allows(&user, &attrs) {
            println!("yes");
            println!(
                "granted by {} ({}; subject {}; API group {group})",
                grant.binding, grant.role, grant.subject
            );
            return Ok(0);
        }
    }
    println!("no");
    Ok(1)
}

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// The pod (or workload) manifest.
    pub manifest: PathBuf,
    #[command(flatten)]
    pub identity: Identity,
    /// The namespace the pod is created in (default: the manifest's, else `default`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Files or directories with the PodSecurityPolicies and RBAC objects.
    #[arg(long, required = true, value_name = "PATH")]
    pub state: Vec<String>,
}

fn describe(auth: &Authorization) -> String {
    match auth {
        Authorization::ServiceAccount(g) => format!(
            "may use: the service account, through {} ({}, {})",
            g.binding, g.role, g.subject
        ),
        Authorization::User(g) => format!(
            "may use: the user, through {} ({}, {})",
            g.binding, g.role, g.subject
        ),
        Authorization::Denied => "may use: neither the service account nor the user".into(),
    }
}

/// Every pod-bearing object of a manifest file, in order, read as `check` reads it; an
/// object that cannot be read is an error.
fn pods_from_manifest(path: &std::path::Path) -> anyhow::Result<Vec<podsec_manifest::Workload>> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {name}"))?;
    let mut pods = Vec::new();
    let mut first_error = None;
    crate::audit::read_source(
        &name,
        file,
        crate::audit::json_by_name(&name),
        podsec_audit::snapshot::Origin::Authored,
        &mut |line, object| match object {
            Ok(SnapshotObject::Pod(w) | SnapshotObject::Controller(w)) => {
                let mut w = (**w).clone();
                default_service_account(&mut w.pod_spec);
                pods.push(w);
            }
            Ok(_) => {}
            Err(e) if first_error.is_none() => {
                first_error = Some(format!("{name}:{line}: {}", e.message));
            }
            Err(_) => {}
        },
    );
    if let Some(e) = first_error {
        bail!("{e}");
    }
    if pods.is_empty() {
        bail!("{name} holds no pod or workload");
    }
    Ok(pods)
}

/// Explains every pod-bearing object of the manifest; exits 1 when any is not admitted.
pub fn run_explain(args: ExplainArgs) -> anyhow::Result<u8> {
    let name = args.manifest.display().to_string();
    let workloads = pods_from_manifest(&args.manifest)?;
    let state = load_state(&args.state)?;
    let psp = state.psp_state();
    let user = args.identity.user_identity();
    let mut code = 0;
    for (i, workload) in workloads.iter().enumerate() {
        let namespace =
            podsec_audit::check::namespace_of(&workload.meta.namespace, args.namespace.as_deref())
                .map_err(|e| {
                    anyhow::anyhow!("{name}: {} {}: {e}", workload.kind, workload.meta.name)
                })?;
        if i > 0 {
            crate::write_stdout("\n")?;
        }
        let outcome = select_policy(
            &psp,
            &workload.pod_meta,
            &workload.pod_spec,
            &namespace,
            &user,
            Phase::Admit,
        );
        crate::write_stdout(&explain_text(&psp, workload, &namespace, &outcome, &user))?;
        if outcome.admitted.is_none() {
            code = 1;
        }
    }
    Ok(code)
}

/// The explanation `podsec explain` prints.
fn explain_text(
    psp: &PspState,
    workload: &podsec_manifest::Workload,
    namespace: &str,
    outcome: &PspOutcome,
    user: &UserIdentity,
) -> String {
    let mut out = String::new();
    let pod_name = if workload.meta.name.is_empty() {
        "Unknown"
    } else {
        &workload.meta.name
    };
    let sa = pod_service_account(namespace, &workload.pod_spec);
    out.push_str(&format!(
        "{} {pod_name} in namespace {namespace}\n",
        workload.kind
    ));
    out.push_str(&format!(
        "  requested by {} (groups: {})\n",
        user.name,
        user.groups.join(", ")
    ));
    if let Some(sa) = &sa {
        out.push_str(&format!(
            "  service account {} (groups: {})\n",
            sa.name,
            sa.groups.join(", ")
        ));
    }
    for s in &psp.skipped {
        out.push_str(&format!("  skipped: {s}\n"));
    }
    for p in &psp.rbac_problems {
        out.push_str(&format!("  RBAC: {}: {}\n", p.binding, p.message));
    }
    out.push_str("Candidate policies, in the plugin's order (a policy that admits the pod unchanged wins; else the first by name that admits it after defaulting):\n");
    for provider in &psp.providers {
        let (mut m, mut s) = (workload.pod_meta.clone(), workload.pod_spec.clone());
        provider.mutate(&mut m, &mut s);
        let errors = provider.validate(&m, &s);
        let auth = outcome
            .candidates
            .iter()
            .find(|c| c.policy == provider.name())
            .and_then(|c| c.authorization.clone())
            .unwrap_or_else(|| {
                let (sa_grant, user_grant) = (
                    authorized(&psp.rbac, sa.as_ref(), provider.name(), namespace),
                    authorized(&psp.rbac, Some(user), provider.name(), namespace),
                );
                sa_grant
                    .map(Authorization::ServiceAccount)
                    .or(user_grant.map(Authorization::User))
                    .unwrap_or(Authorization::Denied)
            });
        out.push_str(&format!(
            "  {}:\n    {}\n",
            provider.name(),
            describe(&auth)
        ));
        if errors.is_empty() {
            match patch((&workload.pod_meta, &workload.pod_spec), (&m, &s)) {
                None => out.push_str("    admits the pod unchanged\n"),
                Some(ops) => {
                    out.push_str("    admits the pod after setting its defaults:\n");
                    for op in ops.as_array().into_iter().flatten() {
                        out.push_str(&format!(
                            "      {} {} {}\n",
                            op["op"].as_str().unwrap_or(""),
                            op["path"].as_str().unwrap_or(""),
                            op.get("value").map(|v| v.to_string()).unwrap_or_default()
                        ));
                    }
                }
            }
        } else {
            out.push_str("    rejects the pod:\n");
            for e in &errors {
                out.push_str(&format!("      {e}\n"));
            }
        }
    }
    match &outcome.admitted {
        Some((policy, _, _)) => out.push_str(&format!(
            "Result: admitted by {policy} (annotation {PSP_ANNOTATION}: {policy})\n"
        )),
        None => out.push_str(&format!(
            "Result: pods {} is forbidden: {}\n",
            podsec_policy::go_quote(pod_name),
            outcome.rejection(Phase::Admit)
        )),
    }
    out
}
