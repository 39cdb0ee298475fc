//! The few WASI (`wasi_snapshot_preview1`) imports a `wasm32-wasip1` filter links against.
//!
//! The filter has no files, no environment and no arguments: stdout/stderr go to the log sink,
//! clocks read the host clock, `random_get` is the embedder's random source or else the operating
//! system's CSPRNG (std seeds `HashMap` with it) and
//! `proc_exit` ends the VM with a trap. Any other WASI function the module imports answers
//! `ENOSYS`; any other `env` function answers UNIMPLEMENTED (see [`stub_unknown_imports`]).

use wasmtime::{Caller, ExternType, Linker, Module, Val, ValType};

use crate::abi::{status, LogLevel};
use crate::imports::{now_nanos, read_bytes};
use crate::state::HostState;

const WASI: &str = "wasi_snapshot_preview1";
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_BADF: i32 = 8;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;
const ERRNO_NOSYS: i32 = 52;

type C<'a> = Caller<'a, HostState>;
type R = wasmtime::Result<i32>;

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(WASI, "fd_write", fd_write)?;
    linker.func_wrap(WASI, "environ_sizes_get", zero_sizes)?;
    linker.func_wrap(WASI, "environ_get", |_: C<'_>, _: i32, _: i32| -> R { Ok(ERRNO_SUCCESS) })?;
    linker.func_wrap(WASI, "args_sizes_get", zero_sizes)?;
    linker.func_wrap(WASI, "args_get", |_: C<'_>, _: i32, _: i32| -> R { Ok(ERRNO_SUCCESS) })?;
    linker.func_wrap(WASI, "clock_time_get", |mut c: C<'_>, _id: i32, _precision: i64, ret: i32| -> R {
        let now = now_nanos(c.data());
        Ok(write(&mut c, ret, &now.to_le_bytes()))
    })?;
    linker.func_wrap(WASI, "random_get", random_get)?;
    linker.func_wrap(WASI, "sched_yield", |_: C<'_>| -> R { Ok(ERRNO_SUCCESS) })?;
    linker.func_wrap(WASI, "fd_close", |_: C<'_>, _: i32| -> R { Ok(ERRNO_BADF) })?;
    linker.func_wrap(WASI, "fd_prestat_get", |_: C<'_>, _: i32, _: i32| -> R { Ok(ERRNO_BADF) })?;
    linker.func_wrap(WASI, "proc_exit", |_: C<'_>, code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::msg(format!("the filter called proc_exit({code})")))
    })?;
    Ok(())
}

fn write(c: &mut C<'_>, ptr: i32, bytes: &[u8]) -> i32 {
    let Some(memory) = c.data().memory else {
        return ERRNO_FAULT;
    };
    let start = ptr as u32 as usize;
    match memory.data_mut(&mut *c).get_mut(start..start.saturating_add(bytes.len())) {
        Some(dst) if dst.len() == bytes.len() => {
            dst.copy_from_slice(bytes);
            ERRNO_SUCCESS
        }
        _ => ERRNO_FAULT,
    }
}

fn zero_sizes(mut c: C<'_>, count_ptr: i32, size_ptr: i32) -> R {
    let a = write(&mut c, count_ptr, &0u32.to_le_bytes());
    let b = write(&mut c, size_ptr, &0u32.to_le_bytes());
    Ok(if a == ERRNO_SUCCESS { b } else { a })
}

fn fd_write(mut c: C<'_>, fd: i32, iovs: i32, iovs_len: i32, nwritten: i32) -> R {
    const MAX_IOVS: i32 = 64;
    const MAX_BYTES: usize = 16 * 1024;
    let level = match fd {
        1 => LogLevel::Info,
        2 => LogLevel::Error,
        _ => return Ok(ERRNO_BADF),
    };
    if !(0..=MAX_IOVS).contains(&iovs_len) {
        return Ok(ERRNO_INVAL);
    }
    let Ok(table) = read_bytes(&mut c, iovs, iovs_len * 8) else {
        return Ok(ERRNO_FAULT);
    };
    let mut text = Vec::new();
    let mut total: u32 = 0;
    for iov in table.chunks_exact(8) {
        let (Some(ptr), Some(len)) = (le_i32(iov.get(0..4)), le_i32(iov.get(4..8))) else {
            return Ok(ERRNO_FAULT);
        };
        let Ok(bytes) = read_bytes(&mut c, ptr, len) else {
            return Ok(ERRNO_FAULT);
        };
        total = total.saturating_add(len as u32);
        let room = MAX_BYTES.saturating_sub(text.len());
        text.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
    }
    if let Some(sink) = &c.data().shared.config.log_sink {
        sink(level, String::from_utf8_lossy(&text).trim_end());
    }
    Ok(write(&mut c, nwritten, &total.to_le_bytes()))
}

fn le_i32(b: Option<&[u8]>) -> Option<i32> {
    Some(i32::from_le_bytes(b?.try_into().ok()?))
}

fn random_get(mut c: C<'_>, ptr: i32, len: i32) -> R {
    const MAX: i32 = 64 * 1024;
    if !(0..=MAX).contains(&len) {
        return Ok(ERRNO_INVAL);
    }
    let mut buf = vec![0u8; len as usize];
    let filled = match &c.data().shared.config.random {
        Some(random) => random(&mut buf),
        None => getrandom::fill(&mut buf).is_ok(),
    };
    if !filled {
        return Ok(ERRNO_NOSYS);
    }
    Ok(write(&mut c, ptr, &buf))
}

/// Defines every function import of `module` the linker does not know yet: WASI ones answer
/// ENOSYS, `env` ones UNIMPLEMENTED (the ABI's answer for an optional host feature), any other
/// module's trap when called. Call after everything else is defined (shadowing stays off, so a
/// name already defined is left alone).
pub(crate) fn stub_unknown_imports(linker: &mut Linker<HostState>, module: &Module) {
    for import in module.imports() {
        let ExternType::Func(ty) = import.ty() else { continue };
        let code = match import.module() {
            WASI => Some(ERRNO_NOSYS),
            "env" => Some(status::UNIMPLEMENTED),
            _ => None,
        };
        let returns_status = {
            let mut results = ty.results();
            matches!((results.next(), results.next()), (Some(ValType::I32), None))
        };
        let name = format!("{}.{}", import.module(), import.name());
        // An error here means the name is already defined: keep the real one.
        let _ = linker.func_new(import.module(), import.name(), ty, move |_, _, results: &mut [Val]| {
            match (code, returns_status, results.first_mut()) {
                (Some(code), true, Some(r)) => {
                    *r = Val::I32(code);
                    Ok(())
                }
                _ => Err(wasmtime::Error::msg(format!("the host does not provide {name}"))),
            }
        });
    }
}
