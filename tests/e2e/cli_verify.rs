//! `qr-promote verify` end to end: the example checkout after a promotion with a pinned shard,
//! live lists from a file or stdin, every verdict, `--json`, bad input, and the Kubernetes API
//! source through a kubeconfig, with `--wait`.

use std::time::{Duration, Instant};

use crate::support::kube_server::{verify_fixture, KubeServer};
use crate::support::{Run, Sandbox, NEW};

const TOKEN: &str = "sha256~verify-cli-token";
const OLD: &str = "quay.io/app-sre/qontract-reconcile:a1b2c3d";
const PROMOTED: &str = "quay.io/app-sre/qontract-reconcile:1234567";
const PINNED: &str = "quay.io/app-sre/qontract-reconcile:f929a38";

const PROD_DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/app-interface-production/deployments";
const PROD_STATEFULSETS: &str = "/apis/apps/v1/namespaces/app-interface-production/statefulsets";
const PROD_CRONJOBS: &str = "/apis/batch/v1/namespaces/app-interface-production/cronjobs";
const STAGE_DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/app-interface-stage/deployments";
const STAGE_STATEFULSETS: &str = "/apis/apps/v1/namespaces/app-interface-stage/statefulsets";
const STAGE_CRONJOBS: &str = "/apis/batch/v1/namespaces/app-interface-stage/cronjobs";

/// The example checkout promoted to `NEW` (production moves to 1234567, ter-int-dev stays pinned).
fn promoted() -> Sandbox {
    let sb = Sandbox::example();
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    sb
}

/// Writes `live.json` into the checkout: the concatenated fixtures, as a shell loop over
/// `oc get deployments,statefulsets,cronjobs -n NS -o json` prints them.
fn write_live(sb: &Sandbox, fixtures: &[&str]) {
    let text: String = fixtures.iter().map(|f| verify_fixture(f)).collect();
    sb.write("live.json", &text);
}

/// The table row of the object `name` in namespace `ns`.
fn row<'a>(out: &'a str, ns: &str, name: &str) -> &'a str {
    let section = out
        .split("\n\n")
        .find(|s| s.starts_with(&format!("namespace {ns}\n")))
        .unwrap_or_else(|| panic!("no namespace {ns}:\n{out}"));
    section
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == name))
        .unwrap_or_else(|| panic!("no row {name} in {ns}:\n{out}"))
}

/// The names on the rows whose verdict is `verdict`.
fn names_with(out: &str, verdict: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.strip_prefix("  ").is_some_and(|l| l.starts_with(verdict)))
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("qontract-reconcile-"))
        })
        .map(str::to_string)
        .collect()
}

/// One error line starting with `starts` (hints may follow), nothing on stdout.
fn assert_one_error_line(r: &Run, starts: &str) {
    assert!(r.stdout.is_empty(), "stdout: {}", r.stdout);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let lines = r.stderr.lines().filter(|l| !l.starts_with("hint: "));
    assert_eq!(lines.count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.starts_with(&format!("error: {starts}")),
        "expected `error: {starts}…`, got: {}",
        r.stderr
    );
}

#[test]
fn after_a_promotion_verify_names_the_objects_on_the_old_image_then_passes() {
    let sb = promoted();
    write_live(
        &sb,
        &[
            "example/production-promoted-partly.json",
            "example/stage.json",
        ],
    );
    let r = verify_live(&sb, &[]).code(3);
    assert_eq!(r.stderr, "", "differences are the report, not an error");
    assert_eq!(
        names_with(&r.stdout, "wrong image"),
        [
            "qontract-reconcile-gitlab-housekeeping-2",
            "qontract-reconcile-aws-iam-keys"
        ]
    );
    for name in [
        "qontract-reconcile-gitlab-housekeeping-2",
        "qontract-reconcile-aws-iam-keys",
    ] {
        let line = row(&r.stdout, "app-interface-production", name);
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[cols.len() - 2..], [PROMOTED, OLD], "{line}");
    }
    let pinned = row(
        &r.stdout,
        "app-interface-production",
        "qontract-reconcile-terraform-resources-ter-int-dev",
    );
    assert!(
        pinned.starts_with("  ok ") && pinned.ends_with(&format!("{PINNED}  {PINNED}  pinned")),
        "{pinned}"
    );
    insta::assert_snapshot!(r.stdout, @r#"
    namespace app-interface-production
      VERDICT      KIND         NAME                                                EXPECTED                                    ACTUAL                                      PINNED
      ok           Deployment   qontract-reconcile-gitlab-housekeeping-0            quay.io/app-sre/qontract-reconcile:1234567  quay.io/app-sre/qontract-reconcile:1234567
      ok           Deployment   qontract-reconcile-gitlab-housekeeping-1            quay.io/app-sre/qontract-reconcile:1234567  quay.io/app-sre/qontract-reconcile:1234567
      wrong image  Deployment   qontract-reconcile-gitlab-housekeeping-2            quay.io/app-sre/qontract-reconcile:1234567  quay.io/app-sre/qontract-reconcile:a1b2c3d
      ok           StatefulSet  qontract-reconcile-terraform-resources-app-sre      quay.io/app-sre/qontract-reconcile:1234567  quay.io/app-sre/qontract-reconcile:1234567
      ok           StatefulSet  qontract-reconcile-terraform-resources-ter-int-dev  quay.io/app-sre/qontract-reconcile:f929a38  quay.io/app-sre/qontract-reconcile:f929a38  pinned
      wrong image  CronJob      qontract-reconcile-aws-iam-keys                     quay.io/app-sre/qontract-reconcile:1234567  quay.io/app-sre/qontract-reconcile:a1b2c3d

    namespace app-interface-stage
      VERDICT      KIND         NAME                                                EXPECTED                                    ACTUAL                                      PINNED
      ok           StatefulSet  qontract-reconcile-terraform-resources-app-sre      quay.io/app-sre/qontract-reconcile:master   quay.io/app-sre/qontract-reconcile:master
      ok           StatefulSet  qontract-reconcile-terraform-resources-ter-int-dev  quay.io/app-sre/qontract-reconcile:master   quay.io/app-sre/qontract-reconcile:master

    8 objects: 6 ok, 2 wrong image
    "#);

    write_live(
        &sb,
        &["example/production-promoted.json", "example/stage.json"],
    );
    let r = verify_live(&sb, &[]).ok();
    assert!(
        names_with(&r.stdout, "wrong image").is_empty(),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("\n8 objects: 8 ok\n"), "{}", r.stdout);
    assert_eq!(r.stderr, "");
}

#[test]
fn from_stdin_reads_concatenated_lists() {
    let sb = promoted();
    let input =
        verify_fixture("example/production-promoted.json") + &verify_fixture("example/stage.json");
    let r = sb
        .run_with_stdin(&["verify", "--from", "-"], input.as_bytes())
        .ok();
    assert!(r.stdout.ends_with("\n8 objects: 8 ok\n"), "{}", r.stdout);
    // Only the production list: the stage objects are missing and the namespace has a note.
    let input = verify_fixture("example/production-promoted.json");
    let r = sb
        .run_with_stdin(&["verify", "--from", "-"], input.as_bytes())
        .code(3);
    assert_eq!(
        names_with(&r.stdout, "missing"),
        [
            "qontract-reconcile-terraform-resources-app-sre",
            "qontract-reconcile-terraform-resources-ter-int-dev"
        ]
    );
    assert!(
        r.stdout.contains(
            "note: namespace app-interface-stage: no Deployment, StatefulSet or CronJob found"
        ),
        "{}",
        r.stdout
    );
    let r = sb
        .run_with_stdin(&["verify", "--from", "-"], b"oops")
        .code(1);
    assert_one_error_line(&r, "stdin: not JSON");
}

#[test]
fn every_verdict_is_reported_in_the_table() {
    let sb = Sandbox::example();
    sb.write("live.json", &verify_fixture("example/verdicts.json"));
    let r = verify_live(&sb, &[]).code(3);
    for (verdict, names) in [
        (
            "ok ",
            &[
                "qontract-reconcile-gitlab-housekeeping-0",
                "qontract-reconcile-terraform-resources-ter-int-dev",
                "qontract-reconcile-terraform-resources-app-sre",
                "qontract-reconcile-terraform-resources-ter-int-dev",
            ][..],
        ),
        (
            "wrong image",
            &["qontract-reconcile-gitlab-housekeeping-1"][..],
        ),
        (
            "rolling out",
            &["qontract-reconcile-gitlab-housekeeping-2"][..],
        ),
        (
            "unexpected",
            &[
                "qontract-reconcile-gitlab-housekeeping-3",
                "qontract-reconcile-github-users",
            ][..],
        ),
        (
            "no int container",
            &["qontract-reconcile-terraform-resources-app-sre"][..],
        ),
        ("missing", &["qontract-reconcile-aws-iam-keys"][..]),
    ] {
        assert_eq!(names_with(&r.stdout, verdict), names, "{verdict}");
    }
    insta::assert_snapshot!(r.stdout, @r#"
    namespace app-interface-production
      VERDICT           KIND         NAME                                                EXPECTED                                    ACTUAL                                      PINNED
      ok                Deployment   qontract-reconcile-gitlab-housekeeping-0            quay.io/app-sre/qontract-reconcile:a1b2c3d  quay.io/app-sre/qontract-reconcile:a1b2c3d
      wrong image       Deployment   qontract-reconcile-gitlab-housekeeping-1            quay.io/app-sre/qontract-reconcile:a1b2c3d  quay.io/app-sre/qontract-reconcile:0ld0ld0
      rolling out       Deployment   qontract-reconcile-gitlab-housekeeping-2            quay.io/app-sre/qontract-reconcile:a1b2c3d  quay.io/app-sre/qontract-reconcile:a1b2c3d  (0/1 replicas updated)
      unexpected        Deployment   qontract-reconcile-gitlab-housekeeping-3            -                                           quay.io/app-sre/qontract-reconcile:a1b2c3d
      no int container  StatefulSet  qontract-reconcile-terraform-resources-app-sre      quay.io/app-sre/qontract-reconcile:a1b2c3d  -
      ok                StatefulSet  qontract-reconcile-terraform-resources-ter-int-dev  quay.io/app-sre/qontract-reconcile:f929a38  quay.io/app-sre/qontract-reconcile:f929a38  pinned
      missing           CronJob      qontract-reconcile-aws-iam-keys                     quay.io/app-sre/qontract-reconcile:a1b2c3d  -

    namespace app-interface-stage
      VERDICT           KIND         NAME                                                EXPECTED                                    ACTUAL                                      PINNED
      ok                StatefulSet  qontract-reconcile-terraform-resources-app-sre      quay.io/app-sre/qontract-reconcile:master   quay.io/app-sre/qontract-reconcile:master
      ok                StatefulSet  qontract-reconcile-terraform-resources-ter-int-dev  quay.io/app-sre/qontract-reconcile:master   quay.io/app-sre/qontract-reconcile:master
      unexpected        CronJob      qontract-reconcile-github-users                     -                                           quay.io/app-sre/qontract-reconcile:master

    10 objects: 4 ok, 1 wrong image, 1 missing, 1 rolling out, 1 no int container, 2 unexpected
    "#);
}

#[test]
fn json_report_has_the_documented_shape() {
    let sb = Sandbox::example();
    sb.write("live.json", &verify_fixture("example/verdicts.json"));
    let r = sb.run(&["--json", "verify", "--from", "live.json"]).code(3);
    assert_eq!(r.stderr, "");
    let v = r.json();
    assert_eq!(v["ok"], false);
    assert_eq!(
        v["summary"],
        "10 objects: 4 ok, 1 wrong image, 1 missing, 1 rolling out, 1 no int container, 2 unexpected"
    );
    assert_eq!(v["empty_namespaces"], serde_json::json!([]));
    assert_eq!(v["notes"], serde_json::json!([]));
    let objects = v["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 10);
    let by_name = |ns: &str, name: &str| {
        objects
            .iter()
            .find(|o| o["namespace"] == ns && o["name"] == name)
            .unwrap_or_else(|| panic!("{ns}/{name} in {objects:#?}"))
            .clone()
    };
    let prod = "app-interface-production";
    assert_eq!(
        by_name(prod, "qontract-reconcile-gitlab-housekeeping-1"),
        serde_json::json!({
            "namespace": prod,
            "kind": "Deployment",
            "name": "qontract-reconcile-gitlab-housekeeping-1",
            "verdict": {
                "status": "wrong_image",
                "expected": OLD,
                "actual": "quay.io/app-sre/qontract-reconcile:0ld0ld0"
            },
            "expected_image": OLD,
            "actual_image": "quay.io/app-sre/qontract-reconcile:0ld0ld0",
            "pinned": false,
            "integration": "gitlab-housekeeping",
            "shard": "1"
        })
    );
    let pinned = by_name(prod, "qontract-reconcile-terraform-resources-ter-int-dev");
    assert_eq!(pinned["verdict"], serde_json::json!({"status": "ok"}));
    assert_eq!(pinned["pinned"], true);
    assert_eq!(pinned["shard"], "ter-int-dev");
    assert_eq!(pinned["kind"], "StatefulSet");
    assert_eq!(
        by_name(prod, "qontract-reconcile-gitlab-housekeeping-2")["verdict"],
        serde_json::json!({"status": "rolling_out", "why": "0/1 replicas updated"})
    );
    let missing = by_name(prod, "qontract-reconcile-aws-iam-keys");
    assert_eq!(missing["verdict"], serde_json::json!({"status": "missing"}));
    assert_eq!(missing["kind"], "CronJob");
    assert_eq!(missing["actual_image"], serde_json::Value::Null);
    assert_eq!(
        by_name(prod, "qontract-reconcile-terraform-resources-app-sre")["verdict"],
        serde_json::json!({"status": "no_int_container"})
    );
    let unexpected = by_name("app-interface-stage", "qontract-reconcile-github-users");
    assert_eq!(
        unexpected["verdict"],
        serde_json::json!({"status": "unexpected"})
    );
    assert_eq!(unexpected["expected_image"], serde_json::Value::Null);
    assert_eq!(unexpected["integration"], serde_json::Value::Null);

    // All ok: `ok` is true and the exit status 0.
    let sb = promoted();
    write_live(
        &sb,
        &["example/production-promoted.json", "example/stage.json"],
    );
    let v = sb
        .run(&["--json", "verify", "--from", "live.json"])
        .ok()
        .json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["summary"], "8 objects: 8 ok");
}

#[test]
fn integration_and_namespace_narrow_the_check() {
    let sb = Sandbox::example();
    sb.write("live.json", &verify_fixture("example/verdicts.json"));
    // Stage's terraform-resources objects are fine; the unexpected CronJob there is named after
    // another integration and does not count.
    for ns in [
        "app-interface-stage",
        "data/services/app-interface/namespaces/app-interface-stage.yml",
        "/services/app-interface/namespaces/app-interface-stage.yml",
    ] {
        let r = verify_live(
            &sb,
            &["--integration", "terraform-resources", "--namespace", ns],
        )
        .ok();
        assert!(
            !r.stdout.contains("app-interface-production"),
            "{}",
            r.stdout
        );
        assert!(!r.stdout.contains("github-users"), "{}", r.stdout);
        assert!(
            r.stdout.ends_with("\n2 objects: 2 ok\n"),
            "{ns}: {}",
            r.stdout
        );
    }
    // gitlab-housekeeping alone: its leftover shard 3 is unexpected, terraform-resources is not
    // looked at.
    let r = verify_live(&sb, &["--integration", "gitlab-housekeeping"]).code(3);
    assert_eq!(
        names_with(&r.stdout, "unexpected"),
        ["qontract-reconcile-gitlab-housekeeping-3"]
    );
    assert!(!r.stdout.contains("terraform-resources"), "{}", r.stdout);
    assert!(
        r.stdout
            .ends_with("\n4 objects: 1 ok, 1 wrong image, 1 rolling out, 1 unexpected\n"),
        "{}",
        r.stdout
    );
    // Two namespaces given: both are checked.
    let r = verify_live(
        &sb,
        &[
            "--namespace",
            "app-interface-stage",
            "--namespace",
            "app-interface-production",
        ],
    )
    .code(3);
    assert!(
        r.stdout.ends_with("\n10 objects: 4 ok, 1 wrong image, 1 missing, 1 rolling out, 1 no int container, 2 unexpected\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn unknown_namespace_or_integration_is_an_error_with_a_suggestion() {
    let sb = Sandbox::example();
    sb.write("live.json", &verify_fixture("example/verdicts.json"));
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "live.json",
            "--namespace",
            "app-interface-prod",
            "--namespace app-interface-prod: unknown namespace (did you mean app-interface-production, app-interface-stage?)",
        ),
        (
            "live.json",
            "--namespace",
            "nowhere",
            "--namespace nowhere: unknown namespace; known: app-interface-production, app-interface-stage",
        ),
        (
            "live.json",
            "--namespace",
            "observability-production",
            "--namespace observability-production: the checkout runs no integration in this namespace; they run in: app-interface-production, app-interface-stage",
        ),
        (
            "live.json",
            "--integration",
            "terraform",
            "--integration terraform: unknown integration (did you mean terraform-resources?)",
        ),
        // Checked before the live state is read.
        (
            "nope.json",
            "--integration",
            "zzz",
            "--integration zzz: unknown integration; known: aws-iam-keys, gitlab-housekeeping, integrations-manager, terraform-resources",
        ),
    ];
    for (from, flag, value, error) in cases {
        let r = sb.run(&["verify", "--from", from, flag, value]).code(1);
        assert_one_error_line(&r, error);
    }
}

#[test]
fn a_checkout_that_runs_no_integration_has_nothing_to_verify() {
    let sb = Sandbox::example();
    sb.write("live.json", &verify_fixture("example/verdicts.json"));
    sb.write(
        "data/integrations/unmanaged.yml",
        "$schema: /app-sre/integration-1.yml\nname: unmanaged\nmanaged: []\n",
    );
    let r = verify_live(&sb, &["--integration", "unmanaged"]).code(1);
    assert_eq!(
        r.stderr,
        "error: nothing to verify: integration unmanaged runs in no namespace\n\
         hint: integrations are the files of `$schema: /app-sre/integration-1.yml` with `managed` namespaces\n"
    );
    std::fs::remove_dir_all(sb.path("data/integrations")).unwrap();
    let r = verify_live(&sb, &[]).code(1);
    assert!(
        r.stderr.starts_with(
            "error: nothing to verify: the checkout runs no integration in any namespace\n"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[test]
fn objects_the_checkout_cannot_list_are_a_warning_not_unexpected() {
    let sb = Sandbox::example();
    sb.write("live.json", &verify_fixture("example/verdicts.json"));
    // github-users runs in stage with a sharding strategy the model does not know: its live
    // object there is not reported as unexpected, and the model's warning says why.
    sb.write(
        "data/integrations/github-users.yml",
        "$schema: /app-sre/integration-1.yml\nname: github-users\nmanaged:\n- namespace:\n    $ref: /services/app-interface/namespaces/app-interface-stage.yml\n  sharding:\n    strategy: per-moon-phase\n",
    );
    let r = verify_live(&sb, &["--namespace", "app-interface-stage"]).ok();
    assert_eq!(
        r.stderr,
        "warning: data/integrations/github-users.yml:7: sharding strategy \"per-moon-phase\" is not known; \
         the objects of github-users in data/services/app-interface/namespaces/app-interface-stage.yml are not listed\n"
    );
    assert!(
        names_with(&r.stdout, "unexpected").is_empty(),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("\n2 objects: 2 ok\n"), "{}", r.stdout);
}

#[test]
fn bad_live_files_are_one_line_errors_naming_the_file() {
    let sb = Sandbox::example();
    sb.write("not-a-list.json", &verify_fixture("not-a-list.json"));
    sb.write("garbage.json", "<html>login</html>");
    sb.write("array.json", "[1, 2]");
    sb.write("empty.json", "");
    sb.write("truncated.json", "{\"kind\": \"List\", \"items\": [");
    sb.write_bytes(
        "latin1.json",
        b"{\"kind\": \"List\", \"items\": [], \"x\": \"\xe9\"}",
    );
    for (file, starts) in [
        (
            "not-a-list.json",
            "not-a-list.json: not a Kubernetes list: found kind `Deployment`",
        ),
        ("garbage.json", "garbage.json: not JSON"),
        (
            "array.json",
            "array.json: not a Kubernetes list: found a JSON array",
        ),
        ("empty.json", "empty.json: empty input"),
        ("truncated.json", "truncated.json: not JSON"),
        (
            "latin1.json",
            "latin1.json: not JSON: the bytes are not UTF-8 text",
        ),
        ("missing.json", "missing.json: No such file or directory"),
        ("data", "data: Is a directory"),
    ] {
        let r = sb.run(&["verify", "--from", file]).code(1);
        assert_one_error_line(&r, starts);
    }
}

#[test]
fn wait_interval_and_durations_are_checked_on_the_command_line() {
    let sb = Sandbox::example();
    for (args, says) in [
        (
            &["verify", "--from", "live.json", "--wait", "1m"][..],
            "the argument '--from <FILE|->' cannot be used with '--wait <DURATION>'",
        ),
        (
            &["verify", "--from", "live.json", "--kubeconfig", "kc.yaml"][..],
            "the argument '--from <FILE|->' cannot be used with '--kubeconfig <PATH>'",
        ),
        (
            &["verify", "--interval", "1s"][..],
            "the following required arguments were not provided:\n  --wait <DURATION>",
        ),
        (
            &["verify", "--wait", "90"][..],
            "invalid value '90' for '--wait <DURATION>': \"90\" has no unit; give a number and a unit, e.g. 90s, 5m, 1h or 500ms",
        ),
        (
            &["verify", "--wait", "2d"][..],
            "invalid value '2d' for '--wait <DURATION>': \"2d\": give at most 24h",
        ),
        (
            &["verify", "--wait", "5x"][..],
            "invalid value '5x' for '--wait <DURATION>': \"5x\" is not a duration (unknown time unit \"x\"",
        ),
        (
            &["verify", "--wait", "1m", "--interval", "0s"][..],
            "invalid value '0s' for '--interval <DURATION>': the time between checks must be more than 0",
        ),
    ] {
        let r = sb.run(args).code(2);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
        assert!(
            r.stderr.starts_with(&format!("error: {says}")),
            "{args:?}: {}",
            r.stderr
        );
    }
}

/// A server answering the example's two namespaces, everything as the checkout says.
fn example_server() -> KubeServer {
    let s = KubeServer::start();
    s.route_fixture(
        PROD_DEPLOYMENTS,
        "api/app-interface-production-deployments.json",
    );
    s.route_fixture(
        PROD_STATEFULSETS,
        "api/app-interface-production-statefulsets.json",
    );
    s.route_fixture(PROD_CRONJOBS, "api/app-interface-production-cronjobs.json");
    s.route_fixture(STAGE_DEPLOYMENTS, "api/empty-deployments.json");
    s.route_fixture(
        STAGE_STATEFULSETS,
        "api/app-interface-stage-statefulsets.json",
    );
    s.route_fixture(STAGE_CRONJOBS, "api/empty-cronjobs.json");
    s
}

fn ok_answer(name: &str) -> (u16, String) {
    (200, verify_fixture(name))
}

const ROLLING: &str = "api/app-interface-production-deployments-rolling.json";
const ROLLED: &str = "api/app-interface-production-deployments.json";
const ROLLOUT_DONE: &str = "app-interface-production/Deployment/qontract-reconcile-gitlab-housekeeping-1: rolling out (observed generation 4 < generation 5) -> ok";

/// The request paths the server saw, without queries.
/// `qr-promote verify --from live.json ARGS...`.
fn verify_live(sb: &Sandbox, args: &[&str]) -> Run {
    let all: Vec<&str> = ["verify", "--from", "live.json"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    sb.run(&all)
}

/// `qr-promote PRE... verify --kubeconfig KC ARGS...`.
fn verify_kc(sb: &Sandbox, kc: &std::path::Path, pre: &[&str], args: &[&str]) -> Run {
    let kc = kc.to_str().unwrap();
    let all: Vec<&str> = pre
        .iter()
        .copied()
        .chain(["verify", "--kubeconfig", kc])
        .chain(args.iter().copied())
        .collect();
    sb.run(&all)
}

fn paths(s: &KubeServer) -> Vec<String> {
    s.seen()
        .iter()
        .map(|r| r.path.split('?').next().unwrap().to_string())
        .collect()
}

#[test]
fn api_source_lists_each_namespace_through_the_kubeconfig() {
    let sb = Sandbox::example();
    let s = example_server();
    let kc = s.write_kubeconfig(&sb.home(), TOKEN);
    let r = verify_kc(&sb, &kc, &[], &[]).ok();
    assert_eq!(r.stderr, "");
    insta::assert_snapshot!(r.stdout, @r#"
    namespace app-interface-production
      VERDICT  KIND         NAME                                                EXPECTED                                    ACTUAL                                      PINNED
      ok       Deployment   qontract-reconcile-gitlab-housekeeping-0            quay.io/app-sre/qontract-reconcile:a1b2c3d  quay.io/app-sre/qontract-reconcile:a1b2c3d
      ok       Deployment   qontract-reconcile-gitlab-housekeeping-1            quay.io/app-sre/qontract-reconcile:a1b2c3d  quay.io/app-sre/qontract-reconcile:a1b2c3d
      ok       Deployment   qontract-reconcile-gitlab-housekeeping-2            quay.io/app-sre/qontract-reconcile:a1b2c3d  quay.io/app-sre/qontract-reconcile:a1b2c3d
      ok       StatefulSet  qontract-reconcile-terraform-resources-app-sre      quay.io/app-sre/qontract-reconcile:a1b2c3d  quay.io/app-sre/qontract-reconcile:a1b2c3d
      ok       StatefulSet  qontract-reconcile-terraform-resources-ter-int-dev  quay.io/app-sre/qontract-reconcile:f929a38  quay.io/app-sre/qontract-reconcile:f929a38  pinned
      ok       CronJob      qontract-reconcile-aws-iam-keys                     quay.io/app-sre/qontract-reconcile:a1b2c3d  quay.io/app-sre/qontract-reconcile:a1b2c3d

    namespace app-interface-stage
      VERDICT  KIND         NAME                                                EXPECTED                                    ACTUAL                                      PINNED
      ok       StatefulSet  qontract-reconcile-terraform-resources-app-sre      quay.io/app-sre/qontract-reconcile:master   quay.io/app-sre/qontract-reconcile:master
      ok       StatefulSet  qontract-reconcile-terraform-resources-ter-int-dev  quay.io/app-sre/qontract-reconcile:master   quay.io/app-sre/qontract-reconcile:master

    8 objects: 8 ok
    "#);
    assert_eq!(
        paths(&s),
        [
            PROD_DEPLOYMENTS,
            PROD_STATEFULSETS,
            PROD_CRONJOBS,
            STAGE_DEPLOYMENTS,
            STAGE_STATEFULSETS,
            STAGE_CRONJOBS
        ]
    );
    for r in s.seen() {
        assert_eq!(r.method, "GET");
        assert_eq!(r.authorization, Some(format!("Bearer {TOKEN}")));
    }

    // KUBECONFIG is honoured, and --namespace asks only that namespace.
    let r = Run::of(
        sb.cmd()
            .env("KUBECONFIG", &kc)
            .args(["verify", "--namespace", "app-interface-stage"])
            .output()
            .unwrap(),
    )
    .ok();
    assert!(r.stdout.ends_with("\n2 objects: 2 ok\n"), "{}", r.stdout);
    assert_eq!(
        paths(&s)[6..],
        [STAGE_DEPLOYMENTS, STAGE_STATEFULSETS, STAGE_CRONJOBS]
    );

    // --context picks another cluster: unreachable, exit 1 naming the server.
    let r = verify_kc(&sb, &kc, &[], &["--context", "dead"]).code(1);
    assert_one_error_line(&r, "cannot reach the Kubernetes API at http://127.0.0.1:");
    assert_eq!(s.seen().len(), 9, "nothing more asked of the live server");
}

#[test]
fn api_rollout_in_progress_exits_3() {
    let sb = Sandbox::example();
    let s = example_server();
    s.route_fixture(PROD_DEPLOYMENTS, ROLLING);
    let kc = s.write_kubeconfig(&sb.home(), TOKEN);
    let r = verify_kc(&sb, &kc, &[], &[]).code(3);
    assert_eq!(
        names_with(&r.stdout, "rolling out"),
        ["qontract-reconcile-gitlab-housekeeping-1"]
    );
    assert!(
        row(
            &r.stdout,
            "app-interface-production",
            "qontract-reconcile-gitlab-housekeeping-1"
        )
        .ends_with("(observed generation 4 < generation 5)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with("\n8 objects: 7 ok, 1 rolling out\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn api_forbidden_namespace_is_named() {
    let sb = Sandbox::example();
    let s = example_server();
    s.route(
        STAGE_STATEFULSETS,
        403,
        &verify_fixture("api/status-403.json"),
    );
    let kc = s.write_kubeconfig(&sb.home(), TOKEN);
    let r = verify_kc(&sb, &kc, &[], &[]).code(1);
    assert_one_error_line(
        &r,
        "forbidden (403) to list statefulsets in namespace app-interface-stage on http://127.0.0.1:",
    );
}

#[test]
fn wait_prints_the_first_report_then_only_what_changed() {
    let sb = Sandbox::example();
    let s = example_server();
    // Three checks: rolling out, unchanged, rolled out.
    s.route_sequence(
        PROD_DEPLOYMENTS,
        vec![ok_answer(ROLLING), ok_answer(ROLLING), ok_answer(ROLLED)],
    );
    let kc = s.write_kubeconfig(&sb.home(), TOKEN);
    let r = verify_kc(&sb, &kc, &[], &["--wait", "1m", "--interval", "100ms"]).ok();
    assert_eq!(r.stderr, "");
    let (first, rest) = r
        .stdout
        .split_once("\n8 objects: 7 ok, 1 rolling out\n")
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert_eq!(
        names_with(first, "rolling out"),
        ["qontract-reconcile-gitlab-housekeeping-1"]
    );
    // The unchanged second check printed nothing; the third printed the change and the summary.
    assert_eq!(rest, format!("{ROLLOUT_DONE}\n8 objects: 8 ok\n"));
    assert_eq!(s.seen().len(), 18, "three checks of six lists");
}

#[test]
fn wait_keeps_going_after_a_failed_check() {
    let sb = Sandbox::example();
    let s = example_server();
    let status_500 = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"etcdserver: request timed out","code":500}"#;
    s.route_sequence(
        PROD_DEPLOYMENTS,
        vec![
            ok_answer(ROLLING),
            (500, status_500.to_string()),
            ok_answer(ROLLED),
        ],
    );
    let kc = s.write_kubeconfig(&sb.home(), TOKEN);
    let r = verify_kc(&sb, &kc, &[], &["--wait", "1m", "--interval", "100ms"]).ok();
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("warning: check failed, the previous report stands: http://127.0.0.1:")
            && r.stderr.contains("listing deployments in namespace app-interface-production failed (500): etcdserver: request timed out"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.ends_with(&format!(
            "\n8 objects: 7 ok, 1 rolling out\n{ROLLOUT_DONE}\n8 objects: 8 ok\n"
        )),
        "{}",
        r.stdout
    );
}

#[test]
fn wait_that_runs_out_of_time_exits_3_with_the_last_report() {
    let sb = Sandbox::example();
    let s = example_server();
    s.route_fixture(PROD_DEPLOYMENTS, ROLLING);
    let kc = s.write_kubeconfig(&sb.home(), TOKEN);
    let start = Instant::now();
    let r = verify_kc(&sb, &kc, &[], &["--wait", "2s", "--interval", "250ms"]).code(3);
    assert!(start.elapsed() >= Duration::from_secs(2));
    assert_eq!(r.stderr, "");
    let (first, last) = r
        .stdout
        .split_once("\n--wait 2s is up; the last report:\n\n")
        .unwrap_or_else(|| panic!("{}", r.stdout));
    // Nothing changed between the checks: the first report, then the last one.
    assert!(
        first.ends_with("\n8 objects: 7 ok, 1 rolling out\n"),
        "{first}"
    );
    assert_eq!(first, last);
    assert!(
        s.seen().len() >= 12,
        "at least two checks: {}",
        s.seen().len()
    );
    assert_eq!(s.seen().len() % 6, 0, "whole checks only");
}

#[test]
fn wait_with_json_prints_one_document_at_the_end() {
    let sb = Sandbox::example();
    let s = example_server();
    s.route_sequence(
        PROD_DEPLOYMENTS,
        vec![ok_answer(ROLLING), ok_answer(ROLLED)],
    );
    let kc = s.write_kubeconfig(&sb.home(), TOKEN);
    let r = verify_kc(
        &sb,
        &kc,
        &["--json"],
        &["--wait", "1m", "--interval", "100ms"],
    )
    .ok();
    let v = r.json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["summary"], "8 objects: 8 ok");
    assert_eq!(s.seen().len(), 12);
}
