//! The command line's habits: exit statuses for CI, completions and the manual page, colour,
//! the checkout found from a subfolder, errors as JSON.

use crate::support::{Run, Sandbox, NEW};

#[test]
fn status_and_plan_exit_3_with_exit_code_when_something_differs() {
    let sb = Sandbox::example();
    // The example has a drifted location.
    sb.run(&["status"]).ok();
    sb.run(&["status", "--exit-code"]).code(3);
    // qontract-server's one location is in sync.
    sb.run(&["status", "qontract-server", "--exit-code"]).ok();
    sb.run(&["plan", "--offline", "--to", NEW]).ok();
    sb.run(&["plan", "--offline", "--to", NEW, "--exit-code"])
        .code(3);
    // Nothing to promote: 0.
    let current = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
    let r = sb
        .run(&["plan", "--offline", "--to", current, "--exit-code"])
        .ok();
    assert!(r.stdout.contains("nothing to promote"), "{}", r.stdout);
}

#[test]
fn completions_for_each_shell_and_a_manual_page() {
    let sb = Sandbox::example();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let r = sb.run(&["completions", shell]).ok();
        for word in [
            "qr-promote",
            "plan",
            "apply",
            "where",
            "history",
            "bot",
            "exit-code",
        ] {
            assert!(r.stdout.contains(word), "{shell}: no {word}");
        }
    }
    // bash reads the script without a syntax error.
    let script = sb.run(&["completions", "bash"]).ok().stdout;
    let file = sb.dir.path().join("qr-promote.bash");
    std::fs::write(&file, script).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let man = sb.run(&["man"]).ok().stdout;
    assert!(man.contains(".TH qr-promote 1"), "{man}");
    for page in [
        "qr\\-promote\\-plan",
        "qr\\-promote\\-bot",
        "qr\\-promote\\-where",
    ] {
        assert!(man.contains(page), "no {page}");
    }
    assert!(man.contains("\\-\\-exit\\-code"));
    // Neither needs a checkout.
    let empty = Sandbox::empty();
    empty.run(&["completions", "fish"]).ok();
    empty.run(&["man"]).ok();
}

/// Runs the binary in a pseudo-terminal (`script`, util-linux), as a person at a terminal does.
fn at_terminal(sb: &Sandbox, args: &str, env: &[(&str, &str)]) -> Run {
    let bin = env!("CARGO_BIN_EXE_qr-promote");
    let mut c = sb.cmd();
    c.args(["-q", "-e", "-c", &format!("{bin} {args}"), "/dev/null"]);
    let mut c = {
        let mut s = std::process::Command::new("script");
        s.args(c.get_args());
        s.current_dir(sb.root());
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => s.env(k, v),
                None => s.env_remove(k),
            };
        }
        s.env_remove("NO_COLOR");
        s.env("TERM", "xterm-256color");
        s
    };
    c.envs(env.iter().copied());
    Run::of(
        c.output()
            .expect("script (util-linux) runs the binary in a pseudo-terminal"),
    )
}

#[test]
fn colour_at_a_terminal_and_never_in_a_pipe_or_with_no_color() {
    let sb = Sandbox::example();
    let plan = format!("plan --offline --to {NEW} --no-pager");
    // A pipe: no colour, unless asked for.
    let piped = sb.run(&["plan", "--offline", "--to", NEW]).ok();
    assert!(!piped.stdout.contains('\u{1b}'), "{}", piped.stdout);
    let always = sb
        .run(&["plan", "--offline", "--to", NEW, "--color", "always"])
        .ok();
    assert!(always.stdout.contains("\u{1b}[32m+"), "{}", always.stdout);
    assert!(always.stdout.contains("\u{1b}[31m-"), "{}", always.stdout);
    // A terminal: colour, unless NO_COLOR or --color never.
    let tty = at_terminal(&sb, &plan, &[]).ok();
    assert!(tty.stdout.contains("\u{1b}[32m+"), "{}", tty.stdout);
    let no_color = at_terminal(&sb, &plan, &[("NO_COLOR", "1")]).ok();
    assert!(!no_color.stdout.contains('\u{1b}'), "{}", no_color.stdout);
    let never = at_terminal(&sb, &format!("{plan} --color never"), &[]).ok();
    assert!(!never.stdout.contains('\u{1b}'), "{}", never.stdout);
    // Errors are coloured at a terminal too.
    let err = at_terminal(&sb, "status no-such-component", &[]).code(1);
    let at = err.stdout.find("error:").unwrap();
    assert!(
        err.stdout[..at].ends_with('m'),
        "an escape before: {}",
        err.stdout
    );
}

#[test]
fn the_checkout_is_found_from_a_subfolder() {
    let sb = Sandbox::example();
    let at_root = sb.run(&["--json", "status"]).ok().json();
    let mut c = sb.cmd();
    c.current_dir(sb.path("data/services"))
        .args(["--json", "status"]);
    let below = Run::of(c.output().unwrap()).ok().json();
    assert_eq!(below, at_root);
    // Outside any checkout: the error names the folder it started from.
    let empty = Sandbox::empty();
    let r = empty.run(&["status"]).code(1);
    assert!(
        r.stderr.contains(". is not an app-interface checkout"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_json_error_is_a_json_document_on_stdout() {
    let empty = Sandbox::empty();
    let r = empty.run(&["--json", "status"]).code(1);
    let v = r.json();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["error"]["kind"], "input");
    assert_eq!(
        v["error"]["message"],
        ". is not an app-interface checkout: no .env, data (use -C DIR to name one)"
    );
    assert!(v["error"]["hints"].is_array());
    // Every document carries the schema version.
    let sb = Sandbox::example();
    assert_eq!(
        sb.run(&["--json", "status"]).ok().json()["schema_version"],
        1
    );
}

/// Runs the binary in `sb` with `args`, stdout and stderr as `out` and `err` give them; the
/// exit status (None when a signal ended it).
fn run_with(
    sb: &Sandbox,
    args: &[&str],
    out: std::process::Stdio,
    err: std::process::Stdio,
) -> Option<i32> {
    sb.cmd()
        .args(args)
        .stdout(out)
        .stderr(err)
        .status()
        .unwrap()
        .code()
}

fn dev_full() -> std::process::Stdio {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full (every Linux has it)")
        .into()
}

#[test]
fn a_full_or_closed_stdout_or_stderr_ends_with_the_commands_own_status() {
    use std::process::Stdio;
    let sb = Sandbox::example();
    // stderr full: warnings, verbose lines and the error itself are dropped, never a panic (101).
    let plan = ["-v", "plan", "--offline", "--to", NEW];
    assert_eq!(run_with(&sb, &plan, Stdio::null(), dev_full()), Some(0));
    assert_eq!(
        run_with(
            &sb,
            &["status", "no-such-component"],
            Stdio::null(),
            dev_full()
        ),
        Some(1)
    );
    assert_eq!(
        run_with(&sb, &["--json", "status", "nope"], dev_full(), dev_full()),
        Some(1)
    );
    // stdout full: the command's status all the same.
    assert_eq!(run_with(&sb, &plan, dev_full(), Stdio::null()), Some(0));
    assert_eq!(
        run_with(&sb, &["status", "--exit-code"], dev_full(), Stdio::null()),
        Some(3)
    );
    // stdout closed, as `| head -1` closes it: not an error, and nothing on stderr.
    let mut child = sb
        .cmd()
        .args(["plan", "--offline", "--to", NEW])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
