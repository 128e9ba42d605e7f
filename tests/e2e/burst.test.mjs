// Burst part of the example contract: 200 concurrent POST /incr and 200
// concurrent socket "incr" on one session lose no update.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServer,
  newSession,
  Clients,
  TRANSPORTS,
  counts,
  emitWithAck,
  waitUntil,
  withTimeout,
  SUITE_TIMEOUT_MS,
} from "./harness.mjs";

const HTTP_N = 200;
const ACK_N = 200;
const SOCKETS = 3;
const TOTAL = HTTP_N + ACK_N;

describe("Burst: concurrent HTTP and socket increments on one session", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startServer();
  });
  after(() => {
    clients.closeAll();
    return server?.stop();
  });

  for (const transport of TRANSPORTS) {
    const tag = `[${transport.name}]`;
    let socks;

    test(`${HTTP_N} concurrent POST /incr + ${ACK_N} concurrent socket incr over ${SOCKETS} sockets lose no update: counts are exactly 1..${TOTAL} ${tag}`, async () => {
      const s = await newSession(server.http);
      socks = await Promise.all(
        Array.from({ length: SOCKETS }, () => clients.connect(server.socket, { transport, cookie: s.cookie })),
      );

      const httpRuns = Array.from({ length: HTTP_N }, () => s.post("/incr"));
      const ackRuns = Array.from({ length: ACK_N }, (_, i) => emitWithAck(socks[i % SOCKETS], "incr"));
      const [httpResults, acks] = await withTimeout(
        Promise.all([Promise.all(httpRuns), Promise.all(ackRuns)]),
        60_000,
        "the burst did not complete",
      );

      const bad = httpResults.filter((r) => r.status !== 200);
      assert.equal(bad.length, 0, `${bad.length} POST /incr failed, e.g. ${bad[0]?.status} ${bad[0]?.body}`);
      for (const a of acks) assert.equal(typeof a, "number", `an ack is not a number: ${JSON.stringify(a)}`);

      const final = Number((await s.post("/incr")).body) - 1;
      console.log(`burst: final=${final} http=${httpResults.length} acks=${acks.length} ${tag}`);

      const all = [...httpResults.map((r) => Number(r.body)), ...acks].sort((a, b) => a - b);
      const seen = new Set(all);
      const dups = all.filter((v, i) => i > 0 && v === all[i - 1]);
      const missing = Array.from({ length: TOTAL }, (_, i) => i + 1).filter((v) => !seen.has(v));
      assert.deepEqual(dups, [], `duplicate counts (lost updates): ${dups.slice(0, 10)}`);
      assert.deepEqual(missing, [], `counts never returned: ${missing.slice(0, 10)}`);
      assert.equal(all.length, TOTAL);
      assert.equal(final, TOTAL, `the count after the burst is ${final}, not ${TOTAL}`);
    });

    test(`every socket of the session receives all ${TOTAL + 1} "current count" events of the burst ${tag}`, async () => {
      assert.ok(socks, "the burst test did not run");
      const want = TOTAL + 1; // the burst plus the final POST /incr
      await waitUntil(
        () => socks.every((x) => counts(x).length >= want),
        10_000,
        `"current count" events per socket: ${socks.map((x) => counts(x).length)} (want ${want})`,
      );
      for (const x of socks) {
        const got = counts(x).slice().sort((a, b) => a - b);
        assert.deepEqual(got, Array.from({ length: want }, (_, i) => i + 1));
      }
    });
  }
});
