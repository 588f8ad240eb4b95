//! Upstream resolution, the change report and the checkout-side git operations, against real git.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use qr_promote::upstream::changes::{self, ChangeReport};
use qr_promote::upstream::git::Git;
use qr_promote::upstream::people::Directory;
use qr_promote::upstream::{Relation, Upstream, UpstreamOptions};
use tempfile::TempDir;

/// Git sealed from the machine: its own HOME, no global or system configuration, fixed dates.
fn sealed(home: &Path) -> Vec<(String, String)> {
    vec![
        ("HOME".into(), home.display().to_string()),
        ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
        ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
        ("GIT_AUTHOR_DATE".into(), "1700000000 +0000".into()),
        ("GIT_COMMITTER_DATE".into(), "1700000000 +0000".into()),
        ("GIT_COMMITTER_NAME".into(), "Committer".into()),
        ("GIT_COMMITTER_EMAIL".into(), "committer@example.com".into()),
        ("GIT_AUTHOR_NAME".into(), "Committer".into()),
        ("GIT_AUTHOR_EMAIL".into(), "committer@example.com".into()),
    ]
}

fn git_in(
    dir: &Path,
    home: &Path,
    extra: &[(&str, &str)],
    args: &[&str],
    input: Option<&str>,
) -> String {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    cmd.envs(sealed(home));
    cmd.envs(extra.iter().copied());
    cmd.env("GIT_TERMINAL_PROMPT", "0");
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

const ALICE: (&str, &str) = ("Alice Doe", "alice@example.com");
const OCTO: (&str, &str) = ("Octo Cat", "12345+octo@users.noreply.github.com");
const BOB: (&str, &str) = ("Bob Roe", "bob@example.com");
const CAROL: (&str, &str) = ("Carol Poe", "Carol@Example.com");

/// A sealed temporary world: a HOME, an upstream repository and a cache directory.
struct World {
    tmp: TempDir,
    home: PathBuf,
    up: PathBuf,
    cache: PathBuf,
    ids: HashMap<&'static str, String>,
    clock: u64,
}

impl World {
    fn new() -> World {
        let tmp = TempDir::new().unwrap();
        let home = tmp.path().join("home");
        let up = tmp.path().join("up");
        let cache = tmp.path().join("cache");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&up).unwrap();
        let w = World {
            tmp,
            home,
            up,
            cache,
            ids: HashMap::new(),
            clock: 1_700_000_000,
        };
        w.git(&["init", "--quiet", "--initial-branch=master"]);
        w
    }

    fn git(&self, args: &[&str]) -> String {
        git_in(&self.up, &self.home, &[], args, None)
    }

    /// A commit by `who` that adds a file, so the upstream holds blobs.
    fn commit(&mut self, key: &'static str, who: (&str, &str), subject: &str) -> String {
        self.clock += 60;
        let date = format!("{} +0000", self.clock);
        std::fs::write(self.up.join(format!("{key}.txt")), format!("{key}\n")).unwrap();
        self.git(&["add", "--all"]);
        let env = [
            ("GIT_AUTHOR_NAME", who.0),
            ("GIT_AUTHOR_EMAIL", who.1),
            ("GIT_AUTHOR_DATE", date.as_str()),
            ("GIT_COMMITTER_DATE", date.as_str()),
        ];
        git_in(
            &self.up,
            &self.home,
            &env,
            &["commit", "--quiet", "-m", subject],
            None,
        );
        let id = self.git(&["rev-parse", "HEAD"]);
        self.ids.insert(key, id.clone());
        id
    }

    fn id(&self, key: &str) -> &str {
        &self.ids[key]
    }

    /// c1 - c2 - c3 - m - c4 on master, f1 on branch feature (from c2) merged by m; tag v1.0 on c3.
    fn standard() -> World {
        let mut w = World::new();
        w.commit("c1", ALICE, "Initial commit");
        w.commit("c2", OCTO, "Add the feature flag (#12)");
        w.git(&["switch", "--quiet", "-c", "feature"]);
        w.commit("f1", BOB, "Feature work");
        w.git(&["switch", "--quiet", "master"]);
        w.commit("c3", ALICE, "Fix a bug (#13)");
        w.git(&["tag", "-a", "v1.0", "-m", "release 1.0"]);
        w.clock += 60;
        let date = format!("{} +0000", w.clock);
        let env = [
            ("GIT_AUTHOR_NAME", CAROL.0),
            ("GIT_AUTHOR_EMAIL", CAROL.1),
            ("GIT_AUTHOR_DATE", date.as_str()),
            ("GIT_COMMITTER_DATE", date.as_str()),
        ];
        git_in(
            &w.up,
            &w.home,
            &env,
            &[
                "merge",
                "--quiet",
                "--no-ff",
                "-m",
                "Merge pull request #14 from org/feature",
                "feature",
            ],
            None,
        );
        let m = w.git(&["rev-parse", "HEAD"]);
        w.ids.insert("m", m);
        w.commit("c4", BOB, "Prepare the release (#15)");
        w
    }

    fn url(&self) -> String {
        self.up.display().to_string()
    }

    fn open_at(&self, url: &str, offline: bool) -> qr_promote::Result<Upstream> {
        let env = sealed(&self.home);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Upstream::open_with_env(
            url,
            UpstreamOptions {
                cache_dir: self.cache.clone(),
                offline,
                progress: false,
            },
            &env,
        )
    }

    fn open(&self, offline: bool) -> Upstream {
        self.open_at(&self.url(), offline).unwrap()
    }
}

fn err_of<T: std::fmt::Debug>(r: qr_promote::Result<T>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn latest_fetches_once_into_a_blobless_bare_cache() {
    let w = World::standard();
    let up = w.open(false);
    let r = up.resolve(None).unwrap();
    assert_eq!(r.id, w.id("c4"));
    assert_eq!(r.short, &w.id("c4")[..7]);
    assert_eq!(r.name.as_deref(), Some("master"));
    assert!(r.fetched && r.in_cache);
    // The cache path: <cache>/upstreams/<name>-<16 hex>.git, bare, with no blobs.
    let path = up.cache_path().to_path_buf();
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        path.starts_with(w.cache.join("upstreams")),
        "{}",
        path.display()
    );
    assert!(
        file.starts_with("up-") && file.ends_with(".git") && file.len() == "up-".len() + 16 + 4,
        "{file}"
    );
    assert_eq!(
        git_in(
            &path,
            &w.home,
            &[],
            &["rev-parse", "--is-bare-repository"],
            None
        ),
        "true"
    );
    let types = git_in(
        &path,
        &w.home,
        &[],
        &[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objecttype)",
        ],
        None,
    );
    assert!(
        types.contains("commit") && !types.contains("blob"),
        "{types}"
    );
    // Again, in a new session: the commit is cached, nothing is fetched.
    let again = w.open(false).resolve(Some("latest")).unwrap();
    assert_eq!(again.id, w.id("c4"));
    assert!(!again.fetched);
}

#[test]
fn latest_fetches_when_the_upstream_moved() {
    let mut w = World::standard();
    assert!(w.open(false).resolve(None).unwrap().fetched);
    let c5 = w.commit("c5", ALICE, "One more (#16)");
    let r = w.open(false).resolve(None).unwrap();
    assert_eq!(r.id, c5);
    assert!(r.fetched);
}

#[test]
fn branches_tags_and_ids_resolve() {
    let w = World::standard();
    let up = w.open(false);
    let feature = up.resolve(Some("feature")).unwrap();
    assert_eq!(feature.id, w.id("f1"));
    assert_eq!(feature.name.as_deref(), Some("feature"));
    // An annotated tag resolves to its commit.
    assert_eq!(up.resolve(Some("v1.0")).unwrap().id, w.id("c3"));
    let short = up.resolve(Some(&w.id("c2")[..7])).unwrap();
    assert_eq!(short.id, w.id("c2"));
    assert!(!short.fetched, "the cache had it");
    let full = up.resolve(Some(&w.id("c1").to_uppercase())).unwrap();
    assert_eq!(full.id, w.id("c1"));
}

#[test]
fn a_commit_in_the_cache_needs_no_fetch() {
    let w = World::standard();
    w.open(false).resolve(None).unwrap();
    // The upstream is gone: any fetch would fail.
    std::fs::rename(&w.up, w.tmp.path().join("gone")).unwrap();
    let up = w.open_at(&w.url(), false).unwrap();
    let r = up.resolve(Some(w.id("c3"))).unwrap();
    assert!(r.in_cache && !r.fetched);
    assert_eq!(up.resolve(Some(&w.id("f1")[..8])).unwrap().id, w.id("f1"));
}

#[test]
fn an_unknown_id_names_the_upstream() {
    let w = World::standard();
    let up = w.open(false);
    let e = err_of(up.resolve(Some("0000000000000000000000000000000000000000")));
    assert!(
        e.contains(&format!("upstream {}", w.url()))
            && e.contains("no commit 0000000000000000000000000000000000000000"),
        "{e}"
    );
    let e = err_of(up.resolve(Some("abcdef0")));
    assert!(
        e.contains(&format!("upstream {}: no commit abcdef0", w.url())),
        "{e}"
    );
    let e = err_of(up.resolve(Some("no-such-branch")));
    assert!(
        e.contains(&format!(
            "upstream {}: no branch, tag or commit no-such-branch",
            w.url()
        )),
        "{e}"
    );
}

#[test]
fn an_ambiguous_short_id_lists_the_candidates() {
    let w = World::new();
    // Root commits on the empty tree, hashed in one go, until two ids share 4 digits.
    let tree = git_in(
        &w.up,
        &w.home,
        &[],
        &["hash-object", "-w", "-t", "tree", "--stdin"],
        Some(""),
    );
    let dir = w.tmp.path().join("bodies");
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths = String::new();
    for i in 0..1500 {
        let p = dir.join(format!("{i}"));
        std::fs::write(
            &p,
            format!("tree {tree}\nauthor A <a@example.com> 1700000000 +0000\ncommitter A <a@example.com> 1700000000 +0000\n\nattempt {i}\n"),
        )
        .unwrap();
        paths.push_str(&format!("{}\n", p.display()));
    }
    let ids = git_in(
        &w.up,
        &w.home,
        &[],
        &["hash-object", "-w", "-t", "commit", "--stdin-paths"],
        Some(&paths),
    );
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut pair = None;
    for id in ids.lines() {
        if let Some(other) = seen.insert(&id[..4], id) {
            pair = Some((other.to_string(), id.to_string()));
            break;
        }
    }
    let (a, b) = pair.expect("1500 commits share a 4-digit prefix");
    w.git(&["update-ref", "refs/heads/master", &a]);
    w.git(&["update-ref", "refs/heads/other", &b]);
    let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let up = w.open(false);
    // What users type: `--to` with the shared digits.
    let e = err_of(up.resolve(Some(&a[..common])));
    assert!(
        e.contains("is ambiguous")
            && e.contains(&format!("{} (2023-11-14, attempt", &a[..12]))
            && e.contains(&format!("{} (2023-11-14, attempt", &b[..12])),
        "{e}"
    );
    assert!(e.contains(&format!("upstream {}", w.url())), "{e}");
    // One digit more names one commit.
    assert_eq!(up.resolve(Some(&a[..common + 1])).unwrap().id, a);
    assert_eq!(up.resolve(Some(&b[..common + 1])).unwrap().id, b);
    // The library's entry point can still ask for more digits.
    let e = err_of(up.resolve_id(&a[..4], 7));
    assert!(e.contains("not a commit id (7 to 40 hex digits)"), "{e}");
}

#[test]
fn a_four_digit_id_resolves_and_a_missing_one_says_so() {
    let w = World::standard();
    let up = w.open(false);
    let c3 = w.id("c3");
    assert_eq!(up.resolve(Some(&c3[..4])).unwrap().id, c3);
    assert_eq!(up.resolve(Some(&c3[..5].to_uppercase())).unwrap().id, c3);
    // No commit of the upstream starts with these digits (checked with git itself).
    let all = w.git(&["rev-list", "--all"]);
    let missing = ["dead", "beef", "f00d", "0bad"]
        .into_iter()
        .find(|p| !all.lines().any(|id| id.starts_with(p)))
        .unwrap();
    let e = err_of(up.resolve(Some(missing)));
    assert!(
        e.contains(&format!("no commit {missing} in the upstream")),
        "{e}"
    );
    // Fewer than 4 digits is a name, and no branch or tag has it.
    let e = err_of(up.resolve(Some(&c3[..3])));
    assert!(e.contains("no branch, tag or commit"), "{e}");
}

#[test]
fn a_commit_on_a_branch_pushed_after_the_last_fetch_resolves_by_short_id() {
    let mut w = World::standard();
    let up = w.open(false);
    up.resolve(None).unwrap();
    // A branch the cache has never seen, and a commit on it.
    w.git(&["switch", "--quiet", "-c", "later", "master"]);
    let id = w.commit("l1", ALICE, "Later work");
    w.git(&["switch", "--quiet", "master"]);
    let up = w.open(false);
    let r = up.resolve(Some(&id[..6])).unwrap();
    assert_eq!((r.id.as_str(), r.fetched), (id.as_str(), true));
}

#[test]
fn a_commit_only_a_pull_request_ref_reaches_is_fetched_by_id() {
    let mut w = World::standard();
    w.open(false).resolve(None).unwrap();
    // A pull request's head: under refs/pull/, which a fetch of branches and tags never brings.
    w.git(&["switch", "--quiet", "-c", "pr", "master"]);
    let id = w.commit("p1", BOB, "Proposed change");
    w.git(&["switch", "--quiet", "master"]);
    w.git(&["update-ref", "refs/pull/7/head", &id]);
    w.git(&["branch", "--quiet", "-D", "pr"]);
    let up = w.open(false);
    let r = up.resolve(Some(&id[..7])).unwrap();
    assert_eq!(
        (r.id.as_str(), r.in_cache, r.fetched),
        (id.as_str(), true, true)
    );
    // And it is in the cache from now on.
    let again = w.open(false).resolve(Some(&id[..8])).unwrap();
    assert!(!again.fetched);
}

#[test]
fn an_unreachable_path_is_unreachable() {
    let w = World::new();
    let missing = w.tmp.path().join("nowhere");
    let up = w.open_at(&missing.display().to_string(), false).unwrap();
    let e = err_of(up.resolve(None));
    assert_eq!(
        e,
        format!(
            "upstream {0}: unreachable: {0} does not exist",
            missing.display()
        )
    );
}

#[test]
fn a_closed_port_is_unreachable() {
    let w = World::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/org/repo.git");
    let e = err_of(w.open_at(&url, false).unwrap().resolve(None));
    assert!(
        e.starts_with(&format!("upstream {url}: unreachable: ")),
        "{e}"
    );
    assert!(
        e.contains("Failed to connect") || e.contains("Couldn't connect"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn a_server_asking_for_credentials_needs_authentication() {
    let w = World::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let url = format!("http://127.0.0.1:{port}/org/repo.git");
    let e = err_of(w.open_at(&url, false).unwrap().resolve(None));
    assert!(
        e.starts_with(&format!("upstream {url}: authentication required: ")),
        "{e}"
    );
}

#[test]
fn a_plain_directory_is_not_a_git_repository() {
    let w = World::new();
    let plain = w.tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let e = err_of(
        w.open_at(&plain.display().to_string(), false)
            .unwrap()
            .resolve(None),
    );
    assert_eq!(
        e,
        format!("upstream {}: not a git repository", plain.display())
    );
}

#[test]
fn an_unborn_head_leaves_the_default_branch_unknown() {
    let mut w = World::new();
    w.commit("c1", ALICE, "Initial commit");
    w.git(&["branch", "-m", "master", "feature"]);
    w.git(&["symbolic-ref", "HEAD", "refs/heads/main"]);
    let up = w.open(false);
    let e = err_of(up.resolve(None));
    assert!(
        e.starts_with(&format!("upstream {}: default branch unknown", w.url())),
        "{e}"
    );
    // The branch still resolves.
    assert_eq!(up.resolve(Some("feature")).unwrap().id, w.id("c1"));
    // Offline, with nothing recorded, it is unknown too.
    let e = err_of(w.open(true).resolve(None));
    assert!(e.contains("default branch unknown: offline"), "{e}");
}

#[test]
fn relations() {
    let w = World::standard();
    let up = w.open(false);
    up.resolve(None).unwrap();
    let (c1, c2, c3, c4, f1) = (w.id("c1"), w.id("c2"), w.id("c3"), w.id("c4"), w.id("f1"));
    assert_eq!(up.relation(&c3[..7], c3).unwrap(), Relation::Same);
    // c1..c4: c2, c3, f1, m, c4.
    assert_eq!(
        up.relation(&c1[..7], c4).unwrap(),
        Relation::Descends { commits: 5 }
    );
    assert_eq!(
        up.relation(c4, c2).unwrap(),
        Relation::Rollback { commits: 4 }
    );
    assert_eq!(
        up.relation(f1, c3).unwrap(),
        Relation::Diverged {
            merge_base: c2.to_string()
        }
    );
}

#[test]
fn commits_between_two_versions() {
    let w = World::standard();
    let up = w.open(false);
    up.resolve(None).unwrap();
    let commits = up.commits(&w.id("c2")[..7], w.id("c4")).unwrap();
    let subjects: Vec<&str> = commits.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "Prepare the release (#15)",
            "Merge pull request #14 from org/feature",
            "Fix a bug (#13)",
            "Feature work"
        ]
    );
    let prs: Vec<Option<u64>> = commits.iter().map(|c| c.pr).collect();
    assert_eq!(prs, [Some(15), Some(14), Some(13), None]);
    assert_eq!(commits[0].id, w.id("c4"));
    assert_eq!(commits[0].short, &w.id("c4")[..7]);
    assert_eq!(
        (
            commits[0].author_name.as_str(),
            commits[0].author_email.as_str()
        ),
        BOB
    );
    assert!(up.commits(w.id("c4"), w.id("c2")).unwrap().is_empty());
}

#[test]
fn offline_never_touches_the_upstream() {
    let w = World::standard();
    w.open(false).resolve(None).unwrap();
    // Renamed away: any access to the upstream would fail.
    std::fs::rename(&w.up, w.tmp.path().join("gone")).unwrap();
    let up = w.open(true);
    let latest = up.resolve(None).unwrap();
    assert_eq!(latest.id, w.id("c4"));
    assert_eq!(latest.name.as_deref(), Some("master"));
    assert_eq!(up.resolve(Some(&w.id("c2")[..7])).unwrap().id, w.id("c2"));
    assert_eq!(up.resolve(Some("v1.0")).unwrap().id, w.id("c3"));
    let missing = "1234567890123456789012345678901234567890";
    let r = up.resolve(Some(missing)).unwrap();
    assert_eq!(
        (r.id.as_str(), r.in_cache, r.fetched),
        (missing, false, false)
    );
    let e = err_of(up.resolve(Some("feature")));
    assert!(e.contains("offline: cannot resolve feature"), "{e}");
    let e = err_of(up.resolve(Some("1234567")));
    assert!(e.contains("no commit 1234567 in the cache (offline"), "{e}");
    assert_eq!(
        up.relation(w.id("c1"), w.id("c4")).unwrap(),
        Relation::Descends { commits: 5 }
    );
    assert_eq!(up.commits(w.id("c3"), w.id("c4")).unwrap().len(), 3);
    let e = err_of(up.relation(w.id("c1"), missing));
    assert!(e.contains("not in the cache (offline)"), "{e}");
    let e = err_of(up.fetch());
    assert!(e.contains("offline"), "{e}");
}

#[test]
fn change_report_names_authors_and_whom_to_notify() {
    let w = World::standard();
    let up = w.open(false);
    up.resolve(None).unwrap();
    let commits = up.commits(w.id("c1"), w.id("c4")).unwrap();
    // An app-interface checkout with two users.
    let root = w.tmp.path().join("app-interface");
    let users = root.join("data/teams/x/users");
    std::fs::create_dir_all(&users).unwrap();
    std::fs::create_dir_all(root.join("resources")).unwrap();
    std::fs::write(
        users.join("octo.yml"),
        "---\n$schema: /access/user-1.yml\n\nlabels: {}\nname: \"Octo Cat\"\norg_username: ocat\ngithub_username: Octo\nroles:\n- $ref: /x.yml\n",
    )
    .unwrap();
    std::fs::write(
        users.join("bob.yml"),
        "$schema: /access/user-1.yml\nname: 'Bob Roe'\norg_username: broe # comment\ngithub_username: bobr\n",
    )
    .unwrap();
    std::fs::write(
        root.join("data/other.yml"),
        "$schema: /app-sre/app-1.yml\nname: Alice Doe\norg_username: nope\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("data/app-interface")).unwrap();
    std::fs::write(
        root.join("data/app-interface/app-interface-settings.yml"),
        "---\n$schema: /app-interface/app-interface-settings-1.yml\nsmtp:\n  mailAddress: example.com\n",
    )
    .unwrap();
    let dir = Directory::load(&root, None).unwrap();
    let handles: Vec<&str> = dir
        .users()
        .iter()
        .map(|u| u.org_username.as_str())
        .collect();
    assert_eq!(handles, ["broe", "ocat"]);
    assert_eq!(dir.mail_domain(), Some("example.com"));

    let repo = "https://github.com/app-sre/qontract-reconcile.git";
    // Carol promotes, naming herself by the address she committed with.
    let report = ChangeReport::new(
        repo,
        w.id("c1"),
        w.id("c4"),
        commits,
        &dir,
        Some("CAROL@example.COM"),
    );
    assert_eq!(
        report.compare_url.as_deref(),
        Some(
            format!(
                "https://github.com/app-sre/qontract-reconcile/compare/{}...{}",
                w.id("c1"),
                w.id("c4")
            )
            .as_str()
        )
    );
    let authors: Vec<(&str, Option<&str>)> = report
        .authors
        .iter()
        .map(|a| (a.name.as_str(), a.handle.as_deref()))
        .collect();
    // bob@example.com is the org address of broe; Octo's no-reply login is ocat's.
    assert_eq!(
        authors,
        [
            ("Bob Roe", Some("broe")),
            ("Carol Poe", None),
            ("Alice Doe", None),
            ("Octo Cat", Some("ocat")),
        ]
    );
    let notify: Vec<&str> = report.notify.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(notify, ["Bob Roe", "Alice Doe", "Octo Cat"]);

    let text = changes::render_text(&report);
    assert!(
        text.contains(&format!(
            "{} Prepare the release (#15) (@broe)",
            &w.id("c4")[..7]
        )),
        "{text}"
    );
    assert!(text.contains("5 commits"), "{text}");
    assert!(
        text.contains("Authors to notify: @broe, Alice Doe <alice@example.com>, @ocat"),
        "{text}"
    );
    let md = changes::render_markdown(&report);
    assert!(
        md.contains("[\\#15](https://github.com/app-sre/qontract-reconcile/pull/15)"),
        "{md}"
    );
    assert!(md.contains("`broe` (Bob Roe)"), "{md}");
    assert!(!md.contains("@broe"), "no mention: {md}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["commits"].as_array().unwrap().len(), 5);
    assert_eq!(json["authors"][0]["handle"], "broe");
    assert_eq!(json["authors"][0]["emails"][0], "bob@example.com");
}

/// A checkout repository (clone of a tiny origin) for the `apply --commit` side.
fn checkout_world() -> (TempDir, PathBuf, PathBuf, Git) {
    let tmp = TempDir::new().unwrap();
    let home = tmp.path().join("home");
    let origin = tmp.path().join("origin");
    let co = tmp.path().join("co");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(origin.join("data")).unwrap();
    git_in(
        &origin,
        &home,
        &[],
        &["init", "--quiet", "--initial-branch=master"],
        None,
    );
    std::fs::write(origin.join("data/a.yml"), "tag: 1111111\n").unwrap();
    std::fs::write(origin.join("data/b.yml"), "tag: 1111111\n").unwrap();
    std::fs::write(origin.join(".env"), "export X_IMAGE_TAG=1111111\n").unwrap();
    git_in(&origin, &home, &[], &["add", "--all"], None);
    git_in(
        &origin,
        &home,
        &[],
        &["commit", "--quiet", "-m", "start"],
        None,
    );
    git_in(
        tmp.path(),
        &home,
        &[],
        &["clone", "--quiet", "origin", "co"],
        None,
    );
    git_in(
        &co,
        &home,
        &[],
        &["config", "user.email", "me@example.com"],
        None,
    );
    git_in(&co, &home, &[], &["config", "user.name", "Me"], None);
    let mut g = Git::new(&co);
    for (k, v) in sealed(&home) {
        if !k.starts_with("GIT_AUTHOR_") && !k.starts_with("GIT_COMMITTER_") {
            g = g.with_env(k, v);
        }
    }
    (tmp, home, co, g)
}

#[test]
fn checkout_email_dirt_and_base() {
    let (_tmp, home, co, g) = checkout_world();
    assert_eq!(g.user_email().as_deref(), Some("me@example.com"));
    let paths: Vec<String> = ["data/a.yml", "data/b.yml", ".env", "data/new.yml"]
        .map(String::from)
        .to_vec();
    assert!(g.is_dirty(&paths).unwrap().is_empty());
    std::fs::write(co.join("data/a.yml"), "tag: 2222222\n").unwrap();
    std::fs::write(co.join(".env"), "export X_IMAGE_TAG=2222222\n").unwrap();
    git_in(&co, &home, &[], &["add", ".env"], None);
    std::fs::write(co.join("data/new.yml"), "x: 1\n").unwrap();
    assert_eq!(
        g.is_dirty(&paths).unwrap(),
        [".env", "data/a.yml", "data/new.yml"]
    );
    assert!(g.is_dirty(&["data/b.yml".to_string()]).unwrap().is_empty());

    assert_eq!(
        g.resolve_base(None).unwrap().as_deref(),
        Some("origin/master")
    );
    assert_eq!(
        g.resolve_base(Some("master")).unwrap().as_deref(),
        Some("master")
    );
    let e = err_of(g.resolve_base(Some("nope")));
    assert!(e.contains("base nope is not a commit"), "{e}");
    git_in(
        &co,
        &home,
        &[],
        &["update-ref", "-d", "refs/remotes/origin/master"],
        None,
    );
    assert_eq!(g.resolve_base(None).unwrap().as_deref(), Some("master"));
    git_in(&co, &home, &[], &["branch", "-m", "master", "trunk"], None);
    assert_eq!(g.resolve_base(None).unwrap(), None);
}

#[test]
fn commit_promotion_commits_exactly_the_files_on_a_new_branch() {
    let (_tmp, home, co, g) = checkout_world();
    std::fs::write(co.join("data/a.yml"), "tag: 2222222\n").unwrap();
    std::fs::write(co.join(".env"), "export X_IMAGE_TAG=2222222\n").unwrap();
    // Unrelated work, staged and not, stays out of the commit.
    std::fs::write(co.join("data/b.yml"), "tag: other\n").unwrap();
    std::fs::write(co.join("notes.txt"), "x\n").unwrap();
    git_in(&co, &home, &[], &["add", "notes.txt"], None);
    let files = vec![".env".to_string(), "data/a.yml".to_string()];
    let subject = "qontract production promotion 1111111 to 2222222";
    let id = g
        .commit_promotion(&files, "promote-2222222", subject, "Changes:\n- one\n")
        .unwrap();
    assert_eq!(git_in(&co, &home, &[], &["rev-parse", "HEAD"], None), id);
    assert_eq!(
        git_in(&co, &home, &[], &["symbolic-ref", "--short", "HEAD"], None),
        "promote-2222222"
    );
    assert_eq!(
        git_in(&co, &home, &[], &["log", "-1", "--format=%B"], None),
        format!("{subject}\n\nChanges:\n- one")
    );
    assert_eq!(
        git_in(
            &co,
            &home,
            &[],
            &["show", "--name-only", "--format=", "HEAD"],
            None
        ),
        ".env\ndata/a.yml"
    );
    let status = git_in(&co, &home, &[], &["status", "--porcelain"], None);
    assert_eq!(status, " M data/b.yml\nA  notes.txt");
    assert_eq!(
        qr_promote::promote::branch::promotion_commits_since(&g, "origin/master").unwrap(),
        [(id.clone(), subject.to_string())]
    );

    // The branch exists and is HEAD: reused. Elsewhere: refused.
    std::fs::write(co.join("data/a.yml"), "tag: 3333333\n").unwrap();
    let id2 = g
        .commit_promotion(
            &["data/a.yml".to_string()],
            "promote-2222222",
            "fix: follow-up",
            "",
        )
        .unwrap();
    assert_eq!(
        git_in(&co, &home, &[], &["log", "-1", "--format=%B"], None),
        "fix: follow-up"
    );
    let since = qr_promote::promote::branch::promotion_commits_since(&g, "origin/master").unwrap();
    assert_eq!(
        since,
        [(id.clone(), subject.to_string())],
        "the follow-up is no promotion"
    );
    assert_ne!(id, id2);
    git_in(&co, &home, &[], &["switch", "--quiet", "master"], None);
    std::fs::write(co.join("data/a.yml"), "tag: 4444444\n").unwrap();
    let e = err_of(g.commit_promotion(&["data/a.yml".to_string()], "promote-2222222", subject, ""));
    assert!(
        e.contains("branch promote-2222222 already exists at") && e.contains("not at HEAD"),
        "{e}"
    );
    let e = err_of(g.commit_promotion(
        &["data/b.yml".to_string(), ".env".to_string()][1..],
        "x",
        subject,
        "",
    ));
    assert!(e.contains("nothing to commit"), "{e}");
}

#[test]
fn progress_mode_streams_git_and_reports_errors_alike() {
    let w = World::standard();
    let env = sealed(&w.home);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let open = |url: &str| {
        Upstream::open_with_env(
            url,
            UpstreamOptions {
                cache_dir: w.cache.clone(),
                offline: false,
                progress: true,
            },
            &env,
        )
        .unwrap()
    };
    let r = open(&w.url()).resolve(Some("v1.0")).unwrap();
    assert_eq!(r.id, w.id("c3"));
    assert!(r.fetched);
    let plain = w.tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let e = err_of(open(&plain.display().to_string()).resolve(None));
    assert_eq!(
        e,
        format!("upstream {}: not a git repository", plain.display())
    );
}

#[test]
fn url_credentials_go_in_a_header_never_in_the_cache_or_a_message() {
    use crate::support::fake_registry::{serve, FakeResponse};
    use base64::Engine as _;
    let w = World::standard();
    let fake =
        serve(|_, _| FakeResponse::status(401).header("WWW-Authenticate", r#"Basic realm="git""#));
    let port = fake.host.rsplit(':').next().unwrap().to_string();
    let url = format!("http://bot:TOK%2Fs3cr3t@127.0.0.1:{port}/team/x.git");
    let up = w.open_at(&url, false).unwrap();
    assert_eq!(up.remote(), format!("http://127.0.0.1:{port}/team/x.git"));
    let e = err_of(up.resolve(None));
    assert!(
        e.starts_with(&format!(
            "upstream http://[redacted]@127.0.0.1:{port}/team/x.git: authentication required"
        )),
        "{e}"
    );
    assert!(!e.contains("s3cr3t") && !e.contains("bot"), "{e}");

    // The server got the credentials, decoded, in the Authorization header of git's request.
    let requests = fake.requests();
    let first = requests.first().unwrap();
    assert!(
        first.target.starts_with("/team/x.git/info/refs"),
        "{}",
        first.target
    );
    let basic = base64::engine::general_purpose::STANDARD.encode("bot:TOK/s3cr3t");
    assert_eq!(
        first.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );

    // Nothing of them in the cache, which only its owner can read.
    for needle in ["s3cr3t", "TOK%2F", &basic, "bot:"] {
        let found = crate::support::files_containing(&w.cache, needle);
        assert!(found.is_empty(), "{needle} in {found:?}");
    }
    let config = std::fs::read_to_string(up.cache_path().join("config")).unwrap();
    assert!(
        config.contains(&format!("url = http://127.0.0.1:{port}/team/x.git")),
        "{config}"
    );
    let open = crate::support::not_private(&w.cache.join("upstreams"));
    assert!(open.is_empty(), "{}", modes(&open));
}

#[test]
fn an_existing_cache_is_made_private_and_forgets_old_credentials() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::standard();
    let up = w.open(false);
    up.resolve(None).unwrap();
    let path = up.cache_path().to_path_buf();
    drop(up);
    // A cache as an older version left it: readable by all, a URL with a token in its config.
    let cache_git = |args: &[&str]| {
        git_in(
            &path,
            &w.home,
            &[("GIT_DIR", path.to_str().unwrap())],
            args,
            None,
        );
    };
    cache_git(&["config", "--unset", "core.sharedRepository"]);
    cache_git(&[
        "config",
        "remote.origin.url",
        "https://bot:OLDTOKEN@h.example/x.git",
    ]);
    for p in [w.cache.join("upstreams"), path.clone(), path.join("config")] {
        let mode = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    assert!(!crate::support::not_private(&w.cache.join("upstreams")).is_empty());
    let up = w.open(true);
    assert_eq!(up.cache_path(), path);
    let open = crate::support::not_private(&w.cache.join("upstreams"));
    assert!(open.is_empty(), "{}", modes(&open));
    assert!(crate::support::files_containing(&w.cache, "OLDTOKEN").is_empty());
}

fn modes(entries: &[(PathBuf, u32)]) -> String {
    entries
        .iter()
        .map(|(p, m)| format!("{m:o} {}", p.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The number of objects of each type in a cache: `(commits, trees, blobs)`.
fn objects(cache: &Path, home: &Path) -> (usize, usize, usize) {
    let types = git_in(
        cache,
        home,
        &[],
        &[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objecttype)",
        ],
        None,
    );
    let n = |t: &str| types.lines().filter(|l| *l == t).count();
    (n("commit"), n("tree"), n("blob"))
}

/// The standard world moved on a month (its commits fall before a bounded fetch's margin), then
/// 30 commits on master `n0` .. `n29` a minute apart, and a branch `side` of 5 commits off `n29`.
fn long_world() -> World {
    let mut w = World::standard();
    w.clock += 30 * 24 * 3600;
    for i in 0..30 {
        let key: &'static str = Box::leak(format!("n{i}").into_boxed_str());
        let who = if i % 2 == 0 { ALICE } else { OCTO };
        w.commit(key, who, &format!("Change {i} (#{})", 100 + i));
    }
    w.git(&["switch", "--quiet", "-c", "side"]);
    for i in 0..5 {
        let key: &'static str = Box::leak(format!("s{i}").into_boxed_str());
        w.commit(key, BOB, &format!("Side work {i}"));
    }
    w.git(&["switch", "--quiet", "master"]);
    w
}

/// The same upstream through a cache of its own under `dir`, filled with every branch and tag.
fn full_cache(w: &World, dir: &str) -> Upstream {
    let env = sealed(&w.home);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let up = Upstream::open_with_env(
        &w.url(),
        UpstreamOptions {
            cache_dir: w.tmp.path().join(dir),
            offline: false,
            progress: false,
        },
        &env,
    )
    .unwrap();
    up.fetch().unwrap();
    assert!(!up.is_bounded());
    up
}

#[test]
fn a_cold_cache_fetches_the_commits_between_two_versions_and_answers_as_the_whole_history() {
    let w = long_world();
    let (old, new) = (w.id("n9").to_string(), w.id("n29").to_string());
    let up = w.open(false);
    assert!(up.is_bounded(), "a new cache holds nothing yet");
    let r = up.resolve(Some(&new)).unwrap();
    assert!(r.fetched && r.in_cache);
    let relation = up.relation(&old, &new).unwrap();
    assert_eq!(relation, Relation::Descends { commits: 20 });
    let commits = up.commits(&old, &new).unwrap();
    // Only commits: the 30 of master since a margin before n9 (n0 .. n29), no tree, no blob,
    // none of the month-old history nor the side branch.
    assert!(up.is_bounded());
    assert!(up.cache_path().join("shallow").is_file());
    assert_eq!(objects(up.cache_path(), &w.home), (30, 0, 0));
    let all = w.git(&["rev-list", "--all", "--count"]);
    assert_eq!(all, "41");
    let full = full_cache(&w, "full-cache");
    assert_eq!(full.relation(&old, &new).unwrap(), relation);
    assert_eq!(full.commits(&old, &new).unwrap(), commits);
    assert_eq!(commits.len(), 20);
    assert_eq!(commits[0].subject, "Change 29 (#129)");
    assert_eq!(commits[19].subject, "Change 10 (#110)");
    // The way back and a fork are answered as the whole history answers them too.
    let side = w.id("s4").to_string();
    assert_eq!(
        up.relation(&new, &old).unwrap(),
        full.relation(&new, &old).unwrap()
    );
    assert_eq!(
        up.relation(&old, &side).unwrap(),
        Relation::Descends { commits: 25 }
    );
    assert!(up.is_bounded(), "still the bounded history, deepened to s4");
}

#[test]
fn a_warm_bounded_cache_fetches_only_the_newer_commits() {
    let mut w = long_world();
    let old = w.id("n9").to_string();
    let up = w.open(false);
    up.resolve(Some(w.id("n29"))).unwrap();
    up.commits(&old, w.id("n29")).unwrap();
    let n30 = w.commit("n30", BOB, "Change 30 (#130)");
    let n31 = w.commit("n31", ALICE, "Change 31 (#131)");
    let up = w.open(false);
    assert!(up.resolve(Some(&n31)).unwrap().fetched);
    let commits = up.commits(&old, &n31).unwrap();
    assert_eq!(
        up.relation(&old, &n31).unwrap(),
        Relation::Descends { commits: 22 }
    );
    assert_eq!(commits.len(), 22);
    assert_eq!(commits[1].id, n30);
    assert!(up.is_bounded(), "no fetch of the whole history");
    assert_eq!(objects(up.cache_path(), &w.home).0, 32);
    let full = full_cache(&w, "full-cache");
    assert_eq!(full.commits(&old, &n31).unwrap(), commits);
}

#[test]
fn a_branch_merged_from_before_the_margin_makes_a_bounded_cache_fetch_the_whole_history() {
    let mut w = World::standard();
    // A branch forked from c4 with a commit a month before the versions', merged between them.
    w.git(&["switch", "--quiet", "-c", "old-work"]);
    w.commit("o1", CAROL, "Work begun long ago (#40)");
    w.git(&["switch", "--quiet", "master"]);
    w.clock += 30 * 24 * 3600;
    let old = w.commit("n0", ALICE, "Change 0 (#100)");
    w.clock += 60;
    let date = format!("{} +0000", w.clock);
    git_in(
        &w.up,
        &w.home,
        &[("GIT_AUTHOR_DATE", &date), ("GIT_COMMITTER_DATE", &date)],
        &[
            "merge",
            "--quiet",
            "--no-ff",
            "-m",
            "Merge pull request #41 from org/old-work",
            "old-work",
        ],
        None,
    );
    let new = w.commit("n1", OCTO, "Change 1 (#101)");
    let up = w.open(false);
    up.resolve(Some(&new)).unwrap();
    let commits = up.commits(&old, &new).unwrap();
    let subjects: Vec<&str> = commits.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "Change 1 (#101)",
            "Merge pull request #41 from org/old-work",
            "Work begun long ago (#40)"
        ]
    );
    assert!(!up.is_bounded(), "the bounded history did not connect them");
    assert!(!up.cache_path().join("shallow").exists());
    let full = full_cache(&w, "full-cache");
    assert_eq!(full.commits(&old, &new).unwrap(), commits);
    assert_eq!(
        up.relation(&old, &new).unwrap(),
        Relation::Descends { commits: 3 }
    );
}

#[test]
fn the_whole_history_completes_a_bounded_cache_and_short_ids_look_in_it() {
    let w = long_world();
    let (old, new) = (w.id("n9").to_string(), w.id("n29").to_string());
    let up = w.open(false);
    up.resolve(Some(&new)).unwrap();
    let commits = up.commits(&old, &new).unwrap();
    // Offline, the bounded cache answers what it holds, and refuses the graph it lacks.
    let offline = w.open(true);
    assert_eq!(offline.commits(&old, &new).unwrap(), commits);
    let e = err_of(offline.graph(&[]));
    assert!(e.contains("offline: cannot read the whole history"), "{e}");
    // A short id of the month-old history: the cache is completed, then it resolves.
    let c2 = w.id("c2");
    let r = w.open(false).resolve(Some(&c2[..7])).unwrap();
    assert_eq!((r.id.as_str(), r.fetched), (c2, true));
    let up = w.open(false);
    assert!(!up.is_bounded());
    assert!(!up.cache_path().join("shallow").exists());
    let graph = up.graph(&[]).unwrap();
    let full = full_cache(&w, "full-cache");
    let whole = full.graph(&[]).unwrap();
    assert_eq!(graph.len(), whole.len());
    assert_eq!(graph.len(), 41);
    for n in 0..whole.len() {
        let id = whole.id(n);
        let m = graph.find(id).unwrap();
        assert_eq!(graph.time(m), whole.time(n), "{id}");
    }
    let (a, b) = (graph.find(&old).unwrap(), graph.find(&new).unwrap());
    assert_eq!(graph.range(a, b).len(), 20);
    let c1 = graph.find(w.id("c1")).unwrap();
    assert!(graph.contains(b, c1), "n29 reaches the root again");
}

#[test]
fn a_graph_completes_a_bounded_cache() {
    let w = long_world();
    let up = w.open(false);
    up.resolve(Some(w.id("n29"))).unwrap();
    up.relation(w.id("n9"), w.id("n29")).unwrap();
    let graph = w.open(false).graph(&[]).unwrap();
    assert_eq!(graph.len(), 41);
    let pr = w.open(false).pull_request(12, "where").unwrap();
    assert_eq!(pr.id, w.id("c2"));
    assert_eq!(objects(up.cache_path(), &w.home), (41, 0, 0));
}
