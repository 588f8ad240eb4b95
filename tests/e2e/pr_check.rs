//! `pr-check --from DIR`: the check's reports read back against the example checkout on a
//! promotion branch, with the explained rule against a real upstream history built here.

use std::path::{Path, PathBuf};

use crate::support::{commit_checkout, git, pin_example, Sandbox};

pub const PULL_F929: &str =
    "Unable to find image 'quay.io/app-sre/qontract-reconcile:f929a38' locally
f929a38: Pulling from app-sre/qontract-reconcile
0a1b2c3d4e5f: Pulling fs layer
0a1b2c3d4e5f: Pull complete
Digest: sha256:0000000000000000000000000000000000000000000000000000000000000000
Status: Downloaded newer image for quay.io/app-sre/qontract-reconcile:f929a38
";

/// A promotion world: the example checkout with `pr_check` blocks, committed on `master` at
/// the old version and on a branch `promote` at the new one; an upstream whose commits
/// between them touch `foo` (its module), `aws-iam-keys` (its package), shared code, and name
/// `gitlab-housekeeping` in a subject.
pub struct World {
    pub sb: Sandbox,
    pub upstream: PathBuf,
    pub old: String,
    pub new: String,
}

fn commit_files(dir: &Path, home: &Path, files: &[(&str, &str)], subject: &str) -> String {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    git(dir, home, &["add", "-A"]);
    git(
        dir,
        home,
        &[
            "-c",
            "user.name=Dev",
            "-c",
            "user.email=dev@example.com",
            "commit",
            "-q",
            "-m",
            subject,
        ],
    );
    git(dir, home, &["rev-parse", "HEAD"])
}

const CHECKED: &[(&str, &str)] = &[
    ("terraform-resources", "terraform-resources --light"),
    ("gitlab-housekeeping", "gitlab-housekeeping"),
    ("aws-iam-keys", "aws-iam-keys"),
];

impl World {
    pub fn new() -> World {
        let sb = Sandbox::example();
        for (name, cmd) in CHECKED {
            let rel = format!("data/integrations/{name}.yml");
            let text = sb.read(&rel);
            sb.write(
                &rel,
                &format!("{text}\npr_check:\n  cmd: {cmd}\n  state: true\n"),
            );
        }
        for (name, extra) in [
            ("foo", ""),
            ("bar", ""),
            ("baz", ""),
            ("qux", ""),
            ("off", "  disabled: true\n"),
        ] {
            sb.write(
                &format!("data/integrations/{name}.yml"),
                &format!("---\n$schema: /app-sre/integration-1.yml\nname: {name}\npr_check:\n  cmd: {name}\n{extra}"),
            );
        }
        sb.write(
            "data/integrations/integrations-manager.yml",
            "---\n$schema: /app-sre/integration-1.yml\nname: integrations-manager\npr_check:\n  cmd: integrations-manager -r app-interface-stage-int=master -r app-interface-production-int=$RECONCILE_IMAGE_TAG\n",
        );
        let home = sb.home();
        let up = sb.dir.path().join("qontract-reconcile");
        std::fs::create_dir_all(&up).unwrap();
        git(&up, &home, &["init", "-q", "-b", "master"]);
        let old = commit_files(
            &up,
            &home,
            &[
                ("reconcile/foo.py", "QONTRACT_INTEGRATION = \"foo\"\n"),
                ("reconcile/bar.py", "QONTRACT_INTEGRATION = 'bar'\n"),
                (
                    "reconcile/terraform_resources.py",
                    "QONTRACT_INTEGRATION = \"terraform_resources\"\n",
                ),
                (
                    "reconcile/aws_iam_keys/integration.py",
                    "QONTRACT_INTEGRATION: str = \"aws-iam-keys\"\n",
                ),
                (
                    "reconcile/aws_iam_keys/helpers.py",
                    "def help():\n    pass\n",
                ),
                ("reconcile/utils/oc.py", "def oc():\n    pass\n"),
            ],
            "the integrations",
        );
        commit_files(
            &up,
            &home,
            &[(
                "reconcile/foo.py",
                "QONTRACT_INTEGRATION = \"foo\"\nX = 1\n",
            )],
            "Make the run faster (#101)",
        );
        commit_files(
            &up,
            &home,
            &[("reconcile/utils/oc.py", "def oc():\n    return 1\n")],
            "oc: retry (#102)",
        );
        commit_files(
            &up,
            &home,
            &[(
                "reconcile/aws_iam_keys/helpers.py",
                "def help():\n    return 2\n",
            )],
            "Rotate keys sooner (#103)",
        );
        let new = commit_files(
            &up,
            &home,
            &[("docs/notes.md", "notes\n")],
            "[gitlab-housekeeping] close stale MRs later (#104)",
        );
        pin_example(&sb, &old);
        commit_checkout(&sb, "Promoter", "promoter@example.com");
        git(&sb.root(), &home, &["checkout", "-q", "-b", "promote"]);
        for (p, bytes) in sb.snapshot() {
            let text = String::from_utf8(bytes).unwrap();
            std::fs::write(p, text.replace(&old, &new).replace(&old[..7], &new[..7])).unwrap();
        }
        git(&sb.root(), &home, &["commit", "-q", "-am", "promote"]);
        World {
            sb,
            upstream: up,
            old,
            new,
        }
    }

    /// Writes a report under `reports/` (`fail` puts it in the fail folder).
    pub fn report(&self, run: &str, fail: bool, text: &str) {
        let folder = if fail {
            "reconcile_reports_fail"
        } else {
            "reconcile_reports_success"
        };
        let p = self
            .sb
            .dir
            .path()
            .join("reports/archive/temp/reports")
            .join(folder)
            .join(format!("reconcile-{run}.txt"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn reports_dir(&self) -> String {
        self.sb
            .dir
            .path()
            .join("reports")
            .to_string_lossy()
            .into_owned()
    }

    pub fn run(&self, extra: &[&str]) -> crate::support::Run {
        let dir = self.reports_dir();
        let up = self.upstream.to_string_lossy().into_owned();
        let mut args = vec!["pr-check", "--from", &dir, "--upstream", &up];
        args.extend_from_slice(extra);
        self.sb.run(&args)
    }

    /// The integrations-manager's report: an apply of each object whose image moves, and of
    /// the pinned shard's object unless `without_pin`.
    pub fn manager_report(&self, without_pin: bool) -> String {
        let mut text = String::new();
        let mut objects = vec![
            ("CronJob", "qontract-reconcile-aws-iam-keys"),
            ("Deployment", "qontract-reconcile-gitlab-housekeeping-0"),
            ("Deployment", "qontract-reconcile-gitlab-housekeeping-1"),
            ("Deployment", "qontract-reconcile-gitlab-housekeeping-2"),
            (
                "StatefulSet",
                "qontract-reconcile-terraform-resources-app-sre",
            ),
        ];
        if !without_pin {
            objects.push((
                "StatefulSet",
                "qontract-reconcile-terraform-resources-ter-int-dev",
            ));
        }
        for (kind, name) in objects {
            text.push_str(&format!(
                "[2026-01-02 10:00:00] [INFO] [DRY-RUN] [openshift_base.py:apply:317] - ['apply', 'appint-prod-01', 'app-interface-production', '{kind}', '{name}']\n"
            ));
        }
        text
    }

    /// Every report of a check of this promotion: some clean, some with changes (explained
    /// and not), a failure, an override run that pulled its tag.
    pub fn full_check(&self) {
        self.report(
            "foo",
            false,
            "[2026-01-02 10:00:00] [INFO] [openshift_base.py:apply:317] - ['apply', 'appint-prod-01', 'ns', 'ConfigMap', 'foo-config']\n",
        );
        self.report(
            "terraform-resources",
            false,
            "[2026-01-02 10:00:00] [DEBUG] [DRY-RUN] [terrascript.py:init:10] - starting\n[2026-01-02 10:00:01] [INFO] [DRY-RUN] [terraform_client.py:log_plan_diff:300] - ['create', 'app-sre', 'aws_s3_bucket', 'logs-bucket']\n[2026-01-02 10:00:01] [INFO] [DRY-RUN] [terraform_client.py:log_plan_diff:300] - ['update', 'app-sre', 'output', 'logs-bucket']\n",
        );
        self.report(
            "terraform-resources_override_f929a38",
            false,
            &format!("{PULL_F929}[2026-01-02 10:00:00] [INFO] [DRY-RUN] [terraform_client.py:log_plan_diff:300] - ['update', 'ter-int-dev', 'aws_iam_role', 'role', ['tags']]\n"),
        );
        self.report(
            "aws-iam-keys",
            false,
            "[2026-01-02 10:00:00] [INFO] [DRY-RUN] [aws_iam_keys.py:run:50] - ['delete', 'app-sre', 'key', 'AKIA']\n",
        );
        self.report(
            "gitlab-housekeeping",
            false,
            "Unable to find image 'quay.io/app-sre/qontract-reconcile:1234567' locally\n1234567: Pulling from app-sre/qontract-reconcile\nStatus: Downloaded newer image for quay.io/app-sre/qontract-reconcile:1234567\n[2026-01-02 10:00:00] [INFO] [gitlab_housekeeping.py:run:10] - ['merge', 'app-interface', '12']\n",
        );
        self.report("qux", false, "");
        self.report(
            "nobody",
            false,
            "[2026-01-02 10:00:00] [INFO] [x.py:y:1] - hello\n",
        );
        self.report(
            "bar",
            true,
            "[2026-01-02 10:00:00] [ERROR] [bar.py:run:3] - Error running bar\nTraceback (most recent call last):\n  File \"/reconcile/bar.py\", line 3, in run\n    raise KeyError('x')\nKeyError: 'x'\n",
        );
        self.report("integrations-manager", false, &self.manager_report(false));
    }
}

#[test]
fn a_promotion_check_reads_as_one_screen() {
    let w = World::new();
    w.full_check();
    let console = w.sb.dir.path().join("console.txt");
    std::fs::write(&console, "INTEGRATION qux\nINTEGRATION FAILED: qux\n").unwrap();
    let r = w.run(&["--console", console.to_str().unwrap()]).code(3);
    let text = r.stdout.replace(&w.reports_dir(), "[REPORTS]");
    insta::assert_snapshot!(text);
}

#[test]
fn the_json_and_the_note_say_the_same() {
    let w = World::new();
    w.full_check();
    let r = w.run(&["--json"]).code(3);
    let dir = w.reports_dir();
    insta::assert_snapshot!(r.stdout.replace(&dir, "[REPORTS]"));
    let v = r.json();
    let tr = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "terraform-resources")
        .unwrap();
    assert_eq!(tr["verdict"], "changes");
    assert_eq!(tr["explained"], false);
    assert_eq!(v["versions"]["old"], w.old[..7]);
    assert_eq!(v["versions"]["new"], w.new[..7]);
    let md = w.run(&["--format", "markdown"]).code(3).stdout;
    insta::assert_snapshot!(md.replace(&dir, "[REPORTS]"));
    // Nothing from a report can mention anyone or close a block early.
    assert!(!md.contains(" @"), "{md}");
}

#[test]
fn a_clean_promotion_exits_zero() {
    let w = World::new();
    for run in [
        "aws-iam-keys",
        "bar",
        "baz",
        "foo",
        "qux",
        "gitlab-housekeeping",
        "terraform-resources",
    ] {
        w.report(run, false, "Unable to find image 'quay.io/app-sre/qontract-reconcile:754c853' locally\n754c853: Pulling from app-sre/qontract-reconcile\nStatus: Downloaded newer image for quay.io/app-sre/qontract-reconcile:754c853\n[2026-01-02 10:00:00] [DEBUG] [x.py:y:1] - early exit\n");
    }
    w.report("terraform-resources_override_f929a38", false, PULL_F929);
    w.report("integrations-manager", false, &w.manager_report(false));
    let r = w.run(&[]).ok();
    assert!(
        r.stdout
            .contains("9 ran: 8 clean; 1 with changes; pin checks: 5 of 5 hold"),
        "{}",
        r.stdout
    );
    // Only pull lines: clean, its image the one it pulled.
    let v = w.run(&["--json"]).ok().json();
    let gh = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "gitlab-housekeeping")
        .unwrap();
    assert_eq!(gh["verdict"], "clean");
    assert_eq!(gh["explained"], serde_json::Value::Null);
    assert_eq!(gh["image"], "quay.io/app-sre/qontract-reconcile:754c853");
}

#[test]
fn pins_that_did_not_run_as_the_procedure_says_fail() {
    let w = World::new();
    w.full_check();
    // The override run pulled another tag, and acted on a shard not its own; the normal run
    // acted on the pinned shard; the manager's plan lacks the pinned shard's object.
    w.report(
        "terraform-resources_override_f929a38",
        false,
        "Unable to find image 'quay.io/app-sre/qontract-reconcile:754c853' locally\nStatus: Downloaded newer image for quay.io/app-sre/qontract-reconcile:754c853\n[2026-01-02 10:00:00] [INFO] [DRY-RUN] [t.py:p:1] - ['update', 'app-sre', 'aws_iam_role', 'role']\n",
    );
    w.report(
        "terraform-resources",
        false,
        "[2026-01-02 10:00:01] [INFO] [DRY-RUN] [t.py:p:1] - ['create', 'ter-int-dev', 'aws_s3_bucket', 'b']\n",
    );
    w.report("integrations-manager", false, &w.manager_report(true));
    let r = w.run(&[]).code(3);
    let pins: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("  FAIL"))
        .collect();
    insta::assert_snapshot!(pins.join("\n"), @r"
      FAIL  terraform-resources                   leaves the pinned shards out: acted on pinned shards: create on ter-int-dev
      FAIL  terraform-resources_override_f929a38  pulled quay.io/app-sre/qontract-reconcile:f929a38: pulled quay.io/app-sre/qontract-reconcile:754c853 instead
      FAIL  terraform-resources_override_f929a38  ran only ter-int-dev: acted on app-sre
      FAIL  integrations-manager                  applies StatefulSet qontract-reconcile-terraform-resources-ter-int-dev: no apply of StatefulSet qontract-reconcile-terraform-resources-ter-int-dev
    ");
    assert!(r.stdout.contains("pin checks: 1 of 5 hold"), "{}", r.stdout);
}

#[test]
fn the_integrations_each_commit_touches_are_mapped_once() {
    let w = World::new();
    w.full_check();
    w.run(&[]).code(3);
    let cache = crate::support::files_containing(&w.sb.home().join("cache"), "\"integrations\"");
    assert_eq!(cache.len(), 1, "{cache:?}");
    let text = std::fs::read_to_string(&cache[0]).unwrap();
    assert!(
        text.contains("\"aws-iam-keys\"") && text.contains("reconcile/utils/oc.py"),
        "{text}"
    );
    // A second run reads the answers from the cache, offline.
    let again = w.run(&["--offline"]).code(3);
    assert!(
        again
            .stdout
            .contains("aws-iam-keys                          changes     yes"),
        "{}",
        again.stdout
    );
}

#[test]
fn bad_report_folders_are_refused_in_one_line() {
    let w = World::new();
    let missing = w.sb.dir.path().join("nowhere");
    let r =
        w.sb.run(&["pr-check", "--from", missing.to_str().unwrap()])
            .code(1);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    let empty = w.sb.dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let r =
        w.sb.run(&["pr-check", "--from", empty.to_str().unwrap()])
            .code(1);
    assert!(r.stderr.contains("no report of the check"), "{}", r.stderr);
    // A report that is a FIFO is refused at once; one that is a link is not followed.
    w.full_check();
    let fifo = Path::new(&w.reports_dir())
        .join("archive/temp/reports/reconcile_reports_success/reconcile-fifo.txt");
    std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    let r = w.run(&[]).code(1);
    assert!(
        r.stderr.contains("a FIFO, not a regular file"),
        "{}",
        r.stderr
    );
    std::fs::remove_file(&fifo).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &fifo).unwrap();
    let r = w.run(&[]).code(3);
    assert!(
        r.stderr
            .contains("reconcile-fifo.txt: a symbolic link, not followed"),
        "{}",
        r.stderr
    );
}

mod from_the_merge_request {
    use super::World;
    use crate::support::ci_server::{serve_ci, FakeCi, JENKINS_TOKEN, JENKINS_USER, SHA};
    use crate::support::gitlab_server::TOKEN;
    use crate::support::{git, Run};

    fn ci_world() -> (World, FakeCi) {
        let w = World::new();
        let home = w.sb.home();
        git(
            &w.sb.root(),
            &home,
            &[
                "remote",
                "add",
                "origin",
                "https://gitlab.test/group/app-interface.git",
            ],
        );
        (w, serve_ci(42, "promote"))
    }

    fn run(w: &World, ci: &FakeCi, args: &[&str]) -> Run {
        let up = w.upstream.to_string_lossy().into_owned();
        let jenkins = format!("{}/job/", ci.url);
        let mut all = vec![
            "pr-check",
            "--gitlab-url",
            &ci.url,
            "--jenkins-url",
            &jenkins,
            "--upstream",
            &up,
        ];
        all.extend_from_slice(args);
        Run::of(
            w.sb.cmd()
                .env("GITLAB_TOKEN", TOKEN)
                .env("JENKINS_USER", JENKINS_USER)
                .env("JENKINS_TOKEN", JENKINS_TOKEN)
                .args(&all)
                .output()
                .unwrap(),
        )
    }

    /// The check's reports as Jenkins archives them, and the console.
    fn archive(w: &World, ci: &FakeCi) {
        w.full_check();
        let mut st = ci.state.lock().unwrap();
        for entry in walk(&std::path::Path::new(&w.reports_dir()).join("archive")) {
            let rel = entry
                .strip_prefix(std::path::Path::new(&w.reports_dir()).join("archive"))
                .unwrap();
            st.artifacts.insert(
                rel.to_string_lossy().into_owned(),
                std::fs::read_to_string(&entry).unwrap(),
            );
        }
        st.console =
            "selected integrations: all\nINTEGRATION qux\nINTEGRATION FAILED: qux\n".into();
        st.statuses = vec![serde_json::json!({
            "id": 7, "sha": SHA, "ref": "promote", "status": "success", "name": "jenkins",
            "target_url": ci.build_url(), "description": "Build success",
        })];
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_jenkins_build_of_the_head_commit_is_read() {
        let (w, ci) = ci_world();
        archive(&w, &ci);
        let r = run(&w, &ci, &["--mr", "42"]).code(3);
        let text = r.stdout.replace(&ci.url, "[CI]");
        insta::assert_snapshot!(text);
        // The branch's own merge request, when none is named.
        let r = run(&w, &ci, &["--mr"]).code(3);
        assert!(
            r.stdout
                .contains("qux                                   failed"),
            "{}",
            r.stdout
        );
        assert!(!r.stdout.contains(JENKINS_TOKEN) && !r.stderr.contains(JENKINS_TOKEN));
    }

    #[test]
    fn one_note_kept_current() {
        let (w, ci) = ci_world();
        archive(&w, &ci);
        run(&w, &ci, &["--mr", "42", "--post"]).code(3);
        run(&w, &ci, &["--mr", "42", "--post"]).code(3);
        // The check ran again after a fix: the same note says so.
        ci.state
            .lock()
            .unwrap()
            .artifacts
            .retain(|p, _| !p.contains("reconcile-bar"));
        run(&w, &ci, &["--mr", "42", "--post"]).code(3);
        let st = ci.state.lock().unwrap();
        assert_eq!(st.notes.len(), 1, "{:?}", st.notes);
        assert!(st.notes[0].1.starts_with("<!-- qr-promote:pr-check -->"));
        assert!(
            st.notes[0].1.contains("2 missing: bar, baz"),
            "{}",
            st.notes[0].1
        );
        let posts = st.requests.iter().filter(|r| r.starts_with("POST")).count();
        assert_eq!(posts, 1);
    }

    #[test]
    fn a_running_build_exits_4_and_wait_reads_it_when_done() {
        let (w, ci) = ci_world();
        archive(&w, &ci);
        ci.state.lock().unwrap().building_for = 100;
        let r = run(&w, &ci, &["--mr", "42"]).code(4);
        assert!(
            r.stdout.contains("not finished: the build is running"),
            "{}",
            r.stdout
        );
        let r = run(&w, &ci, &["--mr", "42", "--wait", "2s", "--interval", "1s"]).code(4);
        assert!(r.stdout.contains("not finished"), "{}", r.stdout);
        ci.state.lock().unwrap().building_for = 1;
        let r = run(
            &w,
            &ci,
            &["--mr", "42", "--wait", "20s", "--interval", "1s"],
        )
        .code(3);
        assert!(r.stdout.contains("finished: SUCCESS"), "{}", r.stdout);
        // A commit status still pending says so without asking Jenkins.
        ci.state.lock().unwrap().statuses[0]["status"] = "running".into();
        let r = run(&w, &ci, &["--mr", "42"]).code(4);
        assert!(
            r.stdout.contains("commit status jenkins is running"),
            "{}",
            r.stdout
        );
    }

    #[test]
    fn jenkins_and_gitlab_refusals_are_one_line_errors() {
        let (w, ci) = ci_world();
        archive(&w, &ci);
        for (status, words) in [(401, "HTTP 401"), (404, "no such build"), (503, "HTTP 503")] {
            ci.state.lock().unwrap().jenkins_fails = Some(status);
            let r = run(&w, &ci, &["--mr", "42"]).code(1);
            assert!(r.stderr.contains(words), "{status}: {}", r.stderr);
            assert!(!r.stderr.contains(JENKINS_TOKEN), "{}", r.stderr);
        }
        ci.state.lock().unwrap().jenkins_fails = None;
        // Wrong Jenkins credentials: 401, with the hint.
        let up = w.upstream.to_string_lossy().into_owned();
        let r = Run::of(
            w.sb.cmd()
                .env("GITLAB_TOKEN", TOKEN)
                .env("JENKINS_USER", JENKINS_USER)
                .env("JENKINS_TOKEN", "wrong-secret-999")
                .env("JENKINS_URL", &ci.url)
                .args([
                    "pr-check",
                    "--mr",
                    "42",
                    "--gitlab-url",
                    &ci.url,
                    "--upstream",
                    &up,
                ])
                .output()
                .unwrap(),
        )
        .code(1);
        assert!(
            r.stderr.contains("HTTP 401") && r.stderr.contains("JENKINS_TOKEN"),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("wrong-secret-999"), "{}", r.stderr);
        // No merge request of that number; a wrong GitLab token.
        let r = run(&w, &ci, &["--mr", "7"]).code(1);
        assert!(r.stderr.contains("HTTP 404"), "{}", r.stderr);
        let r = Run::of(
            w.sb.cmd()
                .env("GITLAB_TOKEN", "glpat-wrong")
                .args(["pr-check", "--mr", "42", "--gitlab-url", &ci.url])
                .output()
                .unwrap(),
        )
        .code(1);
        assert!(
            r.stderr.contains("HTTP 401") && !r.stderr.contains("glpat-wrong"),
            "{}",
            r.stderr
        );
        // A build on another host than the Jenkins the token is for is never sent the token.
        let other = serve_ci(42, "promote");
        ci.state.lock().unwrap().statuses[0]["target_url"] = other.build_url().into();
        let r = run(&w, &ci, &["--mr", "42"]).code(1);
        assert!(
            r.stderr.contains("not sending the token there"),
            "{}",
            r.stderr
        );
        assert!(other.state.lock().unwrap().requests.is_empty());
        // No check at all on the head commit.
        ci.state.lock().unwrap().statuses.clear();
        let r = run(&w, &ci, &["--mr", "42"]).code(1);
        assert!(
            r.stderr
                .contains("no check on the head commit c0ffee0 of !42"),
            "{}",
            r.stderr
        );
    }

    #[test]
    fn a_gitlab_pipeline_is_read_from_its_job_logs_and_artifacts() {
        let (w, ci) = ci_world();
        w.full_check();
        {
            let mut st = ci.state.lock().unwrap();
            st.pipelines = vec![
                serde_json::json!({"id": 9, "sha": SHA, "status": "running", "source": "external", "web_url": "https://gitlab.test/p/9"}),
                serde_json::json!({"id": 8, "sha": SHA, "status": "success", "source": "merge_request_event", "web_url": "https://gitlab.test/p/8"}),
            ];
            // One job tees the runs to its log; another only archives its reports.
            let log = format!(
                "INTEGRATION foo\n[2026-01-02 10:00:00] [INFO] [o.py:a:1] - ['apply', 'appint-prod-01', 'ns', 'ConfigMap', 'foo-config']\nINTEGRATION bar\nTraceback (most recent call last):\n  File \"x\"\nKeyError: 'x'\nINTEGRATION FAILED: bar\nINTEGRATION integrations-manager\n{}",
                w.manager_report(false)
            );
            st.jobs
                .push((1, "pr-check-a".into(), "success".into(), log));
            st.jobs.push((
                2,
                "pr-check-b".into(),
                "success".into(),
                "archiving\n".into(),
            ));
            st.job_artifacts.insert(
                (
                    2,
                    "temp/reports/reconcile_reports_success/reconcile-aws-iam-keys.txt".into(),
                ),
                "[2026-01-02 10:00:00] [INFO] [a.py:r:1] - ['delete', 'app-sre', 'key', 'AKIA']\n"
                    .into(),
            );
        }
        {
            // Jobs come in pages of 100: the one that archived reports is on the second.
            let mut st = ci.state.lock().unwrap();
            for id in 10..110 {
                st.jobs.insert(
                    0,
                    (id, format!("lint-{id}"), "success".into(), "ok\n".into()),
                );
            }
        }
        let v = run(&w, &ci, &["--json", "--mr", "42"]).code(3).json();
        assert_eq!(v["source"], "https://gitlab.test/p/8");
        assert!(ci
            .state
            .lock()
            .unwrap()
            .requests
            .iter()
            .any(|r| r.contains("/jobs?") && r.contains("page=2")));
        let verdict = |name: &str| {
            v["runs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == name)
                .map(|r| r["verdict"].as_str().unwrap().to_string())
        };
        assert_eq!(verdict("foo").as_deref(), Some("changes"));
        assert_eq!(verdict("bar").as_deref(), Some("failed"));
        assert_eq!(verdict("aws-iam-keys").as_deref(), Some("changes"));
        assert_eq!(verdict("gitlab-housekeeping").as_deref(), Some("missing"));
        // A pipeline still running is not finished.
        ci.state.lock().unwrap().pipelines.remove(1);
        ci.state.lock().unwrap().pipelines[0]["source"] = "merge_request_event".into();
        let r = run(&w, &ci, &["--mr", "42"]).code(4);
        assert!(r.stdout.contains("pipeline 9 is running"), "{}", r.stdout);
    }
}
