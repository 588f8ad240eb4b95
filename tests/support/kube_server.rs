//! A scripted Kubernetes API server for tests: plain HTTP/1.1 on 127.0.0.1, canned answers per path.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use super::http_server::{serve_keep_alive, Response, Script, Server};

/// One request the server saw: method, path (with query) and the Authorization header.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
}

/// The server; it stops on drop.
pub struct KubeServer {
    pub port: u16,
    script: Script,
    server: Server,
}

impl KubeServer {
    pub fn start() -> KubeServer {
        let script = Script::default();
        let server = {
            let script = script.clone();
            serve_keep_alive(move |req, _| {
                script
                    .answer(req)
                    .unwrap_or_else(|| Response::status(404).json(&not_found_status(req.path())))
            })
        };
        KubeServer {
            port: server.port,
            script,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Answers `path` (without query) with `status` and `body`.
    pub fn route(&self, path: &str, status: u16, body: &str) {
        self.route_sequence(path, vec![(status, body.to_string())]);
    }

    /// Answers the requests for `path` with `answers` in turn; the last one answers every request
    /// after it (a value that changes between two polls).
    pub fn route_sequence(&self, path: &str, answers: Vec<(u16, String)>) {
        let answers = answers
            .into_iter()
            .map(|(status, body)| Response::status(status).json(&body))
            .collect();
        self.script.set(path, answers);
    }

    /// Answers `path` with 200 and the fixture `tests/fixtures/verify/<name>`.
    pub fn route_fixture(&self, path: &str, name: &str) {
        self.route(path, 200, &verify_fixture(name));
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.server
            .requests()
            .into_iter()
            .map(|r| Seen {
                authorization: r.header("authorization").map(str::to_string),
                method: r.method,
                path: r.target,
            })
            .collect()
    }

    /// Writes a kubeconfig into `dir`: context `fake` (current) points at this server with a
    /// token, context `dead` at a closed port.
    pub fn write_kubeconfig(&self, dir: &Path, token: &str) -> PathBuf {
        let dead = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let text = format!(
            "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
- name: dead
  cluster:
    server: http://127.0.0.1:{dead}
users:
- name: dev
  user:
    token: {token}
contexts:
- name: fake
  context:
    cluster: fake
    user: dev
- name: dead
  context:
    cluster: dead
    user: dev
current-context: fake
",
            url = self.url()
        );
        let path = dir.join("kubeconfig.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// The text of `tests/fixtures/verify/<name>`.
pub fn verify_fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/verify")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn not_found_status(path: &str) -> String {
    format!(
        r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"the server could not find the requested resource {path}","reason":"NotFound","code":404}}"#
    )
}
