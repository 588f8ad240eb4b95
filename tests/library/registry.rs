//! Image checks against a real registry (`docker-registry`), and against a scripted fake one for
//! Bearer tokens, rate limits and server errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use qr_promote::error::ErrorKind;
use qr_promote::registry::{
    check_image, digest, image_ref, ImageStatus, RegistryError, RegistryErrorKind, RegistryOptions,
};

use crate::support::fake_registry::{serve, FakeResponse};
use crate::support::registry_server::{
    push_image, push_image_as, start_registry, ManifestFormat, TEST_PASSWORD, TEST_USER,
};

const IMAGE: &str = "quay.io/app-sre/qontract-reconcile";
const REPO: &str = "app-sre/qontract-reconcile";

/// Options that send `quay.io` to `url`, with no auth file unless given.
fn opts(url: &str, auth_files: Vec<std::path::PathBuf>) -> RegistryOptions {
    RegistryOptions {
        overrides: vec![("quay.io".into(), url.into())],
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        auth_files,
        retries: 2,
        backoff: Duration::from_millis(100),
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The error's `Display` and `Debug` are one line and contain none of the secrets.
fn assert_clean(err: &RegistryError, secrets: &[&str]) {
    let shown = err.to_string();
    let debug = format!("{err:?}");
    assert!(!shown.contains('\n'), "one line: {shown}");
    for secret in secrets {
        assert!(!shown.contains(secret), "secret in message: {shown}");
        assert!(!debug.contains(secret), "secret in Debug: {debug}");
    }
}

#[test]
fn real_registry_without_auth() {
    let reg = start_registry(false);
    let oci = push_image(&reg.url, REPO, "abc1234", None);
    let docker = push_image_as(&reg.url, REPO, "docker-v2", None, ManifestFormat::DockerV2);
    assert_ne!(oci, docker);
    let opts = opts(&reg.url, vec![]);

    let status = check_image(IMAGE, "abc1234", &opts).unwrap();
    assert_eq!(
        status,
        ImageStatus::Exists {
            digest: Some(oci.clone())
        },
        "{}",
        reg.log()
    );
    let status = check_image(IMAGE, "docker-v2", &opts).unwrap();
    assert_eq!(
        status,
        ImageStatus::Exists {
            digest: Some(docker)
        }
    );
    assert_eq!(
        check_image(IMAGE, "0000000", &opts).unwrap(),
        ImageStatus::NotFound
    );
    assert_eq!(
        check_image("quay.io/app-sre/no-such-repo", "abc1234", &opts).unwrap(),
        ImageStatus::NotFound
    );

    // The registry named directly by its loopback host, with an override for that host.
    let direct = format!("{}/{REPO}", reg.host);
    let direct_opts = RegistryOptions {
        overrides: vec![(reg.host.clone(), reg.url.clone())],
        ..opts.clone()
    };
    assert_eq!(
        check_image(&direct, "abc1234", &direct_opts).unwrap(),
        ImageStatus::Exists { digest: Some(oci) }
    );
    // Without the override the check speaks TLS to a plain-http server: an error, not NotFound.
    let err = check_image(&direct, "abc1234", &opts).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            RegistryErrorKind::Tls | RegistryErrorKind::Protocol
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!("{direct}:abc1234")),
        "{err}"
    );
}

#[test]
fn digest_of_each_tag_is_the_pushed_manifests() {
    let reg = start_registry(false);
    let old = push_image(&reg.url, REPO, "abc1234", None);
    let new = push_image(&reg.url, REPO, "def5678", None);
    assert_ne!(old, new, "two tags, two manifests");
    let opts = opts(&reg.url, vec![]);
    assert_eq!(
        digest(IMAGE, "abc1234", &opts).unwrap(),
        old,
        "{}",
        reg.log()
    );
    assert_eq!(digest(IMAGE, "def5678", &opts).unwrap(), new);

    // A tag the registry lacks: refused, naming the reference.
    let err = digest(IMAGE, "0000000", &opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert_eq!(
        err.to_string(),
        "quay.io/app-sre/qontract-reconcile:0000000 not found: its digest cannot be known"
    );
}

#[test]
fn digest_is_an_error_without_a_usable_docker_content_digest() {
    let manifest = "application/vnd.oci.image.manifest.v1+json";
    let fake = serve(move |req, _| {
        match req.path().rsplit('/').next().unwrap_or("") {
            // A manifest without the header.
            "nodigest" => FakeResponse::status(200).header("Content-Type", manifest),
            // A digest of another algorithm.
            "sha512" => FakeResponse::status(200)
                .header("Content-Type", manifest)
                .header("Docker-Content-Digest", "sha512:abcd"),
            _ => FakeResponse::status(503),
        }
    });
    let opts = RegistryOptions {
        retries: 0,
        ..opts(&fake.url, vec![])
    };
    let err = digest(IMAGE, "nodigest", &opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::External);
    assert_eq!(
        err.to_string(),
        "the registry of quay.io/app-sre/qontract-reconcile:nodigest answered without a \
         Docker-Content-Digest: its digest cannot be known"
    );
    let err = digest(IMAGE, "sha512", &opts).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the registry of quay.io/app-sre/qontract-reconcile:sha512 answered the digest \
         sha512:abcd, not sha256:<64 hex>"
    );
    // A registry that cannot be asked: the check's own error, naming the reference.
    let err = digest(IMAGE, "down", &opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::External);
    assert!(
        err.to_string()
            .starts_with("cannot check image quay.io/app-sre/qontract-reconcile:down: "),
        "{err}"
    );
}

#[test]
fn real_registry_with_basic_auth() {
    let reg = start_registry(true);
    let digest = push_image(&reg.url, REPO, "abc1234", reg.creds());
    let good = reg.write_auth_file("good.json", "https://quay.io", TEST_USER, TEST_PASSWORD);
    let missing = reg.dir().join("does-not-exist.json");

    let opts_good = opts(&reg.url, vec![missing.clone(), good]);
    assert_eq!(
        check_image(IMAGE, "abc1234", &opts_good).unwrap(),
        ImageStatus::Exists {
            digest: Some(digest)
        },
        "{}",
        reg.log()
    );
    assert_eq!(
        check_image(IMAGE, "0000000", &opts_good).unwrap(),
        ImageStatus::NotFound
    );

    // Wrong password: a clear authentication error that names host, user and file, not secrets.
    let wrong_password = "Wr0ng-pa55word-for-the-test";
    let wrong = reg.write_auth_file("wrong.json", "quay.io", TEST_USER, wrong_password);
    let err = check_image(IMAGE, "abc1234", &opts(&reg.url, vec![wrong.clone()])).unwrap_err();
    assert_eq!(err.kind(), RegistryErrorKind::Auth, "{err}");
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("cannot check image {IMAGE}:abc1234: ")),
        "{shown}"
    );
    assert!(
        shown.contains("authentication failed at quay.io"),
        "{shown}"
    );
    assert!(
        shown.contains(TEST_USER) && shown.contains(&wrong.display().to_string()),
        "{shown}"
    );
    assert_clean(
        &err,
        &[
            wrong_password,
            TEST_PASSWORD,
            &b64(&format!("{TEST_USER}:{wrong_password}")),
        ],
    );

    // No credentials for the host: says they are missing, and where it looked.
    let other = reg.write_auth_file("other.json", "ghcr.io", TEST_USER, TEST_PASSWORD);
    let err = check_image(IMAGE, "abc1234", &opts(&reg.url, vec![other.clone()])).unwrap_err();
    assert_eq!(err.kind(), RegistryErrorKind::Auth, "{err}");
    let shown = err.to_string();
    assert!(
        shown.contains("no credentials") && shown.contains("quay.io"),
        "{shown}"
    );
    assert!(shown.contains(&other.display().to_string()), "{shown}");
    assert_clean(
        &err,
        &[TEST_PASSWORD, &b64(&format!("{TEST_USER}:{TEST_PASSWORD}"))],
    );
}

#[test]
fn stopped_registry_is_a_connection_error() {
    let mut reg = start_registry(false);
    push_image(&reg.url, REPO, "abc1234", None);
    let opts = opts(&reg.url, vec![]);
    assert!(matches!(
        check_image(IMAGE, "abc1234", &opts),
        Ok(ImageStatus::Exists { .. })
    ));

    reg.stop();
    let err = check_image(IMAGE, "abc1234", &opts).unwrap_err();
    assert_eq!(err.kind(), RegistryErrorKind::Connect, "{err}");
    assert!(err.to_string().contains("connection refused"), "{err}");
    assert!(err.to_string().contains(&reg.host), "{err}");
}

/// A fake registry behind a Bearer token endpoint at `/token`: the token endpoint wants
/// `basic` (when given) and hands out `token`; manifests exist for tag `abc1234` only.
fn bearer_registry(
    basic: Option<String>,
    token_key: &'static str,
    token: &'static str,
    registry_accepts: &'static str,
) -> crate::support::fake_registry::FakeServer {
    serve(move |req, url| {
        if req.path() == "/token" {
            if basic.is_some() && req.header("authorization") != basic.as_deref() {
                return FakeResponse::status(401)
                    .json(r#"{"details":"incorrect username or password"}"#);
            }
            return FakeResponse::status(200).json(&format!(r#"{{"{token_key}":"{token}"}}"#));
        }
        if req.header("authorization") != Some(&format!("Bearer {registry_accepts}")) {
            let challenge = format!(
                r#"Bearer realm="{url}/token",service="fake-registry",scope="repository:{REPO}:pull""#
            );
            return FakeResponse::status(401)
                .header("WWW-Authenticate", &challenge)
                .json(
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                );
        }
        if req.path() == format!("/v2/{REPO}/manifests/abc1234") {
            FakeResponse::status(200).header("Docker-Content-Digest", "sha256:feedbeef")
        } else {
            FakeResponse::status(404).json(r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#)
        }
    })
}

#[test]
fn bearer_token_anonymous() {
    let fake = bearer_registry(None, "token", "anon-token-123", "anon-token-123");
    let opts = opts(&fake.url, vec![]);
    assert_eq!(
        check_image(IMAGE, "abc1234", &opts).unwrap(),
        ImageStatus::Exists {
            digest: Some("sha256:feedbeef".into())
        }
    );
    assert_eq!(
        check_image(IMAGE, "missing", &opts).unwrap(),
        ImageStatus::NotFound
    );
    let requests = fake.requests();
    let token_req = requests.iter().find(|r| r.path() == "/token").unwrap();
    assert_eq!(token_req.method, "GET");
    assert_eq!(token_req.query("service").as_deref(), Some("fake-registry"));
    assert_eq!(
        token_req.query("scope"),
        Some(format!("repository:{REPO}:pull"))
    );
    assert_eq!(
        token_req.header("authorization"),
        None,
        "anonymous token request"
    );
    let head = requests.iter().find(|r| r.method == "HEAD").unwrap();
    let accept = head.header("accept").unwrap();
    for media in [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ] {
        assert!(accept.contains(media), "{accept}");
    }
}

#[test]
fn bearer_token_with_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let password = "B3arer-flow-pa55word";
    let basic = format!("Basic {}", b64(&format!("robot:{password}")));
    let fake = bearer_registry(
        Some(basic.clone()),
        "access_token",
        "secret-token-456",
        "secret-token-456",
    );
    let good = crate::support::registry_server::write_auth_file(
        &dir.path().join("auth.json"),
        "quay.io/app-sre",
        "robot",
        password,
    );
    let status = check_image(IMAGE, "abc1234", &opts(&fake.url, vec![good])).unwrap();
    assert_eq!(
        status,
        ImageStatus::Exists {
            digest: Some("sha256:feedbeef".into())
        }
    );
    let token_req = fake
        .requests()
        .into_iter()
        .find(|r| r.path() == "/token")
        .unwrap();
    assert_eq!(token_req.header("authorization"), Some(basic.as_str()));

    // Wrong password: the token endpoint refuses; the message says so without secrets.
    let wrong = crate::support::registry_server::write_auth_file(
        &dir.path().join("wrong.json"),
        "quay.io",
        "robot",
        "not-the-Pa55word",
    );
    let err = check_image(IMAGE, "abc1234", &opts(&fake.url, vec![wrong])).unwrap_err();
    assert_eq!(err.kind(), RegistryErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("token endpoint"), "{err}");
    assert!(err.to_string().contains("robot"), "{err}");
    assert_clean(
        &err,
        &[password, "not-the-Pa55word", &b64("robot:not-the-Pa55word")],
    );

    // No credentials at all: the anonymous token request is refused.
    let err = check_image(IMAGE, "abc1234", &opts(&fake.url, vec![])).unwrap_err();
    assert_eq!(err.kind(), RegistryErrorKind::Auth, "{err}");
    assert!(
        err.to_string().contains("no credentials for quay.io"),
        "{err}"
    );
}

#[test]
fn bearer_token_rejected_by_registry() {
    let fake = bearer_registry(None, "token", "useless-token-789", "another-token");
    let err = check_image(IMAGE, "abc1234", &opts(&fake.url, vec![])).unwrap_err();
    assert_eq!(err.kind(), RegistryErrorKind::Auth, "{err}");
    assert!(
        err.to_string()
            .contains("authentication failed at quay.io (HTTP 401)"),
        "{err}"
    );
    assert_clean(&err, &["useless-token-789"]);
}

#[test]
fn rate_limit_honours_retry_after() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let fake = serve(move |_, _| {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            FakeResponse::status(429).header("Retry-After", "1")
        } else {
            FakeResponse::status(200).header("Docker-Content-Digest", "sha256:0123")
        }
    });
    let start = Instant::now();
    let status = check_image(IMAGE, "abc1234", &opts(&fake.url, vec![])).unwrap();
    assert_eq!(
        status,
        ImageStatus::Exists {
            digest: Some("sha256:0123".into())
        }
    );
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let always = serve(|_, _| FakeResponse::status(429).header("Retry-After", "1"));
    let options = RegistryOptions {
        retries: 1,
        ..opts(&always.url, vec![])
    };
    let err = check_image(IMAGE, "abc1234", &options).unwrap_err();
    assert_eq!(err.kind(), RegistryErrorKind::RateLimited, "{err}");
    assert!(
        err.to_string().contains("HTTP 429") && err.to_string().contains("2 tries"),
        "{err}"
    );
    assert_eq!(always.requests().len(), 2);
}

#[test]
fn server_errors_are_retried_with_backoff() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let fake = serve(move |_, _| {
        if counter.fetch_add(1, Ordering::SeqCst) < 2 {
            FakeResponse::status(503)
        } else {
            FakeResponse::status(200).header("Docker-Content-Digest", "sha256:4567")
        }
    });
    let start = Instant::now();
    let status = check_image(IMAGE, "abc1234", &opts(&fake.url, vec![])).unwrap();
    assert_eq!(
        status,
        ImageStatus::Exists {
            digest: Some("sha256:4567".into())
        }
    );
    // Backoff 100 ms, then 200 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(290),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let always = serve(|_, _| FakeResponse::status(502));
    let err = check_image(IMAGE, "abc1234", &opts(&always.url, vec![])).unwrap_err();
    assert_eq!(err.kind(), RegistryErrorKind::Server, "{err}");
    assert!(
        err.to_string().contains("HTTP 502") && err.to_string().contains("3 tries"),
        "{err}"
    );
    assert_eq!(always.requests().len(), 3);
}

#[test]
fn odd_head_answer_falls_back_to_get() {
    let fake = serve(|req, _| match (req.method.as_str(), req.path()) {
        ("HEAD", _) => FakeResponse::status(405),
        ("GET", p) if p.ends_with("/manifests/abc1234") => FakeResponse::status(200)
            .header("Docker-Content-Digest", "sha256:89ab")
            .json("{}"),
        _ => FakeResponse::status(400).json(r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#),
    });
    let opts = opts(&fake.url, vec![]);
    assert_eq!(
        check_image(IMAGE, "abc1234", &opts).unwrap(),
        ImageStatus::Exists {
            digest: Some("sha256:89ab".into())
        }
    );
    assert_eq!(
        check_image(IMAGE, "missing", &opts).unwrap(),
        ImageStatus::NotFound
    );
}

#[test]
fn plain_http_only_for_loopback() {
    for url in [
        "http://192.0.2.10:5000",
        "http://quay.example.com",
        "http://127.0.0.1.nip.io",
    ] {
        let err = check_image(IMAGE, "abc1234", &opts(url, vec![])).unwrap_err();
        assert_eq!(err.kind(), RegistryErrorKind::Input, "{err}");
        assert!(err.to_string().contains("loopback"), "{err}");
    }
    // localhost is loopback.
    let fake = serve(|_, _| FakeResponse::status(404));
    let url = fake.url.replace("127.0.0.1", "localhost");
    assert_eq!(
        check_image(IMAGE, "abc1234", &opts(&url, vec![])).unwrap(),
        ImageStatus::NotFound
    );
}

#[test]
fn refused_connection_is_not_retried_into_not_found() {
    // A port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = check_image(
        IMAGE,
        "abc1234",
        &opts(&format!("http://127.0.0.1:{port}"), vec![]),
    )
    .unwrap_err();
    assert_eq!(err.kind(), RegistryErrorKind::Connect, "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot check image {}: connection refused by 127.0.0.1:{port}",
            image_ref(IMAGE, "abc1234")
        )
    );
}

#[test]
fn unresolvable_host_is_an_error() {
    // `.invalid` never resolves (RFC 6761); without any resolver the lookup may time out instead,
    // and behind a proxy (HTTPS_PROXY) the proxy is what answers.
    let opts = opts("https://registry.qr-promote.invalid", vec![]);
    let err = check_image(IMAGE, "abc1234", &opts).unwrap_err();
    let via_proxy = err.to_string().contains("through proxy");
    assert!(
        via_proxy
            || matches!(
                err.kind(),
                RegistryErrorKind::Dns | RegistryErrorKind::Timeout
            ),
        "{err}"
    );
    assert!(
        err.to_string().contains("registry.qr-promote.invalid"),
        "{err}"
    );
}
