//! The write transaction: every file of a change is replaced, or none is, whatever crashes, runs
//! at the same time, or sits behind a link.
//!
//! 1. The caller holds the [`CheckoutLock`]: one writer at a time.
//! 2. Each path is resolved to its real file, which must be inside the checkout; a file reached
//!    by two paths is one file.
//! 3. Each file is checked against the bytes the plan was made from, and its new bytes are staged
//!    beside it under a name unique to this run, with the file's mode, owner and group. A file
//!    with other hard links, or whose owner cannot be given to a new file, is written in place.
//! 4. The [journal](journal) is written: from then on an interrupted run is completed by the next
//!    one.
//! 5. Each file is checked again and swapped with its staged file (`renameat2` with
//!    `RENAME_EXCHANGE`): the old file, now at the staging name, is compared once more, so a
//!    change made in the instant before the swap is put back and stops the transaction. `.env`
//!    comes last, so that a tree is never ahead of its `.env`.
//! 6. Any failure restores the files already replaced (those still holding the new bytes), and
//!    removes the staging files and the journal.

pub mod journal;
pub mod lock;

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::RenameFlags;

pub use journal::{recover, Recovered};
pub use lock::{state_dir, CheckoutLock};

use crate::checkout::{real_path_inside, ENV_FILE};
use crate::error::{io_message, Error, Result};
use crate::promote::plan::FileChange;
use journal::{Journal, JournalFile, State};

/// A step of the transaction, for tests that make one fail or act in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before a file's new bytes are staged.
    Stage,
    /// After a file was checked again, just before it is replaced.
    Rename,
}

/// What is kept of a file when it is replaced, and what tells that it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    dev: u64,
    ino: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    size: u64,
    mtime: i64,
    mtime_ns: i64,
}

impl Meta {
    pub(crate) fn of(path: &Path) -> std::io::Result<Meta> {
        let m = fs::metadata(path)?;
        if !m.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        Ok(Meta {
            dev: m.dev(),
            ino: m.ino(),
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            nlink: m.nlink(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_ns: m.mtime_nsec(),
        })
    }

    /// A new file cannot stand in for this one: it has other names, which would keep the old
    /// bytes.
    fn in_place(&self) -> bool {
        self.nlink > 1
    }
}

/// Renames `from` over `to` (`renameat2`, as every rename of a transaction is).
pub(crate) fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        from,
        rustix::fs::CWD,
        to,
        RenameFlags::empty(),
    )
    .map_err(Into::into)
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A staging name beside `target` unique to this run: `.<name>.qr-promote-<pid>-<n>.tmp`.
pub fn staging_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.qr-promote-{}-{n}.tmp", std::process::id()))
}

/// Whether a file name is a staging file of a transaction (of any run).
pub fn is_staging_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".qr-promote-") && name.ends_with(".tmp")
}

/// Creates `tmp` with `bytes`, the mode of `meta` and, when it differs from ours, its owner and
/// group; synced. Its device and inode; `Ok(None)` when the owner cannot be given (the file is
/// then removed).
fn stage(tmp: &Path, meta: &Meta, bytes: &[u8]) -> std::io::Result<Option<(u64, u64)>> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)?;
    let written = (|| {
        f.write_all(bytes)?;
        let mine = f.metadata()?;
        if mine.uid() != meta.uid || mine.gid() != meta.gid {
            if let Err(e) = std::os::unix::fs::fchown(&f, Some(meta.uid), Some(meta.gid)) {
                if e.kind() == std::io::ErrorKind::PermissionDenied {
                    return Ok(None);
                }
                return Err(e);
            }
        }
        f.set_permissions(fs::Permissions::from_mode(meta.mode))?;
        f.sync_all()?;
        Ok(Some((mine.dev(), mine.ino())))
    })();
    if !matches!(written, Ok(Some(_))) {
        let _ = fs::remove_file(tmp);
    }
    written
}

/// Writes `bytes` into the file itself, keeping its inode (and so its other names).
fn write_in_place(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(target)?;
    f.write_all(bytes)?;
    f.set_len(bytes.len() as u64)?;
    f.sync_all()
}

/// Replaces the file at `target` by `bytes`, keeping what `meta` says (used to restore and to
/// recover, where no exchange check is needed).
pub(crate) fn replace(target: &Path, meta: &Meta, bytes: &[u8]) -> std::io::Result<()> {
    if !meta.in_place() {
        let tmp = staging_path(target);
        if stage(&tmp, meta, bytes)?.is_some() {
            return rename(&tmp, target).inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            });
        }
    }
    write_in_place(target, bytes)
}

/// Brings the file at `target` from `from` to `to`: true when it holds `to` now, false when it
/// holds neither (someone else's bytes, left as they are).
pub(crate) fn bring(target: &Path, from: &[u8], to: &[u8]) -> std::io::Result<bool> {
    // Anything larger than both, or not a regular file (a FIFO is never waited on), holds
    // neither.
    let limit = from.len().max(to.len()) as u64;
    let now = match crate::util::read_regular(target, limit) {
        Ok(b) => b,
        Err(crate::util::ReadRefusal::Io(e)) => return Err(e),
        Err(_) => return Ok(false),
    };
    if now == to {
        return Ok(true);
    }
    if now != from {
        return Ok(false);
    }
    replace(target, &Meta::of(target)?, to)?;
    Ok(true)
}

/// A file of the transaction.
struct Planned<'a> {
    change: &'a FileChange,
    target: PathBuf,
    meta: Meta,
    staging: Option<PathBuf>,
    /// The device and inode of the staged file.
    staged: Option<(u64, u64)>,
}

fn rel_of(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

fn read_file(p: &Path) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    fs::File::open(p)?.read_to_end(&mut v)?;
    Ok(v)
}

fn changed_on_disk(path: &str) -> Error {
    Error::refused(format!(
        "{path}: changed on disk since it was read; nothing written"
    ))
}

/// Writes every change or none, under `lock`. Returns the paths written (and what went wrong
/// once they were: the journal could not be removed).
pub fn write_all(lock: &CheckoutLock, changes: &[FileChange]) -> Result<Written> {
    write_all_with(lock, changes, &mut |_, _| Ok(()))
}

/// [`write_all`] with a hook called before each step, which may fail it.
pub fn write_all_with(
    lock: &CheckoutLock,
    changes: &[FileChange],
    hook: &mut dyn FnMut(Phase, &str) -> std::io::Result<()>,
) -> Result<Written> {
    let root = lock.root();
    // Resolve: real files inside the checkout, each once; `.env` last.
    let mut order: Vec<&FileChange> = changes.iter().filter(|c| c.path != ENV_FILE).collect();
    order.extend(changes.iter().filter(|c| c.path == ENV_FILE));
    let mut planned: Vec<Planned> = Vec::new();
    let mut seen: HashMap<(u64, u64), usize> = HashMap::new();
    for c in order {
        let target = real_path_inside(root, &c.path)?;
        let meta = Meta::of(&target).map_err(|e| Error::io(Path::new(&c.path), e))?;
        if let Some(&i) = seen.get(&(meta.dev, meta.ino)) {
            let first: &Planned = &planned[i];
            if first.change.after == c.after && first.change.before == c.before {
                continue;
            }
            return Err(Error::refused(format!(
                "{} and {} are the same file with different edits; nothing written",
                first.change.path, c.path
            )));
        }
        seen.insert((meta.dev, meta.ino), planned.len());
        planned.push(Planned {
            change: c,
            target,
            meta,
            staging: None,
            staged: None,
        });
    }
    for p in &planned {
        let now = read_file(&p.target).map_err(|e| Error::io(Path::new(&p.change.path), e))?;
        if now != p.change.before {
            return Err(changed_on_disk(&p.change.path));
        }
    }
    for p in &mut planned {
        if !p.meta.in_place() {
            p.staging = Some(staging_path(&p.target));
        }
    }
    let state = lock.state_dir();
    let mut journal = Journal {
        format: 1,
        state: State::Prepared,
        command: lock.command().to_string(),
        pid: std::process::id(),
        files: planned
            .iter()
            .map(|p| JournalFile {
                path: p.change.path.clone(),
                target: rel_of(root, &p.target),
                staging: p.staging.as_deref().map(|s| rel_of(root, s)),
                old: p.change.before.clone(),
                new: p.change.after.clone(),
            })
            .collect(),
    };
    let journal_err = |e: std::io::Error| {
        Error::io(
            &state.join(journal::JOURNAL),
            std::io::Error::other(format!(
                "cannot write the journal: {}; nothing written",
                io_message(&e)
            )),
        )
    };
    journal.write(state).map_err(journal_err)?;
    // Stage.
    for (i, p) in planned.iter_mut().enumerate() {
        let Some(tmp) = p.staging.clone() else {
            continue;
        };
        let staged =
            hook(Phase::Stage, &p.change.path).and_then(|()| stage(&tmp, &p.meta, &p.change.after));
        match staged {
            Ok(Some(id)) => p.staged = Some(id),
            // The owner cannot be kept by a new file: write this one in place.
            Ok(None) => {
                p.staging = None;
                journal.files[i].staging = None;
            }
            Err(e) => {
                abandon(root, state, &journal);
                return Err(Error::io_message(
                    p.change.path.clone(),
                    format!(
                        "cannot stage the new file: {}; nothing written",
                        io_message(&e)
                    ),
                    Some(e),
                ));
            }
        }
    }
    // The commit point: from here on, a crash is completed by the next run.
    journal.state = State::Committed;
    if let Err(e) = journal.write(state) {
        abandon(root, state, &journal);
        return Err(journal_err(e));
    }
    for i in 0..planned.len() {
        let failure = match replace_one(&planned[i], hook) {
            Ok(()) => continue,
            Err(f) => f,
        };
        let path = planned[i].change.path.clone();
        // Once a file holds its new bytes, an I/O failure stops here: the journal stays
        // committed and the next command completes the promotion.
        let failure = match failure {
            Failure::After(e) => return Err(half_written(&planned, i + 1, path, e)),
            Failure::Io(e) if i > 0 => return Err(half_written(&planned, i, path, e)),
            f => f,
        };
        let restored = roll_back(root, state, &mut journal, &planned[..i]);
        let message = match (failure, restored) {
            (Failure::Changed(m), Ok(())) => format!("{m}; nothing written"),
            (Failure::Io(e) | Failure::After(e), Ok(())) => format!(
                "cannot replace the file: {}; nothing changed",
                io_message(&e)
            ),
            (f, Err(failed)) => format!(
                "cannot replace the file: {}; could not restore {}",
                f.message(),
                failed.join(", ")
            ),
        };
        return Err(Error::io_message(path, message, None));
    }
    let warnings = match Journal::remove(state) {
        Ok(()) => Vec::new(),
        // Every file is written: the next command finds them new and removes the journal.
        Err(e) => vec![format!(
            "{}: cannot remove the finished journal: {}; every file is written, the next command removes it",
            state.join(journal::JOURNAL).display(),
            io_message(&e)
        )],
    };
    Ok(Written {
        paths: planned.iter().map(|p| p.change.path.clone()).collect(),
        warnings,
    })
}

/// What a transaction wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// The paths written, as the changes named them.
    pub paths: Vec<String>,
    /// What went wrong once every file was written (the journal could not be removed).
    pub warnings: Vec<String>,
}

/// The error of a transaction stopped once `new` of its files (the first ones of `planned`)
/// hold their new bytes: which are new, which old, and that the next command completes it.
fn half_written(planned: &[Planned], new: usize, path: String, e: std::io::Error) -> Error {
    let names = |ps: &[Planned]| {
        ps.iter()
            .map(|p| p.change.path.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (done, left) = planned.split_at(new.min(planned.len()));
    let left = if left.is_empty() {
        String::new()
    } else {
        format!("; still old: {}", names(left))
    };
    Error::io_message(
        path,
        format!(
            "{}; the promotion is half written (new: {}{left}); the journal is kept and the next qr-promote command completes it",
            io_message(&e),
            names(done)
        ),
        Some(e),
    )
}

enum Failure {
    /// The file changed since it was read (it is as it was: put back when it had been swapped).
    Changed(String),
    /// Before the file was replaced: it is untouched.
    Io(std::io::Error),
    /// Once the file was replaced: it holds the new bytes.
    After(std::io::Error),
}

impl Failure {
    fn message(&self) -> String {
        match self {
            Failure::Changed(m) => m.clone(),
            Failure::Io(e) | Failure::After(e) => io_message(e),
        }
    }
}

/// Exchanges the entries at `a` and `b` (`renameat2` with `RENAME_EXCHANGE`).
fn exchange(a: &Path, b: &Path) -> rustix::io::Result<()> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        a,
        rustix::fs::CWD,
        b,
        RenameFlags::EXCHANGE,
    )
}

/// What is at `path`, as a message names it.
fn what_is(meta: &std::io::Result<fs::Metadata>) -> &'static str {
    match meta {
        Ok(m) if m.is_dir() => "a folder",
        Ok(m) if m.file_type().is_symlink() => "a link",
        Ok(m) if m.is_file() => "another file",
        Ok(_) => "something that is not a regular file",
        Err(_) => "nothing",
    }
}

/// Removes our staged file at `tmp` (only that file: the device and inode it was staged with).
fn remove_staged(tmp: &Path, staged: Option<(u64, u64)>) {
    let ours =
        fs::symlink_metadata(tmp).is_ok_and(|m| m.is_file() && Some((m.dev(), m.ino())) == staged);
    if ours {
        let _ = fs::remove_file(tmp);
    }
}

/// Checks one file again and replaces it.
fn replace_one(
    p: &Planned,
    hook: &mut dyn FnMut(Phase, &str) -> std::io::Result<()>,
) -> std::result::Result<(), Failure> {
    let changed = || Failure::Changed("changed on disk while the promotion was written".into());
    let now = Meta::of(&p.target).map_err(Failure::Io)?;
    let same = now.ino == p.meta.ino
        && now.dev == p.meta.dev
        && now.size == p.meta.size
        && (now.mtime, now.mtime_ns) == (p.meta.mtime, p.meta.mtime_ns);
    if !same || read_file(&p.target).map_err(Failure::Io)? != p.change.before {
        return Err(changed());
    }
    hook(Phase::Rename, &p.change.path).map_err(Failure::Io)?;
    let Some(tmp) = &p.staging else {
        return write_in_place(&p.target, &p.change.after).map_err(|e| {
            // Part of the bytes may be written: put the old ones back, or say it is half done.
            match write_in_place(&p.target, &p.change.before) {
                Ok(()) => Failure::Io(e),
                Err(_) => Failure::After(e),
            }
        });
    };
    match exchange(tmp, &p.target) {
        Ok(()) => {
            // What is now at the staging name must be the file that was planned, with the bytes
            // that were read; anything else (a folder, a link, another file put there in the
            // instant before) goes back where it was, and the new file is removed.
            let displaced = fs::symlink_metadata(tmp);
            let planned_file = matches!(&displaced,
                Ok(m) if m.is_file() && (m.dev(), m.ino()) == (p.meta.dev, p.meta.ino));
            let differs = if planned_file {
                match read_file(tmp) {
                    Ok(b) => (b != p.change.before).then_some("changed on disk"),
                    Err(e) => return Err(Failure::After(e)),
                }
            } else {
                Some(what_is(&displaced))
            };
            if let Some(what) = differs {
                let shown = rel_name(tmp);
                if let Err(e) = exchange(tmp, &p.target) {
                    return Err(Failure::After(std::io::Error::other(format!(
                        "{what} was put there in the instant of the swap and cannot be put back ({}); it is at {shown}",
                        io_message(&e.into())
                    ))));
                }
                remove_staged(tmp, p.staged);
                return Err(Failure::Changed(if planned_file {
                    "changed on disk while the promotion was written".into()
                } else {
                    format!(
                        "replaced by {what} while the promotion was written; put back as it was"
                    )
                }));
            }
            fs::remove_file(tmp).map_err(Failure::After)
        }
        // A file system without exchange: a plain rename.
        Err(e)
            if e == rustix::io::Errno::INVAL
                || e == rustix::io::Errno::NOSYS
                || e == rustix::io::Errno::OPNOTSUPP =>
        {
            rename(tmp, &p.target).map_err(Failure::Io)
        }
        Err(e) => Err(Failure::Io(e.into())),
    }
}

/// The file name of `p`, for messages.
fn rel_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Gives up before any target was replaced: removes the staging files and the journal.
fn abandon(root: &Path, state: &Path, journal: &Journal) {
    journal.remove_staging(root);
    let _ = Journal::remove(state);
}

/// Puts the old bytes back into the files already replaced (those that still hold the new
/// bytes); returns the paths that could not be restored. The journal says `rolling-back` while
/// this runs, so that a crash here is rolled back by the next run.
fn roll_back(
    root: &Path,
    state: &Path,
    journal: &mut Journal,
    done: &[Planned],
) -> std::result::Result<(), Vec<String>> {
    journal.state = State::RollingBack;
    // Unwritten, the journal still says `committed`: a crash here is then completed instead.
    let _ = journal.write(state);
    let mut failed = Vec::new();
    for p in done.iter().rev() {
        // Someone else's bytes since (false): theirs stay.
        if bring(&p.target, &p.change.after, &p.change.before).is_err() {
            failed.push(p.change.path.clone());
        }
    }
    if failed.is_empty() {
        abandon(root, state, journal);
    } else {
        // The journal stays, so that the next run finishes the rollback.
        journal.remove_staging(root);
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn change(root: &Path, rel: &str, before: &str, after: &str) -> FileChange {
        std::fs::write(root.join(rel), before).unwrap();
        FileChange {
            path: rel.to_string(),
            before: before.as_bytes().to_vec(),
            after: after.as_bytes().to_vec(),
            edits: Vec::new(),
            digests: Vec::new(),
        }
    }

    fn lock(dir: &Path) -> CheckoutLock {
        CheckoutLock::acquire(dir, "apply", Duration::ZERO).unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_failure_once_a_file_is_new_keeps_the_journal_for_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let changes = vec![
            change(&root, "a.yml", "v: 1111111\n", "v: 2222222\n"),
            change(&root, "b.yml", "v: 1111111\n", "v: 2222222\n"),
            change(&root, "c.yml", "v: 1111111\n", "v: 2222222\n"),
        ];
        let l = lock(&root);
        let err = write_all_with(&l, &changes, &mut |step, rel| {
            if step == Phase::Rename && rel == "b.yml" {
                Err(std::io::Error::other("disk on fire"))
            } else {
                Ok(())
            }
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "b.yml: disk on fire; the promotion is half written (new: a.yml; still old: b.yml, c.yml); \
             the journal is kept and the next qr-promote command completes it"
        );
        let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap();
        assert_eq!(
            [read("a.yml"), read("b.yml"), read("c.yml")],
            ["v: 2222222\n", "v: 1111111\n", "v: 1111111\n"]
        );
        let r = recover(&root, l.state_dir()).unwrap().unwrap();
        assert!(r.completed && r.conflicts.is_empty(), "{r}");
        for f in ["a.yml", "b.yml", "c.yml"] {
            assert_eq!(read(f), "v: 2222222\n", "{f}");
        }
        assert_eq!(names(&root), [".qr-promote", "a.yml", "b.yml", "c.yml"]);
        assert_eq!(names(&root.join(".qr-promote")), ["lock"], "no journal");
    }

    #[test]
    fn a_failure_before_any_file_is_new_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let changes = vec![
            change(dir.path(), "a.yml", "v: 1111111\n", "v: 2222222\n"),
            change(dir.path(), "b.yml", "v: 1111111\n", "v: 2222222\n"),
        ];
        let l = lock(dir.path());
        let err = write_all_with(&l, &changes, &mut |step, _| {
            if step == Phase::Rename {
                Err(std::io::Error::other("disk on fire"))
            } else {
                Ok(())
            }
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "a.yml: cannot replace the file: disk on fire; nothing changed"
        );
        assert_eq!(names(dir.path()), [".qr-promote", "a.yml", "b.yml"]);
        assert_eq!(names(&dir.path().join(".qr-promote")), ["lock"]);
    }

    #[test]
    fn a_folder_swapped_in_at_the_swap_is_put_back_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let changes = vec![
            change(&root, "a.yml", "v: 1111111\n", "v: 2222222\n"),
            change(&root, "b.yml", "v: 1111111\n", "v: 2222222\n"),
        ];
        let b = root.join("b.yml");
        let err = write_all_with(&lock(&root), &changes, &mut |step, rel| {
            if step == Phase::Rename && rel == "b.yml" {
                // Between the last check and the swap, someone puts a folder there.
                std::fs::remove_file(&b)?;
                std::fs::create_dir(&b)?;
                std::fs::write(b.join("notes.txt"), "theirs\n")?;
            }
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "b.yml: replaced by a folder while the promotion was written; put back as it was; nothing written"
        );
        assert_eq!(
            std::fs::read_to_string(b.join("notes.txt")).unwrap(),
            "theirs\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("a.yml")).unwrap(),
            "v: 1111111\n",
            "the file already replaced is restored"
        );
        assert_eq!(
            names(&root),
            ["a.yml", "b.yml"],
            "no staging file, no journal"
        );
        assert_eq!(names(&b), ["notes.txt"]);
    }

    #[test]
    fn another_file_with_the_same_bytes_swapped_in_is_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let changes = vec![change(&root, "a.yml", "v: 1111111\n", "v: 2222222\n")];
        let a = root.join("a.yml");
        let copy = root.join("copy");
        let err = write_all_with(&lock(&root), &changes, &mut |step, _| {
            if step == Phase::Rename {
                // The same bytes, another inode: someone else's file now.
                std::fs::write(&copy, "v: 1111111\n")?;
                std::fs::rename(&copy, &a)?;
            }
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "a.yml: replaced by another file while the promotion was written; put back as it was; nothing written"
        );
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "v: 1111111\n");
        assert_eq!(names(&root), ["a.yml"]);
    }

    #[test]
    fn staging_names_are_exactly_the_tools_own() {
        use journal::is_staging_of;
        assert!(is_staging_of(
            "data/.x.yml.qr-promote-42-0.tmp",
            "data/x.yml",
            42
        ));
        assert!(is_staging_of("..env.qr-promote-42-3.tmp", ".env", 42));
        for (staging, target) in [
            ("data/.x.yml.qr-promote-43-0.tmp", "data/x.yml"),
            ("data/x.yml", "data/x.yml"),
            (".x.yml.qr-promote-42-0.tmp", "data/x.yml"),
            ("data/.y.yml.qr-promote-42-0.tmp", "data/x.yml"),
            ("data/.x.yml.qr-promote-42-.tmp", "data/x.yml"),
            ("data/.x.yml.qr-promote-42-0x.tmp", "data/x.yml"),
            ("other/.x.yml.qr-promote-42-0.tmp", "data/x.yml"),
            (".git/config", "data/x.yml"),
        ] {
            assert!(!is_staging_of(staging, target, 42), "{staging}");
        }
        assert!(journal::is_any_staging_of(
            ".x.yml.qr-promote-7-1.tmp",
            "x.yml"
        ));
        assert!(!journal::is_any_staging_of(
            ".x.yml.qr-promote-7-1.tmp",
            "y.yml"
        ));
        assert!(!journal::is_any_staging_of(
            ".x.yml.qr-promote--1.tmp",
            "x.yml"
        ));
    }

    /// A journal of one file planted in the checkout at `root`, its staging path `staging`.
    fn plant(root: &Path, target: &str, staging: &str) {
        let j = Journal {
            format: 1,
            state: State::Prepared,
            command: "apply".into(),
            pid: 1,
            files: vec![JournalFile {
                path: target.into(),
                target: target.into(),
                staging: Some(staging.into()),
                old: b"v: 1111111\n".to_vec(),
                new: b"v: 2222222\n".to_vec(),
            }],
        };
        let state = root.join(".qr-promote");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("journal"), serde_json::to_vec(&j).unwrap()).unwrap();
    }

    #[test]
    fn a_planted_journal_naming_other_files_is_refused_and_touches_nothing() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        for (staging, why) in [
            (victim.to_string_lossy().into_owned(), "an absolute path"),
            ("../../x".to_string(), "leading out with \"..\""),
            ("data/x.yml".to_string(), "not the staging name"),
            (
                ".git/config".to_string(),
                "inside the folder of git or of qr-promote",
            ),
            (
                "data/./.x.yml.qr-promote-1-0.tmp".to_string(),
                "not a plain relative path",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let root = std::fs::canonicalize(dir.path()).unwrap();
            std::fs::write(&victim, "precious\n").unwrap();
            std::fs::create_dir_all(root.join("data")).unwrap();
            std::fs::create_dir_all(root.join(".git")).unwrap();
            std::fs::write(root.join("data/x.yml"), "v: 1111111\n").unwrap();
            std::fs::write(root.join(".git/config"), "[core]\n").unwrap();
            plant(&root, "data/x.yml", &staging);
            let state = root.join(".qr-promote");
            let err = recover(&root, &state).unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with(&format!(
                    "{}: file 1 has staging",
                    state.join("journal").display()
                )) && text.contains(why)
                    && text.ends_with("refusing to recover from it, nothing touched"),
                "{staging}: {text}"
            );
            assert_eq!(err.kind(), crate::error::ErrorKind::Refused);
            assert!(err.hint().is_some_and(|h| h.contains("rm ")), "{staging}");
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
            assert_eq!(
                std::fs::read_to_string(root.join("data/x.yml")).unwrap(),
                "v: 1111111\n"
            );
            assert_eq!(
                std::fs::read_to_string(root.join(".git/config")).unwrap(),
                "[core]\n"
            );
            assert!(
                state.join("journal").exists(),
                "the journal stays for its owner to look at"
            );
        }
    }

    #[test]
    fn a_planted_journal_whose_target_is_outside_is_refused() {
        for target in ["/etc/passwd", "../x.yml", ".git/config", ""] {
            let dir = tempfile::tempdir().unwrap();
            let root = std::fs::canonicalize(dir.path()).unwrap();
            plant(&root, target, ".x.yml.qr-promote-1-0.tmp");
            let err = recover(&root, &root.join(".qr-promote"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("file 1 has path"), "{target}: {err}");
        }
    }

    #[test]
    fn a_target_folder_reached_through_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(outside.path().join(".x.yml.qr-promote-1-0.tmp"), "theirs").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("data")).unwrap();
        plant(&root, "data/x.yml", "data/.x.yml.qr-promote-1-0.tmp");
        let err = recover(&root, &root.join(".qr-promote"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("whose folder leads to"), "{err}");
        assert!(outside.path().join(".x.yml.qr-promote-1-0.tmp").exists());
    }

    #[test]
    fn recovery_removes_staging_files_of_any_run_beside_its_targets() {
        // A recovery killed itself leaves its own staging file (its pid, not the journal's).
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("data/x.yml"), "v: 1111111\n").unwrap();
        std::fs::write(
            root.join("data/.x.yml.qr-promote-999-4.tmp"),
            "v: 2222222\n",
        )
        .unwrap();
        std::fs::write(root.join("data/.y.yml.qr-promote-999-4.tmp"), "not ours").unwrap();
        plant(&root, "data/x.yml", "data/.x.yml.qr-promote-1-0.tmp");
        let r = recover(&root, &root.join(".qr-promote")).unwrap().unwrap();
        assert!(!r.completed);
        assert_eq!(
            names(&root.join("data")),
            [".y.yml.qr-promote-999-4.tmp", "x.yml"]
        );
    }

    #[test]
    fn a_file_changed_since_reading_aborts_everything() {
        let dir = tempfile::tempdir().unwrap();
        let changes = vec![
            change(dir.path(), "a.yml", "v: 1111111\n", "v: 2222222\n"),
            change(dir.path(), "b.yml", "v: 1111111\n", "v: 2222222\n"),
        ];
        std::fs::write(dir.path().join("b.yml"), "v: 3333333\n").unwrap();
        let err = write_all(&lock(dir.path()), &changes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("b.yml: changed on disk"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.yml")).unwrap(),
            "v: 1111111\n"
        );
    }

    #[test]
    fn a_change_made_just_before_the_swap_is_kept_and_stops_everything() {
        let dir = tempfile::tempdir().unwrap();
        let changes = vec![
            change(dir.path(), "a.yml", "v: 1111111\n", "v: 2222222\n"),
            change(dir.path(), "b.yml", "v: 1111111\n", "v: 2222222\n"),
        ];
        let b = dir.path().join("b.yml");
        let err = write_all_with(&lock(dir.path()), &changes, &mut |step, rel| {
            if step == Phase::Rename && rel == "b.yml" {
                // Another writer appends between the last check and the swap.
                let mut f = OpenOptions::new().append(true).open(&b)?;
                f.write_all(b"# theirs\n")?;
            }
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("b.yml: changed on disk while"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&b).unwrap(),
            "v: 1111111\n# theirs\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.yml")).unwrap(),
            "v: 1111111\n"
        );
        assert_eq!(names(dir.path()), ["a.yml", "b.yml"], "no staging file");
    }

    #[test]
    fn hard_links_mode_and_links_inside_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let changes = vec![
            change(root, "a.yml", "v: 1111111\n", "v: 2222222\n"),
            change(root, "b.yml", "v: 1111111\n", "v: 2222222\n"),
        ];
        std::fs::hard_link(root.join("a.yml"), root.join("a-other-name")).unwrap();
        std::fs::set_permissions(root.join("b.yml"), fs::Permissions::from_mode(0o640)).unwrap();
        // A link inside the checkout is written through.
        std::fs::rename(root.join("b.yml"), root.join("real-b.yml")).unwrap();
        std::os::unix::fs::symlink("real-b.yml", root.join("b.yml")).unwrap();
        write_all(&lock(root), &changes).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("a-other-name")).unwrap(),
            "v: 2222222\n"
        );
        assert!(std::fs::symlink_metadata(root.join("b.yml"))
            .unwrap()
            .file_type()
            .is_symlink());
        let real = std::fs::metadata(root.join("real-b.yml")).unwrap();
        assert_eq!(real.mode() & 0o777, 0o640);
        assert_eq!(
            std::fs::read_to_string(root.join("real-b.yml")).unwrap(),
            "v: 2222222\n"
        );
    }

    #[test]
    fn a_link_outside_the_checkout_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        let changes = vec![
            change(root, "a.yml", "v: 1111111\n", "v: 2222222\n"),
            change(outside.path(), "b.yml", "v: 1111111\n", "v: 2222222\n"),
        ];
        std::os::unix::fs::symlink(outside.path().join("b.yml"), root.join("b.yml")).unwrap();
        let err = write_all(&lock(root), &changes).unwrap_err().to_string();
        assert!(err.contains("b.yml: a link to") && err.contains("outside the checkout"));
        assert_eq!(
            std::fs::read_to_string(outside.path().join("b.yml")).unwrap(),
            "v: 1111111\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("a.yml")).unwrap(),
            "v: 1111111\n"
        );
    }

    #[test]
    fn a_committed_journal_is_completed_and_a_prepared_one_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let l = lock(&root);
        let changes = [
            change(&root, "a.yml", "v: 1111111\n", "v: 2222222\n"),
            change(&root, "b.yml", "v: 1111111\n", "v: 2222222\n"),
        ];
        // A run that died after replacing a.yml: b.yml is old, its staging file still there.
        let file = |c: &FileChange, staging: &str| JournalFile {
            path: c.path.clone(),
            target: c.path.clone(),
            staging: Some(staging.to_string()),
            old: c.before.clone(),
            new: c.after.clone(),
        };
        std::fs::write(root.join("a.yml"), "v: 2222222\n").unwrap();
        std::fs::write(root.join(".b.yml.qr-promote-1-1.tmp"), "v: 2222222\n").unwrap();
        let mut j = Journal {
            format: 1,
            state: State::Committed,
            command: "apply".into(),
            pid: 1,
            files: vec![
                file(&changes[0], ".a.yml.qr-promote-1-0.tmp"),
                file(&changes[1], ".b.yml.qr-promote-1-1.tmp"),
            ],
        };
        j.write(l.state_dir()).unwrap();
        let r = recover(&root, l.state_dir()).unwrap().unwrap();
        assert!(r.completed && r.conflicts.is_empty(), "{r}");
        for f in ["a.yml", "b.yml"] {
            assert_eq!(
                std::fs::read_to_string(root.join(f)).unwrap(),
                "v: 2222222\n"
            );
        }
        assert_eq!(names(&root), [".qr-promote", "a.yml", "b.yml"]);
        assert!(recover(&root, l.state_dir()).unwrap().is_none());
        // Died while staging: nothing was replaced; the staging files go.
        std::fs::write(root.join(".a.yml.qr-promote-1-0.tmp"), "v: 3333333\n").unwrap();
        j.state = State::Prepared;
        j.write(l.state_dir()).unwrap();
        let r = recover(&root, l.state_dir()).unwrap().unwrap();
        assert!(!r.completed);
        assert_eq!(names(&root), [".qr-promote", "a.yml", "b.yml"]);
        assert_eq!(
            r.to_string(),
            "an interrupted qr-promote apply was found and rolled back (2 files)"
        );
    }
}
