# Sourced by the test scripts: a redis-server of the caller's own, on a free loopback port,
# for one step. `start_redis` sets $redis_port (and stops it on exit); `stop_redis` ends it.

start_redis() {
  redis_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  redis_dir="$(mktemp -d)"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$redis_dir" >/dev/null &
  redis_pid=$!
  trap 'kill "$redis_pid" 2>/dev/null || true; rm -rf "$redis_dir"' EXIT
  for _ in $(seq 1 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
}

stop_redis() {
  kill "$redis_pid"
  wait "$redis_pid" 2>/dev/null || true
  rm -rf "$redis_dir"
  trap - EXIT
}
