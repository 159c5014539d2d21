//! `podsec`: Kubernetes pod security from the command line.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod audit;
mod certs;
mod check;
mod constraints;
mod fix;
mod netpol;
mod psp;
mod report;
mod serve;
mod shell;
mod verify;

#[derive(Parser, Debug)]
#[command(
    name = "podsec",
    version,
    about = "Kubernetes pod security: Pod Security Standards exactly as upstream Pod Security Admission decides them."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check manifests against the Pod Security Standards, offline.
    Check(check::Args),
    /// Rewrite manifests so that their pods pass a level where that is safe (a diff, or
    /// --write); list what cannot be fixed and what would admit it.
    Fix(fix::Args),
    /// Serve the admission webhook (AdmissionReview over HTTPS).
    Serve(Box<serve::Args>),
    /// Generate a CA and a serving certificate for the webhook (ca.crt, tls.crt, tls.key).
    GenerateCerts(certs::Args),
    /// What every namespace would pass, what breaks if a level is enforced.
    Audit(audit::AuditArgs),
    /// A plan from PodSecurityPolicies to Pod Security Standards labels.
    Migrate(audit::MigrateArgs),
    /// PodSecurityPolicy objects.
    #[command(subcommand)]
    Psp(psp::PspCommand),
    /// Whether a user or service account may use a PodSecurityPolicy, and through which binding.
    CanI(psp::CanIArgs),
    /// How PodSecurityPolicy admission decides a pod: candidates, RBAC, defaults, errors.
    Explain(psp::ExplainArgs),
    /// Run gator Suite files (Gatekeeper ConstraintTemplates, constraints and test cases).
    Verify(verify::Args),
    /// NetworkPolicy analysis: who can reach whom, why, what a change does, what is left open.
    #[command(subcommand)]
    Netpol(netpol::NetpolCommand),
    /// A shell completion script (bash, zsh, fish, powershell) on stdout.
    Completion(shell::CompletionArgs),
    /// The manual page (roff) on stdout: `podsec man | man -l -`.
    Man,
}

/// The command line as this binary was invoked: as `kubectl-podsec` (a kubectl plugin, run
/// by `kubectl podsec …`), help and usage say `kubectl podsec`.
fn command() -> clap::Command {
    let command = Cli::command();
    if invoked_as_plugin() {
        command.bin_name("kubectl podsec")
    } else {
        command
    }
}

fn invoked_as_plugin() -> bool {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .is_some_and(|stem| stem == "kubectl-podsec")
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // The reader has all it wanted (`podsec audit | head`): stop quietly, as kubectl does.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("podsec: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Writes `text` to stdout. A reader that went away surfaces as an error that `main` ends on
/// quietly.
pub(crate) fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let kind = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Check(args) => {
            let report = check::run(&args)?;
            let stdout = std::io::stdout();
            let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let mut out = stdout.lock();
            report::write(&report, args.output, &mut out, color)?;
            Ok(report.exit_code())
        }
        Command::Fix(args) => fix::run(&args),
        Command::Serve(args) => serve::run(*args),
        Command::GenerateCerts(args) => certs::run(args),
        Command::Psp(command) => psp::run_psp(command),
        Command::Audit(args) => audit::run_audit(args),
        Command::Migrate(args) => audit::run_migrate(args),
        Command::CanI(args) => psp::run_can_i(args),
        Command::Explain(args) => psp::run_explain(args),
        Command::Verify(args) => verify::run(&args),
        Command::Netpol(command) => netpol::run(command),
        Command::Completion(args) => shell::completion(&args, Cli::command()),
        Command::Man => shell::man(Cli::command()),
    }
}
