//! The upstream of `history` and `where`, or what is left without it: when the upstream cannot
//! be reached, the same questions are asked of its cache (offline), and when the cache cannot
//! answer either, of nothing (an empty graph); the checkout's own history still answers, and the
//! report says what is missing.

use super::runs::{self, Rev};
use super::Options;
use crate::checkout::Component;
use crate::error::{Error, ErrorKind, Result};
use crate::upstream::ancestry::Graph;
use crate::upstream::Upstream;
use crate::util::is_commit_hex;

/// The upstream's answer: the cache (`None` when not even the cache could be opened), the
/// commit asked about, the graph, and why the upstream was not asked.
pub struct Reached {
    pub upstream: Option<Upstream>,
    pub rev: Option<Rev>,
    pub graph: Graph,
    /// The upstream's error, when it was not reached and the cache answered instead.
    pub unreachable: Option<String>,
    /// The upstream as messages show it.
    pub shown: String,
}

/// Opens the upstream of `c`, resolves `rev` (as `command` takes it) and reads the graph; when
/// the upstream cannot be reached (an external failure, not offline already), does it again
/// offline. `rev` must resolve: without it the command has no answer, and its error is returned.
pub fn reach(opts: &Options, c: &Component, rev: Option<&str>, command: &str) -> Result<Reached> {
    let ask = |o: &Options| -> Result<(Upstream, Option<Rev>, Graph)> {
        let upstream = o.open(c)?;
        let rev = match rev {
            Some(r) => Some(runs::resolve_rev(&upstream, r, command)?),
            None => None,
        };
        let graph = upstream.graph(&[])?;
        Ok((upstream, rev, graph))
    };
    let e = match ask(opts) {
        Ok((upstream, rev, graph)) => {
            let shown = upstream.shown_url().to_string();
            return Ok(Reached {
                upstream: Some(upstream),
                rev,
                graph,
                unreachable: None,
                shown,
            });
        }
        Err(e) if !opts.offline && e.kind() == ErrorKind::External => e,
        Err(e) => return Err(e),
    };
    let why = e.to_string();
    let offline = Options {
        offline: true,
        ..opts.clone()
    };
    let cache = offline.open(c);
    let shown = match &cache {
        Ok(u) => u.shown_url().to_string(),
        Err(_) => offline.upstream.clone().unwrap_or_else(|| c.repo.clone()),
    };
    let Ok(upstream) = cache else {
        return no_cache(rev, e, why, shown);
    };
    let rev = match rev {
        Some(r) => Some(
            runs::resolve_rev(&upstream, r, command)
                .ok()
                .or_else(|| as_written(r))
                .ok_or(e)?,
        ),
        None => None,
    };
    // A cache that cannot give the whole history (bounded, or none) answers nothing.
    let graph = upstream.graph(&[]).unwrap_or_default();
    Ok(Reached {
        upstream: Some(upstream),
        rev,
        graph,
        unreachable: Some(why),
        shown,
    })
}

/// Neither the upstream nor its cache: a commit asked about must be an id, as written.
fn no_cache(rev: Option<&str>, e: Error, why: String, shown: String) -> Result<Reached> {
    let rev = match rev {
        Some(r) => Some(as_written(r).ok_or(e)?),
        None => None,
    };
    Ok(Reached {
        upstream: None,
        rev,
        graph: Graph::default(),
        unreachable: Some(why),
        shown,
    })
}

/// A commit id (7 to 40 hex digits) as written, for the locations that hold it when nothing
/// else can tell what it is.
fn as_written(r: &str) -> Option<Rev> {
    let r = r.trim();
    is_commit_hex(r).then(|| Rev {
        given: r.to_string(),
        id: r.to_ascii_lowercase(),
        name: None,
        pr: None,
        subject: String::new(),
        time: None,
        fetched: false,
    })
}
