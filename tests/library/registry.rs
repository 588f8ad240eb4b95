//! Image checks against a real registry (`docker-registry`), and against a scripted fake one for
//! Bearer tokens, rate limits and server errors; credentials from auth files in podman's order and
//! from credential helpers (shell scripts the tests write).

use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use qr_promote::error::ErrorKind;
use qr_promote::registry::{
    check_image, digest, image_ref, AuthEnv, ImageStatus, RegistryError, RegistryErrorKind,
    RegistryOptions,
};

use crate::support::fake_registry::{serve, FakeResponse};
use crate::support::registry_server::{
    push_image, push_image_as, start_registry, ManifestFormat, TEST_PASSWORD, TEST_USER,
};
use crate::support::write_script;

const IMAGE: &str = "quay.io/app-sre/qontract-reconcile";
const REPO: &str = "app-sre/qontract-reconcile";

/// Options that send `quay.io` to `url`, with no auth file unless given.
fn opts(url: &str, auth_files: Vec<PathBuf>) -> RegistryOptions {
    RegistryOptions {
        overrides: vec![("quay.io".into(), url.into())],
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        auth_files,
        helper_dirs: vec![],
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

// Credential helpers and the order of the auth files.

/// A credential helper `docker-credential-NAME` in `dir`, answering `get` for `host` with `user`
/// and `secret` and "credentials not found" for any other server. It records the server it was
/// asked for in `dir/NAME.asked`.
fn write_helper(dir: &Path, name: &str, host: &str, user: &str, secret: &str) {
    write_script(
        &dir.join(format!("docker-credential-{name}")),
        &format!(
            r#"#!/bin/sh
[ "$1" = get ] || {{ echo "unexpected action $1" >&2; exit 2; }}
server=$(cat)
printf '%s' "$server" > "$(dirname "$0")/{name}.asked"
if [ "$server" = '{host}' ]; then
  printf '{{"ServerURL":"%s","Username":"%s","Secret":"%s"}}\n' "$server" '{user}' '{secret}'
else
  echo 'credentials not found in native keychain'
  exit 1
fi
"#
        ),
    );
}

/// What helper `name` in `dir` was asked for.
fn asked(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.asked"))).unwrap_or_default()
}

/// Options that send `quay.io` to `url`, reading `auth_files` and finding helpers in `bin`.
fn helper_opts(url: &str, auth_files: Vec<PathBuf>, bin: &Path) -> RegistryOptions {
    RegistryOptions {
        helper_dirs: vec![bin.join("not-there"), bin.to_path_buf()],
        ..opts(url, auth_files)
    }
}

fn write_json(path: &Path, json: serde_json::Value) -> PathBuf {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    path.to_path_buf()
}

#[test]
fn credential_helper_named_by_cred_helpers() {
    let reg = start_registry(true);
    let digest = push_image(&reg.url, REPO, "abc1234", reg.creds());
    let bin = tempfile::tempdir().unwrap();
    write_helper(
        bin.path(),
        "testhelper",
        "quay.io",
        TEST_USER,
        TEST_PASSWORD,
    );
    let config = write_json(
        &reg.dir().join("docker/config.json"),
        serde_json::json!({
            "auths": { "quay.io": {} },
            "credHelpers": { "ghcr.io": "other", "quay.io": "testhelper" },
        }),
    );
    let opts = helper_opts(&reg.url, vec![config.clone()], bin.path());
    assert_eq!(
        check_image(IMAGE, "abc1234", &opts).unwrap(),
        ImageStatus::Exists {
            digest: Some(digest)
        },
        "{}",
        reg.log()
    );
    assert_eq!(asked(bin.path(), "testhelper"), "quay.io");
    assert_eq!(
        check_image(IMAGE, "0000000", &opts).unwrap(),
        ImageStatus::NotFound
    );

    // A helper answering a wrong password: the message names the helper and the file.
    let wrong_password = "Wr0ng-helper-pa55word";
    write_helper(bin.path(), "wrong", "quay.io", TEST_USER, wrong_password);
    let config = write_json(
        &reg.dir().join("wrong/config.json"),
        serde_json::json!({ "credHelpers": { "quay.io": "wrong" } }),
    );
    let err = check_image(
        IMAGE,
        "abc1234",
        &helper_opts(&reg.url, vec![config.clone()], bin.path()),
    )
    .unwrap_err();
    assert_eq!(err.kind(), RegistryErrorKind::Auth, "{err}");
    assert!(
        err.to_string().contains(&format!(
            "authentication failed at quay.io (HTTP 401) using credentials of user `{TEST_USER}` \
             for quay.io from docker-credential-wrong (credHelpers in {})",
            config.display()
        )),
        "{err}"
    );
    assert_clean(
        &err,
        &[
            wrong_password,
            TEST_PASSWORD,
            &b64(&format!("{TEST_USER}:{wrong_password}")),
        ],
    );
}

#[test]
fn credential_helper_named_by_creds_store() {
    let reg = start_registry(true);
    let digest = push_image(&reg.url, REPO, "abc1234", reg.creds());
    let bin = tempfile::tempdir().unwrap();
    write_helper(
        bin.path(),
        "testhelper",
        "quay.io",
        TEST_USER,
        TEST_PASSWORD,
    );
    // Docker writes an empty `auths` entry next to its `credsStore`: it is no credential.
    let config = write_json(
        &reg.dir().join("config.json"),
        serde_json::json!({ "auths": { "https://quay.io": {} }, "credsStore": "testhelper" }),
    );
    let opts = helper_opts(&reg.url, vec![config], bin.path());
    assert_eq!(
        check_image(IMAGE, "abc1234", &opts).unwrap(),
        ImageStatus::Exists {
            digest: Some(digest)
        },
        "{}",
        reg.log()
    );
    assert_eq!(asked(bin.path(), "testhelper"), "quay.io");
}

#[test]
fn helper_without_credentials_falls_through_to_a_later_file() {
    let reg = start_registry(true);
    let digest = push_image(&reg.url, REPO, "abc1234", reg.creds());
    let bin = tempfile::tempdir().unwrap();
    // Knows only ghcr.io: "credentials not found in native keychain" for quay.io.
    write_helper(bin.path(), "empty", "ghcr.io", "nobody", "N0t-this-one");
    let first = write_json(
        &reg.dir().join("run/containers/auth.json"),
        serde_json::json!({ "credHelpers": { "quay.io": "empty" } }),
    );
    let second = write_json(
        &reg.dir().join("home/.docker/config.json"),
        serde_json::json!({ "credsStore": "empty" }),
    );
    let third = reg.write_auth_file("auth.json", "quay.io", TEST_USER, TEST_PASSWORD);
    let files = vec![first.clone(), second.clone(), third];
    let opts = helper_opts(&reg.url, files.clone(), bin.path());
    assert_eq!(
        check_image(IMAGE, "abc1234", &opts).unwrap(),
        ImageStatus::Exists {
            digest: Some(digest)
        },
        "{}",
        reg.log()
    );
    assert_eq!(asked(bin.path(), "empty"), "quay.io");

    // Without the third file: no credentials, and the message says which helpers had none.
    let opts = helper_opts(&reg.url, files[..2].to_vec(), bin.path());
    let err = check_image(IMAGE, "abc1234", &opts).unwrap_err();
    assert_eq!(err.kind(), RegistryErrorKind::Auth, "{err}");
    assert!(
        err.to_string().contains(&format!(
            "no credentials were sent; none for quay.io in the auth files ({}, {}; credential \
             helpers without them: docker-credential-empty (credHelpers in {}), \
             docker-credential-empty (credsStore in {}))",
            first.display(),
            second.display(),
            first.display(),
            second.display()
        )),
        "{err}"
    );
    assert_clean(&err, &["N0t-this-one"]);
}

#[test]
fn missing_helper_is_a_clear_error() {
    let reg = start_registry(true);
    push_image(&reg.url, REPO, "abc1234", reg.creds());
    let bin = tempfile::tempdir().unwrap();
    let later = reg.write_auth_file("later.json", "quay.io", TEST_USER, TEST_PASSWORD);
    for (json, remedy) in [
        (
            serde_json::json!({ "credHelpers": { "quay.io": "absent" } }),
            "remove its `credHelpers` entry for quay.io from",
        ),
        (
            serde_json::json!({ "credsStore": "absent" }),
            "remove its `credsStore` from",
        ),
    ] {
        let config = write_json(&reg.dir().join("config.json"), json);
        let opts = helper_opts(&reg.url, vec![config.clone(), later.clone()], bin.path());
        let err = check_image(IMAGE, "abc1234", &opts).unwrap_err();
        assert_eq!(err.kind(), RegistryErrorKind::Auth, "{err}");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!(
                "cannot check image {IMAGE}:abc1234: credential helper "
            )),
            "{shown}"
        );
        assert!(
            shown.contains("docker-credential-absent")
                && shown
                    .contains("is not installed: no executable docker-credential-absent on PATH")
                && shown.contains(&format!("install it, or {remedy} {}", config.display())),
            "{shown}"
        );
        assert_clean(&err, &[TEST_PASSWORD]);
    }
}

#[test]
fn failing_helper_errors_hide_its_output() {
    let reg = start_registry(true);
    push_image(&reg.url, REPO, "abc1234", reg.creds());
    let bin = tempfile::tempdir().unwrap();
    let leaked = "L3aked-secret-of-the-helper";
    for (name, script, what) in [
        (
            "failing",
            format!("#!/bin/sh\necho 'error: {leaked}'\necho '{leaked}' >&2\nexit 3\n"),
            "failed with exit status 3 (its output is not shown: it may hold a secret)",
        ),
        (
            "garbled",
            format!("#!/bin/sh\ncat >/dev/null\necho 'Username={TEST_USER} Secret={leaked}'\n"),
            "answered something other than its JSON credentials (not shown: it may hold a secret)",
        ),
        (
            "nosecret",
            format!("#!/bin/sh\ncat >/dev/null\necho '{{\"Username\":\"{TEST_USER}\"}}'\n"),
            "answered without a `Secret`",
        ),
    ] {
        write_script(
            &bin.path().join(format!("docker-credential-{name}")),
            &script,
        );
        let config = write_json(
            &reg.dir().join(format!("{name}.json")),
            serde_json::json!({ "credHelpers": { "quay.io": name } }),
        );
        let opts = helper_opts(&reg.url, vec![config.clone()], bin.path());
        let err = check_image(IMAGE, "abc1234", &opts).unwrap_err();
        assert_eq!(err.kind(), RegistryErrorKind::Auth, "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "cannot check image {IMAGE}:abc1234: credential helper docker-credential-{name} \
                 (credHelpers in {}), asked for quay.io, {what}",
                config.display()
            )
        );
        assert_clean(&err, &[leaked, TEST_PASSWORD]);
    }
}

/// A home folder with podman's and Docker's files, each holding `quay.io` credentials whose
/// password says which file it is in; `good` is the file with the registry's real password.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The environment: `$HOME` here, `$XDG_RUNTIME_DIR` at `run/`, the other variables unset.
    fn env(&self) -> AuthEnv {
        AuthEnv {
            xdg_runtime_dir: Some(self.path("run")),
            home: Some(self.dir.path().to_path_buf()),
            ..AuthEnv::default()
        }
    }

    /// Write `quay.io` credentials in `rel`: the real password when `good`, else a wrong one.
    fn write(&self, rel: &str, good: bool) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let password = if good { TEST_PASSWORD } else { WRONG };
        crate::support::registry_server::write_auth_file(&path, "quay.io", TEST_USER, password)
    }
}

const WRONG: &str = "Wr0ng-pa55word-of-a-lower-file";

#[test]
fn auth_json_in_xdg_config_home_wins_over_docker_config() {
    let reg = start_registry(true);
    let digest = push_image(&reg.url, REPO, "abc1234", reg.creds());
    let exists = ImageStatus::Exists {
        digest: Some(digest),
    };
    let home = Home::new();
    let check = |env: &AuthEnv| check_image(IMAGE, "abc1234", &opts(&reg.url, env.auth_files()));

    home.write(".config/containers/auth.json", true);
    home.write(".docker/config.json", false);
    assert_eq!(check(&home.env()).unwrap(), exists, "{}", reg.log());

    // The other way round: the auth.json's wrong password is used, and named.
    let config_auth = home.write(".config/containers/auth.json", false);
    home.write(".docker/config.json", true);
    let err = check(&home.env()).unwrap_err();
    assert_eq!(err.kind(), RegistryErrorKind::Auth, "{err}");
    assert!(
        err.to_string().contains(&config_auth.display().to_string()),
        "{err}"
    );
    assert_clean(&err, &[WRONG, TEST_PASSWORD]);

    // `$XDG_CONFIG_HOME` moves the auth.json; `$DOCKER_CONFIG` moves config.json.
    let env = AuthEnv {
        xdg_config_home: Some(home.path("xdg")),
        docker_config: Some(home.path("dockercfg")),
        ..home.env()
    };
    home.write("xdg/containers/auth.json", true);
    home.write("dockercfg/config.json", false);
    assert_eq!(check(&env).unwrap(), exists);
    home.write("xdg/containers/auth.json", false);
    home.write("dockercfg/config.json", true);
    assert!(check(&env).is_err());
    std::fs::remove_file(home.path("xdg/containers/auth.json")).unwrap();
    assert_eq!(check(&env).unwrap(), exists);
}

#[test]
fn registry_auth_file_wins_over_both() {
    let reg = start_registry(true);
    let digest = push_image(&reg.url, REPO, "abc1234", reg.creds());
    let exists = ImageStatus::Exists {
        digest: Some(digest),
    };
    let home = Home::new();
    let check = |env: &AuthEnv| check_image(IMAGE, "abc1234", &opts(&reg.url, env.auth_files()));
    let env = AuthEnv {
        registry_auth_file: Some(home.path("ci/auth.json")),
        ..home.env()
    };
    assert_eq!(
        env.auth_files(),
        [
            home.path("ci/auth.json"),
            home.path("run/containers/auth.json"),
            home.path(".config/containers/auth.json"),
            home.path(".docker/config.json"),
            home.path(".dockercfg"),
        ]
    );

    home.write("ci/auth.json", true);
    home.write("run/containers/auth.json", false);
    home.write(".config/containers/auth.json", false);
    home.write(".docker/config.json", false);
    assert_eq!(check(&env).unwrap(), exists, "{}", reg.log());

    let ci = home.write("ci/auth.json", false);
    home.write("run/containers/auth.json", true);
    let err = check(&env).unwrap_err();
    assert!(err.to_string().contains(&ci.display().to_string()), "{err}");
    assert_clean(&err, &[WRONG, TEST_PASSWORD]);

    // Without REGISTRY_AUTH_FILE, podman's runtime auth.json comes first.
    assert_eq!(check(&home.env()).unwrap(), exists);
}

#[test]
fn identity_token_from_a_helper() {
    let bin = tempfile::tempdir().unwrap();
    let identity = "Id3ntity-t0ken-from-the-helper";
    write_helper(bin.path(), "tokens", "quay.io", "<token>", identity);
    let config = write_json(
        &bin.path().join("config.json"),
        serde_json::json!({ "credsStore": "tokens" }),
    );

    // A token endpoint that takes the OAuth2 refresh token grant.
    let fake = serve(move |req, url| {
        if req.path() == "/token" {
            let grant =
                format!("grant_type=refresh_token&client_id=qr-promote&refresh_token={identity}");
            if req.method == "POST" && req.body.ends_with(&grant) {
                return FakeResponse::status(200).json(r#"{"access_token":"Acc3ss-token"}"#);
            }
            return FakeResponse::status(401).json(r#"{"details":"bad refresh token"}"#);
        }
        if req.header("authorization") != Some("Bearer Acc3ss-token") {
            let challenge = format!(
                r#"Bearer realm="{url}/token",service="fake-registry",scope="repository:{REPO}:pull""#
            );
            return FakeResponse::status(401).header("WWW-Authenticate", &challenge);
        }
        FakeResponse::status(200).header("Docker-Content-Digest", "sha256:70ce11")
    });
    let opts = helper_opts(&fake.url, vec![config.clone()], bin.path());
    assert_eq!(
        check_image(IMAGE, "abc1234", &opts).unwrap(),
        ImageStatus::Exists {
            digest: Some("sha256:70ce11".into())
        }
    );
    let token_req = fake
        .requests()
        .into_iter()
        .find(|r| r.path() == "/token")
        .unwrap();
    assert_eq!(
        token_req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(
        token_req.body.starts_with(&format!(
            "service=fake-registry&scope=repository%3A{}%3Apull&",
            REPO.replace('/', "%2F")
        )),
        "{}",
        token_req.body
    );
    assert_eq!(token_req.header("authorization"), None);

    // A registry that asks for Basic authentication cannot take an identity token.
    let reg = start_registry(true);
    let err = check_image(
        IMAGE,
        "abc1234",
        &helper_opts(&reg.url, vec![config.clone()], bin.path()),
    )
    .unwrap_err();
    assert_eq!(err.kind(), RegistryErrorKind::Auth, "{err}");
    assert!(
        err.to_string().contains(&format!(
            "quay.io asks for Basic authentication (HTTP 401), which an identity token for \
             quay.io from docker-credential-tokens (credsStore in {}) cannot give",
            config.display()
        )),
        "{err}"
    );
    assert_clean(&err, &[identity]);
}
