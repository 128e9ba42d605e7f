#!/usr/bin/env bash
# The Python binding's tests: builds the binding (dev profile, the workspace's target/) into
# bindings-python/.venv, type-checks the package and the examples with mypy --strict, runs
# the pytest suites, then the end-to-end contract suite (tests/e2e) against the FastAPI and
# the Flask example, alone and as 4 worker processes on one port (gunicorn -w 4, uvicorn
# --workers 4). Creates the venv and installs the pinned packages on a fresh clone.
# Environment: PYTHON (default python3.11) creates the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/redis.sh
. scripts/redis.sh
# shellcheck source=scripts/workers.sh
. scripts/workers.sh

# Each step's header says when it starts (seconds into this script): what a step costs.
step() { printf '\n== [%ss] %s\n' "$SECONDS" "$*"; }

if ! command -v chromium >/dev/null 2>&1; then
  step "installing chromium (browser test against examples/python-fastapi)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

VENV="$PWD/bindings-python/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV"
  "${PYTHON:-python3.11}" -m venv "$VENV"
fi

step "pip install -r bindings-python/requirements-dev.txt"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r bindings-python/requirements-dev.txt

step "maturin develop (the sessionio package, dev build)"
(cd bindings-python && VIRTUAL_ENV="$VENV" "$VENV/bin/maturin" develop --quiet)

step "mypy --strict (package and examples)"
# One run per example: both are named app.py. The cache stays in the venv.
mypy=("$VENV/bin/mypy" --strict --cache-dir "$VENV/.mypy_cache")
"${mypy[@]}" bindings-python/sessionio bindings-python/bench/notify_bench.py bindings-python/build_backend
"${mypy[@]}" examples/python-fastapi/app.py examples/python-fastapi/serve_workers.py
"${mypy[@]}" examples/python-flask/app.py examples/python-flask/serve_workers.py

step "pytest (bindings-python/tests)"
(cd bindings-python && "$VENV/bin/python" -m pytest -q)

if [ ! -d tests/node_modules/socket.io-client ]; then
  step "npm packages (tests)"
  npm ci --prefix tests --no-audit --no-fund --loglevel=error
fi

step "end-to-end contract against examples/python-fastapi on one port (SocketIOMiddleware, the default)"
(cd tests && SESSIONIO_ONE_PORT=1 SESSIONIO_EXAMPLE="bindings-python/.venv/bin/python examples/python-fastapi/app.py" \
  node --test e2e/ sessions/ users/)

step "browser: two tabs of one session in Chromium against examples/python-fastapi on one port"
(cd tests && SESSIONIO_BROWSER_EXAMPLE="bindings-python/.venv/bin/python examples/python-fastapi/app.py" node --test browser/)

for example in python-fastapi python-flask; do
  step "end-to-end contract against examples/$example on two ports (SOCKET_PORT: the engine's own port)"
  (cd tests && SESSIONIO_EXAMPLE="bindings-python/.venv/bin/python examples/$example/app.py" node --test e2e/ sessions/ users/)
done

if ! command -v redis-server >/dev/null 2>&1; then
  step "installing redis-server (the examples' several workers share sessions through it)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

# Each example as 4 workers on one port (examples/<example>/serve_workers.py;
# scripts/workers.sh says what runs).
step "examples/python-flask under gunicorn -w 4 (SOCKET_PORT bound by every worker): end-to-end contract and tests/workers/"
workers_suites "bindings-python/.venv/bin/python examples/python-flask/serve_workers.py"

step "examples/python-fastapi under uvicorn --workers 4 on one port (SocketIOMiddleware): end-to-end contract and tests/workers/"
SESSIONIO_ONE_PORT=1 workers_suites "bindings-python/.venv/bin/python examples/python-fastapi/serve_workers.py"
