//! The policy bundle export (`docs/bundle-format.md`), built from policy-core's own document types
//! so the exporter and the parser cannot drift. Only the public catalogue: never key material,
//! secret values or private keys.

use crate::db::Tx;
use crate::params;
use policy_core::{
    AccessControlRules, ApplicationAccessPoint, AuthenticationMethod, Bundle, ClientKey, ClientKeyAlgorithm, Gateway,
    IpCidr, Key, NetworkRule, NetworkType, Permission, Policy, ResourcePattern, Secret, DEFAULT_MAX_SKEW_SECONDS,
};

use std::collections::HashSet;

use super::access::{
    aaps, client_key_rows, network_rules, policies, AapInfo, ClientKeyRow, NetworkRuleInfo, PolicyInfo,
};
use super::keys::{aliases_by_key, all_keys, versions_by_key};
use super::secrets::live_secret_names;
use super::{validate, Store, StoreError};

fn opt(d: String) -> Option<String> {
    if d.is_empty() {
        None
    } else {
        Some(d)
    }
}

/// Rows were validated on the way in; a value that no longer parses means the database was edited.
fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?} cannot be exported"))
}

/// The bundle for `scope`; `generation` goes into `Gateway.Generation` (the server's snapshots
/// carry it, so an allow names the configuration it was decided under). The access part, then the
/// catalogue part.
pub(crate) fn build(tx: &Tx<'_>, scope: &str, generation: Option<u64>) -> Result<Bundle, StoreError> {
    let mut bundle = read_access(tx)?.bundle;
    bundle.gateway = Some(gateway(scope, generation));
    build_catalogue(tx, &mut bundle)?;
    Ok(bundle)
}

/// The bundle's access part: network rules, policies, AAPs and client keys, without the gateway
/// section and with `keys` and `secrets` empty. Reads no catalogue table (keys, aliases, key
/// versions, secrets), so a reload after a change that left the catalogue alone costs only this,
/// or less: [`crate::changelog`] keeps it and patches it row by row. Every list is in the byte
/// order of its names (client keys: of their ids), so a row read again has one place to go.
pub(crate) struct AccessPart {
    pub bundle: Bundle,
    /// The stored policies left out of the bundle because they grant nothing
    /// ([`StoredPolicy::LeftOut`]); the AAPs' lists leave them out too.
    pub left_out: HashSet<String>,
}

pub(crate) fn read_access(tx: &Tx<'_>) -> Result<AccessPart, StoreError> {
    let mut bundle = Bundle::default();
    for r in network_rules(tx)? {
        bundle.network_rules.push(to_network_rule(r)?);
    }
    let mut left_out = HashSet::new();
    for p in policies(tx)? {
        match to_policy(p)? {
            StoredPolicy::Exported(policy) => bundle.policies.push(policy),
            StoredPolicy::LeftOut(name) => {
                left_out.insert(name);
            }
        }
    }
    for a in aaps(tx)? {
        bundle.application_access_points.push(to_aap(a, &left_out)?);
    }
    for k in client_key_rows(tx, None)? {
        bundle.client_keys.push(to_client_key(k)?);
    }
    // In Rust's order, not the database's: PostgreSQL's collation may not be byte order.
    bundle.network_rules.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    bundle.policies.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    bundle.application_access_points.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    bundle.client_keys.sort_unstable_by(|a, b| a.client_key_id.cmp(&b.client_key_id));
    Ok(AccessPart { bundle, left_out })
}

pub(crate) fn gateway(scope: &str, generation: Option<u64>) -> Gateway {
    Gateway {
        scope: scope.to_owned(),
        trusted_proxies: Vec::new(),
        max_skew_seconds: DEFAULT_MAX_SKEW_SECONDS,
        generation,
    }
}

pub(crate) fn to_network_rule(r: NetworkRuleInfo) -> Result<NetworkRule, StoreError> {
    let ips = r
        .source_private_ip
        .iter()
        .map(|ip| ip.parse::<IpCidr>().map_err(|_| corrupt("SourcePrivateIp", ip)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NetworkRule {
        name: r.name,
        network_type: NetworkType::Private,
        source_private_ip: ips,
        description: opt(r.description),
    })
}

/// A stored policy as the bundle has it.
pub(crate) enum StoredPolicy {
    Exported(Policy),
    /// A policy that can never allow anything, by name. Such a policy is refused at creation since
    /// the shared gateway exists; one stored before is left out of the bundle (it allows nothing,
    /// so every decision is the same) rather than making the whole configuration invalid.
    /// `aapkit policy list` still shows it, to be fixed with UpdatePolicy.
    LeftOut(String),
}

pub(crate) fn to_policy(p: PolicyInfo) -> Result<StoredPolicy, StoreError> {
    if policy_core::policy_grants_nothing_str(&p.kms_instance, &p.permissions, &p.resources).is_some() {
        return Ok(StoredPolicy::LeftOut(p.name));
    }
    let permissions = p
        .permissions
        .iter()
        .map(|t| Permission::from_template(t).ok_or_else(|| corrupt("Permissions", t)))
        .collect::<Result<Vec<_>, _>>()?;
    let resources = p
        .resources
        .iter()
        .map(|r| ResourcePattern::parse(r).map_err(|_| corrupt("Resources", r)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StoredPolicy::Exported(Policy {
        name: p.name,
        permissions,
        resources,
        kms_instance: p.kms_instance,
        access_control_rules: AccessControlRules { network_rules: p.access_control_rules.network_rules },
        description: opt(p.description),
    }))
}

pub(crate) fn to_aap(a: AapInfo, left_out: &HashSet<String>) -> Result<ApplicationAccessPoint, StoreError> {
    let method = match a.authentication_method.as_str() {
        "ClientKey" => AuthenticationMethod::ClientKey,
        "RAMRole" => AuthenticationMethod::RamRole,
        other => return Err(corrupt("AuthenticationMethod", other)),
    };
    Ok(ApplicationAccessPoint {
        name: a.name,
        policies: a.policies.into_iter().filter(|p| !left_out.contains(p)).collect(),
        authentication_method: method,
        description: opt(a.description),
    })
}

pub(crate) fn to_client_key(k: ClientKeyRow) -> Result<ClientKey, StoreError> {
    if k.algorithm != "RSA_2048" {
        return Err(corrupt("KeyAlgorithm", &k.algorithm));
    }
    Ok(ClientKey {
        client_key_id: k.id,
        aap_name: k.aap,
        key_algorithm: ClientKeyAlgorithm::Rsa2048,
        public_key_data: k.public_key_pem,
        not_before: k.not_before,
        not_after: k.not_after,
    })
}

/// The bundle's catalogue part: fills `bundle.keys` (live keys with their aliases and version ids)
/// and `bundle.secrets` (live secrets whose key is listed).
pub(crate) fn build_catalogue(tx: &Tx<'_>, bundle: &mut Bundle) -> Result<(), StoreError> {
    let mut versions = versions_by_key(tx, false)?;
    let mut aliases = aliases_by_key(tx)?;
    for k in all_keys(tx)? {
        bundle.keys.push(Key {
            aliases: aliases.remove(&k.id).unwrap_or_default(),
            key_versions: versions.remove(&k.id).unwrap_or_default().into_iter().map(|(id, _)| id).collect(),
            key_spec: k.spec.as_str().to_owned(),
            key_state: k.state,
            key_id: k.id,
        });
    }
    // A secret pending deletion is not served, so it leaves the catalogue too.
    let listed: std::collections::HashSet<&str> = bundle.keys.iter().map(|k| k.key_id.as_str()).collect();
    let mut secrets = Vec::new();
    for name in live_secret_names(tx)? {
        let key_id: String =
            tx.query_row("SELECT encryption_key_id FROM secrets WHERE name = ?1", params![name], |r| r.get(0))?;
        // A secret whose key has been deleted can no longer be decrypted: it leaves the catalogue
        // (the bundle must not name a key it does not list).
        if listed.contains(key_id.as_str()) {
            secrets.push(Secret { secret_name: name, encryption_key_id: key_id });
        }
    }
    bundle.secrets.extend(secrets);
    Ok(())
}

impl Store {
    /// The bundle for a gateway serving `scope` (`kst-...` or `shared`), as typed values.
    pub fn export_bundle(&self, scope: &str) -> Result<Bundle, StoreError> {
        validate::scope("Scope", scope)?;
        self.read(|tx| build(tx, scope, None))
    }

    /// The bundle document (pretty JSON).
    pub fn export_bundle_json(&self, scope: &str) -> Result<String, StoreError> {
        let bundle = self.export_bundle(scope)?;
        serde_json::to_string_pretty(&bundle).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// The bundle and the generation it reflects, read in one transaction: a server that installs
    /// this bundle can poll [`Store::generation`] and reload when it moves past the returned value.
    pub fn export_bundle_at(&self, scope: &str) -> Result<(u64, Bundle), StoreError> {
        validate::scope("Scope", scope)?;
        self.read(|tx| {
            let generation = super::read_generation(tx)?;
            // Named in the bundle too, so a filter running it (Envoy) reports which configuration
            // decided (`x-aapkit-generation`).
            Ok((generation, build(tx, scope, Some(generation))?))
        })
    }
}
