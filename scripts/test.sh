#!/usr/bin/env bash
# Runs every test of the repository: Rust (format, lints, unit, integration, doc tests),
# then the end-to-end suites with the official Socket.IO client against the examples
# (rust-counter on each store; rust-tower-sessions on tower-sessions' memory, SQLite and
# Redis stores, and two of its processes on one Redis),
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
# shellcheck source=scripts/redis.sh
. scripts/redis.sh

# Each step's header says when it starts (seconds into this script): what a step costs.
step() { printf '\n== [%ss] %s\n' "$SECONDS" "$*"; }

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
# The workspace build turns on what its members use (the tower-sessions 0.14 line among
# them); this one is the core with the memory store only, plus the tower-sessions 0.15 line.
step "cargo test -p sessionio --no-default-features --features tower-sessions-015 (the core with the memory store only; tower-sessions 0.15's tests)"
cargo test -p sessionio --no-default-features --features tower-sessions-015 --quiet
step "building the examples"
cargo build --quiet -p rust-counter -p rust-tower-sessions -p conformance -p sessionio-bench

step "npm packages"
npm ci --prefix examples/rust-counter --no-audit --no-fund --loglevel=error
npm ci --prefix tests --no-audit --no-fund --loglevel=error

step "end-to-end, users, protocol, browser, store and hostile-client tests against the Rust examples (node --test)"
(cd tests && node --test e2e/ users/ sessions/ protocol/ browser/ stores/ hostile/)

step "end-to-end contract (and users) against the Rust example on the SQLite store"
sqlite_dir="$(mktemp -d)"
(cd tests && SESSIONIO_EXAMPLE="SESSION_STORE_URL=sqlite://$sqlite_dir/e2e.db exec target/debug/rust-counter" node --test e2e/ users/)
rm -rf "$sqlite_dir"

step "end-to-end contract (and users) against the Rust example with REDIS_URL (Redis store + adapter, own redis-server)"
start_redis
(cd tests && SESSIONIO_EXAMPLE="REDIS_URL=redis://127.0.0.1:$redis_port exec target/debug/rust-counter" node --test e2e/ users/)
stop_redis

step "two nodes on one Redis (sessions, and users across sessions), Redis killed and restarted under them, and a master of a 3-master Redis Cluster killed and restarted (tests/cluster, own redis-servers)"
(cd tests && node --test cluster/)
step "the two-node suites again on a 3-master Redis Cluster (redis-cluster://, sharded pub/sub; own redis-servers in cluster mode)"
(cd tests && SESSIONIO_REDIS=cluster node --test cluster/two-nodes.test.mjs cluster/users.test.mjs)

step "scale-out smoke: 4 rust-counter processes on one Redis, 8000 sockets from 2 load-generator processes, notify and logout across nodes, Redis killed and restarted (sessionio-bench scale --quick, own redis-server)"
scale_dir="$(mktemp -d)"
target/debug/sessionio-bench scale --quick --command 'exec target/debug/rust-counter' --out "$scale_dir/scale.json"
rm -rf "$scale_dir"

# Keep your tower-sessions: the axum app with its own tower-sessions 0.14 setup (signed
# cookie `counter.sid`, which the harness reads with SESSIONIO_COOKIE=tower) on each store.
# tower-sessions-redis-store drops a session up to a second before its expiry (whole-second
# key expiries), so the expiry suites give it 4 s rather than 1.5 s.
tower() { (cd tests && SESSIONIO_COOKIE=tower "$@"); }
step "end-to-end contract against examples/rust-tower-sessions (tower-sessions MemoryStore)"
tower env SESSIONIO_EXAMPLE="exec target/debug/rust-tower-sessions" node --test e2e/ users/
step "end-to-end contract against examples/rust-tower-sessions (tower-sessions-sqlx-store, SQLite)"
sqlite_dir="$(mktemp -d)"
tower env SESSIONIO_EXAMPLE="SESSION_STORE_URL=sqlite://$sqlite_dir/tower.db exec target/debug/rust-tower-sessions" node --test e2e/ users/
rm -rf "$sqlite_dir"
step "end-to-end contract against examples/rust-tower-sessions (tower-sessions-redis-store + the adapter, own redis-server)"
start_redis
tower env SESSIONIO_EXPIRY_TTL_MS=4000 SESSIONIO_EXAMPLE="REDIS_URL=redis://127.0.0.1:$redis_port exec target/debug/rust-tower-sessions" node --test e2e/ users/
stop_redis
step "two rust-tower-sessions processes on one Redis (tests/cluster/two-nodes.test.mjs and users.test.mjs, own redis-server)"
tower env SESSIONIO_EXPIRY_TTL_MS=4000 SESSIONIO_EXAMPLE="exec target/debug/rust-tower-sessions" node --test cluster/two-nodes.test.mjs cluster/users.test.mjs

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
