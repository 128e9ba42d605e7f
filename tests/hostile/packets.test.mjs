// Malformed Engine.IO and Socket.IO packets from raw clients (websocket and polling), each
// with the session cookie of a real session: each gets its refusal, and a bystander
// session is served after every one.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { newSession, Clients, SUITE_TIMEOUT_MS } from "../e2e/harness.mjs";
import {
  startHostile,
  assertServesOthers,
  RawSocket,
  connectedRaw,
  closeRaw,
  wsUrl,
  poll,
  nextPolled,
  pollingSession,
  EIO_CLOSE,
  SID_UNKNOWN,
  RS,
} from "./lib.mjs";

const PING_INTERVAL_MS = 1000;
const PING_TIMEOUT_MS = 1000;
const CONNECT_TIMEOUT_MS = 1500;
/** Close code of a close frame without a status code (what the server sends on a bad packet). */
const NO_STATUS = 1005;

describe("malformed packets", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  let attacker; // a real session the attacks use
  const clients = new Clients();
  before(async () => {
    server = await startHostile({
      PING_INTERVAL_MS: String(PING_INTERVAL_MS),
      PING_TIMEOUT_MS: String(PING_TIMEOUT_MS),
      CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
    });
    attacker = await newSession(server.http);
  });
  afterEach(() => {
    closeRaw();
    clients.closeAll();
  });
  after(() => server?.stop());

  /** Raw websocket with the attacker's cookie, handshaken (and connected to "/" if asked). */
  async function raw({ connect }) {
    if (connect) return connectedRaw(server, attacker.cookie);
    const sock = new RawSocket(wsUrl(server), { headers: { cookie: attacker.cookie } });
    await sock.handshake();
    await sock.writerStarted();
    return sock;
  }

  /** Sends `frames`, then returns { packets, close } once the server closed the connection. */
  async function closedBy(sock, frames, label) {
    for (const f of frames) sock.send(f.data ?? f, { binary: Boolean(f.binary) });
    const close = await sock.expectClose(3_000, `after ${label}`);
    return { packets: sock.queue.splice(0), close };
  }

  // ---------------------------------------------------------------- Engine.IO, websocket
  for (const [label, frame] of [
    ["unknown Engine.IO packet type (\"9\")", "9"],
    ["empty text frame", ""],
    ["garbage text (\"garbage\")", "garbage"],
    ["an upgrade packet (\"5\") on a websocket-only session", "5"],
  ]) {
    test(`websocket, before CONNECT: ${label} → connection closed (close frame ${NO_STATUS}, no status)`, async () => {
      const sock = await raw({ connect: false });
      const { packets, close } = await closedBy(sock, [frame], label);
      assert.deepEqual(packets, []);
      assert.equal(close.code, NO_STATUS);
      await assertServesOthers(server, clients, { label });
    });
  }

  // ---------------------------------------------------------------- Engine.IO, polling
  for (const [label, body] of [
    ["unknown Engine.IO packet type (\"9\")", "9"],
    ["garbage (\"garbage\")", "garbage"],
    ["garbage after a valid packet (\"3\\x1eZZ\")", `3${RS}ZZ`],
    ["a bad base64 binary packet (\"b!!!!\")", "b!!!!"],
  ]) {
    test(`polling: POST ${label} → HTTP 400 with an empty body, the session is closed (then 400 ${SID_UNKNOWN})`, async () => {
      const s = await pollingSession(server, attacker.cookie);
      const r = await poll(s.url, { method: "POST", body });
      assert.deepEqual(r, { status: 400, text: "" });
      assert.deepEqual(await poll(s.url), { status: 400, text: SID_UNKNOWN });
      await assertServesOthers(server, clients, { label });
    });
  }

  test("polling: POST with an empty body is no packet: 200 \"ok\", the session goes on", async () => {
    const s = await pollingSession(server, attacker.cookie);
    assert.deepEqual(await poll(s.url, { method: "POST", body: "" }), { status: 200, text: "ok" });
    // the session is alive: its first ping is waiting
    assert.deepEqual(await poll(s.url), { status: 200, text: "2" });
    await assertServesOthers(server, clients, { label: "empty POST" });
  });

  // ---------------------------------------------------------------- Socket.IO, websocket
  for (const [label, frame] of [
    ["an event with bad JSON (42[\"incr\",{)", '42["incr",{'],
    ["an event with bad JSON and an ack id (427[\"incr\",{)", '427["incr",{'],
    ["an event whose payload is not an array (42{\"a\":1})", '42{"a":1}'],
    ["an event with an empty array (42[])", "42[]"],
    ["an unknown Socket.IO packet type (49)", "49"],
    ["a binary event with a negative attachment count (45-1-[\"incr\"])", '45-1-["incr"]'],
  ]) {
    test(`websocket, connected: ${label} → "${EIO_CLOSE}" (Engine.IO close) and connection closed; no handler ran`, async () => {
      const sock = await raw({ connect: true });
      const { packets, close } = await closedBy(sock, [frame], label);
      assert.deepEqual(packets, [EIO_CLOSE]);
      assert.equal(close.code, NO_STATUS);
      await assertServesOthers(server, clients, { label });
    });
  }

  test('websocket: CONNECT to an unknown namespace (40/nope,) → 44/nope,{"message":"Invalid namespace"}, then closed at the connect timeout', async () => {
    const startedAt = performance.now();
    const sock = await raw({ connect: false });
    sock.send("40/nope,");
    assert.equal(await sock.next(), '44/nope,{"message":"Invalid namespace"}');
    const close = await sock.expectClose(CONNECT_TIMEOUT_MS + 2_000, "(no namespace joined)");
    assert.deepEqual(sock.queue, [EIO_CLOSE]);
    assert.equal(close.code, NO_STATUS);
    const lifetime = close.at - startedAt;
    assert.ok(lifetime >= CONNECT_TIMEOUT_MS - 100, `closed ${Math.round(lifetime)} ms after the handshake began, before the connect timeout`);
    await assertServesOthers(server, clients, { label: "unknown namespace" });
  });

  test("websocket, connected to \"/\": a CONNECT to an unknown namespace and an event for it are refused/ignored, \"/\" keeps working", async () => {
    const sock = await raw({ connect: true });
    sock.send("40/nope,");
    assert.equal(await sock.next(), '44/nope,{"message":"Invalid namespace"}');
    sock.send('42/nope,["incr"]'); // not joined: ignored
    sock.send('421["incr"]');
    const got = [await sock.next(), await sock.next()].sort();
    assert.equal(got.length, 2);
    assert.match(got[0], /^42\["current count",\d+\]$/);
    assert.match(got[1], /^431\[\d+\]$/);
    assert.equal(sock.isClosed, false);
    await assertServesOthers(server, clients, { label: "event for an unjoined namespace" });
  });

  test("websocket: a malformed CONNECT payload (bad JSON, a string, an array) is refused, not connected", async () => {
    // socket.io's parser refuses these ("invalid payload") and closes the connection.
    // The refusal may be a CONNECT_ERROR (44…) or a closed connection; never a 40{"sid":…}.
    const accepted = [];
    for (const frame of ["40{bad", '40"x"', "40[1,2]", "40,garbage"]) {
      const sock = await raw({ connect: false });
      sock.send(frame);
      const first = await sock.next(1_000).catch(() => null);
      if (typeof first === "string" && first.startsWith("40{")) accepted.push(`${frame} → ${first}`);
      sock.terminate();
    }
    await assertServesOthers(server, clients, { label: "malformed CONNECT" });
    assert.deepEqual(accepted, [], "malformed CONNECT packets were accepted as connections");
  });

  // ---------------------------------------------------------------- binary attachments that lie
  test("binary event announcing 1 attachment, followed by a text frame instead → \"1\" and closed; no handler ran", async () => {
    const sock = await raw({ connect: true });
    const { packets, close } = await closedBy(sock, ['451-["incr",{"_placeholder":true,"num":0}]', '421["incr"]'], "missing attachment");
    assert.deepEqual(packets, [EIO_CLOSE]);
    assert.equal(close.code, NO_STATUS);
    await assertServesOthers(server, clients, { label: "missing attachment" });
  });

  test("binary event announcing 1 attachment, followed by 2 binary frames → the packet completes with the first, the extra one gets \"1\" and closes the connection", async () => {
    const sock = await raw({ connect: true });
    const { packets, close } = await closedBy(
      sock,
      ['451-["incr",{"_placeholder":true,"num":0}]', { data: Buffer.from([1]), binary: true }, { data: Buffer.from([2]), binary: true }],
      "extra attachment",
    );
    // the handler of the completed packet runs concurrently with the close: its
    // notification may go out before "1", after it (seen), or not at all
    assert.deepEqual(packets.filter((p) => p === EIO_CLOSE), [EIO_CLOSE], JSON.stringify(packets));
    for (const p of packets.filter((p) => p !== EIO_CLOSE)) assert.match(p, /^42\["current count",\d+\]$/);
    assert.equal(close.code, NO_STATUS);
    await assertServesOthers(server, clients, { label: "extra attachment" });
  });

  test("binary event announcing 99 999 999 attachments → \"1\" and closed at once (over socketioxide's 10 000)", async () => {
    const sock = await raw({ connect: true });
    const { packets, close } = await closedBy(sock, ['4599999999-["incr"]'], "huge attachment count");
    assert.deepEqual(packets, [EIO_CLOSE]);
    assert.equal(close.code, NO_STATUS);
    await assertServesOthers(server, clients, { label: "huge attachment count" });
  });

  test("a binary frame with no binary packet announced → \"1\" and closed", async () => {
    const sock = await raw({ connect: true });
    const { packets, close } = await closedBy(sock, [{ data: Buffer.from([0xff, 0, 1]), binary: true }], "stray binary");
    assert.deepEqual(packets, [EIO_CLOSE]);
    assert.equal(close.code, NO_STATUS);
    await assertServesOthers(server, clients, { label: "stray binary" });
  });

  // ---------------------------------------------------------------- Socket.IO, polling
  test(`polling, connected: an event with bad JSON → POST 200 "ok", the session is closed (then 400 ${SID_UNKNOWN})`, async () => {
    const s = await pollingSession(server, attacker.cookie);
    assert.equal((await poll(s.url, { method: "POST", body: "40" })).status, 200);
    assert.match(await nextPolled(s.url), /^40\{"sid":"[^"]+"\}$/);
    assert.deepEqual(await poll(s.url, { method: "POST", body: '42["incr",{' }), { status: 200, text: "ok" });
    assert.deepEqual(await poll(s.url), { status: 400, text: SID_UNKNOWN });
    await assertServesOthers(server, clients, { label: "polling bad JSON" });
  });
});
