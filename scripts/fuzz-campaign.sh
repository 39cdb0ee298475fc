#!/usr/bin/env bash
# The fuzzing campaign: builds every cargo-fuzz target (policy-core/fuzz, host-runtime/fuzz), then
# runs them two at a time at the lowest priority, each for FUZZ_SECONDS (default 1800) of wall
# clock, growing the committed corpora in place (<crate>/fuzz/corpus/<target>) and keeping crashes
# in <crate>/fuzz/artifacts/<target>/. A crash does not end a target's run: it is recorded and the
# fuzzer restarts for the time that is left.
#
# Per target it writes $FUZZ_OUT/<target>.log (libFuzzer's output, the final `#N DONE cov: ...`
# stats line and `/usr/bin/time -v`: wall, user and system time) and at the end a summary table in
# $FUZZ_OUT/summary.md. Start it so that it survives the shell:
#   setsid nohup bash scripts/fuzz-campaign.sh > target/fuzz-campaign.log 2>&1 &  (setsid: a session of its own;
#   then `echo 19 > /proc/<pid>/autogroup`, or the kernel gives that session an equal share of the CPU
#   whatever its nice value)
# Environment: FUZZ_SECONDS, FUZZ_JOBS (parallel targets, 2), FUZZ_OUT, FUZZ_TARGETS (subset,
# e.g. "proto_scan filter_host"), FUZZ_TARGET_DIR (cargo-fuzz build dirs, one per crate beneath it),
# AAPKIT_FILTER_WASM, FUZZ_CODEGEN_UNITS (16), FUZZ_HOST_PROFILE (release, or dev).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
cd "$root"

FUZZ_SECONDS="${FUZZ_SECONDS:-1800}"
FUZZ_JOBS="${FUZZ_JOBS:-2}"
FUZZ_OUT="${FUZZ_OUT:-$root/target/fuzz-campaign}"
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$root/target/fuzz}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
mkdir -p "$FUZZ_OUT"

# crate:target, in the order they run (policy-core first: the host crate builds meanwhile).
ALL=(policy-core:proto_scan policy-core:authorize policy-core:request policy-core:bundle policy-core:public_key
     host-runtime:prost_vs_scan host-runtime:pki host-runtime:filter_host)
selected=()
for ct in "${ALL[@]}"; do
  if [ -z "${FUZZ_TARGETS:-}" ] || [[ " $FUZZ_TARGETS " == *" ${ct#*:} "* ]]; then selected+=("$ct"); fi
done

log() { printf '[fuzz-campaign %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# 1. Builds (release + debug assertions + ASan, cargo-fuzz's defaults), once per crate, just before
# the crate's first target runs: the host crate (wasmtime, aws-lc) builds while policy-core fuzzes.
[ -f "$AAPKIT_FILTER_WASM" ] || { log "building the filter module"; bash scripts/build-wasm.sh; }
# FUZZ_HOST_PROFILE=dev builds host-runtime's targets unoptimised (as scripts/fuzz-smoke.sh does): an
# optimised ASan build of wasmtime/cranelift takes over an hour on 2 cores; fewer executions per
# second, the same checks.
profile_of() { if [ "$1" = host-runtime ] && [ "${FUZZ_HOST_PROFILE:-release}" = dev ]; then echo debug; else echo release; fi; }
declare -A built=()
ensure_built() {
  local crate="$1"
  [ -n "${built[$crate]:-}" ] && return "${built[$crate]}"
  log "cargo fuzz build ($crate)"
  local flags=()
  [ "$(profile_of "$crate")" = debug ] && flags=(--dev)
  if (cd "$crate" && nice -n 19 cargo +nightly fuzz build --fuzz-dir fuzz "${flags[@]}" --codegen-units "${FUZZ_CODEGEN_UNITS:-16}" --target-dir "$FUZZ_TARGET_DIR/$crate"); then
    built[$crate]=0
  else
    log "build failed: $crate (its targets are skipped)"
    built[$crate]=1
  fi
  return "${built[$crate]}"
}

# 2. One target for FUZZ_SECONDS of wall clock, restarted after a crash for the time left.
run_target() {
  local crate="${1%%:*}" target="${1#*:}"
  local bin="$FUZZ_TARGET_DIR/$crate/$TRIPLE/$(profile_of "$crate")/$target"
  local corpus="$root/$crate/fuzz/corpus/$target" artifacts="$root/$crate/fuzz/artifacts/$target"
  local out="$FUZZ_OUT/$target.log" start now left rounds=0
  mkdir -p "$corpus" "$artifacts"
  : > "$out"
  start=$(date +%s)
  while :; do
    now=$(date +%s); left=$((FUZZ_SECONDS - (now - start)))
    [ "$left" -gt 5 ] && [ "$rounds" -lt 50 ] || break
    rounds=$((rounds + 1))
    echo "=== round $rounds: $left s left ($(date -u +%FT%TZ))" >> "$out"
    # -timeout: an input running longer than 30 s is a finding; -rss_limit_mb: 2 GiB per process.
    /usr/bin/time -v nice -n 19 "$bin" -max_total_time="$left" -timeout=30 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >> "$out" 2>&1
    local rc=$?
    echo "=== exit $rc" >> "$out"
    [ "$rc" -eq 0 ] && break
  done
  echo "=== wall $(( $(date +%s) - start )) s" >> "$out"
}

# 3. Run FUZZ_JOBS at a time.
for ct in "${selected[@]}"; do
  ensure_built "${ct%%:*}" || continue
  while [ "$(jobs -rp | wc -l)" -ge "$FUZZ_JOBS" ]; do wait -n; done
  log "start ${ct#*:} (${FUZZ_SECONDS} s)"
  run_target "$ct" &
done
wait
log "all targets done"

# 4. The summary: wall time, executions (sum over rounds), exec/s, CPU seconds, crashes.
{
  echo "| target | wall (s) | CPU user+sys (s) | executions | exec/s | corpus files | crashes |"
  echo "|---|---|---|---|---|---|---|"
  for ct in "${selected[@]}"; do
    crate="${ct%%:*}"; target="${ct#*:}"; f="$FUZZ_OUT/$target.log"
    [ -f "$f" ] || { echo "| $target | not run | | | | | |"; continue; }
    wall=$(sed -n 's/^=== wall \([0-9]*\) s$/\1/p' "$f" | tail -1)
    execs=$(awk '/stat::number_of_executed_units:/ {s += $2} END {print s + 0}' "$f")
    cpu=$(awk '/User time \(seconds\)|System time \(seconds\)/ {s += $NF} END {printf "%.0f", s}' "$f")
    rate=$(awk -v e="$execs" -v w="${wall:-0}" 'BEGIN {if (w > 0) printf "%.0f", e / w; else print 0}')
    files=$(find "$crate/fuzz/corpus/$target" -type f | wc -l)
    crashes=$(find "$crate/fuzz/artifacts/$target" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    echo "| $target | ${wall:-?} | $cpu | $execs | $rate | $files | $crashes |"
  done
  echo
  echo "Final libFuzzer stats lines:"
  echo
  for ct in "${selected[@]}"; do
    target="${ct#*:}"
    [ -f "$FUZZ_OUT/$target.log" ] || continue
    echo "- $target: \`$(grep -E '^#[0-9]+[[:space:]]+DONE' "$FUZZ_OUT/$target.log" | tail -1)\`"
  done
} > "$FUZZ_OUT/summary.md"
cat "$FUZZ_OUT/summary.md"
