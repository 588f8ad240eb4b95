//! Verify: compare the desired Deployments, StatefulSets and CronJobs (the model's objects) with
//! the live cluster objects, one verdict each.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::ser::SerializeStruct;
use serde::Serialize;

use super::kube::LiveObject;
use super::model::{Deployment, ObjectKind};

/// Objects with this name prefix are reported when live but not desired.
pub const MANAGED_PREFIX: &str = "qontract-reconcile-";

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
    /// Its cluster could not be asked: why (no kubeconfig context for it).
    NotChecked { why: String },
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
            Verdict::NotChecked { .. } => "not checked",
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
            Verdict::NotChecked { .. } => 6,
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
pub struct ObjectReport {
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

impl ObjectReport {
    /// `namespace/Kind/name`.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

/// Verdicts for every desired object and every unexpected live one, plus notes on namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Sorted by namespace, kind, name.
    pub entries: Vec<ObjectReport>,
    /// Namespaces with no live object at all (missing from the cluster, or empty).
    pub empty_namespaces: Vec<String>,
    /// Clusters not asked, with why (`cluster: why`).
    pub not_checked: Vec<String>,
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

    /// One line per namespace without live objects, and per cluster not checked.
    pub fn notes(&self) -> Vec<String> {
        self.empty_namespaces
            .iter()
            .map(|ns| {
                format!(
                    "namespace {ns}: no Deployment, StatefulSet or CronJob found (does the namespace exist in this cluster?)"
                )
            })
            .chain(self.not_checked.iter().map(|c| format!("not checked: {c}")))
            .collect()
    }

    /// Adds the objects of a cluster that was not asked, each `not checked` with `why`, and the
    /// cluster's note.
    pub fn add_not_checked(&mut self, cluster: &str, desired: &[Deployment], why: &str) {
        for d in desired {
            self.entries.push(ObjectReport {
                namespace: d.namespace.clone(),
                kind: d.kind,
                name: d.name.clone(),
                verdict: Verdict::NotChecked {
                    why: why.to_string(),
                },
                expected_image: Some(d.image.clone()),
                actual_image: None,
                pinned: d.pinned,
                integration: Some(d.integration.clone()),
                shard: d.shard.clone(),
            });
        }
        self.entries
            .sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
        self.not_checked.push(format!("cluster {cluster}: {why}"));
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
        let mut st = s.serialize_struct("Report", 6)?;
        st.serialize_field("ok", &self.is_ok())?;
        st.serialize_field("summary", &self.summary())?;
        st.serialize_field("objects", &self.entries)?;
        st.serialize_field("empty_namespaces", &self.empty_namespaces)?;
        st.serialize_field("not_checked", &self.not_checked)?;
        st.serialize_field("notes", &self.notes())?;
        st.end()
    }
}

/// Compares desired with live objects. `namespaces` are the namespaces that were checked: live
/// `qontract-reconcile-*` objects there that nothing desires are reported as unexpected.
pub fn compare(desired: &[Deployment], live: &[LiveObject], namespaces: &[String]) -> Report {
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
        entries.push(ObjectReport {
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
            entries.push(ObjectReport {
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
        not_checked: Vec::new(),
    }
}

/// One line per object whose verdict changed from `prev` to `next` (new, changed or gone), and per
/// namespace that became empty or got live objects, for a wait loop that prints only changes.
pub fn diff_reports(prev: &Report, next: &Report) -> Vec<String> {
    let old: HashMap<String, &Verdict> =
        prev.entries.iter().map(|e| (e.key(), &e.verdict)).collect();
    let new_keys: HashSet<String> = next.entries.iter().map(ObjectReport::key).collect();
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
