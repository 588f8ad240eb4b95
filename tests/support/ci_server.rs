//! A merge request's check as GitLab and Jenkins serve it, on the one scripted server: the
//! merge request with its head commit, commit statuses, pipelines, jobs, traces and artifacts,
//! notes (`/api/v4/...`, the `PRIVATE-TOKEN` checked), and a Jenkins build (`/job/pr-check/12/`:
//! `api/json`, `artifact/<path>`, `consoleText`, basic authentication checked), with GitLab's
//! and Jenkins' error answers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use super::gitlab_server::TOKEN;
use super::http_server::{serve, Request, Response, Server};

pub const PROJECT: &str = "/api/v4/projects/group%2Fapp-interface";
pub const SHA: &str = "c0ffee0000000000000000000000000000000001";
pub const JENKINS_USER: &str = "ci-reader";
pub const JENKINS_TOKEN: &str = "jenkins-api-token-456";
pub const BUILD: &str = "/job/pr-check/12/";

/// What the servers hold.
#[derive(Default)]
pub struct CiState {
    /// The project's API path (`/api/v4/projects/<group%2Fname>`).
    pub project: String,
    /// The merge request's iid and source branch.
    pub iid: u64,
    pub branch: String,
    /// Commit statuses of the head commit (JSON objects), newest first.
    pub statuses: Vec<serde_json::Value>,
    /// Answers `building: true` this many more times before the build is finished.
    pub building_for: usize,
    pub result: String,
    /// Archived artifacts: relative path -> text.
    pub artifacts: BTreeMap<String, String>,
    pub console: String,
    /// Pipelines of the merge request (JSON objects).
    pub pipelines: Vec<serde_json::Value>,
    /// Jobs of every pipeline: (id, name, status, trace).
    pub jobs: Vec<(u64, String, String, String)>,
    /// Job artifacts: (job id, path) -> text.
    pub job_artifacts: BTreeMap<(u64, String), String>,
    /// Notes: (id, body).
    pub notes: Vec<(u64, String)>,
    /// Every request's method and target.
    pub requests: Vec<String>,
    /// Answer every Jenkins request with this status instead (401, 404, 503).
    pub jenkins_fails: Option<u16>,
}

pub struct FakeCi {
    pub url: String,
    pub state: Arc<Mutex<CiState>>,
    pub server: Server,
}

impl FakeCi {
    pub fn build_url(&self) -> String {
        format!("{}{BUILD}", self.url)
    }
}

fn gitlab(st: &mut CiState, req: &Request) -> Response {
    if req.header("private-token") != Some(TOKEN) {
        return Response::status(401).json(r#"{"message":"401 Unauthorized"}"#);
    }
    let path = req.path().to_string();
    let project = st.project.clone();
    let Some(rest) = path.strip_prefix(project.as_str()) else {
        return Response::status(404).json(r#"{"message":"404 Project Not Found"}"#);
    };
    let mr = || {
        serde_json::json!({
            "iid": st.iid, "source_branch": st.branch, "target_branch": "master",
            "title": "Promote qontract-reconcile", "description": "", "labels": [],
            "state": "opened", "sha": SHA,
            "web_url": format!("https://gitlab.test/group/app-interface/-/merge_requests/{}", st.iid),
        })
    };
    let iid = st.iid;
    match (req.method.as_str(), rest) {
        ("GET", "/merge_requests") => {
            let found = req.query("source_branch").as_deref() == Some(st.branch.as_str());
            let mut list = vec![mr()];
            // GitLab leaves the head commit out of some listings.
            list[0].as_object_mut().unwrap().remove("sha");
            Response::status(200).json(
                &if found {
                    serde_json::Value::from(list)
                } else {
                    serde_json::json!([])
                }
                .to_string(),
            )
        }
        ("GET", r) if r == format!("/merge_requests/{iid}") => {
            Response::status(200).json(&mr().to_string())
        }
        ("GET", r) if r == format!("/repository/commits/{SHA}/statuses") => {
            let page: usize = req.query("page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let body = if page == 1 {
                serde_json::Value::from(st.statuses.clone())
            } else {
                serde_json::json!([])
            };
            Response::status(200).json(&body.to_string())
        }
        ("GET", r) if r == format!("/merge_requests/{iid}/pipelines") => {
            Response::status(200).json(&serde_json::Value::from(st.pipelines.clone()).to_string())
        }
        ("GET", r) if r.starts_with("/pipelines/") && r.ends_with("/jobs") => {
            let per_page: usize = req
                .query("per_page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(20);
            let page: usize = req.query("page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let all: Vec<serde_json::Value> = st
                .jobs
                .iter()
                .map(|(id, name, status, _)| {
                    let archived = st.job_artifacts.keys().any(|(j, _)| j == id);
                    let artifacts = if archived {
                        serde_json::json!([{"file_type": "archive", "filename": "artifacts.zip"}, {"file_type": "trace", "filename": "job.log"}])
                    } else {
                        serde_json::json!([{"file_type": "trace", "filename": "job.log"}])
                    };
                    serde_json::json!({"id": id, "name": name, "status": status, "artifacts": artifacts, "web_url": format!("https://gitlab.test/jobs/{id}")})
                })
                .collect();
            let chunk: Vec<_> = all
                .into_iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .collect();
            Response::status(200).json(&serde_json::Value::from(chunk).to_string())
        }
        ("GET", r) if r.starts_with("/jobs/") => {
            let tail = &r["/jobs/".len()..];
            let (id, what) = tail.split_once('/').unwrap_or((tail, ""));
            let id: u64 = id.parse().unwrap_or(0);
            if what == "trace" {
                return match st.jobs.iter().find(|j| j.0 == id) {
                    Some(j) => Response {
                        status: 200,
                        headers: vec![("Content-Type".into(), "text/plain".into())],
                        body: j.3.clone(),
                    },
                    None => Response::status(404).json(r#"{"message":"404 Not found"}"#),
                };
            }
            match what
                .strip_prefix("artifacts/")
                .and_then(|p| st.job_artifacts.get(&(id, p.to_string())))
            {
                Some(text) => Response {
                    status: 200,
                    headers: Vec::new(),
                    body: text.clone(),
                },
                None => Response::status(404).json(r#"{"message":"404 Not found"}"#),
            }
        }
        ("GET", r) if r == format!("/merge_requests/{iid}/notes") => {
            let list: Vec<serde_json::Value> = st
                .notes
                .iter()
                .rev()
                .map(|(id, body)| serde_json::json!({"id": id, "body": body, "system": false}))
                .collect();
            Response::status(200).json(&serde_json::Value::from(list).to_string())
        }
        ("POST", r) if r == format!("/merge_requests/{iid}/notes") => {
            let body: serde_json::Value = serde_json::from_str(&req.body).unwrap_or_default();
            let id = 100 + st.notes.len() as u64;
            st.notes
                .push((id, body["body"].as_str().unwrap_or_default().to_string()));
            Response::status(201).json(&serde_json::json!({"id": id}).to_string())
        }
        ("PUT", r) if r.starts_with(&format!("/merge_requests/{iid}/notes/")) => {
            let id: u64 = r
                .rsplit('/')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let body: serde_json::Value = serde_json::from_str(&req.body).unwrap_or_default();
            match st.notes.iter_mut().find(|n| n.0 == id) {
                Some(n) => {
                    n.1 = body["body"].as_str().unwrap_or_default().to_string();
                    Response::status(200).json(&serde_json::json!({"id": id}).to_string())
                }
                None => Response::status(404).json(r#"{"message":"404 Note Not Found"}"#),
            }
        }
        _ => Response::status(404).json(r#"{"message":"404 Not found"}"#),
    }
}

fn jenkins(st: &mut CiState, req: &Request) -> Response {
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{JENKINS_USER}:{JENKINS_TOKEN}"));
    if req.header("authorization") != Some(format!("Basic {expected}").as_str()) {
        return Response {
            status: 401,
            headers: vec![("WWW-Authenticate".into(), "Basic realm=\"Jenkins\"".into())],
            body: "<html><body>Unauthorized</body></html>".into(),
        };
    }
    if let Some(status) = st.jenkins_fails {
        return Response {
            status,
            headers: Vec::new(),
            body: format!("<html><body>Error {status}</body></html>"),
        };
    }
    let rest = &req.path()[BUILD.len()..];
    match rest {
        "api/json" => {
            assert_eq!(
                req.query("tree").as_deref(),
                Some("result,building,artifacts[relativePath,fileName]")
            );
            let body = if st.building_for > 0 {
                st.building_for -= 1;
                serde_json::json!({"_class": "hudson.model.FreeStyleBuild", "building": true, "result": null, "artifacts": []})
            } else {
                let artifacts: Vec<_> = st
                    .artifacts
                    .keys()
                    .map(|p| serde_json::json!({"relativePath": p, "fileName": p.rsplit('/').next().unwrap()}))
                    .collect();
                serde_json::json!({"_class": "hudson.model.FreeStyleBuild", "building": false, "result": st.result, "artifacts": artifacts})
            };
            Response::status(200).json(&body.to_string())
        }
        "consoleText" => Response {
            status: 200,
            headers: Vec::new(),
            body: st.console.clone(),
        },
        r => match r
            .strip_prefix("artifact/")
            .and_then(|p| st.artifacts.get(p))
        {
            Some(text) => Response {
                status: 200,
                headers: Vec::new(),
                body: text.clone(),
            },
            None => Response {
                status: 404,
                headers: Vec::new(),
                body: "<html>Not Found</html>".into(),
            },
        },
    }
}

/// Serves GitLab's API for merge request `iid` of branch `branch` of `group/app-interface`,
/// and a Jenkins build.
pub fn serve_ci(iid: u64, branch: &str) -> FakeCi {
    serve_ci_of(PROJECT, iid, branch)
}

/// [`serve_ci`] for the project at the API path `project`.
pub fn serve_ci_of(project: &str, iid: u64, branch: &str) -> FakeCi {
    let state = Arc::new(Mutex::new(CiState {
        project: project.to_string(),
        iid,
        branch: branch.to_string(),
        result: "SUCCESS".into(),
        ..CiState::default()
    }));
    let server = {
        let state = state.clone();
        serve(move |req, _| {
            let mut st = state.lock().unwrap();
            st.requests.push(format!("{} {}", req.method, req.target));
            if req.path().starts_with(BUILD) {
                jenkins(&mut st, req)
            } else {
                gitlab(&mut st, req)
            }
        })
    };
    FakeCi {
        url: server.url.clone(),
        state,
        server,
    }
}
