//! `pin` and `unpin`: span edits of an integration's `sharding.shardSpecOverrides`, checked by parsing the result again.

use std::ops::Range;

use crate::checkout::Checkout;
use crate::edit::splice;
use crate::error::{Error, Result};
use crate::model::{
    norm_ref, read_integration, suggest, Integration, Model, ShardKey, Strategy, RECONCILE,
};
use crate::plan::FileChange;
use crate::yaml::{self, Node, NodeKind};

/// Which pinned shards `unpin` releases.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    Shards(&'a [String]),
    All,
}

/// A shard as an override names it.
#[derive(Debug, Clone)]
struct Wanted {
    /// The shard's name, for messages.
    name: String,
    key: ShardKey,
}

/// The index of the managed entry to edit: the one in `namespace` (name or `$ref`), else the one
/// whose namespace is in the `production` environment.
pub fn select_entry(model: &Model, integ: &Integration, namespace: Option<&str>) -> Result<usize> {
    let found: Vec<usize> = integ
        .managed
        .iter()
        .enumerate()
        .filter(|(_, m)| match namespace {
            Some(n) => model.namespace_matches(m, n),
            None => model.namespace_of(m).environment.as_deref() == Some("production"),
        })
        .map(|(i, _)| i)
        .collect();
    if let [one] = found.as_slice() {
        return Ok(*one);
    }
    let list: Vec<String> = integ
        .managed
        .iter()
        .map(|m| {
            let ns = model.namespace_of(m);
            format!(
                "{}:{}: {} ({})",
                integ.path,
                m.line,
                ns.name,
                ns.environment.as_deref().unwrap_or("no environment")
            )
        })
        .collect();
    let what = match namespace {
        Some(n) => format!("in namespace {n}"),
        None => "in the production environment".to_string(),
    };
    Err(Error::input(format!(
        "{}: {} managed entries of {} {what} (name one with a namespace); entries: {}",
        integ.path,
        if found.is_empty() { "no" } else { "several" },
        integ.name,
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join("; ")
        }
    )))
}

fn resolve(
    model: &Model,
    integ: &Integration,
    idx: usize,
    names: &[String],
) -> Result<(Strategy, Vec<Wanted>)> {
    let m = &integ.managed[idx];
    let ns = model.namespace_of(m).name;
    let Some(sh) = &m.sharding else {
        return Err(Error::input(format!(
            "{}:{}: {} has no sharding in namespace {ns}",
            integ.path, m.line, integ.name
        )));
    };
    if sh.strategy == Strategy::Other {
        return Err(Error::input(format!(
            "{}:{}: {} shards by {:?}, a strategy qr-promote does not know; edit its shardSpecOverrides by hand",
            integ.path, m.line, integ.name, sh.strategy_name
        )));
    }
    if m.cron.is_some() {
        return Err(Error::input(format!(
            "{}:{}: {} runs as one CronJob in namespace {ns}: it has no shards to pin",
            integ.path, m.line, integ.name
        )));
    }
    let shards = model.entry_shards(&integ.name, m);
    let mut parents: Vec<&str> = shards.iter().map(|s| s.parent.as_str()).collect();
    parents.dedup();
    let mut out = Vec::new();
    for n in names {
        let as_ref = norm_ref(n.strip_prefix("data/").unwrap_or(n));
        let hit = shards.iter().find(|s| {
            s.parent == *n
                || s.target_ref.as_deref().map(norm_ref).as_deref() == Some(as_ref.as_str())
                || (sh.strategy == Strategy::PerOcmOrganization && s.parent.eq_ignore_ascii_case(n))
        });
        let Some(s) = hit else {
            if let Some(sub) = shards.iter().find(|s| s.name == *n) {
                return Err(Error::input(format!(
                    "{}:{}: {n} is a sub-shard of {}: pin {} (its sub-shards share its override)",
                    integ.path, m.line, sub.parent, sub.parent
                )));
            }
            let ocm_name = model
                .ocm_orgs
                .iter()
                .find(|o| o.name == *n)
                .and_then(|o| o.org_id.as_deref())
                .map(str::to_lowercase);
            if let Some(s) = ocm_name.and_then(|id| shards.iter().find(|s| s.parent == id)) {
                out.push(wanted(
                    model,
                    sh.strategy,
                    s.parent.clone(),
                    s.target_ref.clone(),
                ));
                continue;
            }
            let off = model
                .accounts
                .iter()
                .chain(&model.clusters)
                .chain(&model.ocm_orgs)
                .find(|t| t.name == *n && t.disabled.contains(&integ.name));
            if let Some(t) = off {
                return Err(Error::input(format!(
                    "{}:{}: {n} is no shard of {}: data/{} disables it",
                    integ.path, m.line, integ.name, t.path
                )));
            }
            return Err(Error::input(format!(
                "{}:{}: unknown shard {n} of {} in namespace {ns} ({} {} shards){}",
                integ.path,
                m.line,
                integ.name,
                parents.len(),
                sh.strategy.name(),
                suggest(n, &parents)
            )));
        };
        out.push(wanted(
            model,
            sh.strategy,
            s.parent.clone(),
            s.target_ref.clone(),
        ));
    }
    Ok((sh.strategy, out))
}

fn wanted(model: &Model, strategy: Strategy, parent: String, target_ref: Option<String>) -> Wanted {
    let key = match (strategy, target_ref) {
        (s, Some(r)) if s.by_ref() => ShardKey::Ref(norm_ref(&r)),
        (Strategy::PerOcmOrganization, _) => ShardKey::Value(
            model
                .ocm_orgs
                .iter()
                .filter_map(|o| o.org_id.clone())
                .find(|o| o.to_lowercase() == parent)
                .unwrap_or_else(|| parent.clone()),
        ),
        _ => ShardKey::Value(parent.clone()),
    };
    Wanted { name: parent, key }
}

/// Whether an override's shard node names `w`.
fn names(node: &Node, w: &Wanted) -> bool {
    match (crate::model::shard_key(node), &w.key) {
        (Some(ShardKey::Ref(a)), ShardKey::Ref(b)) => a == *b,
        (Some(ShardKey::Value(a)), ShardKey::Value(b)) => {
            a == *b
                || a.eq_ignore_ascii_case(b)
                || (a.trim().parse::<u32>().ok().is_some()
                    && a.trim().parse::<u32>().ok() == b.parse().ok())
        }
        _ => false,
    }
}

/// The layout of a file: the indentation step and whether sequences are indented under their key.
#[derive(Debug, Clone, Copy)]
struct Style {
    unit: usize,
    indented_seqs: bool,
}

fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

fn col(text: &str, pos: usize) -> usize {
    pos - line_start(text, pos)
}

/// The offset after the newline ending the line of `pos` (the end of the text when none).
fn line_end(text: &str, pos: usize) -> usize {
    text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1)
}

fn is_flow(text: &str, n: &Node) -> bool {
    matches!(text.as_bytes().get(n.span.start), Some(b'{' | b'['))
}

/// The end of a flow collection starting at `start` (after its closing bracket).
fn flow_end(text: &str, start: usize) -> usize {
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
fn content_end(text: &str, n: &Node) -> usize {
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
            None => match yaml::value_span(text, n) {
                Some(r) => r.end,
                None => n.span.end,
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

/// The column of a block sequence item's dash.
fn dash_col(text: &str, item: &Node) -> usize {
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

fn detect_style(text: &str, docs: &[Node]) -> Style {
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
    Style {
        unit: unit.unwrap_or(2),
        indented_seqs: seqs.unwrap_or(false),
    }
}

/// A scalar as written: plain when it reads back as the same string, else single-quoted.
fn scalar(s: &str) -> String {
    let plain_ok = !s.is_empty()
        && !yaml::plain_is_not_string(s)
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@` ".contains(c))
        && !s.contains(['{', '}', '[', ']', ',', '\n'])
        && s.trim() == s;
    if plain_ok {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn shard_value(w: &Wanted) -> String {
    match &w.key {
        ShardKey::Ref(r) => format!("/{r}"),
        ShardKey::Value(v) if v.parse::<u32>().is_ok() => v.clone(),
        ShardKey::Value(v) => scalar(v),
    }
}

fn flow_item(w: &Wanted, r: &str) -> String {
    match &w.key {
        ShardKey::Ref(_) => format!(
            "{{shard: {{$ref: {}}}, imageRef: {}}}",
            shard_value(w),
            scalar(r)
        ),
        ShardKey::Value(_) => format!("{{shard: {}, imageRef: {}}}", shard_value(w), scalar(r)),
    }
}

/// A block item at dash column `d` whose keys stand at column `k`.
fn block_item(w: &Wanted, r: &str, d: usize, k: usize, unit: usize) -> String {
    let head = format!(
        "{}-{}",
        " ".repeat(d),
        " ".repeat(k.saturating_sub(d + 1).max(1))
    );
    let pad = " ".repeat(k);
    match &w.key {
        ShardKey::Ref(_) => format!(
            "{head}shard:\n{}$ref: {}\n{pad}imageRef: {}\n",
            " ".repeat(k + unit),
            shard_value(w),
            scalar(r)
        ),
        ShardKey::Value(_) => format!(
            "{head}shard: {}\n{pad}imageRef: {}\n",
            shard_value(w),
            scalar(r)
        ),
    }
}

/// An insertion of whole lines after the line of `pos`.
fn insert_lines(text: &str, pos: usize, lines: String) -> (Range<usize>, String) {
    let at = line_end(text, pos);
    if at == text.len() && !text.ends_with('\n') {
        (at..at, format!("\n{}", lines.trim_end_matches('\n')))
    } else {
        (at..at, lines)
    }
}

/// An insertion of `item` (text) into a flow collection `n`.
fn insert_flow(text: &str, n: &Node, item: &str, empty: bool) -> (Range<usize>, String) {
    if empty {
        let close = flow_end(text, n.span.start).saturating_sub(1);
        (close..close, item.to_string())
    } else {
        let last_end = match &n.kind {
            NodeKind::Map(p) => p.last().map(|(_, v)| content_end(text, v)),
            NodeKind::Seq(i) => i.last().map(|v| content_end(text, v)),
            _ => None,
        }
        .unwrap_or(n.span.start + 1);
        (last_end..last_end, format!(", {item}"))
    }
}

struct Target {
    docs: Vec<Node>,
    idx: usize,
}

fn entry<'a>(t: &'a Target, path: &str) -> Result<&'a Node> {
    t.docs
        .first()
        .and_then(|d| d.get("managed"))
        .and_then(|m| m.items().get(t.idx))
        .ok_or_else(|| Error::input(format!("{path}: managed entry {} not found", t.idx + 1)))
}

/// The integration file's text and its documents, with the managed entry to edit.
fn open_target(checkout: &Checkout, path: &str, idx: usize) -> Result<(String, Target)> {
    let text = read(checkout, path)?;
    let docs =
        yaml::parse(&text).map_err(|e| Error::input(format!("{path}:{e} (YAML syntax error)")))?;
    Ok((text, Target { docs, idx }))
}

fn read(checkout: &Checkout, path: &str) -> Result<String> {
    let p = checkout.root.join(path);
    let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
    String::from_utf8(bytes).map_err(|_| Error::input(format!("{path}: not valid UTF-8")))
}

/// Pins `shards` of `integration` to `image_ref` (default: the `.env` version of
/// qontract-reconcile) in its managed entry of `namespace` (default: the production one).
/// Returns the change for the caller to write (with [`crate::transaction::write_all`]); `before ==
/// after` when every shard is already pinned to that ref.
pub fn pin(
    checkout: &Checkout,
    model: &Model,
    integration: &str,
    shards: &[String],
    image_ref: Option<&str>,
    namespace: Option<&str>,
    force: bool,
) -> Result<FileChange> {
    let integ = model.integration(integration)?;
    let idx = select_entry(model, integ, namespace)?;
    let (strategy, wanted) = resolve(model, integ, idx, shards)?;
    if wanted.is_empty() {
        return Err(Error::input("name at least one shard to pin"));
    }
    let r = match image_ref {
        Some(r) => r.to_string(),
        None => checkout.component(RECONCILE)?.tag.clone(),
    };
    if r.is_empty() || r.contains(char::is_whitespace) {
        return Err(Error::input(format!("{r:?} is not an image ref")));
    }
    let path = &integ.path;
    let (text, t) = open_target(checkout, path, idx)?;
    let e = entry(&t, path)?;
    let style = detect_style(&text, &t.docs);
    let sharding = e
        .get("sharding")
        .ok_or_else(|| Error::input(format!("{path}:{}: no sharding", e.line)))?;
    let overrides = sharding.get("shardSpecOverrides");
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    let mut new_items: Vec<&Wanted> = Vec::new();
    for w in &wanted {
        let existing = overrides
            .map(Node::items)
            .unwrap_or(&[])
            .iter()
            .find(|o| o.get("shard").is_some_and(|s| names(s, w)));
        let Some(o) = existing else {
            if !new_items.iter().any(|n| n.name == w.name) {
                new_items.push(w);
            }
            continue;
        };
        match o.get("imageRef") {
            Some(v) if v.as_str() == Some(r.as_str()) => {}
            Some(v) => {
                let old = v.as_str().unwrap_or_default();
                if !force && !old.is_empty() {
                    return Err(Error::refused(format!(
                        "{path}:{}: shard {} of {integration} is pinned to {old}, not {r} (--force changes it)",
                        v.line, w.name
                    )));
                }
                let span = yaml::value_span(&text, v)
                    .filter(|_| {
                        v.style().and_then(|s| s.quote()).is_some()
                            && !r.contains(['\'', '"', '\\'])
                    })
                    .map(|s| (s, r.clone()))
                    .unwrap_or_else(|| (v.span.start..content_end(&text, v), scalar(&r)));
                edits.push(span);
            }
            None => {
                if is_flow(&text, o) {
                    edits.push(insert_flow(
                        &text,
                        o,
                        &format!("imageRef: {}", scalar(&r)),
                        o.pairs().is_empty(),
                    ));
                } else {
                    let k = o
                        .pairs()
                        .first()
                        .map_or(dash_col(&text, o) + 2, |(k, _)| col(&text, k.span.start));
                    edits.push(insert_lines(
                        &text,
                        content_end(&text, o),
                        format!("{}imageRef: {}\n", " ".repeat(k), scalar(&r)),
                    ));
                }
            }
        }
    }
    if !new_items.is_empty() {
        match overrides {
            Some(list) if is_flow(&text, list) => {
                let items: Vec<String> = new_items.iter().map(|w| flow_item(w, &r)).collect();
                edits.push(insert_flow(
                    &text,
                    list,
                    &items.join(", "),
                    list.items().is_empty(),
                ));
            }
            Some(list) if !list.items().is_empty() => {
                let first = &list.items()[0];
                let d = dash_col(&text, first);
                let k = first
                    .pairs()
                    .first()
                    .map_or(d + 2, |(k, _)| col(&text, k.span.start));
                let lines: String = new_items
                    .iter()
                    .map(|w| block_item(w, &r, d, k, style.unit))
                    .collect();
                edits.push(insert_lines(&text, content_end(&text, list), lines));
            }
            Some(list) => {
                // `shardSpecOverrides:` with no value or `null`: write the items after the key.
                let key = sharding
                    .entry("shardSpecOverrides")
                    .map(|(k, _)| k)
                    .ok_or_else(|| {
                        Error::input(format!("{path}:{}: no shardSpecOverrides key", list.line))
                    })?;
                let kc = col(&text, key.span.start);
                let d = kc + if style.indented_seqs { style.unit } else { 0 };
                let lines: String = new_items
                    .iter()
                    .map(|w| block_item(w, &r, d, d + 2, style.unit))
                    .collect();
                let key_end = key.span.start + "shardSpecOverrides".len();
                let colon = text[key_end..]
                    .find(':')
                    .map_or(key_end, |i| key_end + i + 1);
                let value_end = if list.as_str().is_some_and(|s| !s.is_empty()) {
                    content_end(&text, list)
                } else {
                    colon
                };
                edits.push((colon..value_end, String::new()));
                edits.push(insert_lines(&text, value_end, lines));
            }
            None if is_flow(&text, sharding) => {
                let items: Vec<String> = new_items.iter().map(|w| flow_item(w, &r)).collect();
                edits.push(insert_flow(
                    &text,
                    sharding,
                    &format!("shardSpecOverrides: [{}]", items.join(", ")),
                    sharding.pairs().is_empty(),
                ));
            }
            None => {
                let kc = sharding
                    .pairs()
                    .first()
                    .map_or(0, |(k, _)| col(&text, k.span.start));
                let d = kc + if style.indented_seqs { style.unit } else { 0 };
                let mut lines = format!("{}shardSpecOverrides:\n", " ".repeat(kc));
                for w in &new_items {
                    lines.push_str(&block_item(w, &r, d, d + 2, style.unit));
                }
                edits.push(insert_lines(&text, content_end(&text, sharding), lines));
            }
        }
    }
    let after = splice(text.as_bytes(), &edits)?;
    check(path, &text, &after, idx, strategy, &wanted, Some(&r))?;
    Ok(FileChange {
        path: path.clone(),
        before: text.into_bytes(),
        after,
        edits: Vec::new(),
    })
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
        let b = text.as_bytes();
        let mut start = item.span.start;
        while start > 0 && b[start - 1] != b'\n' {
            start -= 1;
        }
        return Some(start..line_end(text, content_end(text, item)));
    }
    if let Some(next) = items.get(i + 1) {
        return Some(item.span.start..next.span.start);
    }
    let prev = items.get(i.checked_sub(1)?)?;
    Some(content_end(text, prev)..content_end(text, item))
}

/// Removes the `imageRef` of the selected overrides of `integration` in `namespace` (default:
/// the production entry), and each override that then says nothing else (and an empty
/// `shardSpecOverrides`). Returns the change for the caller to write.
pub fn unpin(
    checkout: &Checkout,
    model: &Model,
    integration: &str,
    which: Which<'_>,
    namespace: Option<&str>,
) -> Result<FileChange> {
    let integ = model.integration(integration)?;
    let idx = select_entry(model, integ, namespace)?;
    let path = &integ.path;
    let (text, t) = open_target(checkout, path, idx)?;
    let e = entry(&t, path)?;
    let sharding = e
        .get("sharding")
        .ok_or_else(|| Error::input(format!("{path}:{}: {integration} has no sharding", e.line)))?;
    let (strategy, wanted) = match which {
        Which::Shards(names) => resolve(model, integ, idx, names)?,
        Which::All => {
            let strategy = integ.managed[idx]
                .sharding
                .as_ref()
                .map_or(Strategy::Static, |s| s.strategy);
            let all: Vec<Wanted> = sharding
                .get("shardSpecOverrides")
                .map(Node::items)
                .unwrap_or(&[])
                .iter()
                .filter(|o| o.get("imageRef").is_some())
                .filter_map(|o| o.get("shard").and_then(crate::model::shard_key))
                .map(|key| Wanted {
                    name: match &key {
                        ShardKey::Ref(r) | ShardKey::Value(r) => r.clone(),
                    },
                    key,
                })
                .collect();
            (strategy, all)
        }
    };
    let list = sharding.get("shardSpecOverrides");
    let items = list.map(Node::items).unwrap_or(&[]);
    let mut remove_items = Vec::new();
    let mut edits = Vec::new();
    for w in &wanted {
        let found = items.iter().enumerate().find(|(_, o)| {
            o.get("shard").is_some_and(|s| names(s, w)) && o.get("imageRef").is_some()
        });
        let Some((i, o)) = found else {
            if matches!(which, Which::Shards(_)) {
                return Err(Error::input(format!(
                    "{path}: shard {} of {integration} is not pinned (no override with an imageRef)",
                    w.name
                )));
            }
            continue;
        };
        let others = o
            .pairs()
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), Some("shard" | "imageRef")))
            .count();
        if others == 0 {
            remove_items.push(i);
        } else {
            let p = o
                .pairs()
                .iter()
                .position(|(k, _)| k.as_str() == Some("imageRef"))
                .unwrap_or_default();
            edits.push(remove_pair(&text, o, p).ok_or_else(|| {
                Error::input(format!("{path}:{}: cannot remove imageRef", o.line))
            })?);
        }
    }
    remove_items.sort_unstable();
    remove_items.dedup();
    if let Some(list) = list {
        if !items.is_empty() && remove_items.len() == items.len() {
            let p = sharding
                .pairs()
                .iter()
                .position(|(k, _)| k.as_str() == Some("shardSpecOverrides"))
                .unwrap_or_default();
            edits.push(remove_pair(&text, sharding, p).ok_or_else(|| {
                Error::input(format!(
                    "{path}:{}: cannot remove shardSpecOverrides",
                    list.line
                ))
            })?);
        } else {
            for i in remove_items {
                edits.push(remove_item(&text, list, i).ok_or_else(|| {
                    Error::input(format!("{path}:{}: cannot remove override", list.line))
                })?);
            }
        }
    }
    let edits: Vec<(Range<usize>, String)> =
        edits.into_iter().map(|r| (r, String::new())).collect();
    let after = splice(text.as_bytes(), &edits)?;
    check(path, &text, &after, idx, strategy, &wanted, None)?;
    Ok(FileChange {
        path: path.clone(),
        before: text.into_bytes(),
        after,
        edits: Vec::new(),
    })
}

/// Parses the edited file again: it must hold the same entries, the others byte for byte, and
/// the overrides of `wanted` must carry `image_ref`.
fn check(
    path: &str,
    before: &str,
    after: &[u8],
    idx: usize,
    strategy: Strategy,
    wanted: &[Wanted],
    image_ref: Option<&str>,
) -> Result<()> {
    let fail = |why: &str| {
        Error::input(format!(
            "{path}: the edit would break the file ({why}); nothing written"
        ))
    };
    let text = std::str::from_utf8(after).map_err(|_| fail("not UTF-8"))?;
    let new_docs = yaml::parse(text).map_err(|e| fail(&e.to_string()))?;
    let old_docs = yaml::parse(before).map_err(|e| fail(&e.to_string()))?;
    let (Some(nd), Some(od)) = (new_docs.first(), old_docs.first()) else {
        return Err(fail("no document"));
    };
    let keys = |d: &Node| -> Vec<Option<String>> {
        d.pairs()
            .iter()
            .map(|(k, _)| k.as_str().map(str::to_string))
            .collect()
    };
    if keys(nd) != keys(od) {
        return Err(fail("top-level keys changed"));
    }
    for (k, v) in od.pairs() {
        let Some(key) = k.as_str() else { continue };
        let nv = nd.get(key).ok_or_else(|| fail("a key is gone"))?;
        if key == "managed" {
            if nv.items().len() != v.items().len() {
                return Err(fail("managed entries changed"));
            }
            for (i, (a, b)) in v.items().iter().zip(nv.items()).enumerate() {
                if i != idx && before.get(a.span.clone()) != text.get(b.span.clone()) {
                    return Err(fail("another managed entry changed"));
                }
            }
        } else if !is_flow(before, v)
            && before.get(v.span.start..content_end(before, v))
                != text.get(nv.span.start..content_end(text, nv))
        {
            return Err(fail(&format!("{key} changed")));
        }
    }
    let integ = read_integration(path, nd)?;
    let m = integ
        .managed
        .get(idx)
        .ok_or_else(|| fail("managed entry gone"))?;
    let sh = m.sharding.as_ref().ok_or_else(|| fail("sharding gone"))?;
    if sh.strategy != strategy {
        return Err(fail("strategy changed"));
    }
    for w in wanted {
        let got = sh.overrides.iter().find(|o| match (&o.shard, &w.key) {
            (ShardKey::Ref(a), ShardKey::Ref(b)) => a == b,
            (ShardKey::Value(a), ShardKey::Value(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        });
        let now = got.and_then(|o| o.image_ref.as_deref());
        if now != image_ref {
            return Err(fail(&format!(
                "shard {} reads {} instead of {}",
                w.name,
                now.unwrap_or("no imageRef"),
                image_ref.unwrap_or("no imageRef")
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_quoted_when_they_would_read_otherwise() {
        assert_eq!(scalar("abc1234"), "abc1234");
        assert_eq!(scalar("0373973"), "'0373973'");
        assert_eq!(scalar("1e5"), "'1e5'");
        assert_eq!(scalar("true"), "'true'");
        assert_eq!(scalar("a: b"), "'a: b'");
        assert_eq!(scalar("it's"), "it's");
        assert_eq!(scalar("'x"), "'''x'");
    }

    #[test]
    fn style_is_detected() {
        let t = "a:\n    b: 1\n    c:\n        - x\n";
        let s = detect_style(t, &yaml::parse(t).unwrap());
        assert_eq!((s.unit, s.indented_seqs), (4, true));
        let t = "a:\n  b:\n  - x\n";
        let s = detect_style(t, &yaml::parse(t).unwrap());
        assert_eq!((s.unit, s.indented_seqs), (2, false));
    }

    #[test]
    fn content_ends_before_comments() {
        let t = "a: 'x y' # c\nb: [1, {c: d}] # e\nc:\n  - k: v  # f\n";
        let d = &yaml::parse(t).unwrap()[0];
        let end = |k: &str| &t[..content_end(t, d.get(k).unwrap())];
        assert!(end("a").ends_with("'x y'"));
        assert!(end("b").ends_with("{c: d}]"));
        assert!(end("c").ends_with("k: v"));
    }

    #[test]
    fn flow_pairs_and_items_are_removed_cleanly() {
        let t = "{a: 1, b: 2, c: [x, y, z]}";
        let d = &yaml::parse(t).unwrap()[0];
        let cut = |r: Range<usize>| format!("{}{}", &t[..r.start], &t[r.end..]);
        assert_eq!(cut(remove_pair(t, d, 0).unwrap()), "{b: 2, c: [x, y, z]}");
        assert_eq!(cut(remove_pair(t, d, 2).unwrap()), "{a: 1, b: 2}");
        let c = d.get("c").unwrap();
        assert_eq!(
            cut(remove_item(t, c, 1).unwrap()),
            "{a: 1, b: 2, c: [x, z]}"
        );
        assert_eq!(
            cut(remove_item(t, c, 2).unwrap()),
            "{a: 1, b: 2, c: [x, y]}"
        );
    }
}
