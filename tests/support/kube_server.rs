//! A scripted Kubernetes API server for tests: plain HTTP/1.1 on 127.0.0.1, canned answers per path.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::http_server::{serve_keep_alive, Request, Response, Script, Server};

/// A pod the server lists and whose log it serves: its JSON (an item of a PodList) and its log
/// lines of container `int`, each with its time (seconds since the epoch).
#[derive(Debug, Clone)]
pub struct FakePod {
    pub namespace: String,
    pub name: String,
    pub json: String,
    pub log: Vec<(i64, String)>,
}

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
        KubeServer::with_pods(Vec::new())
    }

    /// A server that also lists `pods` and serves their logs as the API does: pages of at most
    /// `limit` (and 4) pods with a `continue` token, only the label selector `component=qontract-reconcile`;
    /// logs of container `int` only, from `sinceTime`, stamped with `timestamps=true`, cut at
    /// `limitBytes`. Scripted routes answer first (errors for a path).
    pub fn with_pods(pods: Vec<FakePod>) -> KubeServer {
        let script = Script::default();
        let pods = Arc::new(pods);
        let server = {
            let script = script.clone();
            serve_keep_alive(move |req, _| {
                script
                    .answer(req)
                    .or_else(|| serve_pods(&pods, req))
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

    /// Writes a kubeconfig into `dir`: context `fake` (current) and the contexts named like the
    /// example's two clusters (`appint-prod-01`, `appint-stage-01`) point at this server with a
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
- name: appint-prod-01
  context:
    cluster: fake
    user: dev
- name: appint-stage-01
  context:
    cluster: fake
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

/// Writes a kubeconfig into `dir` with one context per `(name, server)`, each named like its
/// cluster, the first one current; every user has `token`.
pub fn write_kubeconfig_contexts(dir: &Path, token: &str, contexts: &[(&str, &str)]) -> PathBuf {
    let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (name, server) in contexts {
        text.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {server}\n"
        ));
    }
    text.push_str(&format!(
        "users:\n- name: dev\n  user:\n    token: {token}\ncontexts:\n"
    ));
    for (name, _) in contexts {
        text.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: dev\n"
        ));
    }
    text.push_str(&format!("current-context: {}\n", contexts[0].0));
    let path = dir.join("kubeconfig.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn rfc3339(t: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64),
    )
    .to_string()
}

/// Pod lists and logs, as the API answers them; `None` for other paths.
fn serve_pods(pods: &[FakePod], req: &Request) -> Option<Response> {
    let path = req.path();
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let (ns, rest) = rest.split_once('/')?;
    if rest == "pods" {
        if req.query("labelSelector").as_deref() != Some("component=qontract-reconcile") {
            return Some(Response::status(400).json(&status_json(
                400,
                "BadRequest",
                "unexpected label selector",
            )));
        }
        let mine: Vec<&FakePod> = pods.iter().filter(|p| p.namespace == ns).collect();
        let from: usize = req.query("continue").map_or(0, |c| c.parse().unwrap());
        // Like a real API server, a page may hold fewer than `limit` pods: at most 4 here, so
        // that every list of more is paged.
        let limit: usize = req
            .query("limit")
            .map_or(mine.len().max(1), |l| l.parse().unwrap())
            .min(4);
        let page: Vec<&str> = mine
            .iter()
            .skip(from)
            .take(limit)
            .map(|p| p.json.as_str())
            .collect();
        let next = if from + limit < mine.len() {
            format!(r#","continue":"{}""#, from + limit)
        } else {
            String::new()
        };
        return Some(Response::status(200).json(&format!(
            r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{"resourceVersion":"1"{next}}},"items":[{}]}}"#,
            page.join(",")
        )));
    }
    let (name, tail) = rest.strip_prefix("pods/")?.split_once('/')?;
    if tail != "log" {
        return None;
    }
    let Some(pod) = pods.iter().find(|p| p.namespace == ns && p.name == name) else {
        return Some(Response::status(404).json(&status_json(
            404,
            "NotFound",
            &format!("pods \"{name}\" not found"),
        )));
    };
    if req.query("container").as_deref() != Some("int") {
        return Some(Response::status(400).json(&status_json(
            400,
            "BadRequest",
            "a container name must be specified",
        )));
    }
    let since = req.query("sinceTime").map(|t| {
        humantime::parse_rfc3339(&t)
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    });
    let stamped = req.query("timestamps").as_deref() == Some("true");
    let mut body = String::new();
    for (t, line) in &pod.log {
        if since.is_some_and(|s| *t < s) {
            continue;
        }
        if stamped {
            body.push_str(&rfc3339(*t));
            body.push(' ');
        }
        body.push_str(line);
        body.push('\n');
    }
    if let Some(limit) = req.query("limitBytes").map(|l| l.parse::<usize>().unwrap()) {
        body.truncate(limit.min(body.len()));
    }
    Some(Response {
        status: 200,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body,
    })
}

fn status_json(code: u16, reason: &str, message: &str) -> String {
    format!(
        r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"{message}","reason":"{reason}","code":{code}}}"#
    )
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
