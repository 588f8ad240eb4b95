//! status, plan and apply on the example checkout: discovery of all four kinds, drift, selection, JSON.

use crate::support::{Sandbox, CURRENT, NEW};

#[test]
fn status_lists_every_kind_and_drift() {
    let sb = Sandbox::example();
    let out = sb.run(&["status", "qontract-reconcile"]).ok().stdout;
    for (kind, at) in [
        ("env", ".env:10"),
        (
            "yaml-key",
            "data/pipelines/tekton-provider-global-defaults.yaml:15",
        ),
        (
            "saas-target",
            "data/services/app-interface/cicd/saas-qontract-dashboards.yaml:26",
        ),
        (
            "saas-target",
            "data/services/app-interface/cicd/saas-qontract-manager.yaml:31",
        ),
        ("yaml-key", "resources/jenkins/global/defaults.yaml:6"),
        (
            "image-ref",
            "resources/tekton/openshift-saas-deploy.task.yaml:16",
        ),
    ] {
        let line = out
            .lines()
            .find(|l| l.contains(at))
            .unwrap_or_else(|| panic!("{at} missing:\n{out}"));
        assert!(line.contains(kind) && line.contains("in sync"), "{line}");
    }
    let canary = out
        .lines()
        .find(|l| l.contains("reconcile-canary.yml:6"))
        .unwrap();
    assert!(
        canary.contains("drifted") && canary.contains("0f9e8d7"),
        "{canary}"
    );
    // The stage target follows master and is not a location; the schemas template is another component's.
    assert!(!out.contains("saas-qontract-manager.yaml:28"), "{out}");
    assert!(!out.contains("saas-qontract-dashboards.yaml:34"), "{out}");
    assert!(
        out.contains("observability-production@appint-prod-01 (production)"),
        "{out}"
    );
}

#[test]
fn status_without_arguments_shows_every_component_of_env() {
    let sb = Sandbox::example();
    let v = sb.run(&["--json", "status"]).ok().json();
    let names: Vec<&str> = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["qontract-server", "qontract-reconcile", "qontract-schemas"]
    );
    let schemas = &v["components"][2];
    assert_eq!(schemas["version"], "9e8f7a6");
    assert_eq!(schemas["locations"].as_array().unwrap().len(), 2);
    let loc = &schemas["locations"][1];
    assert_eq!(loc["kind"], "saas-target");
    assert_eq!(loc["in_sync"], true);
    assert_eq!(loc["context"]["resource_template"], "qontract-schemas-docs");
}

#[test]
fn plan_shows_the_diff_and_writes_nothing() {
    let sb = Sandbox::example();
    let before = sb.snapshot();
    let r = sb.run(&["plan", "--offline", "--to", NEW]).ok();
    assert!(
        r.stdout
            .starts_with("qontract-reconcile a1b2c3d -> 1234567"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("6 edits in 6 files"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("diff --git a/.env b/.env\n--- a/.env\n+++ b/.env\n"),
        "{}",
        r.stdout
    );
    assert!(r
        .stdout
        .contains("-export RECONCILE_IMAGE_TAG=a1b2c3d\n+export RECONCILE_IMAGE_TAG=1234567\n"));
    assert!(r.stdout.contains(&format!(
        "-    ref: a1b2c3d4e5f60718293a4b5c6d7e8f9012345678\n+    ref: {NEW}\n"
    )));
    assert!(
        r.stdout.contains("1 drifted location left alone"),
        "{}",
        r.stdout
    );
    assert_eq!(sb.snapshot(), before, "plan must not write");
}

#[test]
fn apply_changes_exactly_the_version_bytes() {
    let sb = Sandbox::example();
    let before = sb.snapshot();
    let full_old = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
    // Each file's expected bytes: the original with only the version token replaced.
    // 1234567 reads as a number, so a plain tag gets quotes; quoted ones keep theirs.
    let expected: Vec<(&str, String, String)> = vec![
        (
            ".env",
            "RECONCILE_IMAGE_TAG=a1b2c3d\n".into(),
            "RECONCILE_IMAGE_TAG=1234567\n".into(),
        ),
        (
            "data/pipelines/tekton-provider-global-defaults.yaml",
            "qontract_reconcile_image_tag: a1b2c3d\n".into(),
            "qontract_reconcile_image_tag: '1234567'\n".into(),
        ),
        (
            "data/services/app-interface/cicd/saas-qontract-dashboards.yaml",
            format!("ref: \"{full_old}\""),
            format!("ref: \"{NEW}\""),
        ),
        (
            "data/services/app-interface/cicd/saas-qontract-manager.yaml",
            format!("ref: {full_old}\n"),
            format!("ref: {NEW}\n"),
        ),
        (
            "resources/jenkins/global/defaults.yaml",
            "qontract_reconcile_image_tag: 'a1b2c3d'\r\n".into(),
            "qontract_reconcile_image_tag: '1234567'\r\n".into(),
        ),
        (
            "resources/tekton/openshift-saas-deploy.task.yaml",
            "qontract-reconcile:a1b2c3d\n".into(),
            "qontract-reconcile:1234567\n".into(),
        ),
    ];
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    let after = sb.snapshot();
    for ((p, a), (_, b)) in before.iter().zip(&after) {
        let rel = p
            .strip_prefix(sb.root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let original = String::from_utf8(a.clone()).unwrap();
        match expected.iter().find(|(f, _, _)| *f == rel) {
            Some((_, old, new)) => {
                assert_eq!(original.matches(old.as_str()).count(), 1, "{rel}");
                assert_eq!(
                    String::from_utf8(b.clone()).unwrap(),
                    original.replace(old.as_str(), new),
                    "{rel}"
                );
            }
            None => assert_eq!(a, b, "{rel} must not change"),
        }
    }
    // A second run finds nothing to do.
    let again = sb
        .run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    assert!(
        again.stdout.contains("nothing to promote"),
        "{}",
        again.stdout
    );
}

#[test]
fn include_drifted_moves_drifted_locations_in_their_own_length() {
    let sb = Sandbox::example();
    sb.run(&[
        "apply",
        "--offline",
        "--allow-unverified",
        "--to",
        NEW,
        "--include-drifted",
    ])
    .ok();
    assert!(sb
        .read("data/services/app-interface/jobs/reconcile-canary.yml")
        .contains("qontract-reconcile:1234567\n"));
}

#[test]
fn only_limits_to_files_and_location_to_ids() {
    let sb = Sandbox::example();
    let v = sb
        .run(&[
            "--json",
            "plan",
            "--offline",
            "--to",
            NEW,
            "--only",
            "./resources/jenkins/global/defaults.yaml",
        ])
        .ok()
        .json();
    let edits = v["edits"].as_array().unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0]["path"], "resources/jenkins/global/defaults.yaml");
    assert_eq!(edits[0]["line"], 6);
    assert_eq!(edits[0]["old"], "a1b2c3d");
    assert_eq!(edits[0]["new"], "1234567");

    let status = sb
        .run(&["--json", "status", "qontract-reconcile"])
        .ok()
        .json();
    let loc = status["components"][0]["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "saas-target")
        .unwrap()
        .clone();
    let id = loc["id"].as_str().unwrap();
    let v = sb
        .run(&[
            "--json",
            "apply",
            "--offline",
            "--allow-unverified",
            "--to",
            NEW,
            "--location",
            id,
        ])
        .ok()
        .json();
    assert_eq!(v["edits"].as_array().unwrap().len(), 1);
    assert_eq!(v["edits"][0]["location"], id);
    assert_eq!(v["edits"][0]["path"], loc["path"]);
    assert_eq!(v["written"], true);
    assert!(
        sb.read(".env").contains("RECONCILE_IMAGE_TAG=a1b2c3d"),
        "only the chosen location moves"
    );
}

#[test]
fn kind_and_environment_selectors_combine() {
    let sb = Sandbox::example();
    let v = sb
        .run(&[
            "--json",
            "plan",
            "--offline",
            "--to",
            NEW,
            "--kind",
            "saas-target",
            "--saas-file",
            "saas-qontract-manager",
        ])
        .ok()
        .json();
    let edits = v["edits"].as_array().unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(
        edits[0]["path"],
        "data/services/app-interface/cicd/saas-qontract-manager.yaml"
    );
    let r = sb
        .run(&["plan", "--offline", "--to", NEW, "--env", "nowhere"])
        .code(1);
    assert!(
        r.stderr.contains("--env nowhere") && r.stderr.contains("production"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_selection_that_matches_nothing_lists_what_exists() {
    let sb = Sandbox::example();
    let r = sb
        .run(&[
            "plan",
            "--offline",
            "--to",
            NEW,
            "--only",
            "data/nothing.yml",
        ])
        .code(1);
    assert!(
        r.stderr.contains("--only data/nothing.yml")
            && r.stderr.contains("resources/jenkins/global/defaults.yaml"),
        "{}",
        r.stderr
    );
    let r = sb
        .run(&["plan", "--offline", "--to", NEW, "--location", "deadbeef"])
        .code(1);
    assert!(
        r.stderr.contains("--location deadbeef: no such location") && r.stderr.contains(".env:10"),
        "{}",
        r.stderr
    );
    let r = sb
        .run(&[
            "plan",
            "--offline",
            "--to",
            NEW,
            "--only",
            ".env",
            "--kind",
            "saas-target",
        ])
        .code(1);
    assert!(
        r.stderr.contains("the selection matches no location"),
        "{}",
        r.stderr
    );
}

#[test]
fn plan_json_has_the_documented_shape() {
    let sb = Sandbox::example();
    let v = sb
        .run(&["--json", "plan", "--offline", "--to", NEW])
        .ok()
        .json();
    assert_eq!(v["component"], "qontract-reconcile");
    assert_eq!(v["from"], CURRENT);
    assert_eq!(v["to"], NEW);
    assert_eq!(v["written"], false);
    let e = &v["edits"][0];
    for key in ["path", "line", "old", "new", "location", "kind"] {
        assert!(!e[key].is_null(), "edit has {key}: {e}");
    }
    assert_eq!(v["drifted"][0]["value"], "0f9e8d7");
    assert!(v["diff"].as_str().unwrap().contains("+++ b/.env"));
}

#[test]
fn other_components_are_promoted_the_same_way() {
    let sb = Sandbox::example();
    let v = sb
        .run(&[
            "--json",
            "apply",
            "qontract-schemas",
            "--offline",
            "--allow-unverified",
            "--to",
            "abcdef0123456789abcdef0123456789abcdef01",
        ])
        .ok()
        .json();
    assert_eq!(v["edits"].as_array().unwrap().len(), 2);
    assert!(sb.read(".env").contains("SCHEMAS_IMAGE_TAG=abcdef0\n"));
    assert!(sb
        .read("data/services/app-interface/cicd/saas-qontract-dashboards.yaml")
        .contains("ref: abcdef0123456789abcdef0123456789abcdef01\n"));
    assert!(sb.read(".env").contains("RECONCILE_IMAGE_TAG=a1b2c3d"));
}

#[test]
fn the_scan_cache_never_hides_a_new_location() {
    let sb = Sandbox::example();
    // A file that mentions qontract-reconcile and holds no location of it.
    let notes = "data/services/app-interface/notes.yml";
    let text =
        "---\nname: notes\ndescription: runs https://github.com/app-sre/qontract-reconcile\n";
    sb.write(notes, text);
    // Files written less than two seconds before a walk are never cached: let them age.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let jobs = "data/services/app-interface/jobs/reconcile-canary.yml";
    let status = |sb: &Sandbox| {
        let v = sb
            .run(&["--json", "status", "qontract-reconcile"])
            .ok()
            .json();
        v["components"][0]["locations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| format!("{}:{}", l.get("path").unwrap().as_str().unwrap(), l["line"]))
            .collect::<Vec<_>>()
    };
    let first = status(&sb);
    // The second walk trusts the cache: files that hold no location are not read.
    assert_eq!(status(&sb), first);
    assert!(!first.iter().any(|l| l.starts_with(notes)), "{first:?}");
    // The file the cache knows as holding no location of qontract-reconcile gets one.
    sb.write(
        notes,
        &format!("{text}image: quay.io/app-sre/qontract-reconcile:{CURRENT}\n"),
    );
    let after = status(&sb);
    assert!(
        after.contains(&format!("{notes}:4")),
        "the new location is found: {after:?}"
    );
    assert!(after.iter().any(|l| l.starts_with(jobs)));
    let out = sb.run(&["plan", "--offline", "--to", NEW]).ok().stdout;
    assert!(out.contains(&format!("{notes}:4")), "{out}");
}

#[test]
fn offline_apply_refuses_a_version_whose_ancestry_it_cannot_check() {
    let sb = Sandbox::example();
    let before = sb.snapshot();
    // No upstream cache: a full id is accepted offline, but nothing says it moves forward.
    let r = sb.run(&["apply", "--offline", "--to", NEW]).code(1);
    assert!(
        r.stderr.contains("the upstream cache lacks 1234567, so whether it descends from the current version is not known"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--allow-unverified"), "{}", r.stderr);
    assert_eq!(sb.snapshot(), before, "nothing written");
    // plan writes nothing: it shows the promotion and says the ancestry is not checked.
    let r = sb.run(&["plan", "--offline", "--to", NEW]).ok();
    assert!(r.stdout.contains("ancestry not checked"), "{}", r.stdout);
    // --allow-unverified names the risk and writes it.
    sb.run(&["apply", "--offline", "--allow-unverified", "--to", NEW])
        .ok();
    assert_ne!(sb.snapshot(), before);
}
