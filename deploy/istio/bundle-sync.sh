#!/usr/bin/env bash
# Keeps the `pluginConfig` of the aapkit WasmPlugin (deploy/istio/wasmplugin.yaml) equal to the
# store's policy bundle: `aapkit bundle export --watch` writes the bundle each time the store's
# generation changes and prints one JSON line per generation; each line triggers a merge patch of
# the WasmPlugin, which istiod pushes to the selected sidecars. See docs/deploy.md.
#
# Needs aapkit, kubectl and jq; a data directory copy (AAPKIT_DATA_DIR), the store (AAPKIT_STORE),
# the master key (AAPKIT_MASTER_KEY, from your secret store), and a service account allowed to
# `patch` wasmplugins.extensions.istio.io in the namespace. Run one per WasmPlugin (for example a
# one-replica Deployment). Not run in our CI (no Kubernetes on the build machines).
#
#   WASMPLUGIN=aapkit NAMESPACE=kms deploy/istio/bundle-sync.sh
set -euo pipefail
: "${AAPKIT_DATA_DIR:?the data directory copy}"
[ -n "${AAPKIT_STORE:-}" ] || echo "bundle-sync: AAPKIT_STORE is unset: the SQLite store of $AAPKIT_DATA_DIR" >&2
WASMPLUGIN="${WASMPLUGIN:-aapkit}"
NAMESPACE="${NAMESPACE:-default}"
work="$(mktemp -d)"
bundle="$work/bundle.json"

aapkit --json bundle export --watch --out "$bundle" > "$work/lines" &
watcher=$!
# SIGTERM/SIGINT stop the watcher (it exits 0 on either); its end ends the loop below.
trap 'kill -TERM "$watcher" 2>/dev/null || true' TERM INT

# One line per generation written; each one patches the WasmPlugin with the file as it is then
# (that generation's bundle or a newer one: the file is replaced by a rename, never half-written).
tail -n +1 -F --pid="$watcher" "$work/lines" 2>/dev/null | while read -r line; do
  generation="$(jq -r '.Generation' <<<"$line")"
  jq -c '{spec: {pluginConfig: .}}' "$bundle" > "$work/patch.json"
  if kubectl -n "$NAMESPACE" patch wasmplugin "$WASMPLUGIN" --type merge --patch-file "$work/patch.json" >/dev/null; then
    echo "bundle-sync: WasmPlugin $NAMESPACE/$WASMPLUGIN at generation >= $generation"
  else
    # The next generation retries; a failed patch leaves the sidecars on the previous bundle.
    echo "bundle-sync: patching $NAMESPACE/$WASMPLUGIN failed (generation $generation)" >&2
  fi
done &
sync=$!

# `wait` returns early when a trapped signal arrives: wait again until the watcher has exited.
set +e
wait "$watcher"; status=$?
while kill -0 "$watcher" 2>/dev/null; do wait "$watcher"; status=$?; done
wait "$sync"
rm -rf "$work"
exit "$status"
