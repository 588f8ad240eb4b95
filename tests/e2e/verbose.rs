//! `-v`/`--verbose` and `RUST_LOG`: the git commands, HTTP requests and Kubernetes calls on
//! stderr, without a secret; stdout and the output without them unchanged; errors with their
//! causes.

use crate::support::kube_server::{verify_fixture, KubeServer};
use crate::support::{commit_checkout, git, pin_example, Run, Sandbox, Upstream, NEW};

/// Whether a line of stderr is an event: `<uptime>s LEVEL target: message fields`.
fn is_event(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let (Some(time), Some(level)) = (words.next(), words.next()) else {
        return false;
    };
    time.strip_suffix('s')
        .is_some_and(|t| t.parse::<f64>().is_ok())
        && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level)
}

/// The events of a run's stderr.
fn events(r: &Run) -> Vec<&str> {
    r.stderr.lines().filter(|l| is_event(l)).collect()
}

/// The events of `level` whose target starts with `target` and message with `message`.
fn find<'a>(r: &'a Run, level: &str, target: &str, message: &str) -> Vec<&'a str> {
    events(r)
        .into_iter()
        .filter(|l| {
            let mut words = l.split_whitespace();
            let (_time, lv) = (words.next(), words.next());
            let rest = words.collect::<Vec<_>>().join(" ");
            lv == Some(level)
                && rest
                    .split_once(": ")
                    .is_some_and(|(t, m)| t.starts_with(target) && m.starts_with(message))
        })
        .collect()
}

/// Every JSON document of stdout (a command may print one, `apply --push` prints two).
fn documents(r: &Run) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_str(&r.stdout)
        .into_iter::<serde_json::Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", r.stdout))
}

/// The example checkout pinned to the first of two commits of a local upstream.
fn world() -> (Sandbox, Upstream) {
    let sb = Sandbox::example();
    let mut up = Upstream::new(&sb);
    up.commit("Base Author", "base@example.org", "change 0 (#100)");
    up.commit("Ada Lovelace", "ada@example.org", "change 1 (#101)");
    pin_example(&sb, &up.ids[0]);
    commit_checkout(&sb, "Me Myself", "me@example.org");
    (sb, up)
}

/// `qr-promote PRE... plan --to <second commit> --upstream <up> --skip-image-check`, with more
/// environment.
fn plan(sb: &Sandbox, up: &Upstream, pre: &[&str], env: &[(&str, &str)]) -> Run {
    let url = up.url();
    let mut c = sb.cmd();
    c.args(pre)
        .args(["plan", "--to", &up.ids[1], "--upstream", &url])
        .arg("--skip-image-check")
        .envs(env.iter().copied());
    Run::of(c.output().unwrap())
}

#[test]
fn verbose_shows_git_commands_and_http_requests_without_the_token() {
    use crate::support::gitlab_server::{serve_gitlab, TOKEN};
    let (sb, up) = world();
    let home = sb.home();
    let remote = sb.dir.path().join("remote.git");
    git(
        sb.dir.path(),
        &home,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "master",
            remote.to_str().unwrap(),
        ],
    );
    let origin = "https://gitlab.test/group/app-interface.git";
    git(&sb.root(), &home, &["remote", "add", "origin", origin]);
    let rewrite = format!("url.{}.insteadOf", remote.display());
    git(&sb.root(), &home, &["config", &rewrite, origin]);
    git(&sb.root(), &home, &["push", "-q", "origin", "master"]);
    let server = serve_gitlab();
    let url = up.url();
    let run = |verbose: &str| {
        let mut c = sb.cmd();
        c.args([
            verbose,
            "--json",
            "apply",
            "--to",
            &up.ids[1],
            "--upstream",
            &url,
        ])
        .args(["--skip-image-check", "--commit", "--push", "--mr-api"])
        .args(["--gitlab-url", &server.url, "--label", "bot/automerge"])
        .env("GITLAB_TOKEN", TOKEN);
        Run::of(c.output().unwrap()).ok()
    };

    let r = run("-v");
    assert_eq!(
        documents(&r).len(),
        2,
        "the promotion and the merge request"
    );
    assert!(!r.stdout.lines().any(is_event), "{}", r.stdout);
    let pushes = find(&r, "INFO", "qr_promote::upstream::git", "git -C ");
    assert!(
        pushes.iter().any(|l| l.contains(" push --porcelain ")
            && l.contains("exit=0")
            && l.contains("elapsed=")),
        "{}",
        r.stderr
    );
    let list = format!(
        "GET {}/api/v4/projects/group%2Fapp-interface/merge_requests?",
        server.url
    );
    let create = format!(
        "POST {}/api/v4/projects/group%2Fapp-interface/merge_requests",
        server.url
    );
    let gets = find(&r, "INFO", "qr_promote::http", &list);
    assert!(
        gets.iter()
            .any(|l| l.contains("status=200") && l.contains("elapsed=")),
        "{}",
        r.stderr
    );
    let posts = find(&r, "INFO", "qr_promote::http", &create);
    assert!(
        posts.iter().any(|l| l.contains("status=201")),
        "{}",
        r.stderr
    );
    assert!(
        find(&r, "DEBUG", "qr_promote", "").is_empty(),
        "-v shows no debug events: {}",
        r.stderr
    );
    assert!(!r.stdout.contains(TOKEN) && !r.stderr.contains(TOKEN));

    // Every event, the merge request updated: still no token, and the answers' sizes.
    let r = run("-vvv");
    documents(&r);
    assert!(
        find(&r, "DEBUG", "qr_promote::http", "PUT ")
            .iter()
            .any(|l| l.contains("answer_bytes=")),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains(TOKEN) && !r.stderr.contains(TOKEN));
    assert!(!r.stderr.to_ascii_lowercase().contains("private-token"));
}

#[test]
fn verbose_keeps_upstream_credentials_out_of_git_events() {
    use base64::Engine as _;
    let sb = Sandbox::example();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://bot:TOKEN-9f3e@127.0.0.1:{port}/app-sre/x.git");
    let r = sb.run(&[
        "-vvv",
        "plan",
        "--to",
        crate::support::NEW,
        "--upstream",
        &url,
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let fetches = find(&r, "INFO", "qr_promote::upstream::git", "git -C ");
    assert!(
        fetches
            .iter()
            .any(|l| l.contains(" fetch ") && !l.contains("exit=0")),
        "{}",
        r.stderr
    );
    let basic = base64::engine::general_purpose::STANDARD.encode("bot:TOKEN-9f3e");
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        !all.contains("TOKEN-9f3e") && !all.contains(&basic),
        "{all}"
    );
    assert!(!all.contains("GIT_CONFIG"), "no environment: {all}");
}

#[test]
fn verbose_leaves_the_json_document_on_stdout_alone() {
    let (sb, up) = world();
    let quiet = plan(&sb, &up, &["--json"], &[]).ok();
    let r = plan(&sb, &up, &["--json", "-vv"], &[]).ok();
    assert_eq!(documents(&r), documents(&quiet));
    assert!(!r.stdout.lines().any(is_event), "{}", r.stdout);
    assert!(
        !find(&r, "INFO", "qr_promote::upstream::git", "git -C ").is_empty()
            && !find(&r, "DEBUG", "qr_promote::upstream::git", "git ").is_empty(),
        "{}",
        r.stderr
    );
}

#[test]
fn rust_log_turns_events_on_without_verbose() {
    let (sb, up) = world();
    let r = plan(&sb, &up, &["--json"], &[("RUST_LOG", "qr_promote=debug")]).ok();
    documents(&r);
    assert!(
        !find(&r, "DEBUG", "qr_promote::upstream::git", "git ").is_empty(),
        "{}",
        r.stderr
    );
    // RUST_LOG names qr_promote: it wins over -v.
    let r = plan(&sb, &up, &["-vvv"], &[("RUST_LOG", "qr_promote=info")]).ok();
    assert!(!events(&r).is_empty());
    assert!(
        events(&r).iter().all(|l| l.contains(" INFO ")),
        "{}",
        r.stderr
    );
    // A directive that does not parse is named, and the others stand.
    let r = plan(
        &sb,
        &up,
        &[],
        &[("RUST_LOG", "qr_promote=loud,qr_promote::upstream=info")],
    )
    .ok();
    assert!(
        r.stderr
            .starts_with("warning: RUST_LOG: ignoring `qr_promote=loud`:"),
        "{}",
        r.stderr
    );
    assert!(!events(&r).is_empty(), "{}", r.stderr);
}

#[test]
fn without_verbose_stderr_has_no_event() {
    let (sb, up) = world();
    let quiet = plan(&sb, &up, &[], &[]).ok();
    assert!(events(&quiet).is_empty(), "{}", quiet.stderr);
    assert!(!quiet.stderr.contains("qr_promote::"), "{}", quiet.stderr);
    // -v only adds events: the output is the same without them.
    let loud = plan(&sb, &up, &["-v"], &[]).ok();
    assert!(!events(&loud).is_empty());
    let rest: Vec<&str> = loud.stderr.lines().filter(|l| !is_event(l)).collect();
    assert_eq!(rest, quiet.stderr.lines().collect::<Vec<_>>());
    assert_eq!(loud.stdout, quiet.stdout);
}

const KUBE_TOKEN: &str = "sha256~verbose-kube-token";
const PROD: &str = "/apis/apps/v1/namespaces/app-interface-production";

fn kube_server() -> KubeServer {
    let s = KubeServer::start();
    for (path, name) in [
        (
            format!("{PROD}/deployments"),
            "api/app-interface-production-deployments.json",
        ),
        (
            format!("{PROD}/statefulsets"),
            "api/app-interface-production-statefulsets.json",
        ),
        (
            "/apis/batch/v1/namespaces/app-interface-production/cronjobs".to_string(),
            "api/app-interface-production-cronjobs.json",
        ),
    ] {
        s.route(&path, 200, &verify_fixture(name));
    }
    s
}

#[test]
fn verbose_shows_kubernetes_calls_without_the_token() {
    let sb = Sandbox::example();
    let s = kube_server();
    let kc = s.write_kubeconfig(&sb.home(), KUBE_TOKEN);
    let kc = kc.to_str().unwrap();
    let args = [
        "verify",
        "--kubeconfig",
        kc,
        "--namespace",
        "app-interface-production",
    ];
    let quiet = sb.run(&args).ok();
    let r = sb.run(&[&["-vv"][..], &args].concat()).ok();
    assert_eq!(r.stdout, quiet.stdout);
    let url = format!("GET {}{PROD}/deployments", s.url());
    assert!(
        find(&r, "INFO", "qr_promote::cluster::kube", &url)
            .iter()
            .any(|l| l.contains("status=ok") && l.contains("elapsed=")),
        "{}",
        r.stderr
    );
    assert!(
        find(&r, "DEBUG", "qr_promote::cluster::kube", &url)
            .iter()
            .any(|l| l.contains("answer_bytes=")),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(KUBE_TOKEN) && !r.stdout.contains(KUBE_TOKEN));
}

#[test]
fn an_error_shows_its_causes_with_verbose_and_its_hint_always() {
    let sb = Sandbox::example();
    let s = kube_server();
    let kc = s.write_kubeconfig(&sb.home(), KUBE_TOKEN);
    let kc = kc.to_str().unwrap();
    let args = ["verify", "--kubeconfig", kc, "--context", "dead"];
    let quiet = sb.run(&args).code(1);
    let lines: Vec<&str> = quiet.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", quiet.stderr);
    assert!(
        lines[0].starts_with("error: cannot reach the Kubernetes API at http://127.0.0.1:"),
        "{}",
        quiet.stderr
    );
    assert!(
        lines[1].starts_with("hint: ")
            && lines[1].contains("kubectl config use-context")
            && lines[1].contains("oc login")
            && lines[1].contains("--from FILE"),
        "{}",
        quiet.stderr
    );

    let r = sb.run(&[&["-v"][..], &args].concat()).code(1);
    assert!(
        !find(
            &r,
            "INFO",
            "qr_promote::cluster::kube",
            "GET http://127.0.0.1:"
        )
        .is_empty(),
        "{}",
        r.stderr
    );
    let rest: Vec<&str> = r.stderr.lines().filter(|l| !is_event(l)).collect();
    let causes: Vec<&str> = rest
        .iter()
        .copied()
        .filter(|l| l.starts_with("caused by: "))
        .collect();
    assert!(!causes.is_empty(), "{}", r.stderr);
    // The message, its causes, then the hint.
    assert_eq!(rest.first(), lines.first(), "{}", r.stderr);
    assert_eq!(rest.last(), lines.last(), "{}", r.stderr);
    assert_eq!(rest.len(), 2 + causes.len(), "{}", r.stderr);
    assert!(!r.stderr.contains(KUBE_TOKEN));
    assert!(s.seen().is_empty());
}

#[test]
fn a_token_in_the_env_repository_url_is_never_printed() {
    let sb = Sandbox::example();
    let token = "ghp_0123456789abcdefSECRET";
    // The repository line right above the tag: it is both a context line of the diff and the
    // hunk header's context.
    let env = sb.read(".env").replace(
        "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\nexport RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\n# replace the above line if quay.io is down\n# export RECONCILE_IMAGE=mirror.example.org/app-sre/qontract-reconcile\nexport RECONCILE_IMAGE_TAG=a1b2c3d",
        &format!("export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\nexport RECONCILE_REPO=https://bot:{token}@github.com/app-sre/qontract-reconcile\nexport RECONCILE_IMAGE_TAG=a1b2c3d"),
    );
    assert!(env.contains(token));
    sb.write(".env", &env);
    for args in [
        &["plan", "--offline", "--to", NEW][..],
        &["--json", "plan", "--offline", "--to", NEW],
        &["status"],
        &["--json", "status"],
        &["-vv", "plan", "--offline", "--to", NEW],
    ] {
        let r = sb.run(args).ok();
        assert!(
            !r.stdout.contains(token) && !r.stderr.contains(token),
            "{args:?}:\n{}\n{}",
            r.stdout,
            r.stderr
        );
        if args.contains(&"plan") && !args.contains(&"--json") {
            assert!(
                r.stdout
                    .contains("export RECONCILE_REPO=https://[redacted]@github.com/app-sre/qontract-reconcile"),
                "{}",
                r.stdout
            );
        }
    }
}
