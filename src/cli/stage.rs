//! `qr-promote stage [COMPONENT] [REV]`: has stage run this version cleanly, and for how long.

use std::path::PathBuf;
use std::time::Duration;

use super::{CliError, Context, Status};
use crate::cluster::model::RECONCILE;
use crate::stage::check::{check, version, Source};
use crate::stage::prometheus::Prometheus;
use crate::stage::{stage_objects, Target, DEFAULT_SOAK};

/// What `stage`'s help says of its exit status.
pub const EXIT_HELP: &str = "Examples:
  qr-promote stage                           # has stage run the newest version cleanly for 2h?
  qr-promote stage 4f2a9c1 --for 4h          # this version, for four hours
  qr-promote stage --from pods.json --logs logs/ --at 2026-12-08T10:00:00Z   # saved output

Exit status: 0 when every object of stage has soaked (runs the \
version or a descendant for --for, with no error since); 3 when some object is young, logged \
errors, runs another image, or could not be checked (no pod, no log, a cluster without a \
context); 1 on an error (unreadable input, an unreachable cluster or Prometheus); 2 when the \
command line is wrong.";

/// Arguments of `stage`.
#[derive(Debug, clap::Args)]
#[command(allow_missing_positional = true)]
pub struct Args {
    /// The component (a name from .env); default qontract-reconcile, the one whose image the
    /// integrations run.
    #[arg(value_name = "COMPONENT")]
    pub component: Option<String>,
    /// The version: a branch, tag, `latest`, a commit id, or a pull request `#1234` [default:
    /// latest, what a promotion moves to].
    #[arg(value_name = "REV")]
    pub rev: Option<String>,
    /// Only the objects of this integration.
    #[arg(long, value_name = "NAME")]
    pub integration: Option<String>,
    /// How long stage must have run it with no error [default: the component's stage_soak in
    /// .qr-promote.yaml, else 2h].
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_soak)]
    pub soak: Option<Duration>,
    /// Read the pods from this file instead of the Kubernetes API: the JSON of
    /// `oc get pods -o json` (one namespace or several).
    #[arg(long, value_name = "PODS.json", conflicts_with_all = ["kubeconfig", "contexts"])]
    pub from: Option<PathBuf>,
    /// With --from: the folder of saved logs, `<pod name>.log` each, as
    /// `oc logs --timestamps -c int POD` writes them.
    #[arg(long, value_name = "DIR", requires = "from")]
    pub logs: Option<PathBuf>,
    /// The moment asked about (RFC 3339, `2026-12-08T10:00:00Z`): when --from and --logs were
    /// saved [default: now].
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    pub at: Option<i64>,
    /// Ask the last runs' status and executions of this Prometheus (its bearer token, if it
    /// needs one, in QR_PROMOTE_PROMETHEUS_TOKEN).
    #[arg(long, value_name = "URL", env = "QR_PROMOTE_PROMETHEUS")]
    pub prometheus: Option<String>,
    /// The kubeconfig file (default: `$KUBECONFIG`, else `~/.kube/config`).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context of a cluster, `CLUSTER=CONTEXT` (repeatable), or one NAME for
    /// every cluster (see `verify --help`).
    #[arg(long = "context", value_name = "CLUSTER=CONTEXT")]
    pub contexts: Vec<String>,
    /// Use no network for the upstream: answer from its cache alone.
    #[arg(long)]
    pub offline: bool,
    /// The upstream repository (URL or path) [default: the component's `upstream` in
    /// .qr-promote.yaml, else its `<P>_REPO` of .env].
    #[arg(long, value_name = "URL|PATH")]
    pub upstream: Option<String>,
    /// A line per object even when there are many (by default, over 20 objects, the soaked ones
    /// are one line of names).
    #[arg(long)]
    pub all: bool,
}

/// A soak time: at most a week.
pub(super) fn parse_soak(text: &str) -> Result<Duration, String> {
    let d = crate::util::parse_duration(text)?;
    if d > crate::config::MAX_STAGE_SOAK {
        return Err(format!("{:?}: give at most 7 days", text.trim()));
    }
    Ok(d)
}

fn parse_at(text: &str) -> Result<i64, String> {
    crate::stage::pods::parse_time(text).ok_or_else(|| {
        format!(
            "{:?} is not an RFC 3339 time (2026-12-08T10:00:00Z)",
            text.trim()
        )
    })
}

/// Now, in seconds since the epoch.
pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The Prometheus of `--prometheus`, with the token of `QR_PROMOTE_PROMETHEUS_TOKEN`.
pub(super) fn prometheus(url: Option<&str>) -> Result<Option<Prometheus>, CliError> {
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let token = std::env::var("QR_PROMOTE_PROMETHEUS_TOKEN").ok();
    Ok(Some(Prometheus::new(url, token)?))
}

/// `stage`: one line per object; exit 3 unless every object has soaked.
pub fn cmd_stage(ctx: &Context, args: &Args) -> Result<Status, CliError> {
    // One positional that is no component of .env is the version.
    let (name, rev) = match (&args.component, &args.rev) {
        (Some(c), None) if ctx.checkout.component(c).is_err() => (RECONCILE, Some(c.as_str())),
        (c, r) => (c.as_deref().unwrap_or(RECONCILE), r.as_deref()),
    };
    let c = ctx.checkout.component(name)?.clone();
    if c.name != RECONCILE {
        return Err(CliError::new(format!(
            "stage: {} runs no integration; stage runs the integrations of {RECONCILE}",
            c.name
        )));
    }
    let model = super::deployments::load_model(ctx)?;
    if let Some(i) = &args.integration {
        model.integration(i)?;
    }
    let objects = stage_objects(&model, args.integration.as_deref());
    if objects.is_empty() {
        return Err(CliError::new(
            "stage: the checkout runs no integration in a stage namespace (an environment of \
             type stage, or one whose integrations-manager follows a branch)",
        ));
    }
    let source = match &args.from {
        Some(pods) => Source::Saved {
            pods: pods.clone(),
            logs: args.logs.clone(),
        },
        None => {
            let verify_args = super::verify::Args {
                namespaces: Vec::new(),
                integration: None,
                from: None,
                kubeconfig: args.kubeconfig.clone(),
                contexts: args.contexts.clone(),
                cluster: None,
                wait: None,
                interval: None,
                after_merge: false,
                gitlab_url: None,
                remote: None,
            };
            Source::Api(super::verify::access(ctx, &model, &verify_args)?)
        }
    };
    let upstream = ctx.checkout.upstream_of(&c, args.upstream.as_deref());
    let opts = super::history::options(ctx, Some(upstream), args.offline);
    let (rev, graph) = version(&opts, &c, rev)?;
    // `--prometheus` (or its variable), else the one the stage clusters' files name.
    let url = args
        .prometheus
        .clone()
        .or_else(|| crate::stage::prometheus_of(&model, &objects));
    let prometheus = prometheus(url.as_deref())?;
    let target = Target {
        id: &rev.id,
        graph: &graph,
        image: &model.image,
        at: args.at.unwrap_or_else(now),
        soak: args
            .soak
            .or_else(|| {
                ctx.checkout
                    .config
                    .component(&c.name)
                    .and_then(|s| s.stage_soak)
            })
            .unwrap_or(DEFAULT_SOAK),
    };
    let report = check(
        &c.name,
        &rev.given,
        &objects,
        &source,
        prometheus.as_ref(),
        &target,
    )?;
    if ctx.json {
        ctx.print_json(
            &serde_json::to_value(&report)
                .map_err(|e| CliError::new(format!("cannot write the report as JSON: {e}")))?,
        );
    } else {
        ctx.print(&report.render(args.all));
    }
    Ok(if report.is_soaked() {
        Status::Success
    } else {
        Status::Differs
    })
}

/// The stage gate's options of `plan`, `apply` and `bot`.
#[derive(Debug, Clone, clap::Args)]
pub struct GateArgs {
    /// Refuse a version that stage has not run cleanly for this long (`bot`: propose the newest
    /// that it has) [default: the component's stage_soak in .qr-promote.yaml; none: no gate].
    #[arg(long, value_name = "DURATION", value_parser = parse_soak, help_heading = "Stage gate")]
    pub stage_soak: Option<Duration>,
    /// With the gate: the kubeconfig file (default: `$KUBECONFIG`, else `~/.kube/config`).
    #[arg(long, value_name = "PATH", help_heading = "Stage gate")]
    pub kubeconfig: Option<PathBuf>,
    /// With the gate: a cluster's kubeconfig context, `CLUSTER=CONTEXT` (repeatable), or one NAME
    /// for every cluster.
    #[arg(
        long = "context",
        value_name = "CLUSTER=CONTEXT",
        help_heading = "Stage gate"
    )]
    pub contexts: Vec<String>,
    /// With the gate: ask the last runs' status of this Prometheus (token in
    /// QR_PROMOTE_PROMETHEUS_TOKEN).
    #[arg(
        long,
        value_name = "URL",
        env = "QR_PROMOTE_PROMETHEUS",
        help_heading = "Stage gate"
    )]
    pub prometheus: Option<String>,
}

impl GateArgs {
    /// The library's gate.
    pub(super) fn gate(&self, ctx: &Context) -> Result<crate::stage::gate::Gate, CliError> {
        let access = crate::cluster::access::Access {
            kubeconfig: self.kubeconfig.clone(),
            configured: ctx.checkout.config.clusters.clone(),
            ..Default::default()
        }
        .with_context_args(&self.contexts)?;
        Ok(crate::stage::gate::Gate {
            soak: self.stage_soak,
            source: Source::Api(access),
            prometheus: self
                .prometheus
                .clone()
                .filter(|u| !u.is_empty())
                .map(|u| (u, std::env::var("QR_PROMOTE_PROMETHEUS_TOKEN").ok())),
            at: None,
        })
    }
}

/// The stage gate on a promotion: `None` when there is no gate or stage has soaked its version
/// (then the promotion carries stage's summary); else stage's report, which refuses it.
pub(super) fn gate_promotion(
    ctx: &Context,
    args: &GateArgs,
    upstream: Option<String>,
    offline: bool,
    pr: &mut crate::promote::Promotion,
) -> Result<Option<crate::stage::Report>, CliError> {
    let gate = args.gate(ctx)?;
    let Some(soak) = gate.soak_for(&ctx.checkout, &pr.component.name) else {
        return Ok(None);
    };
    let upstream = ctx.checkout.upstream_of(&pr.component, upstream.as_deref());
    let opts = super::history::options(ctx, Some(upstream), offline);
    let to = pr.plan.to.clone();
    let (_, graph) = version(&opts, &pr.component, Some(&to))?;
    let current = pr
        .resolution
        .current
        .clone()
        .unwrap_or_else(|| pr.component.tag.clone());
    let v = gate.judge(
        &ctx.checkout,
        &pr.component,
        &graph,
        &to,
        Some(&current),
        soak,
    )?;
    if v.asked.is_soaked() {
        pr.stage = Some(crate::stage::gate::summary_markdown(&v));
        return Ok(None);
    }
    Ok(Some(v.asked))
}

/// Prints stage's report on a refused version: the report (text or JSON) and a warning naming
/// the refusal.
pub(super) fn print_refusal(ctx: &Context, command: &str, report: &crate::stage::Report) {
    let why = format!(
        "{command}: stage has not run {} cleanly for {}; nothing {}",
        crate::util::short_id(&report.id),
        crate::util::human_duration(report.soak),
        if command == "plan" {
            "to promote"
        } else {
            "written"
        }
    );
    if ctx.json {
        ctx.print_json(&serde_json::json!({
            "refused": why,
            "stage": report,
        }));
    } else {
        ctx.print(&report.render(false));
        ctx.warn(&why);
    }
}
