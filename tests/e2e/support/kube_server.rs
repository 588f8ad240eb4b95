//! A scripted Kubernetes API server for tests: plain HTTP/1.1 on 127.0.0.1, canned answers per path.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One request the server saw: method, path (with query) and the Authorization header.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
}

/// Per path, the answers still to give: each request takes the first; the last one stays.
type Routes = Arc<Mutex<HashMap<String, VecDeque<(u16, String)>>>>;

/// The server; it stops accepting when the test process ends.
pub struct KubeServer {
    pub port: u16,
    routes: Routes,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl KubeServer {
    pub fn start() -> KubeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Routes = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (r, s) = (routes.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (r, s) = (r.clone(), s.clone());
                std::thread::spawn(move || serve(stream, &r, &s));
            }
        });
        KubeServer { port, routes, seen }
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
        assert!(!answers.is_empty(), "{path}: no answer");
        self.routes
            .lock()
            .unwrap()
            .insert(path.to_string(), answers.into());
    }

    /// Answers `path` with 200 and the fixture `tests/fixtures/verify/<name>`.
    pub fn route_fixture(&self, path: &str, name: &str) {
        self.route(path, 200, &verify_fixture(name));
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
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

fn serve(stream: TcpStream, routes: &Routes, seen: &Arc<Mutex<Vec<Seen>>>) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut authorization = None;
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "authorization" {
                    authorization = Some(v.trim().to_string());
                } else if k == "content-length" {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        if length > 0 {
            let mut body = vec![0; length];
            if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
                return;
            }
        }
        seen.lock().unwrap().push(Seen {
            method: method.clone(),
            path: target.clone(),
            authorization,
        });
        let path = target.split('?').next().unwrap_or("").to_string();
        let (status, body) = {
            let mut routes = routes.lock().unwrap();
            match routes.get_mut(&path) {
                Some(answers) if answers.len() > 1 => answers.pop_front().unwrap(),
                Some(answers) => answers.front().cloned().unwrap(),
                None => (404, not_found_status(&path)),
            }
        };
        let reason = match status {
            200 => "OK",
            403 => "Forbidden",
            404 => "Not Found",
            500 => "Internal Server Error",
            _ => "Error",
        };
        let resp = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if out.write_all(resp.as_bytes()).is_err() || out.flush().is_err() {
            return;
        }
    }
}
