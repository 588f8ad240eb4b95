//! The live objects: the Deployments, StatefulSets and CronJobs of namespaces, listed through the
//! Kubernetes API (kubeconfig, context, one line per error) or read from `oc get -o json` output.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::model::ObjectKind;
use crate::error::{Error, Result};

/// One object found in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveObject {
    pub namespace: String,
    pub kind: ObjectKind,
    pub name: String,
    /// Image of the container named `int` (for a CronJob, in the job template).
    pub image_int: Option<String>,
    /// Why the object is still rolling out, if it is.
    pub rolling: Option<String>,
}

/// The name of the container whose image is compared.
pub const INT_CONTAINER: &str = "int";

impl ObjectKind {
    /// The REST path of this kind's collection in a namespace.
    fn api_path(self, namespace: &str) -> String {
        match self {
            ObjectKind::Deployment => format!("/apis/apps/v1/namespaces/{namespace}/deployments"),
            ObjectKind::StatefulSet => {
                format!("/apis/apps/v1/namespaces/{namespace}/statefulsets")
            }
            ObjectKind::CronJob => format!("/apis/batch/v1/namespaces/{namespace}/cronjobs"),
        }
    }

    /// The plural resource name (`deployments`, ...).
    fn plural(self) -> &'static str {
        match self {
            ObjectKind::Deployment => "deployments",
            ObjectKind::StatefulSet => "statefulsets",
            ObjectKind::CronJob => "cronjobs",
        }
    }
}

/// Parses live objects from `oc get deployments,statefulsets,cronjobs -o json` output: a `List`
/// (or `DeploymentList`, ...), or several concatenated JSON documents. `source` names the input.
pub fn parse_live(text: &str, source: &str) -> Result<Vec<LiveObject>> {
    let mut out = Vec::new();
    let mut docs = 0usize;
    for doc in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let doc = doc.map_err(|e| Error::input(format!("{source}: not JSON: {e}")))?;
        docs += 1;
        parse_list(&doc, source, None, None, &mut out)?;
    }
    if docs == 0 {
        return Err(Error::input(format!(
            "{source}: empty input, expected the JSON of `oc get deployments,statefulsets,cronjobs -o json`"
        )));
    }
    Ok(out)
}

/// Parses one list document. `default_kind` / `default_ns` fill in what real API list responses
/// leave out of their items.
fn parse_list(
    doc: &Value,
    source: &str,
    default_kind: Option<ObjectKind>,
    default_ns: Option<&str>,
    out: &mut Vec<LiveObject>,
) -> Result<()> {
    let Some(obj) = doc.as_object() else {
        return Err(Error::input(format!(
            "{source}: not a Kubernetes list: found a JSON {}",
            json_type(doc)
        )));
    };
    let kind = obj.get("kind").and_then(Value::as_str);
    let list_kind = match kind {
        Some("List") => None,
        Some(k) if k.ends_with("List") => match ObjectKind::from_kind(&k[..k.len() - 4]) {
            Some(ok) => Some(ok),
            // A list of something else (PodList, ...): nothing of ours in it.
            None => return Ok(()),
        },
        None if default_kind.is_some() && obj.get("items").is_some() => None,
        Some(k) => {
            return Err(Error::input(format!(
                "{source}: not a Kubernetes list: found kind `{}`",
                one_line(k)
            )))
        }
        None => {
            return Err(Error::input(format!(
                "{source}: not a Kubernetes list: the JSON object has no `kind`"
            )))
        }
    };
    let items = match obj.get("items") {
        Some(Value::Array(items)) => items.as_slice(),
        Some(Value::Null) | None => &[],
        Some(other) => {
            return Err(Error::input(format!(
                "{source}: `items` is a JSON {}, not an array",
                json_type(other)
            )))
        }
    };
    for (i, item) in items.iter().enumerate() {
        let item_kind = item.get("kind").and_then(Value::as_str);
        let kind = match item_kind {
            Some(k) => match ObjectKind::from_kind(k) {
                Some(ok) => ok,
                None => continue, // Pods, Services, ... in a generic List.
            },
            None => match list_kind.or(default_kind) {
                Some(ok) => ok,
                None => {
                    return Err(Error::input(format!(
                        "{source}: item {i} has no `kind` and the list does not say it"
                    )))
                }
            },
        };
        out.push(parse_item(item, kind, source, i, default_ns)?);
    }
    Ok(())
}

fn parse_item(
    item: &Value,
    kind: ObjectKind,
    source: &str,
    index: usize,
    default_ns: Option<&str>,
) -> Result<LiveObject> {
    let meta = item.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::input(format!(
                "{source}: item {index} ({kind}) has no metadata.name"
            ))
        })?;
    let namespace = match meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
    {
        Some(ns) => ns,
        None => default_ns.ok_or_else(|| {
            Error::input(format!(
                "{source}: item {index} ({kind} {}) has no metadata.namespace",
                one_line(name)
            ))
        })?,
    };
    let spec = item.get("spec");
    let pod_spec = match kind {
        ObjectKind::CronJob => spec
            .and_then(|s| s.get("jobTemplate"))
            .and_then(|s| s.get("spec"))
            .and_then(|s| s.get("template"))
            .and_then(|s| s.get("spec")),
        _ => spec
            .and_then(|s| s.get("template"))
            .and_then(|s| s.get("spec")),
    };
    let image_int = pod_spec
        .and_then(|p| p.get("containers"))
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(INT_CONTAINER))
        })
        .and_then(|c| c.get("image"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let rolling = match kind {
        ObjectKind::CronJob => None,
        _ => rolling_reason(item),
    };
    Ok(LiveObject {
        namespace: namespace.to_string(),
        kind,
        name: name.to_string(),
        image_int,
        rolling,
    })
}

/// Why a Deployment or StatefulSet is still rolling out, from its generation and replica counts.
fn rolling_reason(item: &Value) -> Option<String> {
    let int = |v: Option<&Value>| v.and_then(Value::as_i64);
    let generation = int(item.get("metadata").and_then(|m| m.get("generation")));
    let status = item.get("status");
    let observed = int(status.and_then(|s| s.get("observedGeneration")));
    if let Some(g) = generation {
        match observed {
            Some(o) if o < g => {
                return Some(format!("observed generation {o} < generation {g}"));
            }
            None => return Some(format!("generation {g} not observed yet")),
            _ => {}
        }
    }
    let replicas = int(item.get("spec").and_then(|s| s.get("replicas"))).unwrap_or(1);
    let updated = int(status.and_then(|s| s.get("updatedReplicas"))).unwrap_or(0);
    let ready = int(status.and_then(|s| s.get("readyReplicas"))).unwrap_or(0);
    if updated < replicas {
        return Some(format!("{updated}/{replicas} replicas updated"));
    }
    if ready < replicas {
        return Some(format!("{ready}/{replicas} replicas ready"));
    }
    None
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value shown inside a one-line message: control characters replaced, length bounded.
pub(crate) fn one_line(s: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = s
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// Lists the Deployments, StatefulSets and CronJobs of each namespace through the Kubernetes API
/// (read only). `kubeconfig` defaults to `$KUBECONFIG` / `~/.kube/config` (or in-cluster config),
/// `context` to the kubeconfig's current context.
pub fn fetch_live(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    namespaces: &[String],
) -> Result<Vec<LiveObject>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::external(format!("cannot start the Kubernetes client runtime: {e}")))?;
    rt.block_on(fetch_async(kubeconfig, context, namespaces))
}

/// What to do when the cluster cannot be asked: read the objects from a file instead.
const FROM_FILE: &str = "or read the objects from a file: `--from FILE`, the JSON of \
    `oc get deployments,statefulsets,cronjobs -n NAMESPACE -o json`";

/// What to do when there is no usable configuration or context.
pub(crate) fn login_hint() -> String {
    format!(
        "log in with `oc login SERVER`, or choose a context with \
         `kubectl config use-context NAME` (or `--context NAME`); {FROM_FILE}"
    )
}

/// A configuration error: its message (the cause's chain on one line) and hint, the cause kept.
fn config_error(message: String, cause: impl Into<crate::error::Source>) -> Error {
    Error::input(message)
        .with_hint(login_hint())
        .with_source(cause)
}

/// A connection to the Kubernetes API: the client, the API's URL, and the secrets of the
/// credentials (token, password), to keep out of messages that quote an answer.
pub(crate) struct Connection {
    pub client: ::kube::Client,
    pub server: String,
    pub secrets: Vec<String>,
}

/// A client of the Kubernetes API of `context` (default: the current one) in `kubeconfig`
/// (default: `$KUBECONFIG` / `~/.kube/config`, or the in-cluster configuration), and the API's
/// URL. Timeouts of seconds for connecting, a minute for an answer.
pub(crate) async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<Connection> {
    use ::kube::config::{Config, KubeConfigOptions, Kubeconfig};
    use secrecy::ExposeSecret as _;

    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..KubeConfigOptions::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            let kc = Kubeconfig::from_yaml(&text).map_err(|e| {
                let msg = format!("{}: not a usable kubeconfig: {}", path.display(), flat(&e));
                config_error(msg, e)
            })?;
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| config_error(format!("{}: {}", path.display(), flat(&e)), e))?
        }
        None if context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| config_error(format!("kubeconfig: {}", flat(&e)), e))?,
        None => Config::infer()
            .await
            .map_err(|e| config_error(format!("no Kubernetes configuration: {}", flat(&e)), e))?,
    };
    let mut config = config;
    // Fail in seconds, not minutes, when the API is black-holed (VPN down, wrong cluster).
    config.connect_timeout = Some(std::time::Duration::from_secs(10));
    config.read_timeout = Some(std::time::Duration::from_secs(60));
    // kube's own retries of 429, 503 and 504 back off for up to minutes: an answer is reported
    // at once instead (`verify --wait` checks again on its own interval).
    config.default_retry = false;
    let server = config.cluster_url.to_string();
    let server = server.trim_end_matches('/').to_string();
    tracing::debug!(
        kubeconfig = %kubeconfig.map_or_else(|| "default".to_string(), |p| p.display().to_string()),
        context = %context.unwrap_or("current"),
        "Kubernetes API at {}",
        crate::redact::redact_url(&server)
    );
    let secrets = [&config.auth_info.token, &config.auth_info.password]
        .into_iter()
        .flatten()
        .map(|s| s.expose_secret().to_string())
        .collect();
    let client = ::kube::Client::try_from(config).map_err(|e| {
        Error::external(format!("Kubernetes client for {server}: {}", flat(&e))).with_source(e)
    })?;
    Ok(Connection {
        client,
        server,
        secrets,
    })
}

/// Whether `ns` is a namespace name (DNS label characters), else an error naming it.
pub(crate) fn check_namespace(ns: &str) -> Result<()> {
    if ns.is_empty()
        || !ns
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(Error::input(format!(
            "not a namespace name: {:?}",
            one_line(ns)
        )));
    }
    Ok(())
}

async fn fetch_async(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    namespaces: &[String],
) -> Result<Vec<LiveObject>> {
    let Connection {
        client,
        server,
        secrets,
    } = connect(kubeconfig, context).await?;
    let mut out = Vec::new();
    for ns in namespaces {
        check_namespace(ns)?;
        for kind in ObjectKind::ALL {
            let req = ::kube::core::Request::new(kind.api_path(ns))
                .list(&::kube::api::ListParams::default())
                .map_err(|e| {
                    Error::external(format!("listing {} in {ns}: {}", kind.plural(), flat(&e)))
                        .with_source(e)
                })?;
            let shown = format!("{server}{}", req.uri());
            let shown = crate::redact::redact_url(shown.trim_end_matches('?'));
            let start = std::time::Instant::now();
            let answer = client.request_text(req).await;
            log_call(&shown, start.elapsed(), &answer);
            let text = answer.map_err(|e| {
                let err = api_error(e, &server, ns, kind);
                let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
                err.scrubbed(&secrets)
            })?;
            let source = format!("{server}{}", kind.api_path(ns));
            let doc: Value = serde_json::from_str(&text)
                .map_err(|e| Error::external(format!("{source}: not JSON: {e}")).with_source(e))?;
            let mut page = Vec::new();
            parse_list(&doc, &source, Some(kind), Some(ns), &mut page)?;
            tracing::debug!(
                objects = page.len(),
                "{} in namespace {ns} listed",
                kind.plural()
            );
            // An answer for this collection holds only this kind in this namespace.
            out.extend(
                page.into_iter()
                    .filter(|l| l.kind == kind && l.namespace == *ns),
            );
        }
    }
    Ok(out)
}

/// The events of one call of the Kubernetes API (`GET`, the URL `shown` without credentials):
/// at level info its status (`ok`, the API's error code, or why there was no answer) and time;
/// at debug the answer's size. Headers (the bearer token) are never shown.
fn log_call(
    shown: &str,
    elapsed: std::time::Duration,
    answer: &std::result::Result<String, ::kube::Error>,
) {
    let elapsed = crate::util::elapsed(elapsed);
    match answer {
        Ok(text) => {
            tracing::info!(status = %"ok", elapsed = %elapsed, "GET {shown}");
            tracing::debug!(answer_bytes = text.len(), "GET {shown}: sizes");
        }
        Err(::kube::Error::Api(status)) => tracing::info!(
            status = status.code,
            elapsed = %elapsed,
            "GET {shown}: {}",
            crate::redact::redact(&one_line(&status.message))
        ),
        Err(e) => tracing::info!(
            error = %crate::redact::redact(&flat(e)),
            elapsed = %elapsed,
            "GET {shown}: no answer"
        ),
    }
}

/// A kube error as one line: 403 names the namespace, 404 says the namespace was not found,
/// anything else that is not an API answer says the server could not be reached. Each with what
/// to do about it, and the kube error as its cause.
fn api_error(e: ::kube::Error, server: &str, ns: &str, kind: ObjectKind) -> Error {
    let login = crate::redact::redact_url(server);
    let err = match &e {
        ::kube::Error::Api(status) => {
            let msg = one_line(&status.message);
            match status.code {
                401 => Error::external(format!(
                    "{server}: unauthorized (401): log in again or check the kubeconfig credentials"
                ))
                .with_hint(format!(
                    "log in again with `oc login {login}`, or choose another context with \
                     `kubectl config use-context NAME` (or `--context NAME`); {FROM_FILE}"
                )),
                403 => Error::external(format!(
                    "forbidden (403) to list {} in namespace {ns} on {server}: {msg}",
                    kind.plural()
                ))
                .with_hint(format!(
                    "log in as a user who may list them (`oc login {login}`); {FROM_FILE}"
                )),
                404 => Error::external(format!(
                    "namespace {ns} not found (404 listing {}) on {server}: {msg}",
                    kind.plural()
                ))
                .with_hint(
                    "is it the right cluster? `kubectl config use-context NAME` (or \
                     `--context NAME`) chooses another",
                ),
                code => Error::external(format!(
                    "{server}: listing {} in namespace {ns} failed ({code}): {msg}",
                    kind.plural()
                )),
            }
        }
        other => Error::external(format!(
            "cannot reach the Kubernetes API at {server}: {}",
            flat(other)
        ))
        .with_hint(format!(
            "is it the right cluster? `kubectl config use-context NAME` (or `--context NAME`) \
             chooses another, `oc login SERVER` logs in to one; {FROM_FILE}"
        )),
    };
    err.with_source(e)
}

/// An error and its sources, on one line: the first line of each, without "(os error N)".
pub(crate) fn flat(e: &dyn std::error::Error) -> String {
    let first = |e: &dyn std::error::Error| {
        let t = e.to_string();
        let t = t.lines().next().unwrap_or("").trim().to_string();
        match t.find(" (os error") {
            Some(i) => t[..i].to_string(),
            None => t,
        }
    };
    let mut s = first(e);
    let mut src = e.source();
    while let Some(inner) = src {
        let t = first(inner);
        if !t.is_empty() && !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    one_line(&s)
}

#[cfg(test)]
pub(crate) mod tests {
    //! Unit tests of reading live JSON.

    use super::*;

    const IMG: &str = "quay.io/app-sre/qontract-reconcile:abc1234";

    pub(crate) fn fixture(name: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/verify")
            .join(name);
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn parses_a_generic_list_and_skips_other_kinds() {
        let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
        assert_eq!(live.len(), 8, "{live:#?}"); // the Pod is skipped
        let gh = &live[0];
        assert_eq!(gh.kind, ObjectKind::Deployment);
        assert_eq!(gh.namespace, "qr-int");
        assert_eq!(gh.image_int.as_deref(), Some(IMG)); // `int`, not the first container
        assert_eq!(gh.rolling, None);
        let cron = live.iter().find(|l| l.kind == ObjectKind::CronJob).unwrap();
        assert_eq!(cron.image_int.as_deref(), Some(IMG));
        assert_eq!(cron.rolling, None);
        let no_int = live
            .iter()
            .find(|l| l.name == "qontract-reconcile-no-int")
            .unwrap();
        assert_eq!(no_int.image_int, None);
        let shard2 = live.iter().find(|l| l.name.ends_with("shard-2")).unwrap();
        assert_eq!(shard2.rolling.as_deref(), Some("1/2 replicas updated"));
    }

    #[test]
    fn parses_concatenated_typed_lists_without_item_kinds() {
        let live = parse_live(&fixture("concatenated.json"), "-").unwrap();
        assert_eq!(live.len(), 2);
        assert_eq!(live[0].kind, ObjectKind::Deployment);
        assert_eq!(
            live[0].rolling.as_deref(),
            Some("observed generation 4 < generation 5")
        );
        assert_eq!(live[1].kind, ObjectKind::CronJob);
        assert_eq!(live[1].name, "qontract-reconcile-cleanup");
    }

    #[test]
    fn rolling_rules() {
        let obj = |meta: &str, spec: &str, status: &str| {
            format!(
                r#"{{"kind":"DeploymentList","items":[{{"metadata":{{"name":"d","namespace":"n"{meta}}},"spec":{{"template":{{"spec":{{"containers":[{{"name":"int","image":"i"}}]}}}}{spec}}},"status":{{{status}}}}}]}}"#
            )
        };
        let rolling = |t: String| parse_live(&t, "t").unwrap()[0].rolling.clone();
        // Default one replica: nothing ready yet is rolling.
        assert_eq!(
            rolling(obj("", "", r#""updatedReplicas":1"#)).as_deref(),
            Some("0/1 replicas ready")
        );
        assert_eq!(
            rolling(obj("", "", r#""updatedReplicas":1,"readyReplicas":1"#)),
            None
        );
        assert_eq!(
            rolling(obj(r#","generation":2"#, "", "")).as_deref(),
            Some("generation 2 not observed yet")
        );
        // Scaled to zero is not rolling.
        assert_eq!(rolling(obj("", r#","replicas":0"#, "")), None);
        // Strange numbers are not a crash.
        assert!(rolling(obj(
            r#","generation":"x""#,
            r#","replicas":-1"#,
            r#""readyReplicas":1e300"#
        ))
        .is_none());
    }

    #[test]
    fn bad_input_is_a_one_line_error_naming_the_source() {
        let cases: &[(&str, &str)] = &[
            ("", "live.json: empty input"),
            ("   \n", "live.json: empty input"),
            ("{not json", "live.json: not JSON"),
            (
                "[1,2]",
                "live.json: not a Kubernetes list: found a JSON array",
            ),
            (
                "\"x\"",
                "live.json: not a Kubernetes list: found a JSON string",
            ),
            (
                "{}",
                "live.json: not a Kubernetes list: the JSON object has no `kind`",
            ),
            (
                r#"{"kind":"Deployment","metadata":{"name":"x"}}"#,
                "live.json: not a Kubernetes list: found kind `Deployment`",
            ),
            (
                r#"{"kind":"List","items":{}}"#,
                "live.json: `items` is a JSON object, not an array",
            ),
            (
                r#"{"kind":"List","items":[{"metadata":{"name":"x"}}]}"#,
                "live.json: item 0 has no `kind`",
            ),
            (
                r#"{"kind":"DeploymentList","items":[{"metadata":{}}]}"#,
                "live.json: item 0 (Deployment) has no metadata.name",
            ),
            (
                r#"{"kind":"DeploymentList","items":[{"metadata":{"name":"a\nb"}}]}"#,
                "live.json: item 0 (Deployment a b) has no metadata.namespace",
            ),
            (
                r#"{"kind":"List","items":[]} {"kind":"Li"#,
                "live.json: not JSON",
            ),
        ];
        for (text, want) in cases {
            let err = parse_live(text, "live.json").unwrap_err().to_string();
            assert!(err.starts_with(want), "{text:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        let err = parse_live(&fixture("not-a-list.json"), "-")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "-: not a Kubernetes list: found kind `Deployment`");
    }

    #[test]
    fn other_lists_and_empty_lists_are_fine() {
        assert!(parse_live(r#"{"kind":"PodList","items":[{"x":1}]}"#, "-")
            .unwrap()
            .is_empty());
        assert!(parse_live(r#"{"kind":"List","items":null}"#, "-")
            .unwrap()
            .is_empty());
        assert!(parse_live(r#"{"kind":"List"}"#, "-").unwrap().is_empty());
        // Containers without images or names, odd shapes: verdict material, not errors.
        let live = parse_live(
            r#"{"kind":"CronJobList","items":[{"metadata":{"name":"c","namespace":"n"},"spec":{"jobTemplate":7}},
                {"metadata":{"name":"d","namespace":"n"},"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"int"}]}}}}}}]}"#,
            "-",
        )
        .unwrap();
        assert_eq!(live.len(), 2);
        assert!(live
            .iter()
            .all(|l| l.image_int.is_none() && l.rolling.is_none()));
    }

    proptest::proptest! {
        #[test]
        fn parse_live_never_panics(text in "\\PC{0,200}") {
            let _ = parse_live(&text, "-");
        }

        #[test]
        fn parse_live_never_panics_on_list_shapes(items in "[\\[\\]{}\":,a-z0-9 ]{0,120}") {
            let text = format!(r#"{{"kind":"List","items":[{items}]}}"#);
            if let Err(e) = parse_live(&text, "-") {
                proptest::prop_assert!(!e.to_string().contains('\n'));
            }
        }
    }
}
