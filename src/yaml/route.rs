//! Routes: the way from a document to one of its nodes, by keys and indexes, so that an
//! operation finds its node again in the document as earlier operations left it.

use super::{Node, NodeKind};

/// A step of a [`Route`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The value under a key of a mapping (the last pair with that key, as readers take it).
    Key(String),
    /// An item of a sequence.
    Item(usize),
    /// The key of the n-th pair of a mapping.
    PairKey(usize),
    /// The value of the n-th pair of a mapping.
    PairValue(usize),
}

/// The way from a document to one of its nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// The document, by its index in the file.
    pub doc: usize,
    pub steps: Vec<Step>,
}

impl Route {
    /// The root of document `doc`.
    pub fn doc(doc: usize) -> Route {
        Route {
            doc,
            steps: Vec::new(),
        }
    }

    /// The value under `key` of the mapping this route leads to.
    pub fn key(mut self, key: &str) -> Route {
        self.steps.push(Step::Key(key.to_string()));
        self
    }

    /// Item `i` of the sequence this route leads to.
    pub fn item(mut self, i: usize) -> Route {
        self.steps.push(Step::Item(i));
        self
    }

    /// The node the route leads to.
    pub fn resolve<'a>(&self, docs: &'a [Node]) -> Option<&'a Node> {
        let mut n = docs.get(self.doc)?;
        for s in &self.steps {
            n = match s {
                Step::Key(k) => n.get(k)?,
                Step::Item(i) => n.items().get(*i)?,
                Step::PairKey(i) => &n.pairs().get(*i)?.0,
                Step::PairValue(i) => &n.pairs().get(*i)?.1,
            };
        }
        Some(n)
    }

    /// The route of the scalar whose bytes hold `offset` (the one starting last when the
    /// parser's spans of two overlap), and the scalar.
    pub fn to_scalar(docs: &[Node], offset: usize) -> Option<(Route, &Node)> {
        fn walk<'a>(n: &'a Node, at: usize, steps: &mut Vec<Step>, best: &mut Best<'a>) {
            match &n.kind {
                NodeKind::Scalar(..) => {
                    let better = best
                        .as_ref()
                        .is_none_or(|(_, b)| n.span.start >= b.span.start);
                    if n.span.start <= at && at <= n.span.end && better {
                        *best = Some((steps.clone(), n));
                    }
                }
                NodeKind::Map(pairs) => {
                    for (i, (k, v)) in pairs.iter().enumerate() {
                        for (step, node) in [(Step::PairKey(i), k), (Step::PairValue(i), v)] {
                            steps.push(step);
                            walk(node, at, steps, best);
                            steps.pop();
                        }
                    }
                }
                NodeKind::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        steps.push(Step::Item(i));
                        walk(item, at, steps, best);
                        steps.pop();
                    }
                }
                NodeKind::Alias => {}
            }
        }
        type Best<'a> = Option<(Vec<Step>, &'a Node)>;
        for (doc, d) in docs.iter().enumerate() {
            if !(d.span.start <= offset && offset <= d.span.end) {
                continue;
            }
            let mut best = None;
            walk(d, offset, &mut Vec::new(), &mut best);
            if let Some((steps, n)) = best {
                return Some((Route { doc, steps }, n));
            }
        }
        None
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.doc > 0 {
            write!(f, "document {}: ", self.doc + 1)?;
        }
        if self.steps.is_empty() {
            return f.write_str("the document");
        }
        for (i, s) in self.steps.iter().enumerate() {
            let dot = if i == 0 { "" } else { "." };
            match s {
                Step::Key(k) => write!(f, "{dot}{k}")?,
                Step::Item(n) => write!(f, "[{n}]")?,
                Step::PairKey(n) => write!(f, "{dot}<key {n}>")?,
                Step::PairValue(n) => write!(f, "{dot}<value {n}>")?,
            }
        }
        Ok(())
    }
}
