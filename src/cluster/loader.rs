//! Reading the model from the checkout: the files of the namespace, cluster, environment,
//! account, organization, Cloudflare account and DNS zone, integration and saas schemas, parsed
//! on all cores.

use std::collections::HashMap;

use super::model::{
    norm_ref, Integration, Managed, Model, Namespace, Target, ACCOUNT_SCHEMA,
    CLOUDFLARE_ACCOUNT_SCHEMA, CLUSTER_SCHEMA, DNS_ZONE_SCHEMA, ENVIRONMENT_SCHEMA,
    INTEGRATION_SCHEMA, NAMESPACE_SCHEMA, OCM_SCHEMA, PRODUCT_ENVIRONMENT_SCHEMA, RECONCILE,
};
use super::sharding::{
    read_old_overrides, read_old_sharding, read_sharding, Layout, ShardKey, Sharding, Strategy,
};
use super::zones::{read_zone, resolve_zones};
use crate::checkout::{normalize_repo_url, Checkout, Component};
use crate::discovery::locations::is_saas_schema;

/// What every saas file's `$schema` starts with, whatever its version.
const SAAS_SCHEMA_PREFIX: &str = "/app-sre/saas-file-";
use crate::error::{Error, Result};
use crate::util::is_commit_hex;
use crate::util::short_id;
use crate::yaml::{self, Node};

fn data_rel(rel: &str) -> Option<String> {
    rel.strip_prefix("data/").map(str::to_string)
}

fn disabled(doc: &Node) -> Vec<String> {
    doc.get("disable")
        .and_then(|d| d.get("integrations"))
        .map(|l| {
            l.items()
                .iter()
                .filter_map(Node::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn truthy(n: Option<&Node>) -> bool {
    matches!(n.and_then(Node::as_str), Some("true" | "True" | "TRUE"))
}

/// Reads an integration file's first document.
pub fn read_integration(rel: &str, doc: &Node) -> Result<Integration> {
    let name = doc
        .str_at("name")
        .ok_or_else(|| Error::input(format!("{rel}:{}: integration without a name", doc.line)))?
        .to_string();
    let entries = doc.get("managed").map(Node::items).unwrap_or(&[]);
    let pr_check = doc.get("pr_check");
    let layout = layout_of(rel, entries, pr_check)?;
    let mut managed = Vec::new();
    for m in entries {
        let Some(ns) = m.get("namespace").and_then(Node::ref_path) else {
            return Err(Error::input(format!(
                "{rel}:{}: managed entry without a namespace $ref",
                m.line
            )));
        };
        let spec = m.get("spec");
        let sharding = match (layout, m.get("sharding")) {
            (Layout::Current, Some(s)) => Some(read_sharding(s, rel)?),
            (Layout::Current, None) => None,
            (Layout::Before2023, _) => read_old_sharding(m, rel)?,
        };
        managed.push(Managed {
            namespace_ref: norm_ref(ns),
            cron: spec
                .and_then(|s| s.str_at("cron"))
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            cache: truthy(spec.and_then(|s| s.get("cache"))),
            image_ref: spec
                .and_then(|s| s.str_at("imageRef"))
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            sharding,
            line: m.line,
        });
    }
    let pr_check = match (layout, pr_check) {
        (Layout::Before2023, Some(p)) if p.as_str().is_none() => {
            Some(match p.get("shardSpecOverride") {
                Some(l) => read_old_overrides(l, rel)?,
                None => Vec::new(),
            })
        }
        _ => None,
    };
    let check_run = check_run_of(doc.get("pr_check"));
    Ok(Integration {
        name,
        path: rel.to_string(),
        managed,
        layout,
        pr_check,
        check_run,
    })
}

/// The run the merge-request check makes of an integration: the first word of its `pr_check`
/// block's `cmd`; none without the block, or when it says `disabled: true`.
fn check_run_of(block: Option<&Node>) -> Option<String> {
    let block = block?;
    if truthy(block.get("disabled")) {
        return None;
    }
    let cmd = block.str_at("cmd")?;
    cmd.split_whitespace().next().map(str::to_string)
}

/// Warns of the overrides qontract-reconcile does not read: those of static sharding (from
/// 2023-04 on), `subSharding` outside `per-openshift-cluster`, and shards not named by `$ref`.
fn ignored_overrides(rel: &str, integration: &str, sh: &Sharding, warnings: &mut Vec<String>) {
    if sh.layout != Layout::Current {
        return;
    }
    for o in &sh.overrides {
        let why = match (sh.strategy, &o.shard) {
            (Strategy::Other, _) => continue,
            (Strategy::Static, _) => {
                "qontract-reconcile ignores this override: static sharding has no shardSpecOverrides (pin the entry with spec.imageRef)"
            }
            (_, ShardKey::Value(_)) => {
                "qontract-reconcile ignores this override: its shard is not a $ref to an account, cluster, OCM organization or DNS zone file"
            }
            _ if o.sub_shards.is_some() && sh.strategy != Strategy::PerOpenshiftCluster => {
                "qontract-reconcile ignores its subSharding: only per-openshift-cluster overrides have one"
            }
            _ => continue,
        };
        warnings.push(format!("{rel}:{}: {integration}: {why}", o.line));
    }
}

/// The layout an integration file keeps its sharding in; a file that writes both is an error
/// naming a line of each.
fn layout_of(rel: &str, entries: &[Node], pr_check: Option<&Node>) -> Result<Layout> {
    let mut current = None;
    let mut before = None;
    for m in entries {
        if let Some(s) = m.get("sharding") {
            current = current.or(Some(("sharding", s.line)));
        }
        let spec = m.get("spec");
        for (key, n) in [
            (
                "spec.shardingStrategy",
                spec.and_then(|s| s.get("shardingStrategy")),
            ),
            ("spec.shards", spec.and_then(|s| s.get("shards"))),
            ("shardSpecOverride", m.get("shardSpecOverride")),
        ] {
            if let Some(n) = n {
                before = before.or(Some((key, n.line)));
            }
        }
    }
    if let Some(n) = pr_check.and_then(|p| p.get("shardSpecOverride")) {
        before = before.or(Some(("pr_check.shardSpecOverride", n.line)));
    }
    match (current, before) {
        (Some((ck, cl)), Some((bk, bl))) => Err(Error::input(format!(
            "{rel}:{cl}: {ck} (the layout of 2023-04 on) and {rel}:{bl}: {bk} (the layout before) in one file; write one of them"
        ))),
        (None, Some(_)) => Ok(Layout::Before2023),
        _ => Ok(Layout::Current),
    }
}

/// The version a saas target's `ref` stands for: 7 characters of a commit, else the branch.
pub fn tag_of_ref(r: &str) -> String {
    if is_commit_hex(r) && r.len() > 7 {
        short_id(r).to_string()
    } else {
        r.to_string()
    }
}

fn is_manager_template(rt: &Node, repo: &str) -> bool {
    let url = rt.str_at("url").map(normalize_repo_url);
    if url != Some(repo) {
        return false;
    }
    rt.str_at("path")
        .is_some_and(|p| p.contains("qontract-manager"))
        || rt
            .str_at("name")
            .is_some_and(|n| n.contains("qontract-manager"))
}

impl Model {
    /// Loads the model of `checkout`: one walk for the files of the schemas (through the scan
    /// cache under `cache_dir`, when given), then a parallel parse.
    pub fn load(checkout: &Checkout, cache_dir: Option<&std::path::Path>) -> Result<Model> {
        let comp = checkout.component(RECONCILE)?;
        let needles: Vec<String> = [
            NAMESPACE_SCHEMA,
            CLUSTER_SCHEMA,
            ENVIRONMENT_SCHEMA,
            PRODUCT_ENVIRONMENT_SCHEMA,
            ACCOUNT_SCHEMA,
            OCM_SCHEMA,
            CLOUDFLARE_ACCOUNT_SCHEMA,
            DNS_ZONE_SCHEMA,
            INTEGRATION_SCHEMA,
            // Saas files of every schema version.
            SAAS_SCHEMA_PREFIX,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let needles = crate::discovery::Needles {
            shared: needles,
            alone: Vec::new(),
        };
        let cache =
            cache_dir.map(|d| crate::discovery::session::cache_file(d, &checkout.root, &needles));
        let out = crate::discovery::walk::scan(&checkout.root, &needles.shared, cache.as_deref())?;
        let files: Vec<(String, Vec<u8>)> = out
            .files
            .into_iter()
            .filter(|f| f.rel.starts_with("data/"))
            .map(|f| (f.rel, f.bytes))
            .collect();
        let parsed = parse_all(&files)?;
        Model::from_docs(comp, &parsed)
    }

    /// Builds the model from parsed files: (repository-relative path, first document).
    pub fn from_docs(comp: &Component, files: &[(String, Node)]) -> Result<Model> {
        let mut m = Model {
            image: comp.image.clone(),
            env_tag: comp.tag.clone(),
            ..Model::default()
        };
        // Environment path -> (name, `labels.type`).
        let mut envs: HashMap<String, (String, Option<String>)> = HashMap::new();
        let mut clusters: HashMap<String, String> = HashMap::new();
        let mut raw_ns: Vec<(String, String, Option<String>, Option<String>)> = Vec::new();
        let mut saas: Vec<&Node> = Vec::new();
        let mut zones = Vec::new();
        let mut cloudflare_accounts: HashMap<String, String> = HashMap::new();
        for (rel, doc) in files {
            let Some(path) = data_rel(rel) else { continue };
            let name = doc.str_at("name").map(str::to_string);
            match doc.str_at("$schema") {
                Some(NAMESPACE_SCHEMA) => raw_ns.push((
                    path,
                    name.unwrap_or_default(),
                    doc.get("cluster").and_then(Node::ref_path).map(norm_ref),
                    doc.get("environment")
                        .and_then(Node::ref_path)
                        .map(norm_ref),
                )),
                Some(ENVIRONMENT_SCHEMA | PRODUCT_ENVIRONMENT_SCHEMA) => {
                    let kind = doc
                        .get("labels")
                        .and_then(|l| l.str_at("type"))
                        .map(str::to_string);
                    envs.insert(path, (name.unwrap_or_default(), kind));
                }
                Some(CLUSTER_SCHEMA) => {
                    let name = name.unwrap_or_default();
                    clusters.insert(path.clone(), name.clone());
                    if let Some(url) = doc.str_at("prometheusUrl").filter(|u| !u.trim().is_empty())
                    {
                        m.prometheus_urls
                            .insert(name.clone(), url.trim().to_string());
                    }
                    m.clusters.push(Target {
                        name,
                        path,
                        org_id: None,
                        zone: None,
                        disabled: disabled(doc),
                    });
                }
                Some(ACCOUNT_SCHEMA) => m.accounts.push(Target {
                    name: name.unwrap_or_default(),
                    path,
                    org_id: None,
                    zone: None,
                    disabled: disabled(doc),
                }),
                Some(OCM_SCHEMA) => {
                    if let Some(org) = doc.str_at("orgId") {
                        m.ocm_orgs.push(Target {
                            name: name.unwrap_or_default(),
                            path,
                            org_id: Some(org.to_string()),
                            zone: None,
                            disabled: disabled(doc),
                        });
                    }
                }
                Some(CLOUDFLARE_ACCOUNT_SCHEMA) => {
                    cloudflare_accounts.insert(path, name.unwrap_or_default());
                }
                Some(DNS_ZONE_SCHEMA) => zones.push(read_zone(rel, path, doc)),
                Some(INTEGRATION_SCHEMA) => match read_integration(rel, doc) {
                    Ok(i) => {
                        for e in &i.managed {
                            if let Some(sh) = e
                                .sharding
                                .as_ref()
                                .filter(|sh| sh.strategy == Strategy::Other)
                            {
                                m.warnings.push(format!(
                                    "{rel}:{}: sharding strategy {:?} is not known; the objects of {} in data/{} are not listed",
                                    sh.line, sh.strategy_name, i.name, e.namespace_ref
                                ));
                            }
                            if let Some(sh) = e.sharding.as_ref() {
                                ignored_overrides(rel, &i.name, sh, &mut m.warnings);
                            }
                        }
                        m.integrations.push(i);
                    }
                    Err(e) => {
                        let why = format!("{e}; integration left out");
                        if let Some(n) = doc.str_at("name") {
                            m.left_out.push((n.to_string(), why.clone()));
                        }
                        m.warnings.push(why);
                    }
                },
                Some(s) if is_saas_schema(s) => saas.push(doc),
                _ => {}
            }
        }
        // The zones are the model's business only when an integration shards over them.
        let mut zone_warnings = Vec::new();
        m.dns_zones = resolve_zones(zones, &cloudflare_accounts, &mut zone_warnings);
        let by_zone = |i: &&Integration| {
            i.managed.iter().any(|e| {
                e.sharding
                    .as_ref()
                    .is_some_and(|sh| sh.strategy == Strategy::PerCloudflareDnsZone)
            })
        };
        if m.integrations.iter().any(|i| by_zone(&i)) {
            m.warnings.append(&mut zone_warnings);
            for i in m.integrations.iter().filter(by_zone) {
                let w = m.zone_override_warnings(i);
                m.warnings.extend(w);
            }
        }
        for (path, name, cluster, env) in raw_ns {
            let env = env.and_then(|e| envs.get(&e).cloned());
            m.namespaces.insert(
                path,
                Namespace {
                    name,
                    cluster: cluster.and_then(|c| clusters.get(&c).cloned()),
                    environment_type: env.as_ref().and_then(|(_, t)| t.clone()),
                    environment: env.map(|(n, _)| n),
                },
            );
        }
        let repo = comp.repo_normalized();
        for doc in saas {
            for rt in doc.get("resourceTemplates").map(Node::items).unwrap_or(&[]) {
                if !is_manager_template(rt, repo) {
                    continue;
                }
                for t in rt.get("targets").map(Node::items).unwrap_or(&[]) {
                    let (Some(ns), Some(r)) =
                        (t.get("namespace").and_then(Node::ref_path), t.str_at("ref"))
                    else {
                        continue;
                    };
                    if let Some(env) = m
                        .namespaces
                        .get(&norm_ref(ns))
                        .and_then(|n| n.environment.clone())
                    {
                        m.manager_tags.entry(env).or_insert_with(|| tag_of_ref(r));
                    }
                }
            }
        }
        m.integrations.sort_by(|a, b| a.name.cmp(&b.name));
        m.accounts.sort_by(|a, b| a.name.cmp(&b.name));
        m.clusters.sort_by(|a, b| a.name.cmp(&b.name));
        m.ocm_orgs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(m)
    }
}

/// Parses the first document of each file, on all cores.
pub fn parse_all(files: &[(String, Vec<u8>)]) -> Result<Vec<(String, Node)>> {
    let parts = crate::util::on_all_cores(files, |part| vec![parse_part(part)]);
    let mut out = Vec::with_capacity(files.len());
    for r in parts {
        out.extend(r?);
    }
    Ok(out)
}

fn parse_part(part: &[(String, Vec<u8>)]) -> Result<Vec<(String, Node)>> {
    let mut out = Vec::new();
    for (rel, bytes) in part {
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        if yaml::looks_like_template(text) {
            continue;
        }
        let docs = yaml::parse(text)
            .map_err(|e| Error::input(format!("{rel}:{e} (YAML syntax error)")))?;
        if let Some(d) = docs.into_iter().next() {
            out.push((rel.clone(), d));
        }
    }
    Ok(out)
}
