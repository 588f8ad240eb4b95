//! The git commands that contact the upstream (with a spinner when they take a while), their
//! errors as one line without secrets, and what an upstream URL means: the remote git fetches
//! from, a local path, the cache key, and credentials kept out of the cache.

use std::io::Read;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Upstream;
use crate::checkout::normalize_repo_url;
use crate::error::{io_message, Error, Result};
use crate::redact::{redact_known, redact_url, split_userinfo};
use crate::upstream::git::{one_line, Git};

/// How many times a command that met another run's lock in the cache is tried again.
const LOCK_RETRIES: usize = 6;

/// Git's words when another process holds a lock in the same repository.
fn is_lock_contention(stderr: &str) -> bool {
    stderr.contains("cannot lock ref")
        || (stderr.contains(".lock") && stderr.contains("File exists"))
        || stderr.contains("Unable to create") && stderr.contains(".lock")
}

/// How long a fetch runs before the spinner shows.
const SPINNER_DELAY: Duration = Duration::from_millis(300);

/// What to do when the upstream cannot be reached: the ways that need no network.
const UNREACHABLE_HINT: &str = "no network? --upstream PATH reads a local clone, components.<name>.upstream in .qr-promote.yaml keeps it for every command, and --offline answers from the upstream cache alone";

impl Upstream {
    /// Runs a git command that contacts the upstream, with a spinner when it takes a while.
    pub(super) fn run_remote(&self, args: &[&str]) -> Result<String> {
        self.refuse_offline("contact the upstream")?;
        if !self.progress {
            // Another run fetching into the same cache holds a ref's lock for a moment: wait
            // for it rather than fail.
            let mut pause = Duration::from_millis(50);
            for _ in 0..LOCK_RETRIES {
                let out = self.remote_git.output(args)?;
                if out.success {
                    return Ok(out.stdout);
                }
                if !is_lock_contention(&out.stderr) {
                    return Err(self.remote_error(&out.stderr));
                }
                std::thread::sleep(pause);
                pause *= 2;
            }
            let out = self.remote_git.output(args)?;
            return if out.success {
                Ok(out.stdout)
            } else {
                Err(self.remote_error(&out.stderr))
            };
        }
        let mut cmd = self.remote_git.spawn_command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let started = Instant::now();
        let cannot_run = |e: std::io::Error| self.remote_git.cannot_run(args, started, e);
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
        self.remote_git.log_run(
            args,
            started.elapsed(),
            status,
            0,
            stdout.len(),
            &lines.join("\n"),
        );
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
                ))
                .with_hint(UNREACHABLE_HINT);
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
        Error::external(format!("{label}: unreachable: {msg}")).with_hint(UNREACHABLE_HINT)
    }
}

/// The user info of an upstream URL, kept out of the cache (percent-decoded).
#[derive(Clone, PartialEq, Eq)]
pub(super) struct UrlAuth {
    pub(super) user: String,
    pub(super) password: Option<String>,
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
pub(super) fn remote_of(url: &str) -> Result<(String, Option<PathBuf>, String, Option<UrlAuth>)> {
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
pub(super) fn with_config_env(git: Git, env: &[(&str, &str)], key: &str, value: &str) -> Git {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::cache::cache_name;
    use crate::upstream::UpstreamOptions;
    use base64::Engine as _;

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
