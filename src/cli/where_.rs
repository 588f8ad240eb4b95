//! `qr-promote where REV`: for each location of a component, whether it runs a commit, and the
//! promotion that brought it there.

use std::io::IsTerminal;

use serde_json::json;

use super::history::{landing_json, options};
use super::{CliError, Context, Status};
use crate::cluster::model::RECONCILE;
use crate::history::runs::{self, Presence, Since, State, Whereabouts};
use crate::history::stats::{format_rfc3339, format_time};
use crate::util::short_id;

/// Arguments of `where`.
#[derive(Debug, clap::Args)]
#[command(allow_missing_positional = true)]
pub struct Args {
    /// The component (a name from .env); default qontract-reconcile.
    #[arg(value_name = "COMPONENT")]
    pub component: Option<String>,
    /// The commit: a branch, tag, `latest`, a commit id, or a pull request `#1234` (found in the
    /// upstream by a subject ending with `(#1234)` or `Merge pull request #1234 ...`).
    #[arg(value_name = "REV")]
    pub rev: String,
    /// The component, as an option (instead of the positional COMPONENT).
    #[arg(long = "component", value_name = "NAME", conflicts_with = "component")]
    pub component_name: Option<String>,
    /// Use no network: answer from the upstream cache alone.
    #[arg(long)]
    pub offline: bool,
    /// The upstream repository (URL or path); default: `components.<name>.upstream` of
    /// .qr-promote.yaml, else the component's `<P>_REPO` of .env.
    #[arg(long, value_name = "URL|PATH")]
    pub upstream: Option<String>,
}

/// What `where`'s help says of its exit status.
pub const EXIT_HELP: &str = "Examples:
  qr-promote where '#1234'       # the commit of a pull request
  qr-promote where 4f2a9c1       # a commit
  qr-promote where latest        # the head of the upstream's default branch

Exit status: 0 when every location runs the commit; 3 when some \
location does not run it yet (or runs a version the upstream does not know); 1 on an error \
(a REV or pull request that does not resolve, an unreachable upstream); 2 when the command line \
is wrong.";

/// `where`: one line per location; exit 3 unless every location runs the commit.
pub fn cmd_where(ctx: &Context, args: &Args) -> Result<Status, CliError> {
    let name = args
        .component_name
        .as_deref()
        .or(args.component.as_deref())
        .unwrap_or(RECONCILE);
    let c = ctx.checkout.component(name)?.clone();
    let d = ctx.locations(&c)?;
    let opts = options(
        ctx,
        Some(ctx.checkout.upstream_of(&c, args.upstream.as_deref())),
        args.offline,
    );
    let w = runs::find(&ctx.checkout, &c, &d.locations, &args.rev, &opts)?;
    if let Some(warning) = super::history::missing_warning(
        &w.upstream,
        w.unreachable.as_deref(),
        opts.offline,
        &w.unknown,
        "version",
    ) {
        ctx.warn(&warning);
    }
    if ctx.json {
        ctx.print_json(&whereabouts_json(&w));
    } else {
        ctx.print(&whereabouts_text(&w));
        if let Some(why) = &w.no_history {
            ctx.warn(&format!("no promotion shown: {why}"));
        }
    }
    Ok(if w.everywhere() {
        Status::Success
    } else {
        Status::NotEverywhere
    })
}

/// Whether progress may be shown.
pub(super) fn progress(ctx: &Context) -> bool {
    !ctx.json && std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

fn state_name(s: &State) -> &'static str {
    match s {
        State::Runs => "runs",
        State::NotYet => "not yet",
        State::Unknown(_) => "unknown",
    }
}

/// `(#103)`, `(latest: master)`, `(tag or branch v1)`: how the commit was asked for, unless it
/// was asked for by its id.
fn asked(w: &Whereabouts) -> String {
    let r = &w.rev;
    if r.given.starts_with('#') {
        return format!(" ({})", r.given);
    }
    if r.given == "latest" {
        return format!(
            " (latest{})",
            r.name
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        );
    }
    if r.id.starts_with(&r.given.to_ascii_lowercase()) {
        return String::new();
    }
    format!(" ({})", r.given)
}

/// Environments in order of name, the locations without one last: (name, locations, running).
fn environments(w: &Whereabouts) -> Vec<(Option<String>, usize, usize)> {
    let mut out: Vec<(Option<String>, usize, usize)> = Vec::new();
    for p in &w.locations {
        let env = p.location.context.environment.clone();
        let runs = usize::from(p.state == State::Runs);
        match out.iter_mut().find(|e| e.0 == env) {
            Some(e) => {
                e.1 += 1;
                e.2 += runs;
            }
            None => out.push((env, 1, runs)),
        }
    }
    out.sort_by(|a, b| match (&a.0, &b.0) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn whereabouts_text(w: &Whereabouts) -> String {
    let total = w.locations.len();
    let running = w
        .locations
        .iter()
        .filter(|p| p.state == State::Runs)
        .count();
    let mut out = format!(
        "{} {}{}: {}\n",
        w.component,
        short_id(&w.rev.id),
        asked(w),
        if running == total {
            format!(
                "runs everywhere ({})",
                plural(total, "location", "locations")
            )
        } else if running == 0 {
            format!("runs in none of {}", plural(total, "location", "locations"))
        } else {
            format!(
                "runs in {running} of {}",
                plural(total, "location", "locations")
            )
        }
    );
    let about = if w.rev.subject.is_empty() && w.rev.time.is_none() {
        " (not in the upstream cache)".to_string()
    } else {
        format!(
            "{}: {}",
            w.rev
                .time
                .map(|t| format!(" of {}", format_time(t)))
                .unwrap_or_default(),
            w.rev.subject
        )
    };
    out.push_str(&format!("  commit {}{about}\n", short_id(&w.rev.id)));
    for (env, n, r) in environments(w) {
        out.push_str(&format!(
            "  {}: {r} of {}\n",
            env.as_deref().unwrap_or("no environment"),
            plural(n, "location", "locations")
        ));
    }
    out.push('\n');
    let header = [
        "id",
        "kind",
        "path:line",
        "version",
        "state",
        "since",
        "commit",
        "author",
        "",
        "where",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    rows.extend(w.locations.iter().map(row));
    for l in crate::util::align(&rows, "  ") {
        out.push_str(&l);
        out.push('\n');
    }
    for p in &w.locations {
        if let State::Unknown(why) = &p.state {
            out.push_str(&format!(
                "{} {}: unknown: {why}\n",
                p.location.id,
                p.location.at()
            ));
        }
    }
    out
}

fn row(p: &Presence) -> Vec<String> {
    let l = &p.location;
    let mut r = vec![
        l.id.clone(),
        l.kind.name().to_string(),
        l.at(),
        short_id(&l.value).to_string(),
        state_name(&p.state).to_string(),
    ];
    match &p.since {
        Some(Since::Commit(a)) => {
            r.push(format_time(a.landed.time));
            r.push(short_id(&a.commit.id).to_string());
            r.push(a.commit.author_name.clone());
            r.push(if a.landed.merge {
                format!("merged in {}", short_id(&a.landed.commit))
            } else {
                String::new()
            });
        }
        Some(Since::Uncommitted) => {
            r.extend([
                "uncommitted".to_string(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        None => r.extend(std::iter::repeat_n(String::new(), 4)),
    }
    r.push(l.acts());
    r
}

fn whereabouts_json(w: &Whereabouts) -> serde_json::Value {
    let r = &w.rev;
    json!({
        "component": w.component,
        "upstream": w.upstream,
        "unknown_versions": w.unknown,
        "unreachable": w.unreachable,
        "rev": {
            "given": r.given,
            "id": r.id,
            "short": short_id(&r.id),
            "name": r.name,
            "pr": r.pr,
            "subject": r.subject,
            "date": r.time.map(format_rfc3339),
        },
        "everywhere": w.everywhere(),
        "environments": environments(w).into_iter().map(|(env, n, running)| json!({
            "environment": env,
            "locations": n,
            "running": running,
        })).collect::<Vec<_>>(),
        "locations": w.locations.iter().map(|p| json!({
            "location": p.location,
            "commit": p.commit,
            "state": match p.state {
                State::Runs => "runs",
                State::NotYet => "not-yet",
                State::Unknown(_) => "unknown",
            },
            "reason": match &p.state {
                State::Unknown(why) => Some(why.clone()),
                _ => None,
            },
            "since": match &p.since {
                Some(Since::Commit(a)) => json!({
                    "commit": a.commit.id,
                    "author_name": a.commit.author_name,
                    "author_email": a.commit.author_email,
                    "subject": a.commit.subject,
                    "landed": landing_json(&a.landed),
                    "promotion": a.promotion,
                }),
                Some(Since::Uncommitted) => json!({ "uncommitted": true }),
                None => serde_json::Value::Null,
            },
        })).collect::<Vec<_>>(),
        "history": w.no_history,
    })
}
