//! Reading stage: the pods and logs of each cluster through its context, or saved ones, and the
//! metrics; then the report.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::logs;
use super::pods::{self, Pod};
use super::prometheus::Prometheus;
use super::{evaluate, Observed, Report, Target};
use crate::cluster::access::Access;
use crate::cluster::model::Deployment;
use crate::error::{Error, Result};

/// The most bytes of a saved pod list.
pub const PODS_LIMIT: u64 = 256 * 1024 * 1024;

/// Where the pods and logs come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The Kubernetes API of each cluster.
    Api(Access),
    /// `oc get pods -o json` saved, and the folder of `<pod>.log` files saved with
    /// `oc logs --timestamps -c int`.
    Saved {
        pods: PathBuf,
        logs: Option<PathBuf>,
    },
}

/// Reads stage for `objects` and judges each against `target`.
pub fn check(
    component: &str,
    given: &str,
    objects: &[Deployment],
    source: &Source,
    prometheus: Option<&Prometheus>,
    target: &Target<'_>,
) -> Result<Report> {
    let seen = observe(objects, source, prometheus, target.at, target.soak)?;
    Ok(seen.report(component, given, objects, target))
}

/// What was read of stage: the pods, logs and metrics, and the clusters not asked.
#[derive(Debug, Default)]
pub struct Seen {
    pub observed: Observed,
    /// (cluster, why) of each cluster not asked.
    pub not_checked: Vec<(Option<String>, String)>,
    /// The Prometheus asked, as shown.
    pub prometheus: Option<String>,
}

impl Seen {
    /// Each object judged against `target`.
    pub fn report(
        &self,
        component: &str,
        given: &str,
        objects: &[Deployment],
        target: &Target<'_>,
    ) -> Report {
        let mut not_checked_lines: Vec<String> = self
            .not_checked
            .iter()
            .map(|(c, why)| format!("cluster {}: {why}", c.as_deref().unwrap_or("(unnamed)")))
            .collect();
        not_checked_lines.dedup();
        let mut judged = evaluate(objects, &self.observed, &self.not_checked, target);
        judged.sort_by(|a, b| {
            (&a.namespace, &a.integration, &a.shard).cmp(&(&b.namespace, &b.integration, &b.shard))
        });
        Report {
            component: component.to_string(),
            id: target.id.to_string(),
            given: given.to_string(),
            at: target.at,
            soak: target.soak,
            objects: judged,
            not_checked: not_checked_lines,
            prometheus: self.prometheus.clone(),
        }
    }
}

/// Reads the pods and logs of `objects` from `source` and, with `prometheus`, the metrics of the
/// window up to `at` (at least `soak` long).
pub fn observe(
    objects: &[Deployment],
    source: &Source,
    prometheus: Option<&Prometheus>,
    at: i64,
    soak: std::time::Duration,
) -> Result<Seen> {
    let mut obs = Observed::default();
    let mut not_checked: Vec<(Option<String>, String)> = Vec::new();
    let wanted = |p: &Pod| {
        objects
            .iter()
            .any(|d| d.namespace == p.namespace && pods::belongs(p, &d.name))
    };
    match source {
        Source::Api(access) => {
            let clusters: BTreeSet<Option<String>> =
                objects.iter().map(|d| d.cluster.clone()).collect();
            let clusters: Vec<Option<String>> = clusters.into_iter().collect();
            let contexts = access.kubeconfig_contexts();
            for (cluster, reach) in access.plan(&clusters, &contexts) {
                let Some(context) = reach.context() else {
                    if let crate::cluster::access::Reach::NotChecked { why } = reach {
                        not_checked.push((cluster, why));
                    }
                    continue;
                };
                let namespaces: BTreeSet<String> = objects
                    .iter()
                    .filter(|d| d.cluster == cluster)
                    .map(|d| d.namespace.clone())
                    .collect();
                let namespaces: Vec<String> = namespaces.into_iter().collect();
                let (pods, logs) = super::kube::fetch(
                    access.kubeconfig.as_deref(),
                    context,
                    &namespaces,
                    &wanted,
                    at,
                )?;
                obs.pods.extend(pods);
                obs.logs.extend(logs);
            }
        }
        Source::Saved { pods, logs } => {
            obs.pods = read_pods(pods)?;
            if let Some(dir) = logs {
                obs.logs = read_logs(dir, &obs.pods, &wanted, at)?;
            }
        }
    }
    if let Some(p) = prometheus {
        let since = obs
            .pods
            .iter()
            .filter(|p| wanted(p))
            .filter_map(|p| p.started)
            .min()
            .unwrap_or(at)
            .max(at - 7 * 24 * 3600);
        let start = since.min(at - i64::try_from(soak.as_secs()).unwrap_or(0));
        obs.metrics = Some(p.metrics(start, at)?);
    }
    Ok(Seen {
        observed: obs,
        not_checked,
        prometheus: prometheus.map(Prometheus::shown),
    })
}

/// The pods of a saved `oc get pods -o json` (a regular file of at most [`PODS_LIMIT`]).
pub fn read_pods(path: &Path) -> Result<Vec<Pod>> {
    let shown = path.display().to_string();
    let bytes = crate::util::read_regular(path, PODS_LIMIT)
        .map_err(|r| r.into_error(&shown, PODS_LIMIT))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::input(format!("{shown}: not JSON: the bytes are not UTF-8 text")))?;
    pods::parse_pods(&text, &shown)
}

/// The scans of the saved logs of the pods `wanted` keeps: `DIR/<pod>.log` each; a pod whose
/// log is missing or unreadable has why instead.
fn read_logs(
    dir: &Path,
    pods: &[Pod],
    wanted: &dyn Fn(&Pod) -> bool,
    until: i64,
) -> Result<HashMap<(String, String), std::result::Result<logs::Scan, String>>> {
    let meta = std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
    if !meta.is_dir() {
        return Err(Error::input(format!(
            "--logs {}: not a folder",
            dir.display()
        )));
    }
    let limit = super::kube::LOG_LIMIT as u64;
    let mut out = HashMap::new();
    for p in pods.iter().filter(|p| wanted(p)) {
        let key = (p.namespace.clone(), p.name.clone());
        let safe = !p.name.is_empty()
            && p.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && !p.name.starts_with('.');
        if !safe {
            out.insert(
                key,
                Err(format!("pod name {:?} is not a file name", p.name)),
            );
            continue;
        }
        let path = dir.join(format!("{}.log", p.name));
        let shown = path.display().to_string();
        let scan = match crate::util::read_regular(&path, limit) {
            Ok(bytes) => Ok(logs::scan(&bytes, p.started, Some(until))),
            Err(crate::util::ReadRefusal::Missing) => Err(format!("no log {shown}")),
            Err(r) => Err(r.into_error(&shown, limit).to_string()),
        };
        out.insert(key, scan);
    }
    Ok(out)
}

/// The version asked about (`rev`, default `latest`: the head of the upstream's default branch,
/// what a promotion moves to) and the upstream's graph holding it.
pub fn version(
    opts: &crate::history::Options,
    c: &crate::checkout::Component,
    rev: Option<&str>,
) -> Result<(crate::history::runs::Rev, crate::upstream::ancestry::Graph)> {
    let upstream = opts.open(c)?;
    let rev = crate::history::runs::resolve_rev(&upstream, rev.unwrap_or("latest"), "stage")?;
    let graph = upstream.graph(&[rev.id.as_str()])?;
    let graph = crate::history::runs::complete(&upstream, graph, &[rev.id.as_str()], rev.fetched)?;
    Ok((rev, graph))
}
