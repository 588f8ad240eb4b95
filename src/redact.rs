//! The one redactor: secrets out of every message that may quote a URL or a remote's answer.
//!
//! [`redact`] rewrites any text:
//!
//! - the user info of a `scheme://user:password@host` URL (user and password, or a user alone)
//!   becomes [`MARKER`]: `https://[redacted]@host/...`;
//! - the value of a query parameter (`?name=value` or `&name=value`, anywhere in the text, with or
//!   without a scheme before it) whose name looks secret becomes [`MARKER`]. A name looks secret
//!   when, compared without case, it contains `token`, `secret`, `passw`, `pwd`, `key`, `sig`,
//!   `auth`, `credential` or `session`, is `code`, or starts with `x-amz-` / `x-goog-`
//!   (`access_token`, `private_token`, `api_key`, `signature`, `X-Amz-Credential`, ...). Other
//!   parameters (`service`, `scope`, `state`, ...) stay: they say what was asked, and are not
//!   secret.
//!
//! [`redact_url`] does the same for one URL value, also without a scheme (`user:pass@host:5000`),
//! and [`redact_known`] also replaces secrets the caller knows (tokens, passwords).

/// What a secret is replaced with, everywhere.
pub const MARKER: &str = "[redacted]";

/// Characters that end a URL in running text.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '<' | '>')
}

/// Characters that end a query value.
fn ends_value(c: char) -> bool {
    ends_url(c) || matches!(c, '&' | '#')
}

/// Whether a query parameter name looks like it carries a secret.
pub fn is_secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "token",
        "secret",
        "passw",
        "pwd",
        "key",
        "sig",
        "auth",
        "credential",
        "session",
    ]
    .iter()
    .any(|w| n.contains(w))
        || n == "code"
        || n.starts_with("x-amz-")
        || n.starts_with("x-goog-")
}

/// `text` with URL user info and secret query values replaced by [`MARKER`].
pub fn redact(text: &str) -> String {
    redact_query(&redact_userinfo(text))
}

/// [`redact`], and every occurrence of the `secrets` (those of 4 characters or more) replaced
/// by [`MARKER`] too.
pub fn redact_known(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    let mut secrets: Vec<&str> = secrets.iter().copied().filter(|s| s.len() >= 4).collect();
    // A longer secret first, so that one containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        out = out.replace(s, MARKER);
    }
    redact(&out)
}

/// One URL value (as given on the command line), redacted: its user info, scheme or not
/// (`user:pass@host:5000/x` gives `[redacted]@host:5000/x`), and its secret query values.
pub fn redact_url(url: &str) -> String {
    let (prefix, rest) = match url.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => (&url[..scheme.len() + 3], rest),
        _ => ("", url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let shown = match rest[..end].rfind('@') {
        Some(at) => format!("{prefix}{MARKER}{}", &rest[at..]),
        None => url.to_string(),
    };
    redact(&shown)
}

/// `[A-Za-z][A-Za-z0-9+.-]*`
fn is_scheme(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
}

/// The user info of a `scheme://` URL, split off: the URL without it, the user and the
/// password (percent-encoded, as written). `None` when the URL has no user info.
pub fn split_userinfo(url: &str) -> Option<(String, String, Option<String>)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..end].rfind('@')?;
    let info = &rest[..at];
    let (user, password) = match info.split_once(':') {
        Some((u, p)) => (u.to_string(), Some(p.to_string())),
        None => (info.to_string(), None),
    };
    Some((format!("{scheme}://{}", &rest[at + 1..]), user, password))
}

fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| ends_url(c) || matches!(c, '/' | '?' | '#'))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(MARKER);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn redact_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['?', '&']) {
        let (head, tail) = rest.split_at(i + 1);
        out.push_str(head);
        let name_len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '%')))
            .unwrap_or(tail.len());
        let name = &tail[..name_len];
        let after = &tail[name_len..];
        match after.strip_prefix('=') {
            Some(value) if !name.is_empty() && is_secret_param(name) => {
                let value_len = value.find(ends_value).unwrap_or(value.len());
                out.push_str(name);
                out.push('=');
                if value_len > 0 {
                    out.push_str(MARKER);
                }
                rest = &value[value_len..];
            }
            _ => {
                out.push_str(name);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        let cases = [
            // (text, redacted)
            ("no url here", "no url here"),
            (
                "fatal: unable to access 'https://user:TOKEN@github.com/a/b.git/': 403",
                "fatal: unable to access 'https://[redacted]@github.com/a/b.git/': 403",
            ),
            (
                "To https://oauth2:glpat-1@h/a/b.git and ssh://git@h/x",
                "To https://[redacted]@h/a/b.git and ssh://[redacted]@h/x",
            ),
            ("https://h/a?x=1", "https://h/a?x=1"),
            (
                "https://h/a?service=reg&token=abc.def&scope=repository:a:pull",
                "https://h/a?service=reg&token=[redacted]&scope=repository:a:pull",
            ),
            (
                "http://u:p@127.0.0.1:5/?access_token=AAA#frag",
                "http://[redacted]@127.0.0.1:5/?access_token=[redacted]#frag",
            ),
            (
                "s3 https://b.s3/o?X-Amz-Credential=AK%2F1&X-Amz-Signature=ff&X-Amz-Expires=60 done",
                "s3 https://b.s3/o?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]&X-Amz-Expires=[redacted] done",
            ),
            (
                "`127.0.0.1:5000?private_token=zz` and ?Password=p&sig=s&key=k&secret=x",
                "`127.0.0.1:5000?private_token=[redacted]` and ?Password=[redacted]&sig=[redacted]&key=[redacted]&secret=[redacted]",
            ),
            ("a?token=&b", "a?token=&b"),
            ("p@ss:word@x and user@example.org", "p@ss:word@x and user@example.org"),
            (
                "https://u:p@ss@h/x",
                "https://[redacted]@h/x",
            ),
            ("ünïcode https://ü:ß@h/ä?tøken=1", "ünïcode https://[redacted]@h/ä?tøken=1"),
        ];
        for (text, want) in cases {
            assert_eq!(redact(text), want, "{text}");
        }
    }

    #[test]
    fn urls_without_scheme() {
        for (url, want) in [
            ("user:pass@127.0.0.1:5000", "[redacted]@127.0.0.1:5000"),
            (
                "user:pass@127.0.0.1:5000/x@y",
                "[redacted]@127.0.0.1:5000/x@y",
            ),
            (
                "127.0.0.1:5000/?token=t",
                "127.0.0.1:5000/?token=[redacted]",
            ),
            (
                "http://a:b@h?token=t",
                "http://[redacted]@h?token=[redacted]",
            ),
            ("quay.io", "quay.io"),
            (
                "quay.io:u:p@http://127.0.0.1:5000",
                "[redacted]@http://127.0.0.1:5000",
            ),
            ("u:p@h/a://b", "[redacted]@h/a://b"),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn known_secrets() {
        assert_eq!(
            redact_known(
                "Bearer abcd and abcdef, not abc",
                &["abcd", "abcdef", "abc"]
            ),
            "Bearer [redacted] and [redacted], not abc"
        );
    }

    #[test]
    fn user_info_split() {
        assert_eq!(
            split_userinfo("https://user:TOKEN@h:8443/a.git"),
            Some((
                "https://h:8443/a.git".to_string(),
                "user".to_string(),
                Some("TOKEN".to_string())
            ))
        );
        assert_eq!(
            split_userinfo("ssh://git@h/a.git"),
            Some(("ssh://h/a.git".to_string(), "git".to_string(), None))
        );
        assert_eq!(split_userinfo("https://h/a@b"), None);
        assert_eq!(split_userinfo("git@h:a/b.git"), None);
    }
}
