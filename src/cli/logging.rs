//! What the tool does, on stderr: `-v`/`--verbose` and `RUST_LOG` choose which `tracing` events
//! are printed, and with them an error is followed by its causes.
//!
//! `-v` prints qr-promote's events of level info (each git command with its arguments, exit
//! status and time; each HTTP request with its method, URL, status and time; each Kubernetes
//! call), `-vv` those of level debug too (the answers' sizes, ...), `-vvv` every event (git's
//! messages). `RUST_LOG` (the `EnvFilter` syntax: `target=level,...`) adds its directives after
//! `-v`'s: one that names `qr_promote` (or a module of it, `qr_promote::http`) wins over `-v` for
//! what it names, and others turn on the events of other crates (`RUST_LOG=kube=debug`); a bare
//! level (`RUST_LOG=debug`) applies to every crate that no other directive names. With neither
//! nothing is set up and nothing is printed.
//!
//! Events go to stderr (stdout carries the command's output and its JSON document), without
//! colours unless stderr is a terminal (and `NO_COLOR` is not set). The events of qr-promote
//! never carry a secret: URLs go through [`crate::redact`], git's credential arguments and
//! environment and HTTP headers are never printed. Other crates' events, which only `RUST_LOG`
//! turns on, are theirs.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::filter::{Directive, EnvFilter};

use super::CliError;

/// The global `-v`/`--verbose` option.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct Verbosity {
    /// Print what the tool does on stderr: git commands, HTTP requests and Kubernetes calls (-v),
    /// with more detail (-vv), everything (-vvv); errors show their causes. RUST_LOG adds
    /// filters (`RUST_LOG=qr_promote=debug`).
    #[arg(
        short = 'v',
        long = "verbose",
        global = true,
        action = clap::ArgAction::Count,
        help_heading = super::GLOBAL
    )]
    pub verbose: u8,
}

impl Verbosity {
    /// The directive `-v`, `-vv` or `-vvv` stands for.
    fn directive(self) -> Option<&'static str> {
        match self.verbose {
            0 => None,
            1 => Some("qr_promote=info"),
            2 => Some("qr_promote=debug"),
            _ => Some("qr_promote=trace"),
        }
    }
}

/// Whether an error is followed by its causes.
static SHOW_CAUSES: AtomicBool = AtomicBool::new(false);

/// Sets up the printing of events on stderr for `-v` and `RUST_LOG` (nothing when neither asks
/// for it). A directive of `RUST_LOG` that does not parse is named in a warning and left out.
pub fn init(verbosity: Verbosity) {
    let rust_log = std::env::var_os("RUST_LOG")
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default();
    let from_flag = verbosity.directive();
    if from_flag.is_none() && rust_log.trim().is_empty() {
        return;
    }
    let (filter, rejected) = filter(from_flag, &rust_log);
    for (text, why) in rejected {
        super::eline(format_args!("warning: RUST_LOG: ignoring `{text}`: {why}"));
    }
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A stderr that cannot be written drops the event (tracing's own report of it would
        // be a print that panics).
        .log_internal_errors(false)
        .with_ansi(ansi)
        .with_timer(tracing_subscriber::fmt::time::Uptime::default())
        .try_init();
    if installed.is_ok() {
        let info = tracing::enabled!(target: "qr_promote", tracing::Level::INFO);
        SHOW_CAUSES.store(verbosity.verbose > 0 || info, Ordering::Relaxed);
    }
}

/// The filter of `-v`'s directive followed by those of `RUST_LOG` (a later directive for the same
/// target replaces an earlier one), and the directives of `RUST_LOG` that do not parse, with why.
fn filter(from_flag: Option<&str>, rust_log: &str) -> (EnvFilter, Vec<(String, String)>) {
    let mut filter = EnvFilter::default();
    let mut rejected = Vec::new();
    for text in from_flag
        .into_iter()
        .chain(rust_log.split(',').map(str::trim))
        .filter(|t| !t.is_empty())
    {
        match text.parse::<Directive>() {
            Ok(d) => filter = filter.add_directive(d),
            Err(e) => rejected.push((text.to_string(), e.to_string())),
        }
    }
    (filter, rejected)
}

/// Prints the causes of `err` on stderr, a `caused by:` line each (URL credentials and secret
/// query values redacted), when `-v` (or `RUST_LOG` for qr-promote's info events) is given.
pub fn print_causes(err: &CliError) {
    if !SHOW_CAUSES.load(Ordering::Relaxed) {
        return;
    }
    for line in causes(err) {
        super::eline(format_args!("{line}"));
    }
}

/// The `caused by:` lines of `err`: its library error when the message is not that error's own,
/// then each source in turn (a cause that says what the one before said is left out).
fn causes(err: &CliError) -> Vec<String> {
    let Some(source) = &err.source else {
        return Vec::new();
    };
    let mut chain: Vec<&dyn std::error::Error> = Vec::new();
    if source.to_string() != err.message {
        chain.push(source);
    }
    let mut next = std::error::Error::source(source);
    while let Some(cause) = next {
        chain.push(cause);
        next = cause.source();
    }
    let mut lines = Vec::new();
    let mut said = err.message.clone();
    for cause in chain {
        let text = crate::redact::redact(&cause.to_string());
        let text = text.trim();
        if text.is_empty() || said.ends_with(text) {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            lines.push(if i == 0 {
                format!("caused by: {line}")
            } else {
                format!("    {line}")
            });
        }
        said = text.to_string();
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn rust_log_wins_for_what_it_names() {
        let (f, rejected) = filter(
            Some("qr_promote=info"),
            "kube=debug, qr_promote::http=trace",
        );
        assert!(rejected.is_empty());
        let shown = f.to_string();
        for d in ["qr_promote=info", "kube=debug", "qr_promote::http=trace"] {
            assert!(shown.contains(d), "{shown}");
        }
        let (f, _) = filter(Some("qr_promote=trace"), "qr_promote=warn");
        assert_eq!(f.to_string(), "qr_promote=warn");
        let (f, rejected) = filter(None, "qr_promote=loud,,debug");
        assert_eq!(f.to_string(), "debug");
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].0, "qr_promote=loud");
    }

    #[test]
    fn causes_follow_the_chain_without_repeating_it_or_a_secret() {
        let io = std::io::Error::other("connect to https://bot:S3CRET@h.example/x: refused");
        let err: CliError = Error::external("h.example: unreachable")
            .with_source(io)
            .into();
        assert_eq!(
            causes(&err),
            ["caused by: connect to https://[redacted]@h.example/x: refused"]
        );
        let mut reworded = CliError::from(Error::external("same"));
        reworded.message = "the registry: same".into();
        assert!(
            causes(&reworded).is_empty(),
            "nothing the message did not say"
        );
        reworded.message = "another message".into();
        assert_eq!(causes(&reworded), ["caused by: same"]);
        assert!(causes(&CliError::new("no library error")).is_empty());
    }
}
