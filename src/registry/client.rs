//! The OCI distribution client: manifest `HEAD`/`GET`, the `401` challenge (Bearer token or
//! Basic), retries of `5xx`, `429` and dropped connections with a bounded backoff.
//!
//! Credentials are a user and password, sent as Basic authorization to the registry or to its
//! token endpoint (`GET realm?service=...&scope=...`), or an identity token (an auth file's
//! `identitytoken`, or a credential helper's answer with the user `<token>`): an OAuth2 refresh
//! token, exchanged at the token endpoint with `POST grant_type=refresh_token` as Docker's
//! distribution client and containers/image do. A registry that asks for Basic authorization
//! cannot take an identity token: that is an authentication error saying so.

use std::time::Duration;

use super::answer::{
    error_codes, form_encode, is_manifest_type, kind_of, media_type, parse_challenge,
    parse_retry_after, printable, Challenge, OAUTH_CLIENT_ID,
};
use super::credentials::{find_credentials, Credentials};
use super::reference::ImageName;
use super::{ImageStatus, RegistryError, RegistryErrorKind, RegistryOptions};
use crate::http::{self, shown_url, Client, ClientConfig, Method, Reply, Request};

/// The manifest media types a check accepts: OCI index and manifest, Docker list and v2 manifest.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// The longest `Retry-After` a check waits for before trying a rate-limited request again.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// The most bytes read from a registry or token endpoint body.
const BODY_LIMIT: u64 = 1024 * 1024;

/// One check: the target, the agents, and the secrets to keep out of messages.
pub(super) struct Check<'a> {
    name: ImageName,
    tag: &'a str,
    base: String,
    reference: String,
    opts: &'a RegistryOptions,
    client: Client,
    secrets: Vec<String>,
    /// The credential helpers asked that had nothing for the host, for messages.
    helpers_without: Vec<String>,
}

impl<'a> Check<'a> {
    pub(super) fn new(
        name: ImageName,
        tag: &'a str,
        base: String,
        reference: String,
        opts: &'a RegistryOptions,
    ) -> Self {
        let client = Client::new(ClientConfig {
            connect_timeout: Some(opts.connect_timeout),
            request_timeout: opts.request_timeout,
            max_redirects: 5,
            body_limit: BODY_LIMIT,
        });
        Check {
            name,
            tag,
            base,
            reference,
            opts,
            client,
            secrets: Vec::new(),
            helpers_without: Vec::new(),
        }
    }

    fn error(&self, kind: RegistryErrorKind, reason: impl Into<String>) -> RegistryError {
        let reason: String = reason.into();
        // Messages are built without secrets; this is a second line of defence.
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let reason = http::scrub(&reason, &secrets);
        RegistryError {
            reference: self.reference.clone(),
            kind,
            reason,
        }
    }

    pub(super) fn check(&mut self) -> Result<ImageStatus, RegistryError> {
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
                self.places_looked()
            ),
            (None, false) => format!(
                "no credentials were sent; none for {host} in the auth files ({})",
                self.places_looked()
            ),
        };
        self.error(
            RegistryErrorKind::Auth,
            format!("{what} at {host} (HTTP {status}) {how}"),
        )
    }

    /// The auth files read, and the helpers they named that had nothing for the host.
    fn places_looked(&self) -> String {
        let mut shown = if self.opts.auth_files.is_empty() {
            "none configured".to_string()
        } else {
            self.opts
                .auth_files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.helpers_without.is_empty() {
            shown.push_str("; credential helpers without them: ");
            shown.push_str(&self.helpers_without.join(", "));
        }
        shown
    }

    fn credentials(&mut self) -> Result<Option<Credentials>, RegistryError> {
        let lookup = find_credentials(&self.name, &self.opts.auth_files, &self.opts.helper_dirs)
            .map_err(|why| self.error(RegistryErrorKind::Auth, why))?;
        self.helpers_without = lookup.helpers_without;
        if let Some(c) = &lookup.found {
            self.secrets.extend(c.secrets());
        }
        Ok(lookup.found)
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
            let Some(basic) = creds.basic_header() else {
                return Err(self.error(
                    RegistryErrorKind::Auth,
                    format!(
                        "{host} asks for Basic authentication (HTTP 401), which {} cannot \
                         give: an identity token is exchanged only at a token endpoint",
                        creds.describe(&host)
                    ),
                ));
            };
            return Ok((basic, Some(creds)));
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
        if let Err(why) = http::check_url(&realm, super::CREDENTIALS_HINT) {
            return Err(self.error(
                RegistryErrorKind::Protocol,
                format!("{host} sent an unusable token realm: {why}"),
            ));
        }
        let default_scope = format!("repository:{}:pull", self.name.path);
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = challenge.param("service") {
            query.push(("service", service));
        }
        query.push((
            "scope",
            challenge.param("scope").unwrap_or(default_scope.as_str()),
        ));
        let reply = match creds.and_then(Credentials::identity_token) {
            // OAuth2 refresh token grant (the token endpoint's POST form, as Docker sends it).
            Some(token) => {
                let mut form = query.clone();
                form.extend([
                    ("grant_type", "refresh_token"),
                    ("client_id", OAUTH_CLIENT_ID),
                    ("refresh_token", token),
                ]);
                let body = form_encode(&form);
                self.send_form(&realm, &body)?
            }
            None => {
                let auth = creds.and_then(Credentials::basic_header);
                self.send(Method::Get, &realm, &query, auth.as_deref())?
            }
        };
        let realm_shown = shown_url(&realm);
        match reply.status {
            200..=299 => {}
            401 | 403 => {
                let how = match creds {
                    Some(c) => format!("using {}", c.describe(&host)),
                    None => format!(
                        "anonymously; no credentials for {host} in the auth files ({})",
                        self.places_looked()
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
        query: &[(&str, &str)],
        auth: Option<&str>,
    ) -> Result<Reply, RegistryError> {
        let accept = if method == Method::Head || url.contains("/manifests/") {
            MANIFEST_ACCEPT
        } else {
            "application/json"
        };
        let mut headers = vec![("Accept", accept)];
        headers.extend(auth.map(|a| ("Authorization", a)));
        let request = Request {
            query,
            headers: &headers,
            ..Request::new(method, url)
        };
        self.send_request(&request)
    }

    /// `POST` a form (`application/x-www-form-urlencoded`) to `url`, with the same retries.
    fn send_form(&self, url: &str, body: &str) -> Result<Reply, RegistryError> {
        let headers = [
            ("Accept", "application/json"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        let request = Request {
            headers: &headers,
            body,
            ..Request::new(Method::Post, url)
        };
        self.send_request(&request)
    }

    fn send_request(&self, request: &Request<'_>) -> Result<Reply, RegistryError> {
        let url = request.url;
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
            match self.client.send(request) {
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
                    if last || !http::is_transient(&e) {
                        let failure = self.client.failure(&e, url);
                        let (kind, why) = (kind_of(failure.kind), failure.reason);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::answer::MANIFEST_TYPES;

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
    fn form_bodies() {
        assert_eq!(
            form_encode(&[
                ("grant_type", "refresh_token"),
                ("scope", "repository:a/b:pull"),
                ("refresh_token", "a+b/c=d e&f"),
            ]),
            "grant_type=refresh_token&scope=repository%3Aa%2Fb%3Apull\
             &refresh_token=a%2Bb%2Fc%3Dd%20e%26f"
        );
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
}
