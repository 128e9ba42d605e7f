// Users across sessions on two nodes, A and B, on one Redis: a user's sessions made on
// either node, with sockets on the other; POST /notify-user and POST /logout-everywhere on
// A reach B's sockets, and GET /sessions on either node lists both sessions with their
// sockets, wherever those are connected.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  HttpClient,
  Clients,
  TRANSPORTS,
  waitForEvent,
  waitForDisconnect,
  sleep,
  COOKIE_NAME,
  SUITE_TIMEOUT_MS,
} from "../e2e/harness.mjs";
import { startRedisForSuite as startRedis } from "./redis.mjs";
import { startNodes, assertHealthy } from "./nodes.mjs";
import { loginAs, notifyUser, listSessions, assertHandlesAreNotIds } from "../users/users.mjs";

const QUIET_MS = 300;
const CROSS_NODE_MS = 5_000;

describe("Users across sessions on two nodes on one Redis", { timeout: SUITE_TIMEOUT_MS }, () => {
  let redis;
  let A;
  let B;
  const clients = new Clients();
  before(async () => {
    redis = await startRedis();
    [A, B] = await startNodes({ redisUrl: redis.url });
  });
  afterEach(() => clients.closeAll());
  after(async () => {
    clients.closeAll();
    try {
      await Promise.all([A?.stop(), B?.stop()]);
    } finally {
      await redis?.stop();
    }
  });

  for (const transport of TRANSPORTS) {
    test(`notify-user and logout-everywhere from A reach the user's sockets on B [${transport.name}]`, async () => {
      const user = `ada-${transport.name}-${Date.now()}`;
      const { client: madeOnA } = await loginAs(A.http, user);
      const { client: madeOnB } = await loginAs(B.http, user);
      const { client: bob } = await loginAs(B.http, `bob-${Date.now()}`);
      // Each of the user's sessions has its socket on the other node.
      const onB = await clients.connect(B.socket, { transport, cookie: madeOnA.cookie });
      const onA = await clients.connect(A.socket, { transport, cookie: madeOnB.cookie });
      const bobOnA = await clients.connect(A.socket, { transport, cookie: bob.cookie });

      // notify-user on A: A's own socket counts; B's hears it through the adapter.
      assert.equal(await notifyUser(madeOnA, "everywhere"), 1);
      for (const [name, s] of [["socket on B", onB], ["socket on A", onA]]) {
        const [text] = await waitForEvent(s, "user message", { timeout: CROSS_NODE_MS, label: `(${name})` });
        assert.equal(text, "everywhere");
      }
      await sleep(QUIET_MS);
      assert.equal(bobOnA.received.filter((e) => e.event === "user message").length, 0, "bob heard ada's message");

      // Either node lists both sessions, each with its one socket on the other node.
      for (const [name, jar] of [["A", new HttpClient(A.http, madeOnB.cookieValue)], ["B", madeOnB]]) {
        const list = await listSessions(jar);
        assert.equal(list.length, 2, `GET /sessions on ${name}: ${JSON.stringify(list)}`);
        assertHandlesAreNotIds(list, [madeOnA, madeOnB]);
        assert.deepEqual(list.map((e) => e.sockets), [1, 1], `sockets listed by ${name}: ${JSON.stringify(list)}`);
      }

      // logout-everywhere on A: both sockets kicked, both cookies refused on both nodes.
      const r = await madeOnA.post("/logout-everywhere");
      assert.equal(r.status, 200, `POST /logout-everywhere answered ${r.status}: ${r.body}`);
      assert.equal(Number(r.body), 2);
      for (const [name, s] of [["socket on B", onB], ["socket on A", onA]]) {
        const { reason } = await waitForDisconnect(s, { timeout: CROSS_NODE_MS, label: `(${name})` });
        assert.equal(reason, "io server disconnect", `${name}: disconnect reason`);
      }
      for (const node of [A, B]) {
        for (const jar of [madeOnA, madeOnB]) {
          const refused = await new HttpClient(node.http, jar.cookieValue).post("/incr");
          assert.equal(refused.status, 401, `node ${node.name}: a cookie after logout-everywhere`);
          const err = await clients.connectError(node.socket, {
            transport,
            cookie: `${COOKIE_NAME}=${jar.cookieValue}`,
          });
          assert.equal(err.message, "invalid session");
        }
      }
      assert.equal(bobOnA.connected, true, "bob's socket was kicked");
      assertHealthy([A, B]);
    });
  }
});
