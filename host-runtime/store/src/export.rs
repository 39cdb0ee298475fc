//! The policy bundle export (`docs/bundle-format.md`), built from policy-core's own document types
//! so the exporter and the parser cannot drift. Only the public catalogue: never key material,
//! secret values or private keys.

use crate::db::Tx;
use crate::params;
use policy_core::{
    AccessControlRules, ApplicationAccessPoint, AuthenticationMethod, Bundle, ClientKey, ClientKeyAlgorithm, Gateway,
    IpCidr, Key, NetworkRule, NetworkType, Permission, Policy, ResourcePattern, Secret, DEFAULT_MAX_SKEW_SECONDS,
};

use super::access::{aaps, client_key_rows, network_rules, policies};
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
    let mut bundle = build_access(tx, scope, generation)?;
    build_catalogue(tx, &mut bundle)?;
    Ok(bundle)
}

/// The bundle's access part: network rules, policies, AAPs, client keys and the gateway section,
/// with `keys` and `secrets` empty. Reads no catalogue table (keys, aliases, key versions,
/// secrets), so a reload after a change that left the catalogue alone costs only this.
pub(crate) fn build_access(tx: &Tx<'_>, scope: &str, generation: Option<u64>) -> Result<Bundle, StoreError> {
    let mut bundle = Bundle::default();
    for r in network_rules(tx)? {
        let ips = r
            .source_private_ip
            .iter()
            .map(|ip| ip.parse::<IpCidr>().map_err(|_| corrupt("SourcePrivateIp", ip)))
            .collect::<Result<Vec<_>, _>>()?;
        bundle.network_rules.push(NetworkRule {
            name: r.name,
            network_type: NetworkType::Private,
            source_private_ip: ips,
            description: opt(r.description),
        });
    }
    // A policy that can never allow anything is refused at creation since the shared gateway
    // exists; one stored before is left out of the bundle (it allows nothing, so every decision
    // is the same) rather than making the whole configuration invalid. `aapkit policy list` still
    // shows it, to be fixed with UpdatePolicy.
    let mut useless = std::collections::HashSet::new();
    for p in policies(tx)? {
        if policy_core::policy_grants_nothing_str(&p.kms_instance, &p.permissions, &p.resources).is_some() {
            useless.insert(p.name);
            continue;
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
        bundle.policies.push(Policy {
            name: p.name,
            permissions,
            resources,
            kms_instance: p.kms_instance,
            access_control_rules: AccessControlRules { network_rules: p.access_control_rules.network_rules },
            description: opt(p.description),
        });
    }
    for a in aaps(tx)? {
        let method = match a.authentication_method.as_str() {
            "ClientKey" => AuthenticationMethod::ClientKey,
            "RAMRole" => AuthenticationMethod::RamRole,
            other => return Err(corrupt("AuthenticationMethod", other)),
        };
        bundle.application_access_points.push(ApplicationAccessPoint {
            name: a.name,
            policies: a.policies.into_iter().filter(|p| !useless.contains(p)).collect(),
            authentication_method: method,
            description: opt(a.description),
        });
    }
    for k in client_key_rows(tx, None)? {
        if k.algorithm != "RSA_2048" {
            return Err(corrupt("KeyAlgorithm", &k.algorithm));
        }
        bundle.client_keys.push(ClientKey {
            client_key_id: k.id,
            aap_name: k.aap,
            key_algorithm: ClientKeyAlgorithm::Rsa2048,
            public_key_data: k.public_key_pem,
            not_before: k.not_before,
            not_after: k.not_after,
        });
    }
    bundle.gateway = Some(Gateway {
        scope: scope.to_owned(),
        trusted_proxies: Vec::new(),
        max_skew_seconds: DEFAULT_MAX_SKEW_SECONDS,
        generation,
    });
    Ok(bundle)
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
