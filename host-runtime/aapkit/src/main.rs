//! The `aapkit` binary: all behaviour lives in `aapkit_host::cli`.

// glibc's malloc serialises the gateway's worker threads on its arena locks (futex waits under
// load); mimalloc keeps per-thread heaps. Measured in BENCHMARKS.md ("Gateway").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(aapkit_host::cli::run(std::env::args_os()));
}
