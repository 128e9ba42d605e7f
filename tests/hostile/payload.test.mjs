// Payloads over the configured max_payload (MAX_PAYLOAD=10000 bytes here), over websocket
// and polling, text and binary: refused, the handler never runs, others are served.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { newSession, Clients, SUITE_TIMEOUT_MS } from "../e2e/harness.mjs";
import {
  startHostile,
  assertServesOthers,
  connectedRaw,
  closeRaw,
  rssKb,
  rawHttp,
  head,
  poll,
  pollingSession,
  SID_UNKNOWN,
} from "./lib.mjs";

const MAX_PAYLOAD = 10_000;
/** A Socket.IO event packet of exactly `bytes` bytes: 42["incr","xxx…"]. */
const eventOf = (bytes, ack = "") => {
  const head = `42${ack}["incr","`;
  return head + "x".repeat(bytes - head.length - 2) + '"]';
};

describe(`payloads over max_payload (MAX_PAYLOAD=${MAX_PAYLOAD})`, { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  let attacker;
  const clients = new Clients();
  before(async () => {
    server = await startHostile({ MAX_PAYLOAD: String(MAX_PAYLOAD) });
    attacker = await newSession(server.http);
  });
  afterEach(() => {
    closeRaw();
    clients.closeAll();
  });
  after(() => server?.stop());

  test("the handshake announces the configured maxPayload", async () => {
    const s = await pollingSession(server, attacker.cookie);
    assert.equal(s.open.maxPayload, MAX_PAYLOAD);
  });

  test(`websocket: an event just under max_payload (${MAX_PAYLOAD - 10} bytes) is handled (control)`, async () => {
    const sock = await connectedRaw(server, attacker.cookie);
    sock.send(eventOf(MAX_PAYLOAD - 10, "1"));
    const got = [await sock.next(), await sock.next()].sort();
    assert.match(got[0], /^42\["current count",\d+\]$/);
    assert.match(got[1], /^431\[\d+\]$/);
  });

  for (const size of [2 * MAX_PAYLOAD, 5_000_000]) {
    test(`websocket: a ${size}-byte event (over max_payload ${MAX_PAYLOAD}) closes the connection; the handler does not run`, async () => {
      const sock = await connectedRaw(server, attacker.cookie);
      const before = rssKb(server);
      sock.send(eventOf(size, "1"));
      const close = await sock.expectClose(3_000, `after a ${size}-byte message (max_payload ${MAX_PAYLOAD})`).catch((e) => e);
      const packets = sock.queue.splice(0);
      const after = rssKb(server);
      await assertServesOthers(server, clients, { label: `${size}-byte message` });
      assert.ok(
        !(close instanceof Error),
        `a ${size}-byte websocket message was not refused (max_payload ${MAX_PAYLOAD}): the connection stayed open and the server answered ${JSON.stringify(packets.map((p) => String(p).slice(0, 40)))}; RSS ${before} → ${after} KiB`,
      );
      assert.deepEqual(
        packets.filter((p) => /current count|^43/.test(p)),
        [],
        "the handler ran for an oversized message",
      );
    });
  }

  test(`websocket: a binary attachment over max_payload (${2 * MAX_PAYLOAD} bytes) closes the connection; the handler does not run`, async () => {
    const sock = await connectedRaw(server, attacker.cookie);
    sock.send('451-1["incr",{"_placeholder":true,"num":0}]');
    sock.send(Buffer.alloc(2 * MAX_PAYLOAD, 7), { binary: true });
    const close = await sock.expectClose(3_000, "after an oversized attachment").catch((e) => e);
    const packets = sock.queue.splice(0);
    await assertServesOthers(server, clients, { label: "oversized attachment" });
    assert.ok(
      !(close instanceof Error),
      `a ${2 * MAX_PAYLOAD}-byte binary attachment was not refused (max_payload ${MAX_PAYLOAD}): the server answered ${JSON.stringify(packets.map((p) => String(p).slice(0, 40)))}`,
    );
    assert.deepEqual(packets.filter((p) => /current count|^43/.test(p)), [], "the handler ran");
  });

  test(`polling: a POST over max_payload → HTTP 413 with an empty body, the session is closed (then 400 ${SID_UNKNOWN}); the handler does not run`, async () => {
    const s = await pollingSession(server, attacker.cookie);
    assert.equal((await poll(s.url, { method: "POST", body: "40" })).status, 200);
    assert.match((await poll(s.url)).text, /40\{"sid":/);
    const countBefore = await attacker.incr();
    const r = await poll(s.url, { method: "POST", body: "4" + eventOf(2 * MAX_PAYLOAD) });
    assert.deepEqual(r, { status: 413, text: "" });
    assert.deepEqual(await poll(s.url), { status: 400, text: SID_UNKNOWN });
    assert.equal(await attacker.incr(), countBefore + 1, "the oversized event was not handled");
    await assertServesOthers(server, clients, { label: "oversized POST" });
  });

  test("polling: a POST declaring 5 MB → HTTP 413 with an empty body as soon as max_payload is exceeded (the rest is never needed); the session is closed", async () => {
    const s = await pollingSession(server, attacker.cookie);
    const path = new URL(s.url).pathname + new URL(s.url).search;
    // only 2 × max_payload of the declared 5 MB are sent: the answer must not wait for the rest
    const r = await rawHttp(
      server,
      Buffer.concat([
        head([`POST ${path} HTTP/1.1`, "Host: 127.0.0.1", "Content-Type: text/plain;charset=UTF-8", "Content-Length: 5000001"]),
        Buffer.from("4" + "x".repeat(2 * MAX_PAYLOAD)),
      ]),
      { timeout: 5_000 },
    );
    assert.equal(r.status, 413);
    assert.equal(r.reason, "Payload Too Large");
    assert.equal(r.body, "");
    assert.deepEqual(await poll(s.url), { status: 400, text: SID_UNKNOWN });
    await assertServesOthers(server, clients, { label: "5 MB POST" });
  });
});
