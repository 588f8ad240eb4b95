//! The checkout's own configuration, `.qr-promote.yaml` at its root: the locations to leave
//! alone, the images of digests kept next to a tag, and per-component settings.
//!
//! The file is optional (absent, everything has its default) and read strictly: an unknown key,
//! a value of the wrong type or shape, a key written twice, an alias, a second document are each
//! an error of one line naming `.qr-promote.yaml:LINE` and the key. The README's section
//! `.qr-promote.yaml` documents every key.
//!
//! ```yaml
//! version: 1
//! skip:
//!   - path: data/services/legacy/          # a file, or every file under a folder
//!     reason: promoted by the legacy team
//!   - key: resourceTemplates[qontract-api].parameters.OPA_IMAGE_TAG
//!     path: data/services/qontract/cicd/saas.yml   # optional: only in this file
//!   - id: 1a2b3c4d                          # a location id, as status prints it
//! digests:
//!   - tag_key: OPA_IMAGE_TAG
//!     digest_key: OPA_IMAGE_DIGEST          # optional: the tag key with _TAG made _DIGEST
//!     image: quay.io/app-sre/opa
//!     path: data/services/qontract/cicd/saas.yml   # optional: only in this file (or folder)
//! components:
//!   qontract-reconcile:
//!     labels: [bot/automerge]
//!     target_branch: master
//!     remote: origin
//!     wait_image: 10m
//!     notify: true
//!     upstream: ../qontract-reconcile        # a URL, or a path relative to the checkout
//! ```

use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::yaml::{self, Node, NodeKind, Style};

/// The file's name, at the root of the checkout.
pub const CONFIG_FILE: &str = ".qr-promote.yaml";

/// The one version of the file's format this build reads.
pub const CONFIG_VERSION: &str = "1";

/// The longest `wait_image`: one day.
pub const MAX_WAIT_IMAGE: Duration = Duration::from_secs(24 * 3600);

/// The longest `stage_soak` (and `--stage-soak`): a week.
pub const MAX_STAGE_SOAK: Duration = Duration::from_secs(7 * 24 * 3600);

const HINT: &str = "the README's section `.qr-promote.yaml` lists every key and value it takes";

/// `.qr-promote.yaml`, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The locations to leave alone, in file order.
    pub skip: Vec<Skip>,
    /// The images of digests kept next to a tag, in file order.
    pub digests: Vec<DigestRule>,
    /// Per-component settings, in file order.
    pub components: Vec<ComponentSettings>,
    /// `clusters:`: the kubeconfig context of each cluster, by the cluster's name.
    pub clusters: std::collections::BTreeMap<String, String>,
    /// The skip rules with each path that leads through a link named by its real path, as the
    /// walk names files (one for each of `skip`): a rule names what its path leads to, whichever
    /// way it is written.
    resolved: Vec<Skip>,
}

/// A location, as a skip rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocationRef<'a> {
    /// The location id (8 hex digits).
    pub id: &'a str,
    /// The repository-relative path of its file.
    pub path: &'a str,
    /// Its key path (`resourceTemplates[qontract-api].parameters.OPA_IMAGE_TAG`), when it has
    /// one.
    pub key_path: Option<&'a str>,
}

/// What a skip rule names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipTarget {
    /// Every location in a file, or in every file under a folder (repository-relative, without
    /// a trailing `/`).
    Path(String),
    /// Locations at a key path, in any file or only under `path`.
    Key { key: String, path: Option<String> },
    /// One location, by its id.
    Id(String),
}

/// One entry of `skip:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub target: SkipTarget,
    /// Why it is left alone (shown with it).
    pub reason: Option<String>,
    /// The line of the entry.
    pub line: usize,
}

impl Skip {
    /// Whether this rule leaves `loc` alone.
    pub fn matches(&self, loc: &LocationRef<'_>) -> bool {
        match &self.target {
            SkipTarget::Path(p) => path_matches(p, loc.path),
            SkipTarget::Key { key, path } => {
                loc.key_path == Some(key.as_str())
                    && path.as_deref().is_none_or(|p| path_matches(p, loc.path))
            }
            SkipTarget::Id(id) => loc.id.eq_ignore_ascii_case(id),
        }
    }

    /// What the rule names, as written: `path data/x.yml`, `key a.b in data/x.yml`, `id 1a2b3c4d`.
    pub fn describe(&self) -> String {
        match &self.target {
            SkipTarget::Path(p) => format!("path {p}"),
            SkipTarget::Key { key, path: None } => format!("key {key}"),
            SkipTarget::Key { key, path: Some(p) } => format!("key {key} in {p}"),
            SkipTarget::Id(id) => format!("id {id}"),
        }
    }
}

/// One entry of `digests:`: the digest kept next to a tag key, and the image both belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestRule {
    /// The key of the tag (the last part of its key path), e.g. `OPA_IMAGE_TAG`.
    pub tag_key: String,
    /// The key of the digest in the same mapping, e.g. `OPA_IMAGE_DIGEST`.
    pub digest_key: String,
    /// The image, `[host/]name` without tag or digest, e.g. `quay.io/app-sre/opa`.
    pub image: String,
    /// Only in this file, or in the files under this folder.
    pub path: Option<String>,
    /// The line of the entry.
    pub line: usize,
}

/// One entry of `components:`: settings that commands use for that component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentSettings {
    /// The component, as `.env` names it (`qontract-reconcile`).
    pub name: String,
    /// Merge-request labels.
    pub labels: Vec<String>,
    /// The branch promotions merge into.
    pub target_branch: Option<String>,
    /// The remote to push to.
    pub remote: Option<String>,
    /// How long to wait for the new image to appear in the registry.
    pub wait_image: Option<Duration>,
    /// Whether to ask the authors of the shipped commits to look.
    pub notify: Option<bool>,
    /// The components whose open promotion merge request (the bot's) holds this one's back:
    /// `bot` opens or moves this component's merge request only once theirs is merged or closed.
    pub hold_for: Vec<String>,
    /// The upstream repository every command asks instead of `<P>_REPO`: a git URL, or a path
    /// (relative to the checkout's root) of a local clone.
    pub upstream: Option<String>,
    /// How long stage must have run a version cleanly before it is promoted.
    pub stage_soak: Option<Duration>,
    /// The line of the component's name.
    pub line: usize,
}

/// The most `.qr-promote.yaml` may be, in bytes; it must be a regular file.
pub const CONFIG_LIMIT: u64 = 1024 * 1024;

impl Config {
    /// Reads `.qr-promote.yaml` at `root`; without the file, the defaults. A file that is a link
    /// out of the checkout is refused.
    pub fn load(root: &Path) -> Result<Config> {
        let file = root.join(CONFIG_FILE);
        match std::fs::symlink_metadata(&file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(Error::io(Path::new(CONFIG_FILE), e)),
            Ok(_) => {}
        }
        let real_root = std::fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
        let real = crate::checkout::real_path_inside(&real_root, CONFIG_FILE)?;
        let bytes = crate::util::read_regular(&real, CONFIG_LIMIT)
            .map_err(|r| r.into_error(CONFIG_FILE, CONFIG_LIMIT))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::input(format!("{CONFIG_FILE}: not valid UTF-8")))?;
        let mut config = Config::parse(&text)?;
        let names = crate::checkout::RealNames::new(&real_root)?;
        let real = |p: &mut String| {
            let named = crate::checkout::real_path_inside(&real_root, p)
                .ok()
                .and_then(|r| names.name(&r));
            if let Some((n, true)) = named {
                *p = n;
            }
        };
        for s in &mut config.resolved {
            match &mut s.target {
                SkipTarget::Path(p) | SkipTarget::Key { path: Some(p), .. } => real(p),
                SkipTarget::Key { path: None, .. } | SkipTarget::Id(_) => {}
            }
        }
        Ok(config)
    }

    /// Reads the text of a `.qr-promote.yaml`.
    pub fn parse(text: &str) -> Result<Config> {
        let mut config = parse(text).map_err(|(line, msg)| {
            Error::input(format!("{CONFIG_FILE}:{line}: {msg}")).with_hint(HINT)
        })?;
        config.resolved = config.skip.clone();
        Ok(config)
    }

    /// The first `path` skip rule that leaves the whole file `path` alone.
    pub fn skips_file(&self, path: &str) -> Option<&Skip> {
        self.skip
            .iter()
            .find(|s| matches!(&s.target, SkipTarget::Path(p) if path_matches(p, path)))
    }

    /// The first skip rule that leaves `loc` alone: by its paths as written, or as they
    /// resolve in the checkout.
    pub fn skips(&self, loc: &LocationRef<'_>) -> Option<&Skip> {
        self.skip
            .iter()
            .zip(
                self.resolved
                    .iter()
                    .map(Some)
                    .chain(std::iter::repeat(None)),
            )
            .find(|(s, r)| s.matches(loc) || r.is_some_and(|r| r.matches(loc)))
            .map(|(s, _)| s)
    }

    /// The digest rule of the tag key `tag_key` in the file `path`: a rule scoped to the file
    /// (or the folder nearest to it) before one for every file.
    pub fn digest_rule(&self, path: &str, tag_key: &str) -> Option<&DigestRule> {
        self.digests
            .iter()
            .filter(|r| r.tag_key == tag_key)
            .filter(|r| r.path.as_deref().is_none_or(|p| path_matches(p, path)))
            .max_by_key(|r| r.path.as_ref().map_or(0, |p| p.len() + 1))
    }

    /// The image of the digest kept next to `tag_key` in `path`, when the file configures one.
    pub fn digest_image(&self, path: &str, tag_key: &str) -> Option<&str> {
        self.digest_rule(path, tag_key).map(|r| r.image.as_str())
    }

    /// The settings of the component `name`.
    pub fn component(&self, name: &str) -> Option<&ComponentSettings> {
        self.components.iter().find(|c| c.name == name)
    }

    /// Refuses settings for a component that `.env` does not name (`known`), naming its line.
    pub fn check_components(&self, known: &[&str]) -> Result<()> {
        for c in &self.components {
            if !known.contains(&c.name.as_str()) {
                return Err(Error::input(format!(
                    "{CONFIG_FILE}:{}: components: {:?} is not a component of .env (they are: {})",
                    c.line,
                    c.name,
                    known.join(", ")
                ))
                .with_hint(HINT));
            }
            if let Some(h) = c.hold_for.iter().find(|h| !known.contains(&h.as_str())) {
                return Err(Error::input(format!(
                    "{CONFIG_FILE}:{}: components.{}.hold_for: {h:?} is not a component of .env (they are: {})",
                    c.line,
                    c.name,
                    known.join(", ")
                ))
                .with_hint(HINT));
            }
        }
        Ok(())
    }
}

/// The digest key that goes with a tag key by default: `X_IMAGE_TAG` -> `X_IMAGE_DIGEST`,
/// `X_TAG` -> `X_DIGEST`, `x_tag` -> `x_digest`, `imageTag` -> `imageDigest`, `tag` -> `digest`.
pub fn default_digest_key(tag_key: &str) -> Option<String> {
    for (tag, digest) in [
        ("_TAG", "_DIGEST"),
        ("_tag", "_digest"),
        ("Tag", "Digest"),
        ("-tag", "-digest"),
    ] {
        if let Some(stem) = tag_key.strip_suffix(tag) {
            if !stem.is_empty() {
                return Some(format!("{stem}{digest}"));
            }
        }
    }
    match tag_key {
        "TAG" => Some("DIGEST".into()),
        "tag" => Some("digest".into()),
        _ => None,
    }
}

/// Whether the repository-relative `path` is `pattern` or under the folder `pattern`.
fn path_matches(pattern: &str, path: &str) -> bool {
    path == pattern
        || path
            .strip_prefix(pattern)
            .is_some_and(|rest| rest.starts_with('/'))
}

mod read;
#[cfg(test)]
use read::is_branch_name;
use read::parse;

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "\
# promotions of this checkout
version: 1
skip:
  - path: data/services/legacy/
    reason: promoted by the legacy team
  - key: resourceTemplates[qontract-api].parameters.OPA_IMAGE_TAG
    path: data/services/qontract/cicd/saas.yml
  - key: parameters.QR_IMAGE_TAG
  - {id: 1A2B3C4D}
digests:
  - tag_key: OPA_IMAGE_TAG
    image: quay.io/app-sre/opa
  - tag_key: OPA_IMAGE_TAG
    digest_key: OPA_SHA
    image: quay.io/app-sre/opa-fips
    path: data/services/fips
components:
  qontract-reconcile:
    labels: [bot/automerge, 'area: promotion']
    target_branch: master
    remote: origin
    wait_image: 10m
    notify: true
  qontract-schemas:
    labels:
      - schemas
    notify: false
    upstream: ../qontract-schemas
";

    fn err(text: &str) -> String {
        let e = Config::parse(text).unwrap_err();
        assert_eq!(e.hint(), Some(HINT), "{e}");
        assert!(!e.to_string().contains('\n'), "one line: {e}");
        e.to_string()
    }

    #[test]
    fn a_full_file_is_read() {
        let c = Config::parse(FULL).unwrap();
        assert_eq!(
            c.skip,
            vec![
                Skip {
                    target: SkipTarget::Path("data/services/legacy".into()),
                    reason: Some("promoted by the legacy team".into()),
                    line: 4,
                },
                Skip {
                    target: SkipTarget::Key {
                        key: "resourceTemplates[qontract-api].parameters.OPA_IMAGE_TAG".into(),
                        path: Some("data/services/qontract/cicd/saas.yml".into()),
                    },
                    reason: None,
                    line: 6,
                },
                Skip {
                    target: SkipTarget::Key {
                        key: "parameters.QR_IMAGE_TAG".into(),
                        path: None,
                    },
                    reason: None,
                    line: 8,
                },
                Skip {
                    target: SkipTarget::Id("1a2b3c4d".into()),
                    reason: None,
                    line: 9,
                },
            ]
        );
        assert_eq!(
            c.digests,
            vec![
                DigestRule {
                    tag_key: "OPA_IMAGE_TAG".into(),
                    digest_key: "OPA_IMAGE_DIGEST".into(),
                    image: "quay.io/app-sre/opa".into(),
                    path: None,
                    line: 11,
                },
                DigestRule {
                    tag_key: "OPA_IMAGE_TAG".into(),
                    digest_key: "OPA_SHA".into(),
                    image: "quay.io/app-sre/opa-fips".into(),
                    path: Some("data/services/fips".into()),
                    line: 13,
                },
            ]
        );
        assert_eq!(
            c.components,
            vec![
                ComponentSettings {
                    name: "qontract-reconcile".into(),
                    labels: vec!["bot/automerge".into(), "area: promotion".into()],
                    target_branch: Some("master".into()),
                    remote: Some("origin".into()),
                    wait_image: Some(Duration::from_secs(600)),
                    notify: Some(true),
                    hold_for: Vec::new(),
                    upstream: None,
                    stage_soak: None,
                    line: 18,
                },
                ComponentSettings {
                    name: "qontract-schemas".into(),
                    labels: vec!["schemas".into()],
                    notify: Some(false),
                    upstream: Some("../qontract-schemas".into()),
                    line: 24,
                    ..ComponentSettings::default()
                },
            ]
        );
        assert_eq!(c.component("qontract-schemas").map(|s| s.line), Some(24));
        assert_eq!(c.component("qontract-server"), None);
        c.check_components(&["qontract-reconcile", "qontract-schemas"])
            .unwrap();
        assert_eq!(
            c.check_components(&["qontract-reconcile"])
                .unwrap_err()
                .to_string(),
            ".qr-promote.yaml:24: components: \"qontract-schemas\" is not a component of .env \
             (they are: qontract-reconcile)"
        );
    }

    #[test]
    fn hold_for_names_components_of_env() {
        let text = "version: 1\ncomponents:\n  qontract-reconcile:\n    hold_for: [qontract-schemas, qontract-schemas]\n";
        let c = Config::parse(text).unwrap();
        assert_eq!(
            c.component("qontract-reconcile").unwrap().hold_for,
            ["qontract-schemas"]
        );
        c.check_components(&["qontract-reconcile", "qontract-schemas"])
            .unwrap();
        assert_eq!(
            c.check_components(&["qontract-reconcile"])
                .unwrap_err()
                .to_string(),
            ".qr-promote.yaml:3: components.qontract-reconcile.hold_for: \"qontract-schemas\" is \
             not a component of .env (they are: qontract-reconcile)"
        );
    }

    #[test]
    fn skips_match_by_path_folder_key_path_and_id() {
        let c = Config::parse(FULL).unwrap();
        let loc = |id, path, key_path| LocationRef { id, path, key_path };
        let line = |l: LocationRef| c.skips(&l).map(|s| s.line);
        // A folder holds its files, not its namesakes.
        assert_eq!(
            line(loc("00000000", "data/services/legacy/a.yml", None)),
            Some(4)
        );
        assert_eq!(
            line(loc("00000000", "data/services/legacy-2/a.yml", None)),
            None
        );
        // A key path with a path only in that file; without one anywhere.
        let opa = Some("resourceTemplates[qontract-api].parameters.OPA_IMAGE_TAG");
        assert_eq!(
            line(loc("00000000", "data/services/qontract/cicd/saas.yml", opa)),
            Some(6)
        );
        assert_eq!(
            line(loc("00000000", "data/services/other/saas.yml", opa)),
            None
        );
        let qr = Some("parameters.QR_IMAGE_TAG");
        assert_eq!(line(loc("00000000", "data/x/target.yml", qr)), Some(8));
        // An id, whatever its case.
        assert_eq!(line(loc("1a2b3c4d", "data/x.yml", None)), Some(9));
        assert_eq!(line(loc("1A2B3C4D", "data/x.yml", None)), Some(9));
        assert_eq!(line(loc("1a2b3c4e", "data/x.yml", None)), None);
        assert_eq!(
            c.skip.iter().map(Skip::describe).collect::<Vec<_>>(),
            [
                "path data/services/legacy",
                "key resourceTemplates[qontract-api].parameters.OPA_IMAGE_TAG in \
                 data/services/qontract/cicd/saas.yml",
                "key parameters.QR_IMAGE_TAG",
                "id 1a2b3c4d",
            ]
        );
    }

    #[test]
    fn digest_rules_prefer_the_nearest_path() {
        let c = Config::parse(FULL).unwrap();
        assert_eq!(
            c.digest_image("data/services/qontract/saas.yml", "OPA_IMAGE_TAG"),
            Some("quay.io/app-sre/opa")
        );
        let fips = c
            .digest_rule("data/services/fips/saas.yml", "OPA_IMAGE_TAG")
            .unwrap();
        assert_eq!(
            (fips.image.as_str(), fips.digest_key.as_str()),
            ("quay.io/app-sre/opa-fips", "OPA_SHA")
        );
        assert_eq!(c.digest_image("data/x.yml", "IMAGE_TAG"), None);
    }

    #[test]
    fn default_digest_keys() {
        for (tag, digest) in [
            ("OPA_IMAGE_TAG", Some("OPA_IMAGE_DIGEST")),
            ("QR_TAG", Some("QR_DIGEST")),
            (
                "qontract_reconcile_image_tag",
                Some("qontract_reconcile_image_digest"),
            ),
            ("imageTag", Some("imageDigest")),
            ("image-tag", Some("image-digest")),
            ("TAG", Some("DIGEST")),
            ("tag", Some("digest")),
            ("_TAG", None),
            ("OPA_VERSION", None),
        ] {
            assert_eq!(default_digest_key(tag).as_deref(), digest, "{tag}");
        }
    }

    #[test]
    fn an_absent_file_is_the_defaults_and_a_present_one_is_read() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::load(dir.path()).unwrap(), Config::default());
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "version: 1\nskip:\n- id: 0123abcd\n",
        )
        .unwrap();
        let c = Config::load(dir.path()).unwrap();
        assert_eq!(c.skip[0].target, SkipTarget::Id("0123abcd".into()));
        std::fs::write(dir.path().join(CONFIG_FILE), "version: 1\nskpi: []\n").unwrap();
        assert_eq!(
            Config::load(dir.path()).unwrap_err().to_string(),
            ".qr-promote.yaml:2: the top level: unknown key \"skpi\" (known: version, skip, \
             digests, components, clusters)"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_link_out_of_the_checkout_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("c.yaml");
        std::fs::write(&target, "version: 1\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(CONFIG_FILE)).unwrap();
        let e = Config::load(dir.path()).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Refused, "{e}");
        assert!(
            e.to_string().starts_with(".qr-promote.yaml: a link to "),
            "{e}"
        );
    }

    #[test]
    fn the_file_as_a_whole_is_checked() {
        for (text, msg) in [
            ("", ".qr-promote.yaml:1: empty; write `version: 1` first"),
            ("# nothing\n", ".qr-promote.yaml:1: empty; write `version: 1` first"),
            ("skip: []\n", ".qr-promote.yaml:1: `version: 1` is missing"),
            ("version: 2\n", ".qr-promote.yaml:1: version: \"2\" is not a version this qr-promote reads (write `version: 1`)"),
            ("version: '1'\n", ".qr-promote.yaml:1: version: \"1\" is not a version this qr-promote reads (write `version: 1`)"),
            ("version: 1\n---\nversion: 1\n", ".qr-promote.yaml:3: a second document; the file holds one"),
            ("version: 1\nskip: []\nskip: []\n", ".qr-promote.yaml:3: \"skip\" is written twice (lines 2 and 3)"),
            ("- version: 1\n", ".qr-promote.yaml:1: the file: a list where a mapping is expected"),
            ("version: 1\nskip: [\n", ".qr-promote.yaml:3: column 1: while parsing a node, did not find expected node content"),
            ("version: 1\nextra: x\n", ".qr-promote.yaml:2: the top level: unknown key \"extra\" (known: version, skip, digests, components, clusters)"),
            ("version: 1\nskip: {path: data}\n", ".qr-promote.yaml:2: skip: a mapping where a list is expected"),
            ("version: 1\nskip: &a []\ndigests: *a\n", ".qr-promote.yaml:3: digests: aliases are not read here; write the value"),
        ] {
            let got = err(text);
            assert!(got.starts_with(msg), "{text:?}:\n got  {got}\n want {msg}");
        }
    }

    #[test]
    fn every_bad_skip_names_its_line() {
        for (body, msg) in [
            ("- file: data/x.yml\n", "2: skip[0]: unknown key \"file\" (known: path, key, id, reason)"),
            ("- reason: why\n", "2: skip[0]: name a path, a key or an id"),
            ("- data/x.yml\n", "2: skip[0]: \"data/x.yml\" where a mapping is expected"),
            ("- path: /data/x.yml\n", "2: skip[0].path: \"/data/x.yml\" is not a path inside the checkout"),
            ("- path: data/../x.yml\n", "2: skip[0].path: \"data/../x.yml\" is not a path inside the checkout"),
            ("- path: ./data\n", "2: skip[0].path: \"./data\" is not a path inside the checkout"),
            ("- path:\n", "2: skip[0].path: \"\" is not a value"),
            ("- path: [a]\n", "2: skip[0].path: a list where a string is expected"),
            ("- key: a..b\n", "2: skip[0].key: \"a..b\" is not a key path"),
            ("- key: 'a[b.c'\n", "2: skip[0].key: \"a[b.c\" is not a key path"),
            ("- key: a[b[c]]\n", "2: skip[0].key: \"a[b[c]]\" is not a key path"),
            ("- id: 1a2b3c\n", "2: skip[0].id: \"1a2b3c\" is not a location id (8 hex digits, as status and plan print it)"),
            ("- id: 1a2b3c4g\n", "2: skip[0].id: \"1a2b3c4g\" is not a location id"),
            ("- id: 1a2b3c4d\n  path: data/x.yml\n", "2: skip[0]: an id names one location; give it alone"),
            ("- path: data/x.yml\n- path: data/y.yml\n  reason: true\n", "4: skip[1].reason: \"true\" is not a value"),
        ] {
            let got = err(&format!("version: 1\nskip:\n{body}"));
            let (line, rest) = msg.split_once(": ").unwrap();
            let line: usize = line.parse::<usize>().unwrap() + 1;
            let want = format!(".qr-promote.yaml:{line}: {rest}");
            assert!(got.starts_with(&want), "{body:?}:\n got  {got}\n want {want}");
        }
    }

    #[test]
    fn every_bad_digest_rule_names_its_line() {
        for (body, msg) in [
            ("- tag_key: A_TAG\n  image: quay.io/a/b\n  digest: sha\n", "4: digests[0]: unknown key \"digest\" (known: tag_key, digest_key, image, path)"),
            ("- image: quay.io/a/b\n", "2: digests[0]: tag_key is missing"),
            ("- tag_key: A_TAG\n", "2: digests[0]: image is missing (the image whose digest follows A_TAG)"),
            ("- tag_key: A_VERSION\n  image: quay.io/a/b\n", "2: digests[0]: \"A_VERSION\" does not end in _TAG; name its digest with digest_key"),
            ("- tag_key: A_TAG\n  digest_key: A_TAG\n  image: quay.io/a/b\n", "3: digests[0].digest_key: \"A_TAG\" is the tag key itself"),
            ("- tag_key: A_TAG\n  image: quay.io/a/b:v1\n", "3: digests[0].image: `quay.io/a/b:v1` already includes a tag"),
            ("- tag_key: A_TAG\n  image: quay.io/A/B\n", "3: digests[0].image: `A/B` is not a valid repository name"),
            ("- tag_key: A_TAG\n  image: quay.io/a/b\n  path: /etc\n", "4: digests[0].path: \"/etc\" is not a path inside the checkout"),
            ("- tag_key: A_TAG\n  image: quay.io/a/b\n- tag_key: A_TAG\n  image: quay.io/a/c\n", "4: digests[1]: tag_key A_TAG for every file is configured on line 3 already"),
            ("- tag_key: A_TAG\n  image: quay.io/a/b\n  path: data/x\n- {tag_key: A_TAG, image: quay.io/a/c, path: data/x/}\n", "5: digests[1]: tag_key A_TAG in data/x is configured on line 3 already"),
        ] {
            let got = err(&format!("version: 1\ndigests:\n{body}"));
            let (line, rest) = msg.split_once(": ").unwrap();
            let line: usize = line.parse::<usize>().unwrap() + 1;
            let want = format!(".qr-promote.yaml:{line}: {rest}");
            assert!(got.starts_with(&want), "{body:?}:\n got  {got}\n want {want}");
        }
    }

    #[test]
    fn every_bad_component_setting_names_its_line() {
        for (body, msg) in [
            ("  qr:\n    label: [a]\n", "3: components.qr: unknown key \"label\" (known: labels, target_branch, remote, wait_image, notify, hold_for, upstream, stage_soak)"),
            ("  qr:\n    stage_soak: 8d\n", "3: components.qr.stage_soak: \"8d\": at most 7 days"),
            ("  qr:\n    stage_soak: 2\n", "3: components.qr.stage_soak: \"2\" has no unit"),
            ("  qr: []\n", "2: components.qr: a list where a mapping is expected"),
            ("  - qr\n", "2: components: a list where a mapping is expected"),
            ("  qr:\n    labels: a\n", "3: components.qr.labels: \"a\" where a list is expected"),
            ("  qr:\n    labels: [a, 'b,c']\n", "3: components.qr.labels: \"b,c\": a label holds no comma"),
            ("  qr:\n    labels:\n    - ok\n    - {a: b}\n", "5: components.qr.labels: a mapping where a string is expected"),
            ("  qr:\n    target_branch: 'feature..x'\n", "3: components.qr.target_branch: \"feature..x\" is not a branch name"),
            ("  qr:\n    target_branch: -x\n", "3: components.qr.target_branch: \"-x\" is not a branch name"),
            ("  qr:\n    remote: 'my remote'\n", "3: components.qr.remote: \"my remote\" is not a remote name"),
            ("  qr:\n    wait_image: 10\n", "3: components.qr.wait_image: \"10\" has no unit"),
            ("  qr:\n    wait_image: 10 lightyears\n", "3: components.qr.wait_image: \"10 lightyears\" is not a duration"),
            ("  qr:\n    wait_image: 0s\n", "3: components.qr.wait_image: \"0s\": more than 0, at most 24h"),
            ("  qr:\n    wait_image: 25h\n", "3: components.qr.wait_image: \"25h\": more than 0, at most 24h"),
            ("  qr:\n    notify: yes\n", "3: components.qr.notify: \"yes\" is not true or false"),
            ("  qr:\n    upstream: -x\n", "3: components.qr.upstream: \"-x\" is not a git URL or a path"),
            ("  qr:\n    upstream: [a]\n", "3: components.qr.upstream: a list where a string is expected"),
            ("  qr:\n    notify: 'true'\n", "3: components.qr.notify: \"true\" is not true or false"),
            ("  ~:\n    notify: true\n", "2: components: a component name: \"~\" is not a value"),
            ("  qr:\n    hold_for: qontract-schemas\n", "3: components.qr.hold_for: \"qontract-schemas\" where a list is expected"),
            ("  qr:\n    hold_for: [qr]\n", "3: components.qr.hold_for: \"qr\" cannot hold itself"),
        ] {
            let got = err(&format!("version: 1\ncomponents:\n{body}"));
            let (line, rest) = msg.split_once(": ").unwrap();
            let line: usize = line.parse::<usize>().unwrap() + 1;
            let want = format!(".qr-promote.yaml:{line}: {rest}");
            assert!(got.starts_with(&want), "{body:?}:\n got  {got}\n want {want}");
        }
    }

    #[test]
    fn clusters_and_stage_soak_are_read() {
        let c = Config::parse(
            "version: 1\nclusters:\n  appsres03ue1: stage-ctx\n  appsrep05ue1: prod\ncomponents:\n  qr:\n    stage_soak: 2h\n",
        )
        .unwrap();
        assert_eq!(
            c.clusters
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
            ["appsrep05ue1=prod", "appsres03ue1=stage-ctx"]
        );
        assert_eq!(
            c.component("qr").unwrap().stage_soak,
            Some(Duration::from_secs(7200))
        );
        assert!(err("version: 1\nclusters:\n  a: [x]\n")
            .starts_with(".qr-promote.yaml:3: clusters.a: a list where a string is expected"));
        assert!(err("version: 1\nclusters: [a]\n")
            .starts_with(".qr-promote.yaml:2: clusters: a list where a mapping is expected"));
    }

    #[test]
    fn the_example_checkouts_file_is_valid() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/app-interface");
        let c = Config::load(&root).unwrap();
        let canary = LocationRef {
            id: "00000000",
            path: "data/services/app-interface/jobs/reconcile-canary.yml",
            key_path: Some("image"),
        };
        // The example shows `skip:` in a comment: it leaves nothing alone.
        assert!(c.skips(&canary).is_none());
        let opa = c
            .digest_rule("data/services/x/saas.yml", "OPA_IMAGE_TAG")
            .unwrap();
        assert_eq!(
            (opa.digest_key.as_str(), opa.image.as_str()),
            ("OPA_IMAGE_DIGEST", "quay.io/app-sre/qontract-reconcile-opa")
        );
        let qr = c.component("qontract-reconcile").unwrap();
        assert_eq!(
            (qr.labels.len(), qr.wait_image, qr.notify),
            (2, Some(Duration::from_secs(900)), Some(true))
        );
        let checkout = crate::checkout::Checkout::open(&root).unwrap();
        let names: Vec<&str> = checkout
            .components
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        c.check_components(&names).unwrap();
    }

    #[test]
    fn the_readmes_example_is_valid() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .unwrap();
        let section = &readme[readme.find("## `.qr-promote.yaml`").unwrap()..];
        let block = &section[section.find("```yaml\n").unwrap() + 8..];
        let block = &block[..block.find("```").unwrap()];
        let c = Config::parse(block).unwrap();
        assert_eq!(
            (c.skip.len(), c.digests.len(), c.components.len()),
            (3, 1, 1)
        );
        // The README's error lines are what the parser says.
        let errors: Vec<&str> = section
            .lines()
            .filter(|l| l.starts_with("    .qr-promote.yaml:"))
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        for line in errors {
            let shown = line.trim_start();
            let text = if shown.contains("skip[1]") {
                "version: 1\nskip:\n- id: 1a2b3c4d\n- path: data/a.yml\n  reason: r\n\n  file: x\n"
            } else {
                "version: 1\n\n\n\n\n\n\n\n\ncomponents:\n  qontract-reconcile:\n    wait_image: 10\n"
            };
            assert_eq!(err(text), shown);
        }
    }

    #[test]
    fn empty_lists_and_mappings_are_allowed() {
        let c = Config::parse("version: 1\nskip:\ndigests: []\ncomponents: {}\n").unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn branch_names() {
        for ok in ["master", "main", "release/2024-01", "a.b"] {
            assert!(is_branch_name(ok), "{ok}");
        }
        for bad in [
            "", "-x", "a..b", "a b", "a:b", "a.lock", "/a", "a/", "a/.b", "@", "a@{b",
        ] {
            assert!(!is_branch_name(bad), "{bad}");
        }
    }
}
