#!/usr/bin/env bash
# Runs the counter demo (Rust, axum, embedded memory store) on http://127.0.0.1:${PORT:-3000}.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --prefix examples/rust-counter --no-audit --no-fund --loglevel=error
exec cargo run --quiet -p rust-counter
