//! qr-promote: find every place of an app-interface checkout that pins a component's version,
//! and move them all to one upstream commit, safely.
//!
//! The pipeline, one way, one module per step:
//!
//! ```text
//! checkout ──> discovery ──> promote::plan ──> transaction ──> promote::branch ──> mr
//!  .env,        the walk,     the edits of      lock, journal,   commit, the same   push options
//!  data/,       scan cache,   each file, made   the check before promotion again,    or the GitLab
//!  resources/   locations     with yaml::patch  each swap,       push               API
//!                                               recovery
//!                  upstream (resolve, relation, change report) ─┐
//!                  registry (does the image exist?) ────────────┴─> promote::Promotion
//!
//! bot: for each component, the remote's state ──> promote::Promotion ──> a commit made from git
//!      objects on the target ──> push with a lease ──> the merge request opened, updated or
//!      closed through mr (GitLab API); the version gated by stage (stage::gate), and after the
//!      merge, production checked and noted on the merged merge request (bot::after_merge)
//!
//! checkout ──> cluster::model ──> deployments, pr-check runs ──> cluster::verify <── cluster::kube
//!               namespaces,        (cluster::sharding)            verdicts             live objects
//!               integrations,      cluster::pin (overrides)
//!               shards
//!
//! reports of the merge-request check ──> mrcheck (verdict per run, pins) ──> note on the MR
//!   (a folder, or the MR's build:          ^ cluster::model (the runs it makes)
//!    mr::ci, its Jenkins build)            ^ upstream::touched (what the commits change)
//!
//! the model's stage objects ──> stage::check: pods and logs of each cluster (stage::kube, through
//!   its context: cluster::access), metrics (stage::prometheus) ──> verdicts, stage::report
//!
//! checkout's git history ──> history (promotions: landing, parts) ──> history::runs
//!   (two git log passes)        upstream::ancestry (graph, dates) ──┘   where a commit runs
//! ```
//!
//! - [`checkout`]: the root, `.env` and its components; [`config`]: its `.qr-promote.yaml`.
//! - [`discovery`]: the parallel walk of `data/` and `resources/` (links resolved inside the
//!   checkout), the scan cache, the rules that find locations, and the session a command uses.
//! - [`yaml`]: parsing with positions, quoting, and the one patch engine (set, add, append,
//!   remove; each operation parsed again).
//! - [`promote`]: a promotion: resolve, check the image, plan (the digests that follow a moved
//!   tag too), and its branch and merge request.
//! - [`transaction`]: writing all files or none, under a lock, with a journal the next run
//!   completes or rolls back.
//! - [`upstream`]: the git program, the upstream cache, the change report.
//! - [`registry`], [`mr`] on [`http`] (URL rules, client, errors) and [`redact`] (secrets out of
//!   every message).
//! - [`bot`]: the same, unattended: one merge request per component, kept current.
//! - [`cluster`]: the model of where the integrations run, pins, verify, and the kubeconfig
//!   context each cluster is reached with.
//! - [`mrcheck`]: the merge-request check read back: a verdict per run, the changes the
//!   shipped commits explain, the pin checks, and the note on the merge request.
//! - [`stage`]: has stage run a version cleanly, and for how long (pods, logs, metrics).
//! - [`history`]: a component's promotions in the checkout's git history (merges, partial
//!   promotions, lead times), and where a commit runs.
//! - [`cli`]: arguments and printing only; one module per subcommand. [`pager`]: long text
//!   through the user's pager.
//! - [`error`]: the library error, with its kind, hint and cause.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod bot;
pub mod checkout;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod discovery;
pub mod error;
pub mod history;
pub mod http;
pub mod mr;
pub mod mrcheck;
pub mod pager;
pub mod promote;
pub mod redact;
pub mod registry;
pub mod stage;
pub mod transaction;
pub mod upstream;
pub mod util;
pub mod yaml;

pub use error::{Error, Result};
