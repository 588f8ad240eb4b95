//! plan and apply against a real upstream repository and a real registry: resolution, the change
//! report, rollbacks, `--commit`, and the image check.

use crate::support::registry_server::{push_image, start_registry};
use crate::support::{commit_checkout, git, pin_example, Run, Sandbox, Upstream};

/// An upstream with commits by several authors, and the example checkout pinned to its first.
struct World {
    sb: Sandbox,
    upstream: std::path::PathBuf,
    ids: Vec<String>,
}

impl World {
    fn new() -> World {
        let sb = Sandbox::example();
        let mut up = Upstream::new(&sb);
        let authors = [
            ("Base Author", "base@example.org"),
            ("Octo Cat", "12345+octocat@users.noreply.github.com"),
            ("Me Myself", "me@example.org"),
            ("Ada Lovelace", "ada@example.org"),
        ];
        for (i, (name, email)) in authors.iter().enumerate() {
            up.commit(name, email, &format!("change {i} (#{})", 100 + i));
        }
        // Pin the checkout to the first commit.
        pin_example(&sb, &up.ids[0]);
        commit_checkout(&sb, "Me Myself", "me@example.org");
        World {
            sb,
            upstream: up.path,
            ids: up.ids,
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.sb.run_against(&self.upstream, args)
    }

    fn git(&self, args: &[&str]) -> String {
        git(&self.sb.root(), &self.sb.home(), args)
    }

    /// A bare remote that accepts push options, with a `pre-receive` hook running `hook` (bash,
    /// `$REC` names the record file); returns the remote and the record file.
    fn bare_remote(&self, hook: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let remote = crate::support::push_options_remote(&self.sb);
        let record = self.sb.dir.path().join("options.txt");
        let script = format!("#!/usr/bin/env bash\nREC='{}'\n{hook}\n", record.display());
        let file = remote.join("hooks/pre-receive");
        std::fs::write(&file, script).unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        (remote, record)
    }
}

#[test]
fn plan_to_a_short_id_reports_what_ships_and_whom_to_tell() {
    let w = World::new();
    let new = &w.ids[3];
    let r = w
        .run(&["plan", "--to", &new[..9], "--skip-image-check"])
        .ok();
    let old = &w.ids[0];
    assert!(
        r.stdout.contains(&format!(
            "https://github.com/app-sre/qontract-reconcile/compare/{old}...{new}"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("not checked: --skip-image-check"),
        "{}",
        r.stderr
    );
    let v = w
        .run(&["--json", "plan", "--to", &new[..9], "--skip-image-check"])
        .ok()
        .json();
    let count: usize = git(
        &w.upstream,
        &w.sb.home(),
        &["rev-list", "--count", &format!("{old}..{new}")],
    )
    .parse()
    .unwrap();
    assert_eq!(v["changes"]["commits"].as_array().unwrap().len(), count);
    assert_eq!(v["changes"]["commits"][0]["pr"], 103);
    let authors: Vec<&str> = v["changes"]["authors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["emails"][0].as_str().unwrap())
        .collect();
    assert_eq!(authors.len(), 3, "{authors:?}");
    let notify: Vec<String> = v["changes"]["notify"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a["handle"]
                .as_str()
                .map_or_else(|| a["name"].as_str().unwrap().to_string(), str::to_string)
        })
        .collect();
    assert!(
        notify.contains(&"ocat".to_string()),
        "the no-reply login matches the user file: {notify:?}"
    );
    assert!(
        !v["changes"]["notify"]
            .to_string()
            .contains("me@example.org"),
        "the promoter is not notified"
    );
    assert_eq!(v["to"], new.as_str());
    assert_eq!(v["relation"]["kind"], "descends");
}

#[test]
fn latest_is_the_head_of_the_default_branch_and_markdown_is_a_description() {
    let w = World::new();
    let r = w
        .run(&["plan", "--skip-image-check", "--format", "markdown"])
        .ok();
    assert!(
        r.stdout
            .contains(&format!("compare/{}...{}", w.ids[0], w.ids[3])),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("`ocat` (Octo Cat)"), "{}", r.stdout);
    assert!(!r.stdout.contains("@ocat"), "no mention: {}", r.stdout);
    assert!(
        !r.stdout.contains("diff --git"),
        "markdown is the description only: {}",
        r.stdout
    );
}

#[test]
fn a_rollback_is_refused_unless_allowed() {
    let w = World::new();
    w.run(&["apply", "--to", &w.ids[3], "--skip-image-check"])
        .ok();
    let before = w.sb.snapshot();
    let r = w
        .run(&["apply", "--to", &w.ids[1][..7], "--skip-image-check"])
        .code(1);
    assert!(
        r.stderr.contains("would roll back 2 commits"),
        "{}",
        r.stderr
    );
    assert_eq!(w.sb.snapshot(), before);
    w.run(&[
        "apply",
        "--to",
        &w.ids[1][..7],
        "--skip-image-check",
        "--allow-rollback",
    ])
    .ok();
    assert!(w
        .sb
        .read(".env")
        .contains(&format!("RECONCILE_IMAGE_TAG={}\n", &w.ids[1][..7])));
}

#[test]
fn the_same_commit_is_nothing_to_promote() {
    let w = World::new();
    let r = w
        .run(&["apply", "--to", &w.ids[0][..7], "--skip-image-check"])
        .ok();
    assert!(r.stdout.contains("nothing to promote"), "{}", r.stdout);
}

#[test]
fn apply_commit_makes_one_promotion_commit_on_a_branch() {
    let w = World::new();
    let new = &w.ids[3];
    w.sb.write("unrelated.txt", "work in progress\n");
    let r = w
        .run(&["apply", "--to", new, "--skip-image-check", "--commit"])
        .ok();
    let branch = format!("promote/qontract-reconcile-{}", &new[..7]);
    assert!(r.stdout.contains(&branch), "{}", r.stdout);
    assert_eq!(w.git(&["rev-parse", "--abbrev-ref", "HEAD"]), branch);
    let subject = w.git(&["log", "-1", "--format=%s"]);
    assert_eq!(
        subject,
        format!(
            "qontract production promotion {} to {}",
            &w.ids[0][..7],
            &new[..7]
        )
    );
    let body = w.git(&["log", "-1", "--format=%b"]);
    assert!(body.contains("compare/"), "{body}");
    let files = w.git(&["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(files.lines().count(), 6, "{files}");
    assert!(!files.contains("unrelated.txt"));
    // A second component on the same branch is refused.
    let schemas =
        w.sb.run(&[
            "apply",
            "qontract-schemas",
            "--offline",
            "--allow-unverified",
            "--to",
            "abcdef0123456789abcdef0123456789abcdef01",
            "--commit",
        ])
        .code(1);
    assert!(
        schemas.stderr.contains("already carries another promotion"),
        "{}",
        schemas.stderr
    );
}

#[test]
fn apply_commit_refuses_uncommitted_changes_in_the_edited_files() {
    let w = World::new();
    w.sb.write(".env", &(w.sb.read(".env") + "# local note\n"));
    let before = w.sb.snapshot();
    let r = w
        .run(&["apply", "--to", &w.ids[3], "--skip-image-check", "--commit"])
        .code(1);
    assert!(
        r.stderr.contains("uncommitted changes in .env"),
        "{}",
        r.stderr
    );
    assert_eq!(w.sb.snapshot(), before);
}

#[test]
fn apply_commit_refuses_before_writing_when_the_branch_exists_or_head_carries_a_promotion() {
    let w = World::new();
    // A branch of the same promotion left elsewhere.
    let branch = format!("promote/qontract-reconcile-{}", &w.ids[3][..7]);
    w.git(&["branch", &branch, "HEAD"]);
    w.git(&["commit", "-q", "--allow-empty", "-m", "other work"]);
    let before = w.sb.snapshot();
    let r = w
        .run(&["apply", "--to", &w.ids[3], "--skip-image-check", "--commit"])
        .code(1);
    assert!(
        r.stderr
            .contains(&format!("branch {branch} already exists at"))
            && r.stderr.contains("nothing written"),
        "{}",
        r.stderr
    );
    assert_eq!(w.sb.snapshot(), before, "nothing written");
    w.git(&["branch", "-D", &branch]);
    // A promotion committed, then a newer version asked from its branch: no stacking.
    w.run(&["apply", "--to", &w.ids[2], "--skip-image-check", "--commit"])
        .ok();
    let before = w.sb.snapshot();
    let r = w
        .run(&["apply", "--to", &w.ids[3], "--skip-image-check", "--commit"])
        .code(1);
    assert!(
        r.stderr
            .contains("HEAD already carries a promotion of qontract-reconcile"),
        "{}",
        r.stderr
    );
    assert_eq!(w.sb.snapshot(), before, "nothing written");
}

#[test]
fn the_image_must_exist_in_the_registry() {
    let mut reg = start_registry(false);
    let w = World::new();
    let new = &w.ids[3];
    let over = format!("quay.io={}", reg.url);
    let before = w.sb.snapshot();
    let r = w
        .run(&["apply", "--to", new, "--registry-url", &over])
        .code(1);
    assert!(
        r.stderr.contains(&format!(
            "quay.io/app-sre/qontract-reconcile:{} not found",
            &new[..7]
        )),
        "{}",
        r.stderr
    );
    assert_eq!(w.sb.snapshot(), before);

    let digest = push_image(&reg.url, "app-sre/qontract-reconcile", &new[..7], None);
    let r = w.run(&["plan", "--to", new, "--registry-url", &over]).ok();
    assert!(
        r.stdout.contains(&format!("exists ({digest})")),
        "{}",
        r.stdout
    );

    reg.stop();
    let r = w
        .run(&["apply", "--to", new, "--registry-url", &over])
        .code(1);
    assert!(
        r.stderr.contains("refused") && r.stderr.contains("nothing written"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--skip-image-check"), "{}", r.stderr);
    assert_eq!(w.sb.snapshot(), before);

    let r = w
        .run(&[
            "apply",
            "--to",
            new,
            "--registry-url",
            &over,
            "--skip-image-check",
        ])
        .ok();
    assert!(
        r.stderr
            .contains("warning: image quay.io/app-sre/qontract-reconcile:")
            && r.stderr.contains("not checked"),
        "{}",
        r.stderr
    );
    assert!(w
        .sb
        .read(".env")
        .contains(&format!("RECONCILE_IMAGE_TAG={}", &new[..7])));
}

#[test]
fn one_command_goes_from_an_upstream_commit_to_a_merge_request() {
    let w = World::new();
    let home = w.sb.home();
    let (remote, record) = w.bare_remote(
        "for i in $(seq 0 $((GIT_PUSH_OPTION_COUNT - 1))); do v=GIT_PUSH_OPTION_$i; echo \"${!v}\" >> \"$REC\"; done\nwhile read -r old new ref; do echo \"update=$old $new $ref\" >> \"$REC\"; done\necho 'View merge request for promote:'\necho '  http://gitlab.test/service/app-interface/-/merge_requests/1'",
    );
    w.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    w.git(&["push", "-q", "origin", "master"]);
    let new = &w.ids[3];
    let r = w
        .run(&[
            "apply",
            "--to",
            new,
            "--skip-image-check",
            "--commit",
            "--push",
            "--label",
            "lgtm",
            "--notify",
        ])
        .ok();
    assert!(
        r.stdout
            .contains("merge request: http://gitlab.test/service/app-interface/-/merge_requests/1"),
        "{}",
        r.stdout
    );
    let options = std::fs::read_to_string(&record).unwrap();
    let subject = format!(
        "qontract production promotion {} to {}",
        &w.ids[0][..7],
        &new[..7]
    );
    assert!(options.contains("merge_request.create\n"), "{options}");
    assert!(
        options.contains("merge_request.target=master\n"),
        "{options}"
    );
    assert!(
        options.contains(&format!("merge_request.title={subject}\n")),
        "{options}"
    );
    assert!(options.contains("merge_request.label=lgtm\n"), "{options}");
    assert!(
        options.contains("merge_request.description=") && options.contains("compare/"),
        "{options}"
    );
    assert!(
        options.contains("@ocat"),
        "--notify mentions the authors: {options}"
    );
    let branch = format!("promote/qontract-reconcile-{}", &new[..7]);
    let pushed = git(&remote, &home, &["log", "-1", "--format=%s", &branch]);
    assert_eq!(pushed, subject);
    let first_head = w.git(&["rev-parse", "HEAD"]);
    let files = w.sb.snapshot();

    // Someone merges into master; the same command again carries the promotion commit over to
    // the new master and force-pushes it: the merge request stays the one already open.
    let tree = w.git(&["rev-parse", "master^{tree}"]);
    let merged = w.git(&[
        "commit-tree",
        &tree,
        "-p",
        "master",
        "-m",
        "unrelated change",
    ]);
    w.git(&[
        "push",
        "-q",
        "origin",
        &format!("{merged}:refs/heads/master"),
    ]);
    std::fs::write(&record, "").unwrap();
    let args = [
        "apply",
        "--to",
        new,
        "--skip-image-check",
        "--commit",
        "--push",
        "--label",
        "lgtm",
        "--notify",
    ];
    let r = w.run(&args).ok();
    let second_head = w.git(&["rev-parse", "HEAD"]);
    assert_ne!(second_head, first_head);
    assert!(
        r.stdout.contains(&format!(
            "{branch} already holds this promotion: commit {} moved onto refs/remotes/origin/master as {}",
            &first_head[..7],
            &second_head[..7]
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(&format!("pushed {branch} to origin (updated)")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("merge request: http://gitlab.test/service/app-interface/-/merge_requests/1"),
        "{}",
        r.stdout
    );
    let options = std::fs::read_to_string(&record).unwrap();
    assert!(
        options.contains(&format!(
            "update={first_head} {second_head} refs/heads/{branch}\n"
        )),
        "a forced update of the branch: {options}"
    );
    assert!(
        options.contains(&format!("merge_request.title={subject}\n"))
            && options.contains("merge_request.description=")
            && options.contains("compare/"),
        "the same title and description: {options}"
    );
    assert_eq!(w.git(&["rev-parse", "HEAD^"]), merged);
    assert_eq!(
        w.sb.snapshot(),
        files,
        "nothing but the branch head changes"
    );

    // Once more with nothing new: nothing is sent, the merge request is still named.
    std::fs::write(&record, "").unwrap();
    let r = w.run(&args).ok();
    assert_eq!(w.git(&["rev-parse", "HEAD"]), second_head);
    assert!(
        r.stdout.contains("(already up to date)")
            && r.stdout.contains(
                "merge request: http://gitlab.test/service/app-interface/-/merge_requests/1"
            ),
        "{}",
        r.stdout
    );
    assert_eq!(std::fs::read_to_string(&record).unwrap(), "");
}

#[test]
fn mr_api_creates_the_merge_request_then_updates_it() {
    use crate::support::gitlab_server::{serve_gitlab, TOKEN};
    let w = World::new();
    let (remote, record) =
        w.bare_remote("echo \"count=${GIT_PUSH_OPTION_COUNT:-0}\" >> \"$REC\"\ncat >/dev/null");
    // The remote is named by its GitLab URL; git reaches it through a local rewrite.
    let url = "https://gitlab.test/group/app-interface.git";
    w.git(&["remote", "add", "origin", url]);
    w.git(&[
        "config",
        &format!("url.{}.insteadOf", remote.display()),
        url,
    ]);
    w.git(&["push", "-q", "origin", "master"]);
    std::fs::write(&record, "").unwrap();
    let server = serve_gitlab();
    let up = w.upstream.to_string_lossy().into_owned();
    let new = &w.ids[3];
    let run = |token: Option<&str>| {
        let mut c = w.sb.cmd();
        c.args([
            "apply",
            "--to",
            new,
            "--upstream",
            &up,
            "--skip-image-check",
            "--commit",
            "--push",
            "--mr-api",
            "--gitlab-url",
            &server.url,
            "--label",
            "bot/automerge",
        ]);
        if let Some(t) = token {
            c.env("GITLAB_TOKEN", t);
        }
        Run::of(c.output().unwrap())
    };
    // No token: refused before anything is written or pushed.
    let before = w.sb.snapshot();
    let r = run(None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("GITLAB_TOKEN"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        "",
        "nothing pushed"
    );
    assert_eq!(w.sb.snapshot(), before, "nothing written");
    assert_eq!(w.git(&["rev-parse", "--abbrev-ref", "HEAD"]), "master");

    let r = run(Some(TOKEN));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "merge request !1 created: https://gitlab.test/group/app-interface/-/merge_requests/1"
        ),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(TOKEN) && !r.stderr.contains(TOKEN));
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        "count=0\n",
        "the REST API opens the merge request: the push carries no options"
    );
    let subject = format!(
        "qontract production promotion {} to {}",
        &w.ids[0][..7],
        &new[..7]
    );
    {
        let st = server.state.lock().unwrap();
        assert_eq!(st.mrs.len(), 1);
        let mr = &st.mrs[0];
        assert_eq!(mr.title, subject);
        assert_eq!(mr.target, "master");
        assert_eq!(
            mr.source,
            format!("promote/qontract-reconcile-{}", &new[..7])
        );
        assert_eq!(mr.labels, ["bot/automerge"]);
        assert!(
            mr.description.contains("compare/") && mr.description.contains('\n'),
            "the Markdown report with its line breaks: {}",
            mr.description
        );
    }

    let r = run(Some(TOKEN));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("merge request !1 updated"),
        "{}",
        r.stdout
    );
    let st = server.state.lock().unwrap();
    assert_eq!(st.mrs.len(), 1, "updated, never duplicated");
    assert_eq!(st.mrs[0].title, subject);
    let methods: Vec<&str> = st.requests.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["GET", "POST", "GET", "PUT"]);
}

#[test]
fn a_web_page_is_not_a_registry_answer() {
    use crate::support::fake_registry::{serve, FakeResponse};
    let fake = serve(|_, _| {
        let mut page = FakeResponse::status(200).header("Content-Type", "text/html; charset=utf-8");
        page.body = "<html><body>Sign in</body></html>".into();
        page
    });
    let w = World::new();
    let over = format!("quay.io={}", fake.url);
    let before = w.sb.snapshot();
    let r = w
        .run(&["apply", "--to", &w.ids[3], "--registry-url", &over])
        .code(1);
    let want = format!(
        "registry at {} answered 200 with text/html, not an image manifest",
        fake.url
    );
    let lines: Vec<&str> = r.stderr.lines().filter(|l| l.contains(&want)).collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(
        lines[0].contains(&format!(
            "cannot check image quay.io/app-sre/qontract-reconcile:{}",
            &w.ids[3][..7]
        )),
        "{}",
        r.stderr
    );
    assert!(!fake.requests().is_empty(), "the registry was not asked");
    assert_eq!(w.sb.snapshot(), before);
}

#[test]
fn registry_url_refusals_do_not_echo_credentials() {
    let w = World::new();
    let before = w.sb.snapshot();
    for spec in [
        "quay.io=http://bot:Pa55-w0rd@127.0.0.1:5000",
        "quay.io=http://127.0.0.1:5000/?token=Pa55-w0rd",
        "quay.io=https://bot:Pa55-w0rd@registry.example.com/v2?access_token=Pa55-w0rd",
        "quay.io=bot:Pa55-w0rd@10.0.0.1:5000",
    ] {
        let r = w
            .run(&["apply", "--to", &w.ids[3], "--registry-url", spec])
            .code(1);
        assert!(
            r.stderr.contains("registry override `quay.io="),
            "{spec}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("Pa55-w0rd") && !r.stdout.contains("Pa55-w0rd"),
            "{spec}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("bot:"), "{spec}: {}", r.stderr);
    }
    assert_eq!(w.sb.snapshot(), before);
}

#[test]
fn upstream_credentials_stay_out_of_messages_and_the_cache() {
    let sb = crate::support::Sandbox::example();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://bot:TOKEN-9f3e@127.0.0.1:{port}/app-sre/x.git");
    let before = sb.snapshot();
    for cmd in ["plan", "apply"] {
        let r = sb
            .run(&[cmd, "--to", crate::support::NEW, "--upstream", &url])
            .code(1);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(!all.contains("TOKEN"), "{all}");
        assert!(
            r.stderr.contains(&format!(
                "upstream http://[redacted]@127.0.0.1:{port}/app-sre/x.git: unreachable"
            )),
            "{}",
            r.stderr
        );
    }
    assert_eq!(sb.snapshot(), before);
    let cache = sb.home().join("cache");
    let found = crate::support::files_containing(&cache, "TOKEN");
    assert!(found.is_empty(), "{found:?}");
    let open = crate::support::not_private(&cache.join("upstreams"));
    assert!(open.is_empty(), "{open:?}");
}

/// A file with a digest after an image's tag, and a tag with its digest beside it.
fn sidecar(image_tag: &str, image_digest: &str, opa_tag: &str, opa_digest: &str) -> String {
    format!(
        "---\n$schema: /app-sre/saas-file-2.yml\nname: saas-opa\nresourceTemplates:\n- name: opa\n  url: https://github.com/app-sre/opa-sidecar\n  parameters:\n    IMAGE: quay.io/app-sre/qontract-reconcile:{image_tag}@{image_digest}\n    OPA_IMAGE_TAG: {opa_tag}\n    OPA_IMAGE_DIGEST: \"{opa_digest}\"\n  targets: []\n"
    )
}

#[test]
fn digests_follow_their_tags_from_the_registry() {
    let reg = start_registry(false);
    let w = World::new();
    let (old, new) = (&w.ids[0], &w.ids[3]);
    let over = format!("quay.io={}", reg.url);
    let qr = "app-sre/qontract-reconcile";
    let opa = "app-sre/qontract-reconcile-opa";
    let (qr_old, qr_new) = (
        push_image(&reg.url, qr, &old[..7], None),
        push_image(&reg.url, qr, &new[..7], None),
    );
    let (opa_old, opa_new) = (
        push_image(&reg.url, opa, old, None),
        push_image(&reg.url, opa, new, None),
    );
    assert_ne!(qr_old, qr_new);
    let rel = "data/services/opa/saas-opa.yml";
    w.sb.write(rel, &sidecar(&old[..7], &qr_old, old, &opa_old));
    let r = w.run(&["apply", "--to", new, "--registry-url", &over]).ok();
    assert_eq!(
        w.sb.read(rel),
        sidecar(&new[..7], &qr_new, new, &opa_new),
        "{}",
        r.stdout
    );
    for (line, digest) in [(8, &qr_new), (10, &opa_new)] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.trim_start().starts_with("digest ")
                    && l.contains(&format!("{rel}:{line} "))
                    && l.contains(&format!("-> {digest}"))),
            "{}",
            r.stdout
        );
    }
}

#[test]
fn a_digest_that_cannot_be_known_stops_the_promotion() {
    let reg = start_registry(false);
    let w = World::new();
    let (old, new) = (&w.ids[0], &w.ids[3]);
    let over = format!("quay.io={}", reg.url);
    let qr_old = push_image(&reg.url, "app-sre/qontract-reconcile", &old[..7], None);
    push_image(&reg.url, "app-sre/qontract-reconcile", &new[..7], None);
    let rel = "data/services/opa/saas-opa.yml";
    let fake = format!("sha256:{}", "e".repeat(64));
    // The sidecar image is not in the registry: its new digest cannot be known.
    w.sb.write(rel, &sidecar(&old[..7], &qr_old, old, &fake));
    let before = w.sb.snapshot();
    let r = w
        .run(&["apply", "--to", new, "--registry-url", &over])
        .code(1);
    assert!(
        r.stderr.contains(&format!(
            "error: {rel}:10: the digest of quay.io/app-sre/qontract-reconcile-opa:{new} cannot be known"
        )) && r.stderr.contains("nothing written"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: ") && r.stderr.contains("--skip-location"),
        "{}",
        r.stderr
    );
    assert_eq!(w.sb.snapshot(), before);
    // Without the configuration, the sibling's image is not known either: refused, naming it.
    w.sb.write(".qr-promote.yaml", "version: 1\n");
    let r = w
        .run(&["apply", "--to", new, "--registry-url", &over])
        .code(1);
    assert!(
        r.stderr.contains(&format!("error: {rel}:10: ")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(".qr-promote.yaml"), "{}", r.stderr);
    // Offline, no digest can be asked.
    let r = w
        .run(&["apply", "--offline", "--allow-unverified", "--to", new])
        .code(1);
    assert!(
        r.stderr.contains(&format!("error: {rel}:8: the digest of")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("drop --offline"), "{}", r.stderr);
}
