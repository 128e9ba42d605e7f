#!/usr/bin/env bash
# One port vs the engine's own port, measured in one run: examples/node-express attached
# to Express's http.Server (rt.attach) and on the engine's own port (SOCKET_PORT), the seed
# guide's own Node app (bench/reference-node), and examples/python-fastapi mounted in the
# ASGI app (SocketIOMiddleware) and on its own port. The same load generator
# (`sessionio-bench suite --only main,fanout`) measures RSS per connection and notify p99 at
# 5000 connections, handshakes per second and fan-out to 5000 sockets; `compare` writes the
# table to bench/out/one-port.md (bench/run.sh appends it to BENCHMARKS.md). Release builds.
#
#   bash bench/one-port.sh            # the full run: 3 rounds (about 18 minutes on 2 cores)
#   bash bench/one-port.sh --quick    # small sizes
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
if [[ "${1:-}" == "--quick" ]]; then quick=(--quick); fi
step() { printf '\n== %s\n' "$*"; }
ulimit -n "$(ulimit -Hn)"

step "release builds: the load generator, the Node addon, the Python wheel"
cargo build --release --quiet -p sessionio-bench
(cd bindings-node && SESSIONIO_CARGO_PROFILE=release node scripts/install.js)
npm ci --prefix examples/node-express --no-audit --no-fund --loglevel=error
npm ci --prefix bench/reference-node --no-audit --no-fund --loglevel=error
venv=bench/out/one-port-venv
[[ -x $venv/bin/python ]] || python3.11 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  "$(grep '^maturin==' bindings-python/requirements-dev.txt)" -r examples/python-fastapi/requirements.txt
rm -rf bench/out/one-port-wheels
(cd bindings-python && "../$venv/bin/maturin" build --quiet --release --out ../bench/out/one-port-wheels)
"$venv/bin/pip" install --quiet --force-reinstall --no-deps bench/out/one-port-wheels/sessionio-*.whl

# The suite gives every server SOCKET_PORT: the one-port runs unset it.
step "load generator: five servers taking turns, three rounds (each figure: its median)"
mkdir -p bench/out
target/release/sessionio-bench suite "${quick[@]}" --only main,fanout \
  --server node-one-port='unset SOCKET_PORT; exec node examples/node-express/app.mjs' \
  --server node-own-port='exec node examples/node-express/app.mjs' \
  --server node-reference='exec node bench/reference-node/server.js' \
  --server fastapi-one-port="unset SOCKET_PORT; exec $venv/bin/python examples/python-fastapi/app.py" \
  --server fastapi-own-port="exec $venv/bin/python examples/python-fastapi/app.py" \
  --rounds 3 --out bench/out/one-port.json

target/release/sessionio-bench compare --results bench/out/one-port.json --markdown bench/out/one-port.md \
  --title "One port (Node attach, ASGI mount) vs the engine's own port" --command "bash bench/one-port.sh" \
  --pair node-one-port:node-own-port --pair node-one-port:node-reference \
  --pair fastapi-one-port:fastapi-own-port
