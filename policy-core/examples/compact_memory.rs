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

use std::time::Instant;

use policy_core::CompiledBundle;

#[path = "../benches/support/counting.rs"]
mod counting;
#[path = "../benches/support/rows.rs"]
mod rows;
use counting::{measured, mib};

fn main() {
    for row in rows::ROWS.iter() {
        let compact = rows::bundle(row).compile().unwrap().to_compact();
        let t = Instant::now();
        let (loaded, held, peak) = measured(|| CompiledBundle::from_compact(&compact).unwrap());
        let took = t.elapsed();
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
