//! The `git` program behind one type: running it in a directory, and the checkout-side operations of `apply --commit`.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{io_message, Error, Result};
use crate::redact::{is_secret_param, redact, redact_known, MARKER};
use crate::util::short_id;

/// The most characters of a command line an event shows.
const SHOWN_ARGS_MAX: usize = 1000;
/// The most lines of git's messages a trace event shows.
const SHOWN_MESSAGE_LINES: usize = 200;

/// `git` run in one directory (`git -C dir`), never prompting, with messages in English.
#[derive(Debug, Clone)]
pub struct Git {
    dir: PathBuf,
    /// What error messages name: the directory, or the upstream a cache stands for.
    label: String,
    envs: Vec<(OsString, OsString)>,
}

/// What one git command printed, and whether it succeeded.
#[derive(Debug, Clone)]
pub struct GitOutput {
    /// The command exited with status 0.
    pub success: bool,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Git {
    /// Git in `dir`; errors name the directory.
    pub fn new(dir: impl Into<PathBuf>) -> Git {
        let dir = dir.into();
        Git {
            label: dir.display().to_string(),
            dir,
            envs: vec![
                ("GIT_TERMINAL_PROMPT".into(), "0".into()),
                ("LC_ALL".into(), "C".into()),
            ],
        }
    }

    /// The same, with errors naming `label` instead of the directory.
    pub fn with_label(mut self, label: impl Into<String>) -> Git {
        self.label = label.into();
        self
    }

    /// The same, with one more environment variable for every command.
    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Git {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// The directory the commands run in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What error messages name.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(&self.dir).args(args);
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null());
        cmd
    }

    /// A command set up like the others (directory, environment), for callers that stream its output.
    pub fn spawn_command(&self, args: &[&str]) -> Command {
        self.command(args)
    }

    /// Runs git and returns what it printed, whatever its exit status; fails only when git cannot run.
    pub fn output(&self, args: &[&str]) -> Result<GitOutput> {
        self.output_with_input(args, None)
    }

    /// Like [`Git::output`], feeding `input` on standard input.
    pub fn output_with_input(&self, args: &[&str], input: Option<&[u8]>) -> Result<GitOutput> {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let start = Instant::now();
        let mut child = cmd.spawn().map_err(|e| self.cannot_run(args, start, e))?;
        if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
            // A write error means git exited early; its status and stderr tell why.
            let _ = stdin.write_all(bytes);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| self.cannot_run(args, start, e))?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        self.log_run(
            args,
            start.elapsed(),
            out.status,
            input.map_or(0, <[u8]>::len),
            out.stdout.len(),
            &stderr,
        );
        Ok(GitOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        })
    }

    /// The error of a git command that could not run (its event emitted): `err` is the cause.
    pub(crate) fn cannot_run(&self, args: &[&str], start: Instant, err: std::io::Error) -> Error {
        tracing::info!(
            elapsed = %crate::util::elapsed(start.elapsed()),
            "git -C {} {} could not run: {}",
            self.dir.display(),
            shown_args(args),
            io_message(&err)
        );
        Error::external(format!(
            "{}: cannot run git: {}",
            self.label,
            io_message(&err)
        ))
        .with_source(err)
    }

    /// The events of a git command that ran: at level info the command line (without
    /// credentials, nor the environment, which carries the upstream's), its exit status and
    /// time; at debug the sizes of what it read and printed; at trace its messages, secrets
    /// redacted.
    pub(crate) fn log_run(
        &self,
        args: &[&str],
        elapsed: Duration,
        status: ExitStatus,
        stdin_len: usize,
        stdout_len: usize,
        stderr: &str,
    ) {
        if !tracing::enabled!(tracing::Level::INFO) {
            return;
        }
        let exit = status
            .code()
            .map_or_else(|| "signal".to_string(), |c| c.to_string());
        tracing::info!(
            exit = %exit,
            elapsed = %crate::util::elapsed(elapsed),
            "git -C {} {}",
            self.dir.display(),
            shown_args(args)
        );
        let sub = subcommand(args);
        tracing::debug!(
            stdin_bytes = stdin_len,
            stdout_bytes = stdout_len,
            stderr_bytes = stderr.len(),
            "git {sub}: sizes"
        );
        if tracing::enabled!(tracing::Level::TRACE) {
            let secrets = self.env_secrets();
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            for line in shown_messages(stderr, &secrets) {
                tracing::trace!("git {sub}: {line}");
            }
        }
    }

    /// What the environment passes as configuration values (`GIT_CONFIG_VALUE_<n>`: the
    /// upstream's credentials), whole and by their last word, to keep out of events.
    fn env_secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.envs {
            if k.to_string_lossy().starts_with("GIT_CONFIG_VALUE_") {
                let v = v.to_string_lossy();
                if let Some(word) = v.split_whitespace().last() {
                    out.push(word.to_string());
                }
                out.push(v.into_owned());
            }
        }
        out
    }

    /// Runs git and returns its standard output; a failure is an error carrying git's message.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        let out = self.output(args)?;
        self.checked(args, out)
    }

    /// Like [`Git::run`], feeding `input` on standard input.
    pub fn run_with_input(&self, args: &[&str], input: &[u8]) -> Result<String> {
        let out = self.output_with_input(args, Some(input))?;
        self.checked(args, out)
    }

    /// Runs git with `input` on standard input, written while its output is read (so a long
    /// exchange, `cat-file --batch`, never stalls), and returns its standard output as bytes;
    /// a failure is an error carrying git's message.
    pub fn run_bytes(&self, args: &[&str], input: Vec<u8>) -> Result<Vec<u8>> {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd.spawn().map_err(|e| self.cannot_run(args, start, e))?;
        let stdin = child.stdin.take();
        let len = input.len();
        let writer = std::thread::spawn(move || {
            if let Some(mut stdin) = stdin {
                // A write error means git exited early; its status and stderr tell why.
                let _ = stdin.write_all(&input);
            }
        });
        let out = child
            .wait_with_output()
            .map_err(|e| self.cannot_run(args, start, e))?;
        let _ = writer.join();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        self.log_run(
            args,
            start.elapsed(),
            out.status,
            len,
            out.stdout.len(),
            &stderr,
        );
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(self.failed(args, &stderr))
        }
    }

    /// The error of a git command that exited with a failure status.
    fn failed(&self, args: &[&str], stderr: &str) -> Error {
        Error::external(format!(
            "{}: git {} failed: {}",
            self.label,
            subcommand(args),
            one_line(stderr)
        ))
    }

    /// Runs git and returns the first line of its output, trimmed.
    pub fn run_line(&self, args: &[&str]) -> Result<String> {
        Ok(self
            .run(args)?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string())
    }

    /// Runs git for its exit status: `true` on success, `false` on any failure status.
    pub fn run_ok(&self, args: &[&str]) -> Result<bool> {
        Ok(self.output(args)?.success)
    }

    fn checked(&self, args: &[&str], out: GitOutput) -> Result<String> {
        if out.success {
            Ok(out.stdout)
        } else {
            Err(self.failed(args, &out.stderr))
        }
    }

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

/// The git subcommand of an argument list: its first word that is neither an option nor a `-c` value.
fn subcommand<'a>(args: &[&'a str]) -> &'a str {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if *a == "-c" {
            it.next();
        } else if !a.starts_with('-') {
            return a;
        }
    }
    ""
}

/// A git argument list as events show it: the value of a configuration entry (`-c key=value`,
/// `--config key=value`) whose key may carry a secret (`http.extraHeader`, `credential.*`, any
/// key naming a token, password, cookie, ...) and an argument quoting an authorization header
/// become [`MARKER`]; URL credentials and secret query values are redacted ([`redact`]); an
/// argument with spaces is quoted; at most [`SHOWN_ARGS_MAX`] characters.
pub(crate) fn shown_args(args: &[&str]) -> String {
    let mut shown = Vec::with_capacity(args.len());
    let mut config_next = false;
    for a in args {
        let text = if std::mem::take(&mut config_next) {
            shown_config(a)
        } else if *a == "-c" || *a == "--config" {
            config_next = true;
            a.to_string()
        } else if let Some(entry) = a.strip_prefix("--config=") {
            format!("--config={}", shown_config(entry))
        } else if let Some(entry) = a.strip_prefix("-c").filter(|e| !e.is_empty()) {
            format!("-c{}", shown_config(entry))
        } else if quotes_a_secret_header(a) {
            MARKER.to_string()
        } else {
            redact(a)
        };
        shown.push(if text.is_empty() || text.contains(char::is_whitespace) {
            format!("{text:?}")
        } else {
            text
        });
    }
    let line = shown.join(" ");
    if line.len() > SHOWN_ARGS_MAX {
        format!(
            "{}... ({} arguments)",
            crate::util::head(&line, SHOWN_ARGS_MAX),
            args.len()
        )
    } else {
        line
    }
}

/// A `key=value` configuration entry as events show it (see [`shown_args`]).
fn shown_config(entry: &str) -> String {
    let Some((key, _)) = entry.split_once('=') else {
        return redact(entry);
    };
    let k = key.to_ascii_lowercase();
    let secret = is_secret_param(&k)
        || k.contains("header")
        || k.contains("cookie")
        || k.starts_with("credential")
        || quotes_a_secret_header(entry);
    if secret {
        format!("{}={MARKER}", redact(key))
    } else {
        redact(entry)
    }
}

/// Whether a text quotes an HTTP header that carries credentials.
fn quotes_a_secret_header(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["authorization:", "private-token:", "cookie:", "job-token:"]
        .iter()
        .any(|h| lower.contains(h))
}

/// Git's messages as trace events show them: their lines (at most [`SHOWN_MESSAGE_LINES`]),
/// one that quotes a header with credentials left out, the `secrets` and URL credentials
/// redacted ([`redact_known`]).
fn shown_messages(stderr: &str, secrets: &[&str]) -> Vec<String> {
    stderr
        .split(['\n', '\r'])
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .take(SHOWN_MESSAGE_LINES)
        .map(|l| {
            if quotes_a_secret_header(l) {
                MARKER.to_string()
            } else {
                redact_known(l, secrets)
            }
        })
        .collect()
}

/// Git's error output as one line: its `fatal:`/`error:` lines joined, else its last line;
/// URL credentials and secret query values redacted ([`crate::redact::redact`]).
pub fn one_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let prefixed: Vec<&str> = lines
        .iter()
        .filter_map(|l| {
            ["fatal: ", "error: ", "remote: fatal: ", "remote: error: "]
                .iter()
                .find_map(|p| l.strip_prefix(p))
        })
        .collect();
    let msg = if prefixed.is_empty() {
        lines.last().copied().unwrap_or("no message").to_string()
    } else {
        let mut unique: Vec<&str> = Vec::new();
        for l in prefixed {
            if !unique.contains(&l) {
                unique.push(l);
            }
        }
        unique.join("; ")
    };
    crate::redact::redact(msg.trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_keep_credentials_out() {
        let basic = "Authorization: Basic Ym90OlQwS0VO";
        let shown = shown_args(&[
            "-c",
            &format!("http.extraHeader={basic}"),
            "--config=credential.helper=store --file=/x",
            "-chttp.https://h/.cookieFile=/c",
            "-c",
            "core.quotePath=false",
            "fetch",
            "https://bot:T0KEN@h.example/a.git?private_token=P",
            "refs/heads/a b",
            "",
        ]);
        assert_eq!(
            shown,
            "-c http.extraHeader=[redacted] --config=credential.helper=[redacted] \
             -chttp.https://h/.cookieFile=[redacted] -c core.quotePath=false fetch \
             https://[redacted]@h.example/a.git?private_token=[redacted] \"refs/heads/a b\" \"\""
        );
        assert!(!shown.contains("Ym90OlQwS0VO") && !shown.contains("T0KEN"));
        // A branch after `switch -c` is no configuration entry: shown as it is.
        assert_eq!(
            shown_args(&["switch", "--quiet", "-c", "promote/x=1"]),
            "switch --quiet -c promote/x=1"
        );
        let long = vec!["x"; 1000];
        assert!(shown_args(&long).ends_with("... (1000 arguments)"));
    }

    #[test]
    fn messages_keep_known_secrets_and_headers_out() {
        let err = "Cloning\r\n> Authorization: Basic Ym90\nfatal: https://u:p@h/ said T0KEN-1\n";
        assert_eq!(
            shown_messages(err, &["T0KEN-1"]),
            [
                "Cloning",
                "[redacted]",
                "fatal: https://[redacted]@h/ said [redacted]"
            ]
        );
        let git = Git::new("/x")
            .with_env("GIT_CONFIG_VALUE_0", "Authorization: Basic Ym90OlQw")
            .with_env("GIT_CONFIG_KEY_0", "http.extraHeader");
        assert_eq!(
            git.env_secrets(),
            ["Ym90OlQw", "Authorization: Basic Ym90OlQw"]
        );
    }

    #[test]
    fn fatal_lines_make_one_line() {
        let err = "fatal: '/x' does not appear to be a git repository\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n";
        assert_eq!(
            one_line(err),
            "'/x' does not appear to be a git repository; Could not read from remote repository"
        );
        assert_eq!(one_line("warning: x\nsomething broke\n"), "something broke");
        assert_eq!(one_line(""), "no message");
        assert_eq!(
            one_line("fatal: unable to access 'https://u:TOKEN@h/x.git/?token=T2': 403\n"),
            "unable to access 'https://[redacted]@h/x.git/?token=[redacted]': 403"
        );
    }
}
