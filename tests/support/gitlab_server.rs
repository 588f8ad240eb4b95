//! A local HTTP server shaped like GitLab's merge-request API: list by `source_branch` and
//! `state=opened`, create, update, with GitLab's error answers (401, 409, 422, 404).

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
}

#[derive(Default)]
pub struct State {
    pub mrs: Vec<Mr>,
    pub requests: Vec<Req>,
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
        "web_url": format!("https://gitlab.test/group/app-interface/-/merge_requests/{}", mr.iid),
    })
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
            let source = query(&req.target, "source_branch").unwrap_or_default();
            assert_eq!(query(&req.target, "state").as_deref(), Some("opened"));
            // A race: another run's merge request is not listed yet.
            if source == "promote/race" {
                return (200, "[]".into());
            }
            let found: Vec<_> = state
                .mrs
                .iter()
                .filter(|m| m.source == source)
                .map(mr_json)
                .collect();
            (200, serde_json::Value::from(found).to_string())
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
            if let Some(m) = state.mrs.iter().find(|m| m.source == source) {
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
            };
            state.mrs.push(mr.clone());
            (201, mr_json(&mr).to_string())
        }
        ("PUT", p) if p.starts_with(&format!("{PROJECT_PATH}/")) => {
            let iid: u64 = p.rsplit('/').next().unwrap().parse().unwrap();
            let Some(mr) = state.mrs.iter_mut().find(|m| m.iid == iid) else {
                return (404, r#"{"message":"404 Not found"}"#.into());
            };
            mr.title = body["title"].as_str().unwrap_or_default().into();
            mr.description = body["description"].as_str().unwrap_or_default().into();
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

pub fn serve_gitlab() -> FakeGitLab {
    let state = Arc::new(Mutex::new(State::default()));
    let server = {
        let state = state.clone();
        serve(move |req, _| {
            let req = Req::of(req);
            let mut st = state.lock().unwrap();
            st.requests.push(req.clone());
            let (status, body) = gitlab_answer(&mut st, &req);
            Response::status(status).json(&body)
        })
    };
    FakeGitLab {
        url: server.url.clone(),
        state,
        server,
    }
}
