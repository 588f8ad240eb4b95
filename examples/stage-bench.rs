//! Times `qr-promote stage` over 120 integrations with 1,000 log lines each, against the
//! Kubernetes-API-shaped server of the tests and a real Prometheus, for `bench/stage.sh`:
//! `stage-bench BIN RUNS` prints each run's time and the median.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/http_server.rs"]
#[allow(dead_code)]
mod http_server;
#[path = "../tests/support/kube_server.rs"]
#[allow(dead_code)]
mod kube_server;
#[path = "../tests/support/prometheus.rs"]
#[allow(dead_code)]
mod prometheus;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use kube_server::{write_kubeconfig_contexts, FakePod, KubeServer};

const INTEGRATIONS: usize = 120;
const LINES: i64 = 1_000;
const AT: i64 = 1_796_731_200; // 2026-12-08T12:00:00Z
const NS: &str = "app-interface-stage";

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["-c", "user.name=b", "-c", "user.email=b@example.org"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn rfc3339(t: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64),
    )
    .to_string()
}

/// The checkout: one stage and one production namespace, 120 integrations in both.
fn checkout(root: &Path) {
    write(
        root,
        ".env",
        "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\n\
         export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\n\
         export RECONCILE_IMAGE_TAG=a1b2c3d\n",
    );
    for (env, cluster) in [("stage", "stage-01"), ("production", "prod-01")] {
        write(
            root,
            &format!("data/environments/{env}.yml"),
            &format!(
                "---\n$schema: /products/environment-1.yml\nname: {env}\nlabels:\n  type: {env}\n"
            ),
        );
        write(
            root,
            &format!("data/clusters/{cluster}.yml"),
            &format!("---\n$schema: /openshift/cluster-1.yml\nname: {cluster}\n"),
        );
        write(
            root,
            &format!("data/namespaces/{env}.yml"),
            &format!(
                "---\n$schema: /openshift/namespace-1.yml\nname: app-interface-{env}\n\
                 cluster:\n  $ref: /clusters/{cluster}.yml\nenvironment:\n  $ref: /environments/{env}.yml\n"
            ),
        );
    }
    for i in 0..INTEGRATIONS {
        write(
            root,
            &format!("data/integrations/i{i:03}.yml"),
            &format!(
                "---\n$schema: /app-sre/integration-1.yml\nname: integration-{i:03}\nmanaged:\n\
                 - namespace:\n    $ref: /namespaces/stage.yml\n  spec: {{}}\n\
                 - namespace:\n    $ref: /namespaces/production.yml\n  spec: {{}}\n"
            ),
        );
    }
}

/// Each integration's pod, running `tag` for three hours, with 1,000 log lines.
fn pods(tag: &str) -> Vec<FakePod> {
    (0..INTEGRATIONS)
        .map(|i| {
            let object = format!("qontract-reconcile-integration-{i:03}");
            let name = format!("{object}-5d9f7c8b4-x{i:04}");
            let started = AT - 3 * 3600;
            let json = format!(
                r#"{{"kind":"Pod","metadata":{{"name":"{name}","namespace":"{NS}","labels":{{"component":"qontract-reconcile"}},"ownerReferences":[{{"kind":"ReplicaSet","name":"{object}-5d9f7c8b4","controller":true}}]}},"spec":{{"containers":[{{"name":"int","image":"quay.io/app-sre/qontract-reconcile:{tag}"}}]}},"status":{{"containerStatuses":[{{"name":"int","restartCount":0,"state":{{"running":{{"startedAt":"{}"}}}}}}]}}}}"#,
                rfc3339(started)
            );
            let log = (0..LINES)
                .map(|n| {
                    let t = started + n * 10;
                    (
                        t,
                        format!(
                            "[{}] [INFO] [run_integration.py:run:142] - integration-{i:03}: run {n} done, 0 changes, 14 objects compared",
                            rfc3339(t).replace('T', " ").trim_end_matches('Z')
                        ),
                    )
                })
                .collect();
            FakePod {
                namespace: NS.to_string(),
                name,
                json,
                log,
            }
        })
        .collect()
}

/// Three hours of metrics of every integration, one sample a minute.
fn history() -> String {
    let mut out = String::from("# TYPE qontract_reconcile_last_run_status gauge\n");
    for i in 0..INTEGRATIONS {
        for m in 0..=180 {
            out.push_str(&format!(
                "qontract_reconcile_last_run_status{{integration=\"integration-{i:03}\",shard_id=\"0\",shards=\"1\"}} 0 {}\n",
                AT - 3 * 3600 + m * 60
            ));
        }
    }
    out.push_str("# TYPE qontract_reconcile_execution_counter counter\n");
    for i in 0..INTEGRATIONS {
        for m in 0..=180 {
            out.push_str(&format!(
                "qontract_reconcile_execution_counter_total{{integration=\"integration-{i:03}\",shard_id=\"0\",shards=\"1\"}} {m} {}\n",
                AT - 3 * 3600 + m * 60
            ));
        }
    }
    out.push_str("# EOF\n");
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (bin, runs) = match args.as_slice() {
        [_, bin, runs] => (bin.clone(), runs.parse::<usize>().unwrap()),
        _ => panic!("usage: stage-bench QR_PROMOTE_BINARY RUNS"),
    };
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("repo");
    checkout(&root);
    let upstream = work.path().join("upstream");
    std::fs::create_dir_all(&upstream).unwrap();
    git(&upstream, &["init", "-q", "-b", "master"]);
    std::fs::write(upstream.join("f"), "1").unwrap();
    git(&upstream, &["add", "f"]);
    git(&upstream, &["commit", "-q", "-m", "one"]);
    let id = git(&upstream, &["rev-parse", "HEAD"]);
    let server = KubeServer::with_pods(pods(&id[..7]));
    let prom = prometheus::Prometheus::with_history(&history());
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let kc = write_kubeconfig_contexts(&home, "bench-token", &[("stage-01", &server.url())]);
    let mut times = Vec::new();
    for run in 0..=runs {
        let start = Instant::now();
        let out = Command::new(&bin)
            .current_dir(&root)
            .env("HOME", &home)
            .env("QR_PROMOTE_CACHE", home.join("cache"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(["stage", "--kubeconfig"])
            .arg(&kc)
            .args(["--upstream"])
            .arg(&upstream)
            .args(["--prometheus", &prom.url, "--at", &rfc3339(AT)])
            .output()
            .unwrap();
        let elapsed = start.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default().to_string();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(last.contains("120 objects: 120 soaked"), "{last}");
        // The first run fills the upstream cache: not counted.
        if run > 0 {
            println!("run {run}: {:.1} ms", elapsed.as_secs_f64() * 1000.0);
            times.push(elapsed);
        } else {
            println!("{last}");
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "median of {runs}: {:.1} ms (budget 2,000 ms)",
        median.as_secs_f64() * 1000.0
    );
}
