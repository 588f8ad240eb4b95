//! YAML with byte positions: a span tree from the parser (aliases to anchors of other files left
//! unresolved), the scalars and their keys, and the YAML 1.2 core-schema checks on plain scalars.

use std::ops::Range;

use saphyr_parser::{Event, Marker, Parser};

pub mod patch;
pub mod quote;
pub mod route;
mod scalars;
pub mod style;

pub use quote::{plain_is_not_string, reads_as_number};
pub use scalars::{anchors, is_string_tag, scalars, ScalarAt};
pub use style::Style;

/// A syntax error at a line and column (both 1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

/// Maps the parser's character positions to byte offsets.
pub struct Positions<'a> {
    text: &'a str,
    /// Byte offset of each character, when the text is not ASCII.
    offsets: Option<Vec<usize>>,
}

impl<'a> Positions<'a> {
    pub fn new(text: &'a str) -> Positions<'a> {
        let offsets = if text.is_ascii() {
            None
        } else {
            let mut v: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            v.push(text.len());
            Some(v)
        };
        Positions { text, offsets }
    }

    /// Byte offset of a marker.
    pub fn byte(&self, m: &Marker) -> usize {
        match &self.offsets {
            None => m.index().min(self.text.len()),
            Some(v) => v.get(m.index()).copied().unwrap_or(self.text.len()),
        }
    }
}

/// A node of a parsed document, with the bytes it covers.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    /// Its characters. For a scalar: its value as written, without its properties (an anchor
    /// `&a`, a tag `!!str`), from the block indicator (`>-`, `|`) for a block scalar.
    pub span: Range<usize>,
    /// 1-based line of its first character.
    pub line: usize,
    /// The anchor a scalar carries, or the one an alias names (the parser's id; 0: none).
    pub anchor: usize,
    /// A scalar's explicit tag (`tag:yaml.org,2002:str` for `!!str`), if any.
    pub tag: Option<String>,
}

/// What a node is.
#[derive(Debug, Clone)]
pub enum NodeKind {
    Scalar(String, Style),
    Map(Vec<(Node, Node)>),
    Seq(Vec<Node>),
    Alias,
}

impl Node {
    /// The value under `key` when this is a mapping with a scalar key `key`; when the key is
    /// there twice, the last one, as YAML readers take it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The entry (key and value) under `key` (the last one when the key is there twice).
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            NodeKind::Map(pairs) => pairs
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The scalar's text.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// The scalar's text at `key`.
    pub fn str_at(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Node::as_str)
    }

    /// The items of a sequence (none for anything else).
    pub fn items(&self) -> &[Node] {
        match &self.kind {
            NodeKind::Seq(items) => items,
            _ => &[],
        }
    }

    /// The pairs of a mapping (none for anything else).
    pub fn pairs(&self) -> &[(Node, Node)] {
        match &self.kind {
            NodeKind::Map(pairs) => pairs,
            _ => &[],
        }
    }

    /// The `$ref` of a `{$ref: ...}` mapping.
    pub fn ref_path(&self) -> Option<&str> {
        self.str_at("$ref")
    }

    /// The scalar's style.
    pub fn style(&self) -> Option<Style> {
        match &self.kind {
            NodeKind::Scalar(_, s) => Some(*s),
            _ => None,
        }
    }
}

enum Frame {
    Map(Vec<(Node, Node)>, Option<Node>, usize, usize),
    Seq(Vec<Node>, usize, usize),
}

/// The parser's message for an alias whose anchor is not in the file.
const UNKNOWN_ANCHOR: &str = "unknown anchor";

/// Parses every document of `text` into span trees. An alias to an anchor that the file does not
/// define (Jenkins Job Builder's `<<: *defaults`, defined in another file) is kept as an
/// [`NodeKind::Alias`] node instead of failing the parse.
///
/// One pass over the text, however many such aliases it holds: the parser reports an unknown
/// anchor after it has consumed the alias token and left its state as after an alias event
/// (saphyr-parser's `parse_node`), so the error stands for that event and parsing goes on.
pub fn parse(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let pos = Positions::new(text);
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    while let Some(ev) = parser.next_event() {
        let (event, start, end, line) = match ev {
            Ok((event, span)) => (
                Some(event),
                pos.byte(&span.start),
                pos.byte(&span.end),
                span.start.line(),
            ),
            Err(e) => {
                let at = pos.byte(e.marker());
                match unknown_alias_end(text, &e, at) {
                    Some(end) => (None, at, end, e.marker().line()),
                    None => {
                        return Err(SyntaxError {
                            line: e.marker().line(),
                            col: e.marker().col() + 1,
                            message: e.info().to_string(),
                        })
                    }
                }
            }
        };
        let node = match event {
            // An alias to an anchor of another file.
            None => Some(Node {
                kind: NodeKind::Alias,
                span: start..end,
                line,
                anchor: 0,
                tag: None,
            }),
            Some(Event::Alias(id)) => Some(Node {
                kind: NodeKind::Alias,
                span: start..end,
                line,
                anchor: id,
                tag: None,
            }),
            Some(Event::Scalar(v, style, anchor, tag)) => {
                let style = Style::of(style);
                let (start, line) = scalar_start(text, start, line, style);
                Some(Node {
                    kind: NodeKind::Scalar(v.into_owned(), style),
                    span: start..end.max(start),
                    line,
                    anchor,
                    tag: tag.map(|t| format!("{}{}", t.handle, t.suffix)),
                })
            }
            Some(Event::MappingStart(..)) => {
                stack.push(Frame::Map(Vec::new(), None, start, line));
                None
            }
            Some(Event::SequenceStart(..)) => {
                stack.push(Frame::Seq(Vec::new(), start, line));
                None
            }
            Some(Event::MappingEnd) => match stack.pop() {
                Some(Frame::Map(pairs, _, s, l)) => Some(Node {
                    kind: NodeKind::Map(pairs),
                    span: s..end.max(s),
                    line: l,
                    anchor: 0,
                    tag: None,
                }),
                _ => None,
            },
            Some(Event::SequenceEnd) => match stack.pop() {
                Some(Frame::Seq(items, s, l)) => Some(Node {
                    kind: NodeKind::Seq(items),
                    span: s..end.max(s),
                    line: l,
                    anchor: 0,
                    tag: None,
                }),
                _ => None,
            },
            Some(_) => None,
        };
        let Some(node) = node else { continue };
        match stack.last_mut() {
            Some(Frame::Map(pairs, pending, _, _)) => match pending.take() {
                Some(k) => pairs.push((k, node)),
                None => *pending = Some(node),
            },
            Some(Frame::Seq(items, _, _)) => items.push(node),
            None => docs.push(node),
        }
    }
    Ok(docs)
}

/// Where a scalar's own characters start, and their line: after its properties (`&anchor`,
/// `!tag` and the blanks after them), so that an edit of the value keeps them; for a block
/// scalar, at its indicator (`>-`, `|`), which the parser's span leaves out.
fn scalar_start(text: &str, start: usize, line: usize, style: Style) -> (usize, usize) {
    let b = text.as_bytes();
    if style == Style::Block {
        // Back over the content's indentation and line breaks to the indicator line.
        let mut i = start;
        let mut breaks = 0;
        while i > 0 && matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'\r') {
            if b[i - 1] == b'\n' {
                breaks += 1;
            }
            i -= 1;
        }
        // The indicator and its modifiers: `[|>][-+0-9]*`, maybe after properties and a
        // comment-free gap (`>- # x` keeps the span at the content).
        let mut j = i;
        while j > 0 && matches!(b[j - 1], b'-' | b'+' | b'0'..=b'9') {
            j -= 1;
        }
        if j > 0 && matches!(b[j - 1], b'|' | b'>') {
            return (j - 1, line.saturating_sub(breaks).max(1));
        }
        return (start, line);
    }
    let mut i = start;
    let mut lines = 0;
    while matches!(b.get(i), Some(b'&' | b'!')) {
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
            if b[i] == b'\n' {
                lines += 1;
            }
            i += 1;
        }
    }
    (i, line + lines)
}

/// When `e` is the parser's "unknown anchor" error for an alias `*name` at byte `at`: the end
/// of the alias (the scanner's anchor characters: anything but blanks, breaks, a byte order
/// mark and flow indicators).
fn unknown_alias_end(text: &str, e: &saphyr_parser::ScanError, at: usize) -> Option<usize> {
    if !e.info().contains(UNKNOWN_ANCHOR) {
        return None;
    }
    let rest = text.get(at..)?.strip_prefix('*')?;
    let len = rest
        .find(|c: char| {
            matches!(
                c,
                ' ' | '\t' | '\r' | '\n' | '\0' | '\u{feff}' | ',' | '[' | ']' | '{' | '}'
            )
        })
        .unwrap_or(rest.len());
    (len > 0).then_some(at + 1 + len)
}

/// The top-level `name` of the first document, and with `refs` the `$ref` of its top-level
/// `cluster` and `environment` mappings. Reads events only until it has them, so a large file
/// is not parsed to its end; `None` when the text does not parse that far.
pub fn top_fields(text: &str, refs: bool) -> Option<TopFields> {
    let mut parser = Parser::new_from_str(text);
    let mut out = TopFields::default();
    let mut depth = 0usize;
    // At depth 1: the last key read, when the next event is its value.
    let mut key: Option<String> = None;
    // Inside `cluster:` or `environment:` (depth 2): which, and the last key there.
    let mut inside: Option<(String, Option<String>)> = None;
    let done = |o: &TopFields| {
        o.name.is_some() && (!refs || (o.cluster.is_some() && o.environment.is_some()))
    };
    // Built on the first unknown alias only: most files have none.
    let mut pos: Option<Positions> = None;
    while let Some(ev) = parser.next_event() {
        let event = match ev {
            Ok((event, _)) => event,
            Err(e) => {
                let at = pos
                    .get_or_insert_with(|| Positions::new(text))
                    .byte(e.marker());
                unknown_alias_end(text, &e, at)?;
                Event::Alias(0)
            }
        };
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                if depth == 2 {
                    inside = key
                        .take()
                        .filter(|k| refs && (k == "cluster" || k == "environment"))
                        .map(|k| (k, None));
                } else if depth == 1 {
                    key = None;
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    inside = None;
                    key = None;
                } else if depth == 0 {
                    return Some(out);
                }
            }
            Event::Scalar(v, ..) if depth == 1 => match key.take() {
                None => key = Some(v.into_owned()),
                Some(k) => {
                    if k == "name" {
                        out.name = Some(v.into_owned());
                    }
                }
            },
            Event::Scalar(v, ..) if depth == 2 => {
                if let Some((which, k)) = &mut inside {
                    match k.take() {
                        None => *k = Some(v.into_owned()),
                        Some(k) if k == "$ref" => {
                            let r = Some(v.into_owned());
                            if which == "cluster" {
                                out.cluster = r;
                            } else {
                                out.environment = r;
                            }
                        }
                        Some(_) => {}
                    }
                }
            }
            Event::Alias(_) if depth == 1 => {
                key = if key.is_none() {
                    Some(String::new())
                } else {
                    None
                };
            }
            Event::DocumentEnd | Event::StreamEnd => return Some(out),
            _ => {}
        }
        if done(&out) {
            return Some(out);
        }
    }
    Some(out)
}

/// What [`top_fields`] reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopFields {
    pub name: Option<String>,
    pub cluster: Option<String>,
    pub environment: Option<String>,
}

/// A scalar key that a mapping holds twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    pub key: String,
    /// The bytes of the mapping that holds it.
    pub map: Range<usize>,
    /// The line of the first occurrence (the one YAML readers ignore).
    pub first_line: usize,
    /// The line of the later occurrence.
    pub line: usize,
}

/// Every scalar key that a mapping of the documents holds more than once, in document order.
pub fn duplicate_keys(docs: &[Node]) -> Vec<DuplicateKey> {
    fn walk(n: &Node, out: &mut Vec<DuplicateKey>) {
        match &n.kind {
            NodeKind::Map(pairs) => {
                let mut seen: std::collections::HashMap<&str, usize> =
                    std::collections::HashMap::new();
                for (k, v) in pairs {
                    if let Some(key) = k.as_str() {
                        match seen.get(key) {
                            Some(first) => out.push(DuplicateKey {
                                key: key.to_string(),
                                map: n.span.clone(),
                                first_line: *first,
                                line: k.line,
                            }),
                            None => {
                                seen.insert(key, k.line);
                            }
                        }
                    }
                    walk(k, out);
                    walk(v, out);
                }
            }
            NodeKind::Seq(items) => {
                for i in items {
                    walk(i, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for d in docs {
        walk(d, &mut out);
    }
    out
}

/// The byte range of a scalar's value inside `text`, when it is written plainly or in quotes
/// without escapes or folding: the part an edit may replace. (The parser's end marker of a
/// quoted scalar can lie past a trailing comment, so only the start is trusted.)
pub fn value_span(text: &str, node: &Node) -> Option<Range<usize>> {
    let NodeKind::Scalar(value, style) = &node.kind else {
        return None;
    };
    let start = match style {
        Style::Plain => node.span.start,
        Style::Single | Style::Double => {
            let q = style.quote()? as u8;
            if text.as_bytes().get(node.span.start) != Some(&q) {
                return None;
            }
            let end = node.span.start + 1 + value.len();
            if text.as_bytes().get(end) != Some(&q) {
                return None;
            }
            node.span.start + 1
        }
        Style::Block => return None,
    };
    let range = start..start + value.len();
    (text.get(range.clone()) == Some(value.as_str())).then_some(range)
}

/// Whether two parses say the same, but for the scalars of `a` that contain an offset of
/// `changed`, whose values may differ.
pub fn same_but(a: &[Node], b: &[Node], changed: &[usize]) -> bool {
    fn eq(a: &Node, b: &Node, changed: &[usize]) -> bool {
        match (&a.kind, &b.kind) {
            (NodeKind::Scalar(va, _), NodeKind::Scalar(vb, _)) => {
                va == vb || changed.iter().any(|c| a.span.contains(c))
            }
            (NodeKind::Map(pa), NodeKind::Map(pb)) => {
                pa.len() == pb.len()
                    && pa
                        .iter()
                        .zip(pb)
                        .all(|((ka, va), (kb, vb))| eq(ka, kb, changed) && eq(va, vb, changed))
            }
            (NodeKind::Seq(ia), NodeKind::Seq(ib)) => {
                ia.len() == ib.len() && ia.iter().zip(ib).all(|(x, y)| eq(x, y, changed))
            }
            (NodeKind::Alias, NodeKind::Alias) => true,
            _ => false,
        }
    }
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| eq(x, y, changed))
}

/// Whether `text` is a template of the kind kept under `resources/` (Jinja or similar).
pub fn looks_like_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

#[cfg(test)]
mod tests {
    #[test]
    fn top_fields_reads_name_and_refs_and_stops_early() {
        let text = "---\n$schema: /openshift/namespace-1.yml\nlabels: {name: inner}\nname: app-int\ncluster:\n  $ref: /openshift/c1/cluster.yml\nenvironment: {$ref: /products/p/env/prod.yml}\n";
        let f = top_fields(text, true).unwrap();
        assert_eq!(f.name.as_deref(), Some("app-int"));
        assert_eq!(f.cluster.as_deref(), Some("/openshift/c1/cluster.yml"));
        assert_eq!(f.environment.as_deref(), Some("/products/p/env/prod.yml"));
        // Everything after the fields is not read: a syntax error there does not matter.
        let f = top_fields("name: c1\nbroken: [\n", false).unwrap();
        assert_eq!(f.name.as_deref(), Some("c1"));
        // Before them it does.
        assert!(top_fields("broken: [\nname: c1\n", false).is_none());
        // A nested `name` is not the file's.
        let f = top_fields("spec:\n  name: inner\n  list: [a, b]\nother: x\n", true).unwrap();
        assert_eq!(f, TopFields::default());
    }

    use super::*;

    #[test]
    fn unknown_aliases_are_kept_and_spans_reported() {
        let text = "- defaults:\n    <<: *local_defaults\n    tag: 'abc1234'\n    x: \"é\"\n    y: def5678\n";
        let docs = parse(text).unwrap();
        let all = scalars(&docs);
        let tag = all
            .iter()
            .find(|s| s.node.as_str() == Some("abc1234"))
            .unwrap();
        assert_eq!(tag.key, Some("tag"));
        assert_eq!(&text[tag.node.span.clone()], "'abc1234'");
        assert_eq!(&text[value_span(text, tag.node).unwrap()], "abc1234");
        let y = all
            .iter()
            .find(|s| s.node.as_str() == Some("def5678"))
            .unwrap();
        assert_eq!(&text[value_span(text, y.node).unwrap()], "def5678");
        assert_eq!(y.node.line, 5);
        let merge = docs[0].items()[0]
            .get("defaults")
            .unwrap()
            .get("<<")
            .unwrap();
        assert!(matches!(merge.kind, NodeKind::Alias));
    }

    #[test]
    fn many_unknown_aliases_are_kept_in_block_and_flow_collections() {
        let n = 20_000;
        let mut text = String::from("tag: 'abc1234'\n");
        for i in 0..n {
            text.push_str(&format!("k{i}: *x{i}\n"));
        }
        text.push_str("seq:\n- *a\n- [*b, *c]\n- {k: *d, *e : v}\nlast: é\n");
        let docs = parse(&text).unwrap();
        let pairs = docs[0].pairs();
        assert_eq!(pairs.len(), n + 3);
        for (i, (k, v)) in pairs[1..=n].iter().enumerate() {
            assert_eq!(k.as_str(), Some(format!("k{i}").as_str()));
            assert!(matches!(v.kind, NodeKind::Alias));
            assert_eq!(&text[v.span.clone()], format!("*x{i}"));
            assert_eq!(v.line, i + 2);
        }
        let seq = docs[0].get("seq").unwrap().items();
        assert_eq!(&text[seq[0].span.clone()], "*a");
        let flow: Vec<&str> = seq[1]
            .items()
            .iter()
            .map(|n| &text[n.span.clone()])
            .collect();
        assert_eq!(flow, ["*b", "*c"]);
        let m = seq[2].pairs();
        assert_eq!(&text[m[0].1.span.clone()], "*d");
        assert_eq!(&text[m[1].0.span.clone()], "*e");
        assert_eq!(m[1].1.as_str(), Some("v"));
        assert_eq!(docs[0].str_at("last"), Some("é"));
        // A defined anchor is still an alias, and other errors are still errors.
        let docs = parse("a: &x 1\nb: *x\n").unwrap();
        assert!(matches!(docs[0].get("b").unwrap().kind, NodeKind::Alias));
        assert!(parse("a: *x\nb: [\n").is_err());
        // `top_fields` reads past an unknown alias too.
        let f = top_fields("<<: *defaults\nname: n\n", false).unwrap();
        assert_eq!(f.name.as_deref(), Some("n"));
    }

    #[test]
    fn parse_builds_a_span_tree() {
        let text = "\u{feff}a:\r\n  b: [1, 'x']\r\n  c:\r\n  - d: e\r\n";
        let docs = parse(text).unwrap();
        let c = docs[0].get("a").unwrap().get("c").unwrap();
        let d = c.items()[0].get("d").unwrap();
        assert_eq!(&text[d.span.clone()], "e");
        assert_eq!(d.line, 4);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: b\nc: {% x %}\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(parse("a: [b\n").is_err());
    }
}
