//! The write transaction: stage every new file beside its target, check nothing changed since it
//! was read, rename all into place, and restore every replaced file if any step fails.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{io_message, Error, Result};
use crate::plan::FileChange;

/// A step of the transaction, for tests that make one fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Stage,
    Rename,
}

/// The staging file of `target`: `.<name>.qr-promote.tmp` in the same folder.
pub fn staging_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.qr-promote.tmp"))
}

struct Staged {
    target: PathBuf,
    staged: PathBuf,
    rel: String,
}

/// Writes every change or none. Returns the paths written.
pub fn write_all(root: &Path, changes: &[FileChange]) -> Result<Vec<String>> {
    write_all_with(root, changes, &mut |_, _| Ok(()))
}

/// [`write_all`] with a hook called before each step, which may fail it.
pub fn write_all_with(
    root: &Path,
    changes: &[FileChange],
    hook: &mut dyn FnMut(Step, &str) -> std::io::Result<()>,
) -> Result<Vec<String>> {
    // Resolve targets (a link inside the checkout is written through to its file).
    let mut targets = Vec::new();
    for c in changes {
        let path = root.join(&c.path);
        let target = if c.symlink {
            fs::canonicalize(&path).map_err(|e| Error::io(&path, e))?
        } else {
            path
        };
        targets.push(target);
    }
    let unchanged = |c: &FileChange, target: &Path| -> Result<()> {
        let now = fs::read(target).map_err(|e| Error::io(target, e))?;
        if now != c.before {
            return Err(Error::refused(format!(
                "{}: changed on disk since it was read; nothing written",
                c.path
            )));
        }
        Ok(())
    };
    for (c, t) in changes.iter().zip(&targets) {
        unchanged(c, t)?;
    }
    // Stage.
    let mut staged: Vec<Staged> = Vec::new();
    for (c, target) in changes.iter().zip(&targets) {
        let tmp = staging_path(target);
        let result = hook(Step::Stage, &c.path).and_then(|()| stage(target, &tmp, &c.after));
        if let Err(e) = result {
            discard(&staged);
            return Err(Error::Io {
                path: c.path.clone(),
                message: format!(
                    "cannot stage the new file: {}; nothing written",
                    io_message(&e)
                ),
            });
        }
        staged.push(Staged {
            target: target.clone(),
            staged: tmp,
            rel: c.path.clone(),
        });
    }
    // Last check, then rename.
    for (c, t) in changes.iter().zip(&targets) {
        if let Err(e) = unchanged(c, t) {
            discard(&staged);
            return Err(e);
        }
    }
    for (i, s) in staged.iter().enumerate() {
        let result = hook(Step::Rename, &s.rel).and_then(|()| fs::rename(&s.staged, &s.target));
        if let Err(e) = result {
            discard(&staged[i..]);
            let restored = restore(&changes[..i], &targets[..i]);
            let msg = match restored {
                Ok(()) => format!(
                    "cannot replace the file: {}; restored the {} file(s) already replaced; nothing changed",
                    io_message(&e),
                    i
                ),
                Err(failed) => format!(
                    "cannot replace the file: {}; could not restore {}",
                    io_message(&e),
                    failed.join(", ")
                ),
            };
            return Err(Error::Io {
                path: s.rel.clone(),
                message: msg,
            });
        }
    }
    Ok(changes.iter().map(|c| c.path.clone()).collect())
}

fn stage(target: &Path, tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let perms = fs::metadata(target)?.permissions();
    let mut f = match OpenOptions::new().write(true).create_new(true).open(tmp) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // A staging file left by an interrupted run: replace it (never a folder).
            fs::remove_file(tmp)?;
            OpenOptions::new().write(true).create_new(true).open(tmp)?
        }
        Err(e) => return Err(e),
    };
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::set_permissions(tmp, perms)?;
    Ok(())
}

fn discard(staged: &[Staged]) {
    for s in staged {
        let _ = fs::remove_file(&s.staged);
    }
}

/// Puts the original bytes back; returns the paths that could not be restored.
fn restore(changes: &[FileChange], targets: &[PathBuf]) -> std::result::Result<(), Vec<String>> {
    let mut failed = Vec::new();
    for (c, t) in changes.iter().zip(targets) {
        let tmp = staging_path(t);
        if stage(t, &tmp, &c.before)
            .and_then(|()| fs::rename(&tmp, t))
            .is_err()
        {
            let _ = fs::write(t, &c.before).map_err(|_| failed.push(c.path.clone()));
        }
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

    fn change(root: &Path, rel: &str, before: &str, after: &str) -> FileChange {
        std::fs::write(root.join(rel), before).unwrap();
        FileChange {
            path: rel.to_string(),
            before: before.as_bytes().to_vec(),
            after: after.as_bytes().to_vec(),
            symlink: false,
            edits: Vec::new(),
        }
    }

    #[test]
    fn a_failed_rename_of_the_second_file_restores_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let changes = vec![
            change(dir.path(), "a.yml", "v: 1111111\n", "v: 2222222\n"),
            change(dir.path(), "b.yml", "v: 1111111\n", "v: 2222222\n"),
            change(dir.path(), "c.yml", "v: 1111111\n", "v: 2222222\n"),
        ];
        let err = write_all_with(dir.path(), &changes, &mut |step, rel| {
            if step == Step::Rename && rel == "b.yml" {
                Err(std::io::Error::other("disk on fire"))
            } else {
                Ok(())
            }
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("b.yml") && err.contains("restored the 1 file(s)"),
            "{err}"
        );
        for f in ["a.yml", "b.yml", "c.yml"] {
            assert_eq!(
                std::fs::read_to_string(dir.path().join(f)).unwrap(),
                "v: 1111111\n",
                "{f}"
            );
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 3, "staging files must be removed");
    }

    #[test]
    fn a_file_changed_since_reading_aborts_everything() {
        let dir = tempfile::tempdir().unwrap();
        let changes = vec![
            change(dir.path(), "a.yml", "v: 1111111\n", "v: 2222222\n"),
            change(dir.path(), "b.yml", "v: 1111111\n", "v: 2222222\n"),
        ];
        std::fs::write(dir.path().join("b.yml"), "v: 3333333\n").unwrap();
        let err = write_all(dir.path(), &changes).unwrap_err().to_string();
        assert!(err.contains("b.yml: changed on disk"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.yml")).unwrap(),
            "v: 1111111\n"
        );
    }
}
