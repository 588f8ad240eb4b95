//! The promotion of one component: resolve the new version against the upstream (and refuse a
//! rollback or a diverged commit), discover its locations, plan the edits, check that the image
//! exists, and say which pinned shards stay behind. Writing the plan is the
//! [transaction](crate::transaction)'s; committing, pushing and the merge request are
//! [`branch`]'s.

pub mod branch;
pub mod digest;
pub mod edit;
pub mod held;
pub mod plan;

use std::path::PathBuf;

use crate::checkout::{Checkout, Component};
use crate::cluster::model::{Model, ShardMove, RECONCILE};
use crate::discovery::{Kind, Session};
use crate::error::{Error, Result};
use crate::registry::{self, ImageStatus, RegistryOptions};
use crate::upstream::changes::ChangeReport;
use crate::upstream::git::Git;
use crate::upstream::people::Directory;
use crate::upstream::{Relation, Resolved, Upstream, UpstreamOptions};
use crate::util::{head, short_id};
use plan::{Plan, Selection};

/// What a promotion is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The component (a name from `.env`).
    pub component: String,
    /// The new version: `latest` (None), a branch or tag, a short or full commit id.
    pub to: Option<String>,
    /// The upstream repository (default: the component's `<P>_REPO`).
    pub upstream: Option<String>,
    /// The cache folder (upstream clones, the scan cache).
    pub cache_dir: PathBuf,
    /// Use the scan cache.
    pub scan_cache: bool,
    /// Use no network.
    pub offline: bool,
    /// Show the upstream's fetch progress.
    pub progress: bool,
    /// Allow an ancestor of the current version.
    pub allow_rollback: bool,
    /// Who is promoting (left out of the authors to notify); default: git `user.email`.
    pub me: Option<String>,
    /// Which locations move.
    pub selection: Selection,
    /// Ask the registry whether the new image exists (unless offline).
    pub image_check: bool,
    pub registry: RegistryOptions,
}

/// The new version, how it relates to the current one, and what it ships.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resolution {
    /// The full id of the current version, when the upstream cache or the tree knows it.
    #[serde(skip)]
    pub current: Option<String>,
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
    /// One line that says what the registry said.
    pub fn line(&self) -> String {
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

    /// Refuses a promotion whose image is missing or could not be asked about.
    pub fn require(&self) -> Result<()> {
        match self {
            ImageCheck::NotFound { .. } => {
                Err(Error::refused(format!("{}; nothing written", self.line())))
            }
            ImageCheck::Unreachable { .. } => {
                Err(Error::external(format!("{}; nothing written", self.line()))
                    .with_hint("--skip-image-check promotes without asking the registry"))
            }
            ImageCheck::Exists { .. } | ImageCheck::NotChecked { .. } => Ok(()),
        }
    }
}

/// A computed promotion with everything it was computed from.
#[derive(Debug)]
pub struct Promotion {
    pub component: Component,
    pub plan: Plan,
    pub resolution: Resolution,
    pub image: ImageCheck,
    /// Integrations with shards that keep their own `imageRef`.
    pub shards: Vec<ShardMove>,
    /// What stage says of the version, when a stage gate let it through (Markdown).
    pub stage: Option<String>,
}

impl Promotion {
    /// Resolves, discovers, plans and checks the image of a promotion; `warn` is given what the
    /// user should see on the way (files skipped, shards that cannot be told), as it happens.
    pub fn compute(
        checkout: &Checkout,
        opts: &Options,
        warn: &mut dyn FnMut(String),
    ) -> Result<Promotion> {
        let c = checkout.component(&opts.component)?.clone();
        let cache_dir = opts.scan_cache.then_some(opts.cache_dir.as_path());
        let mut session = Session::scan(checkout, cache_dir, &[&c])?;
        session.take_warnings().into_iter().for_each(&mut *warn);
        let mut discovery = session.discover(checkout, &c)?;
        session.take_warnings().into_iter().for_each(&mut *warn);
        // The tree's full id of the current version settles a short `.env` tag; the upstream's
        // settles which values are copies of it when the tree holds none.
        let tree_full = discovery.tree_full(&c.tag);
        let resolution = resolve(checkout, &c, tree_full.as_deref(), opts, warn)?;
        if tree_full.is_none() {
            if let Some(full) = &resolution.current {
                discovery.settle(&c.tag, Some(full));
            }
        }
        discovery.reports(&c.tag).into_iter().for_each(&mut *warn);
        let to = resolution.resolved.id.clone();
        // New digests: asked from the registry, each image and tag once.
        let asked = std::sync::Mutex::new(std::collections::HashMap::new());
        let resolve = |image: &str, tag: &str| -> Result<String> {
            if opts.offline {
                return Err(Error::refused("offline").with_hint("drop --offline"));
            }
            let key = (image.to_string(), tag.to_string());
            if let Some(d) = asked.lock().ok().and_then(|a| a.get(&key).cloned()) {
                return Ok(d);
            }
            let d = registry::digest(image, tag, &opts.registry)?;
            if let Ok(mut a) = asked.lock() {
                a.insert(key, d.clone());
            }
            Ok(d)
        };
        let digests = digest::DigestSource {
            config: &checkout.config,
            resolve: &resolve,
        };
        let plan = plan::compute(
            checkout,
            &c,
            &discovery,
            &session.file_map(),
            &to,
            &opts.selection,
            &digests,
        )?;
        let image = if plan.is_empty() {
            ImageCheck::NotChecked {
                image: format!("{}:{}", c.image, short_id(&to)),
                reason: "nothing to promote".into(),
            }
        } else {
            check_image(&c, &to, opts)
        };
        let envs: Vec<String> = plan
            .edits()
            .filter(|e| e.kind == Kind::SaasTarget)
            .filter_map(|e| discovery.locations.iter().find(|l| l.id == e.location))
            .filter_map(|l| l.context.environment.clone())
            .collect();
        let shards = shards_staying(checkout, cache_dir, &c, &plan, &session, &envs, warn);
        Ok(Promotion {
            component: c,
            plan,
            resolution,
            image,
            shards,
            stage: None,
        })
    }

    /// Nothing to write: the plan is empty, or the new version is the current one.
    pub fn is_nothing(&self) -> bool {
        self.plan.is_empty() || matches!(self.resolution.relation, Some(Relation::Same))
    }
}

/// Resolves the new version against the upstream and checks that it moves forward from the
/// component's current version (`current`, its full id as the tree holds it, else the `.env`
/// tag); with a descendant, the change report of what ships.
pub fn resolve(
    checkout: &Checkout,
    c: &Component,
    current: Option<&str>,
    opts: &Options,
    warn: &mut dyn FnMut(String),
) -> Result<Resolution> {
    let url = checkout.upstream_of(c, opts.upstream.as_deref());
    let upstream = Upstream::open(
        &url,
        UpstreamOptions {
            cache_dir: opts.cache_dir.clone(),
            offline: opts.offline,
            progress: opts.progress,
        },
    )?;
    let resolved = upstream.resolve(opts.to.as_deref())?;
    let tag = current.unwrap_or(&c.tag);
    if !resolved.in_cache {
        return Ok(Resolution {
            current: current.map(str::to_string),
            resolved,
            relation: None,
            changes: None,
            note: Some(
                "offline, and the upstream cache lacks the commit; ancestry not checked".into(),
            ),
        });
    }
    let candidates = upstream.ambiguity(tag)?;
    if !candidates.is_empty() {
        return Err(Error::input(format!(
            "{}: the current version {} (.env:{}) is ambiguous in {}: it names {}; no location of the checkout holds its full id",
            c.name,
            c.tag,
            c.tag_line,
            upstream.shown_url(),
            candidates.join(", ")
        ))
        .with_hint(format!(
            "write the full id of the current commit in .env ({})",
            c.tag_var()
        )));
    }
    // The user files are read while the upstream answers (a promotion forward is the common
    // case: the report needs them); not for the same commit, which ships nothing.
    let scan_cache = opts.scan_cache.then_some(opts.cache_dir.as_path());
    let (upstream_side, directory) = std::thread::scope(|s| {
        let directory = (!crate::util::same_commit(tag, &resolved.id))
            .then(|| s.spawn(|| Directory::load(&checkout.root, scan_cache)));
        let upstream_side = (|| -> Result<_> {
            let full = upstream
                .resolve_id(tag, 7)
                .ok()
                .filter(|r| r.in_cache)
                .map(|r| r.id);
            let relation = upstream.relation(tag, &resolved.id)?;
            let commits = match &relation {
                Relation::Descends { .. } => Some(upstream.commits(tag, &resolved.id)?),
                _ => None,
            };
            Ok((full, relation, commits))
        })();
        let directory = directory.map(|h| {
            h.join().unwrap_or_else(|_| {
                Err(Error::external(
                    "reading the user files stopped unexpectedly",
                ))
            })
        });
        (upstream_side, directory)
    });
    let (full, relation, commits) = upstream_side?;
    match &relation {
        Relation::Rollback { commits } if !opts.allow_rollback => {
            return Err(Error::refused(format!(
                "{}: {} -> {} would roll back {} commit{} of {}",
                c.name,
                c.tag,
                resolved.short,
                commits,
                if *commits == 1 { "" } else { "s" },
                upstream.shown_url()
            ))
            .with_hint("--allow-rollback promotes it anyway"));
        }
        Relation::Diverged { merge_base } => {
            return Err(Error::refused(format!(
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
    let (changes, note) = match (&relation, commits) {
        (Relation::Descends { .. }, Some(commits)) => {
            let loaded = directory.unwrap_or_else(|| Directory::load(&checkout.root, scan_cache));
            let dir = match loaded {
                Ok(d) => d,
                Err(e) => {
                    warn(format!("authors are not matched to user files: {e}"));
                    Directory::default()
                }
            };
            let me = opts
                .me
                .clone()
                .or_else(|| Git::new(&checkout.root).user_email());
            let from = full.clone().unwrap_or_else(|| tag.to_string());
            (
                Some(ChangeReport::new(
                    &c.repo,
                    &from,
                    &resolved.id,
                    commits,
                    &dir,
                    me.as_deref(),
                )),
                None,
            )
        }
        (Relation::Rollback { .. }, _) => (None, Some("a rollback: nothing ships".to_string())),
        _ => (None, None),
    };
    Ok(Resolution {
        current: full.or_else(|| current.map(str::to_string)),
        resolved,
        relation: Some(relation),
        changes,
        note,
    })
}

/// Asks the registry whether `<image>:<new tag>` exists (the tag as long as the `.env` tag).
pub fn check_image(c: &Component, to: &str, opts: &Options) -> ImageCheck {
    let tag = head(to, c.tag.len().max(7));
    let image = format!("{}:{tag}", c.image);
    if opts.offline {
        return ImageCheck::NotChecked {
            image,
            reason: "--offline".into(),
        };
    }
    if !opts.image_check {
        return ImageCheck::NotChecked {
            image,
            reason: "--skip-image-check".into(),
        };
    }
    match registry::check_image(&c.image, tag, &opts.registry) {
        Ok(ImageStatus::Exists { digest }) => ImageCheck::Exists { image, digest },
        Ok(ImageStatus::NotFound) => ImageCheck::NotFound { image },
        Err(e) => ImageCheck::Unreachable {
            image,
            reason: e.to_string(),
        },
    }
}

/// When the plan moves saas targets of qontract-reconcile and an integration pins an image:
/// the integrations whose pinned shards stay behind. The model is loaded only then.
fn shards_staying(
    checkout: &Checkout,
    cache_dir: Option<&std::path::Path>,
    c: &Component,
    plan: &Plan,
    session: &Session,
    envs: &[String],
    warn: &mut dyn FnMut(String),
) -> Vec<ShardMove> {
    if c.name != RECONCILE || envs.is_empty() || !session.has_pins() {
        return Vec::new();
    }
    let model = match Model::load(checkout, cache_dir) {
        Ok(m) => m,
        Err(e) => {
            warn(format!("cannot tell which shards stay pinned: {e}"));
            return Vec::new();
        }
    };
    model
        .shard_moves(short_id(&plan.to), Some(envs))
        .into_iter()
        .filter(|m| !m.staying.is_empty())
        .collect()
}
