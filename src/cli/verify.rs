//! `qr-promote verify`: compare the objects the checkout says the integrations-manager runs with
//! the live Deployments, StatefulSets and CronJobs, read from a file or from the Kubernetes API.

use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{CliError, Context, Status};
use crate::cluster::access::Reach;
use crate::cluster::kube::{parse_live, LiveObject};
use crate::cluster::model::{self, norm_ref, Deployment, Model, ObjectKind};
use crate::cluster::sharding::Strategy;
use crate::cluster::verify::{self, Report};
use crate::error::{io_message, Error};

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  qr-promote verify                                  # every namespace, through the Kubernetes API
  qr-promote verify --wait 15m                       # until the rollout is done, or 15 minutes
  oc get deployments,statefulsets,cronjobs -n app-interface-production -o json > live.json
  qr-promote verify --from live.json --namespace app-interface-production

Exit status: 0 when the cluster runs what the checkout says; 3 when it differs; 1 on an error;
2 when the command line is wrong.")]
pub struct Args {
    /// Only this namespace, by name or by the path of its file (repeatable; default: every
    /// namespace the checkout runs the integrations, or --integration, in).
    #[arg(long = "namespace", value_name = "NAME")]
    pub namespaces: Vec<String>,
    /// Only the objects of this integration.
    #[arg(long, value_name = "NAME")]
    pub integration: Option<String>,
    /// Read the live objects from this file (`-`: stdin) instead of the Kubernetes API: the JSON
    /// of `oc get deployments,statefulsets,cronjobs -n NS -o json`, one list or several.
    #[arg(
        long,
        value_name = "FILE|-",
        conflicts_with_all = ["kubeconfig", "contexts", "wait", "interval"]
    )]
    pub from: Option<String>,
    /// The kubeconfig file (default: `$KUBECONFIG`, else `~/.kube/config`).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context of a cluster, `CLUSTER=CONTEXT` (repeatable), or one NAME for
    /// every cluster. Default per cluster: `.qr-promote.yaml`'s `clusters:`, else a context named
    /// like the cluster, else (objects on one cluster alone) the current context; a cluster left
    /// without one is reported as not checked.
    #[arg(long = "context", value_name = "CLUSTER=CONTEXT")]
    pub contexts: Vec<String>,
    /// Only the namespaces of this cluster (by the name of its cluster file).
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// Check again until everything is ok or this much time has passed (`90s`, `5m`, `1h`);
    /// prints the first report, then only what changed.
    #[arg(long, value_name = "DURATION", value_parser = parse_wait)]
    pub wait: Option<Duration>,
    /// After a promotion merged: check production (the namespaces outside stage) against the
    /// checkout, and with GITLAB_TOKEN write the result as one note on the bot's newest merged
    /// merge request (as `bot --after-merge` does).
    #[arg(long, conflicts_with_all = ["from", "namespaces", "integration", "cluster"])]
    pub after_merge: bool,
    /// With --after-merge: the GitLab base URL (default: from the remote's URL).
    #[arg(long, value_name = "URL", requires = "after_merge")]
    pub gitlab_url: Option<String>,
    /// With --after-merge: the remote of the merge requests [default: origin].
    #[arg(long, value_name = "NAME", requires = "after_merge")]
    pub remote: Option<String>,
    /// With --wait: the time between two checks [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_interval, requires = "wait")]
    pub interval: Option<Duration>,
}

/// The time between two checks of `--wait` when `--interval` does not say.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// What is compared: the desired objects, the namespaces checked, and which live objects count.
struct Scope {
    desired: Vec<Deployment>,
    namespaces: Vec<String>,
    /// Every integration's name, to tell which integration a live object is named after.
    integrations: Vec<String>,
    /// `--integration`.
    only: Option<String>,
    /// (namespace, integration) whose objects the model cannot list (an unknown sharding
    /// strategy; the model warns about it).
    unlisted: Vec<(String, String)>,
}

impl Scope {
    /// The clusters of the selected namespaces (`None` for those whose cluster is not named).
    fn clusters(&self) -> Vec<Option<String>> {
        let set: BTreeSet<Option<String>> = self
            .namespaces
            .iter()
            .map(|ns| self.cluster_of(ns))
            .collect();
        set.into_iter().collect()
    }

    /// The cluster a selected namespace is on.
    fn cluster_of(&self, ns: &str) -> Option<String> {
        self.desired
            .iter()
            .find(|d| d.namespace == ns)
            .and_then(|d| d.cluster.clone())
    }

    /// The selected namespaces on `cluster`.
    fn namespaces_of(&self, cluster: Option<&str>) -> Vec<String> {
        self.namespaces
            .iter()
            .filter(|ns| self.cluster_of(ns).as_deref() == cluster)
            .cloned()
            .collect()
    }

    /// The live objects that count: the desired ones, and the others unless they are named after
    /// an integration whose objects the model cannot list there, or, with `--integration`, after
    /// another integration.
    fn keep(&self, mut live: Vec<LiveObject>) -> Vec<LiveObject> {
        let names: Vec<&str> = self.integrations.iter().map(String::as_str).collect();
        let desired: HashSet<(&str, ObjectKind, &str)> = self
            .desired
            .iter()
            .map(|d| (d.namespace.as_str(), d.kind, d.name.as_str()))
            .collect();
        live.retain(|l| {
            if desired.contains(&(l.namespace.as_str(), l.kind, l.name.as_str())) {
                return true;
            }
            let owner = verify::integration_of(&l.name, &names);
            let unlisted = owner.is_some_and(|o| {
                self.unlisted
                    .iter()
                    .any(|(ns, i)| *ns == l.namespace && i == o)
            });
            !unlisted && self.only.as_deref().is_none_or(|only| owner == Some(only))
        });
        live
    }
}

/// `verify`: one check, or checks until everything is ok or `--wait` is up.
pub fn cmd_verify(ctx: &Context, args: &Args) -> Result<Status, CliError> {
    if args.after_merge {
        return after_merge(ctx, args);
    }
    let model = super::deployments::load_model(ctx)?;
    let sel = select(&model, args)?;
    let access = access(ctx, &model, args)?;
    let reach = if args.from.is_some() {
        Vec::new()
    } else {
        let contexts = access.kubeconfig_contexts();
        access.plan(&sel.clusters(), &contexts)
    };
    let check = || -> Result<Report, CliError> {
        let Some(from) = &args.from else {
            return check_clusters(&sel, &access, &reach);
        };
        let live = read_live(from)?;
        Ok(verify::compare(
            &sel.desired,
            &sel.keep(live),
            &sel.namespaces,
        ))
    };
    let report = match args.wait {
        None => {
            let report = check()?;
            if !ctx.json {
                ctx.print(&report.render_table());
            }
            report
        }
        Some(wait) => wait_until_ok(ctx, wait, args.interval.unwrap_or(DEFAULT_INTERVAL), &check)?,
    };
    if ctx.json {
        ctx.print_json(
            &serde_json::to_value(&report)
                .map_err(|e| CliError::new(format!("cannot write the report as JSON: {e}")))?,
        );
    }
    // The report says what differs: exit 3 without another message.
    Ok(if report.is_ok() {
        Status::Success
    } else {
        Status::Differs
    })
}

/// `verify --after-merge`: production against the checkout (with `--wait`, until it runs it or
/// the time is up), and the note on the bot's newest merged merge request.
fn after_merge(ctx: &Context, args: &Args) -> Result<Status, CliError> {
    use crate::bot::after_merge;
    let model = super::deployments::load_model(ctx)?;
    let access = access(ctx, &model, args)?;
    let check =
        || -> Result<Report, CliError> { Ok(after_merge::production(&ctx.checkout, &access)?) };
    let report = match args.wait {
        None => {
            let report = check()?;
            if !ctx.json {
                ctx.print(&report.render_table());
            }
            report
        }
        Some(wait) => wait_until_ok(ctx, wait, args.interval.unwrap_or(DEFAULT_INTERVAL), &check)?,
    };
    let c = ctx.checkout.component(model::RECONCILE)?;
    let noted = match std::env::var("GITLAB_TOKEN").ok().filter(|t| !t.is_empty()) {
        None => {
            ctx.warn("no note written: GITLAB_TOKEN is not set");
            None
        }
        Some(token) => {
            let git = crate::upstream::git::Git::new(&ctx.root);
            let remote = args.remote.as_deref().unwrap_or("origin");
            let gitlab = crate::mr::gitlab_for_remote(
                &git,
                remote,
                args.gitlab_url.as_deref(),
                crate::mr::Secret::new(token),
            )?;
            let branch = crate::bot::bot_branch(&c.name);
            match after_merge::last_merged(&gitlab, &branch)? {
                None => {
                    ctx.warn(&format!(
                        "no note written: no merged merge request of {branch}"
                    ));
                    None
                }
                Some(m) => {
                    let notify = ctx
                        .checkout
                        .config
                        .component(&c.name)
                        .and_then(|s| s.notify)
                        .unwrap_or(false);
                    after_merge::write_note(&gitlab, &m, &c.tag, &report, notify)?;
                    if !ctx.json {
                        ctx.print(&format!("noted on !{}: {}\n", m.iid, m.web_url));
                    }
                    Some(m.iid)
                }
            }
        }
    };
    if ctx.json {
        let mut doc = serde_json::to_value(&report)
            .map_err(|e| CliError::new(format!("cannot write the report as JSON: {e}")))?;
        doc["noted_on"] = serde_json::json!(noted);
        ctx.print_json(&doc);
    }
    Ok(if report.is_ok() {
        Status::Success
    } else {
        Status::Differs
    })
}

/// How the clusters are reached: `--kubeconfig`, `--context` and `.qr-promote.yaml`'s
/// `clusters:`, the clusters named checked against the model's.
pub(super) fn access(
    ctx: &Context,
    model: &Model,
    args: &Args,
) -> Result<crate::cluster::access::Access, CliError> {
    let access = crate::cluster::access::Access {
        kubeconfig: args.kubeconfig.clone(),
        configured: ctx.checkout.config.clusters.clone(),
        ..Default::default()
    }
    .with_context_args(&args.contexts)?;
    let known: Vec<&str> = model.clusters.iter().map(|c| c.name.as_str()).collect();
    access.check_clusters(&known)?;
    Ok(access)
}

/// One check through the Kubernetes API: each cluster with its context, the objects of a cluster
/// without one `not checked`.
fn check_clusters(
    sel: &Scope,
    access: &crate::cluster::access::Access,
    reach: &[(Option<String>, Reach)],
) -> Result<Report, CliError> {
    Ok(crate::cluster::access::compare_by_cluster(
        access,
        reach,
        &sel.desired,
        |cluster| sel.namespaces_of(cluster),
        |live| sel.keep(live),
    )?)
}

/// Checks every `interval` until the report is ok or `wait` has passed, and returns the last
/// report. Text output: the first report in full, then the lines that changed at each check. The
/// first check must succeed; a later one that fails is a warning and the previous report stands.
fn wait_until_ok(
    ctx: &Context,
    wait: Duration,
    interval: Duration,
    check: &dyn Fn() -> Result<Report, CliError>,
) -> Result<Report, CliError> {
    let start = Instant::now();
    let mut last = check()?;
    if !ctx.json {
        ctx.print(&last.render_table());
    }
    let mut checks = 1usize;
    while !last.is_ok() {
        let elapsed = start.elapsed();
        if elapsed >= wait {
            if !ctx.json {
                ctx.print(&format!(
                    "\n--wait {} is up; the last report:\n\n{}",
                    crate::util::human_duration(wait),
                    last.render_table()
                ));
            }
            return Ok(last);
        }
        std::thread::sleep(interval.min(wait - elapsed));
        match check() {
            Ok(next) => {
                checks += 1;
                if !ctx.json {
                    for line in verify::diff_reports(&last, &next) {
                        ctx.print(&format!("{line}\n"));
                    }
                }
                last = next;
            }
            Err(e) => ctx.warn(&format!(
                "check failed, the previous report stands: {}",
                e.message
            )),
        }
    }
    if checks > 1 && !ctx.json {
        ctx.print(&format!(
            "{}\n",
            super::style::verdict(&last.summary(), last.is_ok())
        ));
    }
    Ok(last)
}

/// The desired objects and namespaces that `--integration` and `--namespace` select.
fn select(model: &Model, args: &Args) -> Result<Scope, CliError> {
    if let Some(name) = &args.integration {
        if model.integration(name).is_err() {
            let known: Vec<&str> = model.integrations.iter().map(|i| i.name.as_str()).collect();
            return Err(unknown("--integration", name, "integration", &known));
        }
    }
    let mut all = model.deployments(args.integration.as_deref(), None);
    if let Some(cluster) = &args.cluster {
        let known: Vec<&str> = model.clusters.iter().map(|c| c.name.as_str()).collect();
        if !known.contains(&cluster.as_str()) {
            return Err(unknown("--cluster", cluster, "cluster", &known));
        }
        all.retain(|d| d.cluster.as_deref() == Some(cluster.as_str()));
        if all.is_empty() {
            return Err(CliError::new(format!(
                "nothing to verify: no integration runs on cluster {cluster}"
            )));
        }
    }
    if all.is_empty() {
        return Err(CliError::new(match &args.integration {
            Some(name) => format!("nothing to verify: integration {name} runs in no namespace"),
            None => "nothing to verify: the checkout runs no integration in any namespace".into(),
        })
        .hint(format!(
            "integrations are the files of `$schema: {}` with `managed` namespaces",
            model::INTEGRATION_SCHEMA
        )));
    }
    let namespaces: BTreeSet<String> = if args.namespaces.is_empty() {
        all.iter().map(|d| d.namespace.clone()).collect()
    } else {
        let mut set = BTreeSet::new();
        for want in &args.namespaces {
            set.extend(resolve_namespace(model, want)?);
        }
        set
    };
    let desired = all
        .into_iter()
        .filter(|d| namespaces.contains(&d.namespace))
        .collect();
    let unlisted = model
        .integrations
        .iter()
        .flat_map(|i| i.managed.iter().map(move |m| (i, m)))
        .filter(|(_, m)| {
            m.cron.is_none()
                && m.sharding
                    .as_ref()
                    .is_some_and(|sh| sh.strategy == Strategy::Other)
        })
        .map(|(i, m)| (model.namespace_of(m).name, i.name.clone()))
        .collect();
    Ok(Scope {
        desired,
        namespaces: namespaces.into_iter().collect(),
        integrations: model.integrations.iter().map(|i| i.name.clone()).collect(),
        only: args.integration.clone(),
        unlisted,
    })
}

/// The namespace names a `--namespace` value stands for: a namespace's name, or the path of its
/// file (with or without `data/`), among those the checkout runs integrations in.
fn resolve_namespace(model: &Model, want: &str) -> Result<BTreeSet<String>, CliError> {
    let path = want.strip_prefix("data/").unwrap_or(want);
    let found: BTreeSet<String> = model
        .deployments(None, Some(want))
        .into_iter()
        .chain(model.deployments(None, Some(path)))
        .map(|d| d.namespace)
        .collect();
    if !found.is_empty() {
        return Ok(found);
    }
    let running: BTreeSet<String> = model
        .deployments(None, None)
        .into_iter()
        .map(|d| d.namespace)
        .collect();
    let known: Vec<&str> = running.iter().map(String::as_str).collect();
    let is_namespace_file = model.namespaces.contains_key(&norm_ref(path))
        || model.namespaces.values().any(|n| n.name == want);
    if is_namespace_file {
        return Err(CliError::new(format!(
            "--namespace {want}: the checkout runs no integration in this namespace; they run in: {}",
            known.join(", ")
        )));
    }
    Err(unknown("--namespace", want, "namespace", &known))
}

/// `--flag value: unknown what (did you mean …?)`, or the known names when none is close.
fn unknown(flag: &str, value: &str, what: &str, known: &[&str]) -> CliError {
    let near = crate::util::suggest(value, known);
    if near.is_empty() {
        CliError::new(format!(
            "{flag} {value}: unknown {what}; known: {}",
            known.join(", ")
        ))
    } else {
        CliError::new(format!("{flag} {value}: unknown {what}{near}"))
    }
}

/// The live objects of `--from`: a file, or stdin for `-`.
fn read_live(from: &str) -> Result<Vec<LiveObject>, CliError> {
    let (bytes, source) = if from == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .map_err(|e| CliError::new(format!("stdin: cannot read: {}", io_message(&e))))?;
        (buf, "stdin")
    } else {
        let bytes = std::fs::read(from).map_err(|e| Error::io(Path::new(from), e))?;
        (bytes, from)
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::new(format!("{source}: not JSON: the bytes are not UTF-8 text")))?;
    Ok(parse_live(&text, source)?)
}

pub use crate::util::parse_duration;

/// The longest `--wait` or `--interval`: one day.
const MAX_WAIT: Duration = Duration::from_secs(86_400);

/// A duration for `--wait`: at most a day.
pub(super) fn parse_wait(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d > MAX_WAIT {
        return Err(format!("{:?}: give at most 24h", text.trim()));
    }
    Ok(d)
}

/// A duration for `--interval`: more than zero, at most a day.
pub(super) fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = parse_wait(text)?;
    if d.is_zero() {
        return Err("the time between checks must be more than 0".to_string());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_sums() {
        let ok = |s: &str| parse_duration(s).unwrap();
        assert_eq!(ok("90s"), Duration::from_secs(90));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("200ms"), Duration::from_millis(200));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok(" 0s "), Duration::ZERO);
    }

    #[test]
    fn bad_durations_say_why() {
        let err = |s: &str| parse_duration(s).unwrap_err();
        assert_eq!(
            err("90"),
            "\"90\" has no unit; give a number and a unit, e.g. 90s, 5m, 1h or 500ms"
        );
        assert!(
            err("5x").starts_with("\"5x\" is not a duration (unknown time unit \"x\""),
            "{}",
            err("5x")
        );
        // humantime's longer units are welcome.
        assert_eq!(
            parse_duration("2days").unwrap(),
            Duration::from_secs(172_800)
        );
        assert_eq!(
            parse_duration("1h 30m").unwrap(),
            Duration::from_secs(5_400)
        );
        assert!(err("").starts_with("empty duration"));
        assert!(err("s").starts_with("\"s\" is not a duration"));
        assert!(err("-5s").starts_with("\"-5s\" is not a duration"));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert!(
            err("99999999999999999999h")
                .starts_with("\"99999999999999999999h\" is not a duration ("),
            "{}",
            err("99999999999999999999h")
        );
        assert_eq!(
            parse_interval("0s").unwrap_err(),
            "the time between checks must be more than 0"
        );
        assert_eq!(parse_wait("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(
            parse_wait("24h1ms").unwrap_err(),
            "\"24h1ms\": give at most 24h"
        );
        assert_eq!(
            parse_interval("9999999h").unwrap_err(),
            "\"9999999h\": give at most 24h"
        );
    }

    #[test]
    fn human_durations_read_back() {
        for ms in [0, 200, 1_000, 90_000, 3_600_000, 5_400_250] {
            let d = Duration::from_millis(ms);
            assert_eq!(
                parse_duration(&crate::util::human_duration(d)).unwrap(),
                d,
                "{}",
                crate::util::human_duration(d)
            );
        }
        assert_eq!(
            crate::util::human_duration(Duration::from_secs(90)),
            "1m 30s"
        );
    }
}
