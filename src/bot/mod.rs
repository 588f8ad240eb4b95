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
//! What stays behind (drifted and skipped locations, pinned shards) is named in the report and
//! the description; a component left alone, declined, held or with drifted locations ends in a
//! [`State`] that is not [`State::Done`], which the command line makes exit status 5.

mod remote;
mod requests;

use remote::{clean_state, ls_branch, push, read_remote, Branch};
use requests::{close_superseded, declined, done_already, left_alone};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::checkout::{self, Checkout};
use crate::error::{Error, Result};
use crate::mr::{self, Created, MergeRequest, MrRequest};
use crate::promote::branch::Behind;
use crate::promote::{self, branch, ImageCheck, Promotion};
use crate::registry::RegistryOptions;
use crate::transaction::CheckoutLock;
use crate::upstream::git::Git;
use crate::upstream::people::Directory;
use crate::upstream::{Relation, Upstream, UpstreamOptions};
use crate::util::short_id;

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

/// A value given for every component, or per component (`COMPONENT=VALUE`).
#[derive(Debug, Clone, Default)]
pub struct PerComponent {
    /// The bare value: for the one component of the run.
    pub all: Option<String>,
    /// `COMPONENT=VALUE`.
    pub each: BTreeMap<String, String>,
}

impl PerComponent {
    /// The value for `c`: its own, else the bare one.
    pub fn get(&self, c: &str) -> Option<&str> {
        self.each.get(c).or(self.all.as_ref()).map(String::as_str)
    }

    /// Reads `COMPONENT=VALUE` or a bare `VALUE` (a component name is lowercase letters,
    /// digits and dashes); `what` names the option in errors.
    pub fn parse(values: &[String], what: &str) -> Result<PerComponent> {
        let mut out = PerComponent::default();
        for v in values {
            match v.split_once('=') {
                Some((c, value))
                    if !c.is_empty()
                        && c.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
                {
                    if out.each.insert(c.to_string(), value.to_string()).is_some() {
                        return Err(Error::input(format!("{what}: {c} is given twice")));
                    }
                }
                _ => {
                    if out.all.replace(v.clone()).is_some() {
                        return Err(Error::input(format!(
                            "{what}: two values without a component; give COMPONENT=VALUE"
                        )));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Refuses a bare value with several components, and a component that the run does not
    /// promote.
    pub fn check(&self, components: &[String], what: &str) -> Result<()> {
        if let Some(v) = &self.all {
            if components.len() > 1 {
                return Err(Error::input(format!(
                    "{what} {v}: one value for {} components; give COMPONENT={v} for the one it is for",
                    components.len()
                ))
                .with_hint(format!("{what} {}={v}", components[0])));
            }
        }
        if let Some(c) = self.each.keys().find(|c| !components.contains(c)) {
            return Err(Error::input(format!(
                "{what} {c}=…: {c} is not promoted by this run (components: {})",
                components.join(", ")
            )));
        }
        Ok(())
    }
}

/// What the bot is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The new version of each component: `latest` (none), a branch or tag, a commit id.
    pub to: PerComponent,
    /// The upstream repository of each component, instead of its `<P>_REPO`.
    pub upstream: PerComponent,
    /// How long to wait for the image to appear (else the component's `wait_image`, else no wait).
    pub wait_image: Option<Duration>,
    /// The first pause between two questions to the registry; it doubles up to a minute.
    pub poll: Duration,
    /// The GitHub login that pushed each component's version upstream: named in the title.
    pub triggered_by: PerComponent,
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
    /// The branch holds a commit the bot did not make and its merge request is open: left
    /// alone, with a note.
    LeftAlone,
    /// A person closed the merge request of this version: not proposed again.
    Declined,
    /// Another component's promotion merge request that `hold_for` names is open: nothing
    /// pushed.
    Held,
    /// The image did not appear in time: nothing pushed.
    TimedOut,
}

/// Whether a component is where it should be, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// The newest version is proposed (or production runs it), every location with it.
    Done,
    /// A person's commit is on the branch of an open merge request: the bot does not push.
    LeftAlone,
    /// A person closed the merge request of the version asked for.
    Declined,
    /// Held back while another component's promotion is open.
    Held,
    /// Proposed, but locations a person moved to another version stay behind (drifted).
    Behind,
    /// The image is not in the registry yet.
    WaitingForImage,
}

impl State {
    /// Something a person did (or must do) keeps the component from where it should be.
    pub fn needs_a_person(self) -> bool {
        matches!(
            self,
            State::LeftAlone | State::Declined | State::Held | State::Behind
        )
    }
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
    /// Where the component stands after the run.
    pub state: State,
    /// The version production runs (the target branch's `.env` tag).
    pub from: String,
    /// The version proposed (full id), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Who pushed the proposed version upstream, as the title names them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triggered_by: Option<String>,
    /// The component's promotion merge request, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge_request: Option<MrRef>,
    /// The merge requests closed by this run.
    pub closed: Vec<MrRef>,
    /// What the promotion leaves at another version.
    pub behind: Vec<Behind>,
    /// One line that says what happened.
    pub message: String,
}

impl Report {
    /// A report of a run that proposes nothing new.
    fn idle(
        c: &str,
        status: Status,
        state: State,
        from: &str,
        mr: Option<&MergeRequest>,
        message: String,
    ) -> Report {
        Report {
            component: c.to_string(),
            status,
            state,
            from: from.to_string(),
            version: None,
            triggered_by: None,
            merge_request: mr.map(MrRef::of),
            closed: Vec::new(),
            behind: Vec::new(),
            message,
        }
    }
}

/// The settings of one component's run, options over `.qr-promote.yaml` over defaults.
pub(super) struct Settings {
    pub(super) remote: String,
    pub(super) target: String,
    pub(super) labels: Vec<String>,
    pub(super) notify: bool,
    pub(super) wait_image: Option<Duration>,
    pub(super) hold_for: Vec<String>,
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
        hold_for: s.map(|s| s.hold_for.clone()).unwrap_or_default(),
    }
}

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
        let r = run_one(lock, &git, c, opts, warn);
        out.push((c.clone(), r));
    }
    clean_state(lock.state_dir());
    Ok(out)
}

/// The tree of `base` to read the promotion from: the checkout's own folder when its files are
/// that tree (HEAD's tree, nothing changed, added or ignored under the folders a promotion
/// reads), else a private copy written from git objects into the state folder. `true` with a
/// copy.
fn tree_at(git: &Git, root: &Path, state_dir: &Path, base: &str) -> Result<(PathBuf, bool)> {
    let head = git.output(&["rev-parse", "--verify", "--quiet", "HEAD^{tree}"])?;
    let want = git.run_line(&["rev-parse", &format!("{base}^{{tree}}")])?;
    if head.success && head.stdout.trim() == want {
        let status = git.run(&[
            "status",
            "--porcelain",
            "--ignored=matching",
            "--untracked-files=all",
            "--",
            checkout::ENV_FILE,
            "data",
            "resources",
            crate::config::CONFIG_FILE,
        ])?;
        if status.trim().is_empty() {
            return Ok((root.to_path_buf(), false));
        }
    }
    let dir = state_dir.join("bot-tree");
    let _ = std::fs::remove_dir_all(&dir);
    crate::util::create_private_dir_all(&dir)?;
    let index = state_dir.join("bot-tree.index");
    let indexed = git.clone().with_env("GIT_INDEX_FILE", &index);
    let prefix = format!("{}/", dir.display());
    let made = indexed.run(&["read-tree", base]).and_then(|_| {
        indexed.run(&[
            "checkout-index",
            "--all",
            "--force",
            &format!("--prefix={prefix}"),
        ])
    });
    let _ = std::fs::remove_file(&index);
    made?;
    Ok((dir, true))
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
    let upstream_url = opts.upstream.get(c).unwrap_or(&component.repo).to_string();
    let upstream = Upstream::open(
        &upstream_url,
        UpstreamOptions {
            cache_dir: opts.cache_dir.clone(),
            offline: false,
            progress: false,
        },
    )?;
    let wanted = upstream.resolve(opts.to.get(c))?;
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
        let (tree, copied) = tree_at(git, &root, lock.state_dir(), &remote.base)?;
        let checkout = Checkout::open(&tree)?;
        let now = checkout.component(c)?.clone();
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
            if v != &version && !remote.declined.contains(v) {
                if let Relation::Descends { .. } = upstream.relation(&version, v)? {
                    version = v.clone();
                    by = b
                        .clone()
                        .or_else(|| remote.mine.as_ref().and_then(title_by));
                }
            }
        }
        let o = promote_options(c, &version, &upstream_url, opts, opts.image_check, !copied);
        let pr = Promotion::compute(&checkout, &o, warn)?;
        match &pr.resolution.relation {
            Some(Relation::Same) | Some(Relation::Rollback { .. }) => {
                return done_already(&gitlab, &upstream, &now, &remote, &pr);
            }
            _ if pr.plan.is_empty() => return done_already(&gitlab, &upstream, &now, &remote, &pr),
            _ => {}
        }
        // Production does not run it yet, and a person closed its merge request.
        if remote.declined.contains(&version) {
            return declined(&gitlab, &now, &remote, &version);
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
        return Ok(Report {
            component: c.to_string(),
            status,
            state: if drifted > 0 {
                State::Behind
            } else {
                State::Done
            },
            from: now.tag.clone(),
            version: Some(version),
            triggered_by: by,
            merge_request: Some(MrRef::of(&mr)),
            closed,
            behind,
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

/// Commits the promotion on top of `base` without touching the worktree, the index or a branch
/// (the files as they are in `base`, the new bytes from the plan); returns the commit. Its body
/// is the merge request's description (the same escaped text: no mention but the notify
/// sentence), then the bot's trailers.
fn commit(
    git: &Git,
    root: &Path,
    pr: &Promotion,
    base: &str,
    description: &str,
    by: Option<&str>,
) -> Result<String> {
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
    let mut trailers = format!("{TRAILER}: {}\n{VERSION_TRAILER}: {}\n", c.name, pr.plan.to);
    if let Some(by) = by.map(|b| b.replace(['\n', '\r'], " ")) {
        trailers.push_str(&format!("{TRIGGERED_BY_TRAILER}: {}\n", by.trim()));
    }
    let body = description.trim_end();
    let message = if body.is_empty() {
        format!("{subject}\n\n{trailers}")
    } else {
        format!("{subject}\n\n{body}\n\n{trailers}")
    };
    git.commit_on(base, &files, &message)
}
