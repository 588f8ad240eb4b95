//! The merge-request check of the bot's own merge request, read on a run after the check
//! finished: its summary written as one note on the merge request, kept current.

use std::path::Path;

use crate::checkout::Checkout;
use crate::cluster::model::Model;
use crate::error::Result;
use crate::mr::GitLab;
use crate::mrcheck::reports::Reports;
use crate::mrcheck::source::{read_mr_check, Jenkins};
use crate::mrcheck::{expected, note, Check, Versions};
use crate::upstream::Upstream;
use crate::util::{same_commit, short_id};

/// What the check of merge request `iid` says, when it finished: whether every run is clean or
/// explained and every pin check holds, and the summary line. The model is the target's
/// (`tree`) with the promotion applied: the `.env` tag and the manager's production tag at
/// `version`, as the merge request's branch has them.
pub(super) fn read_and_note(
    gitlab: &GitLab,
    upstream: &Upstream,
    tree: &Path,
    iid: u64,
    from: &str,
    version: &str,
    jenkins: &Jenkins,
) -> Result<Option<(bool, String)>> {
    let mr = gitlab.merge_request(iid)?;
    let checkout = Checkout::open(tree)?;
    let mut model = Model::load(&checkout, None)?;
    let new = short_id(version).to_string();
    model.env_tag = new.clone();
    for tag in model.manager_tags.values_mut() {
        if same_commit(tag, from) {
            *tag = version.to_string();
        }
    }
    let versions = Versions {
        old: Some(from.to_string()),
        new,
    };
    let names: Vec<String> = expected(&model, &versions, &Reports::default())
        .into_iter()
        .map(|e| e.name)
        .collect();
    let fetched = read_mr_check(gitlab, &mr, jenkins, &names)?;
    let Some(reports) = &fetched.reports else {
        return Ok(None);
    };
    let commits = if reports.runs.values().any(|r| !r.parsed.is_clean()) {
        upstream.touched(from, version)?
    } else {
        Vec::new()
    };
    let check = Check::new(
        &model,
        versions,
        reports,
        Some(&commits),
        fetched.url.clone(),
        fetched.progress.clone(),
    );
    gitlab.upsert_note(iid, note::NOTE_MARKER, &note::markdown(&check))?;
    Ok(Some((check.summary.is_good(), note::summary_line(&check))))
}
