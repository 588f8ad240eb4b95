//! The library's error type: what went wrong, in one line that names the file, line or value.

use std::path::Path;

/// Result with the library error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the library refuses or fails at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input (checkout, arguments, files) is not what it must be.
    #[error("{0}")]
    Input(String),
    /// A safety rule refuses the operation (rollback, drift, dirty files, ...).
    #[error("{0}")]
    Refused(String),
    /// Reading or writing a file failed.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// An external service or program (git, a registry, GitLab, Kubernetes) failed.
    #[error("{0}")]
    External(String),
}

impl Error {
    pub fn input(msg: impl Into<String>) -> Error {
        Error::Input(msg.into())
    }

    pub fn refused(msg: impl Into<String>) -> Error {
        Error::Refused(msg.into())
    }

    pub fn external(msg: impl Into<String>) -> Error {
        Error::External(msg.into())
    }

    pub fn io(path: &Path, err: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            message: io_message(&err),
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
