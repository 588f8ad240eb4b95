//! Small shared helpers: hashing for stable ids and cache keys, hex checks.

/// 64-bit FNV-1a: stable across runs and platforms, for ids and cache keys (not for security).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv::new()
    }
}

impl Fnv {
    pub fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// FNV-1a of the parts, each followed by a NUL.
pub fn fnv(parts: &[&str]) -> u64 {
    let mut h = Fnv::new();
    for p in parts {
        h.write(p.as_bytes());
        h.write(&[0]);
    }
    h.finish()
}

/// A commit id as people write it: 7 to 40 hexadecimal digits.
pub fn is_commit_hex(s: &str) -> bool {
    (7..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Two ids name the same commit when one is a prefix of the other (case-insensitive).
pub fn same_commit(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 7
        && long
            .as_bytes()
            .get(..short.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(short.as_bytes()))
}

/// The first `n` bytes of `s`, or fewer so as to end on a character boundary (never panics).
pub fn head(s: &str, n: usize) -> &str {
    let mut n = n.min(s.len());
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

/// Maps chunks of `items` on all cores and concatenates the results in order.
pub fn on_all_cores<T: Sync, R: Send>(items: &[T], f: impl Fn(&[T]) -> Vec<R> + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 16);
    if items.len() < 2 || threads == 1 {
        return f(items);
    }
    let chunk = items.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || f(part)))
            .collect();
        // A worker's panic is the caller's.
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// `1 location`, `2 locations`: a count and its noun.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How many items a message lists before it says how many more there are (`--json` gives all).
pub const LISTED: usize = 10;

/// The items joined by `, `: the first [`LISTED`], then `and N more`.
pub fn capped<S: AsRef<str>>(items: &[S]) -> String {
    let shown: Vec<&str> = items.iter().take(LISTED).map(AsRef::as_ref).collect();
    let mut out = shown.join(", ");
    if items.len() > LISTED {
        out.push_str(&format!(" and {} more", items.len() - LISTED));
    }
    out
}

/// ` (did you mean a, b?)` with the names of `known` close to `name`, or nothing.
pub fn suggest(name: &str, known: &[&str]) -> String {
    // Names that contain the given one come first, then the closest by edit distance.
    let mut near: Vec<(bool, usize, &str)> = known
        .iter()
        .map(|k| (!k.contains(name), strsim::levenshtein(name, k), *k))
        .filter(|(far, d, _)| *d <= (name.len() / 3).max(1) || !far)
        .collect();
    near.sort();
    near.dedup();
    if near.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = near.iter().take(5).map(|(_, _, k)| *k).collect();
        format!(" (did you mean {}?)", names.join(", "))
    }
}

/// Rows as aligned columns, two spaces apart, each line starting with `indent`; the last column
/// is not padded and trailing spaces are trimmed. Widths are taken over all rows.
pub fn align(rows: &[Vec<String>], indent: &str) -> Vec<String> {
    let mut widths: Vec<usize> = Vec::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            let n = c.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(n),
                None => widths.push(n),
            }
        }
    }
    rows.iter()
        .map(|r| {
            let mut line = String::from(indent);
            for (i, c) in r.iter().enumerate() {
                line.push_str(c);
                if i + 1 < r.len() {
                    let pad = widths
                        .get(i)
                        .copied()
                        .unwrap_or(0)
                        .saturating_sub(c.chars().count())
                        + 2;
                    line.push_str(&" ".repeat(pad));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// Creates `dir` and its missing parents with mode 0700 (only the owner may enter), and makes an
/// existing `dir` itself 0700 when others could enter it. For the cache folders.
pub fn create_private_dir_all(dir: &std::path::Path) -> crate::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| crate::Error::io(dir, e))?;
    let meta = std::fs::metadata(dir).map_err(|e| crate::Error::io(dir, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| crate::Error::io(dir, e))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` readable and writable by the owner only (mode 0600): a new file is
/// created so, an existing one is narrowed to it before it is written.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> crate::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| crate::Error::io(path, e))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| crate::Error::io(path, e))?;
    file.write_all(bytes).map_err(|e| crate::Error::io(path, e))
}

/// Why [`read_regular`] would not read a file.
#[derive(Debug)]
pub enum ReadRefusal {
    /// There is nothing at the path.
    Missing,
    /// The path is a symbolic link (it is not followed).
    Link,
    /// Not a regular file: a FIFO, a device, a folder, a socket (named).
    NotRegular(&'static str),
    /// Larger than the limit (its size, as `fstat` gives it or as far as it was read).
    TooLarge(u64),
    /// Opening, inspecting or reading failed.
    Io(std::io::Error),
}

impl ReadRefusal {
    /// The library error naming `shown` (how the user knows the file), with a hint for the
    /// refusals. `limit` is the one given to [`read_regular`]; a missing file is an I/O error.
    pub fn into_error(self, shown: &str, limit: u64) -> crate::Error {
        let refused = |what: String| {
            crate::Error::refused(format!("{shown}: {what}; nothing read")).with_hint(format!(
                "{shown} must be a regular file of at most {}",
                human_size(limit)
            ))
        };
        match self {
            ReadRefusal::Missing => crate::Error::io(
                std::path::Path::new(shown),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ),
            ReadRefusal::Link => refused("a symbolic link, which is not followed here".into()),
            ReadRefusal::NotRegular(kind) => refused(format!("{kind}, not a regular file")),
            ReadRefusal::TooLarge(size) => refused(format!(
                "{} bytes, over the limit of {}",
                size,
                human_size(limit)
            )),
            ReadRefusal::Io(e) => crate::Error::io(std::path::Path::new(shown), e),
        }
    }
}

/// A size in the binary unit that divides it (`16 MiB`, `1 GiB`), else in bytes.
pub fn human_size(n: u64) -> String {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    const KIB: u64 = 1 << 10;
    match n {
        n if n >= GIB && n % GIB == 0 => format!("{} GiB", n / GIB),
        n if n >= MIB && n % MIB == 0 => format!("{} MiB", n / MIB),
        n if n >= KIB && n % KIB == 0 => format!("{} KiB", n / KIB),
        n => format!("{n} bytes"),
    }
}

/// Reads the regular file at `path`, of at most `limit` bytes: the last component is never
/// followed if it is a link, and a FIFO, device, socket or folder is refused without waiting
/// on it (`O_NOFOLLOW|O_NONBLOCK`, then `fstat`). The size is checked before reading, and the
/// read stops past the limit (a file that grows meanwhile is refused too).
pub fn read_regular(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, ReadRefusal> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadRefusal::Missing),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(ReadRefusal::Link)
        }
        // A device that answers an open with an error (or a FIFO opened elsewhere): still not
        // a regular file, say so when it can be seen.
        Err(e) => {
            return Err(match std::fs::symlink_metadata(path) {
                Ok(m) if !m.is_file() && !m.is_dir() => ReadRefusal::NotRegular(kind_of(&m)),
                _ => ReadRefusal::Io(e),
            })
        }
    };
    let meta = file.metadata().map_err(ReadRefusal::Io)?;
    if !meta.is_file() {
        return Err(ReadRefusal::NotRegular(kind_of(&meta)));
    }
    if meta.len() > limit {
        return Err(ReadRefusal::TooLarge(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadRefusal::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadRefusal::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// What kind of file that is not a regular one `meta` describes: `a FIFO`, `a device`, ...
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let t = meta.file_type();
    if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Narrows everything under `dir` (and `dir`) that others may read or enter: folders to 0700,
/// files to their owner's bits alone (0600, or 0400 for git's read-only objects). Symbolic links
/// are not followed. For caches written by another program (git).
pub fn make_tree_private(dir: &std::path::Path) -> crate::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| crate::Error::io(dir, e))?;
    let mode = meta.permissions().mode();
    if meta.is_dir() {
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| crate::Error::io(dir, e))?;
        }
        for entry in std::fs::read_dir(dir).map_err(|e| crate::Error::io(dir, e))? {
            let entry = entry.map_err(|e| crate::Error::io(dir, e))?;
            make_tree_private(&entry.path())?;
        }
    } else if meta.is_file() && mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700))
            .map_err(|e| crate::Error::io(dir, e))?;
    }
    Ok(())
}

/// The first seven characters of a commit id: how ids are shown and written in subjects,
/// branch names and 7-character locations.
pub fn short_id(id: &str) -> &str {
    head(id, 7)
}

const DURATION_EXAMPLES: &str = "give a number and a unit, e.g. 90s, 5m, 1h or 500ms";

/// Parses a duration with `humantime`: numbers with a unit, e.g. `90s`, `5m`, `1h30m`, `1h 30m`,
/// `500ms`, `2days`; a bare number is refused (seconds or minutes?).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("empty duration; {DURATION_EXAMPLES}"));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} has no unit; {DURATION_EXAMPLES}"));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration ({e}); {DURATION_EXAMPLES}"))
}

/// A duration as [`parse_duration`] reads it back: `500ms`, `1m 30s`, `1h`.
pub fn human_duration(d: std::time::Duration) -> String {
    if d.is_zero() {
        return "0s".to_string();
    }
    humantime::format_duration(d).to_string()
}

/// A time as events show it: milliseconds with one decimal (`12.3ms`), seconds from 10 s on
/// (`12.35s`).
pub fn elapsed(d: std::time::Duration) -> String {
    if d.as_secs() >= 10 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_names_ten_items_then_how_many_more() {
        assert_eq!(capped(&["a", "b"]), "a, b");
        let many: Vec<String> = (0..12).map(|i| i.to_string()).collect();
        assert_eq!(capped(&many), "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 2 more");
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "12345").unwrap();
        assert_eq!(read_regular(&file, 5).unwrap(), b"12345");
        assert!(matches!(
            read_regular(&file, 4),
            Err(ReadRefusal::TooLarge(5))
        ));
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(matches!(read_regular(&link, 5), Err(ReadRefusal::Link)));
        let fifo = dir.path().join("p");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::RUSR).unwrap();
        assert!(matches!(
            read_regular(&fifo, 5),
            Err(ReadRefusal::NotRegular("a FIFO"))
        ));
        assert!(matches!(
            read_regular(std::path::Path::new("/dev/zero"), 5),
            Err(ReadRefusal::NotRegular("a device"))
        ));
        assert!(matches!(
            read_regular(dir.path(), 5),
            Err(ReadRefusal::NotRegular("a folder"))
        ));
        assert!(matches!(
            read_regular(&dir.path().join("none"), 5),
            Err(ReadRefusal::Missing)
        ));
        let giant = dir.path().join("g");
        std::fs::File::create(&giant)
            .unwrap()
            .set_len(3 << 30)
            .unwrap();
        let e = read_regular(&giant, 1 << 20)
            .unwrap_err()
            .into_error("g", 1 << 20);
        assert_eq!(
            e.to_string(),
            "g: 3221225472 bytes, over the limit of 1 MiB; nothing read"
        );
        assert_eq!(e.hint(), Some("g must be a regular file of at most 1 MiB"));
        assert_eq!(human_size(256 << 20), "256 MiB");
        assert_eq!(human_size(1000), "1000 bytes");
    }

    #[test]
    fn durations_read_back() {
        for text in ["500ms", "90s", "5m", "1h30m", "1h0m5s", "0ms"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&human_duration(d)).unwrap(), d, "{text}");
        }
        assert_eq!(human_duration(std::time::Duration::from_secs(90)), "1m 30s");
    }

    #[test]
    fn elapsed_times() {
        use std::time::Duration;
        assert_eq!(elapsed(Duration::from_micros(12_345)), "12.3ms");
        assert_eq!(elapsed(Duration::from_millis(9_999)), "9999.0ms");
        assert_eq!(elapsed(Duration::from_millis(12_345)), "12.35s");
    }

    #[test]
    fn head_cuts_on_character_boundaries() {
        assert_eq!(short_id("22e638éd"), "22e638");
        assert_eq!(head("22e638éd", 8), "22e638é");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(short_id(""), "");
    }

    #[test]
    fn same_commit_compares_prefixes_of_any_text() {
        assert!(same_commit("22e638d", "22E638DFFF"));
        assert!(!same_commit("22e638d", "22e638éd"));
        assert!(!same_commit("22e638", "22e638d"));
    }
}
