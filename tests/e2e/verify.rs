//! Verify against a scripted Kubernetes API: listing through a kubeconfig, 403/404/unreachable
//! errors, an empty namespace, and a rollout that finishes between two checks (wait mode).

use qr_promote::cluster::kube::fetch_live;
use qr_promote::cluster::model::{Deployment, ObjectKind};
use qr_promote::cluster::verify::{compare, diff_reports, Verdict};

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
