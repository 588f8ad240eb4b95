//! deployments, pin, unpin, pr-check and plan's pinned-shard line through the binary, on the example checkout.

use crate::support::{Sandbox, NEW};

const TR: &str = "data/integrations/terraform-resources.yml";
const GH: &str = "data/integrations/gitlab-housekeeping.yml";

fn plan_offline(sb: &Sandbox) -> String {
    sb.run(&["plan", "--offline", "--to", NEW]).ok().stdout
}

#[test]
fn deployments_lists_every_object_with_its_image_and_pin() {
    let sb = Sandbox::example();
    let r = sb.run(&["deployments"]).ok();
    insta::assert_snapshot!(r.stdout, @r"
    NAMESPACE                                KIND         NAME                                                SHARD        IMAGE                                       PIN
    app-interface-production@appint-prod-01  CronJob      qontract-reconcile-aws-iam-keys                     -            quay.io/app-sre/qontract-reconcile:a1b2c3d
    app-interface-production@appint-prod-01  Deployment   qontract-reconcile-gitlab-housekeeping-0            0            quay.io/app-sre/qontract-reconcile:a1b2c3d
    app-interface-production@appint-prod-01  Deployment   qontract-reconcile-gitlab-housekeeping-1            1            quay.io/app-sre/qontract-reconcile:a1b2c3d
    app-interface-production@appint-prod-01  Deployment   qontract-reconcile-gitlab-housekeeping-2            2            quay.io/app-sre/qontract-reconcile:a1b2c3d
    app-interface-production@appint-prod-01  StatefulSet  qontract-reconcile-terraform-resources-app-sre      app-sre      quay.io/app-sre/qontract-reconcile:a1b2c3d
    app-interface-production@appint-prod-01  StatefulSet  qontract-reconcile-terraform-resources-ter-int-dev  ter-int-dev  quay.io/app-sre/qontract-reconcile:f929a38  pinned
    app-interface-stage@appint-stage-01      StatefulSet  qontract-reconcile-terraform-resources-app-sre      app-sre      quay.io/app-sre/qontract-reconcile:master
    app-interface-stage@appint-stage-01      StatefulSet  qontract-reconcile-terraform-resources-ter-int-dev  ter-int-dev  quay.io/app-sre/qontract-reconcile:master

    8 objects of 3 integrations in 2 namespaces, 1 pinned
    ");
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn deployments_filters_and_json() {
    let sb = Sandbox::example();
    let v = sb
        .run(&[
            "--json",
            "deployments",
            "--integration",
            "terraform-resources",
            "--namespace",
            "app-interface-production",
        ])
        .ok()
        .json();
    let deps = v["deployments"].as_array().unwrap();
    let names: Vec<&str> = deps.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "qontract-reconcile-terraform-resources-app-sre",
            "qontract-reconcile-terraform-resources-ter-int-dev"
        ]
    );
    assert_eq!(deps[1]["pinned"], true);
    assert_eq!(deps[1]["pin_ref"], "f929a38");
    assert_eq!(deps[1]["kind"], "StatefulSet");
    assert_eq!(deps[1]["environment"], "production");
    assert_eq!(
        deps[0]["image"],
        "quay.io/app-sre/qontract-reconcile:a1b2c3d"
    );
    assert_eq!(v["manager_tags"]["stage"], "master");
    // A namespace by its $ref path selects the same entry.
    let by_ref = sb
        .run(&[
            "--json",
            "deployments",
            "--namespace",
            "/services/app-interface/namespaces/app-interface-stage.yml",
        ])
        .ok()
        .json();
    assert_eq!(by_ref["deployments"].as_array().unwrap().len(), 2);
}

#[test]
fn deployments_unknown_names_fail_with_a_suggestion() {
    let sb = Sandbox::example();
    let r = sb
        .run(&["deployments", "--namespace", "app-interface-prod"])
        .code(1);
    assert!(
        r.stderr
            .contains("no integration runs in namespace app-interface-prod"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("did you mean app-interface-production, app-interface-stage?"),
        "{}",
        r.stderr
    );
    let r = sb
        .run(&["deployments", "--integration", "terraform-resource"])
        .code(1);
    assert!(
        r.stderr.contains("unknown integration terraform-resource")
            && r.stderr.contains("terraform-resources"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_unknown_sharding_strategy_is_a_warning_not_a_failure() {
    let sb = Sandbox::example();
    sb.write(
        "data/integrations/dns.yml",
        "---\n$schema: /app-sre/integration-1.yml\nname: dns\nmanaged:\n- namespace:\n    $ref: /services/app-interface/namespaces/app-interface-production.yml\n  sharding:\n    strategy: per-dns-zone\n",
    );
    let r = sb.run(&["deployments"]).ok();
    assert!(
        r.stderr.contains(
            "data/integrations/dns.yml:8: sharding strategy \"per-dns-zone\" is not known"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("qontract-reconcile-dns"), "{}", r.stdout);
    assert!(
        r.stdout.contains("8 objects of 3 integrations"),
        "{}",
        r.stdout
    );
    let r = sb
        .run(&["pin", "--skip-image-check", "dns", "--shard", "x"])
        .code(1);
    assert!(
        r.stderr.contains("a strategy qr-promote does not know"),
        "{}",
        r.stderr
    );
}

#[test]
fn pin_then_unpin_gives_back_the_same_bytes() {
    let sb = Sandbox::example();
    let before = sb.read(TR);
    let r = sb
        .run(&[
            "pin",
            "--skip-image-check",
            "terraform-resources",
            "--shard",
            "app-sre",
        ])
        .ok();
    assert!(
        r.stdout
            .contains("pin app-sre of terraform-resources to a1b2c3d: wrote data/integrations/terraform-resources.yml"),
        "{}",
        r.stdout
    );
    let v = sb
        .run(&[
            "--json",
            "deployments",
            "--integration",
            "terraform-resources",
            "--namespace",
            "app-interface-production",
        ])
        .ok()
        .json();
    let pinned: Vec<(String, bool)> = v["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["shard"].as_str().unwrap().to_string(),
                d["pinned"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pinned,
        [
            ("app-sre".to_string(), true),
            ("ter-int-dev".to_string(), true)
        ]
    );
    sb.run(&["unpin", "terraform-resources", "--shard", "app-sre"])
        .ok();
    assert_eq!(sb.read(TR), before);
}

#[test]
fn pin_on_static_sharding_is_refused_and_writes_nothing() {
    let sb = Sandbox::example();
    let before = sb.snapshot();
    let r = sb
        .run(&[
            "pin",
            "--skip-image-check",
            "gitlab-housekeeping",
            "--shard",
            "1",
        ])
        .code(1);
    assert_eq!(
        r.stderr.lines().filter(|l| l.contains(GH)).count(),
        1,
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(": gitlab-housekeeping: static sharding has no per-shard image (qontract-reconcile reads no shardSpecOverrides for it); pin the whole entry with spec.imageRef instead"),
        "{}",
        r.stderr
    );
    assert_eq!(sb.snapshot(), before, "nothing written");
}

#[test]
fn pin_per_ocm_organization_writes_a_ref_to_the_organization_file() {
    let sb = Sandbox::fixture("model");
    let rel = "data/integrations/ocm-groups.yml";
    sb.write(
        rel,
        "---\n$schema: /app-sre/integration-1.yml\nname: ocm-groups\nmanaged:\n- namespace:\n    $ref: /services/qr/namespaces/qr-production.yml\n  spec: {}\n  sharding:\n    strategy: per-ocm-organization\n",
    );
    // The organization by its orgId, in another case than the file writes it.
    sb.run(&[
        "pin",
        "--skip-image-check",
        "ocm-groups",
        "--shard",
        "1abcdef",
        "--image-ref",
        "abc1234",
    ])
    .ok();
    insta::assert_snapshot!("pin_per_ocm_organization_ref_form", sb.read(rel));
    let r = sb.run(&["pr-check", "--integration", "ocm-groups"]).ok();
    assert!(
        r.stdout.contains("ocm-groups_override_abc1234  quay.io/app-sre/qontract-reconcile:abc1234  --org-id 1AbCdEf"),
        "{}",
        r.stdout
    );
}

#[test]
fn pin_refuses_a_tag_missing_from_the_registry_and_writes_nothing() {
    let reg = crate::support::registry_server::start_registry(false);
    let sb = Sandbox::example();
    let before = sb.snapshot();
    let over = format!("quay.io={}", reg.url);
    let r = sb
        .run(&[
            "pin",
            "terraform-resources",
            "--shard",
            "app-sre",
            "--image-ref",
            "0000000",
            "--registry-url",
            &over,
        ])
        .code(1);
    assert!(
        r.stderr.contains(
            "quay.io/app-sre/qontract-reconcile:0000000 is not in the registry; nothing written"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(sb.snapshot(), before, "nothing written");
}

#[test]
fn pin_refuses_to_move_a_pinned_shard_without_force() {
    let sb = Sandbox::example();
    let before = sb.snapshot();
    let r = sb
        .run(&[
            "pin",
            "--skip-image-check",
            "terraform-resources",
            "--shard",
            "ter-int-dev",
        ])
        .code(1);
    assert!(
        r.stderr
            .contains("shard ter-int-dev of terraform-resources is pinned to f929a38, not a1b2c3d (--force changes it)"),
        "{}",
        r.stderr
    );
    assert_eq!(sb.snapshot(), before, "nothing written");
    let r = sb
        .run(&[
            "pin",
            "--skip-image-check",
            "terraform-resources",
            "--shard",
            "ter-int-de",
        ])
        .code(1);
    assert!(
        r.stderr.contains("did you mean ter-int-dev?"),
        "{}",
        r.stderr
    );
    sb.run(&[
        "pin",
        "--skip-image-check",
        "terraform-resources",
        "--shard",
        "ter-int-dev",
        "--force",
    ])
    .ok();
    let text = sb.read(TR);
    assert!(
        text.contains("        $ref: /aws/ter-int-dev/account.yml\n      imageRef: a1b2c3d\n"),
        "{text}"
    );
    assert!(!text.contains("f929a38"), "{text}");
}

#[test]
fn pin_by_ref_in_another_namespace_and_dry_run() {
    let sb = Sandbox::example();
    let before = sb.snapshot();
    let r = sb
        .run(&[
            "pin",
            "--skip-image-check",
            "terraform-resources",
            "--shard",
            "/aws/app-sre/account.yml",
            "--namespace",
            "app-interface-stage",
            "--image-ref",
            "0a1b2c3",
            "--dry-run",
        ])
        .ok();
    assert!(
        r.stdout.contains("+    shardSpecOverrides:\n+    - shard:\n+        $ref: /aws/app-sre/account.yml\n+      imageRef: 0a1b2c3\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("would write (--dry-run)"), "{}", r.stdout);
    assert_eq!(sb.snapshot(), before, "--dry-run writes nothing");
    // The same pin twice: the second changes nothing.
    let args = [
        "pin",
        "--skip-image-check",
        "terraform-resources",
        "--shard",
        "app-sre",
        "--namespace",
        "app-interface-stage",
        "--image-ref",
        "0a1b2c3",
    ];
    sb.run(&args).ok();
    let once = sb.read(TR);
    let r = sb.run(&args).ok();
    assert!(r.stdout.contains("nothing to change"), "{}", r.stdout);
    assert_eq!(sb.read(TR), once);
}

#[test]
fn pr_check_runs_one_per_pinned_ref_and_one_without_them() {
    let sb = Sandbox::example();
    sb.run(&[
        "pin",
        "--skip-image-check",
        "terraform-resources",
        "--shard",
        "app-sre",
        "--image-ref",
        "abcdef0",
    ])
    .ok();
    let r = sb.run(&["pr-check"]).ok();
    insta::assert_snapshot!(r.stdout, @r"
    terraform-resources                   quay.io/app-sre/qontract-reconcile:a1b2c3d  --exclude-accounts app-sre --exclude-accounts ter-int-dev
    terraform-resources_override_abcdef0  quay.io/app-sre/qontract-reconcile:abcdef0  --account-name app-sre
    terraform-resources_override_f929a38  quay.io/app-sre/qontract-reconcile:f929a38  --account-name ter-int-dev
    ");
    let v = sb
        .run(&["--json", "pr-check", "--integration", "terraform-resources"])
        .ok()
        .json();
    assert_eq!(v["runs"].as_array().unwrap().len(), 3);
    sb.run(&["unpin", "terraform-resources", "--all"]).ok();
    let r = sb.run(&["pr-check"]).ok();
    assert_eq!(
        r.stdout,
        "no pinned shards in any integration: the check runs every integration once with quay.io/app-sre/qontract-reconcile:a1b2c3d\n"
    );
}

#[test]
fn plan_says_which_shards_stay_pinned() {
    let sb = Sandbox::example();
    let out = plan_offline(&sb);
    assert!(
        out.contains(
            "\n1 shard of terraform-resources stays on f929a38 (ter-int-dev); 1 moves to 1234567\n"
        ),
        "{out}"
    );
    let v = sb
        .run(&["--json", "plan", "--offline", "--to", NEW])
        .ok()
        .json();
    assert_eq!(v["shards"][0]["integration"], "terraform-resources");
    assert_eq!(v["shards"][0]["staying"][0]["image_ref"], "f929a38");
    assert_eq!(v["shards"][0]["moving"][0], "app-sre");
    // Only the .env moves: no saas target, so no shard moves either.
    let env_only = sb
        .run(&["plan", "--offline", "--to", NEW, "--kind", "env"])
        .ok()
        .stdout;
    assert!(!env_only.contains("stays on"), "{env_only}");
    sb.run(&["unpin", "terraform-resources", "--all"]).ok();
    let out = plan_offline(&sb);
    assert!(!out.contains("stays on"), "{out}");
}

const LAYOUTS_GROUPS: &str = "data/integrations/openshift-groups.yml";

#[test]
fn pin_without_namespace_pins_the_entry_whose_environment_is_of_type_production() {
    let sb = Sandbox::fixture("layouts");
    // The stage entry comes first; the environments are named `app-interface-*-int`.
    let r = sb
        .run(&[
            "pin",
            "openshift-groups",
            "--shard",
            "appint-prod",
            "--image-ref",
            "89508c2-rc",
            "--skip-image-check",
        ])
        .ok();
    assert!(
        r.stdout
            .contains("wrote data/integrations/openshift-groups.yml"),
        "{}",
        r.stdout
    );
    let after = sb.read(LAYOUTS_GROUPS);
    let prod = after
        .find("app-interface-production-int.yml")
        .expect("production entry");
    let pin = after
        .find("$ref: /openshift/appint-prod/cluster.yml")
        .expect("new override");
    assert!(pin > prod, "{after}");
    assert!(after[pin..].contains("imageRef: 89508c2-rc"), "{after}");
    // Without a production-typed environment, the entries are listed with their types.
    sb.write(
        "data/products/app-interface/environments/app-interface-production-int.yml",
        "---\n$schema: /products/environment-1.yml\nname: app-interface-production-int\nlabels: {type: stage}\n",
    );
    let r = sb
        .run(&[
            "pin",
            "openshift-groups",
            "--shard",
            "appint-prod",
            "--skip-image-check",
        ])
        .code(1);
    assert!(
        r.stderr.contains(
            "no managed entries of openshift-groups in an environment of type production"
        ) && r
            .stderr
            .contains("app-interface-production-int (app-interface-production-int, type stage)"),
        "{}",
        r.stderr
    );
}

#[test]
fn deployments_and_pr_check_read_the_layout_before_2023() {
    let sb = Sandbox::fixture("layouts");
    let r = sb
        .run(&["deployments", "--integration", "terraform-resources"])
        .ok();
    // spec.shardingStrategy: per-aws-account gives one StatefulSet per account; the
    // shardSpecOverride beside spec pins ter-int-dev in production only.
    insta::assert_snapshot!(r.stdout, @r"
    NAMESPACE                                 KIND         NAME                                                  SHARD          IMAGE                                          PIN
    app-interface-production-int@appint-prod  StatefulSet  qontract-reconcile-terraform-resources-app-sre        app-sre        quay.io/app-sre/qontract-reconcile:f929a38
    app-interface-production-int@appint-prod  StatefulSet  qontract-reconcile-terraform-resources-app-sre-stage  app-sre-stage  quay.io/app-sre/qontract-reconcile:f929a38
    app-interface-production-int@appint-prod  StatefulSet  qontract-reconcile-terraform-resources-ter-int-dev    ter-int-dev    quay.io/app-sre/qontract-reconcile:89508c2-rc  pinned
    app-interface-stage-int@appint-stage      StatefulSet  qontract-reconcile-terraform-resources-app-sre        app-sre        quay.io/app-sre/qontract-reconcile:master
    app-interface-stage-int@appint-stage      StatefulSet  qontract-reconcile-terraform-resources-app-sre-stage  app-sre-stage  quay.io/app-sre/qontract-reconcile:master
    app-interface-stage-int@appint-stage      StatefulSet  qontract-reconcile-terraform-resources-ter-int-dev    ter-int-dev    quay.io/app-sre/qontract-reconcile:master

    6 objects of 1 integration in 2 namespaces, 1 pinned
    ");
    let r = sb
        .run(&["pr-check", "--integration", "terraform-resources"])
        .ok();
    assert!(
        r.stdout.contains("--exclude-accounts ter-int-dev")
            && r.stdout.contains("terraform-resources_override_89508c2-rc")
            && r.stdout.contains("--account-name ter-int-dev"),
        "{}",
        r.stdout
    );
    // A file that writes both layouts is refused with a line of each.
    sb.write(
        "data/integrations/mixed.yml",
        "---\n$schema: /app-sre/integration-1.yml\nname: mixed\nmanaged:\n- namespace:\n    $ref: /services/app-interface/namespaces/app-interface-production-int.yml\n  spec:\n    shardingStrategy: per-aws-account\n- namespace:\n    $ref: /services/app-interface/namespaces/app-interface-stage-int.yml\n  sharding:\n    strategy: per-aws-account\n",
    );
    let r = sb
        .run(&["pin", "mixed", "--shard", "app-sre", "--skip-image-check"])
        .code(1);
    assert!(
        r.stderr.contains("data/integrations/mixed.yml:12: sharding (the layout of 2023-04 on) and data/integrations/mixed.yml:8: spec.shardingStrategy (the layout before) in one file"),
        "{}",
        r.stderr
    );
}

#[test]
fn pin_repin_and_unpin_write_the_layout_before_2023_in_both_places() {
    let sb = Sandbox::fixture("layouts");
    let tu = "data/integrations/terraform-users.yml";
    let tr = "data/integrations/terraform-resources.yml";
    let before = sb.read(tu);
    sb.run(&[
        "pin",
        "terraform-users",
        "--shard",
        "app-sre",
        "--image-ref",
        "89508c2-rc",
        "--skip-image-check",
    ])
    .ok();
    insta::assert_snapshot!("layouts_before_2023_pin_new_lists", sb.read(tu));
    sb.run(&[
        "pin",
        "terraform-users",
        "--shard",
        "app-sre",
        "--image-ref",
        "f929a38",
        "--force",
        "--skip-image-check",
    ])
    .ok();
    insta::assert_snapshot!("layouts_before_2023_repin", sb.read(tu));
    sb.run(&["unpin", "terraform-users", "--shard", "app-sre"])
        .ok();
    assert_eq!(sb.read(tu), before);
    // Appending keeps each list's own indentation: indented under pr_check, not under managed.
    let before = sb.read(tr);
    sb.run(&[
        "pin",
        "terraform-resources",
        "--shard",
        "app-sre",
        "--image-ref",
        "89508c2-rc",
        "--skip-image-check",
    ])
    .ok();
    insta::assert_snapshot!("layouts_before_2023_pin_appends", sb.read(tr));
    sb.run(&["unpin", "terraform-resources", "--shard", "app-sre"])
        .ok();
    assert_eq!(sb.read(tr), before);
    sb.run(&["unpin", "terraform-resources", "--all"]).ok();
    insta::assert_snapshot!("layouts_before_2023_unpin_all", sb.read(tr));
}

#[test]
fn pin_refuses_when_the_registry_cannot_be_asked_and_writes_nothing() {
    // A port nothing listens on: the registry cannot be asked.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sb = Sandbox::example();
    let before = sb.snapshot();
    let over = format!("quay.io=http://127.0.0.1:{port}");
    let args = [
        "pin",
        "terraform-resources",
        "--shard",
        "app-sre",
        "--image-ref",
        "0000000",
        "--registry-url",
        &over,
    ];
    let r = sb.run(&args).code(1);
    assert!(
        r.stderr.contains(
            "quay.io/app-sre/qontract-reconcile:0000000 could not be checked in the registry: "
        ) && r.stderr.contains("; nothing written"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--skip-image-check"), "{}", r.stderr);
    assert_eq!(sb.snapshot(), before, "nothing written");
    // --skip-image-check pins it without asking.
    let mut skip = args.to_vec();
    skip.push("--skip-image-check");
    sb.run(&skip).ok();
    assert_ne!(sb.snapshot(), before);
}

const CF: &str = "data/integrations/terraform-cloudflare-dns.yml";

/// The warnings of `stderr` but the fixture's own one (an ignored subSharding of
/// terraform-resources).
fn other_warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.starts_with("warning: data/integrations/terraform-resources.yml:15: "))
        .collect()
}

#[test]
fn deployments_lists_one_object_per_cloudflare_dns_zone_without_a_warning() {
    let sb = Sandbox::fixture("model");
    let r = sb
        .run(&["deployments", "--integration", "terraform-cloudflare-dns"])
        .ok();
    insta::assert_snapshot!(r.stdout, @r"
    NAMESPACE              KIND        NAME                                                                      SHARD                         IMAGE                                       PIN
    qr-production@prod-01  Deployment  qontract-reconcile-terraform-cloudflare-dns-service-delivery-example-com  service-delivery-example-com  quay.io/app-sre/qontract-reconcile:f929a38
    qr-production@prod-01  Deployment  qontract-reconcile-terraform-cloudflare-dns-service-delivery-example-org  service-delivery-example-org  quay.io/app-sre/qontract-reconcile:f929a38

    2 objects of 1 integration in 1 namespace, 0 pinned
    ");
    assert_eq!(other_warnings(&r.stderr), Vec::<&str>::new());
    let v = sb
        .run(&[
            "--json",
            "deployments",
            "--integration",
            "terraform-cloudflare-dns",
        ])
        .ok()
        .json();
    let args: Vec<String> = v["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{} {}", d["shard"], d["args"]))
        .collect();
    assert_eq!(
        args,
        [
            r#""service-delivery-example-com" ["--zone-name","example-com"]"#,
            r#""service-delivery-example-org" ["--zone-name","example-org"]"#,
        ]
    );
    let r = sb.run(&["pr-check"]).ok();
    assert_eq!(other_warnings(&r.stderr), Vec::<&str>::new());
}

#[test]
fn pin_per_cloudflare_dns_zone_writes_only_an_override_qontract_reconcile_applies() {
    let sb = Sandbox::fixture("model");
    let before = sb.snapshot();
    let file = sb.read(CF);
    // qontract-reconcile keys the override by `example.com-example-com`: no shard has that key.
    let r = sb
        .run(&[
            "pin",
            "--skip-image-check",
            "terraform-cloudflare-dns",
            "--shard",
            "example-com",
        ])
        .code(1);
    assert!(
        r.stderr.contains(&format!("{CF}:5: terraform-cloudflare-dns: qontract-reconcile would not apply an override of service-delivery-example-com: it keys an override by its zone's <zone>-<identifier>, example.com-example-com, and the shard of data/cloudflare/sd/dns/example.com.yaml is <account>-<identifier>, service-delivery-example-com; nothing written")),
        "{}",
        r.stderr
    );
    assert_eq!(sb.snapshot(), before, "nothing written");
    // A zone named like its account gives the key of its own shard.
    sb.write(
        "data/cloudflare/sd/dns/own.yml",
        "---\n$schema: /cloudflare/dns-zone-1.yml\nidentifier: own\nzone: service-delivery\naccount:\n  $ref: /cloudflare/sd/account.yml\n",
    );
    sb.run(&[
        "pin",
        "--skip-image-check",
        "terraform-cloudflare-dns",
        "--shard",
        "service-delivery-own",
        "--image-ref",
        "abc1234",
    ])
    .ok();
    insta::assert_snapshot!(sb.read(CF), @r"
    ---
    $schema: /app-sre/integration-1.yml
    name: terraform-cloudflare-dns
    managed:
    - namespace:
        $ref: /services/qr/namespaces/qr-production.yml
      spec:
        extraArgs: ''
      sharding:
        strategy: per-cloudflare-dns-zone
        shardSpecOverrides:
        - shard:
            $ref: /cloudflare/sd/dns/own.yml
          imageRef: abc1234
    ");
    let r = sb
        .run(&["deployments", "--integration", "terraform-cloudflare-dns"])
        .ok();
    insta::assert_snapshot!(r.stdout, @r"
    NAMESPACE              KIND        NAME                                                                      SHARD                         IMAGE                                       PIN
    qr-production@prod-01  Deployment  qontract-reconcile-terraform-cloudflare-dns-service-delivery-example-com  service-delivery-example-com  quay.io/app-sre/qontract-reconcile:f929a38
    qr-production@prod-01  Deployment  qontract-reconcile-terraform-cloudflare-dns-service-delivery-example-org  service-delivery-example-org  quay.io/app-sre/qontract-reconcile:f929a38
    qr-production@prod-01  Deployment  qontract-reconcile-terraform-cloudflare-dns-service-delivery-own          service-delivery-own          quay.io/app-sre/qontract-reconcile:abc1234  pinned

    3 objects of 1 integration in 1 namespace, 1 pinned
    ");
    assert_eq!(other_warnings(&r.stderr), Vec::<&str>::new());
    let r = sb
        .run(&["pr-check", "--integration", "terraform-cloudflare-dns"])
        .ok();
    assert!(
        r.stdout.contains("terraform-cloudflare-dns_override_abc1234  quay.io/app-sre/qontract-reconcile:abc1234  --zone-name own"),
        "{}",
        r.stdout
    );
    // By its identifier, as its `--zone-name` names it.
    sb.run(&["unpin", "terraform-cloudflare-dns", "--shard", "own"])
        .ok();
    assert_eq!(sb.read(CF), file);
}
