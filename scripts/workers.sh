# Sourced by the test scripts (after scripts/redis.sh): the suites for an example run as 4
# workers on one port (the engine's `workers` option), started by the launcher command $1
# (without `exec`). First, on a redis-server of its own, the whole contract with
# SESSIONIO_PROCESSES=4 (POST /notify-user answers the sockets of the worker that served it,
# as documented: the users tests then check the events on every socket and that count as
# that worker's share); then tests/workers/ (one session's and one user's sockets proven on
# several workers, all reached and kicked; a polling session whose every request comes on a
# new connection), which starts its own redis-server (cluster/redis.mjs) and gives it to
# the launcher as REDIS_URL.

workers_suites() {
  start_redis
  (cd tests && export SESSIONIO_PROCESSES=4 \
    SESSIONIO_EXAMPLE="REDIS_URL=redis://127.0.0.1:$redis_port exec $1" &&
    # First, on the empty Redis: MAX_SESSIONS=3 counts every session in it.
    node --test sessions/ && node --test e2e/ users/)
  stop_redis
  (cd tests && SESSIONIO_EXAMPLE="exec $1" node --test workers/)
}
