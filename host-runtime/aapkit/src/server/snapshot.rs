//! The configuration the request path runs under, published as one versioned snapshot: the key
//! ring and the policy bundle of the same control-plane generation, swapped together.
//!
//! A request loads the snapshot once; the enforcer decides under its bundle and the handler acts
//! on its key ring, so a decision and its action cannot come from two configurations.

use std::sync::{Arc, Mutex, RwLock};

use super::enforcer::{ConfigureError, Enforcer, PreparedPolicy};
use aapkit_kms::IndexedKeyRing;
use aapkit_store::{AccessRead, CatalogueRead, Store, StoreError};
use policy_core::{AuthenticationMethod, PublicKeyCache};

/// One configuration: what the server decides under and acts on.
pub struct Snapshot {
    /// The store generation both parts were read at (also `Gateway.Generation` of the bundle).
    pub generation: u64,
    pub ring: Arc<IndexedKeyRing>,
    pub policy: PreparedPolicy,
    /// The same bundle compiled natively, for the decisions the host makes itself (RAM-role
    /// sessions on the KMS endpoint, whose HMAC signatures only the host can verify); `None` when
    /// the bundle has no RAM-role AAP, so there is nothing to decide.
    pub sessions: Option<Arc<policy_core::CompiledBundle>>,
    /// The bundle as compiled natively: the next build compiles over its key catalogue when the
    /// store reports no change to keys, aliases or secrets since `catalogue_generation`.
    pub compiled: Arc<policy_core::CompiledBundle>,
    /// The store generation of the last change to keys, aliases or secrets that `ring` and the
    /// catalogue reflect; `None` when the store did not say (the next build reads everything).
    pub catalogue_generation: Option<u64>,
    /// How the store read the access part for this snapshot: whole, or the previous read patched
    /// from its change log (for the reload metrics).
    pub access_read: AccessRead,
    /// How it read the key catalogue: kept (the ring and catalogue are `previous`'s), whole, or
    /// patched from its change log.
    pub catalogue_read: CatalogueRead,
}

/// The snapshot in force, replaced whole, and what building the next one reuses.
pub struct Snapshots {
    current: RwLock<Arc<Snapshot>>,
    /// The client keys' parsed public keys, kept from one build to the next.
    keys: Mutex<PublicKeyCache>,
}

impl Snapshots {
    pub fn new(first: Snapshot) -> Snapshots {
        Snapshots::with_key_cache(first, PublicKeyCache::default())
    }

    /// With the key cache the first snapshot was built with.
    pub fn with_key_cache(first: Snapshot, keys: PublicKeyCache) -> Snapshots {
        Snapshots { current: RwLock::new(Arc::new(first)), keys: Mutex::new(keys) }
    }

    /// The snapshot in force now (a request keeps it to the end).
    pub fn load(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Puts `next` in force for the requests that start from now on.
    pub fn publish(&self, next: Snapshot) {
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
    }

    /// Builds the next snapshot ([`build_snapshot_after`] the one in force) with this one's key
    /// cache; nothing is put in force.
    pub fn build_next(&self, store: &Store, enforcer: &dyn Enforcer, scope: &str) -> Result<Snapshot, ReloadError> {
        let current = self.load();
        let mut keys = self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        build_snapshot_after(store, enforcer, scope, &mut keys, Some(&current))
    }

    pub fn generation(&self) -> u64 {
        self.load().generation
    }
}

/// Why a snapshot could not be built (the previous one stays in force).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("reading the store: {0}")]
    Store(#[from] StoreError),
    #[error("the policy bundle was rejected:\n  {}", .0.messages().join("\n  "))]
    Rejected(ConfigureError),
}

/// Reads the key ring and the bundle for `scope` in one store transaction, validates and compiles
/// the bundle once (natively; public keys parsed by an earlier build are taken from `keys`), and
/// has `enforcer` prepare that; nothing is put in force.
pub fn build_snapshot(
    store: &Store,
    enforcer: &dyn Enforcer,
    scope: &str,
    keys: &mut PublicKeyCache,
) -> Result<Snapshot, ReloadError> {
    build_snapshot_after(store, enforcer, scope, keys, None)
}

/// [`build_snapshot`], reusing what `previous` holds that the store reports unchanged: when no
/// key, alias or secret changed since it was built, the store reads none of them (at 100,000 keys
/// that read, with every key version unsealed, is most of a reload), the key ring is `previous`'s,
/// and the bundle is compiled over `previous`'s key catalogue
/// ([`policy_core::Bundle::into_compiled_over`]), so the filter's VMs keep theirs too.
pub fn build_snapshot_after(
    store: &Store,
    enforcer: &dyn Enforcer,
    scope: &str,
    keys: &mut PublicKeyCache,
    previous: Option<&Snapshot>,
) -> Result<Snapshot, ReloadError> {
    // A filter that refuses the compact form gets the JSON, which must list every key: the whole
    // configuration is read then.
    let previous = previous.filter(|_| !enforcer.needs_whole_documents());
    let read = store.config_snapshot_since(scope, previous.and_then(|p| p.catalogue_generation))?;
    let has_ram_roles =
        read.bundle.application_access_points.iter().any(|a| a.authentication_method == AuthenticationMethod::RamRole);
    let rejected = |e| ReloadError::Rejected(ConfigureError::Rejected(e));
    let (ring, compiled) = match (read.ring, previous) {
        (Some(ring), _) => (ring, read.bundle.into_compiled_with(keys).map_err(rejected)?),
        (None, Some(previous)) => {
            (Arc::clone(&previous.ring), read.bundle.into_compiled_over(&previous.compiled, keys).map_err(rejected)?)
        }
        // The store reads the catalogue whenever no previous one is named.
        (None, None) => {
            return Err(ReloadError::Store(StoreError::Corrupt("the store returned no key catalogue".into())))
        }
    };
    let (policy, compiled) = enforcer.prepare_compiled(compiled).map_err(ReloadError::Rejected)?;
    let sessions = has_ram_roles.then(|| Arc::clone(&compiled));
    Ok(Snapshot {
        generation: read.generation,
        ring,
        policy,
        sessions,
        compiled,
        catalogue_generation: read.catalogue_generation,
        access_read: read.access,
        catalogue_read: read.catalogue,
    })
}
