//! TEMPORARY stand-in for `policy_core::{ErrorCode, blob}` until the core helper's work lands on
//! `main`. Same names and signatures, so the swap is a change of `use` lines; delete this file then.

#![allow(dead_code)]

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidApiName,
    InvalidParameter,
    MissingParameter,
    UnsupportedOperation,
    ForbiddenKeyNotFound,
    ForbiddenResourceNotFound,
    RejectedDisabled,
    RejectedPendingDeletion,
    RejectedPendingImport,
    InternalFailure,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidApiName => "InvalidApiName",
            ErrorCode::InvalidParameter => "InvalidParameter",
            ErrorCode::MissingParameter => "MissingParameter",
            ErrorCode::UnsupportedOperation => "UnsupportedOperation",
            ErrorCode::ForbiddenKeyNotFound => "Forbidden.KeyNotFound",
            ErrorCode::ForbiddenResourceNotFound => "Forbidden.ResourceNotFound",
            ErrorCode::RejectedDisabled => "Rejected.Disabled",
            ErrorCode::RejectedPendingDeletion => "Rejected.PendingDeletion",
            ErrorCode::RejectedPendingImport => "Rejected.PendingImport",
            ErrorCode::InternalFailure => "InternalFailure",
        }
    }
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidApiName
            | ErrorCode::InvalidParameter
            | ErrorCode::MissingParameter
            | ErrorCode::UnsupportedOperation => 400,
            ErrorCode::ForbiddenKeyNotFound | ErrorCode::ForbiddenResourceNotFound => 404,
            ErrorCode::RejectedDisabled | ErrorCode::RejectedPendingDeletion | ErrorCode::RejectedPendingImport => 409,
            ErrorCode::InternalFailure => 500,
        }
    }
}

pub mod blob {
    use core::fmt;

    pub const KEY_VERSION_ID_LEN: usize = 36;
    pub const IV_LEN: usize = 12;
    pub const TAG_LEN: usize = 16;
    const HEADER_LEN: usize = 3 + KEY_VERSION_ID_LEN + IV_LEN;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct SymmetricBlob<'a> {
        pub key_version_id: &'a str,
        pub iv: &'a [u8; IV_LEN],
        pub ciphertext_and_tag: &'a [u8],
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct BlobError;

    impl fmt::Display for BlobError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("malformed ciphertext blob")
        }
    }

    pub fn encode_symmetric(version_id: &[u8; KEY_VERSION_ID_LEN], iv: &[u8; IV_LEN], ct_and_tag: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + ct_and_tag.len());
        out.extend_from_slice(&[b'$', 0x00, 0x02]);
        out.extend_from_slice(version_id);
        out.extend_from_slice(iv);
        out.extend_from_slice(ct_and_tag);
        out
    }

    pub fn parse_symmetric(blob: &[u8]) -> Result<SymmetricBlob<'_>, BlobError> {
        if blob.len() < HEADER_LEN + TAG_LEN || blob.get(..3) != Some(&[b'$', 0x00, 0x02][..]) {
            return Err(BlobError);
        }
        let vid = blob.get(3..3 + KEY_VERSION_ID_LEN).ok_or(BlobError)?;
        let iv = blob.get(3 + KEY_VERSION_ID_LEN..HEADER_LEN).ok_or(BlobError)?;
        let ct = blob.get(HEADER_LEN..).ok_or(BlobError)?;
        if !vid.iter().all(u8::is_ascii_graphic) {
            return Err(BlobError);
        }
        Ok(SymmetricBlob {
            key_version_id: core::str::from_utf8(vid).map_err(|_| BlobError)?,
            iv: iv.try_into().map_err(|_| BlobError)?,
            ciphertext_and_tag: ct,
        })
    }
}
