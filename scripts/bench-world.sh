# The benchmarks' demo world, made in one place for bench-gateway.sh and perf-breakdown.sh.
# shellcheck shell=bash
#
# bench_world BINARY DATA_DIR PASSWORD_FILE CLIENT_KEY_FILE KEY_SPEC...
#   initialises DATA_DIR with BINARY (instance kst-bench000000000001), creates one key per
#   KEY_SPEC, a network rule for 127.0.0.1, a CryptoServiceKeyUser policy over those keys, the AAP
#   `bench` and its client key (written to CLIENT_KEY_FILE, password `Bench-passw0rd` written to
#   PASSWORD_FILE), and prints the key ids, one per line, in the order of the specs.
bench_world() {
  local binary="$1" data="$2" pw="$3" ck="$4" spec ids=() resources=""
  shift 4
  "$binary" --data-dir "$data" --json init --instance-id kst-bench000000000001 >/dev/null
  for spec in "$@"; do
    ids+=("$("$binary" --data-dir "$data" --json key create --key-spec "$spec" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyId"])')")
    resources+="${resources:+,}\"key/${ids[-1]}\""
  done
  "$binary" --data-dir "$data" --json network-rule create --name lo --source-private-ip '["127.0.0.1/32"]' >/dev/null
  "$binary" --data-dir "$data" --json policy create --name p \
    --permissions '["RbacPermission/Template/CryptoServiceKeyUser"]' --resources "[$resources]" \
    --kms-instance kst-bench000000000001 --access-control-rules '{"NetworkRules":["lo"]}' >/dev/null
  "$binary" --data-dir "$data" --json aap create --name bench --policies '["p"]' >/dev/null
  printf 'Bench-passw0rd' >"$pw"
  "$binary" --data-dir "$data" --json client-key create --aap bench --password-file "$pw" --output "$ck" >/dev/null
  printf '%s\n' "${ids[@]}"
}
