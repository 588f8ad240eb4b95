//! The reports of one check: files named `reconcile-<run>.txt` in a folder of artifacts (any
//! depth; a file under `reconcile_reports_fail/` is a failed run), the same files fetched from
//! a build, or the console of a build cut at its `INTEGRATION <name>` lines.

use std::collections::BTreeMap;
use std::path::Path;

use super::pins::MANAGER_RUN;
use super::report::{parse, Parsed};
use crate::error::{Error, Result};

/// The largest report read.
pub const REPORT_LIMIT: u64 = 64 << 20;
/// The deepest folder walked under the one given.
const MAX_DEPTH: usize = 16;
/// The most entries walked.
const MAX_ENTRIES: usize = 100_000;
/// The folder the check moves a failed run's report to.
pub const FAIL_FOLDER: &str = "reconcile_reports_fail";

/// The report of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The run's name, as the check names it (`terraform-resources_override_f929a38`).
    pub name: String,
    /// Where it was read: a path under the folder, an artifact's path, or `console`.
    pub source: String,
    /// In the fail folder, or named by `INTEGRATION FAILED: <name>`.
    pub failed: bool,
    pub parsed: Parsed,
}

/// Every report of a check, by run name.
#[derive(Debug, Clone, Default)]
pub struct Reports {
    pub runs: BTreeMap<String, Report>,
    /// What could not be taken (`path: why`).
    pub warnings: Vec<String>,
}

/// The run a report file is of: `reconcile-<run>.txt`.
pub fn run_name(file_name: &str) -> Option<&str> {
    let name = file_name.strip_prefix("reconcile-")?.strip_suffix(".txt")?;
    (!name.is_empty()).then_some(name)
}

impl Reports {
    /// Adds a report; a second one of the same run keeps the failed one (a run moved to the
    /// fail folder may leave its first copy) and says so.
    pub fn add(&mut self, name: &str, source: &str, failed: bool, text: &str) {
        self.insert(Report {
            name: name.to_string(),
            source: source.to_string(),
            failed,
            parsed: parse(text, name == MANAGER_RUN),
        });
    }

    /// Adds a report already read (see [`Reports::add`]).
    pub fn insert(&mut self, report: Report) {
        match self.runs.get(&report.name) {
            Some(old) if old.failed || !report.failed => {
                self.warnings.push(format!(
                    "{}: a second report of {}; {} is read",
                    report.source, report.name, old.source
                ));
            }
            _ => {
                self.runs.insert(report.name.clone(), report);
            }
        }
    }

    /// Marks the runs the console names as failed (`INTEGRATION FAILED: <name>`).
    pub fn mark_failed(&mut self, console: &str) {
        for name in console_failures(console) {
            if let Some(r) = self.runs.get_mut(&name) {
                r.failed = true;
                if r.parsed.errors == 0 {
                    r.parsed.errors = 1;
                    r.parsed
                        .first_errors
                        .push(format!("INTEGRATION FAILED: {name} (the console)"));
                }
            } else {
                // A run that failed before it wrote anything: its report is the failure.
                self.add(
                    &name,
                    "console",
                    true,
                    &format!("INTEGRATION FAILED: {name}"),
                );
            }
        }
    }

    /// The reports of a console: each `INTEGRATION <name>` line starts the output of that run
    /// (the check tees every run to the console), `INTEGRATION FAILED: <name>` marks it failed.
    pub fn from_console(console: &str) -> Reports {
        let mut sections: Vec<(String, String)> = Vec::new();
        for line in console.lines() {
            let l = line.trim_end_matches('\r');
            if let Some(name) = l.strip_prefix("INTEGRATION ").map(str::trim) {
                if !name.starts_with("FAILED") && !name.is_empty() && !name.contains(' ') {
                    sections.push((name.to_string(), String::new()));
                    continue;
                }
            }
            if l.starts_with("INTEGRATION FAILED") {
                continue;
            }
            if let Some((_, text)) = sections.last_mut() {
                text.push_str(l);
                text.push('\n');
            }
        }
        let mut out = Reports::default();
        for (name, text) in sections {
            out.add(&name, "console", false, &text);
        }
        out.mark_failed(console);
        out
    }

    /// Reads every `reconcile-<run>.txt` under `dir`, at any depth; links are not followed.
    pub fn read_folder(dir: &Path) -> Result<Reports> {
        let meta = std::fs::symlink_metadata(dir).map_err(|e| Error::io(dir, e))?;
        if !meta.is_dir() {
            return Err(Error::input(format!(
                "{}: not a folder (give the folder the check's artifacts were saved in)",
                dir.display()
            )));
        }
        let mut out = Reports::default();
        let mut stack = vec![(dir.to_path_buf(), 0usize)];
        let mut seen = 0usize;
        let mut files: Vec<(String, String, std::path::PathBuf, bool)> = Vec::new();
        while let Some((folder, depth)) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&folder)
                .map_err(|e| Error::io(&folder, e))?
                .filter_map(std::result::Result::ok)
                .collect();
            entries.sort_by_key(std::fs::DirEntry::file_name);
            for entry in entries {
                seen += 1;
                if seen > MAX_ENTRIES {
                    return Err(Error::input(format!(
                        "{}: more than {MAX_ENTRIES} files and folders; give the folder of the check's reports",
                        dir.display()
                    )));
                }
                let path = entry.path();
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let file_name = entry.file_name();
                let Some(file_name) = file_name.to_str() else {
                    continue;
                };
                if kind.is_dir() {
                    if depth < MAX_DEPTH {
                        stack.push((path, depth + 1));
                    }
                    continue;
                }
                let Some(name) = run_name(file_name) else {
                    continue;
                };
                let shown = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                if kind.is_symlink() {
                    out.warnings
                        .push(format!("{shown}: a symbolic link, not followed; not read"));
                    continue;
                }
                let failed = folder.file_name().is_some_and(|f| f == FAIL_FOLDER);
                files.push((name.to_string(), shown, path, failed));
            }
        }
        // Read and parse on every core; the reports keep the walk's order.
        // Read and parsed on every core; the reports keep the walk's order.
        let read = crate::util::on_all_cores(&files, |part| {
            part.iter()
                .map(|(name, shown, path, failed)| {
                    let bytes = crate::util::read_regular(path, REPORT_LIMIT)
                        .map_err(|e| e.into_error(&path.display().to_string(), REPORT_LIMIT))?;
                    Ok(Report {
                        name: name.clone(),
                        source: shown.clone(),
                        failed: *failed,
                        parsed: match std::str::from_utf8(&bytes) {
                            Ok(text) => parse(text, name == MANAGER_RUN),
                            Err(_) => parse(&String::from_utf8_lossy(&bytes), name == MANAGER_RUN),
                        },
                    })
                })
                .collect::<Vec<Result<Report>>>()
        });
        let found = read.len();
        for r in read {
            out.insert(r?);
        }
        if found == 0 {
            return Err(Error::input(format!(
                "{}: no report of the check (files named reconcile-<run>.txt) at any depth",
                dir.display()
            )));
        }
        Ok(out)
    }
}

/// The runs a console names as failed.
pub fn console_failures(console: &str) -> Vec<String> {
    let mut out: Vec<String> = console
        .lines()
        .filter_map(|l| l.trim().strip_prefix("INTEGRATION FAILED:"))
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty() && !n.contains(' '))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_files_name_their_run() {
        assert_eq!(run_name("reconcile-github.txt"), Some("github"));
        assert_eq!(
            run_name("reconcile-terraform-resources_override_f929a38.txt"),
            Some("terraform-resources_override_f929a38")
        );
        assert_eq!(run_name("reconcile-.txt"), None);
        assert_eq!(run_name("results.json"), None);
    }

    #[test]
    fn a_console_is_cut_at_its_integration_lines() {
        let console = "selected integrations: a b\nINTEGRATION a\n[2023-01-01 00:00:00] [INFO] [x.py:y:1] - ['delete', 'c', 'ns', 'Secret', 's']\nINTEGRATION b\nTraceback (most recent call last):\n  File \"x\"\nKeyError: 'k'\nINTEGRATION FAILED: b\n";
        let r = Reports::from_console(console);
        assert_eq!(r.runs.len(), 2);
        assert_eq!(r.runs["a"].parsed.actions, 1);
        assert!(!r.runs["a"].failed);
        assert!(r.runs["b"].failed);
        assert_eq!(r.runs["b"].parsed.errors, 1);
    }
}
