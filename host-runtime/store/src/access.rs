//! Network rules, policies, application access points and client-key records: the AAP model.
//!
//! References are checked like Alibaba does: a policy names existing network rules, an AAP names
//! existing policies, and nothing still referenced can be deleted.

use crate::db::{Param, Tx};
use crate::params;
use ::time::OffsetDateTime;
use aapkit_pki::PkiError;
use base64::Engine as _;
use serde::Serialize;
use std::collections::HashMap;
use zeroize::Zeroizing;

use super::time::{format_time, now};
use super::validate::{self, MAX_CLIENT_KEYS_PER_AAP, MAX_NETWORK_RULES_PER_POLICY, MAX_POLICIES_PER_AAP};
use super::{Store, StoreError};
use crate::change::{Action, Change, ResourceType};

// ---------------------------------------------------------------------------------------------
// Network rules

pub struct NetworkRuleInput {
    pub name: String,
    /// Only `Private`.
    pub network_type: String,
    pub source_private_ip: Vec<String>,
    pub description: String,
}

pub struct NetworkRuleUpdate {
    pub name: String,
    pub source_private_ip: Option<Vec<String>>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkRuleInfo {
    pub name: String,
    #[serde(rename = "Type")]
    pub network_type: String,
    pub source_private_ip: Vec<String>,
    pub description: String,
    pub create_time: String,
}

// ---------------------------------------------------------------------------------------------
// Policies

pub struct PolicyInput {
    pub name: String,
    pub permissions: Vec<String>,
    pub resources: Vec<String>,
    /// `kst-...` or `shared`.
    pub kms_instance: String,
    /// AccessControlRules.NetworkRules.
    pub network_rules: Vec<String>,
    pub description: String,
}

pub struct PolicyUpdate {
    pub name: String,
    pub permissions: Option<Vec<String>>,
    pub resources: Option<Vec<String>>,
    pub network_rules: Option<Vec<String>>,
    pub description: Option<String>,
    /// KmsInstance is immutable: accepted only when equal to the current value.
    pub kms_instance: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AccessControlRules {
    pub network_rules: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyInfo {
    pub name: String,
    pub description: String,
    pub kms_instance: String,
    pub permissions: Vec<String>,
    pub resources: Vec<String>,
    pub access_control_rules: AccessControlRules,
    pub create_time: String,
}

/// Parses `{"NetworkRules":["rule", ...]}` (the AccessControlRules parameter).
pub fn parse_access_control_rules(text: &str) -> Result<Vec<String>, StoreError> {
    let bad = |reason: &str| StoreError::invalid("AccessControlRules", validate::shorten(text), reason.to_owned());
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(&format!("not JSON: {e}")))?;
    let obj = v.as_object().ok_or_else(|| bad("expected an object {\"NetworkRules\": [...]}"))?;
    if let Some(other) = obj.keys().find(|k| k.as_str() != "NetworkRules") {
        return Err(bad(&format!("unknown member {other:?}; only NetworkRules is allowed")));
    }
    match obj.get("NetworkRules") {
        None => Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| bad("NetworkRules must hold strings")))
            .collect(),
        Some(_) => Err(bad("NetworkRules must be an array of rule names")),
    }
}

// ---------------------------------------------------------------------------------------------
// AAPs

pub struct AapInput {
    pub name: String,
    pub policies: Vec<String>,
    /// `ClientKey` or `RAMRole`.
    pub authentication_method: String,
    pub description: String,
}

pub struct AapUpdate {
    pub name: String,
    pub policies: Option<Vec<String>>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AapInfo {
    pub name: String,
    pub authentication_method: String,
    pub policies: Vec<String>,
    pub description: String,
    pub create_time: String,
}

// ---------------------------------------------------------------------------------------------
// Client keys

/// The public record of a freshly generated client key.
pub struct NewClientKey {
    /// `KAAP.<uuid>`.
    pub client_key_id: String,
    pub aap_name: String,
    /// `RSA_2048`.
    pub key_algorithm: String,
    /// PEM certificate (or PEM public key). Never a private key.
    pub public_key_data: String,
    pub not_before: i64,
    pub not_after: i64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ClientKeyInfo {
    pub client_key_id: String,
    pub aap_name: String,
    pub key_algorithm: String,
    pub key_origin: String,
    pub not_before: String,
    pub not_after: String,
    /// Whole days until NotAfter (negative once expired), at the time of the call.
    pub days_to_expiry: i64,
    pub create_time: String,
    pub public_key_data: String,
}

/// A client key made by [`Store::create_client_key`]: its public record and the PKCS#12 holding
/// its private key (password-protected). The PKCS#12 is handed out once and never stored.
pub struct CreatedClientKey {
    pub info: ClientKeyInfo,
    /// DER.
    pub pkcs12: Zeroizing<Vec<u8>>,
}

impl CreatedClientKey {
    /// Base64 of the PKCS#12: CreateClientKey's `PrivateKeyData`.
    pub fn private_key_data(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&self.pkcs12[..]))
    }

    /// `{"KeyId":"KAAP.<uuid>","PrivateKeyData":"<base64 PKCS#12>"}`: the ClientKeyContent file
    /// the Instance SDKs load.
    pub fn client_key_content(&self) -> Result<Zeroizing<String>, StoreError> {
        let data = self.private_key_data();
        let v = serde_json::json!({ "KeyId": self.info.client_key_id, "PrivateKeyData": data.as_str() });
        serde_json::to_string(&v).map(Zeroizing::new).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

impl std::fmt::Debug for CreatedClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedClientKey").field("info", &self.info).field("pkcs12", &"(not shown)").finish()
    }
}

/// The validity window of a client key created without one, starting at `now` (Unix seconds):
/// now until five years later (Alibaba's default; aapkit-pki's calendar arithmetic, the same the
/// certificate uses).
pub fn default_client_key_window(now: i64) -> Result<(i64, i64), StoreError> {
    let start = OffsetDateTime::from_unix_timestamp(now)
        .map_err(|_| StoreError::invalid("NotBefore", now.to_string(), "out of the supported time range"))?;
    let end = aapkit_pki::default_not_after(start)
        .map_err(|e| StoreError::invalid("NotAfter", now.to_string(), e.to_string()))?;
    Ok((now, end.unix_timestamp()))
}

/// Whole days from `now` to `not_after`, rounded down (negative once expired).
pub fn days_to_expiry(not_after: i64, now: i64) -> i64 {
    (not_after - now).div_euclid(86_400)
}

/// Raw client-key row (times as Unix seconds), for the bundle export.
pub(crate) struct ClientKeyRow {
    pub id: String,
    pub aap: String,
    pub algorithm: String,
    pub public_key_pem: String,
    pub not_before: i64,
    pub not_after: i64,
    pub created: i64,
}

impl ClientKeyRow {
    fn info(self) -> ClientKeyInfo {
        ClientKeyInfo {
            client_key_id: self.id,
            aap_name: self.aap,
            key_algorithm: self.algorithm,
            key_origin: "KMS_PROVIDED".into(),
            not_before: format_time(self.not_before),
            not_after: format_time(self.not_after),
            days_to_expiry: days_to_expiry(self.not_after, now()),
            create_time: format_time(self.created),
            public_key_data: self.public_key_pem,
        }
    }
}

fn check_client_key_id(id: &str) -> Result<(), StoreError> {
    let ok = id.strip_prefix("KAAP.").is_some_and(|u| u.len() == 36 && uuid::Uuid::try_parse(u).is_ok());
    if !ok {
        return Err(StoreError::invalid("ClientKeyId", id, "expected KAAP.<uuid>"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Queries shared by the operations and the export

fn exists(tx: &Tx<'_>, table: &str, name: &str) -> Result<bool, StoreError> {
    Ok(tx.query_opt(&format!("SELECT 1 FROM {table} WHERE name = ?1"), params![name], |_| Ok(()))?.is_some())
}

fn json_list(text: &str, what: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn to_json(list: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// `WHERE <column> = ?1` when one row is asked for (by its primary key), else nothing: the
/// singular lookups read their row by the index, not the whole table (a management call on an
/// AAP used to read all 3,000 of them, each with a query of its own).
fn only_clause(column: &str, only: Option<&str>) -> String {
    only.map(|_| format!("WHERE {column} = ?1")).unwrap_or_default()
}

/// The parameters of a query filtered by [`only_clause`].
fn only_params<'a>(only: &'a Option<&'a str>) -> Vec<&'a dyn Param> {
    only.iter().map(|n| n as &dyn Param).collect()
}

/// The ordered names of a link table (`policy_network_rules`, `aap_policies`) by owner, in one
/// query. Put in `position` order here: asking the database to sort made it build a temporary
/// B-tree of the whole table on every reload.
fn linked(
    tx: &Tx<'_>,
    table: &str,
    owner: &str,
    item: &str,
    only: Option<&str>,
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let sql = format!("SELECT {owner}, {item}, position FROM {table} {}", only_clause(owner, only));
    let rows: Vec<(String, String, i64)> =
        tx.query_map(&sql, &only_params(&only), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let mut by_owner: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    for (o, i, position) in rows {
        by_owner.entry(o).or_default().push((position, i));
    }
    Ok(by_owner
        .into_iter()
        .map(|(o, mut items)| {
            items.sort_unstable();
            (o, items.into_iter().map(|(_, i)| i).collect())
        })
        .collect())
}

pub(crate) fn network_rules(tx: &Tx<'_>) -> Result<Vec<NetworkRuleInfo>, StoreError> {
    network_rules_of(tx, None)
}

pub(crate) fn network_rules_of(tx: &Tx<'_>, only: Option<&str>) -> Result<Vec<NetworkRuleInfo>, StoreError> {
    let sql = format!(
        "SELECT name, type, source_private_ip, description, created FROM network_rules {} ORDER BY name",
        only_clause("name", only)
    );
    let rows = tx.query_map(&sql, &only_params(&only), |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    rows.into_iter()
        .map(|(name, t, ips, description, created)| {
            Ok(NetworkRuleInfo {
                source_private_ip: json_list(&ips, &format!("network rule {name}"))?,
                name,
                network_type: t,
                description,
                create_time: format_time(created),
            })
        })
        .collect()
}

pub(crate) fn network_rule(tx: &Tx<'_>, name: &str) -> Result<NetworkRuleInfo, StoreError> {
    network_rules_of(tx, Some(name))?.pop().ok_or_else(|| StoreError::not_found("network rule", name))
}

pub(crate) fn policies(tx: &Tx<'_>) -> Result<Vec<PolicyInfo>, StoreError> {
    policies_of(tx, None)
}

pub(crate) fn policies_of(tx: &Tx<'_>, only: Option<&str>) -> Result<Vec<PolicyInfo>, StoreError> {
    let sql = format!(
        "SELECT name, kms_instance, permissions, resources, description, created FROM policies {} ORDER BY name",
        only_clause("name", only)
    );
    let rows = tx.query_map(&sql, &only_params(&only), |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    let mut rules = linked(tx, "policy_network_rules", "policy", "rule", only)?;
    rows.into_iter()
        .map(|(name, kms_instance, perms, res, description, created)| {
            Ok(PolicyInfo {
                permissions: json_list(&perms, &format!("policy {name}"))?,
                resources: json_list(&res, &format!("policy {name}"))?,
                access_control_rules: AccessControlRules { network_rules: rules.remove(&name).unwrap_or_default() },
                name,
                description,
                kms_instance,
                create_time: format_time(created),
            })
        })
        .collect()
}

pub(crate) fn policy(tx: &Tx<'_>, name: &str) -> Result<PolicyInfo, StoreError> {
    policies_of(tx, Some(name))?.pop().ok_or_else(|| StoreError::not_found("policy", name))
}

pub(crate) fn aaps(tx: &Tx<'_>) -> Result<Vec<AapInfo>, StoreError> {
    aaps_of(tx, None)
}

pub(crate) fn aaps_of(tx: &Tx<'_>, only: Option<&str>) -> Result<Vec<AapInfo>, StoreError> {
    let sql = format!(
        "SELECT name, authentication_method, description, created FROM aaps {} ORDER BY name",
        only_clause("name", only)
    );
    let rows = tx.query_map(&sql, &only_params(&only), |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
    })?;
    let mut policies = linked(tx, "aap_policies", "aap", "policy", only)?;
    Ok(rows
        .into_iter()
        .map(|(name, method, description, created)| AapInfo {
            policies: policies.remove(&name).unwrap_or_default(),
            name,
            authentication_method: method,
            description,
            create_time: format_time(created),
        })
        .collect())
}

pub(crate) fn aap(tx: &Tx<'_>, name: &str) -> Result<AapInfo, StoreError> {
    aaps_of(tx, Some(name))?.pop().ok_or_else(|| StoreError::not_found("application access point", name))
}

pub(crate) fn client_key_rows(tx: &Tx<'_>, aap: Option<&str>) -> Result<Vec<ClientKeyRow>, StoreError> {
    client_key_rows_where(tx, "aap", aap)
}

pub(crate) fn client_key_rows_where(
    tx: &Tx<'_>,
    column: &str,
    only: Option<&str>,
) -> Result<Vec<ClientKeyRow>, StoreError> {
    // Ordered here, not by the database: without an index on `created`, SQLite's sorter copies
    // every record, certificate and all (about half the read at 10,000 client keys).
    let sql = format!(
        "SELECT id, aap, algorithm, public_key_pem, not_before, not_after, created FROM client_keys {}",
        only_clause(column, only)
    );
    let mut rows = tx.query_map(&sql, &only_params(&only), |r| {
        Ok(ClientKeyRow {
            id: r.get(0)?,
            aap: r.get(1)?,
            algorithm: r.get(2)?,
            public_key_pem: r.get(3)?,
            not_before: r.get(4)?,
            not_after: r.get(5)?,
            created: r.get(6)?,
        })
    })?;
    rows.sort_unstable_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    Ok(rows)
}

/// Names the referrers of `name` in `table.column` (for "in use" errors).
fn referrers(tx: &Tx<'_>, sql: &str, name: &str) -> Result<Vec<String>, StoreError> {
    let names: Vec<String> = tx.query_map(sql, params![name], |r| r.get(0))?;
    Ok(names)
}

fn check_rule_refs(tx: &Tx<'_>, rules: &[String]) -> Result<Vec<String>, StoreError> {
    if rules.len() > MAX_NETWORK_RULES_PER_POLICY {
        return Err(StoreError::invalid(
            "AccessControlRules",
            format!("({} network rules)", rules.len()),
            format!("a policy holds at most {MAX_NETWORK_RULES_PER_POLICY} network rules"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(rules.len());
    for r in rules {
        if !exists(tx, "network_rules", r)? {
            return Err(StoreError::invalid("AccessControlRules", r, "no network rule has this name"));
        }
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    Ok(out)
}

fn check_policy_refs(tx: &Tx<'_>, policies: &[String]) -> Result<Vec<String>, StoreError> {
    if policies.is_empty() {
        return Err(StoreError::MissingParameter("Policies"));
    }
    let mut out: Vec<String> = Vec::with_capacity(policies.len());
    for p in policies {
        if !exists(tx, "policies", p)? {
            return Err(StoreError::invalid("Policies", p, "no policy has this name"));
        }
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    if out.len() > MAX_POLICIES_PER_AAP {
        return Err(StoreError::invalid(
            "Policies",
            format!("({} policies)", out.len()),
            format!("an application access point holds at most {MAX_POLICIES_PER_AAP} policies"),
        ));
    }
    Ok(out)
}

fn set_policy_rules(tx: &Tx<'_>, policy: &str, rules: &[String]) -> Result<(), StoreError> {
    tx.execute("DELETE FROM policy_network_rules WHERE policy = ?1", params![policy])?;
    for (i, r) in rules.iter().enumerate() {
        tx.execute(
            "INSERT INTO policy_network_rules(policy, rule, position) VALUES (?1, ?2, ?3)",
            params![policy, r, i64::try_from(i).unwrap_or(i64::MAX)],
        )?;
    }
    Ok(())
}

fn set_aap_policies(tx: &Tx<'_>, aap: &str, policies: &[String]) -> Result<(), StoreError> {
    tx.execute("DELETE FROM aap_policies WHERE aap = ?1", params![aap])?;
    for (i, p) in policies.iter().enumerate() {
        tx.execute(
            "INSERT INTO aap_policies(aap, policy, position) VALUES (?1, ?2, ?3)",
            params![aap, p, i64::try_from(i).unwrap_or(i64::MAX)],
        )?;
    }
    Ok(())
}

fn dedup(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for s in list {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Operations

impl Store {
    /// CreateNetworkRule.
    pub fn create_network_rule(&self, input: &NetworkRuleInput) -> Result<NetworkRuleInfo, StoreError> {
        validate::resource_name("Name", &input.name)?;
        validate::network_type(&input.network_type)?;
        validate::description(&input.description)?;
        let ips = validate::source_private_ips(&input.source_private_ip)?;
        self.write(Change::new(ResourceType::NetworkRule, &input.name, Action::Create, "CreateNetworkRule"), |tx| {
            if exists(tx, "network_rules", &input.name)? {
                return Err(StoreError::AlreadyExists { kind: "network rule", name: input.name.clone() });
            }
            tx.execute(
                "INSERT INTO network_rules(name, type, source_private_ip, description, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![input.name, input.network_type, to_json(&ips)?, input.description, now()],
            )?;
            network_rule(tx, &input.name)
        })
    }

    /// UpdateNetworkRule (SourcePrivateIp and/or Description).
    pub fn update_network_rule(&self, update: &NetworkRuleUpdate) -> Result<NetworkRuleInfo, StoreError> {
        let ips = update.source_private_ip.as_deref().map(validate::source_private_ips).transpose()?;
        if let Some(d) = &update.description {
            validate::description(d)?;
        }
        self.write(Change::new(ResourceType::NetworkRule, &update.name, Action::Update, "UpdateNetworkRule"), |tx| {
            network_rule(tx, &update.name)?;
            if let Some(ips) = &ips {
                tx.execute(
                    "UPDATE network_rules SET source_private_ip = ?1 WHERE name = ?2",
                    params![to_json(ips)?, update.name],
                )?;
            }
            if let Some(d) = &update.description {
                tx.execute("UPDATE network_rules SET description = ?1 WHERE name = ?2", params![d, update.name])?;
            }
            network_rule(tx, &update.name)
        })
    }

    pub fn describe_network_rule(&self, name: &str) -> Result<NetworkRuleInfo, StoreError> {
        self.read(|tx| network_rule(tx, name))
    }

    pub fn list_network_rules(&self) -> Result<Vec<NetworkRuleInfo>, StoreError> {
        self.read(network_rules)
    }

    /// DeleteNetworkRule; refused while a policy uses the rule.
    pub fn delete_network_rule(&self, name: &str) -> Result<(), StoreError> {
        self.write(Change::new(ResourceType::NetworkRule, name, Action::Delete, "DeleteNetworkRule"), |tx| {
            network_rule(tx, name)?;
            let users = referrers(tx, "SELECT policy FROM policy_network_rules WHERE rule = ?1 ORDER BY policy", name)?;
            if !users.is_empty() {
                return Err(StoreError::InUse {
                    kind: "network rule",
                    name: name.to_owned(),
                    used_by: format!("policies {}", users.join(", ")),
                });
            }
            tx.execute("DELETE FROM network_rules WHERE name = ?1", params![name])?;
            Ok(())
        })
    }

    /// CreatePolicy.
    pub fn create_policy(&self, input: &PolicyInput) -> Result<PolicyInfo, StoreError> {
        validate::resource_name("Name", &input.name)?;
        validate::permissions(&input.permissions)?;
        validate::resources(&input.resources)?;
        validate::scope("KmsInstance", &input.kms_instance)?;
        validate::permissions_for_scope(&input.permissions, &input.kms_instance)?;
        validate::policy_grants_something(&input.kms_instance, &input.permissions, &input.resources)?;
        validate::description(&input.description)?;
        self.write(Change::new(ResourceType::Policy, &input.name, Action::Create, "CreatePolicy"), |tx| {
            if exists(tx, "policies", &input.name)? {
                return Err(StoreError::AlreadyExists { kind: "policy", name: input.name.clone() });
            }
            let rules = check_rule_refs(tx, &input.network_rules)?;
            tx.execute(
                "INSERT INTO policies(name, kms_instance, permissions, resources, description, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    input.name,
                    input.kms_instance,
                    to_json(&dedup(&input.permissions))?,
                    to_json(&dedup(&input.resources))?,
                    input.description,
                    now()
                ],
            )?;
            set_policy_rules(tx, &input.name, &rules)?;
            policy(tx, &input.name)
        })
    }

    /// UpdatePolicy. KmsInstance cannot change.
    pub fn update_policy(&self, update: &PolicyUpdate) -> Result<PolicyInfo, StoreError> {
        if let Some(p) = &update.permissions {
            validate::permissions(p)?;
        }
        if let Some(r) = &update.resources {
            validate::resources(r)?;
        }
        if let Some(d) = &update.description {
            validate::description(d)?;
        }
        self.write(Change::new(ResourceType::Policy, &update.name, Action::Update, "UpdatePolicy"), |tx| {
            let current = policy(tx, &update.name)?;
            if let Some(k) = &update.kms_instance {
                if *k != current.kms_instance {
                    return Err(StoreError::invalid(
                        "KmsInstance",
                        k,
                        format!(
                            "the scope of a policy cannot change (it is {}); create a new policy",
                            current.kms_instance
                        ),
                    ));
                }
            }
            if let Some(p) = &update.permissions {
                validate::permissions_for_scope(p, &current.kms_instance)?;
                tx.execute(
                    "UPDATE policies SET permissions = ?1 WHERE name = ?2",
                    params![to_json(&dedup(p))?, update.name],
                )?;
            }
            if let Some(r) = &update.resources {
                tx.execute(
                    "UPDATE policies SET resources = ?1 WHERE name = ?2",
                    params![to_json(&dedup(r))?, update.name],
                )?;
            }
            if let Some(d) = &update.description {
                tx.execute("UPDATE policies SET description = ?1 WHERE name = ?2", params![d, update.name])?;
            }
            if let Some(rules) = &update.network_rules {
                let rules = check_rule_refs(tx, rules)?;
                set_policy_rules(tx, &update.name, &rules)?;
            }
            // On the policy as it would be: an error here rolls the whole update back.
            let after = policy(tx, &update.name)?;
            validate::policy_grants_something(&after.kms_instance, &after.permissions, &after.resources)?;
            Ok(after)
        })
    }

    pub fn describe_policy(&self, name: &str) -> Result<PolicyInfo, StoreError> {
        self.read(|tx| policy(tx, name))
    }

    pub fn list_policies(&self) -> Result<Vec<PolicyInfo>, StoreError> {
        self.read(policies)
    }

    /// DeletePolicy; refused while an AAP uses the policy.
    pub fn delete_policy(&self, name: &str) -> Result<(), StoreError> {
        self.write(Change::new(ResourceType::Policy, name, Action::Delete, "DeletePolicy"), |tx| {
            policy(tx, name)?;
            let users = referrers(tx, "SELECT aap FROM aap_policies WHERE policy = ?1 ORDER BY aap", name)?;
            if !users.is_empty() {
                return Err(StoreError::InUse {
                    kind: "policy",
                    name: name.to_owned(),
                    used_by: format!("application access points {}", users.join(", ")),
                });
            }
            tx.execute("DELETE FROM policies WHERE name = ?1", params![name])?;
            Ok(())
        })
    }

    /// CreateApplicationAccessPoint.
    pub fn create_aap(&self, input: &AapInput) -> Result<AapInfo, StoreError> {
        validate::aap_name(&input.name)?;
        validate::authentication_method(&input.authentication_method)?;
        validate::description(&input.description)?;
        self.write(Change::new(ResourceType::Aap, &input.name, Action::Create, "CreateApplicationAccessPoint"), |tx| {
            if exists(tx, "aaps", &input.name)? {
                return Err(StoreError::AlreadyExists { kind: "application access point", name: input.name.clone() });
            }
            let policies = check_policy_refs(tx, &input.policies)?;
            tx.execute(
                "INSERT INTO aaps(name, authentication_method, description, created) VALUES (?1, ?2, ?3, ?4)",
                params![input.name, input.authentication_method, input.description, now()],
            )?;
            set_aap_policies(tx, &input.name, &policies)?;
            aap(tx, &input.name)
        })
    }

    /// UpdateApplicationAccessPoint (Policies and/or Description).
    pub fn update_aap(&self, update: &AapUpdate) -> Result<AapInfo, StoreError> {
        if let Some(d) = &update.description {
            validate::description(d)?;
        }
        self.write(Change::new(ResourceType::Aap, &update.name, Action::Update, "UpdateApplicationAccessPoint"), |tx| {
            aap(tx, &update.name)?;
            if let Some(p) = &update.policies {
                let policies = check_policy_refs(tx, p)?;
                set_aap_policies(tx, &update.name, &policies)?;
            }
            if let Some(d) = &update.description {
                tx.execute("UPDATE aaps SET description = ?1 WHERE name = ?2", params![d, update.name])?;
            }
            aap(tx, &update.name)
        })
    }

    pub fn describe_aap(&self, name: &str) -> Result<AapInfo, StoreError> {
        self.read(|tx| aap(tx, name))
    }

    pub fn list_aaps(&self) -> Result<Vec<AapInfo>, StoreError> {
        self.read(aaps)
    }

    /// DeleteApplicationAccessPoint; refused while client keys or RAM roles are bound to it (delete
    /// them first, which revokes them).
    pub fn delete_aap(&self, name: &str) -> Result<(), StoreError> {
        self.write(Change::new(ResourceType::Aap, name, Action::Delete, "DeleteApplicationAccessPoint"), |tx| {
            aap(tx, name)?;
            let keys = referrers(tx, "SELECT id FROM client_keys WHERE aap = ?1 ORDER BY id", name)?;
            if !keys.is_empty() {
                return Err(StoreError::InUse {
                    kind: "application access point",
                    name: name.to_owned(),
                    used_by: format!("client keys {}", keys.join(", ")),
                });
            }
            let roles = crate::ram_roles::roles_of_aap(tx, name)?;
            if !roles.is_empty() {
                return Err(StoreError::InUse {
                    kind: "application access point",
                    name: name.to_owned(),
                    used_by: format!("RAM roles {}", roles.join(", ")),
                });
            }
            tx.execute("DELETE FROM aaps WHERE name = ?1", params![name])?;
            Ok(())
        })
    }

    /// Checks that a client key may be created for `aap` (exists, uses ClientKey authentication,
    /// below the limit) before the caller spends time generating one.
    pub fn check_client_key_allowed(&self, aap_name: &str) -> Result<(), StoreError> {
        self.read(|tx| client_key_allowed(tx, aap_name))
    }

    /// CreateClientKey: checks the AAP (exists, ClientKey authentication, below the limit), the
    /// password (aapkit-pki's rule) and the window, generates the key pair, certificate and
    /// PKCS#12, and records the public half (one transaction, with its event). The PKCS#12 is
    /// returned, never stored. Both the CLI and the OpenAPI create client keys only through here.
    pub fn create_client_key(
        &self,
        aap_name: &str,
        password: &str,
        not_before: i64,
        not_after: i64,
    ) -> Result<CreatedClientKey, StoreError> {
        validate::aap_name(aap_name).map_err(|e| match e {
            StoreError::InvalidParameter { value, reason, .. } => {
                StoreError::InvalidParameter { param: "AapName", value, reason }
            }
            StoreError::MissingParameter(_) => StoreError::MissingParameter("AapName"),
            other => other,
        })?;
        aapkit_pki::validate_password(password)
            .map_err(|e| StoreError::invalid("Password", "(not shown)", e.to_string()))?;
        if not_after <= not_before {
            return Err(StoreError::invalid(
                "NotAfter",
                format_time(not_after),
                format!("must be later than NotBefore {}", format_time(not_before)),
            ));
        }
        let at = |param: &'static str, t: i64| {
            OffsetDateTime::from_unix_timestamp(t)
                .map_err(|_| StoreError::invalid(param, t.to_string(), "out of the supported time range"))
        };
        let (nb, na) = (at("NotBefore", not_before)?, at("NotAfter", not_after)?);
        // Refuse early: generating an RSA key for an AAP that cannot take it is wasted time.
        self.check_client_key_allowed(aap_name)?;
        let key = aapkit_pki::generate(aap_name, password, nb, na).map_err(|e| match e {
            PkiError::InvalidPassword(_) => StoreError::invalid("Password", "(not shown)", e.to_string()),
            PkiError::InvalidArgument(m) => StoreError::invalid("AapName", aap_name, m),
            other => StoreError::Crypto(format!("client key generation: {other}")),
        })?;
        let pkcs12 = Zeroizing::new(key.pkcs12_der.clone());
        let record = NewClientKey {
            client_key_id: key.key_id.clone(),
            aap_name: aap_name.to_owned(),
            key_algorithm: aapkit_pki::client_key::KEY_ALGORITHM.into(),
            public_key_data: key.certificate_pem.clone(),
            not_before,
            not_after,
        };
        drop(key);
        // Checked again under the write lock (limit, AAP still there).
        let info = self.insert_client_key(&record)?;
        Ok(CreatedClientKey { info, pkcs12 })
    }

    /// Records a client key's public half. The private half never reaches the store.
    pub fn insert_client_key(&self, key: &NewClientKey) -> Result<ClientKeyInfo, StoreError> {
        check_client_key_id(&key.client_key_id)?;
        if key.key_algorithm != "RSA_2048" {
            return Err(StoreError::invalid("KeyAlgorithm", &key.key_algorithm, "only RSA_2048 is supported"));
        }
        let pem = key.public_key_data.trim();
        if !pem.starts_with("-----BEGIN ") {
            return Err(StoreError::invalid(
                "PublicKeyData",
                validate::shorten(pem),
                "expected a PEM certificate or public key",
            ));
        }
        if pem.contains("PRIVATE KEY") {
            return Err(StoreError::invalid("PublicKeyData", "(not shown)", "private keys are never stored"));
        }
        if key.not_after <= key.not_before {
            return Err(StoreError::invalid(
                "NotAfter",
                format_time(key.not_after),
                format!("must be later than NotBefore {}", format_time(key.not_before)),
            ));
        }
        self.write(Change::new(ResourceType::ClientKey, &key.client_key_id, Action::Create, "CreateClientKey"), |tx| {
            client_key_allowed(tx, &key.aap_name)?;
            let taken = tx
                .query_opt("SELECT 1 FROM client_keys WHERE id = ?1", params![key.client_key_id], |_| Ok(()))?
                .is_some();
            if taken {
                return Err(StoreError::AlreadyExists { kind: "client key", name: key.client_key_id.clone() });
            }
            tx.execute(
                "INSERT INTO client_keys(id, aap, algorithm, public_key_pem, not_before, not_after, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![key.client_key_id, key.aap_name, key.key_algorithm, pem, key.not_before, key.not_after, now()],
            )?;
            client_key(tx, &key.client_key_id)
        })
    }

    /// GetClientKey.
    pub fn get_client_key(&self, id: &str) -> Result<ClientKeyInfo, StoreError> {
        self.read(|tx| client_key(tx, id))
    }

    /// ListClientKeys, of one AAP or of all.
    pub fn list_client_keys(&self, aap_name: Option<&str>) -> Result<Vec<ClientKeyInfo>, StoreError> {
        self.read(|tx| {
            if let Some(a) = aap_name {
                aap(tx, a)?;
            }
            Ok(client_key_rows(tx, aap_name)?.into_iter().map(ClientKeyRow::info).collect())
        })
    }

    /// DeleteClientKey: the key stops working at the server's next reload.
    pub fn delete_client_key(&self, id: &str) -> Result<(), StoreError> {
        self.write(Change::new(ResourceType::ClientKey, id, Action::Delete, "DeleteClientKey"), |tx| {
            let n = tx.execute("DELETE FROM client_keys WHERE id = ?1", params![id])?;
            if n == 0 {
                return Err(StoreError::not_found("client key", id));
            }
            Ok(())
        })
    }
}

fn client_key_allowed(tx: &Tx<'_>, aap_name: &str) -> Result<(), StoreError> {
    let a = aap(tx, aap_name)?;
    if a.authentication_method != "ClientKey" {
        return Err(StoreError::InvalidState(format!(
            "the application access point {aap_name} authenticates by {}; client keys need ClientKey",
            a.authentication_method
        )));
    }
    let n: i64 = tx.query_row("SELECT COUNT(*) FROM client_keys WHERE aap = ?1", params![aap_name], |r| r.get(0))?;
    if n >= MAX_CLIENT_KEYS_PER_AAP as i64 {
        return Err(StoreError::invalid(
            "AapName",
            aap_name,
            format!(
                "the application access point already has {n} client keys (at most {MAX_CLIENT_KEYS_PER_AAP}); delete one first"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn client_key(tx: &Tx<'_>, id: &str) -> Result<ClientKeyInfo, StoreError> {
    client_key_rows_where(tx, "id", Some(id))?
        .pop()
        .map(ClientKeyRow::info)
        .ok_or_else(|| StoreError::not_found("client key", id))
}
