//! Bad input: a one-line error naming the file, line or value, exit 1, nothing written.

use crate::support::{Sandbox, NEW};

fn assert_untouched(sb: &Sandbox, before: &[(std::path::PathBuf, Vec<u8>)]) {
    assert_eq!(sb.snapshot(), before, "nothing may be written");
}

fn one_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line: {stderr}");
    lines[0]
}

#[test]
fn not_an_app_interface_root() {
    let sb = Sandbox::empty();
    let r = sb.run(&["plan", "--offline", "--to", NEW]).code(1);
    assert!(
        one_line(&r.stderr).contains("is not an app-interface checkout: no .env, data"),
        "{}",
        r.stderr
    );
}

#[test]
fn env_without_the_component() {
    let sb = Sandbox::example();
    let r = sb
        .run(&["plan", "vault-manager", "--offline", "--to", NEW])
        .code(1);
    let line = one_line(&r.stderr);
    assert!(
        line.contains(".env: no component vault-manager") && line.contains("qontract-reconcile"),
        "{line}"
    );
}

#[test]
fn env_with_the_tag_line_twice() {
    let sb = Sandbox::example();
    let env = sb.read(".env") + "export RECONCILE_IMAGE_TAG=fffffff\n";
    sb.write(".env", &env);
    let before = sb.snapshot();
    let r = sb
        .run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .code(1);
    assert!(
        one_line(&r.stderr).contains(".env:15: RECONCILE_IMAGE_TAG is set twice (also on line 10)"),
        "{}",
        r.stderr
    );
    assert_untouched(&sb, &before);
}

#[test]
fn to_that_is_not_hex_or_not_forty_characters_offline() {
    let sb = Sandbox::example();
    let before = sb.snapshot();
    for bad in [
        "g234567890abcdef1234567890abcdef12345678",
        "1234567",
        "master",
    ] {
        let r = sb
            .run(&["apply", "--offline", "--allow-unverified", "--to", bad])
            .code(1);
        let line = one_line(&r.stderr);
        assert!(
            line.contains(bad)
                && line.contains("offline")
                && line.contains("https://github.com/app-sre/qontract-reconcile"),
            "{line}"
        );
    }
    assert_untouched(&sb, &before);
}

#[test]
fn a_yaml_syntax_error_in_a_file_that_may_hold_a_location() {
    let sb = Sandbox::example();
    sb.write(
        "data/broken.yml",
        "name: broken\nimage: quay.io/app-sre/qontract-reconcile:a1b2c3d\n  bad: [\n",
    );
    let before = sb.snapshot();
    let r = sb
        .run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .code(1);
    let line = one_line(&r.stderr);
    assert!(
        line.contains("data/broken.yml:3:") && line.contains("YAML syntax error"),
        "{line}"
    );
    assert_untouched(&sb, &before);
}

#[test]
fn a_broken_file_that_mentions_nothing_of_the_component_is_a_warning() {
    let sb = Sandbox::example();
    sb.write(
        "data/other.yml",
        "image: quay.io/app-sre/qontract-schemas:9e8f7a6\n  bad: [\n",
    );
    let r = sb.run(&["plan", "--offline", "--to", NEW]).ok();
    assert!(
        r.stderr.contains("warning: data/other.yml:2:")
            && r.stderr.contains("mentions nothing of qontract-reconcile"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("6 edits"), "{}", r.stdout);
}

#[test]
fn jenkins_aliases_to_other_files_are_not_errors() {
    let sb = Sandbox::example();
    let r = sb.run(&["status", "qontract-reconcile"]).ok();
    assert!(
        r.stdout
            .contains("resources/jenkins/global/defaults.yaml:6"),
        "{}",
        r.stdout
    );
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
}

#[test]
fn already_at_that_version() {
    let sb = Sandbox::example();
    let before = sb.snapshot();
    let r = sb
        .run(&[
            "apply",
            "--offline",
            "--allow-unverified",
            "--to",
            "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
        ])
        .ok();
    assert!(
        r.stdout.contains("qontract-reconcile: nothing to promote"),
        "{}",
        r.stdout
    );
    assert_untouched(&sb, &before);
}

#[test]
fn without_offline_the_upstream_is_needed() {
    let sb = Sandbox::example();
    sb.write(
        ".env",
        &sb.read(".env").replace(
            "https://github.com/app-sre/qontract-reconcile",
            "/nonexistent/qontract-reconcile",
        ),
    );
    let r = sb.run(&["plan", "--to", NEW]).code(1);
    assert!(
        one_line(&r.stderr).contains("/nonexistent/qontract-reconcile"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_link_that_points_outside_the_checkout_is_refused() {
    let sb = Sandbox::example();
    let outside = sb.dir.path().join("outside.yml");
    std::fs::write(&outside, "qontract_reconcile_image_tag: a1b2c3d\n").unwrap();
    std::os::unix::fs::symlink(&outside, sb.path("data/linked.yml")).unwrap();
    let before = sb.snapshot();
    let r = sb
        .run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .code(1);
    assert!(
        one_line(&r.stderr).contains("data/linked.yml: a link to")
            && r.stderr
                .contains("outside the checkout; refusing to read through it"),
        "{}",
        r.stderr
    );
    assert_untouched(&sb, &before);
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        "qontract_reconcile_image_tag: a1b2c3d\n"
    );
}

#[test]
fn unknown_options_are_usage_errors() {
    let sb = Sandbox::example();
    sb.run(&["plan", "--frobnicate"]).code(2);
}

#[test]
fn an_env_tag_that_is_not_a_commit_id_is_refused_by_plan_apply_and_status() {
    for (bad, shown) in [
        ("latest", "\"latest\""),
        ("22e63", "\"22e63\""),
        ("", "\"\""),
        ("22e638éd", "\"22e638éd\""),
    ] {
        let sb = Sandbox::example();
        sb.write(
            ".env",
            &sb.read(".env").replace(
                "RECONCILE_IMAGE_TAG=a1b2c3d",
                &format!("RECONCILE_IMAGE_TAG={bad}"),
            ),
        );
        let before = sb.snapshot();
        let want = format!(
            ".env:10: RECONCILE_IMAGE_TAG is {shown}, not a commit id (7 to 40 hex characters)"
        );
        for args in [
            &["apply", "--offline", "--allow-unverified", "--to", NEW][..],
            &["plan", "--offline", "--to", NEW],
            &["status"],
            &["status", "qontract-reconcile"],
        ] {
            let r = sb.run(args).code(1);
            assert!(
                one_line(&r.stderr).contains(&want),
                "{args:?}: {}",
                r.stderr
            );
        }
        assert_untouched(&sb, &before);
        // Another component is not held up by it.
        let r = sb.run(&["status", "qontract-schemas"]).ok();
        assert!(
            r.stdout.contains("qontract-schemas 9e8f7a6"),
            "{}",
            r.stdout
        );
    }
}

#[test]
fn an_unterminated_quote_in_env_names_its_line() {
    let sb = Sandbox::example();
    sb.write(
        ".env",
        &sb.read(".env").replace(
            "RECONCILE_IMAGE_TAG=a1b2c3d",
            "RECONCILE_IMAGE_TAG=\"a1b2c3d",
        ),
    );
    let before = sb.snapshot();
    let r = sb
        .run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .code(1);
    assert!(
        one_line(&r.stderr).contains(".env:10: RECONCILE_IMAGE_TAG: the \" quote is not closed"),
        "{}",
        r.stderr
    );
    assert_untouched(&sb, &before);
}

#[test]
fn a_byte_order_mark_before_the_first_component_is_skipped_and_kept() {
    let sb = Sandbox::example();
    let env = sb.read(".env").replace(
        "# Versions that the app-interface pr-check runs with.\n",
        "",
    );
    sb.write(".env", &format!("\u{feff}{env}"));
    let r = sb
        .run(&[
            "apply",
            "qontract-server",
            "--offline",
            "--allow-unverified",
            "--to",
            NEW,
            "--skip-image-check",
        ])
        .ok();
    assert!(r.stdout.contains("wrote"), "{}", r.stdout);
    assert_eq!(
        sb.read(".env"),
        format!("\u{feff}{env}").replace("IMAGE_TAG=5d3a8c1", "IMAGE_TAG=1234567")
    );
}

#[test]
fn numeric_options_that_cannot_be_a_timeout_are_usage_errors() {
    let sb = Sandbox::example();
    for flag in ["--registry-timeout", "--registry-connect-timeout"] {
        for bad in ["1e20", "-1", "0", "NaN", "inf", "86401"] {
            let arg = format!("{flag}={bad}");
            let r = sb.run(&["plan", "--offline", "--to", NEW, &arg]).code(2);
            assert!(
                r.stderr.contains(flag) && r.stderr.contains(&format!("{bad:?}")),
                "{flag} {bad}: {}",
                r.stderr
            );
            assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        }
    }
    for args in [
        &["verify", "--from", "x.json", "--wait", "99999999999h"][..],
        &["verify", "--wait", "25h"],
        &["verify", "--wait", "1h", "--interval", "48h"],
    ] {
        let r = sb.run(args).code(2);
        assert!(
            r.stderr.contains("give at most 24h"),
            "{args:?}: {}",
            r.stderr
        );
    }
}

/// Runs the binary, killing it and failing the test when it has not finished within `limit`.
fn run_within(sb: &Sandbox, args: &[&str], limit: std::time::Duration) -> crate::support::Run {
    use std::process::Stdio;
    let mut child = sb
        .cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("{args:?} still running after {limit:?}: killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    crate::support::Run::of(child.wait_with_output().unwrap())
}

/// Aliases to anchors of other files are read in one pass over the file. This is not a timing
/// benchmark: the limit is far above what a linear parse needs (well under a second here) and
/// far below what re-parsing the file once per alias took (over two minutes for 10,000
/// aliases, and then the parse gave up), so it fails only when parsing is not linear again.
#[test]
fn a_file_with_twenty_thousand_unknown_aliases_is_read_in_bounded_time() {
    const N: usize = 20_000;
    let mut map = String::from("qontract_reconcile_image_tag: a1b2c3d\n");
    let mut seq = String::from("image: quay.io/app-sre/qontract-reconcile:a1b2c3d\nlist:\n");
    for i in 0..N {
        map.push_str(&format!("k{i}: *x{i}\n"));
        seq.push_str("- *undefined\n");
    }
    let sb = Sandbox::example();
    sb.write("resources/jenkins/many-map.yaml", &map);
    sb.write("resources/jenkins/many-seq.yaml", &seq);
    let limit = std::time::Duration::from_secs(20);
    let r = run_within(
        &sb,
        &["--no-scan-cache", "--json", "status", "qontract-reconcile"],
        limit,
    )
    .ok();
    let v = r.json();
    let locs = v["components"][0]["locations"].as_array().unwrap();
    for f in ["many-map.yaml:1", "many-seq.yaml:1"] {
        assert!(
            locs.iter()
                .any(|l| format!("{}:{}", l["path"].as_str().unwrap(), l["line"]).ends_with(f)),
            "{f}: {locs:?}"
        );
    }
    let r = run_within(
        &sb,
        &[
            "--no-scan-cache",
            "apply",
            "--offline",
            "--allow-unverified",
            "--to",
            NEW,
        ],
        limit,
    )
    .ok();
    assert!(r.stdout.contains("wrote"), "{}", r.stdout);
    assert!(sb
        .read("resources/jenkins/many-map.yaml")
        .starts_with("qontract_reconcile_image_tag: '1234567'\nk0: *x0\n"));
}

#[test]
fn a_duplicate_key_around_a_location_is_refused_naming_both_lines() {
    let sb = Sandbox::example();
    sb.write(
        "data/dup.yml",
        "name: dup\nqontract_reconcile_image_tag: a1b2c3d\nother: x\nqontract_reconcile_image_tag: '{{ tag }}'\n",
    );
    let before = sb.snapshot();
    let r = sb
        .run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .code(1);
    assert!(
        one_line(&r.stderr).contains(
            "data/dup.yml:4: duplicate key \"qontract_reconcile_image_tag\" (first at data/dup.yml:2)"
        ),
        "{}",
        r.stderr
    );
    assert_untouched(&sb, &before);

    // A saas target whose `ref` is there twice: PyYAML reads `main`, not the commit.
    let sb = Sandbox::example();
    sb.write(
        "data/saas-dup.yml",
        "$schema: /app-sre/saas-file-2.yml\nname: saas-dup\nresourceTemplates:\n- name: rt\n  url: https://github.com/app-sre/qontract-reconcile\n  targets:\n  - namespace: {$ref: /ns.yml}\n    ref: a1b2c3d\n    ref: main\n",
    );
    let before = sb.snapshot();
    let r = sb.run(&["plan", "--offline", "--to", NEW]).code(1);
    assert!(
        one_line(&r.stderr)
            .contains("data/saas-dup.yml:9: duplicate key \"ref\" (first at data/saas-dup.yml:8)"),
        "{}",
        r.stderr
    );
    assert_untouched(&sb, &before);

    // A duplicate key away from any location is no concern of the promotion.
    let sb = Sandbox::example();
    sb.write(
        "data/far.yml",
        "a:\n  x: 1\n  x: 2\nb:\n  qontract_reconcile_image_tag: a1b2c3d\n",
    );
    let r = sb.run(&["plan", "--offline", "--to", NEW]).ok();
    assert!(r.stdout.contains("data/far.yml:5"), "{}", r.stdout);
}

#[test]
fn a_broken_file_that_mentions_no_component_is_not_parsed() {
    // The walk keeps only the files that mention a component; this one is never parsed, so
    // its syntax error is neither an error nor a warning (as the README says).
    let sb = Sandbox::example();
    sb.write("data/unrelated.yml", "name: unrelated\n  bad: [\n");
    let r = sb.run(&["plan", "--offline", "--to", NEW]).ok();
    assert!(!r.stderr.contains("unrelated.yml"), "{}", r.stderr);
    assert!(r.stdout.contains("6 edits"), "{}", r.stdout);
    // Once it mentions another component, it is parsed, and its error is a warning.
    sb.write(
        "data/unrelated.yml",
        "name: unrelated\nschemas: https://github.com/app-sre/qontract-schemas\n  bad: [\n",
    );
    let r = sb.run(&["plan", "--offline", "--to", NEW]).ok();
    assert!(
        r.stderr.contains("warning: data/unrelated.yml:3:")
            && r.stderr.contains("mentions nothing of qontract-reconcile"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_yaml_file_over_the_limit_is_refused_unless_the_configuration_skips_it() {
    let sb = Sandbox::example();
    let rel = "data/huge/dump.yml";
    sb.write(rel, "");
    // 20 GB, sparse: nothing of it is read.
    std::fs::OpenOptions::new()
        .write(true)
        .open(sb.path(rel))
        .unwrap()
        .set_len(20 << 30)
        .unwrap();
    let env = sb.read(".env");
    let r = sb
        .run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .code(1);
    assert!(
        r.stderr.contains(&format!(
            "error: {rel}: larger than 16 MiB; refusing to read it (it may hold a location, and is not read in full to find out): skip it in .qr-promote.yaml (skip: - path: {rel}) if it holds none"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(sb.read(".env"), env, "nothing written");
    // Skipped by path (the file or its folder): a warning, and the promotion goes on.
    let config = sb.read(".qr-promote.yaml").replace(
        "# skip:\n",
        "skip:\n  - path: data/huge\n    reason: a dump\n# skip:\n",
    );
    sb.write(".qr-promote.yaml", &config);
    let r = sb.run(&["plan", "--offline", "--to", NEW]).ok();
    assert!(
        r.stderr.contains(&format!(
            "warning: {rel}: larger than 16 MiB; not read (path data/huge of .qr-promote.yaml skips it)"
        )),
        "{}",
        r.stderr
    );
}
