//! The transaction's own state as hostile input: planted journals, a state folder that leads
//! elsewhere, FIFOs and sparse giants where the tool reads its files, faults just after the first
//! swap, a folder swapped in at the swap, and kills during a recovery.
//!
//! Faults are real: the binary runs under `strace`, which makes the Nth call of a system call
//! of the binary's own process fail (`inject=...:error=EIO:when=N`); N is found by tracing one
//! run first and counting that process's calls up to the point to hit.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::atomicity::{leftovers, one_version, strace, traced, tree, OLD};
use crate::support::{commit_checkout, sealed, Run, Sandbox, NEW};

/// Runs `cmd` and fails the test if it has not ended within `limit` (a hang, or a read without
/// bound); returns the run and how long it took.
fn within(mut cmd: Command, limit: Duration) -> (Run, Duration) {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            let took = start.elapsed();
            return (Run::of(child.wait_with_output().unwrap()), took);
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn fifo(path: &Path) {
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
    )
    .unwrap();
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A journal of a `prepared` transaction of the file `target` whose staging path is `staging`,
/// written at `journal` as a planted one would be.
fn plant(journal: &Path, target: &str, staging: &str, old: &[u8]) {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let text = serde_json::json!({
        "format": 1,
        "state": "prepared",
        "command": "apply",
        "pid": 1,
        "files": [{
            "path": target,
            "target": target,
            "staging": staging,
            "old": b64(old),
            "new": b64(b"qontract_reconcile_image_tag: '1234567'\n"),
        }],
    });
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    std::fs::write(journal, serde_json::to_vec(&text).unwrap()).unwrap();
}

/// Asserts a refusal of the journal at `journal`: exit 1, one line naming it and `why`, and a
/// hint saying how to remove it.
fn refused_journal(r: &Run, journal: &Path, why: &str) {
    assert_eq!(r.code, 1, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stderr);
    assert!(
        lines[0].starts_with(&format!("error: {}: ", journal.display()))
            && lines[0].contains(why)
            && lines[0].ends_with("refusing to recover from it, nothing touched"),
        "{}",
        r.stderr
    );
    assert_eq!(
        lines[1],
        format!(
            "hint: check the files it names, then remove it (rm {})",
            journal.display()
        )
    );
}

#[test]
fn planted_journals_naming_other_files_are_refused_and_nothing_is_touched() {
    // Without .git the journal is inside the tree, where a tarball can put one.
    for (staging, why) in [
        ("{victim}", "an absolute path"),
        ("../../x", "leading out with \"..\""),
        ("data/../../victim", "leading out with \"..\""),
        (
            "data/f000.yml",
            "not the staging name qr-promote gives beside its target",
        ),
        ("data/.f002.yml.qr-promote-1-0.tmp", "not the staging name"),
    ] {
        let sb = tree(5);
        let victim = sb.dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let staging = staging.replace("{victim}", &victim.to_string_lossy());
        let journal = std::fs::canonicalize(sb.root())
            .unwrap()
            .join(".qr-promote/journal");
        plant(
            &journal,
            "data/f000.yml",
            &staging,
            sb.read("data/f000.yml").as_bytes(),
        );
        let before = sb.snapshot();
        for command in [
            &["status"][..],
            &["plan"],
            &["apply", "--offline", "--allow-unverified", "--to", NEW],
        ] {
            let r = sb.run(command);
            refused_journal(&r, &journal, why);
            assert_eq!(sb.snapshot(), before, "{staging}: {command:?}");
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        }
        // Removed as the hint says, the next command works on the whole tree.
        std::fs::remove_file(&journal).unwrap();
        let r = sb
            .run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
            .ok();
        assert!(r.stdout.contains("wrote 6 files"), "{}", r.stdout);
        one_version(&sb, 5);
    }
}

#[test]
fn a_planted_journal_in_the_git_folder_cannot_remove_git_s_own_files() {
    let sb = tree(2);
    commit_checkout(&sb, "A U Thor", "author@example.com");
    let config = sb.read(".git/config");
    let journal = std::fs::canonicalize(sb.root())
        .unwrap()
        .join(".git/qr-promote/journal");
    plant(
        &journal,
        "data/f000.yml",
        ".git/config",
        sb.read("data/f000.yml").as_bytes(),
    );
    let r = sb.run(&["status"]);
    refused_journal(&r, &journal, "inside the folder of git or of qr-promote");
    assert_eq!(sb.read(".git/config"), config);
}

#[test]
fn a_journal_that_is_a_link_a_fifo_or_a_sparse_giant_is_refused_at_once() {
    for what in ["link to /dev/zero", "FIFO", "3 GB sparse file"] {
        let sb = tree(2);
        let journal = std::fs::canonicalize(sb.root())
            .unwrap()
            .join(".qr-promote/journal");
        std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
        let why = match what {
            "FIFO" => {
                fifo(&journal);
                "a FIFO, not a journal"
            }
            "link to /dev/zero" => {
                std::os::unix::fs::symlink("/dev/zero", &journal).unwrap();
                "a symbolic link, not a journal"
            }
            _ => {
                let f = std::fs::File::create(&journal).unwrap();
                f.set_len(3_000_000_000).unwrap();
                "3000000000 bytes, over the limit of 256 MiB for a journal"
            }
        };
        let before = sb.snapshot();
        let (r, took) = within(
            {
                let mut c = sb.cmd();
                c.arg("status");
                c
            },
            Duration::from_secs(20),
        );
        refused_journal(&r, &journal, why);
        assert!(took < Duration::from_secs(5), "{what}: {took:?}");
        assert_eq!(sb.snapshot(), before, "{what}");
    }
}

#[test]
fn a_state_folder_that_links_out_of_the_checkout_is_refused_and_left_as_it_is() {
    let sb = tree(2);
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::set_permissions(elsewhere.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let state = sb.path(".qr-promote");
    std::os::unix::fs::symlink(elsewhere.path(), &state).unwrap();
    let before = sb.snapshot();
    for command in [
        &["apply", "--offline", "--allow-unverified", "--to", NEW][..],
        &["status"],
    ] {
        let r = sb.run(command).code(1);
        assert!(
            r.stderr.lines().next().is_some_and(|l| l.ends_with(&format!(
                ".qr-promote: the state folder of qr-promote is a link to {}; it must be a real folder of the checkout; nothing read or written",
                elsewhere.path().display()
            ))),
            "{command:?}: {}",
            r.stderr
        );
        assert!(r.stderr.contains("hint: remove it (rm "), "{}", r.stderr);
        assert_eq!(mode(elsewhere.path()), 0o1777, "the sticky bit stays");
        assert_eq!(
            std::fs::read_dir(elsewhere.path()).unwrap().count(),
            0,
            "no lock or journal written there"
        );
        assert_eq!(sb.snapshot(), before);
    }
}

#[test]
fn an_existing_state_folder_keeps_its_mode() {
    let sb = tree(2);
    std::fs::create_dir(sb.path(".qr-promote")).unwrap();
    std::fs::set_permissions(
        sb.path(".qr-promote"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .unwrap();
    // A file kept there keeps the folder after the run.
    std::fs::write(sb.path(".qr-promote/keep"), "").unwrap();
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    assert_eq!(mode(&sb.path(".qr-promote")), 0o1777);
    one_version(&sb, 2);
}

#[test]
fn env_and_config_that_are_fifos_or_sparse_giants_are_refused_at_once() {
    for (file, what) in [
        (".env", "FIFO"),
        (".env", "sparse"),
        (".qr-promote.yaml", "FIFO"),
        (".qr-promote.yaml", "sparse"),
    ] {
        let sb = tree(2);
        let p = sb.path(file);
        let size: u64 = if file == ".env" {
            5_000_000_000
        } else {
            3_000_000_000
        };
        let why = if what == "FIFO" {
            std::fs::remove_file(&p).ok();
            fifo(&p);
            format!("error: {file}: a FIFO, not a regular file; nothing read")
        } else {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&p)
                .unwrap();
            f.set_len(size).unwrap();
            format!("error: {file}: {size} bytes, over the limit of 1 MiB; nothing read")
        };
        for command in ["status", "plan"] {
            let (r, took) = within(
                {
                    let mut c = sb.cmd();
                    c.arg(command);
                    c
                },
                Duration::from_secs(20),
            );
            assert_eq!(r.code, 1, "{file} {what}: {}", r.stderr);
            assert_eq!(
                r.stderr.lines().collect::<Vec<_>>(),
                [
                    why.as_str(),
                    &format!("hint: {file} must be a regular file of at most 1 MiB")
                ],
                "{file} {what}"
            );
            assert!(took < Duration::from_secs(5), "{file} {what}: {took:?}");
        }
    }
}

/// A strace run of `apply` on a copy of `tree(n)` that records the binary's `read`, `unlink`,
/// `openat` and `renameat2` calls; returns the lines of the binary's own process.
fn record(n: usize, args: &[&str]) -> Vec<String> {
    let sb = tree(n);
    let log = sb.dir.path().join("trace");
    let mut c = sealed(Command::new(strace()), &sb.home());
    c.current_dir(sb.root())
        .args(["-f", "-o"])
        .arg(&log)
        .args(["-e", "trace=read,unlink,openat,renameat2", "--"])
        .arg(env!("CARGO_BIN_EXE_qr-promote"))
        .args(args);
    Run::of(c.output().unwrap()).ok();
    let text = std::fs::read_to_string(&log).unwrap();
    let main = text.split_whitespace().next().unwrap().to_string();
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("{main} ")))
        .map(|l| l.trim_start().to_string())
        .collect()
}

/// The number of the call of `syscall` (counted in the binary's own process) that is the first
/// after the first file was swapped (`renameat2` with `RENAME_EXCHANGE`), or the last whose
/// line contains `naming` when given.
fn nth_call(lines: &[String], syscall: &str, naming: Option<&str>) -> usize {
    let prefix = format!("{syscall}(");
    let swap = lines
        .iter()
        .position(|l| l.starts_with("renameat2(") && l.contains("RENAME_EXCHANGE"))
        .expect("no file was swapped");
    let mut count = 0;
    let mut found = None;
    for (i, l) in lines.iter().enumerate() {
        if !l.starts_with(&prefix) {
            continue;
        }
        count += 1;
        match naming {
            None if i > swap => return count,
            Some(name) if l.contains(name) => found = Some(count),
            _ => {}
        }
    }
    found.expect("no such call")
}

const APPLY: &[&str] = &[
    "apply",
    "--offline",
    "--allow-unverified",
    "--no-scan-cache",
    "--to",
    NEW,
];

/// Runs `apply` on a fresh `tree(5)` with the `when`th call of `syscall` failing with EIO, then
/// `status`: the tree ends all old or all new with nothing left behind. Returns the error line
/// when the run stopped with files half new.
fn fault_then_status(syscall: &str, when: usize) -> Option<String> {
    let sb = tree(5);
    let r = Run::of(
        traced(
            &sb,
            &format!("inject={syscall}:error=EIO:when={when}"),
            APPLY,
        )
        .output()
        .unwrap(),
    );
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_string();
    let new_files = (0..5)
        .filter(|i| {
            let tree = if i % 2 == 0 { "data" } else { "resources" };
            sb.read(&format!("{tree}/f{i:03}.yml")).contains("1234567")
        })
        .count();
    let half = line.contains("the promotion is half written");
    if half {
        assert!(
            line.contains(": Input/output error; the promotion is half written (new: ")
                && line.contains("; still old: ")
                && line.ends_with(
                    ".env); the journal is kept and the next qr-promote command completes it"
                ),
            "{syscall} {when}: {}",
            r.stderr
        );
        // The files new are those the message names new, the others old; the journal is kept.
        let named = line
            .split_once("(new: ")
            .and_then(|(_, rest)| rest.split_once("; still old: "))
            .map_or(0, |(new, _)| new.split(", ").count());
        assert_eq!(new_files, named, "{syscall} {when}: {line}");
        assert!(sb.path(".qr-promote/journal").is_file(), "{syscall} {when}");
    } else if r.code != 0 {
        // Any other failure leaves the tree as it was: "nothing changed" only when so.
        assert_eq!(new_files, 0, "{syscall} {when}: {}", r.stderr);
    }
    let after = sb.run(&["status"]).ok();
    if half {
        assert!(
            after.stderr.contains(
                "note: an interrupted qr-promote apply was found and completed (6 files)"
            ),
            "{}",
            after.stderr
        );
        assert_eq!(one_version(&sb, 5), &NEW[..7]);
    } else {
        one_version(&sb, 5);
    }
    assert!(
        leftovers(&sb).is_empty(),
        "{syscall} {when}: {:?}",
        leftovers(&sb)
    );
    half.then_some(line)
}

#[test]
fn a_fault_just_after_the_first_swap_keeps_the_journal_and_the_next_command_completes_it() {
    let lines = record(5, APPLY);
    for syscall in ["read", "unlink"] {
        let when = nth_call(&lines, syscall, None);
        // The count of reads of a pipe may differ by a few from run to run: around it, every
        // fault ends all old or all new, and the one just after the swap is caught.
        let caught: Vec<String> = (when.saturating_sub(2).max(1)..=when + 2)
            .filter_map(|n| fault_then_status(syscall, n))
            .collect();
        assert!(
            caught
                .iter()
                .any(|l| l.contains("(new: data/f000.yml; still old: ")),
            "{syscall}: no fault just after the first swap: {caught:?}"
        );
        assert!(caught.iter().all(|l| !l.contains("nothing changed")));
    }
}

#[test]
fn a_journal_that_cannot_be_removed_at_the_end_is_a_warning() {
    let lines = record(3, APPLY);
    let when = nth_call(&lines, "unlink", Some(".qr-promote/journal\""));
    let sb = tree(3);
    let r = Run::of(
        traced(&sb, &format!("inject=unlink:error=EIO:when={when}"), APPLY)
            .output()
            .unwrap(),
    )
    .ok();
    assert!(r.stdout.contains("wrote 4 files"), "{}", r.stdout);
    assert!(
        r.stderr.lines().any(|l| l.starts_with("warning: ")
            && l.ends_with(
                ".qr-promote/journal: cannot remove the finished journal: Input/output error; every file is written, the next command removes it"
            )),
        "{}",
        r.stderr
    );
    assert_eq!(one_version(&sb, 3), &NEW[..7]);
    let after = sb.run(&["status"]).ok();
    assert!(
        after.stderr.contains("was found and completed (4 files)"),
        "{}",
        after.stderr
    );
    assert!(leftovers(&sb).is_empty(), "{:?}", leftovers(&sb));
}

#[test]
fn a_folder_swapped_in_at_the_swap_is_put_back_and_named() {
    let sb = tree(3);
    // The third rename (after the journal's two) is the first file's: hold it for a while.
    let child = traced(
        &sb,
        "inject=renameat2:delay_enter=4000000:when=3",
        &["apply", "--offline", "--allow-unverified", "--to", NEW],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let journal = sb.path(".qr-promote/journal");
    let start = Instant::now();
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("\"state\":\"committed\"")) {
        assert!(start.elapsed() < Duration::from_secs(20), "no journal");
        std::thread::sleep(Duration::from_millis(5));
    }
    let target = sb.path("data/f000.yml");
    std::fs::remove_file(&target).unwrap();
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("notes.txt"), "theirs\n").unwrap();
    let r = Run::of(child.wait_with_output().unwrap()).code(1);
    // Swapped while the rename waits, the folder is put back; swapped a moment earlier (a
    // loaded machine lets the test act before the run checks the file again), the check
    // before the rename refuses it. Either way it is named and nothing is written.
    assert!(
        r.stderr.lines().any(|l| l
            == "error: data/f000.yml: replaced by a folder while the promotion was written; put back as it was; nothing written"
            || l == "error: data/f000.yml: cannot replace the file: not a regular file; nothing changed"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(target.join("notes.txt")).unwrap(),
        "theirs\n"
    );
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        1,
        "only their file in it"
    );
    for rel in ["resources/f001.yml", "data/f002.yml"] {
        assert!(sb.read(rel).contains(OLD), "{rel}");
    }
    assert!(sb.read(".env").contains(OLD));
    assert!(leftovers(&sb).is_empty(), "{:?}", leftovers(&sb));
}

/// A checkout whose `apply` was killed just after its first file was swapped: the journal is
/// committed, one file new.
fn interrupted(n: usize) -> Sandbox {
    let sb = tree(n);
    let out = traced(
        &sb,
        "inject=renameat2:signal=KILL:when=4",
        &["apply", "--offline", "--allow-unverified", "--to", NEW],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(sb.path(".qr-promote/journal").is_file());
    sb
}

#[test]
fn a_recovery_killed_itself_leaves_no_staging_file_behind() {
    // Every rename and fsync of the recovery (each file still old is staged, synced and
    // renamed into place), killed in turn; the next command finishes it and leaves nothing.
    for syscall in ["renameat2", "fsync"] {
        let mut killed = 0;
        for when in 1..40 {
            let sb = interrupted(5);
            let out = traced(
                &sb,
                &format!("inject={syscall}:signal=KILL:when={when}"),
                &["status"],
            )
            .output()
            .unwrap();
            if out.status.success() {
                break;
            }
            killed += 1;
            sb.run(&["status"]).ok();
            assert_eq!(one_version(&sb, 5), &NEW[..7], "{syscall} {when}");
            assert!(
                leftovers(&sb).is_empty(),
                "{syscall} {when}: {:?}",
                leftovers(&sb)
            );
        }
        assert!(killed >= 4, "{syscall}: killed {killed} times");
    }
}

#[test]
fn clone_folders_left_by_killed_runs_are_removed_and_a_running_one_kept() {
    let sb = tree(2);
    let upstreams = sb.home().join("cache/upstreams");
    // A pid that ran and ended, and one that runs (this test's).
    let mut ended = Command::new("true").spawn().unwrap();
    let dead = ended.id();
    ended.wait().unwrap();
    let stale = upstreams.join(format!(".qontract-reconcile-0123456789abcdef.tmp{dead}"));
    let running = upstreams.join(format!(
        ".qontract-reconcile-0123456789abcdef.tmp{}",
        std::process::id()
    ));
    for d in [&stale, &running] {
        std::fs::create_dir_all(d.join("objects")).unwrap();
        std::fs::write(d.join("HEAD"), "ref: refs/heads/master\n").unwrap();
    }
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    assert!(!stale.exists(), "the killed run's clone folder is gone");
    assert!(
        running.join("HEAD").is_file(),
        "a running clone is left alone"
    );
}

#[test]
fn a_scan_cache_file_that_is_a_fifo_a_link_or_a_sparse_giant_is_not_used() {
    for what in ["FIFO", "link to /dev/zero", "sparse"] {
        let sb = tree(3);
        let cold = sb.run(&["plan", "--offline", "--to", NEW]).ok();
        let scan = sb.home().join("cache/scan");
        let files: Vec<_> = std::fs::read_dir(&scan)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(!files.is_empty(), "no scan cache file");
        for f in &files {
            std::fs::remove_file(f).unwrap();
            match what {
                "FIFO" => fifo(f),
                "sparse" => std::fs::File::create(f)
                    .unwrap()
                    .set_len(3_000_000_000)
                    .unwrap(),
                _ => std::os::unix::fs::symlink("/dev/zero", f).unwrap(),
            }
        }
        let (r, took) = within(
            {
                let mut c = sb.cmd();
                c.args(["plan", "--offline", "--to", NEW]);
                c
            },
            Duration::from_secs(20),
        );
        assert_eq!(r.code, 0, "{what}: {}", r.stderr);
        assert_eq!(
            r.stdout, cold.stdout,
            "{what}: the same plan as without a cache"
        );
        assert!(took < Duration::from_secs(5), "{what}: {took:?}");
    }
}
