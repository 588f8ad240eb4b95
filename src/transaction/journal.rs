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
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::bring;
use crate::checkout::real_path_inside;
use crate::error::{Error, Result};

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
        crate::util::create_private_dir_all(state_dir).map_err(std::io::Error::other)?;
        let text = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        let tmp = state_dir.join(format!("{JOURNAL}.{}.tmp", std::process::id()));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        drop(f);
        super::rename(&tmp, &state_dir.join(JOURNAL))?;
        sync_dir(state_dir);
        Ok(())
    }

    /// Reads the journal of the state folder, if there is one.
    pub fn read(state_dir: &Path) -> Result<Option<Journal>> {
        let path = state_dir.join(JOURNAL);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        match serde_json::from_slice::<Journal>(&bytes) {
            Ok(j) if j.format == 1 => Ok(Some(j)),
            _ => Err(Error::input(format!(
                "{}: not a journal this version of qr-promote can recover; check the files it names and remove it",
                path.display()
            ))),
        }
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
pub fn recover(root: &Path, state_dir: &Path) -> Result<Option<Recovered>> {
    let Some(journal) = Journal::read(state_dir)? else {
        // A journal being written when its run was killed: nothing was staged yet.
        Journal::remove(state_dir).map_err(|e| Error::io(state_dir, e))?;
        return Ok(None);
    };
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
    Journal::remove(state_dir).map_err(|e| Error::io(&state_dir.join(JOURNAL), e))?;
    Ok(Some(Recovered {
        command: journal.command,
        completed: forward,
        files: journal.files.len(),
        conflicts,
    }))
}

/// Brings one target from `from` to `to`; false when it holds neither (left alone).
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
