// Engine.IO sessions that never CONNECT (issue 15, finding 1): they are bounded per client
// address and in all, refused before the engine allocates anything, and closed at the
// connect timeout; the half-open handshake flood leaves memory flat and others served.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { newSession, Clients, sleep, SUITE_TIMEOUT_MS } from "../e2e/harness.mjs";
import {
  startHostile,
  assertServesOthers,
  assertAlive,
  metrics,
  refusedMetric,
  closeRaw,
  rawHttp,
  head,
  poll,
  pollingUrl,
  pollingSession,
  nextPolled,
} from "./lib.mjs";
import { flood, describeFlood } from "./handshake-flood.mjs";

const PER_ADDRESS = 20;
const TOTAL = 30;
const CONNECT_TIMEOUT_MS = 4000;

const handshakeFrom = (server, localAddress) =>
  rawHttp(
    server,
    head(["GET /socket.io/?EIO=4&transport=polling HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]),
    { localAddress },
  );
const pending = async (server) => (await metrics(server)).sessionio_pending_handshakes;

describe(`finding 1: Engine.IO sessions that never CONNECT (MAX_PENDING_HANDSHAKES_PER_ADDRESS=${PER_ADDRESS}, MAX_PENDING_HANDSHAKES=${TOTAL})`, { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startHostile({
      MAX_PENDING_HANDSHAKES_PER_ADDRESS: String(PER_ADDRESS),
      MAX_PENDING_HANDSHAKES: String(TOTAL),
      CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
    });
  });
  afterEach(() => {
    closeRaw();
    clients.closeAll();
  });
  after(() => server?.stop());

  test("finding 1: half-open handshakes are bounded per address (HTTP 429 \"too many pending handshakes\") and in all (HTTP 503 \"server busy\"), refused before any session is allocated; the connect timeout and a CONNECT give places back", async () => {
    const fromA = await Promise.all(Array.from({ length: PER_ADDRESS }, () => handshakeFrom(server, "127.0.0.2")));
    assert.deepEqual(fromA.map((r) => r.status), Array(PER_ADDRESS).fill(200));
    const overA = await handshakeFrom(server, "127.0.0.2");
    assert.deepEqual([overA.status, overA.body], [429, "too many pending handshakes"]);
    assert.equal(await pending(server), PER_ADDRESS);

    // Another address has its own places, up to the total.
    const fromB = await Promise.all(Array.from({ length: TOTAL - PER_ADDRESS }, () => handshakeFrom(server, "127.0.0.3")));
    assert.deepEqual(fromB.map((r) => r.status), Array(TOTAL - PER_ADDRESS).fill(200));
    const overAll = await handshakeFrom(server, "127.0.0.4");
    assert.deepEqual([overAll.status, overAll.body], [503, "server busy"]);
    assert.equal(await pending(server), TOTAL);
    const m = await metrics(server);
    assert.equal(m[refusedMetric("too many pending handshakes")], 1);
    assert.equal(m[refusedMetric("server busy")], 1);

    // The connect timeout closes them all and gives every place back.
    await sleep(CONNECT_TIMEOUT_MS + 1_500);
    assert.equal(await pending(server), 0, "places still held after the connect timeout");
    assert.equal((await handshakeFrom(server, "127.0.0.4")).status, 200);

    // A session that CONNECTs is no longer pending: its place goes back at once.
    await sleep(CONNECT_TIMEOUT_MS + 1_500);
    const s = await newSession(server.http);
    const held = [];
    for (let i = 0; i < PER_ADDRESS; i++) held.push(await pollingSession(server, s.cookie));
    assert.equal((await poll(pollingUrl(server), { headers: { cookie: s.cookie } })).status, 429);
    assert.equal((await poll(held[0].url, { method: "POST", body: "40" })).status, 200);
    assert.match(await nextPolled(held[0].url), /^40\{"sid":"[^"]+"\}$/);
    assert.equal(await pending(server), PER_ADDRESS - 1);
    assert.equal((await poll(pollingUrl(server), { headers: { cookie: s.cookie } })).status, 200, "the connected session's place was not given back");
    await sleep(CONNECT_TIMEOUT_MS + 1_500);
    await assertServesOthers(server, clients, { label: "after the pending flood" });
  });
});

describe("finding 1: the half-open Engine.IO handshake flood (default bounds)", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  after(() => server?.stop());

  test("finding 1: 10 s of polling handshakes with no cookie over 32 keep-alive connections from one address: RSS under 40 MB above idle; a bystander on another address connects and increments every time", async () => {
    server = await startHostile({});
    const seconds = 10;
    const f = await flood(server, { seconds, connections: 32 });
    console.log(describeFlood(seconds, 32, f));
    assertAlive(server);
    const aboveIdleMb = (f.rss.peakKb - f.rss.idleKb) / 1024;
    assert.ok(aboveIdleMb < 40, `RSS rose ${aboveIdleMb.toFixed(1)} MB above idle during the flood`);
    assert.deepEqual(f.failures, [], "the bystander was refused or timed out");
    assert.ok(f.handshake.n >= 10 && f.incr.n === f.handshake.n, `bystander rounds: ${f.handshake.n} handshakes, ${f.incr.n} increments`);
    assert.ok((f.attacker["429"] ?? 0) > 0, `the attacker was never refused: ${JSON.stringify(f.attacker)}`);
  });
});
