#!/usr/bin/env bash
# Builds the gem's native part into lib/sessionio/native/: the engine's library
# (libsessionio_uniffi.so, built by cargo in the workspace's target/) and the Ruby module
# uniffi generates for it (sessionio_native.rb), which loads the library next to it.
# With --gem, also packs the gem: bindings-uniffi/ruby/sessionio-<version>-<platform>.gem.
#
# Usage: bash bindings-uniffi/ruby/build.sh [--release] [--gem]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

profile=dev
dir=debug
gem=0
for arg in "$@"; do
  case "$arg" in
    --release) profile=release; dir=release ;;
    --gem) gem=1 ;;
    *) echo "usage: bash bindings-uniffi/ruby/build.sh [--release] [--gem]" >&2; exit 2 ;;
  esac
done

cd "$repo"
# One build gives the library and the generator (the `bindgen` feature adds uniffi's CLI).
cargo build --quiet --profile "$profile" -p sessionio-uniffi --features bindgen
# The generator reads the exports from the library's symbols, which the release profile
# strips: it reads the dev build's (the same exports), whatever profile is packed.
[ "$profile" = dev ] || cargo build --quiet -p sessionio-uniffi --features bindgen
library=""
for name in libsessionio_uniffi.so libsessionio_uniffi.dylib; do
  [ -f "target/$dir/$name" ] && library="target/$dir/$name" && break
done
[ -n "$library" ] || { echo "build.sh: cargo built no sessionio_uniffi library in target/$dir" >&2; exit 1; }

native="$here/lib/sessionio/native"
mkdir -p "$native"
# The generator's only other output is a warning that rubocop is not there to format it.
if ! generated="$(target/debug/uniffi-bindgen generate --library "target/debug/$(basename "$library")" \
  --language ruby --out-dir "$native" 2>&1)"; then
  echo "$generated" >&2
  exit 1
fi
cp "$library" "$native/"
echo "build.sh: $native: $(ls "$native" | tr '\n' ' ')"

if [ "$gem" = 1 ]; then
  (cd "$here" && gem build --silent sessionio.gemspec)
  ls "$here"/sessionio-*.gem
fi
