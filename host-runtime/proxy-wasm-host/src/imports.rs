//! The Proxy-Wasm ABI 0.2.1 host functions (`env.proxy_*`).
//!
//! Each returns a `proxy_status_t`; results go through guest pointers. A bad pointer or a malformed
//! argument is a status for that call (the guest decides what to do with it); only a trap inside
//! the guest's own allocator propagates as a trap. Functions this host does not offer (shared
//! data and queues, HTTP/gRPC callouts, `proxy_get_status`) return UNIMPLEMENTED; the README has
//! the full table.

use std::sync::atomic::Ordering;

use wasmtime::{Caller, Linker};

use crate::abi::{self, buffer, map, status, stream, LogLevel};
use crate::config::Hostcall;
use crate::plugin_config::PluginConfig;
use crate::state::{HostState, LocalResponse, RequestState, MAX_CAPTURED_LINES};

type C<'a> = Caller<'a, HostState>;
type R = wasmtime::Result<i32>;

/// Adds every ABI 0.2.1 host function to the linker.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    const ENV: &str = "env";
    linker.func_wrap(ENV, "proxy_log", proxy_log)?;
    linker.func_wrap(ENV, "proxy_get_log_level", proxy_get_log_level)?;
    linker.func_wrap(ENV, "proxy_get_current_time_nanoseconds", proxy_get_current_time_nanoseconds)?;
    linker.func_wrap(ENV, "proxy_set_tick_period_milliseconds", |_: C<'_>, _period: i32| -> R { Ok(status::OK) })?;
    linker.func_wrap(ENV, "proxy_get_buffer_bytes", proxy_get_buffer_bytes)?;
    linker.func_wrap(ENV, "proxy_set_buffer_bytes", proxy_set_buffer_bytes)?;
    linker.func_wrap(ENV, "proxy_get_header_map_pairs", proxy_get_header_map_pairs)?;
    linker.func_wrap(ENV, "proxy_set_header_map_pairs", proxy_set_header_map_pairs)?;
    linker.func_wrap(ENV, "proxy_get_header_map_value", proxy_get_header_map_value)?;
    linker.func_wrap(ENV, "proxy_add_header_map_value", proxy_add_header_map_value)?;
    linker.func_wrap(ENV, "proxy_replace_header_map_value", proxy_replace_header_map_value)?;
    linker.func_wrap(ENV, "proxy_remove_header_map_value", proxy_remove_header_map_value)?;
    linker.func_wrap(ENV, "proxy_get_property", proxy_get_property)?;
    linker.func_wrap(ENV, "proxy_send_local_response", proxy_send_local_response)?;
    linker.func_wrap(ENV, "proxy_continue_stream", |mut c: C<'_>, ty: i32| -> R {
        Ok(with_request(&mut c, |req| {
            if ty == stream::HTTP_REQUEST {
                req.continued = true;
            }
            status::OK
        }))
    })?;
    linker.func_wrap(ENV, "proxy_close_stream", |mut c: C<'_>, ty: i32| -> R {
        Ok(with_request(&mut c, |req| {
            if ty == stream::HTTP_REQUEST {
                req.closed = true;
            }
            status::OK
        }))
    })?;
    linker.func_wrap(ENV, "proxy_call_foreign_function", proxy_call_foreign_function)?;
    linker.func_wrap(ENV, "proxy_set_effective_context", |_: C<'_>, _ctx: i32| -> R { Ok(status::OK) })?;
    linker.func_wrap(ENV, "proxy_done", |_: C<'_>| -> R { Ok(status::OK) })?;

    // Metrics: accepted and dropped (the embedder keeps its own counters).
    linker.func_wrap(
        ENV,
        "proxy_define_metric",
        |mut c: C<'_>, _ty: i32, _name: i32, _len: i32, ret_id: i32| -> R {
            let id = c.data().next_metric_id;
            c.data_mut().next_metric_id = id.wrapping_add(1);
            Ok(match write_u32(&mut c, ret_id, id) {
                Ok(()) => status::OK,
                Err(s) => s,
            })
        },
    )?;
    linker.func_wrap(ENV, "proxy_increment_metric", |_: C<'_>, _id: i32, _by: i64| -> R { Ok(status::OK) })?;
    linker.func_wrap(ENV, "proxy_record_metric", |_: C<'_>, _id: i32, _v: i64| -> R { Ok(status::OK) })?;
    linker.func_wrap(ENV, "proxy_get_metric", |mut c: C<'_>, _id: i32, ret: i32| -> R {
        Ok(match write_bytes(&mut c, ret, &0u64.to_le_bytes()) {
            Ok(()) => status::OK,
            Err(s) => s,
        })
    })?;

    linker.func_wrap(ENV, "proxy_set_property", proxy_set_property)?;

    // Not offered by this host.
    linker.func_wrap(ENV, "proxy_get_shared_data", |_: C<'_>, _: i32, _: i32, _: i32, _: i32, _: i32| -> R {
        Ok(status::UNIMPLEMENTED)
    })?;
    linker.func_wrap(ENV, "proxy_set_shared_data", |_: C<'_>, _: i32, _: i32, _: i32, _: i32, _: i32| -> R {
        Ok(status::UNIMPLEMENTED)
    })?;
    linker.func_wrap(ENV, "proxy_register_shared_queue", |_: C<'_>, _: i32, _: i32, _: i32| -> R {
        Ok(status::UNIMPLEMENTED)
    })?;
    linker.func_wrap(ENV, "proxy_resolve_shared_queue", |_: C<'_>, _: i32, _: i32, _: i32, _: i32, _: i32| -> R {
        Ok(status::UNIMPLEMENTED)
    })?;
    linker.func_wrap(ENV, "proxy_dequeue_shared_queue", |_: C<'_>, _: i32, _: i32, _: i32| -> R {
        Ok(status::UNIMPLEMENTED)
    })?;
    linker.func_wrap(ENV, "proxy_enqueue_shared_queue", |_: C<'_>, _: i32, _: i32, _: i32| -> R {
        Ok(status::UNIMPLEMENTED)
    })?;
    linker.func_wrap(
        ENV,
        "proxy_http_call",
        |_: C<'_>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| -> R {
            Ok(status::UNIMPLEMENTED)
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_grpc_call",
        |_: C<'_>,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32|
         -> R { Ok(status::UNIMPLEMENTED) },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_grpc_stream",
        |_: C<'_>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| -> R {
            Ok(status::UNIMPLEMENTED)
        },
    )?;
    linker.func_wrap(ENV, "proxy_grpc_send", |_: C<'_>, _: i32, _: i32, _: i32, _: i32| -> R {
        Ok(status::UNIMPLEMENTED)
    })?;
    linker.func_wrap(ENV, "proxy_grpc_cancel", |_: C<'_>, _: i32| -> R { Ok(status::UNIMPLEMENTED) })?;
    linker.func_wrap(ENV, "proxy_grpc_close", |_: C<'_>, _: i32| -> R { Ok(status::UNIMPLEMENTED) })?;
    linker.func_wrap(ENV, "proxy_get_status", |_: C<'_>, _: i32, _: i32, _: i32| -> R { Ok(status::UNIMPLEMENTED) })?;
    Ok(())
}

// ---- guest memory helpers -------------------------------------------------------------------

fn guest_range(ptr: i32, len: i32) -> Option<std::ops::Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start.checked_add(len as u32 as usize)?;
    Some(start..end)
}

/// Copies `len` bytes out of guest memory.
pub(crate) fn read_bytes(c: &mut C<'_>, ptr: i32, len: i32) -> Result<Vec<u8>, i32> {
    let memory = c.data().memory.ok_or(status::INTERNAL_FAILURE)?;
    let range = guest_range(ptr, len).ok_or(status::INVALID_MEMORY_ACCESS)?;
    memory.data(&*c).get(range).map(<[u8]>::to_vec).ok_or(status::INVALID_MEMORY_ACCESS)
}

/// A UTF-8 string in guest memory, borrowed.
fn guest_str(mem: &[u8], ptr: i32, len: i32) -> Result<&str, i32> {
    let bytes = guest_range(ptr, len).and_then(|r| mem.get(r)).ok_or(status::INVALID_MEMORY_ACCESS)?;
    std::str::from_utf8(bytes).map_err(|_| status::BAD_ARGUMENT)
}

fn read_string(c: &mut C<'_>, ptr: i32, len: i32) -> Result<String, i32> {
    String::from_utf8(read_bytes(c, ptr, len)?).map_err(|_| status::BAD_ARGUMENT)
}

fn write_bytes(c: &mut C<'_>, ptr: i32, bytes: &[u8]) -> Result<(), i32> {
    let memory = c.data().memory.ok_or(status::INTERNAL_FAILURE)?;
    let range = guest_range(ptr, i32::try_from(bytes.len()).map_err(|_| status::BAD_ARGUMENT)?)
        .ok_or(status::INVALID_MEMORY_ACCESS)?;
    let dst = memory.data_mut(&mut *c).get_mut(range).ok_or(status::INVALID_MEMORY_ACCESS)?;
    dst.copy_from_slice(bytes);
    Ok(())
}

fn write_u32(c: &mut C<'_>, ptr: i32, v: u32) -> Result<(), i32> {
    write_bytes(c, ptr, &v.to_le_bytes())
}

/// Hands `data` to the guest: allocates with the guest's allocator, copies, and writes the pointer
/// and length through `ret_ptr`/`ret_len`. A trap in the allocator is a trap of the call.
fn return_bytes(c: &mut C<'_>, data: &[u8], ret_ptr: i32, ret_len: i32) -> R {
    return_filled(c, data.len(), ret_ptr, ret_len, |_, dst| {
        // `dst` has the length asked for.
        dst.copy_from_slice(data);
        true
    })
}

/// Hands the guest `len` bytes that `fill` writes straight into its memory, from the host's
/// state, with no copy on the host: allocates with the guest's allocator, and writes the pointer
/// and length through `ret_ptr`/`ret_len`. The guest's allocator is guest code, which may have
/// changed the state meanwhile: `fill` answers false when what it would write no longer has
/// `len` bytes, and the call fails (INTERNAL_FAILURE) rather than hand over half a value. A trap
/// in the allocator is a trap of the call.
fn return_filled(
    c: &mut C<'_>,
    len: usize,
    ret_ptr: i32,
    ret_len: i32,
    fill: impl FnOnce(&HostState, &mut [u8]) -> bool,
) -> R {
    let Ok(len) = i32::try_from(len) else {
        return Ok(status::BAD_ARGUMENT);
    };
    // Borrowed out of the store for the call and put back (cloning a TypedFunc costs a type
    // registry round trip on every hostcall).
    let Some(alloc) = c.data_mut().alloc.take() else {
        return Ok(status::INTERNAL_FAILURE);
    };
    let ptr = alloc.call(&mut *c, len);
    c.data_mut().alloc = Some(alloc);
    let ptr = ptr?;
    if ptr == 0 && len != 0 {
        return Ok(status::INTERNAL_FAILURE);
    }
    let Some(memory) = c.data().memory else {
        return Ok(status::INTERNAL_FAILURE);
    };
    let (mem, state) = memory.data_and_store_mut(&mut *c);
    let Some(dst) = guest_range(ptr, len).and_then(|r| mem.get_mut(r)) else {
        return Ok(status::INVALID_MEMORY_ACCESS);
    };
    if !fill(state, dst) {
        return Ok(status::INTERNAL_FAILURE);
    }
    let written = write_u32(c, ret_ptr, ptr as u32).and_then(|()| write_u32(c, ret_len, len as u32));
    Ok(match written {
        Ok(()) => status::OK,
        Err(s) => s,
    })
}

/// Runs `f` on the current request, or answers NOT_FOUND outside a request.
fn with_request(c: &mut C<'_>, f: impl FnOnce(&mut RequestState) -> i32) -> i32 {
    match c.data_mut().request.as_mut() {
        Some(req) => f(req),
        None => status::NOT_FOUND,
    }
}

/// The test hook: a hostcall forced to answer a given status.
fn injected(c: &C<'_>, call: Hostcall) -> Option<i32> {
    c.data().shared.fault(call)
}

// ---- the host functions ---------------------------------------------------------------------

fn proxy_log(mut c: C<'_>, level: i32, ptr: i32, len: i32) -> R {
    // A log line is capped so a guest cannot make the host copy gigabytes.
    const MAX_LOG: i32 = 16 * 1024;
    let msg = match read_bytes(&mut c, ptr, len.clamp(0, MAX_LOG)) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(s) => return Ok(s),
    };
    let level = LogLevel::from_abi(level);
    if let Some(sink) = &c.data().shared.config.log_sink {
        sink(level, &msg);
    }
    if let Some(logs) = c.data_mut().captured_logs.as_mut().filter(|l| l.len() < MAX_CAPTURED_LINES) {
        logs.push((level, msg));
    }
    Ok(status::OK)
}

fn proxy_get_log_level(mut c: C<'_>, ret: i32) -> R {
    let level = c.data().shared.config.log_level as u32;
    Ok(match write_u32(&mut c, ret, level) {
        Ok(()) => status::OK,
        Err(s) => s,
    })
}

fn proxy_get_current_time_nanoseconds(mut c: C<'_>, ret: i32) -> R {
    if let Some(s) = injected(&c, Hostcall::GetCurrentTime) {
        return Ok(s);
    }
    let now = now_nanos(c.data());
    Ok(match write_bytes(&mut c, ret, &now.to_le_bytes()) {
        Ok(()) => status::OK,
        Err(s) => s,
    })
}

/// The request's fixed time, else the configured clock, else the system clock.
pub(crate) fn now_nanos(state: &HostState) -> u64 {
    if let Some(now) = state.request.as_ref().and_then(|r| r.now_nanos) {
        return now;
    }
    if let Some(clock) = &state.shared.config.clock {
        return clock();
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn proxy_get_buffer_bytes(mut c: C<'_>, ty: i32, start: i32, max: i32, ret_ptr: i32, ret_len: i32) -> R {
    if let Some(s) = injected(&c, Hostcall::GetBufferBytes) {
        return Ok(s);
    }
    let start = start as u32 as usize;
    // A start past the end is a bad argument; an end past it is cut.
    let len = match Buffer::of(c.data(), ty) {
        Ok(buffer) if start <= buffer.len() => start.saturating_add(max as u32 as usize).min(buffer.len()) - start,
        Ok(_) => return Ok(status::BAD_ARGUMENT),
        Err(s) => return Ok(s),
    };
    // Written straight into guest memory, from the buffer as it is once the guest has allocated.
    return_filled(&mut c, len, ret_ptr, ret_len, |state, dst| {
        Buffer::of(state, ty).is_ok_and(|buffer| buffer.copy_range_into(start, dst))
    })
}

/// A buffer the guest can read with `proxy_get_buffer_bytes`.
enum Buffer<'a> {
    Bytes(&'a [u8]),
    /// The plugin configuration, which may be in parts.
    Config(&'a PluginConfig),
}

impl<'a> Buffer<'a> {
    fn of(state: &'a HostState, ty: i32) -> Result<Buffer<'a>, i32> {
        match ty {
            buffer::PLUGIN_CONFIGURATION => state.plugin_config.as_ref().map(Buffer::Config).ok_or(status::NOT_FOUND),
            buffer::VM_CONFIGURATION if state.in_vm_start => Ok(Buffer::Bytes(&[])),
            buffer::HTTP_REQUEST_BODY => {
                state.request.as_ref().map(|r| Buffer::Bytes(&r.body)).ok_or(status::NOT_FOUND)
            }
            // Only for host-initiated foreign-function callbacks, which this host never makes.
            buffer::FOREIGN_FUNCTION_ARGUMENTS => Err(status::NOT_FOUND),
            _ => Err(status::NOT_FOUND),
        }
    }

    fn len(&self) -> usize {
        match self {
            Buffer::Bytes(b) => b.len(),
            Buffer::Config(c) => c.len(),
        }
    }

    /// Copies `start..start + dst.len()`; false when that range is no longer inside the buffer.
    fn copy_range_into(&self, start: usize, dst: &mut [u8]) -> bool {
        match self {
            Buffer::Bytes(b) => match b.get(start..start.saturating_add(dst.len())) {
                Some(src) => {
                    dst.copy_from_slice(src);
                    true
                }
                None => false,
            },
            Buffer::Config(c) => c.copy_range_into(start, dst),
        }
    }
}

fn proxy_set_buffer_bytes(mut c: C<'_>, ty: i32, start: i32, size: i32, ptr: i32, len: i32) -> R {
    if ty != buffer::HTTP_REQUEST_BODY {
        return Ok(status::UNIMPLEMENTED);
    }
    let data = match read_bytes(&mut c, ptr, len) {
        Ok(d) => d,
        Err(s) => return Ok(s),
    };
    Ok(with_request(&mut c, |req| {
        let start = start as u32 as usize;
        let end = start.saturating_add(size as u32 as usize).min(req.body.len());
        if start > req.body.len() {
            return status::BAD_ARGUMENT;
        }
        req.body.splice(start..end, data);
        req.body_modified = true;
        status::OK
    }))
}

fn proxy_get_header_map_pairs(mut c: C<'_>, ty: i32, ret_ptr: i32, ret_len: i32) -> R {
    if let Some(s) = injected(&c, Hostcall::GetHeaderMapPairs) {
        return Ok(s);
    }
    let data = match (&c.data().request, ty) {
        // The request headers (every request reads them): written in place.
        (Some(req), map::HTTP_REQUEST_HEADERS) => {
            let len = abi::encoded_pairs_len(header_pairs(req));
            return return_filled(&mut c, len, ret_ptr, ret_len, |state, dst| {
                state.request.as_ref().is_some_and(|req| abi::write_pairs(dst, header_pairs(req)))
            });
        }
        (Some(req), map::HTTP_REQUEST_TRAILERS) => abi::encode_map(&req.trailers),
        // Response maps are empty on this path.
        (Some(_), 2..=7) => abi::encode_map::<&str, &str>(&[]),
        (Some(_), _) => return Ok(status::BAD_ARGUMENT),
        (None, _) => return Ok(status::NOT_FOUND),
    };
    return_bytes(&mut c, &data, ret_ptr, ret_len)
}

fn header_pairs(req: &RequestState) -> impl Iterator<Item = (&[u8], &[u8])> + Clone + '_ {
    req.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()))
}

fn proxy_set_header_map_pairs(mut c: C<'_>, ty: i32, ptr: i32, len: i32) -> R {
    if ty != map::HTTP_REQUEST_HEADERS {
        return Ok(status::BAD_ARGUMENT);
    }
    let pairs = match read_bytes(&mut c, ptr, len).map(|b| abi::decode_map(&b)) {
        Ok(Ok(p)) => p,
        Ok(Err(_)) => return Ok(status::BAD_ARGUMENT),
        Err(s) => return Ok(s),
    };
    Ok(with_request(&mut c, |req| {
        req.headers.clear();
        for (k, v) in &pairs {
            req.headers.push(k, v);
            req.touch(&k.to_ascii_lowercase());
        }
        status::OK
    }))
}

fn proxy_get_header_map_value(mut c: C<'_>, ty: i32, kptr: i32, klen: i32, ret_ptr: i32, ret_len: i32) -> R {
    if let Some(s) = injected(&c, Hostcall::GetHeaderMapValue) {
        return Ok(s);
    }
    if ty != map::HTTP_REQUEST_HEADERS {
        return Ok(status::NOT_FOUND);
    }
    let key = match read_string(&mut c, kptr, klen) {
        Ok(k) => k.to_ascii_lowercase(),
        Err(s) => return Ok(s),
    };
    let value = match &c.data().request {
        Some(req) => match req.headers.get(&key) {
            Some(v) => v.to_owned(),
            None => return Ok(status::NOT_FOUND),
        },
        None => return Ok(status::NOT_FOUND),
    };
    return_bytes(&mut c, value.as_bytes(), ret_ptr, ret_len)
}

fn header_edit(mut c: C<'_>, ty: i32, kptr: i32, klen: i32, value: Option<(i32, i32)>, replace: bool) -> R {
    if let Some(s) = injected(&c, Hostcall::EditHeaderMap) {
        return Ok(s);
    }
    if ty != map::HTTP_REQUEST_HEADERS {
        return Ok(status::BAD_ARGUMENT);
    }
    let Some(memory) = c.data().memory else {
        return Ok(status::INTERNAL_FAILURE);
    };
    // Name and value are read in place from guest memory: only what the map keeps is copied.
    let (mem, state) = memory.data_and_store_mut(&mut c);
    let key = match guest_str(mem, kptr, klen) {
        Ok(k) => k,
        Err(s) => return Ok(s),
    };
    let value = match value.map(|(p, l)| guest_str(mem, p, l)).transpose() {
        Ok(v) => v,
        Err(s) => return Ok(s),
    };
    let Some(req) = state.request.as_mut() else {
        return Ok(status::NOT_FOUND);
    };
    // Names are kept in lower case.
    let key: std::borrow::Cow<'_, str> =
        if key.bytes().any(|b| b.is_ascii_uppercase()) { key.to_ascii_lowercase().into() } else { key.into() };
    match value {
        None => req.headers.remove(&key),
        Some(v) => {
            if replace {
                req.headers.remove(&key);
            }
            req.headers.push(&key, v);
            req.touch(&key);
        }
    }
    Ok(status::OK)
}

fn proxy_add_header_map_value(c: C<'_>, ty: i32, kptr: i32, klen: i32, vptr: i32, vlen: i32) -> R {
    header_edit(c, ty, kptr, klen, Some((vptr, vlen)), false)
}

fn proxy_replace_header_map_value(c: C<'_>, ty: i32, kptr: i32, klen: i32, vptr: i32, vlen: i32) -> R {
    header_edit(c, ty, kptr, klen, Some((vptr, vlen)), true)
}

fn proxy_remove_header_map_value(c: C<'_>, ty: i32, kptr: i32, klen: i32) -> R {
    header_edit(c, ty, kptr, klen, None, true)
}

fn proxy_get_property(mut c: C<'_>, ptr: i32, len: i32, ret_ptr: i32, ret_len: i32) -> R {
    if let Some(s) = injected(&c, Hostcall::GetProperty) {
        return Ok(s);
    }
    let path = match read_bytes(&mut c, ptr, len) {
        Ok(p) => p,
        Err(s) => return Ok(s),
    };
    let value: Vec<u8> = {
        let segments = abi::property_path(&path);
        let Some(req) = &c.data().request else {
            return Ok(status::NOT_FOUND);
        };
        match segments.as_slice() {
            [b"source", b"address"] => req.source_address.as_bytes().to_vec(),
            // Envoy encodes integers as 8 little-endian bytes.
            [b"source", b"port"] => match source_port(&req.source_address) {
                Some(port) => u64::from(port).to_le_bytes().to_vec(),
                None => return Ok(status::NOT_FOUND),
            },
            [b"request", b"id"] => match req.headers.get("x-request-id") {
                Some(v) => v.as_bytes().to_vec(),
                None => return Ok(status::NOT_FOUND),
            },
            _ => return Ok(status::NOT_FOUND),
        }
    };
    return_bytes(&mut c, &value, ret_ptr, ret_len)
}

/// Records a property for the request's outcome (Envoy keeps it as filter state `wasm.<path>`).
/// Only during a request; bounded in count and size, and UTF-8 (they are ids and messages).
fn proxy_set_property(mut c: C<'_>, ptr: i32, len: i32, vptr: i32, vlen: i32) -> R {
    use crate::state::{MAX_PROPERTIES, MAX_PROPERTY_BYTES};
    let too_long = |n: i32| usize::try_from(n).map_or(true, |n| n > MAX_PROPERTY_BYTES);
    if too_long(len) || too_long(vlen) {
        return Ok(status::BAD_ARGUMENT);
    }
    let (path, value) = match (read_string(&mut c, ptr, len), read_string(&mut c, vptr, vlen)) {
        (Ok(p), Ok(v)) => (p, v),
        (Err(s), _) | (_, Err(s)) => return Ok(s),
    };
    Ok(with_request(&mut c, |req| {
        if let Some(slot) = req.properties.iter_mut().find(|(k, _)| *k == path) {
            slot.1 = value;
        } else if req.properties.len() < MAX_PROPERTIES {
            req.properties.push((path, value));
        } else {
            return status::BAD_ARGUMENT;
        }
        status::OK
    }))
}

fn source_port(addr: &str) -> Option<u16> {
    addr.parse::<std::net::SocketAddr>().ok().map(|a| a.port())
}

#[allow(clippy::too_many_arguments)]
fn proxy_send_local_response(
    mut c: C<'_>,
    status_code: i32,
    det_ptr: i32,
    det_len: i32,
    body_ptr: i32,
    body_len: i32,
    hdr_ptr: i32,
    hdr_len: i32,
    _grpc_status: i32,
) -> R {
    if let Some(s) = injected(&c, Hostcall::SendLocalResponse) {
        return Ok(s);
    }
    let details = match read_bytes(&mut c, det_ptr, det_len) {
        Ok(d) => String::from_utf8_lossy(&d).into_owned(),
        Err(s) => return Ok(s),
    };
    let body = match read_bytes(&mut c, body_ptr, body_len) {
        Ok(b) => b,
        Err(s) => return Ok(s),
    };
    let headers = match read_bytes(&mut c, hdr_ptr, hdr_len).map(|b| abi::decode_map(&b)) {
        Ok(Ok(h)) => h,
        Ok(Err(_)) => return Ok(status::BAD_ARGUMENT),
        Err(s) => return Ok(s),
    };
    if !(100..=599).contains(&status_code) {
        return Ok(status::BAD_ARGUMENT);
    }
    Ok(with_request(&mut c, |req| {
        req.local_response = Some(LocalResponse { status: status_code as u32, details, headers, body });
        status::OK
    }))
}

fn proxy_call_foreign_function(
    mut c: C<'_>,
    name_ptr: i32,
    name_len: i32,
    args_ptr: i32,
    args_len: i32,
    ret_ptr: i32,
    ret_len: i32,
) -> R {
    if let Some(s) = injected(&c, Hostcall::CallForeignFunction) {
        return Ok(s);
    }
    let Some(memory) = c.data().memory else {
        return Ok(status::INTERNAL_FAILURE);
    };
    // Name and arguments are read in place from guest memory; the function cannot reach the
    // store, so they cannot change under it.
    let result = {
        let (mem, state) = memory.data_and_store_mut(&mut c);
        let in_guest = |ptr, len| guest_range(ptr, len).and_then(|r| mem.get(r)).ok_or(status::INVALID_MEMORY_ACCESS);
        let name = match in_guest(name_ptr, name_len) {
            Ok(n) => n,
            Err(s) => return Ok(s),
        };
        // An unknown function is NOT_FOUND, as in the C++ host (and Envoy).
        let Some(function) = state.shared.config.foreign_functions.get(name) else {
            return Ok(status::NOT_FOUND);
        };
        let args = match in_guest(args_ptr, args_len) {
            Ok(a) => a,
            Err(s) => return Ok(s),
        };
        state.shared.counters.foreign_calls.fetch_add(1, Ordering::Relaxed);
        function(args)
    };
    match result {
        Ok(result) => return_bytes(&mut c, &result, ret_ptr, ret_len),
        Err(_) => Ok(status::BAD_ARGUMENT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(source_port("10.0.0.1:443"), Some(443));
        assert_eq!(source_port("[2001:db8::1]:8080"), Some(8080));
        assert_eq!(source_port("10.0.0.1"), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(guest_range(-1, 2), Some(0xffff_ffff..0x1_0000_0001));
        assert_eq!(guest_range(4, 4), Some(4..8));
    }
}
