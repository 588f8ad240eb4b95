//! The command line: global options, the shared context, one module per subcommand, and the one
//! error type that maps every failure to a message, hints and an exit code.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::checkout::{Checkout, Component};
use crate::discovery::{Discovery, Session};
use crate::transaction::{self, CheckoutLock};

pub use error::{CliError, CliErrorKind};

mod bot;
mod deployments;
mod docs;
mod error;
mod history;
mod logging;
mod pin;
mod pr_check;
mod promote;
mod stage;
mod status;
mod style;
mod verify;
mod where_;

/// The version of the shape of every JSON document the commands print: it changes when a
/// field is removed or changes meaning (fields are added without a change).
pub const SCHEMA_VERSION: u32 = 1;

/// The heading of the options every command takes, apart from each command's own.
pub const GLOBAL: &str = "Global options";

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: an error or a refusal (bad input, safety rule, I/O, an unreachable service).
pub const EXIT_ERROR: u8 = 1;
/// Exit status: the command line itself is wrong.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: `verify` found differences; `stage`: stage has not soaked the version (plan and
/// apply with --stage-soak refuse it); `where`: the commit does not run everywhere;
/// `history --contains`: no promotion shipped the commit.
pub const EXIT_DIFFERS: u8 = 3;
/// Exit status: `bot` waited for an image that did not appear in time.
pub const EXIT_TIMED_OUT: u8 = 4;
/// `bot`: a component is not where it should be because of a person (a branch left alone, a
/// version a person closed, a promotion held back, drifted locations left behind).
pub const EXIT_NEEDS_A_PERSON: u8 = 5;

/// Promote qontract-reconcile (and the other components of `.env`) across every place of an
/// app-interface checkout that pins its version.
#[derive(Debug, Parser)]
#[command(
    name = "qr-promote",
    version,
    about,
    max_term_width = 100,
    after_help = "Examples:
  qr-promote status                          # every component and where it is pinned
  qr-promote plan --to 4f2a9c1               # what a promotion would change
  qr-promote apply --to 4f2a9c1 --commit     # write it, all files or none, and commit it
  qr-promote where '#1234'                   # does this pull request run everywhere yet?
  qr-promote history --since 2026-01-01      # the promotions, with lead times
  qr-promote pr-check --mr 1234              # what the merge request's check says, run by run
  qr-promote -C ~/app-interface verify       # does the cluster run what the checkout says?
  qr-promote stage --for 2h                  # has stage run the newest version cleanly for 2h?

Exit status: 0 success; 1 an error or a refusal (nothing written); 2 a wrong command line;
3 differences (verify; stage; where; status and plan with --exit-code; plan and apply refused by
--stage-soak; pr-check findings; bot: stage has not soaked a newer version, or production does
not run the merged one yet); 4 bot: an image did not appear in time, pr-check: the check has not
finished; 5 bot: a person must act (a component held up, or the check's findings)."
)]
pub struct Cli {
    /// The app-interface checkout (it holds .env and data/) [default: the current folder, or the
    /// nearest folder above it that holds .env and data/, up to the top of its git repository].
    #[arg(
        short = 'C',
        long = "repo",
        global = true,
        value_name = "DIR",
        default_value = ".",
        hide_default_value = true,
        help_heading = GLOBAL
    )]
    pub repo: PathBuf,
    #[command(flatten)]
    pub logging: logging::Verbosity,
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Cache folder (upstream clones, the scan cache).
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "DIR", env = "QR_PROMOTE_CACHE")]
    pub cache_dir: Option<PathBuf>,
    /// Read every file instead of trusting the scan cache.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_scan_cache: bool,
    /// How long a command that writes waits for another one that holds the checkout's lock.
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        default_value = "10s",
        env = "QR_PROMOTE_LOCK_WAIT",
        value_parser = verify::parse_duration,
        help_heading = GLOBAL
    )]
    pub lock_wait: std::time::Duration,
    /// When to colour the output: auto (a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never"], help_heading = GLOBAL)]
    pub color: String,
    /// Never show long output through a pager ($QR_PROMOTE_PAGER, $PAGER, else less).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_pager: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every component and each of its locations: kind, path:line, value, in sync or drifted.
    Status(status::Args),
    /// Show what a promotion would change: a summary line per location and a unified diff.
    Plan(promote::PlanArgs),
    /// Write the promotion: all files or none.
    Apply(promote::ApplyArgs),
    /// For each location of a component: does it run this commit yet, and since which promotion.
    #[command(after_help = where_::EXIT_HELP)]
    Where(where_::Args),
    /// The promotions of a component in the checkout's git history, with their lead times.
    #[command(after_help = history::EXIT_HELP)]
    History(history::Args),
    /// Every object the integrations-manager runs: namespace, kind, name, shard, image, pin.
    Deployments(deployments::Args),
    /// Pin shards of an integration to an image (`shardSpecOverrides[].imageRef`).
    Pin(pin::PinArgs),
    /// Release pinned shards (remove their `imageRef`).
    Unpin(pin::UnpinArgs),
    /// The merge-request check: the runs it makes for pinned shards; with --from or --mr, what
    /// each run printed, whether the shipped commits explain it, and the pin checks.
    #[command(after_help = pr_check::EXIT_HELP)]
    PrCheck(pr_check::Args),
    /// Compare what runs in the cluster with what the checkout says: images, rollouts, pins.
    Verify(verify::Args),
    /// Has stage run a version cleanly, and for how long: per integration and shard, the image,
    /// since when, restarts, errors logged, the last runs' status.
    #[command(after_help = stage::EXIT_HELP)]
    Stage(stage::Args),
    /// For CI on every upstream push: promote, push and keep one merge request per component
    /// current (GitLab API).
    Bot(bot::Args),
    /// Print the completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print the manual page (roff): `qr-promote man | man -l -`; `--dir DIR` writes one page per
    /// command.
    Man(docs::ManArgs),
}

/// Result of a subcommand.
pub type CmdResult = Result<(), CliError>;

/// What every subcommand shares: the options and the opened checkout.
pub struct Context {
    pub json: bool,
    pub root: PathBuf,
    pub cache_dir: PathBuf,
    pub use_scan_cache: bool,
    pub checkout: Checkout,
    /// The checkout's lock, held for the whole run of a command that writes.
    pub lock: Option<CheckoutLock>,
    /// Long text goes through the pager (a terminal, and no `--no-pager`).
    pager: bool,
}

impl Context {
    /// Opens the checkout. A command that writes (`writes` names it) takes the checkout's lock
    /// first; every command finishes a transaction that an earlier run left interrupted before
    /// it reads anything.
    fn new(cli: &Cli, writes: Option<&str>) -> Result<Context, CliError> {
        let root = Checkout::find_root(&cli.repo)?;
        let lock = match writes {
            Some(command) => Some(CheckoutLock::acquire(&root, command, cli.lock_wait)?),
            None => None,
        };
        recover(&root, lock.as_ref(), cli.lock_wait)?;
        let checkout = Checkout::open(&root)?;
        Ok(Context {
            json: cli.json,
            root,
            cache_dir: cli.cache_dir.clone().unwrap_or_else(default_cache_dir),
            use_scan_cache: !cli.no_scan_cache,
            checkout,
            lock,
            pager: !cli.no_pager && !cli.json && std::io::stdout().is_terminal(),
        })
    }

    /// The checkout's lock (taken by [`Context::new`] for the commands that write).
    pub fn lock(&self) -> Result<&CheckoutLock, CliError> {
        self.lock
            .as_ref()
            .ok_or_else(|| CliError::new("internal: a command that writes runs without the lock"))
    }

    /// Writes to stdout (a closed pipe is not an error); colour is dropped where it does not
    /// belong.
    pub fn print(&self, s: &str) {
        let mut out = anstream::stdout().lock();
        let _ = out.write_all(s.as_bytes());
    }

    /// Like [`Context::print`], through the pager when the text is longer than the terminal.
    pub fn print_paged(&self, s: &str) {
        let rows = terminal_size::terminal_size().map_or(0, |(_, h)| usize::from(h.0));
        if self.pager && rows > 0 && s.lines().count() >= rows {
            if let Some(cmd) = crate::pager::configured() {
                let coloured = !matches!(
                    anstream::AutoStream::choice(&std::io::stdout()),
                    anstream::ColorChoice::Never
                );
                let text = if coloured {
                    s.to_string()
                } else {
                    anstream::adapter::strip_str(s).to_string()
                };
                if crate::pager::page(&cmd, &text) {
                    return;
                }
            }
        }
        self.print(s);
    }

    /// Prints a JSON document; an object carries `"schema_version"` (see [`SCHEMA_VERSION`]).
    pub fn print_json(&self, v: &serde_json::Value) {
        let mut v = v.clone();
        if let Some(map) = v.as_object_mut() {
            map.insert("schema_version".into(), SCHEMA_VERSION.into());
        }
        let s = serde_json::to_string_pretty(&v).unwrap_or_default();
        self.print(&s);
        self.print("\n");
    }

    /// A warning on stderr.
    pub fn warn(&self, s: &str) {
        eline(format_args!("{} {s}", style::warning()));
    }

    /// Walks the checkout once (see [`Session::scan`]) and prints its warnings.
    pub fn scan(&self, wanted: &[&Component]) -> Result<Session, CliError> {
        let cache_dir = self.use_scan_cache.then_some(self.cache_dir.as_path());
        let scanned = Session::scan(&self.checkout, cache_dir, wanted);
        print_cache_notes();
        let mut session = scanned?;
        self.warn_all(session.take_warnings());
        Ok(session)
    }

    /// Discovers the locations of `c` (see [`Session::discover`]) and prints the warnings.
    pub fn discover(&self, session: &mut Session, c: &Component) -> Result<Discovery, CliError> {
        let d = session.discover(&self.checkout, c)?;
        self.warn_all(session.take_warnings());
        self.warn_all(d.reports(&c.tag));
        Ok(d)
    }

    /// The locations of `c` from one walk, refusing a component whose lines in `.env` are wrong
    /// or whose files cannot be read right.
    pub fn locations(&self, c: &Component) -> Result<Discovery, CliError> {
        c.check()?;
        let mut session = self.scan(&[c])?;
        let d = self.discover(&mut session, c)?;
        if let Some(first) = d.errors.first() {
            return Err(CliError::new(first.to_string()));
        }
        Ok(d)
    }

    fn warn_all(&self, warnings: Vec<String>) {
        for w in warnings {
            self.warn(&w);
        }
    }
}

/// Prints on stderr a note for each scan cache that was discarded (damaged, of another format or
/// version): the tree was read instead.
fn print_cache_notes() {
    for n in crate::discovery::cache::take_notes() {
        eline(format_args!("{} {n}", style::note()));
    }
}

/// A line on stderr. A stderr that cannot be written (closed, a full disk, `2>/dev/full`) is
/// not an error of the command: the line is dropped, the exit status stays the command's.
pub fn eline(s: impl std::fmt::Display) {
    let _ = writeln!(anstream::stderr().lock(), "{s}");
}

/// `$QR_PROMOTE_CACHE` is handled by clap; else `$XDG_CACHE_HOME/qr-promote`, else `~/.cache/qr-promote`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Path::new(&x).join("qr-promote");
    }
    match std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        Some(h) => Path::new(&h).join(".cache").join("qr-promote"),
        None => std::env::temp_dir().join("qr-promote-cache"),
    }
}

/// Runs the command line; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => {
            match c.color.as_str() {
                "always" => anstream::ColorChoice::Always.write_global(),
                "never" => anstream::ColorChoice::Never.write_global(),
                _ => {}
            }
            c
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    logging::init(cli.logging);
    let outcome = run(&cli);
    // Scan caches discarded by walks that printed no notes of their own.
    print_cache_notes();
    match outcome {
        Ok(Status::NotEverywhere) => ExitCode::from(EXIT_DIFFERS),
        Ok(Status::Success) => ExitCode::from(EXIT_OK),
        Ok(Status::Differs) => ExitCode::from(EXIT_DIFFERS),
        Ok(Status::TimedOut) => ExitCode::from(EXIT_TIMED_OUT),
        Ok(Status::NeedsAPerson) => ExitCode::from(EXIT_NEEDS_A_PERSON),
        Err(e) if e.quiet => ExitCode::from(e.exit_code()),
        Err(e) => {
            if cli.json {
                // Scripts read stdout: the error is a JSON document there too.
                let doc = serde_json::json!({
                    "schema_version": SCHEMA_VERSION,
                    "error": {"kind": e.kind_name(), "message": e.message, "hints": e.hints},
                });
                let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
                let _ = writeln!(std::io::stdout().lock(), "{text}");
            }
            eline(format_args!("{} {}", style::error(), e.message));
            logging::print_causes(&e);
            for h in &e.hints {
                eline(format_args!("{} {h}", style::hint()));
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// Finishes an interrupted transaction, with the lock held (`held`, or taken for the recovery
/// alone when a journal is there).
fn recover(root: &Path, held: Option<&CheckoutLock>, wait: std::time::Duration) -> CmdResult {
    let taken;
    let lock = match held {
        Some(l) => l,
        None => {
            let state = transaction::state_dir(root);
            // A state folder that is not a real folder is refused, whatever the command.
            if !transaction::lock::check_state_dir(&state)? {
                return Ok(());
            }
            if std::fs::symlink_metadata(state.join(transaction::journal::JOURNAL)).is_ok() {
                taken = CheckoutLock::acquire(root, "recovery", wait)?;
            } else {
                // What a run killed before its journal was in place leaves: cleaned up unless
                // another run is at work.
                match CheckoutLock::acquire(root, "recovery", std::time::Duration::ZERO) {
                    Ok(l) => taken = l,
                    Err(_) => return Ok(()),
                }
            }
            &taken
        }
    };
    if let Some(r) = transaction::recover(lock.root(), lock.state_dir())? {
        eline(format_args!("{} {r}", style::note()));
        if let Some(w) = &r.warning {
            eline(format_args!("{} {w}", style::warning()));
        }
    }
    Ok(())
}

/// How a command that succeeded ends: its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exit 0.
    Success,
    /// Exit 3: `where` found locations that do not run the commit yet (`history --contains`:
    /// no promotion shipped it).
    NotEverywhere,
    /// Exit 3: `verify` found that the cluster differs from the checkout.
    Differs,
    /// Exit 4: `bot` waited for an image that did not appear in time.
    TimedOut,
    /// Exit 5: `bot` left a component behind because of a person.
    NeedsAPerson,
}

fn run(cli: &Cli) -> Result<Status, CliError> {
    // The command line describing itself needs no checkout.
    match &cli.command {
        Command::Completions(a) => {
            let mut text = Vec::new();
            docs::cmd_completions(&mut text, a)?;
            // A closed pipe (`| head`) is not an error.
            let _ = std::io::stdout().lock().write_all(&text);
            return Ok(Status::Success);
        }
        Command::Man(a) => {
            let mut text = Vec::new();
            match &a.dir {
                Some(dir) => {
                    for p in docs::write_man_pages(dir)? {
                        text.extend_from_slice(format!("wrote {}\n", p.display()).as_bytes());
                    }
                }
                None => docs::cmd_man(&mut text, a)?,
            }
            let _ = std::io::stdout().lock().write_all(&text);
            return Ok(Status::Success);
        }
        _ => {}
    }
    let writes = match &cli.command {
        Command::Apply(_) => Some("apply"),
        Command::Pin(_) => Some("pin"),
        Command::Unpin(_) => Some("unpin"),
        Command::Bot(_) => Some("bot"),
        _ => None,
    };
    let ctx = Context::new(cli, writes)?;
    match &cli.command {
        Command::Status(a) => return status::cmd_status(&ctx, a),
        Command::Plan(a) => return promote::cmd_plan(&ctx, a),
        Command::Apply(a) => return promote::cmd_apply(&ctx, a),
        Command::Where(a) => return where_::cmd_where(&ctx, a),
        Command::History(a) => return history::cmd_history(&ctx, a),
        Command::Deployments(a) => deployments::cmd_deployments(&ctx, a),
        Command::Pin(a) => pin::cmd_pin(&ctx, a),
        Command::Unpin(a) => pin::cmd_unpin(&ctx, a),
        Command::PrCheck(a) => return pr_check::cmd_pr_check(&ctx, a),
        Command::Verify(a) => return verify::cmd_verify(&ctx, a),
        Command::Stage(a) => return stage::cmd_stage(&ctx, a),
        Command::Bot(a) => return bot::cmd_bot(&ctx, a),
        Command::Completions(_) | Command::Man(_) => Ok(()),
    }?;
    Ok(Status::Success)
}
