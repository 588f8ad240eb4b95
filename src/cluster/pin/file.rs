//! The integration file a pin edits: its managed entry in either layout, and the check that the
//! edited file still says what it did, with the overrides wanted.

/// The integration file, its documents, and the managed entry to edit.
use super::Wanted;
use crate::checkout::Checkout;
use crate::cluster::model::{read_integration, Layout, ShardKey, Strategy};
use crate::error::{Error, Result};
use crate::promote::plan::FileChange;
use crate::yaml::patch::{self, Op, Patched, Route};
use crate::yaml::style::{content_end, is_flow};
use crate::yaml::{self, Node};

pub(super) struct EntryFile {
    pub(super) text: String,
    pub(super) docs: Vec<Node>,
    pub(super) idx: usize,
    pub(super) layout: Layout,
}

impl EntryFile {
    pub(super) fn open(checkout: &Checkout, path: &str, idx: usize) -> Result<EntryFile> {
        let p = checkout.root.join(path);
        let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::input(format!("{path}: not valid UTF-8")))?;
        let docs = yaml::parse(&text)
            .map_err(|e| Error::input(format!("{path}:{e} (YAML syntax error)")))?;
        let layout = match docs.first() {
            Some(d) => read_integration(path, d)?.layout,
            None => Layout::Current,
        };
        Ok(EntryFile {
            text,
            docs,
            idx,
            layout,
        })
    }

    /// Where the file keeps the entry's overrides.
    pub(super) fn places(&self, path: &str, layout: Layout) -> Result<Vec<Place<'_>>> {
        let e = self.entry(path)?;
        Ok(match layout {
            Layout::Current => {
                let sharding = e
                    .get("sharding")
                    .ok_or_else(|| Error::input(format!("{path}:{}: no sharding", e.line)))?;
                vec![Place {
                    list: sharding.get("shardSpecOverrides"),
                    parent_at: self.sharding_at(),
                    key: "shardSpecOverrides",
                    shard_field: "shard",
                    layout,
                }]
            }
            Layout::Before2023 => {
                let mut out = vec![Place {
                    list: e.get("shardSpecOverride"),
                    parent_at: Route::doc(0).key("managed").item(self.idx),
                    key: "shardSpecOverride",
                    shard_field: "awsAccount",
                    layout,
                }];
                let pr_check = self.docs.first().and_then(|d| d.get("pr_check"));
                if let Some(p) = pr_check.filter(|p| p.as_str().is_none()) {
                    out.push(Place {
                        list: p.get("shardSpecOverride"),
                        parent_at: Route::doc(0).key("pr_check"),
                        key: "shardSpecOverride",
                        shard_field: "awsAccount",
                        layout,
                    });
                }
                out
            }
        })
    }

    /// The route to the entry's `sharding`.
    pub(super) fn sharding_at(&self) -> Route {
        Route::doc(0).key("managed").item(self.idx).key("sharding")
    }

    pub(super) fn entry(&self, path: &str) -> Result<&Node> {
        self.docs
            .first()
            .and_then(|d| d.get("managed"))
            .and_then(|m| m.items().get(self.idx))
            .ok_or_else(|| {
                Error::input(format!("{path}: managed entry {} not found", self.idx + 1))
            })
    }

    /// Applies `ops` and checks the result; the change for the caller to write.
    pub(super) fn change(
        self,
        path: &str,
        ops: &[Op],
        strategy: Strategy,
        wanted: &[Wanted],
        image_ref: Option<&str>,
    ) -> Result<FileChange> {
        let after = patch::apply(&self.text, &self.docs, ops).map_err(|e| broken(path, &e.0))?;
        check(path, &self, &after, strategy, wanted, image_ref)?;
        Ok(FileChange {
            path: path.to_string(),
            before: self.text.into_bytes(),
            after: after.text.into_bytes(),
            edits: Vec::new(),
            digests: Vec::new(),
        })
    }
}

pub(super) fn broken(path: &str, why: &str) -> Error {
    Error::input(format!(
        "{path}: the edit would break the file ({why}); nothing written"
    ))
}

/// Parses the edited file again: it must hold the same entries, the others byte for byte, and
/// the overrides of `wanted` must carry `image_ref`.
pub(super) fn check(
    path: &str,
    file: &EntryFile,
    after: &Patched,
    strategy: Strategy,
    wanted: &[Wanted],
    image_ref: Option<&str>,
) -> Result<()> {
    let fail = |why: &str| broken(path, why);
    let (before, text, idx) = (file.text.as_str(), after.text.as_str(), file.idx);
    let (Some(nd), Some(od)) = (after.docs.first(), file.docs.first()) else {
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
        } else if key == "pr_check" && file.layout == Layout::Before2023 {
            // Checked below, with the entry's overrides.
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
    let mut lists = vec![sh.overrides.as_slice()];
    if let Some(copy) = &integ.pr_check {
        lists.push(copy.as_slice());
    }
    for w in lists
        .iter()
        .flat_map(|l| wanted.iter().map(move |w| (l, w)))
    {
        let (list, w) = w;
        let got = list.iter().find(|o| match (&o.shard, &w.key) {
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

/// Where a layout keeps the overrides of the entry: one list today; before 2023-04, the list
/// beside `spec` and its copy under `pr_check`.
pub(super) struct Place<'a> {
    pub(super) list: Option<&'a Node>,
    /// The mapping that holds the list.
    pub(super) parent_at: Route,
    pub(super) key: &'static str,
    /// The key of an entry that names its shard.
    pub(super) shard_field: &'static str,
    pub(super) layout: Layout,
}

impl Place<'_> {
    pub(super) fn list_at(&self) -> Route {
        self.parent_at.clone().key(self.key)
    }
}
