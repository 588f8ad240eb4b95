//! The stage gate of `plan` and `apply`: a version stage has not run cleanly for the soak time is
//! refused with stage's report (exit 3), one it has is promoted with stage's summary.

use crate::stage::{clean_stage, now, world, TOKEN};
use crate::support::kube_server::{write_kubeconfig_contexts, KubeServer};

#[test]
fn plan_and_apply_refuse_a_version_stage_has_not_soaked() {
    let w = world();
    // Stage runs b, cleanly, for three hours; c is the newest.
    let stage = KubeServer::with_pods(clean_stage(&w.b[..7], now() - 3 * 3600));
    let kc = write_kubeconfig_contexts(&w.sb.home(), TOKEN, &[("stage-01", &stage.url())]);
    let kc = kc.to_str().unwrap();
    let up = w.up.url();
    let base = [
        "--upstream",
        up.as_str(),
        "--skip-image-check",
        "--kubeconfig",
        kc,
    ];
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(base);
        w.sb.run(&args)
    };

    // c: stage does not run it.
    let before = w.sb.snapshot();
    let r = run(&["plan", "--to", &w.c, "--stage-soak", "2h"]).code(3);
    let out = w.named(&r.stdout);
    assert!(
        out.starts_with("stage for qontract-reconcile commitC, at "),
        "{out}"
    );
    assert!(
        out.ends_with("stage does not run commitC; 6 objects: 6 not-running\n"),
        "{out}"
    );
    assert_eq!(
        w.named(r.stderr.lines().last().unwrap()),
        "warning: plan: stage has not run commitC cleanly for 2h; nothing to promote"
    );
    let r = run(&["apply", "--to", &w.c, "--stage-soak", "2h"]).code(3);
    assert!(
        w.named(&r.stderr)
            .contains("apply: stage has not run commitC cleanly for 2h; nothing written"),
        "{}",
        r.stderr
    );
    assert_eq!(w.sb.snapshot(), before, "nothing written");

    // b: soaked for 2h, not for 4h.
    let r = run(&["plan", "--to", &w.b, "--stage-soak", "2h"]).ok();
    let out = w.named(&r.stdout);
    assert!(
        out.contains("\nStage: stage has run commitB cleanly for 3h (at least 2h asked); 6 objects: 6 soaked\n"),
        "{out}"
    );
    let r = run(&["plan", "--to", &w.b, "--stage-soak", "4h"]).code(3);
    assert!(
        w.named(&r.stdout)
            .ends_with("stage has run commitB for 3h of the 4h asked; 6 objects: 6 young\n"),
        "{}",
        r.stdout
    );

    // The component's stage_soak of .qr-promote.yaml is the gate without the option.
    w.sb.write(
        ".qr-promote.yaml",
        "version: 1\ncomponents:\n  qontract-reconcile:\n    stage_soak: 2h\n",
    );
    run(&["plan", "--to", &w.c]).code(3);
    let r = run(&["--json", "apply", "--to", &w.b]).ok();
    assert!(
        w.named(r.json()["stage"].as_str().unwrap())
            .starts_with("**Stage:** stage has run commitB cleanly for 3h"),
        "{}",
        r.stdout
    );
    assert!(w.sb.read(".env").contains(&w.b[..7]));
}
