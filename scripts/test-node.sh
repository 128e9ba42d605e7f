#!/usr/bin/env bash
# The Node binding's tests: builds the native addon (dev profile, in the workspace's
# target/), runs the binding's own tests, then the end-to-end contract suite against
# examples/node-express. Works on a fresh clone (no node_modules, no built addon).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

# `npm ci` runs the packages' install script, which builds the addon with cargo.
export SESSIONIO_CARGO_PROFILE="${SESSIONIO_CARGO_PROFILE:-dev}"

step "node binding: npm ci (cargo build -p sessionio-node, $SESSIONIO_CARGO_PROFILE profile)"
npm ci --prefix bindings-node --no-audit --no-fund --loglevel=error
step "examples/node-express: npm ci"
npm ci --prefix examples/node-express --no-audit --no-fund --loglevel=error
npm ci --prefix tests --no-audit --no-fund --loglevel=error

step "node binding tests (node --test bindings-node/test/*.test.mjs)"
(cd bindings-node && node --test test/*.test.mjs)

step "end-to-end contract against examples/node-express"
cd tests
SESSIONIO_EXAMPLE="node examples/node-express/app.mjs" node --test e2e/
