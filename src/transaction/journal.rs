//! The journal of a write transaction, and the recovery of one that was interrupted.
//!
//! The journal is `<state>/journal` (see [`super::lock::state_dir`]): every file of the
//! transaction with its old and new bytes, where its new bytes are staged, and the state of the
//! transaction. It is written whole to a temporary name, synced and renamed into place, so it is
//! either there complete or not there. Only the holder of the checkout lock reads or writes it.
//!
//! | state | written | an interrupted run is |
//! | --- | --- | --- |
//! | `prepared` | before the first staging file is created | rolled back: the staging files are removed, no target was touched |
//! | `committed` | once every new file is staged and synced, before the first rename | completed: every target still old gets its new bytes |
//! | `rolling-back` | when a failure stopped the renames | rolled back: every target already new gets its old bytes |
//!
//! A target that is neither old nor new was changed by someone else since: it is left as it is
//! and named. The journal and every staging file are gone after a recovery.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::bring;
use crate::checkout::real_path_inside;
use crate::error::{Error, Result};
use crate::util::ReadRefusal;

/// The journal's file name in the state folder.
pub const JOURNAL: &str = "journal";

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Prepared,
    Committed,
    RollingBack,
}

/// One file of a transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalFile {
    /// The path as the command named it (repository-relative; may be a link).
    pub path: String,
    /// The file that is replaced: the path's real location, repository-relative.
    pub target: String,
    /// The staging file of the new bytes, repository-relative; none when the file is written in
    /// place (it has other hard links, or its owner cannot be given to a new file).
    pub staging: Option<String>,
    #[serde(with = "bytes64")]
    pub old: Vec<u8>,
    #[serde(with = "bytes64")]
    pub new: Vec<u8>,
}

/// The journal of one transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub format: u32,
    pub state: State,
    /// The command that wrote it (`apply`, `pin`, ...).
    pub command: String,
    pub pid: u32,
    pub files: Vec<JournalFile>,
}

mod bytes64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

impl Journal {
    /// Writes the journal whole: a temporary file, synced, renamed over the journal, and the
    /// folder synced.
    pub fn write(&self, state_dir: &Path) -> std::io::Result<()> {
        super::lock::ensure_state_dir(state_dir).map_err(std::io::Error::other)?;
        let text = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        if text.len() as u64 > JOURNAL_LIMIT {
            return Err(std::io::Error::other(format!(
                "it would be {} bytes, over the limit of {} that a journal is read to",
                text.len(),
                crate::util::human_size(JOURNAL_LIMIT)
            )));
        }
        let tmp = state_dir.join(format!("{JOURNAL}.{}.tmp", std::process::id()));
        // Whatever is at the temporary name (a link someone put there) is replaced, never
        // written through.
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        drop(f);
        super::rename(&tmp, &state_dir.join(JOURNAL))?;
        sync_dir(state_dir);
        Ok(())
    }

    /// Reads the journal of the state folder, if there is one. It is input like any other: it
    /// must be a regular file (never a link, a FIFO or a device) of at most [`JOURNAL_LIMIT`]
    /// bytes, and every file it names must be one a transaction of this checkout can have
    /// written (see [`Journal::check`]); anything else is refused, naming the journal, and
    /// nothing is touched.
    pub fn read(state_dir: &Path, root: &Path) -> Result<Option<Journal>> {
        let path = state_dir.join(JOURNAL);
        let refuse = |why: String| {
            Error::refused(format!(
                "{}: {why}; refusing to recover from it, nothing touched",
                path.display()
            ))
            .with_hint(format!(
                "check the files it names, then remove it (rm {})",
                path.display()
            ))
        };
        let bytes = match crate::util::read_regular(&path, JOURNAL_LIMIT) {
            Ok(b) => b,
            Err(ReadRefusal::Missing) => return Ok(None),
            Err(ReadRefusal::Io(e)) => return Err(Error::io(&path, e)),
            Err(ReadRefusal::Link) => return Err(refuse("a symbolic link, not a journal".into())),
            Err(ReadRefusal::NotRegular(kind)) => {
                return Err(refuse(format!("{kind}, not a journal")))
            }
            Err(ReadRefusal::TooLarge(n)) => {
                return Err(refuse(format!(
                    "{n} bytes, over the limit of {} for a journal",
                    crate::util::human_size(JOURNAL_LIMIT)
                )))
            }
        };
        let journal = match serde_json::from_slice::<Journal>(&bytes) {
            Ok(j) if j.format == 1 => j,
            _ => {
                return Err(refuse(
                    "not a journal this version of qr-promote can recover".into(),
                ))
            }
        };
        journal.check(root).map_err(refuse)?;
        Ok(Some(journal))
    }

    /// Checks every path of the journal: relative, inside the checkout, no `..`, not in `.git`
    /// or the state folder; each staging path exactly the name this tool gives beside its own
    /// target (`.<name>.qr-promote-<pid>-<n>.tmp`, the journal's pid), in a folder reached
    /// without a link. The reason otherwise, naming the entry.
    pub fn check(&self, root: &Path) -> std::result::Result<(), String> {
        for (i, f) in self.files.iter().enumerate() {
            let entry = |field: &str, value: &str, why: &str| {
                format!("file {} has {field} {value:?}, {why}", i + 1)
            };
            for (field, value) in [("path", &f.path), ("target", &f.target)] {
                if let Err(why) = checkout_relative(value) {
                    return Err(entry(field, value, why));
                }
            }
            let Some(staging) = &f.staging else {
                continue;
            };
            if let Err(why) = checkout_relative(staging) {
                return Err(entry("staging", staging, why));
            }
            if !is_staging_of(staging, &f.target, self.pid) {
                return Err(entry(
                    "staging",
                    staging,
                    &format!(
                        "not the staging name qr-promote gives beside its target {:?}",
                        f.target
                    ),
                ));
            }
            // The folder of the target (and so of its staging file) is reached without a link:
            // the journal records real paths.
            let folder = root.join(&f.target);
            let folder = folder.parent().unwrap_or(root);
            if let Ok(real) = fs::canonicalize(folder) {
                if real != folder {
                    return Err(entry(
                        "target",
                        &f.target,
                        &format!("whose folder leads to {}", real.display()),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Removes the staging files of the transaction that are there (never a folder or a link's
    /// target).
    pub fn remove_staging(&self, root: &Path) {
        for rel in self.files.iter().filter_map(|f| f.staging.as_deref()) {
            let p: PathBuf = root.join(rel);
            if fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) {
                let _ = fs::remove_file(&p);
            }
        }
    }

    /// Removes the journal (and a temporary one a crash left behind).
    pub fn remove(state_dir: &Path) -> std::io::Result<()> {
        if let Ok(entries) = fs::read_dir(state_dir) {
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(&format!("{JOURNAL}.")) && name.ends_with(".tmp") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        match fs::remove_file(state_dir.join(JOURNAL)) {
            Ok(()) => {
                sync_dir(state_dir);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The most a journal may be, in bytes: it holds the old and new bytes of every file of a
/// transaction. A larger one is refused when read, and a transaction that would need one is
/// refused before anything is written.
pub const JOURNAL_LIMIT: u64 = 256 * 1024 * 1024;

/// A repository-relative path a journal may name: relative, made of plain names only (no `..`,
/// no `.`, no empty component), not inside `.git` or `.qr-promote`.
fn checkout_relative(rel: &str) -> std::result::Result<(), &'static str> {
    if rel.is_empty() {
        return Err("empty");
    }
    if rel.starts_with('/') {
        return Err("an absolute path");
    }
    if rel.contains('\0') {
        return Err("with a NUL byte");
    }
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.contains(&"..") {
        return Err("leading out with \"..\"");
    }
    if parts.iter().any(|p| p.is_empty() || *p == ".") {
        return Err("not a plain relative path");
    }
    if matches!(parts.first(), Some(&".git") | Some(&".qr-promote")) {
        return Err("inside the folder of git or of qr-promote");
    }
    Ok(())
}

/// Whether `staging` is the name this tool gives a staging file of `target` in a run of `pid`:
/// `<folder of target>/.<name of target>.qr-promote-<pid>-<n>.tmp`.
pub(crate) fn is_staging_of(staging: &str, target: &str, pid: u32) -> bool {
    let (folder, name) = match target.rsplit_once('/') {
        Some((d, n)) => (Some(d), n),
        None => (None, target),
    };
    let file = match (folder, staging.rsplit_once('/')) {
        (Some(d), Some((sd, sf))) if sd == d => sf,
        (None, None) => staging,
        _ => return false,
    };
    let Some(rest) = file
        .strip_prefix('.')
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix(".qr-promote-"))
        .and_then(|r| r.strip_suffix(".tmp"))
    else {
        return false;
    };
    match rest.split_once('-') {
        Some((p, n)) => {
            p == pid.to_string() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Whether `file` is the name of a staging file of the file `name` in the same folder, by any
/// run: `.<name>.qr-promote-<pid>-<n>.tmp`.
pub(crate) fn is_any_staging_of(file: &str, name: &str) -> bool {
    file.strip_prefix('.')
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix(".qr-promote-"))
        .and_then(|r| r.strip_suffix(".tmp"))
        .and_then(|r| r.split_once('-'))
        .is_some_and(|(p, n)| {
            !p.is_empty()
                && !n.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && n.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Syncs a folder so that a rename or removal in it is durable; best effort.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// What a recovery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The command whose transaction was interrupted.
    pub command: String,
    /// Completed (every file new) or rolled back (every file old).
    pub completed: bool,
    /// The files of the transaction.
    pub files: usize,
    /// Files changed by someone else since, left as they are.
    pub conflicts: Vec<String>,
    /// What went wrong once the files were finished (the journal could not be removed): the
    /// next command finds them finished and removes it.
    pub warning: Option<String>,
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "an interrupted qr-promote {} was found and {} ({} file{})",
            self.command,
            if self.completed {
                "completed"
            } else {
                "rolled back"
            },
            self.files,
            if self.files == 1 { "" } else { "s" }
        )?;
        if !self.conflicts.is_empty() {
            write!(
                f,
                "; changed by someone else since and left as they are: {}",
                self.conflicts.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Completes or rolls back the transaction whose journal is in `state_dir`, then removes the
/// journal and the staging files. The caller holds the checkout lock.
///
/// Every staging file beside a target of the journal (`.<name>.qr-promote-<pid>-<n>.tmp`, of
/// any run: the interrupted one, or a recovery killed itself) is removed first; recovery needs
/// none of them, it brings each target from the journal's bytes.
pub fn recover(root: &Path, state_dir: &Path) -> Result<Option<Recovered>> {
    let Some(journal) = Journal::read(state_dir, root)? else {
        // A journal being written when its run was killed: nothing was staged yet.
        Journal::remove(state_dir).map_err(|e| Error::io(state_dir, e))?;
        return Ok(None);
    };
    remove_stale_staging(root, &journal);
    let forward = journal.state == State::Committed;
    let mut conflicts = Vec::new();
    if journal.state != State::Prepared {
        for f in &journal.files {
            let (from, to) = if forward {
                (&f.old, &f.new)
            } else {
                (&f.new, &f.old)
            };
            if !finish_one(root, f, from, to)? {
                conflicts.push(f.path.clone());
            }
        }
    }
    journal.remove_staging(root);
    let warning = Journal::remove(state_dir).err().map(|e| {
        format!(
            "{}: cannot remove the finished journal: {}; the next command removes it",
            state_dir.join(JOURNAL).display(),
            crate::error::io_message(&e)
        )
    });
    Ok(Some(Recovered {
        command: journal.command,
        completed: forward,
        files: journal.files.len(),
        conflicts,
        warning,
    }))
}

/// Removes every staging file (a regular file, of any run) beside each target of `journal`. The
/// journal was checked: its targets' folders are real folders of the checkout.
fn remove_stale_staging(root: &Path, journal: &Journal) {
    let mut folders: Vec<(PathBuf, Vec<String>)> = Vec::new();
    for f in &journal.files {
        let target = root.join(&f.target);
        let (Some(folder), Some(name)) = (target.parent(), target.file_name()) else {
            continue;
        };
        let name = name.to_string_lossy().into_owned();
        match folders.iter_mut().find(|(d, _)| d == folder) {
            Some((_, names)) => names.push(name),
            None => folders.push((folder.to_path_buf(), vec![name])),
        }
    }
    for (folder, names) in folders {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for e in entries.flatten() {
            let file = e.file_name();
            let file = file.to_string_lossy();
            if e.file_type().is_ok_and(|t| t.is_file())
                && names.iter().any(|n| is_any_staging_of(&file, n))
            {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// Brings one target from `from` to `to`; false when it holds neither (left alone): other bytes,
/// or no longer a regular file.
fn finish_one(root: &Path, f: &JournalFile, from: &[u8], to: &[u8]) -> Result<bool> {
    let Ok(target) = real_path_inside(root, &f.target) else {
        return Ok(false);
    };
    bring(&target, from, to).map_err(|e| {
        Error::io(
            &target,
            std::io::Error::other(format!(
                "cannot finish the interrupted transaction: {}",
                crate::error::io_message(&e)
            )),
        )
    })
}
