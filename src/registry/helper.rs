//! Docker's credential helpers: finding `docker-credential-NAME` and running its `get` with the
//! registry's address on stdin, as docker does (docker-credential-helpers `client.Get`).

use std::fmt;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::credentials::{server_address, Credentials, HelperEntry, Origin, Secret};
use super::reference::ImageName;

/// What a helper prints when it holds nothing for the server (docker-credential-helpers'
/// `errCredentialsNotFoundMessage`, compared after trimming white space).
pub(super) const NOT_FOUND_MESSAGE: &str = "credentials not found in native keychain";

/// The user name that makes a helper's `Secret` an identity token.
pub(super) const TOKEN_USERNAME: &str = "<token>";

/// The time a helper has to answer (a helper may ask for a passphrase).
pub(super) const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

/// The most bytes read from a helper's answer.
pub(super) const HELPER_OUTPUT_LIMIT: u64 = 64 * 1024;

/// How credential helpers are found and run.
pub(super) struct Helpers<'a> {
    pub(super) dirs: &'a [PathBuf],
    pub(super) timeout: Duration,
}

impl Helpers<'_> {
    /// Ask helper `NAME` (named by `entry` of `file`) for the host of `name`.
    pub(super) fn ask(
        &self,
        helper: &str,
        entry: HelperEntry,
        name: &ImageName,
        file: &Path,
        helpers_without: &mut Vec<String>,
    ) -> Result<Option<Credentials>, String> {
        let origin = Origin::Helper {
            program: format!("docker-credential-{helper}"),
            entry,
            file: file.to_path_buf(),
        };
        let Some(program) = self.find(helper) else {
            let remedy = match entry {
                HelperEntry::CredHelpers => {
                    format!("its `credHelpers` entry for {}", name.host)
                }
                HelperEntry::CredsStore => "its `credsStore`".to_string(),
            };
            return Err(format!(
                "credential helper {origin} is not installed: no executable \
                 docker-credential-{helper} on PATH; install it, or remove {remedy} from {}",
                file.display()
            ));
        };
        let server = server_address(name);
        let failed = |why: String| format!("credential helper {origin}, asked for {server}, {why}");
        let answer = run_helper(&program, server, self.timeout).map_err(failed)?;
        match parse_helper_answer(&answer) {
            Ok(Some((user, secret))) => Ok(Some(Credentials {
                user,
                secret,
                origin,
            })),
            Ok(None) => {
                helpers_without.push(origin.to_string());
                Ok(None)
            }
            Err(why) => Err(failed(why)),
        }
    }

    /// The first executable `docker-credential-NAME` in the directories.
    pub(super) fn find(&self, helper: &str) -> Option<PathBuf> {
        use std::os::unix::fs::PermissionsExt as _;
        let program = format!("docker-credential-{helper}");
        self.dirs.iter().map(|dir| dir.join(&program)).find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    }
}

/// What a helper answered to `get`: its exit status and standard output. `Debug` shows only the
/// output's length.
pub(super) struct HelperAnswer {
    pub(super) status: ExitStatus,
    pub(super) stdout: Vec<u8>,
}

impl fmt::Debug for HelperAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HelperAnswer")
            .field("status", &self.status)
            .field("stdout_bytes", &self.stdout.len())
            .finish()
    }
}

/// Run `PROGRAM get` with `server` on standard input; standard error is discarded. The error
/// completes "credential helper X ...".
pub(super) fn run_helper(
    program: &Path,
    server: &str,
    timeout: Duration,
) -> Result<HelperAnswer, String> {
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot be run: {}", crate::error::io_message(&e)))?;
    let (sender, receiver) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = stdout.take(HELPER_OUTPUT_LIMIT).read_to_end(&mut out);
            let _ = sender.send(out);
        });
    }
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input closes the pipe: its exit status says
        // what happened.
        let _ = stdin.write_all(server.as_bytes());
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "did not answer within {} s",
                    timeout.as_secs_f64().ceil()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "could not be waited for: {}",
                    crate::error::io_message(&e)
                ));
            }
        }
    };
    // A process the helper left running may hold its output open: wait a little, not forever.
    let stdout = receiver
        .recv_timeout(Duration::from_secs(2))
        .map_err(|_| "exited, but its output stayed open".to_string())?;
    Ok(HelperAnswer { status, stdout })
}

/// A helper's answer: `Some((user, secret))`, `None` for "not found", or an error completing
/// "credential helper X, asked for HOST, ..." that never quotes the output (it may hold a
/// secret).
pub(super) fn parse_helper_answer(
    answer: &HelperAnswer,
) -> Result<Option<(String, Secret)>, String> {
    let text = String::from_utf8_lossy(&answer.stdout);
    if !answer.status.success() {
        if text.trim() == NOT_FOUND_MESSAGE {
            return Ok(None);
        }
        let how = match (answer.status.code(), signal_of(&answer.status)) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(signal)) => format!("signal {signal}"),
            (None, None) => "an unknown status".to_string(),
        };
        return Err(format!(
            "failed with {how} (its output is not shown: it may hold a secret)"
        ));
    }
    let json: Option<serde_json::Value> = serde_json::from_str(text.trim()).ok();
    let field = |key: &str| -> Option<String> {
        json.as_ref()?
            .get(key)?
            .as_str()
            .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
    };
    let not_json = "answered something other than its JSON credentials (not shown: it may hold \
                    a secret)";
    if !json.as_ref().is_some_and(|j| j.is_object()) {
        return Err(not_json.to_string());
    }
    let user = field("Username").unwrap_or_default();
    let secret = field("Secret").unwrap_or_default();
    match (user.is_empty(), secret.is_empty()) {
        // containers/image: an empty answer is no credential.
        (true, true) => Ok(None),
        (_, true) => Err("answered without a `Secret`".to_string()),
        (true, false) => Err("answered without a `Username`".to_string()),
        (false, false) if user == TOKEN_USERNAME => {
            Ok(Some((String::new(), Secret::IdentityToken(secret))))
        }
        (false, false) => Ok(Some((user, Secret::Password(secret)))),
    }
}

pub(super) fn signal_of(status: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt as _;
    status.signal()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: i32, stdout: &str) -> HelperAnswer {
        use std::os::unix::process::ExitStatusExt as _;
        HelperAnswer {
            status: ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
        }
    }

    #[test]
    fn helper_answers() {
        let ok = answer(
            0,
            r#"{"ServerURL":"quay.io","Username":"bot","Secret":"s3cret"}"#,
        );
        let Some((user, Secret::Password(secret))) = parse_helper_answer(&ok).unwrap() else {
            panic!("a password");
        };
        assert_eq!((user.as_str(), secret.as_str()), ("bot", "s3cret"));

        let token = answer(0, r#"{"Username":"<token>","Secret":"id-t0ken"}"#);
        let Some((user, Secret::IdentityToken(t))) = parse_helper_answer(&token).unwrap() else {
            panic!("an identity token");
        };
        assert_eq!((user.as_str(), t.as_str()), ("", "id-t0ken"));

        let not_found = answer(1, "credentials not found in native keychain\n");
        assert!(parse_helper_answer(&not_found).unwrap().is_none());
        let empty = answer(0, r#"{"ServerURL":"","Username":"","Secret":""}"#);
        assert!(parse_helper_answer(&empty).unwrap().is_none());

        for (bad, what) in [
            (answer(1, "error: s3cret leaked"), "exit status 1"),
            (answer(3, ""), "exit status 3"),
            (answer(0, "s3cret"), "not shown"),
            (answer(0, r#"["s3cret"]"#), "not shown"),
            (answer(0, r#"{"Username":"bot"}"#), "without a `Secret`"),
            (answer(0, r#"{"Secret":"s3cret"}"#), "without a `Username`"),
        ] {
            let err = parse_helper_answer(&bad).unwrap_err();
            assert!(err.contains(what), "{err}");
            assert!(!err.contains("s3cret") && !err.contains('\n'), "{err}");
        }
    }
}
