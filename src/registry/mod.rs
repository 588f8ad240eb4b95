//! Registry image check: does `image:tag` exist in its container registry (OCI distribution API)?
//!
//! [`check_image`] sends `HEAD /v2/<name>/manifests/<tag>`, follows a `401` challenge once
//! (`Bearer` token or `Basic` credentials from the container auth files), retries `5xx` and `429`
//! with a bounded backoff, and answers [`ImageStatus::Exists`] (with the manifest digest),
//! [`ImageStatus::NotFound`], or a one-line [`RegistryError`] when the registry cannot be asked.
//!
//! Secrets (passwords, auth strings, tokens) never appear in an error, a log or a `Debug` output.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use ureq::http;

use crate::redact::{redact_known, redact_url, MARKER};
use crate::util::{is_loopback, url_host};

/// The manifest media types a check accepts: OCI index and manifest, Docker list and v2 manifest.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// The longest `Retry-After` a check waits for before trying a rate-limited request again.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// The most bytes read from a registry or token endpoint body.
const BODY_LIMIT: u64 = 1024 * 1024;

/// How to reach registries: URL overrides, timeouts, credentials, retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryOptions {
    /// `(registry host, base URL)` pairs, e.g. `("quay.io", "http://127.0.0.1:5000")`.
    /// Plain `http` is allowed only for loopback addresses.
    pub overrides: Vec<(String, String)>,
    /// Time allowed to resolve and connect (default 5 s).
    pub connect_timeout: Duration,
    /// Time allowed for one whole request (default 20 s).
    pub request_timeout: Duration,
    /// Container auth files (`{"auths": {...}}`), the first holding credentials for a host wins.
    pub auth_files: Vec<PathBuf>,
    /// Tries after the first for `5xx`, `429` and dropped connections (default 2: 3 tries).
    pub retries: u32,
    /// Wait before the first retry, doubled for each following one (default 200 ms).
    pub backoff: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions::from_env()
    }
}

impl RegistryOptions {
    /// Default options, with `auth_files` taken from the environment (see [`default_auth_files`]).
    ///
    /// [`default_auth_files`]: RegistryOptions::default_auth_files
    pub fn from_env() -> Self {
        RegistryOptions {
            overrides: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            auth_files: RegistryOptions::default_auth_files(),
            retries: 2,
            backoff: Duration::from_millis(200),
        }
    }

    /// The auth files to read, in order: `$REGISTRY_AUTH_FILE`,
    /// `${XDG_RUNTIME_DIR}/containers/auth.json`, `~/.docker/config.json` (unset variables are
    /// skipped).
    pub fn default_auth_files() -> Vec<PathBuf> {
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
}

/// Parse a `HOST=URL` registry override (as given to `--registry-url`), checking the URL.
/// Messages show the override with its credentials and secret query values redacted.
pub fn parse_registry_override(spec: &str) -> crate::Result<(String, String)> {
    let Some((host, url)) = spec.split_once('=') else {
        return Err(crate::Error::input(format!(
            "registry override `{}`: expected HOST=URL, e.g. quay.io=http://127.0.0.1:5000",
            redact_url(spec)
        )));
    };
    let shown = format!("{}={}", redact_url(host.trim()), redact_url(url.trim()));
    let shown: String = shown
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    let host = host.trim();
    if host.is_empty() || !host.chars().all(is_host_char) {
        return Err(crate::Error::input(format!(
            "registry override `{shown}`: `{}` is not a registry host",
            redact_url(host)
        )));
    }
    let url = check_base_url(url.trim())
        .map_err(|why| crate::Error::input(format!("registry override `{shown}`: {why}")))?;
    Ok((host.to_ascii_lowercase(), url))
}

/// What the registry says about an image tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageStatus {
    /// The tag exists; `digest` is the `Docker-Content-Digest` header when the registry sent it.
    Exists {
        /// The manifest digest, e.g. `sha256:...`.
        digest: Option<String>,
    },
    /// The registry answered that the tag (or the repository) does not exist.
    NotFound,
}

/// Why a registry could not be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryErrorKind {
    /// The image, tag or override is invalid; nothing was sent.
    Input,
    /// The host name does not resolve.
    Dns,
    /// The connection was refused or could not be made.
    Connect,
    /// TLS failed (certificate, handshake).
    Tls,
    /// A connect or request timeout expired.
    Timeout,
    /// The registry answered `5xx` on every try.
    Server,
    /// The registry answered `429` on every try.
    RateLimited,
    /// Authentication was required and failed, or access was denied.
    Auth,
    /// The registry (or token endpoint) answered something this check does not understand.
    Protocol,
}

/// The registry could not be asked: names the image reference and the reason, on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    reference: String,
    kind: RegistryErrorKind,
    reason: String,
}

impl RegistryError {
    /// The image reference, `host/name:tag`.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The class of failure.
    pub fn kind(&self) -> RegistryErrorKind {
        self.kind
    }

    /// The reason alone, without the reference.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot check image {}: {}", self.reference, self.reason)
    }
}

impl std::error::Error for RegistryError {}

impl From<RegistryError> for crate::Error {
    fn from(err: RegistryError) -> Self {
        match err.kind {
            RegistryErrorKind::Input => crate::Error::Input(err.to_string()),
            _ => crate::Error::External(err.to_string()),
        }
    }
}

/// The canonical reference `host/name:tag` of an image, e.g. `docker.io/library/alpine:3`.
/// An image that cannot be parsed is returned as given, followed by `:tag`.
pub fn image_ref(image: &str, tag: &str) -> String {
    match ImageName::parse(image) {
        Ok(name) => format!("{}/{}:{}", name.host, name.path, tag),
        Err(_) => format!("{}:{}", image.trim(), tag),
    }
}

/// Ask the registry of `image` whether `tag` exists.
///
/// `image` is `[host/]name` without tag or digest, e.g. `quay.io/app-sre/qontract-reconcile`;
/// without a host it is a Docker Hub image. The answer is [`ImageStatus::NotFound`] only when the
/// registry said so; everything else that prevents an answer is a [`RegistryError`].
pub fn check_image(
    image: &str,
    tag: &str,
    opts: &RegistryOptions,
) -> Result<ImageStatus, RegistryError> {
    let reference = image_ref(image, tag);
    let input = |reason: String| RegistryError {
        reference: reference.clone(),
        kind: RegistryErrorKind::Input,
        reason,
    };
    let name = ImageName::parse(image).map_err(&input)?;
    check_tag(tag).map_err(&input)?;
    let base = base_url(&name, opts).map_err(&input)?;
    let mut session = Session::new(name, tag, base, reference, opts);
    session.check()
}

/// A parsed image name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ImageName {
    /// The registry host as users write it (`docker.io`, `quay.io`, `localhost:5000`), lowercase.
    host: String,
    /// The host the API is served on (`registry-1.docker.io` for `docker.io`).
    api_host: String,
    /// The repository path, e.g. `app-sre/qontract-reconcile` or `library/alpine`.
    path: String,
}

impl ImageName {
    fn parse(image: &str) -> Result<ImageName, String> {
        let image = image.trim();
        if image.is_empty() {
            return Err("the image name is empty".into());
        }
        if image.contains("://") {
            return Err(format!(
                "`{image}` is a URL; give the image as host/name \
                 (use a registry override for the URL)"
            ));
        }
        if image.contains('@') {
            return Err(format!(
                "`{image}` includes a digest; give the image without it"
            ));
        }
        let (host, path) = match image.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_ascii_lowercase(), rest.to_string())
            }
            _ => ("docker.io".to_string(), image.to_string()),
        };
        if !host.chars().all(is_host_char) {
            return Err(format!("`{host}` is not a registry host"));
        }
        if path
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
        {
            return Err(format!(
                "`{image}` already includes a tag; give the image without it"
            ));
        }
        let is_docker_hub = matches!(
            host.as_str(),
            "docker.io" | "index.docker.io" | "registry-1.docker.io"
        );
        let (host, api_host, path) = if is_docker_hub {
            let path = if path.contains('/') {
                path
            } else {
                format!("library/{path}")
            };
            (
                "docker.io".to_string(),
                "registry-1.docker.io".to_string(),
                path,
            )
        } else {
            (host.clone(), host, path)
        };
        check_repository(&path)?;
        Ok(ImageName {
            host,
            api_host,
            path,
        })
    }
}

fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_')
}

/// A repository path: `/`-separated components of `[a-z0-9._-]`, each starting and ending
/// alphanumeric.
fn check_repository(path: &str) -> Result<(), String> {
    let ok = !path.is_empty()
        && path.len() <= 255
        && path.split('/').all(|c| {
            let alnum = |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit();
            c.chars().next().is_some_and(alnum)
                && c.chars().last().is_some_and(alnum)
                && c.chars()
                    .all(|ch| alnum(ch) || matches!(ch, '.' | '_' | '-'))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{path}` is not a valid repository name (lowercase letters, digits, `._-`, `/`)"
        ))
    }
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), String> {
    let ok = tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{tag}` is not a valid tag (letters, digits, `_.-`, at most 128)"
        ))
    }
}

/// The base URL for an image: its override, else `https://<api host>`.
fn base_url(name: &ImageName, opts: &RegistryOptions) -> Result<String, String> {
    let found = opts.overrides.iter().find(|(host, _)| {
        let host = host.trim();
        host.eq_ignore_ascii_case(&name.host) || host.eq_ignore_ascii_case(&name.api_host)
    });
    match found {
        Some((host, url)) => {
            check_base_url(url.trim()).map_err(|why| format!("registry override for {host}: {why}"))
        }
        None => Ok(format!("https://{}", name.api_host)),
    }
}

/// Check a base URL: `https://...`, or `http://...` for a loopback host only; no credentials.
/// Returns it without a trailing `/`.
fn check_base_url(url: &str) -> Result<String, String> {
    if url.contains(['?', '#']) {
        return Err(format!(
            "`{}`: a registry base URL takes no query or fragment",
            shown_url(url)
        ));
    }
    check_url(url)?;
    Ok(url.trim_end_matches('/').to_string())
}

/// Check a URL: `https://...`, or `http://...` for a loopback host only; no credentials.
fn check_url(url: &str) -> Result<(), String> {
    if url.contains('@') {
        return Err("the URL must not contain credentials; use an auth file".into());
    }
    let shown = shown_url(url);
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{shown}` is not a URL (expected http:// or https://)"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = url_host(authority);
    if host.is_empty() || rest.contains(char::is_whitespace) {
        return Err(format!("`{shown}` is not a valid URL"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if is_loopback(host) => {}
        "http" => {
            return Err(format!(
                "`{shown}`: plain http is allowed only for loopback addresses \
                 (127.0.0.0/8, ::1, localhost); use https"
            ))
        }
        _ => return Err(format!("`{shown}`: the scheme must be http or https")),
    }
    Ok(())
}

fn url_is_loopback(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .is_some_and(|authority| is_loopback(url_host(authority)))
}

/// A URL fit for an error message: no credentials, no query, no control characters, bounded
/// length.
fn shown_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let mut shown: String = url.chars().filter(|c| !c.is_control()).take(200).collect();
    if url.chars().count() > 200 {
        shown.push_str("...");
    }
    redact_url(&shown)
}

/// Credentials found for a registry host. `Debug` never shows the secret.
#[derive(Clone)]
struct Credentials {
    user: String,
    password: String,
    /// The auth string as stored in the file (base64 `user:password`).
    raw: String,
    source: PathBuf,
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
    fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.user, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// "credentials for HOST from FILE" (the user name is shown, the secret never).
    fn describe(&self, host: &str) -> String {
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
fn find_credentials(name: &ImageName, files: &[PathBuf]) -> Result<Option<Credentials>, String> {
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

/// An authentication challenge from `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Challenge {
    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// Parse one `WWW-Authenticate` value: `Scheme k=v, k="quoted, value"`.
fn parse_challenge(value: &str) -> Option<Challenge> {
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
fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// What a check keeps from one HTTP response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Head,
    Get,
}

/// One check: the target, the agents, and the secrets to keep out of messages.
struct Session<'a> {
    name: ImageName,
    tag: &'a str,
    base: String,
    reference: String,
    opts: &'a RegistryOptions,
    /// Without proxy, for loopback URLs.
    direct: ureq::Agent,
    /// With the environment's proxy settings.
    proxied: ureq::Agent,
    /// The environment's proxy, named in connection errors (host and port only).
    proxy: Option<ureq::Proxy>,
    secrets: Vec<String>,
}

impl<'a> Session<'a> {
    fn new(
        name: ImageName,
        tag: &'a str,
        base: String,
        reference: String,
        opts: &'a RegistryOptions,
    ) -> Self {
        let agent = |proxy: Option<ureq::Proxy>| {
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_resolve(Some(opts.connect_timeout))
                .timeout_connect(Some(opts.connect_timeout))
                .timeout_global(Some(opts.request_timeout))
                .max_redirects(5)
                .proxy(proxy)
                .user_agent(concat!("qr-promote/", env!("CARGO_PKG_VERSION")))
                .build();
            ureq::Agent::new_with_config(config)
        };
        Session {
            name,
            tag,
            base,
            reference,
            opts,
            direct: agent(None),
            proxied: agent(ureq::Proxy::try_from_env()),
            proxy: ureq::Proxy::try_from_env(),
            secrets: Vec::new(),
        }
    }

    fn error(&self, kind: RegistryErrorKind, reason: impl Into<String>) -> RegistryError {
        let reason: String = reason.into();
        // Messages are built without secrets; this is a second line of defence.
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let reason = redact_known(&reason, &secrets).replace(['\n', '\r'], " ");
        RegistryError {
            reference: self.reference.clone(),
            kind,
            reason,
        }
    }

    fn check(&mut self) -> Result<ImageStatus, RegistryError> {
        let url = format!("{}/v2/{}/manifests/{}", self.base, self.name.path, self.tag);
        let reply = self.send(Method::Head, &url, &[], None)?;
        if reply.status != 401 {
            return self.interpret(Method::Head, &url, reply, None, None);
        }
        let (auth, creds) = self.authenticate(&reply)?;
        let reply = self.send(Method::Head, &url, &[], Some(&auth))?;
        self.interpret(Method::Head, &url, reply, Some(&auth), creds.as_ref())
    }

    /// Turn a manifest reply into the answer; a `HEAD` answered oddly is asked again with `GET`.
    fn interpret(
        &mut self,
        method: Method,
        url: &str,
        reply: Reply,
        auth: Option<&str>,
        creds: Option<&Credentials>,
    ) -> Result<ImageStatus, RegistryError> {
        let status = reply.status;
        match status {
            200..=299 => {
                let digest = reply
                    .header("docker-content-digest")
                    .map(str::trim)
                    .filter(|d| d.contains(':') && d.chars().all(|c| c.is_ascii_graphic()))
                    .map(str::to_string);
                let media_type = reply.header("content-type").map(media_type);
                if digest.is_none() && !media_type.as_deref().is_some_and(is_manifest_type) {
                    let what = match media_type.as_deref() {
                        Some("") | None => "no content type".to_string(),
                        Some(t) => printable(t),
                    };
                    return Err(self.error(
                        RegistryErrorKind::Protocol,
                        format!(
                            "registry at {} answered {status} with {what}, not an image manifest",
                            shown_url(&self.base)
                        ),
                    ));
                }
                Ok(ImageStatus::Exists { digest })
            }
            404 => Ok(ImageStatus::NotFound),
            401 | 403 => Err(self.auth_failed(status, auth.is_some(), creds)),
            _ if method == Method::Head => {
                let reply = self.send(Method::Get, url, &[], auth)?;
                self.interpret(Method::Get, url, reply, auth, creds)
            }
            _ => {
                let codes = error_codes(&reply.body);
                if codes
                    .iter()
                    .any(|c| c == "MANIFEST_UNKNOWN" || c == "NAME_UNKNOWN")
                {
                    return Ok(ImageStatus::NotFound);
                }
                let codes = if codes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", codes.join(", "))
                };
                Err(self.error(
                    RegistryErrorKind::Protocol,
                    format!(
                        "unexpected answer HTTP {status}{codes} from {}",
                        shown_url(url)
                    ),
                ))
            }
        }
    }

    fn auth_failed(
        &self,
        status: u16,
        authenticated: bool,
        creds: Option<&Credentials>,
    ) -> RegistryError {
        let host = &self.name.host;
        let what = if status == 403 {
            "access denied"
        } else {
            "authentication failed"
        };
        let how = match (creds, authenticated) {
            (Some(c), _) => format!("using {}", c.describe(host)),
            (None, true) => format!(
                "with an anonymous token; no credentials for {host} in the auth files ({})",
                self.files_checked()
            ),
            (None, false) => format!(
                "no credentials were sent; none for {host} in the auth files ({})",
                self.files_checked()
            ),
        };
        self.error(
            RegistryErrorKind::Auth,
            format!("{what} at {host} (HTTP {status}) {how}"),
        )
    }

    fn files_checked(&self) -> String {
        if self.opts.auth_files.is_empty() {
            return "none configured".into();
        }
        self.opts
            .auth_files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn credentials(&mut self) -> Result<Option<Credentials>, RegistryError> {
        let creds = find_credentials(&self.name, &self.opts.auth_files)
            .map_err(|why| self.error(RegistryErrorKind::Auth, why))?;
        if let Some(c) = &creds {
            self.secrets.push(c.password.clone());
            self.secrets.push(c.raw.clone());
            let header = c.basic_header();
            self.secrets
                .push(header.trim_start_matches("Basic ").to_string());
        }
        Ok(creds)
    }

    /// Answer a `401`: returns the `Authorization` value to retry with, and the credentials used.
    fn authenticate(
        &mut self,
        reply: &Reply,
    ) -> Result<(String, Option<Credentials>), RegistryError> {
        let challenges: Vec<Challenge> = reply
            .headers
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(parse_challenge)
            .collect();
        let host = self.name.host.clone();
        let pick = |scheme: &str| {
            challenges
                .iter()
                .find(|c| c.scheme.eq_ignore_ascii_case(scheme))
        };
        if let Some(bearer) = pick("bearer").cloned() {
            let creds = self.credentials()?;
            let token = self.fetch_token(&bearer, creds.as_ref())?;
            return Ok((format!("Bearer {token}"), creds));
        }
        if pick("basic").is_some() {
            let Some(creds) = self.credentials()? else {
                return Err(self.auth_failed(401, false, None));
            };
            return Ok((creds.basic_header(), Some(creds)));
        }
        Err(self.error(
            RegistryErrorKind::Auth,
            format!(
                "{host} requires authentication (HTTP 401) without a Bearer or Basic challenge"
            ),
        ))
    }

    /// Get a token from the challenge's realm, anonymously or with Basic credentials.
    fn fetch_token(
        &mut self,
        challenge: &Challenge,
        creds: Option<&Credentials>,
    ) -> Result<String, RegistryError> {
        let host = self.name.host.clone();
        let Some(realm) = challenge.param("realm").map(str::to_string) else {
            return Err(self.error(
                RegistryErrorKind::Protocol,
                format!("{host} sent a Bearer challenge without a realm"),
            ));
        };
        if let Err(why) = check_url(&realm) {
            return Err(self.error(
                RegistryErrorKind::Protocol,
                format!("{host} sent an unusable token realm: {why}"),
            ));
        }
        let default_scope = format!("repository:{}:pull", self.name.path);
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(service) = challenge.param("service") {
            query.push(("service", service.to_string()));
        }
        query.push((
            "scope",
            challenge
                .param("scope")
                .map_or(default_scope, str::to_string),
        ));
        let auth = creds.map(Credentials::basic_header);
        let reply = self.send(Method::Get, &realm, &query, auth.as_deref())?;
        let realm_shown = shown_url(&realm);
        match reply.status {
            200..=299 => {}
            401 | 403 => {
                let how = match creds {
                    Some(c) => format!("using {}", c.describe(&host)),
                    None => format!(
                        "anonymously; no credentials for {host} in the auth files ({})",
                        self.files_checked()
                    ),
                };
                return Err(self.error(
                    RegistryErrorKind::Auth,
                    format!(
                        "authentication failed at {host}: token endpoint {realm_shown} \
                         answered HTTP {} {how}",
                        reply.status
                    ),
                ));
            }
            status => {
                return Err(self.error(
                    RegistryErrorKind::Protocol,
                    format!("token endpoint {realm_shown} answered HTTP {status}"),
                ))
            }
        }
        let token = serde_json::from_str::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|json| {
                ["token", "access_token"]
                    .iter()
                    .find_map(|k| json.get(*k).and_then(|t| t.as_str()).map(str::to_string))
            })
            .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_graphic()));
        match token {
            Some(token) => {
                self.secrets.push(token.clone());
                Ok(token)
            }
            None => Err(self.error(
                RegistryErrorKind::Protocol,
                format!(
                    "token endpoint {realm_shown} answered without a usable \
                     `token` or `access_token`"
                ),
            )),
        }
    }

    /// Send one request, retrying `5xx`, `429` and dropped connections with backoff.
    fn send(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        auth: Option<&str>,
    ) -> Result<Reply, RegistryError> {
        let tries = self.opts.retries.saturating_add(1);
        let shown = shown_url(url);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let last = attempt >= tries;
            let backoff = self
                .opts
                .backoff
                .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
            match self.send_once(method, url, query, auth) {
                Ok(reply) if reply.status >= 500 => {
                    if last {
                        return Err(self.error(
                            RegistryErrorKind::Server,
                            format!(
                                "{shown} answered HTTP {} (server error) on all {tries} tries",
                                reply.status
                            ),
                        ));
                    }
                    std::thread::sleep(backoff);
                }
                Ok(reply) if reply.status == 429 => {
                    if last {
                        return Err(self.error(
                            RegistryErrorKind::RateLimited,
                            format!(
                                "{shown} answered HTTP 429 (rate limited) on all {tries} tries"
                            ),
                        ));
                    }
                    let wait = parse_retry_after(reply.header("retry-after")).unwrap_or(backoff);
                    std::thread::sleep(wait.min(MAX_RETRY_AFTER));
                }
                Ok(reply) => return Ok(reply),
                Err(e) => {
                    if last || !is_transient(&e) {
                        let (kind, why) = self.describe_transport_error(&e, url);
                        let why = if attempt > 1 {
                            format!("{why} (after {attempt} tries)")
                        } else {
                            why
                        };
                        return Err(self.error(kind, why));
                    }
                    std::thread::sleep(backoff);
                }
            }
        }
    }

    fn send_once(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        auth: Option<&str>,
    ) -> Result<Reply, ureq::Error> {
        let agent = if url_is_loopback(url) {
            &self.direct
        } else {
            &self.proxied
        };
        let mut response = match method {
            Method::Head => {
                let mut req = agent.head(url).header("Accept", MANIFEST_ACCEPT);
                for (k, v) in query {
                    req = req.query(*k, v);
                }
                if let Some(a) = auth {
                    req = req.header("Authorization", a);
                }
                req.call()?
            }
            Method::Get => {
                let accept = if url.contains("/manifests/") {
                    MANIFEST_ACCEPT
                } else {
                    "application/json"
                };
                let mut req = agent.get(url).header("Accept", accept);
                for (k, v) in query {
                    req = req.query(*k, v);
                }
                if let Some(a) = auth {
                    req = req.header("Authorization", a);
                }
                req.call()?
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = if method == Method::Get {
            response
                .body_mut()
                .with_config()
                .limit(BODY_LIMIT)
                .read_to_string()
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    fn describe_transport_error(
        &self,
        err: &ureq::Error,
        url: &str,
    ) -> (RegistryErrorKind, String) {
        let (kind, why) = self.transport_reason(err, url);
        let proxy = self.proxy.as_ref().filter(|p| {
            !url_is_loopback(url)
                && url
                    .parse::<http::Uri>()
                    .is_ok_and(|uri| !p.is_no_proxy(&uri))
        });
        match proxy {
            Some(p) => (
                kind,
                format!("{why} (through proxy {}:{})", p.host(), p.port()),
            ),
            None => (kind, why),
        }
    }

    fn transport_reason(&self, err: &ureq::Error, url: &str) -> (RegistryErrorKind, String) {
        use RegistryErrorKind as K;
        let shown = shown_url(url);
        let host = url
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default())
            .unwrap_or(url);
        match err {
            ureq::Error::HostNotFound => {
                let host = url_host(host);
                (K::Dns, format!("cannot resolve host {host} (DNS)"))
            }
            ureq::Error::Timeout(what) => {
                let (c, r) = (self.opts.connect_timeout, self.opts.request_timeout);
                let limits = format!("timeouts: connect {c:?}, request {r:?}");
                let why = format!("timed out ({what}) talking to {shown} ({limits})");
                (K::Timeout, why)
            }
            ureq::Error::Io(e) => match e.kind() {
                io::ErrorKind::ConnectionRefused => {
                    (K::Connect, format!("connection refused by {host}"))
                }
                io::ErrorKind::TimedOut => (K::Timeout, format!("timed out connecting to {host}")),
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::BrokenPipe => (
                    K::Connect,
                    format!(
                        "connection to {host} dropped: {}",
                        crate::error::io_message(e)
                    ),
                ),
                // std reports resolver failures this way (no dedicated kind).
                _ if e.to_string().contains("failed to lookup address") => {
                    let why = crate::error::io_message(e);
                    let why = why.rsplit(": ").next().unwrap_or_default();
                    (
                        K::Dns,
                        format!("cannot resolve host {} (DNS): {why}", url_host(host)),
                    )
                }
                // rustls reports handshake failures as invalid data.
                io::ErrorKind::InvalidData if url.starts_with("https://") => {
                    let why = crate::error::io_message(e);
                    let hint = if why.contains("InvalidContentType") {
                        " (does it speak plain http?)"
                    } else {
                        ""
                    };
                    (K::Tls, format!("TLS error with {host}: {why}{hint}"))
                }
                _ => (
                    K::Connect,
                    format!("cannot talk to {host}: {}", crate::error::io_message(e)),
                ),
            },
            ureq::Error::ConnectionFailed => (K::Connect, format!("cannot connect to {host}")),
            ureq::Error::Tls(why) => (K::Tls, format!("TLS error with {host}: {why}")),
            ureq::Error::Rustls(e) => (K::Tls, format!("TLS error with {host}: {e}")),
            ureq::Error::Pem(e) => (K::Tls, format!("TLS error with {host}: {e}")),
            ureq::Error::Protocol(e) => (K::Protocol, format!("invalid HTTP from {host}: {e}")),
            ureq::Error::TooManyRedirects => {
                (K::Protocol, format!("too many redirects from {shown}"))
            }
            e => (K::Protocol, format!("request to {shown} failed: {e}")),
        }
    }
}

/// The manifest media types whose answer proves a tag exists (with no `Docker-Content-Digest`).
const MANIFEST_TYPES: [&str; 6] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// The media type of a `Content-Type` value: without parameters, trimmed, lowercase.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn is_manifest_type(media_type: &str) -> bool {
    MANIFEST_TYPES.contains(&media_type)
}

/// A value from the network fit for a message: printable ASCII, at most 100 characters.
fn printable(value: &str) -> String {
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

/// A dropped connection or malformed answer may pass; refused, DNS, TLS and timeouts do not.
fn is_transient(err: &ureq::Error) -> bool {
    match err {
        ureq::Error::Io(e) => matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::BrokenPipe
        ),
        ureq::Error::Protocol(_) => true,
        _ => false,
    }
}

/// The `errors[].code` values of a registry error body (upper case words only).
fn error_codes(body: &str) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn name(image: &str) -> ImageName {
        ImageName::parse(image).unwrap()
    }

    #[test]
    fn image_names() {
        let n = name("quay.io/app-sre/qontract-reconcile");
        assert_eq!(
            (n.host.as_str(), n.api_host.as_str(), n.path.as_str()),
            ("quay.io", "quay.io", "app-sre/qontract-reconcile")
        );
        let n = name("alpine");
        assert_eq!(
            (n.host.as_str(), n.api_host.as_str(), n.path.as_str()),
            ("docker.io", "registry-1.docker.io", "library/alpine")
        );
        let n = name("bitnami/redis");
        assert_eq!(
            (n.host.as_str(), n.path.as_str()),
            ("docker.io", "bitnami/redis")
        );
        let n = name("docker.io/alpine");
        assert_eq!(n.path, "library/alpine");
        let n = name("localhost/foo");
        assert_eq!((n.host.as_str(), n.path.as_str()), ("localhost", "foo"));
        let n = name("127.0.0.1:5000/a/b");
        assert_eq!(
            (n.host.as_str(), n.path.as_str()),
            ("127.0.0.1:5000", "a/b")
        );
        assert_eq!(
            image_ref("quay.io/app-sre/qontract-reconcile", "abc1234"),
            "quay.io/app-sre/qontract-reconcile:abc1234"
        );
        assert_eq!(image_ref("alpine", "3"), "docker.io/library/alpine:3");
    }

    #[test]
    fn bad_images_and_tags() {
        for bad in [
            "",
            "quay.io/app-sre/qr:tag",
            "quay.io/app-sre/qr@sha256:00",
            "https://quay.io/a",
            "quay.io/App-Sre/qr",
            "quay.io/a//b",
            "quay.io/a/b-",
        ] {
            assert!(ImageName::parse(bad).is_err(), "{bad}");
        }
        for bad in ["", "-x", "a/b", "a b", "a?x", &"x".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
        check_tag("abc1234").unwrap();
        check_tag("v1.2.3-rc_1").unwrap();
    }

    #[test]
    fn base_urls() {
        let mut opts = RegistryOptions::from_env();
        assert_eq!(
            base_url(&name("quay.io/a/b"), &opts).unwrap(),
            "https://quay.io"
        );
        assert_eq!(
            base_url(&name("alpine"), &opts).unwrap(),
            "https://registry-1.docker.io"
        );
        opts.overrides = vec![("Quay.io".into(), "http://127.0.0.1:5000/".into())];
        assert_eq!(
            base_url(&name("quay.io/a/b"), &opts).unwrap(),
            "http://127.0.0.1:5000"
        );
        for ok in [
            "http://127.0.0.1:1",
            "http://127.3.4.5",
            "http://[::1]:5000",
            "http://localhost:5000/",
            "https://registry.example.com",
            "https://10.0.0.1:5000",
        ] {
            check_base_url(ok).unwrap();
        }
        for bad in [
            "http://10.0.0.1:5000",
            "http://quay.io",
            "http://127.0.0.1.evil.com",
            "http://localhost.evil.com",
            "http://[::2]:5000",
            "ftp://127.0.0.1",
            "127.0.0.1:5000",
            "https://user:pw@quay.io",
            "https://",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
        let (host, url) = parse_registry_override("quay.io=http://127.0.0.1:5000").unwrap();
        assert_eq!(
            (host.as_str(), url.as_str()),
            ("quay.io", "http://127.0.0.1:5000")
        );
        let err = parse_registry_override("quay.io=http://192.168.1.2:5000").unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        assert!(parse_registry_override("quay.io").is_err());
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

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.param("realm"), Some("https://auth.example.com/token"));
        assert_eq!(c.param("service"), Some("registry.example.com"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        let c = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(
            (c.scheme.as_str(), c.param("realm")),
            ("Basic", Some("Registry Realm"))
        );
        let c = parse_challenge("Bearer realm=https://x/token, service=x").unwrap();
        assert_eq!(c.param("realm"), Some("https://x/token"));
        assert_eq!(c.param("service"), Some("x"));
    }

    #[test]
    fn manifest_media_types() {
        assert_eq!(
            media_type(" Application/VND.oci.image.index.v1+json ; charset=utf-8"),
            "application/vnd.oci.image.index.v1+json"
        );
        for t in MANIFEST_TYPES {
            assert!(is_manifest_type(t), "{t}");
        }
        for t in [
            "text/html",
            "application/json",
            "application/octet-stream",
            "",
        ] {
            assert!(!is_manifest_type(&media_type(t)), "{t}");
        }
        assert_eq!(printable("text/html\u{1b}[31m"), "text/html?[31m");
    }

    #[test]
    fn override_refusals_do_not_echo_secrets() {
        for spec in [
            "quay.io=http://user:pass@127.0.0.1:5000",
            "quay.io=http://127.0.0.1:5000/?token=pass",
            "quay.io=http://10.0.0.1:5000/?access_token=pass",
            "quay.io=user:pass@10.0.0.1:5000",
            "user:pass@quay.io=http://127.0.0.1:5000",
            "quay.io:user:pass@http://127.0.0.1:5000",
        ] {
            let err = parse_registry_override(spec).unwrap_err().to_string();
            assert!(!err.contains("pass"), "{spec}: {err}");
            assert!(err.starts_with("registry override `"), "{spec}: {err}");
        }
    }

    #[test]
    fn retry_after_and_codes() {
        assert_eq!(parse_retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(parse_retry_after(None), None);
        assert_eq!(
            error_codes(
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"x"},{"code":"bad code"}]}"#
            ),
            vec!["MANIFEST_UNKNOWN".to_string()]
        );
        assert!(error_codes("not json").is_empty());
    }

    #[test]
    fn input_errors_name_the_reference() {
        let opts = RegistryOptions {
            overrides: vec![("quay.io".into(), "http://10.1.2.3:5000".into())],
            ..RegistryOptions::from_env()
        };
        let err = check_image("quay.io/app-sre/qr", "abc", &opts).unwrap_err();
        assert_eq!(err.kind(), RegistryErrorKind::Input);
        let shown = err.to_string();
        assert!(
            shown.starts_with("cannot check image quay.io/app-sre/qr:abc: "),
            "{shown}"
        );
        assert!(
            shown.contains("loopback") && !shown.contains('\n'),
            "{shown}"
        );
        let err = check_image("quay.io/app-sre/qr", "bad tag", &opts).unwrap_err();
        assert_eq!(err.kind(), RegistryErrorKind::Input);
        let lib: crate::Error = err.into();
        assert!(matches!(lib, crate::Error::Input(_)));
    }
}
