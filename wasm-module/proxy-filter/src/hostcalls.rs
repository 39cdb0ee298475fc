//! The hostcalls the filter makes, declared here so that every status is a value.
//!
//! The SDK's wrappers (`proxy_wasm::hostcalls::*`) `panic!` on any status they do not expect, and
//! their `Status` return type has no variant for codes such as UNIMPLEMENTED (12), so a host that
//! answers one would be undefined behaviour there. These wrappers return `Err(status)` instead and
//! the filter fails closed.

use std::ptr::{null, null_mut};

/// A `proxy_status_t` other than OK.
pub type Status = u32;
pub const NOT_FOUND: Status = 1;
pub const UNIMPLEMENTED: Status = 12;

pub const MAP_HTTP_REQUEST_HEADERS: u32 = 0;
pub const BUFFER_HTTP_REQUEST_BODY: u32 = 0;
pub const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;

pub const LOG_INFO: u32 = 2;
pub const LOG_WARN: u32 = 3;
pub const LOG_ERROR: u32 = 4;

mod ffi {
    #[link(wasm_import_module = "env")]
    extern "C" {
        pub fn proxy_log(level: u32, data: *const u8, size: usize) -> u32;
        pub fn proxy_get_current_time_nanoseconds(ret_time: *mut u64) -> u32;
        pub fn proxy_get_buffer_bytes(
            ty: u32,
            start: usize,
            max: usize,
            ret_data: *mut *mut u8,
            ret_size: *mut usize,
        ) -> u32;
        pub fn proxy_get_header_map_pairs(ty: u32, ret_data: *mut *mut u8, ret_size: *mut usize) -> u32;
        pub fn proxy_replace_header_map_value(
            ty: u32,
            key: *const u8,
            key_size: usize,
            value: *const u8,
            value_size: usize,
        ) -> u32;
        pub fn proxy_get_property(
            path: *const u8,
            path_size: usize,
            ret_data: *mut *mut u8,
            ret_size: *mut usize,
        ) -> u32;
        pub fn proxy_set_property(path: *const u8, path_size: usize, value: *const u8, value_size: usize) -> u32;
        #[allow(clippy::too_many_arguments)]
        pub fn proxy_send_local_response(
            status_code: u32,
            details: *const u8,
            details_size: usize,
            body: *const u8,
            body_size: usize,
            headers: *const u8,
            headers_size: usize,
            grpc_status: i32,
        ) -> u32;
        pub fn proxy_call_foreign_function(
            name: *const u8,
            name_size: usize,
            args: *const u8,
            args_size: usize,
            ret_data: *mut *mut u8,
            ret_size: *mut usize,
        ) -> u32;
    }
}

/// Takes ownership of a buffer the host allocated through `proxy_on_memory_allocate`.
///
/// # Safety
/// `data`/`size` must come from a hostcall that returned OK: the host allocated them with the
/// SDK's allocator (a boxed `[u8]` of exactly `size` bytes) and hands them over.
unsafe fn owned(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        return Vec::new();
    }
    // SAFETY: see the function contract; capacity equals the allocation size.
    unsafe { Vec::from_raw_parts(data, size, size) }
}

fn check(status: u32) -> Result<(), Status> {
    if status == 0 {
        Ok(())
    } else {
        Err(status)
    }
}

/// Logs; a failing log is ignored (there is nowhere else to report it).
pub fn log(level: u32, msg: &str) {
    // SAFETY: the pointer and length describe `msg`.
    let _ = unsafe { ffi::proxy_log(level, msg.as_ptr(), msg.len()) };
}

pub fn current_time_nanos() -> Result<u64, Status> {
    let mut t: u64 = 0;
    // SAFETY: `t` outlives the call.
    check(unsafe { ffi::proxy_get_current_time_nanoseconds(&mut t) })?;
    Ok(t)
}

/// A buffer's bytes; `Ok(None)` when the host has no such buffer.
pub fn get_buffer(ty: u32, start: usize, max: usize) -> Result<Option<Vec<u8>>, Status> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: the return slots outlive the call.
    match unsafe { ffi::proxy_get_buffer_bytes(ty, start, max, &mut data, &mut size) } {
        // SAFETY: OK hands over the allocation.
        0 => Ok(Some(unsafe { owned(data, size) })),
        NOT_FOUND => Ok(None),
        s => Err(s),
    }
}

/// The request header map as the host serialized it; [`HeaderMap::pairs`] reads it without
/// trusting the encoding, borrowing names and values instead of copying each one.
pub struct HeaderMap(Vec<u8>);

impl HeaderMap {
    /// The (name, value) pairs; `None` if the host's encoding is malformed.
    pub fn pairs(&self) -> Option<Vec<(&str, &str)>> {
        decode_map(&self.0)
    }
}

/// The request headers, as the host serialized them (decoded when they are read).
pub fn get_request_headers() -> Result<HeaderMap, Status> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: the return slots outlive the call.
    check(unsafe { ffi::proxy_get_header_map_pairs(MAP_HTTP_REQUEST_HEADERS, &mut data, &mut size) })?;
    // SAFETY: OK hands over the allocation.
    Ok(HeaderMap(unsafe { owned(data, size) }))
}

pub fn replace_request_header(name: &str, value: &str) -> Result<(), Status> {
    // SAFETY: pointers and lengths describe live strings.
    check(unsafe {
        ffi::proxy_replace_header_map_value(
            MAP_HTTP_REQUEST_HEADERS,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// A property by its serialized path (segments joined by NUL, as `b"source\0address"`);
/// `Ok(None)` when the host does not have it.
pub fn get_property(path: &[u8]) -> Result<Option<Vec<u8>>, Status> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: the path outlives the call; the return slots too.
    match unsafe { ffi::proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) } {
        // SAFETY: OK hands over the allocation.
        0 => Ok(Some(unsafe { owned(data, size) })),
        NOT_FOUND => Ok(None),
        s => Err(s),
    }
}

/// Sets a property (in Envoy: filter state `wasm.<path>`, kept from the client).
pub fn set_property(path: &str, value: &str) -> Result<(), Status> {
    // SAFETY: path and value outlive the call.
    check(unsafe { ffi::proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) })
}

pub fn send_local_response(status: u32, headers: &[(&str, &str)], body: &[u8]) -> Result<(), Status> {
    let map = encode_map(headers);
    // SAFETY: every pointer/length pair describes a live buffer.
    check(unsafe {
        ffi::proxy_send_local_response(status, null(), 0, body.as_ptr(), body.len(), map.as_ptr(), map.len(), -1)
    })
}

/// Calls a host foreign function; `Err(NOT_FOUND)` when the host does not offer it.
pub fn call_foreign_function(name: &str, args: &[u8]) -> Result<Vec<u8>, Status> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: name and arguments outlive the call; the return slots too.
    check(unsafe {
        ffi::proxy_call_foreign_function(name.as_ptr(), name.len(), args.as_ptr(), args.len(), &mut data, &mut size)
    })?;
    // SAFETY: OK hands over the allocation.
    Ok(unsafe { owned(data, size) })
}

/// The ABI's header map: u32 count, (key len, value len) pairs, then NUL-terminated keys/values.
fn encode_map(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// Reads the ABI map format, borrowing from `bytes`. The names and values region is checked as
/// UTF-8 in one pass (the NUL separators are UTF-8 too), then each piece is sliced from it.
fn decode_map(bytes: &[u8]) -> Option<Vec<(&str, &str)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let u32_at = |at: usize| -> Option<usize> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u32::from_le_bytes(b) as usize)
    };
    let count = u32_at(0)?;
    let table_end = count.checked_mul(8)?.checked_add(4)?;
    let strings = std::str::from_utf8(bytes.get(table_end..)?).ok()?;
    let mut pos = 0usize;
    let mut take = |len: usize| -> Option<&str> {
        let end = pos.checked_add(len)?;
        let s = strings.get(pos..end)?;
        if *strings.as_bytes().get(end)? != 0 {
            return None;
        }
        pos = end + 1;
        Some(s)
    };
    let mut pairs = Vec::with_capacity(count.min(256));
    for i in 0..count {
        let (klen, vlen) = (u32_at(4 + i * 8)?, u32_at(8 + i * 8)?);
        let k = take(klen)?;
        let v = take(vlen)?;
        pairs.push((k, v));
    }
    Some(pairs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn map_round_trip_and_truncation() {
        let enc = encode_map(&[("a", "1"), ("bb", "")]);
        assert_eq!(decode_map(&enc).unwrap(), vec![("a", "1"), ("bb", "")]);
        for cut in 1..enc.len() {
            assert!(decode_map(&enc[..cut]).is_none());
        }
    }
}
