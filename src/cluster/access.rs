//! How each cluster of the model is reached: the kubeconfig context for it.
//!
//! For a cluster, in order: `--context CLUSTER=CONTEXT`, a bare `--context NAME` (for every
//! cluster not named otherwise), the `clusters:` mapping of `.qr-promote.yaml`, a context of the
//! kubeconfig named like the cluster, and the kubeconfig's current context when the objects asked
//! for are on one cluster alone. A cluster left without a context
//! is not checked, and said so.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::kube::{fetch_live, LiveObject};
use super::model::Deployment;
use super::verify::{compare, Report};
use crate::error::{Error, Result};

/// What the command line and the settings say about reaching the clusters.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The kubeconfig file (default: `$KUBECONFIG`, else `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// `--context CLUSTER=CONTEXT`.
    pub by_cluster: BTreeMap<String, String>,
    /// `.qr-promote.yaml`'s `clusters:` mapping.
    pub configured: BTreeMap<String, String>,
    /// A bare `--context NAME`.
    pub context: Option<String>,
}

/// How one cluster is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Reach {
    /// Through this context; `how` says why it was chosen.
    Context { name: String, how: &'static str },
    /// Through the kubeconfig's current context (or the in-cluster configuration).
    Current,
    /// Not reached: why.
    NotChecked { why: String },
}

impl Reach {
    /// The context to ask for (`None`: the current one), or `None` when not checked.
    pub fn context(&self) -> Option<Option<&str>> {
        match self {
            Reach::Context { name, .. } => Some(Some(name)),
            Reach::Current => Some(None),
            Reach::NotChecked { .. } => None,
        }
    }
}

impl Access {
    /// Reads `--context` values: `CLUSTER=CONTEXT` (repeatable, once per cluster) or one bare
    /// `NAME`.
    pub fn with_context_args(mut self, values: &[String]) -> Result<Access> {
        for v in values {
            match v.split_once('=') {
                Some((cluster, context)) => {
                    let (cluster, context) = (cluster.trim(), context.trim());
                    if cluster.is_empty() || context.is_empty() {
                        return Err(Error::input(format!(
                            "--context {v:?}: write CLUSTER=CONTEXT, both named"
                        )));
                    }
                    if let Some(old) = self
                        .by_cluster
                        .insert(cluster.to_string(), context.to_string())
                    {
                        if old != context {
                            return Err(Error::input(format!(
                                "--context: cluster {cluster} is given two contexts, {old} and {context}"
                            )));
                        }
                    }
                }
                None => {
                    if let Some(old) = &self.context {
                        return Err(Error::input(format!(
                            "--context: two contexts for every cluster, {old} and {v}; name each \
                             cluster's with --context CLUSTER=CONTEXT"
                        )));
                    }
                    self.context = Some(v.trim().to_string());
                }
            }
        }
        Ok(self)
    }

    /// Every cluster named by `--context CLUSTER=…` or `clusters:` must be one the model knows.
    pub fn check_clusters(&self, known: &[&str]) -> Result<()> {
        for (cluster, origin) in self.by_cluster.keys().map(|c| (c, "--context")).chain(
            self.configured
                .keys()
                .map(|c| (c, ".qr-promote.yaml clusters")),
        ) {
            if !known.contains(&cluster.as_str()) {
                return Err(Error::input(format!(
                    "{origin}: unknown cluster {cluster}{}",
                    match crate::util::suggest(cluster, known) {
                        s if s.is_empty() => format!("; known: {}", known.join(", ")),
                        s => s,
                    }
                )));
            }
        }
        Ok(())
    }

    /// The names of the kubeconfig's contexts (none when it cannot be read: reaching a cluster
    /// then says why).
    pub fn kubeconfig_contexts(&self) -> Vec<String> {
        use ::kube::config::Kubeconfig;
        let read = match &self.kubeconfig {
            Some(p) => Kubeconfig::read_from(p),
            None => Kubeconfig::read(),
        };
        read.map(|kc| kc.contexts.into_iter().map(|c| c.name).collect())
            .unwrap_or_default()
    }

    /// How each of `clusters` is reached (`None`: the namespaces whose cluster the checkout does
    /// not name), given the kubeconfig's `contexts`.
    pub fn plan(
        &self,
        clusters: &[Option<String>],
        contexts: &[String],
    ) -> Vec<(Option<String>, Reach)> {
        let alone = clusters.len() == 1;
        clusters
            .iter()
            .map(|cluster| {
                let reach = self.reach(cluster.as_deref(), contexts, alone);
                (cluster.clone(), reach)
            })
            .collect()
    }

    fn reach(&self, cluster: Option<&str>, contexts: &[String], alone: bool) -> Reach {
        let context = |name: &str, how| Reach::Context {
            name: name.to_string(),
            how,
        };
        if let Some(ctx) = cluster.and_then(|c| self.by_cluster.get(c)) {
            return context(ctx, "--context");
        }
        if let Some(ctx) = &self.context {
            return context(ctx, "--context");
        }
        if let Some(c) = cluster {
            if let Some(ctx) = self.configured.get(c) {
                return context(ctx, ".qr-promote.yaml");
            }
            if contexts.iter().any(|x| x == c) {
                return context(c, "named like the cluster");
            }
        }
        if alone {
            return Reach::Current;
        }
        Reach::NotChecked {
            why: match cluster {
                Some(c) => format!(
                    "no kubeconfig context for cluster {c}: give --context {c}=CONTEXT, a \
                     `clusters:` entry in .qr-promote.yaml, or a context named {c}"
                ),
                None => "the checkout names no cluster for these namespaces, and the objects \
                         are on several clusters: give --context NAME"
                    .to_string(),
            },
        }
    }
}

/// Compares `desired` with what runs, each cluster of `plan` read through its context (the
/// namespaces `namespaces_of` gives it, the live objects `keep` keeps); the objects of a
/// cluster without one are `not checked`, with why.
pub fn compare_by_cluster(
    access: &Access,
    plan: &[(Option<String>, Reach)],
    desired: &[Deployment],
    namespaces_of: impl Fn(Option<&str>) -> Vec<String>,
    keep: impl Fn(Vec<LiveObject>) -> Vec<LiveObject>,
) -> Result<Report> {
    let mut live = Vec::new();
    let mut checked: Vec<String> = Vec::new();
    let mut skipped = Vec::new();
    for (cluster, reach) in plan {
        let namespaces = namespaces_of(cluster.as_deref());
        match reach.context() {
            Some(context) => {
                live.extend(fetch_live(
                    access.kubeconfig.as_deref(),
                    context,
                    &namespaces,
                )?);
                checked.extend(namespaces);
            }
            None => skipped.push((cluster, reach)),
        }
    }
    let reached: Vec<Deployment> = desired
        .iter()
        .filter(|d| checked.contains(&d.namespace))
        .cloned()
        .collect();
    let mut report = compare(&reached, &keep(live), &checked);
    for (cluster, reach) in skipped {
        let Reach::NotChecked { why } = reach else {
            continue;
        };
        let objects: Vec<Deployment> = desired
            .iter()
            .filter(|d| d.cluster == *cluster)
            .cloned()
            .collect();
        report.add_not_checked(cluster.as_deref().unwrap_or("(unnamed)"), &objects, why);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(args: &[&str]) -> Access {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Access::default().with_context_args(&args).unwrap()
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn each_cluster_finds_its_context_in_order() {
        let mut a = access(&["prod=p-ctx"]);
        a.configured.insert("stage".into(), "s-ctx".into());
        let contexts = vec!["other".to_string(), "third".to_string()];
        let plan = a.plan(
            &[some("prod"), some("stage"), some("other"), some("x")],
            &contexts,
        );
        let got: Vec<String> = plan
            .iter()
            .map(|(c, r)| format!("{}: {r:?}", c.as_deref().unwrap_or("-")))
            .collect();
        assert_eq!(
            got,
            [
                "prod: Context { name: \"p-ctx\", how: \"--context\" }",
                "stage: Context { name: \"s-ctx\", how: \".qr-promote.yaml\" }",
                "other: Context { name: \"other\", how: \"named like the cluster\" }",
                "x: NotChecked { why: \"no kubeconfig context for cluster x: give --context x=CONTEXT, a `clusters:` entry in .qr-promote.yaml, or a context named x\" }",
            ]
        );
    }

    #[test]
    fn the_current_context_serves_one_cluster_alone_and_a_bare_context_every_cluster() {
        let a = access(&[]);
        assert_eq!(a.plan(&[some("prod")], &[])[0].1, Reach::Current);
        assert!(matches!(
            a.plan(&[some("prod"), some("stage")], &[])[1].1,
            Reach::NotChecked { .. }
        ));
        let a = access(&["fake"]);
        for (_, r) in a.plan(&[some("prod"), None], &["prod".to_string()]) {
            assert_eq!(r.context(), Some(Some("fake")));
        }
    }

    #[test]
    fn bad_context_values_are_refused() {
        let err = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            Access::default()
                .with_context_args(&args)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&["=x"]),
            "--context \"=x\": write CLUSTER=CONTEXT, both named"
        );
        assert_eq!(
            err(&["a=x", "a=y"]),
            "--context: cluster a is given two contexts, x and y"
        );
        assert!(err(&["a", "b"]).starts_with("--context: two contexts for every cluster"));
        let a = access(&["prod-01=x"]);
        assert_eq!(
            a.check_clusters(&["prod-02", "stage"])
                .unwrap_err()
                .to_string(),
            "--context: unknown cluster prod-01 (did you mean prod-02?)"
        );
        assert!(a.check_clusters(&["prod-01"]).is_ok());
    }
}
