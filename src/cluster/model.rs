//! Where integrations run: namespaces, clusters, accounts, integrations and their shards, the image each shard runs.

use std::collections::{BTreeMap, HashMap};

use crate::checkout::{normalize_repo_url, Checkout, Component};
use crate::error::{Error, Result};
use crate::locations::SAAS_SCHEMA;
use crate::util::is_commit_hex;
use crate::yaml::{self, Node};

pub const NAMESPACE_SCHEMA: &str = "/openshift/namespace-1.yml";
pub const CLUSTER_SCHEMA: &str = "/openshift/cluster-1.yml";
pub const ENVIRONMENT_SCHEMA: &str = "/app-sre/environment-1.yml";
pub const ACCOUNT_SCHEMA: &str = "/aws/account-1.yml";
pub const OCM_SCHEMA: &str = "/openshift/openshift-cluster-manager-1.yml";
pub const INTEGRATION_SCHEMA: &str = "/app-sre/integration-1.yml";

/// The component whose integrations the model describes.
pub const RECONCILE: &str = "qontract-reconcile";

/// How an integration's object runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ObjectKind {
    Deployment,
    StatefulSet,
    CronJob,
}

/// One object the integrations-manager runs: an integration's shard in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Deployment {
    pub namespace: String,
    pub cluster: Option<String>,
    pub environment: Option<String>,
    pub integration: String,
    pub kind: ObjectKind,
    /// `qontract-reconcile-<integration><suffix>`.
    pub name: String,
    /// The shard's name (the suffix without its dash), `None` for a single shard.
    pub shard: Option<String>,
    /// `<IMAGE>:<tag>`.
    pub image: String,
    /// The shard runs an `imageRef` of its own (a shard override or the entry's `spec.imageRef`).
    pub pinned: bool,
    /// That `imageRef`.
    pub pin_ref: Option<String>,
}

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

/// The `sharding` of a managed entry.
#[derive(Debug, Clone)]
pub struct Sharding {
    pub strategy: Strategy,
    /// The strategy as written.
    pub strategy_name: String,
    /// The line of the `sharding` mapping.
    pub line: usize,
    /// `shards` of the static strategy.
    pub shards: u32,
    pub overrides: Vec<Override>,
}

/// One `managed[]` entry of an integration.
#[derive(Debug, Clone)]
pub struct Managed {
    /// Normalized `$ref` of the namespace.
    pub namespace_ref: String,
    pub cron: Option<String>,
    pub cache: bool,
    pub image_ref: Option<String>,
    pub sharding: Option<Sharding>,
    pub line: usize,
}

/// An integration file.
#[derive(Debug, Clone)]
pub struct Integration {
    pub name: String,
    /// Repository-relative path.
    pub path: String,
    pub managed: Vec<Managed>,
}

/// A namespace file.
#[derive(Debug, Clone)]
pub struct Namespace {
    pub name: String,
    pub cluster: Option<String>,
    pub environment: Option<String>,
}

/// Something shards are cut by: an AWS account, a cluster, an OCM organization.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    /// Normalized `$ref` path.
    pub path: String,
    /// `orgId` of an OCM organization.
    pub org_id: Option<String>,
    pub disabled: Vec<String>,
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

/// A run of the pr-check for an integration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PrCheckRun {
    /// `<integration>` or `<integration>_override_<imageRef>`.
    pub name: String,
    pub integration: String,
    pub image: String,
    pub args: Vec<String>,
    /// The shards the run covers (override runs) or leaves out (the main run).
    pub shards: Vec<String>,
}

/// One integration's shards in a promotion: those that move and those that stay pinned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShardMove {
    pub integration: String,
    pub moving: Vec<String>,
    pub staying: Vec<StayingShard>,
}

/// A shard that keeps its own `imageRef` through a promotion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StayingShard {
    pub shard: String,
    pub image_ref: String,
}

/// Everything the model knows about where integrations run.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// `RECONCILE_IMAGE`.
    pub image: String,
    /// `RECONCILE_IMAGE_TAG`.
    pub env_tag: String,
    pub namespaces: HashMap<String, Namespace>,
    pub clusters: Vec<Target>,
    pub accounts: Vec<Target>,
    pub ocm_orgs: Vec<Target>,
    pub integrations: Vec<Integration>,
    /// The tag the integrations-manager runs, per environment name.
    pub manager_tags: BTreeMap<String, String>,
    /// What the model could not read (`path:line: why`): integrations it left out, entries whose
    /// shards it cannot list.
    pub warnings: Vec<String>,
}

/// A `$ref` path without its leading `/`.
pub fn norm_ref(r: &str) -> String {
    r.trim().trim_start_matches('/').to_string()
}

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
        strategy,
        strategy_name: s.to_string(),
        line: n.line,
        shards,
        overrides,
    })
}

/// Reads an integration file's first document.
pub fn read_integration(rel: &str, doc: &Node) -> Result<Integration> {
    let name = doc
        .str_at("name")
        .ok_or_else(|| Error::input(format!("{rel}:{}: integration without a name", doc.line)))?
        .to_string();
    let mut managed = Vec::new();
    for m in doc.get("managed").map(Node::items).unwrap_or(&[]) {
        let Some(ns) = m.get("namespace").and_then(Node::ref_path) else {
            return Err(Error::input(format!(
                "{rel}:{}: managed entry without a namespace $ref",
                m.line
            )));
        };
        let spec = m.get("spec");
        let sharding = match m.get("sharding") {
            Some(s) => Some(read_sharding(s, rel)?),
            None => None,
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
    Ok(Integration {
        name,
        path: rel.to_string(),
        managed,
    })
}

/// The version a saas target's `ref` stands for: 7 characters of a commit, else the branch.
pub fn tag_of_ref(r: &str) -> String {
    if is_commit_hex(r) && r.len() > 7 {
        r[..7].to_string()
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

/// ` (did you mean a, b?)` with the names of `known` close to `name`, or nothing.
pub fn suggest(name: &str, known: &[&str]) -> String {
    // Names that contain the given one come first, then the closest by edit distance.
    let mut near: Vec<(bool, usize, &str)> = known
        .iter()
        .map(|k| (!k.contains(name), edit_distance(name, k), *k))
        .filter(|(far, d, _)| *d <= (name.len() / 3).max(1) || !far)
        .collect();
    near.sort();
    near.dedup();
    if near.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = near.iter().take(5).map(|(_, _, k)| *k).collect();
        format!(" (did you mean {}?)", names.join(", "))
    }
}

/// Levenshtein distance.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

/// "unknown X" with close names.
pub fn unknown(what: &str, name: &str, known: &[&str]) -> Error {
    Error::input(format!("unknown {what} {name}{}", suggest(name, known)))
}

impl Model {
    /// Loads the model of `checkout`: one walk for the files of the schemas, then a parallel parse.
    pub fn load(checkout: &Checkout) -> Result<Model> {
        let comp = checkout.component(RECONCILE)?;
        let needles: Vec<String> = [
            NAMESPACE_SCHEMA,
            CLUSTER_SCHEMA,
            ENVIRONMENT_SCHEMA,
            ACCOUNT_SCHEMA,
            OCM_SCHEMA,
            INTEGRATION_SCHEMA,
            SAAS_SCHEMA,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = crate::scan::scan(&checkout.root, &needles, None)?;
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
        let mut envs: HashMap<String, String> = HashMap::new();
        let mut clusters: HashMap<String, String> = HashMap::new();
        let mut raw_ns: Vec<(String, String, Option<String>, Option<String>)> = Vec::new();
        let mut saas: Vec<&Node> = Vec::new();
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
                Some(ENVIRONMENT_SCHEMA) => {
                    envs.insert(path, name.unwrap_or_default());
                }
                Some(CLUSTER_SCHEMA) => {
                    let name = name.unwrap_or_default();
                    clusters.insert(path.clone(), name.clone());
                    m.clusters.push(Target {
                        name,
                        path,
                        org_id: None,
                        disabled: disabled(doc),
                    });
                }
                Some(ACCOUNT_SCHEMA) => m.accounts.push(Target {
                    name: name.unwrap_or_default(),
                    path,
                    org_id: None,
                    disabled: disabled(doc),
                }),
                Some(OCM_SCHEMA) => {
                    if let Some(org) = doc.str_at("orgId") {
                        m.ocm_orgs.push(Target {
                            name: name.unwrap_or_default(),
                            path,
                            org_id: Some(org.to_string()),
                            disabled: disabled(doc),
                        });
                    }
                }
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
                        }
                        m.integrations.push(i);
                    }
                    Err(e) => m.warnings.push(format!("{e}; integration left out")),
                },
                Some(SAAS_SCHEMA) => saas.push(doc),
                _ => {}
            }
        }
        for (path, name, cluster, env) in raw_ns {
            m.namespaces.insert(
                path,
                Namespace {
                    name,
                    cluster: cluster.and_then(|c| clusters.get(&c).cloned()),
                    environment: env.and_then(|e| envs.get(&e).cloned()),
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

    /// The integration named `name`, or an error naming close ones.
    pub fn integration(&self, name: &str) -> Result<&Integration> {
        self.integrations
            .iter()
            .find(|i| i.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.integrations.iter().map(|i| i.name.as_str()).collect();
                unknown("integration", name, &known)
            })
    }

    /// The namespace a managed entry runs in (a placeholder named by its path when unknown).
    pub fn namespace_of(&self, m: &Managed) -> Namespace {
        self.namespaces
            .get(&m.namespace_ref)
            .cloned()
            .unwrap_or_else(|| Namespace {
                name: m.namespace_ref.clone(),
                cluster: None,
                environment: None,
            })
    }

    /// Whether the namespace filter `want` (a name or a `$ref` path) selects `m`.
    pub fn namespace_matches(&self, m: &Managed, want: &str) -> bool {
        norm_ref(want) == m.namespace_ref || self.namespace_of(m).name == want
    }

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
    fn override_for<'a>(
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
    fn shards_of(&self, integration: &str, m: &Managed, full: bool) -> Vec<Shard> {
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

    /// The tag the integrations-manager deploying into `env` runs (the `.env` one when none does).
    pub fn manager_tag(&self, env: Option<&str>) -> &str {
        env.and_then(|e| self.manager_tags.get(e))
            .map(String::as_str)
            .unwrap_or(&self.env_tag)
    }

    /// Every object of the selected integrations and namespaces.
    pub fn deployments(
        &self,
        integration: Option<&str>,
        namespace: Option<&str>,
    ) -> Vec<Deployment> {
        let mut out = Vec::new();
        for i in &self.integrations {
            if integration.is_some_and(|n| n != i.name) {
                continue;
            }
            for m in &i.managed {
                if namespace.is_some_and(|n| !self.namespace_matches(m, n)) {
                    continue;
                }
                self.entry_deployments(i, m, &mut out);
            }
        }
        out
    }

    fn entry_deployments(&self, i: &Integration, m: &Managed, out: &mut Vec<Deployment>) {
        if m.cron.is_none()
            && m.sharding
                .as_ref()
                .is_some_and(|sh| sh.strategy == Strategy::Other)
        {
            // Listed in `warnings`: its shard names are unknown.
            return;
        }
        let ns = self.namespace_of(m);
        let kind = if m.cron.is_some() {
            ObjectKind::CronJob
        } else if m.cache {
            ObjectKind::StatefulSet
        } else {
            ObjectKind::Deployment
        };
        let base = format!("qontract-reconcile-{}", i.name);
        let default_tag = m
            .image_ref
            .clone()
            .unwrap_or_else(|| self.manager_tag(ns.environment.as_deref()).to_string());
        let default_image = format!("{}:{default_tag}", self.image);
        let make = |shard: Option<String>, pin: Option<String>| {
            let entry_pin = pin.is_none() && m.image_ref.is_some();
            let image = match &pin {
                Some(tag) => format!("{}:{tag}", self.image),
                None => default_image.clone(),
            };
            Deployment {
                namespace: ns.name.clone(),
                cluster: ns.cluster.clone(),
                environment: ns.environment.clone(),
                integration: i.name.clone(),
                kind,
                name: match &shard {
                    Some(s) => {
                        let mut n = String::with_capacity(base.len() + 1 + s.len());
                        n.push_str(&base);
                        n.push('-');
                        n.push_str(s);
                        n
                    }
                    None => base.clone(),
                },
                shard,
                image,
                pinned: pin.is_some() || entry_pin,
                pin_ref: pin.or_else(|| m.image_ref.clone()),
            }
        };
        let shards = self.shards_of(&i.name, m, false);
        if shards.is_empty() {
            // A cron entry, an unsharded one or a single static shard: one object.
            let static_pin = m.sharding.as_ref().and_then(|sh| {
                (m.cron.is_none() && sh.strategy == Strategy::Static && sh.shards <= 1)
                    .then(|| Self::override_for(sh, None, Some(0)))
                    .flatten()
                    .and_then(|o| o.image_ref.clone())
            });
            out.push(make(None, static_pin));
            return;
        }
        for s in shards {
            out.push(make(Some(s.name), s.pinned));
        }
    }

    /// For `plan`: per integration, the shards that move to `new_tag` and those that stay on
    /// their own `imageRef` (a pin equal to `new_tag` counts as moving). Shard labels carry
    /// `@<namespace>` when the integration runs in more than one namespace. With `envs`, only
    /// the objects in namespaces of those environments (where the integrations-manager moves).
    pub fn shard_moves(&self, new_tag: &str, envs: Option<&[String]>) -> Vec<ShardMove> {
        let mut out = Vec::new();
        for i in &self.integrations {
            let mut deps = self.deployments(Some(&i.name), None);
            if let Some(envs) = envs {
                deps.retain(|d| d.environment.as_ref().is_some_and(|e| envs.contains(e)));
            }
            let many = deps.iter().any(|d| d.namespace != deps[0].namespace);
            let mut mv = ShardMove {
                integration: i.name.clone(),
                moving: Vec::new(),
                staying: Vec::new(),
            };
            for d in deps {
                let mut label = d.shard.clone().unwrap_or_else(|| i.name.clone());
                if many {
                    label = format!("{label}@{}", d.namespace);
                }
                match d.pin_ref {
                    Some(r) if !crate::util::same_commit(&r, new_tag) => {
                        mv.staying.push(StayingShard {
                            shard: label,
                            image_ref: r,
                        })
                    }
                    _ => mv.moving.push(label),
                }
            }
            out.push(mv);
        }
        out
    }

    /// The pr-check runs: per integration one run with the `.env` image that leaves out the
    /// pinned shards, and one per distinct pinned `imageRef` covering its shards.
    pub fn pr_check(&self, integration: Option<&str>, env_image_tag: &str) -> Vec<PrCheckRun> {
        let mut out = Vec::new();
        for i in &self.integrations {
            if integration.is_some_and(|n| n != i.name) {
                continue;
            }
            let mut strategy = None;
            let mut pins: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for m in &i.managed {
                let Some(sh) = &m.sharding else { continue };
                strategy = Some(sh.strategy);
                for s in self.entry_shards(&i.name, m) {
                    if let Some(r) = s.pinned {
                        let list = pins.entry(r).or_default();
                        if !list.contains(&s.parent) {
                            list.push(s.parent);
                        }
                    }
                }
            }
            let (only, exclude) = match strategy {
                Some(Strategy::PerAwsAccount) => ("--account-name", "--exclude-accounts"),
                Some(Strategy::PerOpenshiftCluster) => ("--cluster-name", "--exclude-cluster"),
                Some(Strategy::PerOcmOrganization) => ("--org-id", "--exclude-org-id"),
                _ => ("", ""),
            };
            let flags = |flag: &str, shards: &[String]| -> Vec<String> {
                if flag.is_empty() {
                    return Vec::new();
                }
                shards
                    .iter()
                    .flat_map(|s| [flag.to_string(), s.clone()])
                    .collect()
            };
            let all: Vec<String> = pins.values().flatten().cloned().collect();
            out.push(PrCheckRun {
                name: i.name.clone(),
                integration: i.name.clone(),
                image: format!("{}:{env_image_tag}", self.image),
                args: flags(exclude, &all),
                shards: all,
            });
            for (r, shards) in pins {
                out.push(PrCheckRun {
                    name: format!("{}_override_{r}", i.name),
                    integration: i.name.clone(),
                    image: format!("{}:{r}", self.image),
                    args: flags(only, &shards),
                    shards,
                });
            }
        }
        out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn comp() -> Component {
        let env = "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\nexport RECONCILE_IMAGE=img\nexport RECONCILE_IMAGE_TAG=e0e0e0e\n";
        crate::checkout::components_from_env(&crate::checkout::parse_env(env)).remove(0)
    }

    fn model(files: &[(&str, &str)]) -> Model {
        let docs: Vec<(String, Node)> = files
            .iter()
            .map(|(p, t)| (p.to_string(), yaml::parse(t).unwrap().remove(0)))
            .collect();
        Model::from_docs(&comp(), &docs).unwrap()
    }

    const NS: (&str, &str) = (
        "data/ns.yml",
        "$schema: /openshift/namespace-1.yml\nname: ns\nenvironment: {$ref: /env.yml}\n",
    );
    const ENV: (&str, &str) = (
        "data/env.yml",
        "$schema: /app-sre/environment-1.yml\nname: production\n",
    );

    #[test]
    fn refs_give_tags() {
        assert_eq!(
            tag_of_ref("f929a38e0c7b1a2d3e4f5a6b7c8d9e0f1a2b3c4d"),
            "f929a38"
        );
        assert_eq!(tag_of_ref("master"), "master");
        assert_eq!(edit_distance("ter-int-de", "ter-int-dev"), 1);
        assert_eq!(suggest("zzz", &["terraform-resources"]), "");
        assert_eq!(
            suggest("app", &["app-sre", "b"]),
            " (did you mean app-sre?)"
        );
    }

    #[test]
    fn org_shards_cron_and_one_static_shard() {
        let m = model(&[
            NS,
            ENV,
            (
                "data/ocm.yml",
                "$schema: /openshift/openshift-cluster-manager-1.yml\nname: o\norgId: AbC\n",
            ),
            (
                "data/i.yml",
                "$schema: /app-sre/integration-1.yml\nname: i\nmanaged:\n- namespace: {$ref: /ns.yml}\n  sharding:\n    strategy: per-ocm-organization\n    shardSpecOverrides:\n    - {shard: AbC, imageRef: 1234567, subSharding: {strategy: static, shards: 2}}\n",
            ),
            (
                "data/c.yml",
                "$schema: /app-sre/integration-1.yml\nname: c\nmanaged:\n- namespace: {$ref: /ns.yml}\n  spec: {cron: '* * * * *', cache: true}\n  sharding: {strategy: static, shards: 4}\n",
            ),
            (
                "data/s.yml",
                "$schema: /app-sre/integration-1.yml\nname: s\nmanaged:\n- namespace: {$ref: /ns.yml}\n  spec: {cache: true}\n  sharding: {strategy: static, shards: 1, shardSpecOverrides: [{shard: 0, imageRef: abcdef0}]}\n",
            ),
        ]);
        let d: Vec<String> = m
            .deployments(None, None)
            .iter()
            .map(|d| format!("{:?} {} {} {:?}", d.kind, d.name, d.image, d.environment))
            .collect();
        assert_eq!(
            d,
            [
                "CronJob qontract-reconcile-c img:e0e0e0e Some(\"production\")",
                "Deployment qontract-reconcile-i-abc-0 img:1234567 Some(\"production\")",
                "Deployment qontract-reconcile-i-abc-1 img:1234567 Some(\"production\")",
                "StatefulSet qontract-reconcile-s img:abcdef0 Some(\"production\")",
            ]
        );
    }

    #[test]
    fn an_unknown_strategy_is_a_warning_with_its_line() {
        let doc = yaml::parse("$schema: /app-sre/integration-1.yml\nname: i\nmanaged:\n- namespace: {$ref: /ns.yml}\n  sharding:\n    strategy: per-moon\n").unwrap();
        let m = Model::from_docs(&comp(), &[("data/i.yml".to_string(), doc[0].clone())]).unwrap();
        assert_eq!(
            m.warnings,
            ["data/i.yml:6: sharding strategy \"per-moon\" is not known; the objects of i in data/ns.yml are not listed"]
        );
        assert!(m.deployments(None, None).is_empty());
        assert_eq!(m.integrations.len(), 1);
    }
}
