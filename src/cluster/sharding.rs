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
            _ => None,
        }
    }

    /// Whether an override names its shard by `$ref`.
    pub fn by_ref(self) -> bool {
        matches!(
            self,
            Strategy::PerAwsAccount | Strategy::PerOpenshiftCluster
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Static => "static",
            Strategy::PerAwsAccount => "per-aws-account",
            Strategy::PerOpenshiftCluster => "per-openshift-cluster",
            Strategy::PerOcmOrganization => "per-ocm-organization",
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
    /// `subSharding` with the static strategy: the number of sub-shards.
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
    /// The shard's name: account or cluster name, lower-case org id, static index; sub-shards
    /// append `-<i>`.
    pub name: String,
    /// The name of the shard its override is written for (without a sub-shard index).
    pub parent: String,
    /// The namespace (name) of the managed entry.
    pub namespace: String,
    /// The `$ref` path of the account or cluster, for strategies that name shards by `$ref`.
    pub target_ref: Option<String>,
    /// The override's `imageRef`.
    pub pinned: Option<String>,
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
            Some(ss) if ss.str_at("strategy").unwrap_or("static") == "static" => {
                ss.str_at("shards").and_then(|v| v.parse().ok())
            }
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
    /// The targets sharded over by a strategy, without those that disable `integration`.
    fn targets(&self, strategy: Strategy, integration: &str) -> Vec<&Target> {
        let all = match strategy {
            Strategy::PerAwsAccount => &self.accounts,
            Strategy::PerOpenshiftCluster => &self.clusters,
            Strategy::PerOcmOrganization => &self.ocm_orgs,
            Strategy::Static | Strategy::Other => return Vec::new(),
        };
        all.iter()
            .filter(|t| !t.disabled.iter().any(|d| d == integration))
            .collect()
    }

    /// The override of a target or static shard, if any.
    pub(super) fn override_for<'a>(
        sh: &'a Sharding,
        target: Option<&Target>,
        index: Option<u32>,
    ) -> Option<&'a Override> {
        sh.overrides
            .iter()
            .find(|o| match (&o.shard, target, index) {
                (ShardKey::Ref(r), Some(t), _) => *r == t.path,
                (ShardKey::Value(v), Some(t), _) => {
                    Some(v.as_str()) == t.org_id.as_deref()
                        || t.org_id
                            .as_deref()
                            .is_some_and(|o| o.eq_ignore_ascii_case(v))
                        || *v == t.name
                }
                (ShardKey::Value(v), None, Some(i)) => v.trim().parse::<u32>().ok() == Some(i),
                _ => false,
            })
    }

    /// The shards of one managed entry (empty for an unsharded or cron entry).
    pub fn entry_shards(&self, integration: &str, m: &Managed) -> Vec<Shard> {
        self.shards_of(integration, m, true)
    }

    /// [`Model::entry_shards`]; without `full`, only the names and pins (no namespace and
    /// `$ref` strings: `deployments` builds many thousands of objects).
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
        let mut push = |parent: String, target_ref: Option<String>, o: Option<&Override>| {
            let pinned = o.and_then(|o| o.image_ref.clone());
            match o.and_then(|o| o.sub_shards).filter(|n| *n > 1) {
                Some(n) => {
                    for i in 0..n {
                        out.push(Shard {
                            name: format!("{parent}-{i}"),
                            parent: parent.clone(),
                            namespace: namespace.clone(),
                            target_ref: target_ref.clone(),
                            pinned: pinned.clone(),
                        });
                    }
                }
                None => {
                    let (name, parent) = if full {
                        (parent.clone(), parent)
                    } else {
                        (parent, String::new())
                    };
                    out.push(Shard {
                        name,
                        parent,
                        namespace: namespace.clone(),
                        target_ref,
                        pinned,
                    })
                }
            }
        };
        match sh.strategy {
            Strategy::Static => {
                if sh.shards > 1 {
                    for i in 0..sh.shards {
                        push(i.to_string(), None, Self::override_for(sh, None, Some(i)));
                    }
                }
            }
            s => {
                for t in self.targets(s, integration) {
                    let name = match &t.org_id {
                        Some(o) if s == Strategy::PerOcmOrganization => o.to_lowercase(),
                        _ => t.name.clone(),
                    };
                    let target_ref = (full && s.by_ref()).then(|| format!("/{}", t.path));
                    push(name, target_ref, Self::override_for(sh, Some(t), None));
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
