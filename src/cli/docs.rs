//! `qr-promote completions SHELL` and `qr-promote man`: the command line describing itself,
//! generated from the same definition clap parses with.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::{Cli, CliError};

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  mkdir -p ~/.local/share/bash-completion/completions
  qr-promote completions bash > ~/.local/share/bash-completion/completions/qr-promote

Exit status: 0 on success; 2 when the command line is wrong.")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  qr-promote man | man -l -                        # read it now
  qr-promote man --dir ~/.local/share/man/man1     # install every page: man qr-promote-apply

Exit status: 0 on success; 1 when a page cannot be written; 2 when the command line is wrong.")]
pub struct ManArgs {
    /// Write the pages into this folder (created when missing): qr-promote.1, and
    /// qr-promote-<command>.1 for each command, which the first refers to. Without it, one page
    /// on stdout, the commands in it.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// Prints the completion script for a shell.
pub fn cmd_completions(
    out: &mut dyn std::io::Write,
    args: &CompletionsArgs,
) -> Result<(), CliError> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "qr-promote", out);
    Ok(())
}

/// The command line as the manual pages describe it: without the `help` command, which has
/// no page.
fn documented() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The commands that have a page of their own.
fn commands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set())
}

fn cannot_write(e: std::io::Error) -> CliError {
    CliError::new(format!("man: cannot write: {e}"))
}

/// Prints the manual page (roff) on `out`, the commands included in it: it names no other page.
pub fn cmd_man(out: &mut dyn std::io::Write, _args: &ManArgs) -> Result<(), CliError> {
    let cmd = documented();
    let mut top = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut top)
        .map_err(cannot_write)?;
    // The commands follow on this page, not on pages of their own.
    let mut top = String::from_utf8_lossy(&top).into_owned();
    for sub in commands(&cmd) {
        let page = format!("qr\\-promote\\-{}(1)", sub.get_name().replace('-', "\\-"));
        let here = format!("qr\\-promote {}", sub.get_name().replace('-', "\\-"));
        top = top.replace(&page, &here);
    }
    out.write_all(top.as_bytes()).map_err(cannot_write)?;
    for sub in commands(&cmd) {
        let name = format!("qr-promote-{}", sub.get_name());
        let page = clap_mangen::Man::new(sub.clone().name(name));
        page.render_name_section(out)
            .and_then(|_| page.render_synopsis_section(out))
            .and_then(|_| page.render_description_section(out))
            .and_then(|_| page.render_options_section(out))
            .map_err(cannot_write)?;
    }
    Ok(())
}

/// Writes `qr-promote.1` and one `qr-promote-<command>.1` per command into `dir` (created when
/// missing); returns the paths written.
pub fn write_man_pages(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let at = |p: &Path, e: std::io::Error| CliError::new(format!("man: {}: {e}", p.display()));
    std::fs::create_dir_all(dir).map_err(|e| at(dir, e))?;
    let cmd = documented();
    let mut pages = vec![(dir.join("qr-promote.1"), cmd.clone())];
    for sub in commands(&cmd) {
        let name = format!("qr-promote-{}", sub.get_name());
        pages.push((dir.join(format!("{name}.1")), sub.clone().name(name)));
    }
    let mut written = Vec::new();
    for (path, page) in pages {
        let mut text = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut text)
            .map_err(cannot_write)?;
        std::fs::write(&path, text).map_err(|e| at(&path, e))?;
        written.push(path);
    }
    Ok(written)
}
