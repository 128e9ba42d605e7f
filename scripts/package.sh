#!/usr/bin/env bash
# Builds what sessionio publishes, in release mode, into dist/:
#   sessionio-<platform>-<version>.tgz  npm: this machine's prebuilt addon (napi-rs naming,
#                                       e.g. sessionio-linux-x64-gnu), stripped
#   sessionio-<version>.tgz             npm: the JS package, listing every platform package
#                                       in dist/ in its optionalDependencies, with the Rust
#                                       sources in crate/ to build from when none fits
#   sessionio-<version>-cp311-abi3-manylinux_*.whl
#                                       PyPI: one wheel for CPython >= 3.11 (maturin picks the
#                                       manylinux tag its auditwheel check accepts)
#   sessionio-<version>.tar.gz          PyPI: the sdist (built from source with cargo)
#   sessionio-<version>.crate           crates.io: what `cargo publish -p sessionio` uploads
#                                       (`cargo package` builds it to verify it)
# Platform packages built on other machines and copied into dist/ beforehand are kept and
# listed too: that is how one release gathers every platform.
#
# Usage: bash scripts/package.sh [--allow-dirty]   (--allow-dirty: package uncommitted
# changes of core/, which `cargo publish` would refuse)
# Environment: PYTHON (default python3.11) creates bindings-python/.venv when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

allow_dirty=()
for arg in "$@"; do
  case "$arg" in
    --allow-dirty) allow_dirty=(--allow-dirty) ;;
    *) echo "usage: bash scripts/package.sh [--allow-dirty]" >&2; exit 2 ;;
  esac
done

DIST="$PWD/dist"
version="$(node -p "require('./bindings-node/package.json').version")"
for manifest in core/Cargo.toml bindings-node/Cargo.toml bindings-python/Cargo.toml; do
  crate_version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$manifest" | head -1)"
  if [ "$crate_version" != "$version" ]; then
    echo "package.sh: $manifest has version $crate_version, bindings-node/package.json $version: make them equal" >&2
    exit 1
  fi
done
platform="$(node -p "require('./bindings-node/lib/native').platformName()")"
stage="$DIST/.stage"
mkdir -p "$DIST"
rm -rf "$stage" "$DIST"/sessionio-"$version".* "$DIST/sessionio-$platform-$version.tgz" \
  "$DIST"/sessionio-"$version"-*.whl
mkdir -p "$stage"

step "node addon: cargo build --release -p sessionio-node"
cargo build --release --quiet -p sessionio-node
library=""
for candidate in libsessionio_node.so libsessionio_node.dylib sessionio_node.dll; do
  [ -f "target/release/$candidate" ] && library="target/release/$candidate" && break
done
[ -n "$library" ] || { echo "package.sh: cargo built no sessionio_node library in target/release" >&2; exit 1; }

step "npm: sessionio-$platform-$version.tgz (the prebuilt addon)"
platform_dir="$stage/sessionio-$platform"
mkdir -p "$platform_dir"
cp "$library" "$platform_dir/sessionio.$platform.node"
node - "$platform_dir" "$platform" "$version" <<'EOF'
const fs = require('node:fs');
const path = require('node:path');
const [dir, platform, version] = process.argv.slice(2);
const [os, cpu, abi] = platform.split('-');
const pkg = {
  name: `sessionio-${platform}`,
  version,
  description: `The prebuilt native addon of sessionio for ${platform}`,
  license: 'MIT',
  main: `sessionio.${platform}.node`,
  files: [`sessionio.${platform}.node`],
  os: [os],
  cpu: [cpu],
  ...(abi === 'gnu' ? { libc: ['glibc'] } : abi === 'musl' ? { libc: ['musl'] } : {}),
  engines: { node: '>=20' },
};
fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
fs.writeFileSync(
  path.join(dir, 'README.md'),
  `# sessionio-${platform}\n\nThe prebuilt native addon of [sessionio](https://www.npmjs.com/package/sessionio) ` +
    `for ${platform}. Install \`sessionio\`: npm installs this package with it.\n`,
);
EOF
npm pack "$platform_dir" --pack-destination "$DIST" --loglevel=error >/dev/null

step "npm: sessionio-$version.tgz (JS, optionalDependencies on the platform packages, Rust sources)"
# npm pack's prepack hook puts the Rust sources in crate/; the packed package.json then gets
# the optionalDependencies, as napi-rs's prepublish step does.
npm pack ./bindings-node --pack-destination "$stage" --loglevel=error >/dev/null
tar -xzf "$stage/sessionio-$version.tgz" -C "$stage"
node - "$stage/package/package.json" "$DIST" "$version" <<'EOF'
const fs = require('node:fs');
const [file, dist, version] = process.argv.slice(2);
const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
const suffix = `-${version}.tgz`;
const platforms = fs
  .readdirSync(dist)
  .filter((f) => f.startsWith('sessionio-') && f.endsWith(suffix) && f !== `sessionio${suffix}`)
  .map((f) => f.slice(0, -suffix.length))
  .sort();
pkg.optionalDependencies = Object.fromEntries(platforms.map((name) => [name, version]));
delete pkg.devDependencies;
fs.writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`);
console.log(`optionalDependencies: ${platforms.join(', ')}`);
EOF
npm pack "$stage/package" --ignore-scripts --pack-destination "$DIST" --loglevel=error >/dev/null

VENV="$PWD/bindings-python/.venv"
if [ ! -x "$VENV/bin/maturin" ]; then
  step "creating $VENV with maturin"
  [ -x "$VENV/bin/python" ] || "${PYTHON:-python3.11}" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "$(grep '^maturin==' bindings-python/requirements-dev.txt)"
fi
step "python: the abi3 wheel (maturin build --release) and the sdist"
(cd bindings-python && VIRTUAL_ENV="$VENV" "$VENV/bin/maturin" build --release --strip --quiet --out "$DIST")
(cd bindings-python && VIRTUAL_ENV="$VENV" "$VENV/bin/maturin" sdist --out "$DIST")

step "crate: cargo package -p sessionio"
cargo package -p sessionio "${allow_dirty[@]}"
cp "target/package/sessionio-$version.crate" "$DIST/"

rm -rf "$stage"
step "dist/"
ls -la "$DIST"
