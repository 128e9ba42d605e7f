#!/usr/bin/env bash
# The install-without-Rust step: builds dist/ with scripts/package.sh (release, in the
# workspace's target/), then, with cargo and rustc taken off PATH:
#   - tests/package/: fresh installs of the npm tarballs and the wheel (require, import, an
#     engine runs), the missing-prebuilt message at install and at require, the sdist's
#     missing-cargo message;
#   - examples/node-express installed from the two tarballs (not the repository folder) and
#     examples/python-fastapi run from a new venv with the wheel and the pinned FastAPI and
#     uvicorn: the end-to-end contract suite against each.
# Prints the PATH used, the install timings and the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's header says when it starts (seconds into this script): what a step costs.
step() { printf '\n== [%ss] %s\n' "$SECONDS" "$*"; }
# timed LABEL COMMAND...: runs COMMAND, then prints "LABEL: <seconds> s".
timed() {
  local label="$1" t0
  shift
  t0="$(date +%s.%N)"
  "$@"
  awk -v label="$label" -v t0="$t0" -v t1="$(date +%s.%N)" 'BEGIN { printf "%s: %.2f s\n", label, t1 - t0 }'
}

started=$SECONDS
step "scripts/package.sh"
bash scripts/package.sh "$@"
echo "package.sh: $((SECONDS - started)) s"

# PATH without the folders that hold cargo or rustc (rustup's ~/.cargo/bin, a distro's …).
no_rust_path=""
IFS=: read -r -a dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
  [ -z "$dir" ] && continue
  if [ -e "$dir/cargo" ] || [ -e "$dir/rustc" ]; then continue; fi
  case ":$no_rust_path:" in *":$dir:"*) continue ;; esac
  no_rust_path="${no_rust_path:+$no_rust_path:}$dir"
done
if PATH="$no_rust_path" command -v cargo >/dev/null || PATH="$no_rust_path" command -v rustc >/dev/null; then
  echo "test-package.sh: cargo or rustc is still reachable from PATH=$no_rust_path" >&2
  exit 1
fi
without_rust() { env -u CARGO -u RUSTC -u CARGO_HOME -u RUSTUP_HOME PATH="$no_rust_path" "$@"; }
step "without Rust: PATH=$no_rust_path"
without_rust sh -c 'echo "cargo: $(command -v cargo || echo "not found")"; echo "rustc: $(command -v rustc || echo "not found")"'

version="$(node -p "require('./bindings-node/package.json').version")"
platform="$(node -p "require('./bindings-node/lib/native').platformName()")"
DIST="$PWD/dist"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step "fresh installs and the missing-prebuilt messages (tests/package)"
(cd tests && without_rust SESSIONIO_DIST="$DIST" node --test package/)

step "examples/node-express installed from dist/sessionio-$version.tgz and dist/sessionio-$platform-$version.tgz"
app="$work/node-express"
mkdir -p "$app"
cp -R examples/node-express/app.mjs examples/node-express/public examples/node-express/package.json "$app/"
(cd "$app" && without_rust npm pkg set "dependencies.sessionio=file:$DIST/sessionio-$version.tgz" \
  "dependencies.sessionio-$platform=file:$DIST/sessionio-$platform-$version.tgz")
(cd "$app" && timed "npm install (express, socket.io-client and the two tarballs)" \
  without_rust npm install --no-audit --no-fund --loglevel=error)
(cd tests && without_rust SESSIONIO_EXAMPLE="node $app/app.mjs" node --test e2e/ users/)

step "examples/python-fastapi from a new venv: pip install dist/*.whl + the pinned fastapi, starlette, uvicorn"
"${PYTHON:-python3.11}" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check)
timed "pip install of the wheel" without_rust "${pip[@]}" "$DIST"/sessionio-"$version"-*.whl
without_rust "${pip[@]}" -r examples/python-fastapi/requirements.txt
without_rust "$work/venv/bin/python" -c 'import sessionio; print("sessionio from", sessionio.__file__)'
(cd tests && without_rust SESSIONIO_EXAMPLE="$work/venv/bin/python examples/python-fastapi/app.py" node --test e2e/ users/)

echo "test-package.sh: $((SECONDS - started)) s in all"
