// Polling sessions that never finish their handshake: one that answers every ping but
// never sends CONNECT (closed at the connect timeout), hundreds that never poll again
// (closed at the ping timeout), and one that starts a websocket upgrade and never completes
// it (closed at engineioxide's upgrade timeout, 10 s: sessionio does not configure it).
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { newSession, Clients, waitUntil, sleep, SUITE_TIMEOUT_MS } from "../e2e/harness.mjs";
import {
  startHostile,
  assertServesOthers,
  RawSocket,
  closeRaw,
  wsUrl,
  metrics,
  rssKb,
  poll,
  pollingSession,
  SID_UNKNOWN,
  EIO_CLOSE,
  RS,
} from "./lib.mjs";

const PING_INTERVAL_MS = 1000;
const PING_TIMEOUT_MS = 1000;
/** Not a multiple of the ping interval, so that the close never races a ping. */
const CONNECT_TIMEOUT_MS = 2500;
/** engineioxide's default; sessionio's builder does not set it. */
const UPGRADE_TIMEOUT_MS = 10_000;
// The server's listener cuts a connection silent both ways for ping interval + ping
// timeout (sessionio::http::bind_with_stall_timeout): a stalled upgrade's websocket is
// cut then, before engineioxide's own upgrade timeout.
const STALL_MS = PING_INTERVAL_MS + PING_TIMEOUT_MS;
const STALLED_UPGRADE_CUT_MS = Math.min(STALL_MS, UPGRADE_TIMEOUT_MS);

describe("polling sessions that never connect or never upgrade", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startHostile({
      PING_INTERVAL_MS: String(PING_INTERVAL_MS),
      PING_TIMEOUT_MS: String(PING_TIMEOUT_MS),
      CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
      // 300 handshakes below stay pending at once; the bound itself is pending.test.mjs's.
      MAX_PENDING_HANDSHAKES_PER_ADDRESS: "1000",
    });
  });
  afterEach(() => {
    closeRaw();
    clients.closeAll();
  });
  after(() => server?.stop());

  test(`a polling session that answers every ping but never sends CONNECT gets "${EIO_CLOSE}" at the connect timeout (${CONNECT_TIMEOUT_MS} ms), then 400 ${SID_UNKNOWN}`, async () => {
    const attacker = await newSession(server.http);
    const openedAt = performance.now();
    const s = await pollingSession(server, attacker.cookie);
    const seen = [];
    let closedAt = null;
    // long-poll and answer pings, never CONNECT; bounded by the loop's deadline
    while (performance.now() - openedAt < CONNECT_TIMEOUT_MS + 3_000) {
      const r = await poll(s.url);
      assert.equal(r.status, 200, `poll answered ${r.status} ${r.text} before the close packet`);
      const packets = r.text.split(RS);
      seen.push(...packets);
      if (packets.includes(EIO_CLOSE)) {
        closedAt = performance.now();
        break;
      }
      if (packets.includes("2")) assert.deepEqual(await poll(s.url, { method: "POST", body: "3" }), { status: 200, text: "ok" });
    }
    assert.ok(closedAt !== null, `no close packet within ${CONNECT_TIMEOUT_MS + 3_000} ms; got ${JSON.stringify(seen)}`);
    assert.ok(seen.every((p) => p === "2" || p === EIO_CLOSE), `unexpected packets ${JSON.stringify(seen)}`);
    const lifetime = closedAt - openedAt;
    assert.ok(lifetime >= CONNECT_TIMEOUT_MS - 100 && lifetime <= CONNECT_TIMEOUT_MS + 1_500, `closed ${Math.round(lifetime)} ms after the handshake began`);
    assert.deepEqual(await poll(s.url), { status: 400, text: SID_UNKNOWN });
    assert.deepEqual(await poll(s.url, { method: "POST", body: "40" }), { status: 400, text: SID_UNKNOWN });
    await assertServesOthers(server, clients, { label: "after the never-connecting poller" });
  });

  test("300 polling handshakes that never poll again are all freed at the ping timeout, before the connect timeout (then 400 Session ID unknown)", async () => {
    const attacker = await newSession(server.http);
    const rssBefore = rssKb(server);
    const sessions = [];
    const firstAt = performance.now();
    for (let batch = 0; batch < 6; batch++) {
      sessions.push(...(await Promise.all(Array.from({ length: 50 }, () => pollingSession(server, attacker.cookie)))));
    }
    const lastAt = performance.now();
    const rssFlood = rssKb(server);
    // Each session's first ping is sent at once and never answered: it is closed a ping
    // timeout later. Checked before the earliest one's connect timeout could close it.
    const checkAt = lastAt + PING_TIMEOUT_MS + 400;
    assert.ok(checkAt < firstAt + CONNECT_TIMEOUT_MS - 100, `the handshakes took ${Math.round(lastAt - firstAt)} ms: too slow to tell the timeouts apart`);
    await sleep(checkAt - performance.now());
    const answers = await Promise.all(sessions.map((s) => poll(s.url)));
    const alive = answers.filter((a) => a.status !== 400 || a.text !== SID_UNKNOWN);
    console.log(`polling flood: 300 idle sessions opened in ${Math.round(lastAt - firstAt)} ms, RSS ${rssBefore} → ${rssFlood} KiB, after they were freed ${rssKb(server)} KiB`);
    assert.deepEqual(alive, [], `${alive.length} of 300 idle polling sessions still alive ${PING_TIMEOUT_MS + 400} ms after their handshake`);
    await assertServesOthers(server, clients, { label: "after the polling flood", transport: { name: "polling+upgrade", opts: {} } });
  });

  test(`a polling session that starts a websocket upgrade (probe) and never sends "5" is cut when its websocket has been silent ${STALLED_UPGRADE_CUT_MS} ms, its socket disconnected`, async () => {
    const attacker = await newSession(server.http);
    const s = await pollingSession(server, attacker.cookie);
    assert.deepEqual(await poll(s.url, { method: "POST", body: "40" }), { status: 200, text: "ok" });
    const first = (await poll(s.url)).text.split(RS);
    assert.ok(first.some((p) => /^40\{"sid":"[^"]+"\}$/.test(p)), JSON.stringify(first));
    if (first.includes("2")) await poll(s.url, { method: "POST", body: "3" });
    const base = (await metrics(server)).sessionio_sockets_connected;

    const upgradeAt = performance.now(); // before the server can have started its upgrade timer
    const ws = new RawSocket(wsUrl(server, `EIO=4&transport=websocket&sid=${encodeURIComponent(s.sid)}`), { headers: { cookie: attacker.cookie } });
    await new Promise((r) => ws.ws.once("open", r));
    ws.send("2probe");
    assert.equal(await ws.next(), "3probe");
    // never "5", never poll again. Others are served meanwhile.
    await assertServesOthers(server, clients, { label: "during the stalled upgrade" });
    const close = await ws.expectClose(STALLED_UPGRADE_CUT_MS + 4_000, "(upgrade never completed)");
    const lifetime = close.at - upgradeAt;
    assert.ok(lifetime >= STALLED_UPGRADE_CUT_MS - 100 && lifetime <= STALLED_UPGRADE_CUT_MS + 2_000, `closed ${Math.round(lifetime)} ms after the upgrade request`);
    assert.deepEqual(await poll(s.url), { status: 400, text: SID_UNKNOWN });
    await waitUntil(async () => (await metrics(server)).sessionio_sockets_connected === base - 1, 3_000, "its Socket.IO socket was not disconnected");
    await assertServesOthers(server, clients, { label: "after the stalled upgrade" });
  });
});
