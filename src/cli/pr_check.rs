//! `qr-promote pr-check`: the runs the merge-request check makes for integrations with pinned shards.

use serde_json::json;

use super::deployments::{columns, load_model};
use super::{CmdResult, Context};

/// Arguments of `pr-check`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  qr-promote pr-check                                      # every integration with pinned shards
  qr-promote pr-check --integration terraform-resources

Exit status: 0 on success; 1 on an error; 2 when the command line is wrong.")]
pub struct Args {
    /// Only this integration.
    #[arg(long, value_name = "NAME")]
    pub integration: Option<String>,
}

/// `pr-check`: per integration with pinned shards, one run per pinned ref and one with the
/// `.env` image that leaves them out.
pub fn cmd_pr_check(ctx: &Context, args: &Args) -> CmdResult {
    let model = load_model(ctx)?;
    if let Some(i) = &args.integration {
        model.integration(i)?;
    }
    let env_tag = model.env_tag.clone();
    let all = model.pr_check(args.integration.as_deref(), &env_tag);
    // Integrations without pins run once with the .env image, as always: not worth a line.
    let runs: Vec<_> = all
        .iter()
        .filter(|r| {
            all.iter()
                .any(|o| o.integration == r.integration && !o.shards.is_empty())
        })
        .collect();
    if ctx.json {
        ctx.print_json(&json!({ "env_image_tag": env_tag, "runs": runs }));
        return Ok(());
    }
    if runs.is_empty() {
        let scope = match &args.integration {
            Some(i) => i.clone(),
            None => "any integration".into(),
        };
        ctx.print(&format!(
            "no pinned shards in {scope}: the check runs every integration once with {}:{env_tag}\n",
            model.image
        ));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| vec![r.name.clone(), r.image.clone(), r.args.join(" ")])
        .collect();
    ctx.print(&columns(&rows));
    Ok(())
}
