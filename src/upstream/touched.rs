//! Which integrations an upstream commit touches: the files it changes, and the modules that
//! declare an integration's name (`QONTRACT_INTEGRATION = "terraform-resources"`) among them or
//! around them. A file belongs to the integration its own module declares; a file in a package
//! (`reconcile/aws_saml_idp/…`, a folder two levels down) belongs to the integrations that the
//! package's modules declare. Any other changed file is shared code.
//!
//! The cache is tree-less: the trees of the commits asked about are fetched once, without
//! blobs, and then the blobs of the modules that may declare a name; each commit's answer is
//! kept in the cache (`qr-promote-touched.json`), so a commit is mapped once.

use std::collections::{BTreeSet, HashMap};

use super::cache::{is_full_id, LOCAL_UPLOAD_PACK};
use super::Upstream;
use crate::error::{Error, Result};

/// The file in the cache repository that keeps each commit's answer.
const CACHE_FILE: &str = "qr-promote-touched.json";
/// Its format.
const CACHE_FORMAT: u32 = 2;
/// The largest cache file read.
const CACHE_LIMIT: u64 = 32 << 20;
/// Object ids fetched per request.
const FETCH_BATCH: usize = 400;
/// Shared files kept per commit (to show a few).
const SHARED_KEPT: usize = 20;

/// What one upstream commit changes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Touched {
    /// Full commit id.
    pub id: String,
    /// First line of its message.
    pub subject: String,
    /// The integrations whose own modules or packages it changes.
    pub integrations: Vec<String>,
    /// Changed files that belong to no integration (the first few).
    pub shared: Vec<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CacheDoc {
    format: u32,
    commits: HashMap<String, Touched>,
}

/// The integration name a module declares (`QONTRACT_INTEGRATION = "name"`, `'name'`, with a
/// type annotation or not, at the start of a line), written with `-` (`terraform_resources`
/// is `terraform-resources`).
pub fn declared_integration(source: &str) -> Option<String> {
    for line in source.lines() {
        let Some(rest) = line.strip_prefix("QONTRACT_INTEGRATION") else {
            continue;
        };
        let rest = rest.trim_start();
        let rest = match rest.strip_prefix(':') {
            Some(annotated) => annotated.split_once('=').map(|(_, v)| v)?,
            None => rest.strip_prefix('=')?,
        };
        let rest = rest.trim();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let inner = &rest[1..];
        let end = inner.find(quote)?;
        let name = inner[..end].trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            continue;
        }
        return Some(name.replace('_', "-"));
    }
    None
}

/// The package a changed path belongs to: its folder two levels down (`reconcile/foo` of
/// `reconcile/foo/bar.py`), for a path at least three levels deep.
fn package_of(path: &str) -> Option<&str> {
    let mut slashes = path.match_indices('/');
    let _first = slashes.next()?;
    let (second, _) = slashes.next()?;
    Some(&path[..second])
}

/// One changed file of a commit: its path and the blob it has after the commit (before it,
/// for a deleted file).
struct Change {
    path: String,
    blob: String,
}

impl Upstream {
    /// Each commit of `old..new`, newest first, with the integrations it touches. Merge commits
    /// touch nothing of their own (their branches' commits are in the range).
    pub fn touched(&self, old: &str, new: &str) -> Result<Vec<Touched>> {
        let old = self.cached_commit(old)?;
        let new = self.cached_commit(new)?;
        if old != new && !self.known_whole(&old, &new) {
            self.connect(&old, &new)?;
        }
        let range = format!("{old}..{new}");
        let listed = self.git.run(&[
            "log",
            "--no-color",
            "--format=%H%x1f%P%x1f%s%x1e",
            &range,
            "--",
        ])?;
        let mut commits = Vec::new();
        for rec in listed.split('\x1e') {
            let mut f = rec.trim_start_matches('\n').split('\x1f');
            let (Some(id), Some(parents), Some(subject)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if !is_full_id(id) {
                continue;
            }
            let merge = parents.split_whitespace().count() > 1;
            commits.push((id.to_string(), subject.to_string(), merge));
        }
        let mut cache = self.load_touched();
        let todo: Vec<&str> = commits
            .iter()
            .filter(|(id, _, merge)| !merge && !cache.contains_key(id))
            .map(|(id, _, _)| id.as_str())
            .collect();
        if !todo.is_empty() {
            let found = self.map_commits(&todo)?;
            for t in found {
                cache.insert(t.id.clone(), t);
            }
            self.save_touched(&cache);
        }
        Ok(commits
            .into_iter()
            .map(|(id, subject, merge)| match cache.get(&id) {
                Some(t) if !merge => Touched {
                    subject,
                    ..t.clone()
                },
                _ => Touched {
                    id,
                    subject,
                    integrations: Vec::new(),
                    shared: Vec::new(),
                },
            })
            .collect())
    }

    /// Maps commits (none of them a merge) to the integrations they touch.
    fn map_commits(&self, ids: &[&str]) -> Result<Vec<Touched>> {
        // The trees of the commits and of their parents, fetched when missing.
        let mut args = vec!["log", "--no-walk=unsorted", "--no-color", "--format=%T %P"];
        args.extend(ids.iter().copied());
        args.push("--");
        let out = self.git.run(&args)?;
        let mut trees = Vec::new();
        let mut parents = Vec::new();
        for line in out.lines() {
            let mut w = line.split_whitespace();
            trees.extend(w.next().map(str::to_string));
            parents.extend(w.map(str::to_string));
        }
        parents.sort();
        parents.dedup();
        if !parents.is_empty() {
            let mut args = vec!["log", "--no-walk=unsorted", "--no-color", "--format=%T"];
            args.extend(parents.iter().map(String::as_str));
            args.push("--");
            trees.extend(self.git.run(&args)?.lines().map(|l| l.trim().to_string()));
        }
        self.fetch_missing(&trees, "the trees of the commits between the versions")?;
        // Each commit's changed files, with their blobs.
        let mut args = vec![
            "log",
            "--no-walk=unsorted",
            "--no-color",
            "--no-renames",
            "--raw",
            "--no-abbrev",
            "--format=%x1e%H",
        ];
        args.extend(ids.iter().copied());
        args.push("--");
        let raw = self.git.run(&args)?;
        let mut changes: Vec<(String, Vec<Change>)> = Vec::new();
        for rec in raw.split('\x1e').skip(1) {
            let mut lines = rec.lines();
            let Some(id) = lines.next().map(str::trim) else {
                continue;
            };
            let mut list = Vec::new();
            for l in lines {
                // :100644 100644 <old> <new> M\tpath
                let Some((meta, path)) = l.strip_prefix(':').and_then(|l| l.split_once('\t'))
                else {
                    continue;
                };
                let f: Vec<&str> = meta.split_whitespace().collect();
                let (Some(old), Some(new)) = (f.get(2), f.get(3)) else {
                    continue;
                };
                let blob = if new.bytes().all(|b| b == b'0') {
                    old
                } else {
                    new
                };
                list.push(Change {
                    path: path.to_string(),
                    blob: blob.to_string(),
                });
            }
            changes.push((id.to_string(), list));
        }
        // The modules of the packages the changes fall in, as each commit has them.
        let mut wanted_trees: Vec<String> = Vec::new();
        for (id, list) in &changes {
            let mut pkgs: BTreeSet<&str> = BTreeSet::new();
            pkgs.extend(list.iter().filter_map(|c| package_of(&c.path)));
            wanted_trees.extend(pkgs.into_iter().map(|p| format!("{id}:{p}")));
        }
        let listings = self.list_trees(&wanted_trees)?;
        let mut blobs: BTreeSet<String> = BTreeSet::new();
        for (_, list) in &changes {
            blobs.extend(
                list.iter()
                    .filter(|c| c.path.ends_with(".py"))
                    .map(|c| c.blob.clone()),
            );
        }
        for entries in listings.values() {
            blobs.extend(entries.iter().map(|(_, oid)| oid.clone()));
        }
        let blobs: Vec<String> = blobs.into_iter().collect();
        self.fetch_missing(&blobs, "the modules the changes fall in")?;
        let declared = self.declarations(&blobs)?;
        let mut out = Vec::new();
        for (id, list) in changes {
            let mut integrations: BTreeSet<String> = BTreeSet::new();
            let mut shared = Vec::new();
            for c in &list {
                let mut mine: Vec<&String> = Vec::new();
                if let Some(n) = declared.get(&c.blob).filter(|_| c.path.ends_with(".py")) {
                    mine.push(n);
                }
                if let Some(entries) =
                    package_of(&c.path).and_then(|p| listings.get(&format!("{id}:{p}")))
                {
                    mine.extend(entries.iter().filter_map(|(_, oid)| declared.get(oid)));
                }
                if mine.is_empty() {
                    if is_code(&c.path) && shared.len() < SHARED_KEPT {
                        shared.push(c.path.clone());
                    }
                } else {
                    integrations.extend(mine.into_iter().cloned());
                }
            }
            out.push(Touched {
                id,
                subject: String::new(),
                integrations: integrations.into_iter().collect(),
                shared,
            });
        }
        Ok(out)
    }

    /// The `.py` blobs directly in each tree named `<commit>:<folder>` (a folder the commit
    /// lacks lists nothing), in one `git cat-file --batch`.
    fn list_trees(&self, specs: &[String]) -> Result<HashMap<String, Vec<(String, String)>>> {
        let mut out = HashMap::new();
        if specs.is_empty() {
            return Ok(out);
        }
        let input: Vec<u8> = specs
            .iter()
            .flat_map(|s| format!("{s}\n").into_bytes())
            .collect();
        let bytes = self.git.run_bytes(&["cat-file", "--batch"], input)?;
        let mut at = 0usize;
        for spec in specs {
            let Some(nl) = bytes[at..].iter().position(|b| *b == b'\n') else {
                break;
            };
            let header = String::from_utf8_lossy(&bytes[at..at + nl]).into_owned();
            at += nl + 1;
            if header.ends_with(" missing") || header.ends_with(" ambiguous") {
                continue;
            }
            let mut h = header.split_whitespace();
            let (_, kind, size) = (h.next(), h.next(), h.next());
            let size: usize = size.and_then(|s| s.parse().ok()).unwrap_or(0);
            let Some(body) = bytes.get(at..at + size) else {
                break;
            };
            at += size + 1;
            if kind != Some("tree") {
                continue;
            }
            out.insert(spec.clone(), py_blobs(body));
        }
        Ok(out)
    }

    /// The integration each blob declares, in one `git cat-file --batch`.
    fn declarations(&self, blobs: &[String]) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        if blobs.is_empty() {
            return Ok(out);
        }
        let input: Vec<u8> = blobs
            .iter()
            .flat_map(|s| format!("{s}\n").into_bytes())
            .collect();
        let bytes = self.git.run_bytes(&["cat-file", "--batch"], input)?;
        let mut at = 0usize;
        for oid in blobs {
            let Some(nl) = bytes[at..].iter().position(|b| *b == b'\n') else {
                break;
            };
            let header = String::from_utf8_lossy(&bytes[at..at + nl]).into_owned();
            at += nl + 1;
            if header.ends_with(" missing") {
                continue;
            }
            let size: usize = header
                .split_whitespace()
                .nth(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let Some(body) = bytes.get(at..at + size) else {
                break;
            };
            at += size + 1;
            if let Some(name) = declared_integration(&String::from_utf8_lossy(body)) {
                out.insert(oid.clone(), name);
            }
        }
        Ok(out)
    }

    /// Fetches the objects of `ids` the cache lacks (trees with their subtrees, or blobs), by
    /// id, without blobs beyond those asked for; offline, a missing one is an error.
    fn fetch_missing(&self, ids: &[String], what: &str) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let input: Vec<u8> = ids
            .iter()
            .flat_map(|s| format!("{s}\n").into_bytes())
            .collect();
        let checked = self
            .git
            .run_bytes(&["cat-file", "--batch-check=%(objectname)"], input)?;
        let mut missing: Vec<String> = String::from_utf8_lossy(&checked)
            .lines()
            .filter_map(|l| l.strip_suffix(" missing"))
            .map(str::to_string)
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        if self.offline {
            return Err(
                Error::input(format!("{}: offline: the cache lacks {what}", self.label()))
                    .with_hint("run once without --offline: they are fetched and kept"),
            );
        }
        for chunk in missing.chunks(FETCH_BATCH) {
            // No negotiation: the commits the cache holds would make the upstream leave out
            // the trees it lacks.
            let mut args = vec!["-c", "fetch.negotiationAlgorithm=noop", "fetch"];
            if self.local.is_some() {
                args.push(LOCAL_UPLOAD_PACK);
            }
            args.extend([
                "--filter=blob:none",
                "--no-tags",
                "--no-write-fetch-head",
                "--recurse-submodules=no",
                "--quiet",
                "origin",
            ]);
            args.extend(chunk.iter().map(String::as_str));
            self.run_remote(&args)?;
        }
        crate::util::make_tree_private(&self.path)
    }

    fn load_touched(&self) -> HashMap<String, Touched> {
        let path = self.path.join(CACHE_FILE);
        let Ok(bytes) = crate::util::read_regular(&path, CACHE_LIMIT) else {
            return HashMap::new();
        };
        match serde_json::from_slice::<CacheDoc>(&bytes) {
            Ok(doc) if doc.format == CACHE_FORMAT => doc
                .commits
                .into_iter()
                .filter(|(k, v)| *k == v.id && is_full_id(k))
                .collect(),
            _ => {
                tracing::info!(
                    "{}: not a cache of this version; mapped again",
                    path.display()
                );
                HashMap::new()
            }
        }
    }

    /// Keeps the answers (a cache that cannot be written only costs the next run time).
    fn save_touched(&self, commits: &HashMap<String, Touched>) {
        let doc = CacheDoc {
            format: CACHE_FORMAT,
            commits: commits.clone(),
        };
        let Ok(bytes) = serde_json::to_vec(&doc) else {
            return;
        };
        let tmp = self
            .path
            .join(format!(".{CACHE_FILE}.{}", std::process::id()));
        if crate::util::write_private(&tmp, &bytes).is_ok() {
            let _ = std::fs::rename(&tmp, self.path.join(CACHE_FILE));
        }
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Code that integrations share when no integration claims it: Python modules and GraphQL
/// queries (documentation, tests' data and the like are not).
fn is_code(path: &str) -> bool {
    [".py", ".gql", ".graphql"]
        .iter()
        .any(|e| path.ends_with(e))
}

/// The `.py` blobs of a raw tree object: (name, blob id).
fn py_blobs(tree: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < tree.len() {
        let Some(sp) = tree[at..].iter().position(|b| *b == b' ') else {
            break;
        };
        let mode = &tree[at..at + sp];
        let rest = at + sp + 1;
        let Some(nul) = tree[rest..].iter().position(|b| *b == 0) else {
            break;
        };
        let name = String::from_utf8_lossy(&tree[rest..rest + nul]).into_owned();
        let oid_at = rest + nul + 1;
        let Some(oid) = tree.get(oid_at..oid_at + 20) else {
            break;
        };
        at = oid_at + 20;
        if mode.starts_with(b"10") && name.ends_with(".py") {
            let hex: String = oid.iter().map(|b| format!("{b:02x}")).collect();
            out.push((name, hex));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_are_read_in_their_forms() {
        assert_eq!(
            declared_integration("import x\nQONTRACT_INTEGRATION = \"terraform_resources\"\n"),
            Some("terraform-resources".into())
        );
        assert_eq!(
            declared_integration("QONTRACT_INTEGRATION: str = 'aws-saml-idp'\n"),
            Some("aws-saml-idp".into())
        );
        assert_eq!(
            declared_integration("    QONTRACT_INTEGRATION = \"x\"\n"),
            None
        );
        assert_eq!(declared_integration("QONTRACT_INTEGRATION = NAME\n"), None);
    }

    #[test]
    fn packages_are_two_levels_down() {
        assert_eq!(package_of("reconcile/foo/bar.py"), Some("reconcile/foo"));
        assert_eq!(
            package_of("reconcile/foo/sub/bar.py"),
            Some("reconcile/foo")
        );
        assert_eq!(package_of("reconcile/foo.py"), None);
        assert_eq!(package_of("setup.py"), None);
    }
}
