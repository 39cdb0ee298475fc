use aapkit_openapi::{InstanceInfo, OpenApi, OpenApiRequest, OpenApiResponse};
use aapkit_store::{MasterKeySource, Store};
use policy_core::openapi as sig;
use serde_json::Value;

pub const INSTANCE: &str = "kst-hzz00000000000000001";
pub const NOW: i64 = 1_780_000_000;

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub api: OpenApi,
    pub ak: String,
    pub secret: String,
    nonce: std::cell::Cell<u64>,
}

/// `YYYY-MM-DDThh:mm:ssZ` of `t`.
pub fn iso(t: i64) -> String {
    aapkit_store::format_time(t)
}

impl Harness {
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path(), &MasterKeySource::File).unwrap();
        let key = store.create_access_key("test admin").unwrap();
        let api = OpenApi::new(
            store,
            InstanceInfo {
                instance_id: INSTANCE.into(),
                instance_endpoint: "127.0.0.1:8443".into(),
                host_id: "kms.cn-hangzhou.aliyuncs.com".into(),
                ca_pem: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".into(),
                create_time: iso(NOW),
            },
        );
        Harness { dir, api, ak: key.info.access_key_id, secret: key.secret.to_string(), nonce: 0.into() }
    }

    /// A second handle on the same store (what the CLI would open).
    pub fn store(&self) -> Store {
        Store::open(self.dir.path(), &MasterKeySource::File).unwrap()
    }

    pub fn next_nonce(&self) -> String {
        self.nonce.set(self.nonce.get() + 1);
        format!("{:032x}", self.nonce.get())
    }

    /// An ACS3-HMAC-SHA256 request as the 3.3.1 SDK builds it: parameters in the query.
    pub fn v3(&self, action: &str, params: &[(&str, &str)]) -> Signed {
        self.v3_with(action, params, &[], NOW, &self.ak.clone(), &self.secret.clone())
    }

    pub fn v3_with(
        &self,
        action: &str,
        query: &[(&str, &str)],
        form: &[(&str, &str)],
        at: i64,
        ak: &str,
        secret: &str,
    ) -> Signed {
        self.v3_full(action, query, form, at, ak, secret, &[])
    }

    /// [`Harness::v3_with`] with `extra` headers, signed too (as the SDK signs every header).
    #[allow(clippy::too_many_arguments)]
    pub fn v3_full(
        &self,
        action: &str,
        query: &[(&str, &str)],
        form: &[(&str, &str)],
        at: i64,
        ak: &str,
        secret: &str,
        extra: &[(&str, &str)],
    ) -> Signed {
        let query_string = encode(query);
        let body = encode(form).into_bytes();
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), "127.0.0.1:8444".into()),
            ("x-acs-version".into(), "2016-01-20".into()),
            ("x-acs-action".into(), action.into()),
            ("x-acs-date".into(), iso(at)),
            ("x-acs-signature-nonce".into(), self.next_nonce()),
            ("accept".into(), "application/json".into()),
            ("x-acs-content-sha256".into(), sig::sha256_hex(&body)),
            ("x-acs-credentials-provider".into(), "static_ak".into()),
        ];
        if !form.is_empty() {
            headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
        }
        headers.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let mut names: Vec<String> = headers.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        let signed: Vec<&str> = names.iter().map(String::as_str).collect();
        let hv: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let canonical = sig::acs3_canonical_request("POST", "/", query, &hv, &signed, &sig::sha256_hex(&body)).unwrap();
        let sts = sig::acs3_string_to_sign("ACS3-HMAC-SHA256", &canonical);
        let signature = sig::sign_acs3_hmac_sha256(secret.as_bytes(), &sts);
        headers.push((
            "authorization".into(),
            format!("ACS3-HMAC-SHA256 Credential={ak},SignedHeaders={},Signature={signature}", signed.join(";")),
        ));
        Signed { method: "POST".into(), query: query_string, headers, body }
    }

    /// An RPC v1 HMAC-SHA1 request as Terraform sends it: business parameters in a form body.
    pub fn v1_form(&self, action: &str, form: &[(&str, &str)]) -> Signed {
        self.v1_with(action, &[], form, NOW, &self.ak.clone(), &self.secret.clone(), "2016-01-20")
    }

    #[allow(clippy::too_many_arguments)]
    pub fn v1_with(
        &self,
        action: &str,
        extra_query: &[(&str, &str)],
        form: &[(&str, &str)],
        at: i64,
        ak: &str,
        secret: &str,
        version: &str,
    ) -> Signed {
        let ts = iso(at);
        let nonce = self.next_nonce();
        let mut query: Vec<(&str, &str)> = vec![
            ("Action", action),
            ("Format", "json"),
            ("Version", version),
            ("Timestamp", &ts),
            ("SignatureNonce", &nonce),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("AccessKeyId", ak),
        ];
        query.extend_from_slice(extra_query);
        let mut all = query.clone();
        all.extend_from_slice(form);
        let sts = sig::rpc_v1_string_to_sign("POST", &all);
        let signature = sig::sign_rpc_v1_hmac_sha1(secret.as_bytes(), &sts);
        query.push(("Signature", &signature));
        let mut headers = vec![("host".to_owned(), "127.0.0.1:8444".to_owned())];
        if !form.is_empty() {
            headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
        }
        Signed { method: "POST".into(), query: encode(&query), headers, body: encode(form).into_bytes() }
    }

    pub fn send(&self, r: &Signed) -> Reply {
        self.send_at(r, NOW)
    }

    pub fn send_at(&self, r: &Signed, now: i64) -> Reply {
        let req = OpenApiRequest {
            method: &r.method,
            path: "/",
            query: &r.query,
            headers: &r.headers,
            body: &r.body,
            peer: std::net::Ipv4Addr::LOCALHOST.into(),
        };
        Reply::from(self.api.handle(&req, now, "REQ-1"))
    }

    /// Sends an ACS3 call and expects success.
    pub fn ok(&self, action: &str, params: &[(&str, &str)]) -> Value {
        let r = self.send(&self.v3(action, params));
        assert_eq!(r.status, 200, "{action}: {}", r.json);
        r.json
    }

    /// Sends an ACS3 call and expects a failure; its (status, code, message).
    pub fn err(&self, action: &str, params: &[(&str, &str)]) -> (u16, String, String) {
        let r = self.send(&self.v3(action, params));
        assert_ne!(r.status, 200, "{action} should fail: {}", r.json);
        (r.status, r.code(), r.json["Message"].as_str().unwrap_or_default().to_owned())
    }
}

#[derive(Clone)]
pub struct Signed {
    pub method: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub struct Reply {
    pub status: u16,
    pub json: Value,
    pub caller: Option<String>,
}

impl From<OpenApiResponse> for Reply {
    fn from(r: OpenApiResponse) -> Reply {
        let json: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(json["RequestId"].is_string(), "every body has RequestId: {json}");
        Reply { status: r.status, json, caller: r.access_key_id }
    }
}

impl Reply {
    pub fn code(&self) -> String {
        self.json["Code"].as_str().unwrap_or_default().to_owned()
    }
}

/// Form/query encoding as Python's urlencode does it (space as `+`).
pub fn encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", sig::percent_encode(n), sig::percent_encode(v).replace("%20", "+")))
        .collect::<Vec<_>>()
        .join("&")
}
