// A flood of handshakes from one session: Socket.IO CONNECTs beyond
// MAX_CONNECTIONS_PER_SESSION (refused with the documented message; places come back
// when sockets leave), and Engine.IO handshakes that never CONNECT (they take no place and
// are closed at the connect timeout).
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { newSession, Clients, TRANSPORTS, waitUntil, SUITE_TIMEOUT_MS } from "../e2e/harness.mjs";
import {
  startHostile,
  assertServesOthers,
  RawSocket,
  connectedRaw,
  closeRaw,
  wsUrl,
  metrics,
  refusedMetric,
  rssKb,
  EIO_CLOSE,
  TOO_MANY,
} from "./lib.mjs";

const MAX_CONN = 4;
const CONNECT_TIMEOUT_MS = 1500;
const REFUSED = `44{"message":"${TOO_MANY}"}`;

describe(`handshake flood from one session (MAX_CONNECTIONS_PER_SESSION=${MAX_CONN})`, { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startHostile({
      MAX_CONNECTIONS_PER_SESSION: String(MAX_CONN),
      CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
      // 300 handshakes below stay pending at once; the bound itself is pending.test.mjs's.
      MAX_PENDING_HANDSHAKES_PER_ADDRESS: "1000",
      PING_INTERVAL_MS: "1000",
      PING_TIMEOUT_MS: "1000",
    });
  });
  afterEach(() => {
    closeRaw();
    clients.closeAll();
  });
  after(() => server?.stop());

  const connected = async () => (await metrics(server)).sessionio_sockets_connected;

  test(`40 concurrent CONNECTs of one session: ${MAX_CONN} get 40{"sid"}, 36 get ${REFUSED}; the refused are closed at the connect timeout; places come back after disconnects`, async () => {
    const attacker = await newSession(server.http);
    const refusedBefore = (await metrics(server))[refusedMetric(TOO_MANY)];
    const flood = Array.from({ length: 40 }, async () => {
      const at = performance.now(); // before the server can have started its connect timer
      const sock = new RawSocket(wsUrl(server), { headers: { cookie: attacker.cookie } });
      await sock.handshake();
      const reply = await sock.connectNs();
      return { sock, reply, at };
    });
    // a bystander is served while the flood is under way
    const [results] = await Promise.all([Promise.all(flood), assertServesOthers(server, clients, { label: "during the flood" })]);
    const accepted = results.filter((r) => /^40\{"sid":"[^"]+"\}$/.test(r.reply));
    const refused = results.filter((r) => r.reply === REFUSED);
    assert.equal(accepted.length, MAX_CONN, `replies: ${JSON.stringify(results.map((r) => r.reply))}`);
    assert.equal(refused.length, 40 - MAX_CONN, `replies: ${JSON.stringify(results.map((r) => r.reply))}`);
    assert.equal((await metrics(server))[refusedMetric(TOO_MANY)] - refusedBefore, 40 - MAX_CONN);

    // the official client of the same session gets the documented connect_error
    const err = await clients.connectError(server.socket, { transport: TRANSPORTS[0], cookie: attacker.cookie });
    assert.equal(err.message, TOO_MANY);

    // a refused client that keeps its Engine.IO connection open is closed at the connect timeout
    for (const { sock, at } of refused) {
      const close = await sock.expectClose(CONNECT_TIMEOUT_MS + 3_000, "(refused, never connected)");
      assert.deepEqual(sock.queue, [EIO_CLOSE]);
      assert.ok(close.at - at >= CONNECT_TIMEOUT_MS - 100, `closed ${Math.round(close.at - at)} ms after its handshake began`);
    }
    // the accepted ones are untouched
    for (const { sock } of accepted) assert.equal(sock.isClosed, false);
    assert.equal(await connected(), MAX_CONN);

    // places freed: one socket leaves the namespace ("41"), one drops its TCP connection
    accepted[0].sock.send("41");
    accepted[1].sock.terminate();
    await waitUntil(async () => (await connected()) === MAX_CONN - 2, 5_000, "the two places were not freed");
    await connectedRaw(server, attacker.cookie);
    await connectedRaw(server, attacker.cookie);
    const again = new RawSocket(wsUrl(server), { headers: { cookie: attacker.cookie } });
    await again.handshake();
    assert.equal(await again.connectNs(), REFUSED);
    await assertServesOthers(server, clients, { label: "after the flood" });
  });

  test("300 Engine.IO handshakes of one session that never CONNECT take no place and are all closed at the connect timeout", async () => {
    const attacker = await newSession(server.http);
    const rssBefore = rssKb(server);
    const idle = [];
    for (let batch = 0; batch < 6; batch++) {
      idle.push(
        ...(await Promise.all(
          Array.from({ length: 50 }, async () => {
            const at = performance.now();
            const sock = new RawSocket(wsUrl(server), { headers: { cookie: attacker.cookie } });
            await sock.handshake();
            return { sock, at };
          }),
        )),
      );
    }
    const rssFlood = rssKb(server);
    // the session still gets all its places, and others are served
    for (let i = 0; i < MAX_CONN; i++) await connectedRaw(server, attacker.cookie);
    await assertServesOthers(server, clients, { label: "during the Engine.IO flood" });
    const lifetimes = [];
    for (const { sock, at } of idle) {
      const close = await sock.expectClose(CONNECT_TIMEOUT_MS + 3_000, "(Engine.IO session that never connected)");
      assert.deepEqual(sock.queue, [EIO_CLOSE]);
      lifetimes.push(close.at - at);
    }
    lifetimes.sort((a, b) => a - b);
    console.log(
      `engine.io flood: 300 idle handshakes, RSS ${rssBefore} → ${rssFlood} KiB, closed after ${Math.round(lifetimes[0])}–${Math.round(lifetimes.at(-1))} ms (connect timeout ${CONNECT_TIMEOUT_MS} ms), RSS after ${rssKb(server)} KiB`,
    );
    assert.ok(lifetimes[0] >= CONNECT_TIMEOUT_MS - 100, `one was closed ${Math.round(lifetimes[0])} ms after its handshake began`);
    await assertServesOthers(server, clients, { label: "after the Engine.IO flood" });
  });
});
