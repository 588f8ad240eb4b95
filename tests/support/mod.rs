//! Shared test helpers: fixture trees, a sealed environment, running the binary, test servers.
// Helpers are shared: a module may use only some of them.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The example checkout shipped with the project.
pub fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/app-interface")
}

/// A temporary copy of a fixture tree, plus a home and cache folder for the binary.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    /// A copy of the example checkout.
    pub fn example() -> Sandbox {
        let sb = Sandbox::empty();
        copy_tree(&example(), &sb.root());
        sb
    }

    /// A copy of a fixture tree of `tests/fixtures/`.
    pub fn fixture(name: &str) -> Sandbox {
        let sb = Sandbox::empty();
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name),
            &sb.root(),
        );
        sb
    }

    /// An empty checkout folder (no .env yet).
    pub fn empty() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("repo")).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Sandbox { dir }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    pub fn write(&self, rel: &str, text: &str) {
        self.write_bytes(rel, text.as_bytes());
    }

    pub fn write_bytes(&self, rel: &str, bytes: &[u8]) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    /// The binary with the sealed environment, run in the checkout.
    pub fn cmd(&self) -> Command {
        let mut c = sealed(Command::new(env!("CARGO_BIN_EXE_qr-promote")), &self.home());
        c.current_dir(self.root());
        c
    }

    /// Runs the binary with `args`.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::of(self.cmd().args(args).output().unwrap())
    }

    /// Runs the binary with `args` and `--upstream <upstream>`.
    pub fn run_against(&self, upstream: &Path, args: &[&str]) -> Run {
        let up = upstream.to_string_lossy().into_owned();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--upstream", &up]);
        self.run(&all)
    }

    /// Runs the binary with `args`, `input` on its stdin.
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The binary may stop reading early (a bad argument): a broken pipe is its answer.
        let _ = child.stdin.take().unwrap().write_all(input);
        Run::of(child.wait_with_output().unwrap())
    }

    /// Every file of the checkout with its bytes, for "nothing changed" checks.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        walk(&self.root(), &mut out);
        out.sort();
        out
    }
}

impl Sandbox {
    /// Every file below `dir` with its bytes.
    pub fn snapshot_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        walk(dir, &mut out);
        out.sort();
        out
    }

    /// [`Sandbox::snapshot`] of a tree with files the test cannot read (their bytes are empty).
    pub fn snapshot_readable(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn go(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                if e.file_type().unwrap().is_dir() {
                    go(&p, out);
                } else if e.file_type().unwrap().is_file() {
                    out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
                }
            }
        }
        let mut out = Vec::new();
        go(&self.root(), &mut out);
        out.sort();
        out
    }
}

/// Lets every user read and write a folder and what is in it (for runs as another user).
pub fn open_to_everyone(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::symlink_metadata(dir).unwrap();
    if m.file_type().is_symlink() {
        return;
    }
    let mode = if m.is_dir() { 0o777 } else { 0o666 };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    if m.is_dir() {
        for e in std::fs::read_dir(dir).unwrap() {
            open_to_everyone(&e.unwrap().path());
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            walk(&p, out);
        } else if e.file_type().unwrap().is_file() {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
}

/// Copies a folder recursively.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Seals a command: fixed HOME, no user or system git configuration, no inherited cache.
pub fn sealed(mut c: Command, home: &Path) -> Command {
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("QR_PROMOTE_CACHE", home.join("cache"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .env("LC_ALL", "C")
        .env("TZ", "UTC");
    c
}

/// What a run printed and returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts the exit code and returns self.
    pub fn code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn ok(self) -> Run {
        self.code(0)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// A full commit id for tests.
pub const NEW: &str = "1234567890abcdef1234567890abcdef12345678";
/// The example's qontract-reconcile version.
pub const CURRENT: &str = "a1b2c3d";

pub mod ci_server;
pub mod fake_registry;
pub mod gitlab_server;
pub mod http_server;
pub mod kube_server;
pub mod prometheus;
pub mod registry_server;

/// Every file under `dir` (recursively) whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() {
                let bytes = std::fs::read(&p).unwrap();
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(p);
                }
            }
        }
    }
    found
}

/// Everything under `dir` (and `dir`) that others than the owner may read, write or enter, with
/// its mode; asserts `dir` holds at least one file.
pub fn not_private(dir: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut open = Vec::new();
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            open.push((p.clone(), mode));
        }
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else {
            files += 1;
        }
    }
    assert!(files > 0, "no file under {}", dir.display());
    open
}

/// A run's whole output for a snapshot: exit status, stdout and stderr, with the sandbox's
/// folder written `$SANDBOX` (as jj's `CommandOutput`).
pub fn command_output(sb: &Sandbox, r: &Run) -> String {
    let dir = sb.dir.path().display().to_string();
    let real = std::fs::canonicalize(sb.dir.path())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| dir.clone());
    let clean = |s: &str| s.replace(&real, "$SANDBOX").replace(&dir, "$SANDBOX");
    format!(
        "exit status: {}\n--- stdout\n{}--- stderr\n{}",
        r.code,
        clean(&r.stdout),
        clean(&r.stderr)
    )
}

/// Runs git in `dir` in the sealed environment; returns its trimmed stdout. A failure fails the
/// test with git's message.
pub fn git(dir: &Path, home: &Path, args: &[&str]) -> String {
    git_with(dir, home, &[], args)
}

/// [`git`] with more environment variables (a date, an identity).
pub fn git_with(dir: &Path, home: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = sealed(Command::new("git"), home)
        .current_dir(dir)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// An upstream repository built by a test: one file changed by each commit.
pub struct Upstream {
    pub path: PathBuf,
    home: PathBuf,
    /// The commits, oldest first.
    pub ids: Vec<String>,
}

impl Upstream {
    /// An empty repository (branch `master`) at `<sandbox>/upstream`.
    pub fn new(sb: &Sandbox) -> Upstream {
        Upstream::named(sb, "upstream")
    }

    /// An empty repository (branch `master`) at `<sandbox>/<name>`.
    pub fn named(sb: &Sandbox, name: &str) -> Upstream {
        let path = sb.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        git(&path, &sb.home(), &["init", "-q", "-b", "master"]);
        Upstream {
            path,
            home: sb.home(),
            ids: Vec::new(),
        }
    }

    /// A commit by `name <email>` with `subject`; returns its id.
    pub fn commit(&mut self, name: &str, email: &str, subject: &str) -> String {
        let n = self.ids.len();
        std::fs::write(self.path.join("f.txt"), format!("{n}\n")).unwrap();
        git(&self.path, &self.home, &["add", "f.txt"]);
        let (user, mail) = (format!("user.name={name}"), format!("user.email={email}"));
        git(
            &self.path,
            &self.home,
            &["-c", &user, "-c", &mail, "commit", "-q", "-m", subject],
        );
        let id = git(&self.path, &self.home, &["rev-parse", "HEAD"]);
        self.ids.push(id.clone());
        id
    }

    /// The path as the command line takes it.
    pub fn url(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

/// Points every copy of the example checkout's qontract-reconcile version at `id`.
pub fn pin_example(sb: &Sandbox, id: &str) {
    for (p, bytes) in sb.snapshot() {
        let text = String::from_utf8(bytes).unwrap();
        let new = text
            .replace("a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", id)
            .replace(CURRENT, &id[..7]);
        std::fs::write(p, new).unwrap();
    }
}

/// A bare repository at `<sandbox>/remote.git` (branch `master`) that accepts push options, as
/// GitLab does; returns its path.
pub fn push_options_remote(sb: &Sandbox) -> PathBuf {
    let remote = sb.dir.path().join("remote.git");
    let home = sb.home();
    git(
        sb.dir.path(),
        &home,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "master",
            remote.to_str().unwrap(),
        ],
    );
    git(
        &remote,
        &home,
        &["config", "receive.advertisePushOptions", "true"],
    );
    remote
}

/// Makes the sandbox's checkout a git repository (branch `master`) with one commit, the
/// identity `name <email>` configured.
pub fn commit_checkout(sb: &Sandbox, name: &str, email: &str) {
    let (root, home) = (sb.root(), sb.home());
    git(&root, &home, &["init", "-q", "-b", "master"]);
    git(&root, &home, &["config", "user.email", email]);
    git(&root, &home, &["config", "user.name", name]);
    git(&root, &home, &["add", "-A"]);
    git(&root, &home, &["commit", "-q", "-m", "checkout"]);
}

/// Write an executable `#!/bin/sh` script at `path`. It is written by a shell, so that no file
/// descriptor open for writing it is ever held by this multi-threaded test process (another
/// thread's fork could inherit one, and running the script would fail with ETXTBSY).
pub fn write_script(path: &Path, body: &str) {
    let mut child = std::process::Command::new("sh")
        .args(["-c", "cat > \"$0\" && chmod 700 \"$0\""])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "writing {}",
        path.display()
    );
}
