//! How a document is written: the style of a scalar, the layout of collections (indentation,
//! flow or block), and where a node's own characters end.

use saphyr_parser::ScalarStyle;

use super::{value_span, Node, NodeKind};

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Style {
    Plain,
    Single,
    Double,
    Block,
}

impl Style {
    pub(super) fn of(s: ScalarStyle) -> Style {
        match s {
            ScalarStyle::Plain => Style::Plain,
            ScalarStyle::SingleQuoted => Style::Single,
            ScalarStyle::DoubleQuoted => Style::Double,
            _ => Style::Block,
        }
    }

    /// The quote character, if any.
    pub fn quote(self) -> Option<char> {
        match self {
            Style::Single => Some('\''),
            Style::Double => Some('"'),
            _ => None,
        }
    }
}

/// The layout of a file's block collections: the indentation step, and whether a sequence under
/// a key is indented past the key or starts at its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub unit: usize,
    pub indented_seqs: bool,
}

impl Layout {
    /// The layout the documents use: the first block mapping nested under a key gives the step
    /// (2 when there is none), the first block sequence under a key the placement of dashes.
    pub fn detect(text: &str, docs: &[Node]) -> Layout {
        fn walk(text: &str, n: &Node, unit: &mut Option<usize>, seqs: &mut Option<bool>) {
            for (k, v) in n.pairs() {
                if is_flow(text, v) {
                    continue;
                }
                let kc = col(text, k.span.start);
                match &v.kind {
                    NodeKind::Map(p) if unit.is_none() && !p.is_empty() && v.line > k.line => {
                        let vc = col(text, v.span.start);
                        if vc > kc {
                            *unit = Some(vc - kc);
                        }
                    }
                    NodeKind::Seq(items) if seqs.is_none() && v.line > k.line => {
                        if let Some(first) = items.first() {
                            *seqs = Some(dash_col(text, first) > kc);
                        }
                    }
                    _ => {}
                }
                walk(text, v, unit, seqs);
            }
            for i in n.items() {
                walk(text, i, unit, seqs);
            }
        }
        let mut unit = None;
        let mut seqs = None;
        for d in docs {
            walk(text, d, &mut unit, &mut seqs);
        }
        Layout {
            unit: unit.unwrap_or(2),
            indented_seqs: seqs.unwrap_or(false),
        }
    }
}

/// The offset of the start of the line of `pos`.
pub fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

/// The column (0-based, in bytes) of `pos`.
pub fn col(text: &str, pos: usize) -> usize {
    pos - line_start(text, pos)
}

/// The offset after the newline ending the line of `pos` (the end of the text when none).
pub fn line_end(text: &str, pos: usize) -> usize {
    text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1)
}

/// Whether a collection is written in flow style (`{...}` or `[...]`).
pub fn is_flow(text: &str, n: &Node) -> bool {
    matches!(text.as_bytes().get(n.span.start), Some(b'{' | b'['))
}

/// The column of a block sequence item's dash.
pub fn dash_col(text: &str, item: &Node) -> usize {
    let b = text.as_bytes();
    let mut i = item.span.start;
    while i > 0 && b[i - 1] == b' ' {
        i -= 1;
    }
    if i > 0 && b[i - 1] == b'-' {
        col(text, i - 1)
    } else {
        col(text, item.span.start).saturating_sub(2)
    }
}

/// The end of a flow collection starting at `start` (after its closing bracket).
pub fn flow_end(text: &str, start: usize) -> usize {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = start;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' && q == b'"' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    text.len()
}

/// The end of a node's own characters (no trailing comment or line break).
pub fn content_end(text: &str, n: &Node) -> usize {
    match &n.kind {
        NodeKind::Scalar(_, st) => match st.quote() {
            Some(q) => {
                let b = text.as_bytes();
                let mut i = n.span.start + 1;
                while i < b.len() {
                    if b[i] == b'\\' && q == '"' {
                        i += 2;
                        continue;
                    }
                    if b[i] == q as u8 {
                        if q == '\'' && b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        return i + 1;
                    }
                    i += 1;
                }
                n.span.end
            }
            None => match value_span(text, n) {
                Some(r) => r.end,
                // A block scalar (or a plain one over several lines): up to its last character
                // that is not a blank or a line break.
                None => {
                    let b = text.as_bytes();
                    let mut end = n.span.end.min(b.len());
                    while end > n.span.start && matches!(b[end - 1], b' ' | b'\t' | b'\n' | b'\r') {
                        end -= 1;
                    }
                    end
                }
            },
        },
        _ if is_flow(text, n) => flow_end(text, n.span.start),
        NodeKind::Map(pairs) => pairs.last().map_or(n.span.start, |(k, v)| {
            content_end(text, v).max(content_end(text, k))
        }),
        NodeKind::Seq(items) => items.last().map_or(n.span.start, |i| content_end(text, i)),
        NodeKind::Alias => n.span.end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    #[test]
    fn layout_is_detected() {
        let t = "a:\n    b: 1\n    c:\n        - x\n";
        let s = Layout::detect(t, &parse(t).unwrap());
        assert_eq!((s.unit, s.indented_seqs), (4, true));
        let t = "a:\n  b:\n  - x\n";
        let s = Layout::detect(t, &parse(t).unwrap());
        assert_eq!((s.unit, s.indented_seqs), (2, false));
    }

    #[test]
    fn content_ends_before_comments() {
        let t = "a: 'x y' # c\nb: [1, {c: d}] # e\nc:\n  - k: v  # f\n";
        let d = &parse(t).unwrap()[0];
        let end = |k: &str| &t[..content_end(t, d.get(k).unwrap())];
        assert!(end("a").ends_with("'x y'"));
        assert!(end("b").ends_with("{c: d}]"));
        assert!(end("c").ends_with("k: v"));
    }
}
