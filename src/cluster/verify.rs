//! Verify: compare the desired Deployments, StatefulSets and CronJobs with the live cluster objects.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::ser::SerializeStruct;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// The kinds of workload the checkout deploys qontract-reconcile as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ObjectKind {
    Deployment,
    StatefulSet,
    CronJob,
}

impl ObjectKind {
    /// All kinds, in display order.
    pub const ALL: [ObjectKind; 3] = [
        ObjectKind::Deployment,
        ObjectKind::StatefulSet,
        ObjectKind::CronJob,
    ];

    /// The Kubernetes `kind` name.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Deployment => "Deployment",
            ObjectKind::StatefulSet => "StatefulSet",
            ObjectKind::CronJob => "CronJob",
        }
    }

    /// The kind from a Kubernetes `kind` name (`Deployment`, ...), if it is one of ours.
    pub fn from_kind(kind: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

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

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object the checkout wants in the cluster, with the image of its `int` container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub namespace: String,
    pub kind: ObjectKind,
    pub name: String,
    pub image: String,
    pub pinned: bool,
    pub integration: String,
    pub shard: Option<String>,
}

impl From<crate::model::ObjectKind> for ObjectKind {
    fn from(kind: crate::model::ObjectKind) -> ObjectKind {
        match kind {
            crate::model::ObjectKind::Deployment => ObjectKind::Deployment,
            crate::model::ObjectKind::StatefulSet => ObjectKind::StatefulSet,
            crate::model::ObjectKind::CronJob => ObjectKind::CronJob,
        }
    }
}

impl From<&crate::model::Deployment> for Desired {
    /// What the model says an integration's shard runs.
    fn from(d: &crate::model::Deployment) -> Desired {
        Desired {
            namespace: d.namespace.clone(),
            kind: d.kind.into(),
            name: d.name.clone(),
            image: d.image.clone(),
            pinned: d.pinned,
            integration: d.integration.clone(),
            shard: d.shard.clone(),
        }
    }
}

/// The integration an object is named after: the longest of `integrations` for which `name` is
/// `qontract-reconcile-<integration>` or `qontract-reconcile-<integration>-<shard>`.
pub fn integration_of<'a>(name: &str, integrations: &[&'a str]) -> Option<&'a str> {
    let rest = name.strip_prefix(MANAGED_PREFIX)?;
    integrations
        .iter()
        .copied()
        .filter(|i| {
            rest.strip_prefix(*i)
                .is_some_and(|tail| tail.is_empty() || tail.starts_with('-'))
        })
        .max_by_key(|i| i.len())
}

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

/// Objects with this name prefix are reported when live but not desired.
pub const MANAGED_PREFIX: &str = "qontract-reconcile-";

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
fn one_line(s: &str) -> String {
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

/// What was found for one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// Live with the desired image, fully rolled out.
    Ok,
    /// Live with another image in container `int`.
    WrongImage { expected: String, actual: String },
    /// Desired but not in the cluster.
    Missing,
    /// Desired image, but the rollout has not finished.
    RollingOut { why: String },
    /// Live but without a container named `int`.
    NoIntContainer,
    /// A `qontract-reconcile-*` object live in a checked namespace that the checkout does not deploy.
    Unexpected,
}

impl Verdict {
    /// The short label used in tables and summaries.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::WrongImage { .. } => "wrong image",
            Verdict::Missing => "missing",
            Verdict::RollingOut { .. } => "rolling out",
            Verdict::NoIntContainer => "no int container",
            Verdict::Unexpected => "unexpected",
        }
    }

    fn order(&self) -> usize {
        match self {
            Verdict::Ok => 0,
            Verdict::WrongImage { .. } => 1,
            Verdict::Missing => 2,
            Verdict::RollingOut { .. } => 3,
            Verdict::NoIntContainer => 4,
            Verdict::Unexpected => 5,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::WrongImage { expected, actual } => {
                write!(f, "wrong image (expected {expected}, found {actual})")
            }
            Verdict::RollingOut { why } => write!(f, "rolling out ({why})"),
            other => f.write_str(other.label()),
        }
    }
}

/// The verdict for one object, with what was expected and found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub namespace: String,
    pub kind: ObjectKind,
    pub name: String,
    pub verdict: Verdict,
    /// The desired image (none for an unexpected object).
    pub expected_image: Option<String>,
    /// The live image of container `int` (none when missing or without `int`).
    pub actual_image: Option<String>,
    pub pinned: bool,
    pub integration: Option<String>,
    pub shard: Option<String>,
}

impl Entry {
    /// `namespace/Kind/name`.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

/// Verdicts for every desired object and every unexpected live one, plus notes on namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Sorted by namespace, kind, name.
    pub entries: Vec<Entry>,
    /// Namespaces with no live object at all (missing from the cluster, or empty).
    pub empty_namespaces: Vec<String>,
}

impl Report {
    /// True when every object is `Ok`.
    pub fn is_ok(&self) -> bool {
        self.entries.iter().all(|e| e.verdict == Verdict::Ok)
    }

    /// One line: `12 objects: 10 ok, 1 wrong image, 1 missing`.
    pub fn summary(&self) -> String {
        let n = self.entries.len();
        let mut counts: BTreeMap<usize, (&'static str, usize)> = BTreeMap::new();
        for e in &self.entries {
            counts
                .entry(e.verdict.order())
                .or_insert((e.verdict.label(), 0))
                .1 += 1;
        }
        let parts: Vec<String> = counts
            .values()
            .map(|(label, c)| format!("{c} {label}"))
            .collect();
        let mut s = format!("{n} object{}", if n == 1 { "" } else { "s" });
        if !parts.is_empty() {
            s.push_str(": ");
            s.push_str(&parts.join(", "));
        }
        if !self.empty_namespaces.is_empty() {
            s.push_str(&format!(
                "; {} namespace{} without live objects",
                self.empty_namespaces.len(),
                if self.empty_namespaces.len() == 1 {
                    ""
                } else {
                    "s"
                }
            ));
        }
        s
    }

    /// One line per namespace without live objects.
    pub fn notes(&self) -> Vec<String> {
        self.empty_namespaces
            .iter()
            .map(|ns| {
                format!(
                    "namespace {ns}: no Deployment, StatefulSet or CronJob found (does the namespace exist in this cluster?)"
                )
            })
            .collect()
    }

    /// A plain-text table grouped by namespace, then the notes and the summary.
    pub fn render_table(&self) -> String {
        let header = ["VERDICT", "KIND", "NAME", "EXPECTED", "ACTUAL", "PINNED"];
        let rows: Vec<(String, [String; 6], Option<String>)> = self
            .entries
            .iter()
            .map(|e| {
                let why = match &e.verdict {
                    Verdict::RollingOut { why } => Some(why.clone()),
                    _ => None,
                };
                (
                    e.namespace.clone(),
                    [
                        e.verdict.label().to_string(),
                        e.kind.to_string(),
                        e.name.clone(),
                        e.expected_image.clone().unwrap_or_else(|| "-".into()),
                        e.actual_image.clone().unwrap_or_else(|| "-".into()),
                        if e.pinned {
                            "pinned".into()
                        } else {
                            String::new()
                        },
                    ],
                    why,
                )
            })
            .collect();
        let table: Vec<Vec<String>> = std::iter::once(header.map(String::from).to_vec())
            .chain(rows.iter().map(|(_, cols, _)| cols.to_vec()))
            .collect();
        let lines = crate::util::align(&table, "  ");
        let (head, lines) = lines
            .split_first()
            .map_or(("", &[][..]), |(h, l)| (h.as_str(), l));
        let mut out = String::new();
        let mut current: Option<&str> = None;
        for ((ns, _, why), line) in rows.iter().zip(lines) {
            if current != Some(ns.as_str()) {
                if current.is_some() {
                    out.push('\n');
                }
                out.push_str(&format!("namespace {ns}\n"));
                out.push_str(head);
                out.push('\n');
                current = Some(ns);
            }
            out.push_str(line);
            if let Some(why) = why {
                out.push_str(&format!("  ({why})"));
            }
            out.push('\n');
        }
        let notes = self.notes();
        if !notes.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            for n in notes {
                out.push_str(&format!("note: {n}\n"));
            }
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }
}

impl Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Report", 5)?;
        st.serialize_field("ok", &self.is_ok())?;
        st.serialize_field("summary", &self.summary())?;
        st.serialize_field("objects", &self.entries)?;
        st.serialize_field("empty_namespaces", &self.empty_namespaces)?;
        st.serialize_field("notes", &self.notes())?;
        st.end()
    }
}

/// Compares desired with live objects. `namespaces` are the namespaces that were checked: live
/// `qontract-reconcile-*` objects there that nothing desires are reported as unexpected.
pub fn compare(desired: &[Desired], live: &[LiveObject], namespaces: &[String]) -> Report {
    let by_key: HashMap<(&str, ObjectKind, &str), &LiveObject> = live
        .iter()
        .map(|l| ((l.namespace.as_str(), l.kind, l.name.as_str()), l))
        .collect();
    let mut seen: HashSet<(&str, ObjectKind, &str)> = HashSet::new();
    let mut entries = Vec::new();
    for d in desired {
        let key = (d.namespace.as_str(), d.kind, d.name.as_str());
        if !seen.insert(key) {
            continue; // the same object desired twice: one verdict
        }
        let found = by_key.get(&key);
        let verdict = match found {
            None => Verdict::Missing,
            Some(l) => match &l.image_int {
                None => Verdict::NoIntContainer,
                Some(actual) if *actual != d.image => Verdict::WrongImage {
                    expected: d.image.clone(),
                    actual: actual.clone(),
                },
                Some(_) => match &l.rolling {
                    Some(why) => Verdict::RollingOut { why: why.clone() },
                    None => Verdict::Ok,
                },
            },
        };
        entries.push(Entry {
            namespace: d.namespace.clone(),
            kind: d.kind,
            name: d.name.clone(),
            verdict,
            expected_image: Some(d.image.clone()),
            actual_image: found.and_then(|l| l.image_int.clone()),
            pinned: d.pinned,
            integration: Some(d.integration.clone()),
            shard: d.shard.clone(),
        });
    }
    let checked: HashSet<&str> = namespaces.iter().map(String::as_str).collect();
    for l in live {
        let key = (l.namespace.as_str(), l.kind, l.name.as_str());
        if checked.contains(l.namespace.as_str())
            && l.name.starts_with(MANAGED_PREFIX)
            && !seen.contains(&key)
        {
            seen.insert(key);
            entries.push(Entry {
                namespace: l.namespace.clone(),
                kind: l.kind,
                name: l.name.clone(),
                verdict: Verdict::Unexpected,
                expected_image: None,
                actual_image: l.image_int.clone(),
                pinned: false,
                integration: None,
                shard: None,
            });
        }
    }
    entries.sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
    let live_ns: HashSet<&str> = live.iter().map(|l| l.namespace.as_str()).collect();
    let all_ns: BTreeSet<&str> = namespaces
        .iter()
        .map(String::as_str)
        .chain(desired.iter().map(|d| d.namespace.as_str()))
        .collect();
    let empty_namespaces = all_ns
        .into_iter()
        .filter(|ns| !live_ns.contains(ns))
        .map(str::to_string)
        .collect();
    Report {
        entries,
        empty_namespaces,
    }
}

/// One line per object whose verdict changed from `prev` to `next` (new, changed or gone), and per
/// namespace that became empty or got live objects, for a wait loop that prints only changes.
pub fn diff_reports(prev: &Report, next: &Report) -> Vec<String> {
    let old: HashMap<String, &Verdict> =
        prev.entries.iter().map(|e| (e.key(), &e.verdict)).collect();
    let new_keys: HashSet<String> = next.entries.iter().map(Entry::key).collect();
    let mut lines = Vec::new();
    for e in &next.entries {
        let key = e.key();
        match old.get(&key) {
            Some(v) if **v == e.verdict => {}
            Some(v) => lines.push(format!("{key}: {v} -> {}", e.verdict)),
            None => lines.push(format!("{key}: {}", e.verdict)),
        }
    }
    for e in &prev.entries {
        let key = e.key();
        if !new_keys.contains(&key) {
            lines.push(format!("{key}: no longer reported (was {})", e.verdict));
        }
    }
    for ns in &next.empty_namespaces {
        if !prev.empty_namespaces.contains(ns) {
            lines.push(format!("namespace {ns}: no live objects"));
        }
    }
    for ns in &prev.empty_namespaces {
        if !next.empty_namespaces.contains(ns) {
            lines.push(format!("namespace {ns}: live objects found"));
        }
    }
    lines
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

async fn fetch_async(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    namespaces: &[String],
) -> Result<Vec<LiveObject>> {
    use kube::config::{Config, KubeConfigOptions, Kubeconfig};

    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..KubeConfigOptions::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            let kc = Kubeconfig::from_yaml(&text).map_err(|e| {
                Error::input(format!(
                    "{}: not a usable kubeconfig: {}",
                    path.display(),
                    flat(&e)
                ))
            })?;
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| Error::input(format!("{}: {}", path.display(), flat(&e))))?
        }
        None if context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| Error::input(format!("kubeconfig: {}", flat(&e))))?,
        None => Config::infer()
            .await
            .map_err(|e| Error::input(format!("no Kubernetes configuration: {}", flat(&e))))?,
    };
    let mut config = config;
    // Fail in seconds, not minutes, when the API is black-holed (VPN down, wrong cluster).
    config.connect_timeout = Some(std::time::Duration::from_secs(10));
    config.read_timeout = Some(std::time::Duration::from_secs(60));
    let server = config.cluster_url.to_string();
    let server = server.trim_end_matches('/').to_string();
    let client = kube::Client::try_from(config)
        .map_err(|e| Error::external(format!("Kubernetes client for {server}: {}", flat(&e))))?;
    let mut out = Vec::new();
    for ns in namespaces {
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
        for kind in ObjectKind::ALL {
            let req = kube::core::Request::new(kind.api_path(ns))
                .list(&kube::api::ListParams::default())
                .map_err(|e| {
                    Error::external(format!("listing {} in {ns}: {}", kind.plural(), flat(&e)))
                })?;
            let text = client
                .request_text(req)
                .await
                .map_err(|e| api_error(&e, &server, ns, kind))?;
            let source = format!("{server}{}", kind.api_path(ns));
            let doc: Value = serde_json::from_str(&text)
                .map_err(|e| Error::external(format!("{source}: not JSON: {e}")))?;
            let mut page = Vec::new();
            parse_list(&doc, &source, Some(kind), Some(ns), &mut page)?;
            // An answer for this collection holds only this kind in this namespace.
            out.extend(
                page.into_iter()
                    .filter(|l| l.kind == kind && l.namespace == *ns),
            );
        }
    }
    Ok(out)
}

/// A kube error as one line: 403 names the namespace, 404 says the namespace was not found,
/// anything else that is not an API answer says the server could not be reached.
fn api_error(e: &kube::Error, server: &str, ns: &str, kind: ObjectKind) -> Error {
    match e {
        kube::Error::Api(status) => {
            let msg = one_line(&status.message);
            match status.code {
                401 => Error::external(format!(
                    "{server}: unauthorized (401): log in again or check the kubeconfig credentials"
                )),
                403 => Error::external(format!(
                    "forbidden (403) to list {} in namespace {ns} on {server}: {msg}",
                    kind.plural()
                )),
                404 => Error::external(format!(
                    "namespace {ns} not found (404 listing {}) on {server}: {msg}",
                    kind.plural()
                )),
                code => Error::external(format!(
                    "{server}: listing {} in namespace {ns} failed ({code}): {msg}",
                    kind.plural()
                )),
            }
        }
        other => Error::external(format!(
            "cannot reach the Kubernetes API at {server}: {}",
            flat(other)
        )),
    }
}

/// An error and its sources, on one line: the first line of each, without "(os error N)".
fn flat(e: &dyn std::error::Error) -> String {
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
mod tests {
    //! Unit tests of the verify module: parsing live JSON, comparing, rendering, diffing.

    use super::*;

    const IMG: &str = "quay.io/app-sre/qontract-reconcile:abc1234";
    const PINNED: &str = "quay.io/app-sre/qontract-reconcile:p1nn3d0";

    fn fixture(name: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/verify")
            .join(name);
        std::fs::read_to_string(p).unwrap()
    }

    fn desired(kind: ObjectKind, name: &str, image: &str) -> Desired {
        Desired {
            namespace: "qr-int".into(),
            kind,
            name: name.into(),
            image: image.into(),
            pinned: false,
            integration: name.trim_start_matches(MANAGED_PREFIX).into(),
            shard: None,
        }
    }

    /// Desired state for `live-list.json`: one of every verdict.
    fn desired_int() -> Vec<Desired> {
        let mut shard1 = desired(
            ObjectKind::StatefulSet,
            "qontract-reconcile-terraform-resources-shard-1",
            PINNED,
        );
        shard1.pinned = true;
        shard1.integration = "terraform-resources".into();
        shard1.shard = Some("1".into());
        let mut shard2 = desired(
            ObjectKind::StatefulSet,
            "qontract-reconcile-terraform-resources-shard-2",
            IMG,
        );
        shard2.integration = "terraform-resources".into();
        shard2.shard = Some("2".into());
        vec![
            desired(
                ObjectKind::Deployment,
                "qontract-reconcile-gitlab-housekeeping",
                IMG,
            ),
            desired(
                ObjectKind::Deployment,
                "qontract-reconcile-slack-usergroups",
                IMG,
            ),
            shard1,
            shard2,
            desired(
                ObjectKind::CronJob,
                "qontract-reconcile-aws-garbage-collector",
                IMG,
            ),
            desired(ObjectKind::Deployment, "qontract-reconcile-no-int", IMG),
            desired(
                ObjectKind::Deployment,
                "qontract-reconcile-jira-watcher",
                IMG,
            ),
        ]
    }

    fn verdict_of<'a>(r: &'a Report, name: &str) -> &'a Verdict {
        &r.entries.iter().find(|e| e.name == name).unwrap().verdict
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

    #[test]
    fn compare_gives_every_verdict() {
        let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
        let r = compare(&desired_int(), &live, &["qr-int".to_string()]);
        assert_eq!(
            verdict_of(&r, "qontract-reconcile-gitlab-housekeeping"),
            &Verdict::Ok
        );
        assert_eq!(
            verdict_of(&r, "qontract-reconcile-slack-usergroups"),
            &Verdict::WrongImage {
                expected: IMG.into(),
                actual: "quay.io/app-sre/qontract-reconcile:0ld0ld0".into()
            }
        );
        assert_eq!(
            verdict_of(&r, "qontract-reconcile-terraform-resources-shard-1"),
            &Verdict::Ok
        );
        assert!(
            r.entries
                .iter()
                .find(|e| e.name.ends_with("shard-1"))
                .unwrap()
                .pinned
        );
        assert_eq!(
            verdict_of(&r, "qontract-reconcile-terraform-resources-shard-2"),
            &Verdict::RollingOut {
                why: "1/2 replicas updated".into()
            }
        );
        assert_eq!(
            verdict_of(&r, "qontract-reconcile-aws-garbage-collector"),
            &Verdict::Ok
        );
        assert_eq!(
            verdict_of(&r, "qontract-reconcile-no-int"),
            &Verdict::NoIntContainer
        );
        assert_eq!(
            verdict_of(&r, "qontract-reconcile-jira-watcher"),
            &Verdict::Missing
        );
        assert_eq!(
            verdict_of(&r, "qontract-reconcile-leftover"),
            &Verdict::Unexpected
        );
        assert!(r.entries.iter().all(|e| e.name != "unleash-proxy"));
        assert_eq!(r.entries.len(), 8);
        assert!(!r.is_ok());
        assert!(r.empty_namespaces.is_empty());
        assert_eq!(
            r.summary(),
            "8 objects: 3 ok, 1 wrong image, 1 missing, 1 rolling out, 1 no int container, 1 unexpected"
        );
    }

    #[test]
    fn unexpected_only_in_checked_namespaces() {
        let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
        let r = compare(&desired_int(), &live, &[]);
        assert!(r.entries.iter().all(|e| e.verdict != Verdict::Unexpected));
    }

    #[test]
    fn all_ok_and_empty_namespace_note() {
        let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
        let d = vec![desired(
            ObjectKind::Deployment,
            "qontract-reconcile-gitlab-housekeeping",
            IMG,
        )];
        let live: Vec<LiveObject> = live.into_iter().filter(|l| l.name == d[0].name).collect();
        let r = compare(&d, &live, &["qr-int".into(), "qr-gone".into()]);
        assert!(r.is_ok());
        assert_eq!(
            r.summary(),
            "1 object: 1 ok; 1 namespace without live objects"
        );
        assert_eq!(r.empty_namespaces, vec!["qr-gone".to_string()]);
        assert!(r
            .render_table()
            .contains("note: namespace qr-gone: no Deployment"));
        let empty = compare(&[], &[], &[]);
        assert!(empty.is_ok());
        assert_eq!(empty.summary(), "0 objects");
        assert_eq!(empty.render_table(), "0 objects\n");
    }

    #[test]
    fn table_and_json() {
        let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
        let mut d = desired_int();
        let mut other = desired(ObjectKind::Deployment, "qontract-reconcile-github", IMG);
        other.namespace = "qr-prod".into();
        d.push(other);
        let r = compare(&d, &live, &["qr-int".into(), "qr-prod".into()]);
        let table = r.render_table();
        insta::assert_snapshot!(table, @r"
        namespace qr-int
          VERDICT           KIND         NAME                                            EXPECTED                                    ACTUAL                                      PINNED
          ok                Deployment   qontract-reconcile-gitlab-housekeeping          quay.io/app-sre/qontract-reconcile:abc1234  quay.io/app-sre/qontract-reconcile:abc1234
          missing           Deployment   qontract-reconcile-jira-watcher                 quay.io/app-sre/qontract-reconcile:abc1234  -
          unexpected        Deployment   qontract-reconcile-leftover                     -                                           quay.io/app-sre/qontract-reconcile:0ld0ld0
          no int container  Deployment   qontract-reconcile-no-int                       quay.io/app-sre/qontract-reconcile:abc1234  -
          wrong image       Deployment   qontract-reconcile-slack-usergroups             quay.io/app-sre/qontract-reconcile:abc1234  quay.io/app-sre/qontract-reconcile:0ld0ld0
          ok                StatefulSet  qontract-reconcile-terraform-resources-shard-1  quay.io/app-sre/qontract-reconcile:p1nn3d0  quay.io/app-sre/qontract-reconcile:p1nn3d0  pinned
          rolling out       StatefulSet  qontract-reconcile-terraform-resources-shard-2  quay.io/app-sre/qontract-reconcile:abc1234  quay.io/app-sre/qontract-reconcile:abc1234  (1/2 replicas updated)
          ok                CronJob      qontract-reconcile-aws-garbage-collector        quay.io/app-sre/qontract-reconcile:abc1234  quay.io/app-sre/qontract-reconcile:abc1234

        namespace qr-prod
          VERDICT           KIND         NAME                                            EXPECTED                                    ACTUAL                                      PINNED
          missing           Deployment   qontract-reconcile-github                       quay.io/app-sre/qontract-reconcile:abc1234  -

        note: namespace qr-prod: no Deployment, StatefulSet or CronJob found (does the namespace exist in this cluster?)

        9 objects: 3 ok, 1 wrong image, 2 missing, 1 rolling out, 1 no int container, 1 unexpected; 1 namespace without live objects
        ");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["ok"], false);
        assert!(json["summary"].as_str().unwrap().starts_with("9 objects"));
        let wrong = json["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "qontract-reconcile-slack-usergroups")
            .unwrap();
        assert_eq!(wrong["verdict"]["status"], "wrong_image");
        assert_eq!(wrong["verdict"]["expected"], IMG);
        assert_eq!(wrong["kind"], "Deployment");
        assert_eq!(json["empty_namespaces"][0], "qr-prod");
    }

    #[test]
    fn diff_lists_only_changes() {
        let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
        let ns = vec!["qr-int".to_string()];
        let before = compare(&desired_int(), &live, &ns);
        assert!(diff_reports(&before, &before).is_empty());
        let mut live2 = live.clone();
        for l in &mut live2 {
            if l.name.ends_with("shard-2") {
                l.rolling = None;
            }
            if l.name.ends_with("slack-usergroups") {
                l.image_int = Some(IMG.into());
                l.rolling = Some("0/1 replicas ready".into());
            }
        }
        live2.retain(|l| l.name != "qontract-reconcile-leftover");
        let after = compare(&desired_int(), &live2, &ns);
        let lines = diff_reports(&before, &after);
        assert_eq!(
            lines,
            vec![
                "qr-int/Deployment/qontract-reconcile-slack-usergroups: wrong image (expected quay.io/app-sre/qontract-reconcile:abc1234, found quay.io/app-sre/qontract-reconcile:0ld0ld0) -> rolling out (0/1 replicas ready)".to_string(),
                "qr-int/StatefulSet/qontract-reconcile-terraform-resources-shard-2: rolling out (1/2 replicas updated) -> ok".to_string(),
                "qr-int/Deployment/qontract-reconcile-leftover: no longer reported (was unexpected)".to_string(),
            ]
        );
    }

    #[test]
    fn duplicate_desired_objects_get_one_verdict() {
        let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
        let d = vec![
            desired(
                ObjectKind::Deployment,
                "qontract-reconcile-gitlab-housekeeping",
                IMG,
            ),
            desired(
                ObjectKind::Deployment,
                "qontract-reconcile-gitlab-housekeeping",
                IMG,
            ),
        ];
        let r = compare(&d, &live, &[]);
        assert_eq!(r.entries.len(), 1);
    }

    #[test]
    fn desired_from_a_model_deployment_keeps_kind_image_and_pin() {
        let d = crate::model::Deployment {
            namespace: "app-interface-production".into(),
            cluster: Some("appint-prod-01".into()),
            environment: Some("production".into()),
            integration: "terraform-resources".into(),
            kind: crate::model::ObjectKind::StatefulSet,
            name: "qontract-reconcile-terraform-resources-ter-int-dev".into(),
            shard: Some("ter-int-dev".into()),
            image: "quay.io/app-sre/qontract-reconcile:f929a38".into(),
            pinned: true,
            pin_ref: Some("f929a38".into()),
        };
        assert_eq!(
            Desired::from(&d),
            Desired {
                namespace: "app-interface-production".into(),
                kind: ObjectKind::StatefulSet,
                name: "qontract-reconcile-terraform-resources-ter-int-dev".into(),
                image: "quay.io/app-sre/qontract-reconcile:f929a38".into(),
                pinned: true,
                integration: "terraform-resources".into(),
                shard: Some("ter-int-dev".into()),
            }
        );
        for (model, ours) in [
            (crate::model::ObjectKind::Deployment, ObjectKind::Deployment),
            (
                crate::model::ObjectKind::StatefulSet,
                ObjectKind::StatefulSet,
            ),
            (crate::model::ObjectKind::CronJob, ObjectKind::CronJob),
        ] {
            assert_eq!(ObjectKind::from(model), ours);
        }
    }

    #[test]
    fn integration_of_takes_the_longest_matching_name() {
        let known = [
            "terraform-resources",
            "terraform-resources-wrapper",
            "github",
        ];
        let of = |name: &str| integration_of(name, &known);
        assert_eq!(of("qontract-reconcile-github"), Some("github"));
        assert_eq!(
            of("qontract-reconcile-terraform-resources-app-sre"),
            Some("terraform-resources")
        );
        assert_eq!(
            of("qontract-reconcile-terraform-resources-wrapper-0"),
            Some("terraform-resources-wrapper")
        );
        assert_eq!(of("qontract-reconcile-githubber"), None);
        assert_eq!(of("qontract-reconcile-slack-usergroups"), None);
        assert_eq!(of("github"), None);
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
