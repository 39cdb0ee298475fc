//! The signed-request side of the Instance API: string-to-sign, request verification and the
//! full `authorize` pipeline (verify → resource → source address → decide).

mod authorize;
mod string_to_sign;
mod verify;

pub(crate) use authorize::source_ip;
pub use authorize::{authorize, PeerAddr};
pub use string_to_sign::{string_to_sign, HttpRequestView};
pub use verify::{verify_request, VerifiedRequest, API_VERSION, CONTENT_TYPE, SIGNATURE_METHOD};
