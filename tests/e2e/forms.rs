//! Every YAML form of a version: behind an anchor and its aliases, an alias as a key, a block
//! scalar, an explicit tag, escapes, a quoted value over two lines. After `apply`, the files are
//! loaded by PyYAML (a YAML 1.1 reader, as the qontract tools load them) and every value must
//! be the new version; what cannot be moved is refused or named, never left behind in silence.

use std::process::Command;

use crate::support::{Sandbox, NEW};

const FILE: &str = "data/services/app-interface/forms.yml";

/// The documents of `path` as PyYAML's `safe_load_all` reads them, as JSON.
fn pyyaml(path: &std::path::Path) -> serde_json::Value {
    let script = "import json, sys, yaml\nprint(json.dumps(list(yaml.safe_load_all(open(sys.argv[1], encoding='utf-8')))))";
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("/usr/bin/python3 with PyYAML: apt-get install python3-yaml");
    assert!(
        out.status.success(),
        "PyYAML (apt-get install python3-yaml) could not load {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_form_of_the_version_reads_as_the_new_one_after_apply() {
    let sb = Sandbox::example();
    let text = "---\n$schema: /app-sre/job-1.yml\nname: forms\n\
anchored:\n  qontract_reconcile_image_tag: &t a1b2c3d\n  other: *t\n\
defaults:\n  shared: &d a1b2c3d\n  qontract_reconcile_image_tag: *d\n\
keyed:\n  &k qontract_reconcile_image_tag: a1b2c3d\n  nested:\n    *k : a1b2c3d\n\
block:\n  qontract_reconcile_image_tag: >-\n    a1b2c3d\n\
tagged:\n  qontract_reconcile_image_tag: !!str a1b2c3d\n\
escaped:\n  qontract_reconcile_image_tag: \"\\x61\\x31b2c3d\"\n\
continued:\n  qontract_reconcile_image_tag: \"a1b2\\\n    c3d\"\n";
    sb.write(FILE, text);
    let before = pyyaml(&sb.path(FILE));
    let old = serde_json::json!("a1b2c3d");
    for p in [
        "/0/anchored/qontract_reconcile_image_tag",
        "/0/anchored/other",
        "/0/defaults/qontract_reconcile_image_tag",
        "/0/keyed/qontract_reconcile_image_tag",
        "/0/keyed/nested/qontract_reconcile_image_tag",
        "/0/block/qontract_reconcile_image_tag",
        "/0/tagged/qontract_reconcile_image_tag",
        "/0/escaped/qontract_reconcile_image_tag",
        "/0/continued/qontract_reconcile_image_tag",
    ] {
        assert_eq!(before.pointer(p), Some(&old), "before: {p}");
    }
    let r = sb.run(&["plan", "--offline", "--to", NEW]).ok();
    // The aliases are named as following the value they alias.
    for line in [6, 9] {
        assert!(
            r.stderr.contains(&format!("{FILE}:{line}: "))
                && r.stderr.contains("is an alias of the value at line"),
            "{line}: {}",
            r.stderr
        );
    }
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    let after = pyyaml(&sb.path(FILE));
    // Every value that was the old version is the new one, as a string; nothing else changed.
    let mut want = before.clone();
    fn swap(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) if s == "a1b2c3d" => *s = "1234567".into(),
            serde_json::Value::Array(a) => a.iter_mut().for_each(swap),
            serde_json::Value::Object(o) => o.values_mut().for_each(swap),
            _ => {}
        }
    }
    swap(&mut want);
    assert_eq!(after, want, "{}", sb.read(FILE));
    // The anchors and the tag stay where they were written.
    let written = sb.read(FILE);
    for kept in ["&t ", "*t", "&d ", "*d", "&k ", "*k ", "!!str "] {
        assert!(written.contains(kept), "{kept}: {written}");
    }
    // status sees them all at the new version.
    let r = sb.run(&["--json", "status", "qontract-reconcile"]).ok();
    let doc = r.json();
    let in_file: Vec<&serde_json::Value> = doc["components"][0]["locations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["path"] == FILE)
        .collect();
    assert_eq!(in_file.len(), 8, "{in_file:?}");
    assert!(in_file
        .iter()
        .all(|l| l["value"] == "1234567" && l["in_sync"] == true));
}

#[test]
fn a_form_that_cannot_be_moved_is_refused_or_named_never_left_in_silence() {
    let sb = Sandbox::example();
    let before = sb.snapshot();
    // An image reference written with escapes: its tag has no place of its own.
    sb.write(
        FILE,
        "---\n$schema: /app-sre/job-1.yml\nname: forms\nimage: \"quay.io/app-sre/qontract-reconcile:\\x61\\x31b2c3d\"\n",
    );
    let written = sb.snapshot();
    assert_ne!(written, before);
    let r = sb
        .run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .code(1);
    assert!(
        r.stderr.contains(&format!(
            "error: {FILE}:4: the image reference with tag a1b2c3d is written with escapes, where its tag cannot be moved alone; nothing written"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--skip-location "), "{}", r.stderr);
    assert_eq!(sb.snapshot(), written, "nothing written");
    // A tag that YAML readers do not load as a string is named and left alone.
    sb.write(
        FILE,
        "---\n$schema: /app-sre/job-1.yml\nname: forms\nqontract_reconcile_image_tag: !!int a1b2c3d\n",
    );
    let r = sb.run(&["plan", "--offline", "--to", NEW]).ok();
    assert!(
        r.stderr.contains(&format!(
            "{FILE}:4: tagged tag:yaml.org,2002:int, which YAML readers do not load as a string: left alone"
        )),
        "{}",
        r.stderr
    );
}
