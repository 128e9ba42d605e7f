#!/usr/bin/env bash
# Soak test: churn on one examples/rust-counter process — ~1000 sockets opened and
# closed per second on a working set of 500 sessions, POST /incr and socket "incr"
# events (500/s each), 20 logouts per second — then checks that the server's RSS stayed
# within ±5 % of its value at the end of the warm-up (the first 25 % of the run), that
# no socket, expiry timer or room is left for closed sockets and destroyed sessions
# (GET /metrics), and that no acknowledged increment was lost. Prints one summary line,
# writes every figure to bench/out/soak.json, exits non-zero if a check fails.
#
#   bash scripts/soak.sh                # 2 minutes
#   bash scripts/soak.sh --secs 1800    # the 30-minute soak
#   bash scripts/soak.sh --secs 600 --rate 500    # other options go to `sessionio-bench soak`
#
# SOAK_PROFILE=release (default) builds and runs the server and the load generator in
# release mode; SOAK_PROFILE=dev uses debug builds (cheaper to build on a fresh clone,
# but the debug server's RSS is not the one a deployment sees).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=120
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --secs) secs="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

profile="${SOAK_PROFILE:-release}"
case "$profile" in
  release) build=(--release); dir=target/release ;;
  dev | debug) build=(); dir=target/debug ;;
  *) echo "SOAK_PROFILE must be release or dev, not $profile" >&2; exit 2 ;;
esac

# One descriptor per socket on each side: ask for as many as the hard limit allows.
ulimit -n "$(ulimit -Hn)"

echo "== building rust-counter and sessionio-bench ($profile)"
start=$SECONDS
cargo build "${build[@]}" --quiet -p rust-counter -p sessionio-bench
echo "   built in $((SECONDS - start)) s"

mkdir -p bench/out
echo "== soak: $secs s"
exec "$dir/sessionio-bench" soak --command "exec $dir/rust-counter" \
  --secs "$secs" --out bench/out/soak.json "${args[@]}"
