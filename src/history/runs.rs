//! Where a commit runs: for each location of a component, whether its version contains the
//! commit (the commit is that version or one of its ancestors in the upstream), and the change
//! of the checkout that brought it there.
//!
//! The change that brought it: the location's line is followed back through the mainline's
//! changes (and the uncommitted ones), as `git blame` would, and the oldest change of the
//! unbroken run of versions that contain the commit is the one. A merge on the mainline is
//! named by the commit of its branch that made the change.

use crate::checkout::{Checkout, Component};
use crate::discovery::Location;
use crate::error::{Error, Result};
use crate::upstream::ancestry::Graph;
use crate::upstream::Upstream;
use crate::util::{same_commit, short_id};

use super::log::Trace;
use super::{CommitRef, Landing, Options, Promotion, Record};

/// The commit asked about, resolved in the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rev {
    /// As given (`#1234`, `latest`, a branch, a tag, an id).
    pub given: String,
    /// Full commit id.
    pub id: String,
    /// The branch or tag it came from, if any.
    pub name: Option<String>,
    /// The pull request it was found by, or that its subject names.
    pub pr: Option<u64>,
    /// The first line of its message.
    pub subject: String,
    /// Its commit date, when the cache holds it.
    pub time: Option<i64>,
    /// Resolving it fetched from the upstream.
    pub fetched: bool,
}

impl Rev {
    #[cfg(test)]
    pub(crate) fn test(id: &str, time: i64) -> Rev {
        Rev {
            given: id.into(),
            id: id.into(),
            name: None,
            pr: None,
            subject: String::new(),
            time: Some(time),
            fetched: false,
        }
    }
}

/// Resolves what `where` (and `history --contains`) take: a branch, tag, `latest`, a commit
/// id, or a pull request `#1234`. `what` names the command in messages.
pub fn resolve_rev(upstream: &Upstream, rev: &str, what: &str) -> Result<Rev> {
    let given = rev.trim();
    if let Some(n) = given.strip_prefix('#') {
        let number = n
            .parse::<u64>()
            .ok()
            .filter(|_| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                Error::input(format!(
                    "{what}: {given:?} is not a pull request number (#1234)"
                ))
            })?;
        let c = upstream.pull_request(number, what)?;
        return Ok(Rev {
            given: given.to_string(),
            id: c.id,
            name: None,
            pr: Some(number),
            subject: c.subject,
            time: None,
            fetched: false,
        });
    }
    if given.is_empty() {
        return Err(Error::input(format!(
            "{what}: an empty revision: give a branch, tag, `latest`, a commit id or #1234"
        )));
    }
    let r = upstream.resolve(Some(given))?;
    if !r.in_cache {
        return Err(Error::input(format!(
            "{what}: commit {} is not in the cache of upstream {} (offline)",
            r.short,
            upstream.shown_url()
        ))
        .with_hint("go online (drop --offline) to fetch it"));
    }
    let subject = upstream.subject(&r.id)?;
    Ok(Rev {
        given: given.to_string(),
        pr: crate::upstream::pr_number(&subject),
        id: r.id,
        name: r.name,
        subject,
        time: None,
        fetched: r.fetched,
    })
}

/// The upstream's graph `graph` (of the cache's branches and tags), made to hold `versions`
/// when the upstream does: read again with those the cache holds apart from its branches, and
/// fetched once when the cache lacks one (unless offline, or `fetched` says it was fetched
/// already).
pub fn complete(
    upstream: &Upstream,
    graph: Graph,
    versions: &[&str],
    fetched: bool,
) -> Result<Graph> {
    let missing = |g: &Graph| versions.iter().any(|v| g.find(v).is_none());
    if !missing(&graph) {
        return Ok(graph);
    }
    let graph = upstream.graph(versions)?;
    if fetched || upstream.is_offline() || !missing(&graph) {
        return Ok(graph);
    }
    upstream
        .fetch()
        .map_err(|e| e.with_hint("--offline answers from the upstream cache alone"))?;
    upstream.graph(versions)
}

/// Whether a location runs the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Its version is the commit or contains it.
    Runs,
    /// Its version does not contain it.
    NotYet,
    /// Its version cannot be told: why.
    Unknown(String),
}

/// The change that brought the commit to a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// A change of the working tree, not committed.
    Uncommitted,
    /// A commit of the checkout.
    Commit(Arrival),
}

/// The commit of the checkout that brought a version to a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The commit that wrote the location (a branch's commit when a merge brought it).
    pub commit: CommitRef,
    /// Where it reached the mainline.
    pub landed: Landing,
    /// The promotion it is (or is part of): the commit that moved `.env`.
    pub promotion: Option<String>,
}

/// One location and whether it runs the commit.
#[derive(Debug, Clone)]
pub struct Presence {
    pub location: Location,
    /// The full id of its version, when the upstream knows it.
    pub commit: Option<String>,
    pub state: State,
    /// With [`State::Runs`]: the change that brought the commit, when the history shows it.
    pub since: Option<Since>,
}

/// Where a commit runs.
#[derive(Debug, Clone)]
pub struct Whereabouts {
    pub component: String,
    /// The upstream, as messages show it.
    pub upstream: String,
    pub rev: Rev,
    pub locations: Vec<Presence>,
    /// Why the checkout's history was not read, when it was not.
    pub no_history: Option<String>,
    /// The versions (the commit's and the locations') that the upstream cache does not hold.
    pub unknown: Vec<String>,
    /// Why the upstream was not asked, when it could not be reached and its cache answered.
    pub unreachable: Option<String>,
}

impl Whereabouts {
    /// Every location runs the commit.
    pub fn everywhere(&self) -> bool {
        self.locations.iter().all(|p| p.state == State::Runs)
    }
}

/// Where `rev` runs among `locations` (the component's, as discovery found them).
pub fn find(
    checkout: &Checkout,
    c: &Component,
    locations: &[Location],
    rev: &str,
    opts: &Options,
) -> Result<Whereabouts> {
    let paths = super::location_paths(locations);
    // The checkout's history is read while the upstream resolves the commit.
    let (record, reached) = std::thread::scope(|s| {
        let record = s.spawn(|| Record::read(&checkout.root, &paths, true));
        let reached = super::reach::reach(opts, c, Some(rev), "where");
        (super::join(record), reached)
    });
    let reached = reached?;
    let Some(mut rev) = reached.rev else {
        return Err(Error::input(format!("where: {rev}: not resolved")));
    };
    let mut versions: Vec<&str> = locations.iter().map(|l| l.value.as_str()).collect();
    versions.push(&rev.id);
    let graph = match &reached.upstream {
        Some(upstream) => complete(upstream, reached.graph, &versions, rev.fetched)?,
        None => reached.graph,
    };
    let r = graph.find(&rev.id);
    // Reached, the upstream must know the commit; unreached, its cache answers what it can.
    if r.is_none() && reached.unreachable.is_none() {
        return Err(Error::external(format!(
            "where: commit {} is not in the cache of upstream {}",
            short_id(&rev.id),
            reached.shown
        )));
    }
    rev.time = r.map(|r| graph.time(r));
    let mut unknown: Vec<String> = Vec::new();
    for v in &versions {
        if graph.find(v).is_none() && !unknown.iter().any(|u| same_commit(u, v)) {
            unknown.push((*v).to_string());
        }
    }
    let offline = opts.offline || reached.unreachable.is_some();
    let (record, no_history) = match record {
        Ok(rec) => (Some(rec), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let promotions = record
        .as_ref()
        .map(|rec| rec.promotions(c, &paths))
        .unwrap_or_default();
    let var = c.tag_var();
    let contains = Containment {
        graph: &graph,
        rev: r,
        rev_id: &rev.id,
        memo: Default::default(),
    };
    let presence = locations
        .iter()
        .map(|l| {
            let commit = graph.find(&l.value).map(|n| graph.id(n).to_string());
            let state = match contains.of(&l.value) {
                Some(true) => State::Runs,
                Some(false) => State::NotYet,
                None => State::Unknown(format!(
                    "{} is not a commit of the upstream cache{}",
                    l.value,
                    if offline { " (offline)" } else { "" }
                )),
            };
            let since = match (&state, &record) {
                (State::Runs, Some(rec)) => arrival(rec, &promotions, l, &var, &contains),
                _ => None,
            };
            Presence {
                location: l.clone(),
                commit,
                state,
                since,
            }
        })
        .collect();
    Ok(Whereabouts {
        component: c.name.clone(),
        upstream: reached.shown,
        rev,
        locations: presence,
        no_history,
        unknown,
        unreachable: reached.unreachable,
    })
}

/// Whether versions contain the commit asked about, each version asked once.
struct Containment<'a> {
    graph: &'a Graph,
    /// The commit in the graph, when the graph holds it.
    rev: Option<usize>,
    rev_id: &'a str,
    memo: std::cell::RefCell<std::collections::HashMap<String, Option<bool>>>,
}

impl Containment<'_> {
    /// Whether `version` contains the commit; none when the upstream does not know `version`.
    fn of(&self, version: &str) -> Option<bool> {
        if let Some(known) = self.memo.borrow().get(version) {
            return *known;
        }
        // The commit itself runs it, whatever the graph holds.
        let answer = if same_commit(version, self.rev_id) {
            Some(true)
        } else {
            let rev = self.rev;
            self.graph
                .find(version)
                .and_then(|n| rev.map(|r| self.graph.contains(n, r)))
        };
        self.memo.borrow_mut().insert(version.to_string(), answer);
        answer
    }
}

/// The change that brought versions containing the commit to `l`: the oldest of the unbroken
/// run of changes of its line (newest first) whose values contain it.
fn arrival(
    rec: &Record,
    promotions: &[Promotion],
    l: &Location,
    var: &str,
    contains: &Containment<'_>,
) -> Option<Since> {
    // The mainline index of the change, or None for the uncommitted change.
    let mut found: Option<Option<usize>> = None;
    let mut line = l.line;
    let changes = std::iter::once((None, rec.uncommitted.iter().find(|f| f.path == l.path))).chain(
        rec.mainline
            .iter()
            .enumerate()
            .map(|(i, m)| (Some(i), m.file(&l.path))),
    );
    for (at, diff) in changes {
        let Some(diff) = diff else { continue };
        match diff.trace(line) {
            Trace::Kept(before) => line = before,
            Trace::Written { text, before } => {
                let Some(value) = super::value_in(&text, &l.path, var) else {
                    break;
                };
                if contains.of(&value) != Some(true) {
                    break;
                }
                found = Some(at);
                match before {
                    Some(b) => line = b,
                    None => break,
                }
            }
        }
    }
    let Some(i) = found? else {
        return Some(Since::Uncommitted);
    };
    let m = rec.mainline.get(i)?;
    let landed = Landing {
        commit: m.id.clone(),
        time: m.commit_time,
        merge: m.is_merge(),
    };
    // A merge: the commit of its branch that wrote the location, the oldest whose value
    // contains the commit.
    let branch_commit = || {
        rec.full.iter().rev().find(|c| {
            !c.is_merge()
                && c.commit_time <= m.commit_time
                && c.file(&l.path).is_some_and(|f| {
                    f.added()
                        .filter_map(|t| super::value_in(t, &l.path, var))
                        .any(|v| {
                            rec.landing(c, &l.path, &v).commit == m.id
                                && contains.of(&v) == Some(true)
                        })
                })
        })
    };
    let commit = match m.is_merge().then(branch_commit).flatten() {
        Some(c) => CommitRef::of(c),
        None => CommitRef::of(m),
    };
    let promotion = promotions
        .iter()
        .find(|p| p.commit.id == commit.id || p.parts.iter().any(|q| q.commit.id == commit.id))
        .map(|p| p.commit.id.clone());
    Some(Since::Commit(Arrival {
        commit,
        landed,
        promotion,
    }))
}
