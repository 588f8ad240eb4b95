//! Digests follow their tag. When a tag moves, the digest pinned with it must become the new
//! tag's digest, or the file would name one image by tag and another by digest:
//!
//! - an image reference pinned by digest, `<image>:<tag>@sha256:<64 hex>`: the digest after the
//!   moved tag, for `<image>`;
//! - a digest next to a moved tag in the same mapping (`X_IMAGE_TAG` with `X_IMAGE_DIGEST`,
//!   `X_TAG` with `X_DIGEST`, or the `digest_key` that `.qr-promote.yaml` gives), for the image
//!   that `.qr-promote.yaml`'s `digests:` names for that tag key.
//!
//! [`digest_edits`] finds them and asks a resolver for each new digest (the registry's
//! `Docker-Content-Digest`, [`crate::registry::digest`]). When a digest cannot be known (no image
//! configured, offline, the registry down, the tag missing) it refuses, naming `path:line`, and
//! says how to go on: a tag is never written with a stale digest.

use std::collections::HashMap;
use std::ops::Range;

use crate::config::{default_digest_key, Config, CONFIG_FILE};
use crate::error::{Error, Result};
use crate::registry::{check_image_name, is_sha256_digest};
use crate::yaml::patch::{Op, Route};
use crate::yaml::{self, Node, NodeKind};

/// A tag that moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move<'a> {
    /// The id of its location (for `--skip-location`).
    pub id: &'a str,
    /// The bytes of the tag token in the file's text (as the location's span).
    pub span: Range<usize>,
    /// The token after the move.
    pub new: &'a str,
}

/// Where a digest that follows a tag stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestSite {
    /// After the tag of an image reference: `<image>:<tag>@<digest>`.
    ImageRef,
    /// The value of this key, next to the tag's key in the same mapping.
    Sibling { key: String },
}

/// The new digest of one pinned digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DigestEdit {
    /// The id of the tag's location.
    pub location: String,
    pub path: String,
    /// The line of the digest.
    pub line: usize,
    pub site: DigestSite,
    /// The image, `[host/]name`.
    pub image: String,
    /// The tag the new digest is of.
    pub tag: String,
    /// `sha256:<hex>` before and after.
    pub old: String,
    pub new: String,
    /// The bytes of `old` in the file's text.
    #[serde(skip)]
    pub span: Range<usize>,
}

impl DigestEdit {
    /// The patch operation that writes this edit into the parsed file (`None` when `span` is not
    /// inside a scalar of `docs`, e.g. a file read line by line: splice `span` then).
    pub fn op(&self, text: &str, docs: &[Node]) -> Option<Op> {
        let (route, node) = Route::to_scalar(docs, self.span.start)?;
        let value = yaml::value_span(text, node)?;
        let at =
            self.span.start.checked_sub(value.start)?..self.span.end.checked_sub(value.start)?;
        (at.end <= value.len()).then(|| Op::Rewrite {
            route,
            at,
            with: self.new.clone(),
        })
    }

    /// The splice that writes this edit.
    pub fn splice(&self) -> (Range<usize>, String) {
        (self.span.clone(), self.new.clone())
    }
}

/// Where new digests come from: the checkout's configuration (which image a sibling digest is
/// of) and a resolver that asks the registry.
pub struct DigestSource<'a> {
    pub config: &'a Config,
    pub resolve: &'a (dyn Fn(&str, &str) -> Result<String> + Sync),
}

/// The resolver when no registry may be asked: every digest is refused with why.
pub fn no_registry(why: &'static str) -> impl Fn(&str, &str) -> Result<String> + Sync {
    move |_: &str, _: &str| Err(Error::refused(why.to_string()))
}

/// A digest found next to a tag, before its new value is known.
struct Found {
    line: usize,
    site: DigestSite,
    image: std::result::Result<String, String>,
    old: String,
    span: Range<usize>,
}

/// The digests that must follow the `moves` of the file `path` (its `text`, parsed as `docs`;
/// no documents for a file read line by line), with their new values from `resolve(image,
/// new tag)`, which answers `sha256:<64 hex>` or an error saying why it cannot.
///
/// A digest is asked once per image and tag. The error, when one digest cannot be known or a
/// digest is not understood, names its `path:line` and says how to go on.
pub fn digest_edits(
    path: &str,
    text: &str,
    docs: &[Node],
    moves: &[Move<'_>],
    config: &Config,
    resolve: &mut dyn FnMut(&str, &str) -> Result<String>,
) -> Result<Vec<DigestEdit>> {
    let mut asked: HashMap<(String, String), String> = HashMap::new();
    let mut out: Vec<DigestEdit> = Vec::new();
    for mv in moves {
        let found = [
            after_tag(path, text, docs, mv)?,
            sibling(path, text, docs, mv, config)?,
        ];
        for f in found.into_iter().flatten() {
            let at = format!("{path}:{}", f.line);
            let image = f.image.map_err(|why| {
                let configure = match f.site {
                    DigestSite::ImageRef => String::new(),
                    DigestSite::Sibling { .. } => format!(
                        "name the image in {CONFIG_FILE} (digests: - {{tag_key: …, image: …}}), or "
                    ),
                };
                Error::refused(format!("{at}: {why}; nothing written")).with_hint(format!(
                    "{configure}leave this tag alone with --skip-location {}",
                    mv.id
                ))
            })?;
            let key = (image.clone(), mv.new.to_string());
            let new = match asked.get(&key) {
                Some(d) => d.clone(),
                None => {
                    let d = resolve(&image, mv.new).map_err(|e| {
                        Error::refused(format!(
                            "{at}: the digest of {image}:{} cannot be known ({e}); a tag is not \
                             written with a stale digest; nothing written",
                            mv.new
                        ))
                        .with_hint(format!(
                            "{}leave this tag alone with --skip-location {}",
                            e.hint().map(|h| format!("{h}; or ")).unwrap_or_default(),
                            mv.id
                        ))
                    })?;
                    if !is_sha256_digest(&d) {
                        return Err(Error::external(format!(
                            "{at}: the digest of {image}:{} is {d:?}, not sha256:<64 hex>; \
                             nothing written",
                            mv.new
                        )));
                    }
                    asked.insert(key, d.clone());
                    d
                }
            };
            if let Some(same) = out.iter().find(|e| e.span == f.span) {
                if same.new != new {
                    return Err(Error::refused(format!(
                        "{at}: the digest follows two tags that name different images \
                         ({}:{} and {image}:{}); nothing written",
                        same.image, same.tag, mv.new
                    )));
                }
                continue;
            }
            out.push(DigestEdit {
                location: mv.id.to_string(),
                path: path.to_string(),
                line: f.line,
                site: f.site,
                image,
                tag: mv.new.to_string(),
                old: f.old,
                new,
                span: f.span,
            });
        }
    }
    out.sort_by_key(|e| e.span.start);
    Ok(out)
}

/// The 1-based line of byte `at`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()
        .get(..at)
        .map_or(1, |b| b.iter().filter(|c| **c == b'\n').count() + 1)
}

/// The byte length of a digest `sha256:<64 hex>` (or of any `<algorithm>:<hex>`) at the start
/// of `s`; `None` when `s` does not start with something shaped like a digest.
fn digest_len(s: &str) -> Option<usize> {
    let alg = s.find(':').filter(|&i| {
        i > 0
            && s[..i]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+._-".contains(&b))
    })?;
    let hex = s[alg + 1..]
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(s.len() - alg - 1);
    (hex > 0).then_some(alg + 1 + hex)
}

/// An image reference's digest right after the moved tag: `…:<tag>@sha256:<hex>`.
fn after_tag(path: &str, text: &str, docs: &[Node], mv: &Move<'_>) -> Result<Option<Found>> {
    let Some(rest) = text.get(mv.span.end..).and_then(|r| r.strip_prefix('@')) else {
        return Ok(None);
    };
    let start = mv.span.end + 1;
    let line = line_of(text, start);
    let len = digest_len(rest).unwrap_or(0);
    let old = &rest[..len];
    if !is_sha256_digest(old) {
        let shown: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && !"'\",]}".contains(*c))
            .take(80)
            .collect();
        return Err(Error::refused(format!(
            "{path}:{line}: the tag is pinned by `@{shown}`, not by a sha256:<64 hex> digest; \
             a tag is not written with a stale digest; nothing written"
        ))
        .with_hint(format!(
            "write the digest as @sha256:<64 hex>, or leave this tag alone with \
             --skip-location {}",
            mv.id
        )));
    }
    Ok(Some(Found {
        line,
        site: DigestSite::ImageRef,
        image: image_before(text, docs, mv.span.start),
        old: old.to_string(),
        span: start..start + len,
    }))
}

/// The image of a reference whose tag starts at byte `tag_start`: the scalar's text before
/// `:<tag>` (in a file read line by line, the characters of an image name before it).
fn image_before(
    text: &str,
    docs: &[Node],
    tag_start: usize,
) -> std::result::Result<String, String> {
    let from = Route::to_scalar(docs, tag_start)
        .and_then(|(_, n)| yaml::value_span(text, n))
        .filter(|v| v.start <= tag_start)
        .map(|v| v.start)
        .unwrap_or_else(|| {
            let before = text.get(..tag_start).unwrap_or("");
            before
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || "./:_-".contains(c)))
                .map_or(0, |i| i + 1)
        });
    let image = text
        .get(from..tag_start)
        .and_then(|s| s.strip_suffix(':'))
        .unwrap_or("");
    check_image_name(image)
        .map(|()| image.to_string())
        .map_err(|_| {
            format!("the image of the pinned digest cannot be told: {image:?} is not an image name")
        })
}

/// The mapping and pair whose value is the scalar holding byte `at`.
fn pair_of(docs: &[Node], at: usize) -> Option<(&Node, usize)> {
    fn walk(n: &Node, at: usize) -> Option<(&Node, usize)> {
        if !(n.span.start <= at && at <= n.span.end) {
            return None;
        }
        match &n.kind {
            NodeKind::Map(pairs) => pairs.iter().enumerate().find_map(|(i, (k, v))| {
                if matches!(v.kind, NodeKind::Scalar(..)) && v.span.start <= at && at < v.span.end {
                    k.as_str().map(|_| (n, i))
                } else {
                    walk(v, at).or_else(|| walk(k, at))
                }
            }),
            NodeKind::Seq(items) => items.iter().find_map(|i| walk(i, at)),
            _ => None,
        }
    }
    docs.iter().find_map(|d| walk(d, at))
}

/// The digest next to the moved tag in its mapping.
fn sibling(
    path: &str,
    text: &str,
    docs: &[Node],
    mv: &Move<'_>,
    config: &Config,
) -> Result<Option<Found>> {
    let Some((map, i)) = pair_of(docs, mv.span.start) else {
        return Ok(None);
    };
    let Some(tag_key) = map.pairs().get(i).and_then(|(k, _)| k.as_str()) else {
        return Ok(None);
    };
    let rule = config.digest_rule(path, tag_key);
    let Some(digest_key) = rule
        .map(|r| r.digest_key.clone())
        .or_else(|| default_digest_key(tag_key))
    else {
        return Ok(None);
    };
    let Some((key_node, node)) = map.entry(&digest_key) else {
        return Ok(None);
    };
    let line = key_node.line;
    let refuse = |why: String| {
        Error::refused(format!(
            "{path}:{line}: {digest_key} {why}; a tag is not written with a stale digest; \
             nothing written"
        ))
        .with_hint(format!(
            "write {digest_key} as sha256:<64 hex>, or leave {tag_key} alone with \
             --skip-location {}",
            mv.id
        ))
    };
    let Some(value) = node.as_str() else {
        return Err(refuse("is not a scalar".into()));
    };
    let digest = value.strip_prefix('@').unwrap_or(value);
    let looks_like_digest = digest.contains("sha256:") || digest_len(digest) == Some(digest.len());
    if !looks_like_digest {
        // Empty, a template expression, `latest`: nothing pinned that the move makes stale.
        return Ok(None);
    }
    let Some(span) = yaml::value_span(text, node) else {
        return Err(refuse(
            "is written in a way that cannot be edited in place".into(),
        ));
    };
    if !is_sha256_digest(digest) {
        return Err(refuse(format!(
            "is {value:?}, not a sha256:<64 hex> digest"
        )));
    }
    let span = span.end - digest.len()..span.end;
    let image = match rule {
        Some(r) => Ok(r.image.clone()),
        None => Err(format!(
            "{digest_key} is the digest of the image that {tag_key} tags, and {CONFIG_FILE} does \
             not name that image"
        )),
    };
    Ok(Some(Found {
        line,
        site: DigestSite::Sibling { key: digest_key },
        image,
        old: digest.to_string(),
        span,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::patch;

    const OLD_TAG: &str = "abc1234";
    const NEW_TAG: &str = "def5678";

    fn hex(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    fn old_d() -> String {
        format!("sha256:{}", hex('a'))
    }

    fn new_d() -> String {
        format!("sha256:{}", hex('b'))
    }

    /// The moves of every occurrence of `OLD_TAG`, each with id `id<n>`.
    fn moves_of(text: &str) -> (Vec<String>, Vec<Range<usize>>) {
        let spans: Vec<Range<usize>> = text
            .match_indices(OLD_TAG)
            .map(|(i, s)| i..i + s.len())
            .collect();
        ((0..spans.len()).map(|i| format!("id{i}")).collect(), spans)
    }

    /// The digest edits of `text` with every `OLD_TAG` moved to `NEW_TAG`, a registry that knows
    /// `NEW_TAG` of every image and counts its questions, and the file after the moves and edits
    /// (written through the patch engine, as the plan writes them).
    fn run(text: &str, config: &str) -> Result<(Vec<DigestEdit>, String, Vec<String>)> {
        let config = Config::parse(config).unwrap();
        let docs = yaml::parse(text).unwrap();
        let (ids, spans) = moves_of(text);
        let moves: Vec<Move> = ids
            .iter()
            .zip(&spans)
            .map(|(id, span)| Move {
                id,
                span: span.clone(),
                new: NEW_TAG,
            })
            .collect();
        let mut asked = Vec::new();
        let mut resolve = |image: &str, tag: &str| {
            asked.push(format!("{image}:{tag}"));
            if tag == NEW_TAG {
                Ok(new_d())
            } else {
                Err(Error::refused(format!("{image}:{tag} not found")))
            }
        };
        let edits = digest_edits("data/x.yml", text, &docs, &moves, &config, &mut resolve)?;
        // The tag edits, then the digest edits, as operations of one patch.
        let mut ops: Vec<Op> = spans
            .iter()
            .map(|s| {
                let (route, node) = Route::to_scalar(&docs, s.start).unwrap();
                let v = yaml::value_span(text, node).unwrap();
                Op::Rewrite {
                    route,
                    at: s.start - v.start..s.end - v.start,
                    with: NEW_TAG.into(),
                }
            })
            .collect();
        ops.extend(edits.iter().map(|e| e.op(text, &docs).unwrap()));
        let patched = patch::apply(text, &docs, &ops).unwrap();
        // The same bytes as splicing the spans.
        let mut splices: Vec<(Range<usize>, String)> = spans
            .iter()
            .map(|s| (s.clone(), NEW_TAG.to_string()))
            .collect();
        splices.extend(edits.iter().map(DigestEdit::splice));
        let spliced = patch::splice(text.as_bytes(), &splices).unwrap();
        assert_eq!(String::from_utf8(spliced).unwrap(), patched.text);
        Ok((edits, patched.text, asked))
    }

    const NO_CONFIG: &str = "version: 1\n";
    const OPA: &str =
        "version: 1\ndigests:\n- {tag_key: OPA_IMAGE_TAG, image: quay.io/app-sre/opa}\n";

    #[test]
    fn an_image_reference_gets_the_new_tags_digest_block_and_flow_plain_and_quoted() {
        let o = old_d();
        let text = format!(
            "# deploys opa\nimage: quay.io/app-sre/opa:abc1234@{o}  # pinned\n\
             images: [\"quay.io/app-sre/opa:abc1234@{o}\", 'quay.io/app-sre/qr:abc1234@{o}']\n\
             other: quay.io/app-sre/opa:0000000@{o}\n"
        );
        let (edits, out, asked) = run(&text, NO_CONFIG).unwrap();
        let n = new_d();
        assert_eq!(
            out,
            format!(
                "# deploys opa\nimage: quay.io/app-sre/opa:def5678@{n}  # pinned\n\
                 images: [\"quay.io/app-sre/opa:def5678@{n}\", 'quay.io/app-sre/qr:def5678@{n}']\n\
                 other: quay.io/app-sre/opa:0000000@{o}\n"
            )
        );
        assert_eq!(
            edits
                .iter()
                .map(|e| (
                    e.line,
                    e.image.as_str(),
                    e.location.as_str(),
                    e.site.clone()
                ))
                .collect::<Vec<_>>(),
            [
                (2, "quay.io/app-sre/opa", "id0", DigestSite::ImageRef),
                (3, "quay.io/app-sre/opa", "id1", DigestSite::ImageRef),
                (3, "quay.io/app-sre/qr", "id2", DigestSite::ImageRef),
            ]
        );
        assert!(edits
            .iter()
            .all(|e| e.old == o && e.new == n && e.tag == NEW_TAG));
        // One question per image and tag.
        assert_eq!(
            asked,
            ["quay.io/app-sre/opa:def5678", "quay.io/app-sre/qr:def5678"]
        );
    }

    #[test]
    fn a_sibling_digest_of_a_configured_tag_key_follows_it() {
        let o = old_d();
        let n = new_d();
        let text = format!(
            "resourceTemplates:\n- name: qontract-api\n  parameters:\n    OPA_IMAGE_TAG: abc1234\n    \
             # the digest of that tag\n    OPA_IMAGE_DIGEST: {o}\n    IMAGE_TAG: abc1234\n"
        );
        let (edits, out, asked) = run(&text, OPA).unwrap();
        assert_eq!(
            out,
            format!(
                "resourceTemplates:\n- name: qontract-api\n  parameters:\n    OPA_IMAGE_TAG: def5678\n    \
                 # the digest of that tag\n    OPA_IMAGE_DIGEST: {n}\n    IMAGE_TAG: def5678\n"
            )
        );
        assert_eq!(edits.len(), 1);
        assert_eq!(
            (edits[0].line, &edits[0].site, edits[0].location.as_str()),
            (
                6,
                &DigestSite::Sibling {
                    key: "OPA_IMAGE_DIGEST".into()
                },
                "id0"
            )
        );
        assert_eq!(asked, ["quay.io/app-sre/opa:def5678"]);
    }

    #[test]
    fn a_sibling_digest_in_flow_quoted_or_with_a_configured_key_follows_it() {
        let o = old_d();
        let n = new_d();
        let text = format!(
            "parameters: {{OPA_IMAGE_TAG: 'abc1234', OPA_IMAGE_DIGEST: \"{o}\"}}\n\
             other:\n  QR_TAG: \"abc1234\"\n  QR_SHA: '@{o}'\n"
        );
        let config = format!(
            "{OPA}- {{tag_key: QR_TAG, digest_key: QR_SHA, image: quay.io/app-sre/qontract-reconcile}}\n"
        );
        let (edits, out, asked) = run(&text, &config).unwrap();
        assert_eq!(
            out,
            format!(
                "parameters: {{OPA_IMAGE_TAG: 'def5678', OPA_IMAGE_DIGEST: \"{n}\"}}\n\
                 other:\n  QR_TAG: \"def5678\"\n  QR_SHA: '@{n}'\n"
            )
        );
        assert_eq!(edits.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 4]);
        assert_eq!(
            asked,
            [
                "quay.io/app-sre/opa:def5678",
                "quay.io/app-sre/qontract-reconcile:def5678"
            ]
        );
    }

    #[test]
    fn a_sibling_that_pins_nothing_is_left_alone() {
        let text = "a:\n  X_IMAGE_TAG: abc1234\n  X_IMAGE_DIGEST: ${X_DIGEST}\nb:\n  X_TAG: abc1234\n  X_DIGEST:\nc: {Y_TAG: abc1234, Y_DIGEST: ''}\nd:\n  Z_TAG: abc1234\n";
        let (edits, out, asked) = run(text, NO_CONFIG).unwrap();
        assert_eq!(edits, []);
        assert!(asked.is_empty());
        assert_eq!(out, text.replace(OLD_TAG, NEW_TAG));
    }

    #[test]
    fn an_unconfigured_sibling_digest_is_refused_naming_its_line() {
        let o = old_d();
        let text = format!("parameters:\n  X_IMAGE_TAG: abc1234\n  X_IMAGE_DIGEST: {o}\n");
        let e = run(&text, NO_CONFIG).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Refused);
        assert_eq!(
            e.to_string(),
            "data/x.yml:3: X_IMAGE_DIGEST is the digest of the image that X_IMAGE_TAG tags, and \
             .qr-promote.yaml does not name that image; nothing written"
        );
        assert_eq!(
            e.hint(),
            Some(
                "name the image in .qr-promote.yaml (digests: - {tag_key: …, image: …}), or \
                 leave this tag alone with --skip-location id0"
            )
        );
        // The rule of another file does not apply.
        let scoped = "version: 1\ndigests:\n- {tag_key: X_IMAGE_TAG, image: quay.io/a/x, path: data/y.yml}\n";
        assert!(run(&text, scoped).is_err());
    }

    #[test]
    fn a_digest_that_cannot_be_known_is_refused_naming_its_line() {
        let o = old_d();
        let text = format!("a: 1\nimage: quay.io/app-sre/opa:abc1234@{o}\n");
        let config = Config::default();
        let docs = yaml::parse(&text).unwrap();
        let span = text.find(OLD_TAG).unwrap();
        let moves = [Move {
            id: "1a2b3c4d",
            span: span..span + 7,
            new: NEW_TAG,
        }];
        let mut offline = |_: &str, _: &str| {
            Err(Error::input("offline: the registry is not asked").with_hint("drop --offline"))
        };
        let e =
            digest_edits("data/x.yml", &text, &docs, &moves, &config, &mut offline).unwrap_err();
        assert_eq!(
            e.to_string(),
            "data/x.yml:2: the digest of quay.io/app-sre/opa:def5678 cannot be known (offline: \
             the registry is not asked); a tag is not written with a stale digest; nothing written"
        );
        assert_eq!(
            e.hint(),
            Some("drop --offline; or leave this tag alone with --skip-location 1a2b3c4d")
        );
        // A resolver that answers something else than a sha256 digest.
        let mut odd = |_: &str, _: &str| Ok("sha512:abcd".to_string());
        let e = digest_edits("data/x.yml", &text, &docs, &moves, &config, &mut odd).unwrap_err();
        assert_eq!(
            e.to_string(),
            "data/x.yml:2: the digest of quay.io/app-sre/opa:def5678 is \"sha512:abcd\", not \
             sha256:<64 hex>; nothing written"
        );
    }

    #[test]
    fn a_digest_not_understood_is_refused() {
        let short = "version: 1\ndigests:\n- {tag_key: X_TAG, image: quay.io/a/x}\n";
        for (text, config, msg) in [
            (
                "image: quay.io/a/x:abc1234@sha512:0123\n".to_string(),
                NO_CONFIG,
                "data/x.yml:1: the tag is pinned by `@sha512:0123`, not by a sha256:<64 hex> \
                 digest; a tag is not written with a stale digest; nothing written",
            ),
            (
                "image: 'quay.io/a/x:abc1234@sha256:0123'\n".to_string(),
                NO_CONFIG,
                "data/x.yml:1: the tag is pinned by `@sha256:0123`, not by a sha256:<64 hex> \
                 digest; a tag is not written with a stale digest; nothing written",
            ),
            (
                "p:\n  X_TAG: abc1234\n  X_DIGEST: sha256:0123\n".to_string(),
                short,
                "data/x.yml:3: X_DIGEST is \"sha256:0123\", not a sha256:<64 hex> digest; a tag \
                 is not written with a stale digest; nothing written",
            ),
            (
                "p:\n  X_TAG: abc1234\n  X_DIGEST: [a]\n".to_string(),
                short,
                "data/x.yml:3: X_DIGEST is not a scalar; a tag is not written with a stale \
                 digest; nothing written",
            ),
            (
                format!("p:\n  X_TAG: abc1234\n  X_DIGEST: |\n    {}\n", old_d()),
                short,
                "data/x.yml:3: X_DIGEST is written in a way that cannot be edited in place; a \
                 tag is not written with a stale digest; nothing written",
            ),
            (
                format!("image: ${{IMAGE}}:abc1234@{}\n", old_d()),
                NO_CONFIG,
                "data/x.yml:1: the image of the pinned digest cannot be told: \"${IMAGE}\" is not \
                 an image name; nothing written",
            ),
        ] {
            let e = run(&text, config).unwrap_err();
            assert!(
                e.to_string().starts_with(msg),
                "{text:?}:\n got  {e}\n want {msg}"
            );
            assert!(
                e.hint().is_some_and(|h| h.contains("--skip-location id0")),
                "{e:?}"
            );
        }
    }

    #[test]
    fn a_file_read_line_by_line_has_its_image_reference_digests_followed() {
        let o = old_d();
        let text =
            format!("{{% if x %}}\n  image: \"quay.io/app-sre/opa:abc1234@{o}\"\n{{% endif %}}\n");
        let span = text.find(OLD_TAG).unwrap();
        let moves = [Move {
            id: "id0",
            span: span..span + 7,
            new: NEW_TAG,
        }];
        let mut resolve = |_: &str, _: &str| Ok(new_d());
        let edits = digest_edits(
            "resources/x.yml.j2",
            &text,
            &[],
            &moves,
            &Config::default(),
            &mut resolve,
        )
        .unwrap();
        assert_eq!(edits.len(), 1);
        assert_eq!(
            (edits[0].line, edits[0].image.as_str()),
            (2, "quay.io/app-sre/opa")
        );
        assert_eq!(edits[0].op(&text, &[]), None);
        let mut splices = vec![(span..span + 7, NEW_TAG.to_string())];
        splices.push(edits[0].splice());
        let out = patch::splice(text.as_bytes(), &splices).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "{{% if x %}}\n  image: \"quay.io/app-sre/opa:def5678@{}\"\n{{% endif %}}\n",
                new_d()
            )
        );
    }

    #[test]
    fn no_digest_no_question() {
        let text = "a: abc1234\nimage: quay.io/a/x:abc1234\nb:\n  X_IMAGE_TAG: abc1234\n";
        let (edits, out, asked) = run(text, OPA).unwrap();
        assert_eq!(edits, []);
        assert!(asked.is_empty());
        assert_eq!(out, text.replace(OLD_TAG, NEW_TAG));
    }
}
