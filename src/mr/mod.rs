//! Opening the promotion's merge request: branch safety check, `git push -o merge_request.*`, or GitLab's REST API.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::error::{io_message, Error, Result};
use crate::git::{is_promotion_subject, one_line, short, Git};
use crate::redact::{redact, redact_known, MARKER};
use crate::util::{is_loopback, url_host};

/// The environment variable holding a GitLab token.
pub const TOKEN_ENV: &str = "GITLAB_TOKEN";

/// What the merge request is: which branch goes where, and how it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrRequest {
    /// The git remote to push to (`origin` by default).
    pub remote: String,
    /// The source branch (`promote/<component>-<new7>`).
    pub branch: String,
    /// The target branch (`master` by default).
    pub target: String,
    /// The merge request's title (one line; newlines become spaces).
    pub title: String,
    /// The merge request's description (Markdown).
    pub description: String,
    /// Labels to set (no commas, no newlines).
    pub labels: Vec<String>,
}

impl MrRequest {
    /// A request for `branch` with the defaults: remote `origin`, target `master`, no labels.
    pub fn new(branch: impl Into<String>, title: impl Into<String>) -> MrRequest {
        MrRequest {
            remote: "origin".into(),
            branch: branch.into(),
            target: "master".into(),
            title: title.into(),
            description: String::new(),
            labels: Vec::new(),
        }
    }

    /// Checks the fields on their own (no git): non-empty names and title, distinct branches, clean labels.
    pub fn validate(&self) -> Result<()> {
        for (what, value) in [
            ("remote", &self.remote),
            ("branch", &self.branch),
            ("target branch", &self.target),
        ] {
            if value.trim().is_empty() || value.contains(char::is_whitespace) {
                return Err(Error::input(format!(
                    "merge request: {what} {value:?} is empty or contains whitespace"
                )));
            }
        }
        if self.branch == self.target || self.branch == format!("refs/heads/{}", self.target) {
            return Err(Error::refused(format!(
                "merge request: branch {} is the target branch itself; refusing to push to it",
                self.branch
            )));
        }
        if self.title.trim().is_empty() {
            return Err(Error::input("merge request: empty title"));
        }
        for label in &self.labels {
            if label.trim().is_empty() || label.contains([',', '\n', '\r']) {
                return Err(Error::input(format!(
                    "merge request: label {label:?} is empty or contains a comma or newline"
                )));
            }
        }
        Ok(())
    }

    fn one_line_title(&self) -> String {
        self.title.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

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
                    short(id),
                    req.branch
                )));
            }
            if !is_promotion_subject(&subject) {
                return Err(Error::refused(format!(
                    "{label}: commit {} on branch {} is not a promotion commit: {subject:?}",
                    short(id),
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

/// The GitLab project behind a remote: from its URL as git uses it, else (a `url.<base>.insteadOf`
/// rewrite to a mirror or a local path) from the URL as configured.
pub fn gitlab_for_remote(
    git: &Git,
    remote: &str,
    explicit_base: Option<&str>,
    token: Secret,
) -> Result<GitLab> {
    let used = remote_url(git, remote)?;
    if parse_remote_url(&used).is_err() {
        let key = format!("remote.{remote}.url");
        let configured = git.output(&["config", "--get", "--", &key])?;
        let configured = configured.stdout.trim();
        if configured != used && parse_remote_url(configured).is_ok() {
            return GitLab::from_remote_url(configured, explicit_base, token);
        }
    }
    GitLab::from_remote_url(&used, explicit_base, token)
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

/// A token. `Debug` and `Display` print `[redacted]`; only [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value (surrounding whitespace trimmed).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into().trim().to_string())
    }

    /// The value, for the request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MARKER)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MARKER)
    }
}

/// Reads a token file, refusing one readable by group or others (mode & 0o077 != 0) or empty.
pub fn read_token_file(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::input(format!(
            "{}: the token file is not a regular file",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::refused(format!(
                "{}: token file is accessible by group or others (mode {mode:04o}); chmod 600 it",
                path.display()
            )));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        message: io_message(&e),
    })?;
    let token = text.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(Error::input(format!(
            "{}: the token file must hold one token on one line",
            path.display()
        )));
    }
    Ok(token.to_string())
}

/// The token: from `file` when given (see [`read_token_file`]), else from `GITLAB_TOKEN`.
pub fn resolve_token(file: Option<&Path>) -> Result<Secret> {
    if let Some(path) = file {
        return read_token_file(path).map(Secret::new);
    }
    match std::env::var(TOKEN_ENV) {
        Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v)),
        _ => Err(Error::input(format!(
            "no GitLab token: set {TOKEN_ENV} or give a token file"
        ))),
    }
}

/// A merge request as the REST path left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrOutcome {
    /// The project-level id (`!iid`).
    pub iid: u64,
    /// The merge request's page.
    pub web_url: String,
    /// `true` when created now, `false` when an open one was updated.
    pub created: bool,
}

/// A GitLab project reached through the REST API (`/api/v4`).
#[derive(Debug, Clone)]
pub struct GitLab {
    /// `https://host[:port]` (plain http only for loopback hosts), no trailing `/`.
    pub base_url: String,
    /// The `PRIVATE-TOKEN`.
    pub token: Secret,
    /// The project path with namespace (`group/sub/proj`), URL-encoded in requests.
    pub project: String,
    timeout: Duration,
}

impl GitLab {
    /// The GitLab of a git remote URL (`git@host:group/proj.git`, `https://host/group/proj(.git)`,
    /// `ssh://git@host[:port]/group/proj.git`): `https://host` (or `explicit_base`) and the project path.
    pub fn from_remote_url(
        remote_url: &str,
        explicit_base: Option<&str>,
        token: Secret,
    ) -> Result<GitLab> {
        let (derived, path) = parse_remote_url(remote_url).map_err(|why| {
            Error::input(format!(
                "remote URL {}: {why}",
                redact(&shown_url(remote_url))
            ))
        })?;
        let base = match explicit_base {
            Some(b) => b.trim().to_string(),
            None => derived,
        };
        let base_url = check_base_url(&base).map_err(Error::input)?;
        Ok(GitLab {
            base_url,
            token,
            project: path,
            timeout: Duration::from_secs(30),
        })
    }

    /// The same, with another per-request timeout (30 s by default).
    pub fn with_timeout(mut self, timeout: Duration) -> GitLab {
        self.timeout = timeout;
        self
    }

    fn project_url(&self) -> String {
        format!(
            "{}/api/v4/projects/{}",
            self.base_url,
            percent_encode(&self.project)
        )
    }

    /// Creates the merge request, or updates the open one of the same source branch (no duplicate):
    /// `GET merge_requests?source_branch=&state=opened`, then `PUT merge_requests/:iid` (title,
    /// description, target; labels added with `add_labels` so labels set by reviewers stay) or
    /// `POST merge_requests` (source and target branch, title, description, labels).
    pub fn upsert_mr(&self, req: &MrRequest) -> Result<MrOutcome> {
        req.validate()?;
        let agent = self.agent();
        let list_url = format!("{}/merge_requests", self.project_url());
        let found = self.call(
            &agent,
            "GET",
            &list_url,
            &[("source_branch", req.branch.as_str()), ("state", "opened")],
            None,
        )?;
        let open = found
            .as_array()
            .ok_or_else(|| self.fail(&list_url, "GET", "answered something other than a list"))?;
        let existing = open
            .iter()
            .find(|mr| mr["target_branch"].as_str() == Some(req.target.as_str()))
            .or_else(|| open.first());
        let labels = req
            .labels
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(",");
        let title = req.one_line_title();
        let (answer, url, method, created) = match existing.and_then(|mr| mr["iid"].as_u64()) {
            Some(iid) => {
                let url = format!("{}/merge_requests/{iid}", self.project_url());
                let mut body = serde_json::json!({
                    "title": title,
                    "description": req.description,
                    "target_branch": req.target,
                });
                if !labels.is_empty() {
                    body["add_labels"] = labels.into();
                }
                (
                    self.call(&agent, "PUT", &url, &[], Some(&body))?,
                    url,
                    "PUT",
                    false,
                )
            }
            None => {
                let body = serde_json::json!({
                    "source_branch": req.branch,
                    "target_branch": req.target,
                    "title": title,
                    "description": req.description,
                    "labels": labels,
                });
                (
                    self.call(&agent, "POST", &list_url, &[], Some(&body))?,
                    list_url,
                    "POST",
                    true,
                )
            }
        };
        let iid = answer["iid"]
            .as_u64()
            .ok_or_else(|| self.fail(&url, method, "answered without an iid"))?;
        let web_url = answer["web_url"].as_str().unwrap_or_default().to_string();
        Ok(MrOutcome {
            iid,
            web_url,
            created,
        })
    }

    fn agent(&self) -> ureq::Agent {
        let proxy = if is_loopback(url_host(authority(&self.base_url))) {
            None
        } else {
            ureq::Proxy::try_from_env()
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(self.timeout))
            .max_redirects(0)
            .proxy(proxy)
            .user_agent(concat!("qr-promote/", env!("CARGO_PKG_VERSION")))
            .build();
        ureq::Agent::new_with_config(config)
    }

    fn fail(&self, url: &str, method: &str, why: &str) -> Error {
        let msg = format!("GitLab {method} {}: {why}", shown_url(url));
        Error::external(self.scrub(&msg))
    }

    /// One line, without the token, without URL credentials.
    fn scrub(&self, msg: &str) -> String {
        let msg = redact_known(msg, &[self.token.expose()]);
        msg.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn call(
        &self,
        agent: &ureq::Agent,
        method: &str,
        url: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let token = self.token.expose();
        let sent = match (method, body) {
            ("GET", _) => {
                let mut r = agent
                    .get(url)
                    .header("PRIVATE-TOKEN", token)
                    .header("Accept", "application/json");
                for (k, v) in query {
                    r = r.query(*k, *v);
                }
                r.call()
            }
            (_, body) => {
                let text = body.map(|b| b.to_string()).unwrap_or_default();
                let r = if method == "PUT" {
                    agent.put(url)
                } else {
                    agent.post(url)
                };
                r.header("PRIVATE-TOKEN", token)
                    .header("Accept", "application/json")
                    .header("Content-Type", "application/json")
                    .send(text.as_str())
            }
        };
        let mut response = sent.map_err(|e| {
            self.fail(
                url,
                method,
                &format!(
                    "cannot reach {}: {}",
                    authority(&self.base_url),
                    transport(&e)
                ),
            )
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(4 << 20)
            .read_to_string()
            .unwrap_or_default();
        if (200..300).contains(&status) {
            return serde_json::from_str(&text)
                .map_err(|e| self.fail(url, method, &format!("answered invalid JSON: {e}")));
        }
        let message = gitlab_message(&text);
        let hint = match status {
            401 => " (is the token valid and unexpired?)",
            403 => " (does the token have the api scope and Developer access?)",
            404 => " (is the project path right, and visible to the token?)",
            _ => "",
        };
        Err(self.fail(url, method, &format!("HTTP {status}: {message}{hint}")))
    }
}

/// A ureq error in a few words.
fn transport(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => io_message(io),
        ureq::Error::HostNotFound => "host not found (DNS)".into(),
        ureq::Error::Timeout(what) => format!("timed out ({what})"),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        other => other.to_string(),
    }
}

/// GitLab's own `message` (a string, a list, or an object of field → list), else `error`
/// (+ `error_description`), else the start of the body.
pub fn gitlab_message(body: &str) -> String {
    fn flat(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(items) => {
                items.iter().map(flat).collect::<Vec<_>>().join("; ")
            }
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, v)| format!("{k}: {}", flat(v)))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        }
    }
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let msg = match &parsed {
        Some(v) if !v["message"].is_null() => flat(&v["message"]),
        Some(v) if !v["error"].is_null() => match v["error_description"].as_str() {
            Some(d) => format!("{}: {d}", flat(&v["error"])),
            None => flat(&v["error"]),
        },
        _ => body.chars().take(200).collect(),
    };
    let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    if msg.is_empty() {
        "no message".into()
    } else {
        msg
    }
}

/// `(https://host[:port], group/proj)` of a git remote URL.
fn parse_remote_url(url: &str) -> std::result::Result<(String, String), String> {
    let url = url.trim();
    let (base, path) = if let Some((scheme, rest)) = url.split_once("://") {
        let (auth, path) = rest.split_once('/').unwrap_or((rest, ""));
        let hostport = auth.rsplit('@').next().unwrap_or_default();
        match scheme.to_ascii_lowercase().as_str() {
            "https" | "http" => (
                format!("{}://{hostport}", scheme.to_ascii_lowercase()),
                path,
            ),
            "ssh" | "git+ssh" | "ssh+git" => (format!("https://{}", url_host(hostport)), path),
            _ => return Err(format!("unsupported scheme {scheme}")),
        }
    } else {
        // scp-like: [user@]host:path
        let (auth, path) = url.split_once(':').ok_or("not a URL nor user@host:path")?;
        if auth.contains('/') {
            return Err("a local path, not a GitLab remote".into());
        }
        let host = auth.rsplit('@').next().unwrap_or_default();
        (format!("https://{host}"), path)
    };
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    let host = url_host(authority(&base));
    if host.is_empty() {
        return Err("no host".into());
    }
    if !path.contains('/')
        || path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.contains(['?', '#']))
    {
        return Err("no group/project path".into());
    }
    Ok((base, path.to_string()))
}

/// The authority of a URL (`host[:port]`), without credentials.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let auth = rest.split(['/', '?', '#']).next().unwrap_or_default();
    auth.rsplit('@').next().unwrap_or_default()
}

/// `https://...`, or `http://` for loopback only; no credentials, query or fragment. No trailing `/`.
fn check_base_url(url: &str) -> std::result::Result<String, String> {
    let shown = redact(&shown_url(url));
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("GitLab URL `{shown}` is not an http(s) URL"));
    };
    let auth = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if auth.contains('@') {
        return Err(format!(
            "GitLab URL `{shown}` must not contain credentials; use a token"
        ));
    }
    if url.contains(['?', '#']) || url.contains(char::is_whitespace) || url_host(auth).is_empty() {
        return Err(format!("GitLab URL `{shown}` is not a valid base URL"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if is_loopback(url_host(auth)) => {}
        "http" => {
            return Err(format!(
                "GitLab URL `{shown}`: plain http is allowed only for loopback addresses; use https"
            ))
        }
        _ => return Err(format!("GitLab URL `{shown}`: the scheme must be https")),
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// A URL fit for a message: no query, no control characters, bounded length.
fn shown_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let mut shown: String = url.chars().filter(|c| !c.is_control()).take(200).collect();
    if url.chars().count() > 200 {
        shown.push_str("...");
    }
    redact(&shown)
}

/// Percent-encodes all but the unreserved characters (so `/` becomes `%2F`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `@a @b: this promotion ships your changes; please take a look.` for the handles given
/// (with or without `@`, duplicates and blanks dropped); `None` when there is nobody.
pub fn notify_sentence(handles: &[String]) -> Option<String> {
    let mut seen: Vec<&str> = Vec::new();
    for h in handles {
        let h = h.trim().trim_start_matches('@').trim();
        if !h.is_empty() && !seen.contains(&h) {
            seen.push(h);
        }
    }
    if seen.is_empty() {
        return None;
    }
    let at: Vec<String> = seen.iter().map(|h| format!("@{h}")).collect();
    Some(format!(
        "{}: this promotion ships your changes; please take a look.",
        at.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(url: &str) -> (String, String) {
        parse_remote_url(url).unwrap()
    }

    #[test]
    fn remote_urls() {
        let want = (
            "https://gitlab.example.org".to_string(),
            "service/app-interface".to_string(),
        );
        assert_eq!(
            remote("git@gitlab.example.org:service/app-interface.git"),
            want
        );
        assert_eq!(
            remote("https://gitlab.example.org/service/app-interface"),
            want
        );
        assert_eq!(
            remote("https://gitlab.example.org/service/app-interface.git"),
            want
        );
        assert_eq!(
            remote("https://me:tok@gitlab.example.org/service/app-interface/"),
            want
        );
        assert_eq!(
            remote("ssh://git@gitlab.example.org:2222/service/app-interface.git"),
            want
        );
        assert_eq!(
            remote("https://h:8443/a/b/c.git"),
            ("https://h:8443".to_string(), "a/b/c".to_string())
        );
        assert!(parse_remote_url("/srv/repo.git").is_err());
        assert!(parse_remote_url("https://host/onlyone").is_err());
        assert!(parse_remote_url("ftp://host/a/b").is_err());
    }

    #[test]
    fn base_urls() {
        let t = || Secret::new("glpat-abcdefgh");
        let gl = GitLab::from_remote_url("git@gitlab.example.org:a/b.git", None, t()).unwrap();
        assert_eq!(gl.base_url, "https://gitlab.example.org");
        assert_eq!(
            gl.project_url(),
            "https://gitlab.example.org/api/v4/projects/a%2Fb"
        );
        let gl =
            GitLab::from_remote_url("git@x:a/b.git", Some("http://127.0.0.1:9/"), t()).unwrap();
        assert_eq!(gl.base_url, "http://127.0.0.1:9");
        let err = GitLab::from_remote_url("http://gitlab.example.org/a/b", None, t())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("plain http is allowed only for loopback"),
            "{err}"
        );
        let err = GitLab::from_remote_url("git@x:a/b.git", Some("https://u:p@h"), t())
            .unwrap_err()
            .to_string();
        assert!(!err.contains("u:p"), "{err}");
    }

    #[test]
    fn secrets_are_redacted() {
        let s = Secret::new(" glpat-xyz \n");
        assert_eq!(s.expose(), "glpat-xyz");
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
        let gl = GitLab::from_remote_url("git@h:a/b.git", None, s).unwrap();
        assert!(!format!("{gl:?}").contains("glpat"));
        assert_eq!(
            redact("To https://oauth2:glpat-1@h/a/b.git and ssh://git@h/x"),
            "To https://[redacted]@h/a/b.git and ssh://[redacted]@h/x"
        );
    }

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

    #[test]
    fn gitlab_messages() {
        assert_eq!(
            gitlab_message(r#"{"message":"401 Unauthorized"}"#),
            "401 Unauthorized"
        );
        assert_eq!(
            gitlab_message(r#"{"message":["Another open merge request already exists: !1"]}"#),
            "Another open merge request already exists: !1"
        );
        assert_eq!(
            gitlab_message(r#"{"message":{"title":["is too long"],"labels":["bad","worse"]}}"#),
            "labels: bad; worse; title: is too long"
        );
        assert_eq!(
            gitlab_message(r#"{"error":"invalid_token","error_description":"Token\nexpired"}"#),
            "invalid_token: Token expired"
        );
        assert_eq!(gitlab_message("<html>\n oops</html>"), "<html> oops</html>");
        assert_eq!(gitlab_message(""), "no message");
    }

    #[test]
    fn notify() {
        assert_eq!(notify_sentence(&[]), None);
        assert_eq!(notify_sentence(&[" ".into(), "@".into()]), None);
        assert_eq!(
            notify_sentence(&["a".into(), "@b".into(), "a".into()]).as_deref(),
            Some("@a @b: this promotion ships your changes; please take a look.")
        );
    }

    #[test]
    fn requests_are_validated() {
        let mut req = MrRequest::new("master", "t");
        assert!(req
            .validate()
            .unwrap_err()
            .to_string()
            .contains("target branch itself"));
        req.branch = "promote/x".into();
        req.labels = vec!["a,b".into()];
        assert!(req.validate().is_err());
        req.labels.clear();
        assert!(req.validate().is_ok());
    }
}
