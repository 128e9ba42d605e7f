// What only an example that keeps express-session (examples/node-express-session) can be
// asked: its cookies are express-session's (`connect.sid`, cookie-signature's format), so a
// test can sign one itself — with an old secret of a rotated pair, or with the right
// secret for a session that does not exist. Run with SESSIONIO_COOKIE=express:
//
//   SESSIONIO_COOKIE=express SESSIONIO_EXAMPLE="node examples/node-express-session/app.mjs" \
//     node --test express/
//
// (scripts/test-node.sh does, with MemoryStore and with REDIS_URL.)
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  startServer,
  newSession,
  HttpClient,
  Clients,
  TRANSPORTS,
  COOKIE_FORMAT,
  COOKIE_NAME,
  COOKIE_SECRET,
  splitCookieValue,
  joinCookieValue,
  expressSignedValue,
  randomSessionId,
  isClearing,
  emitWithAck,
  waitForEvent,
  SUITE_TIMEOUT_MS,
} from "../e2e/harness.mjs";

// Not a skip: these tests mean nothing for sessionio's own cookie, so running them
// without the express format is a mistake of the command line.
if (COOKIE_FORMAT !== "express") {
  throw new Error(`tests/express/ need SESSIONIO_COOKIE=express (cookie format is ${COOKIE_FORMAT})`);
}

const NEW_SECRET = "the-new-secret-0123456789abcdef0123456789";
const OLD_SECRET = "the-old-secret-0123456789abcdef0123456789";
const OTHER_SECRET = "never-a-secret-of-this-app-0123456789abcdef";

/** Replace the character at `i` of a base64 string by one that differs in its high bits. */
function flipChar(s, i) {
  const r = s[i] === "A" ? "g" : "A";
  return s.slice(0, i) + r + s.slice(i + 1);
}

/** The express session id a cookie value carries (between `s:` and the last "."). */
function idOf(value) {
  const parts = splitCookieValue(value);
  assert.ok(parts, `not an express-session cookie value: ${value}`);
  return parts.id;
}

/** Asserts a 401 "invalid session" answer with one clearing Set-Cookie. */
function assertRefused(r, what) {
  assert.equal(r.status, 401, `${what}: answered ${r.status}: ${r.body}`);
  assert.equal(r.body.trim(), "invalid session", what);
  assert.equal(r.setCookies.length, 1, `${what}: expected one clearing Set-Cookie, got ${r.res.headers.getSetCookie()}`);
  assert.ok(isClearing(r.setCookies[0]), `${what}: Set-Cookie does not clear: ${r.setCookies[0].raw}`);
}

describe("express-session secret rotation (SESSION_SECRETS=new,old)", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startServer({ env: { SESSION_SECRETS: `${NEW_SECRET},${OLD_SECRET}` } });
  });
  afterEach(() => clients.closeAll());
  after(() => server?.stop());

  test("new cookies are signed with the first secret, as cookie-signature signs", async () => {
    const s = await newSession(server.http);
    assert.equal(s.cookieValue, expressSignedValue(idOf(s.cookieValue), NEW_SECRET));
  });

  for (const transport of TRANSPORTS) {
    const tag = `[${transport.name}]`;

    test(`a cookie of an existing session signed with the old secret connects, and POST /incr with it works ${tag}`, async () => {
      const s = await newSession(server.http);
      const id = idOf(s.cookieValue);
      const oldValue = expressSignedValue(id, OLD_SECRET);
      assert.notEqual(oldValue, s.cookieValue);

      const sock = await clients.connect(server.socket, { transport, cookie: `${COOKIE_NAME}=${oldValue}` });
      assert.equal(await emitWithAck(sock, "incr"), 1);

      const old = new HttpClient(server.http, oldValue);
      const r = await old.post("/incr", { keepCookie: false });
      assert.equal(r.status, 200, `POST /incr with the old-secret cookie answered ${r.status}: ${r.body}`);
      assert.equal(r.body, "2");
      // the same session goes on: any cookie sent back is this session's, re-signed with the new secret
      for (const c of r.setCookies) {
        assert.equal(c.value, s.cookieValue, `POST /incr with the old-secret cookie set another cookie: ${c.raw}`);
      }
      await waitForEvent(sock, "current count", { pred: (v) => v === 2, label: "after POST /incr with the old-secret cookie" });
      // and the new-secret cookie sees the same count
      assert.equal(await s.incr(), 3);
    });

    test(`a tampered old-secret cookie is refused: connect_error "invalid session" and HTTP 401 ${tag}`, async () => {
      const s = await newSession(server.http);
      const id = idOf(s.cookieValue);
      const { sig } = splitCookieValue(expressSignedValue(id, OLD_SECRET));
      const forged = [
        ...[0, 21, 42].map((i) => [`old-secret signature with char ${i} flipped`, joinCookieValue(id, flipChar(sig, i))]),
        ["the id changed under the old-secret signature", joinCookieValue(flipChar(id, 3), sig)],
        ["signed with a secret the app does not have", expressSignedValue(id, OTHER_SECRET)],
      ];
      for (const [what, value] of forged) {
        const err = await clients.connectError(server.socket, { transport, cookie: `${COOKIE_NAME}=${value}` });
        assert.equal(err.message, "invalid session", what);
        for (const [method, path] of [
          ["POST", "/incr"],
          ["GET", "/"],
        ]) {
          const r = await new HttpClient(server.http, value).send(method, path, { keepCookie: false });
          assertRefused(r, `${method} ${path}, ${what}`);
        }
      }
      // the genuine session was not touched by any of it
      assert.equal(await s.incr(), 1);
    });
  }
});

describe("express-session mode: cookies signed with the app's own secret", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    // the harness gives the app SESSION_SECRET=COOKIE_SECRET
    server = await startServer();
  });
  afterEach(() => clients.closeAll());
  after(() => server?.stop());

  test("the app signs with SESSION_SECRET", async () => {
    const s = await newSession(server.http);
    assert.equal(s.cookieValue, expressSignedValue(idOf(s.cookieValue), COOKIE_SECRET));
  });

  for (const transport of TRANSPORTS) {
    const tag = `[${transport.name}]`;

    test(`a validly signed id that express-session never issued: connect_error "invalid session" and HTTP 401, not a new session ${tag}`, async () => {
      const value = expressSignedValue(randomSessionId(), COOKIE_SECRET);
      const err = await clients.connectError(server.socket, { transport, cookie: `${COOKIE_NAME}=${value}` });
      assert.equal(err.message, "invalid session");
      for (const [method, path] of [
        ["POST", "/incr"],
        ["GET", "/"],
        ["GET", "/token"],
      ]) {
        const r = await new HttpClient(server.http, value).send(method, path, { keepCookie: false });
        assertRefused(r, `${method} ${path} with an unknown session's cookie`);
      }
    });

    test(`finding 9: of two connect.sid cookies the first is judged, as express-session reads it: forged first is refused, never a new session ${tag}`, async () => {
      const s = await newSession(server.http);
      const id = idOf(s.cookieValue);
      const forged = `${COOKIE_NAME}=${expressSignedValue(id, OTHER_SECRET)}`;
      const valid = `${COOKIE_NAME}=${s.cookieValue}`;
      const forgedFirst = `${forged}; ${valid}`;
      const err = await clients.connectError(server.socket, { transport, cookie: forgedFirst });
      assert.equal(err.message, "invalid session", forgedFirst);
      for (const [method, path] of [
        ["POST", "/incr"],
        ["GET", "/"],
      ]) {
        const r = await new HttpClient(server.http).send(method, path, { headers: { cookie: forgedFirst }, keepCookie: false });
        assertRefused(r, `${method} ${path}, forged cookie before the valid one`);
      }
      // The valid one first is the session, as express-session reads it: no new cookie.
      const validFirst = `${valid}; ${forged}`;
      const sock = await clients.connect(server.socket, { transport, cookie: validFirst });
      assert.equal(await emitWithAck(sock, "incr"), 1);
      const r = await new HttpClient(server.http).send("POST", "/incr", { headers: { cookie: validFirst }, keepCookie: false });
      assert.equal(r.status, 200, `POST /incr, valid cookie before a forged one: ${r.status} ${r.body}`);
      assert.equal(r.body, "2");
      for (const c of r.setCookies) assert.equal(c.value, s.cookieValue, `another session's cookie was set: ${c.raw}`);
    });

    test(`socket writes land in express-session's session: GET / renders the count the socket set ${tag}`, async () => {
      const s = await newSession(server.http);
      const sock = await clients.connect(server.socket, { transport, cookie: s.cookie });
      assert.equal(await emitWithAck(sock, "incr"), 1);
      assert.equal(await emitWithAck(sock, "incr"), 2);
      const r = await s.get("/");
      assert.equal(r.status, 200);
      assert.match(r.body, /<span id="count">2<\/span>/, "GET / (req.session.count) does not show the socket's count");
      assert.equal(await s.incr(), 3);
    });
  }
});
