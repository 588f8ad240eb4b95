//! Discovery of every place that pins a component's version: `.env`, `*_image_tag` keys, saas
//! file targets and image references, each with a stable id and where it acts.

use std::ops::Range;

use crate::checkout::{normalize_repo_url, Checkout, Component, ENV_FILE};
use crate::discovery::walk::ScannedFile;
use crate::error::Result;
use crate::util::{fnv, same_commit};
use crate::yaml::{self, Node, Style};

use super::copies::find_copies;
pub use super::refs::Refs;
use super::rules::{find_in_comments, find_in_docs, find_in_lines};

/// The `$schema` of saas files today (older trees have `/app-sre/saas-file-1.yml`).
pub const SAAS_SCHEMA: &str = "/app-sre/saas-file-2.yml";

/// The `$schema` of a saas file of any version: `/app-sre/saas-file-<N>.yml`.
pub fn is_saas_schema(s: &str) -> bool {
    versioned(s, "/app-sre/saas-file-")
}

/// The `$schema` of a saas target kept in a file of its own: `/app-sre/saas-file-target-<N>.yml`.
pub fn is_saas_target_schema(s: &str) -> bool {
    versioned(s, "/app-sre/saas-file-target-")
}

fn versioned(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(".yml"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The kinds of location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The `<P>_IMAGE_TAG` line of `.env`.
    Env,
    /// A `<component>_image_tag` mapping key.
    YamlKey,
    /// A saas file target's `ref`.
    SaasTarget,
    /// An image reference `<image>:<tag>`.
    ImageRef,
    /// Any other scalar whose whole value is the current commit, whatever its key.
    PinnedCopy,
    /// An image reference `<any registry>/<image path>:<tag>` at the current commit in a
    /// whole-line comment (the mirror to switch to when the registry is down).
    CommentedImageRef,
}

impl Kind {
    /// The name used on the command line and in output.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Env => "env",
            Kind::YamlKey => "yaml-key",
            Kind::SaasTarget => "saas-target",
            Kind::ImageRef => "image-ref",
            Kind::PinnedCopy => "pinned-copy",
            Kind::CommentedImageRef => "commented-image-ref",
        }
    }

    /// Parses a kind name.
    pub fn parse(s: &str) -> Option<Kind> {
        [
            Kind::Env,
            Kind::YamlKey,
            Kind::SaasTarget,
            Kind::ImageRef,
            Kind::PinnedCopy,
            Kind::CommentedImageRef,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// Where a location acts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Site {
    /// The file's `$schema`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The file's top-level `name` (for a saas target: the saas file's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl Site {
    /// A short human description: `saas-x / template / namespace@cluster (env)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = &self.name {
            parts.push(n.clone());
        }
        if let Some(rt) = &self.resource_template {
            parts.push(rt.clone());
        }
        if let Some(ns) = &self.namespace {
            let mut s = ns.clone();
            if let Some(c) = &self.cluster {
                s.push('@');
                s.push_str(c);
            }
            if let Some(e) = &self.environment {
                s.push_str(&format!(" ({e})"));
            }
            parts.push(s);
        }
        if parts.is_empty() {
            if let Some(schema) = &self.schema {
                parts.push(schema.clone());
            }
        }
        parts.join(" / ")
    }
}

/// One place that pins a component's version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Location {
    /// Stable id: the same location keeps it while the file keeps its structure.
    pub id: String,
    pub kind: Kind,
    /// Repository-relative path.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// The version token as written (without quotes).
    pub value: String,
    /// `false` when the value is not the component's current version.
    pub in_sync: bool,
    /// A pinned copy's key path (`resourceTemplates[qontract-api].parameters.OPA_IMAGE_TAG`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    /// The saas file that references this target, when it is a target kept in a file of its own.
    #[serde(skip)]
    pub via: Option<String>,
    /// Where it acts.
    pub context: Site,
    /// The bytes of the version token.
    #[serde(skip)]
    pub span: Range<usize>,
    /// How the scalar holding the token is written.
    #[serde(skip)]
    pub style: Style,
    /// The file was read line by line (a template that is not valid YAML).
    #[serde(skip)]
    pub line_level: bool,
}

impl Location {
    /// `path:line`.
    pub fn at(&self) -> String {
        format!("{}:{}", self.path, self.line)
    }

    /// Where it acts, as tables show it: the saas target, job or pr-check it pins; for a
    /// pinned copy its key path first.
    pub fn acts(&self) -> String {
        let at = self.context.describe();
        match &self.key_path {
            Some(kp) if at.is_empty() => kp.clone(),
            Some(kp) => format!("{kp} ({at})"),
            None => at,
        }
    }
}

/// A problem with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.path, self.message)
    }
}

/// Everything discovery found for one component.
#[derive(Debug, Default)]
pub struct Discovery {
    /// The `$ref` cache discovery filled, for the plan to reuse.
    pub refs: Refs,
    pub locations: Vec<Location>,
    /// Files that may hold a location but cannot be read as YAML: errors.
    pub errors: Vec<FileProblem>,
    /// Files that do not parse and mention nothing of the component: warnings.
    pub warnings: Vec<FileProblem>,
    /// Pinned copies found, before [`Discovery::settle`] says which are copies of the current
    /// commit (they are then in `locations`).
    pub copies: Vec<Location>,
    /// Saas target files that no saas file references, and values that another component's
    /// key holds: reported (not moved).
    pub notes: Vec<String>,
    /// The files the notes are about (never marked clean in the scan cache, so that a warm run
    /// reports what a cold one does).
    pub noted_files: Vec<String>,
    /// Values that start with the current version but may be another commit (its full id is not
    /// known): reported, not moved.
    pub unsure: Vec<Location>,
}

impl Discovery {
    /// The files whose reading gave something: a location (in the file, or through a target
    /// file it references), a report, an error or a warning. The others need not be read again
    /// for this component while they are unchanged; these must, so that a walk with the scan
    /// cache finds and says what a walk without one does.
    pub fn files_that_told(&self) -> std::collections::HashSet<&str> {
        let located = self
            .locations
            .iter()
            .chain(&self.copies)
            .chain(&self.unsure);
        located
            .clone()
            .map(|l| l.path.as_str())
            .chain(located.filter_map(|l| l.via.as_deref()))
            .chain(
                self.errors
                    .iter()
                    .chain(&self.warnings)
                    .map(|p| p.path.as_str()),
            )
            .chain(self.noted_files.iter().map(String::as_str))
            .collect()
    }

    /// What discovery reports without moving it, one line each.
    pub fn reports(&self, tag: &str) -> Vec<String> {
        let mut out = self.notes.clone();
        out.extend(self.unsure.iter().map(|l| {
            format!(
                "{} {}: {} may be another commit than {tag} (its full id is not known: go online, or pin it in a saas target); left alone",
                l.at(),
                l.key_path.as_deref().unwrap_or(""),
                l.value
            )
        }));
        out
    }
}

/// The strings whose presence in a file means it may hold a location of `c`: its key, image and
/// repository, and its current version (any copy of it is a location, whatever its key).
pub fn needles(c: &Component) -> Vec<String> {
    let mut n = vec![
        c.yaml_key(),
        c.image.clone(),
        normalize_repo_url(&c.repo).to_string(),
    ];
    if crate::util::is_commit_hex(&c.tag) {
        n.push(c.tag.to_ascii_lowercase());
    }
    n
}

/// The needles of several components, and for each needle the component it belongs to.
pub fn needles_of(components: &[Component]) -> (Vec<String>, Vec<usize>) {
    let mut all = Vec::new();
    let mut owner = Vec::new();
    for (i, c) in components.iter().enumerate() {
        for n in needles(c) {
            all.push(n);
            owner.push(i);
        }
    }
    (all, owner)
}

fn make_id(kind: Kind, path: &str, disc: &str) -> String {
    format!("{:08x}", fnv(&[kind.name(), path, disc]) as u32)
}

/// The `.env` location of a component.
pub fn env_location(c: &Component) -> Location {
    Location {
        id: make_id(Kind::Env, ENV_FILE, &c.tag_var()),
        kind: Kind::Env,
        path: ENV_FILE.to_string(),
        line: c.tag_line,
        value: c.tag.clone(),
        in_sync: true,
        context: Site {
            name: Some(format!("{} (app-interface pr-check)", c.tag_var())),
            ..Site::default()
        },
        span: c.tag_span.clone(),
        style: Style::Plain,
        line_level: false,
        key_path: None,
        via: None,
    }
}

/// How a file was read.
#[derive(Debug)]
pub enum Reading {
    Yaml(Vec<Node>),
    /// A template that is not valid YAML, read line by line.
    Lines,
}

/// Reads a file for discovery: a parse, or the line-level reading for templates.
pub fn read_file(rel: &str, text: &str) -> std::result::Result<Reading, FileProblem> {
    match yaml::parse(text) {
        Ok(docs) => Ok(Reading::Yaml(docs)),
        Err(_) if yaml::looks_like_template(text) => Ok(Reading::Lines),
        Err(e) => Err(FileProblem {
            path: rel.to_string(),
            message: format!("{e} (YAML syntax error)"),
        }),
    }
}

/// Finds the locations of `c` in one file's text (and in the saas target files it references),
/// with the pinned copies of `copies_of` (a commit) when given.
pub fn find_in_text(
    rel: &str,
    text: &str,
    reading: &Reading,
    c: &Component,
    refs: &Refs,
    copies_of: Option<&str>,
) -> Vec<Location> {
    find_in_text_noting(rel, text, reading, c, refs, copies_of).0
}

/// [`find_in_text`], and what it leaves alone on purpose, one line each (another component's
/// key holding this component's version).
pub fn find_in_text_noting(
    rel: &str,
    text: &str,
    reading: &Reading,
    c: &Component,
    refs: &Refs,
    copies_of: Option<&str>,
) -> (Vec<Location>, Vec<String>) {
    let mut notes = Vec::new();
    // What the rules by key, target and image found; a copy or a commented reference at the
    // same place is that location.
    let (mut found, line_level) = match reading {
        Reading::Yaml(docs) => {
            let (found, forms) = find_in_docs(rel, text, docs, c, refs);
            notes.extend(forms);
            (found, false)
        }
        Reading::Lines => (find_in_lines(text, c), true),
    };
    if let Some(commit) = copies_of {
        let mut more = find_in_comments(text, c, commit);
        if let Reading::Yaml(docs) = reading {
            let (copies, left) = find_copies(rel, text, docs, commit, refs, c);
            notes.extend(left);
            more.extend(copies);
        }
        let claimed: std::collections::HashSet<usize> = found
            .iter()
            .filter(|m| m.path.is_none())
            .map(|m| m.span.start)
            .collect();
        found.extend(
            more.into_iter()
                .filter(|m| !claimed.contains(&m.span.start)),
        );
    }
    let locations = found
        .into_iter()
        .map(|f| {
            let path = f.path.unwrap_or_else(|| rel.to_string());
            Location {
                id: make_id(f.kind, &path, &f.disc),
                kind: f.kind,
                via: (path != rel).then(|| rel.to_string()),
                path,
                line: f.line,
                in_sync: f.kind == Kind::PinnedCopy || same_commit(&f.value, &c.tag),
                key_path: f.key_path,
                value: f.value,
                context: f.context,
                span: f.span,
                style: f.style,
                line_level,
            }
        })
        .collect();
    (locations, notes)
}

/// Discovers every location of `c` among the scanned files (which mention some needle).
/// `mentions(file)` says whether a file mentions one of `c`'s own needles.
pub fn discover(
    checkout: &Checkout,
    c: &Component,
    files: &[ScannedFile],
    mentions: &(dyn Fn(&ScannedFile) -> bool + Sync),
) -> Result<Discovery> {
    let mut d = Discovery {
        refs: Refs::new(&checkout.root),
        ..Discovery::default()
    };
    let mut env = env_location(c);
    env.in_sync = true;
    d.locations.push(env);
    // Parsing and reading the files: the costly part.
    let refs = &d.refs;
    let outcomes = crate::util::on_all_cores(files, |part| {
        part.iter()
            .map(|f| file_outcome(f, c, mentions(f), refs))
            .collect()
    });
    let mut found = Vec::new();
    for o in outcomes {
        match o {
            Outcome::Locations(locs, notes) => {
                found.extend(locs);
                for (path, note) in notes {
                    d.noted_files.push(path);
                    d.notes.push(note);
                }
            }
            Outcome::Error(p) => d.errors.push(p),
            Outcome::Warning(p) => d.warnings.push(p),
        }
    }
    refuse_non_utf8_names(files, &mut found, &mut d.errors);
    d.sort_out(c, found);
    let full = d.tree_full(&c.tag);
    d.settle(&c.tag, full.as_deref());
    Ok(d)
}

/// A location in a file whose path is not UTF-8 cannot be written by the name the plan and the
/// transaction give it (it is shown escaped): the file is an error, naming it, and none of its
/// locations is listed, so that nothing is written in its stead (a file named with U+FFFD where
/// the name has a byte that is not UTF-8, say).
fn refuse_non_utf8_names(
    files: &[ScannedFile],
    found: &mut Vec<Location>,
    errors: &mut Vec<FileProblem>,
) {
    let bad: std::collections::HashSet<&str> = files
        .iter()
        .filter(|f| f.non_utf8)
        .map(|f| f.rel.as_str())
        .collect();
    if bad.is_empty() {
        return;
    }
    let mut named = std::collections::BTreeSet::new();
    found.retain(|l| {
        let held = bad.contains(l.path.as_str());
        if held {
            named.insert(l.path.clone());
        }
        !held
    });
    errors.extend(named.into_iter().map(|path| {
        FileProblem {
            path,
            message: " holds a location, and its name is not UTF-8 (shown escaped): rename it; \
                  qr-promote writes only files it can name"
                .to_string(),
        }
    }));
}

/// What discovery makes of one file.
enum Outcome {
    /// The file's locations, and what it leaves alone on purpose (file, note).
    Locations(Vec<Location>, Vec<(String, String)>),
    Error(FileProblem),
    Warning(FileProblem),
}

/// The keys that decide which saas targets are locations.
const SAAS_KEYS: [&str; 5] = ["$schema", "resourceTemplates", "url", "targets", "ref"];

/// A key held twice by a mapping that holds a location, the component's `_image_tag` key held
/// twice, or a key of a saas file that decides what is a location held twice: YAML readers
/// take the last value, and which one is meant cannot be told, so the file is refused naming
/// both lines.
fn ambiguous_key(rel: &str, r: &Reading, locs: &[Location], c: &Component) -> Option<FileProblem> {
    let Reading::Yaml(docs) = r else { return None };
    let key = c.yaml_key();
    let saas = docs
        .iter()
        .any(|d| d.str_at("$schema") == Some(SAAS_SCHEMA));
    let d = yaml::duplicate_keys(docs).into_iter().find(|d| {
        d.key == key
            || (saas && SAAS_KEYS.contains(&d.key.as_str()))
            || locs
                .iter()
                .any(|l| d.map.start <= l.span.start && l.span.end <= d.map.end)
    })?;
    Some(FileProblem {
        path: rel.to_string(),
        message: format!(
            "{}: duplicate key {:?} (first at {rel}:{}); YAML readers take the last one, so the location is ambiguous: remove one of them",
            d.line, d.key, d.first_line
        ),
    })
}

fn file_outcome(f: &ScannedFile, c: &Component, own: bool, refs: &Refs) -> Outcome {
    let problem = |p: FileProblem| {
        if own {
            Outcome::Error(p)
        } else {
            Outcome::Warning(p)
        }
    };
    let text = match std::str::from_utf8(&f.bytes) {
        Ok(t) => t,
        Err(e) => {
            return problem(FileProblem {
                path: f.rel.clone(),
                message: format!(" not valid UTF-8 (byte {})", e.valid_up_to()),
            })
        }
    };
    match read_file(&f.rel, text) {
        Ok(r) if own => {
            let copies_of = crate::util::is_commit_hex(&c.tag).then_some(c.tag.as_str());
            let (locs, notes) = find_in_text_noting(&f.rel, text, &r, c, refs, copies_of);
            if let Some(p) = ambiguous_key(&f.rel, &r, &locs, c) {
                return Outcome::Error(p);
            }
            let notes = notes.into_iter().map(|n| (f.rel.clone(), n)).collect();
            Outcome::Locations(locs, notes)
        }
        Ok(_) => Outcome::Locations(Vec::new(), Vec::new()),
        Err(p) => problem(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::{components_from_env, parse_env};

    fn comp() -> Component {
        let env = "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE_TAG=abc1234\n";
        components_from_env(&parse_env(env)).remove(0)
    }

    #[test]
    fn template_lines_give_keys_and_images_but_not_expressions() {
        let text = "a: {{ x }}\n  qontract_reconcile_image_tag: 'abc1234' # pinned\n\
image: quay.io/app-sre/qontract-reconcile:{{ qontract_reconcile_image_tag }}\n\
image: \"quay.io/app-sre/qontract-reconcile:abc1234\"\n{% if x %}\n";
        let found = find_in_lines(text, &comp());
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].kind, Kind::YamlKey);
        assert_eq!(&text[found[0].span.clone()], "abc1234");
        assert_eq!(found[0].style, Style::Single);
        assert_eq!(found[1].kind, Kind::ImageRef);
        assert_eq!(found[1].line, 4);
        assert_eq!(found[1].style, Style::Double);
    }
}
