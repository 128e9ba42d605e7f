#!/usr/bin/env bash
# Heap profile of the Rust example with ~500 open sockets (250 sessions x 2), to see where
# a connection's memory goes. Needs heaptrack (Debian package `heaptrack`; installed here
# if missing). Prints the live allocations per socket, grouped by the crate and line that
# made them, from the moment of peak heap use.
#
#   bash bench/profile.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v heaptrack >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq heaptrack >/dev/null
fi
# Line tables for readable stacks, in a separate target dir so the release build stays.
CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  cargo build --release --quiet -p rust-counter --target-dir target/profile
cargo build --release --quiet -p sessionio-bench
mkdir -p bench/out
rm -f bench/out/heap.zst

# The server is started under heaptrack by the load generator; heaptrack writes its file
# when the server exits (SIGTERM at the end of the scenario).
target/release/sessionio-bench suite --quick --only main \
  --server sessionio="exec heaptrack --record-only -o bench/out/heap target/profile/release/rust-counter" \
  --out bench/out/profile-results.json >/dev/null
for _ in $(seq 1 50); do
  if [[ -s bench/out/heap.zst ]] && ! pgrep -f target/profile/release/rust-counter >/dev/null; then break; fi
  pkill -INT -f target/profile/release/rust-counter 2>/dev/null || true
  sleep 0.2
done

heaptrack_print -f bench/out/heap.zst --print-peaks 1 --print-allocators 0 \
  --print-temporary 0 --print-leaks 0 -n 60 -s 30 2>/dev/null > bench/out/heap-peaks.txt
python3 bench/heap_summary.py bench/out/heap-peaks.txt 500
