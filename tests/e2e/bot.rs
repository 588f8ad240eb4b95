//! `bot` against a real bare git remote, a real registry and the GitLab-shaped API server, each
//! run in a fresh clone as CI makes one: every scenario on a `--depth 1` clone and on a full
//! one. One merge request per component kept current over several upstream pushes, overlapping
//! runs, people's commits, closes and merges respected, the target moving between runs, what
//! stays behind named, exit status 5 while a person holds things up, kills at each step.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::stage::{now, statefulset_pod, STAGE_NS};
use crate::support::gitlab_server::{serve_gitlab, FakeGitLab, TOKEN};
use crate::support::kube_server::{verify_fixture, write_kubeconfig_contexts, KubeServer};
use crate::support::registry_server::{push_image, start_registry, RegistryServer};
use crate::support::{commit_checkout, git, pin_example, sealed, Run, Sandbox, Upstream};

const REMOTE_URL: &str = "https://gitlab.test/group/app-interface.git";
const IMAGE: &str = "app-sre/qontract-reconcile";
const BRANCH: &str = "promote/qontract-reconcile";
const CANARY: &str = "data/services/app-interface/jobs/reconcile-canary.yml";
const TEKTON: &str = "data/pipelines/tekton-provider-global-defaults.yaml";

/// How CI clones the checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// `git clone --depth 1` (GitLab CI's `GIT_DEPTH: "1"`): one commit, one branch.
    Shallow,
    /// A full clone.
    Full,
}

/// Runs a scenario on a shallow clone and on a full one.
macro_rules! both_depths {
    ($name:ident) => {
        mod $name {
            #[test]
            fn shallow_clone() {
                super::$name(super::Depth::Shallow)
            }
            #[test]
            fn full_clone() {
                super::$name(super::Depth::Full)
            }
        }
    };
}

/// An upstream, a bare app-interface remote named by its GitLab URL, a registry and the GitLab
/// API server; each bot run in a new clone of the remote.
struct World {
    sb: Sandbox,
    depth: Depth,
    upstream: Upstream,
    remote: PathBuf,
    registry: RegistryServer,
    gitlab: FakeGitLab,
    clones: std::cell::Cell<usize>,
}

impl World {
    fn new(depth: Depth) -> World {
        let sb = Sandbox::example();
        let home = sb.home();
        let mut up = Upstream::new(&sb);
        let first = up.commit("Base Author", "base@example.org", "change 0 (#100)");
        pin_example(&sb, &first);
        // The example's canary runs an older build on purpose; here every location starts in
        // sync, so that what stays behind is what a test does.
        let canary = sb.read(CANARY).replace("0f9e8d7", &first[..7]);
        sb.write(CANARY, &canary);
        commit_checkout(&sb, "Promotion Bot", "bot@example.org");
        let w = World {
            remote: sb.dir.path().join("remote.git"),
            sb,
            depth,
            upstream: up,
            registry: start_registry(false),
            gitlab: serve_gitlab(),
            clones: std::cell::Cell::new(0),
        };
        let remote = w.remote.to_str().unwrap().to_string();
        git(
            w.sb.dir.path(),
            &home,
            &["init", "-q", "--bare", "-b", "master", &remote],
        );
        // GitLab serves partial and shallow fetches.
        w.remote_git(&["config", "uploadpack.allowFilter", "true"]);
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

    /// A new upstream commit by `name <email>`, its image pushed; returns its id.
    fn push_upstream(&mut self, name: &str, email: &str) -> String {
        let id = self.push_upstream_unbuilt(name, email);
        self.image(&id);
        id
    }

    fn push_upstream_unbuilt(&mut self, name: &str, email: &str) -> String {
        let n = self.upstream.ids.len();
        self.upstream
            .commit(name, email, &format!("change {n} (#{})", 100 + n))
    }

    fn image(&self, id: &str) {
        push_image(&self.registry.url, IMAGE, &id[..7], None);
    }

    /// A fresh clone of the remote, as CI makes one (`--depth 1`, or full).
    fn clone(&self) -> PathBuf {
        let n = self.clones.get() + 1;
        self.clones.set(n);
        let home = self.sb.home();
        let dir = self.sb.dir.path().join(format!("ci-{n}"));
        let url = format!("file://{}", self.remote.display());
        let mut args = vec!["clone", "-q"];
        if self.depth == Depth::Shallow {
            args.extend(["--depth", "1"]);
        }
        let d = dir.to_str().unwrap().to_string();
        args.extend([url.as_str(), d.as_str()]);
        git(self.sb.dir.path(), &home, &args);
        self.configure_remote(&dir);
        git(&dir, &home, &["config", "user.email", "bot@example.org"]);
        git(&dir, &home, &["config", "user.name", "Promotion Bot"]);
        dir
    }

    /// `qr-promote bot` in `dir` with the world's upstream, registry and GitLab.
    fn bot_in(&self, dir: &Path, args: &[&str]) -> Command {
        let up = self.upstream.url();
        let reg = format!("quay.io={}", self.registry.url);
        let mut c = self.sb.cmd();
        c.current_dir(dir).env("GITLAB_TOKEN", TOKEN).args([
            "bot",
            "--gitlab-url",
            &self.gitlab.url,
            "--registry-url",
            &reg,
        ]);
        if !args.contains(&"--upstream") {
            c.args(["--upstream", &up]);
        }
        c.args(args);
        c
    }

    /// One bot run in a fresh clone; the clone is as the run found it (HEAD on master, no
    /// change, nothing left in its state folder).
    fn bot(&self, args: &[&str]) -> Run {
        let dir = self.clone();
        let r = Run::of(self.bot_in(&dir, args).output().unwrap());
        self.assert_untouched(&dir);
        r
    }

    fn assert_untouched(&self, dir: &Path) {
        let home = self.sb.home();
        assert_eq!(git(dir, &home, &["status", "--porcelain", "--ignored"]), "");
        assert_eq!(
            git(dir, &home, &["rev-parse", "--abbrev-ref", "HEAD"]),
            "master"
        );
        assert_eq!(
            git(dir, &home, &["branch", "--format=%(refname:short)"]),
            "master"
        );
        let state = dir.join(".git/qr-promote");
        if state.exists() {
            let left: Vec<String> = std::fs::read_dir(&state)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert!(left.is_empty(), "left in the state folder: {left:?}");
        }
    }

    fn remote_git(&self, args: &[&str]) -> String {
        git(&self.remote, &self.sb.home(), args)
    }

    /// A person's full clone of the remote in `<sandbox>/<name>` (anew), at `branch` or the
    /// default one.
    fn person_clone(&self, name: &str, branch: Option<&str>) -> PathBuf {
        let dir = self.sb.dir.path().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let url = format!("file://{}", self.remote.display());
        let mut args = vec!["clone", "-q"];
        if let Some(b) = branch {
            args.extend(["-b", b]);
        }
        let d = dir.to_str().unwrap().to_string();
        args.extend([url.as_str(), d.as_str()]);
        git(self.sb.dir.path(), &self.sb.home(), &args);
        dir
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

    fn notes(&self, iid: u64) -> Vec<String> {
        let st = self.gitlab.state.lock().unwrap();
        st.mrs.iter().find(|m| m.iid == iid).unwrap().notes.clone()
    }

    fn description(&self, iid: u64) -> String {
        let st = self.gitlab.state.lock().unwrap();
        st.mrs
            .iter()
            .find(|m| m.iid == iid)
            .unwrap()
            .description
            .clone()
    }

    fn subject(&self, from: &str, to: &str) -> String {
        format!(
            "qontract production promotion {} to {}",
            &from[..7],
            &to[..7]
        )
    }

    /// A person's commit on master in the remote: `path` gets `text`.
    fn land_on_master(&self, path: &str, text: &str, subject: &str) {
        let home = self.sb.home();
        let dir = self.person_clone(&format!("person-{}", self.clones.get()), None);
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        git(&dir, &home, &["add", path]);
        person_commit(&dir, &home, subject);
        git(&dir, &home, &["push", "-q", "origin", "master"]);
    }

    /// A person's commit on the bot's branch in the remote.
    fn commit_on_branch(&self) {
        let home = self.sb.home();
        let dir = self.person_clone(&format!("human-{}", self.clones.get()), Some(BRANCH));
        let n = self.clones.get();
        std::fs::write(dir.join("NOTES.md"), format!("a reviewer's fix {n}\n")).unwrap();
        git(&dir, &home, &["add", "NOTES.md"]);
        person_commit(&dir, &home, "Fix the promotion");
        git(&dir, &home, &["push", "-q", "origin", BRANCH]);
    }

    /// The branch is merged into master on the remote (a merge commit), and GitLab says so.
    fn merge_branch(&self, iid: u64) {
        let home = self.sb.home();
        let dir = self.person_clone(&format!("merge-{iid}"), None);
        git(
            &dir,
            &home,
            &[
                "-c",
                "user.name=Merge Person",
                "-c",
                "user.email=merge@example.org",
                "merge",
                "-q",
                "--no-ff",
                "-m",
                "Merge branch 'promote/qontract-reconcile'",
                &format!("origin/{BRANCH}"),
            ],
        );
        git(&dir, &home, &["push", "-q", "origin", "master"]);
        self.gitlab.merged(iid);
    }

    /// The promotion commit on the bot's branch: parent, message.
    fn branch_commit(&self) -> (String, String) {
        let log = self.remote_git(&["log", "--format=%H", &format!("master..{BRANCH}")]);
        assert_eq!(log.lines().count(), 1, "one commit on top of master: {log}");
        let parent = self.remote_git(&["rev-parse", &format!("{BRANCH}^")]);
        let message = self.remote_git(&["log", "-1", "--format=%B", BRANCH]);
        (parent, message)
    }
}

fn person_commit(dir: &Path, home: &Path, subject: &str) {
    git(
        dir,
        home,
        &[
            "-c",
            "user.name=Rita Reviewer",
            "-c",
            "user.email=rita@example.org",
            "commit",
            "-q",
            "-m",
            subject,
        ],
    );
}

fn three_upstream_pushes_leave_one_merge_request_at_the_newest(depth: Depth) {
    let mut w = World::new(depth);
    let base = w.upstream.ids[0].clone();
    // Someone promoted the first push by hand, with a merge request of its own.
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
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
    assert_eq!(w.open_mrs().len(), 1);

    // The second push: the bot opens its merge request and closes the older one.
    let u2 = w.push_upstream("Octo Cat", "1+octocat@users.noreply.github.com");
    let r = w.bot(&["--to", &u2, "--label", "bot/automerge"]).ok();
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
    let r = w.bot(&["--to", &u3]).ok();
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
    // One promotion commit on top of the target, touching only locations; its body is the
    // description, then the bot's trailers.
    let (parent, message) = w.branch_commit();
    assert_eq!(parent, w.remote_git(&["rev-parse", "master"]));
    let description = w.description(2);
    assert_eq!(
        message.trim_end(),
        format!(
            "{}\n\n{}\n\nQr-Promote-Bot: qontract-reconcile\nQr-Promote-Version: {u3}",
            w.subject(&base, &u3),
            description.trim_end()
        )
    );
    // The only mention is the notify sentence (notify: true in .qr-promote.yaml), as in the
    // description; a handle elsewhere is code.
    let mentions: Vec<&str> = message.lines().filter(|l| l.contains('@')).collect();
    assert_eq!(mentions.len(), 1, "{message}");
    assert!(mentions[0].contains("@ocat"), "{message}");
    assert!(message.contains("`ocat` (Octo Cat)"), "{message}");
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
    let r = w.bot(&["--to", &u3]).ok();
    assert!(
        r.stdout.contains(": up-to-date: !2 already proposes"),
        "{}",
        r.stdout
    );
}
both_depths!(three_upstream_pushes_leave_one_merge_request_at_the_newest);

fn overlapping_runs_end_at_the_newer_version_in_either_order(depth: Depth) {
    let mut w = World::new(depth);
    let base = w.upstream.ids[0].clone();
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
    let u2 = w.push_upstream("Ada Lovelace", "ada@example.org");
    // The newer run ends first: the older one never moves it back.
    w.bot(&["--to", &u2]).ok();
    let r = w.bot(&["--to", &u1]).ok();
    assert!(r.stdout.contains(": up-to-date: "), "{}", r.stdout);
    assert_eq!(
        w.open_mrs(),
        [(1, BRANCH.to_string(), w.subject(&base, &u2))]
    );
    assert_eq!(w.tag_at(BRANCH), &u2[..7]);

    // Both at once, several times.
    for round in 0..3 {
        let u_old = w.push_upstream("Ada Lovelace", "ada@example.org");
        let u_new = w.push_upstream("Octo Cat", "1+octocat@users.noreply.github.com");
        let (a, b) = (w.clone(), w.clone());
        let mut first = w.bot_in(&a, &["--to", &u_old]);
        let mut second = w.bot_in(&b, &["--to", &u_new]);
        for c in [&mut first, &mut second] {
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
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
        assert!(w.description(1).contains(&u_new[..7]));
        w.assert_untouched(&a);
        w.assert_untouched(&b);
    }
}
both_depths!(overlapping_runs_end_at_the_newer_version_in_either_order);

fn a_persons_commit_is_left_alone_until_the_merge_request_is_closed(depth: Depth) {
    let mut w = World::new(depth);
    let base = w.upstream.ids[0].clone();
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.bot(&["--to", &u1]).ok();
    // A reviewer pushes a fix on top of the bot's commit.
    w.commit_on_branch();
    let tip = w.remote_git(&["rev-parse", BRANCH]);
    let u2 = w.push_upstream("Ada Lovelace", "ada@example.org");
    for _ in 0..2 {
        let r = w.bot(&["--to", &u2, "--json"]).code(5);
        let v = r.json();
        assert_eq!(v["components"][0]["status"], "left-alone");
        assert_eq!(v["components"][0]["state"], "left-alone");
        assert!(
            v["components"][0]["message"]
                .as_str()
                .unwrap()
                .contains("by Rita Reviewer on the branch was not made by qr-promote"),
            "{v}"
        );
    }
    assert_eq!(w.remote_git(&["rev-parse", BRANCH]), tip, "nothing pushed");
    // The note is written once and kept current, never repeated.
    let notes = w.notes(1);
    assert_eq!(notes.len(), 1, "one note: {notes:?}");
    assert!(notes[0].starts_with("qr-promote leaves this branch alone: commit "));
    assert!(notes[0].contains(&format!("(at `{}`)", &tip[..7])));
    assert!(w.open_mrs()[0].2.ends_with(&u1[..7]), "not moved");
    // The person pushes another commit: the same note says so.
    w.commit_on_branch();
    let tip2 = w.remote_git(&["rev-parse", BRANCH]);
    w.bot(&["--to", &u2]).code(5);
    let notes = w.notes(1);
    assert_eq!(notes.len(), 1, "still one note: {notes:?}");
    assert!(
        notes[0].contains(&format!("(at `{}`)", &tip2[..7])),
        "{notes:?}"
    );

    // The person takes their commits back off the branch: it is the bot's again.
    w.remote_git(&[
        "update-ref",
        &format!("refs/heads/{BRANCH}"),
        &format!("{tip}^"),
    ]);
    let r = w.bot(&["--to", &u2]).ok();
    assert!(r.stdout.contains(": updated: updated !1 "), "{}", r.stdout);
    assert_eq!(w.tag_at(BRANCH), &u2[..7]);

    // Closing the merge request releases the branch: the bot starts from the target again.
    w.commit_on_branch();
    let u3 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.bot(&["--to", &u3]).code(5);
    w.gitlab.close(1);
    let r = w.bot(&["--to", &u3]).ok();
    assert!(
        r.stdout.starts_with(&format!(
            "qontract-reconcile: opened: opened !2 for {} -> {} (the branch is the bot's again: !1 is closed;",
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
    let (parent, message) = w.branch_commit();
    assert_eq!(parent, w.remote_git(&["rev-parse", "master"]));
    assert!(message.starts_with(&w.subject(&base, &u3)));
    assert_eq!(w.tag_at(BRANCH), &u3[..7]);
}
both_depths!(a_persons_commit_is_left_alone_until_the_merge_request_is_closed);

fn a_version_a_person_closed_is_not_proposed_again_but_a_newer_one_is(depth: Depth) {
    let mut w = World::new(depth);
    let base = w.upstream.ids[0].clone();
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.bot(&["--to", &u1]).ok();
    w.gitlab.close(1);
    for _ in 0..2 {
        let r = w.bot(&["--to", &u1, "--json"]).code(5);
        let v = r.json();
        assert_eq!(v["components"][0]["status"], "declined", "{v}");
        assert_eq!(v["components"][0]["state"], "declined");
        assert_eq!(v["components"][0]["version"], u1.as_str());
    }
    assert!(w.open_mrs().is_empty(), "nothing opened again");
    // The closed merge request says so, once.
    let notes = w.notes(1);
    assert_eq!(
        notes,
        [format!(
            "qr-promote will not propose `{}` again: this merge request was closed. A newer version gets a new merge request.",
            &u1[..7]
        )]
    );
    // A newer version is proposed, in a new merge request.
    let u2 = w.push_upstream("Ada Lovelace", "ada@example.org");
    let r = w.bot(&["--to", &u2]).ok();
    assert!(r.stdout.contains(": opened: opened !2 "), "{}", r.stdout);
    assert_eq!(
        w.open_mrs(),
        [(2, BRANCH.to_string(), w.subject(&base, &u2))]
    );
    // An older run of the closed version does not move it back either.
    let r = w.bot(&["--to", &u1]).ok();
    assert!(r.stdout.contains(": up-to-date: "), "{}", r.stdout);
}
both_depths!(a_version_a_person_closed_is_not_proposed_again_but_a_newer_one_is);

fn master_moving_between_runs_is_the_new_base(depth: Depth) {
    let mut w = World::new(depth);
    let base = w.upstream.ids[0].clone();
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.bot(&["--to", &u1]).ok();
    // A clone made now, run after the target moved: older than the remote.
    let old = w.clone();
    // An unrelated commit lands on master.
    w.land_on_master("docs/notes.md", "notes\n", "Add notes");
    let u2 = w.push_upstream("Ada Lovelace", "ada@example.org");
    let r = Run::of(w.bot_in(&old, &["--to", &u2]).output().unwrap()).ok();
    w.assert_untouched(&old);
    assert_eq!(
        git(&old, &w.sb.home(), &["rev-parse", "HEAD"]),
        git(&old, &w.sb.home(), &["rev-parse", "master"]),
        "the old clone's HEAD stays where it was"
    );
    assert!(r.stdout.contains(": updated: updated !1 "), "{}", r.stdout);
    let (parent, _) = w.branch_commit();
    assert_eq!(parent, w.remote_git(&["rev-parse", "master"]));
    // A commit to a file the promotion edits: the promotion is made anew on top of it.
    let tekton = w.remote_git(&["show", &format!("master:{TEKTON}")]);
    let edited = format!("{tekton}\n# tuned by a person\n");
    w.land_on_master(TEKTON, &edited, "Tune the Tekton defaults");
    let u3 = w.push_upstream("Ada Lovelace", "ada@example.org");
    let r = w.bot(&["--to", &u3]).ok();
    assert!(r.stdout.contains(": updated: updated !1 "), "{}", r.stdout);
    let (parent, _) = w.branch_commit();
    assert_eq!(parent, w.remote_git(&["rev-parse", "master"]));
    let on_branch = w.remote_git(&["show", &format!("{BRANCH}:{TEKTON}")]);
    assert!(on_branch.ends_with("# tuned by a person"), "{on_branch}");
    let tag = on_branch
        .lines()
        .find_map(|l| l.trim().strip_prefix("qontract_reconcile_image_tag: "))
        .unwrap();
    assert_eq!(tag.trim_matches('\''), &u3[..7], "{on_branch}");
    assert_eq!(
        w.open_mrs(),
        [(1, BRANCH.to_string(), w.subject(&base, &u3))]
    );
}
both_depths!(master_moving_between_runs_is_the_new_base);

fn a_merged_merge_request_then_a_newer_push_opens_a_new_one_on_the_target(depth: Depth) {
    let mut w = World::new(depth);
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.bot(&["--to", &u1]).ok();
    w.merge_branch(1);
    assert_eq!(w.tag_at("master"), &u1[..7]);
    // The same version again: production runs it.
    let r = w.bot(&["--to", &u1]).ok();
    assert!(r.stdout.contains(": nothing-to-do: "), "{}", r.stdout);
    let u2 = w.push_upstream("Ada Lovelace", "ada@example.org");
    let r = w.bot(&["--to", &u2]).ok();
    assert!(
        r.stdout.starts_with(&format!(
            "qontract-reconcile: opened: opened !2 for {} -> {}\n",
            &u1[..7],
            &u2[..7]
        )),
        "{}",
        r.stdout
    );
    // Not the old history: one commit on the merged master.
    let (parent, _) = w.branch_commit();
    assert_eq!(parent, w.remote_git(&["rev-parse", "master"]));
    assert_eq!(w.open_mrs(), [(2, BRANCH.to_string(), w.subject(&u1, &u2))]);
}
both_depths!(a_merged_merge_request_then_a_newer_push_opens_a_new_one_on_the_target);

fn a_location_drifted_on_master_is_named_and_the_run_is_not_green(depth: Depth) {
    let mut w = World::new(depth);
    let base = w.upstream.ids[0].clone();
    let tekton = w.remote_git(&["show", &format!("master:{TEKTON}")]);
    let line = tekton
        .lines()
        .position(|l| l.contains("qontract_reconcile_image_tag"))
        .unwrap()
        + 1;
    let drifted = tekton.replace(
        &format!("qontract_reconcile_image_tag: {}", &base[..7]),
        "qontract_reconcile_image_tag: 'abcdef1'",
    );
    assert_ne!(drifted, tekton);
    w.land_on_master(TEKTON, &drifted, "Pin Tekton to a test build");
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
    let r = w.bot(&["--to", &u1, "--json"]).code(5);
    let v = r.json();
    let c = &v["components"][0];
    assert_eq!(c["status"], "opened", "{v}");
    assert_eq!(c["state"], "behind");
    let behind = c["behind"].as_array().unwrap();
    // The drifted location, and the example's pinned shard (which alone would not stop a run).
    assert_eq!(behind.len(), 2, "{v}");
    assert_eq!(behind[1]["kind"], "pinned-shard");
    assert_eq!(behind[1]["at"], "terraform-resources shard ter-int-dev");
    assert_eq!(behind[1]["value"], "f929a38");
    assert_eq!(behind[0]["kind"], "drifted");
    assert_eq!(behind[0]["at"], format!("{TEKTON}:{line}"));
    assert_eq!(behind[0]["value"], "abcdef1");
    let d = w.description(1);
    assert!(
        d.contains(&format!(
            "- drifted: `{TEKTON}:{line}` stays at `abcdef1`: not at the current version {}: left alone",
            &base[..7]
        )),
        "{d}"
    );
    // The text output says it too.
    let r = w.bot(&["--to", &u1]).code(5);
    assert!(
        r.stdout.contains(&format!(
            "  stays behind (drifted): {TEKTON}:{line} at abcdef1: "
        )),
        "{}",
        r.stdout
    );
    assert_eq!(w.tag_at(BRANCH), &u1[..7]);
}
both_depths!(a_location_drifted_on_master_is_named_and_the_run_is_not_green);

fn the_merge_request_opens_once_the_image_appears_and_not_before(depth: Depth) {
    let mut w = World::new(depth);
    let base = w.upstream.ids[0].clone();
    let u1 = w.push_upstream_unbuilt("Ada Lovelace", "ada@example.org");
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

    // Built while the run waits: it opens the merge request then.
    let dir = w.clone();
    let child = w
        .bot_in(
            &dir,
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
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(w.open_mrs().is_empty(), "nothing before the image exists");
    w.image(&u1);
    let r = Run::of(child.wait_with_output().unwrap()).ok();
    let v = r.json();
    assert_eq!(v["components"][0]["status"], "opened");
    assert_eq!(v["components"][0]["state"], "done");
    assert_eq!(v["components"][0]["merge_request"]["iid"], 1);
    assert_eq!(v["components"][0]["version"], u1.as_str());
    assert_eq!(
        w.open_mrs(),
        [(1, BRANCH.to_string(), w.subject(&base, &u1))]
    );
    w.assert_untouched(&dir);
}
both_depths!(the_merge_request_opens_once_the_image_appears_and_not_before);

fn production_already_at_the_version_closes_the_merge_request(depth: Depth) {
    let mut w = World::new(depth);
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
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
    let notes = w.notes(1);
    assert!(notes[0].contains("closing as done"), "{notes:?}");
    // Nothing open, nothing to do: exit 0, nothing opened.
    let r = w.bot(&["--to", &u1]).ok();
    assert!(r.stdout.contains(": nothing-to-do: "), "{}", r.stdout);
    assert!(w.open_mrs().is_empty());
}
both_depths!(production_already_at_the_version_closes_the_merge_request);

fn the_title_names_who_pushed_the_version_it_proposes(depth: Depth) {
    let mut w = World::new(depth);
    let base = w.upstream.ids[0].clone();
    let u1 = w.push_upstream("Octo Cat", "1+octocat@users.noreply.github.com");
    w.bot(&["--to", &u1, "--triggered-by", "OctoCat"]).ok();
    assert_eq!(
        w.open_mrs()[0].2,
        format!("{} by @ocat", w.subject(&base, &u1))
    );
    let u2 = w.push_upstream("Someone Else", "else@example.org");
    w.bot(&["--to", &u2, "--triggered-by", "someone-else"]).ok();
    assert_eq!(
        w.open_mrs()[0].2,
        format!("{} by someone-else", w.subject(&base, &u2))
    );
    // A late run of an older push by another person moves nothing and renames nobody.
    let r = w
        .bot(&["--to", &u1, "--triggered-by", "OctoCat", "--json"])
        .ok();
    assert_eq!(r.json()["components"][0]["status"], "up-to-date");
    assert_eq!(r.json()["components"][0]["triggered_by"], "someone-else");
    assert_eq!(
        w.open_mrs()[0].2,
        format!("{} by someone-else", w.subject(&base, &u2))
    );
    let (_, message) = w.branch_commit();
    assert!(
        message.contains("\nQr-Promote-Triggered-By: someone-else"),
        "{message}"
    );
}
both_depths!(the_title_names_who_pushed_the_version_it_proposes);

/// A second upstream for qontract-schemas, `.env` pinned to its first commit.
fn with_schemas(w: &mut World) -> Upstream {
    let home = w.sb.home();
    let mut schemas = Upstream::named(&w.sb, "schemas-upstream");
    let s0 = schemas.commit("Schema Author", "schemas@example.org", "schema 0 (#1)");
    let env = w
        .remote_git(&["show", "master:.env"])
        .replace("9e8f7a6", &s0[..7]);
    let dir = w.person_clone("schemas-setup", None);
    std::fs::write(dir.join(".env"), format!("{env}\n")).unwrap();
    // The example's saas target of qontract-schemas pins its full id.
    let saas = dir.join("data/services/app-interface/cicd/saas-qontract-dashboards.yaml");
    let text = std::fs::read_to_string(&saas)
        .unwrap()
        .replace("9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f", &s0);
    std::fs::write(&saas, text).unwrap();
    git(&dir, &home, &["add", "-A"]);
    person_commit(&dir, &home, "Pin qontract-schemas");
    git(&dir, &home, &["push", "-q", "origin", "master"]);
    schemas
}

fn schemas_go_first_with_a_version_and_a_person_each(depth: Depth) {
    let mut w = World::new(depth);
    let mut schemas = with_schemas(&mut w);
    let s1 = schemas.commit("Schema Author", "schemas@example.org", "schema 1 (#2)");
    push_image(&w.registry.url, "app-sre/qontract-schemas", &s1[..7], None);
    let u1 = w.push_upstream("Octo Cat", "1+octocat@users.noreply.github.com");
    let (up, sup) = (w.upstream.url(), schemas.url());
    let (to_r, to_s) = (
        format!("qontract-reconcile={u1}"),
        format!("qontract-schemas={s1}"),
    );
    let (up_r, up_s) = (
        format!("qontract-reconcile={up}"),
        format!("qontract-schemas={sup}"),
    );
    // A bare --to with two components names no component: refused before anything is read.
    let r = w.bot(&[
        "qontract-reconcile",
        "qontract-schemas",
        "--to",
        &u1,
        "--upstream",
        &up_r,
        "--upstream",
        &up_s,
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("one value for 2 components"),
        "{}",
        r.stderr
    );
    assert!(w.open_mrs().is_empty());

    let args = [
        "qontract-reconcile",
        "qontract-schemas",
        "--to",
        &to_r,
        "--to",
        &to_s,
        "--upstream",
        &up_r,
        "--upstream",
        &up_s,
        "--triggered-by",
        "qontract-reconcile=OctoCat",
        "--json",
    ];
    let r = w.bot(&args).ok();
    let v = r.json();
    // Schemas first, whatever the order given.
    assert_eq!(v["components"][0]["component"], "qontract-schemas", "{v}");
    assert_eq!(v["components"][0]["status"], "opened");
    assert_eq!(v["components"][1]["component"], "qontract-reconcile");
    assert_eq!(v["components"][1]["status"], "opened");
    let open = w.open_mrs();
    assert_eq!(open.len(), 2, "{open:?}");
    assert_eq!(open[0].1, "promote/qontract-schemas");
    assert!(
        !open[0].2.contains(" by "),
        "nobody pushed schemas: {}",
        open[0].2
    );
    assert!(open[1].2.ends_with(" by @ocat"), "{}", open[1].2);
    // The reconcile description names the open schemas promotion.
    let d = w.description(open[1].0);
    assert!(
        d.starts_with(&format!(
            "Merge the qontract-schemas promotion first: !{} (",
            open[0].0
        )),
        "{d}"
    );

    // With hold_for, reconcile waits while the schemas merge request is open.
    let home = w.sb.home();
    let dir = w.person_clone("hold-setup", None);
    let config = std::fs::read_to_string(dir.join(".qr-promote.yaml"))
        .unwrap()
        .replace(
            "    notify: true\n",
            "    notify: true\n    hold_for: [qontract-schemas]\n",
        );
    std::fs::write(dir.join(".qr-promote.yaml"), config).unwrap();
    git(&dir, &home, &["add", ".qr-promote.yaml"]);
    person_commit(&dir, &home, "Hold reconcile for schemas");
    git(&dir, &home, &["push", "-q", "origin", "master"]);
    let u2 = w.push_upstream("Octo Cat", "1+octocat@users.noreply.github.com");
    let to_r2 = format!("qontract-reconcile={u2}");
    let r = w
        .bot(&[
            "qontract-reconcile",
            "--to",
            &to_r2,
            "--upstream",
            &up_r,
            "--json",
        ])
        .code(5);
    let v = r.json();
    assert_eq!(v["components"][0]["status"], "held", "{v}");
    assert_eq!(v["components"][0]["state"], "held");
    assert!(w.open_mrs()[1]
        .2
        .ends_with(&format!("{} by @ocat", &u1[..7])));
    // Once the schemas promotion is closed, reconcile moves.
    w.gitlab.close(open[0].0);
    let r = w
        .bot(&["qontract-reconcile", "--to", &to_r2, "--upstream", &up_r])
        .ok();
    assert!(r.stdout.contains(": updated: "), "{}", r.stdout);
}
both_depths!(schemas_go_first_with_a_version_and_a_person_each);

/// Arms the remote's `hook` (pre-receive or post-receive) to kill the qr-promote process that
/// pushes.
fn arm_push_kill(w: &World, hook: &str) {
    let path = w.remote.join("hooks").join(hook);
    let script = "#!/bin/sh\n\
        cat >/dev/null\n\
        p=$$\n\
        while [ \"$p\" -gt 1 ]; do\n\
          if [ \"$(cat /proc/$p/comm)\" = qr-promote ]; then kill -9 \"$p\"; break; fi\n\
          p=$(awk '/^PPid:/{print $2}' /proc/$p/status)\n\
        done\n\
        exit 0\n";
    crate::support::write_script(&path, script);
}

fn disarm(w: &World, hook: &str) {
    let _ = std::fs::remove_file(w.remote.join("hooks").join(hook));
}

fn a_kill_at_each_step_is_finished_by_the_next_run(depth: Depth) {
    let mut w = World::new(depth);
    let base = w.upstream.ids[0].clone();
    for step in ["pre-receive", "post-receive", "merge-request"] {
        let u = w.push_upstream("Ada Lovelace", "ada@example.org");
        let dir = w.clone();
        let mut cmd = w.bot_in(&dir, &["--to", &u]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if step == "merge-request" {
            let child = cmd.spawn().unwrap();
            let pid = child.id();
            w.gitlab.on_request(move |req| {
                let kill = req.method == "POST" && req.target.ends_with("/merge_requests")
                    || req.method == "PUT" && !req.target.contains("/notes");
                if kill {
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &pid.to_string()])
                        .status();
                }
                kill
            });
            let out = child.wait_with_output().unwrap();
            assert_eq!(out.status.code(), None, "killed at {step}");
            w.gitlab.on_request(|_| false);
        } else {
            arm_push_kill(&w, step);
            let out = cmd.output().unwrap();
            disarm(&w, step);
            assert_eq!(out.status.code(), None, "killed at {step}: {out:?}");
        }
        // The killed run's checkout is as it was; the next run there finishes the work.
        let home = w.sb.home();
        assert_eq!(git(&dir, &home, &["status", "--porcelain"]), "");
        assert_eq!(
            git(&dir, &home, &["rev-parse", "--abbrev-ref", "HEAD"]),
            "master"
        );
        let r = Run::of(w.bot_in(&dir, &["--to", &u]).output().unwrap()).ok();
        assert!(
            r.stdout.contains(": opened: ")
                || r.stdout.contains(": updated: ")
                || r.stdout.contains(": up-to-date: "),
            "after a kill at {step}: {}",
            r.stdout
        );
        w.assert_untouched(&dir);
        assert_eq!(
            w.open_mrs(),
            [(1, BRANCH.to_string(), w.subject(&base, &u))],
            "after a kill at {step}"
        );
        assert_eq!(w.tag_at(BRANCH), &u[..7]);
    }
}
both_depths!(a_kill_at_each_step_is_finished_by_the_next_run);

/// A day of CI runs on one remote, each in a `--depth 1` clone as the example job makes it:
/// pushes, the target moving, a person's commit and close, a person closing a version, a merge.
#[test]
fn a_day_of_pushes_merges_and_peoples_actions() {
    let mut w = World::new(Depth::Shallow);
    let base = w.upstream.ids[0].clone();
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.bot(&["--to", &u1]).ok();
    w.land_on_master("docs/a.md", "a\n", "Unrelated change");
    let u2 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.bot(&["--to", &u2]).ok();
    w.commit_on_branch();
    let u3 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.bot(&["--to", &u3]).code(5);
    w.gitlab.close(1);
    w.bot(&["--to", &u3]).ok();
    assert_eq!(
        w.open_mrs(),
        [(2, BRANCH.to_string(), w.subject(&base, &u3))]
    );
    w.gitlab.close(2);
    w.bot(&["--to", &u3]).code(5);
    assert!(w.open_mrs().is_empty());
    let u4 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.bot(&["--to", &u4]).ok();
    assert_eq!(
        w.open_mrs(),
        [(3, BRANCH.to_string(), w.subject(&base, &u4))]
    );
    w.merge_branch(3);
    w.land_on_master("docs/b.md", "b\n", "Another unrelated change");
    let u5 = w.push_upstream("Ada Lovelace", "ada@example.org");
    w.bot(&["--to", &u5]).ok();
    assert_eq!(w.open_mrs(), [(4, BRANCH.to_string(), w.subject(&u4, &u5))]);
    let (parent, _) = w.branch_commit();
    assert_eq!(parent, w.remote_git(&["rev-parse", "master"]));
}

/// With `--pr-check`, a run that leaves the merge request as it was reads its check once it
/// finished and writes the summary as one note, kept current; findings make the run exit 5.
fn the_check_of_the_merge_request_becomes_one_note(depth: Depth) {
    use crate::support::ci_server::{serve_ci, JENKINS_TOKEN, JENKINS_USER};
    let mut w = World::new(depth);
    let v = w.push_upstream("Ada Lovelace", "ada@example.org");
    let ci = serve_ci(0, "unused");
    let with_check = |w: &World| {
        let dir = w.clone();
        let mut c = w.bot_in(&dir, &["--to", &v, "--pr-check"]);
        c.env("JENKINS_USER", JENKINS_USER)
            .env("JENKINS_TOKEN", JENKINS_TOKEN)
            .env("JENKINS_URL", &ci.url);
        let r = Run::of(c.output().unwrap());
        w.assert_untouched(&dir);
        r
    };
    // The run that opens the merge request: no check can have run yet.
    with_check(&w).ok();
    // No check on its head commit yet; then a build still running: nothing written.
    let r = with_check(&w).ok();
    assert!(!r.stdout.contains("the check:"), "{}", r.stdout);
    w.gitlab.state.lock().unwrap().statuses = vec![serde_json::json!({
        "id": 1, "status": "running", "name": "jenkins", "target_url": ci.build_url(),
    })];
    ci.state.lock().unwrap().building_for = 5;
    with_check(&w).ok();
    // The status says done, the build does not yet.
    w.gitlab.state.lock().unwrap().statuses[0]["status"] = "success".into();
    with_check(&w).ok();
    assert!(w.notes(1).is_empty(), "{:?}", w.notes(1));
    // The build finished: every run clean, the manager applies what moves.
    {
        let mut st = ci.state.lock().unwrap();
        st.building_for = 0;
        let mut manager = String::new();
        for (kind, name) in [
            ("CronJob", "qontract-reconcile-aws-iam-keys"),
            ("Deployment", "qontract-reconcile-gitlab-housekeeping-0"),
            ("Deployment", "qontract-reconcile-gitlab-housekeeping-1"),
            ("Deployment", "qontract-reconcile-gitlab-housekeeping-2"),
            (
                "StatefulSet",
                "qontract-reconcile-terraform-resources-app-sre",
            ),
            (
                "StatefulSet",
                "qontract-reconcile-terraform-resources-ter-int-dev",
            ),
        ] {
            manager.push_str(&format!("[2026-01-02 10:00:00] [INFO] [DRY-RUN] [openshift_base.py:apply:317] - ['apply', 'appint-prod-01', 'app-interface-production', '{kind}', '{name}']\n"));
        }
        st.artifacts.insert(
            "temp/reports/reconcile_reports_success/reconcile-integrations-manager.txt".into(),
            manager,
        );
        for run in ["gitlab-housekeeping", "aws-iam-keys", "terraform-resources"] {
            st.artifacts.insert(
                format!("temp/reports/reconcile_reports_success/reconcile-{run}.txt"),
                String::new(),
            );
        }
        st.artifacts.insert(
            "temp/reports/reconcile_reports_success/reconcile-terraform-resources_override_f929a38.txt".into(),
            "Unable to find image 'quay.io/app-sre/qontract-reconcile:f929a38' locally\n".into(),
        );
    }
    let r = with_check(&w).ok();
    assert!(
        r.stdout
            .contains("the check: 5 ran: 4 clean; 1 with changes; pin checks: 5 of 5 hold"),
        "{}",
        r.stdout
    );
    let notes = w.notes(1);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("<!-- qr-promote:pr-check -->"),
        "{}",
        notes[0]
    );
    // The same again writes nothing new; a failed run turns the note and the run red.
    with_check(&w).ok();
    ci.state.lock().unwrap().artifacts.insert(
        "temp/reports/reconcile_reports_fail/reconcile-gitlab-housekeeping.txt".into(),
        "Traceback (most recent call last):\n  File \"x\"\nValueError: boom\n".into(),
    );
    let r = with_check(&w).code(5);
    assert!(
        r.stdout.contains("1 failed: gitlab-housekeeping"),
        "{}",
        r.stdout
    );
    let v = w.bot(&["--to", &v, "--pr-check", "--json"]);
    assert_eq!(v.code, 1, "without Jenkins credentials: {}", v.stdout);
    let notes = w.notes(1);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("1 failed: gitlab-housekeeping"),
        "{}",
        notes[0]
    );
}
both_depths!(the_check_of_the_merge_request_becomes_one_note);
/// The example's stage on a Kubernetes-API-shaped server: both shards of terraform-resources
/// running `tag` since `started`; a kubeconfig with the stage cluster's context.
fn stage_running(w: &World, tag: &str, started: i64) -> (KubeServer, String) {
    let stage = KubeServer::with_pods(
        ["app-sre", "ter-int-dev"]
            .iter()
            .map(|s| {
                statefulset_pod(
                    STAGE_NS,
                    &format!("qontract-reconcile-terraform-resources-{s}"),
                    tag,
                    started,
                )
            })
            .collect(),
    );
    let kc = write_kubeconfig_contexts(
        &w.sb.home(),
        "kube-token-1234",
        &[("appint-stage-01", &stage.url())],
    );
    (stage, kc.to_str().unwrap().to_string())
}

fn the_stage_gate_proposes_the_newest_version_stage_has_soaked(depth: Depth) {
    let mut w = World::new(depth);
    let base = w.upstream.ids[0].clone();
    let u1 = w.push_upstream("Ada Lovelace", "ada@example.org");
    let u2 = w.push_upstream("Octo Cat", "1+octocat@users.noreply.github.com");

    // Stage has run u1 for ten minutes only: nothing is proposed.
    let (_young, kc) = stage_running(&w, &u1[..7], now() - 600);
    // Exit 3: something is left to see to, though no person holds it up.
    let r = w.bot(&["--stage-soak", "2h", "--kubeconfig", &kc]).code(3);
    assert_eq!(
        r.stdout.lines().next().unwrap(),
        format!(
            "qontract-reconcile: stage-not-soaked: stage has not run a version newer than {} cleanly for 2h; nothing pushed",
            &base[..7]
        )
    );
    assert!(w.open_mrs().is_empty());

    // Three hours on u1: u1 is proposed, not the newest u2, which the description names.
    let (_soaked, kc) = stage_running(&w, &u1[..7], now() - 3 * 3600);
    let r = w.bot(&["--stage-soak", "2h", "--kubeconfig", &kc]).ok();
    assert!(
        r.stdout.starts_with(&format!(
            "qontract-reconcile: opened: opened !1 for {} -> {}\n",
            &base[..7],
            &u1[..7]
        )),
        "{}",
        r.stdout
    );
    assert_eq!(
        w.open_mrs(),
        [(1, BRANCH.to_string(), w.subject(&base, &u1))]
    );
    let d = w.description(1);
    assert!(
        d.contains(&format!(
            "**Stage:** stage has run {} cleanly for 3h (at least 2h asked); 2 objects: 2 soaked\n\nNot proposed yet, stage has not run them cleanly for 2h: {}\n",
            &u1[..7],
            &u2[..7]
        )),
        "{d}"
    );
    // Without the gate, the newest.
    w.bot(&[]).ok();
    assert_eq!(
        w.open_mrs(),
        [(1, BRANCH.to_string(), w.subject(&base, &u2))]
    );
}
both_depths!(the_stage_gate_proposes_the_newest_version_stage_has_soaked);

/// The example's production on a Kubernetes-API-shaped server, its objects on `tag` (the pinned
/// shard on its pin); a kubeconfig with the production cluster's context.
fn production_running(w: &World, tag: &str) -> (KubeServer, String) {
    let prod = KubeServer::start();
    route_production(&prod, tag);
    let kc = write_kubeconfig_contexts(
        &w.sb.home(),
        "kube-token-1234",
        &[("appint-prod-01", &prod.url())],
    );
    (prod, kc.to_str().unwrap().to_string())
}

fn route_production(prod: &KubeServer, tag: &str) {
    for (kind, group) in [
        ("deployments", "apis/apps/v1"),
        ("statefulsets", "apis/apps/v1"),
        ("cronjobs", "apis/batch/v1"),
    ] {
        prod.route(
            &format!("/{group}/namespaces/app-interface-production/{kind}"),
            200,
            &verify_fixture(&format!("api/app-interface-production-{kind}.json"))
                .replace("a1b2c3d", tag),
        );
    }
}

fn after_the_merge_the_merge_request_says_whether_production_runs_it(depth: Depth) {
    let mut w = World::new(depth);
    let base = w.upstream.ids[0].clone();
    let u1 = w.push_upstream("Octo Cat", "1+octocat@users.noreply.github.com");
    w.bot(&["--to", &u1]).ok();
    w.merge_branch(1);
    // Production still runs the version before.
    let (prod, kc) = production_running(&w, &base[..7]);

    // By hand: the report, and the note on the merged merge request.
    let dir = w.clone();
    let mut hand = w.sb.cmd();
    hand.current_dir(&dir).env("GITLAB_TOKEN", TOKEN).args([
        "verify",
        "--after-merge",
        "--kubeconfig",
        &kc,
        "--gitlab-url",
        &w.gitlab.url,
    ]);
    let r = Run::of(hand.output().unwrap()).code(3);
    assert!(
        r.stdout.ends_with(
            "\n6 objects: 1 ok, 5 wrong image\nnoted on !1: https://gitlab.test/group/app-interface/-/merge_requests/1\n"
        ),
        "{}",
        r.stdout
    );
    let notes = w.notes(1);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with(&format!(
            "**qr-promote after the merge:** production does not run `{}` everywhere yet: 6 objects: 1 ok, 5 wrong image; the next run checks again.\n\n- `app-interface-production/Deployment/qontract-reconcile-gitlab-housekeeping-0`: wrong image (expected quay.io/app-sre/qontract-reconcile:{}, found quay.io/app-sre/qontract-reconcile:{})\n",
            &u1[..7], &u1[..7], &base[..7]
        )),
        "{}",
        notes[0]
    );

    // The bot's run while production is still behind: exit 3, the same note, not a second one.
    let r = w.bot(&["--after-merge", "--kubeconfig", &kc]).code(3);
    assert!(
        r.stdout.contains("  after the merge: !1: production does not run it everywhere yet (noted on the merge request)\n"),
        "{}",
        r.stdout
    );
    assert_eq!(w.notes(1), notes);

    // The bot's next run: production runs it now; the same note says so, and tells the author.
    route_production(&prod, &u1[..7]);
    let r = w.bot(&["--after-merge", "--kubeconfig", &kc]).ok();
    assert!(
        r.stdout.contains(
            "  after the merge: !1: production runs it everywhere (noted on the merge request)\n"
        ),
        "{}",
        r.stdout
    );
    let notes = w.notes(1);
    assert_eq!(
        notes,
        [format!(
            "**qr-promote after the merge:** production runs `{}` everywhere: 6 objects: 6 ok.\n\nPinned shards still on their pin: `qontract-reconcile-terraform-resources-ter-int-dev` on `f929a38`.\n\n@ocat: your change is live in production.\n",
            &u1[..7]
        )]
    );

    // Once it runs everywhere, production is not asked again and the note stays as it is.
    let asked = prod.seen().len();
    let r = w.bot(&["--after-merge", "--kubeconfig", &kc]).ok();
    assert!(
        r.stdout
            .contains("  after the merge: !1: production runs it everywhere (noted before)\n"),
        "{}",
        r.stdout
    );
    assert_eq!(prod.seen().len(), asked);
    assert_eq!(w.notes(1).len(), 1);
}
both_depths!(after_the_merge_the_merge_request_says_whether_production_runs_it);
