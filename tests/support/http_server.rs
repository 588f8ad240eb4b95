//! The one scripted HTTP/1.1 test server on a loopback port, under the registry, GitLab and
//! Kubernetes fakes.
//!
//! Every request is recorded before it is answered (a client that has its answer finds its
//! request in [`Server::requests`]); a handler sees the request and the server's base URL and
//! returns the [`Response`]. [`Script`] gives per-path answers that change from one request to
//! the next. A server answers one request per connection (`Connection: close`), or with
//! [`serve_keep_alive`] every request a connection carries. It stops on drop.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request target, path and query (`/v2/a/b/manifests/t`, `/token?service=...`).
    pub target: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes), as text.
    pub body: String,
}

impl Request {
    /// A header value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// A query parameter, percent-decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == key).then(|| percent_decode(v))
        })
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The answer to one request.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Extra headers (`Content-Length`, and `Connection` when the server closes, are added).
    pub headers: Vec<(String, String)>,
    /// The body (not sent for `HEAD`; its length still is).
    pub body: String,
}

impl Response {
    /// A response with a status and no body.
    pub fn status(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Set a JSON body (and its content type).
    pub fn json(mut self, body: &str) -> Self {
        self.headers
            .push(("Content-Type".into(), "application/json".into()));
        self.body = body.to_string();
        self
    }
}

/// Per path (without query), the answers still to give: each request takes the first; the last
/// one answers every request after it (a value that changes between two polls).
#[derive(Clone, Default)]
pub struct Script(Arc<Mutex<HashMap<String, VecDeque<Response>>>>);

impl Script {
    /// Answers the requests for `path` with `answers` in turn.
    pub fn set(&self, path: &str, answers: Vec<Response>) {
        assert!(!answers.is_empty(), "{path}: no answer");
        self.0
            .lock()
            .unwrap()
            .insert(path.to_string(), answers.into());
    }

    /// The next answer for the request's path, if the script has one.
    pub fn answer(&self, req: &Request) -> Option<Response> {
        let mut routes = self.0.lock().unwrap();
        let answers = routes.get_mut(req.path())?;
        if answers.len() > 1 {
            answers.pop_front()
        } else {
            answers.front().cloned()
        }
    }
}

type Handler = dyn Fn(&Request, &str) -> Response + Send + Sync;

/// A running server; stopped on drop.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// `PORT`.
    pub port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// The requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(&self.host);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves `handler`, one request per connection, until the server is dropped.
pub fn serve(handler: impl Fn(&Request, &str) -> Response + Send + Sync + 'static) -> Server {
    start(false, Box::new(handler))
}

/// Serves `handler`, every request of a connection (HTTP keep-alive), until dropped.
pub fn serve_keep_alive(
    handler: impl Fn(&Request, &str) -> Response + Send + Sync + 'static,
) -> Server {
    start(true, Box::new(handler))
}

fn start(keep_alive: bool, handler: Box<Handler>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let handler: Arc<Handler> = Arc::from(handler);
    let thread = {
        let (url, requests, stop) = (url.clone(), requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                if keep_alive {
                    let (handler, url, requests) = (handler.clone(), url.clone(), requests.clone());
                    std::thread::spawn(move || {
                        connection(stream, true, &*handler, &url, &requests)
                    });
                } else {
                    connection(stream, false, &*handler, &url, &requests);
                }
            }
        })
    };
    Server {
        url,
        host: format!("127.0.0.1:{port}"),
        port,
        requests,
        stop,
        thread: Some(thread),
    }
}

/// Answers the requests of one connection: records each, then answers it.
fn connection(
    stream: TcpStream,
    keep_alive: bool,
    handler: &Handler,
    url: &str,
    requests: &Mutex<Vec<Request>>,
) -> Option<()> {
    if !keep_alive {
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    }
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut out = stream;
    loop {
        let req = read_request(&mut reader)?;
        requests.lock().unwrap().push(req.clone());
        let resp = handler(&req, url);
        let mut text = format!(
            "HTTP/1.1 {} {}\r\nContent-Length: {}\r\n",
            resp.status,
            reason(resp.status),
            resp.body.len()
        );
        if !keep_alive {
            text.push_str("Connection: close\r\n");
        }
        for (k, v) in &resp.headers {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str("\r\n");
        if req.method != "HEAD" {
            text.push_str(&resp.body);
        }
        out.write_all(text.as_bytes()).ok()?;
        out.flush().ok()?;
        if !keep_alive {
            return Some(());
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut req = Request {
        method,
        target,
        headers,
        body: String::new(),
    };
    let length: u64 = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    reader.take(length).read_to_end(&mut body).ok()?;
    req.body = String::from_utf8_lossy(&body).into_owned();
    Some(req)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Answer",
    }
}
