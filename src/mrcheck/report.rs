//! One report of the merge-request check read line by line: the log lines of qontract-reconcile
//! (`[date] [LEVEL] [DRY-RUN] [file:func:line] - message`, the `[DRY-RUN] ` only in newer
//! versions), the actions it logs as Python lists, its errors and tracebacks, and the image
//! pull lines docker prints before the run.

use std::borrow::Cow;

use serde::Serialize;

/// How many error and message lines a report keeps to show (the counts are whole).
pub const FIRST_LINES: usize = 5;

/// The longest line kept to show, in characters.
const SHOWN_LINE: usize = 300;

/// An action a run would take, as it logs it: `['apply', cluster, namespace, kind, name]`,
/// terraform's `[action, account, resource type, name, fields]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// The first element (`apply`, `create`, `delete`, `update`, ...).
    pub kind: String,
    /// The elements after it, as text.
    pub fields: Vec<String>,
}

impl Action {
    /// What it acts on first: the cluster or the account (the second element).
    pub fn target(&self) -> &str {
        self.fields.first().map_or("", String::as_str)
    }
}

/// How many actions of one kind on one target a run printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionCount {
    pub kind: String,
    pub target: String,
    pub count: usize,
}

/// What one report says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Parsed {
    /// Its actions counted by kind and target, in the order first seen.
    pub counts: Vec<ActionCount>,
    /// How many actions in all.
    pub actions: usize,
    /// Every action whole, in order, for a run whose actions are checked one by one (the
    /// integrations-manager's plan); empty for the others.
    pub kept: Vec<Action>,
    /// Output that is neither an action, a pull line, nor an error: how many lines.
    pub messages: usize,
    /// The first of those lines.
    pub first_messages: Vec<String>,
    /// `[ERROR]`/`[CRITICAL]` lines and tracebacks: how many.
    pub errors: usize,
    /// The first error lines (a traceback shows as its first line and its exception).
    pub first_errors: Vec<String>,
    /// The images the pull lines name (`repository:tag`, or `:tag` when only the tag is named).
    pub pulled: Vec<String>,
    /// The shards a sharded run says it runs (`run <integration> for shards [...]`).
    pub shards: Vec<String>,
}

impl Parsed {
    /// Nothing but pull lines (or nothing at all).
    pub fn is_clean(&self) -> bool {
        self.actions == 0 && self.messages == 0 && self.errors == 0
    }

    /// The targets the actions act on.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.counts.iter().map(|c| c.target.as_str())
    }

    fn count(&mut self, kind: &str, target: &str) {
        self.actions += 1;
        match self
            .counts
            .iter_mut()
            .find(|c| c.kind == kind && c.target == target)
        {
            Some(c) => c.count += 1,
            None => self.counts.push(ActionCount {
                kind: kind.to_string(),
                target: target.to_string(),
                count: 1,
            }),
        }
    }

    fn message(&mut self, line: &str) {
        self.messages += 1;
        if self.first_messages.len() < FIRST_LINES {
            self.first_messages.push(shown_line(line));
        }
    }

    fn error(&mut self, line: &str) {
        self.errors += 1;
        if self.first_errors.len() < FIRST_LINES {
            self.first_errors.push(shown_line(line));
        }
    }
}

/// A line fit to show: no control characters, at most [`SHOWN_LINE`] characters.
pub fn shown_line(line: &str) -> String {
    let mut s: String = line
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(SHOWN_LINE)
        .collect();
    if line.trim().chars().count() > SHOWN_LINE {
        s.push_str("...");
    }
    s
}

/// One log line of qontract-reconcile, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine<'a> {
    pub level: &'a str,
    pub dry_run: bool,
    /// `file.py:function:line`.
    pub place: &'a str,
    pub message: &'a str,
}

/// Splits `[YYYY-MM-DD HH:MM:SS] [LEVEL] [DRY-RUN] [file:func:line] - message`; `None` for any
/// other line. Byte by byte: every line of every report passes here.
pub fn log_line(line: &str) -> Option<LogLine<'_>> {
    let b = line.as_bytes();
    if b.len() < 22 || b[0] != b'[' || b[20] != b']' || b[21] != b' ' {
        return None;
    }
    // `YYYY-MM-DD HH:MM:SS` at 1..20: the separators, then the digits.
    let d = &b[1..20];
    if d[4] != b'-' || d[7] != b'-' || d[10] != b' ' || d[13] != b':' || d[16] != b':' {
        return None;
    }
    const DIGITS: [usize; 14] = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    if !DIGITS.iter().all(|&i| d[i].is_ascii_digit()) {
        return None;
    }
    let rest = &line[22..];
    if !rest.starts_with('[') {
        return None;
    }
    let close = memchr::memchr(b']', rest.as_bytes())?;
    let level = &rest[1..close];
    if level.is_empty()
        || !level.bytes().all(|c| c.is_ascii_alphabetic())
        || rest.as_bytes().get(close + 1) != Some(&b' ')
    {
        return None;
    }
    let mut rest = &rest[close + 2..];
    let dry_run = rest.starts_with("[DRY-RUN] ");
    if dry_run {
        rest = &rest["[DRY-RUN] ".len()..];
    }
    if !rest.starts_with('[') {
        return None;
    }
    let close = memchr::memchr(b']', rest.as_bytes())?;
    let place = &rest[1..close];
    let after = &rest[close + 1..];
    let message = match after.strip_prefix(" - ") {
        Some(m) => m,
        // An empty message leaves no space after the dash.
        None if after == " -" => "",
        None => return None,
    };
    if place.bytes().filter(|&c| c == b':').count() != 2 {
        return None;
    }
    Some(LogLine {
        level,
        dry_run,
        place,
        message,
    })
}

/// The image a docker pull line names, if it is one: `Unable to find image 'IMAGE' locally`,
/// `TAG: Pulling from REPO`, `Status: Downloaded newer image for IMAGE`, `Status: Image is up
/// to date for IMAGE`; `Some(None)` for the other lines of a pull (layers, digest).
pub fn pull_line(line: &str) -> Option<Option<String>> {
    let l = line.trim();
    if let Some(rest) = l.strip_prefix("Unable to find image '") {
        return Some(rest.strip_suffix("' locally").map(str::to_string));
    }
    if let Some(rest) = l
        .strip_prefix("Status: Downloaded newer image for ")
        .or_else(|| l.strip_prefix("Status: Image is up to date for "))
    {
        return Some(Some(rest.trim().to_string()));
    }
    if l.starts_with("Digest: sha256:") {
        return Some(None);
    }
    let (head, tail) = l.split_once(": ")?;
    if head.is_empty() || head.contains(char::is_whitespace) {
        return None;
    }
    if let Some(repo) = tail.strip_prefix("Pulling from ") {
        return Some(Some(format!("{}:{head}", repo.trim())));
    }
    let layer = head.len() >= 12 && head.bytes().all(|c| c.is_ascii_hexdigit());
    let layer_states = [
        "Pulling fs layer",
        "Waiting",
        "Verifying Checksum",
        "Download complete",
        "Pull complete",
        "Already exists",
        "Downloading",
        "Extracting",
    ];
    (layer && layer_states.iter().any(|s| tail.starts_with(s))).then_some(None)
}

/// Reads a Python list of literals logged as a message (`['apply', 'c', 'ns', 'Kind', 'n']`);
/// `None` when the message is not one whose first element is a word.
pub fn action(message: &str) -> Option<Action> {
    let mut items = Vec::new();
    action_items(message, |item| items.push(item.into_owned()))?;
    let mut it = items.into_iter();
    Some(Action {
        kind: it.next()?,
        fields: it.collect(),
    })
}

/// Walks the elements of an action's list (`each` sees them in order, borrowed from the
/// message where no escape changes them); `None` when the message is not an action: not a
/// list that closes, or its first element is not a word.
fn action_items<'a>(message: &'a str, mut each: impl FnMut(Cow<'a, str>)) -> Option<()> {
    let m = message.trim();
    let inner = m.strip_prefix('[')?.strip_suffix(']')?;
    let mut first = true;
    let mut word = true;
    python_items(inner, |item| {
        if first {
            first = false;
            word = !item.is_empty() && item.bytes().all(|c| c.is_ascii_lowercase() || c == b'_');
        }
        if word {
            each(item);
        }
    })?;
    (!first && word).then_some(())
}

/// The elements of a Python list's inside, strings unquoted and anything else as written;
/// `None` when the first element is not a quoted string or quotes do not close.
fn python_items<'a>(inner: &'a str, mut each: impl FnMut(Cow<'a, str>)) -> Option<()> {
    let b = inner.as_bytes();
    let len = b.len();
    let mut count = 0usize;
    let mut i = 0usize;
    let skip_space = |mut i: usize| {
        while i < len && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_space(i);
        if i >= len {
            break;
        }
        let quote = b[i];
        if quote == b'\'' || quote == b'"' {
            // A string: borrowed up to its first escape, then the slices between escapes.
            let mut s = String::new();
            let mut from = i + 1;
            loop {
                let at = from + memchr::memchr2(quote, b'\\', &b[from..])?;
                if b[at] == quote && s.is_empty() && from == i + 1 {
                    each(Cow::Borrowed(&inner[from..at]));
                    i = at + 1;
                    break;
                }
                s.push_str(&inner[from..at]);
                if b[at] == quote {
                    each(Cow::Owned(std::mem::take(&mut s)));
                    i = at + 1;
                    break;
                }
                let escaped = inner[at + 1..].chars().next()?;
                s.push(match escaped {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
                from = at + 1 + escaped.len_utf8();
            }
        } else {
            if count == 0 {
                return None;
            }
            // A number, None, a nested list or dict: as written, to the comma at its depth.
            let start = i;
            let mut depth = 0i32;
            let mut quoted: Option<u8> = None;
            while i < len {
                let c = b[i];
                match quoted {
                    Some(_) if c == b'\\' => i += 1,
                    Some(q) if c == q => quoted = None,
                    Some(_) => {}
                    None => match c {
                        b',' if depth == 0 => break,
                        b'\'' | b'"' => quoted = Some(c),
                        b'[' | b'{' | b'(' => depth += 1,
                        b']' | b'}' | b')' => depth -= 1,
                        _ => {}
                    },
                }
                i += 1;
            }
            i = i.min(len);
            each(Cow::Borrowed(inner.get(start..i)?.trim()));
        }
        count += 1;
        i = skip_space(i);
        match b.get(i) {
            Some(b',') => i += 1,
            None => break,
            Some(_) => return None,
        }
    }
    Some(())
}

/// The shards of `run <integration> for shards [a, b]`.
fn shards_line(message: &str) -> Option<Vec<String>> {
    let rest = message.trim().strip_prefix("run ")?;
    let (_, list) = rest.split_once(" for shards ")?;
    let inner = list.trim().strip_prefix('[')?.strip_suffix(']')?;
    Some(
        inner
            .split(',')
            .map(|s| s.trim().trim_matches(['\'', '"']).to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

/// Reads a report's text; `keep` keeps every action whole (see [`Parsed::kept`]).
pub fn parse(text: &str, keep: bool) -> Parsed {
    let mut out = Parsed::default();
    // The first line of a traceback being read, until its exception line.
    let mut traceback: Option<String> = None;
    let bytes = text.as_bytes();
    let mut start = 0usize;
    let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
    for end in ends {
        let raw = &text[start..end];
        start = end + 1;
        let line = raw.trim_end_matches('\r');
        if let Some(first) = &traceback {
            if line.starts_with(' ') || line.starts_with('\t') || line.trim().is_empty() {
                continue;
            }
            if line.starts_with("During handling") || line.starts_with("The above exception") {
                continue;
            }
            if line.starts_with("Traceback (most recent call last)") {
                continue;
            }
            // The exception line ends the traceback: one error, shown as it.
            let first = first.clone();
            traceback = None;
            out.error(&format!("{first} {}", line.trim()));
            if log_line(line).is_none() {
                continue;
            }
        }
        if let Some(l) = log_line(line) {
            match l.level {
                "DEBUG" => {}
                "ERROR" | "CRITICAL" | "FATAL" => out.error(l.message),
                _ => {
                    let mut items: Vec<Cow<'_, str>> = Vec::new();
                    let (mut kind, mut target) = (None, None);
                    let is_action = action_items(l.message, |item| {
                        if keep {
                            items.push(item.clone());
                        }
                        if kind.is_none() {
                            kind = Some(item);
                        } else if target.is_none() {
                            target = Some(item);
                        }
                    })
                    .is_some();
                    if is_action {
                        let kind = kind.unwrap_or_default();
                        out.count(&kind, target.as_deref().unwrap_or(""));
                        let mut it = items.into_iter().map(Cow::into_owned);
                        if let Some(kind) = it.next() {
                            out.kept.push(Action {
                                kind,
                                fields: it.collect(),
                            });
                        }
                    } else if let Some(s) = shards_line(l.message) {
                        out.shards.extend(s);
                    } else {
                        out.message(l.message);
                    }
                }
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        if line
            .trim_start()
            .starts_with("Traceback (most recent call last)")
        {
            traceback = Some("Traceback:".to_string());
            continue;
        }
        match pull_line(line) {
            Some(Some(image)) => {
                if !out.pulled.contains(&image) {
                    out.pulled.push(image);
                }
            }
            Some(None) => {}
            None => {
                if line.contains("INTEGRATION FAILED") {
                    out.error(line);
                } else {
                    out.message(line);
                }
            }
        }
    }
    if let Some(first) = traceback {
        out.error(&format!("{first} (cut before its exception)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_of_both_formats_split() {
        let old = "[2022-09-26 11:28:50] [INFO] [openshift_base.py:apply:317] - ['apply', 'c', 'ns', 'Deployment', 'n']";
        let new = "[2023-08-01 10:00:00] [WARNING] [DRY-RUN] [a.py:b:1] - hello";
        let l = log_line(old).unwrap();
        assert_eq!(
            (l.level, l.dry_run, l.place),
            ("INFO", false, "openshift_base.py:apply:317")
        );
        let l = log_line(new).unwrap();
        assert_eq!((l.level, l.dry_run, l.message), ("WARNING", true, "hello"));
        assert!(log_line("[2022-09-26 11:28:50] INFO hello").is_none());
        assert!(log_line("[short]").is_none());
    }

    #[test]
    fn python_lists_become_actions() {
        let a = action("['apply', 'appsrep05ue1', 'ns', 'Deployment', 'qontract-reconcile-x']")
            .unwrap();
        assert_eq!(a.kind, "apply");
        assert_eq!(a.target(), "appsrep05ue1");
        assert_eq!(a.fields.len(), 4);
        let t = action("['update', 'app-sre', 'aws_s3_bucket', \"b'q\", ['tags', 'x']]").unwrap();
        assert_eq!(
            t.fields,
            vec!["app-sre", "aws_s3_bucket", "b'q", "['tags', 'x']"]
        );
        assert!(action("[1, 2]").is_none());
        assert!(action("['Not', 'a verb']").is_none());
        assert!(action("['open").is_none());
        assert!(action("plain text").is_none());
    }

    #[test]
    fn pull_lines_name_their_image() {
        assert_eq!(
            pull_line("Unable to find image 'quay.io/app-sre/qontract-reconcile:f929a38' locally"),
            Some(Some("quay.io/app-sre/qontract-reconcile:f929a38".into()))
        );
        assert_eq!(
            pull_line("f929a38: Pulling from app-sre/qontract-reconcile"),
            Some(Some("app-sre/qontract-reconcile:f929a38".into()))
        );
        assert_eq!(pull_line("0a1b2c3d4e5f: Pull complete"), Some(None));
        assert_eq!(pull_line("note: something"), None);
    }

    proptest::proptest! {
        #[test]
        fn no_line_makes_the_reader_panic(text in "(\\[2026-01-02 10:00:00\\] \\[INFO\\] (\\[DRY-RUN\\] )?\\[a:b:1\\] - )?\\[?('|\"|\\\\|,|\\[|\\]|[a-zé ]){0,40}\\n?"){
            let p = parse(&text, true);
            proptest::prop_assert!(p.first_errors.len() <= FIRST_LINES);
            let _ = action(&text);
        }
    }

    #[test]
    fn escapes_and_nesting_in_actions() {
        let a = action(r#"['apply', 'c\'s', "d\"q", {'k': [1, ','], 'x': 'y'}, None]"#).unwrap();
        assert_eq!(
            a.fields,
            ["c's", "d\"q", "{'k': [1, ','], 'x': 'y'}", "None"]
        );
        assert!(action("['a', 'unclosed\\").is_none());
        assert!(action("['a\\").is_none());
    }

    #[test]
    fn a_traceback_is_one_error_with_its_exception() {
        let text = "Traceback (most recent call last):\n  File \"x.py\", line 1\n    boom()\nValueError: bad\n";
        let p = parse(text, true);
        assert_eq!(p.errors, 1);
        assert_eq!(p.first_errors, vec!["Traceback: ValueError: bad"]);
    }
}
