//! The parallel walk of `data/` and `resources/`: reads every YAML file once and keeps those that mention a needle.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::checkout::TREES;
use crate::error::{io_message, Error, Result};

/// A YAML file that mentions at least one needle.
#[derive(Debug, Clone)]
pub struct ScannedFile {
    /// Repository-relative path with `/` separators.
    pub rel: String,
    /// The bytes as read.
    pub bytes: Vec<u8>,
    /// Indexes of the needles that occur in the file, ascending.
    pub hits: Vec<usize>,
    /// The path is a symbolic link.
    pub symlink: bool,
    /// The file's key in the scan cache (a hash of `rel`).
    pub key: u64,
}

/// What one walk found.
#[derive(Debug, Default)]
pub struct ScanOutcome {
    /// Files that mention a needle, sorted by path.
    pub files: Vec<ScannedFile>,
    /// Files and folders that could not be read: (path, reason).
    pub unreadable: Vec<(String, String)>,
    /// Number of YAML files seen.
    pub yaml_files: usize,
    /// Number of them read from disk (the others were known from the scan cache).
    pub read_files: usize,
    /// The cache for the next walk, with `cache_file`: saved by [`ScanCache::save_if_changed`].
    pub cache: Option<ScanCache>,
}

/// What identifies a file's content without reading it: size, times and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime: i64,
    mtime_ns: i64,
    ctime: i64,
    ctime_ns: i64,
    ino: u64,
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            size: m.size(),
            mtime: m.mtime(),
            mtime_ns: m.mtime_nsec(),
            ctime: m.ctime(),
            ctime_ns: m.ctime_nsec(),
            ino: m.ino(),
        }
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
    needles: u64,
    /// Keyed by the FNV hash of the repository-relative path; the stamp's inode tells files apart.
    entries: PathMap,
    /// The entries differ from the file they were loaded from.
    changed: bool,
}

/// A cached file: its stamp, whether it mentioned a needle, the bits of the components that have
/// no location in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    stamp: Stamp,
    hit: bool,
    clean: u64,
}

type PathMap = HashMap<u64, Entry, BuildHasherDefault<KeyHasher>>;

/// The map's keys are hashes already: pass them through.
#[derive(Default)]
struct KeyHasher(u64);

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

const CACHE_MAGIC: &[u8; 8] = b"QRSCAN3\n";

/// The cache key of a repository-relative path.
pub fn path_key(rel: &str) -> u64 {
    let mut h = crate::util::Fnv::new();
    h.write(rel.as_bytes());
    h.finish()
}

impl ScanCache {
    /// Loads the cache for `needles` from `path`; a missing, foreign or damaged file gives an empty cache.
    pub fn load(path: &Path, needles: &[String]) -> ScanCache {
        let key = needles_key(needles);
        let mut cache = ScanCache {
            needles: key,
            entries: PathMap::default(),
            changed: false,
        };
        let Ok(bytes) = std::fs::read(path) else {
            return cache;
        };
        if let Some(entries) = decode(&bytes, key) {
            cache.entries = entries;
        }
        cache
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
        let mut out = Vec::with_capacity(16 + self.entries.len() * 72);
        out.extend_from_slice(CACHE_MAGIC);
        out.extend_from_slice(&self.needles.to_le_bytes());
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
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &out)?;
        std::fs::rename(&tmp, path)
    }
}

fn needles_key(needles: &[String]) -> u64 {
    let mut h = crate::util::Fnv::new();
    for n in needles {
        h.write(n.as_bytes());
        h.write(&[0]);
    }
    h.finish()
}

fn decode(bytes: &[u8], key: u64) -> Option<PathMap> {
    let mut r = bytes.strip_prefix(CACHE_MAGIC.as_slice())?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (a, b) = r.split_at_checked(n)?;
        r = b;
        Some(a)
    };
    let u64_at = |b: &[u8]| -> Option<u64> { Some(u64::from_le_bytes(b.try_into().ok()?)) };
    if u64_at(take(8)?)? != key {
        return None;
    }
    let mut map = PathMap::default();
    map.reserve(bytes.len() / 73);
    while let Some(k) = take(8) {
        let rel = u64_at(k)?;
        let size = u64_at(take(8)?)?;
        let ino = u64_at(take(8)?)?;
        let clean = u64_at(take(8)?)?;
        let mut t = [0i64; 4];
        for v in &mut t {
            *v = u64_at(take(8)?)? as i64;
        }
        let hit = take(1)?[0] != 0;
        let st = Stamp {
            size,
            ino,
            mtime: t[0],
            mtime_ns: t[1],
            ctime: t[2],
            ctime_ns: t[3],
        };
        map.insert(
            rel,
            Entry {
                stamp: st,
                hit,
                clean,
            },
        );
    }
    Some(map)
}

/// Whether a file name is a YAML file.
pub fn is_yaml_name(name: &[u8]) -> bool {
    name.ends_with(b".yml") || name.ends_with(b".yaml")
}

/// A unit of work: a folder to list, or a batch of files to read.
enum Work {
    Dir(PathBuf, String),
    Files(Vec<Pending>),
}

struct Pending {
    path: PathBuf,
    rel: String,
    key: u64,
    symlink: bool,
    stamp: Option<Stamp>,
}

/// Files read per work item: small enough that two threads share a large folder.
const BATCH: usize = 48;

struct Queue {
    work: Vec<Work>,
    busy: usize,
}

struct Worker<'a> {
    matcher: &'a AhoCorasick,
    /// Component bits: a cached file clean for all of them is not read.
    wanted: u64,
    queue: &'a Mutex<Queue>,
    cond: &'a Condvar,
    cache: &'a ScanCache,
}

#[derive(Default)]
struct Found {
    files: Vec<ScannedFile>,
    unreadable: Vec<(String, String)>,
    yaml_files: usize,
    read_files: usize,
    /// Files read whose stamp the cache did not know.
    refreshed: usize,
    /// Stamps seen in this walk, for the next cache.
    stamps: Vec<(u64, Entry)>,
}

/// Walks `data/` and `resources/` of `root` with one thread per core and returns the YAML files
/// in which any of `needles` occurs. With `cache_file`, files known from an earlier walk to
/// mention no needle are not read again, and the cache is brought up to date.
pub fn scan(root: &Path, needles: &[String], cache_file: Option<&Path>) -> Result<ScanOutcome> {
    let out = scan_with(root, needles, cache_file, 0)?;
    if let (Some(c), Some(p)) = (&out.cache, cache_file) {
        c.save_if_changed(p);
    }
    Ok(out)
}

/// [`scan`] for the components of the bits of `wanted`: a cached, unchanged file that holds no
/// location of any of them is not read either. The next cache is returned, not saved: mark the
/// files found clean ([`ScanCache::mark_clean`]), then save it.
pub fn scan_with(
    root: &Path,
    needles: &[String],
    cache_file: Option<&Path>,
    wanted: u64,
) -> Result<ScanOutcome> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    scan_at(root, needles, cache_file, wanted, now)
}

/// [`scan_with`] as if the time were `now` (seconds since the epoch), which decides the files
/// too fresh to cache.
fn scan_at(
    root: &Path,
    needles: &[String],
    cache_file: Option<&Path>,
    wanted: u64,
    now: i64,
) -> Result<ScanOutcome> {
    let cache = match cache_file {
        Some(p) => ScanCache::load(p, needles),
        None => ScanCache::default(),
    };
    let matcher = AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .build(needles)
        .map_err(|e| Error::input(format!("cannot search for {needles:?}: {e}")))?;
    let dirs: Vec<Work> = TREES
        .iter()
        .map(|t| Work::Dir(root.join(t), (*t).to_string()))
        .filter(|w| matches!(w, Work::Dir(p, _) if p.is_dir()))
        .collect();
    let queue = Mutex::new(Queue {
        work: dirs,
        busy: 0,
    });
    let cond = Condvar::new();
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 16);
    let worker = Worker {
        matcher: &matcher,
        wanted,
        queue: &queue,
        cond: &cond,
        cache: &cache,
    };
    let mut all = Found::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(|| worker.run())).collect();
        for h in handles {
            if let Ok(found) = h.join() {
                all.files.extend(found.files);
                all.unreadable.extend(found.unreadable);
                all.yaml_files += found.yaml_files;
                all.read_files += found.read_files;
                all.refreshed += found.refreshed;
                all.stamps.extend(found.stamps);
            }
        }
    });
    let changed = all.refreshed > 0 || all.stamps.len() != cache.entries.len();
    let next = cache_file.map(|_| {
        if !changed {
            // Every file as the cache knew it: the loaded cache is the next one.
            return cache;
        }
        // Only files whose times are at least two seconds old are trusted next time.
        let fresh = |st: &Stamp| st.mtime >= now - 2 || st.ctime >= now - 2;
        ScanCache {
            needles: needles_key(needles),
            entries: all
                .stamps
                .drain(..)
                .filter(|(_, e)| !fresh(&e.stamp))
                .collect(),
            changed,
        }
    });
    all.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    all.unreadable.sort();
    Ok(ScanOutcome {
        files: all.files,
        unreadable: all.unreadable,
        yaml_files: all.yaml_files,
        read_files: all.read_files,
        cache: next,
    })
}

impl Worker<'_> {
    fn next_work(&self) -> Option<Work> {
        let Ok(mut q) = self.queue.lock() else {
            return None;
        };
        loop {
            if let Some(d) = q.work.pop() {
                q.busy += 1;
                return Some(d);
            }
            if q.busy == 0 {
                self.cond.notify_all();
                return None;
            }
            q = match self.cond.wait(q) {
                Ok(q) => q,
                Err(_) => return None,
            };
        }
    }

    fn finish(&self, more: Vec<Work>) {
        if let Ok(mut q) = self.queue.lock() {
            q.busy -= 1;
            let n = more.len();
            q.work.extend(more);
            if n > 1 || q.busy == 0 {
                self.cond.notify_all();
            } else if n == 1 {
                self.cond.notify_one();
            }
        }
    }

    fn run(&self) -> Found {
        let mut found = Found::default();
        let mut buf: Vec<u8> = vec![0; 256 * 1024];
        while let Some(work) = self.next_work() {
            let more = match work {
                Work::Dir(dir, rel) => self.list(&dir, &rel, &mut found),
                Work::Files(files) => {
                    for p in files {
                        self.read(p, &mut buf, &mut found);
                    }
                    Vec::new()
                }
            };
            self.finish(more);
        }
        found
    }

    /// Lists a folder: its subfolders and its YAML files in batches become new work.
    fn list(&self, dir: &Path, dir_rel: &str, found: &mut Found) -> Vec<Work> {
        let mut more = Vec::new();
        let mut files = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                found.unreadable.push((dir_rel.to_string(), io_message(&e)));
                return more;
            }
        };
        let mut prefix = crate::util::Fnv::new();
        prefix.write(dir_rel.as_bytes());
        prefix.write(b"/");
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    found.unreadable.push((dir_rel.to_string(), io_message(&e)));
                    continue;
                }
            };
            let Ok(ft) = entry.file_type() else { continue };
            let name = entry.file_name();
            if ft.is_dir() {
                let rel = format!("{dir_rel}/{}", name.to_string_lossy());
                more.push(Work::Dir(entry.path(), rel));
                continue;
            }
            let name_bytes = name.as_encoded_bytes();
            if !is_yaml_name(name_bytes) {
                continue;
            }
            let mut h = prefix;
            h.write(name_bytes);
            let key = h.finish();
            let symlink = ft.is_symlink();
            let stamp = if symlink {
                None
            } else {
                entry.metadata().ok().map(|m| Stamp::of(&m))
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
            let path = entry.path();
            if symlink && !path.is_file() {
                continue;
            }
            files.push(Pending {
                path,
                rel: format!("{dir_rel}/{}", name.to_string_lossy()),
                key,
                symlink,
                stamp,
            });
            if files.len() == BATCH {
                more.push(Work::Files(std::mem::take(&mut files)));
            }
        }
        if !files.is_empty() {
            more.push(Work::Files(files));
        }
        more
    }

    fn read(&self, p: Pending, buf: &mut Vec<u8>, found: &mut Found) {
        found.yaml_files += 1;
        found.read_files += 1;
        let len = match read_into(&p.path, buf) {
            Ok(n) => n,
            Err(e) => {
                found.unreadable.push((p.rel, io_message(&e)));
                return;
            }
        };
        let text = &buf[..len];
        let mut hits: Vec<usize> = self
            .matcher
            .find_overlapping_iter(text)
            .map(|m| m.pattern().as_usize())
            .collect();
        hits.sort_unstable();
        hits.dedup();
        if let Some(st) = p.stamp {
            let hit = !hits.is_empty();
            // Marks of a file read again unchanged still hold; a changed file starts afresh.
            let clean = match self.cache.entries.get(&p.key) {
                Some(e) if e.stamp == st && e.hit == hit => e.clean,
                _ => {
                    found.refreshed += 1;
                    0
                }
            };
            found.stamps.push((
                p.key,
                Entry {
                    stamp: st,
                    hit,
                    clean,
                },
            ));
        }
        if hits.is_empty() {
            return;
        }
        found.files.push(ScannedFile {
            rel: p.rel,
            bytes: text.to_vec(),
            hits,
            symlink: p.symlink,
            key: p.key,
        });
    }
}

/// Reads a whole file into `buf` and returns its length. `buf` keeps its (zeroed) length between
/// calls, so no byte is cleared or allocated twice; it grows when a file is larger.
fn read_into(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut f = std::fs::File::open(path)?;
    let mut filled = 0;
    loop {
        if buf.len() - filled < 8192 {
            let grow = buf.len().max(64 * 1024);
            buf.resize(buf.len() + grow, 0);
        }
        match f.read(&mut buf[filled..]) {
            Ok(0) => return Ok(filled),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LATER: i64 = 60;

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    struct Tree {
        dir: tempfile::TempDir,
        needles: Vec<String>,
    }

    impl Tree {
        fn new() -> Tree {
            let dir = tempfile::tempdir().unwrap();
            let t = Tree {
                dir,
                needles: vec!["alpha".into(), "beta".into()],
            };
            t.write("data/a.yml", "key: alpha\n");
            t.write("data/b.yml", "key: beta\n");
            t.write("data/both.yml", "a: alpha\nb: beta\n");
            t.write("resources/x/none.yml", "key: nothing\n");
            t.write("resources/x/other.txt", "alpha\n");
            t
        }

        fn write(&self, rel: &str, text: &str) {
            let p = self.dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }

        fn cache(&self) -> PathBuf {
            self.dir.path().join("cache/scan.bin")
        }

        /// A walk as if a minute had passed, so that no file is too fresh to cache; the cache is
        /// saved after `mark` (rel path, bits) is applied.
        fn scan(&self, wanted: u64, mark: &[(&str, u64)]) -> ScanOutcome {
            let cache = self.cache();
            let mut out = scan_at(
                self.dir.path(),
                &self.needles,
                Some(&cache),
                wanted,
                now() + LATER,
            )
            .unwrap();
            let mut next = out.cache.take().unwrap();
            for (rel, bits) in mark {
                next.mark_clean(path_key(rel), *bits);
            }
            next.save_if_changed(&cache);
            out
        }
    }

    fn rels(out: &ScanOutcome) -> Vec<&str> {
        out.files.iter().map(|f| f.rel.as_str()).collect()
    }

    #[test]
    fn files_without_a_needle_are_not_read_again() {
        let t = Tree::new();
        let first = t.scan(0, &[]);
        assert_eq!(rels(&first), ["data/a.yml", "data/b.yml", "data/both.yml"]);
        assert_eq!((first.yaml_files, first.read_files), (4, 4));
        let second = t.scan(0, &[]);
        assert_eq!(rels(&second), rels(&first));
        assert_eq!((second.yaml_files, second.read_files), (4, 3));
        assert_eq!(second.files[2].hits, [0, 1]);
    }

    #[test]
    fn a_file_clean_for_a_component_is_skipped_only_for_it() {
        let t = Tree::new();
        t.scan(0, &[("data/a.yml", 0b01), ("data/both.yml", 0b01)]);
        let only_first = t.scan(0b01, &[]);
        assert_eq!(rels(&only_first), ["data/b.yml"]);
        assert_eq!(only_first.read_files, 1);
        let second = t.scan(0b10, &[]);
        assert_eq!(rels(&second), ["data/a.yml", "data/b.yml", "data/both.yml"]);
        let both = t.scan(0b11, &[]);
        assert_eq!(rels(&both), ["data/a.yml", "data/b.yml", "data/both.yml"]);
        // The marks survive walks that read the file again.
        assert_eq!(rels(&t.scan(0b01, &[])), ["data/b.yml"]);
    }

    #[test]
    fn a_changed_file_is_read_again_and_loses_its_marks() {
        let t = Tree::new();
        t.scan(0, &[("data/a.yml", 0b01)]);
        assert_eq!(rels(&t.scan(0b01, &[])), ["data/b.yml", "data/both.yml"]);
        t.write("data/a.yml", "key: alpha\nimage_tag: now a location\n");
        let after = t.scan(0b01, &[]);
        assert_eq!(rels(&after), ["data/a.yml", "data/b.yml", "data/both.yml"]);
        assert_eq!(
            rels(&t.scan(0b01, &[])),
            ["data/a.yml", "data/b.yml", "data/both.yml"]
        );
        // A file that had no needle and gets one is read.
        t.write("resources/x/none.yml", "key: beta\n");
        assert!(rels(&t.scan(0, &[])).contains(&"resources/x/none.yml"));
    }

    #[test]
    fn fresh_files_are_never_cached() {
        let t = Tree::new();
        let cache = t.cache();
        let mut out = scan_at(t.dir.path(), &t.needles, Some(&cache), 0, now()).unwrap();
        let mut next = out.cache.take().unwrap();
        next.mark_clean(path_key("data/a.yml"), 1);
        next.save_if_changed(&cache);
        let again = scan_at(t.dir.path(), &t.needles, Some(&cache), 1, now()).unwrap();
        assert_eq!(again.read_files, 4, "just written: every file is read");
    }

    #[test]
    fn a_damaged_or_foreign_cache_is_ignored() {
        let t = Tree::new();
        t.scan(0, &[("data/a.yml", 1)]);
        let bytes = std::fs::read(t.cache()).unwrap();
        std::fs::write(t.cache(), &bytes[..bytes.len() - 7]).unwrap();
        assert_eq!(t.scan(1, &[]).read_files, 4);
        let other = ScanCache::load(&t.cache(), &["gamma".to_string()]);
        assert!(other.entries.is_empty(), "another set of needles");
    }
}
