#!/usr/bin/env bash
# Where the gateway's CPU goes per request (BENCHMARKS.md, "Request path at issue 16 (goal 3)").
# A release `aapkit serve` on loopback (as scripts/bench-gateway.sh starts it) under `aapkit loadgen`
# Encrypt, once per enforcer, alternating, `rounds` times. Per run:
#   1. the server's CPU per request: utime+stime from /proc/<pid>/stat over a window of `window`
#      seconds without the profiler, divided by the requests the server counted in that window
#      (aapkit_requests_total on the admin listener);
#   2. `perf record --call-graph dwarf` of the server for the next `window` seconds;
#   3. scripts/perf-buckets.py sorts the samples into buckets (TLS, HTTP, RSA verify, enforcer,
#      handler, audit, metrics, quota, allocator, kernel, ...) by their call chain; the bucket's share
#      times the CPU per request gives microseconds per request.
# The summary prints the median per bucket over the rounds, for each enforcer, and the wasm overhead
# (filter CPU per request / native CPU per request).
# Usage: scripts/perf-breakdown.sh [window-seconds] [concurrency] [rounds]
#   SERVE_BIN=path   serves with another aapkit binary;
#   BINS="a=path b=path"  compares builds in one run (each round: native a, native b, wasm a, wasm b);
#                    an entry `label=path,--flag,value` also passes those arguments to `serve`
#                    (`label=path,--filter-wasm,module.wasm`: that build's own filter module);
#   PERF=0           measures CPU per request only (no profile: shorter runs, more rounds);
#   KEEP=dir         keeps the per-run reports in dir (KEEP_PERF=1: the samples too, as perf script text,
#                    for `perf-buckets.py --detail BUCKET < script-....txt`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
cd "$root"
window="${1:-4}"
conc="${2:-16}"
rounds="${3:-3}"
if [ -z "${SERVE_BIN:-}" ]; then
  cargo build -q -p aapkit-filter --target wasm32-wasip1 --profile wasm-release
  cargo build -q --release -p aapkit
fi
bin="${SERVE_BIN:-$CARGO_TARGET_DIR/release/aapkit}"
bins="${BINS:-this=$bin}"
profile="${PERF:-1}"
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
work="$(mktemp -d)"
keep="${KEEP:-}"
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "$keep" ] && { mkdir -p "$keep"; cp "$work"/*.txt "$work"/*.json "$work"/*.log "$keep"/ 2>/dev/null || true; }; rm -rf "$work"' EXIT
# Each build gets a data directory of its own, made by its own binary: a store written by a newer
# build need not open in an older one. The demo world is the same in each.
source "$root/scripts/bench-world.sh"
make_data() { # label binary
  bench_world "$2" "$work/data-$1" "$work/pw" "$work/ck-$1.json" Aliyun_AES_256 >"$work/key-$1"
}
for b in $bins; do
  sb="${b#*=}"
  make_data "${b%%=*}" "${sb%%,*}"
done

port=18643
ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
audit_ticks() { # the audit writer thread's CPU (its own thread: aapkit-audit)
  local t
  for t in /proc/"$1"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = aapkit-audit ] && awk '{print $14 + $15}' "$t/stat" && return
  done
  echo 0
}
served() { # requests the server has answered (all APIs, all outcomes)
  python3 - "$1" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
print(int(sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith("aapkit_requests_total{"))))
PY
}
measure() { # enforcer build-label build-path[,serve-args] round
  local enf=$1 admin=$((port + 1000)) tag="$1-$2-$4" sbin extra data="$work/data-$2" aes
  aes=$(cat "$work/key-$2")
  IFS=, read -r -a extra <<<"$3"
  sbin="${extra[0]}"
  extra=("${extra[@]:1}")
  # A build's own filter module (`--filter-wasm` among its arguments), else $AAPKIT_FILTER_WASM.
  local filter=(--filter-wasm "$AAPKIT_FILTER_WASM") x
  for x in "${extra[@]}"; do [ "$x" = --filter-wasm ] && filter=(); done
  "$sbin" --data-dir "$data" serve "${extra[@]}" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" --no-openapi \
    --enforcer "$enf" "${filter[@]}" >"$work/serve-$tag.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  "$bin" --json loadgen --target "127.0.0.1:$port" --ca "$data/ca.pem" --client-key-file "$work/ck-$2.json" \
    --password-file "$work/pw" --key-id "$aes" --workload encrypt --concurrency "$conc" \
    --seconds $(((profile > 0 ? 2 : 1) * window + 2)) >"$work/loadgen-$tag.json" &
  local lg=$!
  # Wait for the load (the generator signs its pool first), then one second of warm-up.
  for _ in $(seq 300); do [ "$(served "$admin")" -gt 0 ] && break; sleep 0.1; done
  sleep 1
  local c0 n0 c1 n1 a0 a1
  c0=$(cpu_ticks "$pid"); a0=$(audit_ticks "$pid"); n0=$(served "$admin")
  sleep "$window"
  c1=$(cpu_ticks "$pid"); a1=$(audit_ticks "$pid"); n1=$(served "$admin")
  [ "$profile" -gt 0 ] && perf record -q -F 1999 --call-graph dwarf,16384 -p "$pid" -o "$work/perf-$tag.data" -- sleep "$window" 2>/dev/null
  wait "$lg" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  port=$((port + 1))
  local us aus
  us=$(python3 -c "print(f'{($c1 - $c0) / $ticks * 1e6 / max($n1 - $n0, 1):.2f}')")
  aus=$(python3 -c "print(f'{($a1 - $a0) / $ticks * 1e6 / max($n1 - $n0, 1):.2f}')")
  echo "== $tag: server CPU $us us/request, of which the audit writer thread $aus ($((n1 - n0)) requests in ${window}s, $(python3 -c "import json; print(round(json.load(open('$work/loadgen-$tag.json'))['RequestsPerSecond']))") req/s by loadgen)"
  if [ "$profile" -gt 0 ]; then
    perf script --no-inline -F comm,period,ip,sym,dso -i "$work/perf-$tag.data" 2>/dev/null \
      | if [ -n "${KEEP_PERF:-}" ]; then tee "$work/script-$tag.txt"; else cat; fi \
      | python3 "$root/scripts/perf-buckets.py" --cpu-us "$us" --label "$tag" --json "$work/buckets-$tag.json" \
      | tee "$work/buckets-$tag.txt"
    rm -f "$work/perf-$tag.data"
  else
    echo "{\"label\": \"$tag\", \"cpu_us\": $us, \"pct\": {}}" >"$work/buckets-$tag.json"
  fi
}
echo "== machine: $(nproc) cores; $(date -u); builds: $bins"
for r in $(seq "$rounds"); do
  for enf in native wasm; do
    for b in $bins; do measure "$enf" "${b%%=*}" "${b#*=}" "$r"; done
  done
done
python3 "$root/scripts/perf-buckets.py" --summarize "$work"/buckets-*.json | tee "$work/summary.txt"
