//! The scalars of parsed documents as YAML readers load them: each with the key it is the value
//! of, aliases resolved to the scalars they name (an alias used as a key too), and whether a
//! scalar's tag keeps it a string.

use super::{Node, NodeKind};

/// A scalar of a document and where it stands.
#[derive(Debug, Clone, Copy)]
pub struct ScalarAt<'a> {
    pub node: &'a Node,
    /// The key when the scalar is the value of a pair whose key is a scalar (or an alias of
    /// one: the anchored key's value).
    pub key: Option<&'a str>,
    /// The scalar is itself a mapping key.
    pub is_key: bool,
    /// The alias this scalar is reached through (`key: *a`): `node` is then the anchored
    /// scalar, written elsewhere.
    pub via: Option<&'a Node>,
}

/// The anchored scalars of the documents by anchor id.
pub fn anchors(docs: &[Node]) -> std::collections::HashMap<usize, &Node> {
    fn walk<'a>(n: &'a Node, out: &mut std::collections::HashMap<usize, &'a Node>) {
        match &n.kind {
            NodeKind::Scalar(..) if n.anchor > 0 => {
                out.insert(n.anchor, n);
            }
            NodeKind::Map(pairs) => {
                for (k, v) in pairs {
                    walk(k, out);
                    walk(v, out);
                }
            }
            NodeKind::Seq(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = std::collections::HashMap::new();
    docs.iter().for_each(|d| walk(d, &mut out));
    out
}

/// Every scalar of the documents, in document order; an alias of an anchored scalar is given
/// as that scalar, reached through it (aliases resolved, as YAML readers load them).
pub fn scalars(docs: &[Node]) -> Vec<ScalarAt<'_>> {
    type Anchors<'a> = std::collections::HashMap<usize, &'a Node>;
    fn key_of<'a>(k: &'a Node, anchors: &Anchors<'a>) -> Option<&'a str> {
        match &k.kind {
            NodeKind::Alias => anchors.get(&k.anchor).and_then(|a| a.as_str()),
            _ => k.as_str(),
        }
    }
    fn walk<'a>(
        n: &'a Node,
        key: Option<&'a str>,
        is_key: bool,
        anchors: &Anchors<'a>,
        out: &mut Vec<ScalarAt<'a>>,
    ) {
        match &n.kind {
            NodeKind::Scalar(..) => out.push(ScalarAt {
                node: n,
                key,
                is_key,
                via: None,
            }),
            NodeKind::Map(pairs) => {
                for (k, v) in pairs {
                    walk(k, None, true, anchors, out);
                    walk(v, key_of(k, anchors), false, anchors, out);
                }
            }
            NodeKind::Seq(items) => {
                for i in items {
                    walk(i, None, false, anchors, out);
                }
            }
            NodeKind::Alias => {
                if let Some(a) = anchors.get(&n.anchor) {
                    out.push(ScalarAt {
                        node: a,
                        key,
                        is_key,
                        via: Some(n),
                    });
                }
            }
        }
    }
    let anchors = anchors(docs);
    let mut out = Vec::new();
    for d in docs {
        walk(d, None, false, &anchors, &mut out);
    }
    out
}

/// Whether a scalar's explicit tag, if any, keeps it a string (`!!str`).
pub fn is_string_tag(tag: Option<&str>) -> bool {
    match tag {
        None => true,
        Some(t) => t == "!!str" || t == "tag:yaml.org,2002:str",
    }
}
