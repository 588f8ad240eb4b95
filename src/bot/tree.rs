//! The bot's git objects: the target's tree read without a checkout, and the promotion
//! committed on top of the target (the checkout's HEAD, index, branches and files untouched).

use std::path::{Path, PathBuf};

use super::{TRAILER, TRIGGERED_BY_TRAILER, VERSION_TRAILER};
use crate::checkout;
use crate::error::{Error, Result};
use crate::promote::{branch, Promotion};
use crate::upstream::git::Git;

/// The tree of `base` to read the promotion from: the checkout's own folder when its files are
/// that tree (HEAD's tree, nothing changed, added or ignored under the folders a promotion
/// reads), else a private copy written from git objects into the state folder. `true` with a
/// copy.
pub(super) fn tree_at(
    git: &Git,
    root: &Path,
    state_dir: &Path,
    base: &str,
) -> Result<(PathBuf, bool)> {
    let head = git.output(&["rev-parse", "--verify", "--quiet", "HEAD^{tree}"])?;
    let want = git.run_line(&["rev-parse", &format!("{base}^{{tree}}")])?;
    if head.success && head.stdout.trim() == want {
        let status = git.run(&[
            "status",
            "--porcelain",
            "--ignored=matching",
            "--untracked-files=all",
            "--",
            checkout::ENV_FILE,
            "data",
            "resources",
            crate::config::CONFIG_FILE,
        ])?;
        if status.trim().is_empty() {
            return Ok((root.to_path_buf(), false));
        }
    }
    let dir = state_dir.join("bot-tree");
    let _ = std::fs::remove_dir_all(&dir);
    crate::util::create_private_dir_all(&dir)?;
    let index = state_dir.join("bot-tree.index");
    let indexed = git.clone().with_env("GIT_INDEX_FILE", &index);
    let prefix = format!("{}/", dir.display());
    let made = indexed.run(&["read-tree", base]).and_then(|_| {
        indexed.run(&[
            "checkout-index",
            "--all",
            "--force",
            &format!("--prefix={prefix}"),
        ])
    });
    let _ = std::fs::remove_file(&index);
    made?;
    Ok((dir, true))
}

/// Commits the promotion on top of `base` without touching the worktree, the index or a branch
/// (the files as they are in `base`, the new bytes from the plan); returns the commit. Its body
/// is the merge request's description (the same escaped text: no mention but the notify
/// sentence), then the bot's trailers.
pub(super) fn commit(
    git: &Git,
    root: &Path,
    pr: &Promotion,
    base: &str,
    description: &str,
    by: Option<&str>,
) -> Result<String> {
    let c = &pr.component;
    let real_root = std::fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
    let mut files = Vec::new();
    for f in &pr.plan.files {
        // The path git knows: through links inside the checkout, the file they lead to.
        let real = checkout::real_path_inside(&real_root, &f.path)?;
        let rel = real
            .strip_prefix(&real_root)
            .map_err(|_| Error::refused(format!("{}: not inside the checkout", f.path)))?
            .to_string_lossy()
            .into_owned();
        files.push((rel, f.after.clone()));
    }
    let subject = branch::subject(c, &c.tag, &pr.plan.to);
    let mut trailers = format!("{TRAILER}: {}\n{VERSION_TRAILER}: {}\n", c.name, pr.plan.to);
    if let Some(by) = by.map(|b| b.replace(['\n', '\r'], " ")) {
        trailers.push_str(&format!("{TRIGGERED_BY_TRAILER}: {}\n", by.trim()));
    }
    let body = description.trim_end();
    let message = if body.is_empty() {
        format!("{subject}\n\n{trailers}")
    } else {
        format!("{subject}\n\n{body}\n\n{trailers}")
    };
    git.commit_on(base, &files, &message)
}
