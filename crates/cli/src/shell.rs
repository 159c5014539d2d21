//! What a shell and `man` need: completion scripts (clap_complete) and the manual page
//! (clap_mangen), both generated from the same command definition as the parser.

use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct CompletionArgs {
    /// The shell to complete for. Bash: `source <(podsec completion bash)`; zsh: write it to
    /// a directory of `$fpath` as `_podsec`; fish: `podsec completion fish | source`;
    /// PowerShell: `podsec completion powershell | Out-String | Invoke-Expression`.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

/// Writes the completion script for `shell` to stdout.
pub fn completion(args: &CompletionArgs, mut command: clap::Command) -> anyhow::Result<u8> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "podsec", &mut out);
    crate::write_stdout(&String::from_utf8_lossy(&out))?;
    Ok(0)
}

/// Writes the manual page (roff) to stdout: `podsec man | man -l -`, or install it as
/// `podsec.1`. Every subcommand's options follow the main page.
pub fn man(command: clap::Command) -> anyhow::Result<u8> {
    let mut out = Vec::new();
    let command = command.name("podsec");
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let page = sub.clone().bin_name(format!("podsec {}", sub.get_name()));
        clap_mangen::Man::new(page)
            .title(format!("podsec-{}", sub.get_name()))
            .source(format!("podsec {}", env!("CARGO_PKG_VERSION")))
            .render(&mut out)?;
    }
    std::io::stdout().lock().write_all(&out)?;
    Ok(0)
}
