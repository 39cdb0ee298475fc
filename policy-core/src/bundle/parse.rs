//! JSON document → typed [`Bundle`], collecting every type/format mistake with its path.
//! Semantic checks (names, limits, duplicates, references) are in `validate.rs`.

use std::borrow::Cow;

use super::cidr::IpCidr;
use super::error::BundleError;
use super::hints::{Hints, Kind};
use super::json::JVal;
use super::model::*;
use super::span::Lines;
use crate::catalogue::Permission;
use crate::time::parse_iso8601;

pub(crate) struct Ctx {
    pub(crate) errors: Vec<BundleError>,
    pub(crate) hints: Hints,
    /// `(error index, n)`: the error is about the n-th occurrence of its path (duplicate keys).
    pub(crate) occurrences: Vec<(usize, usize)>,
}

impl Ctx {
    fn err(&mut self, path: &str, value: &JVal, message: impl Into<String>) {
        self.errors.push(BundleError::new(path, value.render(), message));
        self.hints.broken.push(path.to_owned());
    }

    fn missing(&mut self, path: &str, field: &str) {
        self.errors.push(BundleError::new(path, String::new(), format!("missing field `{field}`")));
        self.hints.broken.push(format!("{path}.{field}"));
    }
}

/// The members of one object, checked for unknown and duplicate keys.
struct Fields<'v> {
    path: String,
    entries: &'v [(String, JVal)],
}

impl<'v> Fields<'v> {
    fn new(ctx: &mut Ctx, path: &str, v: &'v JVal, allowed: &[&str]) -> Option<Fields<'v>> {
        let JVal::Obj(entries) = v else {
            ctx.err(path, v, format!("expected an object, found {}", v.kind()));
            return None;
        };
        for (i, (k, val)) in entries.iter().enumerate() {
            let p = format!("{path}.{k}");
            let earlier = entries.iter().take(i).filter(|(k2, _)| k2 == k).count();
            if earlier > 0 {
                ctx.occurrences.push((ctx.errors.len(), earlier));
                ctx.err(&p, val, format!("duplicate key `{k}`"));
            } else if !allowed.contains(&k.as_str()) {
                ctx.err(&p, val, format!("unknown field `{k}`, expected one of {}", list(allowed)));
            }
        }
        Some(Fields { path: path.to_owned(), entries })
    }

    fn get(&self, name: &str) -> Option<(&'v JVal, String)> {
        self.entries.iter().find(|(k, _)| k == name).map(|(_, v)| (v, format!("{}.{name}", self.path)))
    }

    fn required(&self, ctx: &mut Ctx, name: &str) -> Option<(&'v JVal, String)> {
        let r = self.get(name);
        if r.is_none() {
            ctx.missing(&self.path, name);
        }
        r
    }
}

fn list(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

fn string(ctx: &mut Ctx, path: &str, v: &JVal) -> Option<String> {
    match v {
        JVal::Str(s) => Some(s.clone()),
        _ => {
            ctx.err(path, v, format!("expected a string, found {}", v.kind()));
            None
        }
    }
}

/// A list field: a JSON array, or a string holding a JSON array (the management API's form).
fn list_or_string<'v>(ctx: &mut Ctx, path: &str, v: &'v JVal) -> Option<Cow<'v, [JVal]>> {
    match v {
        JVal::Arr(a) => Some(Cow::Borrowed(a.as_slice())),
        JVal::Str(s) => match JVal::parse(s) {
            Ok(JVal::Arr(a)) => Some(Cow::Owned(a)),
            Ok(other) => {
                ctx.err(
                    path,
                    v,
                    format!("expected an array (or a string holding one), the string holds {}", other.kind()),
                );
                None
            }
            Err(e) => {
                ctx.err(
                    path,
                    v,
                    format!("expected an array or a string holding a JSON array; the string is not JSON: {e}"),
                );
                None
            }
        },
        _ => {
            ctx.err(path, v, format!("expected an array or a string holding a JSON array, found {}", v.kind()));
            None
        }
    }
}

/// A list of items, each converted by `f`; failed items are skipped (their error is recorded).
fn list_of<T>(
    ctx: &mut Ctx,
    path: &str,
    v: &JVal,
    mut f: impl FnMut(&mut Ctx, &str, &JVal) -> Option<T>,
) -> Option<Vec<T>> {
    let items = list_or_string(ctx, path, v)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(x) = f(ctx, &format!("{path}[{i}]"), item) {
            out.push(x);
        }
    }
    Some(out)
}

fn string_list(ctx: &mut Ctx, path: &str, v: &JVal) -> Option<Vec<String>> {
    list_of(ctx, path, v, string)
}

fn opt_string(ctx: &mut Ctx, f: &Fields<'_>, name: &str) -> Option<String> {
    let (v, p) = f.get(name)?;
    string(ctx, &p, v)
}

fn req_string(ctx: &mut Ctx, f: &Fields<'_>, name: &str) -> String {
    match f.required(ctx, name) {
        Some((v, p)) => string(ctx, &p, v).unwrap_or_default(),
        None => String::new(),
    }
}

fn enum_value<T: Copy>(ctx: &mut Ctx, path: &str, v: &JVal, options: &[(&str, T)]) -> Option<T> {
    let s = string(ctx, path, v)?;
    let found = options.iter().find(|(n, _)| *n == s).map(|(_, t)| *t);
    if found.is_none() {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        ctx.err(path, v, format!("expected one of {}", list(&names)));
    }
    found
}

fn cidr(ctx: &mut Ctx, path: &str, v: &JVal) -> Option<IpCidr> {
    let s = string(ctx, path, v)?;
    match s.parse::<IpCidr>() {
        Ok(c) => Some(c),
        Err(e) => {
            ctx.err(path, v, e.to_string());
            None
        }
    }
}

fn timestamp(ctx: &mut Ctx, f: &Fields<'_>, name: &str) -> UnixTime {
    let Some((v, p)) = f.required(ctx, name) else { return 0 };
    let Some(s) = string(ctx, &p, v) else { return 0 };
    match parse_iso8601(&s) {
        Some(t) => t,
        None => {
            ctx.err(&p, v, "expected an ISO 8601 UTC time `yyyy-MM-ddTHH:mm:ssZ`");
            0
        }
    }
}

use crate::time::UnixTime;

/// Parses a top-level array of `kind` elements with `f`. Every element yields a value (defaults
/// where broken) so indexes, and therefore validation paths, stay aligned with the document.
fn section<T>(
    ctx: &mut Ctx,
    top: &Fields<'_>,
    name: &str,
    kind: Option<Kind>,
    mut f: impl FnMut(&mut Ctx, &str, &JVal) -> T,
) -> Vec<T> {
    let Some((v, path)) = top.get(name) else { return Vec::new() };
    let JVal::Arr(items) = v else {
        ctx.err(&path, v, format!("expected an array, found {}", v.kind()));
        if let Some(k) = kind {
            ctx.hints.incomplete.push(k);
        }
        return Vec::new();
    };
    let before = ctx.hints.broken.len();
    let out = items.iter().enumerate().map(|(i, item)| f(ctx, &format!("{path}[{i}]"), item)).collect();
    // A broken element whose name may be unknown makes reference checks against the kind unsafe.
    if let Some(k) = kind {
        let name_field = match k {
            Kind::NetworkRule | Kind::Policy | Kind::Aap => ".Name",
            Kind::Key => ".KeyId",
        };
        let lost = ctx.hints.broken.iter().skip(before).any(|b| {
            b.ends_with(name_field) || (b.starts_with(&path) && !b.get(path.len()..).unwrap_or("").contains('.'))
        });
        if lost {
            ctx.hints.incomplete.push(k);
        }
    }
    out
}

fn network_rule(ctx: &mut Ctx, path: &str, v: &JVal) -> NetworkRule {
    let mut r = NetworkRule {
        name: String::new(),
        network_type: NetworkType::Private,
        source_private_ip: Vec::new(),
        description: None,
    };
    let Some(f) = Fields::new(ctx, path, v, &["Name", "Type", "SourcePrivateIp", "Description"]) else { return r };
    r.name = req_string(ctx, &f, "Name");
    if let Some((v, p)) = f.required(ctx, "Type") {
        r.network_type = enum_value(ctx, &p, v, &[("Private", NetworkType::Private)]).unwrap_or(NetworkType::Private);
    }
    if let Some((v, p)) = f.required(ctx, "SourcePrivateIp") {
        r.source_private_ip = list_of(ctx, &p, v, cidr).unwrap_or_default();
    }
    r.description = opt_string(ctx, &f, "Description");
    r
}

fn permission(ctx: &mut Ctx, path: &str, v: &JVal) -> Option<Permission> {
    let s = string(ctx, path, v)?;
    let p = Permission::from_template(&s);
    if p.is_none() {
        let names: Vec<&str> = Permission::ALL.iter().map(|p| p.template()).collect();
        ctx.err(path, v, format!("unknown permission, expected one of {}", list(&names)));
    }
    p
}

fn resource(ctx: &mut Ctx, path: &str, v: &JVal) -> Option<ResourcePattern> {
    let s = string(ctx, path, v)?;
    match ResourcePattern::parse(&s) {
        Ok(r) => Some(r),
        Err(m) => {
            ctx.err(path, v, m);
            None
        }
    }
}

fn access_control_rules(ctx: &mut Ctx, path: &str, v: &JVal) -> AccessControlRules {
    let inner;
    let obj = match v {
        JVal::Str(s) => match JVal::parse(s) {
            Ok(x) => {
                inner = x;
                &inner
            }
            Err(e) => {
                ctx.err(
                    path,
                    v,
                    format!("expected an object or a string holding a JSON object; the string is not JSON: {e}"),
                );
                return AccessControlRules::default();
            }
        },
        other => other,
    };
    let Some(f) = Fields::new(ctx, path, obj, &["NetworkRules"]) else { return AccessControlRules::default() };
    let network_rules = match f.required(ctx, "NetworkRules") {
        Some((v, p)) => string_list(ctx, &p, v).unwrap_or_default(),
        None => Vec::new(),
    };
    AccessControlRules { network_rules }
}

fn policy(ctx: &mut Ctx, path: &str, v: &JVal) -> Policy {
    let mut p = Policy {
        name: String::new(),
        permissions: Vec::new(),
        resources: Vec::new(),
        kms_instance: String::new(),
        access_control_rules: AccessControlRules::default(),
        description: None,
    };
    let allowed = ["Name", "Permissions", "Resources", "KmsInstance", "AccessControlRules", "Description"];
    let Some(f) = Fields::new(ctx, path, v, &allowed) else { return p };
    p.name = req_string(ctx, &f, "Name");
    if let Some((v, q)) = f.required(ctx, "Permissions") {
        p.permissions = list_of(ctx, &q, v, permission).unwrap_or_default();
    }
    if let Some((v, q)) = f.required(ctx, "Resources") {
        p.resources = list_of(ctx, &q, v, resource).unwrap_or_default();
    }
    p.kms_instance = req_string(ctx, &f, "KmsInstance");
    if let Some((v, q)) = f.required(ctx, "AccessControlRules") {
        p.access_control_rules = access_control_rules(ctx, &q, v);
    }
    p.description = opt_string(ctx, &f, "Description");
    p
}

fn aap(ctx: &mut Ctx, path: &str, v: &JVal) -> ApplicationAccessPoint {
    let mut a = ApplicationAccessPoint {
        name: String::new(),
        policies: Vec::new(),
        authentication_method: AuthenticationMethod::ClientKey,
        description: None,
    };
    let Some(f) = Fields::new(ctx, path, v, &["Name", "Policies", "AuthenticationMethod", "Description"]) else {
        return a;
    };
    a.name = req_string(ctx, &f, "Name");
    if let Some((v, q)) = f.required(ctx, "Policies") {
        a.policies = string_list(ctx, &q, v).unwrap_or_default();
    }
    if let Some((v, q)) = f.get("AuthenticationMethod") {
        let opts = [("ClientKey", AuthenticationMethod::ClientKey), ("RAMRole", AuthenticationMethod::RamRole)];
        a.authentication_method = enum_value(ctx, &q, v, &opts).unwrap_or(AuthenticationMethod::ClientKey);
    }
    a.description = opt_string(ctx, &f, "Description");
    a
}

fn client_key(ctx: &mut Ctx, path: &str, v: &JVal) -> ClientKey {
    let mut k = ClientKey {
        client_key_id: String::new(),
        aap_name: String::new(),
        key_algorithm: ClientKeyAlgorithm::Rsa2048,
        public_key_data: String::new(),
        not_before: 0,
        not_after: 0,
    };
    let allowed = ["ClientKeyId", "AapName", "KeyAlgorithm", "PublicKeyData", "NotBefore", "NotAfter"];
    let Some(f) = Fields::new(ctx, path, v, &allowed) else { return k };
    k.client_key_id = req_string(ctx, &f, "ClientKeyId");
    k.aap_name = req_string(ctx, &f, "AapName");
    if let Some((v, q)) = f.get("KeyAlgorithm") {
        enum_value(ctx, &q, v, &[("RSA_2048", ClientKeyAlgorithm::Rsa2048)]);
    }
    k.public_key_data = req_string(ctx, &f, "PublicKeyData");
    k.not_before = timestamp(ctx, &f, "NotBefore");
    k.not_after = timestamp(ctx, &f, "NotAfter");
    k
}

fn key(ctx: &mut Ctx, path: &str, v: &JVal) -> Key {
    let mut k = Key {
        key_id: String::new(),
        aliases: Vec::new(),
        key_spec: String::new(),
        key_state: KeyState::Enabled,
        key_versions: Vec::new(),
    };
    let Some(f) = Fields::new(ctx, path, v, &["KeyId", "Aliases", "KeySpec", "KeyState", "KeyVersions"]) else {
        return k;
    };
    k.key_id = req_string(ctx, &f, "KeyId");
    if let Some((v, q)) = f.get("Aliases") {
        k.aliases = string_list(ctx, &q, v).unwrap_or_default();
    }
    k.key_spec = req_string(ctx, &f, "KeySpec");
    if let Some((v, q)) = f.required(ctx, "KeyState") {
        let opts = KeyState::ALL.map(|s| (s.name(), s));
        // An unreadable state must not default to Enabled.
        k.key_state = enum_value(ctx, &q, v, &opts).unwrap_or(KeyState::Disabled);
    }
    if let Some((v, q)) = f.get("KeyVersions") {
        k.key_versions = string_list(ctx, &q, v).unwrap_or_default();
    }
    k
}

fn secret(ctx: &mut Ctx, path: &str, v: &JVal) -> Secret {
    let mut s = Secret { secret_name: String::new(), encryption_key_id: String::new() };
    let Some(f) = Fields::new(ctx, path, v, &["SecretName", "EncryptionKeyId"]) else { return s };
    s.secret_name = req_string(ctx, &f, "SecretName");
    s.encryption_key_id = req_string(ctx, &f, "EncryptionKeyId");
    s
}

fn gateway(ctx: &mut Ctx, path: &str, v: &JVal) -> Gateway {
    let mut g = Gateway {
        scope: String::new(),
        trusted_proxies: Vec::new(),
        max_skew_seconds: DEFAULT_MAX_SKEW_SECONDS,
        generation: None,
    };
    let Some(f) = Fields::new(ctx, path, v, &["Scope", "TrustedProxies", "MaxSkewSeconds", "Generation"]) else {
        return g;
    };
    g.scope = req_string(ctx, &f, "Scope");
    if let Some((v, q)) = f.get("TrustedProxies") {
        g.trusted_proxies = list_of(ctx, &q, v, cidr).unwrap_or_default();
    }
    if let Some((v, q)) = f.get("MaxSkewSeconds") {
        match v {
            JVal::Int(i) if (1..=86_400).contains(i) => g.max_skew_seconds = *i as u32,
            _ => ctx.err(&q, v, "expected an integer number of seconds from 1 to 86400"),
        }
    }
    if let Some((v, q)) = f.get("Generation") {
        match v {
            JVal::Int(i) if u64::try_from(*i).is_ok() => g.generation = u64::try_from(*i).ok(),
            _ => ctx.err(&q, v, "expected an integer from 0 to 2^64-1"),
        }
    }
    g
}

const TOP_FIELDS: [&str; 7] =
    ["NetworkRules", "Policies", "ApplicationAccessPoints", "ClientKeys", "Keys", "Secrets", "Gateway"];

/// Parses the document into a bundle and the errors found (the bundle is partial when there are).
pub(crate) fn parse(text: &str) -> (Bundle, Ctx) {
    let mut ctx = Ctx { errors: Vec::new(), hints: Hints::default(), occurrences: Vec::new() };
    let mut b = Bundle::default();
    let root = match JVal::parse(text) {
        Ok(v) => v,
        Err(e) => {
            let span = Lines::new(text).at_line_byte_column(e.line(), e.column());
            ctx.errors.push(BundleError::new("$", String::new(), format!("not valid JSON: {e}")).with_span(Some(span)));
            ctx.hints.broken.push("$".into());
            return (b, ctx);
        }
    };
    let Some(top) = Fields::new(&mut ctx, "$", &root, &TOP_FIELDS) else { return (b, ctx) };
    b.network_rules = section(&mut ctx, &top, "NetworkRules", Some(Kind::NetworkRule), network_rule);
    b.policies = section(&mut ctx, &top, "Policies", Some(Kind::Policy), policy);
    b.application_access_points = section(&mut ctx, &top, "ApplicationAccessPoints", Some(Kind::Aap), aap);
    b.client_keys = section(&mut ctx, &top, "ClientKeys", None, client_key);
    b.keys = section(&mut ctx, &top, "Keys", Some(Kind::Key), key);
    b.secrets = section(&mut ctx, &top, "Secrets", None, secret);
    b.gateway = top.get("Gateway").map(|(v, p)| gateway(&mut ctx, &p, v));
    (b, ctx)
}
