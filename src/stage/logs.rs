//! What an integration logged: the lines of container `int` as `oc logs --timestamps` (or the
//! pod log API with `timestamps=true`) writes them, each `<RFC 3339 time> [date] [LEVEL]
//! [file:func:line] - message`; error lines and tracebacks counted, the first ones kept.

use serde::Serialize;

use super::pods::parse_time;

/// How many error lines a scan keeps.
pub const FIRST_LINES: usize = 3;

/// The longest line kept, in characters.
const LINE_MAX: usize = 240;

/// What a log said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scan {
    /// Lines read (within the window).
    pub lines: u64,
    /// `[ERROR]` and `[CRITICAL]` lines.
    pub errors: u64,
    /// `Traceback (most recent call last):` lines.
    pub tracebacks: u64,
    /// The first error lines and tracebacks' last lines (the exception), one line each, bounded,
    /// secrets redacted.
    pub first: Vec<String>,
    /// The log was cut at the size limit: what came after was not read.
    pub cut: bool,
}

impl Scan {
    /// Error lines and tracebacks together.
    pub fn count(&self) -> u64 {
        self.errors + self.tracebacks
    }

    /// Adds another pod's scan.
    pub fn add(&mut self, other: &Scan) {
        self.lines += other.lines;
        self.errors += other.errors;
        self.tracebacks += other.tracebacks;
        for l in &other.first {
            if self.first.len() < FIRST_LINES {
                self.first.push(l.clone());
            }
        }
        self.cut |= other.cut;
    }
}

/// Scans a log: lines stamped before `since` or after `until` are left out (a line without a
/// time counts). Invalid UTF-8 is read as replacement characters.
pub fn scan(bytes: &[u8], since: Option<i64>, until: Option<i64>) -> Scan {
    let text = String::from_utf8_lossy(bytes);
    let mut s = Scan::default();
    let mut in_traceback = false;
    for raw in text.lines() {
        let (time, line) = split_time(raw);
        if let Some(t) = time {
            if since.is_some_and(|s| t < s) || until.is_some_and(|u| t > u) {
                continue;
            }
        }
        s.lines += 1;
        let line = line.trim_end();
        if line.starts_with("Traceback (most recent call last):") {
            s.tracebacks += 1;
            in_traceback = true;
            continue;
        }
        if in_traceback {
            // The exception line ends a traceback: the first line not indented.
            if line.starts_with(' ') || line.starts_with('\t') || line.is_empty() {
                continue;
            }
            in_traceback = false;
            keep(&mut s.first, line);
            continue;
        }
        if let Some(level) = level(line) {
            if level == "ERROR" || level == "CRITICAL" {
                s.errors += 1;
                keep(&mut s.first, line);
            }
        }
    }
    s
}

fn keep(first: &mut Vec<String>, line: &str) {
    if first.len() >= FIRST_LINES {
        return;
    }
    let mut l: String = line
        .chars()
        .take(LINE_MAX)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.chars().count() > LINE_MAX {
        l.push('…');
    }
    first.push(crate::redact::redact(&l));
}

/// A leading RFC 3339 time (the `--timestamps` one) and the rest of the line.
fn split_time(line: &str) -> (Option<i64>, &str) {
    match line.split_once(' ') {
        Some((head, rest))
            if head.len() >= 20 && head.as_bytes().get(4) == Some(&b'-') && head.contains('T') =>
        {
            match parse_time(head) {
                Some(t) => (Some(t), rest),
                None => (None, line),
            }
        }
        _ => (None, line),
    }
}

/// The level of a `[date] [LEVEL] [where] - message` line.
fn level(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('[')?;
    let (_, rest) = rest.split_once("] [")?;
    let (level, _) = rest.split_once(']')?;
    Some(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
2026-12-08T00:00:01.123456789Z [2026-12-08 00:00:01] [INFO] [run.py:run:10] - starting
2026-12-08T00:00:02Z [2026-12-08 00:00:02] [ERROR] [run.py:run:12] - Error running github https://gitlab.example.org/api?private_token=glpat-abcdefghijklmnopqrst
2026-12-08T00:00:02Z Traceback (most recent call last):
2026-12-08T00:00:02Z   File \"/x.py\", line 1, in <module>
2026-12-08T00:00:02Z ValueError: bad answer
2026-12-08T00:00:03Z [2026-12-08 00:00:03] [WARNING] [run.py:run:14] - slow
2026-12-08T00:00:04Z [2026-12-08 00:00:04] [ERROR] [DRY-RUN] [run.py:run:15] - late
";

    #[test]
    fn errors_and_tracebacks_are_counted_and_the_first_kept() {
        let s = scan(LOG.as_bytes(), None, None);
        assert_eq!((s.lines, s.errors, s.tracebacks), (7, 2, 1));
        assert_eq!(s.count(), 3);
        assert_eq!(
            s.first,
            [
                "[2026-12-08 00:00:02] [ERROR] [run.py:run:12] - Error running github https://gitlab.example.org/api?private_token=[redacted]",
                "ValueError: bad answer",
                "[2026-12-08 00:00:04] [ERROR] [DRY-RUN] [run.py:run:15] - late",
            ]
        );
    }

    #[test]
    fn the_window_leaves_out_lines_stamped_outside_it() {
        let t = |s: &str| parse_time(s).unwrap();
        let s = scan(
            LOG.as_bytes(),
            Some(t("2026-12-08T00:00:03Z")),
            Some(t("2026-12-08T00:00:03Z")),
        );
        assert_eq!((s.lines, s.errors, s.tracebacks), (1, 0, 0));
        let s = scan(b"no time [x] [ERROR] y\n\xff\xfe\n", Some(0), None);
        assert_eq!((s.lines, s.errors), (2, 0));
    }

    proptest::proptest! {
        #[test]
        fn scan_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let s = scan(&bytes, Some(0), Some(1));
            proptest::prop_assert!(s.first.len() <= FIRST_LINES);
        }
    }
}
