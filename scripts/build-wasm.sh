#!/usr/bin/env bash
# Builds the two WebAssembly faces of policy-core:
#  - the proxy-wasm filter (wasm32-wasip1, profile wasm-release) -> $AAPKIT_FILTER_WASM
#  - the wasm-bindgen package for browsers (web-demo/pkg) and Node (wasm-module/bindings/pkg-node)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
cd "$root"
cargo build -q -p aapkit-policy-core --target wasm32-unknown-unknown
cargo build -q -p aapkit-filter --target wasm32-wasip1 --profile wasm-release
if grep -q wasm_bindgen wasm-module/bindings/src/lib.rs; then
  (cd wasm-module/bindings &&
    wasm-pack --quiet build --mode no-install --release --target web --out-dir ../../web-demo/pkg --out-name aapkit_wasm &&
    wasm-pack --quiet build --mode no-install --release --target nodejs --out-dir pkg-node --out-name aapkit_wasm)
fi
