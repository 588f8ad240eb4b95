//! Listing one folder of the walk (from the scan cache when its stamp is unchanged): its
//! subfolders and YAML files become new work, and each link is followed to its real path inside
//! the checkout, so that every file and folder goes by one name.

use std::ffi::{CStr, CString};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use rustix::fs::{AtFlags, Mode, OFlags};

use super::cache::{listing_entries, path_key, read_listing, Listing, Stamp, KIND_DIR, KIND_LINK};
use super::walk::{is_yaml_name, Folder, Harvest, Pending, Place, Work, Worker, BATCH};
use crate::error::io_message;

impl Worker<'_> {
    /// Lists a folder (from the cache when its stamp is unchanged): its subfolders and the YAML
    /// files to read, in batches, become new work.
    pub(super) fn list(
        &self,
        parent: Option<&Folder>,
        name: &CStr,
        place: Place,
        entries: &mut [std::mem::MaybeUninit<u8>],
        found: &mut Harvest,
    ) -> Vec<Work> {
        let mut more = Vec::new();
        let at = parent.map_or(rustix::fs::CWD, |p| p.fd.as_fd());
        // `data/` and `resources/` may be links to folders; below them only real folders are
        // listed, and a folder swapped for a link meanwhile is not followed.
        let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        if parent.is_some() {
            flags |= OFlags::NOFOLLOW;
        }
        let opened = rustix::fs::openat(at, name, flags, Mode::empty()).and_then(|fd| {
            let st = match self.stamping {
                true => Some(Stamp::of(&rustix::fs::fstat(&fd)?)),
                false => None,
            };
            Ok((st, fd))
        });
        let (dstamp, fd) = match opened {
            Ok(x) => x,
            Err(e) => {
                found.unreadable.push((place.rel, io_message(&e.into())));
                return more;
            }
        };
        let dkey = path_key(&place.rel);
        let listing = match (dstamp, self.cache.dirs.get(&dkey)) {
            (Some(st), Some((cached, l))) if *cached == st => l.clone(),
            _ => match read_listing(fd.as_fd(), entries) {
                Ok(l) => {
                    found.listed += 1;
                    Listing::New(l)
                }
                Err(e) => {
                    found.unreadable.push((place.rel, io_message(&e.into())));
                    return more;
                }
            },
        };
        // The names are the listing's bytes; without stamps the listing is not cached, so a new
        // one is moved rather than copied.
        let (names, listing): (Box<[u8]>, _) = match listing {
            Listing::New(v) if dstamp.is_none() => (v.into_boxed_slice(), None),
            l => (self.cache.listing(&l).into(), Some(l)),
        };
        let dir = Arc::new(Folder { fd, place, names });
        let bytes = &dir.names[..];
        let mut files = Vec::new();
        let mut prefix = crate::util::Fnv::new();
        prefix.write(dir.place.rel.as_bytes());
        if !dir.place.rel.is_empty() {
            prefix.write(b"/");
        }
        for (kind, range) in listing_entries(bytes) {
            let name = &bytes[range.clone()];
            if kind == KIND_DIR {
                let Ok(cname) = CString::new(name) else {
                    continue;
                };
                let Some(place) = self.subfolder(&dir.place, name) else {
                    continue;
                };
                more.push(Work::Dir {
                    parent: Some(dir.clone()),
                    name: cname,
                    place,
                });
                continue;
            }
            let (Ok(at), Ok(len)) = (u32::try_from(range.start), u16::try_from(range.len())) else {
                continue;
            };
            let mut h = prefix;
            h.write(name);
            let key = h.finish();
            let symlink = kind == KIND_LINK;
            let stamp = if symlink || !self.stamping {
                None
            } else {
                match rustix::fs::statat(dir.fd.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => Some(Stamp::of(&st)),
                    Err(rustix::io::Errno::NOENT) => continue,
                    Err(_) => None,
                }
            };
            if let Some(st) = stamp {
                if let Some(e) = self.cache.entries.get(&key) {
                    let known =
                        !e.hit || (self.wanted != 0 && e.clean & self.wanted == self.wanted);
                    if e.stamp == st && known {
                        found.yaml_files += 1;
                        found.stamps.push((key, *e));
                        continue;
                    }
                }
            }
            let named = match symlink {
                true => match self.follow_link(&dir.place, name, &mut more, found) {
                    Some(n) => n,
                    None => continue,
                },
                false => None,
            };
            files.push(Pending {
                dir: dir.clone(),
                at,
                len,
                key,
                symlink,
                stamp,
                named,
            });
            if files.len() == BATCH {
                more.push(Work::Files(std::mem::take(&mut files)));
            }
        }
        if let (Some(st), Some(l)) = (dstamp, listing) {
            found.dirs.push((dkey, st, l));
        }
        if !files.is_empty() {
            more.push(Work::Files(files));
        }
        more
    }

    /// The place of the subfolder `name` of the folder at `parent`; `None` when it is not walked
    /// from there: in a folder outside the trees (walked because a link leads to it), a
    /// subfolder that is a tree, that a link of its own leads to, or the checkout's `.git` and
    /// `.qr-promote`, is walked under its own name or not at all.
    fn subfolder(&self, parent: &Place, name: &[u8]) -> Option<Place> {
        let (rel, utf8) = parent.child_rel(name);
        let path = match (&parent.path, utf8) {
            (None, true) => None,
            _ => Some(parent.child_path(self.names.root(), name)),
        };
        if parent.outside {
            let real = path.as_deref()?;
            if parent.rel.is_empty() && matches!(name, b".git" | b".qr-promote") {
                return None;
            }
            if self.names.trees().any(|t| t == real)
                || self.linked.lock().is_ok_and(|l| l.contains(real))
            {
                return None;
            }
        }
        Some(Place {
            rel,
            path,
            outside: parent.outside,
            utf8,
        })
    }

    /// Resolves the link `name` in the folder at `place` before anything is read through it: a
    /// link out of the checkout is reported and not followed; a folder inside it is walked under
    /// its real path (unless the walk reaches it anyway, or reached it through another link); a
    /// YAML file inside it is read through the link unless the walk reaches the file itself:
    /// `Some` then, with the name it goes by when that is not the link's (the file's real path
    /// when its own name is a YAML name).
    #[allow(clippy::option_option)]
    fn follow_link(
        &self,
        place: &Place,
        name: &[u8],
        more: &mut Vec<Work>,
        found: &mut Harvest,
    ) -> Option<Option<Box<(String, bool)>>> {
        let root = self.names.root();
        // A dangling link is no file.
        let real = std::fs::canonicalize(place.child_path(root, name)).ok()?;
        let is_dir = real.is_dir();
        let yaml_file = real.is_file() && is_yaml_name(name);
        if !is_dir && !yaml_file {
            return None;
        }
        if !real.starts_with(root) {
            found
                .outside
                .push((place.child_rel(name).0, real.display().to_string()));
            return None;
        }
        let in_tree = self.names.in_tree(&real);
        if is_dir {
            if in_tree {
                return None;
            }
            // Walked once, and not inside a folder walked already (nor walked again from one).
            let first = self.linked.lock().is_ok_and(|mut l| {
                !l.iter().any(|w| real.starts_with(w)) && l.insert(real.clone())
            });
            if let (true, Some((rel, utf8)), Ok(cname)) = (
                first,
                self.names.name(&real),
                CString::new(real.as_os_str().as_bytes()),
            ) {
                more.push(Work::Dir {
                    parent: None,
                    name: cname,
                    place: Place {
                        rel,
                        path: Some(real),
                        outside: true,
                        utf8,
                    },
                });
            }
            return None;
        }
        if !real.file_name().is_some_and(|n| is_yaml_name(n.as_bytes())) {
            // Known by the link only.
            return Some(None);
        }
        if in_tree {
            return None; // the walk reads it by its own name
        }
        Some(self.names.name(&real).map(Box::new))
    }
}
