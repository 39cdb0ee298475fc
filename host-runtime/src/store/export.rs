//! The policy bundle export (`docs/bundle-format.md`): the public catalogue only, never key
//! material, secret values or private keys.

use serde_json::{json, Map, Value};

use super::access::{aaps, client_key_rows, network_rules, policies};
use super::keys::{aliases_of, all_keys, version_ids};
use super::secrets::secret_names;
use super::time::format_time;
use super::{validate, Store, StoreError};

/// Default `Gateway.MaxSkewSeconds`: the server's 15 minutes.
const DEFAULT_MAX_SKEW_SECONDS: u32 = 900;

fn opt_description(obj: &mut Map<String, Value>, d: &str) {
    if !d.is_empty() {
        obj.insert("Description".into(), Value::String(d.to_owned()));
    }
}

impl Store {
    /// The bundle for a gateway serving `scope` (`kst-...` or `shared`).
    pub fn export_bundle_json(&self, scope: &str) -> Result<String, StoreError> {
        validate::scope("Scope", scope)?;
        let doc = self.read(|tx| {
            let rules: Vec<Value> = network_rules(tx)?
                .into_iter()
                .map(|r| {
                    let mut o = Map::new();
                    o.insert("Name".into(), r.name.into());
                    o.insert("Type".into(), r.network_type.into());
                    o.insert("SourcePrivateIp".into(), json!(r.source_private_ip));
                    opt_description(&mut o, &r.description);
                    Value::Object(o)
                })
                .collect();
            let pols: Vec<Value> = policies(tx)?
                .into_iter()
                .map(|p| {
                    let mut o = Map::new();
                    o.insert("Name".into(), p.name.into());
                    o.insert("Permissions".into(), json!(p.permissions));
                    o.insert("Resources".into(), json!(p.resources));
                    o.insert("KmsInstance".into(), p.kms_instance.into());
                    o.insert(
                        "AccessControlRules".into(),
                        json!({ "NetworkRules": p.access_control_rules.network_rules }),
                    );
                    opt_description(&mut o, &p.description);
                    Value::Object(o)
                })
                .collect();
            let points: Vec<Value> = aaps(tx)?
                .into_iter()
                .map(|a| {
                    let mut o = Map::new();
                    o.insert("Name".into(), a.name.into());
                    o.insert("Policies".into(), json!(a.policies));
                    o.insert("AuthenticationMethod".into(), a.authentication_method.into());
                    opt_description(&mut o, &a.description);
                    Value::Object(o)
                })
                .collect();
            let client_keys: Vec<Value> = client_key_rows(tx, None)?
                .into_iter()
                .map(|k| {
                    json!({
                        "ClientKeyId": k.id,
                        "AapName": k.aap,
                        "KeyAlgorithm": k.algorithm,
                        "PublicKeyData": k.public_key_pem,
                        "NotBefore": format_time(k.not_before),
                        "NotAfter": format_time(k.not_after),
                    })
                })
                .collect();
            let mut keys = Vec::new();
            for k in all_keys(tx)? {
                keys.push(json!({
                    "KeyId": k.id,
                    "Aliases": aliases_of(tx, &k.id)?,
                    "KeySpec": k.spec.as_str(),
                    "KeyState": k.state.as_str(),
                    "KeyVersions": version_ids(tx, &k.id)?,
                }));
            }
            let mut secrets = Vec::new();
            for name in secret_names(tx)? {
                let key_id: String = tx.query_row(
                    "SELECT encryption_key_id FROM secrets WHERE name = ?1",
                    rusqlite::params![name],
                    |r| r.get(0),
                )?;
                secrets.push(json!({ "SecretName": name, "EncryptionKeyId": key_id }));
            }
            Ok(json!({
                "NetworkRules": rules,
                "Policies": pols,
                "ApplicationAccessPoints": points,
                "ClientKeys": client_keys,
                "Keys": keys,
                "Secrets": secrets,
                "Gateway": { "Scope": scope, "TrustedProxies": [], "MaxSkewSeconds": DEFAULT_MAX_SKEW_SECONDS },
            }))
        })?;
        serde_json::to_string_pretty(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}
