//! Reading one file of the walk: at most [`MAX_YAML_BYTES`], searched for the needles, kept
//! when it mentions one; a larger file is searched to its end without being held.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rustix::fs::{Mode, OFlags};

use super::cache::CachedFile;
use super::walk::{Harvest, Pending, ScannedFile, Worker, MAX_YAML_BYTES};
use crate::error::io_message;

impl Worker<'_> {
    pub(super) fn read(&self, p: Pending, buf: &mut Vec<u8>, found: &mut Harvest) {
        let read = read_into(p.dir.fd.as_fd(), p.name(), p.symlink, buf);
        if matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::NotFound && !p.symlink) {
            // Removed since the folder was listed (a link whose file is gone is reported).
            return;
        }
        found.yaml_files += 1;
        found.read_files += 1;
        let (len, file) = match read {
            Ok(n) => n,
            Err(e) => {
                found.unreadable.push((p.rel().0, io_message(&e)));
                return;
            }
        };
        if len > MAX_YAML_BYTES {
            // Not kept, not cached: searched to the end without holding it (a regular file has
            // an end).
            if !file.metadata().is_ok_and(|m| m.is_file()) {
                found
                    .unreadable
                    .push((p.rel().0, "not a regular file".to_string()));
                return;
            }
            // Never read in full to find out whether it mentions a component (a sparse file of
            // gigabytes would take minutes on every run): too large, whatever it holds.
            drop(file);
            found.too_large.push(p.rel().0);
            return;
        }
        let text = &buf[..len];
        let hits = self.search.hits(text);
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
                CachedFile {
                    stamp: st,
                    hit,
                    clean,
                },
            ));
        }
        if hits.is_empty() {
            return;
        }
        let id = match file.metadata() {
            Ok(m) => (
                std::os::unix::fs::MetadataExt::dev(&m),
                std::os::unix::fs::MetadataExt::ino(&m),
            ),
            Err(e) => {
                found.unreadable.push((p.rel().0, io_message(&e)));
                return;
            }
        };
        let (rel, utf8) = p.rel();
        found.files.push(ScannedFile {
            rel,
            non_utf8: !utf8,
            bytes: text.to_vec(),
            hits,
            symlink: p.symlink,
            key: p.key,
            id,
        });
    }
}

/// Reads a whole file (`name` in the open folder `dir`) into `buf` and returns its length.
/// `buf` keeps its (zeroed) length between calls, so no byte is cleared or allocated twice; it
/// grows when a file is larger.
///
/// Reads at most [`MAX_YAML_BYTES`] + 1 bytes (a longer length says the file is too large), and
/// returns the open file too. A name that is not a link (`follow` false) is opened without
/// following one, so a file swapped for a link since the listing is not read through it; a
/// FIFO is never waited on.
fn read_into(
    dir: BorrowedFd<'_>,
    name: &[u8],
    follow: bool,
    buf: &mut Vec<u8>,
) -> std::io::Result<(usize, std::fs::File)> {
    let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::openat(dir, name, flags, Mode::empty())?;
    let mut f = std::fs::File::from(fd);
    let mut filled = 0;
    loop {
        if buf.len() - filled < 8192 {
            let grow = buf.len().max(64 * 1024);
            buf.resize(buf.len() + grow, 0);
        }
        let end = buf.len().min(MAX_YAML_BYTES + 1);
        if filled == end {
            return Ok((filled, f));
        }
        match f.read(&mut buf[filled..end]) {
            Ok(0) => return Ok((filled, f)),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The search for the needles of a walk, in as few passes over a file as keep each pass fast:
///
/// - the shared needles of letters and punctuation (keys, images, repositories) with one
///   leftmost-longest automaton, so that a needle inside a longer one is no mention of its own;
/// - the shared needles made of hex digits alone (a component's current tag) with a searcher of
///   their own: in a file full of commit ids and digests their bytes are everywhere, and in the
///   automaton they make its prefilter stop at almost every digit (on a generated tree ten times
///   the corpus, that tripled the walk's CPU time);
/// - each `alone` needle with its own search.
///
/// [`Search::hits`] gives the needles' indexes as the walk numbers them: the shared ones in
/// their order, then the `alone` ones.
pub(super) struct Search {
    words: Option<(Multi, Vec<usize>)>,
    hex: Option<(Multi, Vec<usize>)>,
    alone: Vec<(memchr::memmem::Finder<'static>, usize)>,
}

/// Several literals at once: the vectorized packed searcher when the machine has it, else an
/// automaton.
enum Multi {
    Packed(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl Search {
    pub(super) fn new(shared: &[String], alone: &[String]) -> Result<Search, String> {
        let is_hex = |n: &String| !n.is_empty() && n.bytes().all(|b| b.is_ascii_hexdigit());
        let (hex, words): (Vec<usize>, Vec<usize>) =
            (0..shared.len()).partition(|&i| is_hex(&shared[i]));
        // The packed searcher (Teddy) is chosen over the automaton's own prefilter, which picks
        // the needles' rarest bytes by their frequency in prose: `_`, `/`, `-` and digits, which
        // are everywhere in these trees.
        let multi = |ix: &[usize]| -> Result<Option<(Multi, Vec<usize>)>, String> {
            if ix.is_empty() {
                return Ok(None);
            }
            let pats: Vec<&str> = ix.iter().map(|&i| shared[i].as_str()).collect();
            let packed = aho_corasick::packed::Config::new()
                .match_kind(aho_corasick::packed::MatchKind::LeftmostLongest)
                .builder()
                .extend(&pats)
                .build();
            let m = match packed {
                Some(p) => Multi::Packed(p),
                None => Multi::Automaton(
                    AhoCorasickBuilder::new()
                        .match_kind(MatchKind::LeftmostLongest)
                        .build(&pats)
                        .map_err(|e| format!("cannot search for {pats:?}: {e}"))?,
                ),
            };
            Ok(Some((m, ix.to_vec())))
        };
        let (words, hex) = (multi(&words)?, multi(&hex)?);
        let alone = alone
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let f = memchr::memmem::Finder::new(n.as_bytes()).into_owned();
                (f, shared.len() + i)
            })
            .collect();
        Ok(Search { words, hex, alone })
    }

    /// The indexes of the needles that occur in `text`, ascending.
    pub(super) fn hits(&self, text: &[u8]) -> Vec<usize> {
        let mut hits = Vec::new();
        for (m, ix) in self.words.iter().chain(&self.hex) {
            let found = |p: usize| ix.get(p).copied();
            match m {
                Multi::Packed(p) => {
                    hits.extend(
                        p.find_iter(text)
                            .filter_map(|m| found(m.pattern().as_usize())),
                    );
                }
                Multi::Automaton(a) => {
                    hits.extend(
                        a.find_iter(text)
                            .filter_map(|m| found(m.pattern().as_usize())),
                    );
                }
            }
        }
        hits.sort_unstable();
        hits.dedup();
        for (f, i) in &self.alone {
            if f.find(text).is_some() {
                hits.push(*i);
            }
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hex_needles_are_searched_apart_and_numbered_in_place() {
        let shared = strings(&[
            "qontract_reconcile_image_tag",
            "abc1234",
            "go_qontract_reconcile_image_tag",
            "quay.io/app-sre/qontract-reconcile",
            "DEF5678",
        ]);
        let s = Search::new(&shared, &strings(&["imageRef"])).unwrap();
        let text = b"go_qontract_reconcile_image_tag: abc1234\nimageRef: quay.io/x\n";
        assert_eq!(s.hits(text), [1, 2, 5]);
        let text = b"qontract_reconcile_image_tag: DEF5678abc1234\n";
        assert_eq!(s.hits(text), [0, 1, 4]);
        assert!(s.hits(b"nothing here: 0123456789abcdef").is_empty());
        assert_eq!(s.hits(b"x: quay.io/app-sre/qontract-reconcile:abc"), [3]);
    }
}
