//! `qr-promote deployments`: every object the integrations-manager runs, with its image and pin.

use serde_json::json;

use super::{CliError, CmdResult, Context};
use crate::cluster::model::{Deployment, Model};
use crate::util::suggest;

/// Arguments of `deployments`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  qr-promote deployments                                      # every object, its image and pin
  qr-promote deployments --integration terraform-resources    # one integration's shards
  qr-promote deployments --json                               # with each object's arguments

Exit status: 0 on success; 1 on an error; 2 when the command line is wrong.")]
pub struct Args {
    /// Only this integration.
    #[arg(long, value_name = "NAME")]
    pub integration: Option<String>,
    /// Only this namespace (its name or its `$ref` path).
    #[arg(long, value_name = "NAME")]
    pub namespace: Option<String>,
}

/// Loads the model and prints what it could not read.
pub fn load_model(ctx: &Context) -> Result<Model, CliError> {
    let cache_dir = ctx.use_scan_cache.then_some(ctx.cache_dir.as_path());
    let model = Model::load(&ctx.checkout, cache_dir)?;
    for w in &model.warnings {
        ctx.warn(w);
    }
    Ok(model)
}

/// Fails with a suggestion when `--namespace` names no namespace an integration runs in.
pub fn check_namespace(model: &Model, namespace: Option<&str>) -> Result<(), CliError> {
    let Some(want) = namespace else {
        return Ok(());
    };
    let entries = model.integrations.iter().flat_map(|i| &i.managed);
    if entries.clone().any(|m| model.namespace_matches(m, want)) {
        return Ok(());
    }
    let mut known: Vec<String> = entries.map(|m| model.namespace_of(m).name).collect();
    known.sort();
    known.dedup();
    let refs: Vec<&str> = known.iter().map(String::as_str).collect();
    Err(CliError::new(format!(
        "no integration runs in namespace {want}{}",
        suggest(want, &refs)
    )))
}

/// Renders rows as columns two spaces apart, the last one unpadded.
pub fn columns(rows: &[Vec<String>]) -> String {
    crate::util::align(rows, "")
        .into_iter()
        .map(|l| l + "\n")
        .collect()
}

fn table(deps: &[Deployment]) -> String {
    let mut rows = vec![["NAMESPACE", "KIND", "NAME", "SHARD", "IMAGE", "PIN"]
        .map(String::from)
        .to_vec()];
    for d in deps {
        let ns = match &d.cluster {
            Some(c) => format!("{}@{c}", d.namespace),
            None => d.namespace.clone(),
        };
        rows.push(vec![
            ns,
            format!("{:?}", d.kind),
            d.name.clone(),
            d.shard.clone().unwrap_or_else(|| "-".into()),
            d.image.clone(),
            if d.pinned { "pinned" } else { "" }.into(),
        ]);
    }
    columns(&rows)
}

/// `deployments`: one row per object, then a summary line.
pub fn cmd_deployments(ctx: &Context, args: &Args) -> CmdResult {
    let model = load_model(ctx)?;
    if let Some(i) = &args.integration {
        model.integration(i)?;
    }
    check_namespace(&model, args.namespace.as_deref())?;
    let mut deps = model.deployments(args.integration.as_deref(), args.namespace.as_deref());
    deps.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    if ctx.json {
        ctx.print_json(&json!({
            "deployments": deps,
            "manager_tags": model.manager_tags,
            "warnings": model.warnings,
        }));
        return Ok(());
    }
    if deps.is_empty() {
        ctx.print("no objects: no integration is managed here\n");
        return Ok(());
    }
    ctx.print(&table(&deps));
    let mut integrations: Vec<&str> = deps.iter().map(|d| d.integration.as_str()).collect();
    integrations.sort();
    integrations.dedup();
    let mut namespaces: Vec<&str> = deps.iter().map(|d| d.namespace.as_str()).collect();
    namespaces.sort();
    namespaces.dedup();
    let pinned = deps.iter().filter(|d| d.pinned).count();
    let count = crate::util::count;
    ctx.print(&format!(
        "\n{} of {} in {}, {pinned} pinned\n",
        count(deps.len(), "object", "objects"),
        count(integrations.len(), "integration", "integrations"),
        count(namespaces.len(), "namespace", "namespaces")
    ));
    Ok(())
}
