//! GitLab's REST API (`/api/v4`) on the HTTP layer: the project of a git remote, the token, and
//! creating or updating the merge request.

use std::path::Path;
use std::time::Duration;

use super::{remote_url, MrRequest, Secret, TOKEN_ENV};
use crate::error::{Error, Result};
use crate::http::{
    self, authority, check_base_url, encode_segment, shown_url, url_host, Client, ClientConfig,
    Method, Request,
};
use crate::upstream::git::Git;

/// What a GitLab URL uses instead of credentials.
const CREDENTIALS_HINT: &str = "use a token";

/// The most bytes read from an answer.
const BODY_LIMIT: u64 = 4 << 20;

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
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
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
        let (derived, path) = parse_remote_url(remote_url)
            .map_err(|why| Error::input(format!("remote URL {}: {why}", shown_url(remote_url))))?;
        let base = match explicit_base {
            Some(b) => b.trim().to_string(),
            None => derived,
        };
        let base_url = check_base_url(&base, CREDENTIALS_HINT)
            .map_err(|why| Error::input(format!("GitLab URL {why}")))?;
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

    pub(super) fn project_url(&self) -> String {
        format!(
            "{}/api/v4/projects/{}",
            self.base_url,
            encode_segment(&self.project)
        )
    }

    /// Creates the merge request, or updates the open one of the same source branch (no duplicate):
    /// `GET merge_requests?source_branch=&state=opened`, then `PUT merge_requests/:iid` (title,
    /// description, target; labels added with `add_labels` so labels set by reviewers stay) or
    /// `POST merge_requests` (source and target branch, title, description, labels).
    pub fn upsert_mr(&self, req: &MrRequest) -> Result<MrOutcome> {
        req.validate()?;
        let client = self.client();
        let list_url = format!("{}/merge_requests", self.project_url());
        let found = self.call(
            &client,
            Method::Get,
            &list_url,
            &[("source_branch", req.branch.as_str()), ("state", "opened")],
            None,
        )?;
        let open = self.list(&list_url, &found)?;
        let existing = open
            .iter()
            .find(|mr| mr["target_branch"].as_str() == Some(req.target.as_str()))
            .or_else(|| open.first());
        let (mr, created) = match existing.and_then(|mr| mr["iid"].as_u64()) {
            Some(iid) => (self.update_mr(iid, req)?, false),
            None => (
                self.post_mr(req)?.map_err(|(status, message)| {
                    self.http_error(&list_url, "POST", status, &message)
                })?,
                true,
            ),
        };
        Ok(MrOutcome {
            iid: mr.iid,
            web_url: mr.web_url,
            created,
        })
    }

    /// The open merge requests into `target`, every page (`GET merge_requests?state=opened`).
    pub fn open_mrs(&self, target: &str) -> Result<Vec<MergeRequest>> {
        let client = self.client();
        let url = format!("{}/merge_requests", self.project_url());
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let page = page.to_string();
            let answer = self.call(
                &client,
                Method::Get,
                &url,
                &[
                    ("state", "opened"),
                    ("target_branch", target),
                    ("per_page", "100"),
                    ("page", &page),
                ],
                None,
            )?;
            let list = self.list(&url, &answer)?;
            all.extend(list.iter().filter_map(MergeRequest::of));
            if list.len() < 100 {
                break;
            }
        }
        Ok(all)
    }

    /// The merge requests of `branch` in any state (open, closed, merged), newest first
    /// (`GET merge_requests?source_branch=&state=all`, the first 100).
    pub fn branch_mrs(&self, branch: &str) -> Result<Vec<MergeRequest>> {
        let url = format!("{}/merge_requests", self.project_url());
        let answer = self.call(
            &self.client(),
            Method::Get,
            &url,
            &[
                ("source_branch", branch),
                ("state", "all"),
                ("order_by", "created_at"),
                ("sort", "desc"),
                ("per_page", "100"),
            ],
            None,
        )?;
        let mut list: Vec<MergeRequest> = self
            .list(&url, &answer)?
            .iter()
            .filter_map(MergeRequest::of)
            .filter(|m| m.source_branch == branch)
            .collect();
        list.sort_by_key(|m| std::cmp::Reverse(m.iid));
        Ok(list)
    }

    /// Opens a merge request (`POST merge_requests`). GitLab's 409, another open merge request of
    /// the same source branch, is [`Created::Exists`].
    pub fn create_mr(&self, req: &MrRequest) -> Result<Created> {
        req.validate()?;
        match self.post_mr(req)? {
            Ok(m) => Ok(Created::Opened(m)),
            Err((409, _)) => Ok(Created::Exists),
            Err((status, message)) => {
                let url = format!("{}/merge_requests", self.project_url());
                Err(self.http_error(&url, "POST", status, &message))
            }
        }
    }

    /// `POST merge_requests`: the merge request opened, or GitLab's status and message.
    fn post_mr(&self, req: &MrRequest) -> Result<std::result::Result<MergeRequest, (u16, String)>> {
        let url = format!("{}/merge_requests", self.project_url());
        let body = serde_json::json!({
            "source_branch": req.branch,
            "target_branch": req.target,
            "title": req.one_line_title(),
            "description": req.description,
            "labels": labels_of(req),
        });
        match self.call_status(&self.client(), Method::Post, &url, &[], Some(&body))? {
            Ok(v) => MergeRequest::of(&v)
                .map(Ok)
                .ok_or_else(|| self.fail(&url, "POST", "answered without an iid")),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Sets a merge request's title, description and target and adds the request's labels (labels
    /// reviewers set stay): `PUT merge_requests/:iid`.
    pub fn update_mr(&self, iid: u64, req: &MrRequest) -> Result<MergeRequest> {
        req.validate()?;
        let url = format!("{}/merge_requests/{iid}", self.project_url());
        let mut body = serde_json::json!({
            "title": req.one_line_title(),
            "description": req.description,
            "target_branch": req.target,
        });
        let labels = labels_of(req);
        if !labels.is_empty() {
            body["add_labels"] = labels.into();
        }
        let v = self.call(&self.client(), Method::Put, &url, &[], Some(&body))?;
        MergeRequest::of(&v).ok_or_else(|| self.fail(&url, "PUT", "answered without an iid"))
    }

    /// Closes a merge request (`PUT merge_requests/:iid` with `state_event: close`).
    pub fn close_mr(&self, iid: u64) -> Result<()> {
        let url = format!("{}/merge_requests/{iid}", self.project_url());
        let body = serde_json::json!({ "state_event": "close" });
        self.call(&self.client(), Method::Put, &url, &[], Some(&body))?;
        Ok(())
    }

    /// The bodies of a merge request's notes, newest first (`GET merge_requests/:iid/notes`,
    /// the first 100).
    pub fn notes(&self, iid: u64) -> Result<Vec<String>> {
        Ok(self.note_list(iid)?.into_iter().map(|n| n.body).collect())
    }

    /// A merge request's notes with their ids, newest first (the first 100); system notes
    /// (GitLab's own "closed", "added 1 commit") left out.
    pub fn note_list(&self, iid: u64) -> Result<Vec<Note>> {
        let url = format!("{}/merge_requests/{iid}/notes", self.project_url());
        let v = self.call(
            &self.client(),
            Method::Get,
            &url,
            &[("sort", "desc"), ("per_page", "100")],
            None,
        )?;
        Ok(self
            .list(&url, &v)?
            .iter()
            .filter(|n| !n["system"].as_bool().unwrap_or(false))
            .filter_map(|n| {
                Some(Note {
                    id: n["id"].as_u64()?,
                    body: n["body"].as_str()?.to_string(),
                })
            })
            .collect())
    }

    /// Replaces the body of a note (`PUT merge_requests/:iid/notes/:note_id`).
    pub fn edit_note(&self, iid: u64, note: u64, body: &str) -> Result<()> {
        let url = format!("{}/merge_requests/{iid}/notes/{note}", self.project_url());
        let body = serde_json::json!({ "body": body });
        self.call(&self.client(), Method::Put, &url, &[], Some(&body))?;
        Ok(())
    }

    /// Adds `body` as a note, or puts it in place of the newest note that starts with `marker`
    /// (so the note is written once and kept current, never repeated); nothing when that note
    /// already says it.
    pub fn upsert_note(&self, iid: u64, marker: &str, body: &str) -> Result<()> {
        let notes = self.note_list(iid)?;
        match notes.iter().find(|n| n.body.starts_with(marker)) {
            Some(n) if n.body == body => Ok(()),
            Some(n) => self.edit_note(iid, n.id, body),
            None => self.add_note(iid, body),
        }
    }

    /// Adds a note to a merge request (`POST merge_requests/:iid/notes`).
    pub fn add_note(&self, iid: u64, body: &str) -> Result<()> {
        let url = format!("{}/merge_requests/{iid}/notes", self.project_url());
        let body = serde_json::json!({ "body": body });
        self.call(&self.client(), Method::Post, &url, &[], Some(&body))?;
        Ok(())
    }

    /// The items of an answer that must be a list.
    pub(super) fn list<'a>(
        &self,
        url: &str,
        v: &'a serde_json::Value,
    ) -> Result<&'a Vec<serde_json::Value>> {
        v.as_array()
            .ok_or_else(|| self.fail(url, "GET", "answered something other than a list"))
    }

    pub(super) fn client(&self) -> Client {
        self.client_for(BODY_LIMIT)
    }

    /// A client that reads answers of up to `body_limit` bytes (logs and artifacts).
    pub(super) fn client_for(&self, body_limit: u64) -> Client {
        Client::new(ClientConfig {
            connect_timeout: None,
            request_timeout: self.timeout,
            max_redirects: 0,
            body_limit,
        })
    }

    pub(super) fn fail(&self, url: &str, method: &str, why: &str) -> Error {
        let msg = format!("GitLab {method} {}: {why}", shown_url(url));
        Error::external(http::scrub(&msg, &[self.token.expose()]))
    }

    pub(super) fn call(
        &self,
        client: &Client,
        method: Method,
        url: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let name = method.as_str();
        self.call_status(client, method, url, query, body)?
            .map_err(|(status, message)| self.http_error(url, name, status, &message))
    }

    /// A request whose answer is JSON on success, else GitLab's status and message; the outer
    /// error is for a server that cannot be reached or answers invalid JSON.
    fn call_status(
        &self,
        client: &Client,
        method: Method,
        url: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<std::result::Result<serde_json::Value, (u16, String)>> {
        let token = self.token.expose();
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        let mut headers = vec![("PRIVATE-TOKEN", token), ("Accept", "application/json")];
        if method != Method::Get {
            headers.push(("Content-Type", "application/json"));
        }
        let request = Request {
            query,
            headers: &headers,
            body: &text,
            ..Request::new(method, url)
        };
        let method = method.as_str();
        let reply = client.send(&request).map_err(|e| {
            let why = client.failure(&e, url);
            let at = authority(&self.base_url);
            self.fail(url, method, &format!("cannot reach {at}: {why}"))
        })?;
        let status = reply.status;
        if (200..300).contains(&status) {
            return serde_json::from_str(&reply.body)
                .map(Ok)
                .map_err(|e| self.fail(url, method, &format!("answered invalid JSON: {e}")));
        }
        Ok(Err((status, gitlab_message(&reply.body))))
    }

    pub(super) fn http_error(&self, url: &str, method: &str, status: u16, message: &str) -> Error {
        let hint = match status {
            401 => " (is the token valid and unexpired?)",
            403 => " (does the token have the api scope and Developer access?)",
            404 => " (is the project path right, and visible to the token?)",
            _ => "",
        };
        self.fail(url, method, &format!("HTTP {status}: {message}{hint}"))
    }
}

/// The most pages of merge requests read (100 each).
const MAX_PAGES: usize = 20;

/// A merge request as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MergeRequest {
    pub iid: u64,
    pub source_branch: String,
    pub target_branch: String,
    pub title: String,
    pub description: String,
    pub labels: Vec<String>,
    pub web_url: String,
    /// `opened`, `closed`, `merged` or `locked`.
    pub state: String,
    /// The head commit of its source branch.
    pub sha: String,
}

/// A note on a merge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: u64,
    pub body: String,
}

impl MergeRequest {
    /// Open (GitLab's `opened`, or `locked` while it merges).
    pub fn is_open(&self) -> bool {
        self.state == "opened" || self.state == "locked"
    }

    pub(super) fn of(v: &serde_json::Value) -> Option<MergeRequest> {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        Some(MergeRequest {
            iid: v["iid"].as_u64()?,
            source_branch: s("source_branch"),
            target_branch: s("target_branch"),
            title: s("title"),
            description: s("description"),
            labels: v["labels"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            web_url: s("web_url"),
            state: match s("state") {
                st if st.is_empty() => "opened".to_string(),
                st => st,
            },
            sha: s("sha"),
        })
    }
}

/// What creating a merge request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Opened now.
    Opened(MergeRequest),
    /// GitLab refused: an open merge request of the same source branch exists (opened by
    /// another run since the list was read).
    Exists,
}

fn labels_of(req: &MrRequest) -> String {
    req.labels
        .iter()
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(",")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::redact;

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
}
