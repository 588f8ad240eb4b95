//! Stage: has it run a version cleanly, and for how long.
//!
//! Stage is where the integrations-manager follows a branch: the namespaces of environments of
//! type `stage`, or whose manager target's `ref` is a branch. For each of its objects
//! (integration and shard) the pods say which image container `int` runs and since when; the
//! logs since then say whether it logged errors or tracebacks; Prometheus, when asked, says the
//! last runs' status. One verdict each:
//!
//! - `soaked`: runs the version or a descendant for at least the soak time, with no error since;
//! - `young`: runs it, not that long yet;
//! - `errors`: runs it and logged errors, or a run failed, or the container is not running;
//! - `not-running`: runs another image;
//! - `unknown`: no pod, no log, or its cluster could not be asked.
//!
//! - [`pods`]: pods from the API or `oc get pods -o json`; [`logs`]: scanning a log;
//!   [`kube`]: the Kubernetes API; [`prometheus`]: the Prometheus HTTP API;
//!   [`report`]: the report, its text and summary.

pub mod check;
pub mod gate;
pub mod kube;
pub mod logs;
pub mod pods;
pub mod prometheus;
pub mod report;

use std::collections::HashMap;

use serde::Serialize;

use crate::cluster::model::{Deployment, Model};
use crate::upstream::ancestry::{Graph, Lookup};
use crate::util::is_commit_hex;
use logs::Scan;
use pods::{Pod, State};
use prometheus::Metrics;
pub use report::{ObjectReport, Report};

/// The soak time when none is given.
pub const DEFAULT_SOAK: std::time::Duration = std::time::Duration::from_secs(2 * 3600);

/// The verdict on one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Soaked,
    Young,
    Errors,
    NotRunning,
    Unknown,
}

impl Verdict {
    /// As the JSON and the tables write it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Soaked => "soaked",
            Verdict::Young => "young",
            Verdict::Errors => "errors",
            Verdict::NotRunning => "not-running",
            Verdict::Unknown => "unknown",
        }
    }
}

/// The Prometheus that scrapes `objects`, when their clusters' files name one between them
/// (`prometheusUrl`): the metrics of several Prometheus are not merged, so several is none.
pub fn prometheus_of(model: &Model, objects: &[Deployment]) -> Option<String> {
    let mut urls: Vec<&String> = objects
        .iter()
        .filter_map(|d| d.cluster.as_ref())
        .filter_map(|c| model.prometheus_urls.get(c))
        .collect();
    urls.sort();
    urls.dedup();
    match urls.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

/// The objects stage runs: those in namespaces of environments of type `stage`, or whose
/// integrations-manager follows a branch (its tag is no commit id); `integration` narrows.
pub fn stage_objects(model: &Model, integration: Option<&str>) -> Vec<Deployment> {
    let stage_ns: Vec<&str> = model
        .namespaces
        .values()
        .filter(|ns| {
            ns.environment_type.as_deref() == Some("stage")
                || ns.environment.as_deref().is_some_and(|e| {
                    model
                        .manager_tags
                        .get(e)
                        .is_some_and(|tag| !is_commit_hex(tag))
                })
        })
        .map(|ns| ns.name.as_str())
        .collect();
    model
        .deployments(integration, None)
        .into_iter()
        .filter(|d| stage_ns.contains(&d.namespace.as_str()))
        .collect()
}

/// What the verdicts are measured against.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The version's full commit id.
    pub id: &'a str,
    /// The upstream's graph (holds the version).
    pub graph: &'a Graph,
    /// The image repository the integrations run (`quay.io/app-sre/qontract-reconcile`).
    pub image: &'a str,
    /// The moment asked about (seconds since the epoch).
    pub at: i64,
    /// How long it must have run.
    pub soak: std::time::Duration,
}

/// What was read of the cluster of some objects.
#[derive(Debug, Default)]
pub struct Observed {
    pub pods: Vec<Pod>,
    /// Per pod (namespace, name), its log's scan, or why it has none.
    pub logs: HashMap<(String, String), std::result::Result<Scan, String>>,
    pub metrics: Option<Metrics>,
}

/// The commit an image runs, if it is the target's image with a tag the graph knows.
fn commit_of(image: &str, target: &Target<'_>) -> std::result::Result<usize, String> {
    let image = image.split('@').next().unwrap_or(image);
    let (repo, tag) = match image.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => return Err(format!("{image} has no tag")),
    };
    if repo != target.image {
        return Err(format!("runs {image}, not {}", target.image));
    }
    match target.graph.lookup(tag) {
        Lookup::Found(n) => Ok(n),
        Lookup::Ambiguous => Err(format!("its tag {tag} names several commits")),
        Lookup::Missing => Err(format!("its tag {tag} is no commit of the upstream")),
    }
}

/// The verdict on one object, from its pods, their logs and the metrics.
pub fn judge(d: &Deployment, obs: &Observed, target: &Target<'_>) -> ObjectReport {
    let mut r = ObjectReport::new(d);
    let pods: Vec<&Pod> = obs
        .pods
        .iter()
        .filter(|p| p.namespace == d.namespace && pods::belongs(p, &d.name))
        .collect();
    let Some(first) = pods.first() else {
        return r.verdict(Verdict::Unknown, "no pod");
    };
    let want = target.graph.find(target.id);
    // The pod that started last decides since when; another image anywhere decides all.
    let mut newest = *first;
    for p in &pods {
        r.restarts += p.restarts;
        if p.started > newest.started {
            newest = p;
        }
    }
    r.pod = Some(newest.name.clone());
    r.image = newest.image.clone();
    for p in &pods {
        let Some(image) = &p.image else {
            r.pod = Some(p.name.clone());
            return r.verdict(Verdict::Unknown, "no container int");
        };
        let commit = commit_of(image, target);
        if let (Ok(n), true) = (&commit, p.name == newest.name) {
            r.commit = Some(target.graph.id(*n).to_string());
        }
        let runs = commit.and_then(|n| match want {
            Some(w) if target.graph.contains(n, w) => Ok(n),
            _ => Err(format!(
                "runs {}, which does not contain {}",
                image.rsplit(':').next().unwrap_or(image),
                crate::util::short_id(target.id)
            )),
        });
        match runs {
            Ok(_) => {}
            Err(why) => {
                r.pod = Some(p.name.clone());
                r.image = Some(image.clone());
                let why = if d.pinned {
                    format!("{why} (pinned)")
                } else {
                    why
                };
                return r.verdict(Verdict::NotRunning, &why);
            }
        }
    }
    for p in &pods {
        match &p.state {
            State::Running => {}
            State::Waiting { reason } | State::Terminated { reason } => {
                r.pod = Some(p.name.clone());
                return r.verdict(
                    Verdict::Errors,
                    &format!("container int is not running: {reason}"),
                );
            }
            State::Unknown => {
                return r.verdict(Verdict::Unknown, "container int has no status");
            }
        }
    }
    let Some(since) = newest.started else {
        return r.verdict(Verdict::Unknown, "container int has no start time");
    };
    r.since = Some(since);
    let mut missing_log = None;
    for p in &pods {
        match obs.logs.get(&(p.namespace.clone(), p.name.clone())) {
            Some(Ok(scan)) => r.errors.add(scan),
            Some(Err(why)) => missing_log = Some(why.clone()),
            None => missing_log = Some(format!("no log of pod {}", p.name)),
        }
    }
    if let Some(m) = &obs.metrics {
        let shard_id = shard_id(d);
        let om = m.of(&d.integration, shard_id.as_deref(), since);
        r.last_run_status = om.last_status;
        r.executions = om.executions;
        let failed = om
            .failed
            .or_else(|| om.last_status.filter(|v| *v != 0.0).map(|v| (target.at, v)));
        if let Some((t, v)) = failed {
            r.errors.failed_runs = Some(format!(
                "last run status {v} at {} (Prometheus)",
                crate::history::stats::format_time(t)
            ));
        }
    }
    if r.errors.count() > 0 || r.errors.failed_runs.is_some() {
        return r.verdict(Verdict::Errors, "");
    }
    if let Some(why) = missing_log {
        return r.verdict(Verdict::Unknown, &why);
    }
    if r.errors.cut {
        return r.verdict(
            Verdict::Unknown,
            "its log is over the size read: the rest was not read",
        );
    }
    let ran = target.at.saturating_sub(since);
    if u64::try_from(ran).unwrap_or(0) < target.soak.as_secs() {
        return r.verdict(Verdict::Young, "");
    }
    r.verdict(Verdict::Soaked, "")
}

/// The object's `--shard-id`, if it has one.
fn shard_id(d: &Deployment) -> Option<String> {
    d.args
        .iter()
        .position(|a| a == "--shard-id")
        .and_then(|i| d.args.get(i + 1))
        .cloned()
}

/// Every object judged; those of clusters not asked are `unknown` with why.
pub fn evaluate(
    objects: &[Deployment],
    obs: &Observed,
    not_checked: &[(Option<String>, String)],
    target: &Target<'_>,
) -> Vec<ObjectReport> {
    objects
        .iter()
        .map(
            |d| match not_checked.iter().find(|(c, _)| *c == d.cluster) {
                Some((_, why)) => ObjectReport::new(d).verdict(Verdict::Unknown, why),
                None => judge(d, obs, target),
            },
        )
        .collect()
}
