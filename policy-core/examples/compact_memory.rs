//! What a wasm32 guest holds once it has loaded the compact form (issue 16: ≤ 16 MiB per VM), for
//! the rows of `benches/support/rows.rs`: the bytes `from_compact` leaves allocated, counted by a
//! global allocator, in the guest's own 32-bit layout (the native `scale` bench counts 64-bit).
//!
//! ```sh
//! cargo build -p aapkit-policy-core --release --example compact_memory --target wasm32-wasip1
//! node --experimental-wasi-unstable-preview1 policy-core/examples/run-wasi.mjs \
//!   $CARGO_TARGET_DIR/wasm32-wasip1/release/examples/compact_memory.wasm
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use policy_core::CompiledBundle;

#[path = "../benches/support/rows.rs"]
mod rows;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    for row in rows::ROWS.iter() {
        let compact = rows::bundle(row).compile().unwrap().to_compact();
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let t = Instant::now();
        let loaded = CompiledBundle::from_compact(&compact).unwrap();
        let took = t.elapsed();
        let held = LIVE.load(Ordering::Relaxed) - base;
        let peak = PEAK.load(Ordering::Relaxed) - base;
        println!(
            "{}: compact form {:.1} MiB; from_compact holds {:.1} MiB (peak {:.1} MiB beyond the form), {:.1} ms",
            row.name,
            mib(compact.len()),
            mib(held),
            mib(peak),
            took.as_secs_f64() * 1e3
        );
        drop(loaded);
    }
}
