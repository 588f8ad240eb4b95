//! `qr-promote stage` against a Kubernetes-API-shaped server per cluster and a real Prometheus,
//! and from saved pods and logs.

use crate::support::kube_server::{write_kubeconfig_contexts, FakePod, KubeServer};
use crate::support::prometheus::Prometheus;
use crate::support::{pin_example, Run, Sandbox, Upstream};

pub const TOKEN: &str = "sha256~stage-secret-token-1234567890";
pub const STAGE_NS: &str = "app-interface-stage";
pub const PROD_NS: &str = "app-interface-production";
const IMAGE: &str = "quay.io/app-sre/qontract-reconcile";

/// The moment every test asks about.
pub fn at() -> i64 {
    humantime::parse_rfc3339("2026-12-08T12:00:00Z")
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
pub const AT: &str = "2026-12-08T12:00:00Z";

/// The fixture checkout with its upstream: commits a (production runs it), b, c (the newest).
pub struct World {
    pub sb: Sandbox,
    pub up: Upstream,
    pub a: String,
    pub b: String,
    pub c: String,
}

pub fn world() -> World {
    let sb = Sandbox::fixture("stage");
    let mut up = Upstream::new(&sb);
    let a = up.commit("Ann", "ann@example.org", "first (#1)");
    let b = up.commit("Bob", "bob@example.org", "second (#2)");
    let c = up.commit("Cy", "cy@example.org", "third (#3)");
    pin_example(&sb, &a);
    World { sb, up, a, b, c }
}

impl World {
    /// Runs the binary against the upstream, at [`AT`].
    pub fn run(&self, args: &[&str]) -> Run {
        let up = self.up.url();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--upstream", up.as_str(), "--at", AT]);
        self.sb.run(&all)
    }

    /// The output with the commits' short ids written `commitA`, `commitB`, `commitC`.
    pub fn named(&self, text: &str) -> String {
        text.replace(&self.a[..7], "commitA")
            .replace(&self.b[..7], "commitB")
            .replace(&self.c[..7], "commitC")
    }
}

/// A pod of a Deployment `object` of `integration`, container `int` running `tag` since
/// `started`, with `log` lines (minutes after the start, text).
pub fn pod(
    ns: &str,
    object: &str,
    integration: &str,
    tag: &str,
    started: i64,
    restarts: u32,
    log: Vec<(i64, String)>,
) -> FakePod {
    let rs = format!("{object}-5d9f7c8b4");
    let name = format!("{rs}-x{:04}", started.rem_euclid(10_000));
    let json = format!(
        r#"{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"{ns}","labels":{{"app":"qontract-reconcile-{integration}","component":"qontract-reconcile"}},"ownerReferences":[{{"kind":"ReplicaSet","name":"{rs}","controller":true}}]}},"spec":{{"containers":[{{"name":"int","image":"{IMAGE}:{tag}"}}]}},"status":{{"containerStatuses":[{{"name":"int","restartCount":{restarts},"state":{{"running":{{"startedAt":"{}"}}}}}}]}}}}"#,
        rfc3339(started)
    );
    FakePod {
        namespace: ns.to_string(),
        name,
        json,
        log,
    }
}

pub fn rfc3339(t: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64),
    )
    .to_string()
}

/// `lines` quiet log lines of an integration, one a minute from `started`, and the `extra` ones.
pub fn log(started: i64, lines: usize, extra: &[(i64, &str)]) -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> = (0..lines as i64)
        .map(|i| {
            let t = started + i * 10;
            (
                t,
                format!(
                    "[{}] [INFO] [run_integration.py:run:142] - run {i} done, 0 changes",
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64)
                    )
                    .to_string()
                    .replace('T', " ")
                    .trim_end_matches('Z')
                ),
            )
        })
        .collect();
    out.extend(extra.iter().map(|(t, l)| (*t, l.to_string())));
    out.sort_by_key(|(t, _)| *t);
    out
}

const H: i64 = 3600;

/// Stage's pods: github soaked on b, slack-usergroups young, jira-watcher with errors, gitlab-
/// owners quiet (its runs fail in Prometheus), gitlab-housekeeping shard 0 on b and shard 1 on a.
pub fn stage_pods(w: &World) -> Vec<FakePod> {
    let t = at();
    let (a, b) = (&w.a[..7], &w.b[..7]);
    let obj = |i: &str| format!("qontract-reconcile-{i}");
    let err_at = t - 2 * H;
    vec![
        pod(STAGE_NS, &obj("github"), "github", b, t - 3 * H, 0, log(t - 3 * H, 100, &[
            // Before the container started: not this run's.
            (t - 4 * H, "[2026-12-08 08:00:00] [ERROR] [run.py:run:1] - from the previous container"),
        ])),
        pod(STAGE_NS, &obj("slack-usergroups"), "slack-usergroups", b, t - 600, 0, log(t - 600, 20, &[])),
        pod(STAGE_NS, &obj("jira-watcher"), "jira-watcher", b, t - 3 * H, 2, log(t - 3 * H, 100, &[
            (err_at, "[2026-12-08 10:00:00] [ERROR] [run_integration.py:run:88] - Error running jira-watcher"),
            (err_at, "Traceback (most recent call last):"),
            (err_at, "  File \"/reconcile/jira_watcher.py\", line 42, in run"),
            (err_at, "KeyError: 'board'"),
        ])),
        pod(STAGE_NS, &obj("gitlab-owners"), "gitlab-owners", b, t - 3 * H, 0, log(t - 3 * H, 100, &[])),
        pod(STAGE_NS, &obj("gitlab-housekeeping-0"), "gitlab-housekeeping", b, t - 3 * H - 60, 0, log(t - 3 * H, 100, &[])),
        pod(STAGE_NS, &obj("gitlab-housekeeping-1"), "gitlab-housekeeping", a, t - 5 * H, 0, log(t - 5 * H, 100, &[])),
    ]
}

/// OpenMetrics history of the stage integrations: a run a minute for 3 hours, every last run
/// status 0 but gitlab-owners', 1 from two hours before [`AT`].
pub fn history() -> String {
    let t = at();
    let series = [
        ("github", "0", "1"),
        ("slack-usergroups", "0", "1"),
        ("jira-watcher", "0", "1"),
        ("gitlab-owners", "0", "1"),
        ("gitlab-housekeeping", "0", "2"),
        ("gitlab-housekeeping", "1", "2"),
    ];
    let mut out = String::new();
    out.push_str("# HELP qontract_reconcile_last_run_status Last run status\n");
    out.push_str("# TYPE qontract_reconcile_last_run_status gauge\n");
    for (i, id, n) in series {
        for m in 0..=180 {
            let ts = t - 3 * H + m * 60;
            let v = if i == "gitlab-owners" && ts >= t - 2 * H {
                1
            } else {
                0
            };
            out.push_str(&format!(
                "qontract_reconcile_last_run_status{{integration=\"{i}\",shard_id=\"{id}\",shards=\"{n}\"}} {v} {ts}\n"
            ));
        }
    }
    out.push_str("# HELP qontract_reconcile_execution_counter Runs started\n");
    out.push_str("# TYPE qontract_reconcile_execution_counter counter\n");
    for (i, id, n) in series {
        for m in 0..=180 {
            let ts = t - 3 * H + m * 60;
            out.push_str(&format!(
                "qontract_reconcile_execution_counter_total{{integration=\"{i}\",shard_id=\"{id}\",shards=\"{n}\"}} {m} {ts}\n"
            ));
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The paths a server was asked, without queries.
fn paths(s: &KubeServer) -> Vec<String> {
    s.seen()
        .iter()
        .map(|r| r.path.split('?').next().unwrap().to_string())
        .collect()
}

/// The stage cluster's API serving the world's pods, and a kubeconfig whose context
/// `stage-01` reaches it.
fn stage_api(w: &World) -> (KubeServer, String) {
    let stage = KubeServer::with_pods(stage_pods(w));
    let kc = write_kubeconfig_contexts(&w.sb.home(), TOKEN, &[("stage-01", &stage.url())]);
    (stage, kc.to_string_lossy().into_owned())
}

#[test]
fn stage_says_per_integration_whether_it_soaked_from_the_api_and_a_real_prometheus() {
    let w = world();
    let prom = Prometheus::with_history(&history());
    let (stage, kc) = stage_api(&w);
    let kc = kc.as_str();
    let r = w
        .run(&[
            "stage",
            &w.b[..7],
            "--kubeconfig",
            kc,
            "--prometheus",
            &prom.url,
        ])
        .code(3);
    assert_eq!(r.stderr, "");
    assert!(!r.stdout.contains(TOKEN));
    insta::assert_snapshot!(w.named(&r.stdout), @r#"
    stage for qontract-reconcile commitB, at 2026-12-08 12:00, soak 2h

      VERDICT      INTEGRATION            NAMESPACE            SINCE             FOR    RESTARTS  ERRORS      IMAGE
      soaked       github                 app-interface-stage  2026-12-08 09:00  3h     0         0           qontract-reconcile:commitB
      soaked       gitlab-housekeeping/0  app-interface-stage  2026-12-08 08:59  3h 1m  0         0           qontract-reconcile:commitB
      not-running  gitlab-housekeeping/1  app-interface-stage  -                 -      0         0           qontract-reconcile:commitA
          runs commitA, which does not contain commitB
      errors       gitlab-owners          app-interface-stage  2026-12-08 09:00  3h     0         failed run  qontract-reconcile:commitB
          | last run status 1 at 2026-12-08 10:00 (Prometheus)
      errors       jira-watcher           app-interface-stage  2026-12-08 09:00  3h     2         2           qontract-reconcile:commitB
          | [2026-12-08 10:00:00] [ERROR] [run_integration.py:run:88] - Error running jira-watcher
          | KeyError: 'board'
      young        slack-usergroups       app-interface-stage  2026-12-08 11:50  10m    0         0           qontract-reconcile:commitB
    note: stage runs on production data in dry-run mode: a change may never be exercised there

    stage has run commitB for 10m of the 2h asked; 6 objects: 2 soaked, 1 young, 2 errors, 1 not-running; errors in gitlab-owners, jira-watcher
    "#);

    // Every pod's log was asked from its container's start, with timestamps, capped.
    let logs: Vec<String> = stage
        .seen()
        .iter()
        .filter(|s| s.path.contains("/log?"))
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(logs.len(), 6, "{logs:?}");
    let github = logs
        .iter()
        .find(|l| l.contains("qontract-reconcile-github-"))
        .unwrap();
    assert!(
        github.contains(
            "container=int&timestamps=true&limitBytes=16777216&sinceTime=2026-12-08T09%3A00%3A00Z"
        ),
        "{github}"
    );
    for s in stage.seen() {
        assert_eq!(
            s.authorization.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }

    // The JSON: objects[] with what each one ran, since when, its errors and verdict.
    let r = w
        .run(&[
            "--json",
            "stage",
            &w.b[..7],
            "--kubeconfig",
            kc,
            "--prometheus",
            &prom.url,
        ])
        .code(3);
    let doc = r.json();
    let objects = doc["objects"].as_array().unwrap();
    let verdicts: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{} {} {}",
                o["integration"].as_str().unwrap(),
                o["shard"].as_str().unwrap_or("-"),
                o["verdict"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            "github - soaked",
            "gitlab-housekeeping 0 soaked",
            "gitlab-housekeeping 1 not-running",
            "gitlab-owners - errors",
            "jira-watcher - errors",
            "slack-usergroups - young",
        ]
    );
    let jira = &objects[4];
    assert_eq!(jira["errors"]["count"], 2);
    assert_eq!(jira["errors"]["first"][1], "KeyError: 'board'");
    assert_eq!(jira["restarts"], 2);
    assert_eq!(jira["since"], "2026-12-08T09:00:00Z");
    assert_eq!(objects[3]["last_run_status"], 1.0);
    assert_eq!(objects[3]["errors"]["count"], 1);
    assert_eq!(objects[0]["executions"], 180.0);
    assert_eq!(objects[0]["image"], format!("{IMAGE}:{}", &w.b[..7]));
}

#[test]
fn stage_from_saved_pods_and_logs() {
    let w = world();
    let pods = stage_pods(&w);
    let items: Vec<&str> = pods.iter().map(|p| p.json.as_str()).collect();
    w.sb.write(
        "saved/pods.json",
        &format!(
            r#"{{"kind":"List","apiVersion":"v1","items":[{}]}}"#,
            items.join(",")
        ),
    );
    for p in &pods {
        let text: String = p
            .log
            .iter()
            .map(|(t, l)| format!("{} {l}\n", rfc3339(*t)))
            .collect();
        w.sb.write(&format!("saved/logs/{}.log", p.name), &text);
    }
    let r = w
        .run(&[
            "stage",
            &w.b[..7],
            "--from",
            "saved/pods.json",
            "--logs",
            "saved/logs",
        ])
        .code(3);
    // Without Prometheus, gitlab-owners' failed runs are not seen: its logs are quiet.
    insta::assert_snapshot!(w.named(&r.stdout), @r#"
    stage for qontract-reconcile commitB, at 2026-12-08 12:00, soak 2h

      VERDICT      INTEGRATION            NAMESPACE            SINCE             FOR    RESTARTS  ERRORS  IMAGE
      soaked       github                 app-interface-stage  2026-12-08 09:00  3h     0         0       qontract-reconcile:commitB
      soaked       gitlab-housekeeping/0  app-interface-stage  2026-12-08 08:59  3h 1m  0         0       qontract-reconcile:commitB
      not-running  gitlab-housekeeping/1  app-interface-stage  -                 -      0         0       qontract-reconcile:commitA
          runs commitA, which does not contain commitB
      soaked       gitlab-owners          app-interface-stage  2026-12-08 09:00  3h     0         0       qontract-reconcile:commitB
      errors       jira-watcher           app-interface-stage  2026-12-08 09:00  3h     2         2       qontract-reconcile:commitB
          | [2026-12-08 10:00:00] [ERROR] [run_integration.py:run:88] - Error running jira-watcher
          | KeyError: 'board'
      young        slack-usergroups       app-interface-stage  2026-12-08 11:50  10m    0         0       qontract-reconcile:commitB
    note: judged by the logs alone (no --prometheus)
    note: stage runs on production data in dry-run mode: a change may never be exercised there

    stage has run commitB for 10m of the 2h asked; 6 objects: 3 soaked, 1 young, 1 errors, 1 not-running; errors in jira-watcher
    "#);

    // --for 5m: the young one has soaked too; the rest stays as it was.
    let r = w
        .run(&[
            "--json",
            "stage",
            &w.b[..7],
            "--from",
            "saved/pods.json",
            "--logs",
            "saved/logs",
            "--for",
            "5m",
        ])
        .code(3);
    assert_eq!(r.json()["objects"][5]["verdict"], "soaked");

    // A missing log is unknown, never soaked.
    std::fs::remove_file(w.sb.path(&format!("saved/logs/{}.log", pods[0].name))).unwrap();
    let r = w
        .run(&[
            "--json",
            "stage",
            &w.b[..7],
            "--integration",
            "github",
            "--from",
            "saved/pods.json",
            "--logs",
            "saved/logs",
        ])
        .code(3);
    assert_eq!(r.json()["objects"][0]["verdict"], "unknown");
    assert!(
        r.json()["objects"][0]["why"]
            .as_str()
            .unwrap()
            .starts_with("no log "),
        "{}",
        r.stdout
    );
}

#[test]
fn pods_are_listed_in_pages_by_label() {
    let w = world();
    let (stage, kc) = stage_api(&w);
    w.run(&["stage", &w.b[..7], "--kubeconfig", &kc]).code(3);
    let lists: Vec<String> = stage
        .seen()
        .iter()
        .filter(|s| {
            s.path
                .starts_with("/api/v1/namespaces/app-interface-stage/pods?")
        })
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(
        lists,
        [
            "/api/v1/namespaces/app-interface-stage/pods?labelSelector=component%3Dqontract-reconcile&limit=500",
            "/api/v1/namespaces/app-interface-stage/pods?labelSelector=component%3Dqontract-reconcile&limit=500&continue=4",
        ]
    );
    assert_eq!(paths(&stage).len(), 2 + 6);
}

/// `stage` with the API answering `status` to the pod list (or to one log), run against a
/// kubeconfig of the stage cluster.
fn stage_with_error(path: &str, status: u16) -> (World, Run) {
    let w = world();
    let stage = KubeServer::with_pods(stage_pods(&w));
    let path = path.replace(
        "POD",
        &stage_pods(&w)
            .into_iter()
            .find(|p| p.name.contains("github"))
            .unwrap()
            .name,
    );
    stage.route(
        &path,
        status,
        &format!(
            r#"{{"kind":"Status","apiVersion":"v1","status":"Failure","message":"answer {status} for {TOKEN}","code":{status}}}"#
        ),
    );
    let kc = write_kubeconfig_contexts(&w.sb.home(), TOKEN, &[("stage-01", &stage.url())]);
    let r = w.run(&["stage", &w.b[..7], "--kubeconfig", kc.to_str().unwrap()]);
    (w, r)
}

#[test]
fn api_errors_are_one_line_naming_what_failed_and_never_the_token() {
    let pods = "/api/v1/namespaces/app-interface-stage/pods";
    let log = "/api/v1/namespaces/app-interface-stage/pods/POD/log";
    for (path, status, want) in [
        (pods, 401, "error: http://127.0.0.1:PORT: unauthorized (401) listing the pods of namespace app-interface-stage: log in again or check the kubeconfig credentials"),
        (pods, 403, "error: forbidden (403) listing the pods of namespace app-interface-stage on http://127.0.0.1:PORT: answer 403 for [redacted]"),
        (pods, 404, "error: not found (404) listing the pods of namespace app-interface-stage on http://127.0.0.1:PORT: answer 404 for [redacted]"),
        (pods, 503, "error: http://127.0.0.1:PORT: listing the pods of namespace app-interface-stage failed (503): answer 503 for [redacted]"),
        (log, 500, "error: http://127.0.0.1:PORT: reading the log of pod app-interface-stage/POD failed (500): answer 500 for [redacted]"),
    ] {
        let (w, r) = stage_with_error(path, status);
        let r = r.code(1);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
        let first = r.stderr.lines().next().unwrap();
        let port = first.split("127.0.0.1:").nth(1).unwrap();
        let port: String = port.chars().take_while(char::is_ascii_digit).collect();
        let pod = stage_pods(&w)
            .into_iter()
            .find(|p| p.name.contains("github"))
            .unwrap()
            .name;
        assert_eq!(
            first.replace(&port, "PORT").replace(&pod, "POD"),
            want,
            "{status} {path}"
        );
        assert!(!r.stderr.contains(TOKEN), "{}", r.stderr);
    }
    // A log that is gone (404: the pod went away meanwhile) leaves its object unknown.
    let (_, r) = stage_with_error(log, 404);
    let r = r.code(3);
    assert!(r.stdout.contains("  unknown      github "), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("      not found (404) reading the log of pod"),
        "{}",
        r.stdout
    );
}

/// A pod of StatefulSet `sts` (its ordinal 0), container `int` running `tag` since `started`,
/// logging quietly once a minute.
pub fn statefulset_pod(ns: &str, sts: &str, tag: &str, started: i64) -> FakePod {
    let name = format!("{sts}-0");
    let json = format!(
        r#"{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"{ns}","labels":{{"component":"qontract-reconcile"}},"ownerReferences":[{{"kind":"StatefulSet","name":"{sts}","controller":true}}]}},"spec":{{"containers":[{{"name":"int","image":"{IMAGE}:{tag}"}}]}},"status":{{"containerStatuses":[{{"name":"int","restartCount":0,"state":{{"running":{{"startedAt":"{}"}}}}}}]}}}}"#,
        rfc3339(started)
    );
    FakePod {
        namespace: ns.to_string(),
        name,
        json,
        log: log(started, 30, &[]),
    }
}

/// Now, in seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Every object of the fixture's stage running `tag` since `started`, logging quietly.
pub fn clean_stage(tag: &str, started: i64) -> Vec<FakePod> {
    [
        "github",
        "gitlab-housekeeping-0",
        "gitlab-housekeeping-1",
        "gitlab-owners",
        "jira-watcher",
        "slack-usergroups",
    ]
    .iter()
    .map(|o| {
        let integration = o.trim_end_matches("-0").trim_end_matches("-1");
        pod(
            STAGE_NS,
            &format!("qontract-reconcile-{o}"),
            integration,
            tag,
            started,
            0,
            log(started, 30, &[]),
        )
    })
    .collect()
}

#[test]
fn a_prometheus_that_fails_is_one_line_naming_it_and_never_its_token() {
    let w = world();
    let pods = stage_pods(&w);
    let items: Vec<&str> = pods.iter().map(|p| p.json.as_str()).collect();
    w.sb.write(
        "saved/pods.json",
        &format!(r#"{{"kind":"List","items":[{}]}}"#, items.join(",")),
    );
    // An error answer quoting the token it was sent.
    let token = "prom-secret-token-12345";
    let prom = crate::support::http_server::serve(move |_, _| {
        crate::support::http_server::Response::status(503).json(&format!(
            r#"{{"status":"error","errorType":"unavailable","error":"overloaded, token {token}"}}"#
        ))
    });
    let up = w.up.url();
    let mut c = w.sb.cmd();
    c.env("QR_PROMOTE_PROMETHEUS_TOKEN", token).args([
        "stage",
        &w.b[..7],
        "--from",
        "saved/pods.json",
        "--prometheus",
        &prom.url,
        "--upstream",
        &up,
        "--at",
        AT,
    ]);
    let r = Run::of(c.output().unwrap()).code(1);
    let first = r.stderr.lines().next().unwrap();
    assert_eq!(
        first.replace(&prom.port.to_string(), "PORT"),
        "error: Prometheus http://127.0.0.1:PORT/api/v1/query: HTTP 503: overloaded, token [redacted]"
    );
    assert!(!r.stderr.contains(token));
    assert_eq!(
        prom.requests()[0].header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );

    // Nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = w
        .run(&[
            "stage",
            &w.b[..7],
            "--from",
            "saved/pods.json",
            "--prometheus",
            &format!("http://127.0.0.1:{closed}"),
        ])
        .code(1);
    assert!(
        r.stderr.starts_with(&format!(
            "error: Prometheus http://127.0.0.1:{closed}/api/v1/query: no answer: "
        )),
        "{}",
        r.stderr
    );
    // Plain http to another host is refused before anything is sent.
    let r = w
        .run(&[
            "stage",
            "--from",
            "saved/pods.json",
            "--prometheus",
            "http://prometheus.example.org",
        ])
        .code(1);
    assert!(
        r.stderr
            .starts_with("error: --prometheus http://prometheus.example.org: "),
        "{}",
        r.stderr
    );
}

#[test]
fn the_stage_clusters_file_names_the_prometheus_asked() {
    let w = world();
    let prom = Prometheus::with_history(&history());
    let (_stage, kc) = stage_api(&w);
    let kc = kc.as_str();
    // The cluster file's `prometheusUrl`, as app-interface writes it, stands for --prometheus.
    let rel = "data/openshift/stage-01/cluster.yml";
    let text = w.sb.read(rel);
    w.sb.write(rel, &format!("{text}prometheusUrl: {}\n", prom.url));
    let r = w.run(&["stage", &w.b[..7], "--kubeconfig", kc]).code(3);
    assert!(
        r.stdout
            .contains("| last run status 1 at 2026-12-08 10:00 (Prometheus)"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("no --prometheus"), "{}", r.stdout);
}
