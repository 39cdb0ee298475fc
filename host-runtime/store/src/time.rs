//! Timestamps: stored as Unix seconds, shown as ISO 8601 UTC `yyyy-MM-ddTHH:mm:ssZ` (Alibaba's form).

use ::time::format_description::well_known::Rfc3339;
use ::time::macros::format_description;
use ::time::OffsetDateTime;

use super::StoreError;

pub(crate) fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// `2023-08-31T09:14:38Z`.
pub fn format_time(t: i64) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from_unix_timestamp(t).ok().and_then(|d| d.format(&fmt).ok()).unwrap_or_else(|| t.to_string())
}

/// Parses an RFC 3339 timestamp (`2025-01-01T00:00:00Z`, offsets allowed) to Unix seconds.
pub fn parse_time(param: &'static str, s: &str) -> Result<i64, StoreError> {
    OffsetDateTime::parse(s.trim(), &Rfc3339)
        .map(|d| d.unix_timestamp())
        .map_err(|e| StoreError::invalid(param, s, format!("expected ISO 8601 UTC like 2025-01-01T00:00:00Z ({e})")))
}

/// Serializes seconds since the epoch as [`format_time`] does (serde `serialize_with`).
pub(crate) fn ser_time<S: serde::Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}
