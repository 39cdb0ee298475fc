//! Authentication: each refusal with its code and status, and none leaves a change behind.

use crate::harness::{Harness, NOW};

const RULE: &[(&str, &str)] = &[("Name", "lo"), ("Type", "Private"), ("SourcePrivateIp", "[\"127.0.0.1\"]")];

fn rule_count(h: &Harness) -> usize {
    h.store().list_network_rules().unwrap().len()
}

#[test]
fn both_schemes_authenticate_and_name_the_caller() {
    let h = Harness::new();
    let r = h.send(&h.v3("CreateNetworkRule", RULE));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.caller.as_deref(), Some(h.ak.as_str()));
    let r = h.send(&h.v1_form("DescribeNetworkRule", &[("Name", "lo")]));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["SourcePrivateIp"], "[\"127.0.0.1\"]");
    // The management event names the AccessKey.
    let events = h.store().query_events(&aapkit_store::EventQuery { limit: 100, ..Default::default() }).unwrap();
    assert!(events.iter().any(|e| e.actor == h.ak && e.operation == "CreateNetworkRule"), "{events:?}");
}

#[test]
fn a_tampered_v3_request_is_refused_and_changes_nothing() {
    let h = Harness::new();
    let mut r = h.v3("CreateNetworkRule", RULE);
    r.query = r.query.replace("lo", "lp");
    let reply = h.send(&r);
    assert_eq!((reply.status, reply.code().as_str()), (400, "SignatureDoesNotMatch"), "{}", reply.json);
    assert!(reply.json["Message"].as_str().unwrap().contains(':'));
    assert_eq!(rule_count(&h), 0);

    // A body that is not the one whose hash was signed.
    let mut r = h.v3_with(
        "CreateNetworkRule",
        &[("Name", "lo"), ("Type", "Private")],
        &[("SourcePrivateIp", "[\"10.0.0.1\"]")],
        NOW,
        &h.ak,
        &h.secret,
    );
    r.body = b"SourcePrivateIp=%5B%220.0.0.0%2F0%22%5D".to_vec();
    let reply = h.send(&r);
    assert_eq!(reply.code(), "SignatureDoesNotMatch", "{}", reply.json);
    assert_eq!(rule_count(&h), 0);
}

#[test]
fn a_tampered_v1_form_body_is_refused() {
    let h = Harness::new();
    let mut r = h.v1_form("CreateNetworkRule", RULE);
    r.body = String::from_utf8(r.body).unwrap().replace("127.0.0.1", "0.0.0.0%2F0").into_bytes();
    let reply = h.send(&r);
    assert_eq!((reply.status, reply.code().as_str()), (400, "SignatureDoesNotMatch"), "{}", reply.json);
    assert_eq!(rule_count(&h), 0);
}

#[test]
fn timestamps_outside_fifteen_minutes_are_refused_both_ways() {
    let h = Harness::new();
    for skew in [-16 * 60, 16 * 60] {
        let r = h.v3_with("CreateNetworkRule", RULE, &[], NOW + skew, &h.ak, &h.secret);
        let reply = h.send(&r);
        assert_eq!((reply.status, reply.code().as_str()), (400, "InvalidTimeStamp.Expired"), "{}", reply.json);
        let r = h.v1_with("CreateNetworkRule", &[], RULE, NOW + skew, &h.ak, &h.secret, "2016-01-20");
        assert_eq!(h.send(&r).code(), "InvalidTimeStamp.Expired");
    }
    // 14 minutes is inside the window.
    let r = h.v3_with("CreateNetworkRule", RULE, &[], NOW - 14 * 60, &h.ak, &h.secret);
    assert_eq!(h.send(&r).status, 200);
}

#[test]
fn a_replayed_nonce_is_refused_within_the_window() {
    let h = Harness::new();
    let first = h.v3("CreateNetworkRule", RULE);
    assert_eq!(h.send(&first).status, 200);
    h.store().delete_network_rule("lo").unwrap();
    let again = h.send(&first);
    assert_eq!((again.status, again.code().as_str()), (400, "SignatureNonceUsed"), "{}", again.json);
    assert_eq!(rule_count(&h), 0, "the replay did not recreate the rule");

    let v1 = h.v1_form("ListNetworkRules", &[]);
    assert_eq!(h.send(&v1).status, 200);
    assert_eq!(h.send(&v1).code(), "SignatureNonceUsed");
}

#[test]
fn unknown_and_disabled_access_keys_are_refused() {
    let h = Harness::new();
    let r = h.v3_with("CreateNetworkRule", RULE, &[], NOW, "LTAI00000000000000000000", &h.secret);
    let reply = h.send(&r);
    assert_eq!((reply.status, reply.code().as_str()), (404, "InvalidAccessKeyId.NotFound"), "{}", reply.json);

    h.store().set_access_key_enabled(&h.ak, false).unwrap();
    let reply = h.send(&h.v3("CreateNetworkRule", RULE));
    assert_eq!(reply.code(), "InvalidAccessKeyId.Inactive", "{}", reply.json);
    let reply = h.send(&h.v1_form("CreateNetworkRule", RULE));
    assert_eq!(reply.code(), "InvalidAccessKeyId.Inactive", "{}", reply.json);
    assert_eq!(rule_count(&h), 0);
}

#[test]
fn a_wrong_secret_is_a_signature_mismatch() {
    let h = Harness::new();
    let r = h.v1_with("CreateNetworkRule", &[], RULE, NOW, &h.ak, "not-the-secret", "2016-01-20");
    assert_eq!(h.send(&r).code(), "SignatureDoesNotMatch");
    assert_eq!(rule_count(&h), 0);
}

#[test]
fn wrong_version_unknown_action_and_missing_signature() {
    let h = Harness::new();
    let r = h.v1_with("CreateNetworkRule", &[], RULE, NOW, &h.ak, &h.secret, "2015-01-01");
    let reply = h.send(&r);
    assert_eq!((reply.status, reply.code().as_str()), (400, "InvalidVersion"), "{}", reply.json);
    assert_eq!(rule_count(&h), 0);

    let reply = h.send(&h.v3("CreateTeapot", &[]));
    assert_eq!((reply.status, reply.code().as_str()), (404, "InvalidAction.NotFound"), "{}", reply.json);

    let mut unsigned = h.v3("ListNetworkRules", &[]);
    unsigned.headers.retain(|(n, _)| n != "authorization");
    let reply = h.send(&unsigned);
    assert_eq!((reply.status, reply.code().as_str()), (400, "MissingParameter"), "{}", reply.json);
}

#[test]
fn required_headers_must_be_signed() {
    let h = Harness::new();
    let mut r = h.v3("ListNetworkRules", &[]);
    for (n, v) in &mut r.headers {
        if n == "authorization" {
            *v = v.replace("x-acs-action;", "");
        }
    }
    let reply = h.send(&r);
    assert_eq!(reply.code(), "IncompleteSignature", "{}", reply.json);
}

#[test]
fn only_post_and_get_on_the_root() {
    let h = Harness::new();
    let mut r = h.v3("ListNetworkRules", &[]);
    r.method = "DELETE".into();
    assert_eq!(h.send(&r).code(), "UnsupportedHTTPMethod");
}
