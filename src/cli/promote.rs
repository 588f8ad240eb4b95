//! `qr-promote plan` and `qr-promote apply`: compute a promotion, show it, write it.

use std::io::IsTerminal;
use std::time::Duration;

use serde_json::json;

use super::status::location_table;
use super::{CliError, CmdResult, Context};
use crate::changes::{self, ChangeReport};
use crate::checkout::Component;
use crate::discovery::Session;
use crate::git::Git;
use crate::locations::Kind;
use crate::model::{Model, ShardMove, RECONCILE};
use crate::mr;
use crate::plan::{self, Plan, Selection};
use crate::registry::{self, ImageStatus, RegistryOptions};
use crate::transaction;
use crate::upstream::{Relation, Resolved, Upstream, UpstreamOptions};
use crate::util::head;

/// What `plan` and `apply` share.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The component to promote (a name from .env).
    #[arg(value_name = "COMPONENT", default_value = "qontract-reconcile")]
    pub component: String,
    /// The new version: `latest`, a branch or tag, a short or full commit id.
    #[arg(long, value_name = "REV")]
    pub to: Option<String>,
    /// Use no network: REV must be a full 40-hex commit id (or be in the upstream cache).
    #[arg(long)]
    pub offline: bool,
    /// Move drifted locations too (those not at the current version).
    #[arg(long)]
    pub include_drifted: bool,
    /// Only the locations in this file (repository-relative; repeatable).
    #[arg(long = "only", value_name = "PATH")]
    pub only: Vec<String>,
    /// Only this location, by the id that `plan` and `status` print (repeatable).
    #[arg(long = "location", value_name = "ID")]
    pub locations: Vec<String>,
    /// Only locations of this kind (repeatable).
    #[arg(long = "kind", value_name = "KIND", value_parser = ["env", "yaml-key", "saas-target", "image-ref"])]
    pub kinds: Vec<String>,
    /// Only saas targets whose namespace is in this environment (repeatable).
    #[arg(long = "env", value_name = "NAME")]
    pub envs: Vec<String>,
    /// Only saas targets whose namespace is on this cluster (repeatable).
    #[arg(long = "cluster", value_name = "NAME")]
    pub clusters: Vec<String>,
    /// Only saas targets in this namespace (repeatable).
    #[arg(long = "namespace", value_name = "NAME")]
    pub namespaces: Vec<String>,
    /// Only targets of this saas file (repeatable).
    #[arg(long = "saas-file", value_name = "NAME")]
    pub saas_files: Vec<String>,
    /// The upstream repository (URL or path); default: the component's `<P>_REPO` of .env.
    #[arg(long, value_name = "URL|PATH")]
    pub upstream: Option<String>,
    /// Allow a new version that is an ancestor of the current one.
    #[arg(long)]
    pub allow_rollback: bool,
    /// Who is promoting (not notified); default: git `user.email` of the checkout.
    #[arg(long, value_name = "EMAIL")]
    pub me: Option<String>,
    /// How to print the change report: `text`, or `markdown` (a merge-request description).
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "markdown"])]
    pub format: String,
    /// Do not ask the registry whether the new image exists.
    #[arg(long)]
    pub skip_image_check: bool,
    /// Registry endpoint for a host, `HOST=URL` (mirrors, tests; http only for loopback).
    #[arg(long = "registry-url", value_name = "HOST=URL")]
    pub registry_urls: Vec<String>,
    /// Seconds allowed to connect to the registry (more than 0, at most a day).
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    pub registry_connect_timeout: Duration,
    /// Seconds allowed for one registry request (more than 0, at most a day).
    #[arg(long, value_name = "SECONDS", default_value = "20", value_parser = parse_seconds)]
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
pub struct PlanArgs {
    #[command(flatten)]
    pub promote: PromoteArgs,
}

/// Arguments of `apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub promote: PromoteArgs,
    /// Commit the edited files on a new branch `promote/<component>-<new7>`.
    #[arg(long)]
    pub commit: bool,
    /// With --commit: the branch that promotions are merged into (default origin/master, else master).
    #[arg(long, value_name = "REV", requires = "commit")]
    pub base: Option<String>,
    /// With --commit: allow a branch that already carries another component's promotion.
    #[arg(long, requires = "commit")]
    pub allow_mixed: bool,
    /// With --commit: push the branch and open a merge request with GitLab push options.
    #[arg(long, requires = "commit")]
    pub push: bool,
    /// With --push: the remote to push to.
    #[arg(long, value_name = "NAME", default_value = "origin")]
    pub remote: String,
    /// With --push: the branch the merge request targets.
    #[arg(long, value_name = "NAME", default_value = "master")]
    pub target_branch: String,
    /// With --push: a label for the merge request (repeatable).
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// With --push: also create or update the merge request through the GitLab REST API.
    #[arg(long, requires = "push")]
    pub mr_api: bool,
    /// With --mr-api: the GitLab base URL (default: derived from the remote URL).
    #[arg(long, value_name = "URL")]
    pub gitlab_url: Option<String>,
    /// With --mr-api: a file holding the token (mode 0600); default `GITLAB_TOKEN`.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// With --push: mention the authors to notify in the description.
    #[arg(long, requires = "push")]
    pub notify: bool,
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
        }
    }
}

/// The new version, how it relates to the current one, and what it ships.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resolution {
    pub resolved: Resolved,
    pub relation: Option<Relation>,
    pub changes: Option<ChangeReport>,
    /// Why there is no change report, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What the registry said about the new image.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum ImageCheck {
    Exists {
        image: String,
        digest: Option<String>,
    },
    NotFound {
        image: String,
    },
    Unreachable {
        image: String,
        reason: String,
    },
    NotChecked {
        image: String,
        reason: String,
    },
}

impl ImageCheck {
    fn line(&self) -> String {
        match self {
            ImageCheck::Exists { image, digest } => match digest {
                Some(d) => format!("image {image} exists ({d})"),
                None => format!("image {image} exists"),
            },
            ImageCheck::NotFound { image } => format!("{image} not found"),
            ImageCheck::Unreachable { reason, .. } => reason.clone(),
            ImageCheck::NotChecked { image, reason } => {
                format!("image {image} not checked: {reason}")
            }
        }
    }
}

/// Resolves `--to` against the upstream and checks that it moves forward.
fn resolve(ctx: &Context, c: &Component, args: &PromoteArgs) -> Result<Resolution, CliError> {
    let url = args.upstream.clone().unwrap_or_else(|| c.repo.clone());
    let opts = UpstreamOptions {
        cache_dir: ctx.cache_dir.clone(),
        offline: args.offline,
        progress: !ctx.json && std::io::stdout().is_terminal() && std::io::stderr().is_terminal(),
    };
    let upstream = Upstream::open(&url, opts)?;
    let resolved = upstream.resolve(args.to.as_deref())?;
    if !resolved.in_cache {
        return Ok(Resolution {
            resolved,
            relation: None,
            changes: None,
            note: Some("offline, and the upstream cache lacks the commit: no change report, ancestry not checked".into()),
        });
    }
    let relation = upstream.relation(&c.tag, &resolved.id)?;
    match &relation {
        Relation::Rollback { commits } if !args.allow_rollback => {
            return Err(CliError::new(format!(
                "{}: {} -> {} would roll back {} commit{} of {}",
                c.name,
                c.tag,
                resolved.short,
                commits,
                if *commits == 1 { "" } else { "s" },
                upstream.shown_url()
            ))
            .hint("--allow-rollback promotes it anyway"));
        }
        Relation::Diverged { merge_base } => {
            return Err(CliError::new(format!(
                "{}: {} and {} have diverged in {}; merge base {}",
                c.name,
                c.tag,
                resolved.short,
                upstream.shown_url(),
                head(merge_base, 12)
            )));
        }
        _ => {}
    }
    let (changes, note) = match &relation {
        Relation::Descends { .. } => {
            let commits = upstream.commits(&c.tag, &resolved.id)?;
            let users = changes::load_users(&ctx.root).unwrap_or_default();
            let me = args.me.clone().or_else(|| Git::new(&ctx.root).user_email());
            let from = upstream
                .resolve_id(&c.tag, 7)
                .map(|r| r.id)
                .unwrap_or_else(|_| c.tag.clone());
            (
                Some(ChangeReport::new(
                    &c.repo,
                    &from,
                    &resolved.id,
                    commits,
                    &users,
                    me.as_deref(),
                )),
                None,
            )
        }
        Relation::Rollback { .. } => (None, Some("a rollback: nothing ships".to_string())),
        _ => (None, None),
    };
    Ok(Resolution {
        resolved,
        relation: Some(relation),
        changes,
        note,
    })
}

/// Asks the registry whether `<image>:<new tag>` exists (the tag as long as the `.env` tag).
fn check_image(c: &Component, to: &str, args: &PromoteArgs) -> Result<ImageCheck, CliError> {
    let tag = head(to, c.tag.len().max(7));
    let shown = format!("{}:{tag}", c.image);
    if args.offline {
        return Ok(ImageCheck::NotChecked {
            image: shown,
            reason: "--offline".into(),
        });
    }
    if args.skip_image_check {
        return Ok(ImageCheck::NotChecked {
            image: shown,
            reason: "--skip-image-check".into(),
        });
    }
    let mut opts = RegistryOptions::from_env();
    for spec in &args.registry_urls {
        opts.overrides
            .push(registry::parse_registry_override(spec)?);
    }
    opts.connect_timeout = args.registry_connect_timeout;
    opts.request_timeout = args.registry_timeout;
    Ok(match registry::check_image(&c.image, tag, &opts) {
        Ok(ImageStatus::Exists { digest }) => ImageCheck::Exists {
            image: shown,
            digest,
        },
        Ok(ImageStatus::NotFound) => ImageCheck::NotFound { image: shown },
        Err(e) => ImageCheck::Unreachable {
            image: shown,
            reason: e.to_string(),
        },
    })
}

/// A computed promotion with everything it was computed from.
struct Promotion {
    component: Component,
    plan: Plan,
    resolution: Resolution,
    image: ImageCheck,
    /// Integrations with shards that keep their own `imageRef`.
    shards: Vec<ShardMove>,
}

/// Computes the plan for the arguments.
fn compute(ctx: &Context, args: &PromoteArgs) -> Result<Promotion, CliError> {
    let c = ctx.checkout.component(&args.component)?.clone();
    let resolution = resolve(ctx, &c, args)?;
    let to = resolution.resolved.id.clone();
    let mut scanned = ctx.scan(&[&c])?;
    let discovery = ctx.discover(&mut scanned, &c)?;
    let files = scanned.file_map();
    let plan = plan::compute(
        &ctx.checkout,
        &c,
        &discovery,
        &files,
        &to,
        &args.selection(),
    )?;
    let image = if plan.is_empty() {
        ImageCheck::NotChecked {
            image: format!("{}:{}", c.image, head(&to, 7)),
            reason: "nothing to promote".into(),
        }
    } else {
        check_image(&c, &to, args)?
    };
    let envs: Vec<String> = plan
        .edits()
        .filter(|e| e.kind == Kind::SaasTarget)
        .filter_map(|e| discovery.locations.iter().find(|l| l.id == e.location))
        .filter_map(|l| l.context.environment.clone())
        .collect();
    let shards = shards_staying(ctx, &c, &plan, &scanned, &envs);
    Ok(Promotion {
        component: c,
        plan,
        resolution,
        image,
        shards,
    })
}

/// When the plan moves saas targets of qontract-reconcile and an integration pins an image:
/// the integrations whose pinned shards stay behind. The model is loaded only then.
fn shards_staying(
    ctx: &Context,
    c: &Component,
    plan: &Plan,
    scanned: &Session,
    envs: &[String],
) -> Vec<ShardMove> {
    if c.name != RECONCILE || envs.is_empty() || !scanned.has_pins() {
        return Vec::new();
    }
    let model = match Model::load(&ctx.checkout) {
        Ok(m) => m,
        Err(e) => {
            ctx.warn(&format!("cannot tell which shards stay pinned: {e}"));
            return Vec::new();
        }
    };
    let new7 = head(&plan.to, 7);
    model
        .shard_moves(new7, Some(envs))
        .into_iter()
        .filter(|m| !m.staying.is_empty())
        .collect()
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
    let rows: Vec<[String; 4]> = p
        .edits()
        .map(|e| {
            let note = match e.quoted {
                Some(q) => format!("  (quoted with {q} so that it stays a string)"),
                None => String::new(),
            };
            [
                e.kind.name().to_string(),
                format!("{}:{}", e.path, e.line),
                format!("{} -> {}{note}", e.old, e.new),
                e.location.clone(),
            ]
        })
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
    for r in &rows {
        out.push_str(&format!(
            "  {:<w0$}  {:<w1$}  {}  [{}]\n",
            r[0], r[1], r[2], r[3]
        ));
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
    let same = matches!(pr.resolution.relation, Some(Relation::Same));
    if !p.is_empty() && !same {
        return false;
    }
    if ctx.json {
        ctx.print_json(&plan_json(pr, false, None));
    } else {
        ctx.print(&format!(
            "{}: nothing to promote, the selected locations are already at {}\n",
            p.component,
            head(&p.to, 7)
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
    ctx.print(&summary(&pr.plan));
    ctx.print(&shard_note(pr));
    ctx.print(&format!("{}\n", pr.image.line()));
    let report = report_text(pr, false);
    if !report.is_empty() {
        ctx.print("\n");
        ctx.print(&report);
    }
}

/// `N shards of X stay on REF (a, b); M move to NEW`, one line per integration and ref.
fn shard_note(pr: &Promotion) -> String {
    let new7 = head(&pr.plan.to, 7);
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

/// `plan`: show the promotion; writes nothing.
pub fn cmd_plan(ctx: &Context, args: &PlanArgs) -> CmdResult {
    let pr = compute(ctx, &args.promote)?;
    if nothing_to_promote(ctx, &pr) {
        return Ok(());
    }
    if let ImageCheck::NotChecked { reason, .. } = &pr.image {
        if reason == "--skip-image-check" {
            ctx.warn(&pr.image.line());
        }
    }
    if ctx.json {
        ctx.print_json(&plan_json(&pr, false, None));
    } else {
        print_promotion(ctx, &pr, args.promote.format == "markdown");
        if args.promote.format != "markdown" {
            ctx.print("\n");
            ctx.print(&pr.plan.diff());
        }
    }
    Ok(())
}

/// Checks that `--commit` can commit the edited files on a promotion branch.
fn check_commit(
    ctx: &Context,
    args: &ApplyArgs,
    pr: &Promotion,
) -> Result<(Git, String, String), CliError> {
    let git = Git::new(&ctx.root).with_label(ctx.root.display().to_string());
    let files: Vec<String> = pr.plan.files.iter().map(|f| f.path.clone()).collect();
    let dirty = git.is_dirty(&files)?;
    if !dirty.is_empty() {
        return Err(CliError::new(format!(
            "--commit: uncommitted changes in {}; commit or stash them first",
            dirty.join(", ")
        )));
    }
    let c = &pr.component;
    if let Some(base) = git.resolve_base(args.base.as_deref())? {
        let mine = subject_prefix(c);
        let others: Vec<(String, String)> = git
            .promotion_commits_since(&base)?
            .into_iter()
            .filter(|(_, s)| !s.starts_with(&format!("{mine} production promotion ")))
            .collect();
        if let Some((id, subject)) = others.first() {
            if !args.allow_mixed {
                return Err(CliError::new(format!(
                    "--commit: HEAD already carries another promotion not in {base}: {} {subject}",
                    head(id, 7)
                ))
                .hint("promote one component per branch, or pass --allow-mixed"));
            }
        }
    }
    let new7 = head(&pr.plan.to, 7);
    let old7 = head(&c.tag, 7);
    let branch = format!("promote/{}-{new7}", c.name);
    let subject = format!(
        "{} production promotion {old7} to {new7}",
        subject_prefix(c)
    );
    Ok((git, branch, subject))
}

/// `qontract` for qontract-reconcile (the subject used for years), else the component's name.
fn subject_prefix(c: &Component) -> &str {
    if c.name == "qontract-reconcile" {
        "qontract"
    } else {
        &c.name
    }
}

/// `apply`: write the promotion, all files or none.
pub fn cmd_apply(ctx: &Context, args: &ApplyArgs) -> CmdResult {
    let pr = compute(ctx, &args.promote)?;
    if let Some(earlier) = earlier_run(ctx, args, &pr)? {
        return apply_again(ctx, args, pr, earlier);
    }
    if nothing_to_promote(ctx, &pr) {
        return Ok(());
    }
    match &pr.image {
        ImageCheck::NotFound { .. } => {
            return Err(CliError::new(format!(
                "{}; nothing written",
                pr.image.line()
            )));
        }
        ImageCheck::Unreachable { .. } => {
            return Err(
                CliError::new(format!("{}; nothing written", pr.image.line()))
                    .hint("--skip-image-check promotes without asking the registry"),
            );
        }
        ImageCheck::NotChecked { .. } => ctx.warn(&pr.image.line()),
        ImageCheck::Exists { .. } => {}
    }
    // A missing or unsafe token is found before anything is written.
    let token = mr_token(args)?;
    let commit_plan = if args.commit {
        Some(check_commit(ctx, args, &pr)?)
    } else {
        None
    };
    let written = transaction::write_all(ctx.lock()?, &pr.plan.files)?;
    let mut commit_id = None;
    if let Some((git, branch, subject)) = &commit_plan {
        let body = match &pr.resolution.changes {
            Some(r) => changes::render_text(r),
            None => pr.resolution.note.clone().unwrap_or_default(),
        };
        let id = git
            .commit_promotion(&written, branch, subject, &body)
            .map_err(|e| CliError::new(format!("{e} (the files are written but not committed)")))?;
        commit_id = Some(id);
    }
    if ctx.json {
        ctx.print_json(&plan_json(&pr, true, commit_id.as_deref()));
    } else {
        print_promotion(ctx, &pr, false);
        ctx.print(&format!(
            "wrote {} file{}\n",
            written.len(),
            if written.len() == 1 { "" } else { "s" }
        ));
        if let (Some(id), Some((_, branch, subject))) = (&commit_id, &commit_plan) {
            ctx.print(&format!(
                "committed {} on {branch}: {subject}\n",
                head(id, 7)
            ));
        }
    }
    if let (true, Some((git, branch, subject))) = (args.push, &commit_plan) {
        let mr = push(args, &pr, git, branch, subject, token)?;
        if ctx.json {
            ctx.print_json(&json!({ "merge_request": mr }));
        } else {
            for line in &mr {
                ctx.print(&format!("{line}\n"));
            }
        }
    }
    Ok(())
}

/// The promotion commit a previous `apply --commit` of the same promotion left at HEAD.
struct Earlier {
    git: Git,
    branch: String,
    subject: String,
    /// The component as it was before that commit (its `.env` tag then).
    before: Component,
}

/// When `apply --commit` finds nothing to write because HEAD is already the promotion branch
/// `promote/<component>-<new7>` whose tip is that promotion's commit: the earlier run.
fn earlier_run(
    ctx: &Context,
    args: &ApplyArgs,
    pr: &Promotion,
) -> Result<Option<Earlier>, CliError> {
    if !args.commit || !pr.plan.is_empty() || pr.plan.to.len() < 7 {
        return Ok(None);
    }
    let c = &pr.component;
    let new7 = head(&pr.plan.to, 7);
    let branch = format!("promote/{}-{new7}", c.name);
    let git = Git::new(&ctx.root).with_label(ctx.root.display().to_string());
    let head = git.output(&["symbolic-ref", "--quiet", "--short", "HEAD"])?;
    if !head.success || head.stdout.trim() != branch {
        return Ok(None);
    }
    let subject = git.run_line(&["log", "-1", "--format=%s", "HEAD", "--"])?;
    let prefix = format!("{} production promotion ", subject_prefix(c));
    if !subject.starts_with(&prefix) || !subject.ends_with(&format!(" to {new7}")) {
        return Ok(None);
    }
    let env = git.output(&["show", "HEAD^:.env"])?;
    let old = crate::checkout::parse_env(&env.stdout)
        .into_iter()
        .find(|v| v.name == c.tag_var())
        .map(|v| v.value);
    let Some(old) = old.filter(|v| env.success && crate::util::is_commit_hex(v)) else {
        return Ok(None);
    };
    let files = git.run(&["diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD"])?;
    let files: Vec<String> = files.lines().map(str::to_string).collect();
    let dirty = git.is_dirty(&files)?;
    if !dirty.is_empty() {
        return Err(CliError::new(format!(
            "--commit: uncommitted changes in {} of the promotion commit on {branch}",
            dirty.join(", ")
        ))
        .hint("commit or stash them first"));
    }
    let mut before = c.clone();
    before.tag = old;
    Ok(Some(Earlier {
        git,
        branch,
        subject,
        before,
    }))
}

/// The same promotion again: the commit is made anew on its branch (same files, same message,
/// a new head), and with `--push` the branch is force-pushed with lease and its merge request
/// updated, never duplicated.
fn apply_again(ctx: &Context, args: &ApplyArgs, mut pr: Promotion, e: Earlier) -> CmdResult {
    // A missing or unsafe token is found before the commit is made anew.
    let token = mr_token(args)?;
    // The change report of the promotion, from the version before the commit.
    pr.resolution = resolve(ctx, &e.before, &args.promote)?;
    let old_head = e.git.run_line(&["rev-parse", "HEAD"])?;
    let base = if args.push {
        // The target as the remote has it now.
        mr::remote_url(&e.git, &args.remote)?;
        Some(mr::fetch_target(&e.git, &args.remote, &args.target_branch)?)
    } else {
        e.git.resolve_base(args.base.as_deref())?
    };
    let parent = e.git.run_line(&["rev-parse", "HEAD^"])?;
    let base_id = match &base {
        Some(b) => Some(e.git.run_line(&["rev-parse", &format!("{b}^{{commit}}")])?),
        None => None,
    };
    let how = match base_id.filter(|b| *b != parent) {
        Some(b) => {
            // The target moved: carry the promotion commit over to its new head.
            let out = e
                .git
                .output(&["rebase", "--quiet", "--onto", &b, "HEAD^"])?;
            if !out.success {
                let _ = e.git.output(&["rebase", "--abort"]);
                return Err(CliError::new(format!(
                    "{}: the promotion commit does not apply on top of {}: {}",
                    e.branch,
                    base.as_deref().unwrap_or("the base"),
                    crate::git::one_line(&out.stderr)
                ))
                .hint("start again from the target branch: the branch is left as it was"));
            }
            format!("moved onto {}", base.as_deref().unwrap_or_default())
        }
        None => {
            e.git
                .run(&["commit", "--amend", "--only", "--no-edit", "--quiet"])?;
            "made anew".to_string()
        }
    };
    let id = e.git.run_line(&["rev-parse", "HEAD"])?;
    let mut lines = vec![format!(
        "{} already holds this promotion: commit {} {how} as {} ({})",
        e.branch,
        head(&old_head, 7),
        head(&id, 7),
        e.subject
    )];
    if args.push {
        lines.extend(push(args, &pr, &e.git, &e.branch, &e.subject, token)?);
    }
    if ctx.json {
        let mut v = plan_json(&pr, false, Some(&id));
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

/// Pushes the promotion branch and opens (or updates) its merge request.
/// With `--mr-api`, the GitLab token (`--token-file`, else `GITLAB_TOKEN`).
fn mr_token(args: &ApplyArgs) -> Result<Option<mr::Secret>, CliError> {
    Ok(args
        .mr_api
        .then(|| mr::resolve_token(args.token_file.as_deref()))
        .transpose()?)
}

fn push(
    args: &ApplyArgs,
    pr: &Promotion,
    git: &Git,
    branch: &str,
    subject: &str,
    token: Option<mr::Secret>,
) -> Result<Vec<String>, CliError> {
    let mut description = match &pr.resolution.changes {
        Some(r) => changes::render_markdown(r),
        None => pr.resolution.note.clone().unwrap_or_default(),
    };
    if args.notify {
        let handles: Vec<String> = pr
            .resolution
            .changes
            .iter()
            .flat_map(|r| r.notify.iter())
            .map(|a| a.handle.clone().unwrap_or_else(|| a.name.clone()))
            .collect();
        if let Some(sentence) = mr::notify_sentence(&handles) {
            description.push_str("\n\n");
            description.push_str(&sentence);
            description.push('\n');
        }
    }
    let req = mr::MrRequest {
        remote: args.remote.clone(),
        branch: branch.to_string(),
        target: args.target_branch.clone(),
        title: subject.to_string(),
        description,
        labels: args.labels.clone(),
    };
    let keep = "the local branch and commit stay: fix the cause and run again";
    // The token is read before anything is pushed.
    let gitlab = match token {
        Some(token) => Some(mr::gitlab_for_remote(
            git,
            &args.remote,
            args.gitlab_url.as_deref(),
            token,
        )?),
        None => None,
    };
    // With --mr-api the REST API opens the merge request; the push carries no options then.
    let out = mr::push_branch(git, &req, !args.mr_api)
        .map_err(|e| CliError::new(e.to_string()).hint(keep))?;
    let mut lines = vec![format!(
        "pushed {branch} to {}{}",
        args.remote,
        if out.forced {
            " (updated)"
        } else if out.up_to_date {
            " (already up to date)"
        } else {
            ""
        }
    )];
    // The remote names the merge request only when it receives something: remember it.
    let key = format!("branch.{branch}.qrPromoteMergeRequest");
    match &out.url {
        Some(url) => {
            let _ = git.output(&["config", "--", &key, url]);
            lines.push(format!("merge request: {url}"));
        }
        None => {
            if let Ok(o) = git.output(&["config", "--get", "--", &key]) {
                let url = o.stdout.trim();
                if o.success && !url.is_empty() {
                    lines.push(format!("merge request: {url}"));
                }
            }
        }
    }
    if let Some(gl) = gitlab {
        let o = gl
            .upsert_mr(&req)
            .map_err(|e| CliError::new(e.to_string()).hint(keep))?;
        lines.push(format!(
            "merge request !{} {}: {}",
            o.iid,
            if o.created { "created" } else { "updated" },
            o.web_url
        ));
    }
    Ok(lines)
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
