#!/usr/bin/env bash
# The bench command: builds everything in release mode, runs the load generator against
# sessionio's Rust example and the Node reference app (the seed guide's express-session +
# socket.io code) one after the other, runs the cross-node bench (two Rust processes on a
# redis-server of its own) and the users bench (notify_user/destroy_user, one and two nodes),
# runs the scale-out bench (8 Rust processes on one redis-server of its own, 140 000 sockets
# held by load-generator processes: memory, idle cost, cross-node notify and logout, Redis
# killed and restarted), runs the bindings' call-cost and handler round-trip benches, and
# rewrites BENCHMARKS.md and bench/rss.svg. Takes about 15 minutes on 2 cores.
#
#   bash bench/run.sh            # the full run
#   bash bench/run.sh --quick    # a smoke run with small sizes (does not touch BENCHMARKS.md)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
if [[ "${1:-}" == "--quick" ]]; then quick=(--quick); fi
step() { printf '\n== %s\n' "$*"; }

# One descriptor per connection on each side: ask for as many as the hard limit allows.
ulimit -n "$(ulimit -Hn)"

step "release build (server, load generator)"
cargo build --release --quiet -p rust-counter -p sessionio-bench

if ! command -v redis-server >/dev/null 2>&1; then
  step "installing redis-server (cross-node bench)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

step "npm packages of the Node reference app"
npm ci --prefix bench/reference-node --no-audit --no-fund --loglevel=error

mkdir -p bench/out
includes=()
step "load generator: sessionio, then node"
target/release/sessionio-bench suite "${quick[@]}" \
  --server sessionio='exec target/release/rust-counter' \
  --server node='exec node bench/reference-node/server.js' \
  --out bench/out/results.json

step "cross-node notify: two sessionio processes on one redis-server (its own)"
target/release/sessionio-bench cluster "${quick[@]}" \
  --command 'exec target/release/rust-counter' --out bench/out/cluster.json

step "users across sessions: notify_user and destroy_user, one node and two on one redis-server (its own)"
target/release/sessionio-bench users "${quick[@]}" \
  --command 'exec target/release/rust-counter' --out bench/out/users.json --markdown bench/out/users.md

step "scale-out: 8 sessionio processes on one redis-server (its own), 140 000 sockets from load-generator processes"
target/release/sessionio-bench scale "${quick[@]}" \
  --command 'exec target/release/rust-counter' --out bench/out/scale.json --markdown bench/out/scale.md

if [[ ${#quick[@]} -gt 0 ]]; then
  target/release/sessionio-bench report --results bench/out/results.json \
    --cluster bench/out/cluster.json \
    --markdown bench/out/BENCHMARKS.quick.md --svg bench/out/rss.quick.svg
  exit 0
fi
step "the bindings side by side: notify_session from Node, Python and Ruby, a socket handler's round trip in every language (bench/bindings.sh)"
bash bench/bindings.sh
includes+=(--include bench/out/node-notify.json --include bench/out/python-notify.json --include bench/out/ruby-notify.json)

step "one port vs the engine's own port (bench/one-port.sh)"
bash bench/one-port.sh

step "install size and cold start (scripts/package.sh, node bench/install.mjs)"
bash scripts/package.sh --allow-dirty
node bench/install.mjs --out bench/out/install.md

step "writing BENCHMARKS.md"
target/release/sessionio-bench report --results bench/out/results.json "${includes[@]}" \
  --cluster bench/out/cluster.json --append bench/out/users.md --append bench/out/scale.md --append bench/memory.md --append bench/handshake.md \
  --append bench/out/handler-roundtrip.md --append bench/out/one-port.md --append bench/out/install.md \
  --markdown BENCHMARKS.md --svg bench/rss.svg --command "bash bench/run.sh"
