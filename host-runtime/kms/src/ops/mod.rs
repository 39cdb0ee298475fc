//! The operations, one file per family. Each is a method of `InstanceApi` taking the decoded
//! request and returning the response without its request id.

mod cipher;
mod datakey;
mod other;
mod sign;

pub(crate) use cipher::{Sealed, ALG_AES_GCM};
