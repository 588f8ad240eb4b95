//! The CI examples under `examples/ci/` run command lines that the tool accepts.

use std::path::Path;

use clap::Parser as _;
use qr_promote::cli::{Cli, Command};

/// The words of a shell command line: double-quoted words kept whole, variables (`$X`, `${X}`,
/// `$(params.x)`) replaced by a placeholder, and nothing from a redirection on.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '$' => {
                // A variable: its name, braces or parentheses included.
                match chars.peek() {
                    Some('{') | Some('(') => {
                        let close = if chars.next() == Some('{') { '}' } else { ')' };
                        for n in chars.by_ref() {
                            if n == close {
                                break;
                            }
                        }
                    }
                    _ => {
                        while chars
                            .peek()
                            .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '_')
                        {
                            chars.next();
                        }
                    }
                }
                word.push_str("value");
                in_word = true;
            }
            '>' if !quoted => break,
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

#[test]
fn every_ci_example_runs_a_bot_command_line_the_tool_accepts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci");
    let mut seen = 0;
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let line = line.trim_start().trim_start_matches("- ").trim();
            if !line.starts_with("qr-promote ") {
                continue;
            }
            let args = words(line);
            let cli = Cli::try_parse_from(&args)
                .unwrap_or_else(|e| panic!("{}: {line}\n{e}", path.display()));
            let Command::Bot(bot) = &cli.command else {
                panic!("{}: not a bot command: {line}", path.display());
            };
            assert_eq!(bot.components, ["value"], "{line}");
            assert_eq!(bot.to, ["value"], "{line}");
            assert!(cli.json, "the job keeps the JSON summary: {line}");
            seen += 1;
        }
    }
    assert_eq!(seen, 2, "one command line in each example");
}

#[test]
fn shell_words() {
    assert_eq!(
        words(r#"qr-promote bot "$A" --to "${B}" --x "$(params.c)" --json > out.json"#),
        [
            "qr-promote",
            "bot",
            "value",
            "--to",
            "value",
            "--x",
            "value",
            "--json"
        ]
    );
}
