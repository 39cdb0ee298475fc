#!/usr/bin/env bash
# The main job in one command: builds the gateway and the filter module, then starts a gateway on
# ./.aapkit-data with a demo key, secret, network rule, policy, AAP and client key, and prints
# where the client key file, its password and the CA are, with a Python snippet that calls it.
# Extra arguments go to `aapkit demo` (e.g. --listen 127.0.0.1:9000, --enforcer native).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
cd "$root"
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
echo "building the filter module and the gateway (the first build takes several minutes)..." >&2
cargo build -q -p aapkit-filter --target wasm32-wasip1 --profile wasm-release
# The dev profile: the very binary `scripts/test.sh` builds, so after the tests the demo starts at
# once, and from a clean cache it builds in about half the time of the LTO release build (the
# Cranelift crates are optimised even here, see Cargo.toml). `AAPKIT_PROFILE=release` for speed.
profile="${AAPKIT_PROFILE:-dev}"
cargo build -q --profile "$profile" -p aapkit --bin aapkit
bin_dir=debug
[ "$profile" = dev ] || bin_dir="$profile"
# The playground (web-demo) joins the admin listener when its wasm package has been built
# (scripts/build-wasm.sh, which scripts/test.sh runs).
extra=()
if [ -f web-demo/pkg/aapkit_wasm_bg.wasm ]; then
  extra=(--admin-listen 127.0.0.1:9443 --playground-dir "$root/web-demo")
  echo "playground and metrics: http://127.0.0.1:9443/playground/ and /metrics" >&2
fi
exec "$CARGO_TARGET_DIR/$bin_dir/aapkit" --data-dir "${AAPKIT_DATA_DIR:-$root/.aapkit-data}" \
  demo --filter-wasm "$AAPKIT_FILTER_WASM" "${extra[@]}" "$@"
