//! The compiled bundle: everything a decision needs, indexed once so that evaluation is a few
//! hash lookups and binary searches with no allocation.

pub(crate) mod ipset;
pub(crate) mod resources;

use crate::bundle::error::{BundleError, BundleErrors};
use crate::bundle::model::{Bundle, KeyState, ResourcePattern, DEFAULT_MAX_SKEW_SECONDS};
use crate::crypto::RsaPublicKey;
use crate::time::UnixTime;
use ipset::IpSet;
use resources::PatternSet;

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

pub(crate) struct CCatKey {
    pub(crate) id: Box<str>,
    pub(crate) spec: Box<str>,
    pub(crate) state: KeyState,
    /// Policies whose key patterns match this key (precomputed: no pattern matching per request).
    pub(crate) policies: PolicyBits,
}

pub(crate) struct CSecret {
    pub(crate) name: Box<str>,
    pub(crate) key: usize,
    /// Policies whose secret patterns match this secret.
    pub(crate) policies: PolicyBits,
}

/// A set of policy indexes.
pub(crate) struct PolicyBits(Box<[u64]>);

impl PolicyBits {
    fn build(n: usize, mut f: impl FnMut(usize) -> bool) -> PolicyBits {
        let mut words = vec![0u64; n.div_ceil(64)];
        for i in 0..n {
            if f(i) {
                if let Some(w) = words.get_mut(i / 64) {
                    *w |= 1 << (i % 64);
                }
            }
        }
        PolicyBits(words.into_boxed_slice())
    }

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

/// A validated, indexed bundle. Build once with [`Bundle::compile`] or [`compile_bundle`],
/// then evaluate many requests against it.
pub struct CompiledBundle {
    pub(crate) client_keys: Vec<CKey>,
    pub(crate) client_key_index: FastMap<Box<str>, usize>,
    pub(crate) aaps: Vec<CAap>,
    pub(crate) aap_index: FastMap<Box<str>, usize>,
    pub(crate) policies: Vec<CPolicy>,
    pub(crate) keys: Vec<CCatKey>,
    pub(crate) key_by_id: FastMap<Box<str>, usize>,
    pub(crate) key_by_alias: FastMap<Box<str>, usize>,
    pub(crate) key_by_version: FastMap<Box<str>, usize>,
    pub(crate) secrets: Vec<CSecret>,
    pub(crate) secret_by_name: FastMap<Box<str>, usize>,
    pub(crate) gateway: Option<CGateway>,
    /// The distinct policy scopes (usually a handful: the instance, `shared`), and their index
    /// when there are many.
    pub(crate) scopes: Vec<Box<str>>,
    scope_index: FastMap<Box<str>, u32>,
    source: Bundle,
}

impl core::fmt::Debug for CompiledBundle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CompiledBundle")
            .field("client_keys", &self.client_keys.len())
            .field("policies", &self.policies.len())
            .field("keys", &self.keys.len())
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl CompiledBundle {
    /// The bundle this was compiled from.
    pub fn bundle(&self) -> &Bundle {
        &self.source
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

/// Up to this many scopes, comparing names beats hashing the request's.
const SCOPE_SCAN: usize = 8;

fn index<'a>(names: impl Iterator<Item = &'a str>) -> FastMap<Box<str>, usize> {
    names.enumerate().map(|(i, n)| (Box::from(n), i)).collect()
}

impl Bundle {
    /// Validates and compiles. Public-key parse errors surface here, with their path.
    pub fn compile(&self) -> Result<CompiledBundle, BundleErrors> {
        self.validate()?;
        compile_valid(self.clone())
    }
}

/// Parses, validates and compiles a document.
pub fn compile_bundle(json: &str) -> Result<CompiledBundle, BundleErrors> {
    let b = crate::bundle::parse_bundle(json)?;
    // Public-key errors found by compilation get their place in the text too.
    compile_valid(b).map_err(|e| crate::bundle::locate(json, e.into_iter().collect(), &[]))
}

/// Compiles a bundle that passed validation (names unique, references resolve).
fn compile_valid(b: Bundle) -> Result<CompiledBundle, BundleErrors> {
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
        match RsaPublicKey::from_pem(&k.public_key_data) {
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
    if !errors.is_empty() {
        return Err(BundleErrors::new(errors));
    }
    let client_key_index = index(client_keys.iter().map(|k| &*k.id));

    let keys: Vec<CCatKey> = b
        .keys
        .iter()
        .map(|k| CCatKey {
            id: k.key_id.as_str().into(),
            spec: k.key_spec.as_str().into(),
            state: k.key_state,
            policies: PolicyBits::build(policies.len(), |i| policies.get(i).is_some_and(|p| p.keys.matches(&k.key_id))),
        })
        .collect();
    let key_by_id = index(b.keys.iter().map(|k| k.key_id.as_str()));
    let mut key_by_alias = FastMap::default();
    let mut key_by_version = FastMap::default();
    for (i, k) in b.keys.iter().enumerate() {
        for a in &k.aliases {
            key_by_alias.insert(Box::from(a.as_str()), i);
        }
        for v in &k.key_versions {
            key_by_version.insert(Box::from(v.as_str()), i);
        }
    }
    let secrets: Vec<CSecret> = b
        .secrets
        .iter()
        .filter_map(|s| {
            key_by_id.get(s.encryption_key_id.as_str()).map(|&key| CSecret {
                name: s.secret_name.as_str().into(),
                key,
                policies: PolicyBits::build(policies.len(), |i| {
                    policies.get(i).is_some_and(|p| p.secrets.matches(&s.secret_name))
                }),
            })
        })
        .collect();
    let secret_by_name = index(secrets.iter().map(|s| &*s.name));
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
        policies,
        keys,
        key_by_id,
        key_by_alias,
        key_by_version,
        secrets,
        secret_by_name,
        gateway,
        scope_index: scopes
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect(),
        scopes,
        source: b,
    })
}
