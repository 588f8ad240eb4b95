//! Span edits: replace only the bytes of version tokens, keep a tag a string, and parse the result
//! again to confirm it says what it should.

use std::collections::HashMap;
use std::ops::Range;

use super::digest::{self, DigestEdit, DigestSource, Move};
use crate::checkout::{components_from_env, parse_env, Component, ENV_FILE};
use crate::discovery::locations::{self, Kind, Location, Reading, Refs};
use crate::error::{Error, Result};
use crate::yaml::patch::{self, Op, Patched, Route};
use crate::yaml::{self, quote, Style};

/// One replacement of a version token.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Edit {
    /// The location's id.
    pub location: String,
    pub kind: Kind,
    pub path: String,
    pub line: usize,
    /// The token before.
    pub old: String,
    /// The token after.
    pub new: String,
    /// Quotes added so that the tag still reads as a string (`'` or `"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quoted: Option<char>,
    /// A pinned copy's key path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    #[serde(skip)]
    pub span: Range<usize>,
}

/// The token a location gets: as many characters of `to` as it holds now.
pub fn new_token(old: &str, to: &str) -> String {
    let mut t = crate::util::head(to, old.len()).to_string();
    if old.bytes().any(|b| b.is_ascii_uppercase()) && !old.bytes().any(|b| b.is_ascii_lowercase()) {
        t.make_ascii_uppercase();
    }
    t
}

/// The quote a file uses most for its quoted scalars (single quotes when it uses none).
pub fn preferred_quote(text: &str, reading: &Reading) -> char {
    let (mut single, mut double) = (0usize, 0usize);
    match reading {
        Reading::Yaml(docs) => {
            for s in yaml::scalars(docs) {
                match s.node.style() {
                    Some(Style::Single) => single += 1,
                    Some(Style::Double) => double += 1,
                    _ => {}
                }
            }
        }
        Reading::Lines => {
            for line in text.lines() {
                let v = line
                    .split_once(": ")
                    .map(|(_, v)| v.trim_start())
                    .unwrap_or("");
                if v.starts_with('\'') {
                    single += 1;
                } else if v.starts_with('"') {
                    double += 1;
                }
            }
        }
    }
    if double > single {
        '"'
    } else {
        '\''
    }
}

/// [`edit_file_with`] where no digest may be asked for (a digest that must follow a tag is
/// refused).
pub fn edit_file(
    path: &str,
    bytes: &[u8],
    locs: &[&Location],
    to: &str,
    component: &Component,
    refs: &Refs,
) -> Result<(Vec<u8>, Vec<Edit>)> {
    let config = crate::config::Config::default();
    let resolve = super::digest::no_registry("no registry is asked here");
    let source = DigestSource {
        config: &config,
        resolve: &resolve,
    };
    edit_file_with(path, bytes, locs, to, component, refs, &source).map(|(b, e, _)| (b, e))
}

/// Computes the edits of one file (and of the digests that follow its tags) and its new bytes,
/// and confirms by parsing again that every edited location now holds its new value as a
/// string and nothing else changed.
pub fn edit_file_with(
    path: &str,
    bytes: &[u8],
    locs: &[&Location],
    to: &str,
    component: &Component,
    refs: &Refs,
    digests: &DigestSource<'_>,
) -> Result<(Vec<u8>, Vec<Edit>, Vec<DigestEdit>)> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| Error::input(format!("{path}: not valid UTF-8")))?;
    let edit = |l: &Location, quoted: Option<char>| Edit {
        location: l.id.clone(),
        kind: l.kind,
        key_path: l.key_path.clone(),
        path: path.to_string(),
        line: l.line,
        old: l.value.clone(),
        new: new_token(&l.value, to),
        quoted,
        span: l.span.clone(),
    };
    if path == ENV_FILE {
        let edits: Vec<Edit> = locs.iter().map(|l| edit(l, None)).collect();
        let new = splice(bytes, &spans(&edits))?;
        verify_env(path, text, &new, component, &edits)?;
        return Ok((new, edits, Vec::new()));
    }
    let reading = locations::read_file(path, text).map_err(|p| Error::input(p.to_string()))?;
    // A tag inside an image reference is edited where it is written; a reference written with
    // escapes or over several lines has no such place.
    if let Some(l) = locs
        .iter()
        .find(|l| l.kind == Kind::ImageRef && text.get(l.span.clone()) != Some(l.value.as_str()))
    {
        let written = text.get(l.span.clone()).unwrap_or_default();
        let form = if written.contains('\\') {
            "with escapes"
        } else if written.contains('\n') {
            "over several lines"
        } else {
            "in a form other than its value"
        };
        return Err(Error::refused(format!(
            "{path}:{}: the image reference with tag {} is written {form}, where its tag cannot be moved alone; nothing written",
            l.line, l.value
        ))
        .with_hint(format!(
            "write it on one line without escapes, or leave it alone with --skip-location {}",
            l.id
        )));
    }
    let q = preferred_quote(text, &reading);
    let edits: Vec<Edit> = locs
        .iter()
        .map(|l| {
            let needs_quotes = l.style == Style::Plain
                && l.kind != Kind::ImageRef
                && l.kind != Kind::CommentedImageRef
                && !quote::plain_ok(&new_token(&l.value, to));
            edit(l, needs_quotes.then_some(q))
        })
        .collect();
    let moves: Vec<Move<'_>> = edits
        .iter()
        .map(|e| Move {
            id: &e.location,
            span: e.span.clone(),
            new: &e.new,
        })
        .collect();
    let no_docs = Vec::new();
    let docs_of = match &reading {
        Reading::Yaml(docs) => docs,
        Reading::Lines => &no_docs,
    };
    let digest_edits =
        digest::digest_edits(path, text, docs_of, &moves, digests.config, &mut |i, t| {
            (digests.resolve)(i, t)
        })?;
    let (new, new_reading) = match &reading {
        Reading::Yaml(docs) => {
            let mut ops = edits
                .iter()
                .map(|e| op(text, docs, e, q))
                .collect::<Option<Vec<Op>>>()
                .ok_or_else(|| not_as_intended(path, "a location is not a scalar"))?;
            ops.extend(
                digest_edits
                    .iter()
                    .map(|d| d.op(text, docs))
                    .collect::<Option<Vec<Op>>>()
                    .ok_or_else(|| not_as_intended(path, "a digest is not a scalar"))?,
            );
            let Patched { text, docs } = patch::apply(text, docs, &ops)
                .map_err(|e| not_as_intended(path, &e.to_string()))?;
            (text.into_bytes(), Reading::Yaml(docs))
        }
        Reading::Lines => {
            let mut all = spans(&edits);
            all.extend(digest_edits.iter().map(DigestEdit::splice));
            all.sort_by_key(|(r, _)| r.start);
            let new = splice(bytes, &all)?;
            let new_text =
                std::str::from_utf8(&new).map_err(|_| not_as_intended(path, "not UTF-8"))?;
            let r = locations::read_file(path, new_text)
                .map_err(|p| not_as_intended(path, &p.message))?;
            (new, r)
        }
    };
    let changed: Vec<usize> = edits
        .iter()
        .map(|e| e.span.start)
        .chain(digest_edits.iter().map(|d| d.span.start))
        .collect();
    verify_yaml(
        path,
        text,
        &reading,
        &new,
        &new_reading,
        component,
        locs,
        &edits,
        &changed,
        refs,
    )?;
    Ok((new, edits, digest_edits))
}

/// Replaces byte ranges (which must not overlap) with new bytes.
pub fn splice(bytes: &[u8], edits: &[(Range<usize>, String)]) -> Result<Vec<u8>> {
    patch::splice(bytes, edits).map_err(|e| Error::input(e.to_string()))
}

/// The operation of one edit of a parsed file: the location's scalar gets the new token (quoted
/// when it would read otherwise), or, for an image reference, its tag.
fn op(text: &str, docs: &[yaml::Node], e: &Edit, q: char) -> Option<Op> {
    if e.kind == Kind::CommentedImageRef {
        return Some(Op::InComment {
            at: e.span.clone(),
            with: e.new.clone(),
        });
    }
    let (route, node) = Route::to_scalar(docs, e.span.start)?;
    if e.kind == Kind::ImageRef {
        let value = yaml::value_span(text, node)?;
        let at = e.span.start.checked_sub(value.start)?..e.span.end.checked_sub(value.start)?;
        return Some(Op::Rewrite {
            route,
            at,
            with: e.new.clone(),
        });
    }
    Some(Op::SetScalar {
        route,
        value: e.new.clone(),
        quote: q,
    })
}

fn not_as_intended(path: &str, why: &str) -> Error {
    Error::input(format!(
        "{path}: the edited file would not read as intended ({why}); nothing written"
    ))
}

/// The replacement of each edit: the new token, in its quotes when it gained some.
fn spans(edits: &[Edit]) -> Vec<(Range<usize>, String)> {
    edits
        .iter()
        .map(|e| {
            let s = match e.quoted {
                Some(q) => format!("{q}{}{q}", e.new),
                None => e.new.clone(),
            };
            (e.span.clone(), s)
        })
        .collect()
}

fn verify_env(path: &str, old: &str, new: &[u8], c: &Component, edits: &[Edit]) -> Result<()> {
    let new_text =
        std::str::from_utf8(new).map_err(|_| Error::input(format!("{path}: edit broke UTF-8")))?;
    let before = parse_env(old);
    let after = parse_env(new_text);
    let same_shape = before.len() == after.len()
        && before
            .iter()
            .zip(&after)
            .all(|(a, b)| a.name == b.name && (a.value == b.value || a.name == c.tag_var()));
    let comp = components_from_env(&after)
        .into_iter()
        .find(|x| x.prefix == c.prefix);
    let ok = same_shape && comp.is_some_and(|x| edits.iter().all(|e| x.tag == e.new));
    if ok {
        Ok(())
    } else {
        Err(Error::input(format!(
            "{path}: the edited file no longer reads as intended; nothing written"
        )))
    }
}

#[allow(clippy::too_many_arguments)]
fn verify_yaml(
    path: &str,
    old_text: &str,
    old_reading: &Reading,
    new: &[u8],
    new_reading: &Reading,
    c: &Component,
    locs: &[&Location],
    edits: &[Edit],
    changed: &[usize],
    refs: &Refs,
) -> Result<()> {
    let fail = |why: String| Err(not_as_intended(path, &why));
    let Ok(new_text) = std::str::from_utf8(new) else {
        return fail("not UTF-8".into());
    };
    match (old_reading, new_reading) {
        (Reading::Yaml(a), Reading::Yaml(b)) => {
            if !yaml::same_but(a, b, changed) {
                return fail("the structure changed".into());
            }
        }
        (Reading::Lines, Reading::Lines) => {
            if old_text.lines().count() != new_text.lines().count() {
                return fail("the line count changed".into());
            }
        }
        _ => return fail("it no longer parses the same way".into()),
    }
    // The locations of the four kinds and the pinned copies of the current commit, before and
    // after; after, a moved copy is a copy of the new commit.
    let copies_of = crate::util::is_commit_hex(&c.tag).then_some(c.tag.as_str());
    let before = locations::find_in_text(path, old_text, old_reading, c, refs, copies_of);
    let mut after: HashMap<String, Location> =
        locations::find_in_text(path, new_text, new_reading, c, refs, copies_of)
            .into_iter()
            .map(|l| (l.id.clone(), l))
            .collect();
    // Copies and commented references are found by the commit they hold.
    let by_commit = |k: Kind| k == Kind::PinnedCopy || k == Kind::CommentedImageRef;
    if let Some(moved) = edits.iter().find(|e| by_commit(e.kind)) {
        after.extend(
            locations::find_in_text(path, new_text, new_reading, c, refs, Some(&moved.new))
                .into_iter()
                .filter(|l| by_commit(l.kind))
                .map(|l| (l.id.clone(), l)),
        );
    }
    let before_ids: std::collections::HashSet<&str> =
        before.iter().map(|l| l.id.as_str()).collect();
    after.retain(|id, l| !by_commit(l.kind) || before_ids.contains(id.as_str()));
    if after.len() != before.len() {
        return fail(format!(
            "{} locations before, {} after",
            before.len(),
            after.len()
        ));
    }
    for l in &before {
        let Some(n) = after.get(&l.id) else {
            return fail(format!("location {} is gone", l.id));
        };
        let expect = edits
            .iter()
            .find(|e| e.location == l.id)
            .map_or(l.value.as_str(), |e| e.new.as_str());
        // An edit that wrote a block scalar or a quoted value over several lines on one line
        // moves the lines after it up.
        let shift: usize = edits
            .iter()
            .filter(|e| e.span.end <= l.span.start)
            .map(|e| {
                old_text
                    .get(e.span.clone())
                    .map_or(0, |t| t.matches('\n').count())
            })
            .sum();
        if n.value != expect || n.kind != l.kind || n.line + shift != l.line {
            return fail(format!(
                "line {} reads {:?}, expected {:?}",
                l.line, n.value, expect
            ));
        }
        let edited = locs.iter().any(|x| x.id == l.id);
        if edited
            && n.style == Style::Plain
            && n.kind != Kind::ImageRef
            && n.kind != Kind::CommentedImageRef
            && yaml::plain_is_not_string(&n.value)
        {
            return fail(format!(
                "line {}: {} would read as a number",
                l.line, n.value
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_only_the_spans() {
        let out = splice(b"a: 1234567\r\nb: x", &[(3..10, "abcdef0".into())]).unwrap();
        assert_eq!(out, b"a: abcdef0\r\nb: x");
    }

    #[test]
    fn tokens_keep_their_length() {
        let to = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(new_token("fffffff", to), "0123456");
        assert_eq!(new_token("f".repeat(40).as_str(), to), to);
    }
}
