#!/usr/bin/env bash
# The bindings side by side, on release builds, in one run: what a notify_session call
# costs from Node, Python and Ruby (each binding's own bench: bindings-node/bench/notify.mjs,
# bindings-python/bench/notify_bench.py, bindings-uniffi/ruby/bench/notify_bench.rb), and a
# socket handler's round trip in every language's example (bench/handler-roundtrip.mjs:
# rust-counter, node-express, python-flask, ruby-sinatra, one after the other). Writes
# bench/out/{node,python,ruby}-notify.json and bench/out/handler-roundtrip.md, which
# bench/run.sh puts in BENCHMARKS.md. About 8 minutes once the release builds are there.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
mkdir -p bench/out

step "release builds: rust-counter, the Node addon, the Python wheel, the Ruby gem's library"
cargo build --release --quiet -p rust-counter
(cd bindings-node && npm ci --no-audit --no-fund --loglevel=error --ignore-scripts && SESSIONIO_CARGO_PROFILE=release node scripts/install.js)
npm ci --prefix examples/node-express --no-audit --no-fund --loglevel=error
venv=bench/out/bindings-venv
[[ -x $venv/bin/python ]] || python3.11 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  "$(grep '^maturin==' bindings-python/requirements-dev.txt)" "$(grep '^aiohttp==' bindings-python/requirements-dev.txt)" \
  -r examples/python-flask/requirements.txt
rm -rf bench/out/bindings-wheels
(cd bindings-python && "../$venv/bin/maturin" build --quiet --release --out ../bench/out/bindings-wheels)
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps bench/out/bindings-wheels/sessionio-*.whl
bash bindings-uniffi/ruby/build.sh --release
npm ci --prefix tests --no-audit --no-fund --loglevel=error

step "notify_session call cost from Node, Python and Ruby"
node bindings-node/bench/notify.mjs --json bench/out/node-notify.json
"$venv/bin/python" bindings-python/bench/notify_bench.py --json bench/out/python-notify.json
ruby -Ibindings-uniffi/ruby/lib bindings-uniffi/ruby/bench/notify_bench.rb --json bench/out/ruby-notify.json

step "socket handler round trip: rust, node, python, ruby"
node bench/handler-roundtrip.mjs --seconds 10 --sockets 100 --out bench/out/handler-roundtrip.md \
  --server rust='exec target/release/rust-counter' \
  --server node='exec node examples/node-express/app.mjs' \
  --server python="exec $venv/bin/python examples/python-flask/app.py" \
  --server ruby='RUBYLIB=bindings-uniffi/ruby/lib exec ruby examples/ruby-sinatra/app.rb'
cat bench/out/handler-roundtrip.md
