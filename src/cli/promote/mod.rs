//! `qr-promote plan` and `qr-promote apply`: compute a promotion, show it, write it.

use serde_json::json;

mod args;

pub use args::{ApplyArgs, PlanArgs, PromoteArgs, RegistryArgs};

use super::status::location_table;
use super::{CliError, CmdResult, Context, Status};
use crate::mr;
use crate::promote::plan::Plan;
use crate::promote::{self, branch, ImageCheck, Promotion};
use crate::transaction;
use crate::upstream::changes;
use crate::util::short_id;

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
        "stage": pr.stage,
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
    // An image not checked is a warning, on stderr alone.
    if !matches!(pr.image, ImageCheck::NotChecked { .. }) {
        s.push_str(&format!("{}\n", pr.image.line()));
    }
    let report = report_text(pr, false);
    if !report.is_empty() {
        s.push('\n');
        s.push_str(&report);
    }
    if let Some(stage) = &pr.stage {
        s.push('\n');
        s.push_str(&stage.replace("**", ""));
        s.push('\n');
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

/// Computes the promotion of the arguments, printing warnings as they come.
fn compute(ctx: &Context, args: &PromoteArgs) -> Result<Promotion, CliError> {
    let opts = args.options(ctx)?;
    Ok(Promotion::compute(&ctx.checkout, &opts, &mut |w| {
        ctx.warn(&w)
    })?)
}

/// `plan`: show the promotion; writes nothing.
pub fn cmd_plan(ctx: &Context, args: &PlanArgs) -> Result<Status, CliError> {
    let mut pr = compute(ctx, &args.promote)?;
    if nothing_to_promote(ctx, &pr) {
        return Ok(Status::Success);
    }
    if let Some(report) = gate(ctx, &args.promote, &mut pr)? {
        super::stage::print_refusal(ctx, "plan", &report);
        return Ok(Status::Differs);
    }
    if let ImageCheck::NotChecked { .. } = &pr.image {
        ctx.warn(&pr.image.line());
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
pub fn cmd_apply(ctx: &Context, args: &ApplyArgs) -> Result<Status, CliError> {
    let mut pr = compute(ctx, &args.promote)?;
    if !pr.is_nothing() {
        if let Some(report) = gate(ctx, &args.promote, &mut pr)? {
            super::stage::print_refusal(ctx, "apply", &report);
            return Ok(Status::Differs);
        }
    }
    apply_promotion(ctx, args, pr)?;
    Ok(Status::Success)
}

/// The stage gate of `plan` and `apply` (see `stage::gate_promotion`).
fn gate(
    ctx: &Context,
    args: &PromoteArgs,
    pr: &mut Promotion,
) -> Result<Option<crate::stage::Report>, CliError> {
    super::stage::gate_promotion(ctx, &args.stage, args.upstream.clone(), args.offline, pr)
}

fn apply_promotion(ctx: &Context, args: &ApplyArgs, pr: Promotion) -> CmdResult {
    if args.commit {
        if let Some(earlier) = branch::earlier_run(&ctx.root, &pr)? {
            return apply_again(ctx, args, pr, earlier);
        }
    }
    if args.commit && pr.is_nothing() {
        let opts = args.promote.options(ctx)?;
        let state_dir = ctx.lock()?.state_dir();
        if let Some(held) =
            promote::held::held_promotion(&ctx.root, state_dir, &ctx.checkout, &opts, &pr.plan.to)?
        {
            return commit_held(ctx, args, held);
        }
    }
    if nothing_to_promote(ctx, &pr) {
        return Ok(());
    }
    require_verified(args, &pr)?;
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
    for w in &written.warnings {
        ctx.warn(w);
    }
    let written = written.paths;
    let wrote = format!(
        "wrote {}\n",
        crate::util::count(written.len(), "file", "files")
    );
    commit_and_push(ctx, &pr, &written, commit_plan, push_opts, (true, &wrote))
}

/// Offline without the commit in the upstream cache, nothing says it moves forward: refused
/// unless `--allow-unverified`.
fn require_verified(args: &ApplyArgs, pr: &Promotion) -> CmdResult {
    if pr.resolution.relation.is_none() && !args.promote.allow_unverified {
        return Err(CliError::from(crate::error::Error::refused(format!(
            "{}: {} -> {}: the upstream cache lacks {}, so whether it descends from the current version is not known (a rollback or a diverged commit would be written); nothing written",
            pr.component.name,
            crate::util::short_id(&pr.component.tag),
            crate::util::short_id(&pr.plan.to),
            crate::util::short_id(&pr.plan.to),
        ))
        .with_hint("run once without --offline to fill the cache, or pass --allow-unverified to write it anyway")));
    }
    Ok(())
}

/// The promotion that `apply` already wrote, uncommitted: committed as it is.
fn commit_held(ctx: &Context, args: &ApplyArgs, pr: Promotion) -> CmdResult {
    require_verified(args, &pr)?;
    pr.image.require()?;
    if let ImageCheck::NotChecked { .. } = &pr.image {
        ctx.warn(&pr.image.line());
    }
    let push_opts = push_options(args)?;
    let git = branch::checkout_git(&ctx.root);
    let cp = branch::check_branch(git, &pr, args.base.as_deref(), args.allow_mixed)?;
    let files: Vec<String> = pr.plan.files.iter().map(|f| f.path.clone()).collect();
    let held = format!(
        "the working tree already holds this promotion ({}, as planned): nothing written\n",
        crate::util::count(files.len(), "file", "files")
    );
    commit_and_push(ctx, &pr, &files, Some(cp), push_opts, (false, &held))
}

/// Commits the promotion's files when asked, prints what was done (`done`: whether this run
/// wrote the files, and the line that says so), and pushes when asked.
fn commit_and_push(
    ctx: &Context,
    pr: &Promotion,
    files: &[String],
    commit_plan: Option<branch::CommitPlan>,
    push_opts: Option<branch::PushOptions>,
    (written, done): (bool, &str),
) -> CmdResult {
    let commit_id = match &commit_plan {
        Some(cp) => Some(
            branch::commit(cp, files, pr)
                .map_err(|e| CliError::from(e).hint("the files are written but not committed"))?,
        ),
        None => None,
    };
    if ctx.json {
        ctx.print_json(&plan_json(pr, written, commit_id.as_deref()));
    } else {
        print_promotion(ctx, pr, false);
        ctx.print(done);
        if let (Some(id), Some(cp)) = (&commit_id, &commit_plan) {
            ctx.print(&format!(
                "committed {} on {}, now checked out: {}\n",
                short_id(id),
                cp.branch,
                cp.subject
            ));
        }
    }
    if let (Some(opts), Some(cp)) = (push_opts, &commit_plan) {
        let pushed = branch::push(&cp.git, &cp.branch, &cp.subject, pr, opts)?;
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
