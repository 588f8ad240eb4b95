//! Generates a large checkout (`gen DIR`) and times loading the model and computing every integration's deployments (`time DIR RUNS`), for `bench/deployments.sh`.

use std::path::Path;
use std::time::Instant;

use qr_promote::checkout::Checkout;
use qr_promote::cluster::model::Model;

const ACCOUNTS: usize = 2000;
const CLUSTERS: usize = 300;
const INTEGRATIONS: usize = 120;

fn write(root: &Path, rel: &str, text: &str) -> std::io::Result<()> {
    let p = root.join(rel);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(p, text)
}

fn integration_name(i: usize) -> String {
    format!("integration-{i:03}")
}

fn generate(root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root.join("resources"))?;
    write(
        root,
        ".env",
        "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\n\
         export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\n\
         export RECONCILE_IMAGE_TAG=a1b2c3d\n",
    )?;
    for env in ["production", "stage"] {
        write(
            root,
            &format!("data/products/p/environments/{env}.yml"),
            &format!(
                "---\n$schema: /products/environment-1.yml\nname: {env}\nlabels:\n  type: {env}\n"
            ),
        )?;
    }
    for c in 0..CLUSTERS {
        let disable = if c % 7 == 0 {
            format!(
                "disable:\n  integrations:\n  - {}\n",
                integration_name((c * 3) % INTEGRATIONS)
            )
        } else {
            String::new()
        };
        let env = if c % 2 == 0 { "production" } else { "stage" };
        write(
            root,
            &format!("data/openshift/cluster-{c:03}/cluster.yml"),
            &format!("---\n$schema: /openshift/cluster-1.yml\nname: cluster-{c:03}\nserverUrl: https://api.cluster-{c:03}.example.org:6443\n{disable}"),
        )?;
        write(
            root,
            &format!("data/services/s{c:03}/namespaces/ns-{c:03}.yml"),
            &format!("---\n$schema: /openshift/namespace-1.yml\nname: ns-{c:03}\ncluster:\n  $ref: /openshift/cluster-{c:03}/cluster.yml\nenvironment:\n  $ref: /products/p/environments/{env}.yml\n"),
        )?;
    }
    for a in 0..ACCOUNTS {
        let disable = if a % 10 == 0 {
            format!(
                "disable:\n  integrations:\n  - {}\n  - {}\n",
                integration_name(a % INTEGRATIONS),
                integration_name((a + 4) % INTEGRATIONS)
            )
        } else {
            String::new()
        };
        write(
            root,
            &format!("data/aws/account-{a:04}/account.yml"),
            &format!("---\n$schema: /aws/account-1.yml\nname: account-{a:04}\nconsoleUrl: https://account-{a:04}.signin.aws.amazon.com/console\n{disable}"),
        )?;
    }
    write(
        root,
        "data/services/qr/cicd/saas-qontract-manager.yml",
        "---\n$schema: /app-sre/saas-file-2.yml\nname: saas-qontract-manager\nresourceTemplates:\n- name: qontract-manager\n  url: https://github.com/app-sre/qontract-reconcile\n  path: /openshift/qontract-manager.yaml\n  targets:\n  - namespace:\n      $ref: /services/s001/namespaces/ns-001.yml\n    ref: master\n  - namespace:\n      $ref: /services/s000/namespaces/ns-000.yml\n    ref: f929a38e0c7b1a2d3e4f5a6b7c8d9e0f1a2b3c4d\n",
    )?;
    for i in 0..INTEGRATIONS {
        let name = integration_name(i);
        let mut text =
            format!("---\n$schema: /app-sre/integration-1.yml\nname: {name}\nmanaged:\n");
        for ns in [0, 1] {
            text.push_str(&format!(
                "- namespace:\n    $ref: /services/s{ns:03}/namespaces/ns-{ns:03}.yml\n"
            ));
            match i % 4 {
                0 => text.push_str(&format!(
                    "  spec:\n    cache: true\n  sharding:\n    strategy: per-aws-account\n    shardSpecOverrides:\n    - shard:\n        $ref: /aws/account-{:04}/account.yml\n      imageRef: 1234abc\n    - shard:\n        $ref: /aws/account-{:04}/account.yml\n      subSharding:\n        strategy: static\n        shards: 3\n",
                    (i * 7 + 1) % ACCOUNTS,
                    (i * 11 + 3) % ACCOUNTS
                )),
                1 => text.push_str("  spec: {}\n  sharding:\n    strategy: per-openshift-cluster\n"),
                2 => text.push_str("  spec: {}\n  sharding:\n    strategy: static\n    shards: 5\n    shardSpecOverrides:\n    - shard: 2\n      imageRef: 1234abc\n"),
                _ => text.push_str("  spec:\n    cron: '*/5 * * * *'\n"),
            }
        }
        write(root, &format!("data/integrations/{name}.yml"), &text)?;
    }
    Ok(())
}

fn time(root: &Path, runs: usize) -> qr_promote::Result<()> {
    let mut loads = Vec::new();
    let mut computes = Vec::new();
    let mut n = 0;
    let mut sizes = (0, 0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        let c = Checkout::open(root)?;
        let m = Model::load(&c, None)?;
        let loaded = start.elapsed();
        sizes = (m.integrations.len(), m.accounts.len(), m.clusters.len());
        let t = Instant::now();
        n = m
            .integrations
            .iter()
            .map(|i| m.deployments(Some(&i.name), None).len())
            .sum::<usize>();
        let computed = t.elapsed();
        loads.push(loaded.as_secs_f64() * 1000.0);
        computes.push(computed.as_secs_f64() * 1000.0);
    }
    loads.sort_by(f64::total_cmp);
    computes.sort_by(f64::total_cmp);
    let mid = runs / 2;
    println!(
        "{n} deployments of {} integrations ({} accounts, {} clusters): load {:.1} ms + deployments {:.1} ms (median of {runs})",
        sizes.0, sizes.1, sizes.2, loads[mid], computes[mid]
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [cmd, dir] if cmd == "gen" => {
            generate(Path::new(dir)).map_err(|e| qr_promote::Error::input(format!("{dir}: {e}")))
        }
        [cmd, dir, runs] if cmd == "time" => time(Path::new(dir), runs.parse().unwrap_or(9).max(1)),
        _ => {
            eprintln!("usage: model-bench gen DIR | model-bench time DIR RUNS");
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
