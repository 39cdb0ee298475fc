//! The compact configuration form: a compiled bundle written out as bytes, so that a gateway
//! compiles the JSON bundle once and each of its filter VMs loads the result without parsing JSON,
//! validating, decoding certificates or rebuilding the catalogue's tables.
//!
//! Layout (little-endian throughout):
//!
//! ```text
//! magic              8 bytes   89 'A' 'A' 'P' 'C' 0d 0a 1a   (0x89 is not UTF-8: never JSON)
//! version            u32       COMPACT_VERSION
//! reserved           u32       0
//! length             u64       bytes of the body
//! access length      u64       bytes of the access section
//! access checksum    u64       names::hash of the access section
//! catalogue checksum u64       names::hash of the catalogue section
//! body:
//!   access section             scopes, address sets, policies, access points, client keys,
//!                              the keys' and secrets' policy bits, the gateway section
//!   catalogue section          its id (32 bytes: the SHA-256 of what follows), then the key
//!                              ids, records, specs, aliases, versions and secrets
//! ```
//!
//! The two sections change at different rates: a client key or a policy changes the access
//! section only, while the catalogue (100,000 keys: most of the bytes) stays as it was. A VM
//! holding a catalogue with the form's id keeps it and reads the access section alone
//! ([`CompiledBundle::from_compact_over`]); it can even be given only the bytes up to the id
//! ([`compact_prefix_len`]). The id is a SHA-256 so that two different catalogues never pass for
//! one, whatever names the keys are given.
//!
//! The form holds public data only (names, patterns, address ranges, public keys) and no pointer:
//! strings are lengths and bytes, references are indexes. It is read strictly: every length is
//! bounded by the bytes left, every index is checked against what it indexes, the address ranges
//! must be sorted and disjoint, each public key is parsed and checked again, a name table's ends
//! must rise within its text and its slots point at its names with one left free, and each section
//! must be consumed exactly. Bytes that break any of these are refused whole; nothing half-loaded
//! is ever used. (A hand-edited form can still pass, say with exact names out of order or slots
//! that miss a name: it decides by the same rules, failing to find what it cannot, and is written
//! back in canonical order.) The checksums catch truncation and corruption on the way; they are
//! not a signature (the form is written by the host that then loads it into its own VMs, as the
//! JSON bundle is).

use super::ipset::IpSet;
use super::names::{hash, NameTable};
use super::resources::PatternSet;
use super::{CAap, CCatKey, CGateway, CKey, CPolicy, Catalogue, CompiledBundle, FastMap};
use crate::bundle::model::{KeyState, NamePattern};
use crate::crypto::RsaPublicKey;
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};

/// The first eight bytes of every compact form.
pub const COMPACT_MAGIC: [u8; 8] = [0x89, b'A', b'A', b'P', b'C', b'\r', b'\n', 0x1a];
/// The layout version this build writes and reads.
pub const COMPACT_VERSION: u32 = 2;
const HEADER_LEN: usize = 48;
/// The catalogue section's id: a SHA-256.
const ID_LEN: usize = 32;

/// Whether `bytes` claim to be a compact form (the magic), as opposed to a JSON bundle.
pub fn is_compact(bytes: &[u8]) -> bool {
    bytes.starts_with(&COMPACT_MAGIC)
}

/// The sizes a header declares.
struct Layout {
    /// Bytes of the body (both sections).
    length: usize,
    access_len: usize,
    access_checksum: u64,
    catalogue_checksum: u64,
}

fn read_header(bytes: &[u8]) -> Result<Layout, CompactError> {
    if !is_compact(bytes) {
        return Err(CompactError::NotCompact);
    }
    let mut header = Reader { rest: bytes.get(COMPACT_MAGIC.len()..HEADER_LEN).ok_or(CompactError::Length)? };
    let version = header.u32()?;
    if version != COMPACT_VERSION {
        return Err(CompactError::Version { found: version });
    }
    let _reserved = header.u32()?;
    let length = usize::try_from(header.u64()?).map_err(|_| CompactError::Length)?;
    let access_len = usize::try_from(header.u64()?).map_err(|_| CompactError::Length)?;
    if access_len.checked_add(ID_LEN).is_none_or(|l| l > length) {
        return Err(CompactError::Length);
    }
    Ok(Layout { length, access_len, access_checksum: header.u64()?, catalogue_checksum: header.u64()? })
}

/// How many leading bytes of the compact form whose first [`COMPACT_HEADER_LEN`] bytes are
/// `header` a VM needs when it holds the form's catalogue already: the header, the access
/// section and the catalogue's id ([`CompiledBundle::from_compact_over`] reads such a prefix).
pub fn compact_prefix_len(header: &[u8]) -> Result<usize, CompactError> {
    let layout = read_header(header)?;
    Ok(HEADER_LEN + layout.access_len + ID_LEN)
}

/// The length of the whole compact form whose first [`COMPACT_HEADER_LEN`] bytes are `header`.
pub fn compact_len(header: &[u8]) -> Result<usize, CompactError> {
    let layout = read_header(header)?;
    HEADER_LEN.checked_add(layout.length).ok_or(CompactError::Length)
}

/// The length of the compact form's header.
pub const COMPACT_HEADER_LEN: usize = HEADER_LEN;

/// Rewrites the header's length and checksums to match the body, so that a fuzzer's changes to a
/// body reach the decoder instead of stopping at the checksums (the access section's length is
/// kept, within the body). Not for anything else.
#[doc(hidden)]
pub fn __reseal_for_fuzzing(bytes: &mut [u8]) {
    let Some((header, body)) = bytes.split_at_mut_checked(HEADER_LEN) else { return };
    let declared = header.get(24..32).map_or(0, |h| {
        let mut a = [0u8; 8];
        a.copy_from_slice(h);
        u64::from_le_bytes(a)
    });
    let access_len = usize::try_from(declared).unwrap_or(usize::MAX).min(body.len());
    let (access, catalogue) = body.split_at(access_len);
    let fields = [body.len() as u64, access_len as u64, hash(access), hash(catalogue)];
    for (i, v) in fields.into_iter().enumerate() {
        if let Some(h) = header.get_mut(16 + 8 * i..24 + 8 * i) {
            h.copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// Why bytes were not loaded as a compact form.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompactError {
    NotCompact,
    Version {
        found: u32,
    },
    Length,
    Checksum,
    /// The bytes stop after the catalogue's id ([`compact_prefix_len`]), and the bundle given to
    /// load over does not hold that catalogue: the whole form is needed.
    CatalogueMissing,
    /// What was found malformed.
    Malformed(&'static str),
}

impl core::fmt::Display for CompactError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CompactError::NotCompact => f.write_str("not a compact policy bundle (the magic bytes are missing)"),
            CompactError::Version { found } => {
                write!(f, "compact policy bundle version {found}; this build reads version {COMPACT_VERSION}")
            }
            CompactError::Length => f.write_str("the compact policy bundle is truncated or has trailing bytes"),
            CompactError::Checksum => {
                f.write_str("the compact policy bundle's checksum does not match: it was damaged")
            }
            CompactError::CatalogueMissing => {
                f.write_str("the compact policy bundle's key catalogue is not held here and was not sent")
            }
            CompactError::Malformed(what) => write!(f, "the compact policy bundle is malformed: {what}"),
        }
    }
}

impl std::error::Error for CompactError {}

impl CompiledBundle {
    /// Writes the compact form of this bundle ([`CompiledBundle::from_compact`] reads it back):
    /// the concatenation of [`CompiledBundle::to_compact_parts`].
    pub fn to_compact(&self) -> Vec<u8> {
        let (head, catalogue) = self.to_compact_parts();
        let mut out = head;
        out.extend_from_slice(&catalogue);
        out
    }

    /// The compact form in two parts whose concatenation is [`CompiledBundle::to_compact`]: the
    /// header and access section, written anew, and the catalogue section, written once per
    /// catalogue and shared by every bundle compiled over it
    /// ([`Bundle::into_compiled_over`](crate::Bundle::into_compiled_over)): a host that hands the
    /// form out in parts keeps one copy of the catalogue however many configurations it holds.
    pub fn to_compact_parts(&self) -> (Vec<u8>, Arc<[u8]>) {
        let access = encode_access(self);
        let (section, section_checksum) = self.catalogue.section.get_or_init(|| {
            let section: Arc<[u8]> = encode_catalogue(&self.catalogue).into();
            let checksum = hash(&section);
            (section, checksum)
        });
        if let Some(id) = section.get(..ID_LEN).and_then(|id| <[u8; ID_LEN]>::try_from(id).ok()) {
            let _ = self.catalogue.id.set(id);
        }
        let mut head = Vec::with_capacity(HEADER_LEN + access.len());
        head.extend_from_slice(&COMPACT_MAGIC);
        head.extend_from_slice(&COMPACT_VERSION.to_le_bytes());
        head.extend_from_slice(&0u32.to_le_bytes());
        head.extend_from_slice(&((access.len() + section.len()) as u64).to_le_bytes());
        head.extend_from_slice(&(access.len() as u64).to_le_bytes());
        head.extend_from_slice(&hash(&access).to_le_bytes());
        head.extend_from_slice(&section_checksum.to_le_bytes());
        head.extend_from_slice(&access);
        (head, Arc::clone(section))
    }

    /// Loads a compact form written by [`CompiledBundle::to_compact`] of this version. The result
    /// decides exactly as the bundle it was written from; it keeps no document
    /// ([`CompiledBundle::bundle`] is `None`).
    pub fn from_compact(bytes: &[u8]) -> Result<CompiledBundle, CompactError> {
        CompiledBundle::from_compact_over(bytes, None)
    }

    /// [`CompiledBundle::from_compact`], keeping the key catalogue of `previous` (the bundle a VM
    /// holds) when the form's catalogue has the same id: only the access section is read and
    /// checked then, and `bytes` may stop after the catalogue's id ([`compact_prefix_len`]). A
    /// prefix whose catalogue `previous` does not hold is [`CompactError::CatalogueMissing`].
    pub fn from_compact_over(bytes: &[u8], previous: Option<&CompiledBundle>) -> Result<CompiledBundle, CompactError> {
        let layout = read_header(bytes)?;
        let body = bytes.get(HEADER_LEN..).ok_or(CompactError::Length)?;
        let whole = body.len() == layout.length;
        if !whole && body.len() != layout.access_len + ID_LEN {
            return Err(CompactError::Length);
        }
        let (access, catalogue) = body.split_at_checked(layout.access_len).ok_or(CompactError::Length)?;
        if hash(access) != layout.access_checksum {
            return Err(CompactError::Checksum);
        }
        let id: [u8; ID_LEN] = catalogue.get(..ID_LEN).and_then(|id| id.try_into().ok()).ok_or(CompactError::Length)?;
        let held = previous.filter(|p| p.catalogue.id.get() == Some(&id)).map(|p| Arc::clone(&p.catalogue));
        let catalogue = match held {
            Some(held) => held,
            None if whole => {
                if hash(catalogue) != layout.catalogue_checksum {
                    return Err(CompactError::Checksum);
                }
                Arc::new(decode_catalogue(catalogue.get(ID_LEN..).unwrap_or_default(), id)?)
            }
            None => return Err(CompactError::CatalogueMissing),
        };
        decode_access(access, catalogue)
    }
}

/// The catalogue section: its id (the SHA-256 of the tables that follow), then the tables.
fn encode_catalogue(c: &Catalogue) -> Box<[u8]> {
    let mut w = Writer::default();
    w.buf.extend_from_slice(&[0; ID_LEN]);
    name_table(&mut w, &c.key_ids);
    w.count(c.key_records.len());
    for r in c.key_records.iter() {
        w.u32(u32::from(r.spec));
        w.u8(state_code(r.state));
    }
    w.count(c.key_specs.len());
    for s in c.key_specs.iter() {
        w.str(s);
    }
    name_table(&mut w, &c.aliases);
    w.u32s(&c.alias_keys);
    name_table(&mut w, &c.versions);
    w.u32s(&c.version_keys);
    name_table(&mut w, &c.secret_names);
    w.u32s(&c.secret_keys);
    let id: [u8; ID_LEN] = Sha256::digest(w.buf.get(ID_LEN..).unwrap_or_default()).into();
    if let Some(head) = w.buf.get_mut(..ID_LEN) {
        head.copy_from_slice(&id);
    }
    w.buf.into_boxed_slice()
}

/// The catalogue section after its id.
fn decode_catalogue(tables: &[u8], id: [u8; ID_LEN]) -> Result<Catalogue, CompactError> {
    use CompactError::Malformed;
    let mut r = Reader { rest: tables };
    let key_ids = read_name_table(&mut r)?;
    let n = r.count(5)?;
    if n != key_ids.len() {
        return Err(Malformed("the key records"));
    }
    let mut key_records = Vec::with_capacity(n);
    for _ in 0..n {
        let spec = u16::try_from(r.u32()?).map_err(|_| Malformed("a key's spec index"))?;
        let state = state_of(r.u8()?).ok_or(Malformed("a key's state"))?;
        key_records.push(CCatKey { spec, state });
    }
    let n = r.count(4)?;
    let mut key_specs: Vec<Box<str>> = Vec::with_capacity(n);
    for _ in 0..n {
        key_specs.push(r.str()?.into());
    }
    if key_records.iter().any(|k| usize::from(k.spec) >= key_specs.len()) {
        return Err(Malformed("a key's spec index"));
    }
    let keys = key_ids.len();
    let in_keys = |v: &[u32]| v.iter().all(|&k| (k as usize) < keys);
    let aliases = read_name_table(&mut r)?;
    let alias_keys = r.u32s()?;
    if alias_keys.len() != aliases.len() || !in_keys(&alias_keys) {
        return Err(Malformed("the aliases' keys"));
    }
    let versions = read_name_table(&mut r)?;
    let version_keys = r.u32s()?;
    if version_keys.len() != versions.len() || !in_keys(&version_keys) {
        return Err(Malformed("the key versions' keys"));
    }
    let secret_names = read_name_table(&mut r)?;
    let secret_keys = r.u32s()?;
    if secret_keys.len() != secret_names.len() || !in_keys(&secret_keys) {
        return Err(Malformed("the secrets' keys"));
    }
    if !r.rest.is_empty() {
        return Err(CompactError::Length);
    }
    Ok(Catalogue {
        key_ids,
        key_records: key_records.into_boxed_slice(),
        key_specs: key_specs.into_boxed_slice(),
        aliases,
        alias_keys,
        versions,
        version_keys,
        secret_names,
        secret_keys,
        section: OnceLock::new(),
        id: OnceLock::from(id),
    })
}

/// Whether `a` and `b` write the same compact form (the catalogue's id aside, which follows from
/// its tables).
pub(crate) fn same_tables(a: &CompiledBundle, b: &CompiledBundle) -> bool {
    let tables = |c: &Catalogue| encode_catalogue(c).get(ID_LEN..).map(<[u8]>::to_vec);
    encode_access(a) == encode_access(b)
        && (Arc::ptr_eq(&a.catalogue, &b.catalogue) || tables(&a.catalogue) == tables(&b.catalogue))
}

/// The access section: every table a decision reads but the catalogue's, in a fixed order.
fn encode_access(b: &CompiledBundle) -> Vec<u8> {
    let mut w = Writer::default();
    w.count(b.scopes.len());
    for s in &b.scopes {
        w.str(s);
    }
    // Address sets once each: policies over the same network rules share one.
    let mut sets: Vec<&IpSet> = Vec::new();
    let mut policy_sets = Vec::with_capacity(b.policies.len());
    for p in &b.policies {
        let i = match sets.iter().position(|s| s.same_set(&p.net)) {
            Some(i) => i,
            None => {
                sets.push(&p.net);
                sets.len() - 1
            }
        };
        policy_sets.push(i);
    }
    w.count(sets.len());
    for s in &sets {
        ip_set(&mut w, s);
    }
    w.count(b.policies.len());
    for (p, set) in b.policies.iter().zip(&policy_sets) {
        w.str(&p.name);
        w.str(&p.scope);
        w.u32(p.scope_id);
        w.u8(p.perms);
        patterns(&mut w, &p.keys);
        patterns(&mut w, &p.secrets);
        w.count(*set);
    }
    w.count(b.aaps.len());
    for a in &b.aaps {
        w.str(&a.name);
        w.u8(u8::from(a.ram_role));
        w.count(a.policies.len());
        for &p in &a.policies {
            w.count(p);
        }
    }
    w.count(b.client_keys.len());
    for k in &b.client_keys {
        w.str(&k.id);
        w.count(k.aap);
        w.i64(k.not_before);
        w.i64(k.not_after);
        match k.public_key.cert_validity() {
            Some((from, to)) => {
                w.u8(1);
                w.i64(from);
                w.i64(to);
            }
            None => w.u8(0),
        }
        w.bytes(k.public_key.spki_der());
    }
    w.u64s(&b.key_policies);
    w.u64s(&b.secret_policies);
    match &b.gateway {
        Some(g) => {
            w.u8(1);
            w.str(&g.scope);
            ip_set(&mut w, &g.trusted);
            w.u32(g.max_skew);
            match g.generation {
                Some(n) => {
                    w.u8(1);
                    w.u64(n);
                }
                None => w.u8(0),
            }
        }
        None => w.u8(0),
    }
    w.buf
}

fn decode_access(body: &[u8], catalogue: Arc<Catalogue>) -> Result<CompiledBundle, CompactError> {
    use CompactError::Malformed;
    let mut r = Reader { rest: body };
    let n = r.count(4)?;
    let mut scopes: Vec<Box<str>> = Vec::with_capacity(n);
    for _ in 0..n {
        scopes.push(r.str()?.into());
    }
    let n = r.count(8)?;
    let mut sets = Vec::with_capacity(n);
    for _ in 0..n {
        sets.push(read_ip_set(&mut r)?);
    }
    let n = r.count(16)?;
    let mut policies = Vec::with_capacity(n);
    for _ in 0..n {
        let name: Box<str> = r.str()?.into();
        let scope: Box<str> = r.str()?.into();
        let scope_id = r.u32()?;
        if scopes.get(scope_id as usize).is_none_or(|s| *s != scope) {
            return Err(Malformed("a policy's scope index"));
        }
        let perms = r.u8()?;
        let keys = read_patterns(&mut r)?;
        let secrets = read_patterns(&mut r)?;
        let net = sets.get(r.index()?).cloned().ok_or(Malformed("a policy's address set"))?;
        policies.push(CPolicy { name, scope, scope_id, perms, keys, secrets, net });
    }
    let n = r.count(9)?;
    let mut aaps = Vec::with_capacity(n);
    for _ in 0..n {
        let name: Box<str> = r.str()?.into();
        let ram_role = r.flag()?;
        let count = r.count(4)?;
        let mut ps = Vec::with_capacity(count);
        for _ in 0..count {
            let p = r.index()?;
            if p >= policies.len() {
                return Err(Malformed("an access point's policy index"));
            }
            ps.push(p);
        }
        aaps.push(CAap { name, policies: ps, ram_role });
    }
    let n = r.count(29)?;
    let mut client_keys = Vec::with_capacity(n);
    for _ in 0..n {
        let id: Box<str> = r.str()?.into();
        let aap = r.index()?;
        if aap >= aaps.len() {
            return Err(Malformed("a client key's access point index"));
        }
        let not_before = r.i64()?;
        let not_after = r.i64()?;
        let validity = if r.flag()? { Some((r.i64()?, r.i64()?)) } else { None };
        let spki: Box<[u8]> = r.bytes()?.into();
        let public_key =
            RsaPublicKey::from_canonical_spki(spki, validity).map_err(|_| Malformed("a client key's public key"))?;
        client_keys.push(CKey { id, aap, not_before, not_after, public_key });
    }
    let policy_words = policies.len().div_ceil(64);
    let key_policies = r.u64s()?;
    if key_policies.len() != catalogue.key_ids.len() * policy_words {
        return Err(Malformed("the keys' policy bits"));
    }
    let secret_policies = r.u64s()?;
    if secret_policies.len() != catalogue.secret_names.len() * policy_words {
        return Err(Malformed("the secrets' policy bits"));
    }
    let gateway = if r.flag()? {
        let scope: Box<str> = r.str()?.into();
        let trusted = read_ip_set(&mut r)?;
        let max_skew = r.u32()?;
        let generation = if r.flag()? { Some(r.u64()?) } else { None };
        Some(CGateway { scope, trusted, max_skew, generation })
    } else {
        None
    };
    if !r.rest.is_empty() {
        return Err(CompactError::Length);
    }
    let index = |names: &mut dyn Iterator<Item = &str>| -> FastMap<Box<str>, usize> {
        names.enumerate().map(|(i, n)| (Box::from(n), i)).collect()
    };
    let client_key_index = index(&mut client_keys.iter().map(|k| &*k.id));
    let aap_index = index(&mut aaps.iter().map(|a| &*a.name));
    let scope_index =
        scopes.iter().enumerate().map(|(i, s)| (s.clone(), u32::try_from(i).unwrap_or(u32::MAX))).collect();
    Ok(CompiledBundle {
        client_keys,
        client_key_index,
        aaps,
        aap_index,
        policy_words,
        policies,
        catalogue,
        key_policies,
        secret_policies,
        gateway,
        scopes,
        scope_index,
        source: None,
    })
}

fn state_code(s: KeyState) -> u8 {
    match s {
        KeyState::Enabled => 0,
        KeyState::Disabled => 1,
        KeyState::PendingDeletion => 2,
        KeyState::PendingImport => 3,
    }
}

fn state_of(code: u8) -> Option<KeyState> {
    KeyState::ALL.into_iter().find(|&s| state_code(s) == code)
}

fn ip_set(w: &mut Writer, s: &IpSet) {
    w.count(s.v4_ranges().len());
    for &(lo, hi) in s.v4_ranges() {
        w.u32(lo);
        w.u32(hi);
    }
    w.count(s.v6_ranges().len());
    for &(lo, hi) in s.v6_ranges() {
        w.buf.extend_from_slice(&lo.to_le_bytes());
        w.buf.extend_from_slice(&hi.to_le_bytes());
    }
}

fn read_ip_set(r: &mut Reader<'_>) -> Result<IpSet, CompactError> {
    let n = r.count(8)?;
    let mut v4 = Vec::with_capacity(n);
    for _ in 0..n {
        v4.push((r.u32()?, r.u32()?));
    }
    let n = r.count(32)?;
    let mut v6 = Vec::with_capacity(n);
    for _ in 0..n {
        v6.push((r.u128()?, r.u128()?));
    }
    IpSet::from_merged(v4, v6).ok_or(CompactError::Malformed("an address set (ranges not sorted and disjoint)"))
}

fn patterns(w: &mut Writer, p: &PatternSet) {
    w.u8(u8::from(p.matches_everything()));
    let mut exact: Vec<&str> = p.exact_names().collect();
    // The set's order is a hash order: sorted, equal sets write equal bytes.
    exact.sort_unstable();
    w.count(exact.len());
    for e in exact {
        w.str(e);
    }
    w.count(p.prefix_patterns().count());
    for e in p.prefix_patterns() {
        w.str(e);
    }
}

fn read_patterns(r: &mut Reader<'_>) -> Result<PatternSet, CompactError> {
    let mut pats = Vec::new();
    if r.flag()? {
        pats.push(NamePattern::Prefix(String::new()));
    }
    for _ in 0..r.count(4)? {
        pats.push(NamePattern::Exact(r.str()?.to_owned()));
    }
    for _ in 0..r.count(4)? {
        let p = r.str()?;
        if p.is_empty() {
            return Err(CompactError::Malformed("an empty prefix pattern"));
        }
        pats.push(NamePattern::Prefix(p.to_owned()));
    }
    Ok(PatternSet::from_patterns(&pats))
}

fn name_table(w: &mut Writer, t: &NameTable) {
    let (text, ends, slots, tags) = t.parts();
    w.str(text);
    w.u32s(ends);
    w.u32s(slots);
    w.bytes(tags);
}

fn read_name_table(r: &mut Reader<'_>) -> Result<NameTable, CompactError> {
    let text: Box<str> = r.str()?.into();
    let ends = r.u32s()?;
    let slots = r.u32s()?;
    let tags: Box<[u8]> = r.bytes()?.into();
    NameTable::from_parts(text, ends, Some((slots, tags))).map_err(|_| CompactError::Malformed("a name table"))
}

#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// A count or an index. The compiled tables' sizes come from a document that fits in memory
    /// and whose names fit `u32` offsets (`NameTable::build`), so none reaches 2³².
    fn count(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn bytes(&mut self, b: &[u8]) {
        self.count(b.len());
        self.buf.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn u32s(&mut self, v: &[u32]) {
        self.count(v.len());
        self.buf.reserve(v.len() * 4);
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
    }
    fn u64s(&mut self, v: &[u64]) {
        self.count(v.len());
        self.buf.reserve(v.len() * 8);
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CompactError> {
        if n > self.rest.len() {
            return Err(CompactError::Length);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CompactError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, CompactError> {
        Ok(self.array::<1>()?[0])
    }
    fn flag(&mut self) -> Result<bool, CompactError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CompactError::Malformed("a flag that is neither 0 nor 1")),
        }
    }
    fn u32(&mut self) -> Result<u32, CompactError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, CompactError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, CompactError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn u128(&mut self) -> Result<u128, CompactError> {
        Ok(u128::from_le_bytes(self.array()?))
    }
    fn index(&mut self) -> Result<usize, CompactError> {
        Ok(self.u32()? as usize)
    }
    /// A count of items of at least `min_size` bytes each: never more than the bytes left can
    /// hold, so a forged count cannot make the reader allocate.
    fn count(&mut self, min_size: usize) -> Result<usize, CompactError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size.max(1)) > self.rest.len() {
            return Err(CompactError::Length);
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<&'a [u8], CompactError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn str(&mut self) -> Result<&'a str, CompactError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| CompactError::Malformed("a name that is not UTF-8"))
    }
    fn u32s(&mut self) -> Result<Box<[u32]>, CompactError> {
        let n = self.count(4)?;
        let raw = self.take(n * 4)?;
        Ok(raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
    fn u64s(&mut self) -> Result<Box<[u64]>, CompactError> {
        let n = self.count(8)?;
        let raw = self.take(n * 8)?;
        Ok(raw
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                u64::from_le_bytes(a)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const EXAMPLE: &str = include_str!("../../tests/data/example-bundle.json");

    #[test]
    fn round_trips_and_refuses_damage() {
        let compiled = crate::compile_bundle(EXAMPLE).unwrap();
        let bytes = compiled.to_compact();
        assert!(is_compact(&bytes));
        let loaded = CompiledBundle::from_compact(&bytes).unwrap();
        assert!(loaded.bundle().is_none());
        assert_eq!(loaded.to_compact(), bytes);
        assert!(loaded.same_compiled(&compiled));

        assert_eq!(CompiledBundle::from_compact(EXAMPLE.as_bytes()).unwrap_err(), CompactError::NotCompact);
        assert_eq!(CompiledBundle::from_compact(&bytes[..bytes.len() - 1]).unwrap_err(), CompactError::Length);
        assert_eq!(CompiledBundle::from_compact(&bytes[..20]).unwrap_err(), CompactError::Length);
        let mut flipped = bytes.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x40;
        assert_eq!(CompiledBundle::from_compact(&flipped).unwrap_err(), CompactError::Checksum);
        let mut newer = bytes.clone();
        newer[8] = 9;
        assert_eq!(CompiledBundle::from_compact(&newer).unwrap_err(), CompactError::Version { found: 9 });
        // Damage in the catalogue section is caught by its own checksum.
        let mut cat = bytes.clone();
        let at = cat.len() - 40;
        cat[at] ^= 0x01;
        assert_eq!(CompiledBundle::from_compact(&cat).unwrap_err(), CompactError::Checksum);
    }

    /// The parts concatenate to the whole form, and bundles compiled over one catalogue share its
    /// part (one copy in the host however many configurations it holds).
    #[test]
    fn the_parts_are_the_form_and_share_the_catalogue() {
        let b = crate::parse_bundle(EXAMPLE).unwrap();
        let first = b.clone().into_compiled().unwrap();
        let (head, catalogue) = first.to_compact_parts();
        assert_eq!([&head[..], &catalogue[..]].concat(), first.to_compact());
        let mut access = b.clone();
        access.keys.clear();
        access.secrets.clear();
        access.client_keys.truncate(1);
        let next = access.into_compiled_over(&first, &mut crate::PublicKeyCache::default()).unwrap();
        let (next_head, next_catalogue) = next.to_compact_parts();
        assert!(Arc::ptr_eq(&catalogue, &next_catalogue));
        assert_ne!(next_head, head);
        let whole = [&next_head[..], &next_catalogue[..]].concat();
        assert!(CompiledBundle::from_compact(&whole).unwrap().same_compiled(&next));
    }

    /// A VM holding the catalogue reads the access section alone (even from the prefix), and gets
    /// the same tables; without it, the prefix is refused and the whole form is read.
    #[test]
    fn a_held_catalogue_is_kept_and_a_missing_one_is_asked_for() {
        let compiled = crate::compile_bundle(EXAMPLE).unwrap();
        let bytes = compiled.to_compact();
        let held = CompiledBundle::from_compact(&bytes).unwrap();
        let prefix = &bytes[..compact_prefix_len(&bytes[..COMPACT_HEADER_LEN]).unwrap()];
        assert!(prefix.len() < bytes.len());
        assert_eq!(compact_len(&bytes[..COMPACT_HEADER_LEN]).unwrap(), bytes.len());

        // The next configuration: same catalogue, one client key fewer.
        let mut b = crate::parse_bundle(EXAMPLE).unwrap();
        b.client_keys.truncate(1);
        let next = b.compile().unwrap();
        assert!(!next.same_compiled(&compiled));
        let next_bytes = next.to_compact();
        let next_prefix = &next_bytes[..compact_prefix_len(&next_bytes).unwrap()];
        assert_eq!(next_prefix.len(), prefix.len() - (bytes.len() - next_bytes.len()));

        for input in [next_prefix, &next_bytes[..]] {
            let over = CompiledBundle::from_compact_over(input, Some(&held)).unwrap();
            assert!(over.shares_catalogue_with(&held));
            assert!(over.same_compiled(&next));
            assert_eq!(over.to_compact(), next_bytes);
        }
        assert_eq!(CompiledBundle::from_compact_over(next_prefix, None).unwrap_err(), CompactError::CatalogueMissing);
        assert_eq!(CompiledBundle::from_compact(next_prefix).unwrap_err(), CompactError::CatalogueMissing);
        // A bundle with another catalogue is not reused: the whole form is read, or asked for.
        let mut other = crate::parse_bundle(EXAMPLE).unwrap();
        other.keys.pop();
        other.secrets.retain(|s| other.keys.iter().any(|k| k.key_id == s.encryption_key_id));
        let other = CompiledBundle::from_compact(&other.compile().unwrap().to_compact()).unwrap();
        assert_ne!(other.catalogue.id.get(), held.catalogue.id.get());
        assert_eq!(
            CompiledBundle::from_compact_over(next_prefix, Some(&other)).unwrap_err(),
            CompactError::CatalogueMissing
        );
        let full = CompiledBundle::from_compact_over(&next_bytes, Some(&other)).unwrap();
        assert!(!full.shares_catalogue_with(&other) && full.same_compiled(&next));
        // A damaged access section is refused even when the catalogue is held; damage to the part
        // of the catalogue section a holder skips does not matter to it.
        let mut damaged = next_prefix.to_vec();
        damaged[COMPACT_HEADER_LEN + 3] ^= 0x20;
        assert_eq!(CompiledBundle::from_compact_over(&damaged, Some(&held)).unwrap_err(), CompactError::Checksum);
        // Anything but the whole form or the prefix is refused.
        let cut = &next_bytes[..next_prefix.len() + 1];
        assert_eq!(CompiledBundle::from_compact_over(cut, Some(&held)).unwrap_err(), CompactError::Length);
    }

    /// Every prefix and every single-byte change of a valid body, with the checksums fixed up so
    /// the decoder itself is exercised: refused or loaded, never a panic.
    #[test]
    fn damaged_bodies_are_refused_without_panicking() {
        let bytes = crate::compile_bundle(EXAMPLE).unwrap().to_compact();
        let resealed = |mut b: Vec<u8>| {
            __reseal_for_fuzzing(&mut b);
            b
        };
        for cut in HEADER_LEN..bytes.len() {
            assert!(CompiledBundle::from_compact(&resealed(bytes[..cut].to_vec())).is_err(), "prefix {cut}");
        }
        for at in HEADER_LEN..bytes.len() {
            for v in [0x00, 0xff, bytes[at] ^ 0x01, bytes[at].wrapping_add(1)] {
                let mut b = bytes.clone();
                b[at] = v;
                let _ = CompiledBundle::from_compact(&resealed(b));
            }
        }
    }
}
