// Two rust-counter processes, A and B, on one Redis (SESSION_STORE_URL=redis://…): the
// sessions are shared, and the Redis adapter carries notifications and logouts to the
// session's sockets on the other node. Each socket connects to one node (polling needs
// sticky routing), and each socket test runs over websocket and over polling→upgrade.
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
  waitForDisconnect,
  waitForUpgrade,
  waitUntil,
  withTimeout,
  sleep,
  now,
  refusedStatus,
  newSessionCookies,
  COOKIE_FORMAT,
  SUITE_TIMEOUT_MS,
} from "../e2e/harness.mjs";
import { startRedisForSuite as startRedis } from "./redis.mjs";
import { startNodes, assertHealthy, pageCount } from "./nodes.mjs";

/** How long "no event arrives" is watched for, once the expected ones arrived. */
const QUIET_MS = 300;
/** How long a notification may take to reach a socket on the other node. */
const CROSS_NODE_MS = 5_000;

describe("Two nodes on one Redis: shared sessions, notify and logout across nodes", { timeout: SUITE_TIMEOUT_MS }, () => {
  let redis;
  let A;
  let B;
  const clients = new Clients();
  before(async () => {
    redis = await startRedis();
    [A, B] = await startNodes({ redisUrl: redis.url });
  });
  afterEach(() => clients.closeAll());
  after(async () => {
    clients.closeAll();
    try {
      await Promise.all([A?.stop(), B?.stop()]);
    } finally {
      await redis?.stop();
    }
  });

  test("a session created by A's GET / is the same session on B: no new cookie, one count", async () => {
    const onA = await newSession(A.http);
    const onB = new HttpClient(B.http, onA.cookieValue);
    const page = await onB.get("/");
    assert.equal(page.status, 200, `GET / on B with A's cookie answered ${page.status}: ${page.body}`);
    assert.deepEqual(
      newSessionCookies(page, onA.cookieValue).map((c) => c.raw),
      [],
      "B set a cookie for a session A created (it did not find the session)",
    );
    assert.equal(onB.cookieValue, onA.cookieValue);
    assert.equal(pageCount(page.body), 0);
    assert.equal(await onA.incr(), 1);
    assert.equal(await onB.incr(), 2, "B's POST /incr did not continue A's count");
    assert.equal(await onA.incr(), 3, "A's POST /incr did not continue B's count");
    assert.equal(pageCount((await onB.get("/")).body), 3);
    assertHealthy([A, B]);
  });

  for (const transport of TRANSPORTS) {
    const tag = `[${transport.name}]`;
    const connect = (node, opts) => clients.connect(node.socket, { transport, ...opts });

    test(`sockets on B with a cookie of A's session are accepted, with no Origin or with A's ${tag}`, async () => {
      const s = await newSession(A.http);
      const plain = await connect(B, { cookie: s.cookie, label: "B, no Origin" });
      const fromA = await connect(B, { cookie: s.cookie, headers: { Origin: A.origin }, label: "B, Origin of A" });
      const onA = await connect(A, { cookie: s.cookie, headers: { Origin: B.origin }, label: "A, Origin of B" });
      if (transport.name === "polling+upgrade") {
        for (const sock of [plain, fromA, onA]) await waitForUpgrade(sock);
      }
      // the B sockets are in A's session: their increments continue its count
      assert.equal(await s.incr(), 1);
      assert.equal(await emitWithAck(plain, "incr"), 2);
      assert.equal(await emitWithAck(fromA, "incr"), 3);
      assert.equal(await emitWithAck(onA, "incr"), 4);
      assert.equal(await s.incr(), 5);
      // and an Origin that neither node allows is still refused by B
      const err = await clients.connectError(B.socket, { transport, cookie: s.cookie, headers: { Origin: "http://evil.example" } });
      assert.equal(refusedStatus(err), 403, `refused at the Engine.IO handshake: ${err.message}`);
      assertHealthy([A, B]);
    });

    test(`POST /incr on A notifies every socket of the session on B, and none of another session ${tag}`, async () => {
      const s = await newSession(A.http);
      const other = await newSession(A.http);
      const localA = await connect(A, { cookie: s.cookie });
      const onB = await Promise.all([connect(B, { cookie: s.cookie }), connect(B, { cookie: s.cookie })]);
      const theirs = await connect(B, { cookie: other.cookie });

      assert.equal(await s.incr(), 1);
      assert.equal(await s.incr(), 2);
      await waitForEvent(localA, "current count", { pred: (v) => v === 2, label: "on the session's socket on A (same node)" });
      for (const [j, sock] of onB.entries()) {
        await waitForEvent(sock, "current count", {
          timeout: CROSS_NODE_MS,
          pred: (v) => v === 2,
          label: `on the session's socket ${j} on B after two POST /incr on A (got ${JSON.stringify(counts(sock))})`,
        });
      }
      await sleep(QUIET_MS);
      for (const sock of [localA, ...onB]) assert.deepEqual(counts(sock), [1, 2], "missing, duplicated or out-of-order counts");
      assert.deepEqual(counts(theirs), [], "a socket of another session on B received \"current count\"");
      assertHealthy([A, B]);
    });

    test(`socket "incr" on B acks n, and a sibling socket of the session on A gets "current count" n ${tag}`, async () => {
      const s = await newSession(A.http);
      const other = await newSession(A.http);
      const sender = await connect(B, { cookie: s.cookie });
      const sibling = await connect(A, { cookie: s.cookie });
      const theirs = await connect(A, { cookie: other.cookie });

      assert.equal(await s.incr(), 1);
      const n = await emitWithAck(sender, "incr");
      assert.equal(typeof n, "number", `ack is not a number: ${JSON.stringify(n)}`);
      assert.equal(n, 2);
      await waitForEvent(sender, "current count", { pred: (v) => v === n, label: "on the sender (same node)" });
      await waitForEvent(sibling, "current count", {
        timeout: CROSS_NODE_MS,
        pred: (v) => v === n,
        label: `on the sibling on A after socket incr on B (got ${JSON.stringify(counts(sibling))})`,
      });
      await sleep(QUIET_MS);
      assert.deepEqual(counts(sibling), [1, 2]);
      assert.deepEqual(counts(sender), [1, 2]);
      assert.deepEqual(counts(theirs), [], "a socket of another session on A received \"current count\"");
      assertHealthy([A, B]);
    });

    test(`POST /logout on A disconnects the session's sockets on B ("io server disconnect", no reconnect); B then refuses the cookie ${tag}`, async () => {
      const s = await newSession(A.http);
      const other = await newSession(B.http);
      const cookie = s.cookie;
      // reconnection enabled, to see that the clients do not reconnect
      const onA = await connect(A, { cookie, reconnection: true });
      const onB = await Promise.all([connect(B, { cookie, reconnection: true }), connect(B, { cookie, reconnection: true })]);
      const theirs = await connect(B, { cookie: other.cookie, reconnection: true });
      let attempts = 0;
      for (const sock of [onA, ...onB]) sock.io.on("reconnect_attempt", () => attempts++);

      const loggedOutAt = now();
      const r = await s.post("/logout", { keepCookie: false });
      assert.equal(r.status, 204, `POST /logout on A answered ${r.status}: ${r.body}`);
      assert.equal((await waitForDisconnect(onA, { label: "(A's own socket) after POST /logout on A" })).reason, "io server disconnect");

      // the store side: the destroyed session is refused by B at once
      const err = await clients.connectError(B.socket, { transport, cookie });
      assert.equal(err.message, "invalid session", "handshake on B with the logged-out cookie");
      const stale = new HttpClient(B.http, s.cookieValue);
      for (const [method, path] of [["GET", "/"], ["POST", "/incr"]]) {
        const h = await stale.send(method, path, { keepCookie: false });
        assert.equal(h.status, 401, `${method} ${path} on B with the logged-out cookie answered ${h.status}: ${h.body}`);
        assert.equal(h.body.trim(), "invalid session");
      }

      // the adapter side: B's sockets of the session were disconnected by the server
      for (const [j, sock] of onB.entries()) {
        const { reason, at } = await waitForDisconnect(sock, {
          timeout: Math.max(1, loggedOutAt + CROSS_NODE_MS - now()),
          label: `(socket ${j} on B) within ${CROSS_NODE_MS} ms of POST /logout on A`,
        });
        assert.equal(reason, "io server disconnect", `socket ${j} on B: disconnect reason`);
        assert.ok(at - loggedOutAt < CROSS_NODE_MS);
      }
      await sleep(1_000);
      assert.equal(attempts, 0, "a logged-out socket tried to reconnect");
      for (const sock of [onA, ...onB]) assert.equal(sock.connected, false, "a logged-out socket is connected again");
      assert.equal(theirs.connected, true, "a socket of another session on B was disconnected by the logout");
      assert.deepEqual(theirs.disconnects, []);
      assert.equal(await emitWithAck(theirs, "incr"), 1);
      assertHealthy([A, B]);
    });

    test(`burst split across nodes: 200 POST /incr on A + 200 socket incr over 3 sockets on B make exactly 1..400 ${tag}`, async () => {
      const HTTP_N = 200;
      const ACK_N = 200;
      const SOCKETS = 3;
      const TOTAL = HTTP_N + ACK_N;
      const s = await newSession(A.http);
      const socks = await Promise.all(Array.from({ length: SOCKETS }, () => connect(B, { cookie: s.cookie })));

      const httpRuns = Array.from({ length: HTTP_N }, () => s.post("/incr"));
      const ackRuns = Array.from({ length: ACK_N }, (_, i) => emitWithAck(socks[i % SOCKETS], "incr"));
      const [httpResults, acks] = await withTimeout(
        Promise.all([Promise.all(httpRuns), Promise.all(ackRuns)]),
        60_000,
        "the burst did not complete",
      );
      const bad = httpResults.filter((r) => r.status !== 200);
      const badAcks = acks.filter((a) => typeof a !== "number");
      assert.ok(
        bad.length === 0 && badAcks.length === 0,
        `${bad.length} of ${HTTP_N} POST /incr on A failed` +
          (bad.length ? ` (e.g. ${bad[0].status} ${bad[0].body.trim()})` : "") +
          `, ${badAcks.length} of ${ACK_N} socket incr on B acked no number` +
          (badAcks.length ? ` (e.g. ${JSON.stringify(badAcks[0])})` : ""),
      );

      const finalB = pageCount((await new HttpClient(B.http, s.cookieValue).get("/")).body);
      const finalA = pageCount((await s.get("/")).body);
      console.log(`cluster burst final=${finalB} http=${httpResults.length} acks=${acks.length} ${tag}`);
      if (COOKIE_FORMAT === "tower") {
        // tower-sessions' stores save whole records, last writer wins, between processes
        // (README: "Keep your tower-sessions"): the count is whatever the last save left,
        // and the same on both nodes.
        assert.equal(finalA, finalB, "A and B read different counts of one session");
        assert.ok(finalB <= TOTAL && finalB >= Math.max(HTTP_N, ACK_N), `final count ${finalB}`);
        console.log(`tower-sessions across two processes: ${TOTAL - finalB} of ${TOTAL} increments lost ${tag}`);
        return;
      }
      assert.equal(finalB, TOTAL, `the count on B after the burst is ${finalB}, not ${TOTAL}`);
      assert.equal(finalA, TOTAL, `the count on A after the burst is ${finalA}, not ${TOTAL}`);

      const all = [...httpResults.map((r) => Number(r.body)), ...acks].sort((a, b) => a - b);
      const seen = new Set(all);
      const dups = all.filter((v, i) => i > 0 && v === all[i - 1]);
      const missing = Array.from({ length: TOTAL }, (_, i) => i + 1).filter((v) => !seen.has(v));
      assert.deepEqual(dups, [], `duplicate counts (lost updates): ${dups.slice(0, 10)}`);
      assert.deepEqual(missing, [], `counts never returned: ${missing.slice(0, 10)}`);
      assert.equal(all.length, TOTAL);

      // every socket on B hears the last count, and every count of the burst exactly once
      for (const [j, sock] of socks.entries()) {
        await waitForEvent(sock, "current count", {
          timeout: 10_000,
          pred: (v) => v === TOTAL,
          label: `(${TOTAL}) on socket ${j} on B (it got ${counts(sock).length} counts)`,
        });
      }
      await waitUntil(
        () => socks.every((x) => counts(x).length >= TOTAL),
        10_000,
        `"current count" events per socket on B: ${socks.map((x) => counts(x).length)} (want ${TOTAL})`,
      );
      await sleep(QUIET_MS);
      for (const x of socks) {
        const got = counts(x).slice().sort((a, b) => a - b);
        assert.deepEqual(got, Array.from({ length: TOTAL }, (_, i) => i + 1), "a socket on B missed or duplicated counts");
      }
      assertHealthy([A, B]);
    });
  }
});

// SESSIONIO_EXPIRY_TTL_MS: longer for a store that drops sessions up to a second early
// (tower-sessions-redis-store's whole-second key expiries), as in e2e/expiry.test.mjs.
const TTL_MS = Number(process.env.SESSIONIO_EXPIRY_TTL_MS || 1_500);
const MAX_LATE_MS = 1_000;
const MAX_EARLY_MS = 50;

describe(`Two nodes, expiry (SESSION_TTL_MS=${TTL_MS} on both): B's timers kick B's sockets of a session A serves`, { timeout: SUITE_TIMEOUT_MS }, () => {
  let redis;
  let A;
  let B;
  const clients = new Clients();
  before(async () => {
    redis = await startRedis();
    [A, B] = await startNodes({ redisUrl: redis.url, ttlMs: TTL_MS });
  });
  afterEach(() => clients.closeAll());
  after(async () => {
    clients.closeAll();
    try {
      await Promise.all([A?.stop(), B?.stop()]);
    } finally {
      await redis?.stop();
    }
  });

  /** `n` sockets of `s` on B; upgraded before returning (no Engine.IO request after the caller's last HTTP request). */
  async function socketsOnB(s, n, transport) {
    const socks = [];
    for (let j = 0; j < n; j++) {
      const sock = await clients.connect(B.socket, { transport, cookie: s.cookie });
      if (transport.name === "polling+upgrade") await waitForUpgrade(sock);
      socks.push(sock);
    }
    return socks;
  }

  /** Wait for "session expired" then the server's disconnect; the kick's delay after `expectedAt`. */
  async function kickDelay(sock, expectedAt, label) {
    const timeout = Math.max(1, expectedAt + MAX_LATE_MS + 3_000 - now());
    const [{ reason, at }] = await Promise.all([
      waitForDisconnect(sock, { timeout, label: `(${label}, expected at last request + TTL)` }),
      waitForEvent(sock, "session expired", { timeout, label: `(${label})` }),
    ]);
    assert.equal(reason, "io server disconnect", `${label}: disconnect reason`);
    const expired = sock.received.find((e) => e.event === "session expired");
    assert.ok(expired.at <= at, `${label}: "session expired" arrived after the disconnect`);
    return at - expectedAt;
  }

  for (const transport of TRANSPORTS) {
    const tag = `[${transport.name}]`;

    test(`an idle session created on A: its sockets on B get "session expired" then "io server disconnect" within ${MAX_LATE_MS} ms of last request + TTL ${tag}`, async () => {
      const s = await newSession(A.http);
      const socks = await socketsOnB(s, 2, transport);
      const last = await s.get("/"); // the session's last request, on A
      assert.equal(last.status, 200);
      const expectedAt = last.at + TTL_MS;
      const latency = last.at - last.startedAt;
      const delays = await Promise.all(socks.map((sock, j) => kickDelay(sock, expectedAt, `socket ${j} on B`)));
      console.log(`cluster expiry kick delay on B: ${delays.map((d) => d.toFixed(0)).join(", ")} ms ${tag}`);
      for (const d of delays) {
        assert.ok(d <= MAX_LATE_MS, `a socket on B was kicked ${d.toFixed(0)} ms after its session's expiry (max ${MAX_LATE_MS})`);
        assert.ok(d + latency >= -MAX_EARLY_MS, `a socket on B was kicked ${(-d - latency).toFixed(0)} ms before last request + TTL`);
      }
      assertHealthy([A, B]);
    });

    test(`activity on A (POST /incr halfway) extends the session for its sockets on B: not kicked at the original deadline, kicked at the new one ${tag}`, async () => {
      const s = await newSession(A.http);
      const socks = await socketsOnB(s, 2, transport);
      const first = await s.get("/");
      assert.equal(first.status, 200);
      const originalDeadline = first.at + TTL_MS;
      await sleep(Math.max(0, first.at + TTL_MS / 2 - now()));
      const extend = await s.post("/incr"); // on A
      assert.equal(extend.status, 200, `POST /incr on A answered ${extend.status}: ${extend.body}`);
      assert.ok(extend.at < originalDeadline - 200, "the halfway request came too late to test the extension");
      const newDeadline = extend.at + TTL_MS;

      // past the original deadline (by more than B's timers need to act on it), still connected
      await sleep(Math.max(0, Math.min(originalDeadline + 400, newDeadline - 150) - now()));
      for (const [j, sock] of socks.entries()) {
        assert.deepEqual(
          sock.received.filter((e) => e.event === "session expired").map((e) => e.at - originalDeadline),
          [],
          `socket ${j} on B got "session expired" (ms after the original deadline shown) although A extended the session`,
        );
        assert.equal(sock.connected, true, `socket ${j} on B was disconnected although A extended the session`);
      }
      // and the extended session then expires like any idle one, measured from the extension
      const latency = extend.at - extend.startedAt;
      const delays = await Promise.all(socks.map((sock, j) => kickDelay(sock, newDeadline, `socket ${j} on B, extended`)));
      for (const d of delays) {
        assert.ok(d <= MAX_LATE_MS, `kicked ${d.toFixed(0)} ms after the extended expiry (max ${MAX_LATE_MS})`);
        assert.ok(
          d + latency >= -MAX_EARLY_MS,
          `kicked ${(-d - latency).toFixed(0)} ms before the extended expiry (${(newDeadline + d - originalDeadline).toFixed(0)} ms after the original one)`,
        );
      }
      assertHealthy([A, B]);
    });
  }
});
