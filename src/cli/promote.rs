//! `qr-promote plan` and `qr-promote apply`: compute a promotion, show it, write it.

use serde_json::json;

use super::status::location_table;
use super::{CliError, CmdResult, Context};
use crate::apply;
use crate::checkout::Component;
use crate::locations::Kind;
use crate::plan::{self, Plan, Selection};
use crate::util::is_commit_hex;

/// What `plan` and `apply` share.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The component to promote (a name from .env).
    #[arg(value_name = "COMPONENT", default_value = "qontract-reconcile")]
    pub component: String,
    /// The new version: `latest`, a branch or tag, a short or full commit id.
    #[arg(long, value_name = "REV")]
    pub to: Option<String>,
    /// Use no network: REV must be a full 40-hex commit id (or be in the upstream cache).
    #[arg(long)]
    pub offline: bool,
    /// Move drifted locations too (those not at the current version).
    #[arg(long)]
    pub include_drifted: bool,
    /// Only the locations in this file (repository-relative; repeatable).
    #[arg(long = "only", value_name = "PATH")]
    pub only: Vec<String>,
    /// Only this location, by the id that `plan` and `status` print (repeatable).
    #[arg(long = "location", value_name = "ID")]
    pub locations: Vec<String>,
    /// Only locations of this kind (repeatable).
    #[arg(long = "kind", value_name = "KIND", value_parser = ["env", "yaml-key", "saas-target", "image-ref"])]
    pub kinds: Vec<String>,
    /// Only saas targets whose namespace is in this environment (repeatable).
    #[arg(long = "env", value_name = "NAME")]
    pub envs: Vec<String>,
    /// Only saas targets whose namespace is on this cluster (repeatable).
    #[arg(long = "cluster", value_name = "NAME")]
    pub clusters: Vec<String>,
    /// Only saas targets in this namespace (repeatable).
    #[arg(long = "namespace", value_name = "NAME")]
    pub namespaces: Vec<String>,
    /// Only targets of this saas file (repeatable).
    #[arg(long = "saas-file", value_name = "NAME")]
    pub saas_files: Vec<String>,
}

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub promote: PromoteArgs,
}

/// Arguments of `apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub promote: PromoteArgs,
}

impl PromoteArgs {
    fn selection(&self) -> Selection {
        Selection {
            only: self.only.clone(),
            ids: self.locations.clone(),
            kinds: self.kinds.iter().filter_map(|k| Kind::parse(k)).collect(),
            envs: self.envs.clone(),
            clusters: self.clusters.clone(),
            namespaces: self.namespaces.clone(),
            saas_files: self.saas_files.clone(),
            include_drifted: self.include_drifted,
        }
    }
}

/// Resolves `--to` to a full commit id.
fn resolve_to(c: &Component, args: &PromoteArgs) -> Result<String, CliError> {
    let rev = args.to.as_deref().unwrap_or("latest");
    if args.offline {
        if rev.len() == 40 && is_commit_hex(rev) {
            return Ok(rev.to_ascii_lowercase());
        }
        return Err(CliError::new(format!(
            "--to {rev}: with --offline the new version must be a full 40-hex commit id"
        )));
    }
    Err(CliError::new(format!(
        "--to {rev}: resolving a version needs the upstream repository {}; give a full commit id with --offline",
        c.repo
    )))
}

/// Computes the plan for the arguments.
fn compute(ctx: &Context, args: &PromoteArgs) -> Result<(Component, Plan), CliError> {
    let c = ctx.checkout.component(&args.component)?.clone();
    let to = resolve_to(&c, args)?;
    let t0 = std::time::Instant::now();
    let mut scanned = ctx.scan()?;
    let t1 = t0.elapsed();
    let discovery = ctx.discover(&mut scanned, &c)?;
    let t2 = t0.elapsed();
    let files = Context::file_map(&scanned);
    let plan = plan::compute(
        &ctx.checkout,
        &c,
        &discovery,
        &files,
        &to,
        &args.selection(),
    )?;
    if std::env::var_os("QR_TIMING").is_some() {
        eprintln!(
            "scan {t1:?} discover {t2:?} plan {:?} files {} bytes {}",
            t0.elapsed(),
            scanned.files.len(),
            scanned.files.iter().map(|f| f.bytes.len()).sum::<usize>()
        );
    }
    Ok((c, plan))
}

fn summary(p: &Plan) -> String {
    let mut out = String::new();
    let n = p.edits().count();
    let short = |s: &str| s.chars().take(7).collect::<String>();
    out.push_str(&format!(
        "{} {} -> {} ({}): {} edit{} in {} file{}\n",
        p.component,
        short(&p.from),
        short(&p.to),
        p.to,
        n,
        if n == 1 { "" } else { "s" },
        p.files.len(),
        if p.files.len() == 1 { "" } else { "s" },
    ));
    let rows: Vec<[String; 4]> = p
        .edits()
        .map(|e| {
            let note = match e.quoted {
                Some(q) => format!("  (quoted with {q} so that it stays a string)"),
                None => String::new(),
            };
            [
                e.kind.name().to_string(),
                format!("{}:{}", e.path, e.line),
                format!("{} -> {}{note}", e.old, e.new),
                e.location.clone(),
            ]
        })
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
    for r in &rows {
        out.push_str(&format!(
            "  {:<w0$}  {:<w1$}  {}  [{}]\n",
            r[0], r[1], r[2], r[3]
        ));
    }
    if !p.drifted.is_empty() {
        out.push_str(&format!(
            "{} drifted location{} left alone (not at {}; --include-drifted moves them):\n",
            p.drifted.len(),
            if p.drifted.len() == 1 { "" } else { "s" },
            p.from
        ));
        out.push_str(&location_table(&p.drifted, false));
    }
    out
}

fn plan_json(p: &Plan, written: bool) -> serde_json::Value {
    json!({
        "component": p.component,
        "from": p.from,
        "to": p.to,
        "edits": p.edits().collect::<Vec<_>>(),
        "files": p.files.iter().map(|f| f.path.clone()).collect::<Vec<_>>(),
        "drifted": p.drifted,
        "diff": p.diff(),
        "written": written,
    })
}

fn nothing_to_promote(ctx: &Context, p: &Plan) -> bool {
    if !p.is_empty() {
        return false;
    }
    if ctx.json {
        ctx.print_json(&plan_json(p, false));
    } else {
        ctx.print(&format!(
            "{}: nothing to promote, the selected locations are already at {}\n",
            p.component,
            &p.to[..7.min(p.to.len())]
        ));
        if !p.drifted.is_empty() {
            ctx.print(
                &summary(p)
                    .lines()
                    .skip(1)
                    .map(|l| format!("{l}\n"))
                    .collect::<String>(),
            );
        }
    }
    true
}

/// `plan`: show the promotion; writes nothing.
pub fn cmd_plan(ctx: &Context, args: &PlanArgs) -> CmdResult {
    let (_c, p) = compute(ctx, &args.promote)?;
    if nothing_to_promote(ctx, &p) {
        return Ok(());
    }
    if ctx.json {
        ctx.print_json(&plan_json(&p, false));
    } else {
        ctx.print(&summary(&p));
        ctx.print("\n");
        ctx.print(&p.diff());
    }
    Ok(())
}

/// `apply`: write the promotion, all files or none.
pub fn cmd_apply(ctx: &Context, args: &ApplyArgs) -> CmdResult {
    let (_c, p) = compute(ctx, &args.promote)?;
    if nothing_to_promote(ctx, &p) {
        return Ok(());
    }
    let written = apply::write_all(&ctx.root, &p.files)?;
    if ctx.json {
        ctx.print_json(&plan_json(&p, true));
    } else {
        ctx.print(&summary(&p));
        ctx.print(&format!(
            "wrote {} file{}\n",
            written.len(),
            if written.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(())
}
