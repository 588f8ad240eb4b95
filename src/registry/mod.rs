//! Registry image check: does `image:tag` exist in its container registry (OCI distribution API)?
//!
//! [`check_image`] sends `HEAD /v2/<name>/manifests/<tag>`, follows a `401` challenge once
//! (`Bearer` token or `Basic` credentials from the container auth files and the credential helpers
//! they name, looked up in podman's order: see [`AuthEnv`]), retries `5xx` and `429`
//! with a bounded backoff, and answers [`ImageStatus::Exists`] (with the manifest digest),
//! [`ImageStatus::NotFound`], or a one-line [`RegistryError`] when the registry cannot be asked.
//! [`digest`] is the same request for the manifest digest an image reference or a `*_DIGEST`
//! pins: it is an error when the registry does not say it.
//!
//! Secrets (passwords, auth strings, tokens) never appear in an error, a log or a `Debug` output.

mod answer;
mod client;
mod credentials;
mod helper;
mod reference;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use client::{MANIFEST_ACCEPT, MAX_RETRY_AFTER};
pub use credentials::AuthEnv;

use crate::http;
use crate::redact::redact_url;
use client::Check;
pub use reference::image_ref;
use reference::{check_tag, is_host_char, ImageName};

/// What a URL given for a registry uses instead of credentials.
const CREDENTIALS_HINT: &str = "use an auth file";

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
    /// Container auth files (podman's `auth.json`, Docker's `config.json`, `.dockercfg`), the
    /// first holding credentials for a host wins: in each, a `credHelpers` entry for the host,
    /// else an `auths` entry, else `credsStore` (see [`AuthEnv`]).
    pub auth_files: Vec<PathBuf>,
    /// The directories searched, in order, for the credential helpers the auth files name
    /// (`docker-credential-NAME`); [`from_env`](RegistryOptions::from_env) takes `$PATH`.
    pub helper_dirs: Vec<PathBuf>,
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
    /// Default options, with `auth_files` and `helper_dirs` taken from the environment (see
    /// [`default_auth_files`] and [`default_helper_dirs`]).
    ///
    /// [`default_auth_files`]: RegistryOptions::default_auth_files
    /// [`default_helper_dirs`]: RegistryOptions::default_helper_dirs
    pub fn from_env() -> Self {
        RegistryOptions {
            overrides: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            auth_files: RegistryOptions::default_auth_files(),
            helper_dirs: RegistryOptions::default_helper_dirs(),
            retries: 2,
            backoff: Duration::from_millis(200),
        }
    }

    /// The auth files to read, in podman's order: `$REGISTRY_AUTH_FILE`,
    /// `${XDG_RUNTIME_DIR}/containers/auth.json`,
    /// `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`,
    /// `${DOCKER_CONFIG:-~/.docker}/config.json`, `~/.dockercfg` (locations whose variables are
    /// unset are left out): [`AuthEnv::auth_files`] of [`AuthEnv::from_env`].
    pub fn default_auth_files() -> Vec<PathBuf> {
        credentials::default_auth_files()
    }

    /// The directories of `$PATH`, where credential helpers are looked for.
    pub fn default_helper_dirs() -> Vec<PathBuf> {
        credentials::default_helper_dirs()
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
            RegistryErrorKind::Input => crate::Error::input(err.to_string()),
            _ => crate::Error::external(err.to_string()).with_source(err),
        }
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
    let mut session = Check::new(name, tag, base, reference, opts);
    session.check()
}

/// The manifest digest (`sha256:<64 hex>`, the `Docker-Content-Digest` the registry answers)
/// of `image:tag`: what an image reference pinned by digest, or a `*_DIGEST` next to a tag, must
/// say once the tag moves.
///
/// An error names the reference: the tag (or the repository) is not in the registry, the registry
/// sent no digest, or a digest that is not `sha256:` and 64 lowercase hex digits; or the registry
/// could not be asked (as [`check_image`] says).
pub fn digest(image: &str, tag: &str, opts: &RegistryOptions) -> crate::Result<String> {
    let reference = image_ref(image, tag);
    match check_image(image, tag, opts)? {
        ImageStatus::NotFound => Err(crate::Error::refused(format!(
            "{reference} not found: its digest cannot be known"
        ))),
        ImageStatus::Exists { digest: None } => Err(crate::Error::external(format!(
            "the registry of {reference} answered without a Docker-Content-Digest: \
             its digest cannot be known"
        ))),
        ImageStatus::Exists {
            digest: Some(digest),
        } => {
            if is_sha256_digest(&digest) {
                Ok(digest)
            } else {
                Err(crate::Error::external(format!(
                    "the registry of {reference} answered the digest {}, not sha256:<64 hex>",
                    digest.chars().take(100).collect::<String>()
                )))
            }
        }
    }
}

/// Whether `s` is `sha256:` followed by 64 lowercase hex digits.
pub fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Checks an image name as [`check_image`] takes it (`[host/]name`, without tag or digest);
/// the error says why it is not one.
pub fn check_image_name(image: &str) -> Result<(), String> {
    ImageName::parse(image).map(|_| ())
}

/// Check a base URL: `https://...`, or `http://...` for a loopback host only; no credentials.
/// Returns it without a trailing `/`.
fn check_base_url(url: &str) -> Result<String, String> {
    http::check_base_url(url, CREDENTIALS_HINT)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::reference::tests::name;

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
        assert!(matches!(lib, crate::Error::Input { .. }));
    }
}
