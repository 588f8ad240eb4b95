//! The upstream's cache: a bare tree-less clone under `<cache_dir>/upstreams/`, created once and
//! fetched into when a version is not in it; resolving names and commit ids to commits.
//!
//! A new cache starts **bounded**: it fetches only what a promotion to a full commit id needs,
//! the versions by id (one commit each) and then the history between two versions (since a
//! margin before the older one's commit date), never trees or blobs. Anything that needs the
//! whole history (a graph for `where` and `history`, a short id's prefix lookup, a pull
//! request's number, a branch or tag name, `latest`) completes it first with one fetch of every
//! branch and tag (`--unshallow`); from then on the cache is complete and fetches what its
//! branches and tags gained.

use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;

use super::bounded::{BOUNDED, BOUNDED_NOTE};
use super::remote::{remote_of, with_config_env};
use super::{Resolved, Upstream, UpstreamOptions};
use crate::error::{Error, Result};
use crate::redact::redact_url;
use crate::upstream::git::Git;
use crate::util::{create_private_dir_all, fnv, is_commit_hex, make_tree_private, short_id};

/// What a commit-id prefix names in the cache.
enum Lookup {
    Found(String),
    Missing,
    Ambiguous(Vec<String>),
}

/// The upload-pack of a local upstream: git drops `-c` settings for local transports, and
/// upload-pack refuses the blobless filter (and fetching by id) unless its configuration allows it.
pub(super) const LOCAL_UPLOAD_PACK: &str = "--upload-pack=git -c uploadpack.allowFilter=true -c uploadpack.allowAnySHA1InWant=true upload-pack";

/// The filter of every fetch: commits (and tags) only. Nothing reads a tree or a blob of the
/// upstream: the change report, the relation of two versions and the graph need commits alone.
pub(super) const FILTER: &str = "--filter=tree:0";

/// The mode of the cache's files (`core.sharedRepository`): the owner's alone; folders get 0700.
const PRIVATE_MODE: &str = "0600";

impl Upstream {
    /// Opens (creating it if needed) the cache of the upstream at `url`: an https, ssh or
    /// `git@host:path` URL, or a local path. Contacts nothing.
    pub fn open(url: &str, opts: UpstreamOptions) -> Result<Upstream> {
        Upstream::open_with_env(url, opts, &[])
    }

    /// Like [`Upstream::open`], with extra environment variables for every git command
    /// (tests use it to seal git from the user's configuration).
    pub fn open_with_env(
        url: &str,
        opts: UpstreamOptions,
        env: &[(&str, &str)],
    ) -> Result<Upstream> {
        let url = url.trim();
        if url.is_empty() {
            return Err(Error::input("upstream: empty repository URL"));
        }
        let shown = redact_url(url);
        let (remote, local, key, auth) = remote_of(url)?;
        let upstreams = opts.cache_dir.join("upstreams");
        create_private_dir_all(&upstreams)?;
        remove_stale_clones(&upstreams);
        let stem = format!("{}-{:016x}", cache_name(&key), fnv(&[&key]));
        let path = upstreams.join(format!("{stem}.git"));
        let label = format!("upstream {shown}");
        let with_env = |mut git: Git| {
            // Never fetch missing objects behind our back (a blobless cache lacks every blob).
            git = git.with_env("GIT_NO_LAZY_FETCH", "1");
            for (k, v) in env {
                git = git.with_env(*k, *v);
            }
            git
        };
        let git = with_env(Git::new(&path).with_label(&label)).with_env("GIT_DIR", &path);
        if path.join("HEAD").is_file() {
            // Both settings in one git command (keys come back in lowercase).
            let settings = git.output(&[
                "config",
                "--get-regexp",
                r"^(remote\.origin\.url|core\.sharedrepository)$",
            ])?;
            let setting = |key: &str| {
                settings.stdout.lines().find_map(|l| {
                    l.split_once(' ')
                        .filter(|(k, _)| *k == key)
                        .map(|(_, v)| v.trim().to_string())
                })
            };
            if setting("remote.origin.url").as_deref() != Some(remote.as_str()) {
                git.run(&["config", "remote.origin.url", &remote])?;
            }
            if setting("core.sharedrepository").as_deref() != Some(PRIVATE_MODE) {
                // A cache made before caches were private: narrow it once.
                git.run(&["config", "core.sharedRepository", PRIVATE_MODE])?;
                make_tree_private(&path)?;
            }
        } else {
            // Build the cache aside and rename it into place, so a concurrent run never sees half of it.
            let tmp = upstreams.join(format!(".{stem}.tmp{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            let tmp_str = tmp.to_string_lossy().into_owned();
            with_env(Git::new(&upstreams).with_label(&label)).run(&[
                "init",
                "--bare",
                "--quiet",
                &format!("--shared={PRIVATE_MODE}"),
                &tmp_str,
            ])?;
            let tmp_git = with_env(Git::new(&tmp).with_label(&label)).with_env("GIT_DIR", &tmp);
            tmp_git.run(&["remote", "add", "origin", &remote])?;
            tmp_git.run(&["config", "remote.origin.tagOpt", "--tags"])?;
            // Nothing fetched yet: the history is bounded until a fetch of every branch and tag.
            crate::util::write_private(&tmp.join(BOUNDED), BOUNDED_NOTE.as_bytes())?;
            if let Err(e) = std::fs::rename(&tmp, &path) {
                let _ = std::fs::remove_dir_all(&tmp);
                if !path.join("HEAD").is_file() {
                    return Err(Error::io(&path, e));
                }
            }
        }
        let mut secrets = Vec::new();
        let mut remote_git = git.clone();
        if let Some(auth) = auth {
            let (key, value) = match &auth.password {
                Some(password) => {
                    let pair = format!("{}:{password}", auth.user);
                    let basic = base64::engine::general_purpose::STANDARD.encode(pair);
                    secrets.push(password.clone());
                    secrets.push(basic.clone());
                    ("http.extraHeader", format!("Authorization: Basic {basic}"))
                }
                None => ("credential.username", auth.user.clone()),
            };
            remote_git = with_config_env(remote_git, env, key, &value);
        }
        Ok(Upstream {
            url: url.to_string(),
            shown,
            remote,
            remote_git,
            secrets,
            local,
            path,
            git,
            offline: opts.offline,
            progress: opts.progress,
            fetched: AtomicBool::new(false),
            known: Default::default(),
        })
    }

    /// Resolves a version: `None` or `latest` (the head of the upstream's default branch), a
    /// branch or tag name, or a commit id of 4 to 40 hex digits (4 to 6 digits: unless no commit has it and a branch or tag has that name). Fetches only when the cache
    /// lacks the commit.
    pub fn resolve(&self, rev: Option<&str>) -> Result<Resolved> {
        match rev
            .map(str::trim)
            .filter(|r| !r.is_empty() && *r != "latest")
        {
            None => self.resolve_latest(),
            Some(r) if is_commit_hex(r) => self.resolve_id(r, 7),
            // A short id of 4 to 6 digits, unless no commit has it and a branch or tag has
            // that name.
            Some(r) if r.len() >= 4 && r.bytes().all(|b| b.is_ascii_hexdigit()) => self
                .resolve_id(r, 4)
                .or_else(|e| self.resolve_name(r).map_err(|_| e)),
            Some(r) => self.resolve_name(r),
        }
    }

    /// Resolves a commit id or id prefix of at least `min_len` (4 or more) hex digits: it must
    /// name exactly one commit. Offline, a full id the cache lacks is accepted (`in_cache: false`).
    pub fn resolve_id(&self, hex: &str, min_len: usize) -> Result<Resolved> {
        let hex = hex.trim().to_ascii_lowercase();
        let min_len = min_len.max(4);
        if hex.len() < min_len || hex.len() > 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::input(format!(
                "{}: {hex:?} is not a commit id ({min_len} to 40 hex digits)",
                self.label()
            )));
        }
        // A short id names one commit of the whole history, not of a bounded one.
        let mut fetched = hex.len() < 40 && self.complete_history()?;
        let mut alone = false;
        loop {
            match self.lookup(&hex)? {
                Lookup::Found(id) => return Ok(resolved(id, None, true, fetched)),
                Lookup::Ambiguous(ids) => {
                    return Err(Error::input(format!(
                        "{}: commit id {hex} is ambiguous: it names {}",
                        self.label(),
                        self.describe(&ids).join(", ")
                    ))
                    .with_hint("give more digits of the id"))
                }
                Lookup::Missing if self.offline => {
                    return if hex.len() == 40 {
                        Ok(resolved(hex, None, false, false))
                    } else {
                        Err(Error::input(format!(
                            "{}: no commit {hex} in the cache (offline: give the full 40-digit id, or go online)",
                            self.label()
                        ))
                        .with_hint("run once without --offline to fetch the upstream's branches and tags"))
                    };
                }
                // A bounded cache fetches the commit alone (by id, without its history).
                Lookup::Missing
                    if hex.len() == 40
                        && !alone
                        && self.is_bounded()
                        && !self.fetched.load(Ordering::Relaxed) =>
                {
                    alone = true;
                    if self.fetch_alone(&[&hex]).is_ok() && self.has_commit(&hex)? {
                        return Ok(resolved(hex, None, true, true));
                    }
                }
                Lookup::Missing if !fetched && !self.fetched.load(Ordering::Relaxed) => {
                    self.fetch()?;
                    fetched = true;
                }
                Lookup::Missing => {
                    // Not on any branch or tag: a commit that only another ref reaches (a pull
                    // request's head), fetched by its id.
                    let full = if hex.len() == 40 {
                        Some(hex.clone())
                    } else {
                        self.advertised(&hex)?
                    };
                    if let Some(full) = full {
                        if self.fetch_id(&full).is_ok() && self.has_commit(&full)? {
                            return Ok(resolved(full, None, true, true));
                        }
                    }
                    return Err(Error::input(format!(
                        "{}: no commit {hex} in the upstream",
                        self.label()
                    ))
                    .with_hint(
                        "none of its branches and tags reaches it: a commit of a fork, or not pushed yet; --upstream URL|PATH (or components.<name>.upstream in .qr-promote.yaml) names the repository that has it",
                    ));
                }
            }
        }
    }

    /// Fetches all branches and tags (commits only) from the upstream, with their whole history:
    /// a bounded cache is completed (`--unshallow`), and so are the commits it fetched alone
    /// that no branch or tag reaches.
    pub fn fetch(&self) -> Result<()> {
        self.refuse_offline("fetch")?;
        let mut args = Vec::new();
        if self.is_shallow() {
            args.push("--unshallow");
        }
        args.extend(["--tags", "--no-write-fetch-head"]);
        args.push(if self.progress {
            "--progress"
        } else {
            "--quiet"
        });
        args.push("origin");
        self.fetch_with(&args)?;
        self.fetched.store(true, Ordering::Relaxed);
        // Commits fetched alone that no branch or tag reaches (a pull request's head) keep a cut
        // history: deepen them by id, where the upstream allows it.
        let cut = self.shallow_commits()?;
        if !cut.is_empty() {
            let mut args = vec![
                "--unshallow",
                "--no-tags",
                "--no-write-fetch-head",
                "--quiet",
                "origin",
            ];
            args.extend(cut.iter().map(String::as_str));
            // An upstream that refuses ids leaves them cut, and the cache bounded.
            let _ = self.fetch_with(&args);
        }
        self.unmark_bounded()?;
        make_tree_private(&self.path)
    }

    /// `git fetch <args>` from the upstream, commits only (with the local upload-pack that
    /// allows filters and ids for an upstream on disk).
    pub(super) fn fetch_with(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["fetch"];
        if self.local.is_some() {
            all.push(LOCAL_UPLOAD_PACK);
        }
        all.push(FILTER);
        all.extend(args.iter().copied());
        self.run_remote(&all)
    }

    pub(super) fn refuse_offline(&self, what: &str) -> Result<()> {
        if self.offline {
            return Err(Error::input(format!(
                "{}: offline: cannot {what}",
                self.label()
            )));
        }
        Ok(())
    }

    fn has_commit(&self, id: &str) -> Result<bool> {
        if self.knows(id) {
            return Ok(true);
        }
        let found = self
            .git
            .run_ok(&["cat-file", "-e", &format!("{id}^{{commit}}")])?;
        if found {
            self.learn(id);
        }
        Ok(found)
    }

    /// Whether this session learnt `fact` (a commit the cache holds, or `old...new`).
    pub(super) fn knows(&self, fact: &str) -> bool {
        self.known.lock().is_ok_and(|k| k.contains(fact))
    }

    /// Remembers `fact` for the rest of the session (a cache only ever gains commits).
    pub(super) fn learn(&self, fact: &str) {
        if let Ok(mut k) = self.known.lock() {
            k.insert(fact.to_string());
        }
    }

    /// The commits of the cache whose id starts with `hex`. A short id is looked up in the whole
    /// history: a bounded cache is completed first (unless offline).
    fn lookup(&self, hex: &str) -> Result<Lookup> {
        if hex.len() == 40 {
            return Ok(if self.has_commit(hex)? {
                Lookup::Found(hex.to_string())
            } else {
                Lookup::Missing
            });
        }
        self.complete_history()?;
        let objects = self
            .git
            .run(&["rev-parse", &format!("--disambiguate={hex}")])?;
        if objects.trim().is_empty() {
            return Ok(Lookup::Missing);
        }
        let typed = self.git.run_with_input(
            &["cat-file", "--batch-check=%(objectname) %(objecttype)"],
            objects.as_bytes(),
        )?;
        let mut commits: Vec<String> = typed
            .lines()
            .filter_map(|l| l.strip_suffix(" commit"))
            .map(str::to_string)
            .collect();
        commits.sort();
        Ok(match commits.len() {
            0 => Lookup::Missing,
            1 => Lookup::Found(commits.remove(0)),
            _ => Lookup::Ambiguous(commits),
        })
    }

    /// The one id among the refs the upstream advertises (every ref, not only branches and
    /// tags) that starts with `hex`, if exactly one does.
    fn advertised(&self, hex: &str) -> Result<Option<String>> {
        let out = self.run_remote(&["ls-remote", "origin"])?;
        let mut ids: Vec<String> = out
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(id, _)| id.to_ascii_lowercase())
            .filter(|id| is_full_id(id) && id.starts_with(hex))
            .collect();
        ids.sort();
        ids.dedup();
        Ok(if ids.len() == 1 { ids.pop() } else { None })
    }

    /// Each of `ids` as `<12 hex> (<date>, <subject>)`, in one git command.
    fn describe(&self, ids: &[String]) -> Vec<String> {
        let mut args = vec!["log", "--no-walk=unsorted", "--format=%H %cs, %s"];
        args.extend(ids.iter().map(String::as_str));
        args.push("--");
        let lines = self.git.run(&args).unwrap_or_default();
        ids.iter()
            .map(|id| {
                let line = lines
                    .lines()
                    .find_map(|l| l.strip_prefix(id.as_str()))
                    .map(str::trim)
                    .unwrap_or_default();
                if line.is_empty() {
                    crate::util::head(id, 12).to_string()
                } else {
                    format!("{} ({line})", crate::util::head(id, 12))
                }
            })
            .collect()
    }

    /// The commits a short id names in the cache when it names more than one, each as
    /// `<12 hex> (<date>, <subject>)`; none when it names one or none.
    pub fn ambiguity(&self, hex: &str) -> Result<Vec<String>> {
        let hex = hex.trim().to_ascii_lowercase();
        if hex.len() >= 40 || hex.len() < 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Vec::new());
        }
        let Lookup::Ambiguous(ids) = self.lookup(&hex)? else {
            return Ok(Vec::new());
        };
        Ok(self.describe(&ids))
    }

    /// Fetches one commit by id (servers that allow it), for commits no branch or tag reaches.
    fn fetch_id(&self, id: &str) -> Result<()> {
        self.refuse_offline("fetch")?;
        self.fetch_with(&[
            "--no-tags",
            "--no-write-fetch-head",
            "--quiet",
            "origin",
            id,
        ])?;
        make_tree_private(&self.path)
    }
}

/// Removes the folders that clones killed before they were renamed into place left in
/// `upstreams` (`.<name>.tmp<pid>`, a folder, its pid no longer running); best effort.
fn remove_stale_clones(upstreams: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(upstreams) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.starts_with('.'))
            .and_then(|n| n.rsplit_once(".tmp"))
            .and_then(|(_, pid)| pid.parse::<i32>().ok())
            .and_then(rustix::process::Pid::from_raw)
        else {
            continue;
        };
        let dead = rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH);
        if dead && e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

pub(super) fn resolved(
    id: String,
    name: Option<String>,
    in_cache: bool,
    fetched: bool,
) -> Resolved {
    Resolved {
        short: short_id(&id).to_string(),
        id,
        name,
        in_cache,
        fetched,
    }
}

pub(super) fn is_full_id(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The last path segment of a URL (its query and fragment left out: they may hold secrets),
/// reduced to `[A-Za-z0-9._-]`.
pub(super) fn cache_name(key: &str) -> String {
    let path = key.split(['?', '#']).next().unwrap_or_default();
    let last = path
        .rsplit(['/', ':'])
        .find(|s| !s.is_empty())
        .unwrap_or("");
    let name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let name = name.trim_start_matches('.');
    if name.is_empty() {
        "repo".to_string()
    } else {
        name.to_string()
    }
}
