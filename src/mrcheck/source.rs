//! Where a check's reports are read from: a merge request's head commit, its commit status set
//! by Jenkins (`target_url`: the build, read through `api/json`, `artifact/<path>` and
//! `consoleText`), or its GitLab pipeline (jobs, traces, artifacts). All through the one HTTP
//! layer, credentials kept out of every message.

use std::time::Duration;

use base64::Engine as _;

use super::reports::{run_name, Reports, FAIL_FOLDER};
use crate::error::{Error, Result};
use crate::http::{
    self, check_url, encode_segment, shown_url, Client, ClientConfig, Method, Request,
};
use crate::mr::{GitLab, MergeRequest, Secret};

/// The most bytes read of one answer (an artifact, a console).
const BODY_LIMIT: u64 = 64 << 20;
/// Reports fetched at once.
const PARALLEL: usize = 4;
/// The most reports read of one build (the check writes one per integration run).
const MAX_REPORTS: usize = 2_000;

/// Whether a check has finished.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", content = "result", rename_all = "kebab-case")]
pub enum Progress {
    /// Finished, with the result its CI gives (`SUCCESS`, `FAILURE`, `success`, `failed`, ...).
    Finished(String),
    /// Still running: what says so.
    Running(String),
    /// No check has started on the merge request's head commit yet.
    NotStarted(String),
}

/// A check read from its CI.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The build's or pipeline's page.
    pub url: String,
    pub progress: Progress,
    /// Its reports, once it finished.
    pub reports: Option<Reports>,
}

/// Jenkins, reached with basic authentication (a user and an API token) or none.
#[derive(Debug, Clone)]
pub struct Jenkins {
    /// The Jenkins the credentials are for (`https://host[/prefix]`): a build elsewhere is
    /// read without them, and with them only when it is under this URL.
    pub url: Option<String>,
    pub user: Option<String>,
    pub token: Option<Secret>,
    pub timeout: Duration,
}

impl Jenkins {
    fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(t) = &self.token {
            out.push(t.expose().to_string());
            if let Some(basic) = self.basic() {
                out.push(basic);
            }
        }
        out
    }

    fn basic(&self) -> Option<String> {
        let token = self.token.as_ref()?;
        let user = self.user.as_deref().unwrap_or_default();
        Some(base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", token.expose())))
    }

    fn fail(&self, url: &str, why: &str) -> Error {
        let secrets = self.secrets();
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        Error::external(http::scrub(
            &format!("Jenkins GET {}: {why}", shown_url(url)),
            &secrets,
        ))
    }

    /// GET `url`: its text, `None` on 404.
    fn get(&self, client: &Client, url: &str, query: &[(&str, &str)]) -> Result<Option<String>> {
        let auth = self.basic().map(|b| format!("Basic {b}"));
        let mut headers = Vec::new();
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        let request = Request {
            query,
            headers: &headers,
            ..Request::new(Method::Get, url)
        };
        let reply = client.send(&request).map_err(|e| {
            let why = client.failure(&e, url);
            self.fail(
                url,
                &format!("cannot reach {}: {why}", http::authority(url)),
            )
        })?;
        match reply.status {
            200..=299 => Ok(Some(reply.body)),
            404 => Ok(None),
            401 | 403 => Err(self.fail(url, &format!("HTTP {}", reply.status)).with_hint(
                "set JENKINS_USER and JENKINS_TOKEN (or --jenkins-token-file) to a user and an API token that may read the job",
            )),
            s => Err(self.fail(url, &format!("HTTP {s}"))),
        }
    }

    fn client(&self) -> Client {
        Client::new(ClientConfig {
            connect_timeout: Some(Duration::from_secs(10)),
            request_timeout: self.timeout,
            max_redirects: 3,
            body_limit: BODY_LIMIT,
        })
    }

    /// Reads a build: whether it finished, then every report among its artifacts (the console
    /// marks failed runs; a build that archived no report is read from its console).
    pub fn read_build(&self, build_url: &str) -> Result<Fetched> {
        check_url(build_url, "give the token in JENKINS_TOKEN")
            .map_err(|why| Error::input(format!("Jenkins build {why}")))?;
        if self.token.is_some() {
            // A commit status's URL is anyone's to set: the token goes to its Jenkins alone.
            let trusted = self.url.as_deref().is_some_and(|base| {
                let base = base.trim_end_matches('/');
                build_url.starts_with(&format!("{base}/"))
            });
            if !trusted {
                return Err(Error::refused(format!(
                    "the check's build {} is not under the Jenkins the token is for ({}); not sending the token there",
                    shown_url(build_url),
                    self.url.as_deref().map_or_else(|| "none given".to_string(), shown_url)
                ))
                .with_hint("give the Jenkins URL with --jenkins-url (or JENKINS_URL)"));
            }
        }
        let base = format!("{}/", build_url.trim_end_matches('/'));
        let client = self.client();
        let api = format!("{base}api/json");
        let text = self
            .get(
                &client,
                &api,
                &[("tree", "result,building,artifacts[relativePath,fileName]")],
            )?
            .ok_or_else(|| self.fail(&api, "HTTP 404: no such build"))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| self.fail(&api, &format!("answered invalid JSON: {e}")))?;
        if v["building"].as_bool() == Some(true) || v["result"].is_null() {
            return Ok(Fetched {
                url: base,
                progress: Progress::Running("the build is running".into()),
                reports: None,
            });
        }
        let result = v["result"].as_str().unwrap_or("UNKNOWN").to_string();
        let artifacts: Vec<String> = v["artifacts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["relativePath"].as_str())
                    .filter(|p| !p.contains("reports-test-data"))
                    .filter(|p| run_name(p.rsplit('/').next().unwrap_or_default()).is_some())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if artifacts.len() > MAX_REPORTS {
            return Err(self.fail(
                &api,
                &format!(
                    "lists {} reports, more than the {MAX_REPORTS} a check writes",
                    artifacts.len()
                ),
            ));
        }
        let console_url = format!("{base}consoleText");
        let console = self.get(&client, &console_url, &[])?.unwrap_or_default();
        let mut reports = if artifacts.is_empty() {
            Reports::from_console(&console)
        } else {
            let texts = self.artifacts(&base, &artifacts)?;
            let mut r = Reports::default();
            for (path, text) in artifacts.iter().zip(texts) {
                let file = path.rsplit('/').next().unwrap_or_default();
                let Some(name) = run_name(file) else { continue };
                let failed = path.split('/').any(|seg| seg == FAIL_FOLDER);
                r.add(name, path, failed, &text);
            }
            r.mark_failed(&console);
            r
        };
        if reports.runs.is_empty() {
            reports.warnings.push(format!(
                "{}: no report among the artifacts nor in the console",
                shown_url(&base)
            ));
        }
        Ok(Fetched {
            url: base,
            progress: Progress::Finished(result),
            reports: Some(reports),
        })
    }

    /// The artifacts' texts, a few requests at a time.
    fn artifacts(&self, base: &str, paths: &[String]) -> Result<Vec<String>> {
        let chunk = paths.len().div_ceil(PARALLEL).max(1);
        let results: Vec<Result<Vec<String>>> = std::thread::scope(|s| {
            let handles: Vec<_> = paths
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        let client = self.client();
                        part.iter()
                            .map(|p| {
                                let enc: Vec<String> = p.split('/').map(encode_segment).collect();
                                let url = format!("{base}artifact/{}", enc.join("/"));
                                self.get(&client, &url, &[])?.ok_or_else(|| {
                                    self.fail(
                                        &url,
                                        "HTTP 404: the build lists it but has no such artifact",
                                    )
                                })
                            })
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::external("a report download stopped")))
                })
                .collect()
        });
        let mut out = Vec::with_capacity(paths.len());
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }
}

/// The check of a merge request's head commit: the newest commit status whose `target_url`
/// is a Jenkins build (any status that is not a GitLab pipeline's), else the newest pipeline
/// of that commit that GitLab runs itself. `expected` names the runs whose artifacts a
/// pipeline without `INTEGRATION` lines in its logs is asked for.
pub fn read_mr_check(
    gitlab: &GitLab,
    mr: &MergeRequest,
    jenkins: &Jenkins,
    expected: &[String],
) -> Result<Fetched> {
    if mr.sha.is_empty() {
        return Err(Error::external(format!(
            "merge request !{}: GitLab gave no head commit",
            mr.iid
        )));
    }
    let statuses = gitlab.commit_statuses(&mr.sha)?;
    let build = statuses.iter().find(|s| {
        !s.target_url.is_empty()
            && !s.target_url.contains("/-/pipelines/")
            && !s.target_url.contains("/pipelines/")
    });
    if let Some(s) = build {
        if crate::mr::ci_unfinished(&s.status) {
            return Ok(Fetched {
                url: s.target_url.clone(),
                progress: Progress::Running(format!("commit status {} is {}", s.name, s.status)),
                reports: None,
            });
        }
        return jenkins.read_build(&s.target_url);
    }
    let pipelines = gitlab.mr_pipelines(mr.iid)?;
    let Some(p) = pipelines
        .iter()
        .filter(|p| p.source != "external")
        .find(|p| p.sha == mr.sha)
    else {
        return Ok(Fetched {
            url: mr.web_url.clone(),
            progress: Progress::NotStarted(format!(
                "no check on the head commit {} of !{} (no commit status with a build, no pipeline)",
                crate::util::short_id(&mr.sha),
                mr.iid
            )),
            reports: None,
        });
    };
    if crate::mr::ci_unfinished(&p.status) {
        return Ok(Fetched {
            url: p.web_url.clone(),
            progress: Progress::Running(format!("pipeline {} is {}", p.id, p.status)),
            reports: None,
        });
    }
    let mut reports = Reports::default();
    for job in gitlab.pipeline_jobs(p.id)? {
        let trace = gitlab.job_trace(job.id)?;
        let from_log = Reports::from_console(&trace);
        if from_log.runs.is_empty() && job.has_artifacts {
            for name in expected {
                for (folder, failed) in [("reconcile_reports_success", false), (FAIL_FOLDER, true)]
                {
                    let path = format!("temp/reports/{folder}/reconcile-{name}.txt");
                    if let Some(text) = gitlab.job_artifact(job.id, &path)? {
                        reports.add(name, &format!("job {} {path}", job.id), failed, &text);
                    }
                }
            }
            reports.mark_failed(&trace);
            continue;
        }
        for (_, mut r) in from_log.runs {
            r.source = format!("job {} log", job.id);
            reports.insert(r);
        }
    }
    Ok(Fetched {
        url: p.web_url.clone(),
        progress: Progress::Finished(p.status.clone()),
        reports: Some(reports),
    })
}
