//! The arguments of `plan` and `apply`, and the registry arguments other commands share.

use std::io::IsTerminal;
use std::time::Duration;

use super::super::{CliError, Context};
use crate::discovery::Kind;
use crate::promote::{self, plan::Selection};
use crate::registry::{self, RegistryOptions};

/// What `plan` and `apply` share.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub stage: crate::cli::stage::GateArgs,
    /// The component to promote (a name from .env).
    #[arg(value_name = "COMPONENT", default_value = "qontract-reconcile")]
    pub component: String,
    /// The new version: `latest` (the head of the upstream's default branch), a branch or tag
    /// (`origin/<branch>` too), a short or full commit id [default: latest].
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
    #[arg(long = "kind", value_name = "KIND", value_parser = ["env", "yaml-key", "saas-target", "image-ref", "pinned-copy", "commented-image-ref"], help_heading = "Selection")]
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
    /// The upstream repository (URL or path); default: `components.<name>.upstream` of
    /// .qr-promote.yaml, else the component's `<P>_REPO` of .env.
    #[arg(long, value_name = "URL|PATH", help_heading = "Upstream")]
    pub upstream: Option<String>,
    /// Allow a new version that is an ancestor of the current one.
    #[arg(long, help_heading = "Upstream")]
    pub allow_rollback: bool,
    /// With --offline, write a version whose ancestry cannot be checked (the upstream cache
    /// lacks it): it may be a rollback or a diverged commit.
    #[arg(long, help_heading = "Upstream")]
    pub allow_unverified: bool,
    /// Who is promoting: any of their addresses, or their org_username or github_username; that
    /// person is not notified. Default: git `user.email` of the checkout.
    #[arg(long, value_name = "WHO", help_heading = "Upstream")]
    pub me: Option<String>,
    /// How to print the change report: `text`, or `markdown` (a merge-request description).
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "markdown"], help_heading = "Upstream")]
    pub format: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
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
  qr-promote plan --format markdown               # the change report for a merge request

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
    /// Commit the edited files on a new branch `promote/<component>-<new7>` and switch to it (the
    /// promotion that an earlier `apply` wrote is committed as it is).
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

/// How to ask the registry whether an image exists: `plan`, `apply`, `pin` and `bot` share them.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Registry")]
pub struct RegistryArgs {
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

impl RegistryArgs {
    /// The registry options: the environment's, with the endpoints and timeouts given.
    pub fn options(&self) -> Result<RegistryOptions, CliError> {
        let mut registry = RegistryOptions::from_env();
        for spec in &self.registry_urls {
            registry
                .overrides
                .push(registry::parse_registry_override(spec)?);
        }
        registry.connect_timeout = self.registry_connect_timeout;
        registry.request_timeout = self.registry_timeout;
        Ok(registry)
    }
}

impl PromoteArgs {
    pub(super) fn selection(&self) -> Selection {
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
    pub(super) fn options(&self, ctx: &Context) -> Result<promote::Options, CliError> {
        let registry = self.registry.options()?;
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
            image_check: !self.registry.skip_image_check,
            registry,
        })
    }
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
