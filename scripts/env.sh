# Shared environment for the scripts: one build cache outside the clone, the filter artifact path.
# shellcheck shell=bash
export AAPKIT_CACHE="${AAPKIT_CACHE:-$HOME/.cache/aapkit}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$AAPKIT_CACHE/target}"
export AAPKIT_FILTER_WASM="${AAPKIT_FILTER_WASM:-$CARGO_TARGET_DIR/wasm32-wasip1/wasm-release/aapkit_filter.wasm}"
export AAPKIT_PYTHON="${AAPKIT_PYTHON:-$AAPKIT_CACHE/venv/bin/python}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
