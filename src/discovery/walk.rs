//! The parallel walk of `data/` and `resources/`: lists folders (through the scan cache),
//! resolves links, and hands files to [`super::read`], which keeps those that mention a needle.

use std::ffi::{CString, OsStr};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use super::cache::{needles_key, CachedFile, Listing, ScanCache, Stamp};
use super::read::Search;
use crate::checkout::{push_name, RealNames, TREES};
use crate::error::{Error, Result};

/// A YAML file that mentions at least one needle.
#[derive(Debug, Clone)]
pub struct ScannedFile {
    /// Repository-relative path with `/` separators: the file's real path (see
    /// [`RealNames`]), a name that is not UTF-8 shown escaped.
    pub rel: String,
    /// The path is not UTF-8: `rel` shows it escaped and cannot name the file to write it.
    pub non_utf8: bool,
    /// The bytes as read.
    pub bytes: Vec<u8>,
    /// Indexes of the needles that occur in the file, ascending.
    pub hits: Vec<usize>,
    /// The path is a symbolic link.
    pub symlink: bool,
    /// The file's key in the scan cache (a hash of `rel`).
    pub key: u64,
    /// Device and inode: a file reached by two paths is one file.
    pub id: (u64, u64),
}

/// The largest YAML file read: a larger one that mentions a needle is an error, one that
/// mentions none is skipped with a warning.
pub const MAX_YAML_BYTES: usize = 16 << 20;

/// What one walk found.
#[derive(Debug, Default)]
pub struct ScanOutcome {
    /// Files that mention a needle, sorted by path.
    pub files: Vec<ScannedFile>,
    /// Files and folders that could not be read: (path, reason).
    pub unreadable: Vec<(String, String)>,
    /// Links to a YAML file or a folder outside the checkout: (path, where it leads). Nothing
    /// was read through them.
    pub outside: Vec<(String, String)>,
    /// Files over [`MAX_YAML_BYTES`], whatever they hold (never read past the limit).
    pub too_large: Vec<String>,
    /// Number of YAML files seen.
    pub yaml_files: usize,
    /// Number of them read from disk (the others were known from the scan cache).
    pub read_files: usize,
    /// The cache for the next walk, with `cache_file`: saved by [`ScanCache::save_if_changed`].
    pub cache: Option<ScanCache>,
}

/// Whether a file name is a YAML file.
pub fn is_yaml_name(name: &[u8]) -> bool {
    name.ends_with(b".yml") || name.ends_with(b".yaml")
}

/// A unit of work: a folder to list (by its name in an open folder, or by its path), or a
/// batch of files to read.
pub(super) enum Work {
    Dir {
        parent: Option<Arc<Folder>>,
        name: CString,
        place: Place,
    },
    Files(Vec<Pending>),
}

/// Where a folder is: its name in output (its real path, see [`RealNames`]), and how to reach
/// it by path.
pub(super) struct Place {
    /// Repository-relative, `/` between names, escaped when not UTF-8 (`""`: the root).
    pub(super) rel: String,
    /// Its path when `root/rel` is not it: a folder outside the trees (its real path), or one
    /// whose path is not UTF-8.
    pub(super) path: Option<PathBuf>,
    /// Outside `data/` and `resources/`, walked because a link leads to it.
    pub(super) outside: bool,
    /// `rel` is the path as it is (UTF-8).
    pub(super) utf8: bool,
}

impl Place {
    /// The name of `name` in this folder in output; and whether it is UTF-8.
    pub(super) fn child_rel(&self, name: &[u8]) -> (String, bool) {
        let mut rel = String::with_capacity(self.rel.len() + 1 + name.len());
        rel.push_str(&self.rel);
        if !rel.is_empty() {
            rel.push('/');
        }
        let utf8 = push_name(&mut rel, name);
        (rel, utf8 && self.utf8)
    }

    /// The path of `name` in this folder, in the checkout whose real path is `root`.
    pub(super) fn child_path(&self, root: &Path, name: &[u8]) -> PathBuf {
        match &self.path {
            Some(p) => p.join(OsStr::from_bytes(name)),
            None => root.join(&self.rel).join(OsStr::from_bytes(name)),
        }
    }
}

/// A listed folder: its open descriptor, its place and the names in its listing, which the
/// files to read point into (so that a file needs no path or name of its own unless it is kept
/// or cannot be read).
pub(super) struct Folder {
    pub(super) fd: OwnedFd,
    pub(super) place: Place,
    pub(super) names: Box<[u8]>,
}

pub(super) struct Pending {
    /// The folder the file is in; its name is `names[at..at + len]` there.
    pub(super) dir: Arc<Folder>,
    pub(super) at: u32,
    pub(super) len: u16,
    pub(super) key: u64,
    pub(super) symlink: bool,
    pub(super) stamp: Option<Stamp>,
    /// A link's name when it is not the link's path (the real path of the YAML file it leads
    /// to), and whether it is UTF-8.
    pub(super) named: Option<Box<(String, bool)>>,
}

impl Pending {
    pub(super) fn name(&self) -> &[u8] {
        let at = self.at as usize;
        self.dir
            .names
            .get(at..at + usize::from(self.len))
            .unwrap_or_default()
    }

    /// Repository-relative path with `/` separators, escaped when not UTF-8; and whether it is
    /// UTF-8.
    pub(super) fn rel(&self) -> (String, bool) {
        match &self.named {
            Some(n) => (n.0.clone(), n.1),
            None => self.dir.place.child_rel(self.name()),
        }
    }
}

/// Files read per work item: small enough that two threads share a large folder.
pub(super) const BATCH: usize = 48;

pub(super) struct Queue {
    pub(super) work: Vec<Work>,
    pub(super) busy: usize,
}

pub(super) struct Worker<'a> {
    /// The checkout's real path, those of its trees, and the names of real paths.
    pub(super) names: &'a RealNames,
    /// Folders outside the trees walked through a link, by real path: each is walked once, and
    /// no folder in one of them is walked again.
    pub(super) linked: &'a Mutex<std::collections::HashSet<PathBuf>>,
    pub(super) search: &'a Search,
    /// Component bits: a cached file clean for all of them is not read.
    pub(super) wanted: u64,
    /// The walk keeps a scan cache: files and folders are stamped. Without one (a first run
    /// with `--no-scan-cache`) no stamp is taken, which saves a system call per file and folder.
    pub(super) stamping: bool,
    pub(super) queue: &'a Mutex<Queue>,
    pub(super) cond: &'a Condvar,
    pub(super) cache: &'a ScanCache,
}

#[derive(Default)]
pub(super) struct Harvest {
    pub(super) files: Vec<ScannedFile>,
    pub(super) unreadable: Vec<(String, String)>,
    pub(super) outside: Vec<(String, String)>,
    pub(super) too_large: Vec<String>,
    pub(super) yaml_files: usize,
    pub(super) read_files: usize,
    /// Files read whose stamp the cache did not know.
    pub(super) refreshed: usize,
    /// Stamps seen in this walk, for the next cache.
    pub(super) stamps: Vec<(u64, CachedFile)>,
    /// Folders seen in this walk, and how many of them were listed anew.
    pub(super) dirs: Vec<(u64, Stamp, Listing)>,
    pub(super) listed: usize,
}

/// Walks `data/` and `resources/` of `root` with one thread per core and returns the YAML files
/// in which any of `needles` occurs. With `cache_file`, files known from an earlier walk to
/// mention no needle are not read again, and the cache is brought up to date.
pub fn scan(root: &Path, needles: &[String], cache_file: Option<&Path>) -> Result<ScanOutcome> {
    scan_in(root, &TREES, needles, cache_file)
}

/// [`scan`] of the folders `tops` alone (some of `data/` and `resources/`); links may still
/// point into either.
pub fn scan_in(
    root: &Path,
    tops: &[&str],
    needles: &[String],
    cache_file: Option<&Path>,
) -> Result<ScanOutcome> {
    let needles = Needles {
        shared: needles.to_vec(),
        alone: Vec::new(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let tops: Vec<&str> = TREES.iter().copied().filter(|t| tops.contains(t)).collect();
    let out = scan_from(root, &tops, &needles, cache_file, 0, now)?;
    if let (Some(c), Some(p)) = (&out.cache, cache_file) {
        c.save_if_changed(p);
    }
    Ok(out)
}

/// What a walk looks for. The `shared` needles are found with one automaton in one pass; each
/// `alone` needle is searched for on its own, because a needle of common letters would spoil the
/// automaton's prefilter for all the others. In [`ScannedFile::hits`] the `alone` needles come
/// after the shared ones.
#[derive(Debug, Clone, Default)]
pub struct Needles {
    pub shared: Vec<String>,
    pub alone: Vec<String>,
}

impl Needles {
    fn all(&self) -> Vec<String> {
        self.shared.iter().chain(&self.alone).cloned().collect()
    }
}

/// [`scan`] for the components of the bits of `wanted`: a cached, unchanged file that holds no
/// location of any of them is not read either. The next cache is returned, not saved: mark the
/// files found clean ([`ScanCache::mark_clean`]), then save it.
pub fn scan_with(
    root: &Path,
    needles: &Needles,
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
    needles: &Needles,
    cache_file: Option<&Path>,
    wanted: u64,
    now: i64,
) -> Result<ScanOutcome> {
    scan_from(root, &TREES, needles, cache_file, wanted, now)
}

/// [`scan_at`] of the folders `tops` (of [`TREES`]) alone.
fn scan_from(
    root: &Path,
    tops: &[&str],
    needles: &Needles,
    cache_file: Option<&Path>,
    wanted: u64,
    now: i64,
) -> Result<ScanOutcome> {
    let every = needles.all();
    let cache = match cache_file {
        Some(p) => ScanCache::load(p, &every),
        None => ScanCache::default(),
    };
    let search = Search::new(&needles.shared, &needles.alone).map_err(Error::input)?;
    let real_root = std::fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
    let names = RealNames::new(&real_root)?;
    let linked = Mutex::new(std::collections::HashSet::new());
    let dirs: Vec<Work> = tops
        .iter()
        .filter(|t| root.join(t).is_dir())
        .filter_map(|t| {
            Some(Work::Dir {
                parent: None,
                name: CString::new(root.join(t).as_os_str().as_bytes()).ok()?,
                place: Place {
                    rel: (*t).to_string(),
                    path: None,
                    outside: false,
                    utf8: true,
                },
            })
        })
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
        names: &names,
        linked: &linked,
        search: &search,
        wanted,
        stamping: cache_file.is_some(),
        queue: &queue,
        cond: &cond,
        cache: &cache,
    };
    let mut all = Harvest::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(|| worker.run())).collect();
        for h in handles {
            // A worker's panic is the caller's (as in `util::on_all_cores`): a walk that lost a
            // worker's files would miss locations.
            let found = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            {
                all.files.extend(found.files);
                all.unreadable.extend(found.unreadable);
                all.outside.extend(found.outside);
                all.too_large.extend(found.too_large);
                all.yaml_files += found.yaml_files;
                all.read_files += found.read_files;
                all.refreshed += found.refreshed;
                all.stamps.extend(found.stamps);
                all.dirs.extend(found.dirs);
                all.listed += found.listed;
            }
        }
    });
    let changed = all.refreshed > 0
        || all.listed > 0
        || all.stamps.len() != cache.entries.len()
        || all.dirs.len() != cache.dirs.len();
    let next = cache_file.map(|_| {
        if !changed {
            // Every file as the cache knew it: the loaded cache is the next one.
            return cache;
        }
        // Only files and folders whose times are at least two seconds old are trusted next time.
        ScanCache {
            needles: needles_key(&every),
            entries: all
                .stamps
                .drain(..)
                .filter(|(_, e)| !e.stamp.fresh(now))
                .collect(),
            dirs: all
                .dirs
                .drain(..)
                .filter(|(_, st, _)| !st.fresh(now))
                .map(|(k, st, l)| (k, (st, l)))
                .collect(),
            blob: cache.blob,
            changed,
        }
    });
    all.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    // A file reached by two paths (hard links, links inside the checkout) is one file: the
    // first path names it.
    let mut ids = std::collections::HashSet::new();
    all.files.retain(|f| ids.insert(f.id));
    all.unreadable.sort();
    all.outside.sort();
    all.too_large.sort();
    Ok(ScanOutcome {
        files: all.files,
        unreadable: all.unreadable,
        outside: all.outside,
        too_large: all.too_large,
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

    fn run(&self) -> Harvest {
        let mut found = Harvest::default();
        let mut buf: Vec<u8> = vec![0; 256 * 1024];
        let mut entries = vec![std::mem::MaybeUninit::<u8>::uninit(); 32 * 1024];
        while let Some(work) = self.next_work() {
            let more = match work {
                Work::Dir {
                    parent,
                    name,
                    place,
                } => self.list(parent.as_deref(), &name, place, &mut entries, &mut found),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::cache::path_key;
    use std::path::PathBuf;

    const LATER: i64 = 60;

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    struct Tree {
        dir: tempfile::TempDir,
        needles: Needles,
    }

    impl Tree {
        fn new() -> Tree {
            let dir = tempfile::tempdir().unwrap();
            let t = Tree {
                dir,
                needles: Needles {
                    shared: vec!["alpha".into(), "beta".into()],
                    alone: vec!["imageRef".into()],
                },
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
    fn a_walk_of_data_alone_finds_what_the_whole_walk_finds_under_data() {
        let t = Tree::new();
        t.write("resources/r.yml", "key: alpha\n");
        t.write("resources/shared/s.yml", "key: beta\n");
        t.write("shared/o.txt", "key: alpha\n");
        let link = |to: &str, at: &str| {
            std::os::unix::fs::symlink(to, t.dir.path().join(at)).unwrap();
        };
        // Into resources/ (read there by the whole walk) and out of both trees.
        link("../resources/shared/s.yml", "data/s.yml");
        link("../shared/o.txt", "data/o.yml");
        let needles = vec!["alpha".to_string(), "beta".to_string()];
        let all = scan(t.dir.path(), &needles, None).unwrap();
        let mut under_data: Vec<&str> = rels(&all)
            .into_iter()
            .filter(|r| r.starts_with("data/"))
            .collect();
        under_data.sort();
        assert!(rels(&all).contains(&"resources/r.yml"));
        let data = scan_in(t.dir.path(), &["data"], &needles, None).unwrap();
        let mut some = rels(&data);
        some.sort();
        assert_eq!(some, under_data);
        assert!(some.contains(&"data/a.yml") && !some.contains(&"resources/r.yml"));
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
    fn a_walk_without_a_cache_finds_what_a_walk_with_one_finds() {
        let t = Tree::new();
        std::os::unix::fs::symlink("../data/a.yml", t.dir.path().join("resources/link.yml"))
            .unwrap();
        t.write("shared/s.txt", "x: beta\n");
        std::os::unix::fs::symlink("../shared/s.txt", t.dir.path().join("resources/s.yml"))
            .unwrap();
        let cold = scan_at(t.dir.path(), &t.needles, None, 0, now() + LATER).unwrap();
        let warm = t.scan(0, &[]);
        assert_eq!(rels(&cold), rels(&warm));
        assert_eq!(
            rels(&cold),
            [
                "data/a.yml",
                "data/b.yml",
                "data/both.yml",
                "resources/s.yml"
            ]
        );
        assert_eq!(
            (cold.yaml_files, cold.read_files),
            (warm.yaml_files, warm.read_files)
        );
        assert!(cold.cache.is_none());
    }

    #[test]
    fn a_needle_inside_a_longer_one_is_no_mention_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(
            dir.path().join("data/go.yml"),
            "go_qontract_reconcile_image_tag: x\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("data/both.yml"),
            "go_qontract_reconcile_image_tag: x\nqontract_reconcile_image_tag: y\n",
        )
        .unwrap();
        let needles = vec![
            "qontract_reconcile_image_tag".to_string(),
            "go_qontract_reconcile_image_tag".to_string(),
        ];
        let out = scan(dir.path(), &needles, None).unwrap();
        let hits: Vec<(&str, Vec<usize>)> = out
            .files
            .iter()
            .map(|f| (f.rel.as_str(), f.hits.clone()))
            .collect();
        assert_eq!(
            hits,
            [("data/both.yml", vec![0, 1]), ("data/go.yml", vec![1])]
        );
    }

    #[test]
    fn an_alone_needle_counts_after_the_shared_ones() {
        let t = Tree::new();
        t.write("data/pin.yml", "imageRef: abc\n");
        t.write("data/all.yml", "imageRef: beta\n");
        let out = t.scan(0, &[]);
        let hits = |rel: &str| {
            out.files
                .iter()
                .find(|f| f.rel == rel)
                .unwrap()
                .hits
                .clone()
        };
        assert_eq!(hits("data/pin.yml"), [2]);
        assert_eq!(hits("data/all.yml"), [1, 2]);
        // Known from the cache as a hit, it is read again.
        assert!(rels(&t.scan(0, &[])).contains(&"data/pin.yml"));
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
    fn new_removed_and_moved_files_and_folders_are_seen() {
        let t = Tree::new();
        t.scan(0, &[("data/a.yml", 0b01)]);
        let listed = t.scan(0b01, &[]);
        assert_eq!(rels(&listed), ["data/b.yml", "data/both.yml"]);
        t.write("data/new.yml", "x: beta\n");
        t.write("data/sub/deeper/d.yaml", "x: alpha\n");
        std::fs::remove_file(t.dir.path().join("data/b.yml")).unwrap();
        std::fs::rename(
            t.dir.path().join("data/both.yml"),
            t.dir.path().join("resources/x/both.yml"),
        )
        .unwrap();
        let after = t.scan(0b01, &[]);
        assert_eq!(
            rels(&after),
            [
                "data/new.yml",
                "data/sub/deeper/d.yaml",
                "resources/x/both.yml"
            ]
        );
        // A link to a file the walk reaches anyway is no second file; a link to a YAML file
        // elsewhere in the checkout is read through the link.
        std::os::unix::fs::symlink("../data/new.yml", t.dir.path().join("resources/link.yml"))
            .unwrap();
        t.write("shared/s.txt", "x: beta\n");
        std::os::unix::fs::symlink("../shared/s.txt", t.dir.path().join("resources/s.yml"))
            .unwrap();
        let linked = t.scan(0b01, &[]);
        assert_eq!(
            rels(&linked),
            [
                "data/new.yml",
                "data/sub/deeper/d.yaml",
                "resources/s.yml",
                "resources/x/both.yml"
            ]
        );
        let link = linked
            .files
            .iter()
            .find(|f| f.rel == "resources/s.yml")
            .unwrap();
        assert!(link.symlink);
        assert_eq!(link.bytes, b"x: beta\n");
    }

    #[test]
    fn folder_links_inside_the_checkout_are_walked_once() {
        let t = Tree::new();
        t.write("shared/conf/c.yml", "x: alpha\n");
        let link = |to: &str, at: &str| {
            std::os::unix::fs::symlink(to, t.dir.path().join(at)).unwrap();
        };
        link("../shared/conf", "data/conf");
        // A second way to the same folder, a loop, and a link into a tree walked anyway.
        link("../../shared/conf", "resources/x/conf-again");
        link("..", "t-loop");
        std::fs::rename(
            t.dir.path().join("t-loop"),
            t.dir.path().join("shared/conf/up"),
        )
        .unwrap();
        link("../data", "resources/data-again");
        let out = t.scan(0, &[]);
        // Each file once, under its real path, whichever link the walk took first.
        assert_eq!(
            rels(&out),
            [
                "data/a.yml",
                "data/b.yml",
                "data/both.yml",
                "shared/conf/c.yml"
            ]
        );
        assert!(out.outside.is_empty() && out.unreadable.is_empty());
        assert_eq!(rels(&t.scan(0, &[])), rels(&out), "the same from the cache");
    }

    #[test]
    fn a_link_to_an_ancestor_walks_nothing_twice_and_names_files_by_their_real_path() {
        let t = Tree::new();
        t.write("docs/d.yml", "x: alpha\n");
        let link = |to: &str, at: &str| {
            std::os::unix::fs::symlink(to, t.dir.path().join(at)).unwrap();
        };
        link("..", "data/loop");
        link("../..", "resources/x/up");
        link("../docs", "data/docs");
        link("../../docs/d.yml", "resources/x/d.yml");
        std::fs::create_dir_all(t.dir.path().join(".git/x")).unwrap();
        t.write(".git/x/g.yml", "x: alpha\n");
        let want = ["data/a.yml", "data/b.yml", "data/both.yml", "docs/d.yml"];
        let cold = scan_at(t.dir.path(), &t.needles, None, 0, now() + LATER).unwrap();
        assert_eq!(rels(&cold), want);
        assert_eq!(rels(&t.scan(0, &[])), want);
        assert_eq!(rels(&t.scan(0, &[])), want, "warm");
        // The trees themselves may be links to folders of the checkout: still named by them.
        let elsewhere = t.dir.path().join("elsewhere");
        std::fs::rename(t.dir.path().join("data"), &elsewhere).unwrap();
        std::os::unix::fs::symlink("elsewhere", t.dir.path().join("data")).unwrap();
        let out = scan_at(t.dir.path(), &t.needles, None, 0, now() + LATER).unwrap();
        assert_eq!(rels(&out), want);
    }

    #[test]
    fn a_name_that_is_not_utf8_is_shown_escaped_and_marked() {
        use std::os::unix::ffi::OsStrExt as _;
        let t = Tree::new();
        let raw = |rel: &[u8]| t.dir.path().join(std::ffi::OsStr::from_bytes(rel));
        std::fs::write(raw(b"data/tag\xff.yml"), "x: alpha\n").unwrap();
        std::fs::write(raw("data/tag\u{fffd}.yml".as_bytes()), "x: alpha\n").unwrap();
        std::fs::create_dir_all(raw(b"resources/d\xfe")).unwrap();
        std::fs::write(raw(b"resources/d\xfe/in.yml"), "x: beta\n").unwrap();
        for out in [
            scan_at(t.dir.path(), &t.needles, None, 0, now() + LATER).unwrap(),
            t.scan(0, &[]),
        ] {
            let names: Vec<(&str, bool)> = out
                .files
                .iter()
                .map(|f| (f.rel.as_str(), f.non_utf8))
                .collect();
            assert_eq!(
                names,
                [
                    ("data/a.yml", false),
                    ("data/b.yml", false),
                    ("data/both.yml", false),
                    ("data/tag\\xff.yml", true),
                    ("data/tag\u{fffd}.yml", false),
                    ("resources/d\\xfe/in.yml", true),
                ]
            );
        }
    }

    #[test]
    fn links_out_of_the_checkout_are_reported_and_not_read() {
        let t = Tree::new();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("o.yml"), "x: alpha\n").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("o.yml"),
            t.dir.path().join("data/o.yml"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), t.dir.path().join("data/dir")).unwrap();
        std::os::unix::fs::symlink("/proc/self/pagemap", t.dir.path().join("data/pm.yml")).unwrap();
        let out = t.scan(0, &[]);
        let mut paths: Vec<&str> = out.outside.iter().map(|(p, _)| p.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(paths, ["data/dir", "data/o.yml", "data/pm.yml"]);
        assert_eq!(rels(&out), ["data/a.yml", "data/b.yml", "data/both.yml"]);
        // A tree that leads out of the checkout is refused whole.
        std::fs::remove_dir_all(t.dir.path().join("resources")).unwrap();
        std::os::unix::fs::symlink(outside.path(), t.dir.path().join("resources")).unwrap();
        let err = scan_at(t.dir.path(), &t.needles, None, 0, now())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("resources: a link to") && err.contains("outside the checkout"));
    }

    #[test]
    fn hard_links_are_one_file() {
        let t = Tree::new();
        std::fs::hard_link(
            t.dir.path().join("data/b.yml"),
            t.dir.path().join("resources/b-again.yml"),
        )
        .unwrap();
        assert_eq!(
            rels(&t.scan(0, &[])),
            ["data/a.yml", "data/b.yml", "data/both.yml"]
        );
    }

    #[test]
    fn files_over_the_limit_are_too_large_whatever_they_hold_and_not_read_on() {
        let t = Tree::new();
        let mut big = vec![b'#'; MAX_YAML_BYTES + 100];
        big.extend_from_slice(b"\nx: al");
        t.write("data/big-quiet.yml", std::str::from_utf8(&big).unwrap());
        big.extend_from_slice(b"pha\n");
        t.write("data/big-loud.yml", std::str::from_utf8(&big).unwrap());
        // A sparse file of 20 GB: its size alone says it is too large.
        let sparse = std::fs::File::create(t.dir.path().join("data/sparse.yml")).unwrap();
        sparse.set_len(20 << 30).unwrap();
        let out = t.scan(0, &[]);
        assert_eq!(
            out.too_large,
            ["data/big-loud.yml", "data/big-quiet.yml", "data/sparse.yml"]
        );
        assert_eq!(rels(&out), ["data/a.yml", "data/b.yml", "data/both.yml"]);
    }

    #[test]
    fn an_unreadable_folder_is_reported_and_the_walk_goes_on() {
        use std::os::unix::fs::PermissionsExt as _;
        let t = Tree::new();
        let locked = t.dir.path().join("resources/x");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let privileged = std::fs::read_dir(&locked).is_ok();
        let out = t.scan(0, &[]);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A privileged user may read anything: then the folder is simply listed.
        if privileged {
            assert!(out.unreadable.is_empty());
        } else {
            assert_eq!(out.unreadable.len(), 1, "{:?}", out.unreadable);
            assert_eq!(out.unreadable[0].0, "resources/x");
        }
        assert_eq!(rels(&out), ["data/a.yml", "data/b.yml", "data/both.yml"]);
    }

    #[test]
    fn a_tree_that_is_a_link_to_a_folder_is_walked() {
        let t = Tree::new();
        let elsewhere = t.dir.path().join("elsewhere");
        std::fs::rename(t.dir.path().join("data"), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, t.dir.path().join("data")).unwrap();
        assert_eq!(
            rels(&t.scan(0, &[])),
            ["data/a.yml", "data/b.yml", "data/both.yml"]
        );
    }

    #[test]
    fn the_cache_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let t = Tree::new();
        let cache = t.cache();
        scan(t.dir.path(), &t.needles.shared, Some(&cache)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&cache), 0o600);
        assert_eq!(mode(cache.parent().unwrap()), 0o700);
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
    fn any_flipped_bit_changes_the_checksum() {
        let bytes: Vec<u8> = (0..203u32).map(|i| (i * 37 % 251) as u8).collect();
        let sum = super::super::cache::checksum(&bytes);
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert_ne!(super::super::cache::checksum(&b), sum, "bit {bit}");
        }
        for len in 0..bytes.len() {
            assert_ne!(super::super::cache::checksum(&bytes[..len]), sum, "{len}");
        }
    }

    #[test]
    fn a_cache_that_does_not_check_is_discarded_with_a_note_naming_it() {
        let t = Tree::new();
        t.scan(0, &[("data/a.yml", 1)]);
        let good = std::fs::read(t.cache()).unwrap();
        let load = |bytes: &[u8]| {
            std::fs::write(t.cache(), bytes).unwrap();
            let every = t.needles.all();
            let (c, note) = ScanCache::load_checked(&t.cache(), &every);
            (c.entries.len(), note)
        };
        let (n, note) = load(&good);
        assert!(n > 0 && note.is_none(), "{note:?}");
        let mut flipped = good.clone();
        flipped[good.len() / 2] ^= 0x10;
        let mut version = good.clone();
        version[9] = b'9';
        let mut old = good.clone();
        old[6] = b'6';
        let cases: [(&[u8], &str); 5] = [
            (&flipped, "is damaged (its checksum does not match)"),
            (
                &good[..good.len() - 3],
                "is damaged (its checksum does not match)",
            ),
            (&old, "is of another format"),
            (b"garbage", "is not a scan cache"),
            (&version, "is damaged (its checksum does not match)"),
        ];
        for (bytes, why) in cases {
            let (n, note) = load(bytes);
            assert_eq!(n, 0);
            let note = note.unwrap();
            assert!(
                note.starts_with(&format!("the scan cache {}", t.cache().display()))
                    && note.contains(why),
                "{note}"
            );
        }
        // Another version, with a checksum that matches: named.
        let mut other = version.clone();
        let body = other.len() - 8;
        let sum = super::super::cache::checksum(&other[..body]);
        other[body..].copy_from_slice(&sum.to_le_bytes());
        let note = load(&other).1.unwrap();
        assert!(note.contains("was written by qr-promote 9.1.0"), "{note}");
        // The walk after a damaged cache reads every file.
        std::fs::write(t.cache(), &flipped).unwrap();
        assert_eq!(t.scan(1, &[]).read_files, 4);
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
