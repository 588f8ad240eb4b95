//! The library's error: what went wrong, in one line that names the file, line or value; its
//! kind (which the command line maps to an exit status); what to do about it (a hint, kept out
//! of the message); and the error it came from, when there is one.

use std::path::Path;

/// Result with the library error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from below (I/O, a parser, an HTTP client), kept as the cause.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The cause of an input error, behind one thin pointer (so that [`Error`] stays small): it
/// says what the error it holds says, and has the same sources.
#[derive(Debug)]
pub struct Cause(Source);

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The input (checkout, arguments, files) is not what it must be.
    Input,
    /// A safety rule refuses the operation (rollback, drift, dirty files, a held lock, ...).
    Refused,
    /// Reading or writing a file failed.
    Io,
    /// An external service or program (git, a registry, GitLab, Kubernetes) failed.
    External,
}

impl ErrorKind {
    /// Its name in JSON documents: `input`, `refused`, `io`, `external`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Input => "input",
            ErrorKind::Refused => "refused",
            ErrorKind::Io => "io",
            ErrorKind::External => "external",
        }
    }
}

/// Everything the library refuses or fails at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    Input {
        message: String,
        hint: Option<String>,
        #[source]
        source: Option<Box<Cause>>,
    },
    #[error("{message}")]
    Refused {
        message: String,
        hint: Option<String>,
    },
    #[error("{path}: {message}")]
    Io {
        path: String,
        message: String,
        #[source]
        source: Option<std::io::Error>,
    },
    #[error("{message}")]
    External {
        message: String,
        hint: Option<String>,
        #[source]
        source: Option<Source>,
    },
}

impl Error {
    pub fn input(msg: impl Into<String>) -> Error {
        Error::Input {
            message: msg.into(),
            hint: None,
            source: None,
        }
    }

    pub fn refused(msg: impl Into<String>) -> Error {
        Error::Refused {
            message: msg.into(),
            hint: None,
        }
    }

    pub fn external(msg: impl Into<String>) -> Error {
        Error::External {
            message: msg.into(),
            hint: None,
            source: None,
        }
    }

    /// An I/O error on `path`, kept as the cause; the message is its text without "(os error N)".
    pub fn io(path: &Path, err: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            message: io_message(&err),
            source: Some(err),
        }
    }

    /// An I/O error on `path` with a message of its own (the cause, when given, is kept).
    pub fn io_message(
        path: impl Into<String>,
        message: impl Into<String>,
        source: Option<std::io::Error>,
    ) -> Error {
        Error::Io {
            path: path.into(),
            message: message.into(),
            source,
        }
    }

    /// The same error with `hint` (what the user can do about it).
    pub fn with_hint(mut self, h: impl Into<String>) -> Error {
        match &mut self {
            Error::Input { hint, .. }
            | Error::Refused { hint, .. }
            | Error::External { hint, .. } => {
                *hint = Some(h.into());
            }
            // An I/O failure names its file; what to do is the caller's to say.
            Error::Io { .. } => {}
        }
        self
    }

    /// The same error with the `secrets` (tokens, passwords) out of its message and hint; its
    /// cause, which may quote them, is dropped when it names one.
    pub fn scrubbed(self, secrets: &[&str]) -> Error {
        let clean = |t: &str| crate::redact::redact_known(t, secrets);
        let names_one = |t: &str| secrets.iter().any(|s| s.len() >= 4 && t.contains(s));
        match self {
            Error::External {
                message,
                hint,
                source,
            } => {
                let chain = source.as_ref().map(|c| {
                    let mut text = c.to_string();
                    let mut next = c.source();
                    while let Some(n) = next {
                        text.push_str(&n.to_string());
                        next = n.source();
                    }
                    text
                });
                Error::External {
                    message: clean(&message),
                    hint: hint.map(|h| clean(&h)),
                    source: source.filter(|_| !chain.as_deref().is_some_and(names_one)),
                }
            }
            Error::Input {
                message,
                hint,
                source,
            } => Error::Input {
                message: clean(&message),
                hint: hint.map(|h| clean(&h)),
                source: source.filter(|c| !names_one(&c.to_string())),
            },
            Error::Refused { message, hint } => Error::Refused {
                message: clean(&message),
                hint: hint.map(|h| clean(&h)),
            },
            io => io,
        }
    }

    /// The same error with its cause (an external failure, or input that a parser or a
    /// library rejected).
    pub fn with_source(mut self, cause: impl Into<Source>) -> Error {
        match &mut self {
            Error::External { source, .. } => *source = Some(cause.into()),
            Error::Input { source, .. } => *source = Some(Box::new(Cause(cause.into()))),
            Error::Refused { .. } | Error::Io { .. } => {}
        }
        self
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Input { .. } => ErrorKind::Input,
            Error::Refused { .. } => ErrorKind::Refused,
            Error::Io { .. } => ErrorKind::Io,
            Error::External { .. } => ErrorKind::External,
        }
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::Input { hint, .. }
            | Error::Refused { hint, .. }
            | Error::External { hint, .. } => hint.as_deref(),
            Error::Io { .. } => None,
        }
    }
}

/// An I/O error without the "(os error N)" suffix.
pub fn io_message(err: &std::io::Error) -> String {
    let s = err.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_kind_hint_and_cause() {
        let e = Error::refused("x would roll back 3 commits").with_hint("--allow-rollback");
        assert_eq!(
            (e.kind(), e.to_string().as_str(), e.hint()),
            (
                ErrorKind::Refused,
                "x would roll back 3 commits",
                Some("--allow-rollback")
            )
        );
        let io = Error::io(
            Path::new("data/a.yml"),
            std::io::Error::from_raw_os_error(13),
        );
        assert_eq!(io.to_string(), "data/a.yml: Permission denied");
        assert!(std::error::Error::source(&io).is_some());
        let ext = Error::external("git failed").with_source(std::io::Error::other("broken pipe"));
        assert_eq!(
            std::error::Error::source(&ext).map(|s| s.to_string()),
            Some("broken pipe".to_string())
        );
        let input = Error::input("kc.yaml: not a usable kubeconfig")
            .with_source(std::io::Error::other("bad YAML"));
        assert_eq!(
            std::error::Error::source(&input).map(|s| s.to_string()),
            Some("bad YAML".to_string())
        );
        // Results of the command line carry it: it stays within 64 bytes.
        assert!(std::mem::size_of::<Error>() <= 64);
    }
}
