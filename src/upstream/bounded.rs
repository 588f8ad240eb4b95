//! A bounded upstream cache: what promotions fetched (the versions by id, the history between
//! two versions since a margin before the older one), not every branch and tag; how two
//! versions are apart in it, and completing it when a question needs the whole history.

use std::sync::atomic::Ordering;

use super::cache::is_full_id;
use super::Upstream;
use crate::error::{Error, Result};
use crate::util::{make_tree_private, short_id};

/// The file whose presence in the cache says its history is bounded: it holds what promotions
/// fetched (versions by id, the history between two versions), not every branch and tag.
pub(super) const BOUNDED: &str = "qr-promote-bounded";

/// What a bounded fetch of the history between two versions takes before the older one's
/// commit date, so that commits of branches merged between them are there too.
const SINCE_MARGIN_SECS: i64 = 14 * 24 * 60 * 60;

/// What the marker file says to someone who finds it.
pub(super) const BOUNDED_NOTE: &str =
    "qr-promote: this cache holds the commits promotions needed, not every branch and tag; \
the first command that needs the whole history fetches it and removes this file.\n";

/// How two commits of the cache are apart (see `Upstream::sides`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sides {
    /// Commits `old` reaches and `new` does not.
    pub(super) old_only: usize,
    /// Commits `new` reaches and `old` does not.
    pub(super) new_only: usize,
    /// The cache's history between them is whole.
    pub(super) whole: bool,
}

impl Upstream {
    /// Whether the cache holds a bounded history: what promotions fetched, not every branch and
    /// tag with their history. A cache starts so, and stays so until a [`Upstream::fetch`].
    pub fn is_bounded(&self) -> bool {
        self.path.join(BOUNDED).exists()
    }

    /// Whether some commit of the cache lacks its parents (git's `shallow` file).
    pub(super) fn is_shallow(&self) -> bool {
        self.path.join("shallow").exists()
    }

    /// The commits of the cache whose parents it lacks.
    pub(super) fn shallow_commits(&self) -> Result<Vec<String>> {
        let file = self.path.join("shallow");
        match std::fs::read_to_string(&file) {
            Ok(text) => Ok(text
                .lines()
                .map(str::trim)
                .filter(|l| is_full_id(l))
                .map(str::to_ascii_lowercase)
                .collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::io(&file, e)),
        }
    }

    /// Fetches `ids` (commits or tags) alone: each without its parents, without trees.
    pub(super) fn fetch_alone(&self, ids: &[&str]) -> Result<()> {
        self.refuse_offline("fetch")?;
        let mut args = vec![
            "--depth=1",
            "--no-tags",
            "--no-write-fetch-head",
            "--quiet",
            "origin",
        ];
        args.extend(ids.iter().copied());
        self.fetch_with(&args)?;
        make_tree_private(&self.path)
    }

    /// How far apart `old` and `new` (full ids, both in the cache) are, from a cache that
    /// answers as the whole history would: in a bounded cache whose history does not yet connect
    /// them, the history of both since a margin before the older one's commit date is fetched,
    /// and when that does not connect them either, every branch and tag.
    pub(super) fn connect(&self, old: &str, new: &str) -> Result<Sides> {
        let sides = self.sides(old, new)?;
        if sides.whole || !self.is_bounded() {
            return Ok(sides);
        }
        if self.offline {
            return Err(Error::input(format!(
                "{}: the cache holds a bounded history that does not connect {} and {} (offline)",
                self.label(),
                short_id(old),
                short_id(new)
            ))
            .with_hint("run once without --offline: the history between them is fetched"));
        }
        if self.fetched.load(Ordering::Relaxed) {
            return Ok(sides);
        }
        let times = self.git.run(&[
            "log",
            "--no-walk=unsorted",
            "--no-color",
            "--format=%ct",
            old,
            new,
            "--",
        ])?;
        let oldest = times
            .lines()
            .filter_map(|t| t.trim().parse::<i64>().ok())
            .min();
        if let Some(oldest) = oldest {
            let since = format!(
                "--shallow-since={}",
                oldest.saturating_sub(SINCE_MARGIN_SECS)
            );
            let args = [
                since.as_str(),
                "--no-tags",
                "--no-write-fetch-head",
                "--quiet",
                "origin",
                old,
                new,
            ];
            if self.fetch_with(&args).is_ok() {
                make_tree_private(&self.path)?;
                let sides = self.sides(old, new)?;
                if sides.whole {
                    return Ok(sides);
                }
            }
        }
        self.fetch()?;
        self.sides(old, new)
    }

    /// The history between `old` and `new` is known whole in this session.
    pub(super) fn known_whole(&self, old: &str, new: &str) -> bool {
        self.knows(&format!(
            "{}...{}",
            old.to_ascii_lowercase(),
            new.to_ascii_lowercase()
        ))
    }

    /// The commits only `old` reaches and those only `new` reaches, in one `git rev-list
    /// --left-right old...new`, and whether the cache's history between them is whole: neither
    /// is cut, and no commit that one reaches and the other does not is cut (lacks its
    /// parents). Then their merge base, the commits between them and their counts are those of
    /// the whole history.
    pub(super) fn sides(&self, old: &str, new: &str) -> Result<Sides> {
        let cut: std::collections::HashSet<String> = self.shallow_commits()?.into_iter().collect();
        let (old, new) = (old.to_ascii_lowercase(), new.to_ascii_lowercase());
        let pair = format!("{old}...{new}");
        let out = self.git.run(&["rev-list", "--left-right", &pair, "--"])?;
        let mut sides = Sides {
            old_only: 0,
            new_only: 0,
            whole: !cut.contains(&old) && !cut.contains(&new),
        };
        for line in out.lines() {
            let line = line.trim();
            if let Some(id) = line.strip_prefix('<') {
                sides.old_only += 1;
                sides.whole &= !cut.contains(id);
            } else if let Some(id) = line.strip_prefix('>') {
                sides.new_only += 1;
                sides.whole &= !cut.contains(id);
            }
        }
        if sides.whole {
            self.learn(&pair);
        }
        Ok(sides)
    }

    /// Completes a bounded cache (one fetch of every branch and tag) for a question that needs
    /// the whole history; returns whether it fetched. Offline, the cache answers as it is.
    pub(super) fn complete_history(&self) -> Result<bool> {
        if self.offline || !self.is_bounded() || self.fetched.load(Ordering::Relaxed) {
            return Ok(false);
        }
        self.fetch()?;
        Ok(true)
    }

    /// Like [`Upstream::complete_history`], for a question that commits with a cut history
    /// would answer wrong: offline, a cache holding some is refused (`what` names the question).
    pub(super) fn whole_history(&self, what: &str) -> Result<()> {
        if self.offline && self.is_bounded() && self.is_shallow() {
            return Err(Error::input(format!(
                "{}: offline: cannot {what}: the cache holds only the history promotions fetched",
                self.label()
            ))
            .with_hint("run once without --offline: the whole history is fetched"));
        }
        self.complete_history().map(|_| ())
    }

    /// Removes the mark of a bounded cache once it holds the whole history.
    pub(super) fn unmark_bounded(&self) -> Result<()> {
        if self.is_shallow() {
            return Ok(());
        }
        match std::fs::remove_file(self.path.join(BOUNDED)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&self.path.join(BOUNDED), e)),
        }
    }
}
