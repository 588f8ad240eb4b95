//! A local HTTP server shaped like GitLab's merge-request API: list (by `source_branch`, or by
//! `state` and `target_branch`, a page at a time), create, update, close (`state_event`), and
//! notes, with GitLab's error answers (401, 409, 422, 404).

use std::sync::{Arc, Mutex};

use super::http_server::{serve, Request, Response, Server};

pub const TOKEN: &str = "glpat-secret-token-123";
pub const PROJECT_PATH: &str = "/api/v4/projects/group%2Fapp-interface/merge_requests";

#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub target: String,
    pub token: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct Mr {
    pub iid: u64,
    pub source: String,
    pub target: String,
    pub title: String,
    pub description: String,
    pub labels: Vec<String>,
    /// `opened` or `closed`.
    pub state: String,
    /// The notes' bodies, oldest first.
    pub notes: Vec<String>,
}

impl Mr {
    pub fn is_open(&self) -> bool {
        self.state == "opened"
    }
}

/// A test's hook on each request: true drops the answer.
pub type Hook = Box<dyn Fn(&Req) -> bool + Send + Sync>;

#[derive(Default)]
pub struct State {
    pub mrs: Vec<Mr>,
    pub requests: Vec<Req>,
    /// Called with each request after it is answered in state, before the answer is sent.
    pub hook: Option<Hook>,
    /// The commit statuses of every merge request's head commit (JSON objects, newest first).
    pub statuses: Vec<serde_json::Value>,
}

pub struct FakeGitLab {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    /// Stops on drop.
    pub server: Server,
}

impl Req {
    fn of(req: &Request) -> Req {
        Req {
            method: req.method.clone(),
            target: req.target.clone(),
            token: req.header("private-token").map(str::to_string),
            body: req.body.clone(),
        }
    }
}

pub fn query(target: &str, key: &str) -> Option<String> {
    let q = target.split_once('?')?.1;
    q.split('&').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k == key).then(|| v.replace("%2F", "/").replace("%2f", "/"))
    })
}

pub fn mr_json(mr: &Mr) -> serde_json::Value {
    serde_json::json!({
        "iid": mr.iid,
        "source_branch": mr.source,
        "target_branch": mr.target,
        "title": mr.title,
        "description": mr.description,
        "labels": mr.labels,
        "state": mr.state,
        "sha": head_sha(mr.iid),
        "web_url": format!("https://gitlab.test/group/app-interface/-/merge_requests/{}", mr.iid),
    })
}

/// The head commit GitLab gives merge request `iid`.
pub fn head_sha(iid: u64) -> String {
    format!("{iid:040x}")
}

/// GitLab's merge-request API, as far as upsert uses it.
pub fn gitlab_answer(state: &mut State, req: &Req) -> (u16, String) {
    if req.token.as_deref() != Some(TOKEN) {
        return (401, r#"{"message":"401 Unauthorized"}"#.into());
    }
    let path = req.target.split('?').next().unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap_or_default();
    let labels = |v: &serde_json::Value| -> Vec<String> {
        v.as_str()
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    match (req.method.as_str(), path) {
        ("GET", PROJECT_PATH) => {
            let state_q = query(&req.target, "state");
            if let Some(source) = query(&req.target, "source_branch") {
                let state_q = state_q.unwrap_or_else(|| "all".into());
                if !["opened", "closed", "merged", "locked", "all"].contains(&state_q.as_str()) {
                    return (
                        400,
                        r#"{"error":"state does not have a valid value"}"#.into(),
                    );
                }
                // A race: another run's merge request is not listed yet.
                if source == "promote/race" {
                    return (200, "[]".into());
                }
                // Newest first, as GitLab orders by created_at desc.
                let found: Vec<_> = state
                    .mrs
                    .iter()
                    .rev()
                    .filter(|m| m.source == source && (state_q == "all" || m.state == state_q))
                    .map(mr_json)
                    .collect();
                return (200, serde_json::Value::from(found).to_string());
            }
            let target = query(&req.target, "target_branch");
            let per_page: usize = query(&req.target, "per_page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(20);
            let page: usize = query(&req.target, "page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            if per_page == 0 || per_page > 100 || page == 0 {
                return (
                    400,
                    r#"{"error":"per_page does not have a valid value"}"#.into(),
                );
            }
            let found: Vec<_> = state
                .mrs
                .iter()
                .rev()
                .filter(|m| {
                    state_q
                        .as_deref()
                        .is_none_or(|s| s == "all" || s == m.state)
                })
                .filter(|m| target.as_deref().is_none_or(|t| t == m.target))
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(mr_json)
                .collect();
            (200, serde_json::Value::from(found).to_string())
        }
        ("GET", p)
            if p.starts_with(PROJECT_PATH.trim_end_matches("/merge_requests"))
                && p.ends_with("/statuses") =>
        {
            (
                200,
                serde_json::Value::from(state.statuses.clone()).to_string(),
            )
        }
        ("GET", p)
            if p.starts_with(&format!("{PROJECT_PATH}/"))
                && p[PROJECT_PATH.len() + 1..]
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            match mr_at(state, p) {
                Some(mr) => (200, mr_json(mr).to_string()),
                None => (404, r#"{"message":"404 Not found"}"#.into()),
            }
        }
        ("GET", p) if p.starts_with(&format!("{PROJECT_PATH}/")) && p.ends_with("/pipelines") => {
            match mr_at(state, p) {
                // The check runs outside GitLab here: no pipeline of its own.
                Some(_) => (200, "[]".into()),
                None => (404, r#"{"message":"404 Not found"}"#.into()),
            }
        }
        ("GET", p) if p.starts_with(&format!("{PROJECT_PATH}/")) && p.ends_with("/notes") => {
            let Some(mr) = mr_at(state, p) else {
                return (404, r#"{"message":"404 Not found"}"#.into());
            };
            // GitLab's own system note of a state change is listed among them.
            let mut notes: Vec<_> = mr
                .notes
                .iter()
                .enumerate()
                .rev()
                .map(|(i, b)| serde_json::json!({"id": i + 1, "body": b, "system": false}))
                .collect();
            if mr.state != "opened" {
                notes.insert(
                    0,
                    serde_json::json!({"id": 10_000 + mr.iid, "body": mr.state, "system": true}),
                );
            }
            (200, serde_json::Value::from(notes).to_string())
        }
        ("PUT", p) if p.starts_with(&format!("{PROJECT_PATH}/")) && p.contains("/notes/") => {
            let note: Option<usize> = p.rsplit('/').next().and_then(|n| n.parse().ok());
            let Some(mr) = mr_at(state, p) else {
                return (404, r#"{"message":"404 Not found"}"#.into());
            };
            let Some(n) = note.filter(|n| *n >= 1 && *n <= mr.notes.len()) else {
                return (404, r#"{"message":"404 Note Not Found"}"#.into());
            };
            let Some(b) = body["body"].as_str().filter(|b| !b.trim().is_empty()) else {
                return (400, r#"{"message":{"note":["can't be blank"]}}"#.into());
            };
            mr.notes[n - 1] = b.to_string();
            (200, serde_json::json!({"id": n, "body": b}).to_string())
        }
        ("POST", p) if p.starts_with(&format!("{PROJECT_PATH}/")) && p.ends_with("/notes") => {
            let Some(mr) = mr_at(state, p) else {
                return (404, r#"{"message":"404 Not found"}"#.into());
            };
            let Some(b) = body["body"].as_str().filter(|b| !b.trim().is_empty()) else {
                return (400, r#"{"message":{"note":["can't be blank"]}}"#.into());
            };
            mr.notes.push(b.to_string());
            let id = mr.notes.len();
            (201, serde_json::json!({"id": id, "body": b}).to_string())
        }
        ("POST", PROJECT_PATH) => {
            let source = body["source_branch"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let target = body["target_branch"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(m) = state.mrs.iter().find(|m| m.source == source && m.is_open()) {
                let msg = format!(
                    "Another open merge request already exists for this source branch: !{}",
                    m.iid
                );
                return (409, serde_json::json!({ "message": [msg] }).to_string());
            }
            if target != "master" {
                return (
                    422,
                    serde_json::json!({"message": {"target_branch": [format!("{target} does not exist")]}})
                        .to_string(),
                );
            }
            let mr = Mr {
                iid: state.mrs.len() as u64 + 1,
                source,
                target,
                title: body["title"].as_str().unwrap_or_default().into(),
                description: body["description"].as_str().unwrap_or_default().into(),
                labels: labels(&body["labels"]),
                state: "opened".into(),
                notes: Vec::new(),
            };
            state.mrs.push(mr.clone());
            (201, mr_json(&mr).to_string())
        }
        ("PUT", p) if p.starts_with(&format!("{PROJECT_PATH}/")) => {
            let Some(mr) = mr_at(state, p) else {
                return (404, r#"{"message":"404 Not found"}"#.into());
            };
            // GitLab changes only the attributes given.
            if let Some(t) = body["title"].as_str() {
                mr.title = t.into();
            }
            if let Some(d) = body["description"].as_str() {
                mr.description = d.into();
            }
            if mr.state == "merged" && body.get("state_event").is_some() {
                return (405, r#"{"message":"405 Method Not Allowed"}"#.into());
            }
            match body["state_event"].as_str() {
                Some("close") => mr.state = "closed".into(),
                Some("reopen") if mr.state == "closed" => mr.state = "opened".into(),
                Some("reopen") => {}
                Some(other) => {
                    return (
                        400,
                        serde_json::json!({"error": format!("state_event does not have a valid value: {other}")}).to_string(),
                    )
                }
                None => {}
            }
            for l in labels(&body["add_labels"]) {
                if !mr.labels.contains(&l) {
                    mr.labels.push(l);
                }
            }
            (200, mr_json(mr).to_string())
        }
        _ => (404, r#"{"message":"404 Project Not Found"}"#.into()),
    }
}

/// The merge request of a path `.../merge_requests/:iid[/notes]`.
fn mr_at<'a>(state: &'a mut State, path: &str) -> Option<&'a mut Mr> {
    let rest = path.strip_prefix(&format!("{PROJECT_PATH}/"))?;
    let iid: u64 = rest.split('/').next()?.parse().ok()?;
    state.mrs.iter_mut().find(|m| m.iid == iid)
}

impl FakeGitLab {
    /// A person closes merge request `iid` in the web interface.
    pub fn close(&self, iid: u64) {
        let mut st = self.state.lock().unwrap();
        let mr = st.mrs.iter_mut().find(|m| m.iid == iid).unwrap();
        mr.state = "closed".into();
    }

    /// GitLab marks merge request `iid` merged (the branch was merged into its target).
    pub fn merged(&self, iid: u64) {
        let mut st = self.state.lock().unwrap();
        let mr = st.mrs.iter_mut().find(|m| m.iid == iid).unwrap();
        mr.state = "merged".into();
    }

    /// Calls `hook` with each request before it is answered (to kill a client at a chosen
    /// request, say); `hook` returns true to answer nothing and drop the connection.
    pub fn on_request(&self, hook: impl Fn(&Req) -> bool + Send + Sync + 'static) {
        self.state.lock().unwrap().hook = Some(Box::new(hook));
    }
}

pub fn serve_gitlab() -> FakeGitLab {
    let state = Arc::new(Mutex::new(State::default()));
    let server = {
        let state = state.clone();
        serve(move |req, _| {
            let req = Req::of(req);
            let mut st = state.lock().unwrap();
            st.requests.push(req.clone());
            let (status, body) = gitlab_answer(&mut st, &req);
            let drop_it = st.hook.as_ref().is_some_and(|h| h(&req));
            if drop_it {
                return Response::status(500).json(r#"{"message":"500 Internal Server Error"}"#);
            }
            Response::status(status).json(&body)
        })
    };
    FakeGitLab {
        url: server.url.clone(),
        state,
        server,
    }
}
