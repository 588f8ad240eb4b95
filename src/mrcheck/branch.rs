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
    // The merge base with the first base that names a commit: one git command in the usual
    // case (each runs while the model and the reports are read).
    let candidates: Vec<&str> = match base {
        Some(b) => vec![b],
        None => vec!["origin/master", "master"],
    };
    let mut found = None;
    for cand in &candidates {
        if cand.starts_with('-') {
            return Err(Error::input(format!("base {cand} is not a revision")));
        }
        let out = git.output(&["merge-base", "HEAD", cand])?;
        if out.success {
            found = Some(out.stdout.trim().to_string());
            break;
        }
        if out.stderr.trim().is_empty() {
            return Err(
                Error::input(format!("the checkout's HEAD shares no history with {cand}"))
                    .with_hint("give the target branch with --base REV"),
            );
        }
    }
    let Some(mb) = found else {
        return match base {
            Some(b) => Err(Error::input(format!(
                "{}: base {b} is not a commit of this repository",
                checkout.root.display()
            ))),
            // No target branch to compare with (not a git checkout, or a lone branch).
            None => Ok(Versions { old: None, new }),
        };
    };
    let mb = mb.as_str();
    // `./`: the checkout's own `.env`, wherever the checkout sits in its repository.
    let shown = git.output(&["show", &format!("{mb}:./.env")])?;
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

/// The GitLab project of the checkout's git remote `remote`.
pub fn gitlab_of(
    checkout: &Checkout,
    remote: &str,
    base_url: Option<&str>,
    token: crate::mr::Secret,
) -> Result<GitLab> {
    crate::mr::gitlab_for_remote(&checkout_git(&checkout.root), remote, base_url, token)
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
    let c = checkout.component(RECONCILE)?;
    // `--upstream`, else the one `.qr-promote.yaml` keeps, else `.env`'s.
    let opts = crate::history::Options {
        upstream: Some(checkout.upstream_of(c, opts.upstream.as_deref())),
        ..opts.clone()
    };
    let upstream = opts.open(c)?;
    upstream.touched(old, &versions.new).map(Some)
}
