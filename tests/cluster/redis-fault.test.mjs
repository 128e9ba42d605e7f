// Redis dies under two nodes (SIGKILL), then comes back on the same port and directory.
// While it is down: the connected sockets stay connected, both processes live on, a new
// handshake gets connect_error "store unavailable" and HTTP answers 503, each within the
// store's 2 s call timeout (plus slack). Once it is back (its append-only file kept the
// session): a handshake on B succeeds, POST /incr on A answers 200 with the count going on,
// and that POST reaches the old sockets on B through the adapter — each within 2 s.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  newSession,
  HttpClient,
  Clients,
  TRANSPORTS,
  counts,
  emitWithAck,
  waitForEvent,
  waitForUpgrade,
  sleep,
  now,
  SUITE_TIMEOUT_MS,
} from "../e2e/harness.mjs";
import { startRedis } from "./redis.mjs";
import { startNodes, assertHealthy } from "./nodes.mjs";

/** The connected sockets must survive at least this long without Redis. */
const DOWN_MS = 3_000;
/** A refusal while Redis is down must come within this (the store's call timeout is 2 s). */
const DOWN_ANSWER_MS = 3_000;
/** Each recovery, from the restart of Redis. */
const MAX_RECOVERY_MS = 2_000;
/** Polling interval during the recovery. */
const POLL_MS = 50;
/** Give up polling for a recovery after this (a failure either way; only bounds the test). */
const POLL_GIVE_UP_MS = 15_000;
/** How long the old sockets on B are watched for the notification (a failure past MAX_RECOVERY_MS anyway). */
const CROSS_NODE_WAIT_MS = 5_000;

describe("Redis SIGKILLed and restarted under two nodes", { timeout: SUITE_TIMEOUT_MS }, () => {
  let redis;
  let A;
  let B;
  const clients = new Clients();
  before(async () => {
    redis = await startRedis();
    [A, B] = await startNodes({ redisUrl: redis.url });
  });
  afterEach(async () => {
    clients.closeAll();
    // a failed test must not leave Redis down for the next one
    if (redis && !redis.alive()) await redis.restart();
  });
  after(async () => {
    clients.closeAll();
    try {
      await Promise.all([A?.stop(), B?.stop()]);
    } finally {
      await redis?.stop();
    }
  });

  for (const transport of TRANSPORTS) {
    const tag = `[${transport.name}]`;
    const connect = (node, opts) => clients.connect(node.socket, { transport, ...opts });

    test(`while Redis is down sockets stay, refusals are quick ("store unavailable", 503); after its restart everything recovers within ${MAX_RECOVERY_MS} ms ${tag}`, async () => {
      // --- before: a session with a count, sockets of it on both nodes
      const s = await newSession(A.http);
      assert.equal(await s.incr(), 1);
      const before = await s.incr();
      assert.equal(before, 2);
      const oldA = await connect(A, { cookie: s.cookie, label: "old socket on A" });
      const oldB = await Promise.all([
        connect(B, { cookie: s.cookie, label: "old socket 0 on B" }),
        connect(B, { cookie: s.cookie, label: "old socket 1 on B" }),
      ]);
      const old = [oldA, ...oldB];
      if (transport.name === "polling+upgrade") for (const sock of old) await waitForUpgrade(sock);

      // --- Redis dies
      const killedAt = now();
      await redis.kill();

      // a new handshake, on either node: connect_error "store unavailable", quickly
      for (const node of [A, B]) {
        const t0 = now();
        const err = await clients.connectError(node.socket, { transport, cookie: s.cookie });
        const took = now() - t0;
        assert.equal(err.message, "store unavailable", `handshake on ${node.name} with Redis down`);
        assert.ok(took <= DOWN_ANSWER_MS, `handshake on ${node.name} took ${took.toFixed(0)} ms to be refused (max ${DOWN_ANSWER_MS})`);
      }
      // HTTP with the cookie, on either node: 503 "store unavailable", quickly
      for (const node of [A, B]) {
        const c = new HttpClient(node.http, s.cookieValue);
        for (const [method, path] of [["GET", "/"], ["POST", "/incr"]]) {
          const r = await c.send(method, path, { keepCookie: false });
          const took = r.at - r.startedAt;
          assert.equal(r.status, 503, `${method} ${path} on ${node.name} with Redis down answered ${r.status}: ${r.body}`);
          assert.match(r.body, /store unavailable/, `${method} ${path} on ${node.name}: body`);
          assert.ok(took <= DOWN_ANSWER_MS, `${method} ${path} on ${node.name} took ${took.toFixed(0)} ms (max ${DOWN_ANSWER_MS})`);
        }
      }
      // a socket event on an old socket is answered with an error ack, not a count
      const t1 = now();
      const ack = await emitWithAck(oldB[0], "incr");
      assert.ok(
        ack && typeof ack === "object" && /store unavailable/.test(String(ack.error)),
        `socket "incr" on B with Redis down acked ${JSON.stringify(ack)}, not {"error": "…store unavailable…"}`,
      );
      assert.ok(now() - t1 <= DOWN_ANSWER_MS, `socket "incr" with Redis down took ${(now() - t1).toFixed(0)} ms to ack`);

      // the old sockets stay connected, the processes alive
      // (timers may fire a millisecond early against performance.now(): loop)
      while (now() - killedAt < DOWN_MS) await sleep(Math.max(1, killedAt + DOWN_MS - now()));
      for (const [j, sock] of old.entries()) {
        assert.deepEqual(sock.disconnects, [], `old socket ${j} (${j ? "B" : "A"}) was disconnected while Redis was down`);
        assert.equal(sock.connected, true, `old socket ${j} (${j ? "B" : "A"}) is not connected`);
      }
      assertHealthy([A, B]);
      assert.equal(redis.alive(), false);

      // --- Redis comes back (same port, same directory: the AOF has the session)
      const restartedAt = now();
      const since = () => now() - restartedAt;
      let redisReadyMs = NaN;
      const restarting = redis.restart().then(() => (redisReadyMs = since()));
      restarting.catch(() => {}); // awaited below

      // (a) a new handshake on B succeeds
      const handshakeLog = [];
      const handshake = (async () => {
        for (;;) {
          const sock = clients.open(B.socket, { transport, cookie: s.cookie });
          const outcome = await new Promise((resolve) => {
            const timer = setTimeout(() => resolve("no answer within 5000 ms"), 5_000);
            sock.once("connect", () => {
              clearTimeout(timer);
              resolve(null);
            });
            sock.once("connect_error", (e) => {
              clearTimeout(timer);
              resolve(`connect_error "${e.message}"`);
            });
          });
          if (outcome === null) return { ms: since(), sock };
          sock.disconnect();
          handshakeLog.push(`${since().toFixed(0)} ms: ${outcome}`);
          if (since() > POLL_GIVE_UP_MS) throw new Error(`no handshake on B succeeded within ${POLL_GIVE_UP_MS} ms of the restart: ${handshakeLog.join("; ")}`);
          await sleep(POLL_MS);
        }
      })();
      // (b) POST /incr on A answers 200
      const httpLog = [];
      const http = (async () => {
        for (;;) {
          const r = await s.post("/incr", { keepCookie: false });
          if (r.status === 200) return { ms: r.at - restartedAt, n: Number(r.body) };
          httpLog.push(`${(r.at - restartedAt).toFixed(0)} ms: ${r.status} ${r.body.trim()}`);
          if (since() > POLL_GIVE_UP_MS) throw new Error(`no POST /incr on A answered 200 within ${POLL_GIVE_UP_MS} ms of the restart: ${httpLog.join("; ")}`);
          await sleep(POLL_MS);
        }
      })();
      // (c) that POST's "current count" reaches the old sockets on B
      const crossNode = http.then(async ({ n }) => {
        const ats = await Promise.all(
          oldB.map(async (sock, j) => {
            await waitForEvent(sock, "current count", {
              timeout: Math.max(1, CROSS_NODE_WAIT_MS - since()),
              pred: (v) => v === n,
              label: `(${n}, from the first POST /incr on A answered 200 after the restart) on old socket ${j} on B within ${CROSS_NODE_WAIT_MS} ms of the restart (it got ${JSON.stringify(counts(sock))})`,
            });
            return sock.received.find((e) => e.event === "current count" && e.args[0] === n).at;
          }),
        );
        return { ms: Math.max(...ats) - restartedAt };
      });
      crossNode.catch(() => {}); // awaited below
      const [h, p] = await Promise.all([handshake, http]);
      await restarting;
      const c = await crossNode.catch((e) => ({ ms: NaN, error: e }));

      console.log(
        `redis recovery handshake=${h.ms.toFixed(0)} http=${p.ms.toFixed(0)} cross-node=${c.ms.toFixed(0)} ` +
          `${tag} (redis answered PING after ${redisReadyMs.toFixed(0)} ms)`,
      );
      // every problem at once, with what the polls saw
      const problems = [];
      if (h.ms > MAX_RECOVERY_MS) problems.push(`a handshake on B first succeeded ${h.ms.toFixed(0)} ms after the restart (max ${MAX_RECOVERY_MS})`);
      if (p.ms > MAX_RECOVERY_MS) problems.push(`POST /incr on A first answered 200 ${p.ms.toFixed(0)} ms after the restart (max ${MAX_RECOVERY_MS})`);
      if (p.n !== before + 1) {
        problems.push(
          `the first POST /incr on A answered 200 after the restart with ${p.n}, not ${before + 1}: ` +
            (p.n > before + 1 ? `${p.n - before - 1} increment(s) answered with an error were applied` : "the session's count was lost"),
        );
      }
      if (c.error) {
        problems.push(c.error.message);
        // diagnosis only: does a later notification cross (a lost message) or none (no recovery)?
        const later = await s.post("/incr", { keepCookie: false });
        const m = Number(later.body);
        const got = await Promise.all(
          oldB.map((sock) =>
            waitForEvent(sock, "current count", { timeout: 3_000, pred: (v) => v === m }).then(() => true, () => false),
          ),
        );
        problems.push(
          `(a later POST /incr on A, ${since().toFixed(0)} ms after the restart, answered ${later.status} ${later.body.trim()}; ` +
            `its "current count" reached ${got.filter(Boolean).length} of the ${oldB.length} old sockets on B within 3000 ms)`,
        );
      } else if (c.ms > MAX_RECOVERY_MS) problems.push(`POST /incr on A reached the old sockets on B ${c.ms.toFixed(0)} ms after the restart (max ${MAX_RECOVERY_MS})`);
      if (problems.length) {
        // context for the failure message: what the polls got before their first success
        if (httpLog.length) problems.push(`(POST /incr attempts on A before the 200: ${httpLog.join("; ")})`);
        if (handshakeLog.length) problems.push(`(handshake attempts on B before the success: ${handshakeLog.join("; ")})`);
      }
      if (problems.length) assert.fail(`recovery after the Redis restart:\n  ${problems.join("\n  ")}`);

      // the old socket on A got it too, every old socket is still the same connection, and the new socket works
      await waitForEvent(oldA, "current count", { pred: (v) => v === p.n, label: "on the old socket on A" });
      for (const [j, sock] of old.entries()) {
        assert.deepEqual(sock.disconnects, [], `old socket ${j} was disconnected during the recovery`);
      }
      assert.equal(await emitWithAck(h.sock, "incr"), p.n + 1);
      assert.equal(await emitWithAck(oldB[1], "incr"), p.n + 2);
      assertHealthy([A, B]);
    });
    test(`Redis restarted while the nodes were idle: ${MAX_RECOVERY_MS} ms later the first requests succeed and reach the old sockets on B ${tag}`, async () => {
      const s = await newSession(A.http);
      assert.equal(await s.incr(), 1);
      const oldA = await connect(A, { cookie: s.cookie, label: "old socket on A" });
      const oldB = await connect(B, { cookie: s.cookie, label: "old socket on B" });
      if (transport.name === "polling+upgrade") for (const sock of [oldA, oldB]) await waitForUpgrade(sock);

      await redis.kill();
      await sleep(1_000); // no request at all while it is down
      const restartedAt = now();
      await redis.restart();
      while (now() - restartedAt < MAX_RECOVERY_MS) await sleep(Math.max(1, restartedAt + MAX_RECOVERY_MS - now()));

      // each of these is the first of its kind since Redis came back; none may fail
      const problems = [];
      const r = await s.post("/incr", { keepCookie: false });
      if (r.status !== 200 || r.body !== "2") problems.push(`the first POST /incr on A answered ${r.status} ${r.body.trim()} (want 200 2)`);
      const onB = new HttpClient(B.http, s.cookieValue);
      const g = await onB.get("/");
      if (g.status !== 200) problems.push(`the first GET / on B answered ${g.status} ${g.body.trim().slice(0, 200)}`);
      const sock = clients.open(B.socket, { transport, cookie: s.cookie });
      const outcome = await new Promise((resolve) => {
        const timer = setTimeout(() => resolve("no answer within 5000 ms"), 5_000);
        sock.once("connect", () => {
          clearTimeout(timer);
          resolve(null);
        });
        sock.once("connect_error", (e) => {
          clearTimeout(timer);
          resolve(`connect_error "${e.message}"`);
        });
      });
      if (outcome !== null) problems.push(`the first handshake on B got ${outcome}`);
      if (r.status === 200) {
        const n = Number(r.body);
        for (const [name, x] of [["A", oldA], ["B", oldB]]) {
          const ok = await waitForEvent(x, "current count", { timeout: 3_000, pred: (v) => v === n }).then(() => true, () => false);
          if (!ok) problems.push(`the old socket on ${name} did not get "current count" ${n} within 3000 ms (it got ${JSON.stringify(counts(x))})`);
        }
      }
      const after = await s.post("/incr", { keepCookie: false });
      if (problems.length) {
        problems.push(`(then a second POST /incr on A answered ${after.status} ${after.body.trim()})`);
        assert.fail(`after an idle Redis restart:\n  ${problems.join("\n  ")}`);
      }
      assert.equal(after.status, 200);
      assert.equal(after.body, "3");
      for (const [j, x] of [oldA, oldB].entries()) assert.deepEqual(x.disconnects, [], `old socket ${j} was disconnected`);
      assertHealthy([A, B]);
    });
  }
});
