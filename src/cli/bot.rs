//! `qr-promote bot`: promotion for CI, one merge request per component kept current.

use std::time::Duration;

use serde_json::json;

use super::{CliError, Context, Status};
use crate::bot::{self, Report};
use crate::mr;

/// Arguments of `bot`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Components are promoted qontract-schemas first, whatever the order given.\n\n\
Exit status: 0 when every component is where it should be (opened, updated, up to date, \
nothing to do, closed as done); 5 when a component is behind because of a person (its branch \
left alone while a person's commit is on it, a version a person closed, held back by \
hold_for, drifted locations left behind; the JSON state says which); 4 when an image did not \
appear in time (nothing pushed for it); 1 when a component failed or was refused.\n\n\
Examples:\n  qr-promote bot --to 1234567890abcdef1234567890abcdef12345678 --triggered-by octocat\n  \
qr-promote bot qontract-schemas qontract-reconcile --to qontract-schemas=<id> --to qontract-reconcile=<id>"
)]
pub struct Args {
    #[command(flatten)]
    pub stage: super::stage::GateArgs,
    /// After a merge request of the bot's was merged: check production (each cluster through its
    /// context, as --kubeconfig and --context say) and write the result as one note on it.
    #[arg(long)]
    pub after_merge: bool,
    /// The components to promote, each in its own merge request (default: qontract-reconcile).
    #[arg(value_name = "COMPONENT")]
    pub components: Vec<String>,
    /// The new version: `latest` (default), a branch or tag, a commit id (the pushed commit);
    /// `COMPONENT=REV` for one component of several (repeatable; a bare REV only with one
    /// component).
    #[arg(long, value_name = "[COMPONENT=]REV")]
    pub to: Vec<String>,
    /// The upstream repository (URL or path); default: `components.<name>.upstream` of
    /// .qr-promote.yaml, else the component's `<P>_REPO` of .env;
    /// `COMPONENT=URL` for one component of several (repeatable).
    #[arg(long, value_name = "[COMPONENT=]URL|PATH")]
    pub upstream: Vec<String>,
    /// How long to wait for the new image to appear in the registry (default: the component's
    /// `wait_image` in .qr-promote.yaml, else no wait).
    #[arg(long, value_name = "DURATION", value_parser = super::verify::parse_duration)]
    pub wait_image: Option<Duration>,
    /// The first pause between two questions to the registry while waiting; it doubles, up to a
    /// minute.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = super::verify::parse_duration)]
    pub image_poll: Duration,
    /// The GitHub login that pushed the version upstream: named in the title (`@org_username`
    /// when a user file has that GitHub login); `COMPONENT=LOGIN` for one component of several.
    #[arg(long, value_name = "[COMPONENT=]LOGIN")]
    pub triggered_by: Vec<String>,
    /// The remote to push to (default: the component's `remote`, else origin).
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
    /// The branch the merge request targets (default: the component's `target_branch`, else
    /// master).
    #[arg(long, value_name = "NAME")]
    pub target_branch: Option<String>,
    /// A label for the merge request, on top of the component's `labels` (repeatable).
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// Mention the authors to notify in the description (default: the component's `notify`).
    #[arg(long)]
    pub notify: bool,
    /// The GitLab base URL (default: derived from the remote URL).
    #[arg(long, value_name = "URL")]
    pub gitlab_url: Option<String>,
    /// A file holding the GitLab token (mode 0600); default `GITLAB_TOKEN`.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// Read the merge-request check of qontract-reconcile's merge request once it finished
    /// (its Jenkins build or GitLab pipeline), and write its summary as one note on it, kept
    /// current; a check with findings makes the run exit 5.
    #[arg(long)]
    pub pr_check: bool,
    /// With --pr-check: the Jenkins the token is for (a build elsewhere is never sent it).
    #[arg(long, value_name = "URL", env = "JENKINS_URL", requires = "pr_check")]
    pub jenkins_url: Option<String>,
    /// With --pr-check: the Jenkins user of the API token.
    #[arg(long, value_name = "USER", env = "JENKINS_USER", requires = "pr_check")]
    pub jenkins_user: Option<String>,
    /// With --pr-check: a file holding the Jenkins API token (mode 0600) [default: JENKINS_TOKEN].
    #[arg(long, value_name = "FILE", requires = "pr_check")]
    pub jenkins_token_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub registry: super::promote::RegistryArgs,
}

/// `bot`: each component in turn; a summary line (or JSON document) for each.
pub fn cmd_bot(ctx: &Context, args: &Args) -> Result<Status, CliError> {
    let token = mr::resolve_token(args.token_file.as_deref())?;
    let registry = args.registry.options()?;
    let components = if args.components.is_empty() {
        vec![crate::cluster::model::RECONCILE.to_string()]
    } else {
        args.components.clone()
    };
    let opts = bot::Options {
        to: bot::PerComponent::parse(&args.to, "--to")?,
        upstream: bot::PerComponent::parse(&args.upstream, "--upstream")?,
        wait_image: args.wait_image,
        poll: args.image_poll,
        triggered_by: bot::PerComponent::parse(&args.triggered_by, "--triggered-by")?,
        remote: args.remote.clone(),
        target_branch: args.target_branch.clone(),
        labels: args.labels.clone(),
        notify: args.notify.then_some(true),
        token,
        gitlab_url: args.gitlab_url.clone(),
        cache_dir: ctx.cache_dir.clone(),
        scan_cache: ctx.use_scan_cache,
        image_check: !args.registry.skip_image_check,
        registry,
        check: if args.pr_check {
            Some(super::pr_check::jenkins_of(
                args.jenkins_url.as_deref(),
                args.jenkins_user.as_deref(),
                args.jenkins_token_file.as_deref(),
            )?)
        } else {
            None
        },
        stage: Some(args.stage.gate(ctx)?),
        after_merge: args.after_merge,
    };
    let results = bot::run(ctx.lock()?, &components, &opts, &mut |w| ctx.warn(&w))?;
    let mut status = Status::Success;
    let mut docs = Vec::new();
    let mut failed = None;
    for (c, r) in results {
        match r {
            Ok(report) => {
                let this = if report.state.needs_a_person() {
                    Status::NeedsAPerson
                } else if report.status == bot::Status::TimedOut {
                    Status::TimedOut
                } else if report.unsettled() {
                    Status::Differs
                } else {
                    Status::Success
                };
                status = worse(status, this);
                if !ctx.json {
                    ctx.print(&report_lines(&report));
                }
                docs.push(serde_json::to_value(&report).unwrap_or_default());
            }
            Err(e) => {
                let e = CliError::from(e);
                if !ctx.json {
                    super::eline(format_args!("{} {c}: {}", super::style::error(), e.message));
                    for h in &e.hints {
                        super::eline(format_args!("{} {h}", super::style::hint()));
                    }
                }
                docs.push(json!({"component": c, "status": "error", "state": "failed", "message": e.message}));
                failed = Some(e);
            }
        }
    }
    if ctx.json {
        ctx.print_json(&json!({ "components": docs }));
    }
    match failed {
        Some(e) if ctx.json => Err(e.quiet()),
        Some(_) => Err(CliError::new("bot: a component failed (above)").quiet()),
        None => Ok(status),
    }
}

/// `<component>: <status>: <message>` and the merge requests it names.
/// The status that says more: 5 over 4 over 3 over 0.
fn worse(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::NeedsAPerson => 3,
        Status::TimedOut => 2,
        Status::Differs => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn report_lines(r: &Report) -> String {
    let status = serde_json::to_value(r.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut s = format!("{}: {status}: {}\n", r.component, r.message);
    if let Some(m) = &r.merge_request {
        s.push_str(&format!("  merge request !{}: {}\n", m.iid, m.url));
    }
    for b in &r.behind {
        s.push_str(&format!(
            "  stays behind ({}): {} at {}: {}\n",
            b.kind, b.at, b.value, b.why
        ));
    }
    for m in &r.closed {
        s.push_str(&format!("  closed !{}: {}\n", m.iid, m.url));
    }
    if let Some(a) = &r.after_merge {
        s.push_str(&format!("  after the merge: {}\n", a.message));
    }
    s
}
