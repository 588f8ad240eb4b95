//! The metrics of the integrations from the Prometheus HTTP API (`/api/v1/query`,
//! `/api/v1/query_range`): the last run's status (`qontract_reconcile_last_run_status`, 0 when it
//! succeeded) and the runs started (`qontract_reconcile_execution_counter_total`), per
//! integration and shard.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::http::{check_base_url, shown_url, Client, ClientConfig, Method, Request};

/// The last run's exit code, per integration and shard.
pub const LAST_RUN_STATUS: &str = "qontract_reconcile_last_run_status";
/// The runs started, per integration and shard.
pub const EXECUTIONS: &str = "qontract_reconcile_execution_counter_total";

/// The most bytes read of an answer.
const BODY_LIMIT: u64 = 16 * 1024 * 1024;

/// At most this many points per series of a range query.
const MAX_POINTS: i64 = 1_000;

/// One series: its labels and samples (seconds since the epoch, value).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub samples: Vec<(i64, f64)>,
}

/// A Prometheus server.
pub struct Prometheus {
    base: String,
    token: Option<String>,
    client: Client,
}

/// What Prometheus says of one object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectMetrics {
    /// The last run status at the time asked (0: it succeeded).
    pub last_status: Option<f64>,
    /// The first sample in the window whose status was not 0: (time, status).
    pub failed: Option<(i64, f64)>,
    /// Runs started in the window.
    pub executions: Option<f64>,
}

/// The series of both metrics over a window.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub status_now: Vec<Series>,
    pub status: Vec<Series>,
    pub executions: Vec<Series>,
}

impl Prometheus {
    /// A client of the Prometheus at `url` (https, or http on loopback); `token` is sent as a
    /// bearer token and never shown.
    pub fn new(url: &str, token: Option<String>) -> Result<Prometheus> {
        let base = check_base_url(
            url,
            "give the token in QR_PROMOTE_PROMETHEUS_TOKEN, not in the URL",
        )
        .map_err(|why| Error::input(format!("--prometheus {}: {why}", shown_url(url))))?;
        let client = Client::new(ClientConfig {
            connect_timeout: Some(Duration::from_secs(10)),
            request_timeout: Duration::from_secs(60),
            max_redirects: 0,
            body_limit: BODY_LIMIT,
        });
        Ok(Prometheus {
            base,
            token: token.filter(|t| !t.is_empty()),
            client,
        })
    }

    /// The URL as messages show it.
    pub fn shown(&self) -> String {
        shown_url(&self.base)
    }

    /// Both metrics at `at` and over `[start, at]`.
    pub fn metrics(&self, start: i64, at: i64) -> Result<Metrics> {
        let span = (at - start).max(1);
        let step = (span / MAX_POINTS).max(15);
        let (start, end, step) = (start.to_string(), at.to_string(), step.to_string());
        let range = |q: &str| {
            self.get(
                "/api/v1/query_range",
                &[
                    ("query", q),
                    ("start", &start),
                    ("end", &end),
                    ("step", &step),
                ],
            )
        };
        Ok(Metrics {
            status_now: self.get(
                "/api/v1/query",
                &[("query", LAST_RUN_STATUS), ("time", &end)],
            )?,
            status: range(LAST_RUN_STATUS)?,
            executions: range(EXECUTIONS)?,
        })
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<Series>> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        let req = Request {
            query,
            headers: &headers,
            ..Request::new(Method::Get, &url)
        };
        let secrets: Vec<&str> = self.token.iter().map(String::as_str).collect();
        let shown = shown_url(&url);
        let reply = self.client.send(&req).map_err(|e| {
            let why = self.client.failure(&e, &url);
            Error::external(crate::http::scrub(
                &format!("Prometheus {shown}: no answer: {why}"),
                &secrets,
            ))
        })?;
        let body = crate::http::scrub(&reply.body, &secrets);
        if reply.status != 200 {
            let why = serde_json::from_str::<Value>(&reply.body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .map(|e| crate::http::scrub(&e, &secrets))
                .unwrap_or_else(|| crate::cluster::kube::one_line(&body));
            let hint = match reply.status {
                401 | 403 => {
                    "give a token that may read the metrics in QR_PROMOTE_PROMETHEUS_TOKEN"
                }
                _ => "leave out --prometheus to judge by the logs alone",
            };
            return Err(Error::external(format!(
                "Prometheus {shown}: HTTP {}: {why}",
                reply.status
            ))
            .with_hint(hint));
        }
        if reply.body.is_empty() {
            return Err(Error::external(format!(
                "Prometheus {shown}: an empty answer, or one over {} MiB",
                BODY_LIMIT / 1024 / 1024
            )));
        }
        parse_answer(&reply.body, &shown)
    }
}

/// Reads an answer of `/api/v1/query` (a vector) or `/api/v1/query_range` (a matrix).
pub fn parse_answer(text: &str, source: &str) -> Result<Vec<Series>> {
    let bad = |why: &str| Error::external(format!("Prometheus {source}: {why}"));
    let doc: Value = serde_json::from_str(text).map_err(|e| bad(&format!("not JSON: {e}")))?;
    match doc.get("status").and_then(Value::as_str) {
        Some("success") => {}
        _ => {
            let why = doc
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no status `success`");
            return Err(bad(&crate::cluster::kube::one_line(why)));
        }
    }
    let data = doc.get("data").ok_or_else(|| bad("no `data`"))?;
    let kind = data.get("resultType").and_then(Value::as_str);
    let result = data
        .get("result")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("`data.result` is not an array"))?;
    let mut out = Vec::with_capacity(result.len());
    for r in result {
        let labels = r
            .get("metric")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let samples = match kind {
            Some("vector") => r.get("value").and_then(sample).into_iter().collect(),
            Some("matrix") => r
                .get("values")
                .and_then(Value::as_array)
                .map(|vs| vs.iter().filter_map(sample).collect())
                .unwrap_or_default(),
            other => {
                return Err(bad(&format!(
                    "result type {:?}, not a vector or a matrix",
                    other.unwrap_or("none")
                )))
            }
        };
        out.push(Series { labels, samples });
    }
    Ok(out)
}

/// `[time, "value"]`.
fn sample(v: &Value) -> Option<(i64, f64)> {
    let pair = v.as_array()?;
    let t = pair.first()?.as_f64()?;
    let value: f64 = pair.get(1)?.as_str()?.parse().ok()?;
    (t.is_finite() && t.abs() < 1e12).then_some((t as i64, value))
}

impl Metrics {
    /// The series of `integration` for a shard: those whose `shard_id` is the object's
    /// `--shard-id`, else the integration's only series.
    fn pick<'a>(
        series: &'a [Series],
        integration: &str,
        shard_id: Option<&str>,
    ) -> Option<&'a Series> {
        let mine: Vec<&Series> = series
            .iter()
            .filter(|s| s.labels.get("integration").map(String::as_str) == Some(integration))
            .collect();
        if let Some(id) = shard_id {
            if let Some(s) = mine
                .iter()
                .find(|s| s.labels.get("shard_id").map(String::as_str) == Some(id))
            {
                return Some(s);
            }
        }
        match mine.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// What the metrics say of an object of `integration` (`shard_id`: its `--shard-id`) since
    /// `since`.
    pub fn of(&self, integration: &str, shard_id: Option<&str>, since: i64) -> ObjectMetrics {
        let last_status = Self::pick(&self.status_now, integration, shard_id)
            .and_then(|s| s.samples.last())
            .map(|(_, v)| *v);
        let failed = Self::pick(&self.status, integration, shard_id).and_then(|s| {
            s.samples
                .iter()
                .find(|(t, v)| *t >= since && *v != 0.0)
                .copied()
        });
        let executions = Self::pick(&self.executions, integration, shard_id).map(|s| {
            let window: Vec<f64> = s
                .samples
                .iter()
                .filter(|(t, _)| *t >= since)
                .map(|(_, v)| *v)
                .collect();
            // A counter: the increases, a reset counted from zero.
            window
                .windows(2)
                .map(|w| if w[1] >= w[0] { w[1] - w[0] } else { w[1] })
                .sum()
        });
        ObjectMetrics {
            last_status,
            failed,
            executions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_and_matrices_are_read() {
        let v = parse_answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"integration":"github","shard_id":"0"},"value":[1700000000.5,"1"]}]}}"#,
            "p",
        )
        .unwrap();
        assert_eq!(v[0].labels["integration"], "github");
        assert_eq!(v[0].samples, [(1_700_000_000, 1.0)]);
        let m = parse_answer(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"integration":"a"},"values":[[10,"1"],[20,"3"],[30,"1"],[40,"2"]]}]}}"#,
            "p",
        )
        .unwrap();
        let metrics = Metrics {
            status_now: v,
            status: Vec::new(),
            executions: m,
        };
        // 3 -> 1 is a reset (1 run), 1 -> 2 one more.
        assert_eq!(metrics.of("a", None, 15).executions, Some(2.0));
        assert_eq!(metrics.of("a", None, 0).executions, Some(4.0));
        assert_eq!(metrics.of("github", Some("0"), 0).last_status, Some(1.0));
        assert_eq!(metrics.of("github", Some("1"), 0).last_status, Some(1.0));
        assert_eq!(metrics.of("other", None, 0), ObjectMetrics::default());
    }

    #[test]
    fn bad_answers_say_why() {
        for (text, want) in [
            ("nope", "Prometheus p: not JSON"),
            (
                r#"{"status":"error","error":"parse error"}"#,
                "Prometheus p: parse error",
            ),
            (r#"{"status":"success"}"#, "Prometheus p: no `data`"),
            (
                r#"{"status":"success","data":{"resultType":"scalar","result":[1]}}"#,
                "Prometheus p: result type \"scalar\"",
            ),
        ] {
            let e = parse_answer(text, "p").unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}");
        }
    }
}
