// What the example tells strangers: its metrics only to listed addresses, and no
// filesystem path in an error.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { SUITE_TIMEOUT_MS } from "../e2e/harness.mjs";
import { startHostile, rawHttp, head } from "./lib.mjs";

const get = (server, path, localAddress) =>
  rawHttp(server, head([`GET ${path} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close"]), { localAddress });

describe("the example's exposure", { timeout: SUITE_TIMEOUT_MS }, () => {
  const servers = [];
  after(() => Promise.all(servers.map((s) => s.stop())));

  test("GET /metrics is served to 127.0.0.1 and refused (403) to another address unless METRICS_ALLOW lists it", async () => {
    const server = await startHostile({});
    servers.push(server);
    const local = await get(server, "/metrics");
    assert.equal(local.status, 200);
    assert.match(local.body, /sessionio_sockets_connected/);
    const other = await get(server, "/metrics", "127.0.0.2");
    assert.deepEqual([other.status, other.body], [403, "forbidden"]);
    const listed = await startHostile({ METRICS_ALLOW: "127.0.0.2" });
    servers.push(listed);
    assert.equal((await get(listed, "/metrics", "127.0.0.2")).status, 200);
    assert.equal((await get(listed, "/metrics")).status, 403);
  });

  test("a missing asset answers 500 without the filesystem path (the path goes to the server's log)", async () => {
    const server = await startHostile({ SOCKET_IO_CLIENT_JS: "/nonexistent/secret-dir/socket.io.min.js" });
    servers.push(server);
    const r = await get(server, "/assets/socket.io.min.js");
    assert.equal(r.status, 500);
    assert.doesNotMatch(r.body, /secret-dir|nonexistent/);
    assert.match(server.stderr(), /secret-dir/);
  });
});
