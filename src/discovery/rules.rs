//! The rules that find a component's locations in one file: in its parsed documents
//! (`*_image_tag` keys, saas targets, image references), or line by line in a template.

use std::ops::Range;

use super::locations::{is_saas_schema, is_saas_target_schema, Kind, Refs, Site};
use crate::checkout::{normalize_repo_url, Component};
use crate::util::is_commit_hex;
use crate::yaml::{self, Node, Style};

/// A location found in one file, before ids and sync state.
#[derive(Debug, Clone)]
pub(super) struct Match {
    pub(super) kind: Kind,
    pub(super) line: usize,
    pub(super) value: String,
    pub(super) span: Range<usize>,
    pub(super) style: Style,
    pub(super) disc: String,
    pub(super) context: Site,
    /// The file the location is in, when not the one being read (a saas target file).
    pub(super) path: Option<String>,
    /// A pinned copy's key path.
    pub(super) key_path: Option<String>,
}

fn file_context(docs: &[Node]) -> Site {
    let first = docs.first();
    Site {
        schema: first.and_then(|d| d.str_at("$schema")).map(str::to_string),
        name: first.and_then(|d| d.str_at("name")).map(str::to_string),
        ..Site::default()
    }
}

/// The bytes an edit of a scalar replaces: its value as written, or, when the value is not
/// written as it reads (escapes, a block scalar, a quoted value over several lines), the whole
/// scalar from its quote or block indicator (its anchor and tag stay).
fn scalar_bytes(text: &str, n: &Node) -> Range<usize> {
    yaml::value_span(text, n)
        .unwrap_or_else(|| n.span.start..crate::yaml::style::content_end(text, n))
}

/// Finds the locations of `c` in one parsed file, and what it says of the forms it found
/// (aliases that follow an anchored location, tags that make a value no string).
pub(super) fn find_in_docs(
    rel: &str,
    text: &str,
    docs: &[Node],
    c: &Component,
    refs: &Refs,
) -> (Vec<Match>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let key = c.yaml_key();
    let image_prefix = format!("{}:", c.image);
    let ctx = file_context(docs);
    let mut key_n = 0;
    let mut img_n = 0;
    let mut followers = Vec::new();
    for s in yaml::scalars(docs) {
        if s.is_key {
            continue;
        }
        let Some(v) = s.node.as_str() else { continue };
        let Some(style) = s.node.style() else {
            continue;
        };
        if let Some(alias) = s.via {
            followers.push((alias, s.node, s.key));
        }
        let names_it = s.key == Some(key.as_str()) || v.starts_with(&image_prefix);
        if names_it && !yaml::is_string_tag(s.node.tag.as_deref()) {
            notes.push(format!(
                "{rel}:{}: tagged {}, which YAML readers do not load as a string: left alone",
                s.node.line,
                s.node.tag.as_deref().unwrap_or_default()
            ));
            continue;
        }
        if s.key == Some(key.as_str()) && is_commit_hex(v) {
            if out
                .iter()
                .any(|m: &Match| m.span.start == scalar_bytes(text, s.node).start)
            {
                continue;
            }
            {
                let span = scalar_bytes(text, s.node);
                out.push(Match {
                    kind: Kind::YamlKey,
                    line: s.node.line,
                    value: v.to_string(),
                    span,
                    style,
                    disc: format!("{key}#{key_n}"),
                    context: ctx.clone(),
                    path: None,
                    key_path: None,
                });
                key_n += 1;
            }
        } else if let Some(rest) = v.strip_prefix(&image_prefix) {
            // `<image>:<tag>`, or `<image>:<tag>@sha256:<hex>` (the digest follows the tag).
            let (tag, digest) = match rest.split_once('@') {
                Some((t, d)) if d.starts_with("sha256:") => (t, Some(d)),
                _ => (rest, None),
            };
            if is_commit_hex(tag) {
                if s.via.is_some() && out.iter().any(|m| m.line == s.node.line) {
                    continue;
                }
                // The tag's own bytes; a reference not written as it reads (escapes, several
                // lines) is a location all the same, the whole scalar, which the edit refuses,
                // naming its form, rather than leaving it behind unsaid.
                let span = match yaml::value_span(text, s.node) {
                    Some(span) => {
                        let end = span.end - digest.map_or(0, |d| d.len() + 1);
                        end - tag.len()..end
                    }
                    None => scalar_bytes(text, s.node),
                };
                out.push(Match {
                    kind: Kind::ImageRef,
                    line: s.node.line,
                    value: tag.to_string(),
                    span,
                    style,
                    disc: format!("image#{img_n}"),
                    context: ctx.clone(),
                    path: None,
                    key_path: None,
                });
                img_n += 1;
            }
        }
    }
    let repo = c.repo_normalized();
    for doc in docs {
        let schema = doc.str_at("$schema");
        if schema.is_some_and(is_saas_target_schema) {
            // A target kept in a file of its own: its `ref`, as the file alone tells it (the
            // saas file that references it gives its context and says whether it moves).
            if let Some(m) = target_ref(text, doc, None, &Site::default(), refs) {
                out.push(m);
            }
            continue;
        }
        if !schema.is_some_and(is_saas_schema) {
            continue;
        }
        let saas_name = doc.str_at("name").map(str::to_string);
        for rt in doc
            .get("resourceTemplates")
            .map(Node::items)
            .unwrap_or_default()
        {
            let Some(url) = rt.str_at("url") else {
                continue;
            };
            if normalize_repo_url(url) != repo {
                continue;
            }
            let site = Site {
                schema: schema.map(str::to_string),
                name: saas_name.clone(),
                resource_template: rt.str_at("name").map(str::to_string),
                ..Site::default()
            };
            for (n, target) in rt
                .get("targets")
                .map(Node::items)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                if let Some(file) = target.ref_path() {
                    out.extend(referenced_target(file, &site, refs));
                } else if let Some(m) = target_ref(text, target, Some(n), &site, refs) {
                    out.push(m);
                }
            }
        }
    }
    // An alias of a location's anchored value follows it: the edit of the anchor moves it.
    for (alias, anchored, key) in followers {
        if let Some(m) = out.iter().find(|m| {
            m.path.is_none() && m.line == anchored.line && anchored.span.contains(&m.span.start)
        }) {
            notes.push(format!(
                "{rel}:{}: {}{} is an alias of the value at line {} ({}): it follows it",
                alias.line,
                key.map(|k| format!("{k}: ")).unwrap_or_default(),
                &text[alias.span.clone()],
                m.line,
                m.value
            ));
        }
    }
    (out, notes)
}

/// The `ref` of a saas target (an item of `targets:`, at index `n`, or the document of a target
/// file, `n` none) when it is a commit id, with the target's namespace added to `site`.
fn target_ref(
    text: &str,
    target: &Node,
    n: Option<usize>,
    site: &Site,
    refs: &Refs,
) -> Option<Match> {
    let r = target.get("ref")?;
    let v = r.as_str()?;
    if !is_commit_hex(v) {
        return None;
    }
    let span = scalar_bytes(text, r);
    let ns_ref = target
        .get("namespace")
        .and_then(Node::ref_path)
        .map(str::to_string);
    let (namespace, cluster, environment) = match &ns_ref {
        Some(nr) => refs.namespace(nr),
        None => (None, None, None),
    };
    let disc = match n {
        Some(n) => format!(
            "{}#{}#{}",
            site.resource_template.as_deref().unwrap_or(""),
            ns_ref.as_deref().unwrap_or(""),
            if ns_ref.is_some() { 0 } else { n }
        ),
        // A target file holds one target: the same id whichever saas file references it.
        None => "target-file".to_string(),
    };
    Some(Match {
        kind: Kind::SaasTarget,
        line: r.line,
        value: v.to_string(),
        span,
        style: r.style().unwrap_or(Style::Plain),
        disc,
        context: Site {
            namespace: namespace.or(ns_ref),
            cluster,
            environment,
            ..site.clone()
        },
        path: None,
        key_path: None,
    })
}

/// The target of a saas file kept in the file `file` (a `$ref` under `data/`): its `ref`, in
/// that file, with the context of the saas file and resource template that reference it.
fn referenced_target(file: &str, site: &Site, refs: &Refs) -> Option<Match> {
    let text = refs.file(file)?;
    let docs = yaml::parse(&text).ok()?;
    let doc = docs.first()?;
    if !doc.str_at("$schema").is_some_and(is_saas_target_schema) {
        return None;
    }
    let mut m = target_ref(&text, doc, None, site, refs)?;
    m.path = Some(refs.path_of(file));
    Some(m)
}

/// The end of the commit-id tag that starts at `hs` of `line` (after `<image>:`): 7 to 40 hex
/// digits, then the end of the reference (or its `@sha256:` digest); none when it is no such tag.
fn tag_end(line: &[u8], hs: usize) -> Option<usize> {
    let he = hs
        + line[hs..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
    let after_ok = line.get(he).is_none_or(|b| !is_tag_char(*b) && *b != b'{')
        || line[he..].starts_with(b"@sha256:");
    let tag = std::str::from_utf8(&line[hs..he]).ok()?;
    (after_ok && is_commit_hex(tag)).then_some(he)
}

fn is_tag_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/' | b':' | b'@')
}

/// The line-level reading of a template: `key: <hex>` lines and `<image>:<hex>` references.
pub(super) fn find_in_lines(text: &str, c: &Component) -> Vec<Match> {
    let mut out = Vec::new();
    let key = c.yaml_key();
    let image = c.image.as_bytes();
    let mut offset = 0;
    let (mut key_n, mut img_n) = (0, 0);
    for (idx, raw) in text.split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let content = line.trim_start();
        let indent = line.len() - content.len();
        let body = content
            .strip_prefix("- ")
            .map(str::trim_start)
            .unwrap_or(content);
        let body_off = indent + (content.len() - body.len());
        // key: value
        let unquoted_key = body
            .strip_prefix(key.as_str())
            .or_else(|| body.strip_prefix(&format!("'{key}'")))
            .or_else(|| body.strip_prefix(&format!("\"{key}\"")));
        if let Some(rest) = unquoted_key.and_then(|r| r.strip_prefix(':')) {
            let after = rest.trim_start();
            let vstart = body_off + (body.len() - after.len());
            let (style, inner) = match after.chars().next() {
                Some(q @ ('\'' | '"')) => (
                    if q == '\'' {
                        Style::Single
                    } else {
                        Style::Double
                    },
                    after[1..]
                        .split(q)
                        .next()
                        .filter(|_| after[1..].contains(q)),
                ),
                _ => (Style::Plain, after.split([' ', '\t']).next()),
            };
            if let Some(v) = inner {
                let vs = vstart + usize::from(style != Style::Plain);
                let tail = &line[vs + v.len() + usize::from(style != Style::Plain)..];
                let tail = tail.trim_start();
                if is_commit_hex(v) && (tail.is_empty() || tail.starts_with('#')) {
                    out.push(Match {
                        kind: Kind::YamlKey,
                        line: idx + 1,
                        value: v.to_string(),
                        span: line_start + vs..line_start + vs + v.len(),
                        style,
                        disc: format!("{key}#{key_n}"),
                        context: Site::default(),
                        path: None,
                        key_path: None,
                    });
                    key_n += 1;
                }
            }
        }
        // image references
        let lb = line.as_bytes();
        let mut from = 0;
        while let Some(p) = memchr::memmem::find(&lb[from..], image) {
            let at = from + p;
            from = at + 1;
            let before_ok = at == 0 || !is_tag_char(lb[at - 1]);
            let colon = at + image.len();
            if !before_ok || lb.get(colon) != Some(&b':') {
                continue;
            }
            let hs = colon + 1;
            if let Some(he) = tag_end(lb, hs) {
                let tag = &line[hs..he];
                let style = match at.checked_sub(1).map(|i| lb[i]) {
                    Some(b'\'') => Style::Single,
                    Some(b'"') => Style::Double,
                    _ => Style::Plain,
                };
                out.push(Match {
                    kind: Kind::ImageRef,
                    line: idx + 1,
                    value: tag.to_string(),
                    span: line_start + hs..line_start + he,
                    style,
                    disc: format!("image#{img_n}"),
                    context: Site::default(),
                    path: None,
                    key_path: None,
                });
                img_n += 1;
            }
        }
    }
    out
}

/// The image's repository path without its registry host (`app-sre/qontract-reconcile` of
/// `quay.io/app-sre/qontract-reconcile`): a first segment with a `.` or `:`, or `localhost`, is
/// a host.
fn image_path(image: &str) -> &str {
    match image.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => image,
    }
}

/// The component's image references at `commit` in whole-line comments (a line whose first
/// character that is not a blank is `#`), from any registry host:
/// `# qontract_reconcile_image: 'gcr.io/app-sre/qontract-reconcile:22e638d'`, the mirror to
/// switch to when the registry is down. Only the tag changes when they move; a comment that
/// names the version otherwise (`# previously 22e638d`) is not one.
pub(super) fn find_in_comments(text: &str, c: &Component, commit: &str) -> Vec<Match> {
    let mut out = Vec::new();
    let path = format!("/{}:", image_path(&c.image));
    let needle = path.as_bytes();
    let mut offset = 0;
    let mut n = 0;
    for (idx, raw) in text.split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        if !line.trim_start().starts_with('#') {
            continue;
        }
        let lb = line.as_bytes();
        let mut from = 0;
        while let Some(p) = memchr::memmem::find(&lb[from..], needle) {
            let at = from + p;
            from = at + 1;
            // A registry host before it: `[A-Za-z0-9.-]+` (a port allowed) with a dot, or
            // `localhost`.
            let host_start = lb[..at]
                .iter()
                .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':')))
                .map_or(0, |i| i + 1);
            let host = &line[host_start..at];
            let host_name = host.split(':').next().unwrap_or_default();
            let host_ok = !host_name.is_empty()
                && (host_name.contains('.') || host_name == "localhost")
                && (host_start == 0 || !is_tag_char(lb[host_start - 1]));
            let hs = at + needle.len();
            let Some(he) = tag_end(lb, hs).filter(|_| host_ok) else {
                continue;
            };
            let tag = &line[hs..he];
            if crate::util::same_commit(tag, commit) {
                out.push(Match {
                    kind: Kind::CommentedImageRef,
                    line: idx + 1,
                    value: tag.to_string(),
                    span: line_start + hs..line_start + he,
                    style: Style::Plain,
                    disc: format!("comment#{n}"),
                    context: Site::default(),
                    path: None,
                    key_path: None,
                });
                n += 1;
            }
        }
    }
    out
}
