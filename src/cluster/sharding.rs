//! Sharding: the strategies, the `shardSpecOverrides` entries, and the shards of a managed entry
//! (their names, the suffixes of their objects, their pins).

use super::model::{norm_ref, Managed, Model, Target};
use crate::error::{Error, Result};
use crate::yaml::Node;

/// A sharding strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    Static,
    PerAwsAccount,
    PerOpenshiftCluster,
    PerOcmOrganization,
    /// One shard per Cloudflare DNS zone (`/cloudflare/dns-zone-1.yml` files).
    PerCloudflareDnsZone,
    /// A strategy this tool does not know (its shards are not listed; see `Sharding::strategy_name`).
    Other,
}

impl Strategy {
    fn parse(s: &str) -> Option<Strategy> {
        match s {
            "static" => Some(Strategy::Static),
            "per-aws-account" => Some(Strategy::PerAwsAccount),
            "per-openshift-cluster" => Some(Strategy::PerOpenshiftCluster),
            "per-ocm-organization" => Some(Strategy::PerOcmOrganization),
            "per-cloudflare-dns-zone" => Some(Strategy::PerCloudflareDnsZone),
            _ => None,
        }
    }

    /// Whether an override names its shard by `$ref` (to an account, cluster, OCM organization
    /// or DNS zone file; qontract-reconcile matches it by that file's `name`, a zone by its
    /// `zone` and `identifier`).
    pub fn by_ref(self) -> bool {
        matches!(
            self,
            Strategy::PerAwsAccount
                | Strategy::PerOpenshiftCluster
                | Strategy::PerOcmOrganization
                | Strategy::PerCloudflareDnsZone
        )
    }

    /// The argument that gives a shard its key (`--account-name`, `--cluster-name`, `--org-id`,
    /// `--zone-name`).
    pub fn key_arg(self) -> Option<&'static str> {
        match self {
            Strategy::PerAwsAccount => Some("--account-name"),
            Strategy::PerOpenshiftCluster => Some("--cluster-name"),
            Strategy::PerOcmOrganization => Some("--org-id"),
            Strategy::PerCloudflareDnsZone => Some("--zone-name"),
            Strategy::Static | Strategy::Other => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Static => "static",
            Strategy::PerAwsAccount => "per-aws-account",
            Strategy::PerOpenshiftCluster => "per-openshift-cluster",
            Strategy::PerOcmOrganization => "per-ocm-organization",
            Strategy::PerCloudflareDnsZone => "per-cloudflare-dns-zone",
            Strategy::Other => "other",
        }
    }
}

/// How an override names its shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardKey {
    /// A `$ref` path, normalized without the leading `/`.
    Ref(String),
    /// A plain value (a static shard's number, an organization's id or name).
    Value(String),
}

/// One `shardSpecOverrides` entry.
#[derive(Debug, Clone)]
pub struct Override {
    pub shard: ShardKey,
    pub image_ref: Option<String>,
    /// `subSharding` with the static strategy: the number of sub-shards (1 when it gives none).
    /// qontract-reconcile applies it to `per-openshift-cluster` overrides only.
    pub sub_shards: Option<u32>,
    pub line: usize,
}

/// Where a file keeps its sharding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// From 2023-04: `sharding: {strategy, shards, shardSpecOverrides: [{shard, imageRef}]}`.
    Current,
    /// Before 2023-04: `spec.shardingStrategy`, `spec.shards`, and beside `spec` a
    /// `shardSpecOverride` list of `{shardingStrategy, awsAccount: {$ref}, imageRef}`, written
    /// again under the file's `pr_check`.
    Before2023,
}

/// The `sharding` of a managed entry.
#[derive(Debug, Clone)]
pub struct Sharding {
    pub layout: Layout,
    pub strategy: Strategy,
    /// The strategy as written.
    pub strategy_name: String,
    /// The line of the `sharding` mapping.
    pub line: usize,
    /// `shards` of the static strategy.
    pub shards: u32,
    pub overrides: Vec<Override>,
}

/// A shard of a managed entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shard {
    /// The shard's name: account or cluster name, lower-case org id, `<account>-<identifier>` of
    /// a DNS zone, static index; sub-shards append `-<i>`.
    pub name: String,
    /// The name of the shard its override is written for (without a sub-shard index).
    pub parent: String,
    /// The namespace (name) of the managed entry.
    pub namespace: String,
    /// The `$ref` path of the account, cluster, organization or DNS zone, for strategies that name
    /// shards by `$ref`.
    pub target_ref: Option<String>,
    /// The override's `imageRef`.
    pub pinned: Option<String>,
    /// The arguments the shard runs with: `--account-name <name>`, `--cluster-name <name>`,
    /// `--org-id <orgId>` (as written), `--zone-name <identifier>`, and
    /// `--shard-id <i> --shards <n>` for static shards and sub-shards.
    pub args: Vec<String>,
}

impl Shard {
    /// The shard's key as its argument names it (`--account-name`, `--cluster-name`, `--org-id`,
    /// `--zone-name`): an OCM organization's `orgId` as written, a DNS zone's `identifier`; the
    /// shard's name otherwise.
    pub fn key(&self) -> &str {
        match self.args.as_slice() {
            [flag, key, ..]
                if matches!(
                    flag.as_str(),
                    "--account-name" | "--cluster-name" | "--org-id" | "--zone-name"
                ) =>
            {
                key
            }
            _ => &self.parent,
        }
    }
}

/// Reads a `shardSpecOverrides` entry's shard key.
pub fn shard_key(n: &Node) -> Option<ShardKey> {
    if let Some(r) = n.ref_path() {
        return Some(ShardKey::Ref(norm_ref(r)));
    }
    if let Some(s) = n.as_str() {
        return Some(ShardKey::Value(s.to_string()));
    }
    // `{name: ...}` or `{orgId: ...}` forms.
    n.str_at("orgId")
        .or_else(|| n.str_at("name"))
        .map(|s| ShardKey::Value(s.to_string()))
}

/// Reads a `sharding` mapping.
pub fn read_sharding(n: &Node, rel: &str) -> Result<Sharding> {
    let s = n.str_at("strategy").unwrap_or("static");
    let strategy = Strategy::parse(s).unwrap_or(Strategy::Other);
    let shards = match n.str_at("shards") {
        Some(v) => v
            .parse()
            .map_err(|_| Error::input(format!("{rel}:{}: shards {v:?} is not a number", n.line)))?,
        None => 1,
    };
    let mut overrides = Vec::new();
    for o in n.get("shardSpecOverrides").map(Node::items).unwrap_or(&[]) {
        let Some(shard) = o.get("shard").and_then(shard_key) else {
            return Err(Error::input(format!(
                "{rel}:{}: shard override without a shard",
                o.line
            )));
        };
        let sub_shards = match o.get("subSharding") {
            Some(ss) if ss.str_at("strategy") == Some("static") => match ss.str_at("shards") {
                Some(v) => Some(v.parse().map_err(|_| {
                    Error::input(format!("{rel}:{}: shards {v:?} is not a number", ss.line))
                })?),
                None => Some(1),
            },
            _ => None,
        };
        overrides.push(Override {
            shard,
            image_ref: o.str_at("imageRef").map(str::to_string),
            sub_shards,
            line: o.line,
        });
    }
    Ok(Sharding {
        layout: Layout::Current,
        strategy,
        strategy_name: s.to_string(),
        line: n.line,
        shards,
        overrides,
    })
}

/// Reads a `shardSpecOverride` list of the layout before 2023-04: each entry names its account by
/// `awsAccount: {$ref}` (or a `shard`).
pub fn read_old_overrides(list: &Node, rel: &str) -> Result<Vec<Override>> {
    let mut out = Vec::new();
    for o in list.items() {
        let Some(shard) = o
            .get("awsAccount")
            .or_else(|| o.get("shard"))
            .and_then(shard_key)
        else {
            return Err(Error::input(format!(
                "{rel}:{}: shardSpecOverride entry without an awsAccount",
                o.line
            )));
        };
        out.push(Override {
            shard,
            image_ref: o.str_at("imageRef").map(str::to_string),
            sub_shards: None,
            line: o.line,
        });
    }
    Ok(out)
}

/// Reads the sharding of a managed entry of the layout before 2023-04 (`spec.shardingStrategy`,
/// `spec.shards`, `shardSpecOverride` beside `spec`); `None` when it says nothing of sharding.
pub fn read_old_sharding(entry: &Node, rel: &str) -> Result<Option<Sharding>> {
    let spec = entry.get("spec");
    let strategy_node = spec.and_then(|s| s.get("shardingStrategy"));
    let shards_node = spec.and_then(|s| s.get("shards"));
    let list = entry.get("shardSpecOverride");
    let Some(first) = strategy_node.or(shards_node).or(list) else {
        return Ok(None);
    };
    let s = strategy_node.and_then(Node::as_str).unwrap_or("static");
    let shards = match shards_node.and_then(Node::as_str) {
        Some(v) => v.parse().map_err(|_| {
            Error::input(format!(
                "{rel}:{}: shards {v:?} is not a number",
                first.line
            ))
        })?,
        None => 1,
    };
    Ok(Some(Sharding {
        layout: Layout::Before2023,
        strategy: Strategy::parse(s).unwrap_or(Strategy::Other),
        strategy_name: s.to_string(),
        line: strategy_node.map_or(first.line, |n| n.line),
        shards,
        overrides: match list {
            Some(l) => read_old_overrides(l, rel)?,
            None => Vec::new(),
        },
    }))
}

impl Model {
    /// Every target of a strategy (accounts, clusters, OCM organizations or DNS zones).
    fn all_targets(&self, strategy: Strategy) -> &[Target] {
        match strategy {
            Strategy::PerAwsAccount => &self.accounts,
            Strategy::PerOpenshiftCluster => &self.clusters,
            Strategy::PerOcmOrganization => &self.ocm_orgs,
            Strategy::PerCloudflareDnsZone => &self.dns_zones,
            Strategy::Static | Strategy::Other => &[],
        }
    }

    /// The targets sharded over by a strategy, without those that disable `integration`.
    fn targets(&self, strategy: Strategy, integration: &str) -> Vec<&Target> {
        self.all_targets(strategy)
            .iter()
            .filter(|t| !t.disabled.iter().any(|d| d == integration))
            .collect()
    }

    /// The override of a target: qontract-reconcile matches an override's `shard` (a `$ref`
    /// resolved to its file) by the file's `name`; a DNS zone's override by the
    /// `<zone>-<identifier>` of the zone file it names, against the shard's
    /// `<account>-<identifier>`. A shard written as a plain value names no file, and matches
    /// nothing.
    pub(super) fn override_for<'a>(
        &self,
        sh: &'a Sharding,
        target: &Target,
    ) -> Option<&'a Override> {
        sh.overrides.iter().find(|o| match &o.shard {
            ShardKey::Ref(r) if sh.strategy == Strategy::PerCloudflareDnsZone => {
                self.zone_override_key(r).as_deref() == Some(target.name.as_str())
            }
            ShardKey::Ref(r) => {
                *r == target.path
                    || self
                        .all_targets(sh.strategy)
                        .iter()
                        .any(|t| t.path == *r && t.name == target.name)
            }
            ShardKey::Value(_) => false,
        })
    }

    /// The override of static shard `index`: only the layout before 2023-04 has them (a
    /// `shard: <index>` entry); from 2023-04 on, static sharding has no `shardSpecOverrides`.
    pub(super) fn static_override(sh: &Sharding, index: u32) -> Option<&Override> {
        if sh.layout != Layout::Before2023 {
            return None;
        }
        sh.overrides.iter().find(|o| match &o.shard {
            ShardKey::Value(v) => v.trim().parse::<u32>().ok() == Some(index),
            ShardKey::Ref(_) => false,
        })
    }

    /// The shards of one managed entry (empty for an unsharded or cron entry, and for a single
    /// static shard).
    pub fn entry_shards(&self, integration: &str, m: &Managed) -> Vec<Shard> {
        self.shards_of(integration, m, true)
    }

    /// [`Model::entry_shards`]; without `full`, only the names, pins and arguments (no namespace
    /// and `$ref` strings: `deployments` builds many thousands of objects).
    pub(super) fn shards_of(&self, integration: &str, m: &Managed, full: bool) -> Vec<Shard> {
        let Some(sh) = &m.sharding else {
            return Vec::new();
        };
        if m.cron.is_some() {
            return Vec::new();
        }
        let namespace = if full {
            self.namespace_of(m).name
        } else {
            String::new()
        };
        let mut out = Vec::new();
        let shard = |name: String, parent: String, target_ref, pinned, args| Shard {
            name,
            parent,
            namespace: namespace.clone(),
            target_ref,
            pinned,
            args,
        };
        match sh.strategy {
            Strategy::Static => {
                if sh.shards > 1 {
                    for i in 0..sh.shards {
                        let pinned = Self::static_override(sh, i).and_then(|o| o.image_ref.clone());
                        let args = shard_args(&[], i, sh.shards);
                        out.push(shard(i.to_string(), i.to_string(), None, pinned, args));
                    }
                }
            }
            Strategy::Other => {}
            s => {
                let Some(flag) = s.key_arg() else {
                    return out;
                };
                for t in self.targets(s, integration) {
                    let (name, key) = match (&t.org_id, &t.zone) {
                        (Some(o), _) if s == Strategy::PerOcmOrganization => {
                            (o.to_lowercase(), o.clone())
                        }
                        (_, Some(z)) if s == Strategy::PerCloudflareDnsZone => {
                            (t.name.clone(), z.identifier.clone())
                        }
                        _ => (t.name.clone(), t.name.clone()),
                    };
                    let base_args = vec![flag.to_string(), key];
                    let target_ref = (full && s.by_ref()).then(|| format!("/{}", t.path));
                    let o = self.override_for(sh, t);
                    let pinned = o.and_then(|o| o.image_ref.clone());
                    // Only `per-openshift-cluster` overrides split a shard into sub-shards.
                    let subs = o
                        .and_then(|o| o.sub_shards)
                        .filter(|_| s == Strategy::PerOpenshiftCluster);
                    match subs {
                        Some(n) => {
                            for i in 0..n {
                                out.push(shard(
                                    format!("{name}-{i}"),
                                    name.clone(),
                                    target_ref.clone(),
                                    pinned.clone(),
                                    shard_args(&base_args, i, n),
                                ));
                            }
                        }
                        None => out.push(shard(name.clone(), name, target_ref, pinned, base_args)),
                    }
                }
            }
        }
        out
    }

    /// The shards of an integration over all its managed entries.
    pub fn shards(&self, integration: &str) -> Result<Vec<Shard>> {
        let i = self.integration(integration)?;
        Ok(i.managed
            .iter()
            .flat_map(|m| self.entry_shards(&i.name, m))
            .collect())
    }
}

/// `base` followed by `--shard-id <i> --shards <n>`.
fn shard_args(base: &[String], i: u32, n: u32) -> Vec<String> {
    let mut v = base.to_vec();
    v.extend([
        "--shard-id".to_string(),
        i.to_string(),
        "--shards".to_string(),
        n.to_string(),
    ]);
    v
}
