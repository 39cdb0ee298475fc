//! verify → extract the resource → resolve the source address → decide.

use std::net::IpAddr;

use super::string_to_sign::HttpRequestView;
use super::verify::verify_request;
use crate::compiled::ipset::IpSet;
use crate::compiled::CompiledBundle;
use crate::crypto::SignatureVerifier;
use crate::decide::{decide_for_key, AccessRequest, Decision, DenyReason};
use crate::proto_scan::{extract_resource_with_header, ResourceRef, MIGRATION_KEY_VERSION_HEADER};
use crate::time::UnixTime;

/// The TCP peer of a request and the `X-Forwarded-For` it carried (all values joined by `,`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr<'a> {
    pub ip: IpAddr,
    pub forwarded_for: Option<&'a str>,
}

fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    // `[v6]:port` or `v4:port`.
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split_once(']').and_then(|(a, _)| a.parse().ok());
    }
    entry.rsplit_once(':').and_then(|(a, p)| (p.bytes().all(|c| c.is_ascii_digit())).then(|| a.parse().ok())?)
}

/// The caller's address: the peer, unless the peer is a trusted proxy; then the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy (or the left-most entry when all are).
pub(crate) fn source_ip(trusted: Option<&IpSet>, peer: PeerAddr<'_>) -> Result<IpAddr, ()> {
    let (Some(trusted), Some(xff)) = (trusted, peer.forwarded_for.map(str::trim)) else { return Ok(peer.ip) };
    if xff.is_empty() || !trusted.contains(peer.ip) {
        return Ok(peer.ip);
    }
    let mut last = peer.ip;
    for part in xff.rsplit(',') {
        let ip = parse_forwarded(part.trim()).ok_or(())?;
        if !trusted.contains(ip) {
            return Ok(ip);
        }
        last = ip;
    }
    Ok(last)
}

/// The whole request path: signature, resource, source address, policy. Every failure is a
/// deny decision carrying its error code; nothing panics.
pub fn authorize<'a>(
    b: &'a CompiledBundle,
    req: &HttpRequestView<'a>,
    peer: PeerAddr<'a>,
    now: UnixTime,
    verifier: &dyn SignatureVerifier,
) -> Decision<'a> {
    let v = match verify_request(b, req, now, verifier) {
        Ok(v) => v,
        Err(reason) => {
            let mut d = Decision::deny(reason);
            // Outside its validity window, but the signature verified: the caller is known.
            if let DenyReason::ClientKeyExpired { id, .. } | DenyReason::ClientKeyNotYetValid { id, .. } = reason {
                d.client_key = Some(id);
            }
            return d;
        }
    };
    let fail = |reason| {
        let mut d = Decision::deny(reason);
        d.client_key = Some(v.client_key_id);
        d.api = Some(v.api);
        d
    };
    let Some(gw) = b.gateway.as_ref() else { return fail(DenyReason::NoGatewayScope) };
    // A shared policy is matched only on the KMS endpoint: the Instance API never runs in scope `shared`.
    if crate::scope::is_shared_scope(&gw.scope) {
        return fail(DenyReason::InstanceApiInSharedScope);
    }
    let mut version = None;
    // Decrypt's older form names its key version in a signed header; the decision is made on it.
    let header_version = req.header(MIGRATION_KEY_VERSION_HEADER);
    let resource = match extract_resource_with_header(v.api, req.body, header_version) {
        Ok(None) => None,
        Ok(Some(ResourceRef::KeyId(k) | ResourceRef::SecretName(k))) => Some(k),
        Ok(Some(ResourceRef::KeyVersionId(ver))) => match b.key_by_version(ver) {
            Some(k) => {
                version = Some(ver);
                Some(k.id)
            }
            None => return fail(DenyReason::KeyVersionNotFound(ver)),
        },
        Err(e) => return fail(DenyReason::MalformedBody(e)),
    };
    let Ok(source_ip) = source_ip(Some(&gw.trusted), peer) else { return fail(DenyReason::BadForwardedFor) };
    let r = AccessRequest { client_key_id: v.client_key_id, api: v.api, resource, source_ip, scope: &gw.scope };
    let mut d = decide_for_key(b, v.key, &r, now);
    d.key_version = version;
    d
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for() {
        let trusted = IpSet::from_cidrs(&["10.0.0.0/8".parse().unwrap()]);
        let t = Some(&trusted);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let peer = |p: &str, x: Option<&'static str>| PeerAddr { ip: ip(p), forwarded_for: x };
        assert_eq!(source_ip(t, peer("10.0.0.1", None)), Ok(ip("10.0.0.1")));
        assert_eq!(source_ip(t, peer("192.168.0.1", Some("1.2.3.4"))), Ok(ip("192.168.0.1")));
        assert_eq!(source_ip(t, peer("10.0.0.1", Some("1.2.3.4, 172.16.0.9, 10.0.0.2"))), Ok(ip("172.16.0.9")));
        assert_eq!(source_ip(t, peer("10.0.0.1", Some("10.0.0.3,10.0.0.2"))), Ok(ip("10.0.0.3")));
        assert_eq!(source_ip(t, peer("10.0.0.1", Some("[fd00::1]:443"))), Ok(ip("fd00::1")));
        assert_eq!(source_ip(t, peer("10.0.0.1", Some("172.16.0.9:8080"))), Ok(ip("172.16.0.9")));
        assert_eq!(source_ip(t, peer("10.0.0.1", Some("garbage"))), Err(()));
        assert_eq!(source_ip(t, peer("10.0.0.1", Some(""))), Ok(ip("10.0.0.1")));
        assert_eq!(source_ip(None, peer("10.0.0.1", Some("1.2.3.4"))), Ok(ip("10.0.0.1")));
    }
}
