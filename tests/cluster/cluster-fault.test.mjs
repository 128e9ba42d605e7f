// A master of a 3-master Redis Cluster (no replicas) SIGKILLed under two nodes, then
// started again on its port with its nodes.conf and append-only file. What README's
// "Several processes" promises:
// - while it is down, sessions whose record is on the other masters work as before, across
//   nodes; a session whose record is on the dead master answers 503 "store unavailable"
//   over HTTP and connect_error "store unavailable" to a new handshake, quickly; every
//   connected socket stays connected and both processes live on;
// - once it is back, that session works again with its data kept (the count goes on), and
//   its notifications reach its old sockets on the other node, within RECOVERY_MS.
// The master chosen is not the one of the `{sessionio}` slot, which holds the adapter's
// channels and the global keys (that case is the README's documented limit: cross-node
// delivery and new sessions then fail with an error, never quietly, until it returns).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  newSession,
  HttpClient,
  Clients,
  TRANSPORTS,
  counts,
  waitForEvent,
  splitCookieValue,
  sleep,
  now,
  SUITE_TIMEOUT_MS,
} from "../e2e/harness.mjs";
import { startRedisCluster } from "./redis.mjs";
import { startNodes, assertHealthy } from "./nodes.mjs";

/** A refusal while the master is down must come within this (the store's call bound is 2 s). */
const DOWN_ANSWER_MS = 3_000;
/** From the master's restart until the session works again, notifications included. */
const RECOVERY_MS = 10_000;
/** A key of the `{sessionio}` slot: the adapter's channels and the global keys (its master stays up). */
const GLOBAL_SLOT_KEY = "{sessionio}:sessions";

describe("a master of a 3-master Redis Cluster killed under two nodes, then restarted", { timeout: SUITE_TIMEOUT_MS }, () => {
  let cluster;
  let A;
  let B;
  const clients = new Clients();
  before(async () => {
    cluster = await startRedisCluster();
    [A, B] = await startNodes({ redisUrl: cluster.url });
  });
  after(async () => {
    clients.closeAll();
    try {
      await Promise.all([A?.stop(), B?.stop()]);
    } finally {
      await cluster?.stop();
    }
  });

  test("sessions on the other masters keep working across nodes; the dead master's sessions are refused quickly and come back with their data; no socket is dropped", async () => {
    const transport = TRANSPORTS.find((t) => t.name === "websocket");
    const keep = await cluster.nodeOf(GLOBAL_SLOT_KEY);
    // Sessions until one lives on a master other than the channel's (the victim) and one on
    // yet another master, or on the channel's (the bystander).
    const byMaster = new Map();
    for (let i = 0; i < 200 && byMaster.size < 3; i++) {
      const s = await newSession(A.http);
      const master = await cluster.nodeOf(`sessionio:session:${splitCookieValue(s.cookieValue).id}`);
      if (!byMaster.has(master)) byMaster.set(master, s);
    }
    const victimMaster = [...byMaster.keys()].find((m) => m !== keep);
    assert.notEqual(victimMaster, undefined, `no session landed outside master ${keep} in 200 tries`);
    const victim = byMaster.get(victimMaster);
    const bystander = byMaster.get([...byMaster.keys()].find((m) => m !== victimMaster));
    assert.ok(bystander, "no session landed on a second master");

    for (const s of [victim, bystander]) assert.equal(await s.incr(), 1);
    const onB = async (s, label) => clients.connect(B.socket, { transport, cookie: s.cookie, label });
    const victimSocket = await onB(victim, "victim's socket on B");
    const bystanderSocket = await onB(bystander, "bystander's socket on B");

    // --- the victim's master dies
    await cluster.nodes[victimMaster].kill();

    // the bystander: HTTP on A, its socket on B notified
    assert.equal(await bystander.incr(), 2, "the bystander's POST /incr on A with a master down");
    await waitForEvent(bystanderSocket, "current count", { pred: (n) => n === 2, label: "bystander's socket on B" });

    // the victim: 503 over HTTP, connect_error to a new handshake, both quickly
    const c = new HttpClient(A.http, victim.cookieValue);
    const r = await c.send("POST", "/incr", { keepCookie: false });
    assert.equal(r.status, 503, `POST /incr of the victim's session answered ${r.status}: ${r.body}`);
    assert.match(r.body, /store unavailable/);
    assert.ok(r.at - r.startedAt <= DOWN_ANSWER_MS, `refused after ${(r.at - r.startedAt).toFixed(0)} ms`);
    const t0 = now();
    const err = await clients.connectError(B.socket, { transport, cookie: victim.cookie });
    assert.equal(err.message, "store unavailable");
    assert.ok(now() - t0 <= DOWN_ANSWER_MS, `handshake refused after ${(now() - t0).toFixed(0)} ms`);

    for (const sock of [victimSocket, bystanderSocket]) {
      assert.deepEqual(sock.disconnects, [], "a connected socket was dropped while a master was down");
    }
    assertHealthy([A, B]);

    // --- it comes back: the victim's count goes on and reaches its old socket on B
    const restartedAt = now();
    await cluster.nodes[victimMaster].restart();
    let count = NaN;
    for (;;) {
      const attempt = await c.send("POST", "/incr", { keepCookie: false });
      if (attempt.status === 200) {
        count = Number(attempt.body);
        break;
      }
      assert.ok(now() - restartedAt < RECOVERY_MS, `the victim's session still answers ${attempt.status} ${RECOVERY_MS} ms after the restart: ${attempt.body}`);
      await sleep(100);
    }
    assert.equal(count, 2, "the victim's count after the master's restart (its AOF kept the session)");
    await waitForEvent(victimSocket, "current count", { pred: (n) => n === 2, label: "victim's old socket on B" });
    console.log(`# cluster master restart: the victim's session served again ${(now() - restartedAt).toFixed(0)} ms after the restart`);
    assert.deepEqual(counts(victimSocket), [2]);
    for (const sock of [victimSocket, bystanderSocket]) assert.equal(sock.connected, true);
    assertHealthy([A, B]);
  });

  test("the master of the {sessionio} slot down: sockets stay; cross-process delivery and new sessions fail with an error, never quietly; all back once it returns", async () => {
    const transport = TRANSPORTS.find((t) => t.name === "websocket");
    const global = await cluster.nodeOf(GLOBAL_SLOT_KEY);
    // A session whose record is elsewhere, with a socket on B.
    let s;
    for (let i = 0; i < 200 && !s; i++) {
      const candidate = await newSession(A.http);
      const master = await cluster.nodeOf(`sessionio:session:${splitCookieValue(candidate.cookieValue).id}`);
      if (master !== global) s = candidate;
    }
    assert.ok(s, `no session landed outside master ${global} in 200 tries`);
    assert.equal(await s.incr(), 1);
    const onB = await clients.connect(B.socket, { transport, cookie: s.cookie, label: "socket on B" });

    await cluster.nodes[global].kill();
    // POST /incr on A: the count is written (its record's master is up), the notification
    // cannot reach B: the answer says so.
    const c = new HttpClient(A.http, s.cookieValue);
    const r = await c.send("POST", "/incr", { keepCookie: false });
    console.log(`# {sessionio} master down: POST /incr on A answered ${r.status} ${JSON.stringify(r.body)} after ${(r.at - r.startedAt).toFixed(0)} ms`);
    assert.equal(r.status, 503, `POST /incr with the {sessionio} master down answered ${r.status}: ${r.body}`);
    assert.match(r.body, /store unavailable/);
    // a new session cannot be counted against max_sessions: refused
    const fresh = await new HttpClient(A.http).send("GET", "/");
    assert.equal(fresh.status, 503, `GET / (a new session) answered ${fresh.status}: ${fresh.body}`);
    assert.deepEqual(onB.disconnects, [], "the socket on B was dropped");

    const restartedAt = now();
    await cluster.nodes[global].restart();
    let n = NaN;
    for (;;) {
      const attempt = await c.send("POST", "/incr", { keepCookie: false });
      if (attempt.status === 200) {
        n = Number(attempt.body);
        break;
      }
      assert.ok(now() - restartedAt < RECOVERY_MS, `POST /incr still answers ${attempt.status} ${RECOVERY_MS} ms after the restart: ${attempt.body}`);
      await sleep(100);
    }
    await waitForEvent(onB, "current count", { pred: (v) => v === n, label: "socket on B after the restart" });
    console.log(`# {sessionio} master back: cross-process delivery again ${(now() - restartedAt).toFixed(0)} ms after the restart (count ${n})`);
    for (;;) {
      const created = await new HttpClient(A.http).send("GET", "/");
      if (created.status === 200) break;
      assert.ok(now() - restartedAt < RECOVERY_MS, `a new session still answers ${created.status} ${RECOVERY_MS} ms after the restart: ${created.body}`);
      await sleep(100);
    }
    console.log(`# {sessionio} master back: new sessions again ${(now() - restartedAt).toFixed(0)} ms after the restart`);
    assert.equal(onB.connected, true);
    assertHealthy([A, B]);
  });
});
