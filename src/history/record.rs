//! The checkout's history of a component's files: every commit, the mainline with what its
//! merges brought, and the uncommitted changes, read in three passes of git at most.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::log::{self, hex_tokens, Commit, FileDiff, Walk};
use super::{env_move, join, CommitRef, Landing, Moved, Part, Promotion};

use crate::checkout::{Component, ENV_FILE};
use crate::error::{Error, Result};
use crate::upstream::git::Git;
use crate::util::{same_commit, short_id};

/// The checkout's history of a component's files, read in three passes of git at most.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// Every commit of HEAD's history that changed the files, newest first.
    pub full: Vec<Commit>,
    /// The mainline's commits that changed them (merges with what they brought), newest first.
    pub mainline: Vec<Commit>,
    /// The uncommitted changes of the files.
    pub uncommitted: Vec<FileDiff>,
    /// Mainline commits by id.
    mainline_index: HashMap<String, usize>,
    /// The mainline merge that has a commit as a parent other than its first.
    merged_by: HashMap<String, usize>,
    /// Mainline commits whose changes to a file add a line with a token: (path, the token's
    /// first 7 digits) -> mainline indexes.
    added: HashMap<(String, String), Vec<usize>>,
}

impl Record {
    /// Reads the history of `paths` (repository-relative to `root`); with `uncommitted`, also
    /// what is changed and not committed. Fails when `root` is not in a git repository with
    /// commits.
    pub fn read(root: &Path, paths: &[String], uncommitted: bool) -> Result<Record> {
        let git = Git::new(root);
        let head = git.output(&["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])?;
        if !head.success {
            return Err(Error::input(format!(
                "{}: not a git repository with commits: the history of the checkout is its git history",
                root.display()
            )));
        }
        // The passes run side by side.
        let (full, mainline, changed) = std::thread::scope(|s| {
            let full = s.spawn(|| log::read(&git, Walk::Full, paths));
            let changed = uncommitted.then(|| s.spawn(|| log::uncommitted(&git, paths)));
            let mainline = log::read(&git, Walk::Mainline, paths);
            (join(full), mainline, changed.map(join))
        });
        Ok(Record::new(
            full?,
            mainline?,
            changed.transpose()?.unwrap_or_default(),
        ))
    }

    /// A record of passes already read.
    pub fn new(full: Vec<Commit>, mainline: Vec<Commit>, uncommitted: Vec<FileDiff>) -> Record {
        let mut r = Record {
            full,
            mainline,
            uncommitted,
            ..Record::default()
        };
        for (i, m) in r.mainline.iter().enumerate() {
            r.mainline_index.insert(m.id.clone(), i);
            for p in m.parents.iter().skip(1) {
                r.merged_by.insert(p.clone(), i);
            }
            for f in &m.files {
                for t in f.added().flat_map(hex_tokens) {
                    let key = (f.path.clone(), short_id(t).to_ascii_lowercase());
                    let v = r.added.entry(key).or_default();
                    if v.last() != Some(&i) {
                        v.push(i);
                    }
                }
            }
        }
        r
    }

    /// Where `c` (a commit of the full history that wrote `value` in `path`) reached the
    /// mainline: itself when it is on the mainline; else the merge that has it as a parent; else
    /// the first mainline change at or after its date that brought `value` to `path`; else the
    /// first merge at or after its date that changed `path` (a branch that wrote `value` and
    /// then another version lands with its merge); else itself.
    pub fn landing(&self, c: &Commit, path: &str, value: &str) -> Landing {
        let at = |i: usize, merge: bool| {
            self.mainline.get(i).map(|m| Landing {
                commit: m.id.clone(),
                time: m.commit_time,
                merge,
            })
        };
        if let Some(l) = self.mainline_index.get(&c.id).and_then(|i| at(*i, false)) {
            return l;
        }
        if let Some(l) = self.merged_by.get(&c.id).and_then(|i| at(*i, true)) {
            return l;
        }
        let key = (path.to_string(), short_id(value).to_ascii_lowercase());
        let brought = self.added.get(&key).and_then(|v| {
            v.iter()
                .copied()
                .filter(|i| {
                    self.mainline.get(*i).is_some_and(|m| {
                        m.commit_time >= c.commit_time
                            && m.file(path).is_some_and(|f| {
                                f.added()
                                    .flat_map(hex_tokens)
                                    .any(|t| same_commit(t, value))
                            })
                    })
                })
                .max()
        });
        let changed = || {
            self.mainline
                .iter()
                .enumerate()
                .filter(|(_, m)| {
                    m.is_merge() && m.commit_time >= c.commit_time && m.file(path).is_some()
                })
                .map(|(i, _)| i)
                .max()
        };
        if let Some(l) = brought
            .or_else(changed)
            .and_then(|i| at(i, self.mainline.get(i).is_some_and(Commit::is_merge)))
        {
            return l;
        }
        Landing {
            commit: c.id.clone(),
            time: c.commit_time,
            merge: false,
        }
    }

    /// The promotions of `c`, newest landing first; `paths` are the files of its locations
    /// other than `.env` (their moves to a promotion's version are its parts).
    pub fn promotions(&self, c: &Component, paths: &[String]) -> Vec<Promotion> {
        let var = c.tag_var();
        // (index in `full`, promotion)
        let mut found: Vec<(usize, Promotion)> = Vec::new();
        for (i, commit) in self.full.iter().enumerate() {
            let Some((old, new)) = commit.file(ENV_FILE).and_then(|f| env_move(f, &var)) else {
                continue;
            };
            found.push((
                i,
                Promotion {
                    commit: CommitRef::of(commit),
                    landed: self.landing(commit, ENV_FILE, &new),
                    old,
                    new,
                    parts: Vec::new(),
                    shipped: None,
                },
            ));
        }
        // The promotions to each version, by its first seven digits.
        let mut by_version: HashMap<String, Vec<usize>> = HashMap::new();
        for (k, (_, p)) in found.iter().enumerate() {
            by_version
                .entry(short_id(&p.new).to_ascii_lowercase())
                .or_default()
                .push(k);
        }
        let wanted: HashSet<&str> = paths
            .iter()
            .map(String::as_str)
            .filter(|p| *p != ENV_FILE)
            .collect();
        // (promotion, index in `full`) -> the part's paths and the version it moved to.
        let mut parts: HashMap<(usize, usize), Moved> = HashMap::new();
        for (i, commit) in self.full.iter().enumerate() {
            for f in commit
                .files
                .iter()
                .filter(|f| wanted.contains(f.path.as_str()))
            {
                let removed: Vec<&str> = f.removed().flat_map(hex_tokens).collect();
                for t in f.added().flat_map(hex_tokens) {
                    let Some(candidates) = by_version.get(&short_id(t).to_ascii_lowercase()) else {
                        continue;
                    };
                    // A move: the file held another commit before.
                    if !removed.iter().any(|r| !same_commit(r, t)) {
                        continue;
                    }
                    let to_t: Vec<usize> = candidates
                        .iter()
                        .copied()
                        .filter(|k| same_commit(&found[*k].1.new, t))
                        .collect();
                    if to_t.iter().any(|k| found[*k].0 == i) {
                        // The promotion's own commit moved this file too.
                        continue;
                    }
                    // The nearest promotion to that version before the commit (log order is
                    // newest first), else the nearest after it.
                    let Some(k) = to_t
                        .iter()
                        .copied()
                        .filter(|k| found[*k].0 > i)
                        .min_by_key(|k| found[*k].0)
                        .or_else(|| {
                            to_t.iter()
                                .copied()
                                .filter(|k| found[*k].0 < i)
                                .max_by_key(|k| found[*k].0)
                        })
                    else {
                        continue;
                    };
                    let e = parts.entry((k, i)).or_insert_with(|| Moved {
                        paths: Vec::new(),
                        value: t.to_string(),
                    });
                    if !e.paths.contains(&f.path) {
                        e.paths.push(f.path.clone());
                    }
                }
            }
        }
        let mut parts: Vec<((usize, usize), Moved)> = parts.into_iter().collect();
        // Oldest first: the highest index in the log first.
        parts.sort_by(|a, b| b.0 .1.cmp(&a.0 .1).then(a.0 .0.cmp(&b.0 .0)));
        for ((k, i), Moved { paths, value }) in parts {
            let Some(commit) = self.full.get(i) else {
                continue;
            };
            let landed = self.landing(commit, paths.first().map_or("", String::as_str), &value);
            if let Some((_, p)) = found.get_mut(k) {
                p.parts.push(Part {
                    commit: CommitRef::of(commit),
                    landed,
                    paths,
                });
            }
        }
        let mut out: Vec<(usize, Promotion)> = found;
        // Newest landing first; the log's order among equal dates.
        out.sort_by(|a, b| b.1.landed.time.cmp(&a.1.landed.time).then(a.0.cmp(&b.0)));
        out.into_iter().map(|(_, p)| p).collect()
    }
}
