//! Unit tests of the verify module: parsing live JSON, comparing, rendering, diffing.

use super::*;

const IMG: &str = "quay.io/app-sre/qontract-reconcile:abc1234";
const PINNED: &str = "quay.io/app-sre/qontract-reconcile:p1nn3d0";

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/verify")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

fn desired(kind: ObjectKind, name: &str, image: &str) -> Desired {
    Desired {
        namespace: "qr-int".into(),
        kind,
        name: name.into(),
        image: image.into(),
        pinned: false,
        integration: name.trim_start_matches(MANAGED_PREFIX).into(),
        shard: None,
    }
}

/// Desired state for `live-list.json`: one of every verdict.
fn desired_int() -> Vec<Desired> {
    let mut shard1 = desired(
        ObjectKind::StatefulSet,
        "qontract-reconcile-terraform-resources-shard-1",
        PINNED,
    );
    shard1.pinned = true;
    shard1.integration = "terraform-resources".into();
    shard1.shard = Some("1".into());
    let mut shard2 = desired(
        ObjectKind::StatefulSet,
        "qontract-reconcile-terraform-resources-shard-2",
        IMG,
    );
    shard2.integration = "terraform-resources".into();
    shard2.shard = Some("2".into());
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
        shard1,
        shard2,
        desired(
            ObjectKind::CronJob,
            "qontract-reconcile-aws-garbage-collector",
            IMG,
        ),
        desired(ObjectKind::Deployment, "qontract-reconcile-no-int", IMG),
        desired(
            ObjectKind::Deployment,
            "qontract-reconcile-jira-watcher",
            IMG,
        ),
    ]
}

fn verdict_of<'a>(r: &'a Report, name: &str) -> &'a Verdict {
    &r.entries.iter().find(|e| e.name == name).unwrap().verdict
}

#[test]
fn parses_a_generic_list_and_skips_other_kinds() {
    let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
    assert_eq!(live.len(), 8, "{live:#?}"); // the Pod is skipped
    let gh = &live[0];
    assert_eq!(gh.kind, ObjectKind::Deployment);
    assert_eq!(gh.namespace, "qr-int");
    assert_eq!(gh.image_int.as_deref(), Some(IMG)); // `int`, not the first container
    assert_eq!(gh.rolling, None);
    let cron = live.iter().find(|l| l.kind == ObjectKind::CronJob).unwrap();
    assert_eq!(cron.image_int.as_deref(), Some(IMG));
    assert_eq!(cron.rolling, None);
    let no_int = live
        .iter()
        .find(|l| l.name == "qontract-reconcile-no-int")
        .unwrap();
    assert_eq!(no_int.image_int, None);
    let shard2 = live.iter().find(|l| l.name.ends_with("shard-2")).unwrap();
    assert_eq!(shard2.rolling.as_deref(), Some("1/2 replicas updated"));
}

#[test]
fn parses_concatenated_typed_lists_without_item_kinds() {
    let live = parse_live(&fixture("concatenated.json"), "-").unwrap();
    assert_eq!(live.len(), 2);
    assert_eq!(live[0].kind, ObjectKind::Deployment);
    assert_eq!(
        live[0].rolling.as_deref(),
        Some("observed generation 4 < generation 5")
    );
    assert_eq!(live[1].kind, ObjectKind::CronJob);
    assert_eq!(live[1].name, "qontract-reconcile-cleanup");
}

#[test]
fn rolling_rules() {
    let obj = |meta: &str, spec: &str, status: &str| {
        format!(
            r#"{{"kind":"DeploymentList","items":[{{"metadata":{{"name":"d","namespace":"n"{meta}}},"spec":{{"template":{{"spec":{{"containers":[{{"name":"int","image":"i"}}]}}}}{spec}}},"status":{{{status}}}}}]}}"#
        )
    };
    let rolling = |t: String| parse_live(&t, "t").unwrap()[0].rolling.clone();
    // Default one replica: nothing ready yet is rolling.
    assert_eq!(
        rolling(obj("", "", r#""updatedReplicas":1"#)).as_deref(),
        Some("0/1 replicas ready")
    );
    assert_eq!(
        rolling(obj("", "", r#""updatedReplicas":1,"readyReplicas":1"#)),
        None
    );
    assert_eq!(
        rolling(obj(r#","generation":2"#, "", "")).as_deref(),
        Some("generation 2 not observed yet")
    );
    // Scaled to zero is not rolling.
    assert_eq!(rolling(obj("", r#","replicas":0"#, "")), None);
    // Strange numbers are not a crash.
    assert!(rolling(obj(
        r#","generation":"x""#,
        r#","replicas":-1"#,
        r#""readyReplicas":1e300"#
    ))
    .is_none());
}

#[test]
fn bad_input_is_a_one_line_error_naming_the_source() {
    let cases: &[(&str, &str)] = &[
        ("", "live.json: empty input"),
        ("   \n", "live.json: empty input"),
        ("{not json", "live.json: not JSON"),
        (
            "[1,2]",
            "live.json: not a Kubernetes list: found a JSON array",
        ),
        (
            "\"x\"",
            "live.json: not a Kubernetes list: found a JSON string",
        ),
        (
            "{}",
            "live.json: not a Kubernetes list: the JSON object has no `kind`",
        ),
        (
            r#"{"kind":"Deployment","metadata":{"name":"x"}}"#,
            "live.json: not a Kubernetes list: found kind `Deployment`",
        ),
        (
            r#"{"kind":"List","items":{}}"#,
            "live.json: `items` is a JSON object, not an array",
        ),
        (
            r#"{"kind":"List","items":[{"metadata":{"name":"x"}}]}"#,
            "live.json: item 0 has no `kind`",
        ),
        (
            r#"{"kind":"DeploymentList","items":[{"metadata":{}}]}"#,
            "live.json: item 0 (Deployment) has no metadata.name",
        ),
        (
            r#"{"kind":"DeploymentList","items":[{"metadata":{"name":"a\nb"}}]}"#,
            "live.json: item 0 (Deployment a b) has no metadata.namespace",
        ),
        (
            r#"{"kind":"List","items":[]} {"kind":"Li"#,
            "live.json: not JSON",
        ),
    ];
    for (text, want) in cases {
        let err = parse_live(text, "live.json").unwrap_err().to_string();
        assert!(err.starts_with(want), "{text:?}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
    let err = parse_live(&fixture("not-a-list.json"), "-")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "-: not a Kubernetes list: found kind `Deployment`");
}

#[test]
fn other_lists_and_empty_lists_are_fine() {
    assert!(parse_live(r#"{"kind":"PodList","items":[{"x":1}]}"#, "-")
        .unwrap()
        .is_empty());
    assert!(parse_live(r#"{"kind":"List","items":null}"#, "-")
        .unwrap()
        .is_empty());
    assert!(parse_live(r#"{"kind":"List"}"#, "-").unwrap().is_empty());
    // Containers without images or names, odd shapes: verdict material, not errors.
    let live = parse_live(
        r#"{"kind":"CronJobList","items":[{"metadata":{"name":"c","namespace":"n"},"spec":{"jobTemplate":7}},
            {"metadata":{"name":"d","namespace":"n"},"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"int"}]}}}}}}]}"#,
        "-",
    )
    .unwrap();
    assert_eq!(live.len(), 2);
    assert!(live
        .iter()
        .all(|l| l.image_int.is_none() && l.rolling.is_none()));
}

#[test]
fn compare_gives_every_verdict() {
    let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
    let r = compare(&desired_int(), &live, &["qr-int".to_string()]);
    assert_eq!(
        verdict_of(&r, "qontract-reconcile-gitlab-housekeeping"),
        &Verdict::Ok
    );
    assert_eq!(
        verdict_of(&r, "qontract-reconcile-slack-usergroups"),
        &Verdict::WrongImage {
            expected: IMG.into(),
            actual: "quay.io/app-sre/qontract-reconcile:0ld0ld0".into()
        }
    );
    assert_eq!(
        verdict_of(&r, "qontract-reconcile-terraform-resources-shard-1"),
        &Verdict::Ok
    );
    assert!(
        r.entries
            .iter()
            .find(|e| e.name.ends_with("shard-1"))
            .unwrap()
            .pinned
    );
    assert_eq!(
        verdict_of(&r, "qontract-reconcile-terraform-resources-shard-2"),
        &Verdict::RollingOut {
            why: "1/2 replicas updated".into()
        }
    );
    assert_eq!(
        verdict_of(&r, "qontract-reconcile-aws-garbage-collector"),
        &Verdict::Ok
    );
    assert_eq!(
        verdict_of(&r, "qontract-reconcile-no-int"),
        &Verdict::NoIntContainer
    );
    assert_eq!(
        verdict_of(&r, "qontract-reconcile-jira-watcher"),
        &Verdict::Missing
    );
    assert_eq!(
        verdict_of(&r, "qontract-reconcile-leftover"),
        &Verdict::Unexpected
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
    let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
    let r = compare(&desired_int(), &live, &[]);
    assert!(r.entries.iter().all(|e| e.verdict != Verdict::Unexpected));
}

#[test]
fn all_ok_and_empty_namespace_note() {
    let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
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
    let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
    let mut d = desired_int();
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
    let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
    let ns = vec!["qr-int".to_string()];
    let before = compare(&desired_int(), &live, &ns);
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
    let after = compare(&desired_int(), &live2, &ns);
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
    let live = parse_live(&fixture("live-list.json"), "live.json").unwrap();
    let d = vec![
        desired(
            ObjectKind::Deployment,
            "qontract-reconcile-gitlab-housekeeping",
            IMG,
        ),
        desired(
            ObjectKind::Deployment,
            "qontract-reconcile-gitlab-housekeeping",
            IMG,
        ),
    ];
    let r = compare(&d, &live, &[]);
    assert_eq!(r.entries.len(), 1);
}

#[test]
fn desired_from_a_model_deployment_keeps_kind_image_and_pin() {
    let d = crate::model::Deployment {
        namespace: "app-interface-production".into(),
        cluster: Some("appint-prod-01".into()),
        environment: Some("production".into()),
        integration: "terraform-resources".into(),
        kind: crate::model::ObjectKind::StatefulSet,
        name: "qontract-reconcile-terraform-resources-ter-int-dev".into(),
        shard: Some("ter-int-dev".into()),
        image: "quay.io/app-sre/qontract-reconcile:f929a38".into(),
        pinned: true,
        pin_ref: Some("f929a38".into()),
    };
    assert_eq!(
        Desired::from(&d),
        Desired {
            namespace: "app-interface-production".into(),
            kind: ObjectKind::StatefulSet,
            name: "qontract-reconcile-terraform-resources-ter-int-dev".into(),
            image: "quay.io/app-sre/qontract-reconcile:f929a38".into(),
            pinned: true,
            integration: "terraform-resources".into(),
            shard: Some("ter-int-dev".into()),
        }
    );
    for (model, ours) in [
        (crate::model::ObjectKind::Deployment, ObjectKind::Deployment),
        (
            crate::model::ObjectKind::StatefulSet,
            ObjectKind::StatefulSet,
        ),
        (crate::model::ObjectKind::CronJob, ObjectKind::CronJob),
    ] {
        assert_eq!(ObjectKind::from(model), ours);
    }
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

proptest::proptest! {
    #[test]
    fn parse_live_never_panics(text in "\\PC{0,200}") {
        let _ = parse_live(&text, "-");
    }

    #[test]
    fn parse_live_never_panics_on_list_shapes(items in "[\\[\\]{}\":,a-z0-9 ]{0,120}") {
        let text = format!(r#"{{"kind":"List","items":[{items}]}}"#);
        if let Err(e) = parse_live(&text, "-") {
            proptest::prop_assert!(!e.to_string().contains('\n'));
        }
    }
}
