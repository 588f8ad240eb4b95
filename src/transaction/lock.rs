//! The checkout lock: one writer at a time, and a journal that only its holder touches.
//!
//! The lock is an exclusive `flock` on `<state>/lock`, where `<state>` is `.git/qr-promote/` of
//! the checkout (or `.qr-promote/` at its root when it has no `.git`). The kernel releases a
//! `flock` when its holder dies, so a killed run never leaves a stale lock. The file exists only
//! while it is held and says who holds it; a waiter names that holder when it gives up.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::FlockOperation;

use crate::error::{Error, Result};

/// The folder of a checkout where qr-promote keeps its lock and journal: `.git/qr-promote/` (the
/// folder a `.git` file names, in a worktree, when it is a git folder), else `.qr-promote/` at
/// the root. Only where it would be: see [`ensure_state_dir`] for what it must be.
pub fn state_dir(root: &Path) -> PathBuf {
    let dot_git = root.join(".git");
    match fs::symlink_metadata(&dot_git) {
        Ok(m) if m.is_dir() => return dot_git.join("qr-promote"),
        Ok(m) if m.is_file() => {
            // A worktree or submodule: `gitdir: <path>`, relative to the root or absolute. Read
            // as git reads it: a small regular file, naming a folder that holds a `HEAD`.
            if let Ok(bytes) = crate::util::read_regular(&dot_git, GIT_FILE_LIMIT) {
                let text = String::from_utf8_lossy(&bytes);
                if let Some(dir) = text.lines().next().and_then(|l| l.strip_prefix("gitdir:")) {
                    let dir = root.join(dir.trim());
                    if let Ok(real) = fs::canonicalize(&dir) {
                        if real.is_dir() && real.join("HEAD").is_file() {
                            return real.join("qr-promote");
                        }
                    }
                }
            }
        }
        _ => {}
    }
    root.join(".qr-promote")
}

/// The most a `.git` file (`gitdir: <path>`) is read of.
const GIT_FILE_LIMIT: u64 = 64 * 1024;

/// Whether the state folder `state` is there, refusing anything but a real folder: a link (to
/// anywhere), a file, a FIFO. Nothing is changed.
pub fn check_state_dir(state: &Path) -> Result<bool> {
    match fs::symlink_metadata(state) {
        Ok(m) if m.is_dir() => Ok(true),
        Ok(m) => {
            let what = if m.file_type().is_symlink() {
                match fs::read_link(state) {
                    Ok(to) => format!("a link to {}", to.display()),
                    Err(_) => "a link".to_string(),
                }
            } else {
                "not a folder".to_string()
            };
            Err(Error::refused(format!(
                "{}: the state folder of qr-promote is {what}; it must be a real folder of the checkout; nothing read or written",
                state.display()
            ))
            .with_hint(format!(
                "remove it (rm {}); qr-promote makes the folder again",
                state.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(state, e)),
    }
}

/// Makes sure the state folder `state` is a real folder (see [`check_state_dir`]): created with
/// mode 0700 when missing (its parent, the checkout or its git folder, must be there); an
/// existing one is used as it is, its mode never changed.
pub fn ensure_state_dir(state: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if check_state_dir(state)? {
        return Ok(());
    }
    match fs::DirBuilder::new().mode(0o700).create(state) {
        Ok(()) => Ok(()),
        // Made by another run in between: check what is there now.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            check_state_dir(state).map(|_| ())
        }
        Err(e) => Err(Error::io(state, e)),
    }
}

/// The refusal of a lock file that is not one (a link, a FIFO, a device someone put there).
fn not_a_lock(path: &Path, what: &str) -> Error {
    Error::refused(format!(
        "{}: {what}, not a lock of qr-promote; nothing read or written",
        path.display()
    ))
    .with_hint(format!("remove it (rm {})", path.display()))
}

/// The exclusive lock on a checkout, held until dropped.
#[derive(Debug)]
pub struct CheckoutLock {
    root: PathBuf,
    state: PathBuf,
    command: String,
    file: Option<File>,
}

/// Who holds a lock, as its file says.
fn describe_holder(text: &str) -> String {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let command = field("command").unwrap_or("another command");
    let since = field("since")
        .and_then(|s| s.parse::<u64>().ok())
        .and_then(|s| now_secs().checked_sub(s))
        .map(|held| format!(", for {held}s"))
        .unwrap_or_default();
    match field("pid") {
        Some(pid) => format!("qr-promote {command} (pid {pid}{since})"),
        None => "another qr-promote run".to_string(),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn show(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

impl CheckoutLock {
    /// Takes the lock of the checkout at `root` for `command`, waiting up to `wait` for another
    /// holder to let go; then refuses, naming the holder.
    pub fn acquire(root: &Path, command: &str, wait: Duration) -> Result<CheckoutLock> {
        let root = fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
        let state = state_dir(&root);
        let path = state.join("lock");
        let start = Instant::now();
        loop {
            ensure_state_dir(&state)?;
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(
                    (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
                )
                .open(&path)
            {
                Ok(f) => f,
                // The folder went away with the last holder: make it again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                    return Err(not_a_lock(&path, "a symbolic link"))
                }
                Err(e) => return Err(Error::io(&path, e)),
            };
            if !file.metadata().is_ok_and(|m| m.is_file()) {
                return Err(not_a_lock(&path, "not a regular file"));
            }
            match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {
                    // The holder before us may have removed the file after we opened it: the
                    // lock counts only on the file that is still at the path.
                    let same = fs::symlink_metadata(&path)
                        .ok()
                        .zip(file.metadata().ok())
                        .is_some_and(|(p, f)| p.ino() == f.ino() && p.dev() == f.dev());
                    if !same {
                        continue;
                    }
                    let mut lock = CheckoutLock {
                        root,
                        state,
                        command: command.to_string(),
                        file: Some(file),
                    };
                    lock.record()
                        .map_err(|e| Error::io(&lock.state.join("lock"), e))?;
                    return Ok(lock);
                }
                Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR => {
                    let waited = start.elapsed();
                    if waited >= wait {
                        let mut text = String::new();
                        let _ = (&file).read_to_string(&mut text);
                        return Err(Error::refused(format!(
                            "{}: the checkout is locked by {}; waited {}; nothing written",
                            root.display(),
                            describe_holder(&text),
                            show(wait)
                        ))
                        .with_hint("--lock-wait DURATION waits longer"));
                    }
                    std::thread::sleep((wait - waited).min(Duration::from_millis(25)));
                }
                Err(e) => return Err(Error::io(&path, e.into())),
            }
        }
    }

    fn record(&mut self) -> std::io::Result<()> {
        let command = &self.command;
        let Some(mut f) = self.file.as_ref() else {
            return Ok(());
        };
        f.set_len(0)?;
        write!(
            f,
            "pid={}\ncommand={command}\nsince={}\n",
            std::process::id(),
            now_secs()
        )
    }

    /// The canonical root of the locked checkout.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The command that holds the lock (`apply`, `pin`, ...).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The state folder (lock and journal).
    pub fn state_dir(&self) -> &Path {
        &self.state
    }
}

impl Drop for CheckoutLock {
    fn drop(&mut self) {
        // Remove the file while still holding it, then let go: a waiter that opened the old file
        // sees it is no longer at the path and opens the new one.
        let _ = fs::remove_file(self.state.join("lock"));
        self.file = None;
        if self.state.ends_with(".qr-promote") {
            // Leave no empty folder in the checkout (fails harmlessly when it holds a journal
            // or another run's lock).
            let _ = fs::remove_dir(&self.state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_waits_then_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = CheckoutLock::acquire(dir.path(), "apply", Duration::ZERO).unwrap();
        let err = CheckoutLock::acquire(dir.path(), "pin", Duration::from_millis(60))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "locked by qr-promote apply (pid {}",
                std::process::id()
            )) && err.contains("waited 60ms"),
            "{err}"
        );
        drop(first);
        let again = CheckoutLock::acquire(dir.path(), "pin", Duration::ZERO).unwrap();
        assert!(dir.path().join(".qr-promote/lock").exists());
        drop(again);
        assert!(
            !dir.path().join(".qr-promote").exists(),
            "nothing is left in the checkout"
        );
    }

    #[test]
    fn a_waiter_gets_the_lock_when_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = CheckoutLock::acquire(dir.path(), "apply", Duration::ZERO).unwrap();
        let root = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            CheckoutLock::acquire(&root, "apply", Duration::from_secs(20)).map(|_| ())
        });
        std::thread::sleep(Duration::from_millis(100));
        drop(first);
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn the_state_lives_in_the_git_folder_when_there_is_one() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(state_dir(dir.path()), dir.path().join(".qr-promote"));
        fs::create_dir(dir.path().join(".git")).unwrap();
        assert_eq!(state_dir(dir.path()), dir.path().join(".git/qr-promote"));
        let wt = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join(".git/worktrees/w")).unwrap();
        // Not a git folder (no HEAD): git would not take it, neither does qr-promote.
        fs::write(
            wt.path().join(".git"),
            format!("gitdir: {}\n", dir.path().join(".git/worktrees").display()),
        )
        .unwrap();
        assert_eq!(state_dir(wt.path()), wt.path().join(".qr-promote"));
        fs::write(
            dir.path().join(".git/worktrees/w/HEAD"),
            "ref: refs/heads/w\n",
        )
        .unwrap();
        fs::write(
            wt.path().join(".git"),
            format!(
                "gitdir: {}\n",
                dir.path().join(".git/worktrees/w").display()
            ),
        )
        .unwrap();
        assert_eq!(
            state_dir(wt.path()),
            dir.path().join(".git/worktrees/w/qr-promote")
        );
    }

    #[test]
    fn a_state_folder_that_is_a_link_is_refused_and_its_target_left_as_it_is() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        fs::set_permissions(elsewhere.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(".qr-promote")).unwrap();
        let err = CheckoutLock::acquire(dir.path(), "apply", Duration::ZERO).unwrap_err();
        assert!(
            err.to_string()
                .contains(".qr-promote: the state folder of qr-promote is a link to"),
            "{err}"
        );
        assert_eq!(err.kind(), crate::error::ErrorKind::Refused);
        let mode = fs::metadata(elsewhere.path()).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o1777, "the sticky bit stays");
        assert_eq!(
            fs::read_dir(elsewhere.path()).unwrap().count(),
            0,
            "nothing written there"
        );
        // A file in its place is refused too.
        fs::remove_file(dir.path().join(".qr-promote")).unwrap();
        fs::write(dir.path().join(".qr-promote"), "").unwrap();
        let err = CheckoutLock::acquire(dir.path(), "apply", Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("is not a folder"), "{err}");
    }

    #[test]
    fn a_state_folder_is_made_private_and_an_existing_one_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        let state = dir.path().join(".git/qr-promote");
        let held = CheckoutLock::acquire(dir.path(), "apply", Duration::ZERO).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&state), 0o700);
        drop(held);
        fs::set_permissions(&state, fs::Permissions::from_mode(0o755)).unwrap();
        drop(CheckoutLock::acquire(dir.path(), "apply", Duration::ZERO).unwrap());
        assert_eq!(mode(&state), 0o755, "never chmodded");
    }

    #[test]
    fn a_lock_file_that_is_a_link_or_a_fifo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".qr-promote");
        fs::create_dir(&state).unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, "theirs").unwrap();
        std::os::unix::fs::symlink(&outside, state.join("lock")).unwrap();
        let err = CheckoutLock::acquire(dir.path(), "apply", Duration::ZERO).unwrap_err();
        assert!(
            err.to_string()
                .contains("lock: a symbolic link, not a lock"),
            "{err}"
        );
        assert_eq!(fs::read_to_string(&outside).unwrap(), "theirs");
        fs::remove_file(state.join("lock")).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            state.join("lock"),
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        let err = CheckoutLock::acquire(dir.path(), "apply", Duration::ZERO).unwrap_err();
        assert!(
            err.to_string().contains("lock: not a regular file"),
            "{err}"
        );
    }

    #[test]
    fn holders_are_described_from_their_file() {
        assert_eq!(
            describe_holder("pid=42\ncommand=apply\n"),
            "qr-promote apply (pid 42)"
        );
        assert_eq!(describe_holder(""), "another qr-promote run");
    }
}
