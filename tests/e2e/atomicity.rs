//! All or nothing: failures, crashes, concurrent runs, changes made by others, and links.
//!
//! Crashes are real: the binary runs under `strace`, which kills it with SIGKILL at the Nth
//! `renameat2` (every rename of a transaction) or the Nth `fsync` (every staged file and the
//! journal), and delays a rename so that the test can change a file in that instant.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{sealed, Run, Sandbox, NEW};

pub(crate) const ENV: &str = "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\nexport RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\nexport RECONCILE_IMAGE_TAG=a1b2c3d\n";
pub(crate) const OLD: &str = "a1b2c3d";
const OTHER: &str = "fedcba9876543210fedcba9876543210fedcba98";

/// A checkout whose `n` location files hold the version under `data/` and `resources/`.
pub(crate) fn tree(n: usize) -> Sandbox {
    let sb = Sandbox::empty();
    sb.write(".env", ENV);
    for i in 0..n {
        let tree = if i % 2 == 0 { "data" } else { "resources" };
        sb.write(
            &format!("{tree}/f{i:03}.yml"),
            &format!("# file {i}\nqontract_reconcile_image_tag: {OLD}\n"),
        );
    }
    sb
}

/// The version every location holds (`.env`'s tag as the first 7 characters), or a panic naming
/// the files that disagree.
pub(crate) fn one_version(sb: &Sandbox, n: usize) -> String {
    let env = sb.read(".env");
    let tag = env
        .lines()
        .find_map(|l| l.strip_prefix("export RECONCILE_IMAGE_TAG="))
        .unwrap()
        .to_string();
    let mut odd = Vec::new();
    for i in 0..n {
        let tree = if i % 2 == 0 { "data" } else { "resources" };
        let rel = format!("{tree}/f{i:03}.yml");
        let text = sb.read(&rel);
        let value = text
            .strip_prefix(&format!("# file {i}\nqontract_reconcile_image_tag: "))
            .map(|v| v.trim_end().trim_matches(['"', '\'']));
        if value != Some(tag.as_str()) {
            odd.push(rel);
        }
    }
    assert!(odd.is_empty(), ".env at {tag}, but not {odd:?}");
    tag
}

/// Files a transaction may leave behind: staging files and a journal.
pub(crate) fn leftovers(sb: &Sandbox) -> Vec<String> {
    sb.snapshot()
        .into_iter()
        .map(|(p, _)| p.strip_prefix(sb.root()).unwrap().display().to_string())
        .filter(|p| p.contains(".qr-promote"))
        .collect()
}

pub(crate) fn strace() -> &'static str {
    let found = Command::new("strace").arg("-V").output().is_ok();
    assert!(
        found,
        "these tests kill the binary through strace: apt-get install strace"
    );
    "strace"
}

/// The binary under strace with `inject` (`-e inject=...`), sealed like [`Sandbox::cmd`].
pub(crate) fn traced(sb: &Sandbox, inject: &str, args: &[&str]) -> Command {
    let mut c = sealed(Command::new(strace()), &sb.home());
    c.current_dir(sb.root())
        .args(["-o", "/dev/null", "-e", inject, "--"])
        .arg(env!("CARGO_BIN_EXE_qr-promote"))
        .args(args);
    c
}

#[test]
fn a_full_disk_while_staging_leaves_everything_unchanged_and_nothing_behind() {
    let sb = tree(3);
    let before = sb.snapshot();
    // fsync 1 is the journal's; 2, 3, 4 the staged files': the second staged file fails.
    let r = Run::of(
        traced(
            &sb,
            "inject=fsync:error=ENOSPC:when=3",
            &["apply", "--offline", "--allow-unverified", "--to", NEW],
        )
        .output()
        .unwrap(),
    )
    .code(1);
    assert!(
        r.stderr
            .contains(": cannot stage the new file: No space left on device; nothing written"),
        "{}",
        r.stderr
    );
    assert_eq!(sb.snapshot(), before);
    assert!(leftovers(&sb).is_empty(), "{:?}", leftovers(&sb));
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[test]
fn two_applies_at_once_end_at_one_version_or_the_other() {
    const N: usize = 300;
    for round in 0..4 {
        let sb = tree(N);
        let spawn = |to: &str| {
            sb.cmd()
                .args([
                    "apply",
                    "--offline",
                    "--allow-unverified",
                    "--lock-wait",
                    "30s",
                    "--to",
                    to,
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(NEW), spawn(OTHER));
        let (ra, rb) = (
            Run::of(a.wait_with_output().unwrap()),
            Run::of(b.wait_with_output().unwrap()),
        );
        // The second waits for the first and promotes on top of it.
        assert_eq!((ra.code, rb.code), (0, 0), "{}\n{}", ra.stderr, rb.stderr);
        let tag = one_version(&sb, N);
        assert!(tag == NEW[..7] || tag == OTHER[..7], "round {round}: {tag}");
        assert!(leftovers(&sb).is_empty(), "{:?}", leftovers(&sb));
    }
}

#[test]
fn a_second_writer_that_cannot_wait_names_the_holder_and_writes_nothing() {
    let sb = tree(4);
    let before = sb.snapshot();
    let held = qr_promote::transaction::CheckoutLock::acquire(&sb.root(), "apply", Duration::ZERO)
        .unwrap();
    let r = sb
        .run(&[
            "apply",
            "--offline",
            "--allow-unverified",
            "--lock-wait",
            "300ms",
            "--to",
            NEW,
        ])
        .code(1);
    assert!(
        r.stderr.contains(&format!(
            "the checkout is locked by qr-promote apply (pid {}",
            std::process::id()
        )) && r.stderr.contains("waited 300ms; nothing written"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.lines().collect::<Vec<_>>()[1..],
        ["hint: --lock-wait DURATION waits longer"],
        "{}",
        r.stderr
    );
    drop(held);
    assert_eq!(sb.snapshot(), before);
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    assert_eq!(one_version(&sb, 4), &NEW[..7]);
}

/// Kills `apply` at the Nth call of `syscall`, for every N until a run gets through; after
/// each kill, the next command (a read-only `status`) finds the checkout fully old or fully
/// new, with nothing left behind. Returns how many kills were completed and rolled back.
fn kill_at_every(syscall: &str, n: usize) -> (usize, usize) {
    let (mut completed, mut rolled_back) = (0, 0);
    for when in 1..200 {
        let sb = tree(n);
        let out = traced(
            &sb,
            &format!("inject={syscall}:signal=KILL:when={when}"),
            &["apply", "--offline", "--allow-unverified", "--to", NEW],
        )
        .output()
        .unwrap();
        if out.status.success() {
            assert_eq!(one_version(&sb, n), &NEW[..7]);
            assert!(when > 1, "no {syscall} was made");
            return (completed, rolled_back);
        }
        let after = sb.run(&["status"]).ok();
        let tag = one_version(&sb, n);
        assert!(leftovers(&sb).is_empty(), "{when}: {:?}", leftovers(&sb));
        if tag == NEW[..7] {
            completed += 1;
            // A kill at a rename always leaves the journal; a kill at the last fsync (the
            // folder's, once the journal is gone) leaves a finished promotion.
            assert!(
                syscall != "renameat2"
                    || after
                        .stderr
                        .contains("an interrupted qr-promote apply was found and completed"),
                "{when}: {}",
                after.stderr
            );
        } else {
            assert_eq!(tag, OLD, "{when}");
            rolled_back += 1;
        }
    }
    panic!("apply never got through");
}

#[test]
fn a_kill_at_any_rename_is_completed_or_rolled_back_by_the_next_run() {
    let (completed, rolled_back) = kill_at_every("renameat2", 5);
    // Renames: the journal twice, then the six files: every kill after the journal's second
    // rename is completed.
    assert!(completed >= 6, "{completed} completed");
    assert!(rolled_back >= 1, "{rolled_back} rolled back");
}

#[test]
fn a_kill_while_staging_or_journaling_leaves_the_old_tree() {
    let (completed, rolled_back) = kill_at_every("fsync", 5);
    assert!(rolled_back >= 6, "{rolled_back} rolled back");
    assert!(completed <= 2, "{completed} completed");
}

#[test]
fn a_change_made_while_a_file_is_being_replaced_is_never_lost() {
    let sb = tree(4);
    // The third rename (after the journal's two) is the first file's: hold it for a while.
    let child = traced(
        &sb,
        "inject=renameat2:delay_enter=1500000:when=3",
        &["apply", "--offline", "--allow-unverified", "--to", NEW],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let journal = sb.path(".qr-promote/journal");
    let start = Instant::now();
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("\"state\":\"committed\"")) {
        assert!(start.elapsed() < Duration::from_secs(20), "no journal");
        std::thread::sleep(Duration::from_millis(5));
    }
    for rel in [
        "data/f000.yml",
        "data/f002.yml",
        "resources/f001.yml",
        "resources/f003.yml",
    ] {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(sb.path(rel))
            .unwrap();
        std::io::Write::write_all(&mut f, b"# theirs\n").unwrap();
    }
    let r = Run::of(child.wait_with_output().unwrap()).code(1);
    assert!(
        r.stderr
            .contains("data/f000.yml: changed on disk while the promotion was written")
            && r.stderr.contains("nothing written"),
        "{}",
        r.stderr
    );
    for (i, rel) in [
        "data/f000.yml",
        "resources/f001.yml",
        "data/f002.yml",
        "resources/f003.yml",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(
            sb.read(rel),
            format!("# file {i}\nqontract_reconcile_image_tag: {OLD}\n# theirs\n")
        );
    }
    assert_eq!(sb.read(".env"), ENV);
    assert!(leftovers(&sb).is_empty(), "{:?}", leftovers(&sb));
}

#[test]
fn links_out_of_the_checkout_are_refused_before_anything_is_read_or_written() {
    for (what, link) in [
        ("resources", "resources"),
        ("data", "data"),
        (".env", ".env"),
        ("a file", "data/x.yml"),
        ("pagemap", "data/pm.yml"),
    ] {
        let sb = tree(2);
        let outside = tempfile::tempdir().unwrap();
        let target = match what {
            "pagemap" => Path::new("/proc/self/pagemap").to_path_buf(),
            ".env" | "a file" => {
                let p = outside.path().join("f");
                std::fs::copy(sb.path(link), &p).ok();
                if what == "a file" {
                    std::fs::write(&p, "qontract_reconcile_image_tag: a1b2c3d\n").unwrap();
                }
                p
            }
            _ => {
                crate::support::copy_tree(&sb.path(link), outside.path());
                outside.path().to_path_buf()
            }
        };
        let p = sb.path(link);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).ok();
        }
        std::os::unix::fs::symlink(&target, &p).unwrap();
        let outside_before = crate::support::Sandbox::snapshot_of(outside.path());
        let before = sb.snapshot();
        let r = sb
            .run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
            .code(1);
        assert!(
            r.stderr.contains(&format!("{link}: a link to"))
                && r.stderr.contains("outside the checkout"),
            "{what}: {}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().count(), 1, "{what}: {}", r.stderr);
        assert_eq!(sb.snapshot(), before, "{what}");
        assert_eq!(
            crate::support::Sandbox::snapshot_of(outside.path()),
            outside_before,
            "{what}"
        );
    }
}

#[test]
fn links_inside_the_checkout_are_followed_and_kept() {
    let sb = tree(2);
    // .env, a file and a folder reached through links inside the checkout, and an alias.
    std::fs::create_dir_all(sb.path("config/shared")).unwrap();
    std::fs::rename(sb.path(".env"), sb.path("config/env")).unwrap();
    std::os::unix::fs::symlink("config/env", sb.path(".env")).unwrap();
    sb.write(
        "config/shared/s.yml",
        "qontract_reconcile_image_tag: a1b2c3d\n",
    );
    std::os::unix::fs::symlink("../config/shared", sb.path("data/shared")).unwrap();
    std::os::unix::fs::symlink("f000.yml", sb.path("data/alias.yml")).unwrap();
    let r = sb
        .run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    assert!(r.stdout.contains("wrote 4 files"), "{}", r.stdout);
    assert_eq!(one_version(&sb, 2), &NEW[..7]);
    assert_eq!(
        sb.read("config/shared/s.yml"),
        "qontract_reconcile_image_tag: '1234567'\n"
    );
    for link in [".env", "data/shared", "data/alias.yml"] {
        assert!(
            std::fs::symlink_metadata(sb.path(link))
                .unwrap()
                .file_type()
                .is_symlink(),
            "{link}"
        );
    }
}

#[test]
fn owner_mode_and_hard_links_are_kept() {
    let sb = tree(2);
    let elsewhere = sb.dir.path().join("other-name.yml");
    std::fs::hard_link(sb.path("data/f000.yml"), &elsewhere).unwrap();
    std::fs::set_permissions(
        sb.path("resources/f001.yml"),
        std::os::unix::fs::PermissionsExt::from_mode(0o664),
    )
    .unwrap();
    let root = is_root();
    if root {
        std::os::unix::fs::chown(sb.path("resources/f001.yml"), Some(1234), Some(2345)).unwrap();
    }
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    assert_eq!(one_version(&sb, 2), &NEW[..7]);
    assert_eq!(
        std::fs::read_to_string(&elsewhere).unwrap(),
        sb.read("data/f000.yml"),
        "the other name of a hard link sees the new bytes"
    );
    assert_eq!(
        std::fs::metadata(&elsewhere).unwrap().ino(),
        std::fs::metadata(sb.path("data/f000.yml")).unwrap().ino()
    );
    let m = std::fs::metadata(sb.path("resources/f001.yml")).unwrap();
    assert_eq!(m.mode() & 0o777, 0o664);
    if root {
        assert_eq!((m.uid(), m.gid()), (1234, 2345));
    }
}

#[test]
fn a_file_that_cannot_be_read_stops_the_promotion() {
    let sb = tree(5);
    std::fs::set_permissions(
        sb.path("resources/f003.yml"),
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .unwrap();
    let before = sb.snapshot_readable();
    let mut cmd = sb.cmd();
    if is_root() {
        // root reads anything: run as nobody, who may use the sandbox but not that file.
        crate::support::open_to_everyone(sb.dir.path());
        std::fs::set_permissions(
            sb.path("resources/f003.yml"),
            std::os::unix::fs::PermissionsExt::from_mode(0o000),
        )
        .unwrap();
        let mut c = sealed(Command::new("setpriv"), &sb.home());
        c.current_dir(sb.root())
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_qr-promote"));
        cmd = c;
    }
    let r = Run::of(
        cmd.args(["apply", "--offline", "--allow-unverified", "--to", NEW])
            .output()
            .unwrap(),
    )
    .code(1);
    assert!(
        r.stderr
            .contains("resources/f003.yml: cannot read: Permission denied")
            && r.stderr.contains("may hold a location"),
        "{}",
        r.stderr
    );
    assert_eq!(sb.snapshot_readable(), before);
}
