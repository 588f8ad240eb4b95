//! Whole-output snapshots of the commands people read most: exit status, stdout and stderr
//! together, on the example checkout; the error paths included.

use crate::support::{command_output, Sandbox, NEW};

fn snapshot(name: &str, sb: &Sandbox, args: &[&str]) {
    let r = sb.run(args);
    insta::assert_snapshot!(name, command_output(sb, &r));
}

#[test]
fn status_of_every_component() {
    snapshot("status", &Sandbox::example(), &["status"]);
}

#[test]
fn plan_of_qontract_reconcile_offline() {
    snapshot(
        "plan_offline",
        &Sandbox::example(),
        &["plan", "--offline", "--to", NEW],
    );
}

#[test]
fn plan_with_nothing_to_promote() {
    snapshot(
        "plan_nothing",
        &Sandbox::example(),
        &["plan", "--offline", "--to", "a1b2c3d"],
    );
}

#[test]
fn error_not_a_checkout() {
    let sb = Sandbox::empty();
    snapshot("error_not_a_checkout", &sb, &["status"]);
}

#[test]
fn error_unknown_component() {
    snapshot(
        "error_unknown_component",
        &Sandbox::example(),
        &["plan", "qontract-nothing", "--offline", "--to", NEW],
    );
}

#[test]
fn error_selection_matches_no_file() {
    snapshot(
        "error_only_unknown_file",
        &Sandbox::example(),
        &[
            "plan",
            "--offline",
            "--to",
            NEW,
            "--only",
            "data/nothing.yml",
        ],
    );
}

#[test]
fn error_a_bad_env_tag() {
    let sb = Sandbox::example();
    let env = sb
        .read(".env")
        .replace("RECONCILE_IMAGE_TAG=a1b2c3d", "RECONCILE_IMAGE_TAG=latest");
    sb.write(".env", &env);
    snapshot(
        "error_bad_env_tag",
        &sb,
        &["plan", "--offline", "--to", NEW],
    );
}

#[test]
fn error_a_link_out_of_the_checkout() {
    let sb = Sandbox::example();
    std::fs::write(sb.dir.path().join("outside.yml"), "x: 1\n").unwrap();
    std::os::unix::fs::symlink(
        sb.dir.path().join("outside.yml"),
        sb.path("data/outside.yml"),
    )
    .unwrap();
    snapshot("error_link_outside", &sb, &["status"]);
}
