// Finding 2 of issue 15: sessions are created lazily and the store is capped. Runs against
// an example in sessionio's own session mode (Rust, Node/Express, FastAPI, Flask; not the
// express-session example, where express-session makes the sessions), started with
// MAX_SESSIONS=3: requests that do not use the session must leave every place free for
// the pages that do, and the 4th session is refused with 503 "too many sessions".
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, HttpClient, newSession, SUITE_TIMEOUT_MS } from "../e2e/harness.mjs";

describe("finding 2: lazy sessions and MAX_SESSIONS=3", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  before(async () => {
    server = await startServer({ env: { MAX_SESSIONS: "3" } });
  });
  after(() => server?.stop());

  test("finding 2: 50 cookieless GET /health store no session; GET / still creates one until the cap, then 503 too many sessions", async () => {
    for (let i = 0; i < 50; i++) {
      const r = await new HttpClient(server.http).get("/health");
      assert.equal(r.status, 200, `GET /health answered ${r.status}: ${r.body}`);
      assert.deepEqual(r.res.headers.getSetCookie(), [], "GET /health set a cookie");
    }
    // Had /health stored sessions, the cap of 3 would refuse these.
    const sessions = [];
    for (let i = 0; i < 3; i++) sessions.push(await newSession(server.http));

    const refused = await new HttpClient(server.http).get("/");
    assert.equal(refused.status, 503, `the 4th session answered ${refused.status}: ${refused.body}`);
    assert.equal(refused.body, "too many sessions");
    assert.deepEqual(refused.setCookies, [], "a refused session got a cookie");
    const refusedWrite = await new HttpClient(server.http).post("/incr");
    assert.equal(refusedWrite.status, 503);
    assert.equal(refusedWrite.body, "too many sessions");

    // The sessions already stored are served as before.
    assert.equal(await sessions[0].incr(), 1);
    assert.equal((await sessions[1].get("/")).status, 200);

    // Logging one out frees its place.
    assert.equal((await sessions[2].post("/logout")).status, 204);
    await newSession(server.http);
  });
});
