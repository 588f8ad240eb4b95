//! Every cluster of the model reached with its own kubeconfig context: `verify` against two
//! Kubernetes-API-shaped servers, one per cluster.

use crate::stage::{world, World, PROD_NS, STAGE_NS, TOKEN};
use crate::support::kube_server::{write_kubeconfig_contexts, KubeServer};

const IMAGE: &str = "quay.io/app-sre/qontract-reconcile";

/// The Deployments of the fixture's five integrations in `ns`, every one rolled out with `tag`.
fn deployments(ns: &str, tag: &str) -> String {
    let names = [
        "github",
        "gitlab-housekeeping-0",
        "gitlab-housekeeping-1",
        "gitlab-owners",
        "jira-watcher",
        "slack-usergroups",
    ];
    let items: Vec<String> = names
        .iter()
        .map(|n| {
            format!(
                r#"{{"metadata":{{"name":"qontract-reconcile-{n}","namespace":"{ns}","generation":1}},"spec":{{"replicas":1,"template":{{"spec":{{"containers":[{{"name":"int","image":"{IMAGE}:{tag}"}}]}}}}}},"status":{{"observedGeneration":1,"updatedReplicas":1,"readyReplicas":1}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"kind":"DeploymentList","apiVersion":"apps/v1","items":[{}]}}"#,
        items.join(",")
    )
}

/// A server for the namespace `ns` of one cluster, its objects on `tag`.
fn cluster(ns: &str, tag: &str) -> KubeServer {
    let s = KubeServer::start();
    s.route(
        &format!("/apis/apps/v1/namespaces/{ns}/deployments"),
        200,
        &deployments(ns, tag),
    );
    s.route(
        &format!("/apis/apps/v1/namespaces/{ns}/statefulsets"),
        200,
        r#"{"kind":"StatefulSetList","items":[]}"#,
    );
    s.route(
        &format!("/apis/batch/v1/namespaces/{ns}/cronjobs"),
        200,
        r#"{"kind":"CronJobList","items":[]}"#,
    );
    s
}

struct Two {
    w: World,
    stage: KubeServer,
    prod: KubeServer,
}

fn two() -> Two {
    let w = world();
    let stage = cluster(STAGE_NS, "master");
    let prod = cluster(PROD_NS, &w.a[..7]);
    Two { w, stage, prod }
}

#[test]
fn verify_reaches_each_cluster_through_the_context_named_like_it() {
    let t = two();
    let kc = write_kubeconfig_contexts(
        &t.w.sb.home(),
        TOKEN,
        &[("prod-01", &t.prod.url()), ("stage-01", &t.stage.url())],
    );
    let r =
        t.w.sb
            .run(&["verify", "--kubeconfig", kc.to_str().unwrap()])
            .ok();
    assert!(r.stdout.ends_with("\n12 objects: 12 ok\n"), "{}", r.stdout);
    assert_eq!(t.stage.seen().len(), 3);
    assert_eq!(t.prod.seen().len(), 3);
    assert!(t.stage.seen().iter().all(|s| s.path.contains(STAGE_NS)));
    assert!(t.prod.seen().iter().all(|s| s.path.contains(PROD_NS)));

    // --cluster narrows to one cluster: the other is not asked.
    let r =
        t.w.sb
            .run(&[
                "verify",
                "--kubeconfig",
                kc.to_str().unwrap(),
                "--cluster",
                "prod-01",
            ])
            .ok();
    assert!(r.stdout.ends_with("\n6 objects: 6 ok\n"), "{}", r.stdout);
    assert_eq!(t.stage.seen().len(), 3);
    assert_eq!(t.prod.seen().len(), 6);
    let r = t.w.sb.run(&["verify", "--cluster", "prod-1"]).code(1);
    assert_eq!(
        r.stderr.lines().next().unwrap(),
        "error: --cluster prod-1: unknown cluster (did you mean prod-01?)"
    );
}

#[test]
fn a_cluster_without_a_context_is_reported_as_not_checked() {
    let t = two();
    // Contexts named otherwise: only `--context` or `clusters:` can say which is which.
    let kc = write_kubeconfig_contexts(
        &t.w.sb.home(),
        TOKEN,
        &[("stage", &t.stage.url()), ("prod", &t.prod.url())],
    );
    let kc = kc.to_str().unwrap();
    let r =
        t.w.sb
            .run(&["verify", "--kubeconfig", kc, "--context", "stage-01=stage"])
            .code(3);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines.contains(&"note: not checked: cluster prod-01: no kubeconfig context for cluster prod-01: give --context prod-01=CONTEXT, a `clusters:` entry in .qr-promote.yaml, or a context named prod-01"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with("\n12 objects: 6 ok, 6 not checked\n"),
        "{}",
        r.stdout
    );
    assert_eq!(t.prod.seen().len(), 0);

    // The JSON says the same.
    let r =
        t.w.sb
            .run(&[
                "--json",
                "verify",
                "--kubeconfig",
                kc,
                "--context",
                "stage-01=stage",
            ])
            .code(3);
    assert_eq!(r.json()["ok"], false);
    assert_eq!(
        r.json()["not_checked"][0].as_str().unwrap(),
        "cluster prod-01: no kubeconfig context for cluster prod-01: give --context prod-01=CONTEXT, a `clusters:` entry in .qr-promote.yaml, or a context named prod-01"
    );

    // .qr-promote.yaml's clusters: names the other one.
    t.w.sb.write(
        ".qr-promote.yaml",
        "version: 1\nclusters:\n  prod-01: prod\n  stage-01: stage\n",
    );
    let r = t.w.sb.run(&["verify", "--kubeconfig", kc]).ok();
    assert!(r.stdout.ends_with("\n12 objects: 12 ok\n"), "{}", r.stdout);
    assert_eq!(t.prod.seen().len(), 3);

    // A cluster the model does not know is refused.
    let r =
        t.w.sb
            .run(&["verify", "--kubeconfig", kc, "--context", "prod-02=prod"])
            .code(1);
    assert_eq!(
        r.stderr.lines().next().unwrap(),
        "error: --context: unknown cluster prod-02 (did you mean prod-01?)"
    );
}

#[test]
fn stage_reads_the_pods_of_each_cluster_through_its_context_and_says_which_it_could_not() {
    let w = world();
    // A second stage namespace, on a cluster of its own, running github.
    w.sb.write(
        "data/openshift/stage-02/cluster.yml",
        "---\n$schema: /openshift/cluster-1.yml\nlabels: {}\nname: stage-02\n",
    );
    w.sb.write(
        "data/services/app-interface/namespaces/app-interface-stage-2.yml",
        "---\n$schema: /openshift/namespace-1.yml\nlabels: {}\nname: app-interface-stage-2\ncluster:\n  $ref: /openshift/stage-02/cluster.yml\nenvironment:\n  $ref: /products/app-sre/environments/stage.yml\n",
    );
    let github = w.sb.read("data/integrations/github.yml");
    w.sb.write(
        "data/integrations/github.yml",
        &format!("{github}- namespace:\n    $ref: /services/app-interface/namespaces/app-interface-stage-2.yml\n  spec: {{}}\n"),
    );
    let t = crate::stage::at();
    let b = &w.b[..7];
    let one = KubeServer::with_pods(crate::stage::clean_stage(b, t - 3 * 3600));
    let two = KubeServer::with_pods(vec![crate::stage::pod(
        "app-interface-stage-2",
        "qontract-reconcile-github",
        "github",
        b,
        t - 3 * 3600,
        0,
        crate::stage::log(t - 3 * 3600, 30, &[]),
    )]);
    let kc = write_kubeconfig_contexts(
        &w.sb.home(),
        TOKEN,
        &[("stage-01", &one.url()), ("stage-02", &two.url())],
    );
    let r = w
        .run(&["--json", "stage", b, "--kubeconfig", kc.to_str().unwrap()])
        .ok();
    let doc = r.json();
    assert_eq!(doc["soaked"], true, "{}", r.stdout);
    let seen: Vec<(String, String)> = doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["cluster"].as_str().unwrap().to_string(),
                o["namespace"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(seen.iter().filter(|(c, _)| c == "stage-02").count(), 1);
    assert!(two
        .seen()
        .iter()
        .all(|s| s.path.contains("app-interface-stage-2")));
    assert!(one
        .seen()
        .iter()
        .all(|s| s.path.contains("/app-interface-stage/")));

    // Without a context for stage-02, its object is unknown, and the run is not green.
    let kc = write_kubeconfig_contexts(&w.sb.home(), TOKEN, &[("stage-01", &one.url())]);
    let asked = two.seen().len();
    let r = w
        .run(&["stage", b, "--kubeconfig", kc.to_str().unwrap()])
        .code(3);
    assert!(
        r.stdout
            .contains("\n  unknown  github                 app-interface-stage-2  -"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("note: not checked: cluster stage-02: no kubeconfig context for cluster stage-02: give --context stage-02=CONTEXT"),
        "{}",
        r.stdout
    );
    assert_eq!(two.seen().len(), asked);
}
