//! A working day as a new user lives it: `apply`, then `apply --commit` as the natural second
//! step; the promotion the working tree already holds is committed as it is, and part of it is
//! refused saying which files differ.

use crate::support::{command_output, commit_checkout, git, pin_example, Sandbox, Upstream};

/// The example checkout pinned to the first of three upstream commits, committed on `master`;
/// returns the sandbox and the upstream's commits.
fn day() -> (Sandbox, Vec<String>) {
    let sb = Sandbox::example();
    let mut up = Upstream::new(&sb);
    for i in 0..3 {
        up.commit("Ada Lovelace", "ada@example.org", &format!("change {i}"));
    }
    pin_example(&sb, &up.ids[0]);
    commit_checkout(&sb, "Me Myself", "me@example.org");
    (sb, up.ids)
}

fn run(sb: &Sandbox, args: &[&str]) -> crate::support::Run {
    let up = sb.dir.path().join("upstream");
    sb.run_against(&up, args)
}

#[test]
fn apply_then_apply_commit_commits_the_promotion_the_working_tree_holds() {
    let (sb, ids) = day();
    let (root, home) = (sb.root(), sb.home());
    run(&sb, &["apply", "--skip-image-check"]).ok();
    let written = sb.snapshot();
    let r = run(&sb, &["apply", "--commit", "--skip-image-check"]).ok();
    insta::assert_snapshot!("day_apply_commit_after_apply", command_output(&sb, &r));
    // The files are the ones apply wrote, now committed on the promotion's branch.
    assert_eq!(sb.snapshot(), written);
    let branch = format!("promote/qontract-reconcile-{}", &ids[2][..7]);
    assert_eq!(
        git(&root, &home, &["rev-parse", "--abbrev-ref", "HEAD"]),
        branch
    );
    assert_eq!(
        git(&root, &home, &["log", "-1", "--format=%s"]),
        format!(
            "qontract production promotion {} to {}",
            &ids[0][..7],
            &ids[2][..7]
        )
    );
    let files = git(&root, &home, &["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(files.lines().count(), 6, "{files}");
    assert_eq!(git(&root, &home, &["status", "--porcelain"]), "");
}

#[test]
fn apply_commit_refuses_part_of_the_promotion_naming_the_files_and_the_way_on() {
    let (sb, _) = day();
    let (root, home) = (sb.root(), sb.home());
    run(&sb, &["apply", "--skip-image-check"]).ok();
    // One file put back as HEAD has it, another edited by hand.
    git(
        &root,
        &home,
        &[
            "checkout",
            "HEAD",
            "--",
            "resources/jenkins/global/defaults.yaml",
        ],
    );
    let manager = "data/services/app-interface/cicd/saas-qontract-manager.yaml";
    sb.write(manager, &(sb.read(manager) + "# a note of mine\n"));
    let before = sb.snapshot();
    let r = run(&sb, &["apply", "--commit", "--skip-image-check"]).code(1);
    insta::assert_snapshot!("day_apply_commit_part_held", command_output(&sb, &r));
    assert_eq!(sb.snapshot(), before, "nothing written");
    assert_eq!(
        git(&root, &home, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "master"
    );
}

#[test]
fn apply_commit_refuses_part_of_the_promotion_when_only_env_was_edited() {
    let (sb, ids) = day();
    let env = sb.read(".env").replace(&ids[0][..7], &ids[2][..7]);
    sb.write(".env", &env);
    let before = sb.snapshot();
    let r = run(&sb, &["apply", "--commit", "--skip-image-check"]).code(1);
    insta::assert_snapshot!("day_apply_commit_env_only", command_output(&sb, &r));
    assert_eq!(sb.snapshot(), before, "nothing written");
}

/// The objects `deployments --json` lists, as `oc get … -o json` shows them once rolled out.
fn rolled_out(deployments: &serde_json::Value) -> String {
    let items: Vec<serde_json::Value> = deployments["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let pod = serde_json::json!({"spec": {"containers": [{"name": "int", "image": d["image"]}]}});
            let kind = d["kind"].as_str().unwrap();
            let spec = if kind == "CronJob" {
                serde_json::json!({"schedule": "* * * * *", "jobTemplate": {"spec": {"template": pod}}})
            } else {
                serde_json::json!({"replicas": 1, "template": pod})
            };
            serde_json::json!({
                "apiVersion": if kind == "CronJob" { "batch/v1" } else { "apps/v1" },
                "kind": kind,
                "metadata": {"name": d["name"], "namespace": d["namespace"], "generation": 1},
                "spec": spec,
                "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1},
            })
        })
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// The README's walkthrough: each `$ qr-promote …` line of the section "A day with qr-promote"
/// with the output lines quoted under it (a line `…` stands for lines left out).
fn walkthrough() -> Vec<(String, Vec<String>)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## A day with qr-promote\n")
        .nth(1)
        .expect("README has a section \"A day with qr-promote\"")
        .split("\n## ")
        .next()
        .unwrap();
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_block = false;
    for line in section.lines() {
        match line.strip_prefix("    ") {
            Some(l) if l.starts_with("$ qr-promote ") => {
                steps.push((l["$ qr-promote ".len()..].to_string(), Vec::new()));
                in_block = true;
            }
            Some(l) if in_block && l.trim() != "…" && !l.trim().is_empty() => {
                if let Some(s) = steps.last_mut() {
                    s.1.push(l.to_string());
                }
            }
            Some(_) => {}
            None => in_block = !line.trim().is_empty() && in_block,
        }
    }
    steps
}

/// The merge request's check ran: a Jenkins build whose reports are clean but for the
/// integrations-manager's plan, which applies every object whose image moves to `new`.
fn check_ran(ci: &crate::support::ci_server::FakeCi, new: &str) {
    let mut st = ci.state.lock().unwrap();
    st.statuses = vec![serde_json::json!({
        "id": 1, "status": "success", "name": "jenkins", "target_url": ci.build_url(),
    })];
    let ok = "temp/reports/reconcile_reports_success";
    let pulled = format!(
        "Unable to find image 'quay.io/app-sre/qontract-reconcile:{new}' locally\n{new}: Pulling from app-sre/qontract-reconcile\nStatus: Downloaded newer image for quay.io/app-sre/qontract-reconcile:{new}\n"
    );
    for run in ["aws-iam-keys", "gitlab-housekeeping", "terraform-resources"] {
        st.artifacts
            .insert(format!("{ok}/reconcile-{run}.txt"), pulled.clone());
    }
    st.artifacts.insert(
        format!("{ok}/reconcile-terraform-resources_override_f929a38.txt"),
        "Unable to find image 'quay.io/app-sre/qontract-reconcile:f929a38' locally\n".into(),
    );
    let mut manager = String::new();
    for (kind, name) in [
        ("CronJob", "aws-iam-keys"),
        ("Deployment", "gitlab-housekeeping-0"),
        ("Deployment", "gitlab-housekeeping-1"),
        ("Deployment", "gitlab-housekeeping-2"),
        ("StatefulSet", "terraform-resources-app-sre"),
        ("StatefulSet", "terraform-resources-ter-int-dev"),
    ] {
        manager.push_str(&format!(
            "[2026-01-02 10:00:00] [INFO] [DRY-RUN] [openshift_base.py:apply:317] - ['apply', 'appint-prod-01', 'app-interface-production', '{kind}', 'qontract-reconcile-{name}']\n"
        ));
    }
    st.artifacts
        .insert(format!("{ok}/reconcile-integrations-manager.txt"), manager);
}

#[test]
fn the_readmes_day_prints_what_it_says() {
    let (sb, ids) = day();
    let (root, home) = (sb.root(), sb.home());
    // The upstream kept in .qr-promote.yaml, a remote that answers as GitLab does, a registry
    // that has the new image.
    let config = sb.read(".qr-promote.yaml").replace(
        "  qontract-reconcile:\n",
        "  qontract-reconcile:\n    upstream: ../upstream\n",
    );
    sb.write(".qr-promote.yaml", &config);
    git(&root, &home, &["commit", "-qam", "upstream"]);
    let remote = crate::support::push_options_remote(&sb);
    crate::support::write_script(
        &remote.join("hooks/pre-receive"),
        "#!/bin/sh\ncat >/dev/null\necho 'View merge request for promote:'\necho '  https://gitlab.example.com/service/app-interface/-/merge_requests/4242'\n",
    );
    // The remote by its GitLab URL, reached through a local rewrite.
    git(
        &root,
        &home,
        &[
            "remote",
            "add",
            "origin",
            "https://gitlab.example.com/service/app-interface.git",
        ],
    );
    git(
        &root,
        &home,
        &[
            "config",
            &format!("url.{}.insteadOf", remote.display()),
            "https://gitlab.example.com/service/app-interface.git",
        ],
    );
    // GitLab and the check's Jenkins build, once the merge request's check has run.
    let ci = crate::support::ci_server::serve_ci_of(
        "/api/v4/projects/service%2Fapp-interface",
        4242,
        &format!("promote/qontract-reconcile-{}", &ids[2][..7]),
    );
    check_ran(&ci, &ids[2][..7]);
    git(&root, &home, &["push", "-q", "origin", "master"]);
    let mut reg = crate::support::registry_server::start_registry(false);
    crate::support::registry_server::push_image(
        &reg.url,
        "app-sre/qontract-reconcile",
        &ids[2][..7],
        None,
    );
    let registry = format!("quay.io={}", reg.url);
    let steps = walkthrough();
    let names: Vec<&str> = steps
        .iter()
        .map(|(c, _)| c.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, ["status", "plan", "apply", "pr-check", "verify"]);
    for (command, quoted) in &steps {
        let mut args: Vec<String> = command.split_whitespace().map(str::to_string).collect();
        match args[0].as_str() {
            "plan" | "apply" => args.extend(["--registry-url".to_string(), registry.clone()]),
            "pr-check" => {
                args.extend(["--gitlab-url".to_string(), ci.url.clone()]);
            }
            "verify" => {
                let d = sb.run(&["deployments", "--json"]).ok().json();
                sb.write("live.json", &rolled_out(&d));
                args.extend(["--from".to_string(), "live.json".to_string()]);
            }
            _ => {}
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = crate::support::Run::of(
            sb.cmd()
                .env("GITLAB_TOKEN", crate::support::gitlab_server::TOKEN)
                .env("JENKINS_URL", &ci.url)
                .env("JENKINS_USER", crate::support::ci_server::JENKINS_USER)
                .env("JENKINS_TOKEN", crate::support::ci_server::JENKINS_TOKEN)
                .args(&args)
                .output()
                .unwrap(),
        );
        let out = format!("{}{}", r.stdout, r.stderr);
        if std::env::var_os("QR_PROMOTE_SHOW_DAY").is_some() {
            eprintln!("$ qr-promote {command}\n{out}");
        }
        assert_eq!(r.code, 0, "{command}: {out}");
        for q in quoted {
            assert!(
                out.lines().any(|l| l.trim_end() == q.trim_end()),
                "{command}: the README quotes {q:?}, the command printed:\n{out}"
            );
        }
    }
    reg.stop();
}
