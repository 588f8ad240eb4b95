//! `pin` and `unpin`: span edits of an integration's `sharding.shardSpecOverrides`, checked by parsing the result again.

mod file;

use file::{EntryFile, Place};

use crate::checkout::Checkout;
use crate::cluster::model::{norm_ref, Integration, Layout, Model, ShardKey, Strategy, RECONCILE};
use crate::error::{Error, Result};
use crate::promote::plan::FileChange;
use crate::util::suggest;
use crate::yaml::patch::{Op, Value};
use crate::yaml::Node;

/// Whether `r` is an OCI image tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (a commit `89508c2`, a
/// release candidate `89508c2-rc`, `latest`).
pub fn is_image_tag(r: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = r.chars();
    r.len() <= 128 && chars.next().is_some_and(ok) && chars.all(|c| ok(c) || c == '.' || c == '-')
}

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
/// whose namespace's environment carries `labels.type: production`.
pub fn select_entry(model: &Model, integ: &Integration, namespace: Option<&str>) -> Result<usize> {
    let found: Vec<usize> = integ
        .managed
        .iter()
        .enumerate()
        .filter(|(_, m)| match namespace {
            Some(n) => model.namespace_matches(m, n),
            None => model.namespace_of(m).environment_type.as_deref() == Some("production"),
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
                "{}:{}: {} ({}, type {})",
                integ.path,
                m.line,
                ns.name,
                ns.environment.as_deref().unwrap_or("no environment"),
                ns.environment_type.as_deref().unwrap_or("none")
            )
        })
        .collect();
    let what = match namespace {
        Some(n) => format!("in namespace {n}"),
        None => "in an environment of type production (labels.type)".to_string(),
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
                || (sh.strategy == Strategy::PerCloudflareDnsZone && s.key() == n.as_str())
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
                out.push(wanted(sh.strategy, s.parent.clone(), s.target_ref.clone()));
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
        out.push(wanted(sh.strategy, s.parent.clone(), s.target_ref.clone()));
    }
    Ok((sh.strategy, out))
}

fn wanted(strategy: Strategy, parent: String, target_ref: Option<String>) -> Wanted {
    let key = match (strategy, target_ref) {
        (s, Some(r)) if s.by_ref() => ShardKey::Ref(norm_ref(&r)),
        _ => ShardKey::Value(parent.clone()),
    };
    Wanted { name: parent, key }
}

/// Whether an override's shard node names `w`.
fn names(node: &Node, w: &Wanted) -> bool {
    match (crate::cluster::model::shard_key(node), &w.key) {
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

/// The override that pins `w` to `r`: `{shard: ..., imageRef: r}`.
fn override_value(w: &Wanted, r: &str) -> Value {
    let shard = match &w.key {
        ShardKey::Ref(p) => Value::Map(vec![("$ref".into(), Value::Raw(format!("/{p}")))]),
        ShardKey::Value(v) if v.parse::<u32>().is_ok() => Value::Raw(v.clone()),
        ShardKey::Value(v) => Value::Str(v.clone()),
    };
    Value::Map(vec![
        ("shard".into(), shard),
        ("imageRef".into(), Value::Str(r.to_string())),
    ])
}

/// An override of the layout before 2023-04: `{shardingStrategy, awsAccount: {$ref}, imageRef}`.
fn old_override_value(w: &Wanted, r: &str, strategy: Strategy) -> Value {
    let account = match &w.key {
        ShardKey::Ref(p) => Value::Map(vec![("$ref".into(), Value::Raw(format!("/{p}")))]),
        ShardKey::Value(v) => Value::Str(v.clone()),
    };
    Value::Map(vec![
        (
            "shardingStrategy".into(),
            Value::Raw(strategy.name().to_string()),
        ),
        ("awsAccount".into(), account),
        ("imageRef".into(), Value::Str(r.to_string())),
    ])
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
    let m = &integ.managed[idx];
    if integ.layout == Layout::Current
        && m.cron.is_none()
        && m.sharding
            .as_ref()
            .is_some_and(|sh| sh.strategy == Strategy::Static)
    {
        return Err(Error::refused(format!(
            "{}:{}: {integration}: static sharding has no per-shard image (qontract-reconcile reads no shardSpecOverrides for it); pin the whole entry with spec.imageRef instead; nothing written",
            integ.path, m.line
        )));
    }
    let (strategy, wanted) = resolve(model, integ, idx, shards)?;
    if wanted.is_empty() {
        return Err(Error::input("name at least one shard to pin"));
    }
    if strategy == Strategy::PerCloudflareDnsZone {
        for w in &wanted {
            let ShardKey::Ref(p) = &w.key else { continue };
            if let Some(why) = model.zone_override_miss(p, &w.name) {
                return Err(Error::refused(format!(
                    "{}:{}: {integration}: qontract-reconcile would not apply an override of {}: {why}; nothing written",
                    integ.path, m.line, w.name
                )));
            }
        }
    }
    let r = match image_ref {
        Some(r) => r.to_string(),
        None => checkout.component(RECONCILE)?.tag.clone(),
    };
    if !is_image_tag(&r) {
        return Err(Error::input(format!(
            "{r:?} is not an image tag (letters, digits, `_`, `.` and `-`, at most 128, not starting with `.` or `-`)"
        )));
    }
    let path = &integ.path;
    let f = EntryFile::open(checkout, path, idx)?;
    let e = f.entry(path)?;
    if integ.layout == Layout::Before2023 && strategy != Strategy::PerAwsAccount {
        return Err(Error::input(format!(
            "{path}:{}: before 2023-04 a shardSpecOverride names AWS accounts only, and {integration} shards by {}",
            e.line,
            strategy.name()
        )));
    }
    let mut ops = Vec::new();
    for place in f.places(path, integ.layout)? {
        pin_ops(
            &place,
            &wanted,
            &r,
            strategy,
            force,
            path,
            integration,
            &mut ops,
        )?;
    }
    f.change(path, &ops, strategy, &wanted, Some(&r))
}

#[allow(clippy::too_many_arguments)]
fn pin_ops(
    place: &Place<'_>,
    wanted: &[Wanted],
    r: &str,
    strategy: Strategy,
    force: bool,
    path: &str,
    integration: &str,
    ops: &mut Vec<Op>,
) -> Result<()> {
    let overrides = place.list;
    let list_at = place.list_at();
    let mut seen = Vec::new();
    let mut new_items: Vec<&Wanted> = Vec::new();
    for w in wanted {
        let existing = overrides
            .map(Node::items)
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .find(|(_, o)| o.get(place.shard_field).is_some_and(|s| names(s, w)));
        let Some((i, o)) = existing else {
            if !new_items.iter().any(|n| n.name == w.name) {
                new_items.push(w);
            }
            continue;
        };
        if seen.contains(&i) {
            continue;
        }
        seen.push(i);
        let at = list_at.clone().item(i);
        match o.get("imageRef") {
            Some(v) if v.as_str() == Some(r) => {}
            Some(v) => {
                let old = v.as_str().unwrap_or_default();
                if !force && !old.is_empty() {
                    return Err(Error::refused(format!(
                        "{path}:{}: shard {} of {integration} is pinned to {old}, not {r} (--force changes it)",
                        v.line, w.name
                    )));
                }
                ops.push(Op::SetScalar {
                    route: at.key("imageRef"),
                    value: r.to_string(),
                    quote: '\'',
                });
            }
            None => ops.push(Op::AddPair {
                route: at,
                key: "imageRef".into(),
                value: Value::Str(r.to_string()),
            }),
        }
    }
    if !new_items.is_empty() {
        let items: Vec<Value> = new_items
            .iter()
            .map(|w| match place.layout {
                Layout::Current => override_value(w, r),
                Layout::Before2023 => old_override_value(w, r, strategy),
            })
            .collect();
        ops.push(match overrides {
            Some(list) if list.as_str().is_none() => Op::Append {
                route: list_at,
                items,
            },
            // No list, or `shardSpecOverrides:` with no value or `null`.
            _ => Op::AddPair {
                route: place.parent_at.clone(),
                key: place.key.into(),
                value: Value::Seq(items),
            },
        });
    }
    Ok(())
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
    let f = EntryFile::open(checkout, path, idx)?;
    let e = f.entry(path)?;
    let places = f.places(path, integ.layout)?;
    let first = places
        .first()
        .ok_or_else(|| Error::input(format!("{path}:{}: {integration} has no sharding", e.line)))?;
    let (strategy, wanted) = match which {
        Which::Shards(names) => resolve(model, integ, idx, names)?,
        Which::All => {
            let strategy = integ.managed[idx]
                .sharding
                .as_ref()
                .map_or(Strategy::Static, |s| s.strategy);
            let all: Vec<Wanted> = first
                .list
                .map(Node::items)
                .unwrap_or(&[])
                .iter()
                .filter(|o| o.get("imageRef").is_some())
                .filter_map(|o| {
                    o.get(first.shard_field)
                        .and_then(crate::cluster::model::shard_key)
                })
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
    let mut ops = Vec::new();
    for (n, place) in places.iter().enumerate() {
        // The pr_check copy may lack a pin the entry has: only the entry's list must hold them.
        let strict = n == 0 && matches!(which, Which::Shards(_));
        unpin_ops(place, &wanted, strict, path, integration, &mut ops)?;
    }
    f.change(path, &ops, strategy, &wanted, None)
}

fn unpin_ops(
    place: &Place<'_>,
    wanted: &[Wanted],
    strict: bool,
    path: &str,
    integration: &str,
    ops: &mut Vec<Op>,
) -> Result<()> {
    let list = place.list;
    let list_at = place.list_at();
    let items = list.map(Node::items).unwrap_or(&[]);
    let mut remove_items = Vec::new();
    let mut seen = Vec::new();
    for w in wanted {
        let found = items.iter().enumerate().find(|(_, o)| {
            o.get(place.shard_field).is_some_and(|s| names(s, w)) && o.get("imageRef").is_some()
        });
        let Some((i, o)) = found else {
            if strict {
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
            .filter(|(k, _)| {
                let k = k.as_str();
                k != Some(place.shard_field)
                    && k != Some("imageRef")
                    && !(place.layout == Layout::Before2023 && k == Some("shardingStrategy"))
            })
            .count();
        if others == 0 {
            remove_items.push(i);
        } else if !seen.contains(&i) {
            seen.push(i);
            ops.push(Op::RemovePair {
                route: list_at.clone().item(i),
                key: "imageRef".into(),
            });
        }
    }
    remove_items.sort_unstable();
    remove_items.dedup();
    if list.is_some() {
        if !items.is_empty() && remove_items.len() == items.len() {
            ops.push(Op::RemovePair {
                route: place.parent_at.clone(),
                key: place.key.into(),
            });
        } else {
            // From the last, so that each index still names its item.
            for i in remove_items.into_iter().rev() {
                ops.push(Op::RemoveItem {
                    route: list_at.clone(),
                    index: i,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags_follow_the_oci_grammar() {
        for good in [
            "89508c2",
            "89508c2-rc",
            "latest",
            "_x",
            "v1.2.3",
            &"a".repeat(128),
        ] {
            assert!(is_image_tag(good), "{good}");
        }
        for bad in ["", "-rc", ".x", "a b", "a:b", "a/b", &"a".repeat(129)] {
            assert!(!is_image_tag(bad), "{bad}");
        }
    }

    #[test]
    fn new_overrides_say_their_shard_and_ref() {
        let w = |key| Wanted {
            name: String::new(),
            key,
        };
        let v = override_value(&w(ShardKey::Ref("a/b.yml".into())), "abc1234");
        assert_eq!(v.flow(), "{shard: {$ref: /a/b.yml}, imageRef: abc1234}");
        let v = override_value(&w(ShardKey::Value("12".into())), "0373973");
        assert_eq!(v.flow(), "{shard: 12, imageRef: '0373973'}");
        let v = override_value(&w(ShardKey::Value("true".into())), "x");
        assert_eq!(v.flow(), "{shard: 'true', imageRef: x}");
    }
}
