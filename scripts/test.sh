#!/usr/bin/env bash
# Runs every test of the repository: Rust (format, lints, unit, integration, doc tests),
# then the end-to-end suites with the official Socket.IO client against the examples,
# the protocol conformance tests, the two-tab browser test in Debian's Chromium, and the
# Node, Python and Ruby bindings (scripts/test-node.sh, scripts/test-python.sh,
# scripts/test-ruby.sh: their own tests, then the end-to-end suite against
# examples/node-express, python-fastapi, python-flask, ruby-sinatra).
# Installs what it needs (npm packages, a Python venv, chromium, redis-server, Debian's
# Ruby packages) on a fresh machine; every redis-server it uses is its own, on a free
# loopback port. Then the release
# packages (scripts/test-package.sh: scripts/package.sh, installed and run with cargo off
# PATH). Ends with a short fuzz run (scripts/fuzz.sh --short) and a 2-minute soak
# (scripts/soak.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

if ! command -v chromium >/dev/null 2>&1; then
  step "installing chromium (browser test)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if ! command -v redis-server >/dev/null 2>&1; then
  step "installing redis-server (Redis store tests)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "cargo test"
cargo test --workspace --quiet
step "cargo test -p sessionio --no-default-features (the core with the memory store only)"
cargo test -p sessionio --no-default-features --quiet
step "building the examples"
cargo build --quiet -p rust-counter -p conformance

step "npm packages"
npm ci --prefix examples/rust-counter --no-audit --no-fund --loglevel=error
npm ci --prefix tests --no-audit --no-fund --loglevel=error

step "end-to-end, protocol, browser, store and hostile-client tests against the Rust examples (node --test)"
(cd tests && node --test e2e/ sessions/ protocol/ browser/ stores/ hostile/)

step "end-to-end contract against the Rust example on the SQLite store"
sqlite_dir="$(mktemp -d)"
(cd tests && SESSIONIO_EXAMPLE="SESSION_STORE_URL=sqlite://$sqlite_dir/e2e.db exec target/debug/rust-counter" node --test e2e/)
rm -rf "$sqlite_dir"

step "end-to-end contract against the Rust example with REDIS_URL (Redis store + adapter, own redis-server)"
redis_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
redis_dir="$(mktemp -d)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$redis_dir" >/dev/null &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null || true; rm -rf "$redis_dir"' EXIT
for _ in $(seq 1 100); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
(cd tests && SESSIONIO_EXAMPLE="REDIS_URL=redis://127.0.0.1:$redis_port exec target/debug/rust-counter" node --test e2e/)
kill "$redis_pid"
wait "$redis_pid" 2>/dev/null || true
rm -rf "$redis_dir"
trap - EXIT

step "two nodes on one Redis, and Redis killed and restarted under them (tests/cluster, own redis-servers)"
(cd tests && node --test cluster/)

# The bindings: their own tests, then the same end-to-end suite against their examples.
bash scripts/test-node.sh
bash scripts/test-python.sh
bash scripts/test-ruby.sh

# The one release build of the run: dist/ (npm tarballs, wheel, sdist, crate), then
# installs and the e2e contract without cargo on PATH. --allow-dirty: a local run may have
# uncommitted changes (a fresh clone has none).
bash scripts/test-package.sh --allow-dirty

step "host contract across languages: one handshake, one bad option — Rust, Node and Python agree (tests/contract)"
(cd tests && node --test contract/)

step "short fuzz run (scripts/fuzz.sh --short: nightly Rust and cargo-fuzz, installed if missing)"
bash scripts/fuzz.sh --short

step "short soak (2 minutes of churn on rust-counter: RSS flat, nothing left, nothing lost)"
SOAK_PROFILE=dev bash scripts/soak.sh
