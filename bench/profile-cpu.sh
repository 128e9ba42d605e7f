#!/usr/bin/env bash
# Where the Rust example's CPU time goes while the load generator opens 5000 sockets and
# runs the notify samples (the 5k scenario of bench/run.sh): perf's cpu-clock sampler
# (works without hardware counters), split by binary (kernel / the server / libc) and by
# symbol. Needs perf (Debian package `linux-perf`; installed here if missing).
#
#   bash bench/profile-cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v perf >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
fi
CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  cargo build --release --quiet -p rust-counter --target-dir target/profile
cargo build --release --quiet -p sessionio-bench
mkdir -p bench/out
rm -f bench/out/perf.data

target/release/sessionio-bench suite --only main \
  --server sessionio="exec perf record -q -e cpu-clock -F 2000 -g -o bench/out/perf.data target/profile/release/rust-counter" \
  --out bench/out/profile-cpu-results.json >/dev/null
sleep 2

echo "## by binary"
perf report -i bench/out/perf.data --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -6
echo
echo "## top symbols"
perf report -i bench/out/perf.data --no-children --sort symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -20 | cut -c1-120
