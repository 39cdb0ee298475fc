//! The compiled bundle: everything a decision needs, indexed once so that evaluation is a few
//! hash lookups and binary searches with no allocation.

pub(crate) mod compact;
pub(crate) mod ipset;
pub(crate) mod names;
pub(crate) mod resources;

use crate::bundle::error::{BundleError, BundleErrors};
use crate::bundle::model::{Bundle, KeyState, ResourcePattern, DEFAULT_MAX_SKEW_SECONDS};
use crate::crypto::RsaPublicKey;
use crate::time::UnixTime;
use ipset::IpSet;
use names::NameTable;
use resources::PatternSet;
use std::sync::{Arc, OnceLock};

/// The map type of the compiled tables: FxHash, not SipHash. A decision does several lookups and
/// SipHash dominated its cost; hash flooding needs an attacker to insert colliding keys, and these
/// tables hold only the bundle's own names and are never inserted into after compilation.
type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;

pub(crate) struct CKey {
    pub(crate) id: Box<str>,
    pub(crate) aap: usize,
    pub(crate) not_before: UnixTime,
    pub(crate) not_after: UnixTime,
    pub(crate) public_key: RsaPublicKey,
}

pub(crate) struct CAap {
    pub(crate) name: Box<str>,
    pub(crate) policies: Vec<usize>,
    /// The AAP's credential is a RAM role (its sessions are authenticated by the host), not a client key.
    pub(crate) ram_role: bool,
}

pub(crate) struct CPolicy {
    pub(crate) name: Box<str>,
    pub(crate) scope: Box<str>,
    /// Index of `scope` in `CompiledBundle::scopes`: a decision compares scope names once, not
    /// once per policy.
    pub(crate) scope_id: u32,
    pub(crate) perms: u8,
    pub(crate) keys: PatternSet,
    pub(crate) secrets: PatternSet,
    pub(crate) net: IpSet,
}

/// A catalogued key's fixed-size part; its id is name `i` of `CompiledBundle::key_ids`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CCatKey {
    /// Index in `CompiledBundle::key_specs`.
    pub(crate) spec: u16,
    pub(crate) state: KeyState,
}

/// A catalogued key as a decision reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyRef<'a> {
    pub(crate) id: &'a str,
    pub(crate) spec: &'a str,
    pub(crate) state: KeyState,
    /// Policies whose key patterns match this key (precomputed: no pattern matching per request).
    pub(crate) policies: PolicyBits<'a>,
}

/// A catalogued secret as a decision reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SecretRef<'a> {
    /// Index of its encryption key.
    pub(crate) key: usize,
    /// Policies whose secret patterns match this secret.
    pub(crate) policies: PolicyBits<'a>,
}

/// A set of policy indexes: one row of a bit matrix.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PolicyBits<'a>(&'a [u64]);

impl PolicyBits<'_> {
    #[inline]
    pub(crate) fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

pub(crate) struct CGateway {
    pub(crate) scope: Box<str>,
    pub(crate) trusted: IpSet,
    pub(crate) max_skew: u32,
    pub(crate) generation: Option<u64>,
}

/// The key catalogue: ids (name `i` is key `i`), fixed parts, distinct specs, aliases, versions and
/// secrets. At 100,000 keys this is most of the bundle, so it is held in a few flat arrays
/// (`names.rs`), no allocation per key. It depends on the keys and secrets alone, not on any
/// policy, so bundles that differ in their access part share one.
pub(crate) struct Catalogue {
    pub(crate) key_ids: NameTable,
    pub(crate) key_records: Box<[CCatKey]>,
    pub(crate) key_specs: Box<[Box<str>]>,
    /// Aliases and key-version ids, each with its key's index.
    pub(crate) aliases: NameTable,
    pub(crate) alias_keys: Box<[u32]>,
    pub(crate) versions: NameTable,
    pub(crate) version_keys: Box<[u32]>,
    /// Secrets whose encryption key is catalogued: names and their key's index.
    pub(crate) secret_names: NameTable,
    pub(crate) secret_keys: Box<[u32]>,
    /// Its compact section (`compact.rs`) and the section's checksum, written once by the host
    /// that sends it to VMs again and again; never filled in a VM, which only loads.
    pub(crate) section: OnceLock<(Arc<[u8]>, u64)>,
    /// The SHA-256 of its tables as the compact form writes them: what a VM compares to keep the
    /// catalogue it holds. Computed when written, or the one it was loaded with.
    pub(crate) id: OnceLock<[u8; 32]>,
}

/// A validated, indexed bundle. Build once with [`Bundle::compile`] or [`compile_bundle`],
/// then evaluate many requests against it.
pub struct CompiledBundle {
    pub(crate) client_keys: Vec<CKey>,
    pub(crate) client_key_index: FastMap<Box<str>, usize>,
    pub(crate) aaps: Vec<CAap>,
    pub(crate) aap_index: FastMap<Box<str>, usize>,
    pub(crate) policies: Vec<CPolicy>,
    /// The key catalogue, shared with the bundles compiled over it
    /// ([`Bundle::into_compiled_over`]): a change to the access part leaves it as it is.
    pub(crate) catalogue: Arc<Catalogue>,
    /// The policies matching each catalogued key, `policy_words` words a key, and each secret.
    pub(crate) key_policies: Box<[u64]>,
    pub(crate) secret_policies: Box<[u64]>,
    /// `policies.len().div_ceil(64)`: words of policy bits per key or secret.
    pub(crate) policy_words: usize,
    pub(crate) gateway: Option<CGateway>,
    /// The distinct policy scopes (usually a handful: the instance, `shared`), and their index
    /// when there are many.
    pub(crate) scopes: Vec<Box<str>>,
    pub(crate) scope_index: FastMap<Box<str>, u32>,
    /// The document, when compiled from one and not dropped ([`CompiledBundle::drop_source`]).
    source: Option<Bundle>,
}

impl core::fmt::Debug for CompiledBundle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CompiledBundle")
            .field("client_keys", &self.client_keys.len())
            .field("policies", &self.policies.len())
            .field("keys", &self.catalogue.key_ids.len())
            .field("secrets", &self.catalogue.secret_names.len())
            .finish_non_exhaustive()
    }
}

impl CompiledBundle {
    /// The bundle this was compiled from; `None` for one loaded from the compact form, compiled
    /// over a previous catalogue ([`Bundle::into_compiled_over`]: its document is not whole), or
    /// whose document was dropped.
    pub fn bundle(&self) -> Option<&Bundle> {
        self.source.as_ref()
    }

    /// Drops the document this was compiled from, which decisions never read: a gateway VM keeps
    /// only the compiled form.
    pub fn drop_source(&mut self) {
        self.source = None;
    }

    /// Whether this and `other` give the same decisions: the same compiled tables (what the
    /// compact form carries), whatever document, if any, each came from.
    pub fn same_compiled(&self, other: &CompiledBundle) -> bool {
        compact::same_tables(self, other)
    }

    /// The number of catalogued keys.
    pub fn key_count(&self) -> usize {
        self.catalogue.key_ids.len()
    }

    /// Whether this and `other` hold the same key catalogue object (compiled once and shared).
    pub fn shares_catalogue_with(&self, other: &CompiledBundle) -> bool {
        Arc::ptr_eq(&self.catalogue, &other.catalogue)
    }

    /// Key `i` of the catalogue.
    #[inline]
    pub(crate) fn key_at(&self, i: usize) -> Option<KeyRef<'_>> {
        let c = &*self.catalogue;
        let r = c.key_records.get(i)?;
        let w = self.policy_words;
        Some(KeyRef {
            id: c.key_ids.name(i)?,
            spec: c.key_specs.get(usize::from(r.spec)).map_or("", |s| s),
            state: r.state,
            policies: PolicyBits(self.key_policies.get(i * w..i * w + w).unwrap_or_default()),
        })
    }

    #[inline]
    pub(crate) fn key_by_id(&self, id: &str) -> Option<KeyRef<'_>> {
        self.key_at(self.catalogue.key_ids.get(id)?)
    }

    #[inline]
    pub(crate) fn key_by_alias(&self, alias: &str) -> Option<KeyRef<'_>> {
        let c = &*self.catalogue;
        let i = c.aliases.get(alias)?;
        self.key_at(*c.alias_keys.get(i)? as usize)
    }

    #[inline]
    pub(crate) fn key_by_version(&self, version: &str) -> Option<KeyRef<'_>> {
        let c = &*self.catalogue;
        let i = c.versions.get(version)?;
        self.key_at(*c.version_keys.get(i)? as usize)
    }

    #[inline]
    pub(crate) fn secret_by_name(&self, name: &str) -> Option<SecretRef<'_>> {
        let c = &*self.catalogue;
        let i = c.secret_names.get(name)?;
        let w = self.policy_words;
        Some(SecretRef {
            key: *c.secret_keys.get(i)? as usize,
            policies: PolicyBits(self.secret_policies.get(i * w..i * w + w).unwrap_or_default()),
        })
    }

    /// `Gateway.Generation`: the control-plane generation the bundle was exported at.
    pub fn generation(&self) -> Option<u64> {
        self.gateway.as_ref().and_then(|g| g.generation)
    }

    /// `Gateway.Scope`, when the bundle has a Gateway section.
    pub fn gateway_scope(&self) -> Option<&str> {
        self.gateway.as_ref().map(|g| &*g.scope)
    }

    /// `Gateway.MaxSkewSeconds` (900 without a Gateway section).
    pub fn max_skew_seconds(&self) -> u32 {
        self.gateway.as_ref().map_or(DEFAULT_MAX_SKEW_SECONDS, |g| g.max_skew)
    }

    /// The public key of a client key, for hosts that verify elsewhere.
    pub fn client_key_public_key(&self, id: &str) -> Option<&RsaPublicKey> {
        self.client_key(id).map(|k| &k.public_key)
    }

    pub(crate) fn client_key(&self, id: &str) -> Option<&CKey> {
        self.client_key_index.get(id).and_then(|&i| self.client_keys.get(i))
    }

    pub(crate) fn aap(&self, name: &str) -> Option<&CAap> {
        self.aap_index.get(name).and_then(|&i| self.aaps.get(i))
    }

    /// The id policies of `scope` carry (`CPolicy::scope_id`), or `u32::MAX`, which none carries.
    #[inline]
    pub(crate) fn scope_id(&self, scope: &str) -> u32 {
        if self.scopes.len() <= SCOPE_SCAN {
            self.scopes.iter().position(|s| **s == *scope).and_then(|i| u32::try_from(i).ok()).unwrap_or(u32::MAX)
        } else {
            self.scope_index.get(scope).copied().unwrap_or(u32::MAX)
        }
    }
}

/// Client keys' public keys by the PEM text they were parsed from, kept between compilations
/// (`Bundle::into_compiled_with`): parsing a certificate is most of what compiling 10,000 client
/// keys costs, and a change to the bundle rarely touches them. A compilation keeps the entries it
/// used and drops the others, so the cache holds one bundle's keys. Refusals are not kept.
#[derive(Default)]
pub struct PublicKeyCache {
    keys: FastMap<Box<str>, (RsaPublicKey, bool)>,
}

impl PublicKeyCache {
    fn parse(&mut self, pem: &str) -> Result<RsaPublicKey, crate::PublicKeyError> {
        if let Some((key, used)) = self.keys.get_mut(pem) {
            *used = true;
            return Ok(key.clone());
        }
        let key = RsaPublicKey::from_pem(pem)?;
        self.keys.insert(pem.into(), (key.clone(), true));
        Ok(key)
    }

    fn forget_unused(&mut self) {
        self.keys.retain(|_, (_, used)| std::mem::take(used));
    }

    /// The number of keys held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Up to this many scopes, comparing names beats hashing the request's.
const SCOPE_SCAN: usize = 8;

fn index<'a>(names: impl Iterator<Item = &'a str>) -> FastMap<Box<str>, usize> {
    names.enumerate().map(|(i, n)| (Box::from(n), i)).collect()
}

impl Bundle {
    /// Validates and compiles. Public-key parse errors surface here, with their path.
    pub fn compile(&self) -> Result<CompiledBundle, BundleErrors> {
        self.validate()?;
        compile_valid(self.clone(), None, None)
    }

    /// [`Bundle::compile`] without copying the document first.
    pub fn into_compiled(self) -> Result<CompiledBundle, BundleErrors> {
        self.validate()?;
        compile_valid(self, None, None)
    }

    /// [`Bundle::into_compiled`], taking the public keys it parsed before from `keys` and leaving
    /// there the ones it parses now. Same result; a gateway recompiling on every change parses
    /// only the client keys that are new.
    pub fn into_compiled_with(self, keys: &mut PublicKeyCache) -> Result<CompiledBundle, BundleErrors> {
        self.validate()?;
        compile_valid(self, Some(keys), None)
    }

    /// Compiles the access part of this bundle (network rules, policies, access points, client
    /// keys, gateway) over the key catalogue of `previous`, which it shares: for a gateway whose
    /// store reports that no key, alias or secret changed since `previous` was compiled, and so
    /// read none (this bundle lists no keys and no secrets; one that lists any is refused). The
    /// policies' bits are carried over for every policy whose patterns are unchanged and computed
    /// for the others. The result decides as [`Bundle::into_compiled_with`] on the whole bundle.
    pub fn into_compiled_over(
        self,
        previous: &CompiledBundle,
        keys: &mut PublicKeyCache,
    ) -> Result<CompiledBundle, BundleErrors> {
        if !self.keys.is_empty() || !self.secrets.is_empty() {
            return Err(BundleErrors::new(vec![BundleError::new(
                "$.Keys".to_owned(),
                String::new(),
                "a bundle compiled over a previous catalogue must list no keys and no secrets".to_owned(),
            )]));
        }
        self.validate()?;
        compile_valid(self, Some(keys), Some(previous))
    }
}

/// Parses, validates and compiles a document.
pub fn compile_bundle(json: &str) -> Result<CompiledBundle, BundleErrors> {
    let b = crate::bundle::parse_bundle(json)?;
    // Public-key errors found by compilation get their place in the text too.
    compile_valid(b, None, None).map_err(|e| crate::bundle::locate(json, e.into_iter().collect(), &[]))
}

/// The policies' bits over `rows` names (`name(r)` is row `r`'s), for the patterns `pats` picks
/// of each policy. With `previous` (its policies and their bits over the same rows), a policy
/// whose name and patterns are unchanged has its bits carried over, moved to its new index; only
/// the others are matched against every row.
fn policy_bits<'n>(
    rows: usize,
    name: impl Fn(usize) -> Option<&'n str>,
    policies: &[CPolicy],
    pats: fn(&CPolicy) -> &PatternSet,
    previous: Option<(&[CPolicy], &[u64])>,
) -> Box<[u64]> {
    let words = policies.len().div_ceil(64);
    let mut bits = vec![0u64; rows * words];
    let mut fresh: Vec<usize> = (0..policies.len()).collect();
    if let Some((old_policies, old_bits)) = previous {
        let old_words = old_policies.len().div_ceil(64);
        let by_name: FastMap<&str, usize> = old_policies.iter().enumerate().map(|(j, p)| (&*p.name, j)).collect();
        // Old index -> new index, for the policies whose patterns are unchanged.
        let mut moved: Vec<Option<usize>> = vec![None; old_policies.len()];
        fresh.clear();
        for (i, p) in policies.iter().enumerate() {
            match by_name.get(&*p.name).and_then(|&j| Some((j, old_policies.get(j)?))) {
                Some((j, old)) if pats(old) == pats(p) => {
                    if let Some(m) = moved.get_mut(j) {
                        *m = Some(i);
                    }
                }
                _ => fresh.push(i),
            }
        }
        if old_bits.len() == rows * old_words {
            for r in 0..rows {
                for w in 0..old_words {
                    let mut set = old_bits.get(r * old_words + w).copied().unwrap_or(0);
                    while set != 0 {
                        let j = w * 64 + set.trailing_zeros() as usize;
                        set &= set - 1;
                        if let Some(&Some(i)) = moved.get(j) {
                            if let Some(word) = bits.get_mut(r * words + i / 64) {
                                *word |= 1 << (i % 64);
                            }
                        }
                    }
                }
            }
        } else {
            // Not the bits of these rows: nothing can be carried over.
            fresh = (0..policies.len()).collect();
        }
    }
    for i in fresh {
        let Some(p) = policies.get(i) else { continue };
        let set = pats(p);
        for r in 0..rows {
            if name(r).is_some_and(|n| set.matches(n)) {
                if let Some(word) = bits.get_mut(r * words + i / 64) {
                    *word |= 1 << (i % 64);
                }
            }
        }
    }
    bits.into_boxed_slice()
}

/// Compiles a bundle that passed validation (names unique, references resolve): its catalogue
/// from its keys and secrets, or `previous`'s catalogue when given.
fn compile_valid(
    b: Bundle,
    mut keys: Option<&mut PublicKeyCache>,
    previous: Option<&CompiledBundle>,
) -> Result<CompiledBundle, BundleErrors> {
    let mut errors = Vec::new();

    let rule_index = index(b.network_rules.iter().map(|r| r.name.as_str()));
    let policy_index = index(b.policies.iter().map(|p| p.name.as_str()));
    let aap_index = index(b.application_access_points.iter().map(|a| a.name.as_str()));

    // Policies over the same rules share one address set: merged once, held once, and looked up
    // once per decision however many of the AAP's policies use it.
    let mut nets: FastMap<Vec<usize>, IpSet> = FastMap::default();
    let mut scopes: Vec<Box<str>> = Vec::new();
    let policies: Vec<CPolicy> = b
        .policies
        .iter()
        .map(|p| {
            let mut rules: Vec<usize> = p
                .access_control_rules
                .network_rules
                .iter()
                .filter_map(|n| rule_index.get(n.as_str()).copied())
                .collect();
            rules.sort_unstable();
            rules.dedup();
            let net = nets
                .entry(rules)
                .or_insert_with_key(|rules| {
                    IpSet::from_cidrs(
                        rules.iter().filter_map(|&i| b.network_rules.get(i)).flat_map(|r| r.source_private_ip.iter()),
                    )
                })
                .clone();
            let scope_id = match scopes.iter().position(|s| **s == *p.kms_instance) {
                Some(i) => i,
                None => {
                    scopes.push(p.kms_instance.as_str().into());
                    scopes.len() - 1
                }
            };
            let key_pats = p.resources.iter().filter_map(|r| match r {
                ResourcePattern::Key(k) => Some(k),
                ResourcePattern::Secret(_) => None,
            });
            let secret_pats = p.resources.iter().filter_map(|r| match r {
                ResourcePattern::Secret(s) => Some(s),
                ResourcePattern::Key(_) => None,
            });
            CPolicy {
                name: p.name.as_str().into(),
                scope: p.kms_instance.as_str().into(),
                scope_id: u32::try_from(scope_id).unwrap_or(u32::MAX),
                perms: crate::scope::effective_bits(&p.kms_instance, &p.permissions),
                keys: PatternSet::from_patterns(key_pats),
                secrets: PatternSet::from_patterns(secret_pats),
                net,
            }
        })
        .collect();

    let aaps: Vec<CAap> = b
        .application_access_points
        .iter()
        .map(|a| CAap {
            name: a.name.as_str().into(),
            policies: a.policies.iter().filter_map(|n| policy_index.get(n.as_str()).copied()).collect(),
            ram_role: a.authentication_method == crate::bundle::model::AuthenticationMethod::RamRole,
        })
        .collect();

    let mut client_keys = Vec::with_capacity(b.client_keys.len());
    for (i, k) in b.client_keys.iter().enumerate() {
        let Some(&aap) = aap_index.get(k.aap_name.as_str()) else { continue };
        let parsed = match keys.as_deref_mut() {
            Some(cache) => cache.parse(&k.public_key_data),
            None => RsaPublicKey::from_pem(&k.public_key_data),
        };
        match parsed {
            Ok(public_key) => client_keys.push(CKey {
                id: k.client_key_id.as_str().into(),
                aap,
                not_before: k.not_before,
                not_after: k.not_after,
                public_key,
            }),
            Err(e) => errors.push(BundleError::new(
                format!("$.ClientKeys[{i}].PublicKeyData"),
                crate::bundle::error::shorten(k.public_key_data.clone()),
                format!("not a usable RSA public key or certificate: {e}"),
            )),
        }
    }
    if let Some(cache) = keys {
        cache.forget_unused();
    }
    if !errors.is_empty() {
        return Err(BundleErrors::new(errors));
    }
    let client_key_index = index(client_keys.iter().map(|k| &*k.id));

    let catalogue = match previous {
        Some(p) => Arc::clone(&p.catalogue),
        None => Arc::new(compile_catalogue(&b)?),
    };
    let c = &*catalogue;
    let key_policies = policy_bits(
        c.key_ids.len(),
        |r| c.key_ids.name(r),
        &policies,
        |p| &p.keys,
        previous.map(|p| (&*p.policies, &*p.key_policies)),
    );
    let secret_policies = policy_bits(
        c.secret_names.len(),
        |r| c.secret_names.name(r),
        &policies,
        |p| &p.secrets,
        previous.map(|p| (&*p.policies, &*p.secret_policies)),
    );
    let gateway = b.gateway.as_ref().map(|g| CGateway {
        scope: g.scope.as_str().into(),
        trusted: IpSet::from_cidrs(&g.trusted_proxies),
        max_skew: g.max_skew_seconds,
        generation: g.generation,
    });

    Ok(CompiledBundle {
        client_keys,
        client_key_index,
        aaps,
        aap_index,
        policy_words: policies.len().div_ceil(64),
        policies,
        catalogue,
        key_policies,
        secret_policies,
        gateway,
        scope_index: scopes
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect(),
        scopes,
        // Over a previous catalogue, the document lacks the keys and secrets: not the bundle's.
        source: previous.is_none().then_some(b),
    })
}

/// The key catalogue of a validated bundle.
fn compile_catalogue(b: &Bundle) -> Result<Catalogue, BundleErrors> {
    let too_large = |what: &str| {
        BundleErrors::new(vec![BundleError::new(
            format!("$.{what}"),
            String::new(),
            "the names total 4 GiB or more: too large to compile".to_owned(),
        )])
    };
    let key_ids = NameTable::build(b.keys.iter().map(|k| k.key_id.as_str())).ok_or_else(|| too_large("Keys"))?;
    let mut key_specs: Vec<Box<str>> = Vec::new();
    let mut key_records = Vec::with_capacity(b.keys.len());
    for k in &b.keys {
        let spec = match key_specs.iter().position(|s| **s == *k.key_spec) {
            Some(i) => i,
            None => {
                key_specs.push(k.key_spec.as_str().into());
                key_specs.len() - 1
            }
        };
        // Specs are validated against `KEY_SPECS`: a few dozen at most.
        let spec = u16::try_from(spec).map_err(|_| too_large("Keys"))?;
        key_records.push(CCatKey { spec, state: k.key_state });
    }
    let (mut alias_names, mut alias_keys, mut version_names, mut version_keys) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, k) in b.keys.iter().enumerate() {
        let i = u32::try_from(i).map_err(|_| too_large("Keys"))?;
        for a in &k.aliases {
            alias_names.push(a.as_str());
            alias_keys.push(i);
        }
        for v in &k.key_versions {
            version_names.push(v.as_str());
            version_keys.push(i);
        }
    }
    let aliases = NameTable::build(alias_names).ok_or_else(|| too_large("Keys"))?;
    let versions = NameTable::build(version_names).ok_or_else(|| too_large("Keys"))?;
    // A secret whose encryption key is not catalogued is left out: it cannot be served.
    let secrets: Vec<(&str, u32)> = b
        .secrets
        .iter()
        .filter_map(|s| {
            let key = key_ids.get(s.encryption_key_id.as_str())?;
            Some((s.secret_name.as_str(), u32::try_from(key).ok()?))
        })
        .collect();
    let secret_names = NameTable::build(secrets.iter().map(|s| s.0)).ok_or_else(|| too_large("Secrets"))?;
    Ok(Catalogue {
        key_ids,
        key_records: key_records.into_boxed_slice(),
        key_specs: key_specs.into_boxed_slice(),
        aliases,
        alias_keys: alias_keys.into_boxed_slice(),
        versions,
        version_keys: version_keys.into_boxed_slice(),
        secret_keys: secrets.iter().map(|s| s.1).collect(),
        secret_names,
        section: OnceLock::new(),
        id: OnceLock::new(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const EXAMPLE: &str = include_str!("../../tests/data/example-bundle.json");

    #[test]
    fn the_key_cache_changes_nothing_but_the_work() {
        let b = crate::parse_bundle(EXAMPLE).unwrap();
        let plain = b.compile().unwrap();
        let mut cache = PublicKeyCache::default();
        let first = b.clone().into_compiled_with(&mut cache).unwrap();
        let distinct: std::collections::HashSet<&str> =
            b.client_keys.iter().map(|k| k.public_key_data.as_str()).collect();
        assert_eq!(cache.len(), distinct.len());
        let again = b.clone().into_compiled_with(&mut cache).unwrap();
        assert!(first.same_compiled(&plain) && again.same_compiled(&plain));
        // Keys no longer in the bundle leave the cache; a bad key is refused as without it.
        let mut fewer = b.clone();
        fewer.client_keys.truncate(1);
        fewer.into_compiled_with(&mut cache).unwrap();
        assert_eq!(cache.len(), 1);
        let mut bad = b.clone();
        bad.client_keys[0].public_key_data = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into();
        let with = bad.clone().into_compiled_with(&mut cache).unwrap_err();
        let without = bad.compile().unwrap_err();
        assert_eq!(with.to_string(), without.to_string());
    }

    #[test]
    fn a_bundle_listing_keys_is_not_compiled_over_a_catalogue() {
        let b = crate::parse_bundle(EXAMPLE).unwrap();
        let previous = b.compile().unwrap();
        let err = b.into_compiled_over(&previous, &mut PublicKeyCache::default()).unwrap_err();
        assert!(err.to_string().contains("must list no keys"), "{err}");
    }
}
