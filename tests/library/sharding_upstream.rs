//! qontract-reconcile's own expectations of its sharding, carried over to the model: each row is
//! a small integration (strategy, shards, overrides and the accounts, clusters or organizations
//! it shards over) and the objects qontract-reconcile makes of it (name, shard arguments, image).
//! Each row cites the upstream test it comes from (repository app-sre/qontract-reconcile).

use qr_promote::checkout::{components_from_env, parse_env};
use qr_promote::cluster::model::Model;
use qr_promote::yaml;

const ENV: &str = "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\nexport RECONCILE_IMAGE=img\nexport RECONCILE_IMAGE_TAG=e0e0e0e\n";

/// The files every row shares: a namespace, its environment, three AWS accounts (the fourth
/// disables the integration), two clusters, three OCM organizations.
const COMMON: &[(&str, &str)] = &[
    (
        "data/ns.yml",
        "$schema: /openshift/namespace-1.yml\nname: ns\nenvironment: {$ref: /env.yml}\n",
    ),
    (
        "data/env.yml",
        "$schema: /products/environment-1.yml\nname: test\nlabels: {type: production}\n",
    ),
    (
        "data/aws/acc-1.yml",
        "$schema: /aws/account-1.yml\nname: acc-1\n",
    ),
    (
        "data/aws/acc-2.yml",
        "$schema: /aws/account-1.yml\nname: acc-2\ndisable: {integrations: null}\n",
    ),
    (
        "data/aws/acc-3.yml",
        "$schema: /aws/account-1.yml\nname: acc-3\ndisable: {integrations: []}\n",
    ),
    (
        "data/aws/acc-4.yml",
        "$schema: /aws/account-1.yml\nname: acc-4\ndisable: {integrations: [integ]}\n",
    ),
    (
        "data/c/cluster-1.yml",
        "$schema: /openshift/cluster-1.yml\nname: cluster-1\n",
    ),
    (
        "data/c/cluster-2.yml",
        "$schema: /openshift/cluster-1.yml\nname: cluster-2\n",
    ),
    (
        "data/ocm/org-1.yml",
        "$schema: /openshift/openshift-cluster-manager-1.yml\nname: org-1\norgId: org-id-A\n",
    ),
    (
        "data/ocm/org-2.yml",
        "$schema: /openshift/openshift-cluster-manager-1.yml\nname: org-2\norgId: org-id-B\n",
    ),
    (
        "data/ocm/org-3.yml",
        "$schema: /openshift/openshift-cluster-manager-1.yml\nname: org-3\norgId: org-id-C\n",
    ),
];

/// The objects of integration `integ` whose managed entry (after `namespace`) is `entry`:
/// `<name> <args> <image>` per object.
fn objects(entry: &str) -> Vec<String> {
    let integ = format!(
        "$schema: /app-sre/integration-1.yml\nname: integ\nmanaged:\n- namespace: {{$ref: /ns.yml}}\n{entry}"
    );
    let mut docs = Vec::new();
    for (rel, text) in COMMON
        .iter()
        .copied()
        .chain([("data/integ.yml", integ.as_str())])
    {
        docs.push((rel.to_string(), yaml::parse(text).unwrap().remove(0)));
    }
    let comp = components_from_env(&parse_env(ENV)).remove(0);
    let m = Model::from_docs(&comp, &docs).unwrap();
    m.deployments(Some("integ"), None)
        .iter()
        .map(|d| format!("{} [{}] {}", d.name, d.args.join(" "), d.image))
        .collect()
}

struct Row {
    /// The upstream test the row carries over.
    upstream: &'static str,
    entry: &'static str,
    objects: &'static [&'static str],
}

const ROWS: &[Row] = &[
    // reconcile/test/test_integrations_manager.py::test_build_helm_integration_spec_no_shards:
    // no sharding is one static shard, shard_id 0 of 1, no suffix.
    Row {
        upstream: "test_build_helm_integration_spec_no_shards",
        entry: "  spec: {}\n",
        objects: &["qontract-reconcile-integ [--shard-id 0 --shards 1] img:e0e0e0e"],
    },
    // reconcile/test/test_integrations_manager.py::test_initialize_shard_specs_two_shards_explicit
    Row {
        upstream: "test_initialize_shard_specs_two_shards_explicit",
        entry: "  sharding: {strategy: static, shards: 2}\n",
        objects: &[
            "qontract-reconcile-integ-0 [--shard-id 0 --shards 2] img:e0e0e0e",
            "qontract-reconcile-integ-1 [--shard-id 1 --shards 2] img:e0e0e0e",
        ],
    },
    // reconcile/utils/runtime/sharding.py::StaticShardingStrategy reads no overrides
    // (StaticSharding_v1 has only `shards` in reconcile/gql_definitions/integrations/
    // integrations.gql); the entry's spec.imageRef is the image of every shard.
    Row {
        upstream: "StaticShardingStrategy.build_integration_shards",
        entry: "  spec: {imageRef: 1111111}\n  sharding:\n    strategy: static\n    shards: 2\n    shardSpecOverrides: [{shard: 1, imageRef: 2222222}]\n",
        objects: &[
            "qontract-reconcile-integ-0 [--shard-id 0 --shards 2] img:1111111",
            "qontract-reconcile-integ-1 [--shard-id 1 --shards 2] img:1111111",
        ],
    },
    // reconcile/test/test_integrations_manager.py::test_initialize_shard_specs_aws_account_shards:
    // acc-4 disables the integration.
    Row {
        upstream: "test_initialize_shard_specs_aws_account_shards",
        entry: "  sharding: {strategy: per-aws-account}\n",
        objects: &[
            "qontract-reconcile-integ-acc-1 [--account-name acc-1] img:e0e0e0e",
            "qontract-reconcile-integ-acc-2 [--account-name acc-2] img:e0e0e0e",
            "qontract-reconcile-integ-acc-3 [--account-name acc-3] img:e0e0e0e",
        ],
    },
    // reconcile/test/test_integrations_manager.py::
    // test_initialize_shard_specs_aws_account_shards_with_overrides (o1: imageRef acc1-image),
    // and reconcile/test/fixtures/helm/aws_account_shard_spec_override.yml (`${IMAGE}:<imageRef>`).
    Row {
        upstream: "test_initialize_shard_specs_aws_account_shards_with_overrides",
        entry: "  sharding:\n    strategy: per-aws-account\n    shardSpecOverrides:\n    - shard: {$ref: /aws/acc-1.yml}\n      imageRef: acc1-image\n",
        objects: &[
            "qontract-reconcile-integ-acc-1 [--account-name acc-1] img:acc1-image",
            "qontract-reconcile-integ-acc-2 [--account-name acc-2] img:e0e0e0e",
            "qontract-reconcile-integ-acc-3 [--account-name acc-3] img:e0e0e0e",
        ],
    },
    // reconcile/utils/runtime/sharding.py: only OpenshiftClusterShardingStrategy builds
    // sub-shards; a subSharding on an AWS account override leaves one shard.
    Row {
        upstream: "AWSAccountShardingStrategy.build_integration_shards",
        entry: "  sharding:\n    strategy: per-aws-account\n    shardSpecOverrides:\n    - shard: {$ref: /aws/acc-2.yml}\n      subSharding: {strategy: static, shards: 2}\n",
        objects: &[
            "qontract-reconcile-integ-acc-1 [--account-name acc-1] img:e0e0e0e",
            "qontract-reconcile-integ-acc-2 [--account-name acc-2] img:e0e0e0e",
            "qontract-reconcile-integ-acc-3 [--account-name acc-3] img:e0e0e0e",
        ],
    },
    // reconcile/test/test_integrations_manager.py::test_initialize_shard_specs_openshift_clusters
    Row {
        upstream: "test_initialize_shard_specs_openshift_clusters",
        entry: "  sharding: {strategy: per-openshift-cluster}\n",
        objects: &[
            "qontract-reconcile-integ-cluster-1 [--cluster-name cluster-1] img:e0e0e0e",
            "qontract-reconcile-integ-cluster-2 [--cluster-name cluster-2] img:e0e0e0e",
        ],
    },
    // reconcile/test/test_integrations_manager.py::
    // test_initialize_shard_specs_openshift_clusters_subsharding_w_overrides: suffixes
    // -cluster-1-0 and -cluster-1-1, shard_id/shards 0/2 and 1/2, the override's image on both.
    Row {
        upstream: "test_initialize_shard_specs_openshift_clusters_subsharding_w_overrides",
        entry: "  sharding:\n    strategy: per-openshift-cluster\n    shardSpecOverrides:\n    - shard: {$ref: /c/cluster-1.yml}\n      imageRef: my-test-image\n      subSharding: {strategy: static, shards: 2}\n",
        objects: &[
            "qontract-reconcile-integ-cluster-1-0 [--cluster-name cluster-1 --shard-id 0 --shards 2] img:my-test-image",
            "qontract-reconcile-integ-cluster-1-1 [--cluster-name cluster-1 --shard-id 1 --shards 2] img:my-test-image",
            "qontract-reconcile-integ-cluster-2 [--cluster-name cluster-2] img:e0e0e0e",
        ],
    },
    // reconcile/utils/runtime/sharding.py::StaticShardingStrategy.create_sub_shards: one
    // sub-shard still appends -0 to the suffix.
    Row {
        upstream: "StaticShardingStrategy.create_sub_shards",
        entry: "  sharding:\n    strategy: per-openshift-cluster\n    shardSpecOverrides:\n    - shard: {$ref: /c/cluster-2.yml}\n      subSharding: {strategy: static, shards: 1}\n",
        objects: &[
            "qontract-reconcile-integ-cluster-1 [--cluster-name cluster-1] img:e0e0e0e",
            "qontract-reconcile-integ-cluster-2-0 [--cluster-name cluster-2 --shard-id 0 --shards 1] img:e0e0e0e",
        ],
    },
    // reconcile/test/test_integrations_manager.py::test_initialize_shard_specs_ocm_organizations_shards:
    // suffix from the lower-cased orgId, --org-id with the orgId as written.
    Row {
        upstream: "test_initialize_shard_specs_ocm_organizations_shards",
        entry: "  sharding: {strategy: per-ocm-organization}\n",
        objects: &[
            "qontract-reconcile-integ-org-id-a [--org-id org-id-A] img:e0e0e0e",
            "qontract-reconcile-integ-org-id-b [--org-id org-id-B] img:e0e0e0e",
            "qontract-reconcile-integ-org-id-c [--org-id org-id-C] img:e0e0e0e",
        ],
    },
    // reconcile/test/test_integrations_manager.py::
    // test_initialize_shard_specs_ocm_organizations_shards_with_overrides (o1: org-1-image),
    // matched by the organization's name (OCMOrganizationShardingStrategy.get_shard_spec_overrides).
    Row {
        upstream: "test_initialize_shard_specs_ocm_organizations_shards_with_overrides",
        entry: "  sharding:\n    strategy: per-ocm-organization\n    shardSpecOverrides:\n    - shard: {$ref: /ocm/org-1.yml}\n      imageRef: org-1-image\n",
        objects: &[
            "qontract-reconcile-integ-org-id-a [--org-id org-id-A] img:org-1-image",
            "qontract-reconcile-integ-org-id-b [--org-id org-id-B] img:e0e0e0e",
            "qontract-reconcile-integ-org-id-c [--org-id org-id-C] img:e0e0e0e",
        ],
    },
    // reconcile/integrations_manager.py before 2023-04 (AWSAccountShardManager): the suffix
    // `-<account>` only when more than one account is left; a single account gives the bare name.
    Row {
        upstream: "integrations_manager.AWSAccountShardManager (before 2023-04)",
        entry: "  spec: {shardingStrategy: per-aws-account}\n",
        objects: &[
            "qontract-reconcile-integ-acc-1 [--account-name acc-1] img:e0e0e0e",
            "qontract-reconcile-integ-acc-2 [--account-name acc-2] img:e0e0e0e",
            "qontract-reconcile-integ-acc-3 [--account-name acc-3] img:e0e0e0e",
        ],
    },
];

#[test]
fn objects_as_qontract_reconcile_makes_them() {
    for row in ROWS {
        assert_eq!(objects(row.entry), row.objects, "row {}", row.upstream);
    }
}

#[test]
fn before_2023_one_aws_account_has_no_suffix() {
    // reconcile/integrations_manager.py before 2023-04, AWSAccountShardManager:
    // `shard_name_suffix = f"-{account['name']}" if len(filtered_accounts) > 1 else ""`.
    let integ = "$schema: /app-sre/integration-1.yml\nname: integ\nmanaged:\n- namespace: {$ref: /ns.yml}\n  spec: {shardingStrategy: per-aws-account}\n";
    let files = [
        COMMON[0],
        COMMON[1],
        (
            "data/aws/acc-1.yml",
            "$schema: /aws/account-1.yml\nname: acc-1\n",
        ),
        ("data/integ.yml", integ),
    ];
    let docs: Vec<_> = files
        .iter()
        .map(|(r, t)| (r.to_string(), yaml::parse(t).unwrap().remove(0)))
        .collect();
    let comp = components_from_env(&parse_env(ENV)).remove(0);
    let m = Model::from_docs(&comp, &docs).unwrap();
    let d = m.deployments(Some("integ"), None);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].name, "qontract-reconcile-integ");
    assert_eq!(d[0].args, ["--account-name", "acc-1"]);
}
