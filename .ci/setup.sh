#!/usr/bin/env bash
# Installs everything the test suite needs on a machine that has only the base image.
# Idempotent: each step checks before it installs. Used by .ci/run and by `make setup`-style
# README commands.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WASM_BINDGEN_VERSION=0.2.130
CACHE="${AAPKIT_CACHE:-$HOME/.cache/aapkit}"
mkdir -p "$CACHE"

log() { printf '[setup] %s\n' "$*" >&2; }

# 1. Rust targets for the wasm builds.
for t in wasm32-unknown-unknown wasm32-wasip1; do
  rustup target list --installed | grep -qx "$t" || { log "rustup target add $t"; rustup target add "$t"; }
done

for c in clippy rustfmt; do
  rustup component list --installed | grep -q "^$c" || { log "rustup component add $c"; rustup component add "$c"; }
done

# 1b. The toolchain the workspace's `rust-version` names: scripts/test.sh checks the build with it.
MSRV="$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$here/Cargo.toml")"
rustup toolchain list | grep -q "^$MSRV" || { log "rustup toolchain install $MSRV"; rustup toolchain install "$MSRV" --profile minimal; }

# 2. wasm-bindgen-cli pinned to the crate's version, and wasm-pack (it cannot download helpers here).
if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi
command -v wasm-pack >/dev/null || { log "cargo install wasm-pack"; cargo install wasm-pack --locked; }

# 2b. The fuzz targets (scripts/fuzz-smoke.sh): a nightly toolchain and cargo-fuzz, pinned.
CARGO_FUZZ_VERSION=0.13.2
rustup toolchain list | grep -q '^nightly' || { log "rustup toolchain install nightly"; rustup toolchain install nightly --profile minimal; }
if ! command -v cargo-fuzz >/dev/null || [ "$(cargo fuzz --version | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
  log "cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --force
fi

# 3. Debian packages: chromium for the playground tests, openssl for interop checks, PostgreSQL 15
#    for the multi-gateway suites (issue 14): the tests start throwaway clusters of their own with its
#    server binaries (/usr/lib/postgresql/15/bin: initdb, pg_ctl, pg_isready) as the `postgres` user
#    the package creates (runuser, from util-linux). No cluster of the package is used or started.
need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v openssl >/dev/null || need_apt+=(openssl)
# (The helpers take 15 and fall back to the newest /usr/lib/postgresql/<version>/bin, as this check.)
need_pg=1
for pg_bin in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
  if [ -x "$pg_bin/initdb" ] && [ -x "$pg_bin/pg_ctl" ] && [ -x "$pg_bin/pg_isready" ] && [ -x "$pg_bin/psql" ]; then
    need_pg=0
    break
  fi
done
id -u postgres >/dev/null 2>&1 || need_pg=1
command -v runuser >/dev/null || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ] || [ "$need_pg" = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if [ "$need_pg" = 1 ]; then
    # Debian 12 names 15 `postgresql-15` (it pulls the client and postgresql-common, which creates
    # the postgres user); where that name is unknown, the distribution's default server.
    if apt-cache show postgresql-15 >/dev/null 2>&1; then need_apt+=(postgresql-15); else need_apt+=(postgresql); fi
  fi
  log "apt-get install ${need_apt[*]}"
  # The server package creates a `main` cluster and asks invoke-rc.d to start it; a policy-rc.d
  # that answers 101 ("not allowed") keeps it stopped, so nothing listens on 5432 behind the tests'
  # backs. Only when the machine has no policy of its own, and removed afterwards.
  own_policy=0
  if [ "$need_pg" = 1 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null || { [ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d; exit 1; }
  [ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
fi

# 4. Python venv with the official SDKs the e2e suites run, in one venv (they resolve together):
#    the KMS Instance SDK (pyOpenSSL < 23.3 keeps load_pkcs12), the management SDK
#    alibabacloud-kms20160120 3.3.1 with the transport docs/openapi.md was read from, the older
#    core SDK (RPC v1, Terraform's signer), and the two Secrets Manager clients of issue 13:
#    alibabacloud-secretsmanager-client-v2 2.0.0 (SMC2: credentials URI, oidc_role_arn; it pulls
#    alibabacloud-credentials) and aliyun-secret-manager-client 0.1.5 (SMC1: client keys on the shared
#    gateway and in KMS-instance mode, through alibabacloud-dkms-transfer-python 0.1.2).
#    SMC1 is installed with --no-deps: its metadata caps cryptography<=38.0.3, protobuf<=3.20.2,
#    multidict<=5.1.0 and typing-extensions<=4.1.1, which conflict with dkms-gcs 1.0.2's own
#    cryptography>=41 (and multidict 5.1 has no wheel for current Pythons). The caps are stale, not
#    needed: SMC1 uses only pyOpenSSL's load_pkcs12 (kept by pyOpenSSL 23.2, which dkms-gcs pins
#    below 23.3) and CORE's signer, and tests/e2e/test_shared_gateway_sdk.py runs it with
#    cryptography 41.0.7 / protobuf 3.20.3. Its real dependencies are the pins here plus
#    APScheduler and bytebuffer.
VENV="$CACHE/venv"
PY_PINS=('alibabacloud-dkms-gcs==1.0.2' 'cryptography>=41,<42'
         'alibabacloud-kms20160120==3.3.1' 'alibabacloud-tea-openapi==0.4.6' 'darabonba-core==1.0.9'
         'aliyun-python-sdk-core==2.16.1' 'aliyun-python-sdk-kms==2.16.5'
         'alibabacloud-secretsmanager-client-v2==2.0.0' 'alibabacloud-credentials==1.0.12'
         'alibabacloud-dkms-transfer-python==0.1.2' 'APScheduler==3.11.3' 'bytebuffer==0.1.2')
PY_NODEPS_PINS=('aliyun-secret-manager-client==0.1.5')
# (The check reads the installed versions: dkms-gcs has no `alibabacloud_dkms_gcs` module to import.)
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" - "${PY_PINS[@]}" "${PY_NODEPS_PINS[@]}" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    if "==" in pin:
        name, want = pin.split("==")
        assert version(name) == want, pin
    else:
        version(pin.split(">")[0])
PY
  log "python venv with the official SDKs"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PINS[@]}"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps "${PY_NODEPS_PINS[@]}"
fi

# 5. Node packages for the browser tests (playwright-core drives Debian chromium; no browser download).
if [ -f "$here/web-demo/package.json" ] && [ ! -d "$here/web-demo/node_modules/playwright-core" ]; then
  log "npm install (web-demo)"
  (cd "$here/web-demo" && npm install --no-audit --no-fund --silent)
fi
log "done"
