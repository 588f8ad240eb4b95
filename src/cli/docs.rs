//! `qr-promote completions SHELL` and `qr-promote man`: the command line describing itself,
//! generated from the same definition clap parses with.

use clap::CommandFactory;

use super::{Cli, CliError};

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {}

/// Prints the completion script for a shell.
pub fn cmd_completions(
    out: &mut dyn std::io::Write,
    args: &CompletionsArgs,
) -> Result<(), CliError> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "qr-promote", out);
    Ok(())
}

/// Prints the manual page (roff), the subcommands included.
pub fn cmd_man(out: &mut dyn std::io::Write, _args: &ManArgs) -> Result<(), CliError> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render(out)
        .map_err(|e| CliError::new(format!("man: cannot write: {e}")))?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("qr-promote-{}", sub.get_name());
        let page = clap_mangen::Man::new(sub.clone().name(name));
        page.render_name_section(out)
            .and_then(|_| page.render_synopsis_section(out))
            .and_then(|_| page.render_description_section(out))
            .and_then(|_| page.render_options_section(out))
            .map_err(|e| CliError::new(format!("man: cannot write: {e}")))?;
    }
    Ok(())
}
