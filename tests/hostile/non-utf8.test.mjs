// Non-UTF-8 bytes (and non-ASCII UTF-8) in the Cookie header, in the query, in a
// websocket text frame and in the Origin header, sent raw (node:net, or `ws` with latin1
// header strings, which Node writes byte for byte).
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { newSession, Clients, COOKIE_NAME, SUITE_TIMEOUT_MS } from "../e2e/harness.mjs";
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
  poll,
  pollingSession,
  SID_UNKNOWN,
} from "./lib.mjs";

/** Bytes as a latin1 string: what Node's HTTP client writes for header values, byte for byte. */
const bytes = (...b) => Buffer.from(b).toString("latin1");
const FF_FE = bytes(0xff, 0xfe);
const CAFE_UTF8 = Buffer.from("café", "utf8").toString("latin1"); // 63 61 66 c3 a9
const BAD_ORIGIN = `http://${FF_FE}.example`;
const NO_STATUS = 1005;

describe("non-UTF-8 bytes", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startHostile({ CONNECT_TIMEOUT_MS: "3000" });
  });
  afterEach(() => {
    closeRaw();
    clients.closeAll();
  });
  after(() => server?.stop());

  const request = (method, path, lines) =>
    rawHttp(
      server,
      head([`${method} ${path} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close", ...(method === "POST" ? ["Content-Length: 0"] : []), ...lines]),
    );
  const ourSetCookies = (r) => r.setCookies.filter((c) => c.startsWith(`${COOKIE_NAME}=`));

  /** The websocket handshake's CONNECT answer for this Cookie header (latin1 string). */
  async function connectAnswer(headers) {
    const ws = new RawSocket(wsUrl(server), { headers });
    await ws.handshake();
    const answer = await ws.connectNs();
    ws.terminate();
    return answer;
  }

  // ---------------------------------------------------------------- Cookie header
  for (const [label, other] of [
    ["raw bytes FF FE (not UTF-8)", FF_FE],
    ["UTF-8 \"café\" (as browsers send other apps' cookies)", CAFE_UTF8],
  ]) {
    test(`our valid cookie beside another cookie holding ${label}: HTTP keeps the session (200, no new Set-Cookie), the handshake connects`, async () => {
      const s = await newSession(server.http);
      assert.equal(await s.incr(), 1);
      const header = `${s.cookie}; other=${other}`;
      const got = await request("GET", "/", [`Cookie: ${header}`]);
      const incr = await request("POST", "/incr", [`Cookie: ${header}`]);
      const answer = await connectAnswer({ cookie: header });
      await assertServesOthers(server, clients, { label });
      assert.deepEqual(
        { status: got.status, setCookie: ourSetCookies(got).map((c) => c.split(";")[0].slice(0, 20) + "…"), incr: `${incr.status} ${incr.body}`, connect: answer },
        { status: 200, setCookie: [], incr: "200 2", connect: answer.startsWith("40{") ? answer : '40{"sid":…}' },
        "a Cookie header with non-ASCII bytes outside our cookie lost the session (the whole header is ignored)",
      );
    });
  }

  test(`our cookie's value with a FF byte appended → HTTP 401 "invalid session" clearing the cookie, connect_error "invalid session"`, async () => {
    const s = await newSession(server.http);
    const header = `${s.cookie}${bytes(0xff)}`;
    const got = await request("GET", "/", [`Cookie: ${header}`]);
    const answer = await connectAnswer({ cookie: header });
    await assertServesOthers(server, clients, { label: "FF in our cookie" });
    assert.deepEqual(
      { status: got.status, body: got.body.slice(0, 20), setCookie: ourSetCookies(got).map((c) => c.split(";")[0].slice(0, 20)), connect: answer },
      { status: 401, body: "invalid session", setCookie: [`${COOKIE_NAME}=`], connect: '44{"message":"invalid session"}' },
      "a corrupted session cookie was not refused as \"invalid session\"",
    );
  });

  // ---------------------------------------------------------------- query
  test("a raw FF byte in the request target → HTTP 400, empty body (hyper), for GET /, the polling handshake and the websocket upgrade", async () => {
    const s = await newSession(server.http);
    for (const r of [
      await request("GET", `/?x=${bytes(0xff)}`, [`Cookie: ${s.cookie}`]),
      await request("GET", `/socket.io/?EIO=4&transport=polling&x=${bytes(0xff)}`, [`Cookie: ${s.cookie}`]),
      await rawHttp(server, wsUpgradeHead(`/socket.io/?EIO=4&transport=websocket&x=${bytes(0xff)}`, [`Cookie: ${s.cookie}`])),
    ]) {
      assert.equal(r.status, 400);
      assert.equal(r.body, "");
    }
    await assertServesOthers(server, clients, { label: "FF in the request target" });
  });

  test("percent-encoded non-UTF-8 (%FF) in the Engine.IO query: EIO → 400 code 5, transport → 400 code 0, sid → 400 code 1; an unknown parameter is ignored", async () => {
    const at = (q) => poll(`${server.socket}/socket.io/?${q}`);
    assert.deepEqual(await at("EIO=%FF&transport=polling"), { status: 400, text: '{"code":"5","message":"Unsupported protocol version"}' });
    assert.deepEqual(await at("EIO=4&transport=%FF"), { status: 400, text: '{"code":"0","message":"Transport unknown"}' });
    assert.deepEqual(await at("EIO=4&transport=polling&sid=%FF%FE"), { status: 400, text: SID_UNKNOWN });
    const ok = await at("EIO=4&transport=polling&x=%FF%FE");
    assert.equal(ok.status, 200);
    assert.match(ok.text, /^0\{"sid":/);
    await assertServesOthers(server, clients, { label: "%FF in the query" });
  });

  // ---------------------------------------------------------------- websocket text frame
  test(`a websocket text frame with invalid UTF-8 (before CONNECT, and an event after it) → connection closed (${NO_STATUS}); no handler ran`, async () => {
    const s = await newSession(server.http);
    const before = new RawSocket(wsUrl(server), { headers: { cookie: s.cookie } });
    await before.handshake();
    await before.writerStarted();
    before.send(Buffer.from([0x34, 0x30, 0xff, 0xfe]), { binary: false }); // "40" + FF FE
    assert.equal((await before.expectClose(3_000, "(invalid UTF-8 before CONNECT)")).code, NO_STATUS);
    assert.deepEqual(before.queue, []);

    const after = await connectedRaw(server, s.cookie);
    after.send(Buffer.concat([Buffer.from('421["incr","'), Buffer.from([0xff, 0xfe]), Buffer.from('"]')]), { binary: false });
    assert.equal((await after.expectClose(3_000, "(invalid UTF-8 in an event)")).code, NO_STATUS);
    assert.deepEqual(after.queue, [], "the handler ran");
    assert.equal(await s.incr(), 1, "the event was counted");
    await assertServesOthers(server, clients, { label: "invalid UTF-8 frame" });
  });

  // ---------------------------------------------------------------- Origin header
  test(`an Origin header with FF FE bytes: websocket handshake, polling handshake and the upgrade of a session → each HTTP 403 "origin not allowed", before any Engine.IO session is allocated`, async () => {
    const s = await newSession(server.http);
    // websocket handshake
    const ws = await rawHttp(server, wsUpgradeHead("/socket.io/?EIO=4&transport=websocket", [`Cookie: ${s.cookie}`, `Origin: ${BAD_ORIGIN}`]));
    assert.equal(ws.status, 403);
    assert.equal(ws.body, "origin not allowed");
    // polling handshake
    const r = await request("GET", "/socket.io/?EIO=4&transport=polling", [`Cookie: ${s.cookie}`, `Origin: ${BAD_ORIGIN}`]);
    assert.equal(r.status, 403);
    assert.equal(r.body, "origin not allowed");
    // upgrade of an accepted polling session with the bad Origin
    const ok = await pollingSession(server, s.cookie);
    const up = await rawHttp(server, wsUpgradeHead(`/socket.io/?EIO=4&transport=websocket&sid=${encodeURIComponent(ok.sid)}`, [`Cookie: ${s.cookie}`, `Origin: ${BAD_ORIGIN}`]));
    assert.equal(up.status, 403);
    assert.equal(up.body, "origin not allowed");
    await assertServesOthers(server, clients, { label: "FF FE in Origin" });
  });
});
