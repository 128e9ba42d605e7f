#!/usr/bin/env bash
# Runs every test of the repository: Rust (format, lints, unit, integration, doc tests),
# then the end-to-end suites with the official Socket.IO client against the examples,
# the protocol conformance tests, the two-tab browser test in Debian's Chromium, and the
# Node and Python bindings (scripts/test-node.sh, scripts/test-python.sh: their own tests,
# then the end-to-end suite against examples/node-express, python-fastapi, python-flask).
# Installs what it needs (npm packages, a Python venv, chromium) on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

if ! command -v chromium >/dev/null 2>&1; then
  step "installing chromium (browser test)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "cargo test"
cargo test --workspace --quiet
step "building the examples"
cargo build --quiet -p rust-counter -p conformance

step "npm packages"
npm ci --prefix examples/rust-counter --no-audit --no-fund --loglevel=error
npm ci --prefix tests --no-audit --no-fund --loglevel=error

step "end-to-end, protocol and browser tests against the Rust examples (node --test)"
(cd tests && node --test e2e/ protocol/ browser/ stores/)

step "end-to-end contract against the Rust example on the SQLite store"
sqlite_dir="$(mktemp -d)"
(cd tests && SESSIONIO_EXAMPLE="SESSION_STORE_URL=sqlite://$sqlite_dir/e2e.db exec target/debug/rust-counter" node --test e2e/)
rm -rf "$sqlite_dir"

# The bindings: their own tests, then the same end-to-end suite against their examples.
bash scripts/test-node.sh
bash scripts/test-python.sh
