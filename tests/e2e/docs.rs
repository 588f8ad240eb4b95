//! The command line describing itself: the manual pages written and cross-referenced, every
//! command's help grouped with an example, the README's install commands in a new home, and each
//! warning printed once, on stderr.

use crate::support::{command_output, sealed, Sandbox, NEW};

/// The commands, as `--help` lists them (without `help`).
fn commands(sb: &Sandbox) -> Vec<String> {
    let help = sb.run(&["--help"]).ok().stdout;
    let list = help
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    list.lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn man_dir_writes_every_commands_page_and_the_top_page_names_only_those() {
    let sb = Sandbox::empty();
    let dir = sb.dir.path().join("man/man1");
    let r = sb.run(&["man", "--dir", dir.to_str().unwrap()]).ok();
    insta::assert_snapshot!("man_dir", command_output(&sb, &r));
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut want: Vec<String> = commands(&sb)
        .iter()
        .map(|c| format!("qr-promote-{c}.1"))
        .collect();
    want.push("qr-promote.1".into());
    want.sort();
    assert_eq!(files, want);
    // Every page the top page names is written.
    let top = std::fs::read_to_string(dir.join("qr-promote.1")).unwrap();
    let named: Vec<String> = top
        .split("qr\\-promote\\-")
        .skip(1)
        .filter_map(|rest| rest.split_once("(1)").map(|(n, _)| n.replace("\\-", "-")))
        .collect();
    assert_eq!(named.len(), files.len() - 1, "{named:?}");
    for n in &named {
        assert!(dir.join(format!("qr-promote-{n}.1")).is_file(), "{n}");
    }
    for f in &files {
        let page = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{f}: {page}");
        assert!(page.contains(".TH "), "{f}");
    }
    // One page on stdout names no other page.
    let one = sb.run(&["man"]).ok().stdout;
    assert!(!one.contains("(1)"), "{one}");
}

#[test]
fn every_commands_help_puts_the_global_options_apart_and_gives_examples() {
    let sb = Sandbox::empty();
    for c in commands(&sb) {
        let help = sb.run(&[&c, "--help"]).ok().stdout;
        assert!(help.contains("\nGlobal options:\n"), "{c}: {help}");
        assert!(help.contains("\nExamples:\n"), "{c}: {help}");
        let own = help.split("\nGlobal options:\n").next().unwrap();
        assert!(!own.contains("--no-pager"), "{c}: {help}");
    }
    let apply = sb.run(&["apply", "--help"]).ok().stdout;
    assert!(apply.contains("[default: latest]"), "{apply}");
    assert!(apply.contains("and switch to it"), "{apply}");
    let r = sb.run(&["pin", "--help"]).ok();
    insta::assert_snapshot!("help_pin", command_output(&sb, &r));
    let r = sb.run(&["verify", "--help"]).ok();
    insta::assert_snapshot!("help_verify", command_output(&sb, &r));
}

#[test]
fn the_readmes_install_commands_work_in_a_new_home() {
    let sb = Sandbox::empty();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let install = readme
        .split("\n## Install\n")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let lines: Vec<&str> = install
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter(|l| l.starts_with("mkdir ") || l.starts_with("qr-promote "))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_qr-promote"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for l in &lines {
        let out = sealed(std::process::Command::new("sh"), &sb.home())
            .env("PATH", &path)
            .current_dir(sb.home())
            .args(["-euc", l])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{l}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let home = sb.home();
    assert!(home
        .join(".local/share/bash-completion/completions/qr-promote")
        .is_file());
    assert!(home
        .join(".local/share/man/man1/qr-promote-apply.1")
        .is_file());
}

#[test]
fn an_image_not_checked_is_one_warning_on_stderr() {
    let sb = Sandbox::example();
    for args in [
        vec!["plan", "--offline", "--to", NEW],
        vec!["plan", "--offline", "--to", NEW, "--skip-image-check"],
        vec![
            "apply",
            "--offline",
            "--allow-unverified",
            "--skip-image-check",
            "--to",
            NEW,
        ],
    ] {
        let r = sb.run(&args).ok();
        let line = "image quay.io/app-sre/qontract-reconcile:1234567 not checked";
        assert!(!r.stdout.contains(line), "{args:?}: {}", r.stdout);
        assert_eq!(r.stderr.matches(line).count(), 1, "{args:?}: {}", r.stderr);
    }
}
