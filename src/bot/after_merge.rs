//! After the merge: does production run the version that merged? The bot's newest merged
//! promotion merge request gets one note, written once and kept current by the runs after it:
//! every object of production running the checkout's version, or those that do not yet (wrong
//! image, rolling out, missing, not checked), and the pinned shards still on their pin. When
//! everything runs it, the authors to notify (only with `notify`) are told that their change is
//! live, and later runs ask production nothing more.

use std::collections::BTreeSet;

use crate::checkout::Checkout;
use crate::cluster::access::{compare_by_cluster, Access};
use crate::cluster::model::{Deployment, Model};
use crate::cluster::verify::{Report, Verdict};
use crate::error::Result;
use crate::mr::{GitLab, MergeRequest};
use crate::util::short_id;

/// The first words of the note on a merged merge request.
pub const MARKER: &str = "**qr-promote after the merge:**";

/// What production runs of the checkout's objects outside stage, each cluster through its
/// context; the objects of a cluster without one are `not checked`.
pub fn production(checkout: &Checkout, access: &Access) -> Result<Report> {
    let model = Model::load(checkout, None)?;
    let stage: BTreeSet<String> = crate::stage::stage_objects(&model, None)
        .into_iter()
        .map(|d| d.namespace)
        .collect();
    let desired: Vec<Deployment> = model
        .deployments(None, None)
        .into_iter()
        .filter(|d| !stage.contains(&d.namespace))
        .collect();
    let clusters: BTreeSet<Option<String>> = desired.iter().map(|d| d.cluster.clone()).collect();
    let clusters: Vec<Option<String>> = clusters.into_iter().collect();
    let known: Vec<&str> = model.clusters.iter().map(|c| c.name.as_str()).collect();
    access.check_clusters(&known)?;
    let plan = access.plan(&clusters, &access.kubeconfig_contexts());
    compare_by_cluster(
        access,
        &plan,
        &desired,
        |cluster| {
            let namespaces: BTreeSet<String> = desired
                .iter()
                .filter(|d| d.cluster.as_deref() == cluster)
                .map(|d| d.namespace.clone())
                .collect();
            namespaces.into_iter().collect()
        },
        |live| live,
    )
}

/// The note: whether production runs `version` everywhere, what does not yet, the pinned shards
/// on their pin, and (everything running it) the authors told that their change is live.
pub fn note(report: &Report, version: &str, authors: &[String]) -> String {
    let v = short_id(version);
    let mut out = if report.is_ok() {
        format!(
            "{MARKER} production runs `{v}` everywhere: {}.\n",
            report.summary()
        )
    } else {
        let mut s = format!(
            "{MARKER} production does not run `{v}` everywhere yet: {}; the next run checks again.\n\n",
            report.summary()
        );
        for e in report.entries.iter().filter(|e| e.verdict != Verdict::Ok) {
            s.push_str(&format!("- `{}`: {}\n", e.key(), e.verdict));
        }
        s
    };
    let pinned: Vec<String> = report
        .entries
        .iter()
        .filter(|e| e.pinned && e.verdict == Verdict::Ok)
        .map(|e| {
            format!(
                "`{}` on `{}`",
                e.name,
                e.actual_image
                    .as_deref()
                    .and_then(|i| i.rsplit(':').next())
                    .unwrap_or("-")
            )
        })
        .collect();
    if !pinned.is_empty() {
        out.push_str(&format!(
            "\nPinned shards still on their pin: {}.\n",
            pinned.join(", ")
        ));
    }
    if report.is_ok() {
        if let Some(s) = crate::mr::notify_sentence(authors) {
            let handles = s.split(':').next().unwrap_or_default();
            out.push_str(&format!(
                "\n{handles}: your change is live in production.\n"
            ));
        }
    }
    out
}

/// Whether a note already says that production runs `version` everywhere.
fn says_done(body: &str, version: &str) -> bool {
    body.starts_with(MARKER)
        && body.contains(&format!(
            "production runs `{}` everywhere",
            short_id(version)
        ))
}

/// The handles a merge request's description mentions in its notify sentence.
pub fn mentioned(mr: &MergeRequest) -> Vec<String> {
    mr.description
        .lines()
        .find(|l| l.ends_with(": this promotion ships your changes; please take a look."))
        .and_then(|l| l.split(':').next())
        .map(|h| h.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// What the step did, for the bot's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No merged merge request of the bot's branch.
    NothingMerged,
    /// Its note already says production runs it everywhere: nothing asked.
    Done { iid: u64 },
    /// The note was written (or kept): whether production runs it everywhere.
    Noted { iid: u64, everywhere: bool },
}

/// The step: the newest merged merge request of `branch`, production checked against
/// `checkout` (the target with the merge), the note written once and kept current.
pub fn check(
    gitlab: &GitLab,
    branch: &str,
    checkout: &Checkout,
    component: &str,
    access: &Access,
    notify: bool,
) -> Result<Outcome> {
    let Some(merged) = last_merged(gitlab, branch)? else {
        return Ok(Outcome::NothingMerged);
    };
    let version = checkout.component(component)?.tag.clone();
    let notes = gitlab.notes(merged.iid)?;
    if notes.iter().any(|n| says_done(n, &version)) {
        return Ok(Outcome::Done { iid: merged.iid });
    }
    let report = production(checkout, access)?;
    write_note(gitlab, &merged, &version, &report, notify)?;
    Ok(Outcome::Noted {
        iid: merged.iid,
        everywhere: report.is_ok(),
    })
}

/// The newest merged merge request of `branch`, if any.
pub fn last_merged(gitlab: &GitLab, branch: &str) -> Result<Option<MergeRequest>> {
    Ok(gitlab
        .branch_mrs(branch)?
        .into_iter()
        .find(|m| m.state == "merged"))
}

/// Writes (or keeps current) the note of `report` on `merged`: `version` is what merged.
pub fn write_note(
    gitlab: &GitLab,
    merged: &MergeRequest,
    version: &str,
    report: &Report,
    notify: bool,
) -> Result<String> {
    let authors = if notify {
        mentioned(merged)
    } else {
        Vec::new()
    };
    let body = note(report, version, &authors);
    gitlab.upsert_note(merged.iid, MARKER, &body)?;
    Ok(body)
}
