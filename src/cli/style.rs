//! Colour for people at a terminal: the diff, verdicts, warnings and errors. Text is styled with
//! ANSI codes here and printed through `anstream`, which drops them where they do not belong
//! (a pipe, a file, `--color never`, `NO_COLOR`), as clap does for its own messages.

use anstyle::{AnsiColor, Style};

const ERROR: Style = AnsiColor::Red.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const HINT: Style = AnsiColor::Cyan.on_default().bold();
const NOTE: Style = AnsiColor::Blue.on_default().bold();
const ADDED: Style = AnsiColor::Green.on_default();
const REMOVED: Style = AnsiColor::Red.on_default();
const HUNK: Style = AnsiColor::Cyan.on_default();
const HEADER: Style = Style::new().bold();
const GOOD: Style = AnsiColor::Green.on_default();
const BAD: Style = AnsiColor::Red.on_default().bold();

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// `error:` in bold red.
pub fn error() -> String {
    paint(ERROR, "error:")
}

/// `warning:` in bold yellow.
pub fn warning() -> String {
    paint(WARNING, "warning:")
}

/// `hint:` in bold cyan.
pub fn hint() -> String {
    paint(HINT, "hint:")
}

/// `note:` in bold blue.
pub fn note() -> String {
    paint(NOTE, "note:")
}

/// A unified diff with git's colours: file headers bold, hunk lines cyan, `-` red, `+` green.
pub fn diff(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let style = if body.starts_with("diff --git")
            || body.starts_with("--- ")
            || body.starts_with("+++ ")
            || body.starts_with("index ")
        {
            Some(HEADER)
        } else if body.starts_with("@@") {
            Some(HUNK)
        } else if body.starts_with('+') {
            Some(ADDED)
        } else if body.starts_with('-') {
            Some(REMOVED)
        } else {
            None
        };
        match style {
            Some(s) if !body.is_empty() => out.push_str(&paint(s, body)),
            _ => out.push_str(body),
        }
        out.push_str(end);
    }
    out
}

/// A verdict word: green when all is well, bold red when not.
pub fn verdict(word: &str, ok: bool) -> String {
    paint(if ok { GOOD } else { BAD }, word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lines_are_coloured_by_their_first_character() {
        let d = diff("--- a/x\n+++ b/x\n@@ -1 +1 @@ k:\n-old\n+new\n same\n");
        assert_eq!(
            d,
            "\u{1b}[1m--- a/x\u{1b}[0m\n\u{1b}[1m+++ b/x\u{1b}[0m\n\u{1b}[36m@@ -1 +1 @@ k:\u{1b}[0m\n\u{1b}[31m-old\u{1b}[0m\n\u{1b}[32m+new\u{1b}[0m\n same\n"
        );
    }
}
