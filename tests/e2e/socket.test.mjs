// Socket.IO side of the example contract, over both transports: rooms by
// session, "incr" with an ack, notifications from POST /incr, logout,
// tokens, reconnection.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  startServer,
  newSession,
  Clients,
  TRANSPORTS,
  counts,
  emitWithAck,
  waitForEvent,
  waitForDisconnect,
  waitForUpgrade,
  awaitConnect,
  withTimeout,
  sleep,
  SUITE_TIMEOUT_MS,
} from "./harness.mjs";

/** How long "no event arrives" is watched for, once the expected ones arrived. */
const QUIET_MS = 300;

describe("Socket.IO contract", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startServer();
  });
  afterEach(() => clients.closeAll());
  after(() => server?.stop());

  test("default transport upgrades from polling to websocket [polling+upgrade]", async () => {
    const s = await newSession(server.http);
    const sock = await clients.connect(server.socket, { transport: TRANSPORTS[1], cookie: s.cookie });
    await waitForUpgrade(sock);
    // and still works after the upgrade
    assert.equal(await emitWithAck(sock, "incr"), 1);
  });

  for (const transport of TRANSPORTS) {
    const tag = `[${transport.name}]`;
    const connect = (opts) => clients.connect(server.socket, { transport, ...opts });

    test(`a socket with a valid session cookie connects ${tag}`, async () => {
      const s = await newSession(server.http);
      const sock = await connect({ cookie: s.cookie });
      assert.equal(sock.connected, true);
      assert.ok(sock.id, "connected socket has no id");
    });

    test(`socket "incr" acks the new count as a number, continuing the HTTP count ${tag}`, async () => {
      const s = await newSession(server.http);
      assert.equal(await s.incr(), 1);
      const sock = await connect({ cookie: s.cookie });
      const a1 = await emitWithAck(sock, "incr");
      assert.equal(typeof a1, "number", `ack is not a number: ${JSON.stringify(a1)}`);
      assert.equal(a1, 2);
      assert.equal(await emitWithAck(sock, "incr"), 3);
      // and HTTP sees the socket's increments
      assert.equal(await s.incr(), 4);
    });

    test(`socket "incr" emits "current count" to every socket of the session (sender included) and none of another ${tag}`, async () => {
      const s = await newSession(server.http);
      const other = await newSession(server.http);
      const [a, b, c] = await Promise.all([
        connect({ cookie: s.cookie }),
        connect({ cookie: s.cookie }),
        connect({ cookie: s.cookie }),
      ]);
      const o = await connect({ cookie: other.cookie });

      const ack = await emitWithAck(a, "incr");
      assert.equal(ack, 1);
      for (const [name, sock] of [["sender", a], ["second", b], ["third", c]]) {
        const [n] = await waitForEvent(sock, "current count", { pred: (v) => v === 1, label: `on the ${name} socket` });
        assert.equal(typeof n, "number", `"current count" payload is not a number: ${JSON.stringify(n)}`);
      }
      await sleep(QUIET_MS);
      assert.deepEqual(counts(o), [], "a socket of another session received \"current count\"");
      for (const sock of [a, b, c]) assert.deepEqual(counts(sock), [1], "unexpected extra \"current count\" events");
    });

    test(`POST /incr notifies every socket of the session and none of another ${tag}`, async () => {
      const s = await newSession(server.http);
      const other = await newSession(server.http);
      const mine = await Promise.all([connect({ cookie: s.cookie }), connect({ cookie: s.cookie })]);
      const theirs = await connect({ cookie: other.cookie });

      assert.equal(await s.incr(), 1);
      assert.equal(await s.incr(), 2);
      for (const sock of mine) {
        await waitForEvent(sock, "current count", { pred: (v) => v === 2, label: "after two POST /incr" });
        assert.deepEqual(counts(sock), [1, 2]);
      }
      // the other session's own increment reaches only its socket
      assert.equal(await other.incr(), 1);
      await waitForEvent(theirs, "current count", { pred: (v) => v === 1, label: "on the other session's socket" });
      await sleep(QUIET_MS);
      assert.deepEqual(counts(theirs), [1], "another session's socket got this session's counts");
      for (const sock of mine) assert.deepEqual(counts(sock), [1, 2], "a socket got another session's count");
    });

    test(`POST /logout disconnects every socket of the session with "io server disconnect", no reconnect, others untouched ${tag}`, async () => {
      const s = await newSession(server.http);
      const other = await newSession(server.http);
      // reconnection enabled, to see that the client does not reconnect
      const mine = await Promise.all([
        connect({ cookie: s.cookie, reconnection: true }),
        connect({ cookie: s.cookie, reconnection: true }),
      ]);
      const theirs = await connect({ cookie: other.cookie, reconnection: true });
      let attempts = 0;
      for (const sock of mine) sock.io.on("reconnect_attempt", () => attempts++);

      const r = await s.post("/logout", { keepCookie: false });
      assert.equal(r.status, 204);
      for (const sock of mine) {
        const { reason } = await waitForDisconnect(sock, { label: "after POST /logout" });
        assert.equal(reason, "io server disconnect");
      }
      await sleep(1_000);
      assert.equal(attempts, 0, "a logged-out socket tried to reconnect");
      for (const sock of mine) assert.equal(sock.connected, false, "a logged-out socket is connected again");
      assert.equal(theirs.connected, true, "a socket of another session was disconnected by the logout");
      assert.deepEqual(theirs.disconnects, []);
      assert.equal(await emitWithAck(theirs, "incr"), 1);
    });

    test(`after POST /logout a handshake with the destroyed session's cookie gets connect_error "invalid session" ${tag}`, async () => {
      const s = await newSession(server.http);
      const cookie = s.cookie;
      await connect({ cookie }); // the cookie was good
      assert.equal((await s.post("/logout", { keepCookie: false })).status, 204);
      const err = await clients.connectError(server.socket, { transport, cookie });
      assert.equal(err.message, "invalid session");
    });

    test(`a socket with no cookie but auth.token from GET /token joins that session ${tag}`, async () => {
      const s = await newSession(server.http);
      const token = await s.token();
      const withCookie = await connect({ cookie: s.cookie });
      const withToken = await connect({ token });

      // POST /incr with the cookie reaches the token socket
      assert.equal(await s.incr(), 1);
      await waitForEvent(withToken, "current count", { pred: (v) => v === 1, label: "on the token socket after POST /incr" });
      // its incr acks continue the same count, and reach the cookie socket
      assert.equal(await emitWithAck(withToken, "incr"), 2);
      await waitForEvent(withCookie, "current count", { pred: (v) => v === 2, label: "on the cookie socket after the token socket's incr" });
      assert.equal(await s.incr(), 3);
    });

    test(`POST /logout also disconnects sockets attached by token, and the token is refused afterwards ${tag}`, async () => {
      const s = await newSession(server.http);
      const token = await s.token();
      const sock = await connect({ token });
      assert.equal((await s.post("/logout", { keepCookie: false })).status, 204);
      const { reason } = await waitForDisconnect(sock, { label: "token socket after POST /logout" });
      assert.equal(reason, "io server disconnect");
      const err = await clients.connectError(server.socket, { transport, token });
      assert.equal(err.message, "invalid session");
    });

    test(`a transport close reconnects automatically with the same cookie, still in the session's room ${tag}`, async () => {
      const s = await newSession(server.http);
      const sock = await connect({ cookie: s.cookie, reconnection: true });
      const firstId = sock.id;
      if (transport.name === "polling+upgrade") await waitForUpgrade(sock);

      const reconnected = withTimeout(
        new Promise((resolve) => sock.io.once("reconnect", resolve)),
        10_000,
        "the client did not reconnect after its transport was closed",
      );
      sock.io.engine.close();
      const { reason } = await waitForDisconnect(sock, { label: "after engine.close()" });
      assert.notEqual(reason, "io server disconnect");
      await reconnected;
      await awaitConnect(sock, "after reconnect");
      assert.notEqual(sock.id, firstId, "the reconnected socket has the old id");

      assert.equal(await s.incr(), 1);
      await waitForEvent(sock, "current count", { pred: (v) => v === 1, label: "on the reconnected socket after POST /incr" });
      assert.equal(await emitWithAck(sock, "incr"), 2);
    });
  }

  test("sockets of one session over both transports share its room", async () => {
    const s = await newSession(server.http);
    const ws = await connect2(TRANSPORTS[0]);
    const poll = await connect2(TRANSPORTS[1]);
    async function connect2(transport) {
      return clients.connect(server.socket, { transport, cookie: s.cookie });
    }
    assert.equal(await emitWithAck(ws, "incr"), 1);
    await waitForEvent(poll, "current count", { pred: (v) => v === 1 });
    assert.equal(await emitWithAck(poll, "incr"), 2);
    await waitForEvent(ws, "current count", { pred: (v) => v === 2 });
  });
});
