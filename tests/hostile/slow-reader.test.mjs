// Slow clients that never read: 100 websockets of one session stop reading their TCP
// sockets while HTTP requests push hundreds of thousands of notifications to the session.
// The server's memory stays bounded (the outgoing queue is MAX_BUFFER_SIZE packets per
// socket: 64 here, so that an unbounded queue would stand out), the sockets are dropped
// after the ping interval + ping timeout and their connections are closed (file
// descriptors released), and everyone else is served. Also slow writers: connections that
// never finish their request head (slowloris) must not be held forever.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import http from "node:http";
import { newSession, Clients, waitUntil, sleep, SUITE_TIMEOUT_MS } from "../e2e/harness.mjs";
import net from "node:net";
import { startHostile, assertServesOthers, connectedRaw, closeRaw, metrics, rssKb } from "./lib.mjs";

/** hyper's default header read timeout (active only when the server gives hyper a timer). */
const HEADER_READ_TIMEOUT_MS = 30_000;

const PING_INTERVAL_MS = 3000;
const PING_TIMEOUT_MS = 2000;
const SLOW = 100;
const MAX_BUFFER_SIZE = 64;
/** Growth of the server's RSS allowed while the slow sockets are flooded. Queues of
 * MAX_BUFFER_SIZE packets hold < 1 MB here; unbounded queues would hold every notification
 * (≥ 200 000 here, checked below, at ≥ 64 B each: ≥ 12.5 MB). */
const RSS_BOUND_KB = 8 * 1024;
const MIN_NOTIFICATIONS = 200_000;

const fdCount = (server) => readdirSync(`/proc/${server.serverPid}/fd`).length;

describe("slow clients that never read", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startHostile({
      PING_INTERVAL_MS: String(PING_INTERVAL_MS),
      PING_TIMEOUT_MS: String(PING_TIMEOUT_MS),
      MAX_BUFFER_SIZE: String(MAX_BUFFER_SIZE),
      MAX_CONNECTIONS_PER_SESSION: String(SLOW),
    });
  });
  afterEach(() => {
    closeRaw();
    clients.closeAll();
  });
  after(() => server?.stop());

  test(`${SLOW} sockets of one session stop reading while notifications flood them: RSS bounded, dropped after ping interval + timeout, connections closed`, async () => {
    // warm the server's HTTP path up so that the measured growth is the sockets'
    const warm = await newSession(server.http);
    for (let i = 0; i < 200; i++) await warm.incr();
    const fdsBase = fdCount(server);

    const attacker = await newSession(server.http);
    const slow = [];
    const startedAt = performance.now(); // before any of their heartbeats can have started
    for (let i = 0; i < SLOW; i++) {
      const sock = await connectedRaw(server, attacker.cookie);
      sock.connectedAt = performance.now();
      sock.pause(); // never reads again: the server's writes to it stall
      slow.push(sock);
    }
    assert.equal((await metrics(server)).sessionio_sockets_connected, SLOW);
    const fdsConnected = fdCount(server);
    const rssBase = rssKb(server);
    const sentBefore = (await metrics(server)).sessionio_notifications_sent_total;

    // flood: POST /incr on the attacker's session (each notifies its 100 sockets) until the
    // sockets are dropped, bounded in time
    const firstConnect = slow[0].connectedAt;
    const lastConnect = slow.at(-1).connectedAt;
    const deadline = lastConnect + PING_INTERVAL_MS + PING_TIMEOUT_MS + 4_000;
    let posts = 0;
    let failed = 0;
    let rssPeak = rssBase;
    let droppedAt = null;
    let flooding = true;
    // its own keep-alive agent, destroyed after the flood, so that the server's file
    // descriptors can be compared with the baseline
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const post = () =>
      new Promise((resolve, reject) => {
        const req = http.request(`${server.http}/incr`, { method: "POST", agent, headers: { cookie: attacker.cookie }, timeout: 10_000 }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode));
        });
        req.on("timeout", () => req.destroy(new Error("POST /incr timed out")));
        req.on("error", reject);
        req.end();
      });
    const pump = async () => {
      while (flooding && performance.now() < deadline) {
        if ((await post()) === 200) posts++;
        else failed++;
      }
    };
    const watch = async () => {
      while (performance.now() < deadline) {
        rssPeak = Math.max(rssPeak, rssKb(server));
        if ((await metrics(server)).sessionio_sockets_connected === 0) {
          droppedAt = performance.now();
          break;
        }
        await sleep(50);
      }
      flooding = false;
    };
    const pumps = Promise.all(Array.from({ length: 32 }, pump));
    // a bystander is served during the flood, before the watch starts counting sockets
    await sleep(300);
    await assertServesOthers(server, clients, { label: "during the flood" });
    await watch();
    await pumps;
    agent.destroy();
    const rssAfterDrop = rssKb(server);
    const m = await metrics(server);
    const delivered = m.sessionio_notifications_sent_total - sentBefore;

    console.log(
      `slow readers: ${SLOW} sockets, ${posts} POST /incr (${posts * SLOW} notifications attempted, ${delivered} queued), ` +
        `RSS base ${rssBase} KiB, peak ${rssPeak} KiB (+${rssPeak - rssBase}), after drop ${rssAfterDrop} KiB; ` +
        `dropped ${droppedAt ? Math.round(droppedAt - firstConnect) : "never"} ms after the first connect, ` +
        `${droppedAt ? Math.round(droppedAt - lastConnect) : "never"} ms after the last (ping ${PING_INTERVAL_MS} + ${PING_TIMEOUT_MS} ms); ` +
        `fds ${fdsBase} → ${fdsConnected} → ${fdCount(server)}`,
    );

    assert.equal(failed, 0, "POST /incr failed while the session's sockets were slow");
    assert.ok(delivered < posts * SLOW, "the outgoing queues never filled: the flood did not reach the bound");
    assert.ok(posts * SLOW >= MIN_NOTIFICATIONS, `only ${posts * SLOW} notifications pushed: the flood was too small to tell`);
    assert.ok(droppedAt !== null, `the slow sockets were not dropped within ${PING_INTERVAL_MS + PING_TIMEOUT_MS + 4_000} ms of their connect`);
    assert.ok(droppedAt - startedAt >= PING_INTERVAL_MS, `dropped ${Math.round(droppedAt - startedAt)} ms after connecting, before a ping was due`);
    assert.ok(
      droppedAt - lastConnect <= PING_INTERVAL_MS + PING_TIMEOUT_MS + 1_500,
      `dropped ${droppedAt - lastConnect} ms after the last connect (ping interval ${PING_INTERVAL_MS} + timeout ${PING_TIMEOUT_MS})`,
    );
    assert.ok(rssPeak - rssBase <= RSS_BOUND_KB, `RSS grew by ${rssPeak - rssBase} KiB (bound ${RSS_BOUND_KB} KiB) for ${posts * SLOW} notifications`);
    // the server closed their TCP connections: its file descriptors are back
    await waitUntil(() => fdCount(server) <= fdsBase + 4, 5_000, `server fds still ${fdCount(server)} (before the slow sockets: ${fdsBase}, with them: ${fdsConnected})`);
    console.log(`slow readers: server fds back to ${fdCount(server)} ${Math.round(performance.now() - droppedAt)} ms after the drop`);

    // once they read again, the clients see the closed connection
    for (const s of slow) s.ws._socket.resume();
    for (const s of slow) {
      const close = await s.expectClose(5_000, "(slow reader after resuming)");
      assert.ok([1005, 1006].includes(close.code), `close code ${close.code}`);
    }
    await assertServesOthers(server, clients, { label: "after the slow readers" });
  });

  test(`100 connections that never finish their request head (slowloris) are closed within hyper's header read timeout (${HEADER_READ_TIMEOUT_MS} ms) + 5 s`, async () => {
    const fdsBase = fdCount(server);
    const conns = await Promise.all(
      Array.from({ length: 100 }, (_, i) => new Promise((resolve, reject) => {
        const c = net.connect(server.port, "127.0.0.1", () => {
          c.write(i % 2 ? "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: a=" : "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n");
          resolve(c);
        });
        c.on("error", reject);
        c.closedAt = new Promise((r) => c.once("close", () => r(performance.now())));
      })),
    );
    const openedAt = performance.now();
    try {
      await sleep(200);
      const fdsOpen = fdCount(server); // the global fetch pool's idle connections may come and go
      await assertServesOthers(server, clients, { label: "during the slowloris" });
      const bound = HEADER_READ_TIMEOUT_MS + 5_000;
      const closedAts = await Promise.all(conns.map((c) => Promise.race([c.closedAt, sleep(bound - (performance.now() - openedAt)).then(() => null)])));
      const open = closedAts.filter((t) => t === null).length;
      console.log(`slowloris: ${open} of 100 half-sent requests still open ${bound} ms later; server fds ${fdsBase} before, ${fdsOpen} with them, ${fdCount(server)} at the end`);
      await assertServesOthers(server, clients, { label: "after the slowloris" });
      assert.equal(open, 0, `${open} of 100 connections with an unfinished request head were still open after ${bound} ms: the server holds them and their file descriptors (no header read timeout)`);
    } finally {
      for (const c of conns) c.destroy();
    }
  });
});
