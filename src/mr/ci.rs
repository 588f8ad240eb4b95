//! What GitLab says of a merge request's checks: its head commit, the commit statuses that an
//! outside CI (the Jenkins gitlab plugin) sets on it, and its pipelines with their jobs, traces
//! and artifacts.

use super::gitlab::{GitLab, MergeRequest};
use crate::error::Result;
use crate::http::{encode_segment, Method, Request};

/// The most bytes of a log or an artifact read.
pub const TEXT_LIMIT: u64 = 64 << 20;

/// The most pages of a list read (100 items each).
const MAX_PAGES: usize = 10;

/// A commit status (`GET repository/commits/:sha/statuses`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommitStatus {
    pub id: u64,
    pub name: String,
    /// `pending`, `running`, `success`, `failed`, `canceled`, `skipped`.
    pub status: String,
    pub target_url: String,
}

/// A pipeline of a merge request (`GET merge_requests/:iid/pipelines`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pipeline {
    pub id: u64,
    pub sha: String,
    pub status: String,
    /// `merge_request_event`, `push`, `external` (a mirror of an outside CI's status), ...
    pub source: String,
    pub web_url: String,
}

/// A job of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Job {
    pub id: u64,
    pub name: String,
    pub status: String,
    pub web_url: String,
    /// It kept an artifacts archive.
    pub has_artifacts: bool,
}

/// The statuses that mean a check has not finished.
pub fn is_unfinished(status: &str) -> bool {
    matches!(
        status,
        "created"
            | "pending"
            | "running"
            | "waiting_for_resource"
            | "preparing"
            | "scheduled"
            | "manual"
    )
}

impl GitLab {
    /// One merge request (`GET merge_requests/:iid`).
    pub fn merge_request(&self, iid: u64) -> Result<MergeRequest> {
        let url = format!("{}/merge_requests/{iid}", self.project_url());
        let v = self.call(&self.client(), Method::Get, &url, &[], None)?;
        MergeRequest::of(&v).ok_or_else(|| self.fail(&url, "GET", "answered without an iid"))
    }

    /// The statuses of a commit, newest first (every page of 100, up to 10).
    pub fn commit_statuses(&self, sha: &str) -> Result<Vec<CommitStatus>> {
        let url = format!(
            "{}/repository/commits/{}/statuses",
            self.project_url(),
            encode_segment(sha)
        );
        let mut out = self.every_page(&url, |s| {
            Some(CommitStatus {
                id: s["id"].as_u64()?,
                name: s["name"].as_str().unwrap_or_default().to_string(),
                status: s["status"].as_str().unwrap_or_default().to_string(),
                target_url: s["target_url"].as_str().unwrap_or_default().to_string(),
            })
        })?;
        out.sort_by_key(|s| std::cmp::Reverse(s.id));
        Ok(out)
    }

    /// The pipelines of a merge request, newest first (the first 100).
    pub fn mr_pipelines(&self, iid: u64) -> Result<Vec<Pipeline>> {
        let url = format!("{}/merge_requests/{iid}/pipelines", self.project_url());
        let v = self.call(
            &self.client(),
            Method::Get,
            &url,
            &[("per_page", "100")],
            None,
        )?;
        let mut out: Vec<Pipeline> = self
            .list(&url, &v)?
            .iter()
            .filter_map(|p| {
                let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
                Some(Pipeline {
                    id: p["id"].as_u64()?,
                    sha: s("sha"),
                    status: s("status"),
                    source: s("source"),
                    web_url: s("web_url"),
                })
            })
            .collect();
        out.sort_by_key(|p| std::cmp::Reverse(p.id));
        Ok(out)
    }

    /// The jobs of a pipeline, every page.
    pub fn pipeline_jobs(&self, pipeline: u64) -> Result<Vec<Job>> {
        let url = format!("{}/pipelines/{pipeline}/jobs", self.project_url());
        self.every_page(&url, |j| {
            let s = |k: &str| j[k].as_str().unwrap_or_default().to_string();
            Some(Job {
                id: j["id"].as_u64()?,
                name: s("name"),
                status: s("status"),
                web_url: s("web_url"),
                has_artifacts: j["artifacts"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x["file_type"].as_str() == Some("archive"))),
            })
        })
    }

    /// A job's log (`GET jobs/:id/trace`).
    pub fn job_trace(&self, job: u64) -> Result<String> {
        let url = format!("{}/jobs/{job}/trace", self.project_url());
        self.get_text(&url)?
            .ok_or_else(|| self.fail(&url, "GET", "HTTP 404: the job has no log"))
    }

    /// A file of a job's artifacts (`GET jobs/:id/artifacts/<path>`); `None` when it has none
    /// at that path.
    pub fn job_artifact(&self, job: u64, path: &str) -> Result<Option<String>> {
        let encoded: Vec<String> = path.split('/').map(encode_segment).collect();
        let url = format!(
            "{}/jobs/{job}/artifacts/{}",
            self.project_url(),
            encoded.join("/")
        );
        self.get_text(&url)
    }

    /// The items of every page of 100 of a list (up to [`MAX_PAGES`] pages), each read by `item`.
    fn every_page<T>(
        &self,
        url: &str,
        item: impl Fn(&serde_json::Value) -> Option<T>,
    ) -> Result<Vec<T>> {
        let client = self.client();
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let page = page.to_string();
            let query = [("per_page", "100"), ("page", page.as_str())];
            let v = self.call(&client, Method::Get, url, &query, None)?;
            let list = self.list(url, &v)?;
            out.extend(list.iter().filter_map(&item));
            if list.len() < 100 {
                break;
            }
        }
        Ok(out)
    }

    /// A text answer; `None` on 404.
    fn get_text(&self, url: &str) -> Result<Option<String>> {
        let client = self.client_for(TEXT_LIMIT);
        let token = self.token.expose();
        let headers = [("PRIVATE-TOKEN", token)];
        let request = Request {
            headers: &headers,
            ..Request::new(Method::Get, url)
        };
        let reply = client.send(&request).map_err(|e| {
            let why = client.failure(&e, url);
            let at = crate::http::authority(&self.base_url);
            self.fail(url, "GET", &format!("cannot reach {at}: {why}"))
        })?;
        match reply.status {
            200..=299 => Ok(Some(reply.body)),
            404 => Ok(None),
            status => Err(self.http_error(url, "GET", status, &super::gitlab_message(&reply.body))),
        }
    }
}
