//! A real OCI registry for tests: Debian's `docker-registry` (the distribution server) on a free
//! loopback port, with or without htpasswd Basic authentication, and a small image pusher.
//!
//! Usage:
//! ```ignore
//! let reg = start_registry(true);
//! let digest = push_image(&reg.url, "app-sre/qontract-reconcile", "abc1234", reg.creds());
//! // ... RegistryOptions { overrides: vec![("quay.io".into(), reg.url.clone())], .. }
//! ```
//! Without the binary (or `htpasswd`, with auth) a test fails, naming the package to install.
//! `QR_TEST_REGISTRY_BIN` names another registry binary (same `serve CONFIG` interface); when it
//! names no file the registry counts as absent.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// The user of an authenticated test registry.
pub const TEST_USER: &str = "promoter";
/// The password of [`TEST_USER`].
pub const TEST_PASSWORD: &str = "Pa55-word-of-the-test-registry";

/// A running registry; stopped (killed) on drop.
pub struct RegistryServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    /// `127.0.0.1:PORT`, the registry host as an image name spells it.
    pub host: String,
    /// Whether htpasswd authentication is on (user [`TEST_USER`], password [`TEST_PASSWORD`]).
    pub auth: bool,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RegistryServer {
    /// The credentials to push with: `Some((TEST_USER, TEST_PASSWORD))` when auth is on.
    pub fn creds(&self) -> Option<(&'static str, &'static str)> {
        self.auth.then_some((TEST_USER, TEST_PASSWORD))
    }

    /// Kill the server and wait for it; the port then refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// A scratch folder that lives as long as the server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Write a container auth file (`{"auths": {KEY: {"auth": base64(user:password)}}}`) in the
    /// scratch folder and return its path.
    pub fn write_auth_file(
        &self,
        file_name: &str,
        key: &str,
        user: &str,
        password: &str,
    ) -> PathBuf {
        write_auth_file(&self.dir.path().join(file_name), key, user, password)
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Write an auth file at `path` with one entry and return the path.
pub fn write_auth_file(path: &Path, key: &str, user: &str, password: &str) -> PathBuf {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let json = serde_json::json!({ "auths": { key: { "auth": auth } } });
    fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    path.to_path_buf()
}

/// The registry binary: `$QR_TEST_REGISTRY_BIN`, `/usr/bin/docker-registry`, or `docker-registry`
/// or `registry` on `PATH`.
pub fn registry_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("QR_TEST_REGISTRY_BIN").filter(|v| !v.is_empty()) {
        // Set but missing: treated as absent (a way to exercise the skip path).
        let bin = PathBuf::from(bin);
        return bin.is_file().then_some(bin);
    }
    let fixed = Path::new("/usr/bin/docker-registry");
    if fixed.is_file() {
        return Some(fixed.to_path_buf());
    }
    find_on_path("docker-registry").or_else(|| find_on_path("registry"))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Start a registry on a free loopback port, with htpasswd Basic auth when `auth` (the registry
/// accepts Basic auth over plain http). Panics when it cannot start.
pub fn start_registry(auth: bool) -> RegistryServer {
    // A missing program fails the test: the real registry is part of what is tested.
    let bin = registry_binary()
        .expect("the docker-registry binary is not installed: apt-get install docker-registry");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    let htpasswd = dir.path().join("htpasswd");
    if auth {
        // bcrypt is the only hash the distribution registry accepts.
        let out = Command::new("htpasswd")
            .args(["-Bbn", TEST_USER, TEST_PASSWORD])
            .output()
            .expect("htpasswd (apt-get install apache2-utils)");
        assert!(
            out.status.success(),
            "htpasswd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::write(&htpasswd, &out.stdout).unwrap();
    }
    let log_path = dir.path().join("registry.log");
    let mut last_failure = String::new();
    // The registry cannot bind port 0: take a free port, release it, start; retry on a race.
    for _ in 0..5 {
        let port = free_port();
        let config = dir.path().join("config.yml");
        fs::write(
            &config,
            config_yaml(&data, port, auth.then_some(htpasswd.as_path())),
        )
        .unwrap();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let mut child = Command::new(&bin)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let url = format!("http://127.0.0.1:{port}");
        match wait_ready(&mut child, &url, auth) {
            Ok(()) => {
                return RegistryServer {
                    url,
                    port,
                    host: format!("127.0.0.1:{port}"),
                    auth,
                    child: Some(child),
                    dir,
                }
            }
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                last_failure = format!("{why}; log:\n{log}");
            }
        }
    }
    panic!("the registry did not start: {last_failure}");
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn config_yaml(data: &Path, port: u16, htpasswd: Option<&Path>) -> String {
    let mut yaml = format!(
        "version: 0.1\n\
         log:\n  level: info\n\
         storage:\n  filesystem:\n    rootdirectory: \"{}\"\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: qr-promote-test-secret\n\
         health:\n  storagedriver:\n    enabled: false\n",
        data.display()
    );
    if let Some(path) = htpasswd {
        yaml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: qr-promote-test\n    path: \"{}\"\n",
            path.display()
        ));
    }
    yaml
}

/// Poll `GET /v2/` until the server answers (200, or 401 with auth), for up to 15 s.
fn wait_ready(child: &mut Child, url: &str, auth: bool) -> Result<(), String> {
    let agent = agent();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("the registry exited with {status}"));
        }
        if let Ok(resp) = agent.get(format!("{url}/v2/")).call() {
            let status = resp.status().as_u16();
            if status == 200 || (auth && status == 401) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err("the registry did not answer /v2/ within 15 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A plain test HTTP client: no proxy, statuses are not errors.
fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(10)))
            .build(),
    )
}

/// The manifest format [`push_image_as`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    /// `application/vnd.oci.image.manifest.v1+json`.
    Oci,
    /// `application/vnd.docker.distribution.manifest.v2+json`.
    DockerV2,
}

/// Push a small OCI image (config + one layer, both unique to `name:tag`) and return the
/// manifest digest the registry returned.
pub fn push_image(url: &str, name: &str, tag: &str, creds: Option<(&str, &str)>) -> String {
    push_image_as(url, name, tag, creds, ManifestFormat::Oci)
}

/// Push a small image with the given manifest format; returns the manifest digest.
pub fn push_image_as(
    url: &str,
    name: &str,
    tag: &str,
    creds: Option<(&str, &str)>,
    format: ManifestFormat,
) -> String {
    let agent = agent();
    let auth = creds.map(|(user, password)| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    });
    let layer = format!("qr-promote test layer for {name}:{tag}\n").into_bytes();
    let layer_digest = upload_blob(&agent, url, name, &layer, auth.as_deref());
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Labels": { "qr-promote.test": format!("{name}:{tag}") } },
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    }))
    .unwrap();
    let config_digest = upload_blob(&agent, url, name, &config, auth.as_deref());
    let (manifest_type, config_type, layer_type) = match format {
        ManifestFormat::Oci => (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        ManifestFormat::DockerV2 => (
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
    };
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": { "mediaType": config_type, "digest": config_digest, "size": config.len() },
        "layers": [ { "mediaType": layer_type, "digest": layer_digest, "size": layer.len() } ],
    }))
    .unwrap();
    let mut req = agent
        .put(format!("{url}/v2/{name}/manifests/{tag}"))
        .header("Content-Type", manifest_type);
    if let Some(a) = auth.as_deref() {
        req = req.header("Authorization", a);
    }
    let mut resp = req.send(&manifest[..]).unwrap();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 201, "manifest PUT {name}:{tag}: {body}");
    let digest = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .expect("Docker-Content-Digest on manifest PUT")
        .to_string();
    assert_eq!(
        digest,
        sha256_digest(&manifest),
        "the registry's digest is the manifest's sha256"
    );
    digest
}

/// `sha256:<hex>` of bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Monolithic upload: `POST /v2/<name>/blobs/uploads/`, then `PUT <location>?digest=...`.
fn upload_blob(
    agent: &ureq::Agent,
    url: &str,
    name: &str,
    bytes: &[u8],
    auth: Option<&str>,
) -> String {
    let digest = sha256_digest(bytes);
    let mut req = agent.post(format!("{url}/v2/{name}/blobs/uploads/"));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let mut resp = req.send_empty().unwrap();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 202, "blob upload POST for {name}: {body}");
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location on upload POST")
        .to_string();
    let location = if location.starts_with("http") {
        location
    } else {
        format!("{url}{location}")
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let mut req = agent
        .put(format!("{location}{sep}digest={digest}"))
        .header("Content-Type", "application/octet-stream");
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let mut resp = req.send(bytes).unwrap();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 201, "blob upload PUT for {name}: {body}");
    digest
}
