//! The stage report: one entry per object, its text (one screen), its JSON and the summary that
//! promotions and merge requests carry.

use serde::ser::SerializeStruct;
use serde::Serialize;

use super::logs::Scan;
use super::Verdict;
use crate::cluster::model::Deployment;
use crate::history::stats::{format_duration, format_rfc3339, format_time};

/// What an object logged and what its runs said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Errors {
    pub scan: Scan,
    /// A failed run Prometheus saw, in words.
    pub failed_runs: Option<String>,
}

impl std::ops::Deref for Errors {
    type Target = Scan;
    fn deref(&self) -> &Scan {
        &self.scan
    }
}

impl std::ops::DerefMut for Errors {
    fn deref_mut(&mut self) -> &mut Scan {
        &mut self.scan
    }
}

/// The verdict on one object of stage.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectReport {
    pub namespace: String,
    pub cluster: Option<String>,
    pub integration: String,
    pub shard: Option<String>,
    /// The Deployment's (StatefulSet's, CronJob's) name.
    pub object: String,
    pub pod: Option<String>,
    pub image: Option<String>,
    /// The full id of the commit it runs, when the upstream knows its tag.
    pub commit: Option<String>,
    /// When container `int` started (seconds since the epoch).
    pub since: Option<i64>,
    pub restarts: u64,
    pub errors: Errors,
    pub last_run_status: Option<f64>,
    pub executions: Option<f64>,
    pub verdict: Verdict,
    /// Why, in words (empty when the verdict says it all).
    pub why: String,
}

impl ObjectReport {
    /// An entry for `d`, nothing found yet.
    pub fn new(d: &Deployment) -> ObjectReport {
        ObjectReport {
            namespace: d.namespace.clone(),
            cluster: d.cluster.clone(),
            integration: d.integration.clone(),
            shard: d.shard.clone(),
            object: d.name.clone(),
            pod: None,
            image: None,
            commit: None,
            since: None,
            restarts: 0,
            errors: Errors::default(),
            last_run_status: None,
            executions: None,
            verdict: Verdict::Unknown,
            why: String::new(),
        }
    }

    /// Sets the verdict and why.
    pub fn verdict(mut self, v: Verdict, why: &str) -> ObjectReport {
        self.verdict = v;
        self.why = why.to_string();
        self
    }

    /// `integration` or `integration/shard`.
    pub fn label(&self) -> String {
        match &self.shard {
            Some(s) => format!("{}/{s}", self.integration),
            None => self.integration.clone(),
        }
    }
}

impl Serialize for ObjectReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ObjectReport", 15)?;
        st.serialize_field("namespace", &self.namespace)?;
        st.serialize_field("cluster", &self.cluster)?;
        st.serialize_field("integration", &self.integration)?;
        st.serialize_field("shard", &self.shard)?;
        st.serialize_field("object", &self.object)?;
        st.serialize_field("pod", &self.pod)?;
        st.serialize_field("image", &self.image)?;
        st.serialize_field("commit", &self.commit)?;
        st.serialize_field("since", &self.since.map(format_rfc3339))?;
        st.serialize_field("restarts", &self.restarts)?;
        st.serialize_field(
            "errors",
            &serde_json::json!({
                "count": self.errors.count() + u64::from(self.errors.failed_runs.is_some()),
                "first": self.errors.first,
                "error_lines": self.errors.errors,
                "tracebacks": self.errors.tracebacks,
                "failed_run": self.errors.failed_runs,
                "lines": self.errors.lines,
                "cut": self.errors.cut,
            }),
        )?;
        st.serialize_field("last_run_status", &self.last_run_status)?;
        st.serialize_field("executions", &self.executions)?;
        st.serialize_field("verdict", &self.verdict)?;
        st.serialize_field("why", &self.why)?;
        st.end()
    }
}

/// Above this many objects, the text folds the soaked ones into one line.
pub const FOLD_OVER: usize = 20;

/// Stage's report on one version.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub component: String,
    /// The version's full commit id.
    pub id: String,
    /// How it was asked for (`latest`, a branch, an id).
    pub given: String,
    /// The moment asked about.
    pub at: i64,
    pub soak: std::time::Duration,
    pub objects: Vec<ObjectReport>,
    /// Clusters not asked: `cluster: why`.
    pub not_checked: Vec<String>,
    /// The Prometheus asked, as shown.
    pub prometheus: Option<String>,
}

impl Report {
    /// Every object has soaked (and there is at least one).
    pub fn is_soaked(&self) -> bool {
        !self.objects.is_empty() && self.objects.iter().all(|o| o.verdict == Verdict::Soaked)
    }

    /// `5 objects: 2 soaked, 1 young, 1 errors, 1 not-running`.
    pub fn counts(&self) -> String {
        let n = self.objects.len();
        let mut parts = Vec::new();
        for v in [
            Verdict::Soaked,
            Verdict::Young,
            Verdict::Errors,
            Verdict::NotRunning,
            Verdict::Unknown,
        ] {
            let c = self.objects.iter().filter(|o| o.verdict == v).count();
            if c > 0 {
                parts.push(format!("{c} {}", v.label()));
            }
        }
        format!(
            "{n} object{}{}{}",
            if n == 1 { "" } else { "s" },
            if parts.is_empty() { "" } else { ": " },
            parts.join(", ")
        )
    }

    /// How long stage has run the version: the shortest time among the objects that run it.
    pub fn ran_for(&self) -> Option<i64> {
        self.objects
            .iter()
            .filter(|o| {
                matches!(
                    o.verdict,
                    Verdict::Soaked | Verdict::Young | Verdict::Errors
                )
            })
            .filter_map(|o| o.since.map(|s| self.at - s))
            .min()
    }

    /// The integrations that logged errors (or whose runs failed), each once.
    pub fn with_errors(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .objects
            .iter()
            .filter(|o| o.verdict == Verdict::Errors)
            .map(ObjectReport::label)
            .collect();
        out.dedup();
        out
    }

    /// One line: has stage run it cleanly, for how long, which integrations logged errors.
    pub fn summary(&self) -> String {
        let short = crate::util::short_id(&self.id);
        let mut s = if self.is_soaked() {
            format!(
                "stage has run {short} cleanly for {} (at least {} asked)",
                self.ran_for().map_or_else(|| "-".into(), format_duration),
                crate::util::human_duration(self.soak)
            )
        } else {
            match self.ran_for() {
                Some(t) => format!(
                    "stage has run {short} for {} of the {} asked",
                    format_duration(t),
                    crate::util::human_duration(self.soak)
                ),
                None => format!("stage does not run {short}"),
            }
        };
        s.push_str(&format!("; {}", self.counts()));
        let errors = self.with_errors();
        if !errors.is_empty() {
            s.push_str(&format!("; errors in {}", errors.join(", ")));
        }
        s
    }

    /// The text: one line per object, the errors' first lines under it, notes, the summary.
    /// With more than [`FOLD_OVER`] objects and not `all`, the soaked ones are one line of
    /// names, so that what needs a look fits one screen.
    pub fn render(&self, all: bool) -> String {
        let asked = if self.id.starts_with(&self.given.to_ascii_lowercase()) {
            String::new()
        } else {
            format!(" ({})", self.given)
        };
        let mut out = format!(
            "stage for {} {}{asked}, at {}, soak {}\n\n",
            self.component,
            crate::util::short_id(&self.id),
            format_time(self.at),
            crate::util::human_duration(self.soak)
        );
        let mut rows = vec![[
            "VERDICT",
            "INTEGRATION",
            "NAMESPACE",
            "SINCE",
            "FOR",
            "RESTARTS",
            "ERRORS",
            "IMAGE",
        ]
        .map(String::from)
        .to_vec()];
        let fold = !all && self.objects.len() > FOLD_OVER;
        let shown: Vec<&ObjectReport> = self
            .objects
            .iter()
            .filter(|o| !fold || o.verdict != Verdict::Soaked)
            .collect();
        for o in &shown {
            let errs = o.errors.count();
            let failed = o.errors.failed_runs.is_some();
            rows.push(vec![
                o.verdict.label().to_string(),
                o.label(),
                o.namespace.clone(),
                o.since.map_or_else(|| "-".into(), format_time),
                o.since
                    .map_or_else(|| "-".into(), |s| format_duration(self.at - s)),
                o.restarts.to_string(),
                match (errs, failed) {
                    (0, false) => "0".into(),
                    (n, false) => n.to_string(),
                    (0, true) => "failed run".into(),
                    (n, true) => format!("{n}+failed run"),
                },
                o.image
                    .as_deref()
                    .map(|i| i.rsplit('/').next().unwrap_or(i).to_string())
                    .unwrap_or_else(|| "-".into()),
            ]);
        }
        let lines = crate::util::align(&rows, "  ");
        for (i, line) in lines.iter().enumerate() {
            out.push_str(line);
            out.push('\n');
            let Some(o) = i.checked_sub(1).and_then(|i| shown.get(i)) else {
                continue;
            };
            if !o.why.is_empty() {
                out.push_str(&format!("      {}\n", o.why));
            }
            for l in &o.errors.first {
                out.push_str(&format!("      | {l}\n"));
            }
            if let Some(f) = &o.errors.failed_runs {
                out.push_str(&format!("      | {f}\n"));
            }
        }
        if fold {
            let soaked: Vec<String> = self
                .objects
                .iter()
                .filter(|o| o.verdict == Verdict::Soaked)
                .map(ObjectReport::label)
                .collect();
            if !soaked.is_empty() {
                out.push_str(&format!(
                    "  soaked ({}, --all lists them): {}\n",
                    soaked.len(),
                    soaked.join(", ")
                ));
            }
        }
        for c in &self.not_checked {
            out.push_str(&format!("note: not checked: {c}\n"));
        }
        if self.prometheus.is_none() {
            out.push_str("note: judged by the logs alone (no --prometheus)\n");
        }
        let quiet: Vec<String> = self
            .objects
            .iter()
            .filter(|o| {
                matches!(o.verdict, Verdict::Soaked | Verdict::Young) && o.errors.lines == 0
            })
            .map(ObjectReport::label)
            .collect();
        if !quiet.is_empty() {
            out.push_str(&format!(
                "note: printed nothing since it started, so its logs show nothing of a change: {}\n",
                quiet.join(", ")
            ));
        }
        out.push_str(
            "note: stage runs on production data in dry-run mode: a change may never be exercised there\n",
        );
        out.push('\n');
        out.push_str(&self.summary());
        out.push('\n');
        out
    }
}

impl Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Report", 11)?;
        st.serialize_field("component", &self.component)?;
        st.serialize_field("commit", &self.id)?;
        st.serialize_field("given", &self.given)?;
        st.serialize_field("at", &format_rfc3339(self.at))?;
        st.serialize_field("soak_seconds", &self.soak.as_secs())?;
        st.serialize_field("soaked", &self.is_soaked())?;
        st.serialize_field("ran_for_seconds", &self.ran_for())?;
        st.serialize_field("summary", &self.summary())?;
        st.serialize_field("objects", &self.objects)?;
        st.serialize_field("not_checked", &self.not_checked)?;
        st.serialize_field("prometheus", &self.prometheus)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::model::ObjectKind;

    fn object(i: usize, v: Verdict) -> ObjectReport {
        let d = Deployment {
            namespace: "stage".into(),
            cluster: None,
            environment: None,
            integration: format!("i{i:02}"),
            kind: ObjectKind::Deployment,
            name: format!("qontract-reconcile-i{i:02}"),
            shard: None,
            image: "q:abc1234".into(),
            pinned: false,
            pin_ref: None,
            args: Vec::new(),
        };
        let mut o = ObjectReport::new(&d).verdict(v, "");
        o.since = Some(0);
        o.errors.lines = u64::from(i != 0);
        o
    }

    fn report(n: usize) -> Report {
        Report {
            component: "qontract-reconcile".into(),
            id: "abc1234abc1234abc1234abc1234abc1234abc12".into(),
            given: "latest".into(),
            at: 7200,
            soak: std::time::Duration::from_secs(3600),
            objects: (0..n)
                .map(|i| {
                    object(
                        i,
                        if i == 3 {
                            Verdict::Young
                        } else {
                            Verdict::Soaked
                        },
                    )
                })
                .collect(),
            not_checked: Vec::new(),
            prometheus: Some("p".into()),
        }
    }

    #[test]
    fn many_soaked_objects_are_folded_into_one_line_unless_all() {
        let r = report(FOLD_OVER + 1);
        let text = r.render(false);
        assert_eq!(
            text.lines().filter(|l| l.starts_with("  soaked  ")).count(),
            0
        );
        assert!(text.contains("\n  young    i03 "), "{text}");
        assert!(
            text.contains("\n  soaked (20, --all lists them): i00, i01, i02, i04, "),
            "{text}"
        );
        let all = r.render(true);
        assert_eq!(
            all.lines().filter(|l| l.starts_with("  soaked  ")).count(),
            20
        );
        // Few objects: every row.
        assert!(text.contains("\nnote: printed nothing since it started, so its logs show nothing of a change: i00\n"), "{text}");
        let few = report(FOLD_OVER).render(false);
        assert_eq!(
            few.lines().filter(|l| l.starts_with("  soaked  ")).count(),
            19
        );
        assert!(few.ends_with(
            "stage has run abc1234 for 2h of the 1h asked; 20 objects: 19 soaked, 1 young\n"
        ));
    }
}
