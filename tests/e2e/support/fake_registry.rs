//! A tiny scripted HTTP/1.1 server on a loopback port, shaped like a registry (and its token
//! endpoint) for what a real registry cannot easily do in a test: Bearer tokens, 429, 5xx.
//!
//! Each connection carries one request (`Connection: close`); the handler sees the request and the
//! server's base URL and returns the response. Requests are recorded for assertions.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the fake server received it.
#[derive(Debug, Clone)]
pub struct FakeRequest {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request target, path and query (`/v2/a/b/manifests/t`, `/token?service=...`).
    pub target: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
}

impl FakeRequest {
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
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The response a handler returns.
#[derive(Debug, Clone)]
pub struct FakeResponse {
    /// The status code.
    pub status: u16,
    /// Extra headers (`Content-Length` and `Connection` are added).
    pub headers: Vec<(String, String)>,
    /// The body (not sent for `HEAD`; its length still is).
    pub body: String,
}

impl FakeResponse {
    /// A response with a status and no body.
    pub fn status(status: u16) -> Self {
        FakeResponse {
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

type Handler = dyn Fn(&FakeRequest, &str) -> FakeResponse + Send + Sync;

/// A running fake server; stopped on drop.
pub struct FakeServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub host: String,
    requests: Arc<Mutex<Vec<FakeRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// The requests received so far.
    pub fn requests(&self) -> Vec<FakeRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(&self.host);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serve `handler` on a free loopback port until the server is dropped.
pub fn serve(
    handler: impl Fn(&FakeRequest, &str) -> FakeResponse + Send + Sync + 'static,
) -> FakeServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let handler: Box<Handler> = Box::new(handler);
    let thread = {
        let (url, requests, stop) = (url.clone(), requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                answer(stream, &*handler, &url, &requests);
            }
        })
    };
    FakeServer {
        url,
        host: format!("127.0.0.1:{port}"),
        requests,
        stop,
        thread: Some(thread),
    }
}

/// Reads one request, records it, then answers it: a client that has its answer finds its
/// request in `requests`.
fn answer(
    stream: TcpStream,
    handler: &Handler,
    url: &str,
    requests: &Mutex<Vec<FakeRequest>>,
) -> Option<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
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
    let req = FakeRequest {
        method,
        target,
        headers,
    };
    let length: u64 = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut sink = Vec::new();
    reader.take(length).read_to_end(&mut sink).ok()?;
    requests.lock().unwrap().push(req.clone());
    let resp = handler(&req, url);
    let mut out = format!(
        "HTTP/1.1 {} Fake\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        resp.body.len()
    );
    for (k, v) in &resp.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    if req.method != "HEAD" {
        out.push_str(&resp.body);
    }
    let mut stream = stream;
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
    Some(())
}
