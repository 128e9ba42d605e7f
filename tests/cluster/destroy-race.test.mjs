// A logout on node A racing handshakes of the same session on node B. Tombstones are per
// process, so what stops B is the store (A deletes the record before it kicks) and A's kick
// broadcast; a handshake on B that read the record just before the delete joins the
// session's room after the kick went by, and B then reads the store once more (see
// SECURITY.md, "Logout not reaching open tabs"). Whatever the interleaving, no socket of the
// destroyed session may stay connected on B, and B refuses its cookie afterwards.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { newSession, HttpClient, Clients, waitUntil, sleep, SUITE_TIMEOUT_MS } from "../e2e/harness.mjs";
import { startRedis } from "./redis.mjs";
import { startNodes, assertHealthy } from "./nodes.mjs";

const ROUNDS = 64;
const HANDSHAKES = 16;
/** How long a socket admitted by the race may stay connected before B disconnects it. */
const SETTLE_MS = 5_000;

describe("Two nodes: a logout on A racing handshakes on B", { timeout: SUITE_TIMEOUT_MS }, () => {
  let redis;
  let A;
  let B;
  const clients = new Clients();
  before(async () => {
    redis = await startRedis();
    // Every client here is one loopback address: lift B's bound on not-yet-connected
    // Engine.IO sessions per address, which is not what this test is about.
    [A, B] = await startNodes({ redisUrl: redis.url, env: { MAX_PENDING_HANDSHAKES_PER_ADDRESS: "100000" } });
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

  /** A handshake on B after the logout: its connect_error message ("connected" fails the test). */
  async function lateHandshake(cookie) {
    let message;
    // A transport failure under the machine's load is no answer: ask again.
    for (let attempt = 0; attempt < 3; attempt++) {
      message = (await clients.connectError(B.socket, { cookie })).message;
      if (message !== "websocket error") break;
      await sleep(100);
    }
    return message;
  }

  test(`finding 6: ${ROUNDS} rounds of ${HANDSHAKES} handshakes on B racing POST /logout on A leave no socket of the destroyed session connected on B, and B refuses its cookie`, async () => {
    let admitted = 0;
    let refused = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const s = await newSession(A.http);
      const socks = Array.from({ length: HANDSHAKES }, () =>
        clients.open(B.socket, { cookie: s.cookie, reconnection: false }),
      );
      const outcomes = socks.map(
        (sock) =>
          new Promise((resolve) => {
            sock.once("connect", () => resolve("connected"));
            sock.once("connect_error", (err) => resolve(err.message));
          }),
      );
      // The logout lands while B's handshakes are in flight (spread over the round).
      await sleep(round % 8);
      const out = await s.post("/logout", { keepCookie: false });
      assert.equal(out.status, 204, `POST /logout on A answered ${out.status}: ${out.body}`);
      const results = await Promise.all(outcomes);
      for (const r of results) {
        if (r === "connected") admitted++;
        else {
          // The server's refusal, or the transport failing under the load of the race.
          assert.ok(["invalid session", "websocket error"].includes(r), `round ${round}: a handshake on B was refused with ${r}`);
          refused++;
        }
      }
      await waitUntil(
        () => socks.every((sock) => !sock.connected),
        SETTLE_MS,
        `round ${round}: ${socks.filter((x) => x.connected).length} socket(s) of the destroyed session still connected on B`,
      );
      const late = await lateHandshake(s.cookie);
      assert.equal(late, "invalid session", `round ${round}: a handshake on B with the logged-out cookie`);
      const page = await new HttpClient(B.http, s.cookieValue).send("GET", "/", { keepCookie: false });
      assert.equal(page.status, 401, `round ${round}: GET / on B with the logged-out cookie answered ${page.status}`);
      clients.closeAll();
    }
    console.log(`cluster destroy race: ${admitted} handshakes admitted then disconnected, ${refused} refused`);
    // B holds no socket of any of these sessions.
    const metrics = await (await fetch(`${B.http}/metrics`)).text();
    const connected = Number(/^sessionio_sockets_connected (\d+)/m.exec(metrics)?.[1]);
    assert.equal(connected, 0, `B still counts ${connected} sockets`);
    assertHealthy([A, B]);
  });
});
