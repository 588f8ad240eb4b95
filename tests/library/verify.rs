//! Verify as a library: comparing desired with live objects (verdicts, the table, the JSON, the
//! changes between two reports), and listing through a scripted Kubernetes API (a kubeconfig,
//! 403/404/unreachable errors, an empty namespace, a rollout that finishes between two checks).

use qr_promote::cluster::kube::{fetch_live, parse_live, LiveObject};
use qr_promote::cluster::model::{Deployment, ObjectKind};
use qr_promote::cluster::verify::{
    compare, diff_reports, integration_of, Report, Verdict, MANAGED_PREFIX,
};

use crate::support::kube_server::{verify_fixture, KubeServer};

const IMG: &str = "quay.io/app-sre/qontract-reconcile:abc1234";
const PINNED: &str = "quay.io/app-sre/qontract-reconcile:p1nn3d0";
const TOKEN: &str = "sha256~test-token";

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/qr-int/deployments";
const STATEFULSETS: &str = "/apis/apps/v1/namespaces/qr-int/statefulsets";
const CRONJOBS: &str = "/apis/batch/v1/namespaces/qr-int/cronjobs";

fn desired(kind: ObjectKind, name: &str, image: &str) -> Deployment {
    Deployment {
        namespace: "qr-int".into(),
        cluster: None,
        environment: None,
        integration: name.trim_start_matches("qontract-reconcile-").into(),
        kind,
        name: name.into(),
        shard: None,
        image: image.into(),
        pinned: false,
        pin_ref: None,
        args: Vec::new(),
    }
}

fn desired_int() -> Vec<Deployment> {
    let mut shard = desired(
        ObjectKind::StatefulSet,
        "qontract-reconcile-terraform-resources-shard-1",
        PINNED,
    );
    shard.pinned = true;
    shard.shard = Some("1".into());
    vec![
        desired(
            ObjectKind::Deployment,
            "qontract-reconcile-gitlab-housekeeping",
            IMG,
        ),
        desired(
            ObjectKind::Deployment,
            "qontract-reconcile-slack-usergroups",
            IMG,
        ),
        shard,
        desired(
            ObjectKind::CronJob,
            "qontract-reconcile-aws-garbage-collector",
            IMG,
        ),
    ]
}

/// A server answering the three collections of `qr-int` from the API-shaped fixtures.
fn server_int() -> KubeServer {
    let s = KubeServer::start();
    s.route_fixture(DEPLOYMENTS, "api/qr-int-deployments.json");
    s.route_fixture(STATEFULSETS, "api/qr-int-statefulsets.json");
    s.route_fixture(CRONJOBS, "api/qr-int-cronjobs.json");
    s
}

fn ns(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn lists_the_three_kinds_read_only_with_the_token() {
    let s = server_int();
    let dir = tempfile::tempdir().unwrap();
    let kc = s.write_kubeconfig(dir.path(), TOKEN);
    let live = fetch_live(Some(&kc), None, &ns(&["qr-int"])).unwrap();
    assert_eq!(live.len(), 4, "{live:#?}");
    let kinds: Vec<ObjectKind> = live.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        vec![
            ObjectKind::Deployment,
            ObjectKind::Deployment,
            ObjectKind::StatefulSet,
            ObjectKind::CronJob
        ]
    );
    assert!(live.iter().all(|l| l.namespace == "qr-int"));
    let seen = s.seen();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    for r in &seen {
        assert_eq!(r.method, "GET");
        assert_eq!(
            r.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}"))
        );
    }
    let paths: Vec<String> = seen
        .iter()
        .map(|r| r.path.split('?').next().unwrap().to_string())
        .collect();
    assert_eq!(paths, vec![DEPLOYMENTS, STATEFULSETS, CRONJOBS]);

    let report = compare(&desired_int(), &live, &ns(&["qr-int"]));
    let verdicts: Vec<(&str, &Verdict)> = report
        .entries
        .iter()
        .map(|e| (e.name.as_str(), &e.verdict))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("qontract-reconcile-gitlab-housekeeping", &Verdict::Ok),
            (
                "qontract-reconcile-slack-usergroups",
                &Verdict::RollingOut {
                    why: "observed generation 2 < generation 3".into()
                }
            ),
            (
                "qontract-reconcile-terraform-resources-shard-1",
                &Verdict::Ok
            ),
            ("qontract-reconcile-aws-garbage-collector", &Verdict::Ok),
        ]
    );
    assert!(report.entries[2].pinned);
    assert_eq!(report.summary(), "4 objects: 3 ok, 1 rolling out");
}

#[test]
fn context_selects_the_cluster_and_unreachable_names_the_server() {
    let s = server_int();
    let dir = tempfile::tempdir().unwrap();
    let kc = s.write_kubeconfig(dir.path(), TOKEN);
    let err = fetch_live(Some(&kc), Some("dead"), &ns(&["qr-int"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot reach the Kubernetes API at http://127.0.0.1:"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
    assert!(s.seen().is_empty());
    assert_eq!(
        fetch_live(Some(&kc), Some("fake"), &ns(&["qr-int"]))
            .unwrap()
            .len(),
        4
    );
    let err = fetch_live(Some(&kc), Some("nope"), &ns(&["qr-int"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("kubeconfig.yaml") && err.contains("nope"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn forbidden_namespace_is_named() {
    let s = server_int();
    s.route(
        "/apis/apps/v1/namespaces/qr-secret/deployments",
        403,
        &verify_fixture("api/status-403.json"),
    );
    let dir = tempfile::tempdir().unwrap();
    let kc = s.write_kubeconfig(dir.path(), TOKEN);
    let err = fetch_live(Some(&kc), None, &ns(&["qr-int", "qr-secret"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "forbidden (403) to list deployments in namespace qr-secret on http://127.0.0.1:"
        ),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn missing_namespace_is_a_404_error() {
    let s = server_int();
    s.route(
        "/apis/apps/v1/namespaces/qr-gone/deployments",
        404,
        &verify_fixture("api/status-404.json"),
    );
    let dir = tempfile::tempdir().unwrap();
    let kc = s.write_kubeconfig(dir.path(), TOKEN);
    let err = fetch_live(Some(&kc), None, &ns(&["qr-gone"]))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("namespace qr-gone not found (404"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    // A path the server does not know at all (no route): also a one-line 404.
    let err = fetch_live(Some(&kc), None, &ns(&["qr-unknown"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("namespace qr-unknown not found (404"),
        "{err}"
    );
}

#[test]
fn empty_namespace_is_a_note_and_bad_answers_are_errors() {
    let s = server_int();
    let empty = verify_fixture("api/empty-deployments.json");
    for kind in [
        "apps/v1/namespaces/qr-empty/deployments",
        "apps/v1/namespaces/qr-empty/statefulsets",
        "batch/v1/namespaces/qr-empty/cronjobs",
    ] {
        s.route(&format!("/apis/{kind}"), 200, &empty);
    }
    let dir = tempfile::tempdir().unwrap();
    let kc = s.write_kubeconfig(dir.path(), TOKEN);
    let names = ns(&["qr-int", "qr-empty"]);
    let live = fetch_live(Some(&kc), None, &names).unwrap();
    let report = compare(&desired_int(), &live, &names);
    assert_eq!(report.empty_namespaces, vec!["qr-empty".to_string()]);
    assert!(report
        .render_table()
        .contains("note: namespace qr-empty: no Deployment, StatefulSet or CronJob found"));

    s.route(DEPLOYMENTS, 200, "<html>proxy error</html>");
    let err = fetch_live(Some(&kc), None, &ns(&["qr-int"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(DEPLOYMENTS) && err.contains("not JSON"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn bad_kubeconfig_and_namespace_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let err = fetch_live(Some(&missing), None, &ns(&["qr-int"]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.yaml"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    let garbage = dir.path().join("garbage.yaml");
    std::fs::write(&garbage, "clusters: [oops\n").unwrap();
    let err = fetch_live(Some(&garbage), None, &ns(&["qr-int"]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("garbage.yaml"), "{err}");
    assert!(!err.contains('\n'), "{err}");

    let s = server_int();
    let kc = s.write_kubeconfig(dir.path(), TOKEN);
    let err = fetch_live(Some(&kc), None, &ns(&["../etc"]))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("not a namespace name"), "{err}");
    assert!(s.seen().is_empty());
}

#[test]
fn wait_mode_sees_the_rollout_finish() {
    let s = server_int();
    let dir = tempfile::tempdir().unwrap();
    let kc = s.write_kubeconfig(dir.path(), TOKEN);
    let names = ns(&["qr-int"]);
    let first = compare(
        &desired_int(),
        &fetch_live(Some(&kc), None, &names).unwrap(),
        &names,
    );
    assert!(!first.is_ok());

    // Unchanged answer: nothing to print.
    let again = compare(
        &desired_int(),
        &fetch_live(Some(&kc), None, &names).unwrap(),
        &names,
    );
    assert!(diff_reports(&first, &again).is_empty());

    s.route_fixture(DEPLOYMENTS, "api/qr-int-deployments-rolled.json");
    let second = compare(
        &desired_int(),
        &fetch_live(Some(&kc), None, &names).unwrap(),
        &names,
    );
    assert!(second.is_ok(), "{}", second.render_table());
    assert_eq!(
        diff_reports(&first, &second),
        vec![
            "qr-int/Deployment/qontract-reconcile-slack-usergroups: rolling out (observed generation 2 < generation 3) -> ok"
                .to_string()
        ]
    );
}

// The comparison on the generic list fixture: verdicts, rendering, diffing.

/// Desired state for `live-list.json`: one of every verdict (the objects of the API fixtures,
/// a second shard rolling out, one without an `int` container and one missing).
fn desired_verdicts() -> Vec<Deployment> {
    let mut all = desired_int();
    let mut shard2 = desired(
        ObjectKind::StatefulSet,
        "qontract-reconcile-terraform-resources-shard-2",
        IMG,
    );
    shard2.shard = Some("2".into());
    all.push(shard2);
    for d in &mut all {
        if d.name
            .starts_with("qontract-reconcile-terraform-resources-shard-")
        {
            d.integration = "terraform-resources".into();
        }
    }
    all.push(desired(
        ObjectKind::Deployment,
        "qontract-reconcile-no-int",
        IMG,
    ));
    all.push(desired(
        ObjectKind::Deployment,
        "qontract-reconcile-jira-watcher",
        IMG,
    ));
    all
}

fn verdict_of<'a>(r: &'a Report, name: &str) -> &'a Verdict {
    &r.entries.iter().find(|e| e.name == name).unwrap().verdict
}

#[test]
fn compare_gives_every_verdict() {
    let live = parse_live(&verify_fixture("live-list.json"), "live.json").unwrap();
    let r = compare(&desired_verdicts(), &live, &["qr-int".to_string()]);
    let verdicts = [
        ("gitlab-housekeeping", Verdict::Ok),
        (
            "slack-usergroups",
            Verdict::WrongImage {
                expected: IMG.into(),
                actual: "quay.io/app-sre/qontract-reconcile:0ld0ld0".into(),
            },
        ),
        ("terraform-resources-shard-1", Verdict::Ok),
        (
            "terraform-resources-shard-2",
            Verdict::RollingOut {
                why: "1/2 replicas updated".into(),
            },
        ),
        ("aws-garbage-collector", Verdict::Ok),
        ("no-int", Verdict::NoIntContainer),
        ("jira-watcher", Verdict::Missing),
        ("leftover", Verdict::Unexpected),
    ];
    for (name, verdict) in &verdicts {
        let name = format!("{MANAGED_PREFIX}{name}");
        assert_eq!(verdict_of(&r, &name), verdict, "{name}");
    }
    assert!(
        r.entries
            .iter()
            .find(|e| e.name.ends_with("shard-1"))
            .unwrap()
            .pinned
    );
    assert!(r.entries.iter().all(|e| e.name != "unleash-proxy"));
    assert_eq!(r.entries.len(), 8);
    assert!(!r.is_ok());
    assert!(r.empty_namespaces.is_empty());
    assert_eq!(
        r.summary(),
        "8 objects: 3 ok, 1 wrong image, 1 missing, 1 rolling out, 1 no int container, 1 unexpected"
    );
}

#[test]
fn unexpected_only_in_checked_namespaces() {
    let live = parse_live(&verify_fixture("live-list.json"), "live.json").unwrap();
    let r = compare(&desired_verdicts(), &live, &[]);
    assert!(r.entries.iter().all(|e| e.verdict != Verdict::Unexpected));
}

#[test]
fn all_ok_and_empty_namespace_note() {
    let live = parse_live(&verify_fixture("live-list.json"), "live.json").unwrap();
    let d = vec![desired(
        ObjectKind::Deployment,
        "qontract-reconcile-gitlab-housekeeping",
        IMG,
    )];
    let live: Vec<LiveObject> = live.into_iter().filter(|l| l.name == d[0].name).collect();
    let r = compare(&d, &live, &["qr-int".into(), "qr-gone".into()]);
    assert!(r.is_ok());
    assert_eq!(
        r.summary(),
        "1 object: 1 ok; 1 namespace without live objects"
    );
    assert_eq!(r.empty_namespaces, vec!["qr-gone".to_string()]);
    assert!(r
        .render_table()
        .contains("note: namespace qr-gone: no Deployment"));
    let empty = compare(&[], &[], &[]);
    assert!(empty.is_ok());
    assert_eq!(empty.summary(), "0 objects");
    assert_eq!(empty.render_table(), "0 objects\n");
}

#[test]
fn table_and_json() {
    let live = parse_live(&verify_fixture("live-list.json"), "live.json").unwrap();
    let mut d = desired_verdicts();
    let mut other = desired(ObjectKind::Deployment, "qontract-reconcile-github", IMG);
    other.namespace = "qr-prod".into();
    d.push(other);
    let r = compare(&d, &live, &["qr-int".into(), "qr-prod".into()]);
    let table = r.render_table();
    insta::assert_snapshot!(table, @r"
    namespace qr-int
      VERDICT           KIND         NAME                                            EXPECTED                                    ACTUAL                                      PINNED
      ok                Deployment   qontract-reconcile-gitlab-housekeeping          quay.io/app-sre/qontract-reconcile:abc1234  quay.io/app-sre/qontract-reconcile:abc1234
      missing           Deployment   qontract-reconcile-jira-watcher                 quay.io/app-sre/qontract-reconcile:abc1234  -
      unexpected        Deployment   qontract-reconcile-leftover                     -                                           quay.io/app-sre/qontract-reconcile:0ld0ld0
      no int container  Deployment   qontract-reconcile-no-int                       quay.io/app-sre/qontract-reconcile:abc1234  -
      wrong image       Deployment   qontract-reconcile-slack-usergroups             quay.io/app-sre/qontract-reconcile:abc1234  quay.io/app-sre/qontract-reconcile:0ld0ld0
      ok                StatefulSet  qontract-reconcile-terraform-resources-shard-1  quay.io/app-sre/qontract-reconcile:p1nn3d0  quay.io/app-sre/qontract-reconcile:p1nn3d0  pinned
      rolling out       StatefulSet  qontract-reconcile-terraform-resources-shard-2  quay.io/app-sre/qontract-reconcile:abc1234  quay.io/app-sre/qontract-reconcile:abc1234  (1/2 replicas updated)
      ok                CronJob      qontract-reconcile-aws-garbage-collector        quay.io/app-sre/qontract-reconcile:abc1234  quay.io/app-sre/qontract-reconcile:abc1234

    namespace qr-prod
      VERDICT           KIND         NAME                                            EXPECTED                                    ACTUAL                                      PINNED
      missing           Deployment   qontract-reconcile-github                       quay.io/app-sre/qontract-reconcile:abc1234  -

    note: namespace qr-prod: no Deployment, StatefulSet or CronJob found (does the namespace exist in this cluster?)

    9 objects: 3 ok, 1 wrong image, 2 missing, 1 rolling out, 1 no int container, 1 unexpected; 1 namespace without live objects
    ");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["ok"], false);
    assert!(json["summary"].as_str().unwrap().starts_with("9 objects"));
    let wrong = json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "qontract-reconcile-slack-usergroups")
        .unwrap();
    assert_eq!(wrong["verdict"]["status"], "wrong_image");
    assert_eq!(wrong["verdict"]["expected"], IMG);
    assert_eq!(wrong["kind"], "Deployment");
    assert_eq!(json["empty_namespaces"][0], "qr-prod");
}

#[test]
fn diff_lists_only_changes() {
    let live = parse_live(&verify_fixture("live-list.json"), "live.json").unwrap();
    let ns = vec!["qr-int".to_string()];
    let before = compare(&desired_verdicts(), &live, &ns);
    assert!(diff_reports(&before, &before).is_empty());
    let mut live2 = live.clone();
    for l in &mut live2 {
        if l.name.ends_with("shard-2") {
            l.rolling = None;
        }
        if l.name.ends_with("slack-usergroups") {
            l.image_int = Some(IMG.into());
            l.rolling = Some("0/1 replicas ready".into());
        }
    }
    live2.retain(|l| l.name != "qontract-reconcile-leftover");
    let after = compare(&desired_verdicts(), &live2, &ns);
    let lines = diff_reports(&before, &after);
    assert_eq!(
        lines,
        vec![
            "qr-int/Deployment/qontract-reconcile-slack-usergroups: wrong image (expected quay.io/app-sre/qontract-reconcile:abc1234, found quay.io/app-sre/qontract-reconcile:0ld0ld0) -> rolling out (0/1 replicas ready)".to_string(),
            "qr-int/StatefulSet/qontract-reconcile-terraform-resources-shard-2: rolling out (1/2 replicas updated) -> ok".to_string(),
            "qr-int/Deployment/qontract-reconcile-leftover: no longer reported (was unexpected)".to_string(),
        ]
    );
}

#[test]
fn duplicate_desired_objects_get_one_verdict() {
    let live = parse_live(&verify_fixture("live-list.json"), "live.json").unwrap();
    let one = desired(
        ObjectKind::Deployment,
        "qontract-reconcile-gitlab-housekeeping",
        IMG,
    );
    let d = vec![one.clone(), one];
    let r = compare(&d, &live, &[]);
    assert_eq!(r.entries.len(), 1);
}

#[test]
fn integration_of_takes_the_longest_matching_name() {
    let known = [
        "terraform-resources",
        "terraform-resources-wrapper",
        "github",
    ];
    let of = |name: &str| integration_of(name, &known);
    assert_eq!(of("qontract-reconcile-github"), Some("github"));
    assert_eq!(
        of("qontract-reconcile-terraform-resources-app-sre"),
        Some("terraform-resources")
    );
    assert_eq!(
        of("qontract-reconcile-terraform-resources-wrapper-0"),
        Some("terraform-resources-wrapper")
    );
    assert_eq!(of("qontract-reconcile-githubber"), None);
    assert_eq!(of("qontract-reconcile-slack-usergroups"), None);
    assert_eq!(of("github"), None);
}
