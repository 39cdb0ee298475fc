//! Management events: every control-plane write records one, in the transaction of the change
//! it describes ([`Store::write`]): a change without its event cannot commit, and an event without
//! its change cannot exist. Before/after images are the `describe` views, which never hold key
//! material, secret values or private keys (client-key records also leave out the public key,
//! which the bundle has).

use crate::db::{OwnedParam, Param, Tx};
use crate::params;
use serde::Serialize;
use serde_json::Value;

use crate::access;
use crate::account;
use crate::change::{Action, Change, ResourceType};
use crate::keys;
use crate::ram_roles;
use crate::secrets;
use crate::time::format_time;
use crate::{Store, StoreError};

/// A recorded management event.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ManagementEvent {
    pub event_id: i64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub resource_type: String,
    pub resource_name: String,
    pub operation: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The describe view of one resource as JSON, with the resource's canonical name; `None` when it
/// does not exist. Never holds secret material (see the module comment).
pub(crate) fn snapshot(
    tx: &Tx<'_>,
    resource_type: ResourceType,
    name: &str,
) -> Result<Option<(String, Value)>, StoreError> {
    let to_value =
        |v: Result<Value, serde_json::Error>| v.map_err(|e| StoreError::Corrupt(format!("event image: {e}")));
    Ok(match resource_type {
        ResourceType::Key => match keys::find_key(tx, name)? {
            Some(row) => {
                let info = keys::info(tx, &row)?;
                Some((row.id, to_value(serde_json::to_value(info))?))
            }
            None => None,
        },
        ResourceType::Alias => tx
            .query_opt("SELECT key_id, created FROM aliases WHERE name = ?1", params![name], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?
            .map(|(key_id, created)| {
                (
                    name.to_owned(),
                    serde_json::json!({ "AliasName": name, "KeyId": key_id, "CreationDate": format_time(created) }),
                )
            }),
        ResourceType::Secret => {
            if secrets::secret_names(tx)?.iter().any(|n| n == name) {
                Some((name.to_owned(), to_value(serde_json::to_value(secrets::describe(tx, name)?))?))
            } else {
                None
            }
        }
        ResourceType::NetworkRule => match access::network_rule(tx, name) {
            Ok(r) => Some((name.to_owned(), to_value(serde_json::to_value(r))?)),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
        ResourceType::Policy => match access::policy(tx, name) {
            Ok(p) => Some((name.to_owned(), to_value(serde_json::to_value(p))?)),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
        ResourceType::Aap => match access::aap(tx, name) {
            Ok(a) => Some((name.to_owned(), to_value(serde_json::to_value(a))?)),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
        ResourceType::ClientKey => match access::client_key(tx, name) {
            Ok(k) => {
                let mut v = to_value(serde_json::to_value(k))?;
                if let Some(o) = v.as_object_mut() {
                    // Public, but bulky; the bundle export has it.
                    o.remove("PublicKeyData");
                    o.remove("DaysToExpiry");
                }
                Some((name.to_owned(), v))
            }
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
        // The listing view: id, status, description, time. Never the secret.
        ResourceType::AccessKey => match account::access_key_info(tx, name)? {
            Some(k) => Some((name.to_owned(), to_value(serde_json::to_value(k))?)),
            None => None,
        },
        // The describe view: trust configuration, never the credentials-URI token (not even its hash).
        ResourceType::RamRole => match ram_roles::role_info(tx, name)? {
            Some(r) => Some((name.to_owned(), to_value(serde_json::to_value(r))?)),
            None => None,
        },
    })
}

/// Returns the resource's canonical name (the one the event records).
pub(crate) fn insert_event(
    tx: &Tx<'_>,
    actor: &str,
    change: &Change<'_>,
    before: Option<(String, Value)>,
    after: Option<(String, Value)>,
    time: i64,
) -> Result<String, StoreError> {
    let name = after.as_ref().or(before.as_ref()).map(|(n, _)| n.clone()).unwrap_or_else(|| change.name.to_owned());
    let json = |v: Option<(String, Value)>| v.map(|(_, v)| v.to_string());
    tx.execute(
        "INSERT INTO mgmt_events(time, actor, action, resource_type, resource_name, operation, before, after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            time,
            actor,
            change.action.as_str(),
            change.resource_type.as_str(),
            name,
            change.operation,
            json(before),
            json(after)
        ],
    )?;
    Ok(name)
}

/// Filters of `aapkit audit events`; `None` matches everything.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    pub resource_type: Option<ResourceType>,
    pub resource_name: Option<String>,
    pub action: Option<Action>,
    pub actor: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: u32,
}

impl Store {
    /// Management events matching `q`, newest first.
    pub fn query_events(&self, q: &EventQuery) -> Result<Vec<ManagementEvent>, StoreError> {
        let mut sql = String::from(
            "SELECT id, time, actor, action, resource_type, resource_name, operation, before, after FROM mgmt_events WHERE 1=1",
        );
        let mut args: Vec<OwnedParam> = Vec::new();
        let mut add = |cond: &str, v: OwnedParam| {
            args.push(v);
            sql.push_str(&format!(" AND {cond} ?{}", args.len()));
        };
        if let Some(t) = q.resource_type {
            add("resource_type =", OwnedParam::Text(t.as_str().to_owned()));
        }
        if let Some(n) = &q.resource_name {
            add("resource_name =", OwnedParam::Text(n.clone()));
        }
        if let Some(a) = q.action {
            add("action =", OwnedParam::Text(a.as_str().to_owned()));
        }
        if let Some(a) = &q.actor {
            add("actor =", OwnedParam::Text(a.clone()));
        }
        if let Some(t) = q.since {
            add("time >=", OwnedParam::Int(t));
        }
        if let Some(t) = q.until {
            add("time <", OwnedParam::Int(t));
        }
        args.push(OwnedParam::Int(i64::from(q.limit)));
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len()));
        self.read(|tx| {
            let raw = tx.query_map(&sql, &args.iter().map(|a| a as &dyn Param).collect::<Vec<_>>(), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ))
            })?;
            let parse = |s: Option<String>| -> Result<Option<Value>, StoreError> {
                s.map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("event image: {e}"))))
                    .transpose()
            };
            raw.into_iter()
                .map(|(id, time, actor, action, rt, name, op, before, after)| {
                    Ok(ManagementEvent {
                        event_id: id,
                        time: format_time(time),
                        actor,
                        action,
                        resource_type: rt,
                        resource_name: name,
                        operation: op,
                        before: parse(before)?,
                        after: parse(after)?,
                    })
                })
                .collect()
        })
    }
}
