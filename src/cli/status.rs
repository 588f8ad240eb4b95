//! `qr-promote status`: every component and each of its locations.

use serde_json::json;

use super::{CliError, Context, Status};
use crate::discovery::locations::Location;

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  qr-promote status                       # every component and each of its locations
  qr-promote status qontract-reconcile    # one component
  qr-promote status --exit-code           # for CI: exit 3 when a location has drifted

Exit status: 0 (with --exit-code: 0 when every location is in sync with .env, 3 when one
has drifted); 1 on an error; 2 when the command line is wrong.")]
pub struct Args {
    /// Components to show (default: every component of .env).
    #[arg(value_name = "COMPONENT")]
    pub components: Vec<String>,
    /// Exit with status 3 when any location has drifted from .env (as `git diff --exit-code`).
    #[arg(long)]
    pub exit_code: bool,
}

/// Renders locations as an aligned table; with `show_state` (for `status`), under a header row
/// and with each location's state.
pub fn location_table(locs: &[Location], show_state: bool) -> String {
    let header = show_state.then(|| {
        ["ID", "KIND", "PATH:LINE", "VERSION", "STATE", "WHERE"]
            .map(String::from)
            .to_vec()
    });
    let rows: Vec<Vec<String>> = header
        .into_iter()
        .chain(locs.iter().map(|l| {
            let mut row = vec![
                l.id.clone(),
                l.kind.name().to_string(),
                l.at(),
                l.value.clone(),
            ];
            if show_state {
                row.push(if l.in_sync { "in sync" } else { "drifted" }.to_string());
            }
            row.push(l.acts());
            row
        }))
        .collect();
    crate::util::align(&rows, "  ")
        .into_iter()
        .map(|l| l + "\n")
        .collect()
}

/// `status`: one table per component.
pub fn cmd_status(ctx: &Context, args: &Args) -> Result<Status, CliError> {
    let comps = if args.components.is_empty() {
        ctx.checkout.components.clone()
    } else {
        args.components
            .iter()
            .map(|n| ctx.checkout.component(n).cloned())
            .collect::<Result<Vec<_>, _>>()?
    };
    let mut scanned = ctx.scan(&comps.iter().collect::<Vec<_>>())?;
    let mut text = String::new();
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    let mut any_drifted = false;
    for c in &comps {
        c.check()?;
        let d = ctx.discover(&mut scanned, c)?;
        errors.extend(d.errors.iter().map(|e| e.to_string()));
        let drifted = d.locations.iter().filter(|l| !l.in_sync).count();
        any_drifted |= drifted > 0;
        text.push_str(&format!(
            "{} {} ({}{})\n",
            c.name,
            c.tag,
            crate::util::count(d.locations.len(), "location", "locations"),
            if drifted > 0 {
                format!(", {drifted} drifted")
            } else {
                String::new()
            }
        ));
        text.push_str(&location_table(&d.locations, true));
        text.push('\n');
        docs.push(json!({
            "name": c.name,
            "repo": crate::redact::redact_url(&c.repo),
            "image": c.image,
            "version": c.tag,
            "locations": d.locations,
            "errors": d.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        }));
    }
    if ctx.json {
        ctx.print_json(&json!({ "components": docs }));
    } else {
        ctx.print(text.trim_end_matches('\n'));
        ctx.print("\n");
    }
    match errors.first() {
        Some(first) => Err(CliError::new(if errors.len() > 1 {
            format!(
                "{first} (and {} more files that cannot be read)",
                errors.len() - 1
            )
        } else {
            first.clone()
        })),
        None if args.exit_code && any_drifted => Ok(Status::Differs),
        None => Ok(Status::Success),
    }
}
