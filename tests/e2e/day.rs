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
