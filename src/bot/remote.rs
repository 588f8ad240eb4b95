//! The bot's view of the remote: the target branch, the bot's branch and what it holds, the
//! component's open promotion merge requests; reading them and pushing with a lease.

use super::{Settings, TRAILER};
use crate::checkout::{self, Component};
use crate::error::{Error, Result};
use crate::mr::{self, GitLab, MergeRequest};
use crate::upstream::git::{one_line, Git};
use crate::upstream::Upstream;
use crate::util::short_id;

/// The component's state on the remote, as read at the start of an attempt.
pub(super) struct Remote {
    /// The target branch's head.
    pub(super) base: String,
    /// The bot branch's tip, when it exists.
    pub(super) tip: Option<String>,
    /// What the bot branch holds.
    pub(super) branch: Branch,
    /// The bot branch's open merge request.
    pub(super) mine: Option<MergeRequest>,
    /// The component's other open promotion merge requests (`promote/<component>-<new7>`).
    pub(super) others: Vec<MergeRequest>,
}

pub(super) enum Branch {
    Absent,
    /// Its commits are all in the target already (merged): free to reuse.
    Merged,
    /// One commit of the bot's: the version it proposes (the `.env` tag at the tip) and whether
    /// it sits on the target's head.
    Ours {
        version: String,
        on_base: bool,
    },
    /// Commits the bot did not make: why.
    Edited(String),
}

/// The remote's state for the component.
pub(super) fn read_remote(
    git: &Git,
    gitlab: &GitLab,
    set: &Settings,
    component: &Component,
    branch: &str,
    upstream: &Upstream,
) -> Result<Remote> {
    let tracking = mr::fetch_target(git, &set.remote, &set.target)?;
    let base = git.run_line(&["rev-parse", &format!("{tracking}^{{commit}}")])?;
    let tip = ls_branch(git, &set.remote, branch)?;
    let state = match &tip {
        None => Branch::Absent,
        Some(t) => {
            let local = format!("refs/remotes/{}/{branch}", set.remote);
            let fetch = git.output(&[
                "fetch",
                "--quiet",
                "--no-tags",
                &set.remote,
                &format!("+refs/heads/{branch}:{local}"),
            ])?;
            if !fetch.success {
                return Err(Error::external(format!(
                    "{}: cannot fetch {branch} from {}: {}",
                    git.label(),
                    set.remote,
                    one_line(&fetch.stderr)
                )));
            }
            classify(git, &base, t, component, upstream)?
        }
    };
    let prefix = format!("{branch}-");
    let mut mine = None;
    let mut others = Vec::new();
    for m in gitlab.open_mrs(&set.target)? {
        if m.source_branch == branch {
            mine = Some(m);
        } else if m.source_branch.starts_with(&prefix) {
            others.push(m);
        }
    }
    Ok(Remote {
        base,
        tip,
        branch: state,
        mine,
        others,
    })
}

/// The tip of `branch` on the remote, if it exists.
pub(super) fn ls_branch(git: &Git, remote: &str, branch: &str) -> Result<Option<String>> {
    let r = format!("refs/heads/{branch}");
    let out = git.output(&["ls-remote", "--", remote, &r])?;
    if !out.success {
        return Err(Error::external(format!(
            "{}: cannot read {remote}: {}",
            git.label(),
            one_line(&out.stderr)
        )));
    }
    Ok(out.stdout.lines().find_map(|l| {
        let (id, name) = l.split_once('\t')?;
        (name.trim() == r).then(|| id.trim().to_string())
    }))
}

/// What the bot branch holds: one commit of the bot's (its trailer names the component, its
/// author is its committer), or something else.
pub(super) fn classify(
    git: &Git,
    base: &str,
    tip: &str,
    component: &Component,
    upstream: &Upstream,
) -> Result<Branch> {
    let log = git.run(&[
        "log",
        &format!(
            "--format=%H%x1f%ae%x1f%ce%x1f%(trailers:key={TRAILER},valueonly,separator=%x2C)%x1e"
        ),
        &format!("{base}..{tip}"),
        "--",
    ])?;
    let commits: Vec<Vec<&str>> = log
        .split('\x1e')
        .map(|r| r.trim_matches('\n'))
        .filter(|r| !r.is_empty())
        .map(|r| r.split('\x1f').collect())
        .collect();
    let foreign: Vec<&Vec<&str>> = commits
        .iter()
        .filter(|f| {
            f.len() < 4 || f[3].trim() != component.name || !f[1].eq_ignore_ascii_case(f[2])
        })
        .collect();
    if let Some(f) = foreign.first() {
        return Ok(Branch::Edited(format!(
            "commit {} on the branch was not made by qr-promote",
            short_id(f.first().copied().unwrap_or_default())
        )));
    }
    if commits.is_empty() {
        return Ok(Branch::Merged);
    }
    if commits.len() != 1 {
        return Ok(Branch::Edited(format!(
            "the branch holds {} commits on top of the target, not one promotion",
            commits.len()
        )));
    }
    let env = git.run(&["show", &format!("{tip}:{}", checkout::ENV_FILE)])?;
    let tag = checkout::parse_env(&env)
        .into_iter()
        .find(|v| v.name == component.tag_var())
        .map(|v| v.value);
    let Some(tag) = tag else {
        return Ok(Branch::Edited(format!(
            "the branch's .env has no {}",
            component.tag_var()
        )));
    };
    let version = upstream.resolve_id(&tag, 7)?.id;
    let parent = git.run_line(&["rev-parse", &format!("{tip}^")])?;
    Ok(Branch::Ours {
        version,
        on_base: parent == base,
    })
}

/// Puts the worktree at `base` (detached), unless it is there already.
pub(super) fn checkout_detached(git: &Git, base: &str) -> Result<()> {
    let head = git.run_line(&["rev-parse", "HEAD"])?;
    if head != base {
        git.run(&["checkout", "--quiet", "--detach", base, "--"])?;
    }
    Ok(())
}

/// Pushes `id` to the remote's `branch`, leased on `expected` (the tip read, or none: the branch
/// must not exist). `false` when the lease failed: someone moved the branch meanwhile.
pub(super) fn push(
    git: &Git,
    remote: &str,
    branch: &str,
    id: &str,
    expected: Option<&str>,
) -> Result<bool> {
    let lease = format!(
        "--force-with-lease=refs/heads/{branch}:{}",
        expected.unwrap_or_default()
    );
    let refspec = format!("{id}:refs/heads/{branch}");
    let out = git.output(&["push", "--porcelain", &lease, "--", remote, &refspec])?;
    if out.success {
        return Ok(true);
    }
    // The lease failed on our side ("stale info"), or the remote's ref moved between what it
    // advertised and its update ("cannot lock ref ...: is at X but expected Y"): another run
    // pushed meanwhile.
    let moved = |t: &str| {
        t.contains("stale info")
            || t.contains("[rejected]")
            || (t.contains("cannot lock ref") && t.contains("but expected"))
            || t.contains("failed to update ref")
    };
    if moved(&out.stdout) || moved(&out.stderr) {
        return Ok(false);
    }
    Err(Error::external(format!(
        "{}: push of {branch} to {remote} failed: {}",
        git.label(),
        crate::redact::redact(&one_line(&out.stderr))
    )))
}
