//! Pinned copies: any YAML scalar whose whole value is a commit (the component's current one, or
//! the one a promotion writes), whatever its key. Each is named by its key path
//! (`resourceTemplates[qontract-api].parameters.OPA_IMAGE_TAG`), and a copy in a saas file's
//! resource template or target says where it acts, as saas targets do.

use std::collections::HashSet;

use super::locations::{is_saas_schema, Discovery, Kind, Location, Refs, Site};
use super::rules::Match;
use crate::util::{is_commit_hex, same_commit};
use crate::yaml::{self, Node, NodeKind, Style};

/// One step of a key path: a mapping key, or a sequence item (by its `name`, else its index).
enum Seg<'a> {
    Key(&'a str),
    Item(usize, Option<&'a str>),
}

fn key_path(route: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for s in route {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Item(_, Some(name)) => out.push_str(&format!("[{name}]")),
            Seg::Item(i, None) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The copies of `commit` (7 to 40 hex characters; a value matches when one is a prefix of the
/// other) in the parsed documents of one file. A value whose key names another component of
/// `.env` (`vault_manager_image_tag`, `SCHEMAS_IMAGE_TAG`) is that component's, never a copy of
/// `c`'s: it is left alone, and the second list says so (`<rel>:<line>: ...`).
pub(super) fn find_copies(
    rel: &str,
    text: &str,
    docs: &[Node],
    commit: &str,
    refs: &Refs,
    c: &crate::checkout::Component,
) -> (Vec<Match>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        let base = Site {
            schema: doc.str_at("$schema").map(str::to_string),
            name: doc.str_at("name").map(str::to_string),
            ..Site::default()
        };
        let saas = base.schema.as_deref().is_some_and(is_saas_schema);
        let mut route = Vec::new();
        let mut found = Vec::new();
        walk(doc, commit, &mut route, &mut found);
        for (node, path) in found {
            if !yaml::is_string_tag(node.tag.as_deref()) {
                continue;
            }
            let span = yaml::value_span(text, node)
                .unwrap_or_else(|| node.span.start..yaml::style::content_end(text, node));
            let Some(v) = node.as_str() else { continue };
            let key = path.iter().rev().find_map(|s| match s {
                Seg::Key(k) => Some(*k),
                Seg::Item(..) => None,
            });
            if let Some(other) = key.and_then(|k| c.key_names_sibling(k)) {
                notes.push(format!(
                    "{rel}:{}: {} holds {v}, the version of {}, but its key names {other}: left alone",
                    node.line,
                    key_path(&path),
                    c.name
                ));
                continue;
            }
            let context = if saas {
                saas_site(doc, &path, &base, refs)
            } else {
                base.clone()
            };
            let kp = key_path(&path);
            out.push(Match {
                kind: Kind::PinnedCopy,
                line: node.line,
                value: v.to_string(),
                span,
                style: node.style().unwrap_or(Style::Plain),
                disc: format!("{d}#{kp}"),
                context,
                path: None,
                key_path: Some(kp),
            });
        }
    }
    (out, notes)
}

fn walk<'a>(
    n: &'a Node,
    commit: &str,
    route: &mut Vec<Seg<'a>>,
    out: &mut Vec<(&'a Node, Vec<Seg<'a>>)>,
) {
    match &n.kind {
        NodeKind::Scalar(v, _) => {
            if is_commit_hex(v) && same_commit(v, commit) {
                out.push((n, clone_route(route)));
            }
        }
        NodeKind::Map(pairs) => {
            for (k, v) in pairs {
                let Some(key) = k.as_str() else { continue };
                route.push(Seg::Key(key));
                walk(v, commit, route, out);
                route.pop();
            }
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                route.push(Seg::Item(i, item.str_at("name")));
                walk(item, commit, route, out);
                route.pop();
            }
        }
        NodeKind::Alias => {}
    }
}

fn clone_route<'a>(route: &[Seg<'a>]) -> Vec<Seg<'a>> {
    route
        .iter()
        .map(|s| match s {
            Seg::Key(k) => Seg::Key(k),
            Seg::Item(i, n) => Seg::Item(*i, *n),
        })
        .collect()
}

/// Where a copy in a saas file acts: its resource template and, inside a target, the target's
/// namespace, cluster and environment.
fn saas_site(doc: &Node, path: &[Seg<'_>], base: &Site, refs: &Refs) -> Site {
    let mut site = base.clone();
    let (Some(Seg::Key("resourceTemplates")), Some(Seg::Item(i, _))) = (path.first(), path.get(1))
    else {
        return site;
    };
    let Some(rt) = doc.get("resourceTemplates").and_then(|r| r.items().get(*i)) else {
        return site;
    };
    site.resource_template = rt.str_at("name").map(str::to_string);
    let (Some(Seg::Key("targets")), Some(Seg::Item(j, _))) = (path.get(2), path.get(3)) else {
        return site;
    };
    let Some(target) = rt.get("targets").and_then(|t| t.items().get(*j)) else {
        return site;
    };
    if let Some(ns_ref) = target.get("namespace").and_then(Node::ref_path) {
        let (namespace, cluster, environment) = refs.namespace(ns_ref);
        site.namespace = namespace.or(Some(ns_ref.to_string()));
        site.cluster = cluster;
        site.environment = environment;
    }
    site
}

impl Discovery {
    /// Sorts what the files gave: a saas target kept in a file of its own counts once, through
    /// the saas file that references it (one that no saas file references is reported, not
    /// moved); a pinned copy that another rule found already is that location; the other
    /// pinned copies wait for [`Discovery::settle`].
    pub(super) fn sort_out(&mut self, c: &crate::checkout::Component, found: Vec<Location>) {
        let referenced: HashSet<String> = found
            .iter()
            .filter(|l| l.via.is_some())
            .map(|l| l.id.clone())
            .collect();
        let mut ids = HashSet::new();
        let mut spans = HashSet::new();
        let (copies, others): (Vec<Location>, Vec<Location>) =
            found.into_iter().partition(|l| l.kind == Kind::PinnedCopy);
        for l in others {
            spans.insert((l.path.clone(), l.span.start));
            let own_target_file = l.kind == Kind::SaasTarget
                && l.via.is_none()
                && l.context.resource_template.is_none()
                && l.context.name.is_none();
            if own_target_file && !referenced.contains(&l.id) {
                if same_commit(&l.value, &c.tag) {
                    self.noted_files.push(l.path.clone());
                    self.notes.push(format!(
                        "{}: a saas target file that no saas file references; its ref {} is left alone",
                        l.at(),
                        l.value
                    ));
                }
                continue;
            }
            if own_target_file || !ids.insert(l.id.clone()) {
                continue;
            }
            self.locations.push(l);
        }
        self.copies = copies
            .into_iter()
            .filter(|l| !spans.contains(&(l.path.clone(), l.span.start)))
            .filter(|l| ids.insert(l.id.clone()))
            .collect();
    }

    /// The full id of the current commit as the tree tells it: the one 40-character value that
    /// the locations of the four kinds hold and that starts with `tag`.
    pub fn tree_full(&self, tag: &str) -> Option<String> {
        let fulls: HashSet<String> = self
            .locations
            .iter()
            .filter(|l| l.value.len() == 40 && same_commit(&l.value, tag))
            .map(|l| l.value.to_ascii_lowercase())
            .collect();
        (fulls.len() == 1)
            .then(|| fulls.into_iter().next())
            .flatten()
    }

    /// Says which pinned copies are copies of the current commit, `full` when its full id is
    /// known: only it and its prefixes are. When it is not known, a value as long as `tag` (or
    /// shorter) is; a longer one that merely starts with `tag` is reported, not moved.
    pub fn settle(&mut self, tag: &str, full: Option<&str>) {
        self.locations.retain(|l| l.kind != Kind::PinnedCopy);
        self.unsure.clear();
        for l in &self.copies {
            let v = l.value.to_ascii_lowercase();
            let copy = match full {
                Some(full) => full.to_ascii_lowercase().starts_with(&v),
                None => v.len() <= tag.len(),
            };
            if copy {
                self.locations.push(l.clone());
            } else if full.is_none() {
                self.unsure.push(l.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copies(text: &str, commit: &str) -> Vec<(String, String, Option<String>)> {
        let docs = yaml::parse(text).unwrap();
        let refs = Refs::new(std::path::Path::new("/nonexistent"));
        let env = "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE_TAG=abc1234\n\
export VAULT_MANAGER_REPO=https://github.com/app-sre/vault-manager\n\
export VAULT_MANAGER_IMAGE=quay.io/app-sre/vault-manager\n\
export VAULT_MANAGER_IMAGE_TAG=1111111\n";
        let c = crate::checkout::components_from_env(&crate::checkout::parse_env(env)).remove(0);
        find_copies("f.yml", text, &docs, commit, &refs, &c)
            .0
            .into_iter()
            .map(|m| {
                (
                    m.key_path.unwrap_or_default(),
                    text[m.span].to_string(),
                    m.context.resource_template,
                )
            })
            .collect()
    }

    #[test]
    fn a_key_that_names_another_component_holds_no_copy() {
        let text = "a:\n  vault_manager_image_tag: abc1234\n  VAULT_MANAGER_IMAGE_TAG: abc1234\n  vault-manager-tag: abc1234\n  RECONCILE_IMAGE_TAG: abc1234\n  qontract_reconcile_vault_manager: abc1234\n  other: abc1234\n";
        let found: Vec<String> = copies(text, "abc1234").into_iter().map(|c| c.0).collect();
        // A key of this component that mentions the other one later is still this one's.
        assert_eq!(
            found,
            [
                "a.RECONCILE_IMAGE_TAG",
                "a.qontract_reconcile_vault_manager",
                "a.other"
            ]
        );
    }

    #[test]
    fn copies_are_found_under_any_key_with_their_key_path() {
        let text = "\
$schema: /app-sre/saas-file-2.yml
name: saas-qr
resourceTemplates:
- name: qontract-api
  url: https://github.com/app-sre/other
  parameters:
    OPA_IMAGE_TAG: 0123456789abcdef0123456789abcdef01234567
    OTHER: 0123456fffffffffffffffffffffffffffffffff
  targets:
  - namespace: {$ref: /ns.yml}
    parameters: {QR_IMAGE_TAG: '0123456'}
- url: x
  parameters:
    LIST: [1, 0123456789ab]
";
        assert_eq!(
            copies(text, "0123456"),
            [
                (
                    "resourceTemplates[qontract-api].parameters.OPA_IMAGE_TAG".to_string(),
                    "0123456789abcdef0123456789abcdef01234567".to_string(),
                    Some("qontract-api".to_string())
                ),
                (
                    "resourceTemplates[qontract-api].parameters.OTHER".to_string(),
                    "0123456fffffffffffffffffffffffffffffffff".to_string(),
                    Some("qontract-api".to_string())
                ),
                (
                    "resourceTemplates[qontract-api].targets[0].parameters.QR_IMAGE_TAG"
                        .to_string(),
                    "0123456".to_string(),
                    Some("qontract-api".to_string())
                ),
                (
                    "resourceTemplates[1].parameters.LIST[1]".to_string(),
                    "0123456789ab".to_string(),
                    None
                ),
            ]
        );
        // Another commit, a shorter value, keys and comments are no copies.
        assert!(copies("a: 0123457\n0123456: x\nb: 012345\n# 0123456\n", "0123456").is_empty());
    }
}
