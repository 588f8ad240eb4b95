//! The promotion's branch: its name and commit subject (defined here once, with their parser),
//! the checks before a commit, the commit, the same promotion made again on top of a moved
//! target, and the push with its merge request (remembered in the branch's git config).

use std::path::Path;

use crate::checkout::Component;
use crate::error::{Error, Result};
use crate::mr;
use crate::upstream::git::Git;
use crate::upstream::{changes, markdown};
use crate::util::{is_commit_hex, short_id};

use super::Promotion;

/// `qontract` for qontract-reconcile (the subject used for years), else the component's name.
pub fn subject_prefix(c: &Component) -> &str {
    if c.name == "qontract-reconcile" {
        "qontract"
    } else {
        &c.name
    }
}

/// The branch of a promotion: `promote/<component>-<new7>`.
pub fn branch_name(c: &Component, new: &str) -> String {
    format!("promote/{}-{}", c.name, short_id(new))
}

/// The subject of a promotion commit: `<prefix> production promotion <old7> to <new7>`.
pub fn subject(c: &Component, old: &str, new: &str) -> String {
    format!(
        "{} production promotion {} to {}",
        subject_prefix(c),
        short_id(old),
        short_id(new)
    )
}

/// The parts of a promotion subject: (prefix, old7, new7), when `s` is one
/// (`^(qontract|[a-z0-9-]+) production promotion [0-9a-f]{7} to [0-9a-f]{7}$`).
pub fn parse_subject(s: &str) -> Option<(&str, &str, &str)> {
    let (prefix, ids) = s.split_once(" production promotion ")?;
    let (old, new) = ids.split_once(" to ")?;
    let name_ok = !prefix.is_empty()
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let id_ok = |x: &str| x.len() == 7 && x.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (name_ok && id_ok(old) && id_ok(new)).then_some((prefix, old, new))
}

/// The commits of `base..HEAD` whose subject is a promotion subject, newest first, as
/// (id, subject).
pub fn promotion_commits_since(git: &Git, base: &str) -> Result<Vec<(String, String)>> {
    let out = git.run(&[
        "log",
        "--format=%H%x1f%s%x1e",
        &format!("{base}..HEAD"),
        "--",
    ])?;
    Ok(out
        .split('\x1e')
        .filter_map(|rec| {
            let (id, subject) = rec.trim_start_matches('\n').split_once('\x1f')?;
            parse_subject(subject).map(|_| (id.to_string(), subject.to_string()))
        })
        .collect())
}

/// What `--commit` will make: the branch and subject, in the checkout's git.
#[derive(Debug)]
pub struct CommitPlan {
    pub git: Git,
    pub branch: String,
    pub subject: String,
}

/// Checks that the edited files can be committed on a promotion branch: none has uncommitted
/// changes, and HEAD carries no other component's promotion unless `allow_mixed`.
pub fn check_commit(
    root: &Path,
    pr: &Promotion,
    base: Option<&str>,
    allow_mixed: bool,
) -> Result<CommitPlan> {
    let git = checkout_git(root);
    let files: Vec<String> = pr.plan.files.iter().map(|f| f.path.clone()).collect();
    let dirty = git.is_dirty(&files)?;
    if !dirty.is_empty() {
        return Err(Error::refused(format!(
            "--commit: uncommitted changes in {}; commit or stash them first",
            dirty.join(", ")
        )));
    }
    check_branch(git, pr, base, allow_mixed)
}

/// The checks of [`check_commit`] but the uncommitted changes: the promotion the working tree
/// already holds (see [`super::held`]) is made of them.
pub fn check_branch(
    git: Git,
    pr: &Promotion,
    base: Option<&str>,
    allow_mixed: bool,
) -> Result<CommitPlan> {
    let c = &pr.component;
    if let Some(base) = git.resolve_base(base)? {
        let mine = subject_prefix(c);
        let all = promotion_commits_since(&git, &base)?;
        // An earlier promotion of this component on HEAD: a commit on top would stack two
        // versions in one merge request.
        if let Some((id, subject)) = all
            .iter()
            .find(|(_, s)| parse_subject(s).is_some_and(|(p, _, _)| p == mine))
        {
            return Err(Error::refused(format!(
                "--commit: HEAD already carries a promotion of {} not in {base}: {} {subject}; nothing written",
                c.name,
                short_id(id)
            ))
            .with_hint(format!(
                "switch to {base} first: a newer version is a promotion of its own (`bot` keeps one merge request current)"
            )));
        }
        let others: Vec<(String, String)> = all
            .into_iter()
            .filter(|(_, s)| parse_subject(s).is_none_or(|(p, _, _)| p != mine))
            .collect();
        if let Some((id, subject)) = others.first() {
            if !allow_mixed {
                return Err(Error::refused(format!(
                    "--commit: HEAD already carries another promotion not in {base}: {} {subject}",
                    short_id(id)
                ))
                .with_hint("promote one component per branch, or pass --allow-mixed"));
            }
        }
    }
    // The branch must be free (or at HEAD already) before anything is written.
    let branch = branch_name(c, &pr.plan.to);
    let branch_ref = format!("refs/heads/{branch}");
    let existing = git.output(&["rev-parse", "--verify", "--quiet", &branch_ref])?;
    if existing.success {
        let head = git.run_line(&["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])?;
        let at = existing.stdout.trim().to_string();
        if at != head {
            return Err(Error::refused(format!(
                "--commit: branch {branch} already exists at {}, not at HEAD {}; nothing written",
                short_id(&at),
                short_id(&head)
            ))
            .with_hint(format!(
                "an earlier run made it: switch to it to make that promotion again, or delete it (git branch -D {branch})"
            )));
        }
    }
    Ok(CommitPlan {
        branch,
        subject: subject(c, &c.tag, &pr.plan.to),
        git,
    })
}

/// The checkout's git, named by its folder in messages.
pub fn checkout_git(root: &Path) -> Git {
    Git::new(root).with_label(root.display().to_string())
}

/// The body of the promotion commit: the change report, or why there is none.
pub fn commit_body(pr: &Promotion) -> String {
    match &pr.resolution.changes {
        Some(r) => changes::render_text(r),
        None => pr.resolution.note.clone().unwrap_or_default(),
    }
}

/// Commits the written files on the promotion branch; returns the commit id.
pub fn commit(plan: &CommitPlan, written: &[String], pr: &Promotion) -> Result<String> {
    plan.git
        .commit_promotion(written, &plan.branch, &plan.subject, &commit_body(pr))
}

/// The promotion commit that an earlier `apply --commit` of the same promotion left at HEAD.
#[derive(Debug)]
pub struct Earlier {
    pub git: Git,
    pub branch: String,
    pub subject: String,
    /// The component as it was before that commit (its `.env` tag then).
    pub before: Component,
}

/// When HEAD is already the promotion branch of `pr` whose tip is that promotion's commit (and
/// `pr` has nothing to write): the earlier run.
pub fn earlier_run(root: &Path, pr: &Promotion) -> Result<Option<Earlier>> {
    if !pr.plan.is_empty() || pr.plan.to.len() < 7 {
        return Ok(None);
    }
    let git = checkout_git(root);
    let c = &pr.component;
    let branch = branch_name(c, &pr.plan.to);
    let at = git.output(&["symbolic-ref", "--quiet", "--short", "HEAD"])?;
    if !at.success || at.stdout.trim() != branch {
        return Ok(None);
    }
    let subject = git.run_line(&["log", "-1", "--format=%s", "HEAD", "--"])?;
    let ours = parse_subject(&subject)
        .is_some_and(|(p, _, new)| p == subject_prefix(c) && new == short_id(&pr.plan.to));
    if !ours {
        return Ok(None);
    }
    let env = git.output(&["show", "HEAD^:.env"])?;
    let old = crate::checkout::parse_env(&env.stdout)
        .into_iter()
        .find(|v| v.name == c.tag_var())
        .map(|v| v.value);
    let Some(old) = old.filter(|v| env.success && is_commit_hex(v)) else {
        return Ok(None);
    };
    let files = git.run(&["diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD"])?;
    let files: Vec<String> = files.lines().map(str::to_string).collect();
    let dirty = git.is_dirty(&files)?;
    if !dirty.is_empty() {
        return Err(Error::refused(format!(
            "--commit: uncommitted changes in {} of the promotion commit on {branch}",
            dirty.join(", ")
        ))
        .with_hint("commit or stash them first"));
    }
    let mut before = c.clone();
    before.tag = old;
    Ok(Some(Earlier {
        git,
        branch,
        subject,
        before,
    }))
}

/// The earlier promotion commit, made anew.
#[derive(Debug)]
pub struct Again {
    /// The commit before, and the new one.
    pub old_head: String,
    pub id: String,
    /// `moved onto <base>` or `made anew`.
    pub how: String,
}

/// What the promotion commit is made anew on top of.
#[derive(Debug, Clone, Copy)]
pub enum Onto<'a> {
    /// The target branch as the remote has it now (fetched).
    Remote { remote: &'a str, branch: &'a str },
    /// A local base (`--base`, else `origin/master`, else `master`).
    Local(Option<&'a str>),
}

/// Makes the earlier promotion commit anew: on top of the target's head when the target moved,
/// else amended in place (a new head with the same files and message).
pub fn make_again(e: &Earlier, onto: Onto<'_>) -> Result<Again> {
    let base = match onto {
        Onto::Remote { remote, branch } => {
            mr::remote_url(&e.git, remote)?;
            Some(mr::fetch_target(&e.git, remote, branch)?)
        }
        Onto::Local(base) => e.git.resolve_base(base)?,
    };
    let base = base.as_deref();
    let old_head = e.git.run_line(&["rev-parse", "HEAD"])?;
    let parent = e.git.run_line(&["rev-parse", "HEAD^"])?;
    let base_id = match base {
        Some(b) => Some(e.git.run_line(&["rev-parse", &format!("{b}^{{commit}}")])?),
        None => None,
    };
    let how = match base_id.filter(|b| *b != parent) {
        Some(b) => {
            let out = e
                .git
                .output(&["rebase", "--quiet", "--onto", &b, "HEAD^"])?;
            if !out.success {
                let _ = e.git.output(&["rebase", "--abort"]);
                return Err(Error::refused(format!(
                    "{}: the promotion commit does not apply on top of {}: {}",
                    e.branch,
                    base.unwrap_or("the base"),
                    crate::upstream::git::one_line(&out.stderr)
                ))
                .with_hint("start again from the target branch: the branch is left as it was"));
            }
            format!("moved onto {}", base.unwrap_or_default())
        }
        None => {
            e.git
                .run(&["commit", "--amend", "--only", "--no-edit", "--quiet"])?;
            "made anew".to_string()
        }
    };
    let id = e.git.run_line(&["rev-parse", "HEAD"])?;
    Ok(Again { old_head, id, how })
}

/// Where the merge request goes and how it is opened.
#[derive(Debug, Clone)]
pub struct PushOptions {
    pub remote: String,
    pub target_branch: String,
    pub labels: Vec<String>,
    /// Mention the authors to notify in the description.
    pub notify: bool,
    /// Open or update the merge request through the GitLab API (with this token) instead of
    /// push options.
    pub api_token: Option<mr::Secret>,
    pub gitlab_url: Option<String>,
}

/// What a push did.
#[derive(Debug)]
pub struct Pushed {
    pub branch: String,
    pub remote: String,
    pub forced: bool,
    pub up_to_date: bool,
    /// The merge request's URL, from the remote's answer or remembered from an earlier push.
    pub url: Option<String>,
    /// With the API: the merge request opened or updated.
    pub api: Option<mr::MrOutcome>,
}

/// The merge-request description: the Markdown change report (or why there is none), and with
/// `notify` the sentence that mentions the authors to notify who have a user file: the only
/// mentions the description holds. Authors without one are named in the report, never mentioned.
pub fn description(pr: &Promotion, notify: bool) -> String {
    let sentence = if notify {
        let handles: Vec<String> = pr
            .resolution
            .changes
            .iter()
            .flat_map(|r| r.notify.iter())
            .filter_map(|a| a.handle.clone())
            .collect();
        mr::notify_sentence(&handles)
    } else {
        None
    };
    let behind = behind_markdown(&left_behind(pr));
    let room = sentence.as_ref().map_or(0, |s| s.len() + 3) + behind.len() + 2;
    let mut description = match &pr.resolution.changes {
        Some(r) => {
            markdown::render_markdown_within(r, markdown::MAX_DESCRIPTION.saturating_sub(room))
        }
        None => pr.resolution.note.clone().unwrap_or_default(),
    };
    if !behind.is_empty() {
        if !description.is_empty() && !description.ends_with('\n') {
            description.push('\n');
        }
        description.push('\n');
        description.push_str(&behind);
    }
    if let Some(stage) = &pr.stage {
        if !description.is_empty() && !description.ends_with('\n') {
            description.push('\n');
        }
        description.push('\n');
        description.push_str(stage);
        description.push('\n');
    }
    if let Some(sentence) = sentence {
        description.push_str("\n\n");
        description.push_str(&sentence);
        description.push('\n');
    }
    description
}

/// A location or shard that a promotion leaves at another version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Behind {
    /// `drifted` (not at the current version: moved by a person, left alone), `skipped`
    /// (`--skip-location` or `.qr-promote.yaml`), `pinned-shard` (a shard's own `imageRef`).
    pub kind: &'static str,
    /// The file and line (for a shard: its integration and shard instead).
    pub at: String,
    /// The version it stays at.
    pub value: String,
    /// Why it stays.
    pub why: String,
}

/// What the promotion leaves behind: drifted and skipped locations, pinned shards.
pub fn left_behind(pr: &Promotion) -> Vec<Behind> {
    let mut out = Vec::new();
    for l in &pr.plan.drifted {
        out.push(Behind {
            kind: "drifted",
            at: format!("{}:{}", l.path, l.line),
            value: l.value.clone(),
            why: format!(
                "not at the current version {}: left alone",
                short_id(&pr.plan.from)
            ),
        });
    }
    for s in &pr.plan.skipped {
        out.push(Behind {
            kind: "skipped",
            at: format!("{}:{}", s.location.path, s.location.line),
            value: s.location.value.clone(),
            why: s.why.clone(),
        });
    }
    for m in &pr.shards {
        for st in &m.staying {
            out.push(Behind {
                kind: "pinned-shard",
                at: format!("{} shard {}", m.integration, st.shard),
                value: st.image_ref.clone(),
                why: "pinned by its imageRef".into(),
            });
        }
    }
    out
}

/// One line per entry: `- `<at>` stays at `<value>`: <why>` (escaped), under a heading; none
/// when nothing stays.
pub fn behind_markdown(behind: &[Behind]) -> String {
    if behind.is_empty() {
        return String::new();
    }
    let mut s = String::from("**Stays behind** (not moved by this promotion):\n\n");
    for b in behind {
        s.push_str(&format!(
            "- {}: `{}` stays at `{}`: {}\n",
            b.kind,
            b.at.replace('`', "'"),
            b.value.replace('`', "'"),
            markdown::escape(&b.why)
        ));
    }
    s
}

/// Pushes the promotion branch and opens (or updates) its merge request. A failure leaves the
/// local branch and commit as they are.
pub fn push(
    git: &Git,
    branch: &str,
    subject: &str,
    pr: &Promotion,
    opts: PushOptions,
) -> Result<Pushed> {
    let req = mr::MrRequest {
        remote: opts.remote.clone(),
        branch: branch.to_string(),
        target: opts.target_branch.clone(),
        title: subject.to_string(),
        description: description(pr, opts.notify),
        labels: opts.labels.clone(),
    };
    let keep = "the local branch and commit stay: fix the cause and run again";
    let api = opts.api_token.is_some();
    // The GitLab client (and its token) is ready before anything is pushed.
    let gitlab = match opts.api_token {
        Some(token) => Some(mr::gitlab_for_remote(
            git,
            &opts.remote,
            opts.gitlab_url.as_deref(),
            token,
        )?),
        None => None,
    };
    // With the API the REST API opens the merge request; the push carries no options then.
    let out = mr::push_branch(git, &req, !api).map_err(|e| e.with_hint(keep))?;
    // The remote names the merge request only when it receives something: remember it.
    let key = format!("branch.{branch}.qrPromoteMergeRequest");
    let url = match &out.url {
        Some(url) => {
            let _ = git.output(&["config", "--", &key, url]);
            Some(url.clone())
        }
        None => git
            .output(&["config", "--get", "--", &key])
            .ok()
            .filter(|o| o.success && !o.stdout.trim().is_empty())
            .map(|o| o.stdout.trim().to_string()),
    };
    let api = match gitlab {
        Some(gl) => Some(gl.upsert_mr(&req).map_err(|e| e.with_hint(keep))?),
        None => None,
    };
    Ok(Pushed {
        branch: branch.to_string(),
        remote: opts.remote,
        forced: out.forced,
        up_to_date: out.up_to_date,
        url,
        api,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(name: &str) -> Component {
        crate::checkout::components_from_env(&crate::checkout::parse_env(&format!(
            "export X_REPO=https://github.com/app-sre/{name}\nexport X_IMAGE=quay.io/app-sre/{name}\nexport X_IMAGE_TAG=1234567\n"
        )))
        .remove(0)
    }

    #[test]
    fn branch_and_subject_are_made_and_read_back() {
        let new = "abcdef0123456789abcdef0123456789abcdef01";
        for (name, prefix) in [
            ("qontract-reconcile", "qontract"),
            ("qontract-schemas", "qontract-schemas"),
        ] {
            let c = component(name);
            assert_eq!(branch_name(&c, new), format!("promote/{name}-abcdef0"));
            let s = subject(&c, "1234567", new);
            assert_eq!(
                s,
                format!("{prefix} production promotion 1234567 to abcdef0")
            );
            assert_eq!(parse_subject(&s), Some((prefix, "1234567", "abcdef0")));
        }
        for not in [
            "qontract production promotion 1234567 to abcdef0 (again)",
            " production promotion 1234567 to abcdef0",
            "two words production promotion 1234567 to abcdef0",
            "qontract production promotion 1234567 to abcdef",
            "qontract production promotion 1234567 to ABCDEF0",
            "Qontract production promotion 1234567 to abcdef0",
            "production promotion 1234567 to abcdef0",
            "qontract production promotion 1234567 abcdef0",
        ] {
            assert_eq!(parse_subject(not), None, "{not}");
        }
    }
}
