//! Byte-minimal edits on unusual files: BOM, CRLF, no final newline, quote styles, numbers.

use crate::support::{Sandbox, NEW};

const ENV: &str = "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE_TAG=a1b2c3d\n";

fn tree(files: &[(&str, &[u8])]) -> Sandbox {
    let sb = Sandbox::empty();
    sb.write(".env", ENV);
    sb.write("data/.keep", "");
    sb.write("resources/.keep", "");
    for (p, b) in files {
        sb.write_bytes(p, b);
    }
    sb
}

#[test]
fn bom_crlf_and_missing_final_newline_survive() {
    let text = "\u{feff}# defaults\r\nname: x\r\nvariables:\r\n  qontract_reconcile_image_tag: a1b2c3d  # moves\r\n  other: 1";
    let sb = tree(&[("data/x.yml", text.as_bytes())]);
    sb.run(&[
        "apply",
        "--offline",
        "--allow-unverified",
        "--to",
        "abcdef0123456789abcdef0123456789abcdef01",
    ])
    .ok();
    assert_eq!(sb.read("data/x.yml"), text.replace("a1b2c3d", "abcdef0"));
}

#[test]
fn a_numeric_tag_is_quoted_in_the_style_the_file_uses() {
    let double = "a: \"x\"\nb: \"y\"\nqontract_reconcile_image_tag: a1b2c3d\n";
    let none = "qontract_reconcile_image_tag: a1b2c3d\n";
    let sb = tree(&[
        ("data/double.yml", double.as_bytes()),
        ("data/none.yml", none.as_bytes()),
    ]);
    let to = "63797e6aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let r = sb
        .run(&["apply", "--offline", "--allow-unverified", "--to", to])
        .ok();
    assert!(
        r.stdout
            .contains("quoted with \" so that it stays a string"),
        "{}",
        r.stdout
    );
    assert_eq!(
        sb.read("data/double.yml"),
        double.replace("a1b2c3d", "\"63797e6\"")
    );
    assert_eq!(
        sb.read("data/none.yml"),
        none.replace("a1b2c3d", "'63797e6'")
    );
}

#[test]
fn a_tag_that_stays_a_string_is_not_quoted() {
    let sb = tree(&[("data/x.yml", b"qontract_reconcile_image_tag: a1b2c3d\n")]);
    let r = sb
        .run(&[
            "apply",
            "--offline",
            "--allow-unverified",
            "--to",
            "0373e7af00000000000000000000000000000000",
        ])
        .ok();
    assert!(!r.stdout.contains("quoted"), "{}", r.stdout);
    assert_eq!(
        sb.read("data/x.yml"),
        "qontract_reconcile_image_tag: 0373e7a\n"
    );
    let r = sb
        .run(&[
            "apply",
            "--offline",
            "--allow-unverified",
            "--to",
            "0373973f00000000000000000000000000000000",
            "--include-drifted",
        ])
        .ok();
    assert!(r.stdout.contains("quoted with '"), "{}", r.stdout);
    assert_eq!(
        sb.read("data/x.yml"),
        "qontract_reconcile_image_tag: '0373973'\n",
        "all digits: quoted"
    );
}

#[test]
fn only_the_version_token_of_an_image_reference_changes() {
    let text = "spec:\n  containers:\n  - image: 'quay.io/app-sre/qontract-reconcile:a1b2c3d'\n    args: [\"quay.io/app-sre/qontract-reconcile:a1b2c3d\", x]\n  - image: quay.io/app-sre/qontract-reconcile-extra:a1b2c3d\n";
    let sb = tree(&[("resources/deploy.yaml", text.as_bytes())]);
    let v = sb
        .run(&[
            "--json",
            "apply",
            "--offline",
            "--allow-unverified",
            "--to",
            NEW,
        ])
        .ok()
        .json();
    assert_eq!(v["edits"].as_array().unwrap().len(), 3, "{v}");
    let after = sb.read("resources/deploy.yaml");
    assert_eq!(
        after,
        "spec:\n  containers:\n  - image: 'quay.io/app-sre/qontract-reconcile:1234567'\n    args: [\"quay.io/app-sre/qontract-reconcile:1234567\", x]\n  - image: quay.io/app-sre/qontract-reconcile-extra:a1b2c3d\n"
    );
}

#[test]
fn template_expressions_are_not_locations() {
    let text = "key: {{ value }}\nqontract_reconcile_image_tag: {{ qontract_reconcile_image_tag }}\nimage: quay.io/app-sre/qontract-reconcile:{{ tag }}\n{% if x %}\nimage: quay.io/app-sre/qontract-reconcile:a1b2c3d\n{% endif %}\n";
    let sb = tree(&[("resources/t.yaml", text.as_bytes())]);
    let v = sb
        .run(&["--json", "status", "qontract-reconcile"])
        .ok()
        .json();
    let locs = v["components"][0]["locations"].as_array().unwrap();
    assert_eq!(locs.len(), 2, "{locs:?}");
    assert_eq!(locs[1]["line"], 5);
    assert_eq!(locs[1]["kind"], "image-ref");
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    assert_eq!(
        sb.read("resources/t.yaml"),
        text.replace(":a1b2c3d", ":1234567")
    );
}

#[test]
fn a_forty_character_ref_and_a_short_one_are_the_same_commit() {
    let text = "$schema: /app-sre/saas-file-2.yml\nname: s\nresourceTemplates:\n- name: rt\n  url: https://github.com/app-sre/qontract-reconcile/\n  targets:\n  - namespace: {$ref: /ns.yml}\n    ref: A1B2C3D4E5F60718293A4B5C6D7E8F9012345678\n  - namespace: {$ref: /other.yml}\n    ref: main\n";
    let sb = tree(&[("data/saas.yml", text.as_bytes())]);
    let v = sb
        .run(&["--json", "status", "qontract-reconcile"])
        .ok()
        .json();
    let locs = v["components"][0]["locations"].as_array().unwrap();
    assert_eq!(locs.len(), 2, "{locs:?}");
    assert_eq!(locs[1]["in_sync"], true);
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    assert!(sb
        .read("data/saas.yml")
        .contains(&format!("ref: {}\n", NEW.to_uppercase())));
}

#[test]
fn a_tag_that_yaml_1_1_reads_as_a_number_is_quoted() {
    // 0b10110 is a binary integer to YAML 1.1 readers (PyYAML), 0123456 an octal one.
    for (to, new7) in [
        ("0b10110aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "0b10110"),
        ("0123456aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "0123456"),
    ] {
        let sb = tree(&[("data/x.yml", b"qontract_reconcile_image_tag: a1b2c3d\n")]);
        let r = sb
            .run(&["apply", "--offline", "--allow-unverified", "--to", to])
            .ok();
        assert!(r.stdout.contains("quoted with '"), "{}", r.stdout);
        assert_eq!(
            sb.read("data/x.yml"),
            format!("qontract_reconcile_image_tag: '{new7}'\n")
        );
    }
}

#[test]
fn another_components_key_holding_this_version_is_left_alone_and_named() {
    let sb = Sandbox::example();
    let rel = "data/services/app-interface/cicd/copies.yml";
    sb.write(
        rel,
        "---\n$schema: /app-sre/job-1.yml\nname: copies\nparameters:\n  qontract_server_image_tag: a1b2c3d\n  SCHEMAS_IMAGE_TAG: a1b2c3d\n  OPA_IMAGE_TAG: a1b2c3d\n",
    );
    let r = sb.run(&["--json", "plan", "--offline", "--to", NEW]).ok();
    let edits: Vec<String> = r.json()["edits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["path"] == rel)
        .map(|e| e["key_path"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(edits, ["parameters.OPA_IMAGE_TAG"], "{}", r.stdout);
    for (line, key, other) in [
        (5, "parameters.qontract_server_image_tag", "qontract-server"),
        (6, "parameters.SCHEMAS_IMAGE_TAG", "qontract-schemas"),
    ] {
        let note = format!(
            "{rel}:{line}: {key} holds a1b2c3d, the version of qontract-reconcile, but its key names {other}: left alone"
        );
        assert!(r.stderr.contains(&note), "{note}\n{}", r.stderr);
    }
    // The same with a warm scan cache: the notes are not lost.
    let warm = sb.run(&["--json", "plan", "--offline", "--to", NEW]).ok();
    assert_eq!(warm.stderr, r.stderr);
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    let after = sb.read(rel);
    assert!(
        after.contains("qontract_server_image_tag: a1b2c3d\n"),
        "{after}"
    );
    assert!(after.contains("SCHEMAS_IMAGE_TAG: a1b2c3d\n"), "{after}");
    assert!(
        after.contains("OPA_IMAGE_TAG: '1234567'\n")
            || after.contains("OPA_IMAGE_TAG: \"1234567\"\n"),
        "{after}"
    );
}

#[test]
fn a_commented_image_reference_moves_and_other_comments_stay() {
    let sb = Sandbox::example();
    let rel = "resources/jenkins/global/defaults.yaml";
    let before = sb.read(rel);
    let text = before.replace(
        "    # the tag above moves with every promotion\r\n",
        "    # the tag above moves with every promotion\r\n    # qontract_reconcile_image: 'gcr.io/app-sre/qontract-reconcile:a1b2c3d'\r\n    # previously a1b2c3d, and quay.io/app-sre/other:a1b2c3d\r\n",
    );
    assert_ne!(text, before);
    sb.write(rel, &text);
    let r = sb.run(&["plan", "--offline", "--to", NEW]).ok();
    assert!(
        r.stdout
            .contains(&format!("  commented-image-ref  {rel}:9 ")),
        "{}",
        r.stdout
    );
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    let after = sb.read(rel);
    assert_eq!(
        after,
        text.replace(
            "qontract_reconcile_image_tag: 'a1b2c3d'",
            "qontract_reconcile_image_tag: '1234567'"
        )
        .replace(
            "gcr.io/app-sre/qontract-reconcile:a1b2c3d",
            "gcr.io/app-sre/qontract-reconcile:1234567"
        )
    );
    assert!(after.contains("# previously a1b2c3d, and quay.io/app-sre/other:a1b2c3d"));
    // Selected by its kind like the others.
    let r = sb.run(&["status", "--json"]).ok();
    assert!(r.stdout.contains("commented-image-ref"), "{}", r.stdout);
}
