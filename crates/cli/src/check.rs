//! `podsec check`: evaluate manifests against the Pod Security Standards, offline.

use podsec_audit::check::{Against, Checker, Report};
use podsec_audit::snapshot::Origin;
use std::collections::BTreeMap;

use podsec_audit::constraints::ObjectFindings;
use podsec_cluster::files::{list_dir, read_paths};
use podsec_constraints::{EnforcementPoint, Inventory, Library, Review};
use podsec_manifest::{decode, Format, Limits, Located};
use podsec_policy::rbac::UserIdentity;
use podsec_policy::{Level, LevelVersion, Version};
use serde_json::Value;

use crate::audit::{json_by_name, read_source};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Manifests to check: files, directories (searched recursively for .yaml, .yml and
    /// .json), or - for stdin. Multi-document YAML, JSON and *List objects are read.
    #[arg(required_unless_present = "files", value_name = "PATH|-")]
    pub paths: Vec<String>,
    /// Manifests to check, as the positional PATHs (kubectl's `-f`; repeatable).
    #[arg(short = 'f', long = "filename", value_name = "PATH|-")]
    pub files: Vec<String>,
    /// Level to check against, unless the input holds the object's Namespace with a
    /// pod-security.kubernetes.io/enforce label.
    #[arg(long, default_value = "restricted", value_parser = level_parser())]
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
    /// Also enforce these Gatekeeper ConstraintTemplates and Constraints (files or
    /// directories), on every object of the input; `--level privileged` runs them alone.
    /// Only `deny` constraints fail the check; `warn` and `dryrun` are reported.
    #[arg(long, value_name = "PATH")]
    pub constraints: Vec<String>,
    /// With --constraints: the engine for templates that carry both Rego and CEL.
    #[arg(long, default_value = "auto", value_enum, requires = "constraints")]
    pub engine: crate::constraints::EngineChoice,
    /// PodSecurityExceptions (podsec.dev/v1alpha1) to apply, files or directories; those in
    /// the input apply too. A waived violation is reported under `waived` and does not fail
    /// the check.
    #[arg(long, value_name = "PATH")]
    pub exceptions: Vec<String>,
    /// Judge exceptions' expiry as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub now: Option<i64>,
    /// Warn about exceptions that expire within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 14)]
    pub expiry_warning_days: u32,
    /// Unknown fields and wrongly typed values in pod-bearing objects are errors (exit 2), as
    /// `kubectl apply --validate=strict` refuses them; by default they are warnings.
    #[arg(long)]
    pub strict: bool,
    /// Skip files under the given directories whose path (relative to the directory) or name
    /// matches this glob (`*` within a path segment, `**` across them, `?`); repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Report files found under directories in which nothing is a Kubernetes object (Helm
    /// values, package.json, Chart.yaml) as errors; by default they are skipped and counted.
    /// Files named on the command line are always read as manifests.
    #[arg(long)]
    pub include_non_k8s_errors: bool,
}

impl Args {
    /// The positional PATHs and `-f`'s.
    pub fn inputs(&self) -> Vec<String> {
        self.paths.iter().chain(&self.files).cloned().collect()
    }
}

/// Expired exceptions (which no longer apply) and those expiring soon, on stderr.
fn warn_expiry(exceptions: &[podsec_exceptions::Exception], now: i64, days: u32) {
    for e in exceptions {
        let left = e.expires - now;
        if left <= 0 {
            eprintln!(
                "podsec: warning: PodSecurityException {} expired at {}: it no longer applies (owner {})",
                e.id(),
                e.expires_text,
                e.owner
            );
        } else if left < i64::from(days) * 86_400 {
            eprintln!(
                "podsec: warning: PodSecurityException {} expires at {} (in {} days; owner {})",
                e.id(),
                e.expires_text,
                left / 86_400,
                e.owner
            );
        }
    }
}

pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    podsec_exceptions::time::parse_rfc3339(s)
        .ok_or_else(|| format!("{s:?} is not an RFC 3339 time (e.g. 2027-03-31T00:00:00Z)"))
}

/// The marker of a document that may be a PodSecurityException: files without it are not
/// decoded a second time.
const EXCEPTION_MARKER: &[u8] = b"PodSecurityException";

fn mentions_exception(bytes: &[u8]) -> bool {
    bytes
        .windows(EXCEPTION_MARKER.len())
        .any(|w| w == EXCEPTION_MARKER)
}

/// Whether a file holds the marker, read in chunks (a snapshot can be larger than memory
/// should hold twice).
fn file_mentions_exception(path: &std::path::Path) -> bool {
    use std::io::Read as _;
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut buf = vec![0u8; 1 << 16];
    let keep = EXCEPTION_MARKER.len() - 1;
    let mut filled = 0;
    loop {
        match file.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => return mentions_exception(&buf[..filled]),
            Ok(n) => {
                filled += n;
                if mentions_exception(&buf[..filled]) {
                    return true;
                }
                if filled > keep {
                    buf.copy_within(filled - keep..filled, 0);
                    filled = keep;
                }
            }
        }
    }
}

/// The PodSecurityExceptions among `bytes`' documents; a malformed one is an input error.
fn exceptions_in(
    name: &str,
    bytes: &[u8],
    checker: &mut Checker,
    out: &mut Vec<podsec_exceptions::Exception>,
) {
    if !mentions_exception(bytes) {
        return;
    }
    let text = String::from_utf8_lossy(bytes);
    let format = Format::detect(Some(name), &text);
    for located in decode(bytes, format, &Limits::default())
        .into_iter()
        .flatten()
    {
        if podsec_exceptions::Exception::is_exception(&located.value) {
            match podsec_exceptions::Exception::parse(&located.value, "default") {
                Ok(e) => out.push(e),
                Err(e) => checker.error(name, located.line, e.to_string()),
            }
        }
    }
}

pub(crate) fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).map_err(|e| e.to_string())
}

/// `--level`: the three levels, listed for help and shell completion.
pub(crate) fn level_parser() -> impl clap::builder::TypedValueParser<Value = Level> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["privileged", "baseline", "restricted"])
        .try_map(|s| parse_level(&s))
}

pub(crate) fn parse_version(s: &str) -> Result<Version, String> {
    Version::parse(s).map_err(|e| e.to_string())
}

/// Reads every path as a stream (files, directories recursively, `-` for stdin), with the
/// splitter and decoders `audit` uses, objects decoded as authored manifests.
/// Whether `path` (relative, `/`-separated) or its file name matches one of the globs.
fn excluded(globs: &[String], relative: &str) -> bool {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    globs.iter().any(|g| {
        glob_match(g.as_bytes(), relative.as_bytes()) || glob_match(g.as_bytes(), name.as_bytes())
    })
}

/// `*` (not across `/`), `**` (across), `?` (one character but `/`).
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => {
            let rest = rest.strip_prefix(b"/").unwrap_or(rest);
            (0..=text.len()).any(|i| glob_match(rest, &text[i..]))
        }
        [b'*', rest @ ..] => (0..=text.len())
            .take_while(|&i| i == 0 || text[i - 1] != b'/')
            .any(|i| glob_match(rest, &text[i..])),
        [b'?', rest @ ..] => {
            matches!(text, [c, tail @ ..] if *c != b'/' && glob_match(rest, tail))
        }
        [c, rest @ ..] => matches!(text, [t, tail @ ..] if t == c && glob_match(rest, tail)),
    }
}

/// What to read and what to leave out.
struct InputOptions<'a> {
    exclude: &'a [String],
    include_non_k8s_errors: bool,
}

/// A status line on stderr while a large directory is checked (a terminal only; cleared at
/// the end): files done of the directory's total, and objects so far.
struct Progress {
    enabled: bool,
    shown: Option<std::time::Instant>,
}

impl Progress {
    /// Directories with fewer files finish before a status line would help.
    const FROM_FILES: usize = 100;

    fn new() -> Progress {
        use std::io::IsTerminal;
        Progress {
            enabled: std::io::stderr().is_terminal(),
            shown: None,
        }
    }

    fn file(&mut self, done: usize, total: usize, objects: usize) {
        if !self.enabled || total < Self::FROM_FILES {
            return;
        }
        let now = std::time::Instant::now();
        if self
            .shown
            .is_some_and(|t| now.duration_since(t).as_millis() < 100)
        {
            return;
        }
        self.shown = Some(now);
        eprint!(
            "\r\x1b[2Kchecking: {done}/{total} files ({}%), {objects} objects",
            done * 100 / total
        );
    }

    fn finish(&self) {
        if self.shown.is_some() {
            eprint!("\r\x1b[2K");
        }
    }
}

fn read_input(
    paths: &[String],
    options: &InputOptions<'_>,
    checker: &mut Checker,
    exceptions: &mut Vec<podsec_exceptions::Exception>,
) {
    let mut progress = Progress::new();
    for arg in paths {
        if arg == "-" {
            // Read whole: exceptions in it must be known before its objects are checked.
            let mut bytes = Vec::new();
            if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes) {
                checker.error("<stdin>", 0, format!("cannot read stdin: {e}"));
                continue;
            }
            exceptions_in("<stdin>", &bytes, checker, exceptions);
            read_source(
                "<stdin>",
                &bytes[..],
                None,
                Origin::Authored,
                &mut |line, o| checker.observe("<stdin>", line, o),
            );
            continue;
        }
        let path = std::path::PathBuf::from(arg);
        // A file named on the command line is meant as a manifest: only files found under a
        // directory may be skipped for holding no Kubernetes object.
        let scanned = path.is_dir();
        let files = if scanned {
            let mut dir_errors = Vec::new();
            let mut files = list_dir(&path, &mut dir_errors);
            for e in dir_errors {
                checker.error(&e.name, 0, e.message);
            }
            files.retain(|f| {
                let relative = f.strip_prefix(&path).unwrap_or(f);
                !excluded(
                    options.exclude,
                    &relative.to_string_lossy().replace('\\', "/"),
                )
            });
            files
        } else {
            vec![path]
        };
        let total = files.len();
        for (done, file) in files.into_iter().enumerate() {
            progress.file(done, total, checker.objects_seen());
            let name = file.display().to_string();
            if file_mentions_exception(&file) {
                match std::fs::read(&file) {
                    Ok(bytes) => exceptions_in(&name, &bytes, checker, exceptions),
                    Err(e) => checker.error(&name, 0, format!("cannot read file: {e}")),
                }
            }
            match std::fs::File::open(&file) {
                Ok(f) => {
                    // Errors saying a document is not a Kubernetes object are held: a file
                    // with nothing else (Helm values, package.json) is skipped and counted.
                    let mut held: Vec<(usize, String)> = Vec::new();
                    let mut anything_else = false;
                    read_source(
                        &name,
                        f,
                        json_by_name(&name),
                        Origin::Authored,
                        &mut |line, o| match o {
                            Err(e)
                                if scanned
                                    && !options.include_non_k8s_errors
                                    && podsec_manifest::is_not_kubernetes(&e.message) =>
                            {
                                held.push((line, e.message.clone()))
                            }
                            _ => {
                                anything_else = true;
                                checker.observe(&name, line, o)
                            }
                        },
                    );
                    if !anything_else && !held.is_empty() {
                        checker.skip_file();
                    } else {
                        for (line, message) in held {
                            checker.error(&name, line, message);
                        }
                    }
                }
                Err(e) => checker.error(&name, 0, format!("cannot read file: {e}")),
            }
        }
    }
    progress.finish();
}

/// Reads, classifies and evaluates everything; never stops at the first bad document.
/// A PodSecurityPolicy set that cannot be loaded is an error: checking the Pod Security
/// Standards instead would answer a question nobody asked.
pub fn run(args: &Args) -> anyhow::Result<Report> {
    let against = if args.psp.is_empty() {
        Against::Standards(LevelVersion::new(args.level, args.version))
    } else {
        let state = crate::psp::load_state(&args.psp)
            .map_err(|e| anyhow::anyhow!("--psp {}: {e}", args.psp.join(",")))?
            .psp_state();
        let user = args
            .user
            .as_deref()
            .map(|u| UserIdentity::with_default_groups(u, args.groups.clone()))
            .unwrap_or_default();
        Against::Psp { state, user }
    };
    let mut checker = Checker::new(against, args.namespace.clone());
    checker.set_strict(args.strict);
    // Exceptions from --exceptions; those in the input are added as it is read.
    let mut exceptions = load_exceptions(&args.exceptions)?;
    let now = args.now.unwrap_or_else(now_seconds);
    if args.constraints.is_empty() {
        let options = InputOptions {
            exclude: &args.exclude,
            include_non_k8s_errors: args.include_non_k8s_errors,
        };
        read_input(&args.inputs(), &options, &mut checker, &mut exceptions);
        warn_expiry(&exceptions, now, args.expiry_warning_days);
        checker.set_exceptions(podsec_exceptions::ExceptionSet::new(exceptions), now);
        if checker.is_empty() && !args.allow_empty {
            anyhow::bail!(
                "nothing to check: no Kubernetes objects in {}; if that is expected, pass --allow-empty",
                args.inputs().join(", ")
            );
        }
        return Ok(checker.finish());
    }
    let library = crate::constraints::load(&args.constraints, args.engine.into())?;
    // Constraints see every object as written, so the input is read once into memory and
    // handed to both the pod checks and the constraints.
    let (files, file_errors) = read_paths(&args.inputs());
    for e in file_errors {
        checker.error(&e.name, 0, e.message);
    }
    let mut objects = Vec::new();
    for file in &files {
        exceptions_in(&file.name, &file.bytes, &mut checker, &mut exceptions);
        read_source(
            &file.name,
            &file.bytes[..],
            file.format_hint.as_deref().and_then(json_by_name),
            Origin::Authored,
            &mut |line, o| checker.observe(&file.name, line, o),
        );
        let text = String::from_utf8_lossy(&file.bytes);
        let format = Format::detect(file.format_hint.as_deref(), &text);
        // Errors in these documents are reported by the pod checks' reading above.
        for located in decode(&file.bytes, format, &Limits::default())
            .into_iter()
            .flatten()
        {
            objects.push((file.name.clone(), located));
        }
    }
    if checker.is_empty() && objects.is_empty() && !args.allow_empty {
        anyhow::bail!(
            "nothing to check: no Kubernetes objects in {}; if that is expected, pass --allow-empty",
            args.inputs().join(", ")
        );
    }
    warn_expiry(&exceptions, now, args.expiry_warning_days);
    let exceptions = podsec_exceptions::ExceptionSet::new(exceptions);
    let findings = constraint_findings(
        &library,
        objects,
        &exceptions,
        now,
        args.namespace.as_deref(),
    );
    checker.set_exceptions(exceptions, now);
    let mut report = checker.finish();
    report.add_constraint_findings(findings);
    Ok(report)
}

/// Every object of the input reviewed as gator reviews it; Namespaces in the input are the
/// namespace objects of the others (for `namespaceSelector`).
fn constraint_findings(
    library: &Library,
    objects: Vec<(String, Located)>,
    exceptions: &podsec_exceptions::ExceptionSet,
    now: i64,
    default_namespace: Option<&str>,
) -> Vec<ObjectFindings> {
    let namespaces: BTreeMap<String, Value> = objects
        .iter()
        .filter(|(_, o)| {
            o.value.get("kind").and_then(Value::as_str) == Some("Namespace")
                && o.value.get("apiVersion").and_then(Value::as_str) == Some("v1")
        })
        .filter_map(|(_, o)| {
            let name = o.value.pointer("/metadata/name").and_then(Value::as_str)?;
            Some((name.to_string(), o.value.clone()))
        })
        .collect();
    let inventory = Inventory::default();
    objects
        .into_iter()
        .filter(|(_, o)| !Library::is_template(&o.value) && !Library::is_constraint(&o.value))
        .map(|(file, located)| {
            let text = |pointer: &str| {
                located
                    .value
                    .pointer(pointer)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let namespace = text("/metadata/namespace");
            let name = match text("/metadata/name") {
                n if n.is_empty() => text("/metadata/generateName"),
                n => n,
            };
            let (api_version, kind) = (text("/apiVersion"), text("/kind"));
            // Where the object would live: its namespace, else `-n`, else (for pod-bearing
            // kinds) `default`; cluster-scoped objects are in none.
            let effective_namespace = if !namespace.is_empty() {
                namespace.clone()
            } else if let Some(flag) = default_namespace {
                flag.to_string()
            } else if podsec_manifest::WorkloadKind::from_kind(&kind).is_some() {
                "default".to_string()
            } else {
                String::new()
            };
            let exceptions_here =
                !effective_namespace.is_empty() && exceptions.has_namespace(&effective_namespace);
            let object = exceptions_here.then(|| located.value.clone());
            let review = Review::from_object(located.value, namespaces.get(&namespace).cloned());
            let mut violations = library.review(&review, &inventory, EnforcementPoint::Gator);
            let waived = match object {
                Some(object) if !violations.is_empty() => {
                    podsec_audit::constraints::waive_constraint_violations(
                        exceptions,
                        now,
                        &object,
                        &effective_namespace,
                        &kind,
                        &name,
                        &mut violations,
                    )
                }
                _ => Vec::new(),
            };
            ObjectFindings {
                file,
                line: located.line,
                api_version,
                kind,
                namespace: (!namespace.is_empty()).then_some(namespace),
                name,
                violations,
                waived,
            }
        })
        .collect()
}

pub(crate) fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// PodSecurityExceptions in files or directories (`--exceptions`): every one must load, or
/// the run stops (applying some of a set would deny what the rest waives, or the reverse).
pub(crate) fn load_exceptions(
    paths: &[String],
) -> anyhow::Result<Vec<podsec_exceptions::Exception>> {
    let mut out = Vec::new();
    if paths.is_empty() {
        return Ok(out);
    }
    let (files, file_errors) = read_paths(paths);
    let mut problems: Vec<String> = file_errors
        .iter()
        .map(|e| format!("{}: {}", e.name, e.message))
        .collect();
    for file in &files {
        let name = file.format_hint.as_deref().unwrap_or(&file.name);
        let text = String::from_utf8_lossy(&file.bytes);
        let format = Format::detect(Some(name), &text);
        for doc in decode(&file.bytes, format, &Limits::default()) {
            match doc {
                Ok(located) if podsec_exceptions::Exception::is_exception(&located.value) => {
                    match podsec_exceptions::Exception::parse(&located.value, "default") {
                        Ok(e) => out.push(e),
                        Err(e) => problems.push(format!("{}:{}: {e}", file.name, located.line)),
                    }
                }
                Ok(_) => {}
                Err(e) => problems.push(format!("{}: {e}", file.name)),
            }
        }
    }
    if !problems.is_empty() {
        anyhow::bail!("--exceptions: {}", problems.join("\n  "));
    }
    if out.is_empty() {
        anyhow::bail!(
            "--exceptions {}: no PodSecurityException (apiVersion {}) found",
            paths.join(","),
            podsec_exceptions::API_VERSION
        );
    }
    Ok(out)
}
