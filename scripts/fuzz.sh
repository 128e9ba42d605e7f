#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer + AddressSanitizer, nightly Rust).
#
#   bash scripts/fuzz.sh --short [target…]   each target ~10 s (part of the test command)
#   bash scripts/fuzz.sh --long  [target…]   each target 10^7 executions, then `cargo fuzz cmin`
#
# Targets (fuzz/fuzz_targets/): cookie_codec, token_codec, cookie_header, handshake; all of
# them when none is named. The corpus lives in fuzz/corpus/<target>/ (committed). --short
# only reads it (new inputs go to a temporary directory, so the tree stays clean); --long
# adds its new inputs to it and minimizes it afterwards. A crash fails the script: libFuzzer
# writes the input to fuzz/artifacts/<target>/ and the script prints the panic; reproduce
# it with `cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>`.
#
# Per target it prints libFuzzer's final stats (executions, exec/s, peak RSS) and the RSS
# libFuzzer reports at start (INITED), at each power-of-two execution count (--long) and
# at the end (DONE). --long then checks "no memory growth" without ASan's quarantine: the
# minimized corpus replayed ~10^5 and ~10^6 times must peak within 16 MB of each other.
#
# Environment: FUZZ_SECONDS (--short, default 10), FUZZ_RUNS (--long, default 10000000),
# FUZZ_LOG_DIR (keep libFuzzer's full logs there), CARGO_BUILD_JOBS (compile jobs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ_DIR="$ROOT/fuzz"
ALL_TARGETS=(cookie_codec token_codec cookie_header handshake)

usage() {
  sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 2
}

mode="${1:-}"
case "$mode" in
  --short | --long) shift ;;
  *) usage ;;
esac
if [ "$#" -gt 0 ]; then
  targets=("$@")
  for t in "${targets[@]}"; do
    [ -f "$FUZZ_DIR/fuzz_targets/$t.rs" ] || { echo "fuzz.sh: unknown target $t" >&2; exit 2; }
  done
else
  targets=("${ALL_TARGETS[@]}")
fi

export PATH="$HOME/.cargo/bin:$PATH"

# Toolchain and cargo-fuzz, installed if missing.
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "== installing the nightly toolchain"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# One build of every target; `cargo fuzz run` below then finds it up to date (same flags:
# release with debug assertions, AddressSanitizer).
echo "== building the fuzz targets"
(cd "$ROOT" && cargo +nightly fuzz build --fuzz-dir "$FUZZ_DIR")

if [ -n "${FUZZ_LOG_DIR:-}" ]; then
  LOG_DIR="$FUZZ_LOG_DIR"
  mkdir -p "$LOG_DIR"
else
  LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sessionio-fuzz.XXXXXX")"
  trap 'rm -rf "$LOG_DIR"' EXIT
fi

# Prints the lines of a libFuzzer log that tell executions, speed and memory.
report() {
  local t="$1" log="$2"
  local inited done
  inited="$(grep -m1 -E '^#[0-9]+[[:space:]]+INITED' "$log" || true)"
  done="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n1 || true)"
  echo "-- $t"
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|slowest_unit_time_sec|peak_rss_mb)' "$log" | sed 's/^/   /' || true
  echo "   rss at start: $(sed -nE 's/.*rss: ([0-9]+Mb).*/\1/p' <<<"$inited")   ($inited)"
  if [ "$mode" = --long ]; then
    # RSS at 2^k executions (pulse lines), to see whether it keeps growing.
    grep -E '^#(65536|131072|262144|524288|1048576|2097152|4194304|8388608)[[:space:]]' "$log" \
      | sed -nE 's/^#([0-9]+).*rss: ([0-9]+Mb).*/   rss at #\1: \2/p' || true
  fi
  echo "   rss at end:   $(sed -nE 's/.*rss: ([0-9]+Mb).*/\1/p' <<<"$done")   ($done)"
  grep -E '^Done [0-9]+ runs in' "$log" | sed 's/^/   /' || true
}

failed=()
for t in "${targets[@]}"; do
  log="$LOG_DIR/$t.log"
  corpus="$FUZZ_DIR/corpus/$t"
  mkdir -p "$corpus"
  if [ "$mode" = --short ]; then
    # New inputs go to a scratch directory; the committed corpus is read only.
    scratch="$LOG_DIR/$t.corpus"
    mkdir -p "$scratch"
    corpora=("$scratch" "$corpus")
    lf_args=(-max_total_time="${FUZZ_SECONDS:-10}" -timeout=10 -rss_limit_mb=2048)
  else
    corpora=("$corpus")
    lf_args=(-runs="${FUZZ_RUNS:-10000000}" -timeout=10 -rss_limit_mb=2048)
  fi
  echo "== $t: cargo fuzz run $t ${lf_args[*]}"
  started=$SECONDS
  set +e
  (cd "$ROOT" && cargo +nightly fuzz run --fuzz-dir "$FUZZ_DIR" "$t" "${corpora[@]}" -- \
    "${lf_args[@]}" -print_final_stats=1) >"$log" 2>&1
  status=$?
  set -e
  report "$t" "$log"
  echo "   wall time: $((SECONDS - started)) s"
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    echo "!! $t failed (exit $status); the end of its log:"
    tail -n 60 "$log" | sed 's/^/   | /'
    ls -1 "$FUZZ_DIR/artifacts/$t" 2>/dev/null | sed 's/^/   artifact: fuzz\/artifacts\/'"$t"'\//' || true
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi

if [ "$mode" = --long ]; then
  for t in "${targets[@]}"; do
    before="$(find "$FUZZ_DIR/corpus/$t" -type f | wc -l)"
    echo "== $t: cargo fuzz cmin $t -- -use_counters=0"
    # Edges only (no hit counters): every input kept covers an edge no other one does,
    # which keeps the committed corpus small; counter-level variety regrows in seconds.
    (cd "$ROOT" && cargo +nightly fuzz cmin --fuzz-dir "$FUZZ_DIR" "$t" -- -use_counters=0) \
      >"$LOG_DIR/$t.cmin.log" 2>&1 \
      || { tail -n 30 "$LOG_DIR/$t.cmin.log"; echo "fuzz.sh: cmin of $t failed" >&2; exit 1; }
    after="$(find "$FUZZ_DIR/corpus/$t" -type f | wc -l)"
    echo "   corpus: $before files -> $after files ($(cat "$FUZZ_DIR/corpus/$t"/* | wc -c) bytes)"
  done
fi

# "No memory growth", measured without ASan's quarantine (which by itself fills up to
# 256 MB of freed memory, the plateau libFuzzer's own rss figures show): the minimized
# corpus replayed N times, then 10 N times; the peak RSS must stay within 16 MB.
replay_peak_kb() {
  local bin="$1" corpus="$2" runs="$3" log="$4" pid peak=0 r
  ASAN_OPTIONS=quarantine_size_mb=0:detect_odr_violation=0 \
    "$bin" -runs="$runs" -timeout=10 "$corpus"/* >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    r="$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
    if [ -n "$r" ]; then peak="$r"; fi
    sleep 0.2
  done
  wait "$pid" || return 1
  echo "$peak"
}

if [ "$mode" = --long ]; then
  host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
  for t in "${targets[@]}"; do
    bin="$FUZZ_DIR/target/$host/release/$t"
    files="$(find "$FUZZ_DIR/corpus/$t" -type f | wc -l)"
    r1=$(( (100000 + files - 1) / files ))
    r2=$(( r1 * 10 ))
    echo "== $t: corpus replay ($files inputs), ASan quarantine off"
    p1="$(replay_peak_kb "$bin" "$FUZZ_DIR/corpus/$t" "$r1" "$LOG_DIR/$t.replay1.log")" \
      || { tail -n 40 "$LOG_DIR/$t.replay1.log"; failed+=("$t"); continue; }
    p2="$(replay_peak_kb "$bin" "$FUZZ_DIR/corpus/$t" "$r2" "$LOG_DIR/$t.replay2.log")" \
      || { tail -n 40 "$LOG_DIR/$t.replay2.log"; failed+=("$t"); continue; }
    echo "   $((files * r1)) execs: peak rss $((p1 / 1024)) MB; $((files * r2)) execs: peak rss $((p2 / 1024)) MB"
    if [ "$p2" -gt $((p1 + 16 * 1024)) ]; then
      echo "!! $t: memory grows with executions"
      failed+=("$t")
    fi
  done
  if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz.sh: FAILED: ${failed[*]}" >&2
    exit 1
  fi
fi

echo "fuzz.sh: OK (${targets[*]})"
