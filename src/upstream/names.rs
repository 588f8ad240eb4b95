//! Resolving the upstream's names: `latest` (its default branch) and a branch or tag, from
//! what the upstream advertises (or, offline, what the cache recorded).

use super::cache::{is_full_id, resolved};
use super::{Resolved, Upstream};
use crate::error::{Error, Result};
use crate::util::{count, suggest};

impl Upstream {
    pub(super) fn resolve_latest(&self) -> Result<Resolved> {
        if self.offline {
            let head = self
                .git
                .output(&["symbolic-ref", "--quiet", "refs/remotes/origin/HEAD"])?;
            let branch = head
                .stdout
                .trim()
                .strip_prefix("refs/remotes/origin/")
                .map(str::to_string);
            let id = self.git.output(&[
                "rev-parse",
                "--verify",
                "--quiet",
                "refs/remotes/origin/HEAD^{commit}",
            ])?;
            return match (head.success, branch, id.success) {
                (true, Some(branch), true) => Ok(resolved(
                    id.stdout.trim().to_string(),
                    Some(branch),
                    true,
                    false,
                )),
                _ => Err(Error::input(format!(
                    "{}: default branch unknown: offline, and the cache has not recorded it",
                    self.label()
                ))
                .with_hint("offline, --to takes a full 40-digit commit id (or a tag the cache holds); a command run once online records the default branch")),
            };
        }
        let out = self.run_remote(&["ls-remote", "--symref", "origin", "HEAD"])?;
        let mut branch = None;
        let mut id = None;
        for line in out.lines() {
            let Some((left, "HEAD")) = line.split_once('\t') else {
                continue;
            };
            if let Some(r) = left.strip_prefix("ref: ") {
                branch = r.strip_prefix("refs/heads/").map(str::to_string);
            } else if is_full_id(left) {
                id = Some(left.to_ascii_lowercase());
            }
        }
        let Some(id) = id else {
            return Err(Error::input(format!(
                "{}: default branch unknown: {}",
                self.label(),
                match &branch {
                    Some(b) => format!("HEAD names branch {b}, which does not exist"),
                    None => "the repository is empty or does not say what HEAD is".to_string(),
                }
            )));
        };
        let fetched = self.ensure_commit(&id)?;
        if let Some(b) = &branch {
            let tracking = format!("refs/remotes/origin/{b}");
            if !fetched {
                self.git.run(&["update-ref", &tracking, &id])?;
            }
            self.git
                .run(&["symbolic-ref", "refs/remotes/origin/HEAD", &tracking])?;
        }
        Ok(resolved(id, branch, true, fetched))
    }

    pub(super) fn resolve_name(&self, name: &str) -> Result<Resolved> {
        if name.starts_with('-') || name.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(Error::input(format!(
                "{}: {name:?} is not a branch, tag or commit id",
                self.label()
            )));
        }
        let tag = format!("refs/tags/{name}");
        let head = format!("refs/heads/{name}");
        if self.offline {
            let id = self.git.output(&[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{tag}^{{commit}}"),
            ])?;
            if id.success {
                return Ok(resolved(
                    id.stdout.trim().to_string(),
                    Some(name.to_string()),
                    true,
                    false,
                ));
            }
            return Err(Error::input(format!(
                "{}: offline: cannot resolve {name} (a branch moves: only tags and commit ids resolve offline)",
                self.label()
            )));
        }
        let out = self.run_remote(&["ls-remote", "origin", &tag, &head])?;
        let refs: Vec<(&str, &str)> = out
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter(|(_, r)| *r == tag || *r == head)
            .collect();
        // Like git, a tag wins over a branch of the same name.
        let Some((id, r)) = refs
            .iter()
            .find(|(_, r)| *r == tag)
            .or_else(|| refs.first())
            .copied()
        else {
            // `origin/master` as a checkout of the upstream names it.
            if let Some(rest) = name.strip_prefix("origin/").filter(|r| !r.is_empty()) {
                return self.resolve_name(rest);
            }
            return Err(self.unknown_name(name)?);
        };
        if !is_full_id(id) {
            return Err(Error::external(format!(
                "{}: git ls-remote printed {id:?} for {r}",
                self.label()
            )));
        }
        let fetched = self.ensure_commit(id)?;
        let peeled = self.git.output(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{id}^{{commit}}"),
        ])?;
        if !peeled.success {
            return Err(Error::input(format!(
                "{}: {r} does not name a commit",
                self.label()
            )));
        }
        let commit = peeled.stdout.trim().to_string();
        if r == head && !fetched {
            self.git.run(&[
                "update-ref",
                &format!("refs/remotes/origin/{name}"),
                &commit,
            ])?;
        }
        Ok(resolved(commit, Some(name.to_string()), true, fetched))
    }

    /// The error for a name the upstream has no branch or tag of: the close names, and what
    /// `--to` takes (`main` for `master` and the other way round explained).
    fn unknown_name(&self, name: &str) -> Result<Error> {
        let out = self.run_remote(&["ls-remote", "--heads", "--tags", "origin"])?;
        let (mut branches, mut tags) = (Vec::new(), Vec::new());
        for (_, r) in out.lines().filter_map(|l| l.split_once('\t')) {
            if let Some(b) = r.strip_prefix("refs/heads/") {
                branches.push(b);
            } else if let Some(t) = r.strip_prefix("refs/tags/") {
                if !t.ends_with("^{}") {
                    tags.push(t);
                }
            }
        }
        let known: Vec<&str> = branches.iter().chain(&tags).copied().collect();
        let e = Error::input(format!(
            "{}: no branch, tag or commit {name}{}",
            self.label(),
            suggest(name, &known)
        ));
        let other = match name {
            "main" => Some("master"),
            "master" => Some("main"),
            _ => None,
        };
        Ok(match other.filter(|o| branches.contains(o)) {
            Some(o) => e.with_hint(format!(
                "its main branch is {o}, not {name}: --to {o}, or no --to for latest (the head of its default branch)"
            )),
            None => e.with_hint(format!(
                "--to takes latest (the default: the head of the default branch), one of its {} and {}, or a commit id of 4 to 40 hex digits",
                count(branches.len(), "branch", "branches"),
                count(tags.len(), "tag", "tags")
            )),
        })
    }

    /// Makes sure the object `id` (a commit or a tag) is in the cache; returns whether it
    /// fetched (every branch and tag: a name moves, and names are resolved against them all).
    fn ensure_commit(&self, id: &str) -> Result<bool> {
        if self.git.run_ok(&["cat-file", "-e", id])? {
            return Ok(false);
        }
        self.fetch()?;
        if self.git.run_ok(&["cat-file", "-e", id])? {
            return Ok(true);
        }
        Err(Error::external(format!(
            "{}: the upstream advertised {} but the fetch did not bring it",
            self.label(),
            &id[..7.min(id.len())]
        )))
    }
}
