//! `qr-promote pr-check`: the runs the merge-request check makes for pinned shards; with
//! `--from DIR` or `--mr [IID]`, what the check printed, run by run, with its verdict, whether
//! the shipped commits explain it, and the pin checks.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use super::deployments::{columns, load_model};

use super::{CliError, CmdResult, Context, Status};
use crate::mrcheck::reports::{Reports, REPORT_LIMIT};
use crate::mrcheck::source::{read_mr_check, Fetched, Jenkins, Progress};
use crate::mrcheck::{branch, note, Check};

/// Exit statuses of `pr-check`, for its help.
pub const EXIT_HELP: &str = "Examples:
  qr-promote pr-check                          # the runs the check makes for pinned shards
  qr-promote pr-check --from ~/Downloads/archive   # the check's reports, as downloaded
  qr-promote pr-check --mr 1234 --wait 30m --post  # wait for the check, then one note on the MR

Exit status (with --from or --mr): 0 every run clean or explained and every pin check holds;
3 a run with unexplained changes, a failed or missing run, or a pin check that fails; 4 the
check has not finished (with --wait: not in time); 1 an error (no merge request, no check,
Jenkins or GitLab unreachable or refusing, a report that cannot be read).";

/// Arguments of `pr-check`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  qr-promote pr-check                                      # every integration with pinned shards
  qr-promote pr-check --integration terraform-resources

Exit status: 0 on success; 1 on an error; 2 when the command line is wrong.")]
pub struct Args {
    /// Only this integration (without --from or --mr).
    #[arg(long, value_name = "NAME")]
    pub integration: Option<String>,
    /// Read the check's reports from this folder: the build's artifacts as downloaded, at any
    /// depth (`reconcile-<run>.txt`, the failed ones under `reconcile_reports_fail/`).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "mr",
        help_heading = "The check"
    )]
    pub from: Option<PathBuf>,
    /// With --from: the build's console text, whose `INTEGRATION FAILED: <run>` lines mark
    /// failed runs.
    #[arg(
        long,
        value_name = "FILE",
        requires = "from",
        help_heading = "The check"
    )]
    pub console: Option<PathBuf>,
    /// Read the check of this merge request (without a number: the open merge request of the
    /// checkout's branch) from GitLab, and its Jenkins build or GitLab pipeline.
    #[arg(long, value_name = "IID", num_args = 0..=1, default_missing_value = "0", help_heading = "The check")]
    pub mr: Option<u64>,
    /// The branch the merge request targets, whose merge base with HEAD holds the version
    /// before the promotion [default: origin/master, else master].
    #[arg(long, value_name = "REV", help_heading = "The check")]
    pub base: Option<String>,
    /// With --mr: write the summary as one note on the merge request (updated in place by
    /// later runs, never a second one).
    #[arg(long, requires = "mr", help_heading = "The check")]
    pub post: bool,
    /// With --mr: wait this long for an unfinished check to finish (e.g. 30m).
    #[arg(long, value_name = "DURATION", value_parser = super::verify::parse_wait, requires = "mr", help_heading = "The check")]
    pub wait: Option<Duration>,
    /// With --wait: the time between two looks [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = super::verify::parse_interval, requires = "wait", help_heading = "The check")]
    pub interval: Option<Duration>,
    /// How to print the check: `text`, or `markdown` (the note --post writes).
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "markdown"], help_heading = "The check")]
    pub format: String,
    /// The upstream repository that explains changes (URL or path) [default: RECONCILE_REPO of .env].
    #[arg(long, value_name = "URL|PATH", help_heading = "Upstream")]
    pub upstream: Option<String>,
    /// Use no network for the upstream: explain from its cache alone.
    #[arg(long, help_heading = "Upstream")]
    pub offline: bool,
    /// With --mr: the git remote of the GitLab project.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "origin",
        help_heading = "GitLab and Jenkins"
    )]
    pub remote: String,
    /// With --mr: the GitLab base URL [default: derived from the remote URL].
    #[arg(long, value_name = "URL", help_heading = "GitLab and Jenkins")]
    pub gitlab_url: Option<String>,
    /// With --mr: a file holding the GitLab token (mode 0600) [default: GITLAB_TOKEN].
    #[arg(long, value_name = "FILE", help_heading = "GitLab and Jenkins")]
    pub token_file: Option<PathBuf>,
    /// The Jenkins the token is for: a build elsewhere is never sent the token.
    #[arg(
        long,
        value_name = "URL",
        env = "JENKINS_URL",
        help_heading = "GitLab and Jenkins"
    )]
    pub jenkins_url: Option<String>,
    /// The Jenkins user of the API token.
    #[arg(
        long,
        value_name = "USER",
        env = "JENKINS_USER",
        help_heading = "GitLab and Jenkins"
    )]
    pub jenkins_user: Option<String>,
    /// A file holding the Jenkins API token (mode 0600) [default: JENKINS_TOKEN].
    #[arg(long, value_name = "FILE", help_heading = "GitLab and Jenkins")]
    pub jenkins_token_file: Option<PathBuf>,
}

/// The time between two looks of `--wait` when `--interval` does not say.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// `pr-check`.
pub fn cmd_pr_check(ctx: &Context, args: &Args) -> Result<Status, CliError> {
    if args.from.is_none() && args.mr.is_none() {
        predicted(ctx, args)?;
        return Ok(Status::Success);
    }
    let cache_dir = ctx.use_scan_cache.then_some(ctx.cache_dir.as_path());
    let mut gitlab_mr = None;
    let (model, versions, fetched) = match (&args.from, args.mr) {
        (Some(dir), _) => {
            let console = args.console.clone();
            let (model, versions, reports) =
                crate::mrcheck::gather(&ctx.checkout, cache_dir, args.base.as_deref(), || {
                    let mut reports = Reports::read_folder(dir)?;
                    if let Some(console) = &console {
                        let bytes =
                            crate::util::read_regular(console, REPORT_LIMIT).map_err(|e| {
                                e.into_error(&console.display().to_string(), REPORT_LIMIT)
                            })?;
                        reports.mark_failed(&String::from_utf8_lossy(&bytes));
                    }
                    Ok(reports)
                })?;
            let fetched = Fetched {
                url: dir.display().to_string(),
                progress: Progress::Finished("reports read from the folder".into()),
                reports: Some(reports),
            };
            (model, versions, fetched)
        }
        (None, Some(iid)) => {
            let model = crate::cluster::model::Model::load(&ctx.checkout, cache_dir)?;
            let versions = branch::versions(&ctx.checkout, args.base.as_deref())?;
            let token = crate::mr::resolve_token(args.token_file.as_deref())?;
            let gitlab = branch::gitlab_of(
                &ctx.checkout,
                &args.remote,
                args.gitlab_url.as_deref(),
                token,
            )?;
            let mr = branch::merge_request(&gitlab, &ctx.checkout, (iid != 0).then_some(iid))?;
            let jenkins = jenkins_of(
                args.jenkins_url.as_deref(),
                args.jenkins_user.as_deref(),
                args.jenkins_token_file.as_deref(),
            )?;
            let expected: Vec<String> =
                crate::mrcheck::expected(&model, &versions, &Reports::default())
                    .into_iter()
                    .map(|e| e.name)
                    .collect();
            let fetched = wait_for(ctx, args, &|| {
                read_mr_check(&gitlab, &mr, &jenkins, &expected).map_err(CliError::from)
            })?;
            gitlab_mr = Some((gitlab, mr));
            (model, versions, fetched)
        }
        (None, None) => return Ok(Status::Success),
    };
    for w in &model.warnings {
        ctx.warn(w);
    }
    let check = match &fetched.reports {
        None => Check::unfinished(fetched.url.clone(), fetched.progress.clone(), versions),
        Some(reports) => {
            let commits = if reports.runs.values().any(|r| !r.parsed.is_clean()) {
                let opts = crate::history::Options {
                    upstream: args.upstream.clone(),
                    cache_dir: ctx.cache_dir.clone(),
                    offline: args.offline,
                    progress: super::where_::progress(ctx),
                };
                branch::shipped(&ctx.checkout, &versions, &opts)?
            } else {
                versions.is_promotion().then(Vec::new)
            };
            Check::new(
                &model,
                versions,
                reports,
                commits.as_deref(),
                fetched.url.clone(),
                fetched.progress.clone(),
            )
        }
    };
    for w in &check.warnings {
        ctx.warn(w);
    }
    if ctx.json {
        let v = serde_json::to_value(&check)
            .map_err(|e| CliError::new(format!("cannot write the check as JSON: {e}")))?;
        ctx.print_json(&v);
    } else if args.format == "markdown" {
        ctx.print(&note::markdown(&check));
    } else {
        ctx.print(&note::text(&check));
    }
    if let (true, true, Some((gitlab, mr))) = (args.post, check.finished(), &gitlab_mr) {
        gitlab.upsert_note(mr.iid, note::NOTE_MARKER, &note::markdown(&check))?;
        if !ctx.json {
            ctx.print(&format!("note written on !{}\n", mr.iid));
        }
    }
    Ok(if !check.finished() {
        Status::TimedOut
    } else if check.summary.is_good() {
        Status::Success
    } else {
        Status::Differs
    })
}

/// The Jenkins credentials: the user, and the token from its file or `JENKINS_TOKEN`.
pub(super) fn jenkins_of(
    url: Option<&str>,
    user: Option<&str>,
    token_file: Option<&std::path::Path>,
) -> Result<Jenkins, CliError> {
    let token = match token_file {
        Some(path) => Some(crate::mr::read_token_file(path)?),
        None => std::env::var("JENKINS_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty()),
    };
    Ok(Jenkins {
        url: url.map(str::to_string).filter(|u| !u.trim().is_empty()),
        user: user.map(str::to_string).filter(|u| !u.trim().is_empty()),
        token: token.map(crate::mr::Secret::new),
        timeout: Duration::from_secs(60),
    })
}

/// Reads the check, and with `--wait` again every interval until it finished or the time is up.
fn wait_for(
    ctx: &Context,
    args: &Args,
    read: &dyn Fn() -> Result<Fetched, CliError>,
) -> Result<Fetched, CliError> {
    let start = Instant::now();
    let mut last = read()?;
    let Some(wait) = args.wait else {
        return not_started(last);
    };
    let interval = args.interval.unwrap_or(DEFAULT_INTERVAL);
    while let Progress::Running(why) | Progress::NotStarted(why) = &last.progress {
        let elapsed = start.elapsed();
        if elapsed >= wait {
            break;
        }
        if !ctx.json {
            ctx.warn(&format!(
                "{why}; looking again in {}",
                crate::util::human_duration(interval)
            ));
        }
        std::thread::sleep(interval.min(wait - elapsed));
        last = read()?;
    }
    not_started(last)
}

/// A merge request with no check at all is an error (exit 1), with what to do.
fn not_started(f: Fetched) -> Result<Fetched, CliError> {
    match &f.progress {
        Progress::NotStarted(why) => Err(CliError::from(
            crate::Error::external(why.clone())
                .with_hint("the check may not have started yet; try again with --wait"),
        )),
        _ => Ok(f),
    }
}

/// Without --from or --mr: per integration with pinned shards, one run per pinned ref and one
/// with the `.env` image that leaves them out.
fn predicted(ctx: &Context, args: &Args) -> CmdResult {
    let model = load_model(ctx)?;
    if let Some(i) = &args.integration {
        model.integration(i)?;
    }
    let env_tag = model.env_tag.clone();
    let all = model.pr_check(args.integration.as_deref(), &env_tag);
    // Integrations without pins run once with the .env image, as always: not worth a line.
    let runs: Vec<_> = all
        .iter()
        .filter(|r| {
            all.iter()
                .any(|o| o.integration == r.integration && !o.shards.is_empty())
        })
        .collect();
    if ctx.json {
        ctx.print_json(&json!({ "env_image_tag": env_tag, "runs": runs }));
        return Ok(());
    }
    if runs.is_empty() {
        let scope = match &args.integration {
            Some(i) => i.clone(),
            None => "any integration".into(),
        };
        ctx.print(&format!(
            "no pinned shards in {scope}: the check runs every integration once with {}:{env_tag}\n",
            model.image
        ));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| vec![r.name.clone(), r.image.clone(), r.args.join(" ")])
        .collect();
    ctx.print(&columns(&rows));
    Ok(())
}
