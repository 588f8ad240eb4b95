//! Reading one file of the walk: at most [`MAX_YAML_BYTES`], searched for the needles, kept
//! when it mentions one; a larger file is searched to its end without being held.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};

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
                found.unreadable.push((p.rel(), io_message(&e)));
                return;
            }
        };
        if len > MAX_YAML_BYTES {
            // Not kept, not cached: searched to the end without holding it (a regular file has
            // an end).
            if !file.metadata().is_ok_and(|m| m.is_file()) {
                found
                    .unreadable
                    .push((p.rel(), "not a regular file".to_string()));
                return;
            }
            match self.mentions_past(&buf[..len], file) {
                Ok(true) => found.too_large.push(p.rel()),
                Ok(false) => found.large_skipped.push(p.rel()),
                Err(e) => found.unreadable.push((p.rel(), io_message(&e))),
            }
            return;
        }
        let text = &buf[..len];
        let mut hits: Vec<usize> = self
            .matcher
            .find_iter(text)
            .map(|m| m.pattern().as_usize())
            .collect();
        hits.sort_unstable();
        hits.dedup();
        for (i, f) in self.alone.iter().enumerate() {
            if f.find(text).is_some() {
                hits.push(self.shared + i);
            }
        }
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
                found.unreadable.push((p.rel(), io_message(&e)));
                return;
            }
        };
        found.files.push(ScannedFile {
            rel: p.rel(),
            bytes: text.to_vec(),
            hits,
            symlink: p.symlink,
            key: p.key,
            id,
        });
    }

    /// Whether a file whose first bytes are `head` mentions a needle anywhere, reading the rest
    /// from `file` in pieces that overlap by the longest needle.
    fn mentions_past(&self, head: &[u8], mut file: std::fs::File) -> std::io::Result<bool> {
        let found =
            |b: &[u8]| self.matcher.is_match(b) || self.alone.iter().any(|f| f.find(b).is_some());
        if found(head) {
            return Ok(true);
        }
        let keep = self.longest_needle.saturating_sub(1).min(head.len());
        let mut window = head[head.len() - keep..].to_vec();
        let mut piece = vec![0u8; 1 << 20];
        loop {
            let n = match file.read(&mut piece) {
                Ok(0) => return Ok(false),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            window.extend_from_slice(&piece[..n]);
            if found(&window) {
                return Ok(true);
            }
            let cut = window.len().saturating_sub(keep);
            window.drain(..cut);
        }
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
