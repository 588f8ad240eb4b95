//! All or nothing: when the second of three files cannot be written, all three stay as they were.

use crate::support::{Sandbox, NEW};

#[test]
fn a_failed_write_of_the_second_file_leaves_all_three_unchanged() {
    let sb = Sandbox::empty();
    sb.write(
        ".env",
        "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\nexport RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\nexport RECONCILE_IMAGE_TAG=a1b2c3d\n",
    );
    sb.write("data/a.yml", "qontract_reconcile_image_tag: a1b2c3d\n");
    sb.write("data/b.yml", "qontract_reconcile_image_tag: a1b2c3d\n");
    sb.write("resources/c.yml", "qontract_reconcile_image_tag: a1b2c3d\n");
    // The staging file of data/a.yml (the second file written, after .env) cannot be created:
    // a folder stands in its place.
    std::fs::create_dir(sb.path("data/.a.yml.qr-promote.tmp")).unwrap();
    let before = sb.snapshot();
    let r = sb.run(&["apply", "--offline", "--to", NEW]).code(1);
    assert!(
        r.stderr.contains("data/a.yml: cannot stage the new file")
            && r.stderr.contains("nothing written"),
        "{}",
        r.stderr
    );
    assert_eq!(sb.snapshot(), before);
    assert!(!sb.path("data/.b.yml.qr-promote.tmp").exists());
    assert!(!sb.path(".env.qr-promote.tmp").exists() && !sb.path("..env.qr-promote.tmp").exists());
}
