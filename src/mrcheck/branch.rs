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
    let var = checkout.component(RECONCILE)?.tag_var();
    // `.env` as the merge base with the first base that names a commit has it, against the
    // working tree: one git command in the usual case, run while the model and the reports are
    // read. `./`: the checkout's own `.env`, wherever the checkout sits in its repository.
    let candidates: Vec<&str> = match base {
        Some(b) => vec![b],
        None => vec!["origin/master", "master"],
    };
    for cand in &candidates {
        if cand.starts_with('-') {
            return Err(Error::input(format!("base {cand} is not a revision")));
        }
        let out = git.output(&[
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            "-U0",
            "--merge-base",
            cand,
            "--",
            "./.env",
        ])?;
        if out.success {
            return Ok(Versions {
                old: old_tag(crate::util::head(&out.stdout, ENV_LIMIT), &var, &new),
                new,
            });
        }
        if out.stderr.contains("no merge base") {
            return Err(
                Error::input(format!("the checkout's HEAD shares no history with {cand}"))
                    .with_hint("give the target branch with --base REV"),
            );
        }
    }
    match base {
        Some(b) => Err(Error::input(format!(
            "{}: base {b} is not a commit of this repository",
            checkout.root.display()
        ))),
        // No target branch to compare with (not a git checkout, or a lone branch).
        None => Ok(Versions { old: None, new }),
    }
}

/// The tag `var` had at the merge base, from the diff of `.env` since then: the value of its
/// removed line, else (the line is not in the diff) the tag it has now; none when `.env` is new.
fn old_tag(diff: &str, var: &str, now: &str) -> Option<String> {
    if diff.lines().any(|l| l.starts_with("--- /dev/null")) {
        return None;
    }
    let removed: String = diff
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .map(|l| format!("{}\n", &l[1..]))
        .collect();
    Some(
        parse_env(&removed)
            .into_iter()
            .find(|v| v.name == var)
            .map_or_else(|| now.to_string(), |v| v.value),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_tag_is_the_removed_line_else_the_tag_now() {
        let diff = "diff --git a/.env b/.env\n--- a/.env\n+++ b/.env\n@@ -10 +10 @@\n-export RECONCILE_IMAGE_TAG='a1b2c3d'\n+export RECONCILE_IMAGE_TAG=1234567\n";
        assert_eq!(
            old_tag(diff, "RECONCILE_IMAGE_TAG", "1234567").as_deref(),
            Some("a1b2c3d")
        );
        let other = "--- a/.env\n+++ b/.env\n@@ -3 +3 @@\n-export SCHEMAS_IMAGE_TAG=1\n+export SCHEMAS_IMAGE_TAG=2\n";
        assert_eq!(
            old_tag(other, "RECONCILE_IMAGE_TAG", "1234567").as_deref(),
            Some("1234567")
        );
        assert_eq!(
            old_tag("", "RECONCILE_IMAGE_TAG", "1234567").as_deref(),
            Some("1234567")
        );
        let added =
            "--- /dev/null\n+++ b/.env\n@@ -0,0 +1 @@\n+export RECONCILE_IMAGE_TAG=1234567\n";
        assert_eq!(old_tag(added, "RECONCILE_IMAGE_TAG", "1234567"), None);
    }
}
