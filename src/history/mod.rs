//! A component's promotions in the checkout's git history, and where a commit runs.
//!
//! - [`log`]: the checkout's history of some files in one `git log -p` pass, parsed.
//! - [`stats`]: dates, durations, the median and the 90th percentile.
//! - [`runs`]: which locations run a commit, and which promotion brought it there.
//!
//! A promotion is a commit that moved the component's `<P>_IMAGE_TAG` of `.env`. What the
//! history shows of it:
//!
//! - **Merges.** The history is read twice, in one pass each: every commit of HEAD's history
//!   (merges show no change of their own, so a merge is never a promotion), and the first-parent
//!   history (the mainline), where a merge shows what it brought. A promotion committed on a
//!   branch *landed* with the merge that brought it to the mainline: its date is the merge's, its
//!   commit and author are the promotion's own.
//! - **Partial promotions.** A commit other than the promotion's that moves a location of the
//!   component (in a file that holds one today) from another commit to the promotion's new
//!   version is a *part* of that promotion, listed under it. The promotion is *complete* when
//!   the last of its parts (or the promotion itself) landed; lead times run to completion.
//! - **Lead time** of a shipped upstream commit: from its commit date to the completion of the
//!   promotion that shipped it.

pub mod log;
mod reach;
mod record;
pub mod runs;
pub mod stats;

pub use record::Record;

use std::path::PathBuf;

use crate::checkout::{parse_env, Checkout, Component, ENV_FILE};
use crate::error::Result;
use crate::upstream::ancestry::Graph;
use crate::upstream::{Upstream, UpstreamOptions};
use crate::util::{is_commit_hex, same_commit};
use log::{hex_tokens, Commit, FileDiff};
use stats::Spread;

/// How to reach the component's upstream.
#[derive(Debug, Clone)]
pub struct Options {
    /// The upstream repository (default: the component's `<P>_REPO`).
    pub upstream: Option<String>,
    /// The cache folder (upstream clones).
    pub cache_dir: PathBuf,
    /// Use no network: answer from the upstream cache alone.
    pub offline: bool,
    /// Show the upstream's fetch progress.
    pub progress: bool,
}

impl Options {
    /// Opens the upstream cache of `c` (or of `--upstream`).
    pub fn open(&self, c: &Component) -> Result<Upstream> {
        let url = self.upstream.clone().unwrap_or_else(|| c.repo.clone());
        Upstream::open(
            &url,
            UpstreamOptions {
                cache_dir: self.cache_dir.clone(),
                offline: self.offline,
                progress: self.progress,
            },
        )
    }
}

/// A commit of the checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRef {
    pub id: String,
    pub author_name: String,
    pub author_email: String,
    pub subject: String,
    /// Its commit date (seconds since the epoch).
    pub time: i64,
}

impl CommitRef {
    fn of(c: &Commit) -> CommitRef {
        CommitRef {
            id: c.id.clone(),
            author_name: c.author_name.clone(),
            author_email: c.author_email.clone(),
            subject: c.subject.clone(),
            time: c.commit_time,
        }
    }
}

/// Where a change reached the mainline (the first-parent history of HEAD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landing {
    /// The mainline commit: the change's own commit, or the merge that brought it.
    pub commit: String,
    /// Its commit date.
    pub time: i64,
    /// `commit` is a merge that brought the change from a branch.
    pub merge: bool,
}

/// A commit that moved some locations to a promotion's version after (or before) the `.env`
/// change: part of the promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub commit: CommitRef,
    pub landed: Landing,
    /// The files it moved.
    pub paths: Vec<String>,
}

/// What a promotion shipped, as the upstream tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipped {
    /// The full ids of the old and new versions.
    pub old: String,
    pub new: String,
    /// Commits of `old..new`.
    pub commits: usize,
    /// Commits of `new..old`: what a rollback (or a move to a diverged commit) undid.
    pub undone: usize,
    /// For each shipped commit: from its commit date to the promotion's completion, in seconds.
    pub lead_times: Vec<i64>,
}

/// One promotion: a commit that moved the component's `.env` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// The commit that moved the `.env` tag.
    pub commit: CommitRef,
    /// The tag before and after, as written.
    pub old: String,
    pub new: String,
    /// Where the `.env` change reached the mainline: the promotion's date.
    pub landed: Landing,
    /// Other commits that moved locations to the new version, oldest first.
    pub parts: Vec<Part>,
    /// What it shipped, when the upstream knows both versions.
    pub shipped: Option<Shipped>,
}

impl Promotion {
    /// When the promotion was complete: the latest landing of the promotion and its parts.
    pub fn completed(&self) -> &Landing {
        self.parts
            .iter()
            .map(|p| &p.landed)
            .fold(&self.landed, |a, b| if b.time > a.time { b } else { a })
    }

    /// The median and longest lead times of the commits it shipped.
    pub fn lead_time(&self) -> Option<Spread> {
        Spread::of(&self.shipped.as_ref()?.lead_times)
    }
}

/// The result of a scoped thread (its panic is the caller's).
pub(super) fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// What a part moved: its files, and the version it moved them to.
struct Moved {
    paths: Vec<String>,
    value: String,
}

/// The component's tag before and after a change of `.env`, when the change moved it from one
/// commit to another.
fn env_move(f: &FileDiff, var: &str) -> Option<(String, String)> {
    let value = |line: &str| value_in(line, ENV_FILE, var);
    let old = f.removed().find_map(value)?;
    let new = f.added().find_map(value)?;
    (!same_commit(&old, &new)).then_some((old, new))
}

/// The component's value in a line of a location's file: the `.env` tag, else the first word
/// that may be a commit id.
pub(crate) fn value_in(line: &str, path: &str, var: &str) -> Option<String> {
    if path == ENV_FILE {
        return parse_env(line)
            .into_iter()
            .find(|v| v.name == var)
            .map(|v| v.value)
            .filter(|v| is_commit_hex(v));
    }
    hex_tokens(line).next().map(str::to_string)
}

/// Fills in what each promotion shipped (upstream commits and their lead times), from `graph`.
pub fn ship(promotions: &mut [Promotion], graph: &Graph) {
    for p in promotions {
        let (Some(old), Some(new)) = (graph.find(&p.old), graph.find(&p.new)) else {
            continue;
        };
        let done = p.completed().time;
        let shipped = graph.range(old, new);
        p.shipped = Some(Shipped {
            old: graph.id(old).to_string(),
            new: graph.id(new).to_string(),
            commits: shipped.len(),
            undone: graph.range(new, old).len(),
            lead_times: shipped
                .iter()
                .map(|n| done.saturating_sub(graph.time(*n)).max(0))
                .collect(),
        });
    }
}

/// The files of a component's locations, `.env` first, each once.
pub fn location_paths(locations: &[crate::discovery::Location]) -> Vec<String> {
    let mut paths = vec![ENV_FILE.to_string()];
    for l in locations {
        if !paths.contains(&l.path) {
            paths.push(l.path.clone());
        }
    }
    paths
}

/// What `history` reports.
#[derive(Debug, Clone)]
pub struct Report {
    /// The component's name and its `.env` variable.
    pub component: String,
    pub variable: String,
    /// The upstream, as messages show it.
    pub upstream: String,
    /// The promotions that landed in the period, newest first.
    pub promotions: Vec<Promotion>,
    /// The lead times of every commit the promotions of the period shipped.
    pub lead_time: Option<Spread>,
    /// Versions promoted that the upstream cache does not hold (offline, or gone upstream).
    pub unknown: Vec<String>,
    /// Why the upstream was not asked, when it could not be reached and its cache answered.
    pub unreachable: Option<String>,
    /// With a commit to look for: where it was shipped.
    pub contains: Option<Contains>,
}

/// The commit `history --contains` looks for, and the promotion that shipped it.
#[derive(Debug, Clone)]
pub struct Contains {
    pub rev: runs::Rev,
    pub shipped: Shipping,
}

/// Which promotion shipped a commit.
#[derive(Debug, Clone)]
pub enum Shipping {
    /// The first promotion (index in [`Report::promotions`]) whose new version contains it and
    /// whose old version does not; with the commit's lead time.
    By { promotion: usize, lead_time: i64 },
    /// The version before the oldest promotion of the history already contained it.
    Before { version: String },
    /// No promotion of the history shipped it.
    Not,
}

/// What `history` is asked.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only promotions that landed at or after this date (seconds since the epoch).
    pub since: Option<i64>,
    /// A commit to look for (as `where` takes it).
    pub contains: Option<String>,
}

/// The promotions of `c` in the checkout's history, with what each shipped from the upstream.
/// `locations` are the component's locations (their files are searched for parts).
pub fn history(
    checkout: &Checkout,
    c: &Component,
    locations: &[crate::discovery::Location],
    opts: &Options,
    query: &Query,
) -> Result<Report> {
    let paths = location_paths(locations);
    // The checkout's history is read while the upstream's graph is.
    let (record, reached) = std::thread::scope(|s| {
        let record = s.spawn(|| Record::read(&checkout.root, &paths, false));
        let reached = reach::reach(opts, c, query.contains.as_deref(), "history");
        (join(record), reached)
    });
    let mut promotions = record?.promotions(c, &paths);
    let reached = reached?;
    let rev = reached.rev;
    let mut versions: Vec<&str> = promotions
        .iter()
        .flat_map(|p| [p.old.as_str(), p.new.as_str()])
        .collect();
    if let Some(r) = &rev {
        versions.push(&r.id);
    }
    let graph = match &reached.upstream {
        Some(upstream) => runs::complete(
            upstream,
            reached.graph,
            &versions,
            rev.as_ref().is_some_and(|r| r.fetched),
        )?,
        None => reached.graph,
    };
    let mut unknown: Vec<String> = Vec::new();
    for v in &versions {
        if graph.find(v).is_none() && !unknown.iter().any(|u| u == v) {
            unknown.push((*v).to_string());
        }
    }
    ship(&mut promotions, &graph);
    if let Some(since) = query.since {
        promotions.retain(|p| p.landed.time >= since);
    }
    let all: Vec<i64> = promotions
        .iter()
        .filter_map(|p| p.shipped.as_ref())
        .flat_map(|s| s.lead_times.iter().copied())
        .collect();
    let contains = match rev {
        Some(rev) => {
            let shipped = shipping(&promotions, &graph, &rev);
            Some(Contains { rev, shipped })
        }
        None => None,
    };
    Ok(Report {
        component: c.name.clone(),
        variable: c.tag_var(),
        upstream: reached.shown,
        unreachable: reached.unreachable,
        lead_time: Spread::of(&all),
        promotions,
        unknown,
        contains,
    })
}

/// The first promotion (oldest) that shipped `rev`.
fn shipping(promotions: &[Promotion], graph: &Graph, rev: &runs::Rev) -> Shipping {
    let Some(r) = graph.find(&rev.id) else {
        return Shipping::Not;
    };
    let has = |v: &str| graph.find(v).is_some_and(|n| graph.contains(n, r));
    // Oldest first.
    for (k, p) in promotions.iter().enumerate().rev() {
        if !has(&p.new) {
            continue;
        }
        if has(&p.old) {
            if k + 1 == promotions.len() {
                return Shipping::Before {
                    version: p.old.clone(),
                };
            }
            continue;
        }
        return Shipping::By {
            promotion: k,
            lead_time: p.completed().time.saturating_sub(graph.time(r)).max(0),
        };
    }
    Shipping::Not
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::components_from_env;

    fn component() -> Component {
        let env = "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE_TAG=3333333\n";
        components_from_env(&parse_env(env)).remove(0)
    }

    fn commit(id: &str, parents: &[&str], time: i64, files: Vec<FileDiff>) -> Commit {
        Commit {
            id: id.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            author_name: format!("author of {id}"),
            author_email: format!("{id}@example.org"),
            author_time: time,
            commit_time: time,
            subject: format!("subject of {id}"),
            files,
        }
    }

    fn change(path: &str, line: usize, old: &str, new: &str) -> FileDiff {
        FileDiff {
            path: path.into(),
            hunks: vec![log::Hunk {
                old_start: line,
                old_count: 1,
                new_start: line,
                new_count: 1,
                removed: vec![old.into()],
                added: vec![new.into()],
            }],
        }
    }

    fn env(old: &str, new: &str) -> FileDiff {
        change(
            ENV_FILE,
            3,
            &format!("export RECONCILE_IMAGE_TAG={old}"),
            &format!("export RECONCILE_IMAGE_TAG={new}"),
        )
    }

    fn target(old: &str, new: &str) -> FileDiff {
        change(
            "data/saas.yaml",
            9,
            &format!("  ref: {old}"),
            &format!("  ref: {new}"),
        )
    }

    /// p1 on the mainline (1111111 -> 2222222, .env and the target); p2 on a branch (.env alone,
    /// -> 3333333) merged by m; t moves the target to 3333333 later, on the mainline; x touches
    /// another line of .env.
    fn record() -> Record {
        let p1 = commit(
            "p1",
            &["root"],
            100,
            vec![env("1111111", "2222222"), target("1111111", "2222222")],
        );
        let p2 = commit("p2", &["p1"], 200, vec![env("2222222", "3333333")]);
        let m = commit("m", &["o", "p2"], 300, vec![env("2222222", "3333333")]);
        let t = commit("t", &["m"], 400, vec![target("2222222", "3333333")]);
        let x = commit(
            "x",
            &["t"],
            500,
            vec![change(ENV_FILE, 1, "export X=1", "export X=2")],
        );
        let m_full = commit("m", &["o", "p2"], 300, vec![]);
        Record::new(
            vec![x.clone(), t.clone(), m_full, p2, p1.clone()],
            vec![x, t, m, p1],
            vec![],
        )
    }

    #[test]
    fn promotions_are_env_moves_with_their_landing_and_parts() {
        let r = record();
        let ps = r.promotions(&component(), &[ENV_FILE.into(), "data/saas.yaml".into()]);
        assert_eq!(ps.len(), 2, "{ps:#?}");
        let (p2, p1) = (&ps[0], &ps[1]);
        assert_eq!(
            (p2.commit.id.as_str(), p2.old.as_str(), p2.new.as_str()),
            ("p2", "2222222", "3333333")
        );
        assert_eq!(
            p2.landed,
            Landing {
                commit: "m".into(),
                time: 300,
                merge: true
            }
        );
        assert_eq!(p2.parts.len(), 1);
        assert_eq!(p2.parts[0].commit.id, "t");
        assert_eq!(p2.parts[0].paths, ["data/saas.yaml"]);
        assert_eq!(p2.completed().commit, "t");
        assert_eq!(p1.commit.id, "p1");
        assert_eq!(
            p1.landed,
            Landing {
                commit: "p1".into(),
                time: 100,
                merge: false
            }
        );
        assert!(
            p1.parts.is_empty(),
            "its own commit moved the target: {:?}",
            p1.parts
        );
        assert_eq!(p1.completed().commit, "p1");
    }

    #[test]
    fn a_location_moved_before_the_env_is_a_part_too() {
        // Stage first (s, at 50), then .env (p, at 60): both on the mainline.
        let s = commit("s", &["root"], 50, vec![target("1111111", "2222222")]);
        let p = commit("p", &["s"], 60, vec![env("1111111", "2222222")]);
        let r = Record::new(vec![p.clone(), s.clone()], vec![p, s], vec![]);
        let ps = r.promotions(&component(), &[ENV_FILE.into(), "data/saas.yaml".into()]);
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].parts.len(), 1);
        assert_eq!(ps[0].parts[0].commit.id, "s");
        assert_eq!(
            ps[0].completed().commit,
            "p",
            "complete when the last of them landed"
        );
    }

    #[test]
    fn files_that_hold_no_location_make_no_part() {
        let r = record();
        let ps = r.promotions(&component(), &[ENV_FILE.into()]);
        assert!(ps.iter().all(|p| p.parts.is_empty()));
    }

    #[test]
    fn a_merge_without_its_branch_commit_lands_by_content_and_date() {
        let r = record();
        // A commit of the branch that is not the merge's parent.
        let early = commit("early", &["p1"], 150, vec![env("2222222", "3333333")]);
        assert_eq!(r.landing(&early, ENV_FILE, "3333333").commit, "m");
        // Nothing on the mainline brought it: it is its own landing.
        let lost = commit("lost", &["p1"], 900, vec![env("2222222", "4444444")]);
        assert_eq!(r.landing(&lost, ENV_FILE, "4444444").commit, "lost");
    }

    #[test]
    fn shipping_counts_commits_and_lead_times() {
        let id = |n: u32| format!("{n}{}", "0".repeat(39));
        // Upstream: 1 <- 2 <- 3, commit dates 10, 20, 30.
        let graph = Graph::new(vec![
            (id(1), 10, vec![]),
            (id(2), 20, vec![id(1)]),
            (id(3), 30, vec![id(2)]),
        ]);
        let r = record();
        let mut ps = r.promotions(&component(), &[ENV_FILE.into(), "data/saas.yaml".into()]);
        for p in &mut ps {
            p.old = id(p.old.as_bytes()[0].saturating_sub(b'0').into());
            p.new = id(p.new.as_bytes()[0].saturating_sub(b'0').into());
        }
        ship(&mut ps, &graph);
        let s = ps[0].shipped.as_ref().unwrap();
        assert_eq!((s.commits, s.undone), (1, 0));
        // Completed by the part `t` at 400; commit 3 dated 30.
        assert_eq!(s.lead_times, [370]);
        let s = ps[1].shipped.as_ref().unwrap();
        assert_eq!(s.lead_times, [80]);
        let mut back = ps[1].clone();
        std::mem::swap(&mut back.old, &mut back.new);
        ship(std::slice::from_mut(&mut back), &graph);
        let s = back.shipped.as_ref().unwrap();
        assert_eq!((s.commits, s.undone), (0, 1), "a rollback ships nothing");
        assert!(s.lead_times.is_empty());
        let rev = runs::Rev::test(&id(2), 20);
        assert!(matches!(
            shipping(&ps, &graph, &rev),
            Shipping::By {
                promotion: 1,
                lead_time: 80
            }
        ));
        let rev = runs::Rev::test(&id(1), 10);
        assert!(matches!(
            shipping(&ps, &graph, &rev),
            Shipping::Before { .. }
        ));
    }

    #[test]
    fn values_in_lines() {
        assert_eq!(
            value_in(
                "export RECONCILE_IMAGE_TAG=abcdef1 # was 1234567",
                ENV_FILE,
                "RECONCILE_IMAGE_TAG"
            ),
            Some("abcdef1".into())
        );
        assert_eq!(
            value_in(
                "export X_IMAGE_TAG=abcdef1",
                ENV_FILE,
                "RECONCILE_IMAGE_TAG"
            ),
            None
        );
        assert_eq!(
            value_in("  ref: abcdef1 # 1234567", "d.yml", "V"),
            Some("abcdef1".into())
        );
        assert_eq!(value_in("  ref: master", "d.yml", "V"), None);
    }
}
