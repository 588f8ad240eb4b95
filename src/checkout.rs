//! The app-interface checkout: its root, the components declared in `.env`, and the YAML files under `data/` and `resources/`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::util::is_commit_hex;

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
    /// What is wrong with the triple's lines (an unterminated quote, a tag that is not a
    /// commit id): an error when the component is used.
    #[serde(skip)]
    pub problem: Option<String>,
    /// The other components of `.env`: each one's name and the stems a key that names it
    /// starts with (`vault_manager`, `vault_manager_image`, its prefix `vault_manager`),
    /// lowercase with `-` as `_`.
    #[serde(skip)]
    pub siblings: Vec<(String, Vec<String>)>,
}

impl Component {
    /// The stems a key that names this component starts with: its name and `.env` prefix and
    /// its image's last segment, lowercase with `-` as `_` (`qontract_reconcile`, `reconcile`).
    pub fn key_stems(&self) -> Vec<String> {
        let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
        let mut out = vec![norm(&self.name), norm(&self.prefix)];
        if let Some(last) = self.image.rsplit('/').next() {
            out.push(norm(last));
        }
        out.retain(|s| !s.is_empty());
        out.sort();
        out.dedup();
        out
    }

    /// The other component of `.env` that a key names rather than this one: the one whose stem
    /// the key (lowercase, `-` as `_`) starts with, followed by `_` or nothing, when no stem of
    /// this component is as long a match (`vault_manager_image_tag` names vault-manager).
    pub fn key_names_sibling(&self, key: &str) -> Option<&str> {
        let k = key.to_ascii_lowercase().replace('-', "_");
        let len = |stems: &[String]| {
            stems
                .iter()
                .filter(|s| {
                    k.strip_prefix(s.as_str())
                        .is_some_and(|r| r.is_empty() || r.starts_with('_'))
                })
                .map(String::len)
                .max()
                .unwrap_or(0)
        };
        let own = len(&self.key_stems());
        self.siblings
            .iter()
            .map(|(n, stems)| (len(stems), n))
            .filter(|(l, _)| *l > own)
            .max_by_key(|(l, _)| *l)
            .map(|(_, n)| n.as_str())
    }

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

    /// Fails when the component cannot be used: `.env` assigns the tag more than once, a line
    /// of the triple is malformed, or the tag is not a commit id.
    pub fn check(&self) -> Result<()> {
        if let Some(other) = self.duplicate_tag_lines.first() {
            return Err(Error::input(format!(
                "{ENV_FILE}:{}: {} is set twice (also on line {})",
                other,
                self.tag_var(),
                self.tag_line
            )));
        }
        match &self.problem {
            Some(p) => Err(Error::input(p.clone())),
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
    /// What is wrong with the line (an unterminated quote); the value is then the rest of the
    /// line after the quote.
    pub problem: Option<String>,
}

/// The byte order mark that may open a file.
const BOM: char = '\u{feff}';

/// Parses the assignments of a `.env` file; commented lines are skipped, and so is a byte
/// order mark at the start (spans stay offsets into `text`).
pub fn parse_env(text: &str) -> Vec<EnvVar> {
    let mut vars = Vec::new();
    let mut offset = 0;
    for (idx, raw) in text.split_inclusive('\n').enumerate() {
        let mut start = offset;
        offset += raw.len();
        let mut raw = raw;
        if idx == 0 {
            if let Some(r) = raw.strip_prefix(BOM) {
                start += BOM.len_utf8();
                raw = r;
            }
        }
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
        // `=` is one byte: the value starts on a character boundary.
        let vstart = body_off + eq + 1;
        let rest = &line[vstart..];
        let mut problem = None;
        // A value ends at whitespace or an unquoted comment.
        let value: Range<usize> = match rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            // Quotes are one byte each.
            Some(q) => match rest[1..].find(q) {
                Some(end) => 1..1 + end,
                None => {
                    problem = Some(format!(
                        "{ENV_FILE}:{}: {name}: the {q} quote is not closed",
                        idx + 1
                    ));
                    1..rest.trim_end().len().max(1)
                }
            },
            None => 0..rest.find([' ', '\t', '#']).unwrap_or(rest.len()),
        };
        vars.push(EnvVar {
            name: name.to_string(),
            value: rest[value.clone()].to_string(),
            span: start + vstart + value.start..start + vstart + value.end,
            line: idx + 1,
            problem,
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
        let mut problems: Vec<(usize, String)> = [repo, image, tag]
            .iter()
            .filter_map(|v| v.problem.clone().map(|p| (v.line, p)))
            .collect();
        problems.sort();
        let problem = problems.into_iter().next().map(|(_, p)| p).or_else(|| {
            (!is_commit_hex(&tag.value)).then(|| {
                format!(
                    "{ENV_FILE}:{}: {} is {:?}, not a commit id (7 to 40 hex characters)",
                    tag.line, tag.name, tag.value
                )
            })
        });
        out.push(Component {
            name,
            prefix: prefix.to_string(),
            repo: repo.value.clone(),
            image: image.value.clone(),
            tag: tag.value.clone(),
            tag_line: tag.line,
            tag_span: tag.span.clone(),
            duplicate_tag_lines: dups.get(prefix).cloned().unwrap_or_default(),
            problem,
            siblings: Vec::new(),
        });
    }
    let stems: Vec<(String, Vec<String>)> = out
        .iter()
        .map(|c| (c.name.clone(), c.key_stems()))
        .collect();
    for c in &mut out {
        c.siblings = stems
            .iter()
            .filter(|(n, _)| *n != c.name)
            .cloned()
            .collect();
    }
    out
}

/// The real path of `rel` (links resolved) in the checkout whose real path is `real_root`; a
/// path that leads out of the checkout is refused before anything is read through it.
pub fn real_path_inside(real_root: &Path, rel: &str) -> Result<PathBuf> {
    let real =
        std::fs::canonicalize(real_root.join(rel)).map_err(|e| Error::io(Path::new(rel), e))?;
    if real.starts_with(real_root) {
        Ok(real)
    } else {
        Err(Error::refused(format!(
            "{rel}: a link to {}, outside the checkout; refusing to read or write through it",
            real.display()
        )))
    }
}

/// The most `.env` may be, in bytes (app-interface's is a few KiB); it must be a regular file.
pub const ENV_LIMIT: u64 = 1024 * 1024;

/// Appends a file name (or path) to `out` as output shows it: as it is when it is UTF-8, else
/// with each byte that is not UTF-8 written `\xNN`. Returns whether it was UTF-8 (an escaped
/// name is shown, never used to open a file).
pub fn push_name(out: &mut String, bytes: &[u8]) -> bool {
    if let Ok(s) = std::str::from_utf8(bytes) {
        out.push_str(s);
        return true;
    }
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    false
}

/// The path by which output, ids, `--only` and `.qr-promote.yaml` name a file or folder: its
/// real path inside the checkout (every link resolved), except that `data/` and `resources/`
/// name what they lead to when they are links themselves. So a folder reached through a link
/// (to an ancestor, or a second way to a folder) has one name, whichever way it is reached.
#[derive(Debug, Clone)]
pub struct RealNames {
    root: PathBuf,
    /// The trees that exist, with their real paths.
    trees: Vec<(&'static str, PathBuf)>,
}

impl RealNames {
    /// The names in the checkout whose real path is `real_root`.
    pub fn new(real_root: &Path) -> Result<RealNames> {
        let mut trees = Vec::new();
        for t in TREES {
            if real_root.join(t).exists() {
                trees.push((t, real_path_inside(real_root, t)?));
            }
        }
        Ok(RealNames {
            root: real_root.to_path_buf(),
            trees,
        })
    }

    /// The checkout's real path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The real paths of the trees that exist.
    pub fn trees(&self) -> impl Iterator<Item = &Path> {
        self.trees.iter().map(|(_, p)| p.as_path())
    }

    /// Whether `real` is in a tree (or is one).
    pub fn in_tree(&self, real: &Path) -> bool {
        self.trees.iter().any(|(_, t)| real.starts_with(t))
    }

    /// The name of the real path `real` (inside the checkout), and whether it is UTF-8 (see
    /// [`push_name`]); `None` outside the checkout.
    pub fn name(&self, real: &Path) -> Option<(String, bool)> {
        use std::os::unix::ffi::OsStrExt as _;
        let tree = self
            .trees
            .iter()
            .filter(|(_, t)| real.starts_with(t))
            .max_by_key(|(_, t)| t.as_os_str().len());
        let (mut name, rest) = match tree {
            Some((t, tp)) => (t.to_string(), real.strip_prefix(tp).ok()?),
            None => (String::new(), real.strip_prefix(&self.root).ok()?),
        };
        let rest = rest.as_os_str().as_bytes();
        if !name.is_empty() && !rest.is_empty() {
            name.push('/');
        }
        let utf8 = push_name(&mut name, rest);
        Some((name, utf8))
    }
}

/// An app-interface checkout on disk.
#[derive(Debug)]
pub struct Checkout {
    pub root: PathBuf,
    pub env_text: String,
    pub components: Vec<Component>,
    /// `.qr-promote.yaml` (the defaults when there is none).
    pub config: crate::config::Config,
}

impl Checkout {
    /// Checks that `root` is a checkout: it holds `.env` and `data/` (`resources/` is optional:
    /// app-interface had none before 2019), and none of them is a link that leads out of it
    /// (nothing is read through such a link).
    pub fn check_root(root: &Path) -> Result<()> {
        let missing: Vec<&str> = [ENV_FILE, "data"]
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
            if p == "resources" && std::fs::symlink_metadata(root.join(p)).is_err() {
                continue;
            }
            real_path_inside(&real_root, p)?;
        }
        Ok(())
    }

    /// The checkout that holds `start`: `start` itself, else the nearest folder above it with
    /// `.env` and `data/`, as git finds a repository's root from a subfolder. The search stops at
    /// the top of a git repository. When none is found, the error is [`Checkout::check_root`]'s
    /// for `start`.
    pub fn find_root(start: &Path) -> Result<std::path::PathBuf> {
        let first = Checkout::check_root(start);
        if first.is_ok() {
            return Ok(start.to_path_buf());
        }
        if start.join(".git").exists() {
            return first.map(|_| start.to_path_buf());
        }
        let absolute = std::fs::canonicalize(start).map_err(|e| Error::io(start, e))?;
        for dir in absolute.ancestors().skip(1) {
            if dir.join(ENV_FILE).is_file() && dir.join("data").is_dir() {
                Checkout::check_root(dir)?;
                return Ok(dir.to_path_buf());
            }
            if dir.join(".git").exists() {
                break;
            }
        }
        first.map(|_| start.to_path_buf())
    }

    /// Opens the checkout at `root` (see [`Checkout::check_root`]).
    pub fn open(root: &Path) -> Result<Checkout> {
        Checkout::check_root(root)?;
        let real_root = std::fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
        let env_path = real_path_inside(&real_root, ENV_FILE)?;
        let bytes = crate::util::read_regular(&env_path, ENV_LIMIT)
            .map_err(|r| r.into_error(ENV_FILE, ENV_LIMIT))?;
        let env_text = String::from_utf8(bytes)
            .map_err(|_| Error::input(format!("{ENV_FILE}: not valid UTF-8")))?;
        let components = components_from_env(&parse_env(&env_text));
        let config = crate::config::Config::load(root)?;
        let names: Vec<&str> = components.iter().map(|c| c.name.as_str()).collect();
        config.check_components(&names)?;
        Ok(Checkout {
            root: root.to_path_buf(),
            env_text,
            components,
            config,
        })
    }

    /// The upstream repository of component `c` that commands ask: `given` (`--upstream`), else
    /// `components.<name>.upstream` of `.qr-promote.yaml` (a path there is relative to the
    /// root), else `<P>_REPO` of `.env`.
    pub fn upstream_of(&self, c: &Component, given: Option<&str>) -> String {
        if let Some(g) = given {
            return g.to_string();
        }
        match self
            .config
            .component(&c.name)
            .and_then(|s| s.upstream.as_deref())
        {
            Some(u) if is_git_url(u) => u.to_string(),
            Some(path) => self.root.join(path).to_string_lossy().into_owned(),
            None => c.repo.clone(),
        }
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
                    "{ENV_FILE}: no component {name} (no *_REPO, *_IMAGE and *_IMAGE_TAG triple names it); components: {}{}",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") },
                    crate::util::suggest(name, &known)
                ))
            })?;
        c.check()?;
        Ok(c)
    }
}

/// A git URL (`scheme://…`, or `host:path` as scp writes it), not a local path.
fn is_git_url(u: &str) -> bool {
    u.contains("://")
        || u.split_once(':')
            .is_some_and(|(host, _)| !host.is_empty() && !host.contains('/'))
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
        let err = comps[0].check().unwrap_err().to_string();
        assert!(
            err.contains(".env:8: RECONCILE_IMAGE_TAG is set twice (also on line 4)"),
            "{err}"
        );
    }

    fn tag_error(tag_line: &str) -> String {
        let text = format!(
            "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\n{tag_line}\n"
        );
        let comps = components_from_env(&parse_env(&text));
        assert_eq!(comps.len(), 1, "{text}");
        comps[0].check().unwrap_err().to_string()
    }

    #[test]
    fn a_tag_that_is_not_a_commit_id_is_an_error_naming_line_and_value() {
        for (value, shown) in [
            ("latest", "\"latest\""),
            ("22e63", "\"22e63\""),
            ("", "\"\""),
            ("22e638éd", "\"22e638éd\""),
            ("'22e638d '", "\"22e638d \""),
            (&"a".repeat(41), &format!("\"{}\"", "a".repeat(41))),
        ] {
            let err = tag_error(&format!("export RECONCILE_IMAGE_TAG={value}"));
            assert_eq!(
                err,
                format!(
                    ".env:3: RECONCILE_IMAGE_TAG is {shown}, not a commit id (7 to 40 hex characters)"
                )
            );
        }
        for good in ["22e638d", "22E638D", &"f".repeat(40)] {
            let text = format!("{ENV}export RECONCILE_IMAGE_TAG_X=1\n").replace("22e638d", good);
            let comps = components_from_env(&parse_env(&text));
            assert!(comps[0].check().is_ok(), "{good}");
        }
    }

    #[test]
    fn an_unterminated_quote_is_an_error_naming_the_line() {
        let err = tag_error("export RECONCILE_IMAGE_TAG=\"22e638d");
        assert_eq!(
            err,
            ".env:3: RECONCILE_IMAGE_TAG: the \" quote is not closed"
        );
        let text = "export RECONCILE_REPO='https://github.com/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\nexport RECONCILE_IMAGE_TAG=22e638d\n";
        let comps = components_from_env(&parse_env(text));
        assert_eq!(comps[0].name, "qontract-reconcile");
        assert_eq!(
            comps[0].check().unwrap_err().to_string(),
            ".env:1: RECONCILE_REPO: the ' quote is not closed"
        );
    }

    #[test]
    fn a_byte_order_mark_is_skipped_and_spans_stay_byte_offsets() {
        let text = format!("\u{feff}{ENV}");
        let comps = components_from_env(&parse_env(&text));
        assert_eq!(comps.len(), 2);
        assert_eq!(comps[0].name, "qontract-reconcile");
        assert_eq!(&text[comps[0].tag_span.clone()], "22e638d");
        // A BOM that opens a later line is not skipped.
        let later = format!("# x\n\u{feff}{ENV}");
        assert_eq!(components_from_env(&parse_env(&later)).len(), 1);
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
