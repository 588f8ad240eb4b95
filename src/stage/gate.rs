//! The stage gate of `plan`, `apply` and `bot`: a version that stage has not run cleanly for the
//! soak time is refused, or (the bot) the newest version that stage has soaked is proposed
//! instead.

use std::time::Duration;

use super::check::{observe, Source};
use super::prometheus::Prometheus;
use super::{stage_objects, Report, Target, Verdict};
use crate::checkout::{Checkout, Component};
use crate::cluster::model::{Model, RECONCILE};
use crate::error::{Error, Result};
use crate::upstream::ancestry::Graph;
use crate::util::short_id;

/// What the gate reads stage with.
#[derive(Debug, Clone)]
pub struct Gate {
    /// `--stage-soak`; without it, the component's `stage_soak` of `.qr-promote.yaml`.
    pub soak: Option<Duration>,
    /// Where the pods and logs come from.
    pub source: Source,
    /// `--prometheus`, and its token.
    pub prometheus: Option<(String, Option<String>)>,
    /// The moment asked about (default: now).
    pub at: Option<i64>,
}

/// What the gate says of a version.
#[derive(Debug, Clone)]
pub struct Verdicts {
    /// Stage's report on the version asked for.
    pub asked: Report,
    /// The version to promote: the one asked for when stage has soaked it, else the newest that
    /// stage has soaked and that it contains (none: no version newer than `current`).
    pub chosen: Option<(String, Report)>,
    /// The versions after the chosen one, up to the one asked for, newest first (short ids):
    /// those stage has not soaked.
    pub younger: Vec<String>,
}

impl Gate {
    /// The soak time for component `c`; `None`: no gate (nothing asked, or a component whose
    /// image the integrations do not run).
    pub fn soak_for(&self, checkout: &Checkout, c: &str) -> Option<Duration> {
        if c != RECONCILE {
            return None;
        }
        self.soak
            .or_else(|| checkout.config.component(c).and_then(|s| s.stage_soak))
    }

    /// Stage's verdicts on `wanted` (a full id), and the version to promote: `wanted` when every
    /// object of stage has soaked it; else the commit all of them run when each has soaked it,
    /// `wanted` contains it and it is newer than `current`.
    pub fn judge(
        &self,
        checkout: &Checkout,
        c: &Component,
        graph: &Graph,
        wanted: &str,
        current: Option<&str>,
        soak: Duration,
    ) -> Result<Verdicts> {
        let model = Model::load(checkout, None)?;
        let objects = stage_objects(&model, None);
        if objects.is_empty() {
            return Err(Error::input(
                "the stage gate: the checkout runs no integration in a stage namespace",
            )
            .with_hint("leave out --stage-soak (and stage_soak in .qr-promote.yaml)"));
        }
        // `--prometheus`, else the one the stage clusters' files name (`prometheusUrl`), with
        // the token of `QR_PROMOTE_PROMETHEUS_TOKEN`.
        let prometheus = match &self.prometheus {
            Some((url, token)) => Some(Prometheus::new(url, token.clone())?),
            None => match super::prometheus_of(&model, &objects) {
                Some(url) => Some(Prometheus::new(
                    &url,
                    std::env::var("QR_PROMOTE_PROMETHEUS_TOKEN").ok(),
                )?),
                None => None,
            },
        };
        let at = self.at.unwrap_or_else(now);
        let seen = observe(&objects, &self.source, prometheus.as_ref(), at, soak)?;
        let judge = |id: &str| {
            let t = Target {
                id,
                graph,
                image: &model.image,
                at,
                soak,
            };
            seen.report(&c.name, id, &objects, &t)
        };
        let asked = judge(wanted);
        if asked.is_soaked() {
            return Ok(Verdicts {
                chosen: Some((wanted.to_string(), asked.clone())),
                asked,
                younger: Vec::new(),
            });
        }
        let chosen = candidate(&asked, graph, wanted, current).map(|id| {
            let report = judge(&id);
            (id, report)
        });
        let chosen = chosen.filter(|(_, r)| r.is_soaked());
        let younger = match (&chosen, graph.find(wanted)) {
            (Some((id, _)), Some(w)) => match graph.find(id) {
                Some(from) => graph
                    .range(from, w)
                    .into_iter()
                    .map(|n| short_id(graph.id(n)).to_string())
                    .collect(),
                None => Vec::new(),
            },
            _ => vec![short_id(wanted).to_string()],
        };
        Ok(Verdicts {
            asked,
            chosen,
            younger,
        })
    }
}

/// The commit every object of stage runs that the others contain (the oldest of theirs), when
/// each object has one and ran it cleanly for the soak time; it must be `wanted` or an ancestor,
/// and newer than `current`.
fn candidate(asked: &Report, graph: &Graph, wanted: &str, current: Option<&str>) -> Option<String> {
    let mut commits = Vec::new();
    for o in &asked.objects {
        // Every object must run some commit, and none may have logged errors or be unknown.
        if matches!(o.verdict, Verdict::Errors | Verdict::Unknown) {
            return None;
        }
        commits.push(graph.find(o.commit.as_deref()?)?);
    }
    let oldest = *commits
        .iter()
        .find(|&&c| commits.iter().all(|&o| graph.contains(o, c)))?;
    let w = graph.find(wanted)?;
    if !graph.contains(w, oldest) {
        return None;
    }
    if let Some(cur) = current.and_then(|c| graph.find(c)) {
        if graph.contains(cur, oldest) {
            return None;
        }
    }
    Some(graph.id(oldest).to_string())
}

/// Now, in seconds since the epoch.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The stage lines of a change report or merge-request description.
pub fn summary_markdown(v: &Verdicts) -> String {
    let mut out = match &v.chosen {
        Some((_, r)) => format!("**Stage:** {}", r.summary()),
        None => format!("**Stage:** {}", v.asked.summary()),
    };
    if !v.younger.is_empty() && v.chosen.is_some() {
        out.push_str(&format!(
            "\n\nNot proposed yet, stage has not run them cleanly for {}: {}",
            crate::util::human_duration(v.asked.soak),
            v.younger.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::ObjectReport;

    /// A line of commits `a…a` <- `b…b` <- `c…c` <- `d…d`.
    fn graph() -> Graph {
        let id = |c: char| c.to_string().repeat(40);
        Graph::new(vec![
            (id('a'), 1, vec![]),
            (id('b'), 2, vec![id('a')]),
            (id('c'), 3, vec![id('b')]),
            (id('d'), 4, vec![id('c')]),
        ])
    }

    fn report(objects: &[(char, Verdict)]) -> Report {
        Report {
            component: RECONCILE.into(),
            id: "d".repeat(40),
            given: "latest".into(),
            at: 0,
            soak: Duration::from_secs(7200),
            objects: objects
                .iter()
                .map(|(c, v)| {
                    let mut o = ObjectReport::new(&crate::cluster::model::Deployment {
                        namespace: "s".into(),
                        cluster: None,
                        environment: None,
                        integration: "i".into(),
                        kind: crate::cluster::model::ObjectKind::Deployment,
                        name: "n".into(),
                        shard: None,
                        image: String::new(),
                        pinned: false,
                        pin_ref: None,
                        args: Vec::new(),
                    })
                    .verdict(*v, "");
                    o.commit = Some(c.to_string().repeat(40));
                    o
                })
                .collect(),
            not_checked: Vec::new(),
            prometheus: None,
        }
    }

    #[test]
    fn the_candidate_is_the_oldest_commit_stage_runs_when_none_is_in_trouble() {
        let g = graph();
        let d = "d".repeat(40);
        let a = Some("aaaaaaa");
        // Stage runs c and b (a rollout half done): b, which both contain.
        let r = report(&[('c', Verdict::NotRunning), ('b', Verdict::NotRunning)]);
        assert_eq!(candidate(&r, &g, &d, a), Some("b".repeat(40)));
        // One object logged errors, or cannot be told: nothing.
        let r = report(&[('c', Verdict::NotRunning), ('c', Verdict::Errors)]);
        assert_eq!(candidate(&r, &g, &d, a), None);
        let r = report(&[('c', Verdict::Unknown)]);
        assert_eq!(candidate(&r, &g, &d, a), None);
        // Not newer than production's version: nothing.
        let r = report(&[('a', Verdict::NotRunning)]);
        assert_eq!(candidate(&r, &g, &d, a), None);
        // Not contained in the version asked for: nothing.
        let r = report(&[('d', Verdict::Young)]);
        assert_eq!(candidate(&r, &g, &"c".repeat(40), a), None);
    }
}
