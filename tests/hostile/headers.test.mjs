// Huge and numerous cookies, over raw HTTP (node:net) and the websocket handshake: a huge
// Cookie header (100 KB is served, 1 MB gets hyper's 431), thousands of cookies in one
// header (only 8 candidates of our name are tried), thousands of Cookie headers (hyper's
// 100-header limit: 431), and what a socket opened with a huge Cookie header costs.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { newSession, Clients, COOKIE_NAME, SUITE_TIMEOUT_MS, sleep } from "../e2e/harness.mjs";
import {
  startHostile,
  assertServesOthers,
  RawSocket,
  connectedRaw,
  closeRaw,
  wsUrl,
  rawHttp,
  head,
  wsUpgradeHead,
  rssKb,
  poll,
  pollingUrl,
  RS,
} from "./lib.mjs";

const KB = 1024;
const pad = (bytes) => `pad=${"a".repeat(bytes)}`;

describe("huge and numerous cookies", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startHostile({ MAX_CONNECTIONS_PER_SESSION: "50" });
  });
  afterEach(() => {
    closeRaw();
    clients.closeAll();
  });
  after(() => server?.stop());

  const get = (path, cookieLines) =>
    rawHttp(server, head([`GET ${path} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close", ...cookieLines]));
  const post = (path, cookieLines) =>
    rawHttp(server, head([`POST ${path} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close", "Content-Length: 0", ...cookieLines]));

  /** The request kept the session: 200, and no Set-Cookie of ours (no new session). */
  async function assertSessionKept(cookieLines, s, expectedCount) {
    const r = await get("/", cookieLines);
    assert.equal(r.status, 200);
    assert.deepEqual(r.setCookies.filter((c) => c.startsWith(`${COOKIE_NAME}=`)), [], "a new session replaced the cookie's");
    const p = await post("/incr", cookieLines);
    assert.equal(p.status, 200);
    assert.equal(p.body, String(expectedCount), "POST /incr counted on another session");
  }

  /** A polling handshake and CONNECT with these raw header lines; returns the CONNECT answer. */
  async function pollingConnect(lines) {
    const r = await rawHttp(server, head([`GET /socket.io/?EIO=4&transport=polling HTTP/1.1`, "Host: 127.0.0.1", "Connection: close", ...lines]));
    assert.equal(r.status, 200, `polling handshake answered ${r.status} ${r.body}`);
    const sid = JSON.parse(r.body.slice(1)).sid;
    const url = pollingUrl(server, `EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`);
    // the connect middleware reads the handshake request's head, not this POST's
    assert.equal((await poll(url, { method: "POST", body: "40" })).status, 200);
    for (;;) {
      const packets = (await poll(url)).text.split(RS).filter((p) => p !== "2");
      if (packets.length) return packets[0];
    }
  }

  test("a 100 KB Cookie header (the session cookie + 100 KB of padding) is served: HTTP 200 on the same session, websocket and polling handshakes connect", async () => {
    const s = await newSession(server.http);
    const big = `Cookie: ${s.cookie}; ${pad(100 * KB)}`;
    await assertSessionKept([big], s, 1);
    const ws = new RawSocket(wsUrl(server), { headers: { cookie: `${s.cookie}; ${pad(100 * KB)}` } });
    await ws.handshake();
    assert.match(await ws.connectNs(), /^40\{"sid":"[^"]+"\}$/);
    assert.match(await pollingConnect([big]), /^40\{"sid":"[^"]+"\}$/);
    await assertServesOthers(server, clients, { label: "100 KB cookie" });
  });

  test("a 1 MB Cookie header → HTTP 431 Request Header Fields Too Large, empty body (plain HTTP, polling handshake and websocket upgrade)", async () => {
    const s = await newSession(server.http);
    const big = `Cookie: ${s.cookie}; ${pad(1000 * KB)}`;
    for (const r of [
      await get("/", [big]),
      await get("/socket.io/?EIO=4&transport=polling", [big]),
      await rawHttp(server, wsUpgradeHead("/socket.io/?EIO=4&transport=websocket", [big])),
    ]) {
      assert.equal(r.status, 431);
      assert.equal(r.reason, "Request Header Fields Too Large");
      assert.equal(r.body, "");
      assert.deepEqual(r.headers.connection, ["close"]);
    }
    await assertServesOthers(server, clients, { label: "1 MB cookie" });
  });

  test("5000 cookies in one Cookie header, ours last: HTTP 200 on the same session, the websocket handshake connects", async () => {
    const s = await newSession(server.http);
    const many = Array.from({ length: 5000 }, (_, i) => `c${i}=v${i}`).join("; ");
    const t0 = performance.now();
    await assertSessionKept([`Cookie: ${many}; ${s.cookie}`], s, 1);
    const ws = new RawSocket(wsUrl(server), { headers: { cookie: `${many}; ${s.cookie}` } });
    await ws.handshake();
    assert.match(await ws.connectNs(), /^40\{"sid":"[^"]+"\}$/);
    const took = performance.now() - t0;
    assert.ok(took < 2_000, `took ${took} ms`);
    await assertServesOthers(server, clients, { label: "5000 cookies" });
  });

  test(`5000 cookies named ${COOKIE_NAME} (garbage) before the valid one: only the first 8 are tried → HTTP 401 "invalid session" clearing the cookie, connect_error "invalid session"`, async () => {
    const s = await newSession(server.http);
    const garbage = Array.from({ length: 5000 }, (_, i) => `${COOKIE_NAME}=g${i}`).join("; ");
    const r = await get("/", [`Cookie: ${garbage}; ${s.cookie}`]);
    assert.equal(r.status, 401);
    assert.equal(r.body, "invalid session");
    assert.deepEqual(r.setCookies.map((c) => c.split(";")[0]), [`${COOKIE_NAME}=`]);
    assert.match(r.setCookies[0], /Max-Age=0/);
    const ws = new RawSocket(wsUrl(server), { headers: { cookie: `${garbage}; ${s.cookie}` } });
    await ws.handshake();
    assert.equal(await ws.connectNs(), '44{"message":"invalid session"}');
    // the 8th candidate is still tried
    const seven = Array.from({ length: 7 }, (_, i) => `${COOKIE_NAME}=g${i}`).join("; ");
    await assertSessionKept([`Cookie: ${seven}; ${s.cookie}`], s, 1);
    await assertServesOthers(server, clients, { label: "5000 session cookies" });
  });

  test("5000 Cookie headers → HTTP 431, empty body (plain HTTP, polling handshake, websocket upgrade)", async () => {
    const s = await newSession(server.http);
    const lines = [...Array.from({ length: 5000 }, (_, i) => `Cookie: c${i}=v${i}`), `Cookie: ${s.cookie}`];
    for (const r of [
      await get("/", lines),
      await get("/socket.io/?EIO=4&transport=polling", lines),
      await rawHttp(server, wsUpgradeHead("/socket.io/?EIO=4&transport=websocket", lines)),
    ]) {
      assert.equal(r.status, 431);
      assert.equal(r.body, "");
    }
    await assertServesOthers(server, clients, { label: "5000 Cookie headers" });
  });

  test("90 Cookie headers, ours last: HTTP 200 on the same session (headers joined), the polling handshake connects; 101 header lines → 431", async () => {
    const s = await newSession(server.http);
    const lines = [...Array.from({ length: 90 }, (_, i) => `Cookie: c${i}=v${i}`), `Cookie: ${s.cookie}`];
    await assertSessionKept(lines, s, 1);
    assert.match(await pollingConnect(lines), /^40\{"sid":"[^"]+"\}$/);
    // hyper's limit is 100 header lines: Host, Connection and 98 Cookie lines pass, 99 do not
    const upTo = (n) => [...Array.from({ length: n - 1 }, (_, i) => `Cookie: c${i}=v${i}`), `Cookie: ${s.cookie}`];
    assert.equal((await get("/", upTo(98))).status, 200);
    assert.equal((await get("/", upTo(99))).status, 431);
    await assertServesOthers(server, clients, { label: "90 Cookie headers" });
  });

  test("a socket opened with a 100 KB Cookie header costs the server about what any socket costs (≤ 64 KiB)", async () => {
    // sockets of 4 sessions, 25 each; first 100 plain ones, then 100 with 100 KB cookies
    const open = async (padBytes) => {
      const before = rssKb(server);
      for (let i = 0; i < 4; i++) {
        const s = await newSession(server.http);
        const cookie = padBytes ? `${s.cookie}; ${pad(padBytes)}` : s.cookie;
        await Promise.all(Array.from({ length: 25 }, () => connectedRaw(server, cookie)));
      }
      await sleep(300);
      return (rssKb(server) - before) / 100;
    };
    await open(0); // warm-up
    const plain = await open(0);
    const huge = await open(100 * KB);
    console.log(`socket memory: ${plain.toFixed(1)} KiB per plain socket, ${huge.toFixed(1)} KiB per socket opened with a 100 KB Cookie header`);
    await assertServesOthers(server, clients, { label: "sockets with huge cookies" });
    assert.ok(
      huge <= 64,
      `each socket opened with a 100 KB Cookie header keeps ≈ ${huge.toFixed(0)} KiB (a plain one ${plain.toFixed(0)} KiB): ` +
        "the handshake request's headers are kept for the socket's life",
    );
  });
});
