#!/usr/bin/env bash
# Minimises every fuzz corpus in place (`cargo fuzz cmin`: keeps the smallest set of inputs with the
# same coverage), so that the committed corpora stay small. Run after scripts/fuzz-campaign.sh.
# Environment: FUZZ_TARGETS (subset), FUZZ_TARGET_DIR (cargo-fuzz build dir), AAPKIT_FILTER_WASM,
# FUZZ_HOST_PROFILE (release, or dev).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
cd "$root"
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$root/target/fuzz}"

for crate in policy-core host-runtime; do
  for target in $(cd "$crate" && cargo +nightly fuzz list --fuzz-dir fuzz); do
    if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $target "* ]]; then continue; fi
    dir="$crate/fuzz/corpus/$target"
    [ -d "$dir" ] || continue
    before=$(find "$dir" -type f | wc -l)
    flags=()
    # As in fuzz-campaign.sh: FUZZ_HOST_PROFILE=dev uses host-runtime's unoptimised build.
    [ "$crate" = host-runtime ] && [ "${FUZZ_HOST_PROFILE:-release}" = dev ] && flags=(--dev)
    (cd "$crate" && nice -n 19 cargo +nightly fuzz cmin --fuzz-dir fuzz "${flags[@]}" --codegen-units "${FUZZ_CODEGEN_UNITS:-16}" --target-dir "$FUZZ_TARGET_DIR/$crate" "$target" "fuzz/corpus/$target" \
      -- -rss_limit_mb=2048 -timeout=30) > "$root/target/fuzz-cmin-$target.log" 2>&1 ||
      { echo "cmin failed for $target (see target/fuzz-cmin-$target.log)" >&2; exit 1; }
    after=$(find "$dir" -type f | wc -l)
    printf '%-16s %6d -> %6d files (%s)\n' "$target" "$before" "$after" "$(du -sh "$dir" | cut -f1)"
  done
done
