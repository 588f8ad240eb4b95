//! The command line's error, and the one place where library errors become a message, hints and
//! an exit status.

use super::EXIT_ERROR;
use crate::error::Error;

/// What kind of failure, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliErrorKind {
    /// Bad input, a refusal, I/O, an external failure (the library's kinds).
    Failed(crate::error::ErrorKind),
    /// Something the command line itself refuses.
    Usage,
}

/// The command line's error: a one-line message, optional hints, an exit status, and the library
/// error it came from.
#[derive(Debug)]
pub struct CliError {
    pub kind: CliErrorKind,
    pub message: String,
    pub hints: Vec<String>,
    pub source: Option<Error>,
    /// Already told the user (printed where it happened): only the exit status is left.
    pub quiet: bool,
}

impl CliError {
    /// A failure the command line finds itself (exit status 1).
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            kind: CliErrorKind::Usage,
            message: message.into(),
            hints: Vec::new(),
            source: None,
            quiet: false,
        }
    }

    /// The same error, already told: `main` prints nothing more.
    pub fn quiet(mut self) -> CliError {
        self.quiet = true;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hints.push(hint.into());
        self
    }

    /// The kind as `--json` errors name it: `input`, `refused`, `io`, `external`, `usage`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            CliErrorKind::Failed(k) => k.name(),
            CliErrorKind::Usage => "usage",
        }
    }

    /// The exit status: 1 for every kind of library failure, and for what the command line
    /// refuses after parsing (clap's own usage errors are 2).
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            CliErrorKind::Failed(_) | CliErrorKind::Usage => EXIT_ERROR,
        }
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> CliError {
        CliError {
            kind: CliErrorKind::Failed(e.kind()),
            message: e.to_string(),
            hints: e.hint().map(str::to_string).into_iter().collect(),
            source: Some(e),
            quiet: false,
        }
    }
}
