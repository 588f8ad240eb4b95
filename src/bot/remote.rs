//! The bot's view of the remote: the target branch, the bot's branch and whose commits it holds,
//! the merge requests of the component; reading them and pushing with a lease.
//!
//! Whose commits the branch holds is asked of the remote, whatever the local clone holds (a
//! `--depth 1` clone, a single branch, a clone older than the remote): the branch is fetched
//! into a private probe repository with `--shallow-exclude=<target>` and `--filter=tree:0`, so
//! the remote itself sends exactly the branch's commits that the target lacks (commits only, no
//! trees), and nothing of the checkout's history, shallow boundary or refs is changed.

use std::path::{Path, PathBuf};

use super::{Settings, TRAILER, TRIGGERED_BY_TRAILER, VERSION_TRAILER};
use crate::checkout::Component;
use crate::error::{Error, Result};
use crate::mr::{self, GitLab, MergeRequest};
use crate::promote::branch;
use crate::upstream::git::{one_line, Git};
use crate::upstream::Upstream;
use crate::util::{is_commit_hex, short_id};

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
    /// The bot branch's newest merge request that is no longer open (closed or merged), when
    /// it is newer than the open one (or there is none open).
    pub(super) last_closed: Option<MergeRequest>,
    /// The versions (full ids) whose merge requests of the bot branch a person closed.
    pub(super) declined: Vec<(String, MergeRequest)>,
    /// The component's other open promotion merge requests (`promote/<component>-<new7>`).
    pub(super) others: Vec<MergeRequest>,
    /// Every open merge request into the target (to find other components' bot branches).
    pub(super) open: Vec<MergeRequest>,
}

pub(super) enum Branch {
    Absent,
    /// Its commits are all in the target already (merged): free to reuse.
    Merged,
    /// One commit of the bot's: the version it proposes, whether it sits on the target's head,
    /// and who pushed that version upstream (as its title named them).
    Ours {
        version: String,
        on_base: bool,
        by: Option<String>,
    },
    /// Commits the bot did not make: why.
    Edited(String),
}

/// One commit of the bot's branch that the target lacks.
#[derive(Debug)]
struct BranchCommit {
    id: String,
    author: String,
    author_email: String,
    committer_email: String,
    subject: String,
    component: String,
    version: String,
    by: String,
    parents: Vec<String>,
}

/// The remote's state for the component.
pub(super) fn read_remote(
    git: &Git,
    gitlab: &GitLab,
    set: &Settings,
    state_dir: &Path,
    component: &Component,
    branch: &str,
    upstream: &Upstream,
) -> Result<Remote> {
    let tracking = mr::fetch_target(git, &set.remote, &set.target)?;
    let base = git.run_line(&["rev-parse", &format!("{tracking}^{{commit}}")])?;
    let tip = ls_branch(git, &set.remote, branch)?;
    let state = match &tip {
        None => Branch::Absent,
        Some(_) => {
            let commits = probe(git, state_dir, &set.remote, &set.target, branch)?;
            classify(&commits, &base, component, upstream)?
        }
    };
    let prefix = format!("{branch}-");
    let mut mine = None;
    let mut others = Vec::new();
    let open = gitlab.open_mrs(&set.target)?;
    for m in &open {
        if m.source_branch == branch {
            mine = Some(m.clone());
        } else if m.source_branch.starts_with(&prefix) {
            others.push(m.clone());
        }
    }
    // The branch's merge requests of every state, newest first: a person's close is final for
    // its version, and a close or merge releases a branch a person changed.
    let history = gitlab.branch_mrs(branch)?;
    let newest_open = mine.as_ref().map_or(0, |m| m.iid);
    let last_closed = history
        .iter()
        .find(|m| !m.is_open() && m.iid > newest_open)
        .cloned();
    let mut declined: Vec<(String, MergeRequest)> = Vec::new();
    for m in history.iter().filter(|m| m.state == "closed") {
        if let Some(v) = proposed_version(m, upstream) {
            if !declined.iter().any(|(d, _)| *d == v) {
                declined.push((v, m.clone()));
            }
        }
    }
    Ok(Remote {
        base,
        tip,
        branch: state,
        mine,
        last_closed,
        declined,
        others,
        open,
    })
}

impl Remote {
    /// The merge request of `version` that a person closed, if one did.
    pub(super) fn declined(&self, version: &str) -> Option<&MergeRequest> {
        self.declined
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, m)| m)
    }
}

/// The version a merge request of the bot proposed: the full id its description's compare link
/// ends with, else the one its title's short id names.
fn proposed_version(m: &MergeRequest, upstream: &Upstream) -> Option<String> {
    let (_, _, new7) = branch::parse_subject(m.title.split(" by ").next().unwrap_or_default())?;
    let full = m
        .description
        .split(|c: char| !c.is_ascii_hexdigit())
        .find(|w| w.len() == 40 && w.starts_with(new7) && is_commit_hex(w));
    match full {
        Some(f) => Some(f.to_ascii_lowercase()),
        None => upstream.resolve_id(new7, 7).ok().map(|r| r.id),
    }
}

/// The tip of `branch` on the remote, if it exists.
pub(super) fn ls_branch(git: &Git, remote: &str, branch: &str) -> Result<Option<String>> {
    let r = format!("refs/heads/{branch}");
    let out = git.output(&["ls-remote", "--", remote, &r])?;
    if !out.success {
        return Err(Error::external(format!(
            "{}: cannot read {remote}: {}",
            git.label(),
            crate::redact::redact(&one_line(&out.stderr))
        )));
    }
    Ok(out.stdout.lines().find_map(|l| {
        let (id, name) = l.split_once('\t')?;
        (name.trim() == r).then(|| id.trim().to_string())
    }))
}

/// The probe repository of a checkout: a bare repository in the state folder that reads the
/// checkout's git configuration (its remotes, URL rewrites, credentials) and nothing else.
fn probe_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("bot-probe")
}

/// Removes what a run killed in the middle left in the state folder.
pub(super) fn clean_state(state_dir: &Path) {
    let _ = std::fs::remove_dir_all(probe_dir(state_dir));
    let _ = std::fs::remove_dir_all(state_dir.join("bot-tree"));
}

/// The bot branch's commits that the target lacks, newest first, as the remote computes them;
/// `None` when the target has them all (merged).
fn probe(
    git: &Git,
    state_dir: &Path,
    remote: &str,
    target: &str,
    branch: &str,
) -> Result<Option<Vec<BranchCommit>>> {
    let dir = probe_dir(state_dir);
    let _ = std::fs::remove_dir_all(&dir);
    let common = git.run_line(&["rev-parse", "--path-format=absolute", "--git-common-dir"])?;
    let config = Path::new(&common).join("config");
    let dir_str = dir.to_string_lossy().into_owned();
    Git::new(state_dir)
        .with_label(git.label())
        .run(&["init", "--bare", "--quiet", &dir_str])?;
    let p = Git::new(&dir)
        .with_label(git.label())
        .with_env("GIT_DIR", &dir)
        .with_env("GIT_NO_LAZY_FETCH", "1");
    p.run(&["config", "include.path", &config.to_string_lossy()])?;
    let result = (|| {
        let exclude = format!("--shallow-exclude=refs/heads/{target}");
        let refspec = format!("+refs/heads/{branch}:refs/probe");
        let fetch = p.output(&[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--filter=tree:0",
            &exclude,
            "--",
            remote,
            &refspec,
        ])?;
        if !fetch.success {
            if fetch
                .stderr
                .contains("no commits selected for shallow requests")
            {
                return Ok(None);
            }
            return Err(Error::external(format!(
                "{}: cannot fetch {branch} from {remote}: {}",
                git.label(),
                crate::redact::redact(&one_line(&fetch.stderr))
            )));
        }
        let log = p.run(&[
            "log",
            &format!(
                "--format=%H%x1f%an%x1f%ae%x1f%ce%x1f%s%x1f%(trailers:key={TRAILER},valueonly,separator=%x2C)%x1f%(trailers:key={VERSION_TRAILER},valueonly,separator=%x2C)%x1f%(trailers:key={TRIGGERED_BY_TRAILER},valueonly,separator=%x2C)%x1e"
            ),
            "refs/probe",
            "--",
        ])?;
        let mut commits = Vec::new();
        for rec in log.split('\x1e') {
            let f: Vec<&str> = rec.trim_matches('\n').split('\x1f').collect();
            if f.len() < 8 {
                continue;
            }
            commits.push(BranchCommit {
                id: f[0].to_string(),
                author: f[1].to_string(),
                author_email: f[2].to_string(),
                committer_email: f[3].to_string(),
                subject: f[4].to_string(),
                component: f[5].trim().to_string(),
                version: f[6].trim().to_string(),
                by: f[7].trim().to_string(),
                parents: Vec::new(),
            });
        }
        // Shallow commits show no parents to `log`; the objects name them.
        for c in &mut commits {
            let raw = p.run(&["cat-file", "commit", &c.id])?;
            c.parents = raw
                .lines()
                .take_while(|l| !l.is_empty())
                .filter_map(|l| l.strip_prefix("parent "))
                .map(str::to_string)
                .collect();
        }
        Ok(Some(commits))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// What the bot branch holds: one commit of the bot's (its trailer names the component, its
/// author is its committer, its parent is in the target), or something else.
fn classify(
    commits: &Option<Vec<BranchCommit>>,
    base: &str,
    component: &Component,
    upstream: &Upstream,
) -> Result<Branch> {
    let Some(commits) = commits else {
        return Ok(Branch::Merged);
    };
    if commits.is_empty() {
        return Ok(Branch::Merged);
    }
    let foreign = commits.iter().find(|c| {
        c.component != component.name || !c.author_email.eq_ignore_ascii_case(&c.committer_email)
    });
    if let Some(f) = foreign {
        return Ok(Branch::Edited(format!(
            "commit {} by {} on the branch was not made by qr-promote",
            short_id(&f.id),
            f.author
        )));
    }
    if commits.len() != 1 {
        return Ok(Branch::Edited(format!(
            "the branch holds {} commits on top of the target, not one promotion",
            commits.len()
        )));
    }
    let c = &commits[0];
    let version = if is_commit_hex(&c.version) && c.version.len() == 40 {
        c.version.to_ascii_lowercase()
    } else {
        // Commits made before the version trailer: the subject's short id.
        let Some((_, _, new7)) = branch::parse_subject(&c.subject) else {
            return Ok(Branch::Edited(format!(
                "commit {} on the branch is not a promotion ({:?})",
                short_id(&c.id),
                c.subject
            )));
        };
        upstream.resolve_id(new7, 7)?.id
    };
    Ok(Branch::Ours {
        version,
        on_base: c.parents.len() == 1 && c.parents[0] == base,
        by: Some(c.by.clone()).filter(|b| !b.is_empty()),
    })
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
