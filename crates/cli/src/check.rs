//! `podsec check`: evaluate manifests against the Pod Security Standards, offline.

use std::collections::BTreeMap;

use podsec_audit::snapshot::{Decoded, Origin, SnapshotObject};
use podsec_manifest::Workload;
use podsec_policy::namespace_policy::{ENFORCE_LEVEL_LABEL, ENFORCE_VERSION_LABEL};
use podsec_policy::{evaluate, Level, LevelVersion, Policy, Version};

use crate::audit::{json_by_name, read_source};
use crate::report::{ErrorEntry, ObjectResult, PspVerdict, Report, Summary, ViolationEntry};
use podsec_cluster::files::list_dir;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Manifests to check: files, directories (searched recursively for .yaml, .yml and
    /// .json), or - for stdin. Multi-document YAML, JSON and *List objects are read.
    #[arg(required = true, value_name = "PATH|-")]
    pub paths: Vec<String>,
    /// Level to check against, unless the input holds the object's Namespace with a
    /// pod-security.kubernetes.io/enforce label.
    #[arg(long, default_value = "restricted", value_parser = parse_level)]
    pub level: Level,
    /// Policy version: v1.N or latest. Versions newer than podsec knows are evaluated as the
    /// newest it knows, and printed as given.
    #[arg(long, default_value = "latest", value_parser = parse_version)]
    pub version: Version,
    /// Output format.
    #[arg(short = 'o', long, default_value = "table", value_enum)]
    pub output: crate::report::OutputFormat,
    /// Check against the PodSecurityPolicies (and RBAC objects granting their use) in these
    /// files or directories instead of the Pod Security Standards. Authorization is by the
    /// pod's service account and, with --as, the user.
    #[arg(long, value_name = "PATH")]
    pub psp: Vec<String>,
    /// With --psp: the user creating the pods.
    #[arg(long = "as", value_name = "USER", requires = "psp")]
    pub user: Option<String>,
    /// With --psp and --as: extra groups of the user.
    #[arg(long = "as-group", value_name = "GROUP", requires = "user")]
    pub groups: Vec<String>,
    /// Exit 0 when the input holds no Kubernetes object at all (by default that is an error:
    /// an empty `kustomize build | podsec check -` usually means the build broke).
    #[arg(long)]
    pub allow_empty: bool,
    /// The namespace of objects that name none, as `kubectl apply -n` sets it (default: none;
    /// `default` for PodSecurityPolicy authorization). An object naming another namespace is
    /// an error, as kubectl reports it.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).map_err(|e| e.to_string())
}

fn parse_version(s: &str) -> Result<Version, String> {
    Version::parse(s).map_err(|e| e.to_string())
}

/// A pod-bearing object waiting for its namespace's policy.
struct Pending {
    file: String,
    line: usize,
    workload: Workload,
}

/// What the input holds, read as a stream.
#[derive(Default)]
struct Input {
    pending: Vec<Pending>,
    /// Namespaces in the input: where each was read, and its labels.
    namespaces: BTreeMap<String, (String, usize, BTreeMap<String, String>)>,
    skipped: usize,
    errors: Vec<ErrorEntry>,
}

impl Input {
    fn observe(&mut self, file: &str, line: usize, object: &Decoded) {
        match object {
            Ok(SnapshotObject::Pod(w) | SnapshotObject::Controller(w)) => {
                self.pending.push(Pending {
                    file: file.to_string(),
                    line,
                    workload: (**w).clone(),
                })
            }
            Ok(SnapshotObject::Namespace { name, labels }) => {
                self.skipped += 1;
                self.namespaces
                    .insert(name.clone(), (file.to_string(), line, labels.clone()));
            }
            Ok(_) => self.skipped += 1,
            Err(e) => self.errors.push(ErrorEntry {
                file: file.to_string(),
                line: (line > 0).then_some(line),
                message: e.message.clone(),
            }),
        }
    }
}

/// Reads every path as a stream (files, directories recursively, `-` for stdin), with the
/// splitter and decoders `audit` uses, objects checked as authored manifests.
fn read_input(paths: &[String]) -> Input {
    let mut input = Input::default();
    for arg in paths {
        if arg == "-" {
            read_source(
                "<stdin>",
                std::io::stdin(),
                None,
                Origin::Authored,
                &mut |line, o| input.observe("<stdin>", line, o),
            );
            continue;
        }
        let path = std::path::PathBuf::from(arg);
        let files = if path.is_dir() {
            let mut dir_errors = Vec::new();
            let files = list_dir(&path, &mut dir_errors);
            input
                .errors
                .extend(dir_errors.into_iter().map(|e| ErrorEntry {
                    file: e.name,
                    line: None,
                    message: e.message,
                }));
            files
        } else {
            vec![path]
        };
        for file in files {
            let name = file.display().to_string();
            match std::fs::File::open(&file) {
                Ok(f) => read_source(
                    &name,
                    f,
                    json_by_name(&name),
                    Origin::Authored,
                    &mut |line, o| input.observe(&name, line, o),
                ),
                Err(e) => input.errors.push(ErrorEntry {
                    message: format!("cannot read file: {e}"),
                    file: name,
                    line: None,
                }),
            }
        }
    }
    input
}

/// Reads, classifies and evaluates everything; never stops at the first bad document.
/// A PodSecurityPolicy set that cannot be loaded is an error: checking the Pod Security
/// Standards instead would answer a question nobody asked.
pub fn run(args: &Args) -> anyhow::Result<Report> {
    let psp_state = if args.psp.is_empty() {
        None
    } else {
        Some(
            crate::psp::load_state(&args.psp)
                .map_err(|e| anyhow::anyhow!("--psp {}: {e}", args.psp.join(",")))?
                .psp_state(),
        )
    };
    let Input {
        mut pending,
        namespaces,
        skipped,
        mut errors,
    } = read_input(&args.paths);
    if let Some(flag) = args.namespace.as_deref() {
        pending.retain_mut(|p| {
            let meta = &mut p.workload.meta;
            match crate::psp::namespace_of(&meta.namespace, Some(flag)) {
                Ok(ns) => {
                    meta.namespace = ns.clone();
                    p.workload.pod_meta.namespace = ns;
                    true
                }
                Err(e) => {
                    errors.push(ErrorEntry {
                        file: p.file.clone(),
                        line: Some(p.line),
                        message: format!("{} {}: {e}", p.workload.kind, meta.name),
                    });
                    false
                }
            }
        });
    }
    if pending.is_empty() && skipped == 0 && errors.is_empty() && !args.allow_empty {
        anyhow::bail!(
            "nothing to check: no Kubernetes objects in {}; if that is expected, pass --allow-empty",
            args.paths.join(", ")
        );
    }

    let defaults = Policy {
        enforce: LevelVersion::new(args.level, args.version),
        ..Policy::default()
    };
    // Namespaces in the input that set an enforce policy override --level/--version.
    let mut namespace_policy: BTreeMap<&str, LevelVersion> = BTreeMap::new();
    for (name, (file, line, labels)) in &namespaces {
        if !labels.contains_key(ENFORCE_LEVEL_LABEL) && !labels.contains_key(ENFORCE_VERSION_LABEL)
        {
            continue;
        }
        let (policy, label_errors) = Policy::from_labels(labels, defaults);
        for e in label_errors {
            errors.push(ErrorEntry {
                file: file.clone(),
                line: Some(*line),
                message: format!(
                    "Namespace {name}: {e} (objects in it are checked at {})",
                    policy.enforce
                ),
            });
        }
        namespace_policy.insert(name, policy.enforce);
    }

    if let Some(psp) = psp_state {
        let user = args
            .user
            .as_deref()
            .map(|u| podsec_policy::rbac::UserIdentity::with_default_groups(u, args.groups.clone()))
            .unwrap_or_default();
        let results: Vec<ObjectResult> = pending
            .into_iter()
            .map(|p| evaluate_psp(p, &psp, &user))
            .collect();
        return Ok(finish(results, errors, skipped));
    }
    let results: Vec<ObjectResult> = pending
        .into_iter()
        .map(|p| {
            let ns = &p.workload.meta.namespace;
            let lv = namespace_policy
                .get(ns.as_str())
                .copied()
                .unwrap_or(defaults.enforce);
            evaluate_object(p, lv)
        })
        .collect();

    Ok(finish(results, errors, skipped))
}

fn finish(results: Vec<ObjectResult>, errors: Vec<ErrorEntry>, skipped: usize) -> Report {
    let allowed = results.iter().filter(|r| r.allowed).count();
    let summary = Summary {
        objects: results.len(),
        allowed,
        denied: results.len() - allowed,
        skipped,
        errors: errors.len(),
    };
    Report {
        results,
        errors,
        summary,
    }
}

fn evaluate_object(p: Pending, lv: LevelVersion) -> ObjectResult {
    let w = &p.workload;
    let evaluation = evaluate(lv, &w.pod_meta, &w.pod_spec);
    let message = evaluation.deny_message();
    let violations = evaluation
        .violations
        .into_iter()
        .map(|v| ViolationEntry {
            check: v.check.as_str().to_string(),
            reason: v.reason,
            detail: v.detail,
            fields: v.fields.iter().map(|f| w.object_path(f)).collect(),
            hint: v.check.fix_hint().to_string(),
        })
        .collect::<Vec<_>>();
    let name = if w.meta.name.is_empty() {
        w.meta.generate_name.clone()
    } else {
        w.meta.name.clone()
    };
    ObjectResult {
        file: p.file,
        line: p.line,
        api_version: w.kind.api_version().to_string(),
        kind: w.kind.as_str().to_string(),
        namespace: (!w.meta.namespace.is_empty()).then(|| w.meta.namespace.clone()),
        name,
        level: Some(lv.level.as_str().to_string()),
        version: Some(lv.version.to_string()),
        psp: None,
        allowed: violations.is_empty(),
        message,
        violations,
    }
}

/// PodSecurityPolicy admission of one object's pod: level `psp`, version the admitting policy.
fn evaluate_psp(
    mut p: Pending,
    psp: &podsec_policy::psp::selection::PspState,
    user: &podsec_policy::rbac::UserIdentity,
) -> ObjectResult {
    use podsec_policy::psp::selection::{select_policy, Phase};
    let w = &mut p.workload;
    crate::psp::default_service_account(w);
    let namespace = crate::psp::namespace_of(&w.meta.namespace, None).unwrap_or_default();
    let namespace = namespace.as_str();
    let outcome = select_policy(psp, &w.pod_meta, &w.pod_spec, namespace, user, Phase::Admit);
    let name = if w.meta.name.is_empty() {
        w.meta.generate_name.clone()
    } else {
        w.meta.name.clone()
    };
    let violations: Vec<ViolationEntry> = if outcome.admitted.is_some() {
        Vec::new()
    } else {
        let mut list = Vec::new();
        for c in outcome.candidates.iter().filter(|c| matches!(c.authorization, Some(ref a) if *a != podsec_policy::psp::selection::Authorization::Denied)) {
            for e in &c.errors {
                list.push(ViolationEntry {
                    check: c.policy.clone(),
                    reason: "PodSecurityPolicy".into(),
                    detail: e.to_string(),
                    fields: vec![w.object_path(&e.path)],
                    hint: format!("change the pod so that policy {} admits it, or grant `use` of a policy that does", c.policy),
                });
            }
        }
        if list.is_empty() {
            list.push(ViolationEntry {
                check: "PodSecurityPolicy".into(),
                reason: "PodSecurityPolicy".into(),
                detail: outcome.rejection(Phase::Admit),
                fields: vec![],
                hint: "grant the pod's service account (or the user) `use` of a policy that admits the pod".into(),
            });
        }
        list
    };
    let message = outcome.admitted.is_none().then(|| {
        format!(
            "pods {} is forbidden: {}",
            podsec_policy::go_quote(&name),
            outcome.rejection(Phase::Admit)
        )
    });
    ObjectResult {
        file: p.file,
        line: p.line,
        api_version: w.kind.api_version().to_string(),
        kind: w.kind.as_str().to_string(),
        namespace: (!w.meta.namespace.is_empty()).then(|| w.meta.namespace.clone()),
        name,
        level: None,
        version: None,
        psp: Some(PspVerdict {
            admitted_by: outcome
                .admitted
                .as_ref()
                .map(|(policy, _, _)| policy.clone()),
            defaults: outcome
                .admitted
                .as_ref()
                .and_then(|(_, meta, spec)| {
                    podsec_manifest::patch::patch((&w.pod_meta, &w.pod_spec), (meta, spec))
                })
                .and_then(|ops| match ops {
                    serde_json::Value::Array(ops) => Some(ops),
                    _ => None,
                })
                .unwrap_or_default(),
        }),
        allowed: violations.is_empty(),
        message,
        violations,
    }
}
