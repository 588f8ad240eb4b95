//! A check as people read it: one screen of text, and the note on the merge request in the
//! same escaped Markdown as the description (nothing from a report can mention anyone).

use super::source::Progress;
use super::{Check, Run, Verdict};
use crate::upstream::markdown::escape;
use crate::util::{align, count, short_id};

/// The first line of the note: how a later run finds it to update it in place.
pub const NOTE_MARKER: &str = "<!-- qr-promote:pr-check -->";

/// The longest note written (GitLab takes up to 1,000,000 characters).
const NOTE_MAX: usize = 200_000;

fn what(r: &Run) -> String {
    match r.verdict {
        Verdict::Missing => "no report".to_string(),
        Verdict::Failed => r
            .first_errors
            .first()
            .cloned()
            .unwrap_or_else(|| "failed".into()),
        _ => {
            let mut parts: Vec<String> = r
                .actions
                .iter()
                .take(3)
                .map(|a| format!("{} {} on {}", a.count, a.kind, a.target))
                .collect();
            if r.actions.len() > 3 {
                parts.push(format!("{} more", r.actions.len() - 3));
            }
            if r.messages > 0 {
                parts.push(count(r.messages, "other line", "other lines"));
            }
            parts.join(", ")
        }
    }
}

fn explained(r: &Run) -> String {
    match r.explained {
        None => String::new(),
        Some(true) => {
            let ids: Vec<&str> = r
                .explained_by
                .iter()
                .filter_map(|c| c.split(' ').next())
                .filter(|id| crate::util::is_commit_hex(id))
                .collect();
            if ids.is_empty() {
                "yes".to_string()
            } else {
                format!("yes {}", ids.join(","))
            }
        }
        Some(false) => "NO".to_string(),
    }
}

fn versions_line(c: &Check) -> String {
    match &c.versions.old {
        Some(old) if c.versions.is_promotion() => {
            format!(
                "promotion {} -> {}",
                short_id(old),
                short_id(&c.versions.new)
            )
        }
        _ => format!("no promotion: .env stays at {}", short_id(&c.versions.new)),
    }
}

fn progress(p: &Progress) -> String {
    match p {
        Progress::Finished(r) => format!("finished: {r}"),
        Progress::Running(why) => format!("not finished: {why}"),
        Progress::NotStarted(why) => format!("not started: {why}"),
    }
}

/// The runs worth a line: all but the clean ones.
fn not_clean(c: &Check) -> Vec<&Run> {
    c.runs
        .iter()
        .filter(|r| r.verdict != Verdict::Clean)
        .collect()
}

/// The summary sentence.
pub fn summary_line(c: &Check) -> String {
    let s = &c.summary;
    let mut parts = vec![format!("{} clean", s.clean)];
    let mut changes = format!("{} with changes", s.changes);
    if !s.unexplained.is_empty() {
        changes.push_str(&format!(
            " ({} unexplained: {})",
            s.unexplained.len(),
            s.unexplained.join(", ")
        ));
    }
    parts.push(changes);
    for (n, list) in [
        ("failed", &s.failed),
        ("missing", &s.missing),
        ("unexpected", &s.unexpected),
    ] {
        if !list.is_empty() {
            parts.push(format!("{} {n}: {}", list.len(), list.join(", ")));
        }
    }
    let mut line = format!("{} ran: {}", s.ran, parts.join("; "));
    if s.pins > 0 {
        line.push_str(&format!(
            "; pin checks: {} of {} hold",
            s.pins - s.pins_failing,
            s.pins
        ));
    }
    line
}

/// The text: the check, the runs that are not clean, the pin checks and the summary.
pub fn text(c: &Check) -> String {
    let mut out = format!(
        "check: {} ({})\n{}\n",
        c.source,
        progress(&c.progress),
        versions_line(c)
    );
    if !c.finished() {
        return out;
    }
    let shown = not_clean(c);
    if !shown.is_empty() {
        let mut rows = vec![["RUN", "VERDICT", "EXPLAINED", "WHAT"]
            .map(String::from)
            .to_vec()];
        for r in &shown {
            let mut w = what(r);
            if let Some(why) = &r.unexplained_because {
                w = format!("{w}; {why}");
            }
            rows.push(vec![
                r.name.clone(),
                r.verdict.as_str().into(),
                explained(r),
                w,
            ]);
        }
        out.push('\n');
        for l in align(&rows, "") {
            out.push_str(&l);
            out.push('\n');
        }
    }
    if !c.pins.is_empty() {
        out.push_str("\npins:\n");
        let rows: Vec<Vec<String>> = c
            .pins
            .iter()
            .map(|p| {
                vec![
                    if p.holds { "ok" } else { "FAIL" }.to_string(),
                    p.run.clone(),
                    format!("{}: {}", p.check, p.detail),
                ]
            })
            .collect();
        for l in align(&rows, "  ") {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out.push('\n');
    out.push_str(&summary_line(c));
    out.push('\n');
    out
}

/// A fenced block that no line of `lines` can close.
fn fenced(lines: &[String]) -> String {
    let longest = lines
        .iter()
        .map(|l| l.split(|c| c != '`').map(str::len).max().unwrap_or(0))
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{}\n{fence}\n", lines.join("\n"))
}

/// The note on the merge request.
pub fn markdown(c: &Check) -> String {
    let mut out =
        format!("{NOTE_MARKER}\n### The merge-request check, integration by integration\n\n");
    let build = if c.source.starts_with("http") {
        format!("[the build]({})", c.source.replace(['(', ')', ' '], ""))
    } else {
        escape(&c.source)
    };
    out.push_str(&format!(
        "{}, {} ({}).\n\n",
        escape(&versions_line(c)),
        build,
        escape(&progress(&c.progress))
    ));
    if !c.finished() {
        return out;
    }
    out.push_str(&format!("**{}**\n\n", escape(&summary_line(c))));
    let shown = not_clean(c);
    if !shown.is_empty() {
        out.push_str("| Run | Verdict | Explained | What |\n|---|---|---|---|\n");
        for r in &shown {
            let exp = match (&r.explained, &r.unexplained_because) {
                (Some(false), Some(why)) => format!("**no**: {}", escape(why)),
                _ => escape(&explained(r)),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                escape(&r.name),
                r.verdict.as_str(),
                exp,
                escape(&what(r))
            ));
        }
        out.push('\n');
        for r in &shown {
            let mut lines: Vec<String> = r.first_errors.clone();
            lines.extend(r.first_lines.iter().cloned());
            lines.extend(r.explained_by.iter().map(|c| format!("explained by {c}")));
            if lines.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "<details><summary>{}: first lines</summary>\n\n{}\n</details>\n\n",
                escape(&r.name),
                fenced(&lines)
            ));
        }
    }
    if !c.pins.is_empty() {
        out.push_str("**Pins**\n\n");
        for p in &c.pins {
            out.push_str(&format!(
                "- {} {}: {}: {}\n",
                if p.holds { "holds" } else { "**fails**" },
                escape(&p.run),
                escape(&p.check),
                escape(&p.detail)
            ));
        }
        out.push('\n');
    }
    if out.len() > NOTE_MAX {
        let mut cut = NOTE_MAX;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("\n\n(cut: the note is too long; the command's output has everything)\n");
    }
    out
}
