//! Registry credentials, looked up as podman looks them up (containers-auth.json(5) and
//! containers/image `pkg/docker/config`: `getAuthFilePaths`, `findCredentialsInFile`), with the
//! credential helpers of Docker's `config.json` (`credHelpers`, `credsStore`) run as the Docker
//! CLI runs them (docker-credential-helpers `client.Get`).
//!
//! The files, in order ([`AuthEnv::auth_files`]): `$REGISTRY_AUTH_FILE`;
//! `${XDG_RUNTIME_DIR}/containers/auth.json` (`/run/containers/$UID/auth.json` without
//! `XDG_RUNTIME_DIR`); `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`;
//! `${DOCKER_CONFIG:-~/.docker}/config.json`; `~/.dockercfg` (Docker's legacy format: the `auths`
//! map alone). The first file that has credentials for the registry host wins. podman reads only
//! `$REGISTRY_AUTH_FILE` when it is set; here the files after it are still read when it has
//! nothing for the host, so that setting it never loses credentials the user has elsewhere.
//!
//! In one file:
//! 1. a `credHelpers` entry for the host: its helper's answer is the file's answer (found, or
//!    "not found" and the next file is read), as in podman and Docker;
//! 2. else the `auths` entry that matches the image best: `host/namespace/...` keys (a podman
//!    extension, the longest matching namespace first), then the host as `host`, `https://host`,
//!    `https://host/v1/` (Docker Hub: `docker.io`, `index.docker.io`, `registry-1.docker.io`);
//!    an entry with an empty `auth` (the marker Docker writes next to a `credsStore`) is no entry;
//! 3. else the file's `credsStore` (Docker's default helper), asked for the host.
//!
//! A helper `docker-credential-NAME` is looked for in the directories given (`$PATH`), run as
//! `docker-credential-NAME get` with the server address on its standard input (the host; Docker
//! Hub as `https://index.docker.io/v1/`, the address `docker login` stores it under); its
//! standard error is discarded. Exit status 0 with `{"ServerURL","Username","Secret"}` is the
//! credential; a non-zero exit whose output is `credentials not found in native keychain` means
//! "none here". A `Username` of `<token>` makes `Secret` an identity token (an OAuth2 refresh
//! token, Docker's convention), which only a Bearer token endpoint accepts. Any other failure is an
//! error naming the helper, never quoting what it printed.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::helper::{Helpers, HELPER_TIMEOUT};
use super::reference::ImageName;
use crate::redact::MARKER;

/// The environment the auth files are found from: the variables podman and Docker read.
///
/// [`AuthEnv::from_env`] reads the process environment; a caller (or a test) can also fill it in
/// and pass [`AuthEnv::auth_files`] as `RegistryOptions::auth_files`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthEnv {
    /// `$REGISTRY_AUTH_FILE`: an auth file read before all others.
    pub registry_auth_file: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`: podman's own `containers/auth.json` is there.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// The user id, for `/run/containers/UID/auth.json` when `xdg_runtime_dir` is unset.
    pub uid: Option<u32>,
    /// `$XDG_CONFIG_HOME` (default `~/.config`).
    pub xdg_config_home: Option<PathBuf>,
    /// `$DOCKER_CONFIG`: the folder of Docker's `config.json` (default `~/.docker`).
    pub docker_config: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
}

impl AuthEnv {
    /// The variables of this process; unset and empty ones are `None`.
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        AuthEnv {
            registry_auth_file: var("REGISTRY_AUTH_FILE"),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            uid: Some(rustix::process::getuid().as_raw()),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            docker_config: var("DOCKER_CONFIG"),
            home: var("HOME"),
        }
    }

    /// The auth files to read, in podman's order (see the module documentation); a location
    /// whose variables are unset is left out.
    pub fn auth_files(&self) -> Vec<PathBuf> {
        let auth_json = |dir: &Path| dir.join("containers").join("auth.json");
        let mut files = Vec::new();
        files.extend(self.registry_auth_file.clone());
        match (&self.xdg_runtime_dir, self.uid) {
            (Some(dir), _) => files.push(auth_json(dir)),
            (None, Some(uid)) => files.push(
                Path::new("/run/containers")
                    .join(uid.to_string())
                    .join("auth.json"),
            ),
            (None, None) => {}
        }
        let home = self.home.as_deref();
        if let Some(config) = self
            .xdg_config_home
            .clone()
            .or_else(|| home.map(|h| h.join(".config")))
        {
            files.push(auth_json(&config));
        }
        if let Some(docker) = self
            .docker_config
            .clone()
            .or_else(|| home.map(|h| h.join(".docker")))
        {
            files.push(docker.join("config.json"));
        }
        files.extend(home.map(|h| h.join(LEGACY_FILE_NAME)));
        files
    }
}

/// The name of Docker's legacy auth file, read in its own format (the `auths` map alone).
const LEGACY_FILE_NAME: &str = ".dockercfg";

/// The auth files of this process's environment ([`AuthEnv::from_env`]).
pub(super) fn default_auth_files() -> Vec<PathBuf> {
    AuthEnv::from_env().auth_files()
}

/// The directories searched for `docker-credential-NAME`: those of this process's `PATH`
/// (empty entries left out).
pub(super) fn default_helper_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .filter(|dir| !dir.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The secret half of a credential.
#[derive(Clone)]
pub(super) enum Secret {
    /// A password (or a registry's robot token) sent with the user name.
    Password(String),
    /// An identity token: an OAuth2 refresh token, exchanged at the registry's token endpoint.
    IdentityToken(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Password(_) => f.debug_tuple("Password").field(&MARKER).finish(),
            Secret::IdentityToken(_) => f.debug_tuple("IdentityToken").field(&MARKER).finish(),
        }
    }
}

/// Which entry of a file named a helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HelperEntry {
    /// `credHelpers`, for the registry host.
    CredHelpers,
    /// `credsStore`, the default for every host.
    CredsStore,
}

impl HelperEntry {
    fn key(self) -> &'static str {
        match self {
            HelperEntry::CredHelpers => "credHelpers",
            HelperEntry::CredsStore => "credsStore",
        }
    }
}

/// Where credentials came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    /// An `auths` entry of an auth file.
    File(PathBuf),
    /// A credential helper that a file named.
    Helper {
        /// `docker-credential-NAME`.
        program: String,
        entry: HelperEntry,
        file: PathBuf,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(file) => write!(f, "{}", file.display()),
            Origin::Helper {
                program,
                entry,
                file,
            } => write!(f, "{program} ({} in {})", entry.key(), file.display()),
        }
    }
}

/// Credentials found for a registry host. `Debug` never shows the secret.
#[derive(Clone)]
pub(super) struct Credentials {
    /// The user name; empty for an identity token without one.
    pub(super) user: String,
    pub(super) secret: Secret,
    pub(super) origin: Origin,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = match self.secret {
            Secret::Password(_) => "password",
            Secret::IdentityToken(_) => "identity token",
        };
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field(secret, &MARKER)
            .field("origin", &self.origin)
            .finish()
    }
}

impl Credentials {
    /// `Basic base64(user:password)`; `None` for an identity token, which is no password.
    pub(super) fn basic_header(&self) -> Option<String> {
        match &self.secret {
            Secret::Password(password) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{password}", self.user))
            )),
            Secret::IdentityToken(_) => None,
        }
    }

    /// The identity token, when the secret is one.
    pub(super) fn identity_token(&self) -> Option<&str> {
        match &self.secret {
            Secret::IdentityToken(token) => Some(token),
            Secret::Password(_) => None,
        }
    }

    /// Every form of the secret a message could carry, to scrub from messages.
    pub(super) fn secrets(&self) -> Vec<String> {
        match &self.secret {
            Secret::Password(password) => {
                let pair = format!("{}:{password}", self.user);
                vec![
                    password.clone(),
                    base64::engine::general_purpose::STANDARD.encode(&pair),
                    base64::engine::general_purpose::STANDARD_NO_PAD.encode(&pair),
                ]
            }
            Secret::IdentityToken(token) => vec![token.clone()],
        }
    }

    /// What was used and where it came from (the user name is shown, the secret never):
    /// "credentials of user `U` for HOST from docker-credential-pass (credHelpers in FILE)".
    pub(super) fn describe(&self, host: &str) -> String {
        match self.secret {
            Secret::Password(_) => format!(
                "credentials of user `{}` for {host} from {}",
                self.user, self.origin
            ),
            Secret::IdentityToken(_) => {
                format!("an identity token for {host} from {}", self.origin)
            }
        }
    }
}

/// What a lookup found, and which helpers it asked that had nothing.
#[derive(Debug, Default)]
pub(super) struct Lookup {
    pub(super) found: Option<Credentials>,
    /// The helpers that answered "not found", as [`Origin`] shows them.
    pub(super) helpers_without: Vec<String>,
}

/// Find credentials for `name` in `files` (in order), running the helpers they name from
/// `helper_dirs`. An error is one line naming the file or the helper, without secrets.
pub(super) fn find_credentials(
    name: &ImageName,
    files: &[PathBuf],
    helper_dirs: &[PathBuf],
) -> Result<Lookup, String> {
    let helpers = Helpers {
        dirs: helper_dirs,
        timeout: HELPER_TIMEOUT,
    };
    let mut lookup = Lookup::default();
    for file in files {
        if let Some(found) = lookup_file(name, file, &helpers, &mut lookup.helpers_without)? {
            lookup.found = Some(found);
            break;
        }
    }
    Ok(lookup)
}

/// The credentials one file gives for `name`, if any.
fn lookup_file(
    name: &ImageName,
    file: &Path,
    helpers: &Helpers<'_>,
    helpers_without: &mut Vec<String>,
) -> Result<Option<Credentials>, String> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None)
        }
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
    let Some(json) = json.as_object() else {
        return Err(format!("auth file {} is not a JSON object", file.display()));
    };
    if file.file_name().is_some_and(|n| n == LEGACY_FILE_NAME) {
        // Docker's legacy format: the `auths` map alone, keyed by host or URL.
        return from_auths(name, file, json, true);
    }

    // 1. `credHelpers` for the host (never for a namespace: helpers store hosts).
    if let Some(helper) = cred_helper_for(name, file, json)? {
        return helpers.ask(
            &helper,
            HelperEntry::CredHelpers,
            name,
            file,
            helpers_without,
        );
    }
    // 2. `auths`.
    if let Some(auths) = json.get("auths") {
        let Some(auths) = auths.as_object() else {
            return Err(format!(
                "auth file {}: `auths` is not an object",
                file.display()
            ));
        };
        if let Some(found) = from_auths(name, file, auths, false)? {
            return Ok(Some(found));
        }
    }
    // 3. `credsStore`.
    match json.get("credsStore") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(serde_json::Value::String(store)) => {
            let store = helper_name(store, file, HelperEntry::CredsStore, &name.host)?;
            helpers.ask(&store, HelperEntry::CredsStore, name, file, helpers_without)
        }
        Some(_) => Err(format!(
            "auth file {}: `credsStore` is not a string",
            file.display()
        )),
    }
}

/// The helper a file's `credHelpers` names for the registry host: an exact key first, then one
/// that names the host as a URL (`https://host`).
fn cred_helper_for(
    name: &ImageName,
    file: &Path,
    json: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<String>, String> {
    let helpers = match json.get("credHelpers") {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Object(helpers)) => helpers,
        Some(_) => {
            return Err(format!(
                "auth file {}: `credHelpers` is not an object",
                file.display()
            ))
        }
    };
    let entry = helpers
        .iter()
        .find(|(key, _)| key.trim().eq_ignore_ascii_case(&name.host))
        .or_else(|| {
            helpers
                .iter()
                .find(|(key, _)| auth_key_match(key, name) == Some(0))
        });
    let Some((_, value)) = entry else {
        return Ok(None);
    };
    match value.as_str() {
        Some(helper) => helper_name(helper, file, HelperEntry::CredHelpers, &name.host).map(Some),
        None => Err(format!(
            "auth file {}: the `credHelpers` entry for {} is not a string",
            file.display(),
            name.host
        )),
    }
}

/// A helper name as a file gives it, checked: letters, digits, `.`, `_`, `-` (the program is
/// `docker-credential-NAME`, never a path).
fn helper_name(value: &str, file: &Path, entry: HelperEntry, host: &str) -> Result<String, String> {
    let value = value.trim();
    let ok = !value.is_empty()
        && value.len() <= 100
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        return Ok(value.to_string());
    }
    let shown: String = value
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .take(100)
        .collect();
    let which = match entry {
        HelperEntry::CredHelpers => format!("the `credHelpers` entry for {host}"),
        HelperEntry::CredsStore => "`credsStore`".to_string(),
    };
    Err(format!(
        "auth file {}: {which} is `{shown}`, not a credential helper name \
         (letters, digits, `.`, `_`, `-`)",
        file.display()
    ))
}

/// The best `auths` entry for `name` (see [`auth_key_match`]); in the legacy format only host
/// keys count, as in podman.
fn from_auths(
    name: &ImageName,
    file: &Path,
    auths: &serde_json::Map<String, serde_json::Value>,
    legacy: bool,
) -> Result<Option<Credentials>, String> {
    let mut candidates: Vec<(usize, &serde_json::Value)> = auths
        .iter()
        .filter_map(|(key, entry)| {
            let specificity = auth_key_match(key, name)?;
            (!legacy || specificity == 0).then_some((specificity, entry))
        })
        .collect();
    // The most specific first; the order of equally specific keys is the file's.
    candidates.sort_by_key(|(specificity, _)| std::cmp::Reverse(*specificity));
    for (_, entry) in candidates {
        if let Some(found) = auth_entry(name, file, entry)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// One `auths` entry: `{"auth": base64(user:password)}`, with an optional `identitytoken`.
/// An entry with neither (Docker's `{}` next to a `credsStore`) is `None`.
fn auth_entry(
    name: &ImageName,
    file: &Path,
    entry: &serde_json::Value,
) -> Result<Option<Credentials>, String> {
    let field = |key: &str| {
        entry
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let origin = Origin::File(file.to_path_buf());
    let user = match field("auth") {
        None => None,
        Some(raw) => {
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
            // containers/image trims NUL padding some tools leave after the password.
            Some((
                user.to_string(),
                password.trim_end_matches('\0').to_string(),
            ))
        }
    };
    if let Some(token) = field("identitytoken") {
        return Ok(Some(Credentials {
            user: user.map(|(u, _)| u).unwrap_or_default(),
            secret: Secret::IdentityToken(token.to_string()),
            origin,
        }));
    }
    Ok(user.map(|(user, password)| Credentials {
        user,
        secret: Secret::Password(password),
        origin,
    }))
}

/// Does an auth file key apply to the image? `Some(specificity)` when it does: 0 for the host,
/// the namespace's length for `host/namespace`.
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

/// The server address a helper is asked for: the host, and for Docker Hub the address
/// `docker login` stores its credentials under.
pub(super) fn server_address(name: &ImageName) -> &str {
    if name.host == "docker.io" {
        "https://index.docker.io/v1/"
    } else {
        &name.host
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::helper::run_helper;
    use crate::registry::reference::tests::name;
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    fn enc(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn password(c: &Credentials) -> &str {
        match &c.secret {
            Secret::Password(p) => p,
            Secret::IdentityToken(_) => panic!("an identity token"),
        }
    }

    /// Write an executable script through a shell, so that no file descriptor open for writing
    /// is ever held by this multi-threaded process (another thread's fork could inherit it and
    /// make the exec fail with ETXTBSY).
    fn write_script(path: &Path, body: &str) {
        let mut child = Command::new("sh")
            .args(["-c", "cat > \"$0\" && chmod 700 \"$0\""])
            .arg(path)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }

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
    fn auth_files_in_podmans_order() {
        let env = AuthEnv {
            registry_auth_file: Some("/x/auth.json".into()),
            xdg_runtime_dir: Some("/run/user/1000".into()),
            uid: Some(1000),
            xdg_config_home: None,
            docker_config: None,
            home: Some("/home/u".into()),
        };
        let files: Vec<String> = env
            .auth_files()
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        assert_eq!(
            files,
            [
                "/x/auth.json",
                "/run/user/1000/containers/auth.json",
                "/home/u/.config/containers/auth.json",
                "/home/u/.docker/config.json",
                "/home/u/.dockercfg",
            ]
        );
        let env = AuthEnv {
            registry_auth_file: None,
            xdg_runtime_dir: None,
            xdg_config_home: Some("/cfg".into()),
            docker_config: Some("/dcfg".into()),
            ..env
        };
        let files: Vec<String> = env
            .auth_files()
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        assert_eq!(
            files,
            [
                "/run/containers/1000/auth.json",
                "/cfg/containers/auth.json",
                "/dcfg/config.json",
                "/home/u/.dockercfg",
            ]
        );
        assert!(AuthEnv::default().auth_files().is_empty());
    }

    #[test]
    fn credentials_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("auth.json");
        let second = dir.path().join("config.json");
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
        let c = find_credentials(&name("quay.io/app-sre/qr"), &files, &[])
            .unwrap()
            .found
            .unwrap();
        assert_eq!((c.user.as_str(), password(&c)), ("bot", "pa:ss"));
        assert_eq!(c.origin, Origin::File(second.clone()));
        assert!(!format!("{c:?}").contains("pa:ss"));
        assert_eq!(
            c.describe("quay.io"),
            format!(
                "credentials of user `bot` for quay.io from {}",
                second.display()
            )
        );
        let c = find_credentials(&name("quay.io/other/qr"), &files, &[])
            .unwrap()
            .found
            .unwrap();
        assert_eq!(c.user, "robot");
        assert!(find_credentials(&name("ghcr.io/a/b"), &files, &[])
            .unwrap()
            .found
            .is_none());

        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, r#"{"auths": {"quay.io": {"auth": "c2VjcmV0"}"#).unwrap();
        let err = find_credentials(&name("quay.io/a/b"), &[broken], &[]).unwrap_err();
        assert!(
            err.contains("not valid JSON") && !err.contains("c2VjcmV0"),
            "{err}"
        );
    }

    #[test]
    fn empty_markers_identity_tokens_and_legacy_files() {
        let dir = tempfile::tempdir().unwrap();
        // Docker's `{}` marker is no entry: the less specific key answers.
        let marker = dir.path().join("marker.json");
        std::fs::write(
            &marker,
            format!(
                r#"{{"auths": {{"quay.io/app-sre": {{}}, "quay.io": {{"auth": "{}"}}}}}}"#,
                enc("u:p\u{0}")
            ),
        )
        .unwrap();
        let c = find_credentials(&name("quay.io/app-sre/qr"), &[marker], &[])
            .unwrap()
            .found
            .unwrap();
        assert_eq!((c.user.as_str(), password(&c)), ("u", "p"));

        let token = dir.path().join("token.json");
        std::fs::write(
            &token,
            format!(
                r#"{{"auths": {{"quay.io": {{"auth": "{}", "identitytoken": "refresh-Tok3n"}}}}}}"#,
                enc("me:")
            ),
        )
        .unwrap();
        let c = find_credentials(&name("quay.io/a/b"), &[token], &[])
            .unwrap()
            .found
            .unwrap();
        assert_eq!(c.identity_token(), Some("refresh-Tok3n"));
        assert!(c.basic_header().is_none());
        assert!(!format!("{c:?}").contains("refresh-Tok3n"));
        assert!(c
            .describe("quay.io")
            .starts_with("an identity token for quay.io from "));

        // `~/.dockercfg`: the map alone, host keys only.
        let legacy = dir.path().join(".dockercfg");
        std::fs::write(
            &legacy,
            format!(
                r#"{{"https://index.docker.io/v1/": {{"auth": "{}", "email": "a@b"}}, "quay.io/app-sre": {{"auth": "{}"}}}}"#,
                enc("hub:pw"),
                enc("ns:pw")
            ),
        )
        .unwrap();
        let files = [legacy];
        let c = find_credentials(&name("alpine"), &files, &[])
            .unwrap()
            .found
            .unwrap();
        assert_eq!(c.user, "hub");
        assert!(find_credentials(&name("quay.io/app-sre/qr"), &files, &[])
            .unwrap()
            .found
            .is_none());

        // Wrong shapes are errors naming the file and the key.
        for (text, what) in [
            (
                r#"{"credHelpers": ["x"]}"#,
                "`credHelpers` is not an object",
            ),
            (r#"{"credHelpers": {"quay.io": 1}}"#, "not a string"),
            (r#"{"credsStore": 3}"#, "`credsStore` is not a string"),
            (
                r#"{"credsStore": "../../bin/sh"}"#,
                "not a credential helper name",
            ),
            (r#"{"auths": []}"#, "`auths` is not an object"),
            (r#"[]"#, "not a JSON object"),
        ] {
            let file = dir.path().join("bad.json");
            std::fs::write(&file, text).unwrap();
            let err = find_credentials(&name("quay.io/a/b"), std::slice::from_ref(&file), &[])
                .unwrap_err();
            assert!(
                err.contains(what) && err.contains(&file.display().to_string()),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn helpers_run_found_and_timed_out() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-unit");
        write_script(
            &helper,
            "#!/bin/sh\n[ \"$1\" = get ] || exit 9\nread -r host\n\
             printf '{\"ServerURL\":\"%s\",\"Username\":\"u-%s\",\"Secret\":\"pw\"}' \"$host\" \"$host\"\n",
        );
        let helpers = Helpers {
            dirs: &[dir.path().join("nowhere"), dir.path().to_path_buf()],
            timeout: Duration::from_secs(20),
        };
        assert_eq!(helpers.find("unit"), Some(helper.clone()));
        assert_eq!(helpers.find("other"), None);
        let config = dir.path().join("config.json");
        std::fs::write(&config, r#"{"credHelpers": {"quay.io": "unit"}}"#).unwrap();
        let mut without = Vec::new();
        let c = lookup_file(&name("quay.io/a/b"), &config, &helpers, &mut without)
            .unwrap()
            .unwrap();
        assert_eq!((c.user.as_str(), password(&c)), ("u-quay.io", "pw"));
        assert_eq!(
            c.describe("quay.io"),
            format!(
                "credentials of user `u-quay.io` for quay.io from docker-credential-unit \
                 (credHelpers in {})",
                config.display()
            )
        );
        // Docker Hub is asked for under the address `docker login` stores.
        std::fs::write(&config, r#"{"credsStore": "unit"}"#).unwrap();
        let c = lookup_file(&name("alpine"), &config, &helpers, &mut without)
            .unwrap()
            .unwrap();
        assert_eq!(c.user, "u-https://index.docker.io/v1/");

        let slow = dir.path().join("docker-credential-slow");
        write_script(&slow, "#!/bin/sh\nexec sleep 30\n");
        let started = Instant::now();
        let err = run_helper(&slow, "quay.io", Duration::from_millis(300)).unwrap_err();
        assert!(err.contains("did not answer within"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
