#!/usr/bin/env bash
# CI smoke run of the fuzz targets (scripts/test.sh calls it after cargo test): builds every target,
# replays its committed corpus (<crate>/fuzz/corpus/<target>) and fuzzes for FUZZ_SMOKE_SECONDS
# (default 5) more. New inputs go to a scratch directory, so the committed corpora stay as they are;
# any crash fails the run (and leaves the input under $FUZZ_TARGET_DIR/smoke-artifacts/).
#
# Builds: libFuzzer + ASan like the campaign, with 16 codegen units. policy-core's targets are
# built optimised (as in the campaign); host-runtime's (wasmtime, cranelift, aws-lc, SQLite: most of
# the build time) unoptimised (`--dev`, FUZZ_SMOKE_HOST_PROFILE=release to change it): a cold
# optimised ASan build of them is the slowest step of a cold CI run, and five seconds of fuzzing do
# not need the speed. Needs the nightly toolchain and cargo-fuzz (.ci/setup.sh installs both).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
cd "$root"

FUZZ_SMOKE_SECONDS="${FUZZ_SMOKE_SECONDS:-5}"
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$CARGO_TARGET_DIR/fuzz}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
scratch="$FUZZ_TARGET_DIR/smoke-corpus"
artifacts="$FUZZ_TARGET_DIR/smoke-artifacts"
[ -f "$AAPKIT_FILTER_WASM" ] || bash scripts/build-wasm.sh

for crate in policy-core host-runtime; do
  profile=release flags=()
  if [ "$crate" = host-runtime ] && [ "${FUZZ_SMOKE_HOST_PROFILE:-dev}" = dev ]; then profile=debug flags=(--dev); fi
  (cd "$crate" && cargo +nightly fuzz build --fuzz-dir fuzz "${flags[@]}" --codegen-units 16 --target-dir "$FUZZ_TARGET_DIR/$crate")
  for target in $(cd "$crate" && cargo +nightly fuzz list --fuzz-dir fuzz); do
    rm -rf "${scratch:?}/$target"
    mkdir -p "$scratch/$target" "$artifacts/$target" "$crate/fuzz/corpus/$target"
    printf '[fuzz-smoke] %-14s ' "$target"
    log="$artifacts/$target.log"
    if ! "$FUZZ_TARGET_DIR/$crate/$TRIPLE/$profile/$target" -max_total_time="$FUZZ_SMOKE_SECONDS" -timeout=30 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/$target/" \
      "$scratch/$target" "$crate/fuzz/corpus/$target" > "$log" 2>&1; then
      echo "FAILED"
      tail -40 "$log" >&2
      exit 1
    fi
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || echo "(no stats line)"
  done
done
