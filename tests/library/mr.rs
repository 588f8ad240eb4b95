//! The merge request: push options against a real bare remote with a recording hook, refusals, and the REST path against a local GitLab-shaped server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use qr_promote::upstream::git::Git;

use crate::support::gitlab_server::{serve_gitlab, FakeGitLab, TOKEN};
use qr_promote::mr::{check_branch, push_with_options, read_token_file, GitLab, MrRequest, Secret};

const SUBJECT1: &str = "qontract production promotion 1111111 to 2222222";
const SUBJECT2: &str = "qontract production promotion 1111111 to 3333333";
const MR_URL: &str = "http://gitlab.test/group/app-interface/-/merge_requests/1";
const ZERO: &str = "0000000000000000000000000000000000000000";

const HOOK: &str = r#"#!/bin/bash
log="$(pwd)/push.log"
{
  echo "count=${GIT_PUSH_OPTION_COUNT:-none}"
  for ((i = 0; i < ${GIT_PUSH_OPTION_COUNT:-0}; i++)); do
    v="GIT_PUSH_OPTION_$i"
    echo "option=${!v}"
  done
  while read -r old new ref; do
    echo "update=$old $new $ref"
  done
} >>"$log"
if [ -f "$(pwd)/reject" ]; then
  echo "GitLab: You are not allowed to force push code to a protected branch on this project."
  exit 1
fi
echo "View merge request for promote/x:"
echo "  $MR_URL"
"#;

struct Remote {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    bare: PathBuf,
    work: PathBuf,
}

fn sealed(home: &Path, dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.org")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.org")
        .env("LC_ALL", "C");
    c
}

impl Remote {
    /// A bare remote with the recording hook, and a clone with `master` and one promotion commit on `promote/x`.
    fn new() -> Remote {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let bare = tmp.path().join("remote.git");
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&home).unwrap();
        let r = Remote {
            _tmp: tmp,
            home,
            bare,
            work,
        };
        r.git(
            r.home.as_path(),
            &[
                "init",
                "-q",
                "--bare",
                "-b",
                "master",
                r.bare.to_str().unwrap(),
            ],
        );
        r.git(&r.bare, &["config", "receive.advertisePushOptions", "true"]);
        let hook = r.bare.join("hooks/pre-receive");
        std::fs::write(&hook, HOOK.replace("$MR_URL", MR_URL)).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        r.git(
            &r.home,
            &["init", "-q", "-b", "master", r.work.to_str().unwrap()],
        );
        std::fs::write(r.work.join(".env"), "RECONCILE_IMAGE_TAG=1111111\n").unwrap();
        r.git(&r.work, &["add", ".env"]);
        r.git(&r.work, &["commit", "-q", "-m", "init"]);
        r.git(
            &r.work,
            &["remote", "add", "origin", r.bare.to_str().unwrap()],
        );
        // The initial master goes in; the hook's record of it is dropped.
        r.git(&r.work, &["push", "-q", "origin", "master"]);
        std::fs::remove_file(r.bare.join("push.log")).unwrap();
        r.git(&r.work, &["switch", "-q", "-c", "promote/x"]);
        r.commit("2222222", SUBJECT1);
        r
    }

    fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = sealed(&self.home, dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn commit(&self, tag: &str, subject: &str) {
        std::fs::write(
            self.work.join(".env"),
            format!("RECONCILE_IMAGE_TAG={tag}\n"),
        )
        .unwrap();
        self.git(&self.work, &["commit", "-q", "-a", "-m", subject]);
    }

    fn head(&self) -> String {
        self.git(&self.work, &["rev-parse", "HEAD"])
    }

    fn lib(&self) -> Git {
        Git::new(&self.work)
            .with_env("HOME", &self.home)
            .with_env("GIT_CONFIG_GLOBAL", "/dev/null")
            .with_env("GIT_CONFIG_NOSYSTEM", "1")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.bare.join("push.log")).unwrap_or_default()
    }
}

fn request() -> MrRequest {
    let mut req = MrRequest::new(
        "promote/x",
        "qontract production promotion 1111111 to 2222222",
    );
    req.description = "## Changes\n\n- one\n- two".into();
    req.labels = vec!["bot/automerge".into(), "team/app-sre".into()];
    req
}

#[test]
fn push_options_reach_the_remote_and_a_second_run_force_updates() {
    let r = Remote::new();
    let git = r.lib();
    let first = r.head();
    let out = push_with_options(&git, &request()).unwrap();
    assert_eq!(out.url.as_deref(), Some(MR_URL));
    assert!(!out.forced);
    assert!(out
        .remote_message
        .contains("View merge request for promote/x:"));
    let log = r.log();
    let want = format!(
        "count=6\n\
         option=merge_request.create\n\
         option=merge_request.target=master\n\
         option=merge_request.title=qontract production promotion 1111111 to 2222222\n\
         option=merge_request.description=## Changes<br><br>- one<br>- two\n\
         option=merge_request.label=bot/automerge\n\
         option=merge_request.label=team/app-sre\n\
         update={ZERO} {first} refs/heads/promote/x\n"
    );
    assert_eq!(log, want);

    // Second run: the promotion is amended (another target version).
    r.git(&r.work, &["reset", "-q", "--hard", "HEAD~1"]);
    r.commit("3333333", SUBJECT2);
    let second = r.head();
    let mut req = request();
    req.title = SUBJECT2.into();
    let out = push_with_options(&git, &req).unwrap();
    assert!(out.forced, "{out:?}");
    assert_eq!(out.url.as_deref(), Some(MR_URL));
    let log = r.log();
    let last = log.lines().last().unwrap();
    assert_eq!(
        last,
        format!("update={first} {second} refs/heads/promote/x")
    );
    assert_ne!(first, ZERO);
    let ancestor = sealed(&r.home, &r.bare)
        .args(["merge-base", "--is-ancestor", &first, &second])
        .status()
        .unwrap();
    assert!(!ancestor.success(), "the old tip must not be an ancestor");
    assert_eq!(
        r.git(&r.bare, &["rev-parse", "refs/heads/promote/x"]),
        second
    );
}

#[test]
fn refusals_push_nothing() {
    let r = Remote::new();
    let git = r.lib();
    check_branch(&git, &request()).unwrap();

    let mut req = request();
    req.branch = "master".into();
    let err = push_with_options(&git, &req).unwrap_err().to_string();
    assert!(err.contains("is the target branch itself"), "{err}");

    let mut req = request();
    req.remote = "upstream".into();
    let err = push_with_options(&git, &req).unwrap_err().to_string();
    assert!(
        err.contains("no git remote named \"upstream\" (known remotes: origin)"),
        "{err}"
    );

    r.commit("4444444", SUBJECT2);
    let err = push_with_options(&git, &request()).unwrap_err().to_string();
    assert!(
        err.contains("branch promote/x has 2 commits on top of origin/master"),
        "{err}"
    );

    r.git(&r.work, &["reset", "-q", "--hard", "HEAD~2"]);
    r.commit("5555555", "fix the tag by hand");
    let err = push_with_options(&git, &request()).unwrap_err().to_string();
    assert!(err.contains("is not a promotion commit"), "{err}");

    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(r.log(), "", "nothing may reach the remote");
}

#[test]
fn a_rejected_push_carries_the_remote_message() {
    let r = Remote::new();
    std::fs::write(r.bare.join("reject"), "").unwrap();
    let err = push_with_options(&r.lib(), &request())
        .unwrap_err()
        .to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("push of promote/x to origin rejected")
            && err.contains("protected branch on this project; [remote rejected]")
            && err.contains("pre-receive hook declined"),
        "{err}"
    );
}

// ---- REST ----

fn gitlab(server: &FakeGitLab, token: &str) -> GitLab {
    GitLab::from_remote_url(
        "git@gitlab.test:group/app-interface.git",
        Some(&server.url),
        Secret::new(token),
    )
    .unwrap()
}

fn assert_clean(err: &str) {
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        !err.contains(TOKEN) && !err.contains("secret-token"),
        "{err}"
    );
}

#[test]
fn rest_creates_then_updates_without_a_duplicate() {
    let server = serve_gitlab();
    let gl = gitlab(&server, TOKEN);
    let first = gl.upsert_mr(&request()).unwrap();
    assert!(first.created);
    assert_eq!(first.iid, 1);
    assert_eq!(
        first.web_url,
        "https://gitlab.test/group/app-interface/-/merge_requests/1"
    );
    let mut req = request();
    req.title = SUBJECT2.into();
    req.description = "## Changes\n\n- three".into();
    req.labels = vec!["bot/automerge".into(), "extra".into()];
    let second = gl.upsert_mr(&req).unwrap();
    assert!(!second.created);
    assert_eq!(second.iid, 1);

    let st = server.state.lock().unwrap();
    assert_eq!(st.mrs.len(), 1, "no duplicate");
    let mr = &st.mrs[0];
    assert_eq!(mr.title, SUBJECT2);
    assert_eq!(
        mr.description, "## Changes\n\n- three",
        "newlines kept over REST"
    );
    assert_eq!(mr.labels, ["bot/automerge", "team/app-sre", "extra"]);
    assert_eq!(mr.target, "master");
    let methods: Vec<&str> = st.requests.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["GET", "POST", "GET", "PUT"]);
    assert!(st
        .requests
        .iter()
        .all(|r| r.token.as_deref() == Some(TOKEN)));
    assert!(st.requests[0].target.contains("source_branch=promote%2Fx"));
}

#[test]
fn rest_errors_are_one_line_with_gitlabs_message_and_never_the_token() {
    let server = serve_gitlab();

    let err = gitlab(&server, "glpat-wrong-token-456")
        .upsert_mr(&request())
        .unwrap_err()
        .to_string();
    assert_clean(&err);
    assert!(!err.contains("glpat-wrong"), "{err}");
    assert!(err.contains("HTTP 401: 401 Unauthorized"), "{err}");

    let gl = gitlab(&server, TOKEN);
    let mut req = request();
    req.branch = "promote/race".into();
    gl.upsert_mr(&req).unwrap();
    let err = gl.upsert_mr(&req).unwrap_err().to_string();
    assert_clean(&err);
    assert!(
        err.contains(
            "HTTP 409: Another open merge request already exists for this source branch: !1"
        ),
        "{err}"
    );

    let mut req = request();
    req.target = "nope".into();
    let err = gl.upsert_mr(&req).unwrap_err().to_string();
    assert_clean(&err);
    assert!(
        err.contains("HTTP 422: target_branch: nope does not exist"),
        "{err}"
    );

    // Network failure: nothing listens on the port any more.
    let url = server.url.clone();
    drop(server);
    let gl = GitLab::from_remote_url(
        "git@gitlab.test:group/app-interface.git",
        Some(&url),
        Secret::new(TOKEN),
    )
    .unwrap()
    .with_timeout(Duration::from_secs(5));
    let err = gl.upsert_mr(&request()).unwrap_err().to_string();
    assert_clean(&err);
    assert!(err.contains("cannot reach 127.0.0.1:"), "{err}");
}

#[test]
fn a_token_file_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("token");
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = read_token_file(&path).unwrap_err().to_string();
    assert_clean(&err);
    assert!(err.contains("mode 0644"), "{err}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(read_token_file(&path).unwrap(), TOKEN);
}

#[test]
fn the_lease_refuses_to_overwrite_what_someone_else_pushed() {
    let r = Remote::new();
    let git = r.lib();
    let first = r.head();
    push_with_options(&git, &request()).unwrap();
    // Someone else moves the remote branch (to master's commit) behind our back.
    let master = r.git(&r.bare, &["rev-parse", "refs/heads/master"]);
    r.git(
        &r.bare,
        &["update-ref", "refs/heads/promote/x", &master, &first],
    );
    r.git(&r.work, &["reset", "-q", "--hard", "HEAD~1"]);
    r.commit("3333333", SUBJECT2);
    let err = push_with_options(&git, &request()).unwrap_err().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("(stale info)") && err.contains("someone else pushed"),
        "{err}"
    );
    assert_eq!(
        r.git(&r.bare, &["rev-parse", "refs/heads/promote/x"]),
        master
    );
}
