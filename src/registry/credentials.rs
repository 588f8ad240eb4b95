//! Registry credentials from the container auth files (`REGISTRY_AUTH_FILE`, podman's
//! `auth.json`, Docker's `config.json`).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::reference::ImageName;
use crate::redact::MARKER;

/// The auth files to read, in order: `$REGISTRY_AUTH_FILE`,
/// `${XDG_RUNTIME_DIR}/containers/auth.json`, `~/.docker/config.json` (unset variables are
/// skipped).
pub(super) fn default_auth_files() -> Vec<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let mut files = Vec::new();
    if let Some(f) = var("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(f));
    }
    if let Some(dir) = var("XDG_RUNTIME_DIR") {
        files.push(Path::new(&dir).join("containers").join("auth.json"));
    }
    if let Some(home) = var("HOME") {
        files.push(Path::new(&home).join(".docker").join("config.json"));
    }
    files
}

/// Credentials found for a registry host. `Debug` never shows the secret.
#[derive(Clone)]
pub(super) struct Credentials {
    pub(super) user: String,
    pub(super) password: String,
    /// The auth string as stored in the file (base64 `user:password`).
    pub(super) raw: String,
    pub(super) source: PathBuf,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &MARKER)
            .field("source", &self.source)
            .finish()
    }
}

impl Credentials {
    pub(super) fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.user, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// "credentials for HOST from FILE" (the user name is shown, the secret never).
    pub(super) fn describe(&self, host: &str) -> String {
        format!(
            "credentials of user `{}` for {} from {}",
            self.user,
            host,
            self.source.display()
        )
    }
}

/// Find credentials for `name` in the auth files: the first file with a matching entry wins; in a
/// file, the most specific key (`host/namespace` before `host`) wins.
pub(super) fn find_credentials(
    name: &ImageName,
    files: &[PathBuf],
) -> Result<Option<Credentials>, String> {
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(format!(
                    "cannot read auth file {}: {}",
                    file.display(),
                    crate::error::io_message(&e)
                ))
            }
        };
        // The parser's message may quote file content (a secret): only its position is shown.
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            format!(
                "auth file {} is not valid JSON (line {}, column {})",
                file.display(),
                e.line(),
                e.column()
            )
        })?;
        let Some(auths) = json.get("auths").and_then(|a| a.as_object()) else {
            continue;
        };
        let best = auths
            .iter()
            .filter_map(|(key, entry)| {
                let specificity = auth_key_match(key, name)?;
                let raw = entry.get("auth")?.as_str()?.trim();
                (!raw.is_empty()).then_some((specificity, raw))
            })
            .max_by_key(|(specificity, _)| *specificity);
        let Some((_, raw)) = best else { continue };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(raw))
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return Err(format!(
                "auth file {}: the `auth` entry for {} is not base64 of user:password",
                file.display(),
                name.host
            ));
        };
        return Ok(Some(Credentials {
            user: user.to_string(),
            password: password.to_string(),
            raw: raw.to_string(),
            source: file.clone(),
        }));
    }
    Ok(None)
}

/// Does an auth file key apply to the image? `Some(specificity)` when it does.
///
/// Keys may be `host`, `https://host`, `https://host/v1/` (Docker), or `host/namespace` (podman).
fn auth_key_match(key: &str, name: &ImageName) -> Option<usize> {
    let key = key.trim().to_ascii_lowercase();
    let (had_scheme, rest) = match key.split_once("://") {
        Some((_, rest)) => (true, rest.to_string()),
        None => (false, key),
    };
    let rest = rest.trim_end_matches('/');
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_matches = host == name.host
        || host == name.api_host
        || (name.host == "docker.io" && host == "index.docker.io");
    if !host_matches {
        return None;
    }
    // A URL key or a `/v1`, `/v2` suffix names the host only.
    if had_scheme || path.is_empty() || path == "v1" || path == "v2" {
        return Some(0);
    }
    let under = name.path == path
        || name
            .path
            .strip_prefix(path)
            .is_some_and(|r| r.starts_with('/'));
    under.then_some(path.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::reference::tests::name;

    #[test]
    fn auth_keys() {
        let quay = name("quay.io/app-sre/qontract-reconcile");
        assert_eq!(auth_key_match("quay.io", &quay), Some(0));
        assert_eq!(auth_key_match("https://quay.io", &quay), Some(0));
        assert_eq!(auth_key_match("https://quay.io/v1/", &quay), Some(0));
        assert_eq!(auth_key_match("QUAY.IO/", &quay), Some(0));
        assert_eq!(auth_key_match("quay.io/app-sre", &quay), Some(7));
        assert_eq!(auth_key_match("quay.io/app", &quay), None);
        assert_eq!(auth_key_match("quay.io/other", &quay), None);
        assert_eq!(auth_key_match("quay.io.evil", &quay), None);
        let hub = name("alpine");
        assert_eq!(auth_key_match("https://index.docker.io/v1/", &hub), Some(0));
        assert_eq!(auth_key_match("docker.io", &hub), Some(0));
    }

    #[test]
    fn credentials_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("auth.json");
        let second = dir.path().join("config.json");
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &first,
            format!(
                r#"{{"auths": {{"example.com": {{"auth": "{}"}}}}}}"#,
                enc("x:y")
            ),
        )
        .unwrap();
        std::fs::write(
            &second,
            format!(
                r#"{{"auths": {{"https://quay.io": {{"auth": "{}"}}, "quay.io/app-sre": {{"auth": "{}"}}}}}}"#,
                enc("robot:general"),
                enc("bot:pa:ss")
            ),
        )
        .unwrap();
        let files = vec![dir.path().join("missing.json"), first, second.clone()];
        let c = find_credentials(&name("quay.io/app-sre/qr"), &files)
            .unwrap()
            .unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("bot", "pa:ss"));
        assert_eq!(c.source, second);
        assert!(!format!("{c:?}").contains("pa:ss"));
        let c = find_credentials(&name("quay.io/other/qr"), &files)
            .unwrap()
            .unwrap();
        assert_eq!(c.user, "robot");
        assert!(find_credentials(&name("ghcr.io/a/b"), &files)
            .unwrap()
            .is_none());

        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, r#"{"auths": {"quay.io": {"auth": "c2VjcmV0"}"#).unwrap();
        let err = find_credentials(&name("quay.io/a/b"), &[broken]).unwrap_err();
        assert!(
            err.contains("not valid JSON") && !err.contains("c2VjcmV0"),
            "{err}"
        );
    }
}
