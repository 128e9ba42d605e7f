#!/usr/bin/env bash
# The Node binding's tests: builds the native addon (dev profile, in the workspace's
# target/), runs the binding's own tests, then the end-to-end contract suite against
# examples/node-express (one process, then 4 node:cluster workers on a redis-server of
# their own, with tests/workers/), and against
# examples/node-express-session (express-session's cookie and store: MemoryStore, then
# connect-redis on a redis-server of its own on a free loopback port) with the
# express-only tests of tests/express/. Works on a fresh clone (no node_modules, no built
# addon).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/redis.sh
. scripts/redis.sh
# shellcheck source=scripts/workers.sh
. scripts/workers.sh

# Each step's header says when it starts (seconds into this script): what a step costs.
step() { printf '\n== [%ss] %s\n' "$SECONDS" "$*"; }

if ! command -v redis-server >/dev/null 2>&1; then
  step "installing redis-server (connect-redis store of examples/node-express-session)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

if ! command -v chromium >/dev/null 2>&1; then
  step "installing chromium (browser test against examples/node-express)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# `npm ci` runs the packages' install script, which builds the addon with cargo.
export SESSIONIO_CARGO_PROFILE="${SESSIONIO_CARGO_PROFILE:-dev}"

step "node binding: npm ci (cargo build -p sessionio-node, $SESSIONIO_CARGO_PROFILE profile)"
npm ci --prefix bindings-node --no-audit --no-fund --loglevel=error
step "examples/node-express: npm ci"
npm ci --prefix examples/node-express --no-audit --no-fund --loglevel=error
npm ci --prefix tests --no-audit --no-fund --loglevel=error

step "node binding tests (node --test bindings-node/test/*.test.mjs)"
(cd bindings-node && node --test test/*.test.mjs)

step "end-to-end contract against examples/node-express on one port (rt.attach(server), the default)"
(cd tests && SESSIONIO_ONE_PORT=1 SESSIONIO_EXAMPLE="node examples/node-express/app.mjs" node --test e2e/ sessions/ users/)

step "hostile clients against examples/node-express on one port (the files that apply: tests/hostile/README.md)"
(cd tests && export SESSIONIO_ONE_PORT=1 SESSIONIO_EXAMPLE="node examples/node-express/app.mjs" &&
  node --test hostile/origin.test.mjs hostile/packets.test.mjs hostile/payload.test.mjs \
    hostile/flood.test.mjs hostile/pending.test.mjs hostile/polling.test.mjs hostile/rooms.test.mjs \
    hostile/non-utf8.test.mjs &&
  node --test --test-name-pattern='GET /metrics' hostile/exposure.test.mjs)

step "browser: two tabs of one session in Chromium against examples/node-express on one port"
(cd tests && SESSIONIO_BROWSER_EXAMPLE="node examples/node-express/app.mjs" node --test browser/)

step "end-to-end contract against examples/node-express on two ports (SOCKET_PORT: the engine's own port)"
(cd tests && SESSIONIO_EXAMPLE="node examples/node-express/app.mjs" node --test e2e/ sessions/ users/)

# examples/node-express as 4 workers under node:cluster (examples/node-express/cluster.mjs;
# scripts/workers.sh says what runs).
step "examples/node-express under node:cluster, 4 workers on one port (rt.attach(server))"
SESSIONIO_ONE_PORT=1 workers_suites "node examples/node-express/cluster.mjs"

step "examples/node-express under node:cluster, 4 workers on two ports (SOCKET_PORT bound by every worker)"
workers_suites "node examples/node-express/cluster.mjs"

step "examples/node-express-session: npm ci"
npm ci --prefix examples/node-express-session --no-audit --no-fund --loglevel=error

# The harness reads and forges express-session's cookie (connect.sid) and gives the app
# its SESSION_SECRET; tests/express/ holds the tests that only mean something there.
step "end-to-end contract against examples/node-express-session (express-session, MemoryStore)"
(cd tests && SESSIONIO_COOKIE=express SESSIONIO_EXAMPLE="node examples/node-express-session/app.mjs" \
  node --test e2e/ users/ express/)

step "end-to-end contract against examples/node-express-session with REDIS_URL (connect-redis, own redis-server)"
start_redis
(cd tests && SESSIONIO_COOKIE=express \
  SESSIONIO_EXAMPLE="REDIS_URL=redis://127.0.0.1:$redis_port exec node examples/node-express-session/app.mjs" \
  node --test e2e/ users/ express/)
stop_redis
