//! What the bot is asked to do: its options, values per component, and each component's
//! settings (options over `.qr-promote.yaml` over defaults).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::checkout::Checkout;
use crate::error::{Error, Result};
use crate::mr;
use crate::registry::RegistryOptions;

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
    /// Read the check of a merge request the run leaves as it was, through this Jenkins (and
    /// GitLab), and write its summary as one note on it.
    pub check: Option<crate::mrcheck::source::Jenkins>,
    /// The stage gate: for a component with a soak time (`--stage-soak`, or its `stage_soak`),
    /// the newest version stage has run cleanly that long is proposed.
    pub stage: Option<crate::stage::gate::Gate>,
    /// After a merge request of the bot's was merged, check production and note it there.
    pub after_merge: bool,
}

/// The settings of one component's run, options over `.qr-promote.yaml` over defaults.
pub(crate) struct Settings {
    pub(crate) remote: String,
    pub(crate) target: String,
    pub(crate) labels: Vec<String>,
    pub(crate) notify: bool,
    pub(crate) wait_image: Option<Duration>,
    pub(crate) hold_for: Vec<String>,
}

pub(super) fn settings(checkout: &Checkout, c: &str, opts: &Options) -> Settings {
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
