//! One walk of the checkout for a command: the files that mention any component (or pin an
//! image), discovery of the locations of each component it asks for, and the scan cache that the
//! walk and discovery update, saved when the session ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::cache::ScanCache;
use super::locations::{self, Discovery};
use super::walk::{self, Needles, ScanOutcome, ScannedFile, MAX_YAML_BYTES};
use crate::checkout::{Checkout, Component};
use crate::error::{Error, Result};

/// Found in every integration file that pins an image (`imageRef`), so that a promotion loads
/// the model of shards only when a pin exists.
pub const PIN_NEEDLE: &str = "imageRef";

/// The files a walk kept, and discovery for components.
pub struct Session {
    pub files: Vec<ScannedFile>,
    /// The component (index in `.env`) each needle belongs to; `usize::MAX` for [`PIN_NEEDLE`].
    needle_owner: Vec<usize>,
    /// The index of [`PIN_NEEDLE`] among the needles.
    pin_needle: usize,
    /// The components of `.env`, in order: a component's scan-cache bit is its index.
    components: Vec<String>,
    /// The next scan cache and its file, saved when the session is dropped.
    cache: Option<(ScanCache, PathBuf)>,
    /// Warnings not yet taken by the caller.
    warnings: Vec<String>,
    /// The warnings about files that mention another component were given once.
    warned_files: bool,
}

/// The scan cache file of a checkout under `cache_dir`, for a walk with `needles` (each set of
/// needles has its own, so that walks for different purposes do not undo each other's cache).
pub fn cache_file(cache_dir: &Path, root: &Path, needles: &Needles) -> PathBuf {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut parts = vec![root.to_string_lossy().into_owned()];
    parts.extend(needles.shared.iter().chain(&needles.alone).cloned());
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let key = crate::util::fnv(&parts);
    cache_dir.join("scan").join(format!("{key:016x}.bin"))
}

impl Session {
    /// Walks the checkout once for the needles of every component; `wanted` names the
    /// components to discover, so that files known to hold none of theirs are not read. With
    /// `cache_dir`, the scan cache there is used and updated.
    pub fn scan(
        checkout: &Checkout,
        cache_dir: Option<&Path>,
        wanted: &[&Component],
    ) -> Result<Session> {
        let components: Vec<String> = checkout.components.iter().map(|c| c.name.clone()).collect();
        let bits = wanted
            .iter()
            .filter_map(|c| bit(&components, c))
            .fold(0u64, |a, b| a | b);
        let (shared, mut owner) = locations::needles_of(&checkout.components);
        let pin_needle = shared.len();
        owner.push(usize::MAX);
        let needles = Needles {
            shared,
            alone: vec![PIN_NEEDLE.to_string()],
        };
        let cache_path = cache_dir.map(|d| cache_file(d, &checkout.root, &needles));
        let outcome = walk::scan_with(&checkout.root, &needles, cache_path.as_deref(), bits)?;
        let config = &checkout.config;
        problems(&outcome, &|p| config.skips_file(p).is_some())?;
        let warnings = outcome
            .too_large
            .iter()
            .filter_map(|path| {
                let rule = config.skips_file(path)?;
                Some(format!(
                    "{path}: larger than {} MiB; not read ({} of .qr-promote.yaml skips it)",
                    MAX_YAML_BYTES >> 20,
                    rule.describe()
                ))
            })
            .collect();
        Ok(Session {
            files: outcome.files,
            needle_owner: owner,
            pin_needle,
            components,
            cache: outcome.cache.zip(cache_path),
            warnings,
            warned_files: false,
        })
    }

    /// The warnings since the last call (files skipped, files that do not parse).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Whether an integration file of the walk sets an `imageRef`.
    pub fn has_pins(&self) -> bool {
        self.files.iter().any(|f| {
            f.hits.contains(&self.pin_needle)
                && memchr::memmem::find(
                    &f.bytes,
                    crate::cluster::model::INTEGRATION_SCHEMA.as_bytes(),
                )
                .is_some()
        })
    }

    /// Discovers the locations of `c`; warnings about files that do not parse and mention
    /// nothing of it are given once per session.
    pub fn discover(&mut self, checkout: &Checkout, c: &Component) -> Result<Discovery> {
        let idx = self
            .components
            .iter()
            .position(|x| *x == c.name)
            .ok_or_else(|| Error::input(format!("unknown component {}", c.name)))?;
        let owner = self.needle_owner.clone();
        let mentions = move |f: &ScannedFile| f.hits.iter().any(|h| owner.get(*h) == Some(&idx));
        let d = locations::discover(checkout, c, &self.files, &mentions)?;
        // A file that parsed, holds no location of `c` and pins no image need not be read
        // again for `c` while it is unchanged.
        if let (Some((cache, _)), Some(bit)) = (&mut self.cache, bit(&self.components, c)) {
            let told = d.files_that_told();
            for f in &self.files {
                if !told.contains(f.rel.as_str()) && !f.hits.contains(&self.pin_needle) {
                    cache.mark_clean(f.key, bit);
                }
            }
        }
        if !self.warned_files {
            self.warnings.extend(
                d.warnings
                    .iter()
                    .map(|w| format!("{w}; it mentions nothing of {}, skipped", c.name)),
            );
            self.warned_files = true;
        }
        Ok(d)
    }

    /// The bytes of every scanned file by path.
    pub fn file_map(&self) -> BTreeMap<String, Vec<u8>> {
        self.files
            .iter()
            .map(|f| (f.rel.clone(), f.bytes.clone()))
            .collect()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some((cache, path)) = &self.cache {
            cache.save_if_changed(path);
        }
    }
}

/// The scan cache's bit for a component (the first 64 components have one).
fn bit(components: &[String], c: &Component) -> Option<u64> {
    let i = components.iter().position(|x| *x == c.name)?;
    (i < 64).then(|| 1u64 << i)
}

/// Every file under `data/` and `resources/` may hold a location: one that cannot be read, a
/// link out of the checkout, or a file too large to read, is an error (naming the first, and how
/// many more).
fn problems(outcome: &ScanOutcome, skipped: &dyn Fn(&str) -> bool) -> Result<()> {
    let mut problems: Vec<String> = Vec::new();
    problems.extend(outcome.outside.iter().map(|(p, to)| {
        format!("{p}: a link to {to}, outside the checkout; refusing to read through it")
    }));
    problems.extend(
        outcome
            .unreadable
            .iter()
            .map(|(p, why)| format!("{p}: cannot read: {why}; it may hold a location")),
    );
    problems.extend(outcome.too_large.iter().filter(|p| !skipped(p)).map(|p| {
        format!(
            "{p}: larger than {} MiB; refusing to read it (it may hold a location, and is not read in full to find out): skip it in .qr-promote.yaml (skip: - path: {p}) if it holds none",
            MAX_YAML_BYTES >> 20
        )
    }));
    let Some(first) = problems.first() else {
        return Ok(());
    };
    Err(Error::refused(match problems.len() - 1 {
        0 => first.clone(),
        n => format!("{first} (and {n} more)"),
    }))
}
