//! The checkout's history of some files in one `git log -p -U0` pass: each commit with its
//! author, dates and parents, and for each file the hunks it changed (removed and added lines,
//! with their line numbers).

use crate::error::Result;
use crate::upstream::git::Git;

/// One commit as the log shows it, with its changes to the files asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    /// Full commit id.
    pub id: String,
    /// Its parents' full ids.
    pub parents: Vec<String>,
    pub author_name: String,
    pub author_email: String,
    /// Author date, seconds since the epoch.
    pub author_time: i64,
    /// Commit date, seconds since the epoch.
    pub commit_time: i64,
    /// First line of the message.
    pub subject: String,
    /// The files it changed, among those asked for (none for a merge of the full history).
    pub files: Vec<FileDiff>,
}

impl Commit {
    /// The commit's changes to `path`, if it changed it.
    pub fn file(&self, path: &str) -> Option<&FileDiff> {
        self.files.iter().find(|f| f.path == path)
    }

    /// A merge: more than one parent.
    pub fn is_merge(&self) -> bool {
        self.parents.len() > 1
    }
}

/// What a commit changed in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileDiff {
    /// Repository-relative path (the new one; the old one for a deleted file).
    pub path: String,
    pub hunks: Vec<Hunk>,
}

impl FileDiff {
    /// Every added line.
    pub fn added(&self) -> impl Iterator<Item = &str> {
        self.hunks
            .iter()
            .flat_map(|h| h.added.iter().map(String::as_str))
    }

    /// Every removed line.
    pub fn removed(&self) -> impl Iterator<Item = &str> {
        self.hunks
            .iter()
            .flat_map(|h| h.removed.iter().map(String::as_str))
    }

    /// Where line `line` (1-based) after the change was before it: `Kept(n)` when the change did
    /// not touch it (`n` is its number before), `Written` when the change wrote it (with the
    /// text written and the number of the line it replaced, if it replaced one).
    pub fn trace(&self, line: usize) -> Trace {
        let mut shift: i64 = 0;
        for h in &self.hunks {
            if h.new_count > 0 && (h.new_start..h.new_start + h.new_count).contains(&line) {
                let k = line - h.new_start;
                let text = h.added.get(k).cloned().unwrap_or_default();
                let before = (k < h.old_count).then_some(h.old_start + k);
                return Trace::Written { text, before };
            }
            // A hunk wholly above the line moves it.
            let above = if h.new_count == 0 {
                h.new_start < line
            } else {
                h.new_start + h.new_count <= line
            };
            if above {
                shift += h.old_count as i64 - h.new_count as i64;
            }
        }
        let before = (line as i64 + shift).max(1);
        Trace::Kept(usize::try_from(before).unwrap_or(1))
    }
}

/// Where a line was before a change (see [`FileDiff::trace`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trace {
    /// The change left it alone; its number before the change.
    Kept(usize),
    /// The change wrote it: the text it wrote, and the number of the line it replaced (none when
    /// the change added the line).
    Written { text: String, before: Option<usize> },
}

/// A hunk of a `-U0` diff: `old_count` lines from `old_start` became `new_count` lines from
/// `new_start` (a start is the line before when its count is 0, as git writes it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: usize,
    pub old_count: usize,
    pub new_start: usize,
    pub new_count: usize,
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

/// The separator of a commit's header in the log (never in a path or a diff line's start).
const RECORD: char = '\x1e';
/// The separator of its fields.
const FIELD: char = '\x1f';
/// The header of each commit: id, parents, author, email, author and commit dates, subject.
const FORMAT: &str = "--format=%x1e%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%ct%x1f%s";

/// Which history of the checkout to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Every commit reachable from HEAD; merges show no changes of their own.
    Full,
    /// The first-parent history of HEAD (the mainline), each merge with its changes against
    /// its first parent: what it brought.
    Mainline,
}

/// Reads the commits of HEAD's history that changed `paths`, newest first, in one pass.
pub fn read(git: &Git, walk: Walk, paths: &[String]) -> Result<Vec<Commit>> {
    let mut args = vec![
        "--literal-pathspecs",
        "-c",
        "core.quotePath=false",
        "log",
        "-p",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-renames",
        "--no-textconv",
        "--no-relative",
        "--no-show-signature",
        "--inter-hunk-context=0",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        FORMAT,
    ];
    args.extend(match walk {
        Walk::Full => &["--diff-merges=off"][..],
        Walk::Mainline => &["--first-parent", "--diff-merges=first-parent"][..],
    });
    args.extend(["HEAD", "--"]);
    args.extend(paths.iter().map(String::as_str));
    Ok(parse(&git.run(&args)?))
}

/// The uncommitted changes of `paths` (staged or not) against HEAD.
pub fn uncommitted(git: &Git, paths: &[String]) -> Result<Vec<FileDiff>> {
    let mut args = vec![
        "--literal-pathspecs",
        "-c",
        "core.quotePath=false",
        "diff",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-renames",
        "--no-textconv",
        "--no-relative",
        "--inter-hunk-context=0",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        "HEAD",
        "--",
    ];
    args.extend(paths.iter().map(String::as_str));
    Ok(parse_files(&git.run(&args)?))
}

/// Parses the output of [`read`]. Lines it does not understand are skipped.
pub fn parse(text: &str) -> Vec<Commit> {
    let mut commits = Vec::new();
    let mut body = String::new();
    let mut current: Option<Commit> = None;
    for line in text.split_inclusive('\n') {
        if let Some(header) = line.strip_prefix(RECORD) {
            if let Some(mut c) = current.take() {
                c.files = parse_files(&body);
                commits.push(c);
            }
            body.clear();
            current = Some(parse_header(header.trim_end_matches(['\n', '\r'])));
        } else {
            body.push_str(line);
        }
    }
    if let Some(mut c) = current {
        c.files = parse_files(&body);
        commits.push(c);
    }
    commits
}

fn parse_header(h: &str) -> Commit {
    let mut f = h.splitn(7, FIELD);
    let mut next = || f.next().unwrap_or_default().to_string();
    let id = next();
    let parents = next()
        .split_ascii_whitespace()
        .map(str::to_string)
        .collect();
    let author_name = next();
    let author_email = next();
    let author_time = next().parse().unwrap_or(0);
    let commit_time = next().parse().unwrap_or(0);
    let subject = next();
    Commit {
        id,
        parents,
        author_name,
        author_email,
        author_time,
        commit_time,
        subject,
        files: Vec::new(),
    }
}

/// Parses the file diffs of a `git diff -U0` (or of one commit of `git log -p -U0`).
pub fn parse_files(text: &str) -> Vec<FileDiff> {
    let mut files: Vec<FileDiff> = Vec::new();
    let mut old_path: Option<String> = None;
    // Lines still expected in the current hunk: (removed, added).
    let mut left = (0usize, 0usize);
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if left != (0, 0) {
            let hunk = files.last_mut().and_then(|f| f.hunks.last_mut());
            if let Some(h) = hunk {
                if let Some(rest) = line.strip_prefix('-').filter(|_| left.0 > 0) {
                    h.removed.push(rest.to_string());
                    left.0 -= 1;
                    continue;
                }
                if let Some(rest) = line.strip_prefix('+').filter(|_| left.1 > 0) {
                    h.added.push(rest.to_string());
                    left.1 -= 1;
                    continue;
                }
                if line.starts_with('\\') {
                    continue;
                }
            }
            left = (0, 0);
        }
        if line.starts_with("diff --git ") || line.starts_with("diff --cc ") {
            files.push(FileDiff::default());
            old_path = None;
        } else if let Some(p) = line.strip_prefix("--- ") {
            old_path = strip_side(p, "a/");
        } else if let Some(p) = line.strip_prefix("+++ ") {
            if let Some(f) = files.last_mut() {
                f.path = strip_side(p, "b/")
                    .or_else(|| old_path.clone())
                    .unwrap_or_default();
            }
        } else if let Some(h) = line.strip_prefix("@@ ").and_then(parse_hunk_header) {
            if let Some(f) = files.last_mut() {
                if f.path.is_empty() {
                    f.path = old_path.clone().unwrap_or_default();
                }
                left = (h.old_count, h.new_count);
                f.hunks.push(h);
            }
        }
    }
    files.retain(|f| !f.path.is_empty());
    files
}

/// A diff side's path without its `a/` or `b/` (none for `/dev/null`), unquoted.
fn strip_side(p: &str, side: &str) -> Option<String> {
    let p = p.trim_end_matches('\t');
    if p == "/dev/null" {
        return None;
    }
    let p = if p.starts_with('"') {
        unquote(p)
    } else {
        p.to_string()
    };
    p.strip_prefix(side).map(str::to_string)
}

/// A C-quoted path as git writes one (`"a/x\"y"`, `\t`, `\n`, octal bytes).
fn unquote(q: &str) -> String {
    let inner = q
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(q);
    let mut bytes = Vec::new();
    let mut it = inner.bytes().peekable();
    while let Some(b) = it.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match it.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b't') => bytes.push(b'\t'),
            Some(b'r') => bytes.push(b'\r'),
            Some(d @ b'0'..=b'7') => {
                let mut v = u32::from(d - b'0');
                for _ in 0..2 {
                    match it.peek() {
                        Some(n @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(n - b'0');
                            it.next();
                        }
                        _ => break,
                    }
                }
                bytes.push(u8::try_from(v & 0xff).unwrap_or(0));
            }
            Some(other) => bytes.push(other),
            None => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `-a[,b] +c[,d] @@ ...`
fn parse_hunk_header(h: &str) -> Option<Hunk> {
    let mut parts = h.split(' ');
    let old = parts.next()?.strip_prefix('-')?;
    let new = parts.next()?.strip_prefix('+')?;
    let range = |r: &str| -> Option<(usize, usize)> {
        match r.split_once(',') {
            Some((s, n)) => Some((s.parse().ok()?, n.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (old_start, old_count) = range(old)?;
    let (new_start, new_count) = range(new)?;
    Some(Hunk {
        old_start,
        old_count,
        new_start,
        new_count,
        removed: Vec::new(),
        added: Vec::new(),
    })
}

/// The words of a line that may be commit ids: runs of 7 to 40 hex digits between characters
/// that are not letters or digits.
pub fn hex_tokens(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| crate::util::is_commit_hex(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str =
        "\x1eaaaa\x1fpppp\x1fAda Lovelace\x1fada@example.org\x1f100\x1f200\x1fPromote (x)\n\
\n\
diff --git a/.env b/.env\n\
index 1..2 100644\n\
--- a/.env\n\
+++ b/.env\n\
@@ -3 +3 @@ export X=1\n\
-export RECONCILE_IMAGE_TAG=1111111\n\
+export RECONCILE_IMAGE_TAG=2222222\n\
diff --git a/data/s.yaml b/data/s.yaml\n\
--- a/data/s.yaml\n\
+++ b/data/s.yaml\n\
@@ -2,0 +3,2 @@\n\
+--- added\n\
++++ added too\n\
@@ -10 +11,0 @@\n\
---- removed\n\
\x1ebbbb\x1fm1 m2\x1fBo\x1fbo@x\x1f1\x1f2\x1fMerge\n\
\x1ecccc\x1f\x1fCy\x1fcy@x\x1f5\x1f6\x1f\n\
\n\
diff --git \"a/d/t\\tab.yml\" \"b/d/t\\tab.yml\"\n\
new file mode 100644\n\
--- /dev/null\n\
+++ \"b/d/t\\tab.yml\"\n\
@@ -0,0 +1 @@\n\
+ref: 3333333\n\
\\ No newline at end of file\n";

    #[test]
    fn a_log_becomes_commits_files_and_hunks() {
        let c = parse(LOG);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].id, "aaaa");
        assert_eq!(c[0].parents, vec!["pppp"]);
        assert_eq!(c[0].author_name, "Ada Lovelace");
        assert_eq!((c[0].author_time, c[0].commit_time), (100, 200));
        assert_eq!(c[0].subject, "Promote (x)");
        assert_eq!(c[0].files.len(), 2);
        let env = c[0].file(".env").unwrap();
        assert_eq!(
            env.removed().collect::<Vec<_>>(),
            ["export RECONCILE_IMAGE_TAG=1111111"]
        );
        assert_eq!(
            env.added().collect::<Vec<_>>(),
            ["export RECONCILE_IMAGE_TAG=2222222"]
        );
        let s = c[0].file("data/s.yaml").unwrap();
        assert_eq!(s.hunks.len(), 2);
        assert_eq!(s.hunks[0].added, ["--- added", "+++ added too"]);
        assert_eq!(s.hunks[1].removed, ["--- removed"]);
        assert!(c[1].is_merge());
        assert!(c[1].files.is_empty());
        assert_eq!(c[2].subject, "");
        assert_eq!(c[2].files[0].path, "d/t\tab.yml");
        assert_eq!(c[2].files[0].hunks[0].added, ["ref: 3333333"]);
    }

    #[test]
    fn garbage_parses_to_nothing_without_panicking() {
        for text in [
            "",
            "\x1e",
            "\x1e\x1f\x1f\x1f\x1fx\x1fy\n@@ -a +b @@\n+x\n",
            "@@ -1 +1 @@\n-x\n+y\n",
            "diff --git a/x b/x\n+++ \"b/\\7777\n@@ -99999999999999999999 +1 @@\n",
            "diff --git a/x b/x\n+++ b/x\n@@ -1,2 +1,3 @@\n+only one\n",
        ] {
            let c = parse(text);
            assert!(c.iter().all(|c| c.files.iter().all(|f| !f.path.is_empty())));
        }
        assert_eq!(
            parse_files("diff --git a/x b/x\n+++ b/x\n@@ -1,2 +1,3 @@\n+only one\n")[0].hunks[0]
                .added,
            ["only one"]
        );
    }

    #[test]
    fn a_line_is_traced_back_through_hunks() {
        // Lines 3-4 replaced by one line; a line inserted after 8; line 12 deleted.
        let f = FileDiff {
            path: "x".into(),
            hunks: vec![
                Hunk {
                    old_start: 3,
                    old_count: 2,
                    new_start: 3,
                    new_count: 1,
                    removed: vec!["a".into(), "b".into()],
                    added: vec!["ab".into()],
                },
                Hunk {
                    old_start: 8,
                    old_count: 0,
                    new_start: 8,
                    new_count: 1,
                    removed: vec![],
                    added: vec!["new".into()],
                },
                Hunk {
                    old_start: 12,
                    old_count: 1,
                    new_start: 11,
                    new_count: 0,
                    removed: vec!["gone".into()],
                    added: vec![],
                },
            ],
        };
        assert_eq!(f.trace(1), Trace::Kept(1));
        assert_eq!(
            f.trace(3),
            Trace::Written {
                text: "ab".into(),
                before: Some(3)
            }
        );
        assert_eq!(f.trace(4), Trace::Kept(5));
        assert_eq!(f.trace(7), Trace::Kept(8));
        assert_eq!(
            f.trace(8),
            Trace::Written {
                text: "new".into(),
                before: None
            }
        );
        assert_eq!(f.trace(9), Trace::Kept(9));
        assert_eq!(f.trace(11), Trace::Kept(11));
        assert_eq!(f.trace(12), Trace::Kept(13));
    }

    #[test]
    fn hex_tokens_are_whole_words() {
        let t: Vec<&str> = hex_tokens(
            "image: quay.io/app-sre/qontract-reconcile:a1b2c3d@sha256:0123456789012345678901234567890123456789012345678901234567890123 # deadbee1x 1234567",
        )
        .collect();
        assert_eq!(t, ["a1b2c3d", "1234567"]);
        let e: Vec<&str> = hex_tokens("export RECONCILE_IMAGE_TAG=0f9e8d7").collect();
        assert_eq!(e, ["0f9e8d7"]);
    }
}
