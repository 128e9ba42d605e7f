// The Origin of requests under the Socket.IO path (issue 15, finding 8): an upgrade whose
// query the engine reads as a websocket upgrade must be judged like any other, whatever
// its text, and so must polls and posts of a session opened without an Origin.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { newSession, Clients, SUITE_TIMEOUT_MS } from "../e2e/harness.mjs";
import { startHostile, assertServesOthers, closeRaw, rawHttp, wsUpgradeHead, poll, pollingSession, nextPolled, RawSocket, wsUrl } from "./lib.mjs";

const EVIL = "http://evil.example";

describe("finding 8: the Origin of every request under the Socket.IO path", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startHostile({ CONNECT_TIMEOUT_MS: "3000" });
  });
  afterEach(() => {
    closeRaw();
    clients.closeAll();
  });
  after(() => server?.stop());

  test("finding 8: an upgrade of a session whose query reads transport=websocket=1 (the engine takes the text after the first '=') from a foreign Origin → HTTP 403 \"origin not allowed\", never 101", async () => {
    const s = await newSession(server.http);
    for (const query of ["transport=websocket=1", "transport=websocket&transport=polling", "transport=websocket"]) {
      const session = await pollingSession(server, s.cookie);
      const path = `/socket.io/?EIO=4&${query}&sid=${encodeURIComponent(session.sid)}`;
      const up = await rawHttp(server, wsUpgradeHead(path, [`Cookie: ${s.cookie}`, `Origin: ${EVIL}`]));
      assert.deepEqual([up.status, up.body], [403, "origin not allowed"], `upgrade with ${query}`);
    }
    await assertServesOthers(server, clients, { label: "after the upgrades" });
  });

  test("finding 8: polls and posts of a session opened without an Origin, sent from a foreign Origin → HTTP 403; the same from no Origin are served", async () => {
    const s = await newSession(server.http);
    const session = await pollingSession(server, s.cookie);
    const evil = { cookie: s.cookie, origin: EVIL };
    assert.deepEqual(await poll(session.url, { method: "POST", body: "40", headers: evil }), { status: 403, text: "origin not allowed" });
    assert.deepEqual(await poll(session.url, { headers: evil }), { status: 403, text: "origin not allowed" });
    assert.deepEqual(await poll(session.url, { method: "POST", body: "40", headers: { cookie: s.cookie } }), { status: 200, text: "ok" });
    assert.match(await nextPolled(session.url, { headers: { cookie: s.cookie } }), /^40\{"sid":"[^"]+"\}$/);
    // and a websocket handshake from the foreign Origin never opens a session
    const ws = new RawSocket(wsUrl(server), { headers: { cookie: s.cookie, origin: EVIL } });
    await assert.rejects(ws.handshake(), /403/);
    await assertServesOthers(server, clients, { label: "after the foreign polls" });
  });
});
