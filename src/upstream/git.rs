//! The `git` program behind one type: running it in a directory, its events and messages without secrets; the checkout-side operations of `apply --commit` are in `checkout`.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{io_message, Error, Result};
use crate::redact::{is_secret_param, redact, redact_known, MARKER};

mod checkout;

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
