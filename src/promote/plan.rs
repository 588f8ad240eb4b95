//! The promotion plan: which locations move, the new bytes of each file, and the diff.

use std::collections::BTreeMap;

use super::digest::{DigestEdit, DigestSource};
use crate::checkout::{Checkout, Component, ENV_FILE};
use crate::config::{LocationRef, CONFIG_FILE};
use crate::discovery::locations::{Discovery, Kind, Location};
use crate::error::{Error, Result};
use crate::promote::edit::{self, Edit};
use crate::util::same_commit;

/// Which locations a promotion touches.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Repository-relative paths (`--only`).
    pub only: Vec<String>,
    /// Location ids (`--location`).
    pub ids: Vec<String>,
    /// Kinds (`--kind`).
    pub kinds: Vec<Kind>,
    /// Environment names (`--env`).
    pub envs: Vec<String>,
    /// Cluster names (`--cluster`).
    pub clusters: Vec<String>,
    /// Namespace names (`--namespace`).
    pub namespaces: Vec<String>,
    /// Saas file names (`--saas-file`).
    pub saas_files: Vec<String>,
    /// Edit drifted locations too.
    pub include_drifted: bool,
    /// Location ids to leave alone (`--skip-location`), besides `.qr-promote.yaml`'s.
    pub skip_ids: Vec<String>,
}

fn norm_path(p: &str) -> String {
    let p = p.trim_start_matches("./");
    p.trim_end_matches('/').to_string()
}

impl Selection {
    fn is_narrowed(&self) -> bool {
        !(self.only.is_empty()
            && self.ids.is_empty()
            && self.kinds.is_empty()
            && self.envs.is_empty()
            && self.clusters.is_empty()
            && self.namespaces.is_empty()
            && self.saas_files.is_empty())
    }

    fn matches(&self, l: &Location) -> bool {
        let any = |list: &Vec<String>, v: &Option<String>| {
            list.is_empty() || v.as_ref().is_some_and(|v| list.iter().any(|x| x == v))
        };
        (self.only.is_empty() || self.only.iter().any(|p| norm_path(p) == l.path))
            && (self.ids.is_empty() || self.ids.iter().any(|i| i == &l.id))
            && (self.kinds.is_empty() || self.kinds.contains(&l.kind))
            && any(&self.envs, &l.context.environment)
            && any(&self.clusters, &l.context.cluster)
            && any(&self.namespaces, &l.context.namespace)
            && any(
                &self.saas_files,
                &l.context
                    .name
                    .clone()
                    .filter(|_| l.kind == Kind::SaasTarget),
            )
    }

    /// Checks that every value names something that exists, and that the selection is not empty.
    fn check(&self, all: &[Location]) -> Result<()> {
        let list = |f: &dyn Fn(&Location) -> Option<String>| {
            let mut v: Vec<String> = all.iter().filter_map(f).collect();
            v.sort();
            v.dedup();
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        for p in &self.only {
            if !all.iter().any(|l| l.path == norm_path(p)) {
                return Err(Error::input(format!(
                    "--only {p}: no location in that file; files with locations: {}",
                    list(&|l| Some(l.path.clone()))
                )));
            }
        }
        let ids = self.ids.iter().map(|i| ("--location", i));
        for (flag, id) in ids.chain(self.skip_ids.iter().map(|i| ("--skip-location", i))) {
            if !all.iter().any(|l| &l.id == id) {
                return Err(Error::input(format!(
                    "{flag} {id}: no such location; locations: {}",
                    list(&|l| Some(format!("{} ({})", l.id, l.at())))
                )));
            }
        }
        type Field<'a> = &'a dyn Fn(&Location) -> Option<String>;
        let checks: [(&str, &Vec<String>, Field); 4] = [
            ("--env", &self.envs, &|l| l.context.environment.clone()),
            ("--cluster", &self.clusters, &|l| l.context.cluster.clone()),
            ("--namespace", &self.namespaces, &|l| {
                l.context.namespace.clone()
            }),
            ("--saas-file", &self.saas_files, &|l| {
                l.context
                    .name
                    .clone()
                    .filter(|_| l.kind == Kind::SaasTarget)
            }),
        ];
        for (flag, values, f) in checks {
            for v in values {
                if !all.iter().any(|l| f(l).as_deref() == Some(v.as_str())) {
                    return Err(Error::input(format!(
                        "{flag} {v}: no location there; known: {}",
                        list(f)
                    )));
                }
            }
        }
        if self.is_narrowed() && !all.iter().any(|l| self.matches(l)) {
            return Err(Error::input(format!(
                "the selection matches no location; locations: {}",
                list(&|l| Some(format!("{} {} ({})", l.id, l.kind.name(), l.at())))
            )));
        }
        Ok(())
    }
}

/// The new content of one file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileChange {
    pub path: String,
    #[serde(skip)]
    pub before: Vec<u8>,
    #[serde(skip)]
    pub after: Vec<u8>,
    pub edits: Vec<Edit>,
    /// The digests that follow the moved tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub digests: Vec<DigestEdit>,
}

/// A location left alone on purpose.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    pub location: Location,
    /// `--skip-location`, or the `.qr-promote.yaml` entry (and its reason).
    pub why: String,
}

/// A computed promotion.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub component: String,
    /// The component's current version (the `.env` tag).
    pub from: String,
    /// The new commit (40 hex).
    pub to: String,
    pub files: Vec<FileChange>,
    /// Drifted locations left alone.
    pub drifted: Vec<Location>,
    /// Locations left alone by `.qr-promote.yaml` or `--skip-location`, with the reason.
    pub skipped: Vec<Skipped>,
    /// Selected locations already at the new version.
    pub unchanged: Vec<Location>,
}

impl Plan {
    /// Every edit, in file order.
    pub fn edits(&self) -> impl Iterator<Item = &Edit> {
        self.files.iter().flat_map(|f| f.edits.iter())
    }

    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// A unified diff with git-style headers.
    pub fn diff(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            out.push_str(&unified_diff(&f.path, &f.before, &f.after));
        }
        out
    }
}

/// The git-style unified diff of one file: three lines of context, and each hunk header followed
/// by the nearest line above the hunk that starts with a letter, `_` or `$` (git's default
/// "function" context: for YAML, the top-level key the hunk is under). The diff is for people:
/// credentials in a URL (`https://bot:<token>@github.com/…` in `.env`) and secret query values
/// are redacted in every line it shows, the hunk headers' context included.
pub fn unified_diff(path: &str, before: &[u8], after: &[u8]) -> String {
    let a = String::from_utf8_lossy(before);
    let b = String::from_utf8_lossy(after);
    let diff = similar::TextDiff::from_lines(a.as_ref(), b.as_ref());
    let old_lines: Vec<&str> = a.split_inclusive('\n').collect();
    let mut out = format!("diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n");
    for group in diff.grouped_ops(3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old = first.old_range().start..last.old_range().end;
        let new = first.new_range().start..last.new_range().end;
        out.push_str(&format!(
            "@@ -{} +{} @@",
            hunk_range(&old),
            hunk_range(&new)
        ));
        if let Some(f) = funcname(&old_lines[..old.start.min(old_lines.len())]) {
            out.push(' ');
            out.push_str(&crate::redact::redact(&f));
        }
        out.push('\n');
        for op in &group {
            for change in diff.iter_changes(op) {
                out.push(match change.tag() {
                    similar::ChangeTag::Equal => ' ',
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                });
                let line = change.value();
                let shown = crate::redact::redact(line);
                out.push_str(&shown);
                if !line.ends_with('\n') {
                    out.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
    }
    out
}

/// A hunk's range as git writes it: `start,len` (1-based), `start` alone for one line, and the
/// line before with `,0` for none.
fn hunk_range(r: &std::ops::Range<usize>) -> String {
    match r.len() {
        0 => format!("{},0", r.start),
        1 => format!("{}", r.start + 1),
        n => format!("{},{n}", r.start + 1),
    }
}

/// The nearest of `lines` (from the last) that starts with a letter, `_` or `$`, trailing blanks
/// removed, at most 80 bytes: git's default hunk context.
fn funcname(lines: &[&str]) -> Option<String> {
    let line = lines.iter().rev().find(|l| {
        l.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
    })?;
    let line = line.trim_end();
    let mut end = line.len().min(80);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    Some(line[..end].to_string())
}

/// The bytes of a file of the checkout (never through a link out of it).
fn read_inside(root: &std::path::Path, rel: &str) -> Result<Vec<u8>> {
    let real_root = std::fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
    let real = crate::checkout::real_path_inside(&real_root, rel)?;
    std::fs::read(&real).map_err(|e| Error::io(std::path::Path::new(rel), e))
}

/// Computes the plan that moves `c`'s selected locations to `to` (a full commit id).
pub fn compute(
    checkout: &Checkout,
    c: &Component,
    discovery: &Discovery,
    files: &BTreeMap<String, Vec<u8>>,
    to: &str,
    sel: &Selection,
    digests: &DigestSource<'_>,
) -> Result<Plan> {
    if let Some(e) = discovery.errors.first() {
        return Err(Error::input(format!("{e}")));
    }
    sel.check(&discovery.locations)?;
    let mut drifted = Vec::new();
    let mut skipped = Vec::new();
    let mut unchanged = Vec::new();
    let mut by_file: BTreeMap<&str, Vec<&Location>> = BTreeMap::new();
    for l in &discovery.locations {
        if !sel.matches(l) {
            continue;
        }
        if !l.in_sync && !sel.include_drifted {
            drifted.push(l.clone());
            continue;
        }
        // A location named with --location moves whatever the configuration says.
        let named = sel.ids.iter().any(|i| i == &l.id);
        if sel.skip_ids.iter().any(|i| i == &l.id) {
            skipped.push(Skipped {
                location: l.clone(),
                why: "--skip-location".to_string(),
            });
            continue;
        }
        let key = LocationRef {
            id: &l.id,
            path: &l.path,
            key_path: l.key_path.as_deref(),
        };
        if let Some(s) = checkout.config.skips(&key).filter(|_| !named) {
            skipped.push(Skipped {
                location: l.clone(),
                why: format!(
                    "{CONFIG_FILE}:{} ({}){}",
                    s.line,
                    s.describe(),
                    s.reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            });
            continue;
        }
        if same_commit(&l.value, to) {
            unchanged.push(l.clone());
            continue;
        }
        by_file.entry(l.path.as_str()).or_default().push(l);
    }
    // Each file is edited and parsed again on its own: spread them over the cores.
    let jobs: Vec<(&str, Vec<&Location>)> = by_file.into_iter().collect();
    let refs = &discovery.refs;
    let results = crate::util::on_all_cores(&jobs, |part| {
        part.iter()
            .map(|(path, locs)| {
                let bytes = if *path == ENV_FILE {
                    checkout.env_text.as_bytes().to_vec()
                } else if let Some(b) = files.get(*path) {
                    b.clone()
                } else {
                    // A saas target file that mentions no needle: read where discovery read it.
                    read_inside(&checkout.root, path)?
                };
                let (after, edits, digests) =
                    edit::edit_file_with(path, &bytes, locs, to, c, refs, digests)?;
                Ok(FileChange {
                    path: path.to_string(),
                    before: bytes,
                    after,
                    edits,
                    digests,
                })
            })
            .collect()
    });
    let out = results.into_iter().collect::<Result<Vec<FileChange>>>()?;
    Ok(Plan {
        component: c.name.clone(),
        from: c.tag.clone(),
        to: to.to_string(),
        files: out,
        drifted,
        skipped,
        unchanged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_carry_git_s_context_line() {
        let before = "managed:\n- name: a\n  spec:\n    x: 1\n    y: 2\n    z: 3\n    w: 4\n    v: 5\n    u: 6\n    t: 7\n";
        let after = before.replace("t: 7", "t: 8");
        assert_eq!(
            unified_diff("f.yml", before.as_bytes(), after.as_bytes()),
            "diff --git a/f.yml b/f.yml\n--- a/f.yml\n+++ b/f.yml\n@@ -7,4 +7,4 @@ managed:\n     w: 4\n     v: 5\n     u: 6\n-    t: 7\n+    t: 8\n"
        );
        // At the top, no context; one line alone; no final newline.
        assert_eq!(
            unified_diff("g", b"a: 1", b"a: 2"),
            "diff --git a/g b/g\n--- a/g\n+++ b/g\n@@ -1 +1 @@\n-a: 1\n\\ No newline at end of file\n+a: 2\n\\ No newline at end of file\n"
        );
    }

    #[test]
    fn the_diff_is_what_git_prints() {
        // git itself, on the same two files, as the reference.
        let dir = tempfile::tempdir().unwrap();
        let before = "---\n$schema: /app-sre/integration-1.yml\nname: x\nmanaged:\n- namespace:\n    $ref: /a.yml\n  spec:\n    cache: true\n    extraArgs: --a\n    resources:\n      cpu: 1\n      memory: 2\n    logs:\n      slack: true\n    shards: 3\n    image: 1\npr_check:\n  cmd: x\n";
        let after = before
            .replace("shards: 3", "shards: 4")
            .replace("cmd: x", "cmd: y");
        std::fs::write(dir.path().join("a"), before).unwrap();
        std::fs::write(dir.path().join("b"), &after).unwrap();
        let out = std::process::Command::new("git")
            .current_dir(dir.path())
            .args([
                "-c",
                "core.quotepath=off",
                "diff",
                "--no-index",
                "--no-color",
                "--no-prefix",
                "a",
                "b",
            ])
            .output()
            .unwrap();
        let git = String::from_utf8(out.stdout).unwrap();
        let git_hunks: Vec<&str> = git.lines().skip_while(|l| !l.starts_with("@@")).collect();
        let ours = unified_diff("a", before.as_bytes(), after.as_bytes());
        let our_hunks: Vec<&str> = ours.lines().skip_while(|l| !l.starts_with("@@")).collect();
        assert_eq!(our_hunks, git_hunks);
    }
}
