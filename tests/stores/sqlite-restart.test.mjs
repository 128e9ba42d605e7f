// The SQLite store keeps sessions across a restart of the process: the same cookie opens
// the same session (its count goes on), over HTTP and over Socket.IO.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  startServer,
  newSession,
  HttpClient,
  Clients,
  waitForEvent,
  SUITE_TIMEOUT_MS,
} from "../e2e/harness.mjs";

describe("SQLite store (rust-counter with SESSION_STORE_URL=sqlite://…)", { timeout: SUITE_TIMEOUT_MS }, () => {
  test("a session survives a restart: same cookie, same count, sockets accepted", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "sessionio-sqlite-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const env = {
      SESSION_STORE_URL: `sqlite://${join(dir, "sessions.db")}`,
      // The cookie is signed: the restarted process must know the same secret.
      SESSION_SECRET: "a fixed secret for the restart test, 32+ bytes long",
    };

    const first = await startServer({ env, t });
    const client = await newSession(first.http);
    assert.equal(await client.incr(), 1);
    assert.equal(await client.incr(), 2);
    await first.stop();

    const second = await startServer({ env, t });
    const again = new HttpClient(second.http, client.cookieValue);
    const page = await again.get("/");
    assert.equal(page.status, 200, `GET / after the restart answered ${page.status}: ${page.body}`);
    assert.equal(page.setCookies.length, 0, "the restarted server replaced the session cookie");
    assert.equal(await again.incr(), 3, "the count did not survive the restart");

    const clients = new Clients();
    t.after(() => clients.closeAll());
    const socket = await clients.connect(second.socket, { cookie: again.cookie });
    const counted = waitForEvent(socket, "current count");
    assert.equal(await again.incr(), 4);
    assert.deepEqual(await counted, [4]);
  });
});
