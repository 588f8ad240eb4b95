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

#[cfg(test)]
mod tests {
    //! Unit tests of the comparison: verdicts, rendering, diffing.

    use super::*;
    use crate::cluster::kube::parse_live;
    use crate::cluster::kube::tests::fixture;

    const IMG: &str = "quay.io/app-sre/qontract-reconcile:abc1234";
    const PINNED: &str = "quay.io/app-sre/qontract-reconcile:p1nn3d0";

    fn desired(kind: ObjectKind, name: &str, image: &str) -> Deployment {
        Deployment {
            namespace: "qr-int".into(),
            cluster: None,
            environment: None,
            integration: name.trim_start_matches(MANAGED_PREFIX).into(),
            kind,
            name: name.into(),
            shard: None,
            image: image.into(),
            pinned: false,
            pin_ref: None,
        }
    }

    /// Desired state for `live-list.json`: one of every verdict.
    fn desired_int() -> Vec<Deployment> {
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
    fn compare_gives_every_verdict() {
        let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
        let r = compare(&desired_int(), &live, &["qr-int".to_string()]);
        let verdicts = [
            ("gitlab-housekeeping", Verdict::Ok),
            (
                "slack-usergroups",
                Verdict::WrongImage {
                    expected: IMG.into(),
                    actual: "quay.io/app-sre/qontract-reconcile:0ld0ld0".into(),
                },
            ),
            ("terraform-resources-shard-1", Verdict::Ok),
            (
                "terraform-resources-shard-2",
                Verdict::RollingOut {
                    why: "1/2 replicas updated".into(),
                },
            ),
            ("aws-garbage-collector", Verdict::Ok),
            ("no-int", Verdict::NoIntContainer),
            ("jira-watcher", Verdict::Missing),
            ("leftover", Verdict::Unexpected),
        ];
        for (name, verdict) in &verdicts {
            let name = format!("{MANAGED_PREFIX}{name}");
            assert_eq!(verdict_of(&r, &name), verdict, "{name}");
        }
        assert!(
            r.entries
                .iter()
                .find(|e| e.name.ends_with("shard-1"))
                .unwrap()
                .pinned
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
        let one = desired(
            ObjectKind::Deployment,
            "qontract-reconcile-gitlab-housekeeping",
            IMG,
        );
        let d = vec![one.clone(), one];
        let r = compare(&d, &live, &[]);
        assert_eq!(r.entries.len(), 1);
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
}
