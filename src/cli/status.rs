//! `qr-promote status`: every component and each of its locations.

use serde_json::json;

use super::{CliError, CmdResult, Context};
use crate::discovery::locations::Location;

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Components to show (default: every component of .env).
    #[arg(value_name = "COMPONENT")]
    pub components: Vec<String>,
}

/// Renders locations as an aligned table.
pub fn location_table(locs: &[Location], show_state: bool) -> String {
    let rows: Vec<Vec<String>> = locs
        .iter()
        .map(|l| {
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
        })
        .collect();
    crate::util::align(&rows, "  ")
        .into_iter()
        .map(|l| l + "\n")
        .collect()
}

/// `status`: one table per component.
pub fn cmd_status(ctx: &Context, args: &Args) -> CmdResult {
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
    for c in &comps {
        c.check()?;
        let d = ctx.discover(&mut scanned, c)?;
        errors.extend(d.errors.iter().map(|e| e.to_string()));
        let drifted = d.locations.iter().filter(|l| !l.in_sync).count();
        text.push_str(&format!(
            "{} {} ({} locations{})\n",
            c.name,
            c.tag,
            d.locations.len(),
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
            "repo": c.repo,
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
        None => Ok(()),
    }
}
