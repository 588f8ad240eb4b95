//! What the bot does to merge requests other than its own: closing those a newer version or
//! production supersedes, and the note on a branch it leaves alone.

use super::remote::Remote;
use super::{bot_branch, MrRef, Report, State, Status, DECLINED_NOTE, HANDS_OFF_NOTE};
use crate::checkout::Component;
use crate::error::Result;
use crate::mr::{GitLab, MergeRequest};
use crate::promote::{branch, Promotion};
use crate::upstream::{Relation, Upstream};
use crate::util::short_id;

/// Closes the other promotion merge requests of versions `version` descends from (or equals),
/// each with a note that links `successor`.
pub(super) fn close_superseded(
    gitlab: &GitLab,
    upstream: &Upstream,
    others: &[MergeRequest],
    successor: &MergeRequest,
    version: &str,
) -> Result<Vec<MrRef>> {
    let mut closed = Vec::new();
    for o in others {
        let Some((_, _, new7)) = branch::parse_subject(&o.title) else {
            continue;
        };
        let older = matches!(
            upstream.relation(new7, version),
            Ok(Relation::Same) | Ok(Relation::Descends { .. })
        );
        if !older {
            continue;
        }
        gitlab.add_note(
            o.iid,
            &format!(
                "Superseded by !{} ({}), which promotes `{}`: closing.",
                successor.iid,
                successor.web_url,
                short_id(version)
            ),
        )?;
        gitlab.close_mr(o.iid)?;
        closed.push(MrRef::of(o));
    }
    Ok(closed)
}

/// Production already runs the version (or a newer one): the open promotion merge requests
/// whose versions it has are closed as done (the bot's own proposes no newer version, or the
/// version asked for would have been that one).
pub(super) fn done_already(
    gitlab: &GitLab,
    upstream: &Upstream,
    now: &Component,
    remote: &Remote,
    pr: &Promotion,
) -> Result<Report> {
    let mut closed = Vec::new();
    let shipped = |m: &MergeRequest| {
        branch::parse_subject(&m.title).is_some_and(|(_, _, new7)| {
            matches!(
                upstream.relation(new7, &now.tag),
                Ok(Relation::Same) | Ok(Relation::Descends { .. })
            )
        })
    };
    let others = remote.others.iter().filter(|m| shipped(m));
    for m in remote.mine.iter().chain(others) {
        gitlab.add_note(
            m.iid,
            &format!(
                "Production already runs `{}`, which includes this promotion: closing as done.",
                short_id(&now.tag)
            ),
        )?;
        gitlab.close_mr(m.iid)?;
        closed.push(MrRef::of(m));
    }
    let status = if closed.is_empty() {
        Status::NothingToDo
    } else {
        Status::ClosedDone
    };
    let message = match (&pr.resolution.relation, closed.is_empty()) {
        (Some(Relation::Rollback { .. }), true) => format!(
            "production already runs {}, newer than {}",
            short_id(&now.tag),
            short_id(&pr.plan.to)
        ),
        (_, true) => format!("production already runs {}", short_id(&pr.plan.to)),
        (_, false) => format!(
            "production already runs {}: closed {}",
            short_id(&now.tag),
            closed
                .iter()
                .map(|m| format!("!{}", m.iid))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Ok(Report {
        component: now.name.clone(),
        status,
        state: State::Done,
        from: now.tag.clone(),
        version: Some(pr.plan.to.clone()),
        triggered_by: None,
        merge_request: None,
        closed,
        behind: Vec::new(),
        after_merge: None,
        message,
    })
}

/// A person closed the merge request of `version`: nothing is proposed, and the closed merge
/// request says once that the bot will not propose it again.
pub(super) fn declined(
    gitlab: &GitLab,
    now: &Component,
    remote: &Remote,
    closed: &MergeRequest,
    version: &str,
) -> Result<Report> {
    let which = format!("!{}", closed.iid);
    gitlab.upsert_note(
        closed.iid,
        DECLINED_NOTE,
        &format!(
            "{DECLINED_NOTE} `{}` again: this merge request was closed. A newer version gets a new merge request.",
            short_id(version)
        ),
    )?;
    let mut r = Report::idle(
        &now.name,
        Status::Declined,
        State::Declined,
        &now.tag,
        remote.mine.as_ref(),
        format!(
            "{} was closed by a person in {which}: not proposed again; a newer version will be",
            short_id(version)
        ),
    );
    r.version = Some(version.to_string());
    Ok(r)
}

/// The branch holds someone else's commit and its merge request is open: one note on it (kept
/// current, never repeated), nothing else.
pub(super) fn left_alone(
    gitlab: &GitLab,
    now: &Component,
    remote: &Remote,
    why: &str,
) -> Result<Report> {
    if let Some(m) = &remote.mine {
        let tip = remote.tip.as_deref().map(short_id).unwrap_or_default();
        let note = format!(
            "{HANDS_OFF_NOTE}: {why} (at `{tip}`). It will not push to it while this merge request is open; merge or close it, or remove that commit from the branch, to let it propose newer versions."
        );
        gitlab.upsert_note(m.iid, HANDS_OFF_NOTE, &note)?;
    }
    Ok(Report::idle(
        &now.name,
        Status::LeftAlone,
        State::LeftAlone,
        &now.tag,
        remote.mine.as_ref(),
        format!("left {} alone: {why}", bot_branch(&now.name)),
    ))
}
