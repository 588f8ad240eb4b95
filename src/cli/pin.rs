//! `qr-promote pin` and `qr-promote unpin`: keep shards on an image while the rest moves.

use serde_json::json;

use super::deployments::load_model;
use super::{CmdResult, Context};
use crate::cluster::pin::{self, Which};
use crate::error::Error;
use crate::promote::plan::{unified_diff, FileChange};
use crate::registry::{self, ImageStatus};
use crate::transaction;

/// Arguments of `pin`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  qr-promote pin terraform-resources --shard ter-int-dev            # on the current version
  qr-promote pin terraform-resources --shard ter-int-dev --dry-run  # show it, write nothing
  qr-promote pin terraform-resources --shard app-sre --image-ref f929a38 --force

Exit status: 0 on success; 1 on an error or a refusal (nothing written); 2 when the command line
is wrong.")]
pub struct PinArgs {
    /// The integration (its `name`).
    #[arg(value_name = "INTEGRATION")]
    pub integration: String,
    /// A shard to pin: its name (`ter-int-dev`, `0`) or its `$ref` (repeatable).
    #[arg(long = "shard", value_name = "SHARD", required = true)]
    pub shards: Vec<String>,
    /// The image tag to pin to (default: the current version of qontract-reconcile in .env).
    #[arg(long, value_name = "REF")]
    pub image_ref: Option<String>,
    /// The managed entry of this namespace (default: the one in the production environment).
    #[arg(long, value_name = "NAME")]
    pub namespace: Option<String>,
    /// Change a shard already pinned to another ref.
    #[arg(long)]
    pub force: bool,
    /// Show the change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub registry: super::promote::RegistryArgs,
}

/// Arguments of `unpin`.
#[derive(Debug, clap::Args)]
#[command(
    group = clap::ArgGroup::new("which").required(true).args(["shards", "all"]),
    after_help = "Examples:
  qr-promote unpin terraform-resources --shard ter-int-dev    # back to the version of the others
  qr-promote unpin terraform-resources --all --dry-run        # show the edit, write nothing

Exit status: 0 on success; 1 on an error or a refusal (nothing written); 2 when the command line
is wrong."
)]
pub struct UnpinArgs {
    /// The integration (its `name`).
    #[arg(value_name = "INTEGRATION")]
    pub integration: String,
    /// A shard to release (repeatable).
    #[arg(long = "shard", value_name = "SHARD")]
    pub shards: Vec<String>,
    /// Release every pinned shard of the entry.
    #[arg(long)]
    pub all: bool,
    /// The managed entry of this namespace (default: the one in the production environment).
    #[arg(long, value_name = "NAME")]
    pub namespace: Option<String>,
    /// Show the change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Prints the change and writes it unless `dry_run`.
fn finish(ctx: &Context, change: FileChange, what: &str, dry_run: bool) -> CmdResult {
    let changed = change.before != change.after;
    let diff = unified_diff(&change.path, &change.before, &change.after);
    let written = changed && !dry_run;
    if written {
        let w = transaction::write_all(ctx.lock()?, std::slice::from_ref(&change))?;
        for warning in &w.warnings {
            ctx.warn(warning);
        }
    }
    if ctx.json {
        ctx.print_json(&json!({
            "file": change.path,
            "changed": changed,
            "written": written,
            "diff": diff,
        }));
        return Ok(());
    }
    if !changed {
        ctx.print(&format!("{what}: nothing to change in {}\n", change.path));
        return Ok(());
    }
    ctx.print(&diff);
    ctx.print(&format!(
        "{what}: {} {}\n",
        if written {
            "wrote"
        } else {
            "would write (--dry-run)"
        },
        change.path
    ));
    Ok(())
}

/// `pin`: add or update `shardSpecOverrides[].imageRef` for the shards.
pub fn cmd_pin(ctx: &Context, args: &PinArgs) -> CmdResult {
    let model = load_model(ctx)?;
    let change = pin::pin(
        &ctx.checkout,
        &model,
        &args.integration,
        &args.shards,
        args.image_ref.as_deref(),
        args.namespace.as_deref(),
        args.force,
    )?;
    let r = args.image_ref.as_deref().unwrap_or(&model.env_tag);
    if !args.registry.skip_image_check && change.before != change.after {
        let opts = args.registry.options()?;
        match registry::check_image(&model.image, r, &opts) {
            Ok(ImageStatus::Exists { .. }) => {}
            Ok(ImageStatus::NotFound) => {
                return Err(Error::refused(format!(
                    "{}:{r} is not in the registry; nothing written (--skip-image-check pins it anyway)",
                    model.image
                ))
                .into())
            }
            Err(e) if args.dry_run => ctx.warn(&format!("the image is not checked: {e}")),
            Err(e) => {
                return Err(Error::external(format!(
                    "{}:{r} could not be checked in the registry: {e}; nothing written",
                    model.image
                ))
                .with_hint("--skip-image-check pins it without asking the registry")
                .into())
            }
        }
    }
    let what = format!(
        "pin {} of {} to {r}",
        args.shards.join(", "),
        args.integration
    );
    finish(ctx, change, &what, args.dry_run)
}

/// `unpin`: remove the `imageRef` of the shards' overrides.
pub fn cmd_unpin(ctx: &Context, args: &UnpinArgs) -> CmdResult {
    let model = load_model(ctx)?;
    let which = if args.all {
        Which::All
    } else {
        Which::Shards(&args.shards)
    };
    let change = pin::unpin(
        &ctx.checkout,
        &model,
        &args.integration,
        which,
        args.namespace.as_deref(),
    )?;
    let what = if args.all {
        format!("unpin every shard of {}", args.integration)
    } else {
        format!("unpin {} of {}", args.shards.join(", "), args.integration)
    };
    finish(ctx, change, &what, args.dry_run)
}
