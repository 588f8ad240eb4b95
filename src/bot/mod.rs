//! Promotion for CI, on every upstream push: one merge request per component, kept current.
//!
//! For each component (qontract-schemas first: the procedure promotes schemas before the code
//! that needs them) the bot works from the target branch as the remote has it now, on one
//! branch of its own, `promote/<component>`, and converges on a state rather than running steps:
//!
//! 1. It reads the remote, whatever the local clone holds: the target branch, the bot's branch
//!    and whose commits it holds (asked of the remote itself, see `remote`), and the merge
//!    requests of the component, open and closed.
//! 2. People's actions are final. A branch holding a commit the bot did not make is left
//!    alone while its merge request is open (one note says so, kept current); once that merge
//!    request is closed or merged, or the person's commit is gone, the branch is the bot's
//!    again. A version whose merge request a person closed is not proposed again (the closed
//!    merge request on the remote is the memory); a newer one is.
//! 3. The version to propose is the newer of the one asked for and the one the branch holds: a
//!    run never moves a merge request back, and the title keeps naming who pushed the version
//!    it proposes. A version production already runs (or passed) closes the open merge requests
//!    as done; a rollback or a diverged commit is never proposed. A component whose
//!    `.qr-promote.yaml` `hold_for` names another component waits while that one's promotion
//!    merge request is open.
//! 4. It waits for the image, with backoff, and pushes nothing if it does not appear in time.
//! 5. It reads the target's tree (the checkout's own files when they are that tree, else a
//!    private copy in the state folder), commits the promotion on top of the target from git
//!    objects (the checkout's HEAD, index, branches and files are never touched), pushes the
//!    branch with a lease on what it read, opens or updates the merge request (title,
//!    description, labels), and closes the component's other promotion merge requests of
//!    older versions with a note that links it.
//! 6. It reads the branch again: when another run moved it meanwhile, it goes back to 1, so two
//!    overlapping runs end with one merge request at the newer version, whichever ends last.
//!
//! With the stage gate, the version of step 3 is the newest that stage has run cleanly for the
//! soak time (see [`crate::stage::gate`]); with `after_merge`, each run then checks production
//! for the bot's newest merged merge request and keeps one note on it ([`after_merge`]).
//!
//! What stays behind (drifted and skipped locations, pinned shards) is named in the report and
//! the description; a component left alone, declined, held or with drifted locations ends in a
//! [`State`] that is not [`State::Done`], which the command line makes exit status 5.

pub mod after_merge;
mod check;
mod options;
mod remote;
mod report;
mod requests;
mod tree;

use crate::promote::held::tree_at;
use options::settings;
pub(crate) use options::Settings;
pub use options::{Options, PerComponent};
pub use report::{AfterMerge, MrRef, Report, State, Status};
use tree::commit;

use remote::{clean_state, ls_branch, push, read_remote, Branch};
use requests::{close_superseded, declined, done_already, left_alone};

use std::time::{Duration, Instant};

use crate::checkout::Checkout;
use crate::error::{Error, Result};
use crate::mr::{self, Created, MergeRequest, MrRequest};
use crate::promote::{self, branch, ImageCheck, Promotion};
use crate::transaction::CheckoutLock;
use crate::upstream::git::Git;
use crate::upstream::people::Directory;
use crate::upstream::{Relation, Upstream, UpstreamOptions};
use crate::util::short_id;

/// The check after the merge (`after_merge`) for component `c`, as one line of its report.
fn after_merge_line(lock: &CheckoutLock, git: &Git, c: &str, opts: &Options) -> AfterMerge {
    let step = || -> Result<after_merge::Outcome> {
        let checkout = Checkout::open(lock.root())?;
        let set = settings(&checkout, c, opts);
        let gitlab = mr::gitlab_for_remote(
            git,
            &set.remote,
            opts.gitlab_url.as_deref(),
            opts.token.clone(),
        )?;
        let access = match opts.stage.as_ref().map(|g| &g.source) {
            Some(crate::stage::check::Source::Api(a)) => a.clone(),
            _ => crate::cluster::access::Access::default(),
        };
        after_merge::check(&gitlab, &bot_branch(c), &checkout, c, &access, set.notify)
    };
    let (message, settled) = match step() {
        Ok(after_merge::Outcome::NothingMerged) => ("no merged promotion to check".into(), true),
        Ok(after_merge::Outcome::Done { iid }) => (
            format!("!{iid}: production runs it everywhere (noted before)"),
            true,
        ),
        Ok(after_merge::Outcome::Noted { iid, everywhere }) => (
            format!(
                "!{iid}: production {} (noted on the merge request)",
                if everywhere {
                    "runs it everywhere"
                } else {
                    "does not run it everywhere yet"
                }
            ),
            everywhere,
        ),
        Err(e) => (format!("production not checked: {e}"), false),
    };
    AfterMerge { message, settled }
}

/// The stage gate of component `c`: `None` without one; else the version stage has soaked (at
/// most `wanted`) with the stage lines of the description, or `Some(None)` when stage has soaked
/// none newer than the checkout's.
fn stage_gate(
    checkout: &Checkout,
    c: &crate::checkout::Component,
    upstream: &Upstream,
    wanted: &str,
    opts: &Options,
) -> Result<Option<Option<(String, String)>>> {
    let Some(gate) = &opts.stage else {
        return Ok(None);
    };
    let Some(soak) = gate.soak_for(checkout, &c.name) else {
        return Ok(None);
    };
    let graph = upstream.graph(&[wanted])?;
    let graph = crate::history::runs::complete(upstream, graph, &[wanted], false)?;
    let v = gate.judge(checkout, c, &graph, wanted, Some(&c.tag), soak)?;
    let lines = crate::stage::gate::summary_markdown(&v);
    Ok(Some(v.chosen.map(|(id, _)| (id, lines))))
}

/// The trailer that marks the bot's commits: `Qr-Promote-Bot: <component>`.
pub const TRAILER: &str = "Qr-Promote-Bot";

/// The trailer with the full id of the version a bot commit proposes.
pub const VERSION_TRAILER: &str = "Qr-Promote-Version";

/// The trailer with who pushed that version upstream, as the title names them.
pub const TRIGGERED_BY_TRAILER: &str = "Qr-Promote-Triggered-By";

/// The first words of the note left on a merge request whose branch someone else changed.
pub const HANDS_OFF_NOTE: &str = "qr-promote leaves this branch alone";

/// The first words of the note left on a merge request of the bot's that a person closed.
pub const DECLINED_NOTE: &str = "qr-promote will not propose";

/// The component promoted first: the others may need its schemas.
pub const SCHEMAS: &str = "qontract-schemas";

/// How many times a run reads the remote again after another run moved the branch.
const ATTEMPTS: usize = 5;

/// The bot's branch of a component.
pub fn bot_branch(c: &str) -> String {
    format!("promote/{c}")
}

/// The order the bot promotes `components` in: qontract-schemas first, the rest as given.
pub fn order(components: &[String]) -> Vec<String> {
    let mut out: Vec<String> = components
        .iter()
        .filter(|c| *c == SCHEMAS)
        .cloned()
        .collect();
    for c in components {
        if c != SCHEMAS && !out.contains(c) {
            out.push(c.clone());
        }
    }
    out
}

/// Runs the bot for `components` (qontract-schemas first, each on its own), with the checkout's
/// lock held; returns each component's result in that order. A component that fails is an
/// error in its place; the others still run. The checkout's HEAD, index, branches and files
/// are never touched.
pub fn run(
    lock: &CheckoutLock,
    components: &[String],
    opts: &Options,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<(String, Result<Report>)>> {
    let ordered = order(components);
    opts.to.check(&ordered, "--to")?;
    opts.triggered_by.check(&ordered, "--triggered-by")?;
    opts.upstream.check(&ordered, "--upstream")?;
    let root = lock.root().to_path_buf();
    let git = Git::new(&root).with_label(root.display().to_string());
    clean_state(lock.state_dir());
    let mut out = Vec::new();
    for c in &ordered {
        let mut r = run_one(lock, &git, c, opts, warn);
        if let (true, Ok(report)) = (opts.after_merge, &mut r) {
            report.after_merge = Some(after_merge_line(lock, &git, c, opts));
        }
        out.push((c.clone(), r));
    }
    clean_state(lock.state_dir());
    Ok(out)
}

fn run_one(
    lock: &CheckoutLock,
    git: &Git,
    c: &str,
    opts: &Options,
    warn: &mut dyn FnMut(String),
) -> Result<Report> {
    let root = lock.root().to_path_buf();
    let first = Checkout::open(&root)?;
    let component = first.component(c)?.clone();
    let set = settings(&first, c, opts);
    mr::remote_url(git, &set.remote)?;
    let gitlab = mr::gitlab_for_remote(
        git,
        &set.remote,
        opts.gitlab_url.as_deref(),
        opts.token.clone(),
    )?;
    let upstream_url = first.upstream_of(&component, opts.upstream.get(c));
    let upstream = Upstream::open(
        &upstream_url,
        UpstreamOptions {
            cache_dir: opts.cache_dir.clone(),
            offline: false,
            progress: false,
        },
    )?;
    let mut wanted = upstream.resolve(opts.to.get(c))?;
    // The stage gate: the newest version stage has soaked, the younger ones named.
    let gated = stage_gate(&first, &component, &upstream, &wanted.id, opts)?;
    if let Some(Some((id, _))) = &gated {
        if *id != wanted.id {
            wanted = upstream.resolve(Some(id))?;
        }
    }
    let branch = bot_branch(c);
    // Who pushed, as the title names them: read once, not on every attempt.
    let pushed_by = pusher(&first, opts.triggered_by.get(c), opts);
    let mut waited = false;
    for _ in 0..ATTEMPTS {
        let remote = read_remote(
            git,
            &gitlab,
            &set,
            lock.state_dir(),
            &component,
            &branch,
            &upstream,
        )?;
        let (tree, copied) = tree_at(git, &root, lock.state_dir(), &remote.base, "bot-tree")?;
        let checkout = Checkout::open(&tree)?;
        let now = checkout.component(c)?.clone();
        if let Some(None) = &gated {
            let mut r = Report::idle(
                c,
                Status::StageNotSoaked,
                State::WaitingForStage,
                &now.tag,
                remote.mine.as_ref(),
                format!(
                    "stage has not run a version newer than {} cleanly for {}; nothing pushed",
                    short_id(&now.tag),
                    opts.stage
                        .as_ref()
                        .and_then(|g| g.soak_for(&first, c))
                        .map_or_else(String::new, crate::util::human_duration)
                ),
            );
            r.version = Some(wanted.id.clone());
            return Ok(r);
        }
        // A person's commit on the branch: theirs while its merge request is open.
        let released = match &remote.branch {
            Branch::Edited(why) => match &remote.mine {
                Some(_) => return left_alone(&gitlab, &now, &remote, why),
                None => Some(why.clone()),
            },
            _ => None,
        };
        // The newer of what was asked and what the branch proposes, unless a person closed it;
        // the title names who pushed the version proposed.
        let mut version = wanted.id.clone();
        let mut by = pushed_by.clone();
        if let Branch::Ours {
            version: v, by: b, ..
        } = &remote.branch
        {
            // With the stage gate, the version it chose stands.
            if v != &version && remote.declined(v).is_none() && gated.is_none() {
                if let Relation::Descends { .. } = upstream.relation(&version, v)? {
                    version = v.clone();
                    by = b
                        .clone()
                        .or_else(|| remote.mine.as_ref().and_then(title_by));
                }
            }
        }
        let o = promote_options(c, &version, &upstream_url, opts, opts.image_check, !copied);
        let mut pr = Promotion::compute(&checkout, &o, warn)?;
        if let Some(Some((_, stage))) = &gated {
            pr.stage = Some(stage.clone());
        }
        match &pr.resolution.relation {
            Some(Relation::Same) | Some(Relation::Rollback { .. }) => {
                return done_already(&gitlab, &upstream, &now, &remote, &pr);
            }
            _ if pr.plan.is_empty() => return done_already(&gitlab, &upstream, &now, &remote, &pr),
            _ => {}
        }
        // Production does not run it yet, and a person closed its merge request.
        if let Some(closed) = remote.declined(&version) {
            return declined(&gitlab, &now, &remote, closed, &version);
        }
        // Another component's promotion that must go first.
        let first_open: Vec<&MergeRequest> = remote
            .open
            .iter()
            .filter(|m| {
                m.source_branch.strip_prefix("promote/").is_some_and(|o| {
                    o != c && (set.hold_for.iter().any(|h| h == o) || (o == SCHEMAS))
                })
            })
            .collect();
        if let Some(h) = first_open.iter().find(|m| {
            set.hold_for
                .iter()
                .any(|h| m.source_branch == bot_branch(h))
        }) {
            let mut r = Report::idle(
                c,
                Status::Held,
                State::Held,
                &now.tag,
                remote.mine.as_ref(),
                format!(
                    "held back while !{} ({}) is open (hold_for in .qr-promote.yaml); nothing pushed",
                    h.iid, h.title
                ),
            );
            r.version = Some(version);
            return Ok(r);
        }
        if !waited {
            if let Some(timeout) = wait_for_image(&pr, c, &upstream_url, &set, opts)? {
                let mut r = Report::idle(
                    c,
                    Status::TimedOut,
                    State::WaitingForImage,
                    &now.tag,
                    remote.mine.as_ref(),
                    timeout,
                );
                r.version = Some(version);
                return Ok(r);
            }
            waited = true;
        }
        let title = title(&pr, by.as_deref());
        let mut description = branch::description(&pr, set.notify);
        if let Some(s) = first_open
            .iter()
            .find(|m| m.source_branch == bot_branch(SCHEMAS))
        {
            description = format!(
                "Merge the {SCHEMAS} promotion first: !{} ({}) is open.\n\n{description}",
                s.iid,
                crate::upstream::markdown::escape(&s.title)
            );
        }
        let req = MrRequest {
            remote: set.remote.clone(),
            branch: branch.clone(),
            target: set.target.clone(),
            title,
            description,
            labels: set.labels.clone(),
        };
        let current = released.is_none()
            && matches!(&remote.branch, Branch::Ours { version: v, on_base: true, .. } if *v == version);
        let pushed = if current {
            remote.tip.clone()
        } else {
            let id = commit(
                git,
                &tree,
                &pr,
                &remote.base,
                &req.description,
                by.as_deref(),
            )?;
            if !push(git, &set.remote, &branch, &id, remote.tip.as_deref())? {
                continue;
            }
            Some(id)
        };
        let (status, mr) = match &remote.mine {
            Some(m)
                if current
                    && m.title == req.one_line_title()
                    && m.description == req.description =>
            {
                (Status::UpToDate, m.clone())
            }
            Some(m) => (Status::Updated, gitlab.update_mr(m.iid, &req)?),
            None => match gitlab.create_mr(&req)? {
                Created::Opened(m) => (Status::Opened, m),
                Created::Exists => continue,
            },
        };
        let closed = close_superseded(&gitlab, &upstream, &remote.others, &mr, &version)?;
        // Another run may have moved the branch since this one pushed: read it all again.
        if ls_branch(git, &set.remote, &branch)? != pushed {
            continue;
        }
        let behind = branch::left_behind(&pr);
        let drifted = behind.iter().filter(|b| b.kind == "drifted").count();
        // The check ran on the head this run left as it was: read it, once it finished.
        let check = match (&opts.check, status) {
            (Some(jenkins), Status::UpToDate) => check::read_and_note(
                &gitlab, &upstream, &tree, mr.iid, &now.tag, &version, jenkins,
            )?,
            _ => None,
        };
        let mut message = match status {
            Status::Opened => format!(
                "opened !{} for {} -> {}",
                mr.iid,
                short_id(&now.tag),
                short_id(&version)
            ),
            Status::UpToDate => format!("!{} already proposes {}", mr.iid, short_id(&version)),
            _ => format!(
                "updated !{} to {} -> {}",
                mr.iid,
                short_id(&now.tag),
                short_id(&version)
            ),
        };
        if let Some(why) = &released {
            let closed_mr = remote
                .last_closed
                .as_ref()
                .map(|m| format!("!{} is {}", m.iid, m.state))
                .unwrap_or_else(|| "no merge request is open".into());
            message.push_str(&format!(
                " (the branch is the bot's again: {closed_mr}; it held {why})"
            ));
        }
        if drifted > 0 {
            message.push_str(&format!(
                "; {drifted} drifted location{} stay{} behind",
                if drifted == 1 { "" } else { "s" },
                if drifted == 1 { "s" } else { "" }
            ));
        }
        if let Some((_, line)) = &check {
            message.push_str(&format!("; the check: {line}"));
        }
        return Ok(Report {
            component: c.to_string(),
            status,
            state: if drifted > 0 {
                State::Behind
            } else if check.as_ref().is_some_and(|(good, _)| !good) {
                State::CheckFindings
            } else {
                State::Done
            },
            from: now.tag.clone(),
            version: Some(version),
            triggered_by: by,
            merge_request: Some(MrRef::of(&mr)),
            closed,
            behind,
            after_merge: None,
            message,
        });
    }
    Err(Error::external(format!(
        "{c}: the branch {branch} kept moving under this run ({ATTEMPTS} attempts); another run is at work"
    ))
    .with_hint("run again"))
}

/// Who a merge request's title names: the words after ` by `.
fn title_by(m: &MergeRequest) -> Option<String> {
    let (subject, by) = m.title.rsplit_once(" by ")?;
    branch::parse_subject(subject)?;
    Some(by.trim().to_string()).filter(|b| !b.is_empty())
}

/// The options of the bot's promotion of `c` to `version` (rollbacks let through: the caller
/// sees the relation and proposes none).
fn promote_options(
    c: &str,
    version: &str,
    upstream: &str,
    opts: &Options,
    image_check: bool,
    scan_cache: bool,
) -> promote::Options {
    promote::Options {
        component: c.to_string(),
        to: Some(version.to_string()),
        upstream: Some(upstream.to_string()),
        cache_dir: opts.cache_dir.clone(),
        scan_cache: opts.scan_cache && scan_cache,
        offline: false,
        progress: false,
        allow_rollback: true,
        me: None,
        selection: Default::default(),
        image_check,
        registry: opts.registry.clone(),
    }
}

/// Waits for the promotion's image with backoff; the reason when it did not appear in time.
fn wait_for_image(
    pr: &Promotion,
    c: &str,
    upstream: &str,
    set: &Settings,
    opts: &Options,
) -> Result<Option<String>> {
    let started = Instant::now();
    let mut image = pr.image.clone();
    let mut pause = opts.poll.max(Duration::from_millis(10));
    loop {
        match &image {
            ImageCheck::Exists { .. } | ImageCheck::NotChecked { .. } => return Ok(None),
            ImageCheck::Unreachable { .. } => {
                image.require()?;
                return Ok(None);
            }
            ImageCheck::NotFound { image: name } => {
                let Some(limit) = set.wait_image else {
                    return Ok(Some(format!("{name} not found; nothing pushed")));
                };
                let spent = started.elapsed();
                if spent >= limit {
                    return Ok(Some(format!(
                        "{name} did not appear within {}; nothing pushed",
                        crate::util::human_duration(limit)
                    )));
                }
                std::thread::sleep(pause.min(limit - spent));
                pause = (pause * 2).min(Duration::from_secs(60));
            }
        }
        let o = promote_options(c, &pr.plan.to, upstream, opts, true, false);
        image = promote::check_image(&pr.component, &pr.plan.to, &o);
    }
}

/// The merge request's title: the commit subject, and who pushed upstream.
fn title(pr: &Promotion, by: Option<&str>) -> String {
    let c = &pr.component;
    let subject = branch::subject(c, &c.tag, &pr.plan.to);
    match by {
        Some(who) => format!("{subject} by {who}"),
        None => subject,
    }
}

/// `@org_username` of `--triggered-by` when a user file has that GitHub login, else the login;
/// none without it.
fn pusher(checkout: &Checkout, login: Option<&str>, opts: &Options) -> Option<String> {
    let login = login.map(str::trim).filter(|l| !l.is_empty())?;
    let dir = Directory::load(
        &checkout.root,
        opts.scan_cache.then_some(opts.cache_dir.as_path()),
    )
    .unwrap_or_default();
    Some(match dir.handle_of(login) {
        Some(h) => format!("@{h}"),
        None => login.trim_start_matches('@').to_string(),
    })
}
