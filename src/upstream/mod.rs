//! A component's upstream git repository: its tree-less local cache, resolving versions, how two
//! versions relate, and the commits between them.
//!
//! - [`git`]: running the git program.
//! - `cache`: the bare tree-less clone under the cache folder, bounded to what promotions need
//!   until a command needs the whole history; fetching, resolving revisions.
//! - `remote`: the commands that contact the upstream, its URL and credentials.
//! - [`people`]: the checkout's users, and the persons behind a range's commits.
//! - [`changes`]: the change report of a promotion (compare link, commits, authors), as text;
//!   [`markdown`]: as a merge-request description that mentions nobody by accident.

pub mod ancestry;
mod bounded;
mod cache;
pub mod changes;
pub mod git;
pub mod markdown;
mod names;
pub mod people;
mod remote;
pub mod touched;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::error::{Error, Result};
use crate::util::short_id;
use git::{one_line, Git};

/// Where the caches live and how far resolving may go.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// The cache root; upstream caches are bare repositories under `<cache_dir>/upstreams/`.
    pub cache_dir: PathBuf,
    /// Never contact the upstream: answer from the cache alone.
    pub offline: bool,
    /// Show a progress spinner on stderr when a fetch takes more than a moment.
    pub progress: bool,
}

/// A version resolved to one commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resolved {
    /// The full commit id (lowercase hex).
    pub id: String,
    /// Its first seven digits.
    pub short: String,
    /// The branch or tag it came from (the default branch for `latest`), if any.
    pub name: Option<String>,
    /// The commit is in the cache. Only false offline, for a full id the cache lacks.
    pub in_cache: bool,
    /// Resolving it fetched from the upstream.
    pub fetched: bool,
}

/// How a new version relates to the old one in the upstream's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Relation {
    /// Both name the same commit.
    Same,
    /// The new commit descends from the old one, `commits` commits later.
    Descends {
        /// Commits in `old..new`.
        commits: usize,
    },
    /// The new commit is an ancestor of the old one: going there undoes `commits` commits.
    Rollback {
        /// Commits in `new..old`.
        commits: usize,
    },
    /// Neither descends from the other; they fork at `merge_base`.
    Diverged {
        /// The best common ancestor (full id).
        merge_base: String,
    },
}

/// One upstream commit, as the change report shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommitInfo {
    /// Full commit id.
    pub id: String,
    /// First seven digits of the id.
    pub short: String,
    /// First line of the message.
    pub subject: String,
    /// Author name.
    pub author_name: String,
    /// Author email.
    pub author_email: String,
    /// Pull request number from a trailing `(#1234)` (or a `Merge pull request #1234` subject).
    pub pr: Option<u64>,
}

/// An upstream repository, reached through its local cache.
///
/// Credentials in an http(s) URL (`https://user:token@host/...`) never reach the cache: its git
/// configuration holds the URL without them, and each command that contacts the upstream gets
/// them through its environment (`GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`, an
/// `http.extraHeader` with Basic authorization), which other users cannot read in the process
/// list. Every message names the URL with its credentials redacted, and so does `Debug`.
pub struct Upstream {
    /// The URL as given.
    url: String,
    /// The URL as messages show it: credentials redacted.
    shown: String,
    /// What git fetches from (`file://` for local paths), without credentials.
    remote: String,
    /// Git for commands that contact the upstream: the cache's, with the credentials.
    remote_git: Git,
    /// The secrets to keep out of messages (the password and the header value).
    secrets: Vec<String>,
    /// A local upstream's absolute path.
    local: Option<PathBuf>,
    /// The bare cache repository.
    path: PathBuf,
    git: Git,
    offline: bool,
    progress: bool,
    /// A fetch happened in this session: a miss after it is final.
    fetched: AtomicBool,
    /// What this session learnt of the cache that no fetch undoes: the commits it holds, and
    /// the pairs of versions (`old...new`) whose history between them it holds whole.
    known: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("url", &self.shown)
            .field("remote", &self.remote)
            .field("local", &self.local)
            .field("path", &self.path)
            .field("offline", &self.offline)
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL as messages show it, credentials redacted.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }

    /// What git fetches from (a local path becomes a `file://` URL), without credentials.
    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// The bare cache repository.
    pub fn cache_path(&self) -> &Path {
        &self.path
    }

    /// How `new` relates to `old`; both are commit ids (7 to 40 digits) that must be in the
    /// upstream (the cache is fetched if it lacks them).
    pub fn relation(&self, old: &str, new: &str) -> Result<Relation> {
        let old = self.cached_commit(old)?;
        let new = self.cached_commit(new)?;
        if old == new {
            return Ok(Relation::Same);
        }
        let sides = self.connect(&old, &new)?;
        match (sides.old_only, sides.new_only) {
            (0, commits) => return Ok(Relation::Descends { commits }),
            (commits, 0) => return Ok(Relation::Rollback { commits }),
            _ => {}
        }
        let out = self.git.output(&["merge-base", &old, &new])?;
        let base = out.stdout.trim();
        if !out.success || base.is_empty() {
            if out.stderr.trim().is_empty() {
                return Err(Error::refused(format!(
                    "{}: {} and {} share no history",
                    self.label(),
                    short_id(&old),
                    short_id(&new)
                )));
            }
            return Err(Error::external(format!(
                "{}: git merge-base failed: {}",
                self.label(),
                one_line(&out.stderr)
            )));
        }
        Ok(Relation::Diverged {
            merge_base: base.to_string(),
        })
    }

    /// The commits of `old..new` (in `new`, not in `old`), newest first. Needs no trees: a
    /// bounded cache fetches the history between the two versions alone.
    pub fn commits(&self, old: &str, new: &str) -> Result<Vec<CommitInfo>> {
        let old = self.cached_commit(old)?;
        let new = self.cached_commit(new)?;
        if old != new && !self.known_whole(&old, &new) {
            self.connect(&old, &new)?;
        }
        let range = format!("{old}..{new}");
        let out = self.git.run(&[
            "log",
            "--no-color",
            "--format=%H%x1f%s%x1f%an%x1f%ae%x1e",
            &range,
            "--",
        ])?;
        Ok(out
            .split('\x1e')
            .filter_map(|rec| {
                let mut f = rec.trim_start_matches('\n').split('\x1f');
                let id = f.next()?.to_string();
                let subject = f.next()?.to_string();
                let author_name = f.next()?.to_string();
                let author_email = f.next()?.to_string();
                Some(CommitInfo {
                    short: short_id(&id).to_string(),
                    pr: pr_number(&subject),
                    id,
                    subject,
                    author_name,
                    author_email,
                })
            })
            .collect())
    }

    fn label(&self) -> &str {
        self.git.label()
    }

    /// A commit id (7 to 40 digits) that must be in the cache, fetching once if it is not.
    fn cached_commit(&self, hex: &str) -> Result<String> {
        let r = self.resolve_id(hex, 7)?;
        if !r.in_cache {
            return Err(Error::input(format!(
                "{}: commit {} is not in the cache (offline)",
                self.label(),
                r.short
            )));
        }
        Ok(r.id)
    }
}

/// The pull request a subject names: a trailing `(#1234)`, or `Merge pull request #1234 ...`.
pub fn pr_number(subject: &str) -> Option<u64> {
    let s = subject.trim_end();
    if let Some(inner) = s
        .strip_suffix(')')
        .and_then(|s| s.rsplit_once("(#"))
        .map(|(_, n)| n)
    {
        if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
            return inner.parse().ok();
        }
    }
    let rest = s.strip_prefix("Merge pull request #")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pr_numbers() {
        assert_eq!(pr_number("Fix the thing (#1234)"), Some(1234));
        assert_eq!(pr_number("Fix the thing (#1234) "), Some(1234));
        assert_eq!(pr_number("Merge pull request #77 from a/b"), Some(77));
        assert_eq!(pr_number("Fix (#12) and more"), None);
        assert_eq!(pr_number("Fix (#)"), None);
        assert_eq!(pr_number("Fix (#1x)"), None);
        assert_eq!(pr_number("plain"), None);
    }
}
