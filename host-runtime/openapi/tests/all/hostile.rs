//! Hostile input: arbitrary requests never panic, always get Alibaba's JSON error shape, and
//! change nothing.

use proptest::prelude::*;

use crate::harness::{encode, Harness, Reply, NOW};

fn header() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![
            Just("authorization".to_owned()),
            Just("x-acs-action".to_owned()),
            Just("x-acs-date".to_owned()),
            Just("content-type".to_owned()),
            "[a-z-]{1,12}",
        ],
        prop_oneof![
            Just("ACS3-HMAC-SHA256 Credential=LTAI,SignedHeaders=host,Signature=00".to_owned()),
            Just("application/x-www-form-urlencoded".to_owned()),
            "[ -~]{0,60}",
        ],
    )
}

fn param() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![
            Just("Action".to_owned()),
            Just("Signature".to_owned()),
            Just("SignatureMethod".to_owned()),
            Just("AccessKeyId".to_owned()),
            Just("Timestamp".to_owned()),
            "[A-Za-z]{1,10}",
        ],
        ".{0,40}",
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_requests_get_a_json_error_and_change_nothing(
        method in prop_oneof![Just("POST"), Just("GET"), Just("PUT")],
        path in prop_oneof![Just("/"), Just("/x"), Just("")],
        params in proptest::collection::vec(param(), 0..8),
        raw_query in "[ -~]{0,80}",
        headers in proptest::collection::vec(header(), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..120),
        use_raw in any::<bool>(),
    ) {
        let h = Harness::new();
        let before = h.store().generation().unwrap();
        let pairs: Vec<(&str, &str)> = params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let query = if use_raw { raw_query } else { encode(&pairs) };
        let req = aapkit_openapi::OpenApiRequest {
            method,
            path,
            query: &query,
            headers: &headers,
            body: &body,
            peer: std::net::Ipv4Addr::LOCALHOST.into(),
        };
        let reply = Reply::from(h.api.handle(&req, NOW, "REQ-1"));
        prop_assert!(reply.status >= 400, "{}", reply.json);
        prop_assert!(reply.json["Code"].is_string() && reply.json["Message"].is_string() && reply.json["HostId"].is_string());
        prop_assert_eq!(h.store().generation().unwrap(), before, "nothing was written");
    }
}
