//! Pushing the promotion branch: the branch check, `git push --force-with-lease` with GitLab's
//! `merge_request.*` push options, and what the remote answered.

use super::MrRequest;
use crate::error::{Error, Result};
use crate::promote::branch::parse_subject;
use crate::redact::redact;
use crate::upstream::git::{one_line, Git};
use crate::util::short_id;

/// Refuses unless `branch` is exactly one promotion commit on top of `<remote>/<target>`
/// (fetched first), and is not the target branch itself.
pub fn check_branch(git: &Git, req: &MrRequest) -> Result<()> {
    req.validate()?;
    let label = git.label();
    remote_url(git, &req.remote)?;
    for name in [&req.branch, &req.target] {
        if !git.run_ok(&["check-ref-format", "--branch", name])? {
            return Err(Error::input(format!(
                "{label}: {name:?} is not a valid branch name"
            )));
        }
    }
    let branch_ref = format!("refs/heads/{}", req.branch);
    let tip = git.output(&["rev-parse", "--verify", "--quiet", &branch_ref])?;
    if !tip.success {
        return Err(Error::input(format!(
            "{label}: no local branch {}",
            req.branch
        )));
    }
    let tracking = fetch_target(git, &req.remote, &req.target)?;
    let range = format!("{tracking}..{branch_ref}");
    let ids = git.run(&["rev-list", &range, "--"])?;
    let ids: Vec<&str> = ids
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let base = format!("{}/{}", req.remote, req.target);
    match ids.as_slice() {
        [] => Err(Error::refused(format!(
            "{label}: branch {} has no commit on top of {base}; nothing to merge",
            req.branch
        ))),
        [id] => {
            let subject = git.run_line(&["log", "-1", "--format=%s", id, "--"])?;
            let parents = git.run_line(&["log", "-1", "--format=%P", id, "--"])?;
            if parents.split_whitespace().count() != 1 {
                return Err(Error::refused(format!(
                    "{label}: commit {} on branch {} is a merge commit, not a promotion commit",
                    short_id(id),
                    req.branch
                )));
            }
            if parse_subject(&subject).is_none() {
                return Err(Error::refused(format!(
                    "{label}: commit {} on branch {} is not a promotion commit: {subject:?}",
                    short_id(id),
                    req.branch
                )));
            }
            Ok(())
        }
        many => Err(Error::refused(format!(
            "{label}: branch {} has {} commits on top of {base}; a promotion merge request carries exactly one",
            req.branch,
            many.len()
        ))),
    }
}

/// Fetches `target` from `remote` into `refs/remotes/<remote>/<target>` and returns that ref:
/// the target branch as the remote has it now.
pub fn fetch_target(git: &Git, remote: &str, target: &str) -> Result<String> {
    let tracking = format!("refs/remotes/{remote}/{target}");
    let refspec = format!("+refs/heads/{target}:{tracking}");
    let fetch = git.output(&["fetch", "--quiet", "--no-tags", remote, &refspec])?;
    if !fetch.success {
        return Err(Error::external(format!(
            "{}: cannot fetch {target} from {remote}: {}",
            git.label(),
            redact(&one_line(&fetch.stderr))
        )));
    }
    Ok(tracking)
}

/// The URL of a configured remote; an unknown remote is one clear error.
pub fn remote_url(git: &Git, remote: &str) -> Result<String> {
    let out = git.output(&["remote", "get-url", "--", remote])?;
    let url = out.stdout.trim();
    if !out.success || url.is_empty() {
        let known = git.run(&["remote"]).unwrap_or_default();
        let known: Vec<&str> = known.split_whitespace().collect();
        let known = if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        };
        return Err(Error::input(format!(
            "{}: no git remote named {remote:?} (known remotes: {known})",
            git.label()
        )));
    }
    Ok(url.to_string())
}

/// What the push did and what the remote said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// The merge request's URL, when the remote named one (`.../-/merge_requests/<iid>`).
    /// A "create a merge request" link (`.../merge_requests/new?...`) is not one: it stays in `remote_message`.
    pub url: Option<String>,
    /// The remote branch was rewritten (a non-fast-forward update, e.g. an amended promotion).
    pub forced: bool,
    /// The remote branch was already at the commit: nothing was sent, the remote said nothing.
    pub up_to_date: bool,
    /// The remote's own lines (`remote: ` stripped), one per line.
    pub remote_message: String,
}

/// The `merge_request.description` push-option value for a Markdown description.
///
/// Git refuses newlines in push options ("push options must not have new line characters"),
/// so the description cannot travel verbatim. Each line break becomes `<br>` (GitLab renders
/// inline HTML in descriptions), so every line of the text stays on its own line and nothing is
/// lost; Markdown block structure (lists, headings, tables) is not rendered, though. Blank lines
/// collapse to one `<br><br>` paragraph break, and other control characters become spaces.
/// When a token is available, follow the push with [`GitLab::upsert_mr`], which sets the
/// description exactly; the push options keep working without any token.
pub fn push_description(description: &str) -> String {
    let mut out = String::new();
    let mut blank = false;
    for line in description.trim().lines() {
        let line: String = line
            .trim_end()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if line.is_empty() {
            blank = true;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank { "<br><br>" } else { "<br>" });
        }
        blank = false;
        out.push_str(&line);
    }
    out
}

/// The `-o` push options that ask GitLab to create (or update) the merge request.
pub fn push_options(req: &MrRequest) -> Vec<String> {
    let mut opts = vec![
        "merge_request.create".to_string(),
        format!("merge_request.target={}", req.target),
        format!("merge_request.title={}", req.one_line_title()),
    ];
    let description = push_description(&req.description);
    if !description.is_empty() {
        opts.push(format!("merge_request.description={description}"));
    }
    for label in &req.labels {
        opts.push(format!("merge_request.label={}", label.trim()));
    }
    opts
}

/// Checks the branch ([`check_branch`]), then pushes it with
/// `git push --force-with-lease=<branch> <remote> <branch>:<branch>` and the merge-request push
/// options ([`push_options`]). Force with lease: a second run (amended promotion) updates the
/// branch, but never overwrites commits someone else pushed since our last fetch of it.
pub fn push_with_options(git: &Git, req: &MrRequest) -> Result<PushOutcome> {
    push_branch(git, req, true)
}

/// [`push_with_options`], or with `mr_options` false the same push without the merge-request
/// options (when the REST API opens the merge request instead).
pub fn push_branch(git: &Git, req: &MrRequest, mr_options: bool) -> Result<PushOutcome> {
    check_branch(git, req)?;
    let lease = format!("--force-with-lease={}", req.branch);
    let refspec = format!("refs/heads/{0}:refs/heads/{0}", req.branch);
    let opts = if mr_options {
        push_options(req)
    } else {
        Vec::new()
    };
    let mut args: Vec<&str> = vec!["push", "--porcelain", &lease];
    for o in &opts {
        args.push("-o");
        args.push(o);
    }
    args.push("--");
    args.push(&req.remote);
    args.push(&refspec);
    let out = git.output(&args)?;
    let remote_lines = remote_lines(&out.stderr);
    let status = porcelain_status(&out.stdout, &req.branch);
    let rejected = status.as_ref().is_some_and(|(flag, _)| *flag == '!');
    if !out.success || rejected {
        let mut parts: Vec<String> = remote_lines
            .iter()
            .filter(|l| !l.starts_with("To create a merge request") && !l.contains("://"))
            .map(|l| l.trim_end_matches('.').to_string())
            .collect();
        match &status {
            Some((_, summary)) if summary.contains("stale info") => parts.push(format!(
                "{summary}: the remote branch changed since it was last fetched; someone else pushed to it"
            )),
            Some((_, summary)) => parts.push(summary.clone()),
            None => parts.push(one_line(&out.stderr)),
        }
        parts.dedup();
        let why = redact(&parts.join("; "));
        return Err(Error::external(format!(
            "{}: push of {} to {} rejected: {}",
            git.label(),
            req.branch,
            req.remote,
            why.trim_end_matches('.')
        )));
    }
    let up_to_date = status.as_ref().is_some_and(|(flag, _)| *flag == '=');
    Ok(PushOutcome {
        url: merge_request_url(&remote_lines),
        up_to_date,
        forced: status.is_some_and(|(flag, _)| flag == '+'),
        remote_message: remote_lines.join("\n"),
    })
}

/// The remote's lines of git's stderr, `remote:` stripped, blank ones dropped, secrets redacted.
fn remote_lines(stderr: &str) -> Vec<String> {
    stderr
        .split(['\n', '\r'])
        .filter_map(|l| l.strip_prefix("remote:"))
        .map(|l| redact(l.trim()))
        .filter(|l| !l.is_empty())
        .collect()
}

/// The flag and summary of `--porcelain` for our ref: (`*` new, `+` forced, ` ` fast-forward,
/// `=` up to date, `!` rejected, `-` deleted; the summary as git prints it).
fn porcelain_status(stdout: &str, branch: &str) -> Option<(char, String)> {
    let want = format!("refs/heads/{branch}:refs/heads/{branch}");
    stdout.lines().find_map(|line| {
        let mut fields = line.splitn(3, '\t');
        let flag = fields.next()?.chars().next()?;
        (fields.next()? == want).then(|| (flag, fields.next().unwrap_or_default().to_string()))
    })
}

/// The merge request's URL in the remote's lines: the one after `View merge request for ...:`,
/// else any `.../merge_requests/<number>` URL.
pub fn merge_request_url(lines: &[String]) -> Option<String> {
    let urls = |l: &str| -> Vec<String> {
        l.split_whitespace()
            .filter(|w| w.starts_with("https://") || w.starts_with("http://"))
            .map(|w| w.trim_end_matches(['.', ',', ')']).to_string())
            .collect()
    };
    let is_mr = |u: &str| {
        u.split_once("/merge_requests/").is_some_and(|(_, rest)| {
            let iid = rest.split(['/', '?', '#']).next().unwrap_or_default();
            !iid.is_empty() && iid.bytes().all(|b| b.is_ascii_digit())
        })
    };
    let mut after_view = false;
    for line in lines {
        if line.starts_with("View merge request") {
            after_view = true;
        }
        if after_view {
            if let Some(u) = urls(line).into_iter().find(|u| is_mr(u)) {
                return Some(redact(&u));
            }
        }
    }
    lines
        .iter()
        .flat_map(|l| urls(l))
        .find(|u| is_mr(u))
        .map(|u| redact(&u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_for_push_options() {
        assert_eq!(
            push_description("# Title\r\n\n\n- a\n- b  \n"),
            "# Title<br><br>- a<br>- b"
        );
        assert_eq!(push_description("one\tline"), "one line");
        let mut req = MrRequest::new("promote/x", "t\nitle");
        req.labels = vec!["bot/automerge".into()];
        assert_eq!(
            push_options(&req),
            [
                "merge_request.create",
                "merge_request.target=master",
                "merge_request.title=t itle",
                "merge_request.label=bot/automerge"
            ]
        );
    }

    #[test]
    fn urls_in_remote_lines() {
        let lines = |s: &str| remote_lines(s);
        let view = "remote: \nremote: View merge request for promote/x:\nremote:   https://gl/g/p/-/merge_requests/12\nremote: \nTo x\n";
        assert_eq!(
            merge_request_url(&lines(view)).as_deref(),
            Some("https://gl/g/p/-/merge_requests/12")
        );
        let create = "remote: To create a merge request for promote/x, visit:\nremote:   https://gl/g/p/-/merge_requests/new?merge_request%5Bsource_branch%5D=promote%2Fx\n";
        assert_eq!(merge_request_url(&lines(create)), None);
    }
}
