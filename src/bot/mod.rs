//! Promotion for CI, on every upstream push: one merge request per component, kept current.
//!
//! For each component the bot works from the target branch as the remote has it now, on one
//! branch of its own, `promote/<component>`, and converges on a state rather than running steps:
//!
//! 1. It reads the remote: the target branch, the bot's branch and what it holds, and the open
//!    promotion merge requests of the component.
//! 2. A branch holding a commit the bot did not make (no `Qr-Promote-Bot:` trailer, or amended by
//!    someone else) is left alone: a note on its merge request says so, once.
//! 3. The version to propose is the newer of the one asked for and the one the branch holds: a
//!    run never moves a merge request back. A version production already runs (or passed) closes
//!    the open merge requests as done; a rollback or a diverged commit is never proposed.
//! 4. It waits for the image, with backoff, and pushes nothing if it does not appear in time.
//! 5. It commits the promotion on top of the target (git objects only: the checkout's files,
//!    index and branches are not touched), pushes the branch with a lease on what it read, opens or updates the merge request (title, description, labels), and closes the
//!    component's other promotion merge requests of older versions with a note that links it.
//! 6. It reads the branch again: when another run moved it meanwhile, it goes back to 1, so two
//!    overlapping runs end with one merge request at the newer version, whichever ends last.

mod remote;
mod requests;

use remote::{checkout_detached, ls_branch, push, read_remote, Branch};
use requests::{close_superseded, done_already, left_alone};

use std::path::Path;
use std::time::{Duration, Instant};

use crate::checkout::{self, Checkout};
use crate::error::{Error, Result};
use crate::mr::{self, Created, MergeRequest, MrRequest};
use crate::promote::{self, branch, ImageCheck, Promotion};
use crate::registry::RegistryOptions;
use crate::transaction::CheckoutLock;
use crate::upstream::git::Git;
use crate::upstream::people::Directory;
use crate::upstream::{Relation, Upstream, UpstreamOptions};
use crate::util::short_id;

/// The trailer that marks the bot's commits: `Qr-Promote-Bot: <component>`.
pub const TRAILER: &str = "Qr-Promote-Bot";

/// The first words of the note left on a merge request whose branch someone else changed.
pub const HANDS_OFF_NOTE: &str = "qr-promote leaves this branch alone";

/// How many times a run reads the remote again after another run moved the branch.
const ATTEMPTS: usize = 5;

/// What the bot is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The new version: `latest` (None), a branch or tag, a commit id.
    pub to: Option<String>,
    /// The upstream repository, instead of the component's `<P>_REPO`.
    pub upstream: Option<String>,
    /// How long to wait for the image to appear (else the component's `wait_image`, else no wait).
    pub wait_image: Option<Duration>,
    /// The first pause between two questions to the registry; it doubles up to a minute.
    pub poll: Duration,
    /// The GitHub login that pushed upstream: named in the title.
    pub triggered_by: Option<String>,
    /// The remote (else the component's `remote`, else `origin`).
    pub remote: Option<String>,
    /// The target branch (else the component's `target_branch`, else `master`).
    pub target_branch: Option<String>,
    /// Labels on top of the component's `labels`.
    pub labels: Vec<String>,
    /// Mention the authors to notify (else the component's `notify`, else no).
    pub notify: Option<bool>,
    pub token: mr::Secret,
    pub gitlab_url: Option<String>,
    pub cache_dir: std::path::PathBuf,
    pub scan_cache: bool,
    pub image_check: bool,
    pub registry: RegistryOptions,
}

/// How a component ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A merge request was opened.
    Opened,
    /// The open merge request was moved to the new version (or its text brought up to date).
    Updated,
    /// The open merge request already proposes this version.
    UpToDate,
    /// Production already runs this version (or a newer one); no merge request was open.
    NothingToDo,
    /// Production already runs the version: the open merge requests were closed as done.
    ClosedDone,
    /// The branch holds a commit the bot did not make: left alone, with a note.
    LeftAlone,
    /// The image did not appear in time: nothing pushed.
    TimedOut,
}

/// A merge request named in a report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MrRef {
    pub iid: u64,
    pub url: String,
}

impl MrRef {
    fn of(m: &MergeRequest) -> MrRef {
        MrRef {
            iid: m.iid,
            url: m.web_url.clone(),
        }
    }
}

/// What the bot did for one component.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub component: String,
    pub status: Status,
    /// The version production runs (the target branch's `.env` tag).
    pub from: String,
    /// The version proposed (full id), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The component's promotion merge request, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge_request: Option<MrRef>,
    /// The merge requests closed by this run.
    pub closed: Vec<MrRef>,
    /// One line that says what happened.
    pub message: String,
}

/// The settings of one component's run, options over `.qr-promote.yaml` over defaults.
pub(super) struct Settings {
    pub(super) remote: String,
    pub(super) target: String,
    pub(super) labels: Vec<String>,
    pub(super) notify: bool,
    pub(super) wait_image: Option<Duration>,
}

fn settings(checkout: &Checkout, c: &str, opts: &Options) -> Settings {
    let s = checkout.config.component(c);
    let mut labels: Vec<String> = s.map(|s| s.labels.clone()).unwrap_or_default();
    for l in &opts.labels {
        if !labels.contains(l) {
            labels.push(l.clone());
        }
    }
    Settings {
        remote: opts
            .remote
            .clone()
            .or_else(|| s.and_then(|s| s.remote.clone()))
            .unwrap_or_else(|| "origin".into()),
        target: opts
            .target_branch
            .clone()
            .or_else(|| s.and_then(|s| s.target_branch.clone()))
            .unwrap_or_else(|| "master".into()),
        labels,
        notify: opts.notify.or(s.and_then(|s| s.notify)).unwrap_or(false),
        wait_image: opts.wait_image.or(s.and_then(|s| s.wait_image)),
    }
}

/// The bot's branch of a component.
pub fn bot_branch(c: &str) -> String {
    format!("promote/{c}")
}

/// Runs the bot for `components` (in order, each on its own), with the checkout's lock held.
/// A component that fails is an error in its place; the others still run.
pub fn run(
    lock: &CheckoutLock,
    components: &[String],
    opts: &Options,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<Result<Report>>> {
    let root = lock.root().to_path_buf();
    let git = Git::new(&root).with_label(root.display().to_string());
    let dirty = git.run(&["status", "--porcelain", "--untracked-files=no"])?;
    if !dirty.trim().is_empty() {
        return Err(Error::refused(format!(
            "{}: the checkout has uncommitted changes; the bot needs a clean one",
            root.display()
        ))
        .with_hint("run it on a fresh clone, or commit or stash the changes"));
    }
    let head = git.output(&["symbolic-ref", "--quiet", "--short", "HEAD"])?;
    let original = if head.success {
        head.stdout.trim().to_string()
    } else {
        git.run_line(&["rev-parse", "HEAD"])?
    };
    let mut out = Vec::new();
    for c in components {
        let r = run_one(lock, &git, c, opts, warn);
        out.push(r);
    }
    // Back where the checkout was.
    let now = git.run_line(&["rev-parse", "HEAD"]).unwrap_or_default();
    let was = git
        .run_line(&["rev-parse", &format!("{original}^{{commit}}")])
        .unwrap_or_default();
    let on_branch = git
        .output(&["symbolic-ref", "--quiet", "--short", "HEAD"])
        .map(|o| o.stdout.trim() == original)
        .unwrap_or(false);
    if now != was || (head.success && !on_branch) {
        git.run(&["checkout", "--quiet", &original, "--"])?;
    }
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
    let upstream = Upstream::open(
        opts.upstream.as_deref().unwrap_or(&component.repo),
        UpstreamOptions {
            cache_dir: opts.cache_dir.clone(),
            offline: false,
            progress: false,
        },
    )?;
    let wanted = upstream.resolve(opts.to.as_deref())?;
    let branch = bot_branch(c);
    // Who pushed, as the title names them: read once, not on every attempt.
    let by = pusher(&first, opts);
    let mut waited = false;
    for _ in 0..ATTEMPTS {
        let remote = read_remote(git, &gitlab, &set, &component, &branch, &upstream)?;
        checkout_detached(git, &remote.base)?;
        let checkout = Checkout::open(&root)?;
        let now = checkout.component(c)?.clone();
        if let Branch::Edited(why) = &remote.branch {
            return left_alone(&gitlab, &now, &remote, why);
        }
        // The newer of what was asked and what the branch proposes.
        let mut version = wanted.id.clone();
        if let Branch::Ours { version: v, .. } = &remote.branch {
            if v != &version {
                if let Relation::Descends { .. } = upstream.relation(&version, v)? {
                    version = v.clone();
                }
            }
        }
        let pr = compute(&checkout, c, &version, opts, warn)?;
        match &pr.resolution.relation {
            Some(Relation::Same) | Some(Relation::Rollback { .. }) => {
                return done_already(&gitlab, &upstream, &now, &remote, &pr);
            }
            _ if pr.plan.is_empty() => return done_already(&gitlab, &upstream, &now, &remote, &pr),
            _ => {}
        }
        if !waited {
            if let Some(timeout) = wait_for_image(&pr, c, &set, opts)? {
                return Ok(Report {
                    component: c.to_string(),
                    status: Status::TimedOut,
                    from: now.tag.clone(),
                    version: Some(version),
                    merge_request: remote.mine.as_ref().map(MrRef::of),
                    closed: Vec::new(),
                    message: timeout,
                });
            }
            waited = true;
        }
        let title = title(&pr, by.as_deref());
        let req = MrRequest {
            remote: set.remote.clone(),
            branch: branch.clone(),
            target: set.target.clone(),
            title,
            description: branch::description(&pr, set.notify),
            labels: set.labels.clone(),
        };
        let current =
            matches!(&remote.branch, Branch::Ours { version: v, on_base: true } if *v == version);
        let pushed = if current {
            remote.tip.clone()
        } else {
            let id = commit(git, &root, &pr, &remote.base)?;
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
        let message = match status {
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
        return Ok(Report {
            component: c.to_string(),
            status,
            from: now.tag.clone(),
            version: Some(version),
            merge_request: Some(MrRef::of(&mr)),
            closed,
            message,
        });
    }
    Err(Error::external(format!(
        "{c}: the branch {branch} kept moving under this run ({ATTEMPTS} attempts); another run is at work"
    ))
    .with_hint("run again"))
}

/// The promotion of `c` to `version` on the checkout as it is now. A version that production
/// already passed is not an error here: the caller sees the relation.
fn compute(
    checkout: &Checkout,
    c: &str,
    version: &str,
    opts: &Options,
    warn: &mut dyn FnMut(String),
) -> Result<Promotion> {
    let o = promote_options(c, version, opts, opts.image_check);
    Promotion::compute(checkout, &o, warn)
}

/// The options of the bot's promotion of `c` to `version` (rollbacks let through: the caller
/// sees the relation and proposes none).
fn promote_options(c: &str, version: &str, opts: &Options, image_check: bool) -> promote::Options {
    promote::Options {
        component: c.to_string(),
        to: Some(version.to_string()),
        upstream: opts.upstream.clone(),
        cache_dir: opts.cache_dir.clone(),
        scan_cache: opts.scan_cache,
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
        let o = promote_options(c, &pr.plan.to, opts, true);
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
fn pusher(checkout: &Checkout, opts: &Options) -> Option<String> {
    let login = opts
        .triggered_by
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())?;
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

/// Commits the promotion on top of `base` without touching the worktree, the index or a branch
/// (the files as they are in `base`, the new bytes from the plan); returns the commit.
fn commit(git: &Git, root: &Path, pr: &Promotion, base: &str) -> Result<String> {
    let c = &pr.component;
    let real_root = std::fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
    let mut files = Vec::new();
    for f in &pr.plan.files {
        // The path git knows: through links inside the checkout, the file they lead to.
        let real = checkout::real_path_inside(&real_root, &f.path)?;
        let rel = real
            .strip_prefix(&real_root)
            .map_err(|_| Error::refused(format!("{}: not inside the checkout", f.path)))?
            .to_string_lossy()
            .into_owned();
        files.push((rel, f.after.clone()));
    }
    let subject = branch::subject(c, &c.tag, &pr.plan.to);
    let message = format!(
        "{subject}\n\n{}\n\n{TRAILER}: {}\n",
        branch::commit_body(pr).trim_end(),
        c.name
    );
    git.commit_on(base, &files, &message)
}
