#!/usr/bin/env bash
# The whole test suite: installs what it needs (.ci/setup.sh; PostgreSQL 15 among it, for the
# throwaway clusters of the multi-gateway tests), builds the wasm modules, then runs the Rust tests
# (unit, vectors, property, wasmtime host, SDK end-to-end), the Node tests of the browser build and
# the browser tests of the playground.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "setup"
bash .ci/setup.sh

step "the throwaway PostgreSQL of the multi-gateway tests (tests/e2e/pg_support.py by itself)"
# initdb, start, a query, stop, restart, removal: a broken PostgreSQL install shows here, in seconds,
# rather than as a failed gateway test (the Rust twin, tests/all/pg_support, runs in cargo test).
"$AAPKIT_PYTHON" tests/e2e/pg_support.py

step "wasm builds (policy-core for wasm32, filter, browser/Node package)"
bash scripts/build-wasm.sh

step "format and lints (rustfmt, clippy -D warnings, native and wasm32)"
cargo fmt --all --check
cargo clippy -q --workspace --exclude aapkit-filter --exclude aapkit-wasm --all-targets -- -D warnings
cargo clippy -q -p aapkit-filter --target wasm32-wasip1 -- -D warnings
cargo clippy -q -p aapkit-wasm --target wasm32-unknown-unknown -- -D warnings

# The tests build and run with the toolchain the workspace's rust-version names, so that version is
# checked, not just claimed (free while stable is that very release: the build cache is shared).
msrv="$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)"
step "cargo test (workspace, Rust $msrv = rust-version)"
cargo +"$msrv" test --no-fail-fast --workspace --exclude aapkit-filter --exclude aapkit-wasm 2>&1 | tee "$AAPKIT_CACHE/cargo-test.log"

step "benchmark smoke tests: issue 16's scale benches on their first row (dev profile; they check that the forms agree)"
AAPKIT_BENCH_QUICK=1 cargo +"$msrv" test -q -p aapkit-policy-core --bench scale
AAPKIT_BENCH_QUICK=1 cargo +"$msrv" test -q -p aapkit --bench config_scale

step "the gateway scripts/demo.sh runs (dev profile, the binary's own feature set)"
# The test build unifies dev-dependency features into shared crates (Cranelift among them), so the
# binary alone is a separate build; made here so that demo.sh after test.sh starts at once.
cargo build -q -p aapkit --bin aapkit

step "fuzz targets: the committed corpora and ${FUZZ_SMOKE_SECONDS:-5} s of fuzzing each (cargo-fuzz, nightly)"
bash scripts/fuzz-smoke.sh

if [ -f wasm-module/bindings/tests/node.test.mjs ]; then
  step "node tests of the wasm-bindgen build"
  node --test wasm-module/bindings/tests/
fi

if [ -f web-demo/tests/playground.test.mjs ]; then
  step "browser tests of the playground (headless chromium)"
  (cd web-demo && node --test tests/)
fi
