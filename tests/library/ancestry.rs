//! The upstream's commit graph (`Upstream::graph`) and pull-request lookup against real git: a
//! history with branches and merges, whose ranges, ancestry and dates must be git's.

use std::path::Path;
use std::process::Command;

use qr_promote::upstream::{Upstream, UpstreamOptions};
use tempfile::TempDir;

/// Runs git at `date` seconds after 2023-11-14 22:13:20 UTC; whether it succeeded and its output.
fn git(dir: &Path, home: &Path, date: u64, args: &[&str]) -> (bool, String) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Up Stream")
        .env("GIT_AUTHOR_EMAIL", "up@example.org")
        .env("GIT_COMMITTER_NAME", "Up Stream")
        .env("GIT_COMMITTER_EMAIL", "up@example.org")
        .env("GIT_AUTHOR_DATE", format!("{} +0000", 1_700_000_000 + date))
        .env(
            "GIT_COMMITTER_DATE",
            format!("{} +0000", 1_700_000_000 + date),
        )
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap().trim().to_string(),
    )
}

/// master: m0 .. m5, with a branch `topic` (t1, t2) forked at m1 and merged as m3 ("Merge pull
/// request #7 ..."), and `other` (o1, forked at m2, "fix (#9)") not merged.
struct World {
    _tmp: TempDir,
    home: std::path::PathBuf,
    up: std::path::PathBuf,
    cache: std::path::PathBuf,
    ids: std::collections::BTreeMap<&'static str, String>,
}

impl World {
    fn new() -> World {
        let tmp = TempDir::new().unwrap();
        let home = tmp.path().join("home");
        let up = tmp.path().join("up");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&up).unwrap();
        let mut w = World {
            cache: tmp.path().join("cache"),
            _tmp: tmp,
            home,
            up,
            ids: Default::default(),
        };
        w.run(0, &["init", "-q", "-b", "master"]);
        w.commit("m0", 100, "start");
        w.commit("m1", 200, "one (#1)");
        w.run(0, &["switch", "-q", "-c", "topic"]);
        w.commit("t1", 250, "topic one");
        w.commit("t2", 260, "topic two");
        w.run(0, &["switch", "-q", "master"]);
        w.commit("m2", 300, "two (#2)");
        w.run(0, &["switch", "-q", "-c", "other"]);
        w.commit("o1", 320, "fix (#9)");
        w.run(0, &["switch", "-q", "master"]);
        w.run(
            400,
            &[
                "merge",
                "-q",
                "--no-ff",
                "-m",
                "Merge pull request #7 from a/topic",
                "topic",
            ],
        );
        w.ids.insert("m3", w.run(0, &["rev-parse", "HEAD"]));
        w.commit("m4", 500, "four (#4)");
        w.commit("m5", 600, "Revert \"four (#4)\"");
        w
    }

    fn run(&self, date: u64, args: &[&str]) -> String {
        let (ok, out) = git(&self.up, &self.home, date, args);
        assert!(ok, "git {args:?}");
        out
    }

    fn commit(&mut self, key: &'static str, date: u64, subject: &str) {
        std::fs::write(self.up.join(format!("{key}.txt")), key).unwrap();
        self.run(date, &["add", "-A"]);
        self.run(date, &["commit", "-q", "-m", subject]);
        let id = self.run(date, &["rev-parse", "HEAD"]);
        self.ids.insert(key, id);
    }

    fn open(&self, offline: bool) -> Upstream {
        let home = self.home.display().to_string();
        Upstream::open_with_env(
            &self.up.display().to_string(),
            UpstreamOptions {
                cache_dir: self.cache.clone(),
                offline,
                progress: false,
            },
            &[
                ("HOME", home.as_str()),
                ("GIT_CONFIG_GLOBAL", "/dev/null"),
                ("GIT_CONFIG_NOSYSTEM", "1"),
            ],
        )
        .unwrap()
    }
}

#[test]
fn the_graph_agrees_with_git_on_ranges_ancestry_and_dates() {
    let w = World::new();
    let up = w.open(false);
    up.fetch().unwrap();
    let g = up.graph(&[]).unwrap();
    let all = w.run(0, &["rev-list", "--all", "--count"]);
    assert_eq!(g.len().to_string(), all);
    for (a, ida) in &w.ids {
        let na = g.find(ida).unwrap();
        let date = w.run(0, &["log", "-1", "--format=%ct", ida]);
        assert_eq!(g.time(na).to_string(), date, "{a}");
        assert_eq!(g.find(&ida[..7]), Some(na), "{a} by its short id");
        for (b, idb) in &w.ids {
            let nb = g.find(idb).unwrap();
            let (is_ancestor, _) = git(
                &w.up,
                &w.home,
                0,
                &["merge-base", "--is-ancestor", ida, idb],
            );
            assert_eq!(g.contains(nb, na), is_ancestor, "{a} in {b}");
            let mut expected: Vec<String> = w
                .run(0, &["rev-list", &format!("{ida}..{idb}")])
                .lines()
                .map(str::to_string)
                .collect();
            expected.sort();
            let mut got: Vec<String> = g
                .range(na, nb)
                .into_iter()
                .map(|n| g.id(n).to_string())
                .collect();
            got.sort();
            assert_eq!(got, expected, "{a}..{b}");
        }
    }
}

#[test]
fn pull_requests_are_found_by_their_subjects() {
    let w = World::new();
    let up = w.open(false);
    // The cache is empty: the lookup fetches.
    let c = up.pull_request(7, "where").unwrap();
    assert_eq!(c.id, w.ids["m3"]);
    assert_eq!(c.subject, "Merge pull request #7 from a/topic");
    assert_eq!(
        up.pull_request(4, "where").unwrap().id,
        w.ids["m4"],
        "not its revert"
    );
    assert_eq!(
        up.pull_request(9, "where").unwrap().id,
        w.ids["o1"],
        "on any branch"
    );
    let e = up.pull_request(77, "where").unwrap_err().to_string();
    assert_eq!(
        e,
        format!("where: no pull request #77 in upstream {}", w.up.display())
    );
    let offline = w.open(true);
    assert_eq!(offline.pull_request(1, "history").unwrap().id, w.ids["m1"]);
}
