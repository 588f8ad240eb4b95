//! What the checkout says of the merge request being checked: the two versions it moves
//! between (the branch's `.env` and the `.env` of its merge base with the target), its merge
//! request, and the upstream commits it ships with the integrations they touch.

use super::Versions;
use crate::checkout::{parse_env, Checkout};
use crate::cluster::model::RECONCILE;
use crate::error::{Error, Result};
use crate::mr::{GitLab, MergeRequest};
use crate::promote::branch::checkout_git;
use crate::upstream::touched::Touched;

/// The most bytes of the merge base's `.env` read.
const ENV_LIMIT: usize = 1 << 20;

/// The versions of qontract-reconcile the branch moves between: its `.env` tag, and the tag of
/// `.env` in the merge base of `HEAD` and `base` (default `origin/master`, else `master`).
/// Without a base, or when the merge base has no `.env`, there is no old version.
pub fn versions(checkout: &Checkout, base: Option<&str>) -> Result<Versions> {
    let new = checkout.component(RECONCILE)?.tag.clone();
    let git = checkout_git(&checkout.root);
    let Some(base) = git.resolve_base(base)? else {
        return Ok(Versions { old: None, new });
    };
    let mb = git.output(&["merge-base", "HEAD", &base])?;
    let mb = mb.stdout.trim();
    if mb.is_empty() {
        return Err(
            Error::input(format!("the checkout's HEAD shares no history with {base}"))
                .with_hint("give the target branch with --base REV"),
        );
    }
    let shown = git.output(&["show", &format!("{mb}:.env")])?;
    if !shown.success {
        return Ok(Versions { old: None, new });
    }
    let text = crate::util::head(&shown.stdout, ENV_LIMIT);
    let var = checkout.component(RECONCILE)?.tag_var();
    let old = parse_env(text)
        .into_iter()
        .find(|v| v.name == var)
        .map(|v| v.value);
    Ok(Versions { old, new })
}

/// The merge request `iid`, or (`None`) the open one of the checkout's branch.
pub fn merge_request(
    gitlab: &GitLab,
    checkout: &Checkout,
    iid: Option<u64>,
) -> Result<MergeRequest> {
    if let Some(iid) = iid {
        return gitlab.merge_request(iid);
    }
    let git = checkout_git(&checkout.root);
    let at = git.output(&["symbolic-ref", "--quiet", "--short", "HEAD"])?;
    let branch = at.stdout.trim();
    if !at.success || branch.is_empty() {
        return Err(Error::input(
            "the checkout is on no branch: give the merge request with --mr IID",
        ));
    }
    let open = gitlab
        .branch_mrs(branch)?
        .into_iter()
        .find(MergeRequest::is_open)
        .ok_or_else(|| {
            Error::input(format!("branch {branch} has no open merge request"))
                .with_hint("give the merge request with --mr IID")
        })?;
    // The listing leaves out the head commit: ask for the merge request itself.
    gitlab.merge_request(open.iid)
}

/// The commits the promotion ships with the integrations each touches; `None` when the
/// branch moves no version.
pub fn shipped(
    checkout: &Checkout,
    versions: &Versions,
    opts: &crate::history::Options,
) -> Result<Option<Vec<Touched>>> {
    let Some(old) = versions.old.as_deref().filter(|_| versions.is_promotion()) else {
        return Ok(None);
    };
    let upstream = opts.open(checkout.component(RECONCILE)?)?;
    upstream.touched(old, &versions.new).map(Some)
}
