//! The patch engine: a list of operations (set a scalar, rewrite part of one, add a pair, append
//! items, remove a pair, remove an item), each on a route to a node. Each operation is found on
//! its route in the document as the operations before it left it, written as a splice of the
//! text in the file's own layout (flow or block, its indentation), and the result is parsed again
//! and checked to say what the operation meant before the next one runs.

use std::ops::Range;

use super::quote::{fits_in_quotes, plain_ok, plain_or_single};
use super::style::{col, content_end, dash_col, flow_end, is_flow, line_end, line_start, Layout};
use super::{parse, plain_is_not_string, same_but, value_span, Node, NodeKind, Style};

pub use super::route::{Route, Step};

/// A value to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Written as it is (a number, a path).
    Raw(String),
    /// A string: plain when it reads back as itself, else single-quoted.
    Str(String),
    /// A mapping, its keys written as they are.
    Map(Vec<(String, Value)>),
    Seq(Vec<Value>),
}

impl Value {
    /// The value in flow style: `{k: v, ...}`, `[a, ...]`.
    pub fn flow(&self) -> String {
        match self {
            Value::Raw(s) => s.clone(),
            Value::Str(s) => plain_or_single(s),
            Value::Map(pairs) => {
                let p: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.flow()))
                    .collect();
                format!("{{{}}}", p.join(", "))
            }
            Value::Seq(items) => format!("[{}]", Value::flow_items(items)),
        }
    }

    fn flow_items(items: &[Value]) -> String {
        let v: Vec<String> = items.iter().map(Value::flow).collect();
        v.join(", ")
    }

    fn is_block(&self) -> bool {
        match self {
            Value::Map(p) => !p.is_empty(),
            Value::Seq(i) => !i.is_empty(),
            _ => false,
        }
    }

    /// What follows the colon of a key at column `k`: ` scalar` and a line break, or a line
    /// break and the collection's lines.
    fn after_key(&self, k: usize, layout: Layout) -> String {
        if self.is_block() {
            format!("\n{}", self.block_lines(k, layout))
        } else {
            format!(" {}\n", self.flow())
        }
    }

    /// The lines of a block collection that is the value of a key at column `k`.
    fn block_lines(&self, k: usize, layout: Layout) -> String {
        match self {
            Value::Map(pairs) => {
                let c = k + layout.unit;
                format!("{}{}", " ".repeat(c), block_pairs(pairs, c, layout))
            }
            Value::Seq(items) => {
                let d = k + if layout.indented_seqs { layout.unit } else { 0 };
                items
                    .iter()
                    .map(|i| i.block_item(d, d + 2, layout))
                    .collect()
            }
            _ => self.after_key(k, layout),
        }
    }

    /// A block sequence item whose dash stands at column `d` and its content at column `k`.
    fn block_item(&self, d: usize, k: usize, layout: Layout) -> String {
        let head = format!(
            "{}-{}",
            " ".repeat(d),
            " ".repeat(k.saturating_sub(d + 1).max(1))
        );
        match self {
            Value::Map(pairs) if !pairs.is_empty() => {
                format!("{head}{}", block_pairs(pairs, k, layout))
            }
            _ => format!("{head}{}\n", self.flow()),
        }
    }

    /// Whether a parsed node says this value.
    fn matches(&self, n: &Node) -> bool {
        match (self, &n.kind) {
            (Value::Raw(s), NodeKind::Scalar(v, _)) => s == v,
            (Value::Str(s), NodeKind::Scalar(v, st)) => {
                s == v && (*st != Style::Plain || !plain_is_not_string(v))
            }
            (Value::Map(a), NodeKind::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ka, va), (kb, vb))| kb.as_str() == Some(ka) && va.matches(vb))
            }
            (Value::Seq(a), NodeKind::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.matches(y))
            }
            _ => false,
        }
    }
}

/// The pairs of a block mapping whose keys stand at column `k`; the first key goes where the
/// text stands (after a dash, or after indentation written by the caller).
fn block_pairs(pairs: &[(String, Value)], k: usize, layout: Layout) -> String {
    let mut out = String::new();
    for (i, (key, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(&" ".repeat(k));
        }
        out.push_str(key);
        out.push(':');
        out.push_str(&v.after_key(k, layout));
    }
    out
}

/// A range of the text and what replaces it.
pub type Splice = (Range<usize>, String);

/// One operation of a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sets the scalar at `route` to the string `value`: between its quotes when they can hold
    /// it as it is, plain when the scalar is plain and `value` reads back as itself, else in
    /// `quote`s (`'` or `"`).
    SetScalar {
        route: Route,
        value: String,
        quote: char,
    },
    /// Replaces the characters `at` (offsets in its value) of the scalar at `route` with `with`.
    Rewrite {
        route: Route,
        at: Range<usize>,
        with: String,
    },
    /// Adds the pair `key: value` after the last pair of the mapping at `route`; when the key is
    /// there with a scalar (empty, `null`), writes `value` in its place.
    AddPair {
        route: Route,
        key: String,
        value: Value,
    },
    /// Appends `items` to the sequence at `route`.
    Append { route: Route, items: Vec<Value> },
    /// Removes the (first) pair `key` of the mapping at `route`, with its line when it has one.
    RemovePair { route: Route, key: String },
    /// Removes item `index` of the sequence at `route`, with its lines in block style.
    RemoveItem { route: Route, index: usize },
    /// Replaces the bytes `at` (offsets in the text) of a whole-line comment (a line whose first
    /// character that is not a blank is `#`) with `with`; every value reads as before.
    InComment { at: Range<usize>, with: String },
}

impl Op {
    fn route(&self) -> Option<&Route> {
        match self {
            Op::SetScalar { route, .. }
            | Op::Rewrite { route, .. }
            | Op::AddPair { route, .. }
            | Op::Append { route, .. }
            | Op::RemovePair { route, .. }
            | Op::RemoveItem { route, .. } => Some(route),
            Op::InComment { .. } => None,
        }
    }
}

/// Why a patch was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchError(pub String);

impl std::fmt::Display for PatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatchError {}

/// A patched text and its parse.
#[derive(Debug, Clone)]
pub struct Patched {
    pub text: String,
    pub docs: Vec<Node>,
}

/// Replaces byte ranges (which must not overlap) with new bytes.
pub fn splice(bytes: &[u8], edits: &[Splice]) -> Result<Vec<u8>, PatchError> {
    let mut sorted: Vec<&Splice> = edits.iter().collect();
    sorted.sort_by_key(|(r, _)| r.start);
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut at = 0;
    for (r, new) in sorted {
        if r.start < at || r.end > bytes.len() || r.start > r.end {
            return Err(PatchError(format!(
                "overlapping or out-of-range edit at byte {}",
                r.start
            )));
        }
        out.extend_from_slice(&bytes[at..r.start]);
        out.extend_from_slice(new.as_bytes());
        at = r.end;
    }
    out.extend_from_slice(&bytes[at..]);
    Ok(out)
}

/// Applies `ops` in order to `text`, whose parse is `docs`. New block collections take the
/// layout of the text as it was before the first operation.
pub fn apply(text: &str, docs: &[Node], ops: &[Op]) -> Result<Patched, PatchError> {
    let adds = ops
        .iter()
        .any(|o| matches!(o, Op::AddPair { .. } | Op::Append { .. }));
    let layout = if adds {
        Layout::detect(text, docs)
    } else {
        Layout {
            unit: 2,
            indented_seqs: false,
        }
    };
    let mut cur: Option<Patched> = None;
    for op in ops {
        let (t, d) = match &cur {
            Some(p) => (p.text.as_str(), p.docs.as_slice()),
            None => (text, docs),
        };
        let next = apply_one(t, d, op, layout)?;
        cur = Some(next);
    }
    Ok(cur.unwrap_or_else(|| Patched {
        text: text.to_string(),
        docs: docs.to_vec(),
    }))
}

/// An edit inside a whole-line comment: spliced, parsed again, every value as before.
fn in_comment(
    text: &str,
    docs: &[Node],
    at: &Range<usize>,
    with: &str,
) -> Result<Patched, PatchError> {
    let line_start = text
        .get(..at.start)
        .map(|t| t.rfind('\n').map_or(0, |i| i + 1))
        .ok_or_else(|| PatchError(format!("{}..{} is not in the text", at.start, at.end)))?;
    let line_end = text[at.start..]
        .find('\n')
        .map_or(text.len(), |i| at.start + i);
    let comment = text[line_start..at.start].trim_start().starts_with('#');
    if !comment || at.end > line_end || with.contains('\n') {
        return Err(PatchError(format!(
            "byte {} is not inside a whole-line comment",
            at.start
        )));
    }
    let bytes = splice(text.as_bytes(), &[(at.clone(), with.to_string())])?;
    let new_text = String::from_utf8(bytes).map_err(|_| PatchError("not UTF-8".into()))?;
    let new_docs = parse(&new_text).map_err(|e| PatchError(format!("{e} (YAML syntax error)")))?;
    if !same_but(docs, &new_docs, &[]) {
        return Err(PatchError(format!(
            "the comment edit at byte {} changed a value",
            at.start
        )));
    }
    Ok(Patched {
        text: new_text,
        docs: new_docs,
    })
}

fn apply_one(text: &str, docs: &[Node], op: &Op, layout: Layout) -> Result<Patched, PatchError> {
    let route = match (op, op.route()) {
        (Op::InComment { at, with }, _) => return in_comment(text, docs, at, with),
        (_, Some(r)) => r,
        (_, None) => return Err(PatchError("an operation without a route".into())),
    };
    let node = route
        .resolve(docs)
        .ok_or_else(|| PatchError(format!("nothing at {route}")))?;
    let edits = spans(text, node, op, layout)?;
    let bytes = splice(text.as_bytes(), &edits)?;
    let new_text = String::from_utf8(bytes).map_err(|_| PatchError("not UTF-8".into()))?;
    let new_docs = parse(&new_text).map_err(|e| PatchError(format!("{e} (YAML syntax error)")))?;
    let after = route.resolve(&new_docs);
    let ok = match (op, after) {
        (Op::SetScalar { value, .. }, Some(n)) => {
            Value::Str(value.clone()).matches(n)
                && (node.span.is_empty() || same_but(docs, &new_docs, &[node.span.start]))
        }
        (Op::Rewrite { at, with, .. }, Some(n)) => {
            let old = node.as_str().unwrap_or_default();
            let want = old
                .get(..at.start)
                .zip(old.get(at.end..))
                .map(|(a, b)| format!("{a}{with}{b}"));
            n.as_str() == want.as_deref() && same_but(docs, &new_docs, &[node.span.start])
        }
        (Op::AddPair { key, value, .. }, Some(n)) => {
            let grew = node.get(key).is_some() || n.pairs().len() == node.pairs().len() + 1;
            grew && n.get(key).is_some_and(|v| value.matches(v))
        }
        (Op::Append { items, .. }, Some(n)) => {
            let old = node.items().len();
            n.items().len() == old + items.len()
                && items
                    .iter()
                    .zip(&n.items()[old..])
                    .all(|(v, i)| v.matches(i))
        }
        (Op::RemovePair { .. }, Some(n)) => n.pairs().len() + 1 == node.pairs().len(),
        (Op::RemoveItem { .. }, Some(n)) => n.items().len() + 1 == node.items().len(),
        (Op::InComment { .. }, Some(_)) | (_, None) => false,
    };
    if !ok {
        return Err(PatchError(format!(
            "{route} does not read as intended after the edit"
        )));
    }
    Ok(Patched {
        text: new_text,
        docs: new_docs,
    })
}

/// The splices of one operation on `node` (the node its route leads to).
fn spans(text: &str, node: &Node, op: &Op, layout: Layout) -> Result<Vec<Splice>, PatchError> {
    let at = op.route().map(|r| r.to_string()).unwrap_or_default();
    let not = |what: &str| PatchError(format!("{at} is not {what}"));
    let one = |r: Option<Range<usize>>, s: String| r.map(|r| vec![(r, s)]);
    let out = match op {
        Op::SetScalar { value, quote, .. } => {
            if node.as_str().is_none() {
                return Err(not("a scalar"));
            }
            let quoted = node.style().and_then(Style::quote).is_some();
            match value_span(text, node).filter(|_| quoted && fits_in_quotes(value)) {
                Some(span) => one(Some(span), value.clone()),
                None => {
                    let s = if plain_ok(value) {
                        value.clone()
                    } else {
                        in_quotes(value, *quote)
                    };
                    one(Some(node.span.start..content_end(text, node)), s)
                }
            }
        }
        Op::InComment { .. } => None,
        Op::Rewrite { at, with, .. } => {
            let span = value_span(text, node).ok_or_else(|| not("a scalar written as it reads"))?;
            let r = span.start + at.start..span.start + at.end;
            one((r.end <= span.end).then_some(r), with.clone())
        }
        Op::AddPair { key, value, .. } => add_pair(text, node, key, value, layout)?,
        Op::Append { items, .. } => {
            let NodeKind::Seq(list) = &node.kind else {
                return Err(not("a sequence"));
            };
            if is_flow(text, node) {
                one(
                    Some(insert_flow(text, node, list.is_empty())),
                    flow_join(list.is_empty(), &Value::flow_items(items)),
                )
            } else {
                let first = list.first().ok_or_else(|| not("a sequence with items"))?;
                let d = dash_col(text, first);
                let k = first
                    .pairs()
                    .first()
                    .map_or(d + 2, |(k, _)| col(text, k.span.start));
                let lines: String = items.iter().map(|i| i.block_item(d, k, layout)).collect();
                Some(vec![insert_lines(text, content_end(text, node), lines)])
            }
        }
        Op::RemovePair { key, .. } => {
            let p = node
                .pairs()
                .iter()
                .position(|(k, _)| k.as_str() == Some(key));
            one(p.and_then(|p| remove_pair(text, node, p)), String::new())
        }
        Op::RemoveItem { index, .. } => one(remove_item(text, node, *index), String::new()),
    };
    out.ok_or_else(|| PatchError(format!("cannot edit {at}")))
}

fn in_quotes(value: &str, quote: char) -> String {
    if quote == '"' {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

/// The splices that give mapping `m` the pair `key: value`.
fn add_pair(
    text: &str,
    m: &Node,
    key: &str,
    value: &Value,
    layout: Layout,
) -> Result<Option<Vec<Splice>>, PatchError> {
    let NodeKind::Map(pairs) = &m.kind else {
        return Err(PatchError(format!("no mapping to add {key} to")));
    };
    let flow = is_flow(text, m);
    if let Some((k, v)) = m.entry(key) {
        let Some(old) = v.as_str() else {
            return Err(PatchError(format!("{key} is there already")));
        };
        let value_end = content_end(text, v);
        if flow {
            return Ok(Some(vec![(v.span.start..value_end, value.flow())]));
        }
        // `key:` with nothing or a scalar after it: the value takes its place.
        let key_end = content_end(text, k);
        let colon = text[key_end..]
            .find(':')
            .map_or(key_end, |i| key_end + i + 1);
        let value_end = if old.is_empty() { colon } else { value_end };
        if !value.is_block() {
            return Ok(Some(vec![(colon..value_end, format!(" {}", value.flow()))]));
        }
        let lines = value.block_lines(col(text, k.span.start), layout);
        return Ok(Some(vec![
            (colon..value_end, String::new()),
            insert_lines(text, value_end, lines),
        ]));
    }
    if flow {
        let r = insert_flow(text, m, pairs.is_empty());
        let item = format!("{key}: {}", value.flow());
        return Ok(Some(vec![(r, flow_join(pairs.is_empty(), &item))]));
    }
    let kc = pairs.first().map_or(0, |(k, _)| col(text, k.span.start));
    let lines = format!("{}{key}:{}", " ".repeat(kc), value.after_key(kc, layout));
    Ok(Some(vec![insert_lines(text, content_end(text, m), lines)]))
}

/// An insertion of whole lines after the line of `pos`.
fn insert_lines(text: &str, pos: usize, lines: String) -> Splice {
    let at = line_end(text, pos);
    if at == text.len() && !text.ends_with('\n') {
        (at..at, format!("\n{}", lines.trim_end_matches('\n')))
    } else {
        (at..at, lines)
    }
}

/// Where an entry goes into flow collection `n`: before its closing bracket when it is empty,
/// else after its last entry.
fn insert_flow(text: &str, n: &Node, empty: bool) -> Range<usize> {
    let at = if empty {
        flow_end(text, n.span.start).saturating_sub(1)
    } else {
        match &n.kind {
            NodeKind::Map(p) => p.last().map(|(_, v)| content_end(text, v)),
            NodeKind::Seq(i) => i.last().map(|v| content_end(text, v)),
            _ => None,
        }
        .unwrap_or(n.span.start + 1)
    };
    at..at
}

/// The text inserted by [`insert_flow`]: the entries, after a comma unless the collection is empty.
fn flow_join(empty: bool, entries: &str) -> String {
    if empty {
        entries.to_string()
    } else {
        format!(", {entries}")
    }
}

/// The range that removes pair `p` of mapping `m`.
fn remove_pair(text: &str, m: &Node, p: usize) -> Option<Range<usize>> {
    let pairs = m.pairs();
    let (k, v) = pairs.get(p)?;
    if !is_flow(text, m)
        && text[line_start(text, k.span.start)..k.span.start]
            .trim()
            .is_empty()
    {
        return Some(line_start(text, k.span.start)..line_end(text, content_end(text, v)));
    }
    if let Some((nk, _)) = pairs.get(p + 1) {
        return Some(k.span.start..nk.span.start);
    }
    let (_, pv) = pairs.get(p.checked_sub(1)?)?;
    Some(content_end(text, pv)..content_end(text, v))
}

/// The range that removes item `i` of sequence `s`.
fn remove_item(text: &str, s: &Node, i: usize) -> Option<Range<usize>> {
    let items = s.items();
    let item = items.get(i)?;
    if !is_flow(text, s) {
        return Some(line_start(text, item.span.start)..line_end(text, content_end(text, item)));
    }
    if let Some(next) = items.get(i + 1) {
        return Some(item.span.start..next.span.start);
    }
    let prev = items.get(i.checked_sub(1)?)?;
    Some(content_end(text, prev)..content_end(text, item))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_in_a_comment_changes_no_value_and_only_comments() {
        let text = "a: 1\n  # mirror: gcr.io/x/y:abc1234\nb: abc1234 # c\n";
        let docs = parse(text).unwrap();
        let at = text.find("abc1234").unwrap();
        let done = apply(
            text,
            &docs,
            &[Op::InComment {
                at: at..at + 7,
                with: "1234567".into(),
            }],
        )
        .unwrap();
        assert_eq!(
            done.text,
            "a: 1\n  # mirror: gcr.io/x/y:1234567\nb: abc1234 # c\n"
        );
        // A value, or a comment after a value, is not a whole-line comment.
        for needle in ["b: abc1234", "# c"] {
            let at = text.find(needle).unwrap() + needle.len() - 1;
            let e = apply(
                text,
                &docs,
                &[Op::InComment {
                    at: at..at + 1,
                    with: "x".into(),
                }],
            )
            .unwrap_err();
            assert!(
                e.to_string().contains("not inside a whole-line comment"),
                "{e}"
            );
        }
    }

    /// A route written as `a.b[1].c` (empty: the document).
    fn at(path: &str) -> Route {
        let mut r = Route::doc(0);
        for part in path.split('.').filter(|p| !p.is_empty()) {
            let (key, rest) = part.split_once('[').unwrap_or((part, ""));
            if !key.is_empty() {
                r = r.key(key);
            }
            for i in rest.split('[').filter(|i| !i.is_empty()) {
                r = r.item(i.trim_end_matches(']').parse().unwrap());
            }
        }
        r
    }

    fn set(path: &str, value: &str, quote: char) -> Op {
        Op::SetScalar {
            route: at(path),
            value: value.into(),
            quote,
        }
    }

    fn add(path: &str, key: &str, value: Value) -> Op {
        Op::AddPair {
            route: at(path),
            key: key.into(),
            value,
        }
    }

    fn append(path: &str, items: Vec<Value>) -> Op {
        Op::Append {
            route: at(path),
            items,
        }
    }

    fn remove_key(path: &str, key: &str) -> Op {
        Op::RemovePair {
            route: at(path),
            key: key.into(),
        }
    }

    fn remove_at(path: &str, index: usize) -> Op {
        Op::RemoveItem {
            route: at(path),
            index,
        }
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn run(text: &str, ops: &[Op]) -> Result<String, PatchError> {
        let docs = parse(text).unwrap();
        apply(text, &docs, ops).map(|p| p.text)
    }

    #[test]
    fn operations_write_in_the_style_of_the_file() {
        let item = map(&[
            ("shard", Value::Raw("/c.yml".into())),
            ("imageRef", s("abc1234")),
        ]);
        let by_ref = map(&[
            ("shard", map(&[("$ref", Value::Raw("/c.yml".into()))])),
            ("imageRef", s("0373973")),
        ]);
        let add_list = add("a", "list", Value::Seq(vec![item.clone()]));
        let table: Vec<(&str, &str, Vec<Op>, &str)> = vec![
            // set a scalar
            ("plain stays plain", "a: 1234567 # c\n", vec![set("a", "abcdef0", '\'')], "a: abcdef0 # c\n"),
            ("quotes are kept", "a: \"1234567\"\n", vec![set("a", "6412849", '\'')], "a: \"6412849\"\n"),
            ("a number is quoted", "a: abcdef0\n", vec![set("a", "6412849", '"')], "a: \"6412849\"\n"),
            ("single quotes double", "a: x\n", vec![set("a", "it's: y", '\'')], "a: 'it''s: y'\n"),
            ("flow scalar", "{a: [x, y]}", vec![set("a[1]", "true", '\'')], "{a: [x, 'true']}"),
            ("crlf", "a:\r\n  b: x\r\n", vec![set("a.b", "z", '\'')], "a:\r\n  b: z\r\n"),
            // rewrite part of a scalar
            (
                "image tag",
                "image: 'q.io/r:1234567'\n",
                vec![Op::Rewrite { route: at("image"), at: 7..14, with: "abcdef0".into() }],
                "image: 'q.io/r:abcdef0'\n",
            ),
            // add a pair
            ("block pair", "a:\n  b: 1\nc: 2\n", vec![add("a", "k", s("v"))], "a:\n  b: 1\n  k: v\nc: 2\n"),
            ("no final newline", "a:\n  b: 1", vec![add("a", "k", s("v"))], "a:\n  b: 1\n  k: v"),
            ("flow pair", "a: {b: 1} # c\n", vec![add("a", "k", s("0o17"))], "a: {b: 1, k: '0o17'} # c\n"),
            ("empty flow map", "a: {}\n", vec![add("a", "k", s("v"))], "a: {k: v}\n"),
            (
                "block sequence value, four spaces, indented",
                "x:\n    y:\n        - 1\na:\n    b: 1\n",
                vec![add("a", "list", Value::Seq(vec![by_ref.clone()]))],
                "x:\n    y:\n        - 1\na:\n    b: 1\n    list:\n        - shard:\n              $ref: /c.yml\n          imageRef: '0373973'\n",
            ),
            ("a null value is filled", "a:\n  list: null # none\n  b: 1\n", vec![add_list.clone()],
                "a:\n  list: # none\n  - shard: /c.yml\n    imageRef: abc1234\n  b: 1\n"),
            ("an empty value is filled", "a:\n  list:\n", vec![add_list.clone()],
                "a:\n  list:\n  - shard: /c.yml\n    imageRef: abc1234\n"),
            ("flow sequence value", "a: {b: 1}\n", vec![add_list.clone()],
                "a: {b: 1, list: [{shard: /c.yml, imageRef: abc1234}]}\n"),
            // append items
            (
                "block items take the first item's columns",
                "l:\n  -   k: 1\n      j: 2\n",
                vec![append("l", vec![item.clone()])],
                "l:\n  -   k: 1\n      j: 2\n  -   shard: /c.yml\n      imageRef: abc1234\n",
            ),
            ("flow items", "l: [a]\n", vec![append("l", vec![s("b"), s("c d")])], "l: [a, b, c d]\n"),
            ("empty flow sequence, a 1.1 bool", "l: []\n", vec![append("l", vec![s("y")])], "l: ['y']\n"),
            // remove a pair
            ("block pair and its line", "a: 1\nb: 2 # c\nc: 3\n", vec![remove_key("", "b")], "a: 1\nc: 3\n"),
            ("first flow pair", "{a: 1, b: 2}", vec![remove_key("", "a")], "{b: 2}"),
            ("last flow pair", "{a: 1, b: 2}", vec![remove_key("", "b")], "{a: 1}"),
            // remove an item
            ("block item and its lines", "l:\n- k: 1\n  j: 2\n- k: 3\n", vec![remove_at("l", 0)], "l:\n- k: 3\n"),
            ("flow item", "l: [x, y, z]\n", vec![remove_at("l", 1)], "l: [x, z]\n"),
            (
                "flow items from the last",
                "l: [x, y, z]\n",
                vec![remove_at("l", 2), remove_at("l", 1)],
                "l: [x]\n",
            ),
            // each operation sees the document as the one before left it
            (
                "a pair added to the last item, then an item appended",
                "l:\n- k: 1\n",
                vec![add("l[0]", "j", s("2")), append("l", vec![map(&[("k", s("3"))])])],
                "l:\n- k: 1\n  j: '2'\n- k: '3'\n",
            ),
            (
                "a longer value, then an edit after it",
                "a: x\nb: y\n",
                vec![set("a", "1.5", '\''), set("b", "z", '\'')],
                "a: '1.5'\nb: z\n",
            ),
            (
                "second document",
                "a: 1\n---\na: 2\n",
                vec![Op::SetScalar { route: Route::doc(1).key("a"), value: "x".into(), quote: '\'' }],
                "a: 1\n---\na: x\n",
            ),
        ];
        for (name, before, ops, after) in table {
            assert_eq!(run(before, &ops).as_deref(), Ok(after), "{name}");
        }
    }

    #[test]
    fn operations_that_cannot_apply_are_refused() {
        let table: Vec<(&str, &str, Op, &str)> = vec![
            ("no node", "a: 1\n", set("b", "x", '\''), "nothing at b"),
            (
                "not a sequence",
                "a: 1\n",
                append("a", vec![s("x")]),
                "a is not a sequence",
            ),
            (
                "not a scalar",
                "a: [1]\n",
                set("a", "x", '\''),
                "a is not a scalar",
            ),
            (
                "key there",
                "a: {b: [1]}\n",
                add("a", "b", s("x")),
                "b is there already",
            ),
            (
                "no such pair",
                "a: 1\n",
                remove_key("", "b"),
                "cannot edit the document",
            ),
            (
                "no such item",
                "l: [x]\n",
                remove_at("l", 3),
                "cannot edit l",
            ),
            (
                "the only flow pair",
                "a: {b: 1}\n",
                remove_key("a", "b"),
                "cannot edit a",
            ),
            (
                "a block value in a flow mapping does not parse",
                "a: {b: 1}\n",
                Op::Rewrite {
                    route: at("a.b"),
                    at: 0..1,
                    with: "[".into(),
                },
                "YAML syntax error",
            ),
        ];
        for (name, before, op, why) in table {
            let err = run(before, &[op]).unwrap_err();
            assert!(err.0.contains(why), "{name}: {err}");
        }
    }

    #[test]
    fn a_set_that_would_not_read_back_is_refused() {
        // The scalar keeps its plain style only when the value reads back as itself.
        let err = run(
            "a: x\n",
            &[Op::Rewrite {
                route: at("a"),
                at: 0..1,
                with: "x # y".into(),
            }],
        );
        assert!(err.is_err());
        assert_eq!(
            splice(b"abc", &[(1..2, "X".into()), (1..3, "Y".into())])
                .unwrap_err()
                .0,
            "overlapping or out-of-range edit at byte 1"
        );
    }

    #[test]
    fn routes_find_the_scalar_at_an_offset() {
        let t = "a:\n  - k: 'v'\n    j: [x, y]\n";
        let docs = parse(t).unwrap();
        let (r, n) = Route::to_scalar(&docs, t.find("y]").unwrap()).unwrap();
        assert_eq!(n.as_str(), Some("y"));
        assert_eq!(r.to_string(), "<value 0>[0].<value 1>[1]");
        assert_eq!(
            r.resolve(&docs).map(|n| n.span.clone()),
            Some(n.span.clone())
        );
        let (_, n) = Route::to_scalar(&docs, t.find('v').unwrap()).unwrap();
        assert_eq!(n.as_str(), Some("v"));
        assert_eq!(at("a[0].k").to_string(), "a[0].k");
    }
}
