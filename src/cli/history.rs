//! `qr-promote history [COMPONENT]`: the promotions of a component in the checkout's git
//! history, what each shipped and how long its commits waited.

use serde_json::json;

use super::{CliError, Context, Status};
use crate::cluster::model::RECONCILE;
use crate::history::stats::{format_duration, format_rfc3339, format_time, parse_date, Spread};
use crate::history::{self, Landing, Options, Part, Promotion, Query, Report, Shipping};
use crate::util::short_id;

/// Arguments of `history`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component (a name from .env).
    #[arg(value_name = "COMPONENT", default_value = RECONCILE)]
    pub component: String,
    /// Only promotions that landed on or after this date: YYYY-MM-DD (UTC), or
    /// YYYY-MM-DDTHH:MM[:SS] with an optional Z or +HH:MM offset.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub since: Option<i64>,
    /// Only the first promotion that shipped this commit: a branch, tag, `latest`, a commit id,
    /// or a pull request `#1234`.
    #[arg(long, value_name = "REV", conflicts_with = "since")]
    pub contains: Option<String>,
    /// Use no network: answer from the upstream cache alone.
    #[arg(long)]
    pub offline: bool,
    /// The upstream repository (URL or path); default: `components.<name>.upstream` of
    /// .qr-promote.yaml, else the component's `<P>_REPO` of .env.
    #[arg(long, value_name = "URL|PATH")]
    pub upstream: Option<String>,
}

/// What `history`'s help says of its exit status.
pub const EXIT_HELP: &str = "Examples:
  qr-promote history --since 2026-01-01      # the promotions since a date, with lead times
  qr-promote history --contains '#1234'      # which promotion shipped a pull request
  qr-promote history qontract-schemas --json

Exit status: 0 on success; with --contains, 3 when no promotion of \
the history shipped the commit; 1 on an error (not a git repository, a REV that does not \
resolve, an unreachable upstream); 2 when the command line is wrong.";

/// The library's options for the upstream of `history` and `where`.
pub(super) fn options(ctx: &Context, upstream: Option<String>, offline: bool) -> Options {
    Options {
        upstream,
        cache_dir: ctx.cache_dir.clone(),
        offline,
        progress: super::where_::progress(ctx),
    }
}

/// `history`: one line per promotion, newest first, its parts under it, then the lead times.
pub fn cmd_history(ctx: &Context, args: &Args) -> Result<Status, CliError> {
    let c = ctx.checkout.component(&args.component)?.clone();
    let d = ctx.locations(&c)?;
    let opts = options(
        ctx,
        Some(ctx.checkout.upstream_of(&c, args.upstream.as_deref())),
        args.offline,
    );
    let query = Query {
        since: args.since,
        contains: args.contains.clone(),
    };
    let report = history::history(&ctx.checkout, &c, &d.locations, &opts, &query)?;
    if let Some(w) = missing_warning(
        &report.upstream,
        report.unreachable.as_deref(),
        opts.offline,
        &report.unknown,
        "promoted version",
    ) {
        ctx.warn(&w);
    }
    if ctx.json {
        ctx.print_json(&report_json(&report));
    } else {
        ctx.print(&report_text(&report));
    }
    Ok(match report.contains.as_ref().map(|c| &c.shipped) {
        Some(Shipping::Not) => Status::NotEverywhere,
        _ => Status::Success,
    })
}

/// The one warning of `history` and `where` when the upstream was not asked (`unreachable`:
/// its error) or its cache lacks versions (`unknown`, a `what` each; ten of them named).
pub(super) fn missing_warning(
    upstream: &str,
    unreachable: Option<&str>,
    offline: bool,
    unknown: &[String],
    what: &str,
) -> Option<String> {
    let ids: Vec<&str> = unknown.iter().map(|v| short_id(v)).collect();
    let many = crate::util::count(unknown.len(), what, &format!("{what}s"));
    let list = crate::util::capped(&ids);
    match unreachable {
        Some(why) => Some(format!(
            "{why}; answered from the checkout and the upstream cache{}",
            if unknown.is_empty() {
                String::new()
            } else {
                format!(", which lacks {many}: {list}")
            }
        )),
        None if !unknown.is_empty() => Some(format!(
            "the cache of upstream {upstream} lacks {many}{}: {list}",
            if offline { " (offline)" } else { "" }
        )),
        None => None,
    }
}

fn report_text(r: &Report) -> String {
    if let Some(c) = &r.contains {
        let what = format!(
            "{}{}",
            short_id(&c.rev.id),
            c.rev.pr.map(|n| format!(" (#{n})")).unwrap_or_default()
        );
        return match &c.shipped {
            Shipping::By {
                promotion,
                lead_time,
            } => {
                let Some(p) = r.promotions.get(*promotion) else {
                    return String::new();
                };
                let mut out = format!(
                    "{} {what} was shipped by the promotion of {}:\n",
                    r.component,
                    format_time(p.landed.time)
                );
                out.push_str(&table(std::slice::from_ref(p)));
                out.push_str(&format!(
                    "lead time of {}: {}\n",
                    short_id(&c.rev.id),
                    format_duration(*lead_time)
                ));
                out
            }
            Shipping::Before { version } => format!(
                "{} {what} was in {} already, the version before the oldest promotion of the history\n",
                r.component,
                short_id(version)
            ),
            Shipping::Not => format!(
                "{} {what}: no promotion of the history shipped it\n",
                r.component
            ),
        };
    }
    if r.promotions.is_empty() {
        return format!(
            "{}: no promotion of {} in the history of .env\n",
            r.component, r.variable
        );
    }
    let oldest = r.promotions.last().map(|p| p.landed.time).unwrap_or(0);
    let newest = r.promotions.first().map(|p| p.landed.time).unwrap_or(0);
    let mut out = format!(
        "{}: {} of {} in .env, {} to {}\n",
        r.component,
        plural(r.promotions.len(), "promotion", "promotions"),
        r.variable,
        &format_time(oldest)[..10],
        &format_time(newest)[..10],
    );
    out.push_str(&table(&r.promotions));
    out.push_str(&match &r.lead_time {
        Some(s) => format!(
            "lead time of {} shipped: median {}, 90th percentile {}\n",
            plural(s.count, "commit", "commits"),
            format_duration(s.median),
            format_duration(s.p90)
        ),
        None => "lead time: no shipped commit known to the upstream cache\n".to_string(),
    });
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The promotions as aligned rows, each followed by its parts.
fn table(promotions: &[Promotion]) -> String {
    let mut rows = vec![vec![
        "landed".to_string(),
        "commit".to_string(),
        "author".to_string(),
        "old -> new".to_string(),
        "commits".to_string(),
        "lead time".to_string(),
        String::new(),
    ]];
    rows.extend(promotions.iter().map(|p| {
        vec![
            format_time(p.landed.time),
            short_id(&p.commit.id).to_string(),
            p.commit.author_name.clone(),
            format!("{} -> {}", short_id(&p.old), short_id(&p.new)),
            match &p.shipped {
                None => "?".to_string(),
                Some(s) if s.commits == 0 && s.undone > 0 => format!("-{} (rollback)", s.undone),
                Some(s) => s.commits.to_string(),
            },
            p.lead_time().map(spread_text).unwrap_or_default(),
            merged(&p.landed),
        ]
    }));
    let lines = crate::util::align(&rows, "  ");
    let mut out = String::new();
    for (k, line) in lines.iter().enumerate() {
        out.push_str(line);
        out.push('\n');
        let Some(p) = k.checked_sub(1).and_then(|i| promotions.get(i)) else {
            continue;
        };
        let done = p.completed();
        for part in &p.parts {
            out.push_str(&part_line(part, part.landed == *done && p.landed != *done));
        }
    }
    out
}

fn part_line(part: &Part, completes: bool) -> String {
    let mut line = format!(
        "    + {}  {}  {}  {}",
        format_time(part.landed.time),
        short_id(&part.commit.id),
        part.commit.author_name,
        part.paths.join(", ")
    );
    let merged = merged(&part.landed);
    if !merged.is_empty() {
        line.push_str(&format!("  {merged}"));
    }
    if completes {
        line.push_str("  (completes it)");
    }
    line.push('\n');
    line
}

fn merged(l: &Landing) -> String {
    if l.merge {
        format!("merged in {}", short_id(&l.commit))
    } else {
        String::new()
    }
}

fn spread_text(s: Spread) -> String {
    if s.count == 1 {
        format_duration(s.median)
    } else {
        format!(
            "median {}, max {}",
            format_duration(s.median),
            format_duration(s.max)
        )
    }
}

/// A landing in JSON.
pub(super) fn landing_json(l: &Landing) -> serde_json::Value {
    json!({
        "commit": l.commit,
        "date": format_rfc3339(l.time),
        "merge": l.merge,
    })
}

fn promotion_json(p: &Promotion) -> serde_json::Value {
    let lead = p.lead_time();
    json!({
        "commit": p.commit.id,
        "author_name": p.commit.author_name,
        "author_email": p.commit.author_email,
        "subject": p.commit.subject,
        "committed": format_rfc3339(p.commit.time),
        "landed": landing_json(&p.landed),
        "completed": landing_json(p.completed()),
        "old": p.old,
        "new": p.new,
        "old_full": p.shipped.as_ref().map(|s| s.old.clone()),
        "new_full": p.shipped.as_ref().map(|s| s.new.clone()),
        "commits": p.shipped.as_ref().map(|s| s.commits),
        "undone": p.shipped.as_ref().map(|s| s.undone),
        "lead_time": lead.map(|s| json!({
            "median_seconds": s.median,
            "max_seconds": s.max,
        })),
        "parts": p.parts.iter().map(|q| json!({
            "commit": q.commit.id,
            "author_name": q.commit.author_name,
            "author_email": q.commit.author_email,
            "subject": q.commit.subject,
            "committed": format_rfc3339(q.commit.time),
            "landed": landing_json(&q.landed),
            "paths": q.paths,
        })).collect::<Vec<_>>(),
    })
}

fn report_json(r: &Report) -> serde_json::Value {
    // With --contains, the promotion that shipped the commit alone.
    let shown: Vec<&Promotion> = match r.contains.as_ref().map(|c| &c.shipped) {
        Some(Shipping::By { promotion, .. }) => r.promotions.get(*promotion).into_iter().collect(),
        Some(_) => Vec::new(),
        None => r.promotions.iter().collect(),
    };
    let mut v = json!({
        "component": r.component,
        "variable": r.variable,
        "upstream": r.upstream,
        "promotions": shown.into_iter().map(promotion_json).collect::<Vec<_>>(),
        "lead_time": r.lead_time.map(|s| json!({
            "commits": s.count,
            "median_seconds": s.median,
            "p90_seconds": s.p90,
            "max_seconds": s.max,
        })),
        "unknown_versions": r.unknown,
        "unreachable": r.unreachable,
    });
    if let Some(c) = &r.contains {
        let (by, before, lead) = match &c.shipped {
            Shipping::By {
                promotion,
                lead_time,
            } => (
                r.promotions.get(*promotion).map(|p| p.commit.id.clone()),
                None,
                Some(*lead_time),
            ),
            Shipping::Before { version } => (None, Some(version.clone()), None),
            Shipping::Not => (None, None, None),
        };
        v["contains"] = json!({
            "rev": {
                "given": c.rev.given,
                "id": c.rev.id,
                "pr": c.rev.pr,
                "subject": c.rev.subject,
            },
            "shipped_by": by,
            "already_in": before,
            "lead_time_seconds": lead,
        });
    }
    v
}
