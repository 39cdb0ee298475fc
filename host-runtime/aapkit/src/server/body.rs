//! Reading a request body under the server's limits (issue 10 §2), for every door: the body
//! deadline, the buffered-bytes budget and a size cap. An oversize body is drained within bounds
//! so the client reads the error instead of meeting a reset it would retry. Each door renders a
//! [`BodyRefusal`] in its own wire format.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::limits::{BodyReservation, RequestLimits};

/// The error code of a request whose body did not arrive in time (no KMS code exists for it).
pub const REQUEST_TIMEOUT_CODE: &str = "RequestTimeout";
/// The error code of a body over the door's size cap.
pub const TOO_LARGE_CODE: &str = "RequestEntityTooLarge";

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRefusal {
    /// Over `max` bytes (announced or counted).
    TooLarge { max: usize },
    /// The buffered-bytes budget is spent: too many bodies at once.
    Busy,
    /// The connection failed mid-body.
    Unreadable,
    /// Not complete within the body deadline.
    TimedOut { secs: u64 },
}

impl BodyRefusal {
    /// HTTP status and error code.
    pub fn status_and_code(self) -> (u16, &'static str) {
        match self {
            BodyRefusal::TooLarge { .. } => (413, TOO_LARGE_CODE),
            BodyRefusal::Busy => (429, "Rejected.Throttling"),
            BodyRefusal::Unreadable => (400, "InvalidParameter"),
            BodyRefusal::TimedOut { .. } => (408, REQUEST_TIMEOUT_CODE),
        }
    }

    pub fn message(self) -> String {
        match self {
            BodyRefusal::TooLarge { max } => format!("The request body exceeds the limit of {max} bytes."),
            BodyRefusal::Busy => "The gateway is receiving too many request bodies at once; retry later.".into(),
            BodyRefusal::Unreadable => "The request body could not be read.".into(),
            BodyRefusal::TimedOut { secs } => format!("The request body did not arrive within {secs} s."),
        }
    }
}

/// Header (lower-case name, value) pairs, as the enforcer and the OpenAPI take them.
pub type HeaderPairs = Vec<(String, String)>;

/// A request's headers as (lower-case name, value) pairs, without those whose name starts with
/// `skip_prefix` (headers only the filter may set), and its announced `Content-Length`.
/// `Err(name)` names a header whose value is not printable ASCII (each door answers in its format).
pub fn collect_headers(
    headers: &hyper::HeaderMap,
    skip_prefix: Option<&str>,
) -> Result<(HeaderPairs, Option<u64>), String> {
    let announced =
        headers.get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let name = name.as_str(); // hyper keeps names in lower case
        if skip_prefix.is_some_and(|p| name.starts_with(p)) {
            continue;
        }
        match value.to_str() {
            Ok(v) => out.push((name.to_owned(), v.to_owned())),
            Err(_) => return Err(name.to_owned()),
        }
    }
    Ok((out, announced))
}

/// Reads the whole body (at most `max` bytes) with its reservation from the budget.
pub async fn read_limited(
    limits: &RequestLimits,
    mut body: Incoming,
    announced: Option<u64>,
    max: usize,
) -> Result<(Bytes, BodyReservation), BodyRefusal> {
    let deadline = tokio::time::Instant::now() + limits.body_timeout;
    let announced = match announced {
        Some(n) if n > max as u64 => {
            drain(&mut body, limits.oversize_drain_bytes, deadline).await;
            return Err(BodyRefusal::TooLarge { max });
        }
        Some(n) => usize::try_from(n).unwrap_or(max),
        None => max,
    };
    let Ok(budget) = limits.reserve_body(announced).await else {
        drain(&mut body, announced as u64, deadline).await;
        return Err(BodyRefusal::Busy);
    };
    let mut buf = Vec::with_capacity(announced.min(64 << 10));
    match tokio::time::timeout_at(deadline, collect_limited(&mut body, &mut buf, max)).await {
        Ok(Ok(())) => Ok((Bytes::from(buf), budget)),
        Ok(Err(BodyError::TooLarge)) => {
            drop(buf);
            drop(budget);
            drain(&mut body, limits.oversize_drain_bytes, deadline).await;
            Err(BodyRefusal::TooLarge { max })
        }
        Ok(Err(BodyError::Unreadable)) => Err(BodyRefusal::Unreadable),
        Err(_) => Err(BodyRefusal::TimedOut { secs: limits.body_timeout.as_secs() }),
    }
}

/// Why a body was not read whole.
enum BodyError {
    TooLarge,
    Unreadable,
}

/// Appends the body's data frames to `buf` up to `max` bytes.
async fn collect_limited(body: &mut Incoming, buf: &mut Vec<u8>, max: usize) -> Result<(), BodyError> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Unreadable)?;
        if let Ok(data) = frame.into_data() {
            let need = buf.len().saturating_add(data.len());
            if need > max {
                return Err(BodyError::TooLarge);
            }
            if need > buf.capacity() {
                // Grow by doubling but never past the limit (an unannounced length).
                let target = need.max(buf.capacity().saturating_mul(2)).min(max);
                buf.reserve_exact(target - buf.len());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(())
}

/// Reads and throws away the rest of a body, up to `limit` bytes or the deadline; true when the
/// body ended (the client can then read the answer instead of meeting a reset).
async fn drain(body: &mut Incoming, limit: u64, deadline: tokio::time::Instant) -> bool {
    let mut seen: u64 = 0;
    let read = async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                seen = seen.saturating_add(data.len() as u64);
                if seen > limit {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout_at(deadline, read).await.unwrap_or(false)
}
