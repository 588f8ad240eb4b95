//! One report of the merge-request check read line by line: the log lines of qontract-reconcile
//! (`[date] [LEVEL] [DRY-RUN] [file:func:line] - message`, the `[DRY-RUN] ` only in newer
//! versions), the actions it logs as Python lists, its errors and tracebacks, and the image
//! pull lines docker prints before the run.

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

/// What one report says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Parsed {
    /// Every action, in order.
    pub actions: Vec<Action>,
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
        self.actions.is_empty() && self.messages == 0 && self.errors == 0
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
/// other line.
pub fn log_line(line: &str) -> Option<LogLine<'_>> {
    let b = line.as_bytes();
    if b.len() < 22 || b[0] != b'[' || b[20] != b']' || b[21] != b' ' {
        return None;
    }
    let date = &line[1..20];
    if !date.bytes().enumerate().all(|(i, c)| {
        matches!((i, c), (4 | 7, b'-') | (10, b' ') | (13 | 16, b':')) || c.is_ascii_digit()
    }) {
        return None;
    }
    let rest = line[22..].strip_prefix('[')?;
    let (level, rest) = rest.split_once("] ")?;
    if level.is_empty() || !level.bytes().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let (dry_run, rest) = match rest.strip_prefix("[DRY-RUN] ") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.strip_prefix('[')?;
    let (place, message) = rest.split_once("] - ").or_else(|| {
        // An empty message leaves no space after the dash.
        rest.strip_suffix("] -").map(|p| (p, ""))
    })?;
    if place.contains(']') || place.split(':').count() != 3 {
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
    let m = message.trim();
    let inner = m.strip_prefix('[')?.strip_suffix(']')?;
    let items = python_items(inner)?;
    let mut it = items.into_iter();
    let kind = it.next()?;
    if kind.is_empty() || !kind.bytes().all(|c| c.is_ascii_lowercase() || c == b'_') {
        return None;
    }
    Some(Action {
        kind,
        fields: it.collect(),
    })
}

/// The elements of a Python list's inside, strings unquoted and anything else as written;
/// `None` when the first element is not a quoted string or quotes do not close.
fn python_items(inner: &str) -> Option<Vec<String>> {
    let mut items = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        if c == '\'' || c == '"' {
            chars.next();
            let mut s = String::new();
            let mut closed = false;
            while let Some(ch) = chars.next() {
                match ch {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            s.push(match n {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                    }
                    q if q == c => {
                        closed = true;
                        break;
                    }
                    other => s.push(other),
                }
            }
            if !closed {
                return None;
            }
            items.push(s);
        } else {
            if items.is_empty() {
                return None;
            }
            // A number, None, a nested list or dict: as written, to the comma at its depth.
            let mut s = String::new();
            let mut depth = 0i32;
            let mut quote: Option<char> = None;
            while let Some(&ch) = chars.peek() {
                if quote.is_none() && depth == 0 && ch == ',' {
                    break;
                }
                chars.next();
                match (quote, ch) {
                    (Some(q), ch) if ch == q => quote = None,
                    (Some(_), '\\') => {
                        if let Some(n) = chars.next() {
                            s.push(ch);
                            s.push(n);
                            continue;
                        }
                    }
                    (None, '\'' | '"') => quote = Some(ch),
                    (None, '[' | '{' | '(') => depth += 1,
                    (None, ']' | '}' | ')') => depth -= 1,
                    _ => {}
                }
                s.push(ch);
            }
            items.push(s.trim().to_string());
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            Some(',') => continue,
            None => break,
            Some(_) => return None,
        }
    }
    Some(items)
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

/// Reads a report's text.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    // The first line of a traceback being read, until its exception line.
    let mut traceback: Option<String> = None;
    for raw in text.lines() {
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
        if line
            .trim_start()
            .starts_with("Traceback (most recent call last)")
        {
            traceback = Some("Traceback:".to_string());
            continue;
        }
        if let Some(l) = log_line(line) {
            match l.level {
                "DEBUG" => {}
                "ERROR" | "CRITICAL" | "FATAL" => out.error(l.message),
                _ => {
                    if let Some(a) = action(l.message) {
                        out.actions.push(a);
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

    #[test]
    fn a_traceback_is_one_error_with_its_exception() {
        let text = "Traceback (most recent call last):\n  File \"x.py\", line 1\n    boom()\nValueError: bad\n";
        let p = parse(text);
        assert_eq!(p.errors, 1);
        assert_eq!(p.first_errors, vec!["Traceback: ValueError: bad"]);
    }
}
