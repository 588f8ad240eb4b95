//! The upstream's commit graph read in one pass: every commit of the cache with its commit date
//! and parents, for ancestry questions asked many times (does this version contain that commit,
//! which commits does a promotion ship and how old are they), and the commit of a pull request.

use std::collections::{BinaryHeap, HashMap};

use super::{pr_number, Upstream};
use crate::error::{Error, Result};
use crate::util::short_id;

/// What a commit id or prefix names in a [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Exactly one commit.
    Found(usize),
    /// No commit of the graph.
    Missing,
    /// Several commits start with the prefix.
    Ambiguous,
}

/// The upstream's commits (those the cache holds), with their commit dates and parents.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    ids: Vec<String>,
    times: Vec<i64>,
    parents: Vec<Vec<usize>>,
    /// 1 for a root, else one more than the highest of its parents'.
    generations: Vec<u32>,
    /// Commit indexes sorted by id, for prefix lookups.
    sorted: Vec<usize>,
}

impl Graph {
    /// Builds the graph from `(id, commit time, parent ids)`, in any order. Parents missing from
    /// the list (a shallow or partial history) are left out.
    pub fn new(commits: Vec<(String, i64, Vec<String>)>) -> Graph {
        let index: HashMap<String, usize> = commits
            .iter()
            .enumerate()
            .map(|(i, (id, _, _))| (id.to_ascii_lowercase(), i))
            .collect();
        let mut g = Graph::default();
        for (id, time, parents) in commits {
            g.ids.push(id.to_ascii_lowercase());
            g.times.push(time);
            g.parents.push(
                parents
                    .iter()
                    .filter_map(|p| index.get(&p.to_ascii_lowercase()).copied())
                    .collect(),
            );
        }
        g.generations = generations(&g.parents);
        g.sorted = (0..g.ids.len()).collect();
        g.sorted.sort_by(|a, b| g.ids[*a].cmp(&g.ids[*b]));
        g
    }

    /// Parses `git log --format='%H %ct %P'` output.
    pub fn parse(text: &str) -> Graph {
        let commits = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_ascii_whitespace();
                let id = f.next()?;
                let time = f.next()?.parse().ok()?;
                is_full_id(id).then(|| (id.to_string(), time, f.map(str::to_string).collect()))
            })
            .collect();
        Graph::new(commits)
    }

    /// The number of commits.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// The graph holds no commit.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The full id of commit `n`.
    pub fn id(&self, n: usize) -> &str {
        self.ids.get(n).map_or("", String::as_str)
    }

    /// The commit date of commit `n` (seconds since the epoch).
    pub fn time(&self, n: usize) -> i64 {
        self.times.get(n).copied().unwrap_or(0)
    }

    /// The commit a full id or an id prefix (4 to 40 hex digits, any case) names.
    pub fn lookup(&self, hex: &str) -> Lookup {
        let hex = hex.trim().to_ascii_lowercase();
        if hex.len() < 4 || hex.len() > 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Lookup::Missing;
        }
        let start = self
            .sorted
            .partition_point(|n| self.ids[*n].as_str() < hex.as_str());
        let mut found = self.sorted[start..]
            .iter()
            .take_while(|n| self.ids[**n].starts_with(&hex));
        match (found.next(), found.next()) {
            (Some(n), None) => Lookup::Found(*n),
            (Some(_), Some(_)) => Lookup::Ambiguous,
            (None, _) => Lookup::Missing,
        }
    }

    /// The commit an id or prefix names, when it names exactly one.
    pub fn find(&self, hex: &str) -> Option<usize> {
        match self.lookup(hex) {
            Lookup::Found(n) => Some(n),
            _ => None,
        }
    }

    /// Whether `ancestor` is `tip` or one of its ancestors: whether version `tip` contains it.
    pub fn contains(&self, tip: usize, ancestor: usize) -> bool {
        if tip >= self.ids.len() || ancestor >= self.ids.len() {
            return false;
        }
        if tip == ancestor {
            return true;
        }
        // Every path from `tip` down to `ancestor` goes through higher generations only.
        let floor = self.generations[ancestor];
        let mut seen = vec![false; self.ids.len()];
        let mut stack = vec![tip];
        seen[tip] = true;
        while let Some(n) = stack.pop() {
            for &p in &self.parents[n] {
                if p == ancestor {
                    return true;
                }
                if !seen[p] && self.generations[p] > floor {
                    seen[p] = true;
                    stack.push(p);
                }
            }
        }
        false
    }

    /// The commits of `old..new` (in `new`, not in `old`), newest generation first.
    pub fn range(&self, old: usize, new: usize) -> Vec<usize> {
        const NEW: u8 = 1;
        const OLD: u8 = 2;
        if old >= self.ids.len() || new >= self.ids.len() || old == new {
            return Vec::new();
        }
        let mut flags = vec![0u8; self.ids.len()];
        let mut heap = BinaryHeap::new();
        flags[new] = NEW;
        flags[old] |= OLD;
        heap.push((self.generations[new], new));
        heap.push((self.generations[old], old));
        // Commits in the heap reached from `new` alone: while there are some, the range may grow.
        let mut open = usize::from(flags[new] == NEW);
        let mut out = Vec::new();
        // A commit is popped after every descendant in the heap (they have higher generations),
        // so its flags are final when it is popped.
        let mut popped = vec![false; self.ids.len()];
        while open > 0 {
            let Some((_, n)) = heap.pop() else { break };
            if popped[n] {
                continue;
            }
            popped[n] = true;
            let f = flags[n];
            if f == NEW {
                open -= 1;
                out.push(n);
            }
            for &p in &self.parents[n] {
                let before = flags[p];
                let after = before | f;
                if after == before {
                    continue;
                }
                flags[p] = after;
                if before == 0 {
                    heap.push((self.generations[p], p));
                }
                match (before == NEW, after == NEW) {
                    (false, true) => open += 1,
                    (true, false) => open -= 1,
                    _ => {}
                }
            }
        }
        out
    }
}

/// The generation of each commit, computed without recursion.
fn generations(parents: &[Vec<usize>]) -> Vec<u32> {
    let mut gen = vec![0u32; parents.len()];
    let mut stack = Vec::new();
    for start in 0..parents.len() {
        if gen[start] != 0 {
            continue;
        }
        stack.push((start, false));
        while let Some((n, expanded)) = stack.pop() {
            if gen[n] != 0 {
                continue;
            }
            if expanded {
                let g = parents[n].iter().map(|p| gen[*p]).max().unwrap_or(0);
                gen[n] = g.saturating_add(1);
                continue;
            }
            stack.push((n, true));
            for &p in &parents[n] {
                if gen[p] == 0 {
                    stack.push((p, false));
                }
            }
        }
    }
    gen
}

fn is_full_id(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A pull request's commit in the upstream.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullRequestCommit {
    /// Full commit id.
    pub id: String,
    /// The subject that names the pull request.
    pub subject: String,
}

impl Upstream {
    /// Every commit of the cache (reached from its branches and tags, and from those of `tips`
    /// that are in it), in one `git log` pass. Needs no trees; contacts the upstream only to
    /// complete a bounded cache (which offline is refused: its graph would lack commits).
    pub fn graph(&self, tips: &[&str]) -> Result<Graph> {
        self.whole_history("read the whole history")?;
        let mut wanted: Vec<&str> = tips.iter().copied().filter(|t| is_full_id(t)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut present = String::new();
        if !wanted.is_empty() {
            let query: String = wanted.iter().map(|t| format!("{t}\n")).collect();
            let typed = self.git.run_with_input(
                &["cat-file", "--batch-check=%(objectname) %(objecttype)"],
                query.as_bytes(),
            )?;
            for l in typed.lines() {
                if let Some(id) = l.strip_suffix(" commit") {
                    present.push_str(id);
                    present.push('\n');
                }
            }
        }
        let out = self.git.run_with_input(
            &[
                "log",
                "--all",
                "--stdin",
                "--no-color",
                "--format=%H %ct %P",
            ],
            present.as_bytes(),
        )?;
        Ok(Graph::parse(&out))
    }

    /// The first line of a commit's message.
    pub fn subject(&self, id: &str) -> Result<String> {
        self.git
            .run_line(&["log", "-1", "--no-color", "--format=%s", id, "--"])
    }

    /// The commits of the cache whose subject names pull request `n` (a trailing `(#n)`, or
    /// `Merge pull request #n ...`); those on the default branch come first.
    pub fn pull_request_commits(&self, n: u64) -> Result<Vec<PullRequestCommit>> {
        self.complete_history()?;
        let out = self
            .git
            .run(&["log", "--all", "--no-color", "--format=%H%x1f%s"])?;
        let mut found: Vec<PullRequestCommit> = out
            .lines()
            .filter_map(|l| {
                let (id, subject) = l.split_once('\x1f')?;
                (pr_number(subject) == Some(n)).then(|| PullRequestCommit {
                    id: id.to_string(),
                    subject: subject.to_string(),
                })
            })
            .collect();
        if found.len() > 1 {
            let default = self.git.output(&[
                "rev-parse",
                "--verify",
                "--quiet",
                "refs/remotes/origin/HEAD^{commit}",
            ])?;
            if default.success {
                let head = default.stdout.trim().to_string();
                let mut on_default = Vec::new();
                for c in &found {
                    if self
                        .git
                        .run_ok(&["merge-base", "--is-ancestor", &c.id, &head])?
                    {
                        on_default.push(c.clone());
                    }
                }
                if !on_default.is_empty() {
                    found = on_default;
                }
            }
        }
        Ok(found)
    }

    /// The one commit of pull request `n`: looked up in the cache, which is fetched once when it
    /// has none (unless offline). `what` names the command in messages.
    pub fn pull_request(&self, n: u64, what: &str) -> Result<PullRequestCommit> {
        let mut found = self.pull_request_commits(n)?;
        if found.is_empty() && !self.offline {
            self.fetch()?;
            found = self.pull_request_commits(n)?;
        }
        match found.len() {
            0 => {
                let e = Error::input(format!(
                    "{what}: no pull request #{n} in upstream {}",
                    self.shown_url()
                ));
                Err(if self.offline {
                    e.with_hint("offline: only the upstream cache was searched")
                } else {
                    e
                })
            }
            1 => Ok(found.remove(0)),
            _ => Err(Error::input(format!(
                "{what}: pull request #{n} names several commits of upstream {}: {}",
                self.shown_url(),
                found
                    .iter()
                    .map(|c| short_id(&c.id).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .with_hint("give the commit id instead")),
        }
    }

    /// Whether the upstream is used without the network.
    pub fn is_offline(&self) -> bool {
        self.offline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> String {
        format!("{n:02x}{}", "e".repeat(38))
    }

    /// 1 <- 2 <- 3 <- 5 (merge of 3 and 4), 2 <- 4, 5 <- 6; 7 is unrelated.
    fn sample() -> Graph {
        Graph::new(vec![
            (id(6), 60, vec![id(5)]),
            (id(5), 50, vec![id(3), id(4)]),
            (id(4), 40, vec![id(2)]),
            (id(3), 30, vec![id(2)]),
            (id(2), 20, vec![id(1)]),
            (id(1), 10, vec![]),
            (id(7), 70, vec![id(99)]),
        ])
    }

    fn at(g: &Graph, n: u32) -> usize {
        g.find(&id(n)).unwrap()
    }

    #[test]
    fn contains_follows_every_parent() {
        let g = sample();
        assert!(g.contains(at(&g, 6), at(&g, 4)));
        assert!(g.contains(at(&g, 6), at(&g, 3)));
        assert!(g.contains(at(&g, 5), at(&g, 1)));
        assert!(g.contains(at(&g, 4), at(&g, 4)));
        assert!(!g.contains(at(&g, 3), at(&g, 4)));
        assert!(!g.contains(at(&g, 2), at(&g, 6)));
        assert!(!g.contains(at(&g, 7), at(&g, 1)));
    }

    #[test]
    fn range_is_what_git_rev_list_gives() {
        let g = sample();
        let ids = |v: Vec<usize>| {
            let mut v: Vec<String> = v.into_iter().map(|n| g.id(n).to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(
            ids(g.range(at(&g, 3), at(&g, 6))),
            vec![id(4), id(5), id(6)]
        );
        assert_eq!(
            ids(g.range(at(&g, 1), at(&g, 6))),
            vec![id(2), id(3), id(4), id(5), id(6)]
        );
        assert_eq!(ids(g.range(at(&g, 4), at(&g, 3))), vec![id(3)]);
        assert!(g.range(at(&g, 6), at(&g, 3)).is_empty());
        assert!(g.range(at(&g, 6), at(&g, 6)).is_empty());
    }

    #[test]
    fn prefixes_name_one_commit_or_are_ambiguous() {
        let g = sample();
        assert_eq!(g.lookup(&id(6)[..4]), Lookup::Found(at(&g, 6)));
        assert_eq!(g.lookup(&id(6)[..3]), Lookup::Missing, "too short");
        let twins = Graph::new(vec![
            (format!("abcdef0{}", "0".repeat(33)), 1, vec![]),
            (format!("abcdef1{}", "0".repeat(33)), 2, vec![]),
        ]);
        assert_eq!(twins.lookup("abcdef"), Lookup::Ambiguous);
        assert_eq!(twins.lookup("abcdef1"), Lookup::Found(1));
        assert_eq!(g.lookup(&id(6).to_uppercase()), Lookup::Found(at(&g, 6)));
        assert_eq!(g.lookup("ffffffff"), Lookup::Missing);
        assert_eq!(g.lookup("xyz"), Lookup::Missing);
        assert_eq!(g.lookup(""), Lookup::Missing);
        assert_eq!(g.time(at(&g, 5)), 50);
    }

    #[test]
    fn parse_reads_git_log_lines() {
        let text = format!(
            "{} 20 {}\n{} 10\nnot a line\n{} x\n",
            id(2),
            id(1),
            id(1),
            id(3)
        );
        let g = Graph::parse(&text);
        assert_eq!(g.len(), 2);
        assert!(g.contains(at(&g, 2), at(&g, 1)));
    }
}
