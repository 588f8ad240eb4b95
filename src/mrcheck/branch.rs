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
    start_versions(checkout, base)?.finish()
}

/// The arguments of the one git command that answers [`versions`] for a base: `.env` as the
/// merge base with `base` has it, against the working tree (`./`: the checkout's own `.env`,
/// wherever the checkout sits in its repository).
fn diff_args(base: &str) -> [&str; 9] {
    [
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--no-renames",
        "-U0",
        "--merge-base",
        base,
        "--",
        "./.env",
    ]
}

/// [`versions`] under way: the git command of the first base runs while the caller reads
/// the model and the reports.
pub struct PendingVersions {
    git: crate::upstream::git::Git,
    running: Option<(std::process::Child, std::time::Instant)>,
    candidates: Vec<String>,
    explicit: Option<String>,
    root: std::path::PathBuf,
    var: String,
    new: String,
}

/// Starts [`versions`]: its first git command runs in the background.
pub fn start_versions(checkout: &Checkout, base: Option<&str>) -> Result<PendingVersions> {
    let c = checkout.component(RECONCILE)?;
    let candidates: Vec<String> = match base {
        Some(b) if b.starts_with('-') => {
            return Err(Error::input(format!("base {b} is not a revision")))
        }
        Some(b) => vec![b.to_string()],
        None => vec!["origin/master".into(), "master".into()],
    };
    let git = checkout_git(&checkout.root);
    let mut cmd = git.spawn_command(&diff_args(&candidates[0]));
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let start = std::time::Instant::now();
    // A git that cannot start is asked again, and said, by `finish`.
    let running = cmd.spawn().ok().map(|child| (child, start));
    Ok(PendingVersions {
        git,
        running,
        candidates,
        explicit: base.map(str::to_string),
        root: checkout.root.clone(),
        var: c.tag_var(),
        new: c.tag.clone(),
    })
}

impl PendingVersions {
    /// The versions, once the git command ends (and the next base's, when the first names no
    /// commit).
    pub fn finish(mut self) -> Result<Versions> {
        let candidates = std::mem::take(&mut self.candidates);
        for (i, cand) in candidates.iter().enumerate() {
            let args = diff_args(cand);
            let out = match (i, self.running.take()) {
                (0, Some((child, start))) => {
                    let done = child
                        .wait_with_output()
                        .map_err(|e| self.git.cannot_run(&args, start, e))?;
                    let stderr = String::from_utf8_lossy(&done.stderr).into_owned();
                    self.git.log_run(
                        &args,
                        start.elapsed(),
                        done.status,
                        0,
                        done.stdout.len(),
                        &stderr,
                    );
                    crate::upstream::git::GitOutput {
                        success: done.status.success(),
                        stdout: String::from_utf8_lossy(&done.stdout).into_owned(),
                        stderr,
                    }
                }
                _ => self.git.output(&args)?,
            };
            if out.success {
                let diff = crate::util::head(&out.stdout, ENV_LIMIT);
                return Ok(Versions {
                    old: old_tag(diff, &self.var, &self.new),
                    new: self.new,
                });
            }
            if out.stderr.contains("no merge base") {
                return Err(Error::input(format!(
                    "the checkout's HEAD shares no history with {cand}"
                ))
                .with_hint("give the target branch with --base REV"));
            }
        }
        match self.explicit {
            Some(b) => Err(Error::input(format!(
                "{}: base {b} is not a commit of this repository",
                self.root.display()
            ))),
            // No target branch to compare with (not a git checkout, or a lone branch).
            None => Ok(Versions {
                old: None,
                new: self.new,
            }),
        }
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
