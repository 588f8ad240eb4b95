//! Where integrations run: namespaces, clusters, accounts, integrations and their shards, the image each shard runs.
//!
//! The types and the questions asked of the model live here; `sharding` lists an entry's shards,
//! `loader` reads the model from the checkout's files.

use std::collections::{BTreeMap, HashMap};

use crate::error::{Error, Result};

// Paths that `pin` (and `cli::verify`) import from here.
pub use super::loader::read_integration;
pub use super::sharding::{shard_key, Layout, ShardKey, Strategy};

use super::sharding::{Override, Sharding};

pub const NAMESPACE_SCHEMA: &str = "/openshift/namespace-1.yml";
pub const CLUSTER_SCHEMA: &str = "/openshift/cluster-1.yml";
pub const ENVIRONMENT_SCHEMA: &str = "/app-sre/environment-1.yml";
/// The schema app-interface's environment files carry today.
pub const PRODUCT_ENVIRONMENT_SCHEMA: &str = "/products/environment-1.yml";
pub const ACCOUNT_SCHEMA: &str = "/aws/account-1.yml";
pub const OCM_SCHEMA: &str = "/openshift/openshift-cluster-manager-1.yml";
pub const CLOUDFLARE_ACCOUNT_SCHEMA: &str = "/cloudflare/account-1.yml";
pub const DNS_ZONE_SCHEMA: &str = "/cloudflare/dns-zone-1.yml";
pub const INTEGRATION_SCHEMA: &str = "/app-sre/integration-1.yml";

/// The component whose integrations the model describes.
pub const RECONCILE: &str = "qontract-reconcile";

/// How an integration's object runs: the kinds of workload the integrations-manager deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum ObjectKind {
    Deployment,
    StatefulSet,
    CronJob,
}

impl ObjectKind {
    /// All kinds, in display order.
    pub const ALL: [ObjectKind; 3] = [
        ObjectKind::Deployment,
        ObjectKind::StatefulSet,
        ObjectKind::CronJob,
    ];

    /// The Kubernetes `kind` name.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Deployment => "Deployment",
            ObjectKind::StatefulSet => "StatefulSet",
            ObjectKind::CronJob => "CronJob",
        }
    }

    /// The kind from a Kubernetes `kind` name (`Deployment`, ...), if it is one of ours.
    pub fn from_kind(kind: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// The arguments the object runs with for its shard: `--account-name`, `--cluster-name`,
    /// `--org-id` with the shard's key, `--shard-id <i> --shards <n>` for static shards and
    /// sub-shards (a single shard runs `--shard-id 0 --shards 1`; a CronJob has none).
    pub args: Vec<String>,
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
    /// The layout the file keeps its sharding in (the current one when it says nothing).
    pub layout: Layout,
    /// Before 2023-04: the `pr_check.shardSpecOverride` copy of the overrides, when the file has
    /// a `pr_check` section.
    pub pr_check: Option<Vec<Override>>,
    /// The run the merge-request check makes of it (the first word of `pr_check.cmd`), unless
    /// the file has no `pr_check` block or disables it.
    pub check_run: Option<String>,
}

/// A namespace file.
#[derive(Debug, Clone)]
pub struct Namespace {
    pub name: String,
    pub cluster: Option<String>,
    pub environment: Option<String>,
    /// `labels.type` of the environment (`production`, `stage`).
    pub environment_type: Option<String>,
}

/// Something shards are cut by: an AWS account, a cluster, an OCM organization, a Cloudflare DNS
/// zone.
#[derive(Debug, Clone)]
pub struct Target {
    /// The file's `name`; `<account name>-<identifier>` for a DNS zone.
    pub name: String,
    /// Normalized `$ref` path.
    pub path: String,
    /// `orgId` of an OCM organization.
    pub org_id: Option<String>,
    /// What a DNS zone's file says of it.
    pub zone: Option<DnsZone>,
    pub disabled: Vec<String>,
}

/// A Cloudflare DNS zone's `identifier` (its shard's `--zone-name`) and `zone` (the domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsZone {
    pub identifier: String,
    pub zone: Option<String>,
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
    /// Cloudflare DNS zones, by their `<account>-<identifier>`.
    pub dns_zones: Vec<Target>,
    pub integrations: Vec<Integration>,
    /// The tag the integrations-manager runs, per environment name.
    pub manager_tags: BTreeMap<String, String>,
    /// The Prometheus of each cluster that names one (its cluster file's `prometheusUrl`).
    pub prometheus_urls: BTreeMap<String, String>,
    /// What the model could not read (`path:line: why`): integrations it left out, entries whose
    /// shards it cannot list.
    pub warnings: Vec<String>,
    /// Integrations left out, by name, with why.
    pub left_out: Vec<(String, String)>,
}

/// A `$ref` path without its leading `/`.
pub fn norm_ref(r: &str) -> String {
    r.trim().trim_start_matches('/').to_string()
}

use crate::util::suggest;

/// "unknown X" with close names.
pub fn unknown(what: &str, name: &str, known: &[&str]) -> Error {
    Error::input(format!("unknown {what} {name}{}", suggest(name, known)))
}

impl Model {
    /// The integration named `name`, or an error naming close ones.
    pub fn integration(&self, name: &str) -> Result<&Integration> {
        self.integrations
            .iter()
            .find(|i| i.name == name)
            .ok_or_else(|| {
                if let Some((_, why)) = self.left_out.iter().find(|(n, _)| n == name) {
                    return Error::input(why.clone());
                }
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
                environment_type: None,
            })
    }

    /// Whether the namespace filter `want` (a name or a `$ref` path) selects `m`.
    pub fn namespace_matches(&self, m: &Managed, want: &str) -> bool {
        norm_ref(want) == m.namespace_ref || self.namespace_of(m).name == want
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
        let make = |shard: Option<String>, pin: Option<String>, args: Vec<String>| {
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
                args,
            }
        };
        let shards = self.shards_of(&i.name, m, false);
        if shards.is_empty() {
            // A cron entry, an unsharded one or a single static shard: one object. Before
            // 2023-04 a `shard: 0` override pins a single static shard; from 2023-04 on static
            // sharding has no overrides.
            let static_pin = m.sharding.as_ref().and_then(|sh| {
                (m.cron.is_none() && sh.strategy == Strategy::Static && sh.shards <= 1)
                    .then(|| Self::static_override(sh, 0))
                    .flatten()
                    .and_then(|o| o.image_ref.clone())
            });
            let args = if m.cron.is_some() {
                Vec::new()
            } else {
                ["--shard-id", "0", "--shards", "1"]
                    .map(str::to_string)
                    .to_vec()
            };
            out.push(make(None, static_pin, args));
            return;
        }
        // Before 2023-04 the objects of an integration sharded over a single AWS account carry no
        // suffix.
        let one_account = i.layout == Layout::Before2023
            && shards.len() == 1
            && m.sharding
                .as_ref()
                .is_some_and(|sh| sh.strategy == Strategy::PerAwsAccount);
        for s in shards {
            let name = (!one_account).then_some(s.name);
            out.push(make(name, s.pinned, s.args));
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
            if let Some(copy) = &i.pr_check {
                // Before 2023-04 the pr-check reads its own copy of the overrides.
                strategy = i
                    .managed
                    .iter()
                    .find_map(|m| m.sharding.as_ref().map(|s| s.strategy));
                for o in copy {
                    let (Some(r), ShardKey::Ref(path)) = (&o.image_ref, &o.shard) else {
                        continue;
                    };
                    let name = self
                        .accounts
                        .iter()
                        .find(|a| a.path == *path)
                        .map_or_else(|| path.clone(), |a| a.name.clone());
                    let list = pins.entry(r.clone()).or_default();
                    if !list.contains(&name) {
                        list.push(name);
                    }
                }
            }
            for m in i.managed.iter().filter(|_| i.pr_check.is_none()) {
                let Some(sh) = &m.sharding else { continue };
                strategy = Some(sh.strategy);
                for s in self.entry_shards(&i.name, m) {
                    // The shard as its argument names it: an OCM organization by its `orgId`
                    // as written.
                    let key = s.key().to_string();
                    if let Some(r) = s.pinned {
                        let list = pins.entry(r).or_default();
                        if !list.contains(&key) {
                            list.push(key);
                        }
                    }
                }
            }
            let (only, exclude) = match strategy {
                Some(Strategy::PerAwsAccount) => ("--account-name", "--exclude-accounts"),
                Some(Strategy::PerOpenshiftCluster) => ("--cluster-name", "--exclude-cluster"),
                Some(Strategy::PerOcmOrganization) => ("--org-id", "--exclude-org-id"),
                // qontract-reconcile has no option that leaves zones out.
                Some(Strategy::PerCloudflareDnsZone) => ("--zone-name", ""),
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::checkout::Component;
    use crate::cluster::loader::tag_of_ref;
    use crate::yaml::{self, Node};

    pub(crate) fn comp() -> Component {
        let env = "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\nexport RECONCILE_IMAGE=img\nexport RECONCILE_IMAGE_TAG=e0e0e0e\n";
        crate::checkout::components_from_env(&crate::checkout::parse_env(env)).remove(0)
    }

    pub(crate) fn model(files: &[(&str, &str)]) -> Model {
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
        "$schema: /products/environment-1.yml\nname: production\nlabels: {type: production}\n",
    );

    #[test]
    fn refs_give_tags() {
        assert_eq!(
            tag_of_ref("f929a38e0c7b1a2d3e4f5a6b7c8d9e0f1a2b3c4d"),
            "f929a38"
        );
        assert_eq!(tag_of_ref("master"), "master");
        assert_eq!(strsim::levenshtein("ter-int-de", "ter-int-dev"), 1);
        assert_eq!(suggest("zzz", &["terraform-resources"]), "");
        assert_eq!(
            suggest("app", &["app-sre", "b"]),
            " (did you mean app-sre?)"
        );
    }

    #[test]
    fn org_override_by_ref_without_sub_shards_cron_and_an_ignored_static_override() {
        let m = model(&[
            NS,
            ENV,
            (
                "data/ocm.yml",
                "$schema: /openshift/openshift-cluster-manager-1.yml\nname: o\norgId: AbC\n",
            ),
            (
                "data/i.yml",
                "$schema: /app-sre/integration-1.yml\nname: i\nmanaged:\n- namespace: {$ref: /ns.yml}\n  sharding:\n    strategy: per-ocm-organization\n    shardSpecOverrides:\n    - {shard: {$ref: /ocm.yml}, imageRef: 1234567, subSharding: {strategy: static, shards: 2}}\n    - {shard: AbC, imageRef: 7654321}\n",
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
                "Deployment qontract-reconcile-i-abc img:1234567 Some(\"production\")",
                "StatefulSet qontract-reconcile-s img:e0e0e0e Some(\"production\")",
            ]
        );
        assert_eq!(m.deployments(Some("i"), None)[0].args, ["--org-id", "AbC"]);
        assert_eq!(
            m.warnings,
            [
                "data/i.yml:8: i: qontract-reconcile ignores its subSharding: only per-openshift-cluster overrides have one",
                "data/i.yml:9: i: qontract-reconcile ignores this override: its shard is not a $ref to an account, cluster, OCM organization or DNS zone file",
                "data/s.yml:6: s: qontract-reconcile ignores this override: static sharding has no shardSpecOverrides (pin the entry with spec.imageRef)",
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
