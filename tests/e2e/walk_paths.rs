//! What the walk names and reads: a folder reached through links is one folder under its real
//! path (ids, skip rules, `--only`), a file name that is not UTF-8 is never written in place of
//! another, and the scan cache gives what a walk without it gives, however it is damaged.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::support::{Run, Sandbox, NEW};

fn link(sb: &Sandbox, to: &str, at: &str) {
    std::os::unix::fs::symlink(to, sb.path(at)).unwrap();
}

/// (id, path) of every location `status --json` lists.
fn located(r: &Run) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = r.json()["components"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["locations"].as_array().unwrap().clone())
        .map(|l| {
            (
                l["id"].as_str().unwrap().to_string(),
                l["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

const SKIPPED: &str = "resources/jenkins/global/defaults.yaml";

#[test]
fn a_link_to_an_ancestor_changes_no_id_and_bypasses_no_skip_rule() {
    let sb = Sandbox::example();
    let before = located(&sb.run(&["--no-scan-cache", "--json", "status"]).ok());
    assert_eq!(before.len(), 10, "{before:?}");
    sb.write(
        ".qr-promote.yaml",
        &format!("version: 1\nskip:\n  - path: {SKIPPED}\n    reason: kept on purpose\n"),
    );
    // The checkout again inside data/, a second way to a folder of data/, and the trees again
    // from resources/.
    link(&sb, "..", "data/loop");
    link(&sb, "services/app-interface", "data/again");
    link(&sb, "../..", "resources/jenkins/up");
    for cache in [&["--no-scan-cache"][..], &[], &[]] {
        let r = sb.run(&[cache, &["--json", "status"]].concat()).ok();
        assert_eq!(located(&r), before, "the same ids and paths {cache:?}");
    }
    let plan = sb.run(&["plan", "--offline", "--to", NEW]).ok();
    assert!(
        plan.stdout.contains(SKIPPED) && plan.stdout.contains("kept on purpose"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("loop/"), "{}", plan.stdout);
    // --only by the path through the link names no location; by the real path it does.
    let only = |p: &str| sb.run(&["plan", "--offline", "--to", NEW, "--only", p]);
    let through = only("data/loop/data/pipelines/tekton-provider-global-defaults.yaml");
    assert_ne!(through.code, 0, "{}", through.stdout);
    only("data/pipelines/tekton-provider-global-defaults.yaml").ok();
    let skipped_before = sb.read(SKIPPED);
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    assert_eq!(sb.read(SKIPPED), skipped_before, "the skip rule holds");
    assert!(sb
        .read("data/pipelines/tekton-provider-global-defaults.yaml")
        .contains("1234567"));
    let after = sb.run(&["--json", "status"]).ok();
    assert_eq!(located(&after), before);
}

#[test]
fn a_folder_elsewhere_in_the_checkout_goes_by_its_real_path_and_a_rule_by_either() {
    let sb = Sandbox::example();
    let tekton = sb.read("data/pipelines/tekton-provider-global-defaults.yaml");
    sb.write("shared/conf/kept.yaml", &tekton);
    sb.write("shared/other/moved.yaml", &tekton);
    link(&sb, "../shared/conf", "data/conf");
    link(&sb, "../../shared/other", "resources/jenkins/other");
    // The rule names the folder by the link's path; the location goes by the real one.
    sb.write(
        ".qr-promote.yaml",
        "version: 1\nskip:\n  - path: data/conf\n    reason: through the link\n",
    );
    let mut paths: Vec<String> = located(&sb.run(&["--json", "status"]).ok())
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| p.starts_with("shared/") || p.contains("conf") || p.contains("other"))
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        ["shared/conf/kept.yaml", "shared/other/moved.yaml"],
        "{paths:?}"
    );
    let plan = sb.run(&["plan", "--offline", "--to", NEW]).ok();
    assert!(plan.stdout.contains("through the link"), "{}", plan.stdout);
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    assert_eq!(sb.read("shared/conf/kept.yaml"), tekton);
    assert!(sb.read("shared/other/moved.yaml").contains("1234567"));
    assert!(std::fs::symlink_metadata(sb.path("data/conf"))
        .unwrap()
        .file_type()
        .is_symlink());
}

fn raw(sb: &Sandbox, rel: &[u8]) -> PathBuf {
    sb.root().join(OsStr::from_bytes(rel))
}

#[test]
fn a_name_that_is_not_utf8_is_refused_naming_it_and_its_twin_is_not_written() {
    let sb = Sandbox::example();
    let tekton = "data/pipelines/tekton-provider-global-defaults.yaml";
    let bytes = std::fs::read(sb.path(tekton)).unwrap();
    std::fs::remove_file(sb.path(tekton)).unwrap();
    std::fs::write(raw(&sb, b"data/pipelines/tek\xff.yaml"), &bytes).unwrap();
    // The name a lossy conversion makes of it.
    std::fs::write(sb.path("data/pipelines/tek\u{fffd}.yaml"), &bytes).unwrap();
    // A name that is not UTF-8 on a file that holds nothing is no matter.
    std::fs::write(raw(&sb, b"data/notes\xfe.yml"), "x: 1\n").unwrap();
    let before = sb.snapshot();
    let message = "error: data/pipelines/tek\\xff.yaml: holds a location, and its name is not UTF-8 (shown escaped): rename it; qr-promote writes only files it can name\n";
    for cache in [&["--no-scan-cache"][..], &[], &[]] {
        for cmd in [&["plan"][..], &["apply", "--allow-unverified"]] {
            let r = sb.run(&[cache, cmd, &["--offline", "--to", NEW]].concat());
            assert_eq!(r.code, 1, "{cmd:?}: {}", r.stdout);
            assert_eq!(r.stderr, message);
            assert_eq!(sb.snapshot(), before, "nothing written");
        }
    }
    // Renamed, it is promoted.
    std::fs::rename(
        raw(&sb, b"data/pipelines/tek\xff.yaml"),
        sb.path("data/pipelines/tek.yaml"),
    )
    .unwrap();
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    assert!(sb.read("data/pipelines/tek.yaml").contains("1234567"));
    assert!(sb
        .read("data/pipelines/tek\u{fffd}.yaml")
        .contains("1234567"));
}

/// A copy of each tree the tests know: the fixtures, the example, the example with links.
fn every_tree() -> Vec<(String, Sandbox)> {
    let mut trees: Vec<(String, Sandbox)> = ["eras", "layouts", "model"]
        .iter()
        .map(|n| (n.to_string(), Sandbox::fixture(n)))
        .collect();
    trees.push(("example".into(), Sandbox::example()));
    let linked = Sandbox::example();
    link(&linked, "..", "data/loop");
    link(&linked, "services", "data/again");
    trees.push(("example with links".into(), linked));
    // Files that give reports and warnings rather than locations.
    let reports = Sandbox::example();
    reports.write(
        "data/extra/target.yaml",
        "$schema: /app-sre/saas-file-target-1.yml\nref: a1b2c3d4e5f60718293a4b5c6d7e8f9012345678\n",
    );
    reports.write(
        "data/extra/broken.yaml",
        "a: [\n  image: quay.io/app-sre/qontract-schemas:9e8f7a6\n",
    );
    trees.push(("example with reports".into(), reports));
    // Files changed within two seconds of a walk are not cached: let them age.
    std::thread::sleep(std::time::Duration::from_millis(3100));
    trees
}

/// The commands compared, each as a cold walk (`--no-scan-cache`) and with the cache.
const COMMANDS: [&[&str]; 3] = [
    &["--json", "status"],
    &["status"],
    &["--json", "plan", "--offline", "--to", NEW],
];

fn cold(sb: &Sandbox) -> Vec<Run> {
    COMMANDS
        .iter()
        .map(|c| sb.run(&[&["--no-scan-cache"][..], c].concat()))
        .collect()
}

fn same(name: &str, what: &str, got: &Run, want: &Run) {
    assert_eq!(
        (got.code, &got.stdout, &got.stderr),
        (want.code, &want.stdout, &want.stderr),
        "{name}: {what}"
    );
}

fn cache_files(sb: &Sandbox) -> Vec<PathBuf> {
    let dir = sb.home().join("cache/scan");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[test]
fn a_warm_walk_finds_and_says_what_a_cold_one_does_on_every_tree() {
    for (name, sb) in every_tree() {
        let want = cold(&sb);
        assert!(cache_files(&sb).is_empty(), "{name}: no cache yet");
        for round in ["filling the cache", "warm", "warm again"] {
            for (c, w) in COMMANDS.iter().zip(&want) {
                same(&name, &format!("{c:?}, {round}"), &sb.run(c), w);
            }
        }
        assert!(!cache_files(&sb).is_empty(), "{name}: a cache was used");
    }
}

#[test]
fn a_cache_file_with_any_bit_flipped_or_cut_short_is_discarded_with_a_note() {
    for (name, sb) in every_tree() {
        let want = cold(&sb);
        for c in COMMANDS {
            sb.run(c);
        }
        let files = cache_files(&sb);
        assert!(!files.is_empty(), "{name}");
        for file in files {
            let good = std::fs::read(&file).unwrap();
            let n = good.len();
            let mut damaged: Vec<(String, Vec<u8>)> =
                [0, 7, 8, 10, 17, 30, n / 3, n / 2, n - 9, n - 1]
                    .into_iter()
                    .map(|at| {
                        let mut b = good.clone();
                        b[at] ^= 1 << (at % 8);
                        (format!("bit {} of byte {at}", at % 8), b)
                    })
                    .collect();
            damaged.push(("cut in half".into(), good[..n / 2].to_vec()));
            damaged.push(("the last byte cut".into(), good[..n - 1].to_vec()));
            for (how, bytes) in damaged {
                let note = format!("note: the scan cache {} ", file.display());
                let mut noted = false;
                for (c, w) in COMMANDS.iter().zip(&want) {
                    std::fs::write(&file, &bytes).unwrap();
                    let r = sb.run(c);
                    let (notes, rest): (Vec<&str>, Vec<&str>) = r
                        .stderr
                        .lines()
                        .partition(|l| l.starts_with("note: the scan cache"));
                    noted |= notes.iter().any(|l| l.starts_with(&note));
                    assert!(notes.iter().all(|l| l.starts_with(&note)), "{notes:?}");
                    let without_notes = Run {
                        code: r.code,
                        stdout: r.stdout.clone(),
                        stderr: rest.iter().map(|l| format!("{l}\n")).collect(),
                    };
                    same(
                        &name,
                        &format!("{c:?}, {how} of {}", file.display()),
                        &without_notes,
                        w,
                    );
                }
                assert!(noted, "{name}: {how} of {}: no note", file.display());
                std::fs::write(&file, &good).unwrap();
            }
        }
    }
}
