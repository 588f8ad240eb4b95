//! Opening the promotion's merge request: branch safety check, `git push -o merge_request.*`
//! ([`push`]), or GitLab's REST API ([`gitlab`]).

mod ci;
mod gitlab;
mod push;

use std::fmt;

pub use ci::{is_unfinished as ci_unfinished, CommitStatus, Job, Pipeline};
pub use gitlab::{
    gitlab_for_remote, gitlab_message, read_token_file, resolve_token, Created, GitLab,
    MergeRequest, MrOutcome, Note,
};
pub use push::{
    check_branch, fetch_target, merge_request_url, push_branch, push_description, push_options,
    push_with_options, remote_url, PushOutcome,
};

use crate::error::{Error, Result};
use crate::redact::MARKER;

/// The environment variable holding a GitLab token.
pub const TOKEN_ENV: &str = "GITLAB_TOKEN";

/// What the merge request is: which branch goes where, and how it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrRequest {
    /// The git remote to push to (`origin` by default).
    pub remote: String,
    /// The source branch (`promote/<component>-<new7>`).
    pub branch: String,
    /// The target branch (`master` by default).
    pub target: String,
    /// The merge request's title (one line; newlines become spaces).
    pub title: String,
    /// The merge request's description (Markdown).
    pub description: String,
    /// Labels to set (no commas, no newlines).
    pub labels: Vec<String>,
}

impl MrRequest {
    /// A request for `branch` with the defaults: remote `origin`, target `master`, no labels.
    pub fn new(branch: impl Into<String>, title: impl Into<String>) -> MrRequest {
        MrRequest {
            remote: "origin".into(),
            branch: branch.into(),
            target: "master".into(),
            title: title.into(),
            description: String::new(),
            labels: Vec::new(),
        }
    }

    /// Checks the fields on their own (no git): non-empty names and title, distinct branches, clean labels.
    pub fn validate(&self) -> Result<()> {
        for (what, value) in [
            ("remote", &self.remote),
            ("branch", &self.branch),
            ("target branch", &self.target),
        ] {
            if value.trim().is_empty() || value.contains(char::is_whitespace) {
                return Err(Error::input(format!(
                    "merge request: {what} {value:?} is empty or contains whitespace"
                )));
            }
        }
        if self.branch == self.target || self.branch == format!("refs/heads/{}", self.target) {
            return Err(Error::refused(format!(
                "merge request: branch {} is the target branch itself; refusing to push to it",
                self.branch
            )));
        }
        if self.title.trim().is_empty() {
            return Err(Error::input("merge request: empty title"));
        }
        for label in &self.labels {
            if label.trim().is_empty() || label.contains([',', '\n', '\r']) {
                return Err(Error::input(format!(
                    "merge request: label {label:?} is empty or contains a comma or newline"
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn one_line_title(&self) -> String {
        self.title.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// A token. `Debug` and `Display` print `[redacted]`; only [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value (surrounding whitespace trimmed).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into().trim().to_string())
    }

    /// The value, for the request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MARKER)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MARKER)
    }
}

/// `@a @b: this promotion ships your changes; please take a look.` for the handles given
/// (with or without `@`; duplicates, blanks and anything that is not a GitLab username,
/// `[A-Za-z0-9_.-]`, dropped); `None` when there is nobody.
pub fn notify_sentence(handles: &[String]) -> Option<String> {
    let mut seen: Vec<&str> = Vec::new();
    for h in handles {
        let h = h.trim().trim_start_matches('@').trim();
        let username = h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !h.is_empty() && username && !seen.contains(&h) {
            seen.push(h);
        }
    }
    if seen.is_empty() {
        return None;
    }
    let at: Vec<String> = seen.iter().map(|h| format!("@{h}")).collect();
    Some(format!(
        "{}: this promotion ships your changes; please take a look.",
        at.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify() {
        assert_eq!(notify_sentence(&[]), None);
        assert_eq!(notify_sentence(&[" ".into(), "@".into()]), None);
        assert_eq!(notify_sentence(&["Hemslo Wang".into()]), None);
        assert_eq!(
            notify_sentence(&["a".into(), "@b".into(), "a".into()]).as_deref(),
            Some("@a @b: this promotion ships your changes; please take a look.")
        );
    }

    #[test]
    fn requests_are_validated() {
        let mut req = MrRequest::new("master", "t");
        assert!(req
            .validate()
            .unwrap_err()
            .to_string()
            .contains("target branch itself"));
        req.branch = "promote/x".into();
        req.labels = vec!["a,b".into()];
        assert!(req.validate().is_err());
        req.labels.clear();
        assert!(req.validate().is_ok());
    }
}
