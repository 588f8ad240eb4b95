//! The change report as a merge-request description in GitLab Markdown.
//!
//! GitLab turns `@word` into a mention (which notifies that user), and `#12`, `!3`, `~label`,
//! `%milestone`, `$snippet` and `&epic` into references to the app-interface project's own
//! issues, merge requests and labels. The description must notify only on purpose, so every
//! text that comes from a commit (subjects, names) is escaped with backslashes, which GitLab
//! renders literally and never reads as a reference; handles are written as code, which GitLab
//! never reads as a mention; upstream pull requests are links to the upstream. Only the sentence
//! that `--notify` adds (see [`crate::promote::branch::description`]) mentions anyone.
//!
//! More than [`FOLD_AFTER`] commits are folded into a `<details>` block, and the description
//! stays under [`MAX_DESCRIPTION`] characters: beyond that it lists the newest commits, says how
//! many it leaves out, and points to the compare page.

use std::fmt::Write as _;

use super::changes::{commits_phrase, ChangeReport};
use super::people::Person;
use crate::upstream::CommitInfo;
use crate::util::short_id;

/// The longest description the report writes, in characters.
pub const MAX_DESCRIPTION: usize = 60_000;

/// More commits than this are folded into a `<details>` block.
pub const FOLD_AFTER: usize = 30;

/// The report as a merge-request description of at most [`MAX_DESCRIPTION`] characters.
pub fn render_markdown(r: &ChangeReport) -> String {
    render_markdown_within(r, MAX_DESCRIPTION)
}

/// The report as a merge-request description of at most `max` characters (as long as the title,
/// the authors and the notes fit: commits are what is cut).
pub fn render_markdown_within(r: &ChangeReport, max: usize) -> String {
    let from = short_id(&r.from);
    let to = short_id(&r.to);
    let mut head = String::new();
    let _ = writeln!(head, "### Changes from `{from}` to `{to}`\n");
    if let Some(url) = &r.compare_url {
        let _ = writeln!(head, "[Compare `{from}...{to}`]({url})\n");
    }

    let mut tail = String::new();
    let list = |v: &[Person]| v.iter().map(person).collect::<Vec<_>>().join(", ");
    if !r.authors.is_empty() {
        let _ = writeln!(tail, "**Authors:** {}\n", list(&r.authors));
    }
    if !r.bots.is_empty() {
        let _ = writeln!(tail, "**Bots:** {}\n", list(&r.bots));
    }
    if r.notify.is_empty() {
        let _ = writeln!(tail, "No authors to notify.");
    } else {
        let _ = writeln!(tail, "Authors to notify: {}", list(&r.notify));
    }

    if r.commits.is_empty() {
        return format!("{head}No commits.\n\n{tail}");
    }
    let phrase = commits_phrase(r.commits.len());
    let fold = r.commits.len() > FOLD_AFTER;
    let (open, close) = if fold {
        (
            format!("<details>\n<summary>{phrase}</summary>\n\n"),
            "\n</details>\n\n".to_string(),
        )
    } else {
        (format!("{}:\n\n", capitalized(&phrase)), "\n".to_string())
    };
    let mut table = String::from("| Commit | Subject | Author | PR |\n| --- | --- | --- | --- |\n");
    // Room for the note that says how many commits are left out.
    const NOTE_ROOM: usize = 200;
    let fixed = head.len() + open.len() + close.len() + tail.len() + NOTE_ROOM;
    let budget = max.saturating_sub(fixed);
    let mut shown = 0;
    for (i, c) in r.commits.iter().enumerate() {
        let row = row(r, i, c);
        if table.len() + row.len() > budget {
            break;
        }
        table.push_str(&row);
        shown += 1;
    }
    let mut s = head;
    s.push_str(&open);
    if shown > 0 {
        s.push_str(&table);
    }
    if shown < r.commits.len() {
        let left = r.commits.len() - shown;
        let _ = write!(
            s,
            "\nThe newest {shown} commits are listed; {} more are left out to keep this description short",
            left
        );
        match &r.compare_url {
            Some(url) => {
                let _ = writeln!(s, ": [the compare page]({url}) lists them all.");
            }
            None => s.push_str(".\n"),
        }
    }
    s.push_str(&close);
    s.push_str(&tail);
    s
}

/// One table row for the `i`th commit.
fn row(r: &ChangeReport, i: usize, c: &CommitInfo) -> String {
    let commit = match r.commit_url(&c.id) {
        Some(u) => format!("[`{}`]({u})", c.short),
        None => format!("`{}`", c.short),
    };
    let who = r
        .author_of(i)
        .map_or_else(|| escape(&c.author_name), person);
    let (subject, pr) = match c.pr {
        Some(n) => {
            let link = match r.pr_url(n) {
                Some(u) => format!("[\\#{n}]({u})"),
                None => format!("\\#{n}"),
            };
            (without_pr_suffix(&c.subject, n), link)
        }
        None => (c.subject.as_str(), String::new()),
    };
    format!("| {commit} | {} | {who} | {pr} |\n", escape(subject))
}

/// The subject without its trailing ` (#n)`, which the PR column links.
fn without_pr_suffix(subject: &str, n: u64) -> &str {
    let suffix = format!("(#{n})");
    let s = subject.trim_end();
    match s.strip_suffix(&suffix) {
        Some(rest) if !rest.trim().is_empty() => rest.trim_end(),
        _ => subject,
    }
}

/// A person as the description shows them: their handle as code (never a mention) and their
/// name, or the escaped name alone.
fn person(p: &Person) -> String {
    match &p.handle {
        Some(h) => format!("`{h}` ({})", escape(&p.name)),
        None => escape(&p.name),
    }
}

/// Text that GitLab renders as written: the punctuation that Markdown (and GitLab's `{+ +}`) reads
/// inside a line and the characters that start a GitLab reference or mention are escaped with a backslash, `<` and `>` become entities, and
/// line breaks become spaces (it goes into a table cell).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '{' | '}' | '@' | '#' | '!' | '~' | '%'
            | '$' | '&' => {
                out.push('\\');
                out.push(ch);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_markup_are_escaped() {
        assert_eq!(
            escape("Use @retry and @lru_cache, fix #12, !3, ~bug, %v1 <b>|x"),
            "Use \\@retry and \\@lru\\_cache, fix \\#12, \\!3, \\~bug, \\%v1 &lt;b&gt;\\|x"
        );
        assert_eq!(escape("a\nb"), "a b");
    }

    fn report(n: usize) -> ChangeReport {
        let commits = (0..n)
            .map(|i| CommitInfo {
                id: format!("{i:040x}"),
                short: format!("{i:07x}"),
                subject: format!(
                    "Change {i} with a subject of some length, as real ones are (#{i})"
                ),
                author_name: format!("Author {}", i % 300),
                author_email: format!("a{}@example.com", i % 300),
                pr: Some(i as u64),
            })
            .collect();
        ChangeReport::new(
            "https://github.com/app-sre/qontract-reconcile",
            &format!("{:040x}", n + 1),
            &format!("{:040x}", 0),
            commits,
            &crate::upstream::people::Directory::default(),
            None,
        )
    }

    #[test]
    fn up_to_thirty_commits_are_a_table_and_more_are_folded() {
        let md = render_markdown(&report(30));
        assert!(md.contains("30 commits:\n\n| Commit |"), "{md}");
        assert!(!md.contains("<details>"), "{md}");
        let md = render_markdown(&report(31));
        assert!(
            md.contains("<details>\n<summary>31 commits</summary>\n\n| Commit |"),
            "{md}"
        );
        assert_eq!(md.matches("\n| [`").count(), 31);
        assert!(md.contains("|\n\n</details>\n\n**Authors:**"), "{md}");
    }

    #[test]
    fn a_long_report_keeps_the_newest_commits_within_the_limit() {
        let r = report(3000);
        let md = render_markdown(&r);
        assert!(md.len() <= MAX_DESCRIPTION, "{}", md.len());
        assert!(md.len() > MAX_DESCRIPTION - 1000, "{}", md.len());
        let rows = md.matches("\n| [`").count();
        assert!(rows > 100 && rows < 3000, "{rows}");
        assert!(md.contains(&format!(
            "The newest {rows} commits are listed; {} more are left out to keep this description short: [the compare page](https://github.com/app-sre/qontract-reconcile/compare/",
            3000 - rows
        )), "{md}");
        // The newest first: commit 0 is listed, the oldest is not.
        assert!(md.contains(&format!("commit/{:040x}", 0)));
        assert!(!md.contains(&format!("commit/{:040x}", 2999)));
        let everyone: Vec<String> = (0..300).map(|i| format!("Author {i}")).collect();
        assert!(md.ends_with(&format!("Authors to notify: {}\n", everyone.join(", "))));
    }

    #[test]
    fn pr_suffix() {
        assert_eq!(without_pr_suffix("Fix it (#12)", 12), "Fix it");
        assert_eq!(without_pr_suffix("(#12)", 12), "(#12)");
        assert_eq!(
            without_pr_suffix("Merge pull request #12 from x", 12),
            "Merge pull request #12 from x"
        );
    }
}
