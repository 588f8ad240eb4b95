//! The one HTTP layer of the registry and GitLab clients: URL rules (plain http only for
//! loopback), the URL shown in messages, the client set-up (timeouts, TLS, proxy), sending a
//! request, and the wording of network failures.
//!
//! Secrets stay out of messages: shown URLs go through [`crate::redact::redact_url`], and
//! [`scrub`] removes the secrets a client knows (tokens, passwords) from a whole message.

use std::fmt;
use std::io;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::redact::{redact_known, redact_url};

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("qr-promote/", env!("CARGO_PKG_VERSION"));

/// The host of a URL authority (`host`, `host:port`, `[v6]:port`), without brackets.
pub fn url_host(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    }
}

/// `localhost` or a loopback address.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
        || host
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The authority of a URL (`host[:port]`), without credentials; the text itself when it has no
/// `scheme://`.
pub fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let auth = rest.split(['/', '?', '#']).next().unwrap_or_default();
    auth.rsplit('@').next().unwrap_or_default()
}

/// Whether the URL's host is a loopback one (such URLs never go through a proxy).
pub fn url_is_loopback(url: &str) -> bool {
    url.contains("://") && is_loopback(url_host(authority(url)))
}

/// A URL fit for a message: no credentials, no query, no control characters, bounded length.
pub fn shown_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let mut shown: String = url.chars().filter(|c| !c.is_control()).take(200).collect();
    if url.chars().count() > 200 {
        shown.push_str("...");
    }
    redact_url(&shown)
}

/// A request's URL as events show it: with its query parameters, without control characters,
/// bounded, credentials and secret query values redacted ([`redact_url`]).
pub fn logged_url(url: &str, query: &[(&str, &str)]) -> String {
    let mut full = url.to_string();
    for (k, v) in query {
        full.push(if full.contains('?') { '&' } else { '?' });
        full.push_str(k);
        full.push('=');
        full.push_str(v);
    }
    let mut shown: String = full.chars().filter(|c| !c.is_control()).take(500).collect();
    if full.chars().count() > 500 {
        shown.push_str("...");
    }
    redact_url(&shown)
}

/// Checks a URL to send requests to: `https://...`, or `http://...` for a loopback host only
/// (127.0.0.0/8, ::1, localhost); no credentials (`credentials_hint` says what to use instead).
pub fn check_url(url: &str, credentials_hint: &str) -> Result<(), String> {
    let shown = shown_url(url);
    if !url.contains("://") {
        return Err(format!(
            "`{shown}` is not a URL (expected http:// or https://)"
        ));
    }
    if url.trim() != url || url.contains(char::is_whitespace) {
        return Err(format!("`{shown}` is not a valid URL"));
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("`{shown}` is not a valid URL ({e})"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "`{shown}` must not contain credentials; {credentials_hint}"
        ));
    }
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err(format!("`{shown}` is not a valid URL")),
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "`{shown}`: plain http is allowed only for loopback addresses \
             (127.0.0.0/8, ::1, localhost); use https"
        )),
        _ => Err(format!(
            "`{shown}`: the scheme must be https (or http for a loopback address)"
        )),
    }
}

/// Checks a base URL ([`check_url`], and no query or fragment); returns it without a trailing `/`.
pub fn check_base_url(url: &str, credentials_hint: &str) -> Result<String, String> {
    if url.contains(['?', '#']) {
        return Err(format!(
            "`{}`: a base URL takes no query or fragment",
            shown_url(url)
        ));
    }
    check_url(url, credentials_hint)?;
    Ok(url.trim_end_matches('/').to_string())
}

/// The bytes a path segment keeps as they are: the unreserved characters of RFC 3986.
const SEGMENT_KEEPS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes all but the unreserved characters (so `/` becomes `%2F`): one path segment.
pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT_KEEPS).to_string()
}

/// A message on one line, without the `secrets` (see [`redact_known`]) nor URL credentials.
pub fn scrub(msg: &str, secrets: &[&str]) -> String {
    let msg = redact_known(msg, secrets);
    msg.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How a client talks: its timeouts and redirects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// Time allowed to resolve and connect (`None`: only the request timeout applies).
    pub connect_timeout: Option<Duration>,
    /// Time allowed for one whole request.
    pub request_timeout: Duration,
    /// Redirects followed (0: a redirect is the answer).
    pub max_redirects: u32,
    /// The most bytes read from an answer's body.
    pub body_limit: u64,
}

/// An HTTP client: one agent for loopback URLs (never proxied), one with the environment's proxy.
/// Answers of every status are returned; only the network fails.
pub struct Client {
    config: ClientConfig,
    direct: ureq::Agent,
    proxied: ureq::Agent,
    /// The environment's proxy, named in network failures (host and port only).
    proxy: Option<ureq::Proxy>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// An HTTP method the clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Head,
    Get,
    Put,
    Post,
}

impl Method {
    /// `HEAD`, `GET`, `PUT`, `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Head => "HEAD",
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
        }
    }
}

/// One request: method, URL, query parameters (encoded on sending), headers and body.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: Method,
    pub url: &'a str,
    pub query: &'a [(&'a str, &'a str)],
    pub headers: &'a [(&'a str, &'a str)],
    /// Sent with `PUT` and `POST`.
    pub body: &'a str,
}

impl<'a> Request<'a> {
    /// A request without query, headers or body.
    pub fn new(method: Method, url: &'a str) -> Self {
        Request {
            method,
            url,
            query: &[],
            headers: &[],
            body: "",
        }
    }
}

/// What a client keeps of an answer: its status, headers, and body (empty for `HEAD`; cut at the
/// body limit; empty when unreadable).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: String,
}

impl Reply {
    /// A header's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of a header that is text.
    pub fn header_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .get_all(name)
            .into_iter()
            .filter_map(|v| v.to_str().ok())
    }
}

/// The class of a network failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetErrorKind {
    /// The host name does not resolve.
    Dns,
    /// The connection was refused, dropped, or could not be made.
    Connect,
    /// TLS failed (certificate, handshake).
    Tls,
    /// A connect or request timeout expired.
    Timeout,
    /// The other side does not speak HTTP as expected.
    Protocol,
}

/// A request that got no answer: its class and the reason in words (naming the host, never a
/// secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetError {
    pub kind: NetErrorKind,
    pub reason: String,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for NetError {}

impl From<NetError> for crate::Error {
    fn from(err: NetError) -> Self {
        crate::Error::external(err.reason.clone()).with_source(err)
    }
}

impl Client {
    /// A client with this configuration (rustls, the environment's proxy for non-loopback URLs).
    pub fn new(config: ClientConfig) -> Client {
        let agent = |proxy: Option<ureq::Proxy>| {
            let builder = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(config.request_timeout))
                .max_redirects(config.max_redirects)
                .proxy(proxy)
                .user_agent(USER_AGENT);
            let builder = match config.connect_timeout {
                Some(t) => builder.timeout_resolve(Some(t)).timeout_connect(Some(t)),
                None => builder,
            };
            ureq::Agent::new_with_config(builder.build())
        };
        Client {
            config,
            direct: agent(None),
            proxied: agent(ureq::Proxy::try_from_env()),
            proxy: ureq::Proxy::try_from_env(),
        }
    }

    /// Sends one request and reads the answer, whatever its status. Its events: at level info the
    /// method, URL (credentials and secret query values redacted), status and time; at debug the
    /// sizes of the request and the answer, its type, and a redirect's target. Headers and bodies
    /// are never shown (they carry tokens).
    pub fn send(&self, req: &Request<'_>) -> Result<Reply, ureq::Error> {
        let start = std::time::Instant::now();
        let sent = self.exchange(req);
        if tracing::enabled!(tracing::Level::INFO) {
            let elapsed = crate::util::elapsed(start.elapsed());
            let method = req.method.as_str();
            let url = logged_url(req.url, req.query);
            match &sent {
                Ok(reply) => {
                    tracing::info!(status = reply.status, elapsed = %elapsed, "{method} {url}");
                    tracing::debug!(
                        request_bytes = req.body.len(),
                        answer_bytes = reply.body.len(),
                        content_type = reply.header("content-type").unwrap_or_default(),
                        "{method} {url}: sizes"
                    );
                }
                Err(e) => tracing::info!(
                    error = %self.failure(e, req.url),
                    elapsed = %elapsed,
                    "{method} {url}: no answer"
                ),
            }
        }
        sent
    }

    fn exchange(&self, req: &Request<'_>) -> Result<Reply, ureq::Error> {
        fn dress<B>(mut b: ureq::RequestBuilder<B>, req: &Request<'_>) -> ureq::RequestBuilder<B> {
            for (k, v) in req.headers {
                b = b.header(*k, *v);
            }
            for (k, v) in req.query {
                b = b.query(*k, *v);
            }
            b
        }
        let agent = if url_is_loopback(req.url) {
            &self.direct
        } else {
            &self.proxied
        };
        let mut response = match req.method {
            Method::Head => dress(agent.head(req.url), req).call()?,
            Method::Get => dress(agent.get(req.url), req).call()?,
            Method::Put => dress(agent.put(req.url), req).send(req.body)?,
            Method::Post => dress(agent.post(req.url), req).send(req.body)?,
        };
        if tracing::enabled!(tracing::Level::DEBUG) {
            use ureq::ResponseExt;
            let at = response.get_uri().to_string();
            let path = |u: &str| u.split(['?', '#']).next().unwrap_or_default().to_string();
            if path(&at) != path(req.url) {
                tracing::debug!(
                    "{} {}: redirected to {}",
                    req.method.as_str(),
                    logged_url(req.url, req.query),
                    logged_url(&at, &[])
                );
            }
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = if req.method == Method::Head {
            String::new()
        } else {
            response
                .body_mut()
                .with_config()
                .limit(self.config.body_limit)
                .read_to_string()
                .unwrap_or_else(|e| {
                    tracing::debug!(
                        "{} {}: answer unreadable: {e}",
                        req.method.as_str(),
                        logged_url(req.url, req.query)
                    );
                    String::new()
                })
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// The failure of a request to `url` in words: what failed, with which host, and the proxy
    /// it went through.
    pub fn failure(&self, err: &ureq::Error, url: &str) -> NetError {
        let (kind, why) = self.reason(err, url);
        let proxy = self.proxy.as_ref().filter(|p| {
            !url_is_loopback(url)
                && url
                    .parse::<ureq::http::Uri>()
                    .is_ok_and(|uri| !p.is_no_proxy(&uri))
        });
        let reason = match proxy {
            Some(p) => format!("{why} (through proxy {}:{})", p.host(), p.port()),
            None => why,
        };
        NetError { kind, reason }
    }

    fn reason(&self, err: &ureq::Error, url: &str) -> (NetErrorKind, String) {
        use NetErrorKind as K;
        let shown = shown_url(url);
        let host = authority(url);
        let tls = |why: &dyn fmt::Display| (K::Tls, format!("TLS error with {host}: {why}"));
        match err {
            ureq::Error::HostNotFound => (
                K::Dns,
                format!("cannot resolve host {} (DNS)", url_host(host)),
            ),
            ureq::Error::Timeout(what) => {
                let r = self.config.request_timeout;
                let limits = match self.config.connect_timeout {
                    Some(c) => format!("timeouts: connect {c:?}, request {r:?}"),
                    None => format!("timeout {r:?}"),
                };
                (
                    K::Timeout,
                    format!("timed out ({what}) talking to {shown} ({limits})"),
                )
            }
            ureq::Error::Io(e) => io_reason(e, host, url),
            ureq::Error::ConnectionFailed => (K::Connect, format!("cannot connect to {host}")),
            ureq::Error::Tls(why) => tls(why),
            ureq::Error::Rustls(e) => tls(e),
            ureq::Error::Pem(e) => tls(e),
            ureq::Error::Protocol(e) => (K::Protocol, format!("invalid HTTP from {host}: {e}")),
            ureq::Error::TooManyRedirects => {
                (K::Protocol, format!("too many redirects from {shown}"))
            }
            e => (K::Protocol, format!("request to {shown} failed: {e}")),
        }
    }
}

fn io_reason(e: &io::Error, host: &str, url: &str) -> (NetErrorKind, String) {
    use crate::error::io_message;
    use NetErrorKind as K;
    match e.kind() {
        io::ErrorKind::ConnectionRefused => (K::Connect, format!("connection refused by {host}")),
        io::ErrorKind::TimedOut => (K::Timeout, format!("timed out connecting to {host}")),
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::BrokenPipe => (
            K::Connect,
            format!("connection to {host} dropped: {}", io_message(e)),
        ),
        // std reports resolver failures this way (no dedicated kind).
        _ if e.to_string().contains("failed to lookup address") => {
            let why = io_message(e);
            let why = why.rsplit(": ").next().unwrap_or_default();
            (
                K::Dns,
                format!("cannot resolve host {} (DNS): {why}", url_host(host)),
            )
        }
        // rustls reports handshake failures as invalid data.
        io::ErrorKind::InvalidData if url.starts_with("https://") => {
            let why = io_message(e);
            let hint = if why.contains("InvalidContentType") {
                " (does it speak plain http?)"
            } else {
                ""
            };
            (K::Tls, format!("TLS error with {host}: {why}{hint}"))
        }
        _ => (
            K::Connect,
            format!("cannot talk to {host}: {}", io_message(e)),
        ),
    }
}

/// A dropped connection or malformed answer may pass; refused, DNS, TLS and timeouts do not.
pub fn is_transient(err: &ureq::Error) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules() {
        assert_eq!(
            check_base_url("http://[::1]:5000/", "").as_deref(),
            Ok("http://[::1]:5000")
        );
        for bad in [
            "http://127.0.0.1.evil.com",
            "https://h/?x=1",
            "https://h /x",
        ] {
            assert!(check_base_url(bad, "").is_err(), "{bad}");
        }
        let err = check_url("https://u:secret@h/x", "use a token").unwrap_err();
        assert_eq!(
            err,
            "`https://[redacted]@h/x` must not contain credentials; use a token"
        );
    }

    #[test]
    fn shown_urls_and_segments() {
        assert_eq!(
            shown_url("https://u:p@h/a?token=x"),
            "https://[redacted]@h/a"
        );
        assert_eq!(shown_url(&"x".repeat(250)).len(), 203);
        assert_eq!(
            logged_url(
                "https://u:p@h/token?x=1",
                &[("scope", "repository:a:pull"), ("access_token", "T")]
            ),
            "https://[redacted]@h/token?x=1&scope=repository:a:pull&access_token=[redacted]"
        );
        assert_eq!(encode_segment("group/sub proj~x"), "group%2Fsub%20proj~x");
        assert!(url_is_loopback("http://[::1]:5/x"));
        assert!(!url_is_loopback("localhost"));
        assert_eq!(authority("https://u:p@h:1/x?y"), "h:1");
        assert_eq!(
            scrub("a  tok1\nb https://u:p@h", &["tok1"]),
            "a [redacted] b https://[redacted]@h"
        );
    }
}
