//! A component's upstream git repository: its blobless local cache, resolving versions, and the commits between two.

pub mod changes;
pub mod git;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::checkout::normalize_repo_url;
use crate::error::{io_message, Error, Result};
use crate::redact::{redact_known, redact_url, split_userinfo};
use crate::util::{create_private_dir_all, fnv, is_commit_hex, make_tree_private};
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

/// What a commit-id prefix names in the cache.
enum Lookup {
    Found(String),
    Missing,
    Ambiguous(Vec<String>),
}

/// The upload-pack of a local upstream: git drops `-c` settings for local transports, and
/// upload-pack refuses the blobless filter (and fetching by id) unless its configuration allows it.
const LOCAL_UPLOAD_PACK: &str = "--upload-pack=git -c uploadpack.allowFilter=true -c uploadpack.allowAnySHA1InWant=true upload-pack";

/// How long a fetch runs before the spinner shows.
const SPINNER_DELAY: Duration = Duration::from_millis(300);

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
            let configured = git.output(&["config", "--get", "remote.origin.url"])?;
            if configured.stdout.trim() != remote {
                git.run(&["config", "remote.origin.url", &remote])?;
            }
            let shared = git.output(&["config", "--get", "core.sharedRepository"])?;
            if shared.stdout.trim() != PRIVATE_MODE {
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
        })
    }

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

    /// Resolves a version: `None` or `latest` (the head of the upstream's default branch), a
    /// branch or tag name, or a commit id of 7 to 40 hex digits. Fetches only when the cache
    /// lacks the commit.
    pub fn resolve(&self, rev: Option<&str>) -> Result<Resolved> {
        match rev
            .map(str::trim)
            .filter(|r| !r.is_empty() && *r != "latest")
        {
            None => self.resolve_latest(),
            Some(r) if is_commit_hex(r) => self.resolve_id(r, 7),
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
        let mut fetched = false;
        loop {
            match self.lookup(&hex)? {
                Lookup::Found(id) => return Ok(resolved(id, None, true, fetched)),
                Lookup::Ambiguous(ids) => {
                    return Err(Error::input(format!(
                        "{}: commit id {hex} is ambiguous: it names {}",
                        self.label(),
                        ids.join(", ")
                    )))
                }
                Lookup::Missing if self.offline => {
                    return if hex.len() == 40 {
                        Ok(resolved(hex, None, false, false))
                    } else {
                        Err(Error::input(format!(
                            "{}: no commit {hex} in the cache (offline: give the full 40-digit id, or go online)",
                            self.label()
                        )))
                    };
                }
                Lookup::Missing if !fetched && !self.fetched.load(Ordering::Relaxed) => {
                    self.fetch()?;
                    fetched = true;
                }
                Lookup::Missing => {
                    if hex.len() == 40 && self.fetch_id(&hex).is_ok() && self.has_commit(&hex)? {
                        return Ok(resolved(hex, None, true, true));
                    }
                    return Err(Error::input(format!(
                        "{}: no commit {hex} in the upstream",
                        self.label()
                    )));
                }
            }
        }
    }

    /// Fetches all branches and tags (commits and trees only) from the upstream.
    pub fn fetch(&self) -> Result<()> {
        self.refuse_offline("fetch")?;
        let mut args = vec!["fetch"];
        if self.local.is_some() {
            args.push(LOCAL_UPLOAD_PACK);
        }
        args.extend(["--filter=blob:none", "--tags", "--no-write-fetch-head"]);
        args.push(if self.progress {
            "--progress"
        } else {
            "--quiet"
        });
        args.push("origin");
        self.run_remote(&args)?;
        self.fetched.store(true, Ordering::Relaxed);
        make_tree_private(&self.path)
    }

    /// How `new` relates to `old`; both are commit ids (7 to 40 digits) that must be in the
    /// upstream (the cache is fetched if it lacks them).
    pub fn relation(&self, old: &str, new: &str) -> Result<Relation> {
        let old = self.cached_commit(old)?;
        let new = self.cached_commit(new)?;
        if old == new {
            return Ok(Relation::Same);
        }
        let out = self.git.output(&["merge-base", &old, &new])?;
        let base = out.stdout.trim();
        if !out.success || base.is_empty() {
            if out.stderr.trim().is_empty() {
                return Err(Error::refused(format!(
                    "{}: {} and {} share no history",
                    self.label(),
                    &old[..7],
                    &new[..7]
                )));
            }
            return Err(Error::external(format!(
                "{}: git merge-base failed: {}",
                self.label(),
                one_line(&out.stderr)
            )));
        }
        if base == old {
            Ok(Relation::Descends {
                commits: self.count(&old, &new)?,
            })
        } else if base == new {
            Ok(Relation::Rollback {
                commits: self.count(&new, &old)?,
            })
        } else {
            Ok(Relation::Diverged {
                merge_base: base.to_string(),
            })
        }
    }

    /// The commits of `old..new` (in `new`, not in `old`), newest first. Needs no blobs.
    pub fn commits(&self, old: &str, new: &str) -> Result<Vec<CommitInfo>> {
        let old = self.cached_commit(old)?;
        let new = self.cached_commit(new)?;
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
                    short: id.get(..7).unwrap_or(&id).to_string(),
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

    fn refuse_offline(&self, what: &str) -> Result<()> {
        if self.offline {
            return Err(Error::input(format!(
                "{}: offline: cannot {what}",
                self.label()
            )));
        }
        Ok(())
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

    fn count(&self, from: &str, to: &str) -> Result<usize> {
        let range = format!("{from}..{to}");
        let n = self.git.run_line(&["rev-list", "--count", &range, "--"])?;
        n.parse()
            .map_err(|_| Error::external(format!("{}: git rev-list printed {n:?}", self.label())))
    }

    fn has_commit(&self, id: &str) -> Result<bool> {
        self.git
            .run_ok(&["cat-file", "-e", &format!("{id}^{{commit}}")])
    }

    /// The commits of the cache whose id starts with `hex`.
    fn lookup(&self, hex: &str) -> Result<Lookup> {
        if hex.len() == 40 {
            return Ok(if self.has_commit(hex)? {
                Lookup::Found(hex.to_string())
            } else {
                Lookup::Missing
            });
        }
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

    /// Fetches one commit by id (servers that allow it), for commits no branch or tag reaches.
    fn fetch_id(&self, id: &str) -> Result<()> {
        self.refuse_offline("fetch")?;
        let mut args = vec!["fetch"];
        if self.local.is_some() {
            args.push(LOCAL_UPLOAD_PACK);
        }
        args.extend([
            "--filter=blob:none",
            "--no-tags",
            "--no-write-fetch-head",
            "--quiet",
            "origin",
            id,
        ]);
        self.run_remote(&args)?;
        make_tree_private(&self.path)
    }

    fn resolve_latest(&self) -> Result<Resolved> {
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
                ))),
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

    fn resolve_name(&self, name: &str) -> Result<Resolved> {
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
            return Err(Error::input(format!(
                "{}: no branch, tag or commit {name}",
                self.label()
            )));
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

    /// Makes sure the object `id` (a commit or a tag) is in the cache; returns whether it fetched.
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

    /// Runs a git command that contacts the upstream, with a spinner when it takes a while.
    fn run_remote(&self, args: &[&str]) -> Result<String> {
        self.refuse_offline("contact the upstream")?;
        if !self.progress {
            let out = self.remote_git.output(args)?;
            return if out.success {
                Ok(out.stdout)
            } else {
                Err(self.remote_error(&out.stderr))
            };
        }
        let mut cmd = self.remote_git.spawn_command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let cannot_run = |e: std::io::Error| {
            Error::external(format!(
                "{}: cannot run git: {}",
                self.label(),
                io_message(&e)
            ))
        };
        let mut child = cmd.spawn().map_err(cannot_run)?;
        let (tx, rx) = mpsc::channel::<String>();
        let stderr = child.stderr.take();
        let reader = std::thread::spawn(move || {
            let Some(mut stderr) = stderr else { return };
            let mut buf = [0u8; 4096];
            let mut line = Vec::new();
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                for &b in &buf[..n] {
                    if b == b'\r' || b == b'\n' {
                        if !line.is_empty() {
                            let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
                            line.clear();
                        }
                    } else {
                        line.push(b);
                    }
                }
            }
            if !line.is_empty() {
                let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
            }
        });
        let mut stdout = String::new();
        let stdout_pipe = child.stdout.take();
        let stdout_reader = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = stdout_pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        });
        let start = Instant::now();
        let mut bar: Option<indicatif::ProgressBar> = None;
        let mut lines: Vec<String> = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    let line = self.scrub(&line);
                    if let Some(b) = &bar {
                        b.set_message(line.clone());
                    }
                    lines.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if bar.is_none() && start.elapsed() >= SPINNER_DELAY {
                let b = indicatif::ProgressBar::new_spinner();
                let style =
                    indicatif::ProgressStyle::with_template("{spinner} {prefix}: {wide_msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
                b.set_style(style);
                b.set_prefix(format!("fetching {}", self.shown));
                b.set_message(lines.last().cloned().unwrap_or_default());
                b.enable_steady_tick(Duration::from_millis(100));
                bar = Some(b);
            }
        }
        let _ = reader.join();
        if let Ok(s) = stdout_reader.join() {
            stdout = s;
        }
        let status = child.wait().map_err(cannot_run)?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        if status.success() {
            Ok(stdout)
        } else {
            Err(self.remote_error(&lines.join("\n")))
        }
    }

    /// A message without this upstream's secrets (nor any URL credentials).
    fn scrub(&self, text: &str) -> String {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        redact_known(text, &secrets)
    }

    /// One line saying why contacting the upstream failed.
    fn remote_error(&self, stderr: &str) -> Error {
        let stderr = self.scrub(stderr);
        let stderr = stderr.as_str();
        let msg = one_line(stderr);
        let lower = stderr.to_ascii_lowercase();
        let label = self.label();
        if [
            "authentication failed",
            "could not read username",
            "could not read password",
            "terminal prompts disabled",
            "permission denied (publickey",
            "http basic: access denied",
        ]
        .iter()
        .any(|p| lower.contains(p))
        {
            return Error::external(format!("{label}: authentication required: {msg}"));
        }
        if let Some(dir) = &self.local {
            if !dir.exists() {
                return Error::external(format!(
                    "{label}: unreachable: {} does not exist",
                    dir.display()
                ));
            }
        }
        if lower.contains("does not appear to be a git repository")
            || lower.contains("not a git repository")
        {
            return Error::external(format!("{label}: not a git repository"));
        }
        if lower.contains("repository") && lower.contains("not found") {
            return Error::external(format!(
                "{label}: repository not found (or no access): {msg}"
            ));
        }
        Error::external(format!("{label}: unreachable: {msg}"))
    }
}

fn resolved(id: String, name: Option<String>, in_cache: bool, fetched: bool) -> Resolved {
    Resolved {
        short: id.get(..7).unwrap_or(&id).to_string(),
        id,
        name,
        in_cache,
        fetched,
    }
}

fn is_full_id(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The mode of the cache's files (`core.sharedRepository`): the owner's alone; folders get 0700.
const PRIVATE_MODE: &str = "0600";

/// The user info of an upstream URL, kept out of the cache (percent-decoded).
#[derive(Clone, PartialEq, Eq)]
struct UrlAuth {
    user: String,
    password: Option<String>,
}

impl std::fmt::Debug for UrlAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlAuth")
            .field("user", &crate::redact::MARKER)
            .field(
                "password",
                &self.password.as_ref().map(|_| crate::redact::MARKER),
            )
            .finish()
    }
}

/// What git fetches from (never with a password; an http(s) URL without user info), a local
/// upstream's absolute path, the cache key (without user info), and the credentials for the
/// commands that contact an http(s) upstream.
fn remote_of(url: &str) -> Result<(String, Option<PathBuf>, String, Option<UrlAuth>)> {
    if let Some(path) = url.strip_prefix("file://") {
        let p = PathBuf::from(path);
        return Ok((
            url.to_string(),
            Some(p),
            normalize_repo_url(url).to_string(),
            None,
        ));
    }
    let scp_like = url
        .find(':')
        .is_some_and(|colon| !url[..colon].contains('/'));
    if url.contains("://") {
        let Some((bare, user, password)) = split_userinfo(url) else {
            return Ok((
                url.to_string(),
                None,
                normalize_repo_url(url).to_string(),
                None,
            ));
        };
        let key = normalize_repo_url(&bare).to_string();
        let scheme = url
            .split("://")
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if scheme == "http" || scheme == "https" {
            let auth = UrlAuth {
                user: percent_decode(&user),
                password: password.as_deref().map(percent_decode),
            };
            return Ok((bare, None, key, Some(auth)));
        }
        // ssh and others: the user name says who to log in as (not a secret); a password is
        // not for git to keep.
        let (scheme, rest) = bare.split_once("://").unwrap_or((&bare, ""));
        return Ok((format!("{scheme}://{user}@{rest}"), None, key, None));
    }
    if scp_like {
        return Ok((
            url.to_string(),
            None,
            normalize_repo_url(url).to_string(),
            None,
        ));
    }
    let abs = std::path::absolute(url)
        .map_err(|e| Error::input(format!("upstream {}: {}", redact_url(url), io_message(&e))))?;
    let shown = abs.to_string_lossy().into_owned();
    Ok((
        format!("file://{shown}"),
        Some(abs),
        normalize_repo_url(&shown).to_string(),
        None,
    ))
}

/// `%XX` sequences decoded (others kept as they are), as git decodes a URL's user info.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `git` with one more configuration entry passed through the environment
/// (`GIT_CONFIG_COUNT`, `GIT_CONFIG_KEY_<n>`, `GIT_CONFIG_VALUE_<n>`), after the entries the
/// environment (the process's, then `env`) already passes that way.
fn with_config_env(git: Git, env: &[(&str, &str)], key: &str, value: &str) -> Git {
    let count = env
        .iter()
        .rev()
        .find(|(k, _)| *k == "GIT_CONFIG_COUNT")
        .map(|(_, v)| v.to_string())
        .or_else(|| std::env::var("GIT_CONFIG_COUNT").ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    git.with_env("GIT_CONFIG_COUNT", (count + 1).to_string())
        .with_env(format!("GIT_CONFIG_KEY_{count}"), key)
        .with_env(format!("GIT_CONFIG_VALUE_{count}"), value)
}

/// The last path segment of a URL (its query and fragment left out: they may hold secrets),
/// reduced to `[A-Za-z0-9._-]`.
fn cache_name(key: &str) -> String {
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

    #[test]
    fn remotes_and_cache_names() {
        let (r, local, key, _) =
            remote_of("https://github.com/app-sre/qontract-reconcile.git").unwrap();
        assert_eq!(r, "https://github.com/app-sre/qontract-reconcile.git");
        assert!(local.is_none());
        assert_eq!(key, "https://github.com/app-sre/qontract-reconcile");
        assert_eq!(cache_name(&key), "qontract-reconcile");
        let (r, local, _, _) = remote_of("git@github.com:app-sre/x.git").unwrap();
        assert_eq!(r, "git@github.com:app-sre/x.git");
        assert!(local.is_none());
        let (r, local, key, _) = remote_of("/tmp/some repo/up.git/").unwrap();
        assert_eq!(r, "file:///tmp/some repo/up.git/");
        assert_eq!(local.unwrap(), PathBuf::from("/tmp/some repo/up.git/"));
        assert_eq!(cache_name(&key), "up");
        assert_eq!(cache_name("https://h/a b?c"), "a-b");
        assert_eq!(cache_name("https://h/x.git?token=abc#f"), "x.git");
        assert_eq!(cache_name(""), "repo");
    }

    #[test]
    fn credentials_stay_out_of_the_remote_and_the_key() {
        let (r, _, key, auth) = remote_of("https://bot:T%40K3N@h.example/a/up.git").unwrap();
        assert_eq!(r, "https://h.example/a/up.git");
        assert_eq!(key, "https://h.example/a/up");
        let auth = auth.unwrap();
        assert_eq!(
            (auth.user.as_str(), auth.password.as_deref()),
            ("bot", Some("T@K3N"))
        );
        assert!(!format!("{auth:?}").contains("T@K3N"));
        let plain = remote_of("https://h.example/a/up.git").unwrap();
        assert_eq!((plain.2, plain.3), (key, None));
        let (r, _, _, auth) = remote_of("http://user@127.0.0.1:1/x.git").unwrap();
        assert_eq!(r, "http://127.0.0.1:1/x.git");
        assert_eq!(
            auth.map(|a| (a.user, a.password)),
            Some(("user".into(), None))
        );
        let (r, _, key, auth) = remote_of("ssh://git:pw@h.example/a/x.git").unwrap();
        assert_eq!(r, "ssh://git@h.example/a/x.git");
        assert_eq!(key, "ssh://h.example/a/x");
        assert!(auth.is_none());
        let dir = tempfile::tempdir().unwrap();
        let opts = UpstreamOptions {
            cache_dir: dir.path().to_path_buf(),
            offline: true,
            progress: false,
        };
        let up = Upstream::open_with_env(
            "https://bot:T0KEN@h.example/a/up.git",
            opts,
            &[
                ("GIT_CONFIG_GLOBAL", "/dev/null"),
                ("GIT_CONFIG_NOSYSTEM", "1"),
            ],
        )
        .unwrap();
        let shown = format!("{up:?}");
        assert!(
            shown.contains("[redacted]@h.example") && !shown.contains("T0KEN"),
            "{shown}"
        );
        assert!(!shown.contains(&base64::engine::general_purpose::STANDARD.encode("bot:T0KEN")));
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }
}
