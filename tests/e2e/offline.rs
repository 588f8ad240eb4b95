//! `history` and `where` with an upstream that cannot be reached: they answer from the
//! checkout's own history and the upstream cache, with one warning that says what is missing
//! (ten versions named, all of them in `--json`).

use crate::support::{command_output, commit_checkout, git, pin_example, Run, Sandbox, Upstream};

const UNREACHABLE: &str = "https://nonexistent.invalid/app-sre/qontract-reconcile";

/// The example checkout promoted twelve times, one commit each, through thirteen upstream
/// commits; returns the sandbox and the upstream's commits.
fn promoted_twelve_times() -> (Sandbox, Vec<String>) {
    let sb = Sandbox::example();
    let mut up = Upstream::new(&sb);
    for i in 0..13 {
        up.commit("Ada Lovelace", "ada@example.org", &format!("change {i}"));
    }
    pin_example(&sb, &up.ids[0]);
    commit_checkout(&sb, "Me Myself", "me@example.org");
    for w in up.ids.windows(2) {
        let (old, new) = (&w[0], &w[1]);
        for (p, bytes) in sb.snapshot() {
            let text = String::from_utf8(bytes).unwrap();
            let moved = text
                .replace(old.as_str(), new)
                .replace(&old[..7], &new[..7]);
            std::fs::write(p, moved).unwrap();
        }
        let subject = format!(
            "qontract production promotion {} to {}",
            &old[..7],
            &new[..7]
        );
        git(&sb.root(), &sb.home(), &["commit", "-q", "-am", &subject]);
    }
    (sb, up.ids)
}

fn run(sb: &Sandbox, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--upstream", UNREACHABLE]);
    sb.run(&all)
}

#[test]
fn history_without_the_upstream_answers_from_the_checkout_with_one_capped_warning() {
    let (sb, ids) = promoted_twelve_times();
    let r = run(&sb, &["history"]).ok();
    insta::assert_snapshot!("history_unreachable", command_output(&sb, &r));
    assert_eq!(r.stderr.lines().count(), 1, "one warning: {}", r.stderr);
    // Every version in --json.
    let v = run(&sb, &["history", "--json"]).ok().json();
    let unknown = v["unknown_versions"].as_array().unwrap();
    assert_eq!(unknown.len(), ids.len(), "{v}");
    assert!(v["unreachable"]
        .as_str()
        .unwrap()
        .contains("nonexistent.invalid"));
}

#[test]
fn where_without_the_upstream_answers_for_a_commit_id_from_the_checkout() {
    let (sb, ids) = promoted_twelve_times();
    let r = run(&sb, &["where", &ids[12]]).code(3);
    insta::assert_snapshot!("where_unreachable", command_output(&sb, &r));
    // A name cannot be resolved without the upstream: the error and its hint.
    let r = run(&sb, &["where", "master"]).code(1);
    assert!(r.stderr.contains("hint: no network?"), "{}", r.stderr);
}

#[test]
fn history_offline_with_an_empty_cache_names_ten_versions_in_its_one_warning() {
    let (sb, _) = promoted_twelve_times();
    let r = sb.run(&["history", "--offline"]).ok();
    insta::assert_snapshot!("history_offline_empty_cache", command_output(&sb, &r));
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}
