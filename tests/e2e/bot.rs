//! `bot` against a real bare git remote, a real registry and the GitLab-shaped API server: one
//! merge request per component kept current over several upstream pushes, overlapping runs,
//! hands off a branch someone else changed, waiting for the image, production already there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::gitlab_server::{serve_gitlab, FakeGitLab, TOKEN};
use crate::support::registry_server::{push_image, start_registry, RegistryServer};
use crate::support::{commit_checkout, git, pin_example, sealed, Run, Sandbox, Upstream};

const REMOTE_URL: &str = "https://gitlab.test/group/app-interface.git";
const IMAGE: &str = "app-sre/qontract-reconcile";
const BRANCH: &str = "promote/qontract-reconcile";

/// An upstream, a bare app-interface remote named by its GitLab URL, a checkout of it, a
/// registry and the GitLab API server.
struct World {
    sb: Sandbox,
    upstream: Upstream,
    remote: PathBuf,
    registry: RegistryServer,
    gitlab: FakeGitLab,
}

impl World {
    fn new() -> World {
        let sb = Sandbox::example();
        let home = sb.home();
        let mut up = Upstream::new(&sb);
        let first = up.commit("Base Author", "base@example.org", "change 0 (#100)");
        pin_example(&sb, &first);
        commit_checkout(&sb, "Promotion Bot", "bot@example.org");
        let w = World {
            remote: sb.dir.path().join("remote.git"),
            sb,
            upstream: up,
            registry: start_registry(false),
            gitlab: serve_gitlab(),
        };
        let remote = w.remote.to_str().unwrap().to_string();
        git(
            w.sb.dir.path(),
            &home,
            &["init", "-q", "--bare", "-b", "master", &remote],
        );
        let root = w.sb.root();
        w.configure_remote(&root);
        git(&root, &home, &["push", "-q", "origin", "master"]);
        w
    }

    /// Names the remote by its GitLab URL in `dir`, reached through a local rewrite.
    fn configure_remote(&self, dir: &Path) {
        let home = self.sb.home();
        let _ = sealed(Command::new("git"), &home)
            .current_dir(dir)
            .args(["remote", "remove", "origin"])
            .output();
        git(dir, &home, &["remote", "add", "origin", REMOTE_URL]);
        git(
            dir,
            &home,
            &[
                "config",
                &format!("url.{}.insteadOf", self.remote.display()),
                REMOTE_URL,
            ],
        );
    }

    /// A new upstream commit by `name <email>`; returns its id.
    fn push_upstream(&mut self, name: &str, email: &str) -> String {
        let n = self.upstream.ids.len();
        self.upstream
            .commit(name, email, &format!("change {n} (#{})", 100 + n))
    }

    fn image(&self, id: &str) {
        push_image(&self.registry.url, IMAGE, &id[..7], None);
    }

    /// `qr-promote bot` in `dir` with the world's upstream, registry and GitLab.
    fn bot_in(&self, dir: &Path, args: &[&str]) -> Command {
        let up = self.upstream.url();
        let reg = format!("quay.io={}", self.registry.url);
        let mut c = self.sb.cmd();
        c.current_dir(dir).env("GITLAB_TOKEN", TOKEN).args([
            "bot",
            "--upstream",
            &up,
            "--gitlab-url",
            &self.gitlab.url,
            "--registry-url",
            &reg,
        ]);
        c.args(args);
        c
    }

    fn bot(&self, args: &[&str]) -> Run {
        Run::of(self.bot_in(&self.sb.root(), args).output().unwrap())
    }

    /// A fresh shallow clone of the remote, as CI makes one.
    fn clone(&self, name: &str) -> PathBuf {
        let home = self.sb.home();
        let dir = self.sb.dir.path().join(name);
        git(
            self.sb.dir.path(),
            &home,
            &[
                "clone",
                "-q",
                "--depth",
                "1",
                &format!("file://{}", self.remote.display()),
                dir.to_str().unwrap(),
            ],
        );
        self.configure_remote(&dir);
        git(&dir, &home, &["config", "user.email", "bot@example.org"]);
        git(&dir, &home, &["config", "user.name", "Promotion Bot"]);
        dir
    }

    fn remote_git(&self, args: &[&str]) -> String {
        git(&self.remote, &self.sb.home(), args)
    }

    /// The `.env` tag of qontract-reconcile on the remote's `rev`.
    fn tag_at(&self, rev: &str) -> String {
        let env = self.remote_git(&["show", &format!("{rev}:.env")]);
        env.lines()
            .find_map(|l| l.strip_prefix("export RECONCILE_IMAGE_TAG="))
            .unwrap()
            .to_string()
    }

    fn open_mrs(&self) -> Vec<(u64, String, String)> {
        let st = self.gitlab.state.lock().unwrap();
        st.mrs
            .iter()
            .filter(|m| m.is_open())
            .map(|m| (m.iid, m.source.clone(), m.title.clone()))
            .collect()
    }

    fn subject(&self, from: &str, to: &str) -> String {
        format!(
            "qontract production promotion {} to {}",
            &from[..7],
            &to[..7]
        )
    }
}

#[test]
fn three_upstream_pushes_leave_one_merge_request_at_the_newest() {
    let mut w = World::new();
    let base = w.upstream.ids[0].clone();
    // Someone promoted the first push by hand, with a merge request of its own.
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.image(&u1);
    let up = w.upstream.url();
    let mut hand = w.sb.cmd();
    hand.env("GITLAB_TOKEN", TOKEN).args([
        "apply",
        "--to",
        &u1,
        "--upstream",
        &up,
        "--skip-image-check",
        "--commit",
        "--push",
        "--mr-api",
        "--gitlab-url",
        &w.gitlab.url,
    ]);
    Run::of(hand.output().unwrap()).ok();
    git(&w.sb.root(), &w.sb.home(), &["switch", "-q", "master"]);
    assert_eq!(w.open_mrs().len(), 1);

    // The second push: the bot opens its merge request and closes the older one.
    let u2 = w.push_upstream("Octo Cat", "1+octocat@users.noreply.github.com");
    w.image(&u2);
    let files_before = w.sb.snapshot();
    let r = w.bot(&["--to", &u2, "--label", "bot/automerge"]).ok();
    assert!(
        w.sb.snapshot() == files_before,
        "the bot commits without writing the checkout's files"
    );
    assert!(
        r.stdout.starts_with(&format!(
            "qontract-reconcile: opened: opened !2 for {} -> {}\n",
            &base[..7],
            &u2[..7]
        )),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("  closed !1: "), "{}", r.stdout);
    assert_eq!(
        w.open_mrs(),
        [(2, BRANCH.to_string(), w.subject(&base, &u2))]
    );
    {
        let st = w.gitlab.state.lock().unwrap();
        let first = &st.mrs[0];
        assert_eq!(first.state, "closed");
        assert_eq!(
            first.notes,
            [format!(
                "Superseded by !2 (https://gitlab.test/group/app-interface/-/merge_requests/2), which promotes `{}`: closing.",
                &u2[..7]
            )]
        );
        // The component's labels of .qr-promote.yaml, and the one given.
        assert_eq!(st.mrs[1].labels, ["bot/automerge", "qontract-reconcile"]);
        assert!(st.mrs[1].description.contains("`ocat` (Octo Cat)"));
    }
    assert_eq!(w.tag_at(BRANCH), &u2[..7]);

    // The third push: the same merge request moves to it.
    let u3 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.image(&u3);
    let clone = w.clone("ci-3");
    let r = Run::of(w.bot_in(&clone, &["--to", &u3]).output().unwrap()).ok();
    assert!(
        r.stdout.starts_with(&format!(
            "qontract-reconcile: updated: updated !2 to {} -> {}\n",
            &base[..7],
            &u3[..7]
        )),
        "{}",
        r.stdout
    );
    assert_eq!(
        w.open_mrs(),
        [(2, BRANCH.to_string(), w.subject(&base, &u3))]
    );
    assert_eq!(w.tag_at(BRANCH), &u3[..7]);
    // One promotion commit on top of the target, touching only locations.
    let log = w.remote_git(&["log", "--format=%s", &format!("master..{BRANCH}")]);
    assert_eq!(log, w.subject(&base, &u3));
    let files = w.remote_git(&["diff", "--name-only", &format!("master...{BRANCH}")]);
    let plan =
        w.sb.run(&[
            "--json",
            "plan",
            "--to",
            &u3,
            "--upstream",
            &up,
            "--offline",
        ])
        .ok();
    let mut planned: Vec<String> = plan.json()["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    planned.sort();
    let mut changed: Vec<&str> = files.lines().collect();
    changed.sort();
    assert_eq!(changed, planned);
    // Each file keeps its mode (the example has none executable: compare with the target).
    let modes = |rev: &str| {
        let mut out = Vec::new();
        for f in &planned {
            out.push(
                w.remote_git(&["ls-tree", rev, "--", f])
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
        out
    };
    assert_eq!(modes(BRANCH), modes("master"));
    // Running again changes nothing.
    let r = Run::of(w.bot_in(&clone, &["--to", &u3]).output().unwrap()).ok();
    assert!(
        r.stdout.contains(": up-to-date: !2 already proposes"),
        "{}",
        r.stdout
    );
    // The checkouts the bot ran in are as they were.
    for dir in [w.sb.root(), clone] {
        assert_eq!(git(&dir, &w.sb.home(), &["status", "--porcelain"]), "");
        assert_eq!(
            git(&dir, &w.sb.home(), &["rev-parse", "--abbrev-ref", "HEAD"]),
            "master"
        );
    }
}

#[test]
fn overlapping_runs_end_at_the_newer_version_in_either_order() {
    let mut w = World::new();
    let base = w.upstream.ids[0].clone();
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
    let u2 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.image(&u1);
    w.image(&u2);
    let (a, b) = (w.clone("a"), w.clone("b"));
    // The newer run ends first: the older one never moves it back.
    Run::of(w.bot_in(&b, &["--to", &u2]).output().unwrap()).ok();
    let r = Run::of(w.bot_in(&a, &["--to", &u1]).output().unwrap()).ok();
    assert!(r.stdout.contains(": up-to-date: "), "{}", r.stdout);
    assert_eq!(
        w.open_mrs(),
        [(1, BRANCH.to_string(), w.subject(&base, &u2))]
    );
    assert_eq!(w.tag_at(BRANCH), &u2[..7]);

    // Both at once, several times, on a fresh remote state each time.
    for round in 0..3 {
        let u_old = w.push_upstream("Ada Lovelace", "ada@example.org");
        let u_new = w.push_upstream("Octo Cat", "1+octocat@users.noreply.github.com");
        w.image(&u_old);
        w.image(&u_new);
        let (a, b) = (w.clone(&format!("a{round}")), w.clone(&format!("b{round}")));
        let mut first = w.bot_in(&a, &["--to", &u_old]);
        let mut second = w.bot_in(&b, &["--to", &u_new]);
        for c in [&mut first, &mut second] {
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
        }
        let (one, two) = if round % 2 == 0 {
            (first.spawn().unwrap(), second.spawn().unwrap())
        } else {
            let s = second.spawn().unwrap();
            (first.spawn().unwrap(), s)
        };
        let one = Run::of(one.wait_with_output().unwrap());
        let two = Run::of(two.wait_with_output().unwrap());
        assert_eq!(
            one.code, 0,
            "one:\n{}\n{}\ntwo:\n{}\n{}",
            one.stdout, one.stderr, two.stdout, two.stderr
        );
        assert_eq!(two.code, 0, "{}\n{}", two.stdout, two.stderr);
        assert_eq!(
            w.open_mrs(),
            [(1, BRANCH.to_string(), w.subject(&base, &u_new))],
            "round {round}"
        );
        assert_eq!(w.tag_at(BRANCH), &u_new[..7]);
        let st = w.gitlab.state.lock().unwrap();
        assert!(st.mrs[0].description.contains(&u_new[..7]));
    }
}

#[test]
fn a_branch_someone_changed_is_left_alone_with_one_note() {
    let mut w = World::new();
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.image(&u1);
    w.bot(&["--to", &u1]).ok();
    // A reviewer pushes a fix on top of the bot's commit.
    let home = w.sb.home();
    let human = w.clone("human");
    git(&human, &home, &["fetch", "-q", "origin", BRANCH]);
    git(&human, &home, &["switch", "-q", "-c", "fix", "FETCH_HEAD"]);
    std::fs::write(human.join("NOTES.md"), "a reviewer's fix\n").unwrap();
    git(&human, &home, &["add", "NOTES.md"]);
    git(
        &human,
        &home,
        &[
            "-c",
            "user.name=Rita Reviewer",
            "-c",
            "user.email=rita@example.org",
            "commit",
            "-q",
            "-m",
            "Fix the promotion",
        ],
    );
    git(
        &human,
        &home,
        &["push", "-q", "origin", &format!("fix:{BRANCH}")],
    );
    let tip = w.remote_git(&["rev-parse", BRANCH]);
    let u2 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.image(&u2);
    for _ in 0..2 {
        let r = w.bot(&["--to", &u2]).ok();
        assert!(
            r.stdout.contains(
                "qontract-reconcile: left-alone: left promote/qontract-reconcile alone: commit"
            ),
            "{}",
            r.stdout
        );
    }
    assert_eq!(w.remote_git(&["rev-parse", BRANCH]), tip, "nothing pushed");
    let st = w.gitlab.state.lock().unwrap();
    assert_eq!(st.mrs.len(), 1);
    assert_eq!(st.mrs[0].notes.len(), 1, "one note: {:?}", st.mrs[0].notes);
    assert!(st.mrs[0].notes[0].starts_with("qr-promote leaves this branch alone: commit "));
    assert!(
        st.mrs[0].title.ends_with(&u1[..7]),
        "not moved: {}",
        st.mrs[0].title
    );
}

#[test]
fn the_merge_request_opens_once_the_image_appears_and_not_before() {
    let mut w = World::new();
    let base = w.upstream.ids[0].clone();
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
    // Never built: the wait times out with nothing pushed.
    let r = w.bot(&["--to", &u1, "--wait-image", "1s", "--image-poll", "200ms"]);
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "qontract-reconcile: timed-out: quay.io/app-sre/qontract-reconcile:{} did not appear within 1s; nothing pushed",
            &u1[..7]
        )),
        "{}",
        r.stdout
    );
    assert_eq!(w.remote_git(&["branch", "--list", "promote/*"]), "");
    assert!(w.open_mrs().is_empty());
    assert_eq!(
        git(&w.sb.root(), &w.sb.home(), &["status", "--porcelain"]),
        ""
    );

    // Built while the run waits: it opens the merge request then.
    let child = w
        .bot_in(
            &w.sb.root(),
            &[
                "--to",
                &u1,
                "--wait-image",
                "30s",
                "--image-poll",
                "200ms",
                "--json",
            ],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(w.open_mrs().is_empty(), "nothing before the image exists");
    w.image(&u1);
    let r = Run::of(child.wait_with_output().unwrap()).ok();
    let v = r.json();
    assert_eq!(v["components"][0]["status"], "opened");
    assert_eq!(v["components"][0]["merge_request"]["iid"], 1);
    assert_eq!(v["components"][0]["version"], u1.as_str());
    assert_eq!(
        w.open_mrs(),
        [(1, BRANCH.to_string(), w.subject(&base, &u1))]
    );
}

#[test]
fn production_already_at_the_version_closes_the_merge_request() {
    let mut w = World::new();
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.image(&u1);
    w.bot(&["--to", &u1]).ok();
    // Someone promoted it by hand: the target branch now runs u1.
    w.remote_git(&["update-ref", "refs/heads/master", BRANCH]);
    let r = w.bot(&["--to", &u1]).ok();
    assert!(
        r.stdout.contains(&format!(
            "qontract-reconcile: closed-done: production already runs {}: closed !1",
            &u1[..7]
        )),
        "{}",
        r.stdout
    );
    assert!(w.open_mrs().is_empty());
    let st = w.gitlab.state.lock().unwrap();
    assert!(
        st.mrs[0].notes[0].contains("closing as done"),
        "{:?}",
        st.mrs[0].notes
    );
    drop(st);
    // Nothing open, nothing to do: exit 0, nothing opened.
    let r = w.bot(&["--to", &u1]).ok();
    assert!(r.stdout.contains(": nothing-to-do: "), "{}", r.stdout);
    assert!(w.open_mrs().is_empty());
}

#[test]
fn triggered_by_names_the_person_by_handle_when_a_user_file_has_the_login() {
    let mut w = World::new();
    let base = w.upstream.ids[0].clone();
    let u1 = w.push_upstream("Octo Cat", "1+octocat@users.noreply.github.com");
    w.image(&u1);
    w.bot(&["--to", &u1, "--triggered-by", "OctoCat"]).ok();
    assert_eq!(
        w.open_mrs()[0].2,
        format!("{} by @ocat", w.subject(&base, &u1))
    );
    let u2 = w.push_upstream("Someone Else", "else@example.org");
    w.image(&u2);
    w.bot(&["--to", &u2, "--triggered-by", "someone-else"]).ok();
    assert_eq!(
        w.open_mrs()[0].2,
        format!("{} by someone-else", w.subject(&base, &u2))
    );
}
