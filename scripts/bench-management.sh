#!/usr/bin/env bash
# Management-call benchmark (BENCHMARKS.md, "KMS endpoint: management calls"): a release aapkit on
# loopback; CreatePolicy and DescribePolicy through the official management SDK
# (alibabacloud-kms20160120 3.3.1, ACS3-HMAC-SHA256 over HTTPS keep-alive), against the CLI's own time
# for the same change (`aapkit policy create` / `policy describe`: a process each, as an operator or a
# script runs it), in the same run. Prints p50/p99 of each and the ratios.
# Usage: scripts/bench-management.sh [sdk-calls] [cli-calls]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
cd "$root"
cargo build -q --release -p aapkit
export AAPKIT_BIN="$CARGO_TARGET_DIR/release/aapkit"
python="${AAPKIT_PYTHON:-$HOME/.cache/aapkit/venv/bin/python}"
echo "== machine: $(nproc) cores; $(date -u)"
exec "$python" "$root/scripts/bench_management.py" "${1:-300}" "${2:-100}"
