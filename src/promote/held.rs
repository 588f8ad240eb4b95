//! The promotion the working tree already holds: `apply` wrote it, and `apply --commit` is
//! the next step. The promotion is computed again on HEAD's tree (a private copy from git
//! objects) and its files compared with the working tree's: exactly the planned bytes are
//! committed as they are; part of it, or other edits in its files, is refused saying which.

use std::path::{Path, PathBuf};

use crate::checkout::{self, Checkout};
use crate::error::{Error, Result};
use crate::upstream::git::Git;
use crate::util::{capped, short_id};

use super::{Options, Promotion};

/// The folder of the state folder that holds HEAD's tree while it is read.
const TREE: &str = "head-tree";

/// When the working tree holds an uncommitted promotion of `opts.component` (its `.env` tag
/// differs from HEAD's) to `to`: the promotion from HEAD's version, computed on HEAD's tree,
/// once every file it edits holds exactly its planned bytes; `None` when `.env` says what HEAD
/// says. Part of the promotion, or other edits in its files, is refused naming them.
pub fn held_promotion(
    root: &Path,
    state_dir: &Path,
    working: &Checkout,
    opts: &Options,
    to: &str,
) -> Result<Option<Promotion>> {
    let c = working.component(&opts.component)?;
    let git = Git::new(root).with_label(root.display().to_string());
    let Some(before) = head_tag(&git, &c.tag_var())? else {
        return Ok(None);
    };
    if before == c.tag {
        return Ok(None);
    }
    let (tree, copied) = tree_at(&git, root, state_dir, "HEAD", TREE)?;
    let computed = Checkout::open(&tree).and_then(|head| {
        let mut o = opts.clone();
        o.to = Some(to.to_string());
        // The scan cache is the checkout's: a copy's files have other stamps.
        o.scan_cache = o.scan_cache && !copied;
        // Its warnings were printed for the working tree's files already.
        Promotion::compute(&head, &o, &mut |_| {})
    });
    if copied {
        let _ = std::fs::remove_dir_all(&tree);
    }
    let pr = computed?;
    if pr.is_nothing() {
        return Ok(None);
    }
    let (mut planned, mut not_yet, mut otherwise) = (Vec::new(), Vec::new(), Vec::new());
    for f in &pr.plan.files {
        let now = std::fs::read(root.join(&f.path)).ok();
        match now {
            Some(b) if b == f.after => planned.push(f.path.clone()),
            Some(b) if b == f.before => not_yet.push(f.path.clone()),
            _ => otherwise.push(f.path.clone()),
        }
    }
    if not_yet.is_empty() && otherwise.is_empty() {
        return Ok(Some(pr));
    }
    let mut parts = Vec::new();
    if !planned.is_empty() {
        parts.push(format!("as planned: {}", capped(&planned)));
    }
    if !not_yet.is_empty() {
        parts.push(format!("not edited: {}", capped(&not_yet)));
    }
    if !otherwise.is_empty() {
        parts.push(format!("edited otherwise: {}", capped(&otherwise)));
    }
    let mut back: Vec<String> = planned;
    back.extend(otherwise.iter().cloned());
    let what = if otherwise.is_empty() {
        format!("part of the promotion {before} -> {}", short_id(to))
    } else {
        format!(
            "the promotion {before} -> {} with other edits",
            short_id(to)
        )
    };
    let restore = if back.len() <= crate::util::LISTED {
        format!(", or git checkout HEAD -- {}", back.join(" "))
    } else {
        String::new()
    };
    Err(Error::refused(format!(
        "--commit: the working tree holds {what} (.env says {}, HEAD {before}): {}; nothing written",
        c.tag,
        parts.join("; ")
    ))
    .with_hint(format!(
        "start again from HEAD (git stash keeps your edits aside{restore}), then run apply --commit: it writes the whole promotion and commits it"
    )))
}

/// The component's tag (`tag_var`) in HEAD's `.env`; `None` without a HEAD or the line.
fn head_tag(git: &Git, tag_var: &str) -> Result<Option<String>> {
    let env = git.output(&["show", &format!("HEAD:{}", checkout::ENV_FILE)])?;
    if !env.success {
        return Ok(None);
    }
    Ok(checkout::parse_env(&env.stdout)
        .into_iter()
        .find(|v| v.name == tag_var)
        .map(|v| v.value))
}

/// The tree of `base` to read the promotion from: the checkout's own folder when its files are
/// that tree (HEAD's tree, nothing changed, added or ignored under the folders a promotion
/// reads), else a private copy written from git objects into `<state folder>/<name>`. `true`
/// with a copy.
pub fn tree_at(
    git: &Git,
    root: &Path,
    state_dir: &Path,
    base: &str,
    name: &str,
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
    let dir = state_dir.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    crate::util::create_private_dir_all(&dir)?;
    let index = state_dir.join(format!("{name}.index"));
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
