//! What registries answer, read: `WWW-Authenticate` challenges, `Retry-After`, manifest media
//! types, error codes; and the form bodies sent to token endpoints.

use std::time::Duration;

use super::RegistryErrorKind;
use crate::http::NetErrorKind;

/// An authentication challenge from `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Challenge {
    pub(super) scheme: String,
    pub(super) params: Vec<(String, String)>,
}

impl Challenge {
    pub(super) fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// Parse one `WWW-Authenticate` value: `Scheme k=v, k="quoted, value"`.
pub(super) fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.trim().is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => val.extend(chars.next()),
                        '"' => break,
                        c => val.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    val.push(c);
                    chars.next();
                }
            }
        }
        params.push((key.trim().to_string(), val.trim().to_string()));
    }
    Some(Challenge {
        scheme: scheme.to_string(),
        params,
    })
}

/// `Retry-After` in seconds (an HTTP date is not honoured: the caller falls back to its backoff).
pub(super) fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The `client_id` an OAuth2 token request names (the distribution token protocol asks for one).
pub(super) const OAUTH_CLIENT_ID: &str = "qr-promote";

/// `k=v&k=v`, each part percent-encoded for a form body.
pub(super) fn form_encode(pairs: &[(&str, &str)]) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const FORM: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, FORM),
                utf8_percent_encode(v, FORM)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The registry's class of a network failure.
pub(super) fn kind_of(kind: NetErrorKind) -> RegistryErrorKind {
    match kind {
        NetErrorKind::Dns => RegistryErrorKind::Dns,
        NetErrorKind::Connect => RegistryErrorKind::Connect,
        NetErrorKind::Tls => RegistryErrorKind::Tls,
        NetErrorKind::Timeout => RegistryErrorKind::Timeout,
        NetErrorKind::Protocol => RegistryErrorKind::Protocol,
    }
}

/// The manifest media types whose answer proves a tag exists (with no `Docker-Content-Digest`).
pub(super) const MANIFEST_TYPES: [&str; 6] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// The media type of a `Content-Type` value: without parameters, trimmed, lowercase.
pub(super) fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

pub(super) fn is_manifest_type(media_type: &str) -> bool {
    MANIFEST_TYPES.contains(&media_type)
}

/// A value from the network fit for a message: printable ASCII, at most 100 characters.
pub(super) fn printable(value: &str) -> String {
    let mut shown: String = value
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .take(100)
        .collect();
    if value.chars().count() > 100 {
        shown.push_str("...");
    }
    shown
}

/// The `errors[].code` values of a registry error body (upper case words only).
pub(super) fn error_codes(body: &str) -> Vec<String> {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return Vec::new();
    };
    json.get("errors")
        .and_then(|e| e.as_array())
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e.get("code")?.as_str())
                .filter(|c| !c.is_empty() && c.len() <= 64)
                .filter(|c| c.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
