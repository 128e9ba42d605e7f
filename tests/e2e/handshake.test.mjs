// Handshake refusals of the example contract, over both transports: missing,
// garbage, forged and destroyed sessions, bad tokens, foreign Origins, and the
// per-session connection limit.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  startServer,
  newSession,
  Clients,
  TRANSPORTS,
  COOKIE_NAME,
  SESSION_ID_LENGTH,
  SIGNATURE_LENGTH,
  splitCookieValue,
  joinCookieValue,
  hmacSignature,
  randomSessionId,
  emitWithAck,
  waitUntil,
  refusedStatus,
  SUITE_TIMEOUT_MS,
} from "./harness.mjs";

/** Replace the character at `i` of a base64(url) string by one that differs in its high bits. */
function flipChar(s, i) {
  const c = s[i];
  const r = c === "A" ? "g" : "A";
  return s.slice(0, i) + r + s.slice(i + 1);
}

describe("Socket.IO handshake refusals", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startServer();
  });
  afterEach(() => clients.closeAll());
  after(() => server?.stop());

  for (const transport of TRANSPORTS) {
    const tag = `[${transport.name}]`;
    const refused = (opts) => clients.connectError(server.socket, { transport, ...opts });
    const connect = (opts) => clients.connect(server.socket, { transport, ...opts });

    test(`no cookie and no token: connect_error "session required" ${tag}`, async () => {
      const err = await refused({});
      assert.equal(err.message, "session required");
    });

    test(`garbage cookie (${COOKIE_NAME}=garbage): connect_error "invalid session" ${tag}`, async () => {
      const err = await refused({ cookie: `${COOKIE_NAME}=garbage` });
      assert.equal(err.message, "invalid session");
    });

    test(`well-formed cookie with a forged signature (one char flipped): connect_error "invalid session" ${tag}`, async () => {
      const s = await newSession(server.http);
      const { id, sig } = splitCookieValue(s.cookieValue);
      assert.equal(joinCookieValue(id, sig), s.cookieValue);
      // the genuine cookie is accepted ...
      await connect({ cookie: s.cookie });
      // ... a one-character change of its signature is not, wherever it is
      for (const i of [0, 21, 42]) {
        const forged = `${COOKIE_NAME}=${joinCookieValue(id, flipChar(sig, i))}`;
        const err = await refused({ cookie: forged });
        assert.equal(err.message, "invalid session", `signature with char ${i} flipped`);
      }
      // nor is the id changed under the genuine signature
      const err = await refused({ cookie: `${COOKIE_NAME}=${joinCookieValue(flipChar(id, 3), sig)}` });
      assert.equal(err.message, "invalid session", "id with a flipped char under the genuine signature");
    });

    test(`random id signed with a wrong key: connect_error "invalid session" ${tag}`, async () => {
      const id = randomSessionId();
      assert.equal(id.length, SESSION_ID_LENGTH);
      for (const msg of [id, `${COOKIE_NAME}=${id}`]) {
        const sig = hmacSignature("not-the-server-secret-0123456789abcdef", msg);
        assert.equal(sig.length, SIGNATURE_LENGTH);
        const err = await refused({ cookie: `${COOKIE_NAME}=${joinCookieValue(id, sig)}` });
        assert.equal(err.message, "invalid session");
      }
    });

    test(`another session's signature under this session's id: connect_error "invalid session" ${tag}`, async () => {
      const a = await newSession(server.http);
      const b = await newSession(server.http);
      const { id: idA } = splitCookieValue(a.cookieValue);
      const { sig: sigB } = splitCookieValue(b.cookieValue);
      const err = await refused({ cookie: `${COOKIE_NAME}=${joinCookieValue(idA, sigB)}` });
      assert.equal(err.message, "invalid session");
    });

    test(`bad token (auth.token = "nope"): connect_error "invalid session" ${tag}`, async () => {
      const err = await refused({ token: "nope" });
      assert.equal(err.message, "invalid session");
    });

    test(`forged token (a char of a real token flipped): connect_error "invalid session" ${tag}`, async () => {
      const s = await newSession(server.http);
      const token = await s.token();
      // the genuine token is accepted
      await connect({ token });
      for (const i of [0, Math.floor(token.length / 2), token.length - 1]) {
        const err = await refused({ token: flipChar(token, i) });
        assert.equal(err.message, "invalid session", `token with char ${i} flipped`);
      }
    });

    test(`a foreign Origin (http://evil.example): refused at the Engine.IO handshake, before any session is allocated — the client's connect_error is a transport error with HTTP 403 ${tag}`, async () => {
      const s = await newSession(server.http);
      const err = await refused({ cookie: s.cookie, headers: { Origin: "http://evil.example" } });
      assert.equal(refusedStatus(err), 403, `${err.message}: ${err.description?.message ?? err.description}`);
      const raw = await fetch(`${server.socket}/socket.io/?EIO=4&transport=polling`, {
        headers: { Origin: "http://evil.example", Cookie: s.cookie },
      });
      assert.equal(raw.status, 403);
      assert.equal(await raw.text(), "origin not allowed");
    });

    test(`the server's own origin, or no Origin at all, is accepted ${tag}`, async () => {
      const s = await newSession(server.http);
      const own = await connect({ cookie: s.cookie, headers: { Origin: server.origin } });
      assert.equal(await emitWithAck(own, "incr"), 1);
      const none = await connect({ cookie: s.cookie });
      assert.equal(await emitWithAck(none, "incr"), 2);
    });
  }

  test("the default limit: 32 sockets of one session connect, the 33rd gets \"too many connections for this session\" [websocket]", async () => {
    const s = await newSession(server.http);
    const socks = await Promise.all(
      Array.from({ length: 32 }, () => clients.connect(server.socket, { transport: TRANSPORTS[0], cookie: s.cookie })),
    );
    assert.equal(socks.filter((x) => x.connected).length, 32);
    const err = await clients.connectError(server.socket, { transport: TRANSPORTS[0], cookie: s.cookie });
    assert.equal(err.message, "too many connections for this session");
  });
});

describe("Per-session connection limit (MAX_CONNECTIONS_PER_SESSION=3)", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startServer({ env: { MAX_CONNECTIONS_PER_SESSION: "3" } });
  });
  afterEach(() => clients.closeAll());
  after(() => server?.stop());

  for (const transport of TRANSPORTS) {
    const tag = `[${transport.name}]`;

    test(`the 4th socket of one session gets connect_error "too many connections for this session"; other sessions are not limited ${tag}`, async () => {
      const s = await newSession(server.http);
      const socks = [];
      for (let i = 0; i < 3; i++) socks.push(await clients.connect(server.socket, { transport, cookie: s.cookie }));
      const err = await clients.connectError(server.socket, { transport, cookie: s.cookie });
      assert.equal(err.message, "too many connections for this session");
      // the refused one did not take anyone's place
      for (const x of socks) assert.equal(x.connected, true);
      // another session still gets its own 3
      const other = await newSession(server.http);
      for (let i = 0; i < 3; i++) await clients.connect(server.socket, { transport, cookie: other.cookie });
    });

    test(`a slot frees when a socket of the full session disconnects ${tag}`, async () => {
      const s = await newSession(server.http);
      const socks = [];
      for (let i = 0; i < 3; i++) socks.push(await clients.connect(server.socket, { transport, cookie: s.cookie }));
      socks[0].disconnect();
      // the server learns of the disconnect asynchronously: retry for a bounded time
      const sock = await waitUntil(
        async () => {
          const x = clients.open(server.socket, { transport, cookie: s.cookie });
          const ok = await new Promise((resolve) => {
            const timer = setTimeout(() => resolve(false), 5_000);
            x.once("connect", () => (clearTimeout(timer), resolve(true)));
            x.once("connect_error", () => (clearTimeout(timer), resolve(false)));
          });
          if (!ok) x.disconnect();
          return ok && x;
        },
        3_000,
        "no socket could connect after one of the 3 disconnected",
        100,
      );
      assert.equal(await emitWithAck(sock, "incr"), 1);
    });
  }
});
