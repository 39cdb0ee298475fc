//! The KMS endpoint's listener: HTTP in front of [`aapkit_openapi::OpenApi`]. It applies the
//! server's request limits (body deadline, budget, pre-authentication limit per address), runs
//! the call on the work pool (a management call may generate an RSA key pair), answers JSON in
//! Alibaba's shapes, and logs refusals with their detail (which the caller does not get).

use std::net::SocketAddr;
use std::sync::Arc;

use aapkit_openapi::{error_body, error_json, OpenApi, OpenApiError, OpenApiRequest};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::body::read_limited;
use super::limits::RequestLimits;
use super::pool::WorkClass;
use super::preauth::PreAuthLimiter;
use super::Door;

/// The OpenAPI's body limit: management parameters and a secret value in a form body.
pub const OPENAPI_MAX_BODY_BYTES: usize = 256 << 10;

pub struct OpenApiDoor {
    pub api: Arc<OpenApi>,
    pub limits: Arc<RequestLimits>,
    /// The pre-authentication limit per source address (shared with the instance listener).
    pub preauth: Option<Arc<PreAuthLimiter>>,
    /// Seconds since the epoch; injected so tests can move time.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

type Body = Full<Bytes>;

fn json_response(status: u16, body: Vec<u8>, request_id: &str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json;charset=utf-8"));
    if let Ok(v) = hyper::header::HeaderValue::from_str(request_id) {
        h.insert("x-acs-request-id", v);
    }
    resp
}

impl OpenApiDoor {
    fn refuse(&self, status: u16, code: &'static str, message: &str, request_id: &str) -> Response<Body> {
        let body = error_json(status, code, message, request_id, &self.api.instance().host_id);
        json_response(status, body, request_id)
    }

    async fn serve_inner(&self, peer: SocketAddr, req: Request<Incoming>, request_id: &str) -> (Response<Body>, bool) {
        if let Some(limiter) = &self.preauth {
            if !limiter.admit(peer.ip()) {
                return (
                    self.refuse(
                        429,
                        "Rejected.Throttling",
                        "Request was denied due to request throttling.",
                        request_id,
                    ),
                    true,
                );
            }
        }
        let (parts, body) = req.into_parts();
        let (headers, announced) = match super::body::collect_headers(&parts.headers, None) {
            Ok(collected) => collected,
            Err(name) => {
                let e = OpenApiError::invalid(name, "the header value is not printable ASCII");
                let body = error_body(&e, request_id, &self.api.instance().host_id);
                return (json_response(e.status(), body, request_id), false);
            }
        };
        let (body, _budget) = match read_limited(&self.limits, body, announced, OPENAPI_MAX_BODY_BYTES).await {
            Ok(read) => read,
            Err(refusal) => {
                let (status, code) = refusal.status_and_code();
                let mut resp = self.refuse(status, code, &refusal.message(), request_id);
                resp.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
                return (resp, false);
            }
        };
        let method = parts.method.as_str().to_owned();
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().unwrap_or_default().to_owned();
        // Key-pair generation (CreateClientKey, an RSA CreateKey) takes the heavy lane.
        let class = if aapkit_openapi::is_heavy(&query, &headers, &body) { WorkClass::Heavy } else { WorkClass::Light };
        let (api, now, id) = (self.api.clone(), (self.clock)(), request_id.to_owned());
        let handled = self
            .limits
            .pool
            .run(class, move || {
                let req =
                    OpenApiRequest { method: &method, path: &path, query: &query, headers: &headers, body: &body };
                api.handle(&req, now, &id)
            })
            .await;
        match handled {
            Ok(out) => {
                if let Some(code) = out.error_code {
                    eprintln!(
                        "aapkit: openapi {request_id} from {peer}: {} by {} refused: {code} ({})",
                        out.action.as_deref().unwrap_or("-"),
                        out.access_key_id.as_deref().unwrap_or("-"),
                        out.error_detail.as_deref().unwrap_or_default(),
                    );
                }
                let authenticated = out.access_key_id.is_some();
                (json_response(out.status, out.body, request_id), authenticated)
            }
            Err(e) => {
                let (status, code) = match e {
                    super::pool::PoolError::Full => (429, "Rejected.Throttling"),
                    super::pool::PoolError::Failed => (500, "InternalFailure"),
                };
                (self.refuse(status, code, &e.to_string(), request_id), false)
            }
        }
    }
}

impl Door for OpenApiDoor {
    async fn serve(self: Arc<Self>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
        let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
        let (resp, authenticated) = self.serve_inner(peer, req, &request_id).await;
        // A request that did not authenticate takes from its address's budget (as on the
        // instance listener): guessing signatures is throttled.
        if !authenticated && resp.status().as_u16() != 429 {
            if let Some(limiter) = &self.preauth {
                limiter.charge(peer.ip());
            }
        }
        resp
    }
}
