//! The app-interface checkout: its root, the components declared in `.env`, and the YAML files under `data/` and `resources/`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The file that declares the components and the pr-check versions.
pub const ENV_FILE: &str = ".env";
/// The trees that hold YAML.
pub const TREES: [&str; 2] = ["data", "resources"];

/// A component: one `<P>_REPO`, `<P>_IMAGE`, `<P>_IMAGE_TAG` triple of `.env`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Component {
    /// Last path segment of the repository URL (`qontract-reconcile`).
    pub name: String,
    /// The variable prefix in `.env` (`RECONCILE`).
    pub prefix: String,
    /// The upstream repository URL as written.
    pub repo: String,
    /// The image name without tag (`quay.io/app-sre/qontract-reconcile`).
    pub image: String,
    /// The tag of `.env`: the component's current version.
    pub tag: String,
    /// 1-based line of the `<P>_IMAGE_TAG` assignment.
    #[serde(skip)]
    pub tag_line: usize,
    /// Byte span of the tag value in `.env`.
    #[serde(skip)]
    pub tag_span: Range<usize>,
    /// Other lines that assign the tag too (an error when the component is used).
    #[serde(skip)]
    pub duplicate_tag_lines: Vec<usize>,
}

impl Component {
    /// The YAML mapping key that carries this component's tag (`qontract_reconcile_image_tag`).
    pub fn yaml_key(&self) -> String {
        format!("{}_image_tag", self.name.replace('-', "_"))
    }

    /// The `.env` variable that holds the tag.
    pub fn tag_var(&self) -> String {
        format!("{}_IMAGE_TAG", self.prefix)
    }

    /// The repository URL without a trailing `/` or `.git`.
    pub fn repo_normalized(&self) -> &str {
        normalize_repo_url(&self.repo)
    }

    /// Fails when `.env` assigns the tag more than once.
    pub fn check_unique(&self) -> Result<()> {
        match self.duplicate_tag_lines.first() {
            Some(other) => Err(Error::input(format!(
                "{ENV_FILE}:{}: {} is set twice (also on line {})",
                other,
                self.tag_var(),
                self.tag_line
            ))),
            None => Ok(()),
        }
    }
}

/// Strips a trailing `/` or `.git` (repeatedly) from a repository URL.
pub fn normalize_repo_url(url: &str) -> &str {
    let mut u = url.trim();
    loop {
        if let Some(s) = u.strip_suffix('/') {
            u = s;
        } else if let Some(s) = u.strip_suffix(".git") {
            u = s;
        } else {
            return u;
        }
    }
}

/// One `export NAME=value` assignment of `.env`.
#[derive(Debug, Clone)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    /// Byte span of the value (without quotes).
    pub span: Range<usize>,
    pub line: usize,
}

/// Parses the assignments of a `.env` file; commented lines are skipped.
pub fn parse_env(text: &str) -> Vec<EnvVar> {
    let mut vars = Vec::new();
    let mut offset = 0;
    for (idx, raw) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let lead = line.len() - trimmed.len();
        let (body, body_off) = match trimmed.strip_prefix("export") {
            Some(rest) if rest.starts_with([' ', '\t']) => {
                let r = rest.trim_start();
                (r, lead + (trimmed.len() - r.len()))
            }
            _ => (trimmed, lead),
        };
        let Some(eq) = body.find('=') else { continue };
        let name = &body[..eq];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let mut vstart = body_off + eq + 1;
        let rest = &line[vstart..];
        // A value ends at whitespace or an unquoted comment.
        let (value, vlen) = if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'')
        {
            match rest[1..].find(q) {
                Some(end) => {
                    vstart += 1;
                    (&rest[1..1 + end], end)
                }
                None => continue,
            }
        } else {
            let end = rest.find([' ', '\t', '#']).unwrap_or(rest.len());
            (&rest[..end], end)
        };
        vars.push(EnvVar {
            name: name.to_string(),
            value: value.to_string(),
            span: start + vstart..start + vstart + vlen,
            line: idx + 1,
        });
    }
    vars
}

/// Groups `.env` assignments into components.
pub fn components_from_env(vars: &[EnvVar]) -> Vec<Component> {
    let mut by_prefix: BTreeMap<&str, [Option<&EnvVar>; 3]> = BTreeMap::new();
    let mut dups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for v in vars {
        let (prefix, slot) = if let Some(p) = v.name.strip_suffix("_IMAGE_TAG") {
            (p, 2)
        } else if let Some(p) = v.name.strip_suffix("_IMAGE") {
            (p, 1)
        } else if let Some(p) = v.name.strip_suffix("_REPO") {
            (p, 0)
        } else {
            continue;
        };
        if prefix.is_empty() {
            continue;
        }
        let entry = by_prefix.entry(prefix).or_insert_with(|| {
            order.push(prefix);
            [None, None, None]
        });
        if slot == 2 && entry[2].is_some() {
            dups.entry(prefix).or_default().push(v.line);
            continue;
        }
        entry[slot] = Some(v);
    }
    let mut out = Vec::new();
    for prefix in order {
        let Some([Some(repo), Some(image), Some(tag)]) = by_prefix.get(prefix) else {
            continue;
        };
        let name = normalize_repo_url(&repo.value)
            .rsplit(['/', ':'])
            .next()
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            continue;
        }
        out.push(Component {
            name,
            prefix: prefix.to_string(),
            repo: repo.value.clone(),
            image: image.value.clone(),
            tag: tag.value.clone(),
            tag_line: tag.line,
            tag_span: tag.span.clone(),
            duplicate_tag_lines: dups.get(prefix).cloned().unwrap_or_default(),
        });
    }
    out
}

/// An app-interface checkout on disk.
#[derive(Debug)]
pub struct Checkout {
    pub root: PathBuf,
    pub env_text: String,
    pub components: Vec<Component>,
}

impl Checkout {
    /// Checks that `root` is a checkout: it holds `.env`, `data/` and `resources/`, and none of
    /// them is a link that leads out of it (nothing is read through such a link).
    pub fn check_root(root: &Path) -> Result<()> {
        let missing: Vec<&str> = [ENV_FILE, "data", "resources"]
            .into_iter()
            .filter(|p| !root.join(p).exists())
            .collect();
        if !missing.is_empty() {
            return Err(Error::input(format!(
                "{} is not an app-interface checkout: no {} (use -C DIR to name one)",
                root.display(),
                missing.join(", ")
            )));
        }
        let real_root = std::fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
        for p in [ENV_FILE, "data", "resources"] {
            let real =
                std::fs::canonicalize(root.join(p)).map_err(|e| Error::io(Path::new(p), e))?;
            if !real.starts_with(&real_root) {
                return Err(Error::refused(format!(
                    "{p}: a link to {}, outside the checkout; refusing to read or write through it",
                    real.display()
                )));
            }
        }
        Ok(())
    }

    /// Opens the checkout at `root` (see [`Checkout::check_root`]).
    pub fn open(root: &Path) -> Result<Checkout> {
        Checkout::check_root(root)?;
        let env_path = root.join(ENV_FILE);
        let bytes = std::fs::read(&env_path).map_err(|e| Error::io(&env_path, e))?;
        let env_text = String::from_utf8(bytes)
            .map_err(|_| Error::input(format!("{ENV_FILE}: not valid UTF-8")))?;
        let components = components_from_env(&parse_env(&env_text));
        Ok(Checkout {
            root: root.to_path_buf(),
            env_text,
            components,
        })
    }

    /// The component named `name`, or an error listing those that exist.
    pub fn component(&self, name: &str) -> Result<&Component> {
        let c = self
            .components
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.components.iter().map(|c| c.name.as_str()).collect();
                Error::input(format!(
                    "{ENV_FILE}: no component {name} (no *_REPO, *_IMAGE and *_IMAGE_TAG triple names it); components: {}",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ))
            })?;
        c.check_unique()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: &str = "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\n\
# export RECONCILE_IMAGE=gcr.io/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE_TAG=22e638d\n\
export SCHEMAS_REPO=https://github.com/app-sre/qontract-schemas.git/\n\
export SCHEMAS_IMAGE=quay.io/app-sre/qontract-schemas\n\
export SCHEMAS_IMAGE_TAG=\"19d5f88\" # pinned\n";

    #[test]
    fn components_come_from_triples_and_skip_comments() {
        let comps = components_from_env(&parse_env(ENV));
        assert_eq!(comps.len(), 2);
        assert_eq!(comps[0].name, "qontract-reconcile");
        assert_eq!(comps[0].image, "quay.io/app-sre/qontract-reconcile");
        assert_eq!(comps[0].tag, "22e638d");
        assert_eq!(comps[0].tag_line, 4);
        assert_eq!(&ENV[comps[0].tag_span.clone()], "22e638d");
        assert_eq!(comps[1].name, "qontract-schemas");
        assert_eq!(comps[1].tag, "19d5f88");
        assert_eq!(&ENV[comps[1].tag_span.clone()], "19d5f88");
        assert_eq!(comps[0].yaml_key(), "qontract_reconcile_image_tag");
    }

    #[test]
    fn a_second_tag_line_is_reported() {
        let text = format!("{ENV}export RECONCILE_IMAGE_TAG=aaaaaaa\n");
        let comps = components_from_env(&parse_env(&text));
        let err = comps[0].check_unique().unwrap_err().to_string();
        assert!(
            err.contains(".env:8: RECONCILE_IMAGE_TAG is set twice (also on line 4)"),
            "{err}"
        );
    }

    #[test]
    fn repo_urls_are_normalized() {
        assert_eq!(normalize_repo_url("https://x/y.git/"), "https://x/y");
        assert_eq!(
            normalize_repo_url("git@github.com:a/b.git"),
            "git@github.com:a/b"
        );
    }
}
