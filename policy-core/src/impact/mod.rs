//! Change impact: what a bundle change allows and denies, computed exactly (`docs/impact.md`).
//!
//! The evaluator's inputs partition into finitely many classes inside which every decision is the
//! same, so evaluating one representative per class is exact:
//! - **principal** — client keys grouped by (AAP, validity window) in each bundle, and RAM-role AAPs;
//! - **time** — the intervals between every NotBefore/NotAfter of the group;
//! - **scope** — the instance (`Gateway.Scope` of either bundle) and `shared`;
//! - **operation** — key operations (one requirement: key use on the key), GetSecretValue,
//!   GenerateRandom;
//! - **resource** — every catalogued key id, alias and secret of either bundle, every exact name a
//!   policy lists, and for other names the longest prefix pattern they start with (or none);
//! - **source address** — the atoms of the network sets of the group's policies in both bundles
//!   (addresses whose membership in every one of those sets is the same).
//!
//! Every class whose two decisions differ (allow/deny, or the code) becomes a [`ChangedRegion`] with
//! one concrete example request; regions that differ only in their addresses are merged, and the
//! addresses printed as merged ranges. [`ImpactReport::covers`] classifies a request the same way,
//! which is what the property test holds against brute force.

mod addr;
mod names;
mod report;

use std::collections::{BTreeMap, BTreeSet};

use crate::catalogue::Api;
use crate::compiled::CompiledBundle;
use crate::decide::{decide, decide_ram_role_session, AccessRequest, Decision, Endpoint};
use crate::http::PeerAddr;
use crate::scope::SHARED_SCOPE;
use crate::time::UnixTime;

pub use addr::AddressSet;
pub use names::NameClass;
pub use report::{format_report, ChangedRegion, ImpactReport, OperationClass, Outcome, Principal, TimeWindow, Verdict};

use addr::Atoms;
use names::NameClasses;

/// The operations whose decisions differ in kind; every key API decides like Encrypt.
const OPERATIONS: [OperationClass; 4] = [
    OperationClass::KeyOperation,
    OperationClass::KeyByVersion,
    OperationClass::GetSecretValue,
    OperationClass::GenerateRandom,
];

/// A key-version id no bundle has (the class of unknown versions).
const UNKNOWN_VERSION: &str = "00000000-0000-0000-0000-000000000000";

/// Compares two compiled bundles: every class of requests whose decision changes.
pub fn diff_bundles(old: &CompiledBundle, new: &CompiledBundle) -> ImpactReport {
    let ctx = Context::new(old, new);
    let mut regions: BTreeMap<report::RegionKey, ChangedRegion> = BTreeMap::new();
    for group in principal_groups(old, new) {
        ctx.diff_group(&group, &mut regions);
    }
    for aap in ram_role_aaps(old, new) {
        ctx.diff_ram_role(&aap, &mut regions);
    }
    let mut notes = Vec::new();
    let scope = |b: &CompiledBundle| b.gateway.as_ref().map(|g| g.scope.to_string());
    if scope(old) != scope(new) {
        notes.push(format!("Gateway.Scope changes from {:?} to {:?}", scope(old), scope(new)));
    }
    let trusted = |b: &CompiledBundle| b.gateway.as_ref().map(|g| g.trusted.clone()).unwrap_or_default();
    if trusted(old) != trusted(new) {
        notes.push(
            "Gateway.TrustedProxies changes: which X-Forwarded-For entry is the source address changes for requests \
             through the proxies (the regions below are by source address)"
                .to_owned(),
        );
    }
    let skew = |b: &CompiledBundle| b.max_skew_seconds();
    if skew(old) != skew(new) {
        notes.push(format!("Gateway.MaxSkewSeconds changes from {} to {}", skew(old), skew(new)));
    }
    for id in changed_public_keys(old, new) {
        notes.push(format!(
            "client key {id}: its public key changes: requests signed with the old private key are refused \
             (SignatureNotMatch), the new one's are decided as below"
        ));
    }
    ImpactReport::new(regions.into_values().collect(), notes, ctx.names_key, ctx.names_secret, ctx.versions)
}

/// Client keys that share an AAP name and validity window in both bundles decide alike.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey {
    old: Option<(String, UnixTime, UnixTime)>,
    new: Option<(String, UnixTime, UnixTime)>,
}

struct Group {
    key: GroupKey,
    client_keys: Vec<String>,
}

fn principal_groups(old: &CompiledBundle, new: &CompiledBundle) -> Vec<Group> {
    let describe = |b: &CompiledBundle, id: &str| {
        b.client_key(id).map(|k| {
            let aap = b.aaps.get(k.aap).map(|a| a.name.to_string()).unwrap_or_default();
            (aap, k.not_before, k.not_after)
        })
    };
    let ids: BTreeSet<&str> = old.client_keys.iter().chain(new.client_keys.iter()).map(|k| &*k.id).collect();
    let mut groups: BTreeMap<GroupKey, Vec<String>> = BTreeMap::new();
    for id in ids {
        let key = GroupKey { old: describe(old, id), new: describe(new, id) };
        groups.entry(key).or_default().push(id.to_owned());
    }
    groups.into_iter().map(|(key, client_keys)| Group { key, client_keys }).collect()
}

fn ram_role_aaps(old: &CompiledBundle, new: &CompiledBundle) -> BTreeSet<String> {
    old.aaps.iter().chain(new.aaps.iter()).filter(|a| a.ram_role).map(|a| a.name.to_string()).collect()
}

fn changed_public_keys(old: &CompiledBundle, new: &CompiledBundle) -> Vec<String> {
    old.client_keys
        .iter()
        .filter_map(|k| new.client_key(&k.id).filter(|n| n.public_key != k.public_key).map(|_| k.id.to_string()))
        .collect()
}

/// Requested resources (`None`: a request naming none) with their class.
type Resources = Vec<(Option<String>, NameClass)>;

/// The resource classes and scopes, computed once for both bundles.
struct Context<'b> {
    old: &'b CompiledBundle,
    new: &'b CompiledBundle,
    names_key: NameClasses,
    names_secret: NameClasses,
    /// Key-version ids of either bundle (a class each), as a Decrypt blob names them.
    versions: BTreeSet<String>,
    scopes: Vec<String>,
    /// Per operation and scope kind (instance, shared): every resource class, and those whose
    /// catalogue entry differs between the bundles (all a group with unchanged policies can see).
    all: BTreeMap<(OperationClass, bool), Resources>,
    changed: BTreeMap<(OperationClass, bool), Resources>,
}

impl<'b> Context<'b> {
    fn new(old: &'b CompiledBundle, new: &'b CompiledBundle) -> Context<'b> {
        let both = [old, new];
        let names_key = NameClasses::new(
            both.iter().flat_map(|b| b.policies.iter().map(|p| &p.keys)),
            both.iter().flat_map(|b| b.catalogue.key_ids.iter()),
            both.iter().flat_map(|b| b.catalogue.aliases.iter()),
            // The evaluator resolves names starting with `alias/` as aliases.
            &["alias/"],
        );
        let names_secret = NameClasses::new(
            both.iter().flat_map(|b| b.policies.iter().map(|p| &p.secrets)),
            both.iter().flat_map(|b| b.catalogue.secret_names.iter()),
            std::iter::empty(),
            &[],
        );
        let mut scopes: BTreeSet<String> =
            both.iter().filter_map(|b| b.gateway.as_ref().map(|g| g.scope.to_string())).collect();
        scopes.insert(SHARED_SCOPE.to_owned());
        let mut ctx = Context {
            old,
            new,
            names_key,
            names_secret,
            versions: both.iter().flat_map(|b| b.catalogue.versions.iter().map(str::to_owned)).collect(),
            scopes: scopes.into_iter().collect(),
            all: BTreeMap::new(),
            changed: BTreeMap::new(),
        };
        for op in OPERATIONS {
            for shared in [false, true] {
                let scope = if shared { SHARED_SCOPE } else { "" };
                let all = ctx.resources(op, scope);
                let changed = all.iter().filter(|(r, _)| !ctx.same_catalogue(op, r.as_deref())).cloned().collect();
                ctx.all.insert((op, shared), all);
                ctx.changed.insert((op, shared), changed);
            }
        }
        ctx
    }

    /// The resources one operation is asked about in `scope`, with their class (`None`: a request
    /// that names none).
    fn resources(&self, op: OperationClass, scope: &str) -> Resources {
        let shared = scope == SHARED_SCOPE;
        let named = |c: &NameClasses| {
            let mut out: Vec<(Option<String>, NameClass)> =
                c.classes().map(|(rep, class)| (Some(rep), class)).collect();
            out.push((None, NameClass::None));
            out
        };
        match op {
            OperationClass::GenerateRandom => vec![(None, NameClass::None)],
            OperationClass::Any => Vec::new(),
            // The Instance API's Decrypt names a key version in its blob: each version is a class,
            // and so are the versions no bundle has.
            OperationClass::KeyByVersion if shared => Vec::new(),
            OperationClass::KeyByVersion => self
                .versions
                .iter()
                .map(|v| (Some(v.clone()), NameClass::KeyVersion(v.clone())))
                .chain(std::iter::once((Some(UNKNOWN_VERSION.to_owned()), NameClass::UnknownVersion)))
                .collect(),
            // On the shared gateway every key operation is refused alike, whatever the key.
            OperationClass::KeyOperation if shared => vec![(Some("key".to_owned()), NameClass::AnyKey)],
            OperationClass::KeyOperation => named(&self.names_key),
            OperationClass::GetSecretValue => named(&self.names_secret),
        }
    }

    fn diff_group(&self, g: &Group, out: &mut BTreeMap<report::RegionKey, ChangedRegion>) {
        let Some(rep_key) = g.client_keys.first() else { return };
        let policy_nets = |b: &CompiledBundle, aap: Option<&(String, UnixTime, UnixTime)>| {
            aap.and_then(|(name, _, _)| b.aap(name))
                .map(|a| {
                    a.policies.iter().filter_map(|&i| b.policies.get(i)).map(|p| p.net.clone()).collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        let mut nets = policy_nets(self.old, g.key.old.as_ref());
        nets.extend(policy_nets(self.new, g.key.new.as_ref()));
        let atoms = Atoms::new(&nets);
        // Same policies and window in both bundles: only resources whose catalogue entry changed can
        // decide differently (the common case for a change elsewhere in a large configuration).
        let same_policies = g.key.old.as_ref().map(|w| (w.1, w.2)) == g.key.new.as_ref().map(|w| (w.1, w.2))
            && same_aap_policies(
                self.old,
                self.new,
                g.key.old.as_ref().map(|w| w.0.as_str()),
                g.key.new.as_ref().map(|w| w.0.as_str()),
            );
        let mut bounds: BTreeSet<UnixTime> = BTreeSet::new();
        for w in [&g.key.old, &g.key.new].into_iter().flatten() {
            bounds.insert(w.1);
            bounds.insert(w.2.saturating_add(1));
        }
        let principal = Principal::ClientKeys {
            ids: g.client_keys.clone(),
            aap_before: g.key.old.as_ref().map(|w| w.0.clone()),
            aap_after: g.key.new.as_ref().map(|w| w.0.clone()),
        };
        let valid = |w: &Option<(String, UnixTime, UnixTime)>, now: UnixTime| {
            w.as_ref().is_some_and(|(_, nb, na)| *nb <= now && now <= *na)
        };
        let everywhere = Atoms::new(&[]);
        for window in TimeWindow::partition(&bounds) {
            let now = window.representative();
            if !valid(&g.key.old, now) && !valid(&g.key.new, now) {
                // Unknown or outside its window in both: the evaluator refuses before it looks at
                // the operation, the resource or the address, so one request per scope says it all.
                for scope in &self.scopes {
                    for atom in everywhere.iter() {
                        let r = AccessRequest {
                            client_key_id: rep_key,
                            api: Api::Encrypt,
                            resource: Some("key"),
                            source_ip: atom.representative,
                            scope,
                        };
                        let before = Outcome::of(&decide(self.old, &r, now));
                        let after = Outcome::of(&decide(self.new, &r, now));
                        if before != after {
                            let any = NameClass::Any;
                            report::record(
                                out,
                                &principal,
                                scope,
                                OperationClass::Any,
                                &any,
                                &r.resource.map(str::to_owned),
                                &window,
                                atom,
                                before,
                                after,
                                rep_key,
                            );
                        }
                    }
                }
                continue;
            }
            for scope in &self.scopes {
                for op in OPERATIONS {
                    let key = (op, scope == SHARED_SCOPE);
                    let resources = if same_policies { self.changed.get(&key) } else { self.all.get(&key) };
                    for (resource, class) in resources.into_iter().flatten() {
                        for atom in atoms.iter() {
                            let r = AccessRequest {
                                client_key_id: rep_key,
                                api: op.api(),
                                resource: resource.as_deref(),
                                source_ip: atom.representative,
                                scope,
                            };
                            let (before, after) = match op {
                                OperationClass::KeyByVersion => {
                                    (decide_by_version(self.old, &r, now), decide_by_version(self.new, &r, now))
                                }
                                _ => (Outcome::of(&decide(self.old, &r, now)), Outcome::of(&decide(self.new, &r, now))),
                            };
                            if before != after {
                                report::record(
                                    out, &principal, scope, op, class, resource, &window, atom, before, after, rep_key,
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// A RAM-role AAP's sessions: GetSecretValue in scope `shared` (the host checks the session).
    fn diff_ram_role(&self, aap: &str, out: &mut BTreeMap<report::RegionKey, ChangedRegion>) {
        let nets: Vec<_> = [self.old, self.new]
            .iter()
            .filter_map(|b| b.aap(aap).map(|a| (b, a)))
            .flat_map(|(b, a)| {
                a.policies.iter().filter_map(|&i| b.policies.get(i)).map(|p| p.net.clone()).collect::<Vec<_>>()
            })
            .collect();
        let atoms = Atoms::new(&nets);
        let same_policies = same_aap_policies(self.old, self.new, Some(aap), Some(aap));
        let principal = Principal::RamRoleAap { aap: aap.to_owned() };
        let window = TimeWindow::always();
        let key = (OperationClass::GetSecretValue, true);
        let resources = if same_policies { self.changed.get(&key) } else { self.all.get(&key) };
        for (resource, class) in resources.into_iter().flatten() {
            let Some(name) = resource.as_deref() else { continue };
            for atom in atoms.iter() {
                let peer = PeerAddr { ip: atom.representative, forwarded_for: None };
                let before = Outcome::of(&decide_ram_role_session(self.old, aap, name, peer));
                let after = Outcome::of(&decide_ram_role_session(self.new, aap, name, peer));
                if before != after {
                    report::record(
                        out,
                        &principal,
                        SHARED_SCOPE,
                        OperationClass::GetSecretValue,
                        class,
                        resource,
                        &window,
                        atom,
                        before,
                        after,
                        aap,
                    );
                }
            }
        }
    }
}

/// Whether an AAP of the old bundle and one of the new have the same policies, as the evaluator
/// sees them (scope, permissions, resource patterns, addresses), and the same kind of credential.
fn same_aap_policies(old: &CompiledBundle, new: &CompiledBundle, a: Option<&str>, b: Option<&str>) -> bool {
    let (Some(a), Some(b)) = (a.and_then(|n| old.aap(n)), b.and_then(|n| new.aap(n))) else { return false };
    let content = |bundle: &'_ CompiledBundle, aap: &crate::compiled::CAap| {
        let mut v: Vec<_> = aap
            .policies
            .iter()
            .filter_map(|&i| bundle.policies.get(i))
            .map(|p| (p.scope.clone(), p.perms, p.keys.clone(), p.secrets.clone(), p.net.clone()))
            .collect();
        v.sort_by(|x, y| (&x.0, x.1).cmp(&(&y.0, y.1)));
        v
    };
    a.ram_role == b.ram_role && content(old, a) == content(new, b)
}

impl Context<'_> {
    /// Whether the catalogue says the same of a resource in both bundles (existence, state, an
    /// alias's key, a secret's key and that key's state); names in no catalogue are the same.
    fn same_catalogue(&self, op: OperationClass, resource: Option<&str>) -> bool {
        let Some(name) = resource else { return true };
        let key = |b: &CompiledBundle, id: &str| b.key_by_id(id).map(|k| (k.id.to_owned(), k.state, k.spec.to_owned()));
        match op {
            OperationClass::GenerateRandom | OperationClass::Any => true,
            OperationClass::KeyOperation => {
                let resolve = |b: &CompiledBundle| {
                    if name.starts_with("alias/") {
                        b.key_by_alias(name).map(|k| (k.id.to_owned(), k.state, k.spec.to_owned()))
                    } else {
                        key(b, name)
                    }
                };
                resolve(self.old) == resolve(self.new)
            }
            OperationClass::KeyByVersion => {
                let resolve =
                    |b: &CompiledBundle| b.key_by_version(name).map(|k| (k.id.to_owned(), k.state, k.spec.to_owned()));
                resolve(self.old) == resolve(self.new)
            }
            OperationClass::GetSecretValue => {
                let secret = |b: &CompiledBundle| {
                    b.secret_by_name(name).map(|s| b.key_at(s.key).map(|k| (k.id.to_owned(), k.state)))
                };
                secret(self.old) == secret(self.new)
            }
        }
    }
}

impl OperationClass {
    /// The API a class is evaluated with (every key API decides as Encrypt does).
    pub fn api(self) -> Api {
        match self {
            OperationClass::KeyOperation | OperationClass::Any => Api::Encrypt,
            OperationClass::KeyByVersion => Api::Decrypt,
            OperationClass::GetSecretValue => Api::GetSecretValue,
            OperationClass::GenerateRandom => Api::GenerateRandom,
        }
    }

    /// The class of an API.
    pub fn of(api: Api) -> OperationClass {
        match api.resource_kind() {
            crate::catalogue::ResourceKind::Key => OperationClass::KeyOperation,
            crate::catalogue::ResourceKind::Secret => OperationClass::GetSecretValue,
            crate::catalogue::ResourceKind::None => OperationClass::GenerateRandom,
        }
    }
}

/// A Decrypt that names key version `r.resource` in its blob, decided as the gateway does: the
/// client key first (its signature check refuses an unknown or out-of-window key), then the version
/// (unknown: `Forbidden.KeyNotFound`), then the evaluator on the version's key. Instance scope.
pub fn decide_by_version(b: &CompiledBundle, r: &AccessRequest<'_>, now: UnixTime) -> Outcome {
    let valid = b.client_key(r.client_key_id).is_some_and(|k| k.not_before <= now && now <= k.not_after);
    if !valid {
        return Outcome::of(&decide(b, r, now));
    }
    let version = r.resource.unwrap_or_default();
    match b.key_by_version(version) {
        Some(k) => Outcome::of(&decide(b, &AccessRequest { resource: Some(k.id), ..*r }, now)),
        None => Outcome::Deny(crate::error::ErrorCode::ForbiddenKeyNotFound.as_str()),
    }
}

impl Outcome {
    fn of(d: &Decision<'_>) -> Outcome {
        if d.allowed() {
            return Outcome::Allow;
        }
        let code = match d.endpoint() {
            Endpoint::Kms => d.openapi_code().map(|c| c.as_str()),
            Endpoint::Instance => d.code().map(|c| c.as_str()),
        };
        Outcome::Deny(code.unwrap_or("InternalFailure"))
    }
}
