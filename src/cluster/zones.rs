//! Cloudflare DNS zones, the shards of the `per-cloudflare-dns-zone` strategy: read from the
//! `/cloudflare/dns-zone-1.yml` files and the `/cloudflare/account-1.yml` files they name.
//!
//! qontract-reconcile's `CloudflareDnsZoneShardingStrategy` (`reconcile/utils/runtime/sharding.py`)
//! shards over every zone: the shard key and the object's suffix are
//! `<account name>-<identifier>`, the shard runs `--zone-name <identifier>`, and an override is
//! keyed by the `<zone>-<identifier>` of the zone file its `shard` names.

use std::collections::HashMap;

use super::model::{norm_ref, DnsZone, Integration, Model, Target};
use super::sharding::{Layout, ShardKey, Strategy};
use crate::yaml::Node;

/// A zone file as written, before its account is resolved.
#[derive(Debug, Clone)]
pub(super) struct ZoneFile {
    rel: String,
    path: String,
    line: usize,
    identifier: Option<String>,
    zone: Option<String>,
    /// The account's normalized `$ref` and its line.
    account: Option<(String, usize)>,
}

/// Reads a `/cloudflare/dns-zone-1.yml` document (`rel` is repository-relative, `path` its `$ref`
/// path).
pub(super) fn read_zone(rel: &str, path: String, doc: &Node) -> ZoneFile {
    let text = |k: &str| {
        doc.str_at(k)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    ZoneFile {
        rel: rel.to_string(),
        path,
        line: doc.line,
        identifier: text("identifier"),
        zone: text("zone"),
        account: doc
            .get("account")
            .and_then(|a| a.ref_path().map(|r| (norm_ref(r), a.line))),
    }
}

/// The zones as shards (by `<account name>-<identifier>`), given the Cloudflare accounts' names
/// by path. A zone without an identifier or an account that names a Cloudflare account file with
/// a name is left out, with a warning naming its file and line.
pub(super) fn resolve_zones(
    files: Vec<ZoneFile>,
    accounts: &HashMap<String, String>,
    warnings: &mut Vec<String>,
) -> Vec<Target> {
    let mut out = Vec::new();
    for z in files {
        let left_out = "left out of the per-cloudflare-dns-zone shards";
        let Some(identifier) = z.identifier else {
            warnings.push(format!(
                "{}:{}: Cloudflare DNS zone without an identifier: {left_out}",
                z.rel, z.line
            ));
            continue;
        };
        let Some((account, line)) = z.account else {
            warnings.push(format!(
                "{}:{}: Cloudflare DNS zone {identifier} without an account $ref: {left_out}",
                z.rel, z.line
            ));
            continue;
        };
        let Some(name) = accounts.get(&account).filter(|n| !n.is_empty()) else {
            warnings.push(format!(
                "{}:{line}: Cloudflare DNS zone {identifier}: its account $ref /{account} names no /cloudflare/account-1.yml file with a name: {left_out}",
                z.rel
            ));
            continue;
        };
        out.push(Target {
            name: format!("{name}-{identifier}"),
            path: z.path,
            org_id: None,
            zone: Some(DnsZone {
                identifier,
                zone: z.zone,
            }),
            disabled: Vec::new(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

impl Model {
    /// The key qontract-reconcile gives an override whose shard is the zone file at `path`
    /// (normalized): `<zone>-<identifier>`.
    pub(super) fn zone_override_key(&self, path: &str) -> Option<String> {
        let t = self.dns_zones.iter().find(|t| t.path == path)?;
        let z = t.zone.as_ref()?;
        Some(format!("{}-{}", z.zone.as_deref()?, z.identifier))
    }

    /// Why qontract-reconcile would not apply an override naming the zone file at `path` to the
    /// shard `shard`; `None` when it would.
    pub fn zone_override_miss(&self, path: &str, shard: &str) -> Option<String> {
        let Some(key) = self.zone_override_key(path) else {
            return Some(format!(
                "its shard $ref /{path} names no Cloudflare DNS zone with a zone and an identifier"
            ));
        };
        (key != shard).then(|| {
            format!(
                "it keys an override by its zone's <zone>-<identifier>, {key}, and the shard of data/{path} is <account>-<identifier>, {shard}"
            )
        })
    }

    /// Warns of the `per-cloudflare-dns-zone` overrides that match no shard.
    pub(super) fn zone_override_warnings(&self, i: &Integration) -> Vec<String> {
        let mut out = Vec::new();
        for m in &i.managed {
            let Some(sh) = m
                .sharding
                .as_ref()
                .filter(|sh| sh.strategy == Strategy::PerCloudflareDnsZone)
            else {
                continue;
            };
            if sh.layout != Layout::Current {
                continue;
            }
            for o in &sh.overrides {
                let ShardKey::Ref(r) = &o.shard else { continue };
                let shard = self
                    .dns_zones
                    .iter()
                    .find(|t| t.path == *r)
                    .map_or("", |t| t.name.as_str());
                let key = self.zone_override_key(r);
                if self
                    .dns_zones
                    .iter()
                    .any(|t| key.as_deref() == Some(t.name.as_str()))
                {
                    continue;
                }
                if let Some(why) = self.zone_override_miss(r, shard) {
                    out.push(format!(
                        "{}:{}: {}: qontract-reconcile ignores this override: {why}",
                        i.path, o.line, i.name
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::cluster::model::tests::model;
    use crate::cluster::model::Model;

    const NS: (&str, &str) = (
        "data/ns.yml",
        "$schema: /openshift/namespace-1.yml\nname: ns\n",
    );
    const ACCOUNT: (&str, &str) = (
        "data/cf/acme/account.yml",
        "$schema: /cloudflare/account-1.yml\nname: acme\n",
    );
    const COM: (&str, &str) = (
        "data/cf/acme/dns/example.com.yaml",
        "---\n$schema: /cloudflare/dns-zone-1.yml\nidentifier: example-com\nzone: example.com\naccount:\n  $ref: /cf/acme/account.yml\n",
    );
    const ORG: (&str, &str) = (
        "data/cf/acme/dns/example.org.yml",
        "$schema: /cloudflare/dns-zone-1.yml\nidentifier: example-org\nzone: example.org\naccount: {$ref: /cf/acme/account.yml}\n",
    );

    fn integration(sharding: &str) -> (&'static str, String) {
        (
            "data/i.yml",
            format!("$schema: /app-sre/integration-1.yml\nname: dns\nmanaged:\n- namespace: {{$ref: /ns.yml}}\n  sharding:\n{sharding}"),
        )
    }

    fn objects(m: &Model) -> Vec<String> {
        m.deployments(None, None)
            .iter()
            .map(|d| format!("{} {:?} {}", d.name, d.args, d.image))
            .collect()
    }

    #[test]
    fn one_object_per_zone_named_by_account_and_identifier() {
        let (p, t) = integration("    strategy: per-cloudflare-dns-zone\n");
        let m = model(&[NS, ACCOUNT, ORG, COM, (p, &t)]);
        assert_eq!(
            objects(&m),
            [
                "qontract-reconcile-dns-acme-example-com [\"--zone-name\", \"example-com\"] img:e0e0e0e",
                "qontract-reconcile-dns-acme-example-org [\"--zone-name\", \"example-org\"] img:e0e0e0e",
            ]
        );
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        let shards = m.shards("dns").unwrap();
        assert_eq!(shards[0].key(), "example-com");
        assert_eq!(
            shards[0].target_ref.as_deref(),
            Some("/cf/acme/dns/example.com.yaml")
        );
    }

    #[test]
    fn an_override_applies_only_where_its_zone_and_identifier_give_the_shard_key() {
        // qontract-reconcile keys the override by `<zone>-<identifier>` of the zone it names:
        // `example.com-example-com` is no shard; a zone whose `zone` is its account's name is.
        let own = (
            "data/cf/acme/dns/acme.yml",
            "$schema: /cloudflare/dns-zone-1.yml\nidentifier: own\nzone: acme\naccount: {$ref: /cf/acme/account.yml}\n",
        );
        let (p, t) = integration(
            "    strategy: per-cloudflare-dns-zone\n    shardSpecOverrides:\n    - {shard: {$ref: /cf/acme/dns/example.com.yaml}, imageRef: 1111111}\n    - {shard: {$ref: /cf/acme/dns/acme.yml}, imageRef: 2222222}\n    - {shard: {$ref: /cf/nowhere.yml}, imageRef: 3333333}\n",
        );
        let m = model(&[NS, ACCOUNT, COM, own, (p, &t)]);
        assert_eq!(
            objects(&m),
            [
                "qontract-reconcile-dns-acme-example-com [\"--zone-name\", \"example-com\"] img:e0e0e0e",
                "qontract-reconcile-dns-acme-own [\"--zone-name\", \"own\"] img:2222222",
            ]
        );
        assert_eq!(
            m.warnings,
            [
                "data/i.yml:8: dns: qontract-reconcile ignores this override: it keys an override by its zone's <zone>-<identifier>, example.com-example-com, and the shard of data/cf/acme/dns/example.com.yaml is <account>-<identifier>, acme-example-com",
                "data/i.yml:10: dns: qontract-reconcile ignores this override: its shard $ref /cf/nowhere.yml names no Cloudflare DNS zone with a zone and an identifier",
            ]
        );
        let runs = m.pr_check(None, "e0e0e0e");
        assert_eq!(runs[1].name, "dns_override_2222222");
        assert_eq!(runs[1].args, ["--zone-name", "own"]);
        assert!(runs[0].args.is_empty(), "{:?}", runs[0].args);
    }

    #[test]
    fn broken_zone_files_are_warnings_with_their_line_not_shards() {
        let (p, t) = integration("    strategy: per-cloudflare-dns-zone\n");
        let m = model(&[
            NS,
            ACCOUNT,
            COM,
            (
                "data/cf/no-id.yml",
                "$schema: /cloudflare/dns-zone-1.yml\nzone: x.io\naccount: {$ref: /cf/acme/account.yml}\n",
            ),
            (
                "data/cf/no-account.yml",
                "$schema: /cloudflare/dns-zone-1.yml\nidentifier: y-io\n",
            ),
            (
                "data/cf/dangling.yml",
                "$schema: /cloudflare/dns-zone-1.yml\nidentifier: z-io\naccount:\n  $ref: /cf/gone.yml\n",
            ),
            (p, &t),
        ]);
        assert_eq!(objects(&m).len(), 1);
        assert_eq!(
            m.warnings,
            [
                "data/cf/no-id.yml:1: Cloudflare DNS zone without an identifier: left out of the per-cloudflare-dns-zone shards",
                "data/cf/no-account.yml:1: Cloudflare DNS zone y-io without an account $ref: left out of the per-cloudflare-dns-zone shards",
                "data/cf/dangling.yml:4: Cloudflare DNS zone z-io: its account $ref /cf/gone.yml names no /cloudflare/account-1.yml file with a name: left out of the per-cloudflare-dns-zone shards",
            ]
        );
        // Without an integration sharded by zone, the zone files are not the model's business.
        let m = model(&[
            NS,
            ("data/cf/no-id.yml", "$schema: /cloudflare/dns-zone-1.yml\n"),
        ]);
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }
}
