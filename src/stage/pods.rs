//! Pods: what `GET /api/v1/namespaces/NS/pods` answers, or `oc get pods -o json` saved (a `List`
//! or `PodList`, one namespace or several, or several documents one after the other).

use serde::Serialize;
use serde_json::Value;

use crate::cluster::kube::{one_line, INT_CONTAINER};
use crate::error::{Error, Result};

/// What the container `int` of a pod is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Running since `startedAt`.
    Running,
    /// Waiting, with the reason (`CrashLoopBackOff`, `ContainerCreating`).
    Waiting { reason: String },
    /// Terminated, with the reason.
    Terminated { reason: String },
    /// No status of container `int` (not scheduled yet, or no such container).
    Unknown,
}

/// One pod, as stage reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    /// The object it belongs to: its owner StatefulSet, or the Deployment (CronJob) of its owner
    /// ReplicaSet (Job), by name.
    pub owner: Option<String>,
    /// Its `app` label.
    pub app: Option<String>,
    /// The image of container `int`.
    pub image: Option<String>,
    /// When container `int` started (seconds since the epoch).
    pub started: Option<i64>,
    /// Container `int`'s restart count.
    pub restarts: u64,
    pub state: State,
}

/// Reads pods from `oc get pods -o json` output; `source` names it in errors.
pub fn parse_pods(text: &str, source: &str) -> Result<Vec<Pod>> {
    let mut out = Vec::new();
    let mut docs = 0usize;
    for doc in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let doc = doc.map_err(|e| Error::input(format!("{source}: not JSON: {e}")))?;
        docs += 1;
        parse_page(&doc, source, None, &mut out)?;
    }
    if docs == 0 {
        return Err(Error::input(format!(
            "{source}: empty input, expected the JSON of `oc get pods -o json`"
        )));
    }
    Ok(out)
}

/// Reads one list of pods into `out`; returns the list's `metadata.continue` (the next page).
/// `default_ns` fills in the namespace that an API answer leaves out of its items.
pub fn parse_page(
    doc: &Value,
    source: &str,
    default_ns: Option<&str>,
    out: &mut Vec<Pod>,
) -> Result<Option<String>> {
    let Some(obj) = doc.as_object() else {
        return Err(Error::input(format!(
            "{source}: not a list of pods: found JSON that is not an object"
        )));
    };
    match obj.get("kind").and_then(Value::as_str) {
        Some("List" | "PodList") => {}
        Some(k) => {
            return Err(Error::input(format!(
                "{source}: not a list of pods: found kind `{}`",
                one_line(k)
            )))
        }
        None => {
            return Err(Error::input(format!(
                "{source}: not a list of pods: the JSON object has no `kind`"
            )))
        }
    }
    let items = match obj.get("items") {
        Some(Value::Array(items)) => items.as_slice(),
        Some(Value::Null) | None => &[],
        Some(_) => {
            return Err(Error::input(format!("{source}: `items` is not an array")));
        }
    };
    for (i, item) in items.iter().enumerate() {
        if item
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k != "Pod")
        {
            continue;
        }
        out.push(parse_pod(item, source, i, default_ns)?);
    }
    Ok(obj
        .get("metadata")
        .and_then(|m| m.get("continue"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_string))
}

fn parse_pod(item: &Value, source: &str, index: usize, default_ns: Option<&str>) -> Result<Pod> {
    let meta = item.get("metadata");
    let text = |v: Option<&Value>, key: &str| {
        v.and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let name = text(meta, "name")
        .ok_or_else(|| Error::input(format!("{source}: item {index} has no metadata.name")))?;
    let namespace = text(meta, "namespace")
        .or_else(|| default_ns.map(str::to_string))
        .ok_or_else(|| {
            Error::input(format!(
                "{source}: pod {} has no metadata.namespace",
                one_line(&name)
            ))
        })?;
    let app = text(meta.and_then(|m| m.get("labels")), "app");
    let owner = meta
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .and_then(|refs| {
            refs.iter()
                .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
                .or_else(|| refs.first())
        })
        .and_then(|r| {
            let kind = r.get("kind").and_then(Value::as_str)?;
            let owner = r.get("name").and_then(Value::as_str)?;
            match kind {
                // `<deployment>-<hash>`, `<cronjob>-<n>`.
                "ReplicaSet" | "Job" => owner.rsplit_once('-').map(|(o, _)| o.to_string()),
                _ => Some(owner.to_string()),
            }
        });
    let image = item
        .get("spec")
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(INT_CONTAINER))
        })
        .and_then(|c| c.get("image"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let status = item
        .get("status")
        .and_then(|s| s.get("containerStatuses"))
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(INT_CONTAINER))
        });
    let restarts = status
        .and_then(|s| s.get("restartCount"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let state = status.and_then(|s| s.get("state"));
    let reason = |key: &str| {
        state
            .and_then(|s| s.get(key))
            .map(|w| text(Some(w), "reason").unwrap_or_else(|| "no reason given".into()))
            .map(|r| one_line(&r))
    };
    let started = state
        .and_then(|s| s.get("running"))
        .and_then(|r| r.get("startedAt"))
        .and_then(Value::as_str)
        .and_then(parse_time);
    let state = if state.and_then(|s| s.get("running")).is_some() {
        State::Running
    } else if let Some(reason) = reason("waiting") {
        State::Waiting { reason }
    } else if let Some(reason) = reason("terminated") {
        State::Terminated { reason }
    } else {
        State::Unknown
    };
    Ok(Pod {
        namespace,
        name,
        owner,
        app,
        image,
        started,
        restarts,
        state,
    })
}

/// An RFC 3339 time (`2026-12-08T01:00:00Z`, fractions of a second allowed) as seconds since
/// the epoch.
pub fn parse_time(s: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(s.trim()).ok()?;
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok(),
        Err(e) => i64::try_from(e.duration().as_secs()).ok().map(|s| -s),
    }
}

/// Whether `pod` belongs to the object `object`: its owner says so, or, without an owner, its
/// name is the object's and a StatefulSet ordinal (`-0`) or a Deployment's `-<hash>-<id>`.
pub fn belongs(pod: &Pod, object: &str) -> bool {
    if let Some(owner) = &pod.owner {
        return owner == object;
    }
    let Some(rest) = pod
        .name
        .strip_prefix(object)
        .and_then(|r| r.strip_prefix('-'))
    else {
        return false;
    };
    let parts: Vec<&str> = rest.split('-').collect();
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    match parts.as_slice() {
        [n] => n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty(),
        [hash, id] => word(hash) && word(id),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = r#"{"kind":"List","items":[
      {"kind":"Pod","metadata":{"name":"qontract-reconcile-github-5d9f7c-abcde","namespace":"s",
        "labels":{"app":"qontract-reconcile-github"},
        "ownerReferences":[{"kind":"ReplicaSet","name":"qontract-reconcile-github-5d9f7c","controller":true}]},
       "spec":{"containers":[{"name":"sidecar","image":"x"},{"name":"int","image":"quay.io/q:abc1234"}]},
       "status":{"containerStatuses":[{"name":"int","restartCount":2,"state":{"running":{"startedAt":"2026-12-08T00:00:00Z"}}}]}},
      {"kind":"Pod","metadata":{"name":"qontract-reconcile-tf-app-sre-0","namespace":"s"},
       "spec":{"containers":[{"name":"int","image":"quay.io/q:abc1234"}]},
       "status":{"containerStatuses":[{"name":"int","state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}},
      {"kind":"Service","metadata":{"name":"svc"}}
    ]}"#;

    #[test]
    fn pods_are_read_with_owner_image_start_and_state() {
        let pods = parse_pods(POD, "pods.json").unwrap();
        assert_eq!(pods.len(), 2);
        let p = &pods[0];
        assert_eq!(p.owner.as_deref(), Some("qontract-reconcile-github"));
        assert_eq!(p.app.as_deref(), Some("qontract-reconcile-github"));
        assert_eq!(p.image.as_deref(), Some("quay.io/q:abc1234"));
        assert_eq!(p.started, Some(1_796_688_000));
        assert_eq!(p.restarts, 2);
        assert_eq!(p.state, State::Running);
        assert_eq!(
            pods[1].state,
            State::Waiting {
                reason: "CrashLoopBackOff".into()
            }
        );
        assert!(belongs(&pods[0], "qontract-reconcile-github"));
        assert!(belongs(&pods[1], "qontract-reconcile-tf-app-sre"));
        assert!(!belongs(&pods[1], "qontract-reconcile-tf"));
    }

    #[test]
    fn bad_pod_lists_are_one_line_errors_naming_the_source() {
        for (text, want) in [
            ("", "p.json: empty input"),
            (
                "[1]",
                "p.json: not a list of pods: found JSON that is not an object",
            ),
            (
                r#"{"kind":"Pod"}"#,
                "p.json: not a list of pods: found kind `Pod`",
            ),
            (
                "{}",
                "p.json: not a list of pods: the JSON object has no `kind`",
            ),
            (
                r#"{"kind":"List","items":7}"#,
                "p.json: `items` is not an array",
            ),
            (
                r#"{"kind":"List","items":[{}]}"#,
                "p.json: item 0 has no metadata.name",
            ),
            ("{\"kind\"", "p.json: not JSON"),
        ] {
            let err = parse_pods(text, "p.json").unwrap_err().to_string();
            assert!(err.starts_with(want), "{text}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn pages_carry_their_continue_token() {
        let mut out = Vec::new();
        let doc: Value = serde_json::from_str(
            r#"{"kind":"PodList","metadata":{"continue":"abc"},"items":[{"metadata":{"name":"p"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            parse_page(&doc, "-", Some("ns"), &mut out)
                .unwrap()
                .as_deref(),
            Some("abc")
        );
        assert_eq!(out[0].namespace, "ns");
        assert_eq!(out[0].state, State::Unknown);
    }

    proptest::proptest! {
        #[test]
        fn parse_pods_never_panics(text in "\\PC{0,200}") {
            let _ = parse_pods(&text, "-");
        }
    }
}
