//! The pods of stage's namespaces and their logs, through the Kubernetes API of one cluster:
//! pods listed by label in pages, each log asked from its container's start with timestamps,
//! every answer read up to a limit.

use std::collections::HashMap;
use std::path::Path;

use http_body_util::BodyExt as _;
use serde_json::Value;

use super::logs::{self, Scan};
use super::pods::{parse_page, Pod};
use crate::cluster::kube::{check_namespace, connect, flat, login_hint, one_line, Connection};
use crate::error::{Error, Result};

/// The label every integration's pod carries.
pub const SELECTOR: &str = "component=qontract-reconcile";
/// Pods per page.
const PAGE: usize = 500;
/// At most this many pages per namespace.
const MAX_PAGES: usize = 40;
/// The most bytes read of a page of pods.
const PAGE_LIMIT: usize = 32 * 1024 * 1024;
/// The most bytes of one pod's log asked for and read.
pub const LOG_LIMIT: usize = 16 * 1024 * 1024;
/// Logs asked at once.
const PARALLEL: usize = 8;

/// Pods and, per pod (namespace, name), its log's scan or why there is none.
pub type Fetched = (
    Vec<Pod>,
    HashMap<(String, String), std::result::Result<Scan, String>>,
);

/// Lists the pods of `namespaces` through `context` of `kubeconfig`, then reads the logs of those
/// `wanted` keeps, from each container's start, up to `until`.
pub fn fetch(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    namespaces: &[String],
    wanted: &dyn Fn(&Pod) -> bool,
    until: i64,
) -> Result<Fetched> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::external(format!("cannot start the Kubernetes client runtime: {e}")))?;
    let secrets = std::sync::Mutex::new(Vec::new());
    let fetched: Result<Fetched> = rt.block_on(async {
        let Connection {
            client,
            server,
            secrets: known,
        } = connect(kubeconfig, context).await?;
        if let Ok(mut s) = secrets.lock() {
            *s = known;
        }
        let mut pods = Vec::new();
        for ns in namespaces {
            check_namespace(ns)?;
            list_pods(&client, &server, ns, &mut pods).await?;
        }
        let mut logs = HashMap::new();
        let asked: Vec<&Pod> = pods.iter().filter(|p| wanted(p)).collect();
        for chunk in asked.chunks(PARALLEL) {
            let mut set = tokio::task::JoinSet::new();
            for p in chunk {
                let (client, server) = (client.clone(), server.clone());
                let (ns, name, since) = (p.namespace.clone(), p.name.clone(), p.started);
                set.spawn(async move {
                    let scan = pod_log(&client, &server, &ns, &name, since, until).await;
                    ((ns, name), scan)
                });
            }
            while let Some(done) = set.join_next().await {
                let (key, scan) =
                    done.map_err(|e| Error::external(format!("reading a pod's log: {e}")))?;
                logs.insert(key, scan?);
            }
        }
        Ok((pods, logs))
    });
    let secrets = secrets.into_inner().unwrap_or_default();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    match fetched {
        Ok((pods, mut logs)) => {
            for scan in logs.values_mut() {
                if let Err(why) = scan {
                    *why = crate::redact::redact_known(why, &secrets);
                }
            }
            Ok((pods, logs))
        }
        Err(e) => Err(e.scrubbed(&secrets)),
    }
}

/// An answer: its status and body (at most `limit` bytes; `cut` when there was more).
struct Answer {
    status: u16,
    body: Vec<u8>,
    cut: bool,
}

async fn get(client: &::kube::Client, server: &str, target: &str, limit: usize) -> Result<Answer> {
    let shown = crate::redact::redact_url(&format!("{server}{target}"));
    let req = ::ureq::http::Request::get(target)
        .body(::kube::client::Body::from(Vec::new()))
        .map_err(|e| Error::external(format!("GET {shown}: {e}")))?;
    let start = std::time::Instant::now();
    let res = client.send(req).await.map_err(|e| {
        tracing::info!(error = %flat(&e), "GET {shown}: no answer");
        Error::external(format!(
            "cannot reach the Kubernetes API at {server}: {}",
            flat(&e)
        ))
        .with_hint(login_hint())
    })?;
    let status = res.status().as_u16();
    let mut body = res.into_body();
    let mut bytes = Vec::new();
    let mut cut = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Error::external(format!("GET {shown}: the answer broke off: {}", flat(&e)))
        })?;
        if let Ok(data) = frame.into_data() {
            let room = limit.saturating_sub(bytes.len());
            if data.len() > room {
                bytes.extend_from_slice(&data[..room]);
                cut = true;
                break;
            }
            bytes.extend_from_slice(&data);
        }
    }
    tracing::info!(status, elapsed = %crate::util::elapsed(start.elapsed()), "GET {shown}");
    Ok(Answer {
        status,
        body: bytes,
        cut,
    })
}

/// The error of an answer that is not 200: 401, 403 and 404 say what to do.
fn status_error(answer: &Answer, server: &str, what: &str) -> Error {
    let message = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(one_line))
        .unwrap_or_else(|| one_line(&String::from_utf8_lossy(&answer.body)));
    let message = crate::redact::redact(&message);
    let login = crate::redact::redact_url(server);
    match answer.status {
        401 => Error::external(format!(
            "{server}: unauthorized (401) {what}: log in again or check the kubeconfig credentials"
        ))
        .with_hint(format!("log in again with `oc login {login}`")),
        403 => Error::external(format!("forbidden (403) {what} on {server}: {message}")).with_hint(
            format!(
                "log in as a user who may read pods and their logs (`oc login {login}`), or \
                 give the saved pods and logs: --from PODS.json --logs DIR"
            ),
        ),
        404 => Error::external(format!("not found (404) {what} on {server}: {message}")),
        code => Error::external(format!("{server}: {what} failed ({code}): {message}")),
    }
}

async fn list_pods(
    client: &::kube::Client,
    server: &str,
    ns: &str,
    out: &mut Vec<Pod>,
) -> Result<()> {
    let mut next: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut target = format!(
            "/api/v1/namespaces/{ns}/pods?labelSelector={}&limit={PAGE}",
            crate::http::encode_segment(SELECTOR)
        );
        if let Some(token) = &next {
            target.push_str("&continue=");
            target.push_str(&crate::http::encode_segment(token));
        }
        let answer = get(client, server, &target, PAGE_LIMIT).await?;
        let what = format!("listing the pods of namespace {ns}");
        if answer.status != 200 {
            return Err(status_error(&answer, server, &what));
        }
        let source = format!("{server}/api/v1/namespaces/{ns}/pods");
        if answer.cut {
            return Err(Error::external(format!(
                "{source}: a page of pods over {} MiB",
                PAGE_LIMIT / 1024 / 1024
            )));
        }
        let doc: Value = serde_json::from_slice(&answer.body)
            .map_err(|e| Error::external(format!("{source}: not JSON: {e}")))?;
        let before = out.len();
        next = parse_page(&doc, &source, Some(ns), out)?;
        // An answer for this namespace holds only its pods.
        let mut i = before;
        while i < out.len() {
            if out[i].namespace == ns {
                i += 1;
            } else {
                out.remove(i);
            }
        }
        if next.is_none() {
            return Ok(());
        }
    }
    Err(Error::external(format!(
        "{server}: namespace {ns} has more than {} pods of {SELECTOR}",
        PAGE * MAX_PAGES
    )))
}

/// The scan of a pod's log from `since` to `until`; `Err` says why it could not be read (the
/// pod went away: 404), a refusal to read logs at all is an error.
async fn pod_log(
    client: &::kube::Client,
    server: &str,
    ns: &str,
    pod: &str,
    since: Option<i64>,
    until: i64,
) -> Result<std::result::Result<Scan, String>> {
    let mut target = format!(
        "/api/v1/namespaces/{ns}/pods/{}/log?container={}&timestamps=true&limitBytes={LOG_LIMIT}",
        crate::http::encode_segment(pod),
        crate::cluster::kube::INT_CONTAINER
    );
    if let Some(t) = since {
        target.push_str("&sinceTime=");
        target.push_str(&crate::http::encode_segment(
            &crate::history::stats::format_rfc3339(t),
        ));
    }
    let answer = get(client, server, &target, LOG_LIMIT).await?;
    let what = format!("reading the log of pod {ns}/{}", one_line(pod));
    match answer.status {
        200 => {
            let mut scan = logs::scan(&answer.body, since, Some(until));
            scan.cut = answer.cut || answer.body.len() >= LOG_LIMIT;
            Ok(Ok(scan))
        }
        404 | 400 => Ok(Err(status_error(&answer, server, &what).to_string())),
        _ => Err(status_error(&answer, server, &what)),
    }
}
