//! `qr-promote plan` and `qr-promote apply`: compute a promotion, show it, write it.

use std::io::IsTerminal;
use std::time::Duration;

use serde_json::json;

use super::status::location_table;
use super::{CliError, CmdResult, Context, Status};
use crate::discovery::Kind;
use crate::mr;
use crate::promote::plan::{Plan, Selection};
use crate::promote::{self, branch, ImageCheck, Promotion};
use crate::registry::{self, RegistryOptions};
use crate::transaction;
use crate::upstream::changes;
use crate::util::short_id;

/// What `plan` and `apply` share.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The component to promote (a name from .env).
    #[arg(value_name = "COMPONENT", default_value = "qontract-reconcile")]
    pub component: String,
    /// The new version: `latest`, a branch or tag, a short or full commit id.
    #[arg(long, value_name = "REV", help_heading = "Upstream")]
    pub to: Option<String>,
    /// Use no network: REV must be a full 40-hex commit id (or be in the upstream cache).
    #[arg(long, help_heading = "Upstream")]
    pub offline: bool,
    /// Move drifted locations too (those not at the current version).
    #[arg(long, help_heading = "Selection")]
    pub include_drifted: bool,
    /// Only the locations in this file (repository-relative; repeatable).
    #[arg(long = "only", value_name = "PATH", help_heading = "Selection")]
    pub only: Vec<String>,
    /// Only this location, by the id that `plan` and `status` print (repeatable).
    #[arg(long = "location", value_name = "ID", help_heading = "Selection")]
    pub locations: Vec<String>,
    /// Leave this location alone, by the id that `plan` and `status` print (repeatable).
    #[arg(long = "skip-location", value_name = "ID", help_heading = "Selection")]
    pub skip_locations: Vec<String>,
    /// Only locations of this kind (repeatable).
    #[arg(long = "kind", value_name = "KIND", value_parser = ["env", "yaml-key", "saas-target", "image-ref", "pinned-copy"], help_heading = "Selection")]
    pub kinds: Vec<String>,
    /// Only saas targets whose namespace is in this environment (repeatable).
    #[arg(long = "env", value_name = "NAME", help_heading = "Selection")]
    pub envs: Vec<String>,
    /// Only saas targets whose namespace is on this cluster (repeatable).
    #[arg(long = "cluster", value_name = "NAME", help_heading = "Selection")]
    pub clusters: Vec<String>,
    /// Only saas targets in this namespace (repeatable).
    #[arg(long = "namespace", value_name = "NAME", help_heading = "Selection")]
    pub namespaces: Vec<String>,
    /// Only targets of this saas file (repeatable).
    #[arg(long = "saas-file", value_name = "NAME", help_heading = "Selection")]
    pub saas_files: Vec<String>,
    /// The upstream repository (URL or path); default: the component's `<P>_REPO` of .env.
    #[arg(long, value_name = "URL|PATH", help_heading = "Upstream")]
    pub upstream: Option<String>,
    /// Allow a new version that is an ancestor of the current one.
    #[arg(long, help_heading = "Upstream")]
    pub allow_rollback: bool,
    /// Who is promoting: any of their addresses, or their org_username or github_username; that
    /// person is not notified. Default: git `user.email` of the checkout.
    #[arg(long, value_name = "WHO", help_heading = "Upstream")]
    pub me: Option<String>,
    /// How to print the change report: `text`, or `markdown` (a merge-request description).
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "markdown"], help_heading = "Upstream")]
    pub format: String,
    /// Do not ask the registry whether the new image exists.
    #[arg(long, help_heading = "Registry")]
    pub skip_image_check: bool,
    /// Registry endpoint for a host, `HOST=URL` (mirrors, tests; http only for loopback).
    #[arg(
        long = "registry-url",
        value_name = "HOST=URL",
        help_heading = "Registry"
    )]
    pub registry_urls: Vec<String>,
    /// Seconds allowed to connect to the registry (more than 0, at most a day).
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds, help_heading = "Registry")]
    pub registry_connect_timeout: Duration,
    /// Seconds allowed for one registry request (more than 0, at most a day).
    #[arg(long, value_name = "SECONDS", default_value = "20", value_parser = parse_seconds, help_heading = "Registry")]
    pub registry_timeout: Duration,
}

/// The longest timeout a command line may ask for.
pub const MAX_SECONDS: f64 = 86_400.0;

/// Parses a timeout in seconds (`5`, `0.5`): a finite number from 1 ms to one day, so that
/// every value the command line accepts is a [`Duration`] the network code can use.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !v.is_finite() {
        return Err(format!("{text:?} is not a finite number of seconds"));
    }
    if v < 0.001 {
        return Err(format!(
            "{text:?}: give at least 0.001 seconds (a timeout of 0 would fail every request)"
        ));
    }
    if v > MAX_SECONDS {
        return Err(format!(
            "{text:?}: give at most {MAX_SECONDS} seconds (one day)"
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  qr-promote plan                                 # to the head of the upstream's default branch
  qr-promote plan --to 4f2a9c1                    # to a commit (4 to 40 hex digits)
  qr-promote plan qontract-schemas --to v1.2.3    # another component, to a tag
  qr-promote plan --env production --kind saas-target
  qr-promote plan --format markdown               # the change report as a merge-request description

Exit status: 0 (with --exit-code: 0 when there is nothing to promote, 3 when there is);
1 on an error or a refusal; 2 when the command line is wrong.")]
pub struct PlanArgs {
    #[command(flatten)]
    pub promote: PromoteArgs,
    /// Exit with status 3 when there is something to promote (as `git diff --exit-code`).
    #[arg(long)]
    pub exit_code: bool,
}

/// Arguments of `apply`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  qr-promote apply --to 4f2a9c1                               # write every location, all or none
  qr-promote apply --to 4f2a9c1 --commit                      # and commit on promote/<component>-<new7>
  qr-promote apply --to 4f2a9c1 --commit --push --notify      # and open the merge request
  GITLAB_TOKEN=... qr-promote apply --commit --push --mr-api  # the merge request through the API

Exit status: 0 on success, including nothing to promote; 1 on an error or a refusal (nothing
written); 2 when the command line is wrong.")]
pub struct ApplyArgs {
    #[command(flatten)]
    pub promote: PromoteArgs,
    /// Commit the edited files on a new branch `promote/<component>-<new7>`.
    #[arg(long, help_heading = "Commit and merge request")]
    pub commit: bool,
    /// With --commit: the branch that promotions are merged into (default origin/master, else master).
    #[arg(
        long,
        value_name = "REV",
        requires = "commit",
        help_heading = "Commit and merge request"
    )]
    pub base: Option<String>,
    /// With --commit: allow a branch that already carries another component's promotion.
    #[arg(long, requires = "commit", help_heading = "Commit and merge request")]
    pub allow_mixed: bool,
    /// With --commit: push the branch and open a merge request with GitLab push options.
    #[arg(long, requires = "commit", help_heading = "Commit and merge request")]
    pub push: bool,
    /// With --push: the remote to push to.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "origin",
        help_heading = "Commit and merge request"
    )]
    pub remote: String,
    /// With --push: the branch the merge request targets.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "master",
        help_heading = "Commit and merge request"
    )]
    pub target_branch: String,
    /// With --push: a label for the merge request (repeatable).
    #[arg(
        long = "label",
        value_name = "LABEL",
        help_heading = "Commit and merge request"
    )]
    pub labels: Vec<String>,
    /// With --push: open or update the merge request through the GitLab REST API (a token)
    /// instead of git push options.
    #[arg(long, requires = "push", help_heading = "Commit and merge request")]
    pub mr_api: bool,
    /// With --mr-api: the GitLab base URL (default: derived from the remote URL).
    #[arg(long, value_name = "URL", help_heading = "Commit and merge request")]
    pub gitlab_url: Option<String>,
    /// With --mr-api: a file holding the token (mode 0600); default `GITLAB_TOKEN`.
    #[arg(long, value_name = "FILE", help_heading = "Commit and merge request")]
    pub token_file: Option<std::path::PathBuf>,
    /// With --push: mention the authors to notify in the description.
    #[arg(long, requires = "push", help_heading = "Commit and merge request")]
    pub notify: bool,
}

fn summary(p: &Plan) -> String {
    let mut out = String::new();
    let n = p.edits().count();
    let short = |s: &str| s.chars().take(7).collect::<String>();
    out.push_str(&format!(
        "{} {} -> {} ({}): {} edit{} in {} file{}\n",
        p.component,
        short(&p.from),
        short(&p.to),
        p.to,
        n,
        if n == 1 { "" } else { "s" },
        p.files.len(),
        if p.files.len() == 1 { "" } else { "s" },
    ));
    let mut rows: Vec<[String; 4]> = p
        .edits()
        .map(|e| {
            let note = match e.quoted {
                Some(q) => format!("  (quoted with {q} so that it stays a string)"),
                None => String::new(),
            };
            let id = match &e.key_path {
                Some(kp) => format!("{}]  at {kp}", e.location),
                None => format!("{}]", e.location),
            };
            [
                e.kind.name().to_string(),
                format!("{}:{}", e.path, e.line),
                format!("{} -> {}{note}", e.old, e.new),
                id,
            ]
        })
        .collect();
    // The digests that follow their tags, after the edits.
    rows.extend(p.files.iter().flat_map(|f| &f.digests).map(|d| {
        [
            "digest".to_string(),
            format!("{}:{}", d.path, d.line),
            format!("{} -> {}", d.old, d.new),
            format!("{}]  follows the tag", d.location),
        ]
    }));
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
    for r in &rows {
        out.push_str(&format!(
            "  {:<w0$}  {:<w1$}  {}  [{}\n",
            r[0], r[1], r[2], r[3]
        ));
    }
    if !p.skipped.is_empty() {
        out.push_str(&format!(
            "{} location{} left alone on purpose:\n",
            p.skipped.len(),
            if p.skipped.len() == 1 { "" } else { "s" },
        ));
        for s in &p.skipped {
            out.push_str(&format!(
                "  {}  {}  {}  ({})\n",
                s.location.id,
                s.location.kind.name(),
                s.location.at(),
                s.why
            ));
        }
    }
    if !p.drifted.is_empty() {
        out.push_str(&format!(
            "{} drifted location{} left alone (not at {}; --include-drifted moves them):\n",
            p.drifted.len(),
            if p.drifted.len() == 1 { "" } else { "s" },
            p.from
        ));
        out.push_str(&location_table(&p.drifted, false));
    }
    out
}

fn plan_json(pr: &Promotion, written: bool, commit: Option<&str>) -> serde_json::Value {
    let p = &pr.plan;
    json!({
        "component": p.component,
        "from": p.from,
        "to": p.to,
        "edits": p.edits().collect::<Vec<_>>(),
        "files": p.files.iter().map(|f| f.path.clone()).collect::<Vec<_>>(),
        "drifted": p.drifted,
        "skipped": p.skipped,
        "diff": p.diff(),
        "written": written,
        "relation": pr.resolution.relation,
        "changes": pr.resolution.changes,
        "note": pr.resolution.note,
        "image": pr.image,
        "shards": pr.shards,
        "commit": commit,
    })
}

/// The change report as text (or markdown), with the image line.
fn report_text(pr: &Promotion, markdown: bool) -> String {
    let mut out = String::new();
    match &pr.resolution.changes {
        Some(r) if markdown => out.push_str(&changes::render_markdown(r)),
        Some(r) => out.push_str(&changes::render_text(r)),
        None => {
            if let Some(n) = &pr.resolution.note {
                out.push_str(&format!("no change report: {n}\n"));
            }
        }
    }
    out
}

fn nothing_to_promote(ctx: &Context, pr: &Promotion) -> bool {
    let p = &pr.plan;
    if !pr.is_nothing() {
        return false;
    }
    if ctx.json {
        ctx.print_json(&plan_json(pr, false, None));
    } else {
        ctx.print(&format!(
            "{}: nothing to promote, the selected locations are already at {}\n",
            p.component,
            short_id(&p.to)
        ));
        if !p.drifted.is_empty() {
            ctx.print(
                &summary(p)
                    .lines()
                    .skip(1)
                    .map(|l| format!("{l}\n"))
                    .collect::<String>(),
            );
        }
    }
    true
}

fn print_promotion(ctx: &Context, pr: &Promotion, markdown: bool) {
    if markdown {
        ctx.print(&report_text(pr, true));
        return;
    }
    ctx.print(&promotion_text(pr));
}

/// The summary of a promotion as text: what moves, the shards that stay, the image, the report.
fn promotion_text(pr: &Promotion) -> String {
    let mut s = summary(&pr.plan);
    s.push_str(&shard_note(pr));
    s.push_str(&format!("{}\n", pr.image.line()));
    let report = report_text(pr, false);
    if !report.is_empty() {
        s.push('\n');
        s.push_str(&report);
    }
    s
}

/// `N shards of X stay on REF (a, b); M move to NEW`, one line per integration and ref.
fn shard_note(pr: &Promotion) -> String {
    let new7 = short_id(&pr.plan.to);
    let mut out = String::new();
    for m in &pr.shards {
        let mut refs: Vec<&str> = m.staying.iter().map(|s| s.image_ref.as_str()).collect();
        refs.sort();
        refs.dedup();
        let mut parts = Vec::new();
        for r in refs {
            let names: Vec<&str> = m
                .staying
                .iter()
                .filter(|s| s.image_ref == r)
                .map(|s| s.shard.as_str())
                .collect();
            let (noun, verb) = if names.len() == 1 {
                ("shard", "stays")
            } else {
                ("shards", "stay")
            };
            parts.push(format!(
                "{} {noun} of {} {verb} on {r} ({})",
                names.len(),
                m.integration,
                names.join(", ")
            ));
        }
        out.push_str(&format!(
            "{}; {} {} to {new7}\n",
            parts.join("; "),
            m.moving.len(),
            if m.moving.len() == 1 { "moves" } else { "move" }
        ));
    }
    out
}

impl PromoteArgs {
    fn selection(&self) -> Selection {
        Selection {
            only: self.only.clone(),
            ids: self.locations.clone(),
            kinds: self.kinds.iter().filter_map(|k| Kind::parse(k)).collect(),
            envs: self.envs.clone(),
            clusters: self.clusters.clone(),
            namespaces: self.namespaces.clone(),
            saas_files: self.saas_files.clone(),
            include_drifted: self.include_drifted,
            skip_ids: self.skip_locations.clone(),
        }
    }

    /// The library's options of a promotion.
    fn options(&self, ctx: &Context) -> Result<promote::Options, CliError> {
        let mut registry = RegistryOptions::from_env();
        for spec in &self.registry_urls {
            registry
                .overrides
                .push(registry::parse_registry_override(spec)?);
        }
        registry.connect_timeout = self.registry_connect_timeout;
        registry.request_timeout = self.registry_timeout;
        Ok(promote::Options {
            component: self.component.clone(),
            to: self.to.clone(),
            upstream: self.upstream.clone(),
            cache_dir: ctx.cache_dir.clone(),
            scan_cache: ctx.use_scan_cache,
            offline: self.offline,
            progress: !ctx.json
                && std::io::stdout().is_terminal()
                && std::io::stderr().is_terminal(),
            allow_rollback: self.allow_rollback,
            me: self.me.clone(),
            selection: self.selection(),
            image_check: !self.skip_image_check,
            registry,
        })
    }
}

/// Computes the promotion of the arguments, printing warnings as they come.
fn compute(ctx: &Context, args: &PromoteArgs) -> Result<Promotion, CliError> {
    let opts = args.options(ctx)?;
    Ok(Promotion::compute(&ctx.checkout, &opts, &mut |w| {
        ctx.warn(&w)
    })?)
}

/// `plan`: show the promotion; writes nothing.
pub fn cmd_plan(ctx: &Context, args: &PlanArgs) -> Result<Status, CliError> {
    let pr = compute(ctx, &args.promote)?;
    if nothing_to_promote(ctx, &pr) {
        return Ok(Status::Success);
    }
    if let ImageCheck::NotChecked { reason, .. } = &pr.image {
        if reason == "--skip-image-check" {
            ctx.warn(&pr.image.line());
        }
    }
    if ctx.json {
        ctx.print_json(&plan_json(&pr, false, None));
    } else {
        if args.promote.format == "markdown" {
            print_promotion(ctx, &pr, true);
        } else {
            // The summary, the report and the diff, through the pager when long.
            let mut text = promotion_text(&pr);
            text.push('\n');
            text.push_str(&super::style::diff(&pr.plan.diff()));
            ctx.print_paged(&text);
        }
    }
    Ok(if args.exit_code {
        Status::Differs
    } else {
        Status::Success
    })
}

/// `apply`: write the promotion, all files or none; with `--commit` commit it, with `--push`
/// push it and open its merge request. Every check that can refuse runs before the first file
/// is written.
pub fn cmd_apply(ctx: &Context, args: &ApplyArgs) -> CmdResult {
    let pr = compute(ctx, &args.promote)?;
    if args.commit {
        if let Some(earlier) = branch::earlier_run(&ctx.root, &pr)? {
            return apply_again(ctx, args, pr, earlier);
        }
    }
    if nothing_to_promote(ctx, &pr) {
        return Ok(());
    }
    pr.image.require()?;
    if let ImageCheck::NotChecked { .. } = &pr.image {
        ctx.warn(&pr.image.line());
    }
    // A missing or unsafe token is found before anything is written.
    let push_opts = push_options(args)?;
    let commit_plan = if args.commit {
        Some(branch::check_commit(
            &ctx.root,
            &pr,
            args.base.as_deref(),
            args.allow_mixed,
        )?)
    } else {
        None
    };
    let written = transaction::write_all(ctx.lock()?, &pr.plan.files)?;
    let commit_id = match &commit_plan {
        Some(cp) => Some(
            branch::commit(cp, &written, &pr)
                .map_err(|e| CliError::from(e).hint("the files are written but not committed"))?,
        ),
        None => None,
    };
    if ctx.json {
        ctx.print_json(&plan_json(&pr, true, commit_id.as_deref()));
    } else {
        print_promotion(ctx, &pr, false);
        ctx.print(&format!(
            "wrote {} file{}\n",
            written.len(),
            if written.len() == 1 { "" } else { "s" }
        ));
        if let (Some(id), Some(cp)) = (&commit_id, &commit_plan) {
            ctx.print(&format!(
                "committed {} on {}: {}\n",
                short_id(id),
                cp.branch,
                cp.subject
            ));
        }
    }
    if let (Some(opts), Some(cp)) = (push_opts, &commit_plan) {
        let pushed = branch::push(&cp.git, &cp.branch, &cp.subject, &pr, opts)?;
        let lines = pushed_lines(&pushed);
        if ctx.json {
            ctx.print_json(&json!({ "merge_request": lines }));
        } else {
            for line in &lines {
                ctx.print(&format!("{line}\n"));
            }
        }
    }
    Ok(())
}

/// The same promotion again: the commit is made anew on its branch (same files, same message,
/// a new head), and with `--push` the branch is force-pushed with lease and its merge request
/// updated, never duplicated.
fn apply_again(
    ctx: &Context,
    args: &ApplyArgs,
    mut pr: Promotion,
    e: branch::Earlier,
) -> CmdResult {
    // A missing or unsafe token is found before the commit is made anew.
    let push_opts = push_options(args)?;
    // The change report of the promotion, from the version before the commit.
    let opts = args.promote.options(ctx)?;
    pr.resolution = promote::resolve(&ctx.checkout, &e.before, None, &opts, &mut |w| ctx.warn(&w))?;
    let onto = if args.push {
        branch::Onto::Remote {
            remote: &args.remote,
            branch: &args.target_branch,
        }
    } else {
        branch::Onto::Local(args.base.as_deref())
    };
    let again = branch::make_again(&e, onto)?;
    let mut lines = vec![format!(
        "{} already holds this promotion: commit {} {} as {} ({})",
        e.branch,
        short_id(&again.old_head),
        again.how,
        short_id(&again.id),
        e.subject
    )];
    if let Some(opts) = push_opts {
        let pushed = branch::push(&e.git, &e.branch, &e.subject, &pr, opts)?;
        lines.extend(pushed_lines(&pushed));
    }
    if ctx.json {
        let mut v = plan_json(&pr, false, Some(&again.id));
        v["again"] = json!(true);
        v["merge_request"] = json!(lines.get(1..).unwrap_or_default());
        ctx.print_json(&v);
    } else {
        for l in &lines {
            ctx.print(&format!("{l}\n"));
        }
    }
    Ok(())
}

/// With `--push`: where and how the merge request goes (the token read now, with `--mr-api`).
fn push_options(args: &ApplyArgs) -> Result<Option<branch::PushOptions>, CliError> {
    if !args.push {
        return Ok(None);
    }
    let api_token = args
        .mr_api
        .then(|| mr::resolve_token(args.token_file.as_deref()))
        .transpose()?;
    Ok(Some(branch::PushOptions {
        remote: args.remote.clone(),
        target_branch: args.target_branch.clone(),
        labels: args.labels.clone(),
        notify: args.notify,
        api_token,
        gitlab_url: args.gitlab_url.clone(),
    }))
}

/// What a push did, one line each.
fn pushed_lines(p: &branch::Pushed) -> Vec<String> {
    let mut lines = vec![format!(
        "pushed {} to {}{}",
        p.branch,
        p.remote,
        if p.forced {
            " (updated)"
        } else if p.up_to_date {
            " (already up to date)"
        } else {
            ""
        }
    )];
    if let Some(url) = &p.url {
        lines.push(format!("merge request: {url}"));
    }
    if let Some(o) = &p.api {
        lines.push(format!(
            "merge request !{} {}: {}",
            o.iid,
            if o.created { "created" } else { "updated" },
            o.web_url
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_finite_positive_and_at_most_a_day() {
        assert_eq!(parse_seconds("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_seconds(" 0.5 "), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("86400"), Ok(Duration::from_secs(86_400)));
        for bad in [
            "1e20", "86401", "-1", "0", "-0", "0.0001", "NaN", "nan", "inf", "-inf", "", "5s",
            "1e400",
        ] {
            let err = parse_seconds(bad).unwrap_err();
            assert!(err.starts_with(&format!("{bad:?}")), "{bad}: {err}");
        }
    }
}
