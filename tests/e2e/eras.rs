//! Every location on trees of every era: saas files of schema versions 1 and 2, targets kept in
//! files of their own (one that no saas file references), copies of the current commit under
//! keys no rule names (in a saas file of another repository too), a checkout without
//! `resources/`, and a short `.env` tag that names two commits upstream.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use crate::support::{command_output, sealed, Sandbox, NEW};

const FULL: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

fn snapshot(name: &str, sb: &Sandbox, args: &[&str]) {
    let r = sb.run(args);
    insta::assert_snapshot!(name, command_output(sb, &r));
}

#[test]
fn status_finds_every_location_of_every_era() {
    snapshot("eras_status", &Sandbox::fixture("eras"), &["status"]);
}

#[test]
fn plan_moves_exactly_the_version_bytes_of_every_era() {
    snapshot(
        "eras_plan",
        &Sandbox::fixture("eras"),
        &["plan", "--offline", "--to", NEW],
    );
}

#[test]
fn apply_writes_the_target_file_and_the_copies_and_nothing_else() {
    let sb = Sandbox::fixture("eras");
    let before = sb.snapshot();
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    let changed: Vec<String> = sb
        .snapshot()
        .iter()
        .zip(&before)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| a.0.strip_prefix(sb.root()).unwrap().display().to_string())
        .collect();
    assert_eq!(
        changed,
        [
            ".env",
            "data/services/qr/cicd/saas-qontract-api.yml",
            "data/services/qr/cicd/saas-qontract-manager.yml",
            "data/services/qr/cicd/target/production/qontract-api.yml",
            "data/services/tf/cicd/saas-terraform-repo.yml",
        ]
    );
    // The unreferenced target and the lookalike stay.
    assert!(sb
        .read("data/services/qr/cicd/target/old/qontract-api.yml")
        .contains(FULL));
    assert!(sb
        .read("data/misc/lookalike.yml")
        .contains("a1b2c3dffffffffffffffffffffffffffffffff0"));
    // Running again: nothing to promote, every location at the new version.
    let again = sb.run(&["plan", "--offline", "--to", NEW]).ok();
    assert!(
        again
            .stdout
            .starts_with("qontract-reconcile: nothing to promote"),
        "{}",
        again.stdout
    );
}

#[test]
fn a_kind_selects_the_pinned_copies_alone() {
    let sb = Sandbox::fixture("eras");
    let r = sb
        .run(&[
            "--json",
            "plan",
            "--offline",
            "--to",
            NEW,
            "--kind",
            "pinned-copy",
        ])
        .ok();
    let edits = r.json()["edits"].as_array().unwrap().clone();
    let paths: Vec<(&str, &str)> = edits
        .iter()
        .map(|e| (e["path"].as_str().unwrap(), e["key_path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        paths,
        [
            (
                "data/services/qr/cicd/saas-qontract-api.yml",
                "resourceTemplates[qontract-api].parameters.OPA_IMAGE_TAG"
            ),
            (
                "data/services/tf/cicd/saas-terraform-repo.yml",
                "resourceTemplates[terraform-repo-executor].targets[0].parameters.QR_IMAGE_TAG"
            ),
        ]
    );
}

#[test]
fn without_a_full_id_a_longer_lookalike_is_reported_not_moved() {
    let sb = Sandbox::fixture("eras");
    // No location of the four kinds holds the full id any more: it is not known offline.
    for f in [
        "data/services/qr/cicd/saas-qontract-manager.yml",
        "data/services/qr/cicd/target/production/qontract-api.yml",
    ] {
        sb.write(
            f,
            &sb.read(f)
                .replace(FULL, "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a"),
        );
    }
    snapshot(
        "eras_plan_without_full_id",
        &sb,
        &[
            "plan",
            "--offline",
            "--to",
            NEW,
            "--kind",
            "pinned-copy",
            "--kind",
            "env",
        ],
    );
}

fn git(dir: &Path, home: &Path, args: &[&str], input: Option<&str>) -> String {
    use std::io::Write;
    let mut child = sealed(Command::new("git"), home)
        .current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Written from a thread: git answers while it reads, and both pipes have a limit.
    let mut stdin = child.stdin.take().unwrap();
    let input = input.unwrap_or("").to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// An upstream whose `master` is a commit A, with a commit B on another branch that shares A's
/// first seven hex digits, and a child C of A to promote to. Returns (upstream, A, B, C).
fn colliding_upstream(sb: &Sandbox) -> (std::path::PathBuf, String, String, String) {
    let home = sb.home();
    let up = sb.dir.path().join("upstream");
    std::fs::create_dir_all(&up).unwrap();
    git(&up, &home, &["init", "-q", "-b", "master"], None);
    let tree = git(
        &up,
        &home,
        &["hash-object", "-w", "-t", "tree", "--stdin"],
        Some(""),
    );
    // Root commits on the empty tree, hashed (not written): the same 8,000 every run, two of
    // which share their first seven digits.
    let bodies = sb.dir.path().join("bodies");
    std::fs::create_dir_all(&bodies).unwrap();
    let mut paths = String::new();
    for i in 0..8_000 {
        let p = bodies.join(format!("{i}"));
        std::fs::write(&p, format!("tree {tree}\nauthor A <a@example.org> 1700000000 +0000\ncommitter A <a@example.org> 1700000000 +0000\n\nrelease {i}\n")).unwrap();
        paths.push_str(&format!("{}\n", p.display()));
    }
    let ids = git(
        &up,
        &home,
        &["hash-object", "-t", "commit", "--stdin-paths"],
        Some(&paths),
    );
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut pair = None;
    for (i, id) in ids.lines().enumerate() {
        if let Some(j) = seen.insert(&id[..7], i) {
            pair = Some((j, i));
            break;
        }
    }
    let (i, j) =
        pair.expect("these 8,000 commits hold two that share seven digits (4034 and 7891)");
    let write = |n: usize| {
        git(
            &up,
            &home,
            &[
                "hash-object",
                "-w",
                "-t",
                "commit",
                &bodies.join(n.to_string()).display().to_string(),
            ],
            None,
        )
    };
    let (a, b) = (write(i), write(j));
    let c = git(
        &up,
        &home,
        &[
            "-c",
            "user.name=A",
            "-c",
            "user.email=a@example.org",
            "commit-tree",
            &tree,
            "-p",
            &a,
            "-m",
            "the next release",
        ],
        None,
    );
    git(&up, &home, &["update-ref", "refs/heads/master", &c], None);
    git(&up, &home, &["update-ref", "refs/heads/other", &b], None);
    (up, a, b, c)
}

/// The eras fixture pinned to `a` (`.env` holds its short id, the saas targets the full one
/// unless `full_in_tree` is false).
fn pinned(sb: &Sandbox, a: &str, full_in_tree: bool) {
    for (p, bytes) in sb.snapshot() {
        let text = String::from_utf8(bytes).unwrap();
        let full = if full_in_tree {
            a
        } else {
            "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a"
        };
        let new = text
            .replace(
                "a1b2c3dffffffffffffffffffffffffffffffff0",
                "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
            )
            .replace(FULL, full)
            .replace("a1b2c3d", &a[..7]);
        std::fs::write(p, new).unwrap();
    }
}

#[test]
fn an_ambiguous_env_tag_is_settled_by_the_full_ids_of_the_tree() {
    let sb = Sandbox::fixture("eras");
    let (up, a, _b, c) = colliding_upstream(&sb);
    pinned(&sb, &a, true);
    let r = sb
        .run(&[
            "plan",
            "--upstream",
            &up.display().to_string(),
            "--to",
            &c,
            "--skip-image-check",
        ])
        .ok();
    assert!(
        r.stdout.starts_with(&format!(
            "qontract-reconcile {} -> {} ({c}): 5 edits in 5 files",
            &a[..7],
            &c[..7]
        )),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("1 commit"), "{}", r.stdout);
}

#[test]
fn an_ambiguous_env_tag_the_tree_does_not_settle_is_refused_with_the_candidates() {
    let sb = Sandbox::fixture("eras");
    let (up, a, b, c) = colliding_upstream(&sb);
    pinned(&sb, &a, false);
    let before = sb.snapshot();
    let r = sb
        .run(&[
            "apply",
            "--upstream",
            &up.display().to_string(),
            "--to",
            &c,
            "--skip-image-check",
        ])
        .code(1);
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!(
            "error: qontract-reconcile: the current version {} (.env:4) is ambiguous in ",
            &a[..7]
        )) && first.contains(&format!("{} (2023-11-14, release ", &a[..12]))
            && first.contains(&format!("{} (2023-11-14, release ", &b[..12]))
            && first.ends_with("no location of the checkout holds its full id"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.lines().nth(1),
        Some("hint: write the full id of the current commit in .env (RECONCILE_IMAGE_TAG)")
    );
    assert_eq!(sb.snapshot(), before);
}

#[test]
fn the_configuration_leaves_locations_alone_and_is_read_strictly() {
    let sb = Sandbox::fixture("eras");
    sb.write(
        ".qr-promote.yaml",
        "version: 1\nskip:\n  - key: resourceTemplates[terraform-repo-executor].targets[0].parameters.QR_IMAGE_TAG\n    reason: the executor is promoted on its own\n  - path: data/services/qr/cicd/saas-qontract-api.yml\n",
    );
    let r = sb.run(&["--json", "plan", "--offline", "--to", NEW]).ok();
    let v = r.json();
    let files: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            ".env",
            "data/services/qr/cicd/saas-qontract-manager.yml",
            "data/services/qr/cicd/target/production/qontract-api.yml"
        ]
    );
    let why: Vec<&str> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["why"].as_str().unwrap())
        .collect();
    assert_eq!(
        why,
        [
            ".qr-promote.yaml:5 (path data/services/qr/cicd/saas-qontract-api.yml)",
            ".qr-promote.yaml:3 (key resourceTemplates[terraform-repo-executor].targets[0].parameters.QR_IMAGE_TAG): the executor is promoted on its own",
        ]
    );
    // --location names one anyway.
    let r = sb
        .run(&[
            "--json",
            "plan",
            "--offline",
            "--to",
            NEW,
            "--location",
            "7b5b854d",
        ])
        .ok();
    assert_eq!(
        r.json()["edits"][0]["key_path"],
        "resourceTemplates[terraform-repo-executor].targets[0].parameters.QR_IMAGE_TAG"
    );
    // An unknown key is an error naming its line; nothing is read further.
    sb.write(".qr-promote.yaml", "version: 1\nskips:\n  - path: x\n");
    let r = sb.run(&["status"]).code(1);
    assert!(
        r.stderr
            .starts_with("error: .qr-promote.yaml:2: the top level: unknown key \"skips\""),
        "{}",
        r.stderr
    );
}
