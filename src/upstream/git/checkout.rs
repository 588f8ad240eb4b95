//! The checkout-side operations of `apply --commit`: the committer's address, what is
//! uncommitted, the promotion's commit (on a new branch, or made from git objects on a base),
//! and the branch promotions merge into.

use std::path::Path;

use super::Git;
use crate::error::{Error, Result};
use crate::util::short_id;

impl Git {
    /// The configured `user.email`, if any.
    pub fn user_email(&self) -> Option<String> {
        let email = self.run_line(&["config", "user.email"]).ok()?;
        (!email.is_empty()).then_some(email)
    }

    /// The given paths that have uncommitted changes, staged or not (untracked files included),
    /// as repository-relative paths.
    pub fn is_dirty(&self, paths: &[String]) -> Result<Vec<String>> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec![
            "--literal-pathspecs",
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--",
        ];
        args.extend(paths.iter().map(String::as_str));
        let out = self.run(&args)?;
        let mut dirty = Vec::new();
        let mut entries = out.split('\0');
        while let Some(entry) = entries.next() {
            if entry.len() < 4 {
                continue;
            }
            let (xy, path) = entry.split_at(3);
            if xy.contains(['R', 'C']) {
                // A rename or copy is followed by its source path.
                entries.next();
            }
            dirty.push(path.to_string());
        }
        dirty.sort();
        dirty.dedup();
        Ok(dirty)
    }

    /// Creates branch `branch` at HEAD (or reuses it when it is at HEAD already), switches to it,
    /// and commits exactly `files` (other changes, staged or not, stay out of the commit) with the
    /// message `subject`, a blank line and `body`. Returns the new commit's id.
    pub fn commit_promotion(
        &self,
        files: &[String],
        branch: &str,
        subject: &str,
        body: &str,
    ) -> Result<String> {
        if files.is_empty() {
            return Err(Error::input(format!("{}: no files to commit", self.label)));
        }
        if subject.trim().is_empty() {
            return Err(Error::input(format!(
                "{}: empty commit subject",
                self.label
            )));
        }
        if !self.run_ok(&["check-ref-format", "--branch", branch])? {
            return Err(Error::input(format!(
                "{}: {branch:?} is not a valid branch name",
                self.label
            )));
        }
        if self.is_dirty(files)?.is_empty() {
            return Err(Error::refused(format!(
                "{}: nothing to commit: {} unchanged",
                self.label,
                files.join(", ")
            )));
        }
        let head = self.run_line(&["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])?;
        let branch_ref = format!("refs/heads/{branch}");
        let existing = self.output(&["rev-parse", "--verify", "--quiet", &branch_ref])?;
        if existing.success {
            let at = existing.stdout.trim();
            if at != head {
                return Err(Error::refused(format!(
                    "{}: branch {branch} already exists at {}, not at HEAD {}",
                    self.label,
                    short_id(at),
                    short_id(&head)
                )));
            }
            let current = self.output(&["symbolic-ref", "--quiet", "HEAD"])?;
            if current.stdout.trim() != branch_ref {
                self.run(&["switch", "--quiet", branch])?;
            }
        } else {
            self.run(&["switch", "--quiet", "-c", branch])?;
        }
        let mut add = vec!["--literal-pathspecs", "add", "--"];
        add.extend(files.iter().map(String::as_str));
        self.run(&add)?;
        let mut message = subject.trim_end().to_string();
        if !body.trim().is_empty() {
            message.push_str("\n\n");
            message.push_str(body.trim_end());
        }
        message.push('\n');
        let mut commit = vec![
            "--literal-pathspecs",
            "commit",
            "--quiet",
            "--cleanup=whitespace",
            "--file=-",
            "--only",
            "--",
        ];
        commit.extend(files.iter().map(String::as_str));
        self.run_with_input(&commit, message.as_bytes())?;
        self.run_line(&["rev-parse", "HEAD"])
    }

    /// Makes a commit on top of `base` whose tree is `base`'s with `files` (repository-relative
    /// paths of files `base` has, and their new bytes) replaced, keeping each file's mode; the
    /// message is `message`. Neither the worktree, the index nor any branch is touched (a
    /// private index under the git folder is used and removed). Returns the new commit's id.
    pub fn commit_on(
        &self,
        base: &str,
        files: &[(String, Vec<u8>)],
        message: &str,
    ) -> Result<String> {
        if files.is_empty() {
            return Err(Error::input(format!("{}: no files to commit", self.label)));
        }
        let mut ls = vec!["ls-tree", "-z", base, "--"];
        ls.extend(files.iter().map(|(p, _)| p.as_str()));
        let listed = self.run(&ls)?;
        let mut modes = std::collections::HashMap::new();
        for entry in listed.split('\0').filter(|e| !e.is_empty()) {
            // `<mode> <type> <id>\t<path>`
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            let mut m = meta.split(' ');
            if let (Some(mode), Some("blob")) = (m.next(), m.next()) {
                modes.insert(path.to_string(), mode.to_string());
            }
        }
        let mut info = String::new();
        for (path, bytes) in files {
            let Some(mode) = modes.get(path) else {
                return Err(Error::refused(format!(
                    "{}: {path} is not a file of {}",
                    self.label,
                    short_id(base)
                )));
            };
            if mode == "120000" {
                return Err(Error::refused(format!(
                    "{}: {path} is a symbolic link in {}; the promotion edits what it points to",
                    self.label,
                    short_id(base)
                )));
            }
            let blob = self.run_with_input(&["hash-object", "-w", "--stdin"], bytes)?;
            info.push_str(&format!("{mode} {}\t{path}\n", blob.trim()));
        }
        let git_dir = self.run_line(&["rev-parse", "--absolute-git-dir"])?;
        let index = Path::new(&git_dir).join(format!("qr-promote-index-{}", std::process::id()));
        let indexed = self.clone().with_env("GIT_INDEX_FILE", &index);
        let made = (|| {
            indexed.run(&["read-tree", base])?;
            indexed.run_with_input(&["update-index", "--index-info"], info.as_bytes())?;
            let tree = indexed.run_line(&["write-tree"])?;
            indexed.run_with_input(
                &["commit-tree", &tree, "-p", base, "-F", "-"],
                message.as_bytes(),
            )
        })();
        let _ = std::fs::remove_file(&index);
        Ok(made?.trim().to_string())
    }

    /// The base to compare against: `explicit` (which must name a commit), else `origin/master`
    /// when it exists, else `master`, else none.
    pub fn resolve_base(&self, explicit: Option<&str>) -> Result<Option<String>> {
        let exists = |rev: &str| {
            self.run_ok(&[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &format!("{rev}^{{commit}}"),
            ])
        };
        if let Some(rev) = explicit {
            return if exists(rev)? {
                Ok(Some(rev.to_string()))
            } else {
                Err(Error::input(format!(
                    "{}: base {rev} is not a commit of this repository",
                    self.label
                )))
            };
        }
        for rev in ["origin/master", "master"] {
            if exists(rev)? {
                return Ok(Some(rev.to_string()));
            }
        }
        Ok(None)
    }
}
