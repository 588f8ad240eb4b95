//! The scan cache: what an earlier walk learnt of each file and folder, by stamp, so that a
//! daily run stamps every file but reads only those that may have changed or hold a location.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::mem::MaybeUninit;
use std::ops::Range;
use std::os::fd::BorrowedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, RawDir, Stat};

use super::walk::is_yaml_name;

/// What identifies a file's content without reading it: size, times and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    pub(super) size: u64,
    pub(super) mtime: i64,
    pub(super) mtime_ns: i64,
    pub(super) ctime: i64,
    pub(super) ctime_ns: i64,
    pub(super) ino: u64,
}

impl Stamp {
    // The field types of `struct stat` differ between targets.
    #[allow(clippy::unnecessary_cast)]
    pub(super) fn of(st: &Stat) -> Stamp {
        Stamp {
            size: st.st_size as u64,
            mtime: st.st_mtime as i64,
            mtime_ns: st.st_mtime_nsec as i64,
            ctime: st.st_ctime as i64,
            ctime_ns: st.st_ctime_nsec as i64,
            ino: st.st_ino as u64,
        }
    }

    /// Changed within two seconds of `now`: not trusted to reveal the next change.
    pub(super) fn fresh(&self, now: i64) -> bool {
        self.mtime >= now - 2 || self.ctime >= now - 2
    }
}

/// The scan cache: for each file seen by an earlier walk with the same needles, its stamp,
/// whether it mentioned a needle, and the components known to have no location in it. A file
/// whose stamp is unchanged is not read again when it mentioned no needle, or when every
/// component the walk is for is known to have no location in it. Files changed within two
/// seconds of a walk are never cached, so a change that keeps size and timestamps (racy writes)
/// is still seen.
#[derive(Debug, Default)]
pub struct ScanCache {
    pub(super) needles: u64,
    /// Keyed by the FNV hash of the repository-relative path; the stamp's inode tells files apart.
    pub(super) entries: PathMap,
    /// Folders by the hash of their path: stamp and listing (the YAML files, links and
    /// subfolders, see [`Listing`]). A folder whose stamp is unchanged has the same entries.
    pub(super) dirs: DirMap,
    /// The bytes of the loaded cache file, which listings of unchanged folders point into.
    pub(super) blob: Vec<u8>,
    /// The entries differ from the file they were loaded from.
    pub(super) changed: bool,
}

/// A folder's listing: `[kind u8][name length u16 LE][name]...`, in the loaded file or new.
#[derive(Debug, Clone)]
pub(super) enum Listing {
    Old(Range<usize>),
    New(Vec<u8>),
}

pub(super) type DirMap = HashMap<u64, (Stamp, Listing), BuildHasherDefault<KeyHasher>>;

pub(super) const KIND_FILE: u8 = 0;
pub(super) const KIND_DIR: u8 = 1;
pub(super) const KIND_LINK: u8 = 2;

/// A cached file: its stamp, whether it mentioned a needle, the bits of the components that have
/// no location in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CachedFile {
    pub(super) stamp: Stamp,
    pub(super) hit: bool,
    pub(super) clean: u64,
}

pub(super) type PathMap = HashMap<u64, CachedFile, BuildHasherDefault<KeyHasher>>;

/// The map's keys are hashes already: pass them through.
#[derive(Default)]
pub(super) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// The file's format: `QRSCAN<format>\n`, the tool's version (a length byte and its bytes), the
/// needles' key, the files, the folders, and last a checksum of every byte before it
/// ([`checksum`]). A file whose checksum, format, version or needles differ is discarded with a
/// note, and the tree is read.
pub(super) const CACHE_MAGIC: &[u8; 8] = b"QRSCAN8\n";

/// The version of the tool that writes the cache: another version's cache is not trusted.
const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Notes about caches discarded (damaged, of another format or version), for the command line
/// to print on stderr: see [`take_notes`].
static NOTES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The notes about scan caches discarded since the last call, each naming the cache file.
pub fn take_notes() -> Vec<String> {
    NOTES
        .lock()
        .map(|mut n| std::mem::take(&mut *n))
        .unwrap_or_default()
}

/// A checksum of `bytes`: four lanes of words, each step a bijection of the lane, so any change
/// confined to one 8-byte word (a flipped bit, a zeroed byte) always changes it; the length is
/// part of it (truncation). Fast enough that a warm walk does not notice it.
pub(super) fn checksum(bytes: &[u8]) -> u64 {
    const K: [u64; 4] = [
        0x9e37_79b9_7f4a_7c15,
        0xc2b2_ae3d_27d4_eb4f,
        0x1656_67b1_9e37_79f9,
        0x85eb_ca77_c2b2_ae63,
    ];
    fn step(h: u64, w: u64, k: u64) -> u64 {
        (h ^ w).wrapping_mul(k).rotate_left(31)
    }
    let mut lanes = [K[0] ^ bytes.len() as u64, K[1], K[2], K[3]];
    let mut blocks = bytes.chunks_exact(32);
    for b in &mut blocks {
        for (i, lane) in lanes.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            *lane = step(*lane, u64::from_le_bytes(w), K[i]);
        }
    }
    let rest = blocks.remainder();
    for (i, c) in rest.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        // A partial word is told from a full one by its length, which the first lane holds.
        lanes[i] = step(lanes[i], u64::from_le_bytes(w), K[i]);
    }
    let mut h = 0u64;
    for (i, lane) in lanes.iter().enumerate() {
        // A bijection of the lane for a given `h`, and of `h` for the next lanes.
        h = step(h, *lane, K[(i + 1) % 4]);
    }
    h ^ (h >> 29)
}

/// The most a scan cache file is read of, in bytes; a larger one is not used.
pub const SCAN_CACHE_LIMIT: u64 = 512 * 1024 * 1024;

/// The cache key of a repository-relative path.
pub fn path_key(rel: &str) -> u64 {
    let mut h = crate::util::Fnv::new();
    h.write(rel.as_bytes());
    h.finish()
}

impl ScanCache {
    /// Loads the cache for `needles` from `path`; a missing file gives an empty cache, and so
    /// does a damaged one or one of another format, tool version or set of needles, with a note
    /// naming it (see [`take_notes`]).
    pub fn load(path: &Path, needles: &[String]) -> ScanCache {
        let (cache, note) = ScanCache::load_checked(path, needles);
        if let (Some(n), Ok(mut notes)) = (note, NOTES.lock()) {
            notes.push(n);
        }
        cache
    }

    /// [`ScanCache::load`], returning the note instead of keeping it.
    pub(super) fn load_checked(path: &Path, needles: &[String]) -> (ScanCache, Option<String>) {
        let key = needles_key(needles);
        let empty = ScanCache {
            needles: key,
            ..ScanCache::default()
        };
        // Only a regular file of at most SCAN_CACHE_LIMIT bytes (never a FIFO, device or link,
        // never read without bound); anything else is no cache: the tree is read.
        let Ok(bytes) = crate::util::read_regular(path, SCAN_CACHE_LIMIT) else {
            return (empty, None);
        };
        match decode(&bytes, key) {
            Ok((entries, dirs)) => (
                ScanCache {
                    needles: key,
                    entries,
                    dirs,
                    blob: bytes,
                    changed: false,
                },
                None,
            ),
            Err(why) => (
                empty,
                Some(format!(
                    "the scan cache {} {why}; discarded, every file is read",
                    path.display()
                )),
            ),
        }
    }

    pub(super) fn listing<'a>(&'a self, l: &'a Listing) -> &'a [u8] {
        match l {
            Listing::Old(r) => self.blob.get(r.clone()).unwrap_or_default(),
            Listing::New(v) => v,
        }
    }

    /// Records that the components of `bits` have no location in the file of `key`, as the walk
    /// saw it (a file the walk did not stamp is left alone).
    pub fn mark_clean(&mut self, key: u64, bits: u64) {
        if let Some(e) = self.entries.get_mut(&key) {
            if e.clean & bits != bits {
                e.clean |= bits;
                self.changed = true;
            }
        }
    }

    /// Writes the cache when it differs from the one loaded. The cache only saves time: a
    /// failure to write it is not an error.
    pub fn save_if_changed(&self, path: &Path) {
        if self.changed {
            let _ = self.save(path);
        }
    }

    fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(32 + self.entries.len() * 73 + self.blob.len() / 2);
        out.extend_from_slice(CACHE_MAGIC);
        out.push(TOOL_VERSION.len() as u8);
        out.extend_from_slice(TOOL_VERSION.as_bytes());
        out.extend_from_slice(&self.needles.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for (key, e) in &self.entries {
            let st = &e.stamp;
            for v in [*key, st.size, st.ino, e.clean] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for v in [st.mtime, st.mtime_ns, st.ctime, st.ctime_ns] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.push(u8::from(e.hit));
        }
        out.extend_from_slice(&(self.dirs.len() as u64).to_le_bytes());
        for (key, (st, l)) in &self.dirs {
            for v in [*key, st.size, st.ino] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for v in [st.mtime, st.mtime_ns, st.ctime, st.ctime_ns] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            let bytes = self.listing(l);
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        // The cache names the checkout's files: private to its owner (folders 0700, files 0600).
        if let Some(dir) = path.parent() {
            crate::util::create_private_dir_all(dir).map_err(std::io::Error::other)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        crate::util::write_private(&tmp, &out).map_err(std::io::Error::other)?;
        std::fs::rename(&tmp, path)
    }
}

pub(super) fn needles_key(needles: &[String]) -> u64 {
    let mut h = crate::util::Fnv::new();
    for n in needles {
        h.write(n.as_bytes());
        h.write(&[0]);
    }
    h.finish()
}

/// Reads the cache file's fields in order.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let b = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(b)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn stamp(&mut self, size: u64, ino: u64) -> Option<Stamp> {
        Some(Stamp {
            size,
            ino,
            mtime: self.u64()? as i64,
            mtime_ns: self.u64()? as i64,
            ctime: self.u64()? as i64,
            ctime_ns: self.u64()? as i64,
        })
    }
}

/// The files and folders of a cache file made for the needles of `key`, or why it is not used.
pub(super) fn decode(bytes: &[u8], key: u64) -> Result<(PathMap, DirMap), String> {
    let magic = CACHE_MAGIC.len();
    if bytes.get(..magic) != Some(CACHE_MAGIC.as_slice()) {
        return Err(match bytes.starts_with(&CACHE_MAGIC[..6]) {
            true => "is of another format".to_string(),
            false => "is not a scan cache".to_string(),
        });
    }
    let damaged = || "is damaged (its checksum does not match)".to_string();
    let body_len = bytes
        .len()
        .checked_sub(8)
        .filter(|n| *n >= magic)
        .ok_or_else(damaged)?;
    let (body, sum) = bytes.split_at(body_len);
    if u64::from_le_bytes(sum.try_into().map_err(|_| damaged())?) != checksum(body) {
        return Err(damaged());
    }
    let mut r = Reader {
        bytes: body,
        at: magic,
    };
    let len = r.take(1).map(|n| usize::from(n[0])).ok_or_else(damaged)?;
    let version = r.take(len).ok_or_else(damaged)?;
    if version != TOOL_VERSION.as_bytes() {
        return Err(format!(
            "was written by qr-promote {} (this is {TOOL_VERSION})",
            String::from_utf8_lossy(version)
        ));
    }
    if r.u64() != Some(key) {
        return Err("was made for other needles".to_string());
    }
    decode_entries(r).ok_or_else(|| "is damaged (its entries do not read)".to_string())
}

fn decode_entries(mut r: Reader<'_>) -> Option<(PathMap, DirMap)> {
    let bytes = r.bytes;
    let files = r.u64()?;
    let mut map = PathMap::default();
    map.reserve(usize::try_from(files).ok()?.min(bytes.len() / 73));
    for _ in 0..files {
        let rel = r.u64()?;
        let size = r.u64()?;
        let ino = r.u64()?;
        let clean = r.u64()?;
        let stamp = r.stamp(size, ino)?;
        let hit = r.take(1)?[0] != 0;
        map.insert(rel, CachedFile { stamp, hit, clean });
    }
    let dirs = r.u64()?;
    let mut dmap = DirMap::default();
    dmap.reserve(usize::try_from(dirs).ok()?.min(bytes.len() / 64));
    for _ in 0..dirs {
        let rel = r.u64()?;
        let size = r.u64()?;
        let ino = r.u64()?;
        let stamp = r.stamp(size, ino)?;
        let len = u32::from_le_bytes(r.take(4)?.try_into().ok()?) as usize;
        let start = r.at;
        r.take(len)?;
        dmap.insert(rel, (stamp, Listing::Old(start..start + len)));
    }
    (r.at == bytes.len()).then_some((map, dmap))
}

/// The entries of a listing: (kind, name).
/// The entries of a listing: kind, and where the name is in it.
pub(super) fn listing_entries(b: &[u8]) -> impl Iterator<Item = (u8, Range<usize>)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let kind = *b.get(at)?;
        let len = b.get(at + 1..at + 3)?;
        let len = u16::from_le_bytes([len[0], len[1]]) as usize;
        let name = at + 3..at + 3 + len;
        b.get(name.clone())?;
        at = name.end;
        Some((kind, name))
    })
}

/// The YAML files, links and subfolders of an open folder, as a listing; `buf` holds the
/// entries as they are read (the folder's own descriptor is read, not a duplicate of it).
pub(super) fn read_listing(
    fd: BorrowedFd<'_>,
    buf: &mut [MaybeUninit<u8>],
) -> rustix::io::Result<Vec<u8>> {
    let mut dir = RawDir::new(fd, buf);
    let mut out = Vec::new();
    while let Some(entry) = dir.next() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." || name.len() > usize::from(u16::MAX) {
            continue;
        }
        let mut ft = entry.file_type();
        if ft == FileType::Unknown {
            ft = rustix::fs::statat(fd, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW)
                .map_or(FileType::Unknown, |st| FileType::from_raw_mode(st.st_mode));
        }
        let kind = match ft {
            FileType::Directory => KIND_DIR,
            // Any link: it may lead to a YAML file or to a folder.
            FileType::Symlink => KIND_LINK,
            FileType::RegularFile if is_yaml_name(name) => KIND_FILE,
            _ => continue,
        };
        out.push(kind);
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name);
    }
    Ok(out)
}
