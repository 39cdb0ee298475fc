//! The change log, and the reloads that read only the access rows that changed.
//!
//! Every committed configuration change ([`Store::write`](crate::Store)) adds one row to
//! `config_changes`: its generation, the kind and name of the resource it changed, and a random
//! token. A reader that holds the access part of generation `g` (network rules, policies, AAPs,
//! client keys: about 12 MB of certificates at 10,000 client keys, most of a reload when the key
//! catalogue is skipped) reads the rows after `g` and reads again only the resources they name.
//!
//! It falls back to reading everything whenever the log cannot vouch for the patch: the rows
//! from `g` to the current generation are not all there (a copy from another store, a log
//! pruned past `g`, a generation moved outside [`Store::write`]), the token of `g`'s row is not
//! the one the reader saw (a database restored from a backup and written again reuses
//! generations), too many changes to patch, a policy that grants nothing involved (the AAPs'
//! lists leave it out), or the patched part's row counts differ from the tables'.

use std::collections::BTreeSet;
use std::sync::Mutex;

use policy_core::Bundle;

use crate::access::{aaps_of, client_key_rows_where, network_rules_of, policies_of};
use crate::change::ResourceType;
use crate::db::Tx;
use crate::export::{read_access, to_aap, to_client_key, to_network_rule, to_policy, AccessPart, StoredPolicy};
use crate::params;
use crate::{Store, StoreError};

/// How many generations the log keeps. A reader further behind reads everything (which is then
/// the cheaper way anyway).
pub(crate) const KEPT_CHANGES: u64 = 1024;

/// The most changes a reader patches; past this it reads everything.
pub(crate) const MAX_PATCHED_CHANGES: u64 = 256;

/// How a configuration read got its access part ([`crate::ConfigRead::access`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessRead {
    /// Every access row was read.
    Whole,
    /// The previous read's access part, with the resources named by `changes` log rows read again.
    Patched { changes: usize },
}

/// Records the change committed at `generation` (in its transaction), and forgets the rows the log
/// no longer keeps.
pub(crate) fn record(tx: &Tx<'_>, generation: u64, resource_type: ResourceType, name: &str) -> Result<(), StoreError> {
    let g = as_i64(generation)?;
    tx.execute(
        "INSERT INTO config_changes(generation, resource_type, name, token) VALUES (?1, ?2, ?3, ?4)",
        params![g, resource_type.as_str(), name, random_token()],
    )?;
    if let Some(oldest) = generation.checked_sub(KEPT_CHANGES) {
        tx.execute("DELETE FROM config_changes WHERE generation <= ?1", params![as_i64(oldest)?])?;
    }
    Ok(())
}

fn as_i64(generation: u64) -> Result<i64, StoreError> {
    i64::try_from(generation).map_err(|_| StoreError::Corrupt(format!("generation {generation}")))
}

fn random_token() -> i64 {
    let b = *uuid::Uuid::new_v4().as_bytes();
    i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[9], b[10]])
}

/// The access part a store handle read last, with the log row that vouches for it.
#[derive(Default)]
pub(crate) struct AccessCache(Mutex<Option<Cached>>);

struct Cached {
    generation: u64,
    token: i64,
    part: AccessPart,
}

impl Store {
    /// The access part of the configuration at `generation` (read in `tx`), without the gateway
    /// section: the last one this handle read, patched, or read whole (see the module comment).
    pub(crate) fn access_part(&self, tx: &Tx<'_>, generation: u64) -> Result<(Bundle, AccessRead), StoreError> {
        let mut cache = self.access.0.lock().unwrap_or_else(|p| p.into_inner());
        // Taken out while patched: an error half-way leaves nothing behind to be trusted.
        if let Some(mut cached) = cache.take() {
            if let Some(changes) = patch(tx, &mut cached, generation)? {
                let bundle = cached.part.bundle.clone();
                *cache = Some(cached);
                return Ok((bundle, AccessRead::Patched { changes }));
            }
        }
        let part = read_access(tx)?;
        let Some(token) = token_at(tx, generation)? else {
            // Nothing to check a later patch against (a store no change has been logged in yet).
            return Ok((part.bundle, AccessRead::Whole));
        };
        let bundle = part.bundle.clone();
        *cache = Some(Cached { generation, token, part });
        Ok((bundle, AccessRead::Whole))
    }
}

/// The token of the log row of `generation`, if the log has it: what a later patch from that
/// generation is checked against.
pub(crate) fn token_at(tx: &Tx<'_>, generation: u64) -> Result<Option<i64>, StoreError> {
    tx.query_opt("SELECT token FROM config_changes WHERE generation = ?1", params![as_i64(generation)?], |r| r.get(0))
}

/// One row of the change log.
pub(crate) struct LogRow {
    pub generation: u64,
    pub resource_type: String,
    pub name: String,
    pub token: i64,
}

/// The log rows from `from` to `to`, both included, when the log vouches for a patch from a read
/// at `from` whose row had `token`: every generation in between has its row, and `from`'s row
/// still has that token. `None` otherwise, or when more than `most` generations are between them.
pub(crate) fn vouched_rows(
    tx: &Tx<'_>,
    from: u64,
    token: i64,
    to: u64,
    most: u64,
) -> Result<Option<Vec<LogRow>>, StoreError> {
    let Some(behind) = to.checked_sub(from) else { return Ok(None) };
    if behind > most {
        return Ok(None);
    }
    let rows: Vec<LogRow> = tx.query_map(
        "SELECT generation, resource_type, name, token FROM config_changes
         WHERE generation >= ?1 AND generation <= ?2 ORDER BY generation",
        params![as_i64(from)?, as_i64(to)?],
        |r| {
            let generation: i64 = r.get(0)?;
            Ok(LogRow {
                generation: u64::try_from(generation).unwrap_or(u64::MAX),
                resource_type: r.get(1)?,
                name: r.get(2)?,
                token: r.get(3)?,
            })
        },
    )?;
    let contiguous =
        u64::try_from(rows.len()) == Ok(behind + 1) && rows.iter().zip(from..).all(|(row, g)| row.generation == g);
    Ok((contiguous && rows.first().map(|r| r.token) == Some(token)).then_some(rows))
}

/// Brings `cached` to `generation` from the log; `None` when the log cannot vouch for it (then
/// `cached` is to be dropped).
fn patch(tx: &Tx<'_>, cached: &mut Cached, generation: u64) -> Result<Option<usize>, StoreError> {
    let Some(rows) = vouched_rows(tx, cached.generation, cached.token, generation, MAX_PATCHED_CHANGES)? else {
        return Ok(None);
    };
    // Each resource read once, however often it changed.
    let changed: BTreeSet<(&str, &str)> =
        rows[1..].iter().map(|r| (r.resource_type.as_str(), r.name.as_str())).collect();
    let part = &mut cached.part;
    for &(kind, name) in &changed {
        let Some(kind) = ResourceType::parse(kind) else { return Ok(None) };
        match kind {
            ResourceType::NetworkRule => {
                let rule = network_rules_of(tx, Some(name))?.pop().map(to_network_rule).transpose()?;
                put(&mut part.bundle.network_rules, name, |r| &r.name, rule);
            }
            ResourceType::Policy => {
                let policy = match policies_of(tx, Some(name))?.pop().map(to_policy).transpose()? {
                    Some(StoredPolicy::LeftOut(_)) => return Ok(None),
                    Some(StoredPolicy::Exported(p)) => Some(p),
                    None => None,
                };
                if part.left_out.contains(name) {
                    return Ok(None);
                }
                put(&mut part.bundle.policies, name, |p| &p.name, policy);
            }
            ResourceType::Aap => {
                let aap = aaps_of(tx, Some(name))?.pop().map(|a| to_aap(a, &part.left_out)).transpose()?;
                put(&mut part.bundle.application_access_points, name, |a| &a.name, aap);
            }
            ResourceType::ClientKey => {
                let key = client_key_rows_where(tx, "id", Some(name))?.pop().map(to_client_key).transpose()?;
                put(&mut part.bundle.client_keys, name, |k| &k.client_key_id, key);
            }
            // Not in the access part: the key catalogue has its own generation, and access keys
            // and RAM roles are not in the bundle.
            ResourceType::Key
            | ResourceType::Alias
            | ResourceType::Secret
            | ResourceType::AccessKey
            | ResourceType::RamRole => {}
        }
    }
    // A write that changed rows its log entry does not name would leave a stale part: the counts
    // catch a row added or removed that way.
    let counts: (i64, i64, i64, i64) = tx.query_row(
        "SELECT (SELECT COUNT(*) FROM network_rules), (SELECT COUNT(*) FROM policies),
                (SELECT COUNT(*) FROM aaps), (SELECT COUNT(*) FROM client_keys)",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let b = &part.bundle;
    let held = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    if counts
        != (
            held(b.network_rules.len()),
            held(b.policies.len() + part.left_out.len()),
            held(b.application_access_points.len()),
            held(b.client_keys.len()),
        )
    {
        return Ok(None);
    }
    cached.generation = generation;
    cached.token = rows.last().map_or(cached.token, |r| r.token);
    Ok(Some(rows.len() - 1))
}

/// Puts `item` where `name` sorts in `list` (sorted by `key`, byte order), replacing the entry of
/// that name; `None` removes it.
fn put<T>(list: &mut Vec<T>, name: &str, key: impl Fn(&T) -> &String, item: Option<T>) {
    match (list.binary_search_by(|x| key(x).as_str().cmp(name)), item) {
        (Ok(i), Some(item)) => list[i] = item,
        (Ok(i), None) => {
            list.remove(i);
        }
        (Err(i), Some(item)) => list.insert(i, item),
        (Err(_), None) => {}
    }
}
