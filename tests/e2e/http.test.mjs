// HTTP side of the example contract: cookie format, GET /, POST /incr,
// POST /logout, GET /token.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServer,
  HttpClient,
  newSession,
  sessionSetCookies,
  isClearing,
  newSessionCookies,
  splitCookieValue,
  COOKIE_NAME,
  COOKIE_VALUE_RE,
  COOKIE_VALUE_FORMAT,
  SUITE_TIMEOUT_MS,
} from "./harness.mjs";

describe("HTTP contract", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server?.stop());

  test(`GET / without cookie answers 200 text/html and sets a signed ${COOKIE_NAME} cookie`, async () => {
    const c = new HttpClient(server.http);
    const r = await c.get("/");
    assert.equal(r.status, 200);
    assert.match(r.res.headers.get("content-type") ?? "", /^text\/html\b/i);
    assert.ok(r.body.length > 0, "GET / has an empty body");
    const cookies = r.setCookies;
    assert.equal(cookies.length, 1, `expected one ${COOKIE_NAME} Set-Cookie, got ${r.res.headers.getSetCookie()}`);
    const [ck] = cookies;
    assert.match(ck.value, COOKIE_VALUE_RE, `cookie value is not ${COOKIE_VALUE_FORMAT}: ${ck.value}`);
    assert.equal(ck.attrs.httponly, true, `no HttpOnly in ${ck.raw}`);
    assert.equal(String(ck.attrs.samesite).toLowerCase(), "lax", `no SameSite=Lax in ${ck.raw}`);
    assert.equal(ck.attrs.path, "/", `no Path=/ in ${ck.raw}`);
    assert.equal(ck.attrs.secure, undefined, `Secure must not be set on http: ${ck.raw}`);
    assert.ok(!isClearing(ck), `the new session cookie is a clearing one: ${ck.raw}`);
  });

  test("finding 2: GET /health without a cookie answers 200 and sets no session cookie (a route that does not use the session creates none)", async () => {
    for (let i = 0; i < 5; i++) {
      const r = await new HttpClient(server.http).get("/health");
      assert.equal(r.status, 200, `GET /health answered ${r.status}: ${r.body}`);
      assert.deepEqual(
        r.res.headers.getSetCookie(),
        [],
        "a request that does not touch the session got a Set-Cookie",
      );
    }
  });

  test("GET / creates a distinct session for each cookieless client", async () => {
    const values = new Set();
    for (let i = 0; i < 5; i++) values.add((await newSession(server.http)).cookieValue);
    assert.equal(values.size, 5, "two cookieless GET / got the same session cookie");
    const ids = new Set([...values].map((v) => splitCookieValue(v).id));
    assert.equal(ids.size, 5, "two sessions share an id");
  });

  test("GET / with a valid cookie answers 200 and sets no new session cookie", async () => {
    const c = await newSession(server.http);
    const before = c.cookieValue;
    const r = await c.get("/");
    assert.equal(r.status, 200);
    assert.match(r.res.headers.get("content-type") ?? "", /^text\/html\b/i);
    assert.deepEqual(
      newSessionCookies(r, before).map((x) => x.raw),
      [],
      "a request with a valid cookie got a new session cookie",
    );
    assert.equal(c.cookieValue, before);
  });

  test("POST /incr answers the session's new count as text: 1, 2, 3", async () => {
    const c = await newSession(server.http);
    for (const expected of ["1", "2", "3"]) {
      const before = c.cookieValue;
      const r = await c.post("/incr");
      assert.equal(r.status, 200, `POST /incr answered ${r.status}: ${r.body}`);
      assert.equal(r.body, expected);
      assert.equal(newSessionCookies(r, before).length, 0, "POST /incr with a valid cookie set a new cookie");
    }
  });

  test("POST /incr counts each session separately", async () => {
    const a = await newSession(server.http);
    const b = await newSession(server.http);
    assert.equal((await a.post("/incr")).body, "1");
    assert.equal((await a.post("/incr")).body, "2");
    assert.equal((await b.post("/incr")).body, "1");
    assert.equal((await a.post("/incr")).body, "3");
    assert.equal((await b.post("/incr")).body, "2");
  });

  test("POST /incr without cookie creates a session (Set-Cookie) and answers 1", async () => {
    const c = new HttpClient(server.http);
    const r = await c.post("/incr");
    assert.equal(r.status, 200);
    assert.equal(r.body, "1");
    assert.equal(r.setCookies.length, 1, `expected a ${COOKIE_NAME} Set-Cookie, got ${r.res.headers.getSetCookie()}`);
    assert.match(r.setCookies[0].value, COOKIE_VALUE_RE);
    // the new cookie carries the session on
    const r2 = await c.post("/incr");
    assert.equal(r2.status, 200);
    assert.equal(r2.body, "2");
  });

  test("POST /logout answers 204 with a clearing Set-Cookie (Max-Age=0)", async () => {
    const c = await newSession(server.http);
    await c.incr();
    const r = await c.post("/logout", { keepCookie: false });
    assert.equal(r.status, 204);
    assert.equal(r.body, "");
    assert.equal(r.setCookies.length, 1, `expected one ${COOKIE_NAME} Set-Cookie, got ${r.res.headers.getSetCookie()}`);
    const [ck] = r.setCookies;
    assert.equal(ck.attrs["max-age"], "0", `logout cookie has no Max-Age=0: ${ck.raw}`);
    assert.equal(ck.attrs.path, "/", `logout cookie has no Path=/: ${ck.raw}`);
  });

  test("after POST /logout the old cookie is refused: POST /incr and GET / answer 401 invalid session", async () => {
    const c = await newSession(server.http);
    await c.incr();
    const old = c.cookieValue;
    assert.equal((await c.post("/logout", { keepCookie: false })).status, 204);

    const stale = new HttpClient(server.http, old);
    for (const [method, path] of [
      ["POST", "/incr"],
      ["GET", "/"],
    ]) {
      const r = await stale.send(method, path, { keepCookie: false });
      assert.equal(r.status, 401, `${method} ${path} with a destroyed session's cookie answered ${r.status}: ${r.body}`);
      assert.equal(r.body.trim(), "invalid session");
      assert.equal(r.setCookies.length, 1, `${method} ${path}: expected a clearing Set-Cookie, got ${r.res.headers.getSetCookie()}`);
      assert.ok(isClearing(r.setCookies[0]), `${method} ${path}: Set-Cookie does not clear: ${r.setCookies[0].raw}`);
    }
  });

  test("after POST /logout a fresh GET / without cookie starts a new session at count 1", async () => {
    const c = await newSession(server.http);
    await c.incr();
    await c.incr();
    assert.equal((await c.post("/logout", { keepCookie: false })).status, 204);
    const fresh = new HttpClient(server.http);
    const r = await fresh.post("/incr");
    assert.equal(r.status, 200);
    assert.equal(r.body, "1");
    assert.notEqual(fresh.cookieValue, c.cookieValue);
  });

  test("GET /token answers 200 with a non-empty signed token for the session", async () => {
    const c = await newSession(server.http);
    const before = c.cookieValue;
    const r = await c.get("/token");
    assert.equal(r.status, 200, `GET /token answered ${r.status}: ${r.body}`);
    const token = r.body.trim();
    assert.ok(token.length >= 16, `token too short to be signed: ${JSON.stringify(token)}`);
    assert.ok(!/\s/.test(token), "token contains whitespace");
    assert.equal(newSessionCookies(r, before).length, 0, "GET /token with a valid cookie set a new cookie");
    // tokens of two sessions differ
    const other = await (await newSession(server.http)).token();
    assert.notEqual(other, token);
  });

  test("cross-site request forgery: POST /incr or /logout from a foreign Origin, or with Sec-Fetch-Site: cross-site and no Origin → 403 \"origin not allowed\", nothing written and the cookie kept; from the page's own origin, Sec-Fetch-Site: same-origin, or neither header (not a browser) → served", async () => {
    const c = await newSession(server.http);
    for (const headers of [
      { origin: "http://evil.example" },
      { origin: "http://evil.example", "sec-fetch-site": "cross-site" },
      { origin: "null" },
      { "sec-fetch-site": "cross-site" },
    ]) {
      for (const path of ["/incr", "/logout"]) {
        const r = await c.post(path, { headers });
        assert.deepEqual([r.status, r.body.trim()], [403, "origin not allowed"], `POST ${path} with ${JSON.stringify(headers)}`);
        assert.deepEqual(r.setCookies, [], `POST ${path} with ${JSON.stringify(headers)} touched the cookie`);
      }
    }
    assert.equal((await c.post("/incr", { headers: { origin: server.origin } })).body.trim(), "1", "nothing was counted before");
    assert.equal((await c.post("/incr", { headers: { origin: "http://evil.example", "sec-fetch-site": "same-origin" } })).body.trim(), "2");
    assert.equal(await c.incr(), 3);
    // a cross-site GET (a link to the page) is no forgery
    assert.equal((await c.send("GET", "/", { headers: { origin: "http://evil.example", "sec-fetch-site": "cross-site" } })).status, 200);
  });
});
