//! The merge-request check read back: what each run of the check printed, a verdict per run
//! against the runs the check makes for this checkout, whether the shipped commits explain the
//! changes a run would make, and whether every pinned shard ran as the procedure says.
//!
//! ```text
//! reports (a folder, or a build: source) ──> report (each run's lines) ──┐
//! cluster::model (the runs the check makes, pins) ──────────────────────┴─> evaluate ─> runs
//! upstream::touched (the integrations the commits change) ──> explain ──────────────────┘
//!                                                            pins ──> note (text, Markdown)
//! ```

pub mod branch;
pub mod explain;
pub mod note;
pub mod pins;
pub mod report;
pub mod reports;
pub mod source;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::cluster::model::Model;
use reports::Reports;

/// What the check said of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Failed: in the fail folder, an `[ERROR]` line, a traceback, or `INTEGRATION FAILED`.
    Failed,
    /// A run the check makes for this checkout that has no report.
    Missing,
    /// Actions or other output: what the new version would change.
    Changes,
    /// A report of a run no rule predicts.
    Unexpected,
    /// Nothing but pull lines, or an empty report.
    Clean,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Failed => "failed",
            Verdict::Missing => "missing",
            Verdict::Changes => "changes",
            Verdict::Unexpected => "unexpected",
            Verdict::Clean => "clean",
        }
    }
}

pub use report::ActionCount;

/// One run of the check and its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    /// As the check names the run (`terraform-resources_override_f929a38`).
    pub name: String,
    pub integration: String,
    /// The image it ran: as its pull lines name it, else the one the check gives it.
    pub image: Option<String>,
    pub verdict: Verdict,
    /// For a run with changes: whether the shipped commits explain them; `None` otherwise.
    pub explained: Option<bool>,
    /// The commits that explain them (short id and subject).
    pub explained_by: Vec<String>,
    /// Why not, when not explained.
    pub unexplained_because: Option<String>,
    /// Its actions, counted by kind and target.
    pub actions: Vec<ActionCount>,
    /// Other output lines: how many, and the first ones.
    pub messages: usize,
    pub first_lines: Vec<String>,
    /// Error lines: how many, and the first ones.
    pub errors: usize,
    pub first_errors: Vec<String>,
    /// Where its report was read.
    pub report: Option<String>,
}

/// A run the check makes for this checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub name: String,
    pub integration: String,
    /// The image it runs.
    pub image: String,
    /// It must have a report (every run of a promotion; the override runs of an integration
    /// whose normal run has one).
    pub required: bool,
}

/// The versions a promotion moves between (the `.env` tags of the merge base and the branch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Versions {
    pub old: Option<String>,
    pub new: String,
}

impl Versions {
    /// The branch moves the `.env` tag.
    pub fn is_promotion(&self) -> bool {
        self.old
            .as_deref()
            .is_some_and(|o| !crate::util::same_commit(o, &self.new))
    }
}

/// The name an override run ends with, and the integration's run before it.
pub fn split_override(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once("_override_") {
        Some((base, r)) if !base.is_empty() && !r.is_empty() => (base, Some(r)),
        _ => (name, None),
    }
}

/// The runs the check makes for this checkout: one per integration with a `pr_check` block
/// (the first word of its `cmd`), and one per pinned `imageRef` of its shards
/// (`<run>_override_<ref>`). For a promotion every one of them must have a report; otherwise
/// only the override runs of an integration that ran.
pub fn expected(model: &Model, versions: &Versions, reports: &Reports) -> Vec<Expected> {
    let promotion = versions.is_promotion();
    let mut out = Vec::new();
    let env_image = format!("{}:{}", model.image, versions.new);
    let checked: BTreeMap<&str, &str> = model
        .integrations
        .iter()
        .filter_map(|i| i.check_run.as_deref().map(|r| (i.name.as_str(), r)))
        .collect();
    for (integration, run) in &checked {
        out.push(Expected {
            name: run.to_string(),
            integration: integration.to_string(),
            image: env_image.clone(),
            required: promotion,
        });
    }
    for r in model.pr_check(None, &versions.new) {
        let Some(run) = checked.get(r.integration.as_str()) else {
            continue;
        };
        let (_, Some(pin)) = split_override(&r.name) else {
            continue;
        };
        let name = format!("{run}_override_{pin}");
        out.push(Expected {
            required: promotion || reports.runs.contains_key(*run),
            name,
            integration: r.integration.clone(),
            image: r.image.clone(),
        });
    }
    out
}

/// The verdict of every run: each expected one, and each report no rule predicts.
pub fn evaluate(expected: &[Expected], reports: &Reports) -> Vec<Run> {
    let mut out = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for e in expected {
        seen.insert(&e.name);
        match reports.runs.get(&e.name) {
            Some(r) => out.push(run_of(&e.name, &e.integration, Some(&e.image), r, false)),
            None if e.required => out.push(Run {
                name: e.name.clone(),
                integration: e.integration.clone(),
                image: Some(e.image.clone()),
                verdict: Verdict::Missing,
                explained: None,
                explained_by: Vec::new(),
                unexplained_because: None,
                actions: Vec::new(),
                messages: 0,
                first_lines: Vec::new(),
                errors: 0,
                first_errors: Vec::new(),
                report: None,
            }),
            None => {}
        }
    }
    for (name, r) in &reports.runs {
        if seen.contains(name.as_str()) {
            continue;
        }
        let (base, _) = split_override(name);
        out.push(run_of(name, base, None, r, true));
    }
    out.sort_by(|a, b| (a.verdict, &a.name).cmp(&(b.verdict, &b.name)));
    out
}

fn run_of(
    name: &str,
    integration: &str,
    image: Option<&str>,
    r: &reports::Report,
    unexpected: bool,
) -> Run {
    let p = &r.parsed;
    let verdict = if r.failed || p.errors > 0 {
        Verdict::Failed
    } else if unexpected {
        Verdict::Unexpected
    } else if p.is_clean() {
        Verdict::Clean
    } else {
        Verdict::Changes
    };
    let mut actions = p.counts.clone();
    actions.sort_by(|a, b| (&a.kind, &a.target).cmp(&(&b.kind, &b.target)));
    // The image its pull lines name in full, else the one the check gives it.
    let pulled = p
        .pulled
        .iter()
        .find(|i| i.contains('/') && i.contains(':'))
        .cloned();
    Run {
        name: name.to_string(),
        integration: integration.to_string(),
        image: pulled.or_else(|| image.map(str::to_string)),
        verdict,
        explained: None,
        explained_by: Vec::new(),
        unexplained_because: None,
        actions,
        messages: p.messages,
        first_lines: p.first_messages.clone(),
        errors: p.errors,
        first_errors: p.first_errors.clone(),
        report: Some(r.source.clone()),
    }
}

/// The counts of a check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Runs with a report.
    pub ran: usize,
    pub clean: usize,
    pub changes: usize,
    /// Runs with changes that the shipped commits do not explain.
    pub unexplained: Vec<String>,
    pub failed: Vec<String>,
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    /// Pin checks that do not hold.
    pub pins_failing: usize,
    pub pins: usize,
}

impl Summary {
    pub fn of(runs: &[Run], pins: &[pins::PinCheck]) -> Summary {
        let mut s = Summary::default();
        for r in runs {
            let list = match r.verdict {
                Verdict::Clean => {
                    s.clean += 1;
                    None
                }
                Verdict::Changes => {
                    s.changes += 1;
                    (r.explained != Some(true)).then_some(&mut s.unexplained)
                }
                Verdict::Failed => Some(&mut s.failed),
                Verdict::Missing => Some(&mut s.missing),
                Verdict::Unexpected => Some(&mut s.unexpected),
            };
            if r.verdict != Verdict::Missing {
                s.ran += 1;
            }
            if let Some(l) = list {
                l.push(r.name.clone());
            }
        }
        s.pins = pins.len();
        s.pins_failing = pins.iter().filter(|p| !p.holds).count();
        s
    }

    /// Everything ran clean or explained, and every pin check holds (a report no rule predicts
    /// is shown, and does not fail the check).
    pub fn is_good(&self) -> bool {
        self.unexplained.is_empty()
            && self.failed.is_empty()
            && self.missing.is_empty()
            && self.pins_failing == 0
    }
}

/// The three things a check is read against, gathered at once (each waits on the disk or on
/// git): the model of the checkout, the versions its branch moves between, and the reports.
pub fn gather(
    checkout: &crate::checkout::Checkout,
    cache_dir: Option<&std::path::Path>,
    base: Option<&str>,
    reports: impl FnOnce() -> crate::Result<Reports>,
) -> crate::Result<(Model, Versions, Reports)> {
    // git answers in its own process while the model and the reports are read here.
    let pending = branch::start_versions(checkout, base)?;
    let model = Model::load(checkout, cache_dir);
    let reports = reports();
    let versions = pending.finish();
    Ok((model?, versions?, reports?))
}

/// A check read back: where from, whether it finished, the versions, every run's verdict and
/// the pin checks.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The folder, build or pipeline the reports came from.
    pub source: String,
    pub progress: source::Progress,
    pub versions: Versions,
    pub runs: Vec<Run>,
    pub pins: Vec<pins::PinCheck>,
    pub summary: Summary,
    /// What could not be read.
    pub warnings: Vec<String>,
}

impl Check {
    /// The verdicts of `reports` for this checkout; `commits` are the shipped commits with what
    /// they touch (`None` when the branch moves no version).
    pub fn new(
        model: &Model,
        versions: Versions,
        reports: &Reports,
        commits: Option<&[crate::upstream::touched::Touched]>,
        source: String,
        progress: source::Progress,
    ) -> Check {
        let expected = expected(model, &versions, reports);
        let mut runs = evaluate(&expected, reports);
        explain::explain(&mut runs, commits);
        pins::explain_manager(&mut runs, model, &versions, reports);
        let pins = pins::check(model, &versions, reports);
        let summary = Summary::of(&runs, &pins);
        Check {
            source,
            progress,
            versions,
            runs,
            pins,
            summary,
            warnings: reports.warnings.clone(),
        }
    }

    /// A check that has not finished: no runs yet.
    pub fn unfinished(source: String, progress: source::Progress, versions: Versions) -> Check {
        Check {
            source,
            progress,
            versions,
            runs: Vec::new(),
            pins: Vec::new(),
            summary: Summary::default(),
            warnings: Vec::new(),
        }
    }

    /// The check finished.
    pub fn finished(&self) -> bool {
        matches!(self.progress, source::Progress::Finished(_))
    }
}
