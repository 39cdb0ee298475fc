//! The request verifier end to end (`authorize`: signed headers, string-to-sign, signature,
//! resource, source address, decision) over the example bundle, with structured, mostly valid
//! requests that an honest client signed and an attacker (or a proxy) then altered.
//!
//! Signing: RSA signing per input would cap the fuzzer at a few hundred inputs per second, so the
//! client "signs" with a marker and the verifier is an oracle that accepts exactly one thing: the
//! marker over the string-to-sign the client computed, under the claimed client key's public key.
//! Everything else goes to the real `PureRustVerifier`. Property: an allow is only ever given to a
//! request whose server-side string-to-sign equals what the client signed, under that key; the
//! decision's resource is what the body names; no input panics.
#![no_main]

use std::cell::Cell;
use std::net::IpAddr;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use policy_core::wire::put_bytes;
use policy_core::{
    authorize, compile_bundle, extract_resource, string_to_sign, Api, CompiledBundle, HttpRequestView, PeerAddr,
    PureRustVerifier, ResourceRef, RsaPublicKey, SignatureVerifier,
};
use sha2::{Digest, Sha256};

static BUNDLE: &str = include_str!("../../tests/data/example-bundle.json");
/// 2024-05-01T12:00:00Z: most example client keys are valid, one has expired.
const NOW: i64 = 1_714_564_800;
const MARKER: &[u8] = b"aapkit-fuzz-honest-signature";

struct Fixture {
    bundle: CompiledBundle,
    client_keys: Vec<(String, Vec<u8>)>,
    keys: Vec<String>,
    versions: Vec<String>,
    secrets: Vec<String>,
}

fn strings(v: &serde_json::Value, list: &str, field: &str) -> Vec<String> {
    v[list].as_array().into_iter().flatten().filter_map(|x| x[field].as_str().map(str::to_owned)).collect()
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let bundle = compile_bundle(BUNDLE).unwrap_or_else(|e| panic!("example bundle: {e:?}"));
        let v: serde_json::Value = serde_json::from_str(BUNDLE).unwrap_or_default();
        let client_keys = v["ClientKeys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| {
                let id = k["ClientKeyId"].as_str()?.to_owned();
                let key = RsaPublicKey::from_pem(k["PublicKeyData"].as_str()?).ok()?;
                Some((id, key.spki_der().to_vec()))
            })
            .collect();
        let mut keys = strings(&v, "Keys", "KeyId");
        for k in v["Keys"].as_array().into_iter().flatten() {
            keys.extend(k["Aliases"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_owned)));
        }
        keys.push("alias/signer".into());
        let versions = v["Keys"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|k| k["KeyVersions"].as_array().cloned().unwrap_or_default())
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect();
        Fixture { bundle, client_keys, keys, versions, secrets: strings(&v, "Secrets", "SecretName") }
    })
}

/// The oracle verifier (see the module comment).
struct Oracle<'a> {
    signed: &'a str,
    key_spki: &'a [u8],
    accepted: Cell<bool>,
}

impl SignatureVerifier for Oracle<'_> {
    fn verify_pkcs1v15_sha256(&self, key: &RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool {
        if sig == MARKER {
            let ok = msg == self.signed.as_bytes() && key.spki_der() == self.key_spki;
            self.accepted.set(self.accepted.get() || ok);
            return ok;
        }
        PureRustVerifier.verify_pkcs1v15_sha256(key, msg, sig)
    }
}

#[derive(Arbitrary, Debug)]
enum Resource {
    Key(u8),
    Version(u8),
    Secret(u8),
    Raw(String),
    None,
}

#[derive(Arbitrary, Debug)]
enum Edit {
    /// Replace the value of the header at this index.
    Set(u8, String),
    Remove(u8),
    Add(String, String),
    /// Duplicate the header at this index (same or upper-cased name).
    Duplicate(u8, bool),
    UpperName(u8),
    /// Extra bytes appended to the body after signing.
    AppendBody(Vec<u8>),
    SetMethod(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    client_key: u8,
    api: u8,
    resource: Resource,
    /// Raw protobuf appended to the body before signing (more fields, repeated fields, garbage).
    extra: Vec<u8>,
    date_offset: i16,
    peer: [u8; 4],
    peer_v6: Option<[u8; 16]>,
    forwarded_for: Option<String>,
    honest: bool,
    edits: Vec<Edit>,
}

fn pick<T: Clone>(list: &[T], i: u8) -> Option<T> {
    (!list.is_empty()).then(|| list[usize::from(i) % list.len()].clone())
}

fuzz_target!(|input: Input| {
    let f = fixture();
    let api = Api::ALL[usize::from(input.api) % Api::ALL.len()];
    let (key_id, key_spki) = pick(&f.client_keys, input.client_key).unwrap_or_default();

    let mut body = Vec::new();
    match &input.resource {
        Resource::Key(i) => {
            let n = if matches!(api, Api::Decrypt | Api::AdvanceDecrypt) { 2 } else { 1 };
            put_bytes(&mut body, n, pick(&f.keys, *i).unwrap_or_default().as_bytes());
        }
        Resource::Version(i) => {
            let mut blob = vec![b'$', 0, 2];
            blob.extend_from_slice(pick(&f.versions, *i).unwrap_or_default().as_bytes());
            blob.extend_from_slice(&[7; 12 + 16 + 5]);
            put_bytes(&mut body, 1, &blob);
        }
        Resource::Secret(i) => put_bytes(&mut body, 1, pick(&f.secrets, *i).unwrap_or_default().as_bytes()),
        Resource::Raw(s) => put_bytes(&mut body, 1, s.as_bytes()),
        Resource::None => {}
    }
    body.extend_from_slice(&input.extra);

    let mut headers: Vec<(String, String)> = vec![
        ("accept".into(), "application/x-protobuf".into()),
        ("content-type".into(), "application/x-protobuf".into()),
        ("content-sha256".into(), hex_upper(&Sha256::digest(&body))),
        ("date".into(), policy_core::format_rfc1123(NOW + i64::from(input.date_offset))),
        ("x-kms-apiname".into(), api.name().into()),
        ("x-kms-apiversion".into(), "dkms-gcs-0.2".into()),
        ("x-kms-signaturemethod".into(), "RSA_PKCS1_SHA_256".into()),
        ("x-kms-acccesskeyid".into(), key_id),
    ];
    let mut method = String::from("POST");
    let signed = {
        let view: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        string_to_sign(&HttpRequestView { method: &method, headers: &view, body: &body })
    };
    let sig = if input.honest { MARKER.to_vec() } else { vec![0x42; 256] };
    headers.push(("authorization".into(), format!("Bearer {}", base64::engine::general_purpose::STANDARD.encode(sig))));

    for e in input.edits.iter().take(8) {
        let at = |i: &u8| usize::from(*i) % headers.len().max(1);
        match e {
            Edit::Set(i, v) if !headers.is_empty() => {
                let i = at(i);
                headers[i].1 = v.clone();
            }
            Edit::Remove(i) if !headers.is_empty() => {
                headers.remove(at(i));
            }
            Edit::Add(k, v) => headers.push((k.clone(), v.clone())),
            Edit::Duplicate(i, upper) if !headers.is_empty() => {
                let (k, v) = headers[at(i)].clone();
                headers.push((if *upper { k.to_ascii_uppercase() } else { k }, v));
            }
            Edit::UpperName(i) if !headers.is_empty() => {
                let i = at(i);
                headers[i].0 = headers[i].0.to_ascii_uppercase();
            }
            Edit::AppendBody(b) => body.extend_from_slice(b),
            Edit::SetMethod(m) => method = m.clone(),
            _ => {}
        }
    }

    let view: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let req = HttpRequestView { method: &method, headers: &view, body: &body };
    let ip = match input.peer_v6 {
        Some(b) => IpAddr::from(b),
        None => IpAddr::from(input.peer),
    };
    let peer = PeerAddr { ip, forwarded_for: input.forwarded_for.as_deref() };
    let oracle = Oracle { signed: &signed, key_spki: &key_spki, accepted: Cell::new(false) };
    let d = authorize(&f.bundle, &req, peer, NOW, &oracle);
    let _ = d.message();
    let _ = d.to_report();
    assert_eq!(d.allowed(), d.code().is_none(), "allowed iff no error code");
    if d.allowed() {
        assert!(oracle.accepted.get(), "allowed without the honest signature over the signed request");
        assert_eq!(string_to_sign(&req), signed, "allowed a request whose string-to-sign changed");
        assert!(d.aap().is_some() && d.policy().is_some(), "an allow names its AAP and policy");
        // The decision is about what the body names.
        let named = extract_resource(api, &body);
        assert!(named.is_ok(), "allowed a body that does not scan");
        if let Ok(Some(ResourceRef::KeyId(k) | ResourceRef::SecretName(k))) = named {
            assert!(
                d.resource().is_some_and(|r| r == k) || k.starts_with("alias/"),
                "decided on {:?}, body names {k}",
                d.resource()
            );
        }
    }
});

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}
