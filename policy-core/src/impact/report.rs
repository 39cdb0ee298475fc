//! The diff's result: changed regions with an example request each, the verdict (exit status), the
//! text rendering, and [`ImpactReport::covers`] (does a concrete request fall in a reported region).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;

use super::addr::{AddressSet, Atom};
use super::names::{NameClass, NameClasses};
use crate::decide::AccessRequest;
use crate::scope::SHARED_SCOPE;
use crate::time::{format_iso8601, UnixTime};

/// What a class of requests gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "Decision", content = "Code")]
pub enum Outcome {
    Allow,
    /// Denied with this code (the Instance API's, or the KMS endpoint's in scope `shared`).
    Deny(&'static str),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Allow => f.write_str("allow"),
            Outcome::Deny(code) => write!(f, "deny {code}"),
        }
    }
}

/// Operations that decide differently; every key API decides as a key operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum OperationClass {
    /// Encrypt, Decrypt, Sign, … naming the key (key use on the key).
    KeyOperation,
    /// Decrypt naming the key version in its ciphertext blob (decided on the version's key).
    KeyByVersion,
    GetSecretValue,
    GenerateRandom,
    /// Any operation (a client key refused before its request is looked at).
    Any,
}

/// Who asks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "Kind", rename_all_fields = "PascalCase")]
pub enum Principal {
    /// Client keys that share their AAP and validity window in both bundles.
    ClientKeys { ids: Vec<String>, aap_before: Option<String>, aap_after: Option<String> },
    /// The sessions of the RAM roles bound to this AAP.
    RamRoleAap { aap: String },
}

impl Principal {
    fn describe(&self) -> String {
        match self {
            Principal::ClientKeys { ids, aap_before, aap_after } => {
                let keys = match ids.as_slice() {
                    [one] => format!("client key {one}"),
                    [first, rest @ ..] => format!("client keys {first} and {} more", rest.len()),
                    [] => "no client key".to_owned(),
                };
                let aap = match (aap_before, aap_after) {
                    (Some(a), Some(b)) if a == b => format!("AAP {a}"),
                    (Some(a), Some(b)) => format!("AAP {a} → {b}"),
                    (Some(a), None) => format!("AAP {a}, removed"),
                    (None, Some(b)) => format!("new, AAP {b}"),
                    (None, None) => String::new(),
                };
                format!("{keys} ({aap})")
            }
            Principal::RamRoleAap { aap } => format!("RAM-role sessions (AAP {aap})"),
        }
    }

    fn includes(&self, client_key_id: &str) -> bool {
        match self {
            Principal::ClientKeys { ids, .. } => ids.iter().any(|i| i == client_key_id),
            Principal::RamRoleAap { .. } => false,
        }
    }
}

/// A span of request times: `[from, until)`, open where `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeWindow {
    pub from: Option<UnixTime>,
    pub until: Option<UnixTime>,
}

impl TimeWindow {
    pub(crate) fn always() -> TimeWindow {
        TimeWindow { from: None, until: None }
    }

    /// The windows between consecutive `bounds`.
    pub(crate) fn partition(bounds: &BTreeSet<UnixTime>) -> Vec<TimeWindow> {
        let mut out = Vec::with_capacity(bounds.len() + 1);
        let mut from = None;
        for &b in bounds {
            out.push(TimeWindow { from, until: Some(b) });
            from = Some(b);
        }
        out.push(TimeWindow { from, until: None });
        out
    }

    /// A time inside the window.
    pub(crate) fn representative(&self) -> UnixTime {
        match (self.from, self.until) {
            (Some(f), _) => f,
            (None, Some(u)) => u.saturating_sub(1),
            (None, None) => 0,
        }
    }

    pub fn contains(&self, t: UnixTime) -> bool {
        self.from.is_none_or(|f| t >= f) && self.until.is_none_or(|u| t < u)
    }

    fn describe(&self) -> Option<String> {
        match (self.from, self.until) {
            (None, None) => None,
            (Some(f), None) => Some(format!("from {}", format_iso8601(f))),
            (None, Some(u)) => Some(format!("before {}", format_iso8601(u))),
            (Some(f), Some(u)) => Some(format!("{} to {}", format_iso8601(f), format_iso8601(u))),
        }
    }
}

/// One concrete request of a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExampleRequest {
    /// A client key id, or for RAM-role sessions the AAP.
    pub caller: String,
    pub api: String,
    pub resource: Option<String>,
    pub source_ip: IpAddr,
    pub scope: String,
    pub time: String,
}

/// A set of requests whose decision changes the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangedRegion {
    pub principal: Principal,
    pub scope: String,
    pub operation: OperationClass,
    pub resource: NameClass,
    /// The source addresses (merged).
    #[serde(serialize_with = "ser_addresses")]
    pub addresses: AddressSet,
    pub time: TimeWindow,
    pub before: Outcome,
    pub after: Outcome,
    pub example: ExampleRequest,
}

fn ser_addresses<S: serde::Serializer>(a: &AddressSet, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("Addresses", 2)?;
    st.serialize_field("Summary", &a.to_string())?;
    st.serialize_field("Cidrs", &a.cidr_strings())?;
    st.end()
}

impl ChangedRegion {
    /// Whether the change grants something (a deny becomes an allow).
    pub fn widens(&self) -> bool {
        self.after == Outcome::Allow && self.before != Outcome::Allow
    }
}

/// Regions are merged over addresses: the rest of a region is its key.
pub(crate) type RegionKey = (Principal, String, OperationClass, NameClass, TimeWindow, Outcome, Outcome);

#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    out: &mut BTreeMap<RegionKey, ChangedRegion>,
    principal: &Principal,
    scope: &str,
    op: OperationClass,
    class: &NameClass,
    resource: &Option<String>,
    window: &TimeWindow,
    atom: &Atom,
    before: Outcome,
    after: Outcome,
    caller: &str,
) {
    let key = (principal.clone(), scope.to_owned(), op, class.clone(), *window, before, after);
    match out.get_mut(&key) {
        Some(region) => region.addresses.union_with(&atom.addresses),
        None => {
            let example = ExampleRequest {
                caller: caller.to_owned(),
                api: op.api().name().to_owned(),
                resource: resource.clone(),
                source_ip: atom.representative,
                scope: scope.to_owned(),
                time: format_iso8601(window.representative()),
            };
            out.insert(
                key,
                ChangedRegion {
                    principal: principal.clone(),
                    scope: scope.to_owned(),
                    operation: op,
                    resource: class.clone(),
                    addresses: atom.addresses.clone(),
                    time: *window,
                    before,
                    after,
                    example,
                },
            );
        }
    }
}

/// What a change does as a whole: the exit status of `aapkit diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// No decision changes (exit 0).
    NoChange,
    /// Some requests lose access or get another deny code; none gains access (exit 4).
    Narrowing,
    /// Some request that was denied is allowed (exit 5).
    Widening,
}

impl Verdict {
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::NoChange => 0,
            Verdict::Narrowing => 4,
            Verdict::Widening => 5,
        }
    }
}

/// The diff of two bundles.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImpactReport {
    pub verdict: Verdict,
    pub changes: Vec<ChangedRegion>,
    /// Changes outside the decision space (scope, trusted proxies, skew, public keys).
    pub notes: Vec<String>,
    #[serde(skip)]
    names_key: NameClasses,
    #[serde(skip)]
    names_secret: NameClasses,
    #[serde(skip)]
    versions: BTreeSet<String>,
}

impl ImpactReport {
    pub(crate) fn new(
        changes: Vec<ChangedRegion>,
        notes: Vec<String>,
        names_key: NameClasses,
        names_secret: NameClasses,
        versions: BTreeSet<String>,
    ) -> ImpactReport {
        let verdict = if changes.iter().any(ChangedRegion::widens) {
            Verdict::Widening
        } else if changes.is_empty() && notes.is_empty() {
            Verdict::NoChange
        } else {
            Verdict::Narrowing
        };
        ImpactReport { verdict, changes, notes, names_key, names_secret, versions }
    }

    /// The region a client-key request at `now` falls in, if its decision changes.
    pub fn covering(&self, r: &AccessRequest<'_>, now: UnixTime) -> Option<&ChangedRegion> {
        let op = OperationClass::of(r.api);
        let class = match (op, r.resource) {
            (OperationClass::KeyOperation, _) if r.scope == SHARED_SCOPE => NameClass::AnyKey,
            (OperationClass::GenerateRandom, _) => NameClass::None,
            (_, None) => NameClass::None,
            (OperationClass::KeyOperation, Some(name)) => self.names_key.classify(name),
            (_, Some(name)) => self.names_secret.classify(name),
        };
        self.changes.iter().find(|c| {
            c.principal.includes(r.client_key_id)
                && c.scope == r.scope
                && (c.operation == op || c.operation == OperationClass::Any)
                && (c.resource == class || c.resource == NameClass::Any)
                && c.time.contains(now)
                && c.addresses.contains(r.source_ip)
        })
    }

    /// The region a Decrypt naming key version `r.resource` in its blob falls in, if its decision
    /// changes (see [`super::decide_by_version`]).
    pub fn covering_version(&self, r: &AccessRequest<'_>, now: UnixTime) -> Option<&ChangedRegion> {
        let class = match r.resource {
            Some(v) if self.versions.contains(v) => NameClass::KeyVersion(v.to_owned()),
            _ => NameClass::UnknownVersion,
        };
        self.changes.iter().find(|c| {
            c.principal.includes(r.client_key_id)
                && c.scope == r.scope
                && (c.operation == OperationClass::KeyByVersion || c.operation == OperationClass::Any)
                && (c.resource == class || c.resource == NameClass::Any)
                && c.time.contains(now)
                && c.addresses.contains(r.source_ip)
        })
    }

    /// The region a RAM-role session's GetSecretValue falls in (sessions of the roles bound to
    /// `aap`, on the KMS endpoint), if its decision changes.
    pub fn covering_session(&self, aap: &str, secret_name: &str, source_ip: IpAddr) -> Option<&ChangedRegion> {
        let class = self.names_secret.classify(secret_name);
        self.changes.iter().find(|c| {
            matches!(&c.principal, Principal::RamRoleAap { aap: a } if a == aap)
                && c.operation == OperationClass::GetSecretValue
                && c.resource == class
                && c.addresses.contains(source_ip)
        })
    }

    /// Whether a client-key request at `now` falls in a reported region.
    pub fn covers(&self, r: &AccessRequest<'_>, now: UnixTime) -> bool {
        self.covering(r, now).is_some()
    }
}

fn describe_resource(op: OperationClass, class: &NameClass) -> String {
    let kind = match op {
        OperationClass::KeyOperation | OperationClass::KeyByVersion => "key",
        OperationClass::GetSecretValue => "secret",
        OperationClass::GenerateRandom | OperationClass::Any => "",
    };
    match class {
        NameClass::None => "-".to_owned(),
        NameClass::Named(n) => format!("{kind} {n}"),
        NameClass::Alias(a) => a.clone(),
        NameClass::Prefix(p) if p.is_empty() => format!("other {kind} names"),
        NameClass::Prefix(p) => format!("other {kind} names starting with {p}"),
        NameClass::Unmatched => format!("{kind} names no policy lists"),
        NameClass::AnyKey => "any key".to_owned(),
        NameClass::Any => "any resource".to_owned(),
        NameClass::KeyVersion(v) => format!("key version {v}"),
        NameClass::UnknownVersion => "key versions no bundle has".to_owned(),
    }
}

/// The report as readable rows: one per region, with its example request.
pub fn format_report(r: &ImpactReport) -> String {
    let mut out = String::new();
    if r.changes.is_empty() && r.notes.is_empty() {
        out.push_str("no decision changes\n");
    }
    for c in &r.changes {
        let op = match c.operation {
            OperationClass::KeyOperation => "key operations",
            OperationClass::KeyByVersion => "Decrypt of a blob",
            OperationClass::GetSecretValue => "GetSecretValue",
            OperationClass::GenerateRandom => "GenerateRandom",
            OperationClass::Any => "any operation",
        };
        let _ = writeln!(
            out,
            "{} → {}: {}, {op} on {}, scope {}, from {}{}",
            c.before,
            c.after,
            c.principal.describe(),
            describe_resource(c.operation, &c.resource),
            c.scope,
            c.addresses,
            c.time.describe().map(|t| format!(", {t}")).unwrap_or_default(),
        );
        let e = &c.example;
        let _ = writeln!(
            out,
            "    e.g. {} {} {} from {} at {}",
            e.caller,
            e.api,
            e.resource.as_deref().unwrap_or("-"),
            e.source_ip,
            e.time
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let verdict = match r.verdict {
        Verdict::NoChange => "no change",
        Verdict::Narrowing => "narrowing only: nothing is granted that was not before",
        Verdict::Widening => "WIDENING: some requests that were denied are allowed",
    };
    let _ = writeln!(out, "{} changed region(s); {verdict}", r.changes.len());
    out
}
