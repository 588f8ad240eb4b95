//! The explained rule: a run that would change something is explained when a shipped commit
//! changes its integration's own code (its module or package, see [`crate::upstream::touched`])
//! or names the integration in its subject; otherwise it is not, and when the commits changed
//! only shared code, that is said beside it.

use super::{Run, Verdict};
use crate::upstream::touched::Touched;
use crate::util::short_id;

/// How many shared files the reason names.
const SHARED_SHOWN: usize = 3;

/// Whether `subject` names `integration` as a word (with `-` or `_`).
pub fn subject_names(subject: &str, integration: &str) -> bool {
    let forms = [integration.to_string(), integration.replace('-', "_")];
    forms.iter().any(|form| {
        subject.match_indices(form.as_str()).any(|(at, m)| {
            let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
            let before = subject[..at].chars().next_back();
            let after = subject[at + m.len()..].chars().next();
            !before.is_some_and(word) && !after.is_some_and(word)
        })
    })
}

/// Sets `explained` on every run with changes; `None` on the others. `commits` is `None` when
/// the checkout moves no version (nothing ships to explain anything).
pub fn explain(runs: &mut [Run], commits: Option<&[Touched]>) {
    for run in runs.iter_mut() {
        if run.verdict != Verdict::Changes {
            run.explained = None;
            continue;
        }
        let Some(commits) = commits else {
            run.explained = Some(false);
            run.unexplained_because =
                Some("the branch moves no version: no shipped commit explains it".into());
            continue;
        };
        let by: Vec<String> = commits
            .iter()
            .filter(|c| {
                c.integrations.contains(&run.integration)
                    || subject_names(&c.subject, &run.integration)
            })
            .map(|c| format!("{} {}", short_id(&c.id), c.subject))
            .collect();
        run.explained = Some(!by.is_empty());
        run.unexplained_because = if by.is_empty() {
            let mut shared: Vec<&str> = commits
                .iter()
                .flat_map(|c| c.shared.iter().map(String::as_str))
                .collect();
            shared.sort_unstable();
            shared.dedup();
            Some(if shared.is_empty() {
                "no shipped commit changes its code or names it".to_string()
            } else {
                let mut s = format!(
                    "only shared code changed: {}",
                    shared
                        .iter()
                        .take(SHARED_SHOWN)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                if shared.len() > SHARED_SHOWN {
                    s.push_str(&format!(" and {} more", shared.len() - SHARED_SHOWN));
                }
                s
            })
        } else {
            None
        };
        run.explained_by = by;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_name_integrations_as_words() {
        assert!(subject_names(
            "[terraform-resources] fix",
            "terraform-resources"
        ));
        assert!(subject_names(
            "fix terraform_resources output",
            "terraform-resources"
        ));
        assert!(!subject_names(
            "fix terraform-resources-wrapper",
            "terraform-resources"
        ));
        assert!(!subject_names("github-owners: x", "github"));
    }
}
