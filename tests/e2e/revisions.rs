//! What `--to`, `--upstream` and a component's name take, and what a mistake in one of them
//! prints: the close names, a hint per cause, and the upstream that `.qr-promote.yaml` keeps
//! for every command.

use crate::support::{command_output, commit_checkout, git, pin_example, Sandbox, Upstream};

/// The example checkout pinned to the first of three upstream commits; the upstream has branches
/// `master` and `feature`, and tag `v1`.
fn world() -> (Sandbox, Vec<String>) {
    let sb = Sandbox::example();
    let mut up = Upstream::new(&sb);
    for i in 0..3 {
        up.commit("Ada Lovelace", "ada@example.org", &format!("change {i}"));
    }
    git(&up.path, &sb.home(), &["tag", "v1", &up.ids[1]]);
    git(&up.path, &sb.home(), &["branch", "feature", &up.ids[1]]);
    pin_example(&sb, &up.ids[0]);
    commit_checkout(&sb, "Me Myself", "me@example.org");
    (sb, up.ids)
}

fn upstream(sb: &Sandbox) -> String {
    sb.dir.path().join("upstream").display().to_string()
}

/// The whole output of `plan --to REV` against the upstream.
fn plan_to(sb: &Sandbox, rev: &str) -> String {
    let up = upstream(sb);
    let r = sb.run(&["plan", "--skip-image-check", "--upstream", &up, "--to", rev]);
    command_output(sb, &r)
}

#[test]
fn a_misspelled_branch_or_tag_names_the_close_ones() {
    let (sb, _) = world();
    insta::assert_snapshot!("revision_misspelled_branch", plan_to(&sb, "mastr"));
    insta::assert_snapshot!("revision_misspelled_tag", plan_to(&sb, "v2"));
    insta::assert_snapshot!("revision_nothing_close", plan_to(&sb, "release-2026"));
}

#[test]
fn main_for_master_is_explained_and_origin_master_is_understood() {
    let (sb, ids) = world();
    insta::assert_snapshot!("revision_main_for_master", plan_to(&sb, "main"));
    let up = upstream(&sb);
    let r = sb
        .run(&[
            "plan",
            "--skip-image-check",
            "--upstream",
            &up,
            "--to",
            "origin/master",
            "--json",
        ])
        .ok();
    assert_eq!(r.json()["to"], ids[2].as_str());
}

#[test]
fn an_unknown_short_id_says_why_online_and_offline() {
    let (sb, _) = world();
    insta::assert_snapshot!("revision_unknown_short_id", plan_to(&sb, "abcdef12"));
    let r = sb.run(&["plan", "--offline", "--to", "abcdef12"]);
    insta::assert_snapshot!("revision_unknown_short_id_offline", command_output(&sb, &r));
}

#[test]
fn latest_offline_with_an_empty_cache_says_what_offline_takes() {
    let (sb, _) = world();
    let r = sb.run(&["plan", "--offline"]);
    insta::assert_snapshot!(
        "revision_latest_offline_empty_cache",
        command_output(&sb, &r)
    );
}

#[test]
fn an_unreachable_upstream_names_the_ways_without_network() {
    let (sb, _) = world();
    let r = sb.run(&[
        "plan",
        "--upstream",
        "https://nonexistent.invalid/app-sre/qontract-reconcile",
    ]);
    insta::assert_snapshot!("revision_unreachable_upstream", command_output(&sb, &r));
}

#[test]
fn a_misspelled_component_gets_the_close_name() {
    let (sb, _) = world();
    let r = sb.run(&["status", "qontract-reconcil"]);
    insta::assert_snapshot!("revision_misspelled_component", command_output(&sb, &r));
}

/// `.qr-promote.yaml` names the upstream by a path relative to the checkout.
fn store_upstream(sb: &Sandbox) {
    sb.write(
        ".qr-promote.yaml",
        "version: 1\ncomponents:\n  qontract-reconcile:\n    upstream: ../upstream\n",
    );
    git(&sb.root(), &sb.home(), &["add", ".qr-promote.yaml"]);
    git(&sb.root(), &sb.home(), &["commit", "-q", "-m", "upstream"]);
}

#[test]
fn the_stored_upstream_is_asked_without_upstream_and_its_cache_offline() {
    let (sb, ids) = world();
    store_upstream(&sb);
    // Online: the stored upstream answers `latest` and the change report.
    let r = sb.run(&["plan", "--skip-image-check", "--json"]).ok();
    let v = r.json();
    assert_eq!(v["to"], ids[2].as_str());
    assert_eq!(v["changes"]["commits"].as_array().unwrap().len(), 2, "{v}");
    // Offline: the cache of that upstream, not the one of `.env`'s URL.
    let r = sb.run(&["plan", "--offline", "--to", &ids[2][..7]]).ok();
    let changes = format!("Changes {}..{}: 2 commits", &ids[0][..7], &ids[2][..7]);
    assert!(r.stdout.contains(&changes), "{}", r.stdout);
    assert!(!r.stdout.contains("ancestry not checked"), "{}", r.stdout);
    // Without it, `.env`'s URL is asked offline: its cache is empty.
    std::fs::remove_file(sb.path(".qr-promote.yaml")).unwrap();
    let r = sb.run(&["plan", "--offline", "--to", &ids[2][..7]]).code(1);
    assert!(
        r.stderr.contains("github.com/app-sre/qontract-reconcile"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_stored_upstream_serves_history_and_where() {
    let (sb, ids) = world();
    store_upstream(&sb);
    // The drifted canary does not run it: exit status 3.
    let r = sb.run(&["where", &ids[0]]).code(3);
    assert!(
        r.stdout.starts_with(&format!(
            "qontract-reconcile {}: runs in 6 of 7",
            &ids[0][..7]
        )),
        "{}",
        r.stdout
    );
    let r = sb.run(&["history", "--json"]).ok();
    assert!(r.json()["upstream"].as_str().unwrap().ends_with("upstream"));
}
