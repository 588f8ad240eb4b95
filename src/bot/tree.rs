//! The bot's git objects: the target's tree read without a checkout, and the promotion
//! committed on top of the target (the checkout's HEAD, index, branches and files untouched).

use std::path::Path;

use super::{TRAILER, TRIGGERED_BY_TRAILER, VERSION_TRAILER};
use crate::checkout;
use crate::error::{Error, Result};
use crate::promote::{branch, Promotion};
use crate::upstream::git::Git;

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
