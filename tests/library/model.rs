//! The model of where integrations run, and pin/unpin, on the fixture tree `tests/fixtures/model`.

use qr_promote::checkout::Checkout;
use qr_promote::cluster::model::{Model, StayingShard};
use qr_promote::cluster::pin::{pin, unpin, Which};

use crate::support::Sandbox;

fn load(sb: &Sandbox) -> (Checkout, Model) {
    let c = Checkout::open(&sb.root()).unwrap();
    let m = Model::load(&c, None).unwrap();
    (c, m)
}

fn table(m: &Model, integration: Option<&str>, namespace: Option<&str>) -> String {
    m.deployments(integration, namespace)
        .iter()
        .map(|d| {
            format!(
                "{:?} {} {}@{} ({}) {}{}",
                d.kind,
                d.name,
                d.namespace,
                d.cluster.as_deref().unwrap_or("-"),
                d.environment.as_deref().unwrap_or("-"),
                d.image,
                if d.pinned { " pinned" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn lock(root: &std::path::Path) -> qr_promote::transaction::CheckoutLock {
    qr_promote::transaction::CheckoutLock::acquire(root, "pin", std::time::Duration::ZERO).unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Pins `shards` of `integration` to `r`, in the one namespace it runs them.
fn pin_shards(
    c: &Checkout,
    m: &Model,
    integration: &str,
    shards: &[&str],
    r: Option<&str>,
    force: bool,
) -> qr_promote::Result<qr_promote::promote::plan::FileChange> {
    pin(c, m, integration, &s(shards), r, None, force)
}

/// Writes `text` as an integration file of the fixture, pins, and returns the file after.
fn pin_text(rel: &str, text: &str, integration: &str, shards: &[&str], r: Option<&str>) -> String {
    let sb = Sandbox::fixture("model");
    sb.write(rel, text);
    let (c, m) = load(&sb);
    let ch = pin(&c, &m, integration, &s(shards), r, None, false).unwrap();
    String::from_utf8(ch.after).unwrap()
}

#[test]
fn deployments_of_every_strategy() {
    let sb = Sandbox::fixture("model");
    let (_, m) = load(&sb);
    insta::assert_snapshot!(table(&m, None, None), @r#"
    CronJob qontract-reconcile-aws-iam-keys qr-production@prod-01 (production) quay.io/app-sre/qontract-reconcile:f929a38
    Deployment qontract-reconcile-github qr-stage@stage-01 (stage) quay.io/app-sre/qontract-reconcile:master
    StatefulSet qontract-reconcile-gitlab-housekeeping-0 qr-production@prod-01 (production) quay.io/app-sre/qontract-reconcile:1234abc pinned
    StatefulSet qontract-reconcile-gitlab-housekeeping-1 qr-production@prod-01 (production) quay.io/app-sre/qontract-reconcile:1234abc pinned
    StatefulSet qontract-reconcile-gitlab-housekeeping-2 qr-production@prod-01 (production) quay.io/app-sre/qontract-reconcile:1234abc pinned
    Deployment qontract-reconcile-gitlab-housekeeping qr-stage@stage-01 (stage) quay.io/app-sre/qontract-reconcile:master
    Deployment qontract-reconcile-ocm-groups-1abcdef qr-production@prod-01 (production) quay.io/app-sre/qontract-reconcile:abc1234 pinned
    Deployment qontract-reconcile-openshift-users-edge-01-0 qr-production@prod-01 (production) quay.io/app-sre/qontract-reconcile:0373973 pinned
    Deployment qontract-reconcile-openshift-users-edge-01-1 qr-production@prod-01 (production) quay.io/app-sre/qontract-reconcile:0373973 pinned
    Deployment qontract-reconcile-openshift-users-stage-01 qr-production@prod-01 (production) quay.io/app-sre/qontract-reconcile:f929a38
    Deployment qontract-reconcile-terraform-cloudflare-dns-service-delivery-example-com qr-production@prod-01 (production) quay.io/app-sre/qontract-reconcile:f929a38
    Deployment qontract-reconcile-terraform-cloudflare-dns-service-delivery-example-org qr-production@prod-01 (production) quay.io/app-sre/qontract-reconcile:f929a38
    StatefulSet qontract-reconcile-terraform-resources-app-int qr-production@prod-01 (production) quay.io/app-sre/qontract-reconcile:f929a38
    StatefulSet qontract-reconcile-terraform-resources-app-sre qr-production@prod-01 (production) quay.io/app-sre/qontract-reconcile:f929a38
    StatefulSet qontract-reconcile-terraform-resources-ter-int-dev qr-production@prod-01 (production) quay.io/app-sre/qontract-reconcile:deadbee pinned
    Deployment qontract-reconcile-terraform-resources-app-int qr-stage@stage-01 (stage) quay.io/app-sre/qontract-reconcile:master
    Deployment qontract-reconcile-terraform-resources-app-sre qr-stage@stage-01 (stage) quay.io/app-sre/qontract-reconcile:master
    Deployment qontract-reconcile-terraform-resources-ter-int-dev qr-stage@stage-01 (stage) quay.io/app-sre/qontract-reconcile:master
    "#);
}

#[test]
fn deployments_filter_by_integration_and_namespace() {
    let sb = Sandbox::fixture("model");
    let (_, m) = load(&sb);
    insta::assert_snapshot!(table(&m, Some("terraform-resources"), Some("qr-stage")), @r#"
    Deployment qontract-reconcile-terraform-resources-app-int qr-stage@stage-01 (stage) quay.io/app-sre/qontract-reconcile:master
    Deployment qontract-reconcile-terraform-resources-app-sre qr-stage@stage-01 (stage) quay.io/app-sre/qontract-reconcile:master
    Deployment qontract-reconcile-terraform-resources-ter-int-dev qr-stage@stage-01 (stage) quay.io/app-sre/qontract-reconcile:master
    "#);
    assert_eq!(
        m.deployments(None, Some("services/qr/namespaces/qr-stage.yml"))
            .len(),
        m.deployments(None, Some("qr-stage")).len()
    );
    assert!(m.deployments(Some("nope"), None).is_empty());
    let json = serde_json::to_value(m.deployments(Some("aws-iam-keys"), None)).unwrap();
    assert_eq!(json[0]["kind"], "CronJob");
    assert_eq!(json[0]["shard"], serde_json::Value::Null);
}

#[test]
fn shard_moves_and_pr_check_runs() {
    let sb = Sandbox::fixture("model");
    let (_, m) = load(&sb);
    let moves = m.shard_moves("1234abc", None);
    let tr = moves
        .iter()
        .find(|m| m.integration == "terraform-resources")
        .unwrap();
    assert_eq!(
        tr.staying,
        vec![StayingShard {
            shard: "ter-int-dev@qr-production".to_string(),
            image_ref: "deadbee".to_string()
        }]
    );
    assert_eq!(tr.moving.len(), 5, "{:?}", tr.moving);
    // A pin equal to the new version moves with it.
    let gh = moves
        .iter()
        .find(|m| m.integration == "gitlab-housekeeping")
        .unwrap();
    assert!(gh.staying.is_empty(), "{gh:?}");
    let runs: Vec<String> = m
        .pr_check(None, "cafe123")
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.image, r.args.join(" ")))
        .collect();
    insta::assert_snapshot!(runs.join("\n"), @r#"
    aws-iam-keys quay.io/app-sre/qontract-reconcile:cafe123 
    github quay.io/app-sre/qontract-reconcile:cafe123 
    gitlab-housekeeping quay.io/app-sre/qontract-reconcile:cafe123 
    ocm-groups quay.io/app-sre/qontract-reconcile:cafe123 --exclude-org-id 1AbCdEf
    ocm-groups_override_abc1234 quay.io/app-sre/qontract-reconcile:abc1234 --org-id 1AbCdEf
    openshift-users quay.io/app-sre/qontract-reconcile:cafe123 --exclude-cluster edge-01
    openshift-users_override_0373973 quay.io/app-sre/qontract-reconcile:0373973 --cluster-name edge-01
    terraform-cloudflare-dns quay.io/app-sre/qontract-reconcile:cafe123 
    terraform-resources quay.io/app-sre/qontract-reconcile:cafe123 --exclude-accounts ter-int-dev
    terraform-resources_override_deadbee quay.io/app-sre/qontract-reconcile:deadbee --account-name ter-int-dev
    "#);
}

#[test]
fn pin_adds_to_existing_overrides_two_spaces() {
    let sb = Sandbox::fixture("model");
    let (c, m) = load(&sb);
    let ch = pin_shards(
        &c,
        &m,
        "terraform-resources",
        &["app-int", "/aws/app-sre/account.yml"],
        None,
        false,
    )
    .unwrap();
    insta::assert_snapshot!(String::from_utf8(ch.after.clone()).unwrap(), @r#"
    ---
    $schema: /app-sre/integration-1.yml
    name: terraform-resources
    managed:
    - namespace:
        $ref: /services/qr/namespaces/qr-production.yml
      spec:
        cache: true
      sharding:
        strategy: per-aws-account
        shardSpecOverrides:
        - shard:
            $ref: /aws/ter-int-dev/account.yml
          imageRef: deadbee
        - shard:
            $ref: /aws/app-sre/account.yml
          subSharding:
            strategy: static
            shards: 2
          imageRef: cafe123
        - shard:
            $ref: /aws/app-int/account.yml
          imageRef: cafe123
    - namespace:
        $ref: /services/qr/namespaces/qr-stage.yml
      spec: {}
      sharding:
        strategy: per-aws-account
    "#);
    qr_promote::transaction::write_all(&lock(&c.root), &[ch]).unwrap();
    let m = Model::load(&c, None).unwrap();
    let pinned: Vec<String> = m
        .deployments(Some("terraform-resources"), Some("qr-production"))
        .into_iter()
        .filter(|d| d.pinned)
        .map(|d| format!("{} {}", d.name, d.image))
        .collect();
    insta::assert_snapshot!(pinned.join("\n"), @r#"
    qontract-reconcile-terraform-resources-app-int quay.io/app-sre/qontract-reconcile:cafe123
    qontract-reconcile-terraform-resources-app-sre quay.io/app-sre/qontract-reconcile:cafe123
    qontract-reconcile-terraform-resources-ter-int-dev quay.io/app-sre/qontract-reconcile:deadbee
    "#);
}

#[test]
fn pin_refuses_to_move_a_pinned_shard_without_force() {
    let sb = Sandbox::fixture("model");
    let (c, m) = load(&sb);
    let err = pin_shards(
        &c,
        &m,
        "terraform-resources",
        &["ter-int-dev"],
        Some("f00f00f"),
        false,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "data/integrations/terraform-resources.yml:14: shard ter-int-dev of terraform-resources is pinned to deadbee, not f00f00f (--force changes it)"
    );
    let ch = pin_shards(
        &c,
        &m,
        "terraform-resources",
        &["ter-int-dev"],
        Some("f00f00f"),
        true,
    )
    .unwrap();
    let after = String::from_utf8(ch.after).unwrap();
    assert_eq!(
        after,
        sb.read("data/integrations/terraform-resources.yml")
            .replace("deadbee", "f00f00f")
    );
    // The same ref again changes nothing.
    let ch = pin_shards(
        &c,
        &m,
        "terraform-resources",
        &["ter-int-dev"],
        Some("deadbee"),
        false,
    )
    .unwrap();
    assert_eq!(ch.before, ch.after);
}

#[test]
fn pin_creates_overrides_four_spaces_indented_sequences_comments() {
    let text = "---\n$schema: /app-sre/integration-1.yml\n# the biggest one\nname: terraform-resources\nmanaged:\n    -   namespace:\n            $ref: /services/qr/namespaces/qr-production.yml\n        spec: {cache: true}  # flow here\n        sharding:\n            strategy: per-aws-account   # one shard per account\n        # trailing comment\n    -   namespace:\n            $ref: /services/qr/namespaces/qr-stage.yml\n        sharding:\n            strategy: per-aws-account\n";
    let after = pin_text(
        "data/integrations/terraform-resources.yml",
        text,
        "terraform-resources",
        &["ter-int-dev"],
        Some("0373973"),
    );
    insta::assert_snapshot!(after, @r#"
    ---
    $schema: /app-sre/integration-1.yml
    # the biggest one
    name: terraform-resources
    managed:
        -   namespace:
                $ref: /services/qr/namespaces/qr-production.yml
            spec: {cache: true}  # flow here
            sharding:
                strategy: per-aws-account   # one shard per account
                shardSpecOverrides:
                    - shard:
                          $ref: /aws/ter-int-dev/account.yml
                      imageRef: '0373973'
            # trailing comment
        -   namespace:
                $ref: /services/qr/namespaces/qr-stage.yml
            sharding:
                strategy: per-aws-account
    "#);
    assert_eq!(unpin_all(&after, "terraform-resources"), text);
}

/// Writes `after` as the integration's file, then unpins every shard and returns the file.
fn unpin_all(after: &str, integration: &str) -> String {
    let sb = Sandbox::fixture("model");
    let rel = format!("data/integrations/{integration}.yml");
    sb.write(&rel, after);
    let (c, m) = load(&sb);
    let ch = unpin(&c, &m, integration, Which::All, None).unwrap();
    String::from_utf8(ch.after).unwrap()
}

#[test]
fn pin_on_static_sharding_is_refused_naming_the_file_and_integration() {
    // qontract-reconcile's static sharding reads no shardSpecOverrides: a per-shard image
    // cannot be had, only the entry's spec.imageRef.
    let text = "$schema: /app-sre/integration-1.yml\nname: gitlab-housekeeping\nmanaged:\n- namespace: {$ref: /services/qr/namespaces/qr-production.yml}\n  sharding: {strategy: static, shards: 3}";
    let sb = Sandbox::fixture("model");
    sb.write("data/integrations/gitlab-housekeeping.yml", text);
    let (c, m) = load(&sb);
    let e = pin(
        &c,
        &m,
        "gitlab-housekeeping",
        &s(&["2"]),
        Some("abc1234"),
        None,
        false,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "data/integrations/gitlab-housekeeping.yml:4: gitlab-housekeeping: static sharding has no per-shard image (qontract-reconcile reads no shardSpecOverrides for it); pin the whole entry with spec.imageRef instead; nothing written"
    );
    assert_eq!(sb.read("data/integrations/gitlab-housekeeping.yml"), text);
}

#[test]
fn pin_cluster_next_to_a_flow_override_and_an_org_by_name() {
    let after = pin_text(
        "data/integrations/openshift-users.yml",
        &Sandbox::fixture("model").read("data/integrations/openshift-users.yml"),
        "openshift-users",
        &["stage-01"],
        Some("abc1234"),
    );
    insta::assert_snapshot!(after, @r#"
    ---
    $schema: /app-sre/integration-1.yml
    name: openshift-users
    managed:
    - namespace:
        $ref: /services/qr/namespaces/qr-production.yml
      spec: {}
      sharding:
        strategy: per-openshift-cluster
        shardSpecOverrides:
        - shard: {$ref: /openshift/edge-01/cluster.yml}
          imageRef: '0373973'
          subSharding:
            strategy: static
            shards: 2
        - shard:
            $ref: /openshift/stage-01/cluster.yml
          imageRef: abc1234
    "#);
    let sb = Sandbox::fixture("model");
    let (c, m) = load(&sb);
    let ch = pin_shards(
        &c,
        &m,
        "ocm-groups",
        &["ocm-production"],
        Some("fff0000"),
        true,
    )
    .unwrap();
    insta::assert_snapshot!(String::from_utf8(ch.after).unwrap(), @r#"
    ---
    $schema: /app-sre/integration-1.yml
    name: ocm-groups
    managed:
    - namespace:
        $ref: /services/qr/namespaces/qr-production.yml
      spec:
        imageRef: beef000
      sharding:
        strategy: per-ocm-organization
        shardSpecOverrides:
        - shard:
            $ref: /dependencies/ocm/production.yml
          imageRef: fff0000
    "#);
}

#[test]
fn pin_into_block_item_without_image_ref_four_spaces_unindented() {
    let text = "$schema: /app-sre/integration-1.yml\nname: openshift-users\nmanaged:\n- namespace:\n      $ref: /services/qr/namespaces/qr-production.yml\n  sharding:\n      strategy: per-openshift-cluster\n      shardSpecOverrides:\n      - shard:\n            $ref: /openshift/edge-01/cluster.yml\n        subSharding:\n            strategy: static\n            shards: 2\n      - {shard: {$ref: /openshift/stage-01/cluster.yml}}\n";
    let after = pin_text(
        "data/integrations/openshift-users.yml",
        text,
        "openshift-users",
        &["stage-01", "edge-01"],
        Some("abc1234"),
    );
    insta::assert_snapshot!(after, @r#"
    $schema: /app-sre/integration-1.yml
    name: openshift-users
    managed:
    - namespace:
          $ref: /services/qr/namespaces/qr-production.yml
      sharding:
          strategy: per-openshift-cluster
          shardSpecOverrides:
          - shard:
                $ref: /openshift/edge-01/cluster.yml
            subSharding:
                strategy: static
                shards: 2
            imageRef: abc1234
          - {shard: {$ref: /openshift/stage-01/cluster.yml}, imageRef: abc1234}
    "#);
    assert_eq!(
        unpin_all(&after, "openshift-users"),
        text.replace(
            "      - {shard: {$ref: /openshift/stage-01/cluster.yml}}\n",
            ""
        )
    );
}

#[test]
fn unpin_removes_refs_overrides_and_the_empty_list() {
    let sb = Sandbox::fixture("model");
    let (c, m) = load(&sb);
    // An override that says more keeps its other keys.
    let ch = pin_shards(
        &c,
        &m,
        "terraform-resources",
        &["app-sre"],
        Some("1111111"),
        false,
    )
    .unwrap();
    qr_promote::transaction::write_all(&lock(&c.root), &[ch]).unwrap();
    let m = Model::load(&c, None).unwrap();
    let ch = unpin(
        &c,
        &m,
        "terraform-resources",
        Which::Shards(&s(&["ter-int-dev"])),
        None,
    )
    .unwrap();
    let one_unpinned = String::from_utf8(ch.after).unwrap();
    insta::assert_snapshot!(one_unpinned, @r#"
    ---
    $schema: /app-sre/integration-1.yml
    name: terraform-resources
    managed:
    - namespace:
        $ref: /services/qr/namespaces/qr-production.yml
      spec:
        cache: true
      sharding:
        strategy: per-aws-account
        shardSpecOverrides:
        - shard:
            $ref: /aws/app-sre/account.yml
          subSharding:
            strategy: static
            shards: 2
          imageRef: '1111111'
    - namespace:
        $ref: /services/qr/namespaces/qr-stage.yml
      spec: {}
      sharding:
        strategy: per-aws-account
    "#);
    // All of them: the override that says more keeps its other keys, without the imageRef.
    let ch = unpin(&c, &m, "terraform-resources", Which::All, None).unwrap();
    assert_eq!(
        String::from_utf8(ch.after).unwrap(),
        one_unpinned.replace("      imageRef: '1111111'\n", "")
    );
    let ch = unpin(&c, &m, "openshift-users", Which::All, None).unwrap();
    insta::assert_snapshot!(String::from_utf8(ch.after).unwrap(), @r#"
    ---
    $schema: /app-sre/integration-1.yml
    name: openshift-users
    managed:
    - namespace:
        $ref: /services/qr/namespaces/qr-production.yml
      spec: {}
      sharding:
        strategy: per-openshift-cluster
        shardSpecOverrides:
        - shard: {$ref: /openshift/edge-01/cluster.yml}
          subSharding:
            strategy: static
            shards: 2
    "#);
    let err = unpin(
        &c,
        &m,
        "terraform-resources",
        Which::Shards(&s(&["app-int"])),
        None,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "data/integrations/terraform-resources.yml: shard app-int of terraform-resources is not pinned (no override with an imageRef)"
    );
}

#[test]
fn pin_errors_name_what_is_wrong() {
    let sb = Sandbox::fixture("model");
    let (c, m) = load(&sb);
    let e = |i: &str, sh: &[&str], ns: Option<&str>| {
        pin(&c, &m, i, &s(sh), Some("abc1234"), ns, false)
            .unwrap_err()
            .to_string()
    };
    insta::assert_snapshot!(
        [
            e("terraform-resource", &["x"], None),
            e("terraform-resources", &["ter-int-de"], None),
            e("terraform-resources", &["legacy"], None),
            e("terraform-resources", &["app-sre-1"], None),
            e("github", &["x"], Some("qr-stage")),
            e("github", &["x"], None),
            e("aws-iam-keys", &["app-sre"], None),
        ]
        .join("\n"),
        @r#"
    unknown integration terraform-resource (did you mean terraform-resources?)
    data/integrations/terraform-resources.yml:5: unknown shard ter-int-de of terraform-resources in namespace qr-production (3 per-aws-account shards) (did you mean ter-int-dev?)
    data/integrations/terraform-resources.yml:5: legacy is no shard of terraform-resources: data/aws/legacy/account.yml disables it
    data/integrations/terraform-resources.yml:5: unknown shard app-sre-1 of terraform-resources in namespace qr-production (3 per-aws-account shards) (did you mean app-sre?)
    data/integrations/github.yml:5: github has no sharding in namespace qr-stage
    data/integrations/github.yml: no managed entries of github in an environment of type production (labels.type) (name one with a namespace); entries: data/integrations/github.yml:5: qr-stage (stage, type stage)
    data/integrations/aws-iam-keys.yml:5: aws-iam-keys runs as one CronJob in namespace qr-production: it has no shards to pin
    "#
    );
}

#[test]
fn the_example_checkout_demo() {
    let sb = Sandbox::example();
    let (c, m) = load(&sb);
    insta::assert_snapshot!(table(&m, None, None), @r#"
    CronJob qontract-reconcile-aws-iam-keys app-interface-production@appint-prod-01 (production) quay.io/app-sre/qontract-reconcile:a1b2c3d
    Deployment qontract-reconcile-gitlab-housekeeping-0 app-interface-production@appint-prod-01 (production) quay.io/app-sre/qontract-reconcile:a1b2c3d
    Deployment qontract-reconcile-gitlab-housekeeping-1 app-interface-production@appint-prod-01 (production) quay.io/app-sre/qontract-reconcile:a1b2c3d
    Deployment qontract-reconcile-gitlab-housekeeping-2 app-interface-production@appint-prod-01 (production) quay.io/app-sre/qontract-reconcile:a1b2c3d
    StatefulSet qontract-reconcile-terraform-resources-app-sre app-interface-production@appint-prod-01 (production) quay.io/app-sre/qontract-reconcile:a1b2c3d
    StatefulSet qontract-reconcile-terraform-resources-ter-int-dev app-interface-production@appint-prod-01 (production) quay.io/app-sre/qontract-reconcile:f929a38 pinned
    StatefulSet qontract-reconcile-terraform-resources-app-sre app-interface-stage@appint-stage-01 (stage) quay.io/app-sre/qontract-reconcile:master
    StatefulSet qontract-reconcile-terraform-resources-ter-int-dev app-interface-stage@appint-stage-01 (stage) quay.io/app-sre/qontract-reconcile:master
    "#);
    let ch = pin_shards(&c, &m, "terraform-resources", &["app-sre"], None, false).unwrap();
    insta::assert_snapshot!(qr_promote::promote::plan::unified_diff(&ch.path, &ch.before, &ch.after), @r#"
    diff --git a/data/integrations/terraform-resources.yml b/data/integrations/terraform-resources.yml
    --- a/data/integrations/terraform-resources.yml
    +++ b/data/integrations/terraform-resources.yml
    @@ -17,6 +17,9 @@ managed:
         - shard:
             $ref: /aws/ter-int-dev/account.yml
           imageRef: f929a38
    +    - shard:
    +        $ref: /aws/app-sre/account.yml
    +      imageRef: a1b2c3d
     - namespace:
         $ref: /services/app-interface/namespaces/app-interface-stage.yml
       spec:
    "#);
}

#[test]
fn pin_into_an_empty_or_null_override_list() {
    let text = "$schema: /app-sre/integration-1.yml\nname: terraform-resources\nmanaged:\n- namespace: {$ref: /services/qr/namespaces/qr-production.yml}\n  sharding:\n    strategy: per-aws-account\n    shardSpecOverrides: # none yet\n- namespace: {$ref: /services/qr/namespaces/qr-stage.yml}\n  sharding:\n    strategy: per-aws-account\n    shardSpecOverrides: []\n";
    let after = pin_text(
        "data/integrations/terraform-resources.yml",
        text,
        "terraform-resources",
        &["app-int"],
        Some("abc1234"),
    );
    insta::assert_snapshot!(after, @r#"
    $schema: /app-sre/integration-1.yml
    name: terraform-resources
    managed:
    - namespace: {$ref: /services/qr/namespaces/qr-production.yml}
      sharding:
        strategy: per-aws-account
        shardSpecOverrides: # none yet
        - shard:
            $ref: /aws/app-int/account.yml
          imageRef: abc1234
    - namespace: {$ref: /services/qr/namespaces/qr-stage.yml}
      sharding:
        strategy: per-aws-account
        shardSpecOverrides: []
    "#);
    let sb = Sandbox::fixture("model");
    sb.write("data/integrations/terraform-resources.yml", text);
    let (c, m) = load(&sb);
    let ch = pin(
        &c,
        &m,
        "terraform-resources",
        &s(&["data/aws/app-int/account.yml"]),
        Some("abc1234"),
        Some("qr-stage"),
        false,
    )
    .unwrap();
    insta::assert_snapshot!(String::from_utf8(ch.after).unwrap(), @r#"
    $schema: /app-sre/integration-1.yml
    name: terraform-resources
    managed:
    - namespace: {$ref: /services/qr/namespaces/qr-production.yml}
      sharding:
        strategy: per-aws-account
        shardSpecOverrides: # none yet
    - namespace: {$ref: /services/qr/namespaces/qr-stage.yml}
      sharding:
        strategy: per-aws-account
        shardSpecOverrides: [{shard: {$ref: /aws/app-int/account.yml}, imageRef: abc1234}]
    "#);
}

#[test]
fn the_model_loads_through_the_scan_cache() {
    let sb = Sandbox::fixture("model");
    let c = Checkout::open(&sb.root()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let first = Model::load(&c, Some(cache.path())).unwrap();
    let cached: Vec<_> = std::fs::read_dir(cache.path().join("scan"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let again = Model::load(&c, Some(cache.path())).unwrap();
    assert_eq!(
        format!("{:?}", again.deployments(None, None)),
        format!("{:?}", first.deployments(None, None))
    );
    assert_eq!(
        format!(
            "{:?}",
            Model::load(&c, None).unwrap().deployments(None, None)
        ),
        format!("{:?}", first.deployments(None, None))
    );
}
