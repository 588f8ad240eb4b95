//! `where` and `history` on a checkout with a real git history (promotions on the mainline, a
//! partial promotion, a promotion merged from a branch, a change of another component) and a
//! real upstream; the expected commits are asked from git.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::{command_output, git_with, Run, Sandbox};

const SAAS: &str = "data/services/reconcile/cicd/saas-qontract-reconcile.yaml";

/// Runs git in `dir` with the sealed environment at `date`; returns its trimmed output.
fn git_at(dir: &Path, home: &Path, date: &str, args: &[&str]) -> String {
    git_with(
        dir,
        home,
        &[("GIT_AUTHOR_DATE", date), ("GIT_COMMITTER_DATE", date)],
        args,
    )
}

/// An upstream of nine commits (`u[i]`, subject `change i (#10i)`, committed 2025-12-2i) and a
/// checkout whose history promotes it:
///
/// - `init` (01-01): every location at u0;
/// - `p1` (01-02, Ada): .env, stage and production to u2;
/// - `other` (01-03, Bob): another component's tag in .env, and a file without locations;
/// - `p2` (01-04, Carol): .env and stage to u4, production left at u2;
/// - `p2b` (01-05, Dan): production to u4, completing p2;
/// - `p3` (01-06, Eve, on branch `mr`): everything to u6, while `side` (01-06 12:00, Bob)
///   lands on master; `merge` (01-07, Frank) merges `mr`;
/// - `p4` (01-08, Ada): .env and stage to u7, production left at u6.
struct World {
    sb: Sandbox,
    upstream: PathBuf,
    u: Vec<String>,
    c: BTreeMap<&'static str, String>,
}

impl World {
    fn new() -> World {
        let sb = Sandbox::empty();
        let home = sb.home();
        let upstream = sb.dir.path().join("upstream");
        std::fs::create_dir_all(&upstream).unwrap();
        let day = |d: u32| format!("2025-12-{:02}T10:00:00Z", 20 + d);
        git_at(&upstream, &home, &day(0), &["init", "-q", "-b", "master"]);
        let mut u = Vec::new();
        for i in 0..9u32 {
            std::fs::write(upstream.join("f.txt"), format!("{i}\n")).unwrap();
            git_at(&upstream, &home, &day(i), &["add", "f.txt"]);
            git_at(
                &upstream,
                &home,
                &day(i),
                &[
                    "-c",
                    "user.name=Up Stream",
                    "-c",
                    "user.email=up@example.org",
                    "commit",
                    "-q",
                    "-m",
                    &format!("change {i} (#{})", 100 + i),
                ],
            );
            u.push(git_at(&upstream, &home, &day(i), &["rev-parse", "HEAD"]));
        }
        let mut w = World {
            sb,
            upstream,
            u,
            c: BTreeMap::new(),
        };
        w.write_tree();
        let root = w.sb.root();
        w.git("2026-01-01T09:00:00Z", &["init", "-q", "-b", "master"]);
        w.commit(
            "init",
            "Base Author",
            "2026-01-01T09:00:00Z",
            "app-interface",
        );
        w.set(2, 2, 2);
        w.commit(
            "p1",
            "Ada Lovelace",
            "2026-01-02T09:00:00Z",
            "qontract-reconcile to u2",
        );
        let env =
            w.sb.read(".env")
                .replace("SCHEMAS_IMAGE_TAG=9e8f7a6", "SCHEMAS_IMAGE_TAG=1a2b3c4");
        w.sb.write(".env", &env);
        w.sb.write("data/notes.yml", "notes: one\n");
        w.commit(
            "other",
            "Bob Roe",
            "2026-01-03T09:00:00Z",
            "qontract-schemas to 1a2b3c4",
        );
        w.set(4, 4, 2);
        w.commit(
            "p2",
            "Carol Poe",
            "2026-01-04T09:00:00Z",
            "qontract-reconcile to u4, stage",
        );
        w.set(4, 4, 4);
        w.commit(
            "p2b",
            "Dan Moe",
            "2026-01-05T09:00:00Z",
            "qontract-reconcile to u4, production",
        );
        w.git("2026-01-06T09:00:00Z", &["switch", "-q", "-c", "mr"]);
        w.set(6, 6, 6);
        w.commit(
            "p3",
            "Eve Doe",
            "2026-01-06T09:00:00Z",
            "qontract-reconcile to u6",
        );
        w.git("2026-01-06T12:00:00Z", &["switch", "-q", "master"]);
        w.sb.write("data/notes.yml", "notes: two\n");
        w.commit("side", "Bob Roe", "2026-01-06T12:00:00Z", "notes");
        w.git(
            "2026-01-07T09:00:00Z",
            &[
                "-c",
                "user.name=Frank Merger",
                "-c",
                "user.email=frank@example.org",
                "merge",
                "-q",
                "--no-ff",
                "-m",
                "Merge branch 'mr'",
                "mr",
            ],
        );
        w.c.insert(
            "merge",
            w.git("2026-01-07T09:00:00Z", &["rev-parse", "HEAD"]),
        );
        w.set(7, 7, 6);
        w.commit(
            "p4",
            "Ada Lovelace",
            "2026-01-08T09:00:00Z",
            "qontract-reconcile to u7, stage",
        );
        assert!(root.join(".git").is_dir());
        w
    }

    /// The checkout's files, every location at u0.
    fn write_tree(&self) {
        let u0 = &self.u[0];
        self.sb.write(
            ".env",
            &format!(
                "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE_TAG={}\n\
\n\
export SCHEMAS_REPO=https://github.com/app-sre/qontract-schemas\n\
export SCHEMAS_IMAGE=quay.io/app-sre/qontract-schemas\n\
export SCHEMAS_IMAGE_TAG=9e8f7a6\n",
                &u0[..7]
            ),
        );
        for env in ["stage", "production"] {
            self.sb.write(
                &format!("data/products/app-sre/environments/{env}.yml"),
                &format!("---\n$schema: /app-sre/environment-1.yml\n\nname: {env}\n"),
            );
            self.sb.write(
                &format!("data/openshift/{env}-01/cluster.yml"),
                &format!("---\n$schema: /openshift/cluster-1.yml\n\nname: {env}-01\n"),
            );
            self.sb.write(
                &format!("data/services/reconcile/namespaces/reconcile-{env}.yml"),
                &format!(
                    "---\n$schema: /openshift/namespace-1.yml\n\nname: reconcile-{env}\n\
cluster:\n  $ref: /openshift/{env}-01/cluster.yml\n\
environment:\n  $ref: /products/app-sre/environments/{env}.yml\n"
                ),
            );
        }
        self.write_saas(u0, u0);
    }

    fn write_saas(&self, stage: &str, production: &str) {
        let text = [
            "---",
            "$schema: /app-sre/saas-file-2.yml",
            "",
            "name: saas-qontract-reconcile",
            "",
            "resourceTemplates:",
            "- name: qontract-reconcile",
            "  url: https://github.com/app-sre/qontract-reconcile",
            "  path: /openshift/qontract-reconcile.yaml",
            "  targets:",
            "  - namespace:",
            "      $ref: /services/reconcile/namespaces/reconcile-stage.yml",
            &format!("    ref: {stage}"),
            "  - namespace:",
            "      $ref: /services/reconcile/namespaces/reconcile-production.yml",
            &format!("    ref: {production}"),
            "",
        ]
        .join("\n");
        self.sb.write(SAAS, &text);
    }

    /// Moves .env, stage and production to u[env], u[stage], u[production].
    fn set(&self, env: usize, stage: usize, production: usize) {
        let text = self.sb.read(".env");
        let line = text
            .lines()
            .find(|l| l.starts_with("export RECONCILE_IMAGE_TAG="))
            .unwrap()
            .to_string();
        let text = text.replace(
            &line,
            &format!("export RECONCILE_IMAGE_TAG={}", &self.u[env][..7]),
        );
        self.sb.write(".env", &text);
        self.write_saas(&self.u[stage], &self.u[production]);
    }

    fn git(&self, date: &str, args: &[&str]) -> String {
        git_at(&self.sb.root(), &self.sb.home(), date, args)
    }

    fn commit(&mut self, name: &'static str, author: &str, date: &str, message: &str) {
        let email = format!(
            "{}@example.org",
            author.split(' ').next().unwrap().to_lowercase()
        );
        self.git(date, &["add", "-A"]);
        self.git(
            date,
            &[
                "-c",
                &format!("user.name={author}"),
                "-c",
                &format!("user.email={email}"),
                "commit",
                "-q",
                "-m",
                message,
            ],
        );
        let id = self.git(date, &["rev-parse", "HEAD"]);
        self.c.insert(name, id);
    }

    fn id(&self, name: &str) -> &str {
        &self.c[name]
    }

    fn run(&self, args: &[&str]) -> Run {
        self.sb.run_against(&self.upstream, args)
    }

    /// What git says are the promotions: the commits of HEAD's history (merges left out) that
    /// changed the RECONCILE_IMAGE_TAG line of .env, without the root commit that wrote it.
    fn promotions_by_git(&self) -> Vec<String> {
        let root = self.git(
            "2026-01-09T00:00:00Z",
            &["rev-list", "--max-parents=0", "HEAD"],
        );
        self.git(
            "2026-01-09T00:00:00Z",
            &[
                "log",
                "--no-merges",
                "--format=%H",
                "-G",
                "^export RECONCILE_IMAGE_TAG=",
                "HEAD",
                "--",
                ".env",
            ],
        )
        .lines()
        .filter(|l| *l != root)
        .map(str::to_string)
        .collect()
    }
}

fn ids(v: &serde_json::Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn history_lists_the_promotions_git_log_shows_with_merges_and_partial_promotions() {
    let w = World::new();
    let v = w.run(&["--json", "history"]).ok().json();
    let ps = &v["promotions"];
    let by_git = w.promotions_by_git();
    assert_eq!(
        ids(ps, "commit"),
        by_git,
        "the promotions are the commits that moved the tag, newest first"
    );
    assert_eq!(
        by_git,
        [w.id("p4"), w.id("p3"), w.id("p2"), w.id("p1")],
        "the merge and the other component's change are no promotions"
    );
    // p3 landed with the merge: the merge git's first-parent history shows.
    let merges = w.git(
        "2026-01-09T00:00:00Z",
        &["log", "--first-parent", "--merges", "--format=%H", "HEAD"],
    );
    assert_eq!(merges, w.id("merge"));
    assert_eq!(ps[1]["landed"]["commit"], w.id("merge"));
    assert_eq!(ps[1]["landed"]["merge"], true);
    assert_eq!(ps[1]["landed"]["date"], "2026-01-07T09:00:00Z");
    assert_eq!(ps[1]["author_name"], "Eve Doe");
    assert_eq!(ps[0]["landed"]["commit"], w.id("p4"));
    assert_eq!(ps[0]["landed"]["merge"], false);
    // p2 is completed by p2b, the next commit that changed the saas file.
    let saas_log = w.git(
        "2026-01-09T00:00:00Z",
        &[
            "log",
            "--format=%H",
            "--reverse",
            &format!("{}..HEAD", w.id("p2")),
            "--",
            SAAS,
        ],
    );
    let next = saas_log.lines().next().unwrap();
    assert_eq!(next, w.id("p2b"));
    assert_eq!(ids(&ps[2]["parts"], "commit"), [next]);
    assert_eq!(ps[2]["parts"][0]["paths"], serde_json::json!([SAAS]));
    assert_eq!(ps[2]["completed"]["commit"], w.id("p2b"));
    assert_eq!(ps[2]["landed"]["commit"], w.id("p2"));
    for k in [0, 1, 3] {
        assert_eq!(ps[k]["parts"], serde_json::json!([]), "promotion {k}");
        assert_eq!(ps[k]["completed"], ps[k]["landed"], "promotion {k}");
    }
    // Upstream commits shipped, as git rev-list counts them.
    for (k, (old, new)) in [(7, 6), (6, 4), (4, 2), (2, 0)]
        .iter()
        .map(|(n, o)| (o, n))
        .enumerate()
    {
        let count: u64 = git_at(
            &w.upstream,
            &w.sb.home(),
            "2026-01-09T00:00:00Z",
            &[
                "rev-list",
                "--count",
                &format!("{}..{}", w.u[*old], w.u[*new]),
            ],
        )
        .parse()
        .unwrap();
        assert_eq!(ps[k]["commits"], count, "promotion {k}");
        assert_eq!(ps[k]["new_full"], w.u[*new].as_str());
    }
    // p1 (landed 01-02 09:00) shipped u1 and u2 (12-21 and 12-22, 10:00).
    assert_eq!(
        ps[3]["lead_time"]["median_seconds"],
        (11 * 86_400 + 23 * 3600) / 2 + (10 * 86_400 + 23 * 3600) / 2
    );
    assert_eq!(ps[3]["lead_time"]["max_seconds"], 11 * 86_400 + 23 * 3600);
    assert_eq!(v["lead_time"]["commits"], 7);
    assert_eq!(v["variable"], "RECONCILE_IMAGE_TAG");
}

#[test]
fn history_text() {
    let w = World::new();
    let r = w.run(&["history"]);
    insta::assert_snapshot!("history_text", command_output(&w.sb, &r));
}

#[test]
fn history_since_keeps_the_promotions_that_landed_from_that_date() {
    let w = World::new();
    // p3 was committed on 01-06 but landed with the merge on 01-07.
    let v = w
        .run(&["--json", "history", "--since", "2026-01-07"])
        .ok()
        .json();
    assert_eq!(ids(&v["promotions"], "commit"), [w.id("p4"), w.id("p3")]);
    assert_eq!(v["lead_time"]["commits"], 3);
    let v = w
        .run(&["--json", "history", "--since", "2026-01-07T09:00:01Z"])
        .ok()
        .json();
    assert_eq!(ids(&v["promotions"], "commit"), [w.id("p4")]);
    let v = w
        .run(&["--json", "history", "--since", "2027-01-01"])
        .ok()
        .json();
    assert_eq!(v["promotions"], serde_json::json!([]));
    assert_eq!(v["lead_time"], serde_json::Value::Null);
    let r = w.run(&["history", "--since", "2026-02-30"]).code(2);
    assert!(
        r.stderr.contains("\"2026-02-30\" is not a date"),
        "{}",
        r.stderr
    );
}

#[test]
fn history_contains_names_the_first_promotion_that_shipped_a_commit() {
    let w = World::new();
    let v = w
        .run(&["--json", "history", "--contains", "#103"])
        .ok()
        .json();
    assert_eq!(v["contains"]["rev"]["id"], w.u[3].as_str());
    assert_eq!(v["contains"]["shipped_by"], w.id("p2"));
    assert_eq!(ids(&v["promotions"], "commit"), [w.id("p2")]);
    // u3 committed 12-23 10:00; p2 completed by p2b on 01-05 09:00.
    assert_eq!(v["contains"]["lead_time_seconds"], 12 * 86_400 + 23 * 3600);
    let r = w.run(&["history", "--contains", &w.u[5][..10]]).ok();
    assert!(
        r.stdout.contains(&format!("{}  Eve Doe", &w.id("p3")[..7])),
        "{}",
        r.stdout
    );
    let r = w.run(&["history", "--contains", &w.u[8]]).code(3);
    assert!(
        r.stdout.contains("no promotion of the history shipped it"),
        "{}",
        r.stdout
    );
    let r = w.run(&["history", "--contains", &w.u[0]]).ok();
    assert!(r.stdout.contains("was in"), "{}", r.stdout);
    let r = w.run(&["history", "--contains", "#77"]).code(1);
    assert!(
        r.stderr
            .contains("error: history: no pull request #77 in upstream"),
        "{}",
        r.stderr
    );
}

#[test]
fn where_a_commit_runs_and_the_promotion_that_brought_it() {
    let w = World::new();
    // u3 (#103): p2 brought it to .env and stage, p2b (a part of p2) to production.
    let v = w.run(&["--json", "where", "#103"]).ok().json();
    assert_eq!(v["rev"]["id"], w.u[3].as_str());
    assert_eq!(v["rev"]["pr"], 103);
    assert_eq!(v["everywhere"], true);
    let locs = v["locations"].as_array().unwrap();
    assert_eq!(locs.len(), 3, "{locs:#?}");
    let by_env = |env: &str| {
        locs.iter()
            .find(|l| l["location"]["context"]["environment"] == env)
            .unwrap()
            .clone()
    };
    let env = locs
        .iter()
        .find(|l| l["location"]["kind"] == "env")
        .unwrap();
    assert_eq!(env["state"], "runs");
    assert_eq!(env["since"]["commit"], w.id("p2"));
    assert_eq!(env["since"]["promotion"], w.id("p2"));
    assert_eq!(by_env("stage")["since"]["commit"], w.id("p2"));
    let prod = by_env("production");
    assert_eq!(prod["since"]["commit"], w.id("p2b"));
    assert_eq!(prod["since"]["promotion"], w.id("p2"), "p2b is part of p2");
    // What git blame says of the production line when p2b was made.
    let line = prod["location"]["line"].as_u64().unwrap().to_string();
    let blame = w.git(
        "2026-01-09T00:00:00Z",
        &[
            "blame",
            "--porcelain",
            "-L",
            &format!("{line},{line}"),
            w.id("p2b"),
            "--",
            SAAS,
        ],
    );
    assert!(blame.starts_with(w.id("p2b")), "{blame}");

    // u5 came with p3, through the merge.
    let v = w.run(&["--json", "where", &w.u[5]]).ok().json();
    for l in v["locations"].as_array().unwrap() {
        assert_eq!(l["since"]["commit"], w.id("p3"), "{l:#}");
        assert_eq!(l["since"]["landed"]["commit"], w.id("merge"));
        assert_eq!(l["since"]["landed"]["merge"], true);
    }
    assert_eq!(v["environments"].as_array().unwrap().len(), 3);
}

#[test]
fn where_a_commit_not_yet_everywhere_exits_3() {
    let w = World::new();
    let r = w.run(&["where", &w.u[7][..7]]).code(3);
    insta::assert_snapshot!("where_not_yet", command_output(&w.sb, &r));
    let v = w
        .run(&["--json", "where", "qontract-reconcile", &w.u[8]])
        .code(3)
        .json();
    assert_eq!(v["everywhere"], false);
    assert!(v["locations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["state"] == "not-yet" && l["since"].is_null()));
}

#[test]
fn where_everywhere_exits_0() {
    let w = World::new();
    let r = w
        .run(&["where", "--component", "qontract-reconcile", "#105"])
        .ok();
    insta::assert_snapshot!("where_everywhere", command_output(&w.sb, &r));
}

#[test]
fn where_sees_an_uncommitted_promotion() {
    let w = World::new();
    w.set(8, 7, 6);
    let v = w.run(&["--json", "where", &w.u[8]]).code(3).json();
    let env = v["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["location"]["kind"] == "env")
        .unwrap()
        .clone();
    assert_eq!(env["state"], "runs");
    assert_eq!(env["since"], serde_json::json!({ "uncommitted": true }));
}

#[test]
fn where_refuses_what_does_not_resolve_and_writes_nothing() {
    let w = World::new();
    let before = w.sb.snapshot();
    let r = w.run(&["where", "#77"]).code(1);
    let up = w.upstream.display().to_string();
    assert_eq!(
        r.stderr.lines().next().unwrap(),
        format!("error: where: no pull request #77 in upstream {up}")
    );
    assert_eq!(r.stdout, "");
    let r = w.run(&["where", "#x1"]).code(1);
    assert!(
        r.stderr.contains("\"#x1\" is not a pull request number"),
        "{}",
        r.stderr
    );
    let r = w.run(&["where", "no-such-branch"]).code(1);
    assert!(r.stderr.contains("no-such-branch"), "{}", r.stderr);
    let r = w.run(&["where", "qontract-nothing", "latest"]).code(1);
    assert!(r.stderr.contains("qontract-nothing"), "{}", r.stderr);
    assert_eq!(w.sb.snapshot(), before);
}

#[test]
fn offline_answers_from_the_warm_cache() {
    let w = World::new();
    let online = w.run(&["--json", "history"]).ok().json();
    let offline = w.run(&["--json", "history", "--offline"]).ok().json();
    assert_eq!(online, offline);
    let v = w
        .run(&["--json", "where", "--offline", &w.u[5]])
        .ok()
        .json();
    assert_eq!(v["everywhere"], true);
}

#[test]
fn history_needs_a_git_checkout() {
    let w = World::new();
    std::fs::rename(w.sb.path(".git"), w.sb.dir.path().join("git-aside")).unwrap();
    let r = w.run(&["history"]).code(1);
    assert!(r.stderr.contains("not a git repository"), "{}", r.stderr);
    // where still answers, without the promotions.
    let v = w.run(&["--json", "where", &w.u[5]]).ok().json();
    assert!(v["history"]
        .as_str()
        .unwrap()
        .contains("not a git repository"));
    assert!(v["locations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["since"].is_null()));
}

#[test]
fn offline_history_of_a_component_whose_upstream_cache_is_empty() {
    let w = World::new();
    // qontract-schemas moved once (in `other`); its upstream was never fetched.
    let r =
        w.sb.run(&["--json", "history", "qontract-schemas", "--offline"])
            .ok();
    let v = r.json();
    assert_eq!(ids(&v["promotions"], "commit"), [w.id("other")]);
    assert_eq!(v["promotions"][0]["old"], "9e8f7a6");
    assert_eq!(v["promotions"][0]["new"], "1a2b3c4");
    assert_eq!(v["promotions"][0]["commits"], serde_json::Value::Null);
    assert_eq!(
        v["unknown_versions"],
        serde_json::json!(["9e8f7a6", "1a2b3c4"])
    );
    assert!(
        r.stderr
            .contains("lacks 2 promoted versions (offline): 9e8f7a6, 1a2b3c4"),
        "{}",
        r.stderr
    );
    let r = w.sb.run(&["history", "qontract-schemas", "--offline"]).ok();
    assert!(r.stdout.contains("9e8f7a6 -> 1a2b3c4  ?"), "{}", r.stdout);
}

#[test]
fn history_after_a_promotion_filled_the_cache_is_the_whole_history() {
    let w = World::new();
    // A promotion into an empty cache fetches the commits it needs by id and the history
    // between the versions; `history` then needs every branch and tag.
    let r = w.run(&["--json", "plan", "--to", &w.u[8], "--skip-image-check"]);
    let plan = r.ok().json();
    assert_eq!(plan["relation"]["kind"], "descends");
    assert_eq!(plan["changes"]["commits"][0]["subject"], "change 8 (#108)");
    let cache = w.sb.home().join("cache").join("upstreams");
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(
        entries[0].join("qr-promote-bounded").is_file(),
        "a bounded cache"
    );
    let after = w.run(&["--json", "history"]).ok().json();
    assert!(!entries[0].join("qr-promote-bounded").exists(), "completed");
    std::fs::remove_dir_all(&cache).unwrap();
    let fresh = w.run(&["--json", "history"]).ok().json();
    assert_eq!(after, fresh);
    let offline = w.run(&["--json", "history", "--offline"]).ok().json();
    assert_eq!(offline, fresh);
}
