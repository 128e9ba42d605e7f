// Raw Engine.IO v4 / Socket.IO v5 conformance tests for the `conformance` example server.
//
// The server under test is reached through:
//   CONFORMANCE_URL   base URL of an already running server (e.g. http://localhost:3000);
//                     when its path is "/" the Socket.IO endpoint is "<url>/socket.io/".
// Otherwise the binary CONFORMANCE_BIN (default <repo>/target/debug/conformance) is spawned
// with PORT=0 and the line `listening http=<url> socket=<url>` is read from its stdout.
//
// Expected server configuration: pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1 000 000,
// connect timeout 1000 ms, namespaces "/" and "/custom" which emit `auth` with the handshake
// auth object on connection, `message` -> `message-back` (same args),
// `message-with-ack` -> ack (same args), `emit-with-ack` -> the server emits `emit-with-ack`
// with the same args and an ack request, then emits `emit-with-ack` with the client's ack args.
//
// Run: node --test tests/protocol/   (from the repository root, after `npm install` in tests/)

import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import WebSocket from "ws";

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
const MAX_PAYLOAD = 1_000_000;
const CONNECT_TIMEOUT = 1000;
const RECORD_SEPARATOR = "\x1e";
/** Well-formed (16 base64url characters, like real sids) but never issued. */
const UNKNOWN_SID = "AAAAAAAAAAAAAAAA";

const here = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_BIN = path.resolve(here, "../../target/debug/conformance");

/** Socket.IO endpoint, e.g. "http://127.0.0.1:41234/socket.io/". */
let endpoint;
let serverProcess;
let serverOutput = "";

function toEndpoint(raw) {
  const url = new URL(raw.replace(/^ws(s?):/, "http$1:"));
  if (url.pathname === "" || url.pathname === "/") url.pathname = "/socket.io/";
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  url.search = "";
  return url.toString();
}

async function startServer() {
  const bin = process.env.CONFORMANCE_BIN || DEFAULT_BIN;
  const child = spawn(bin, [], {
    env: { ...process.env, PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  serverProcess = child;
  child.stderr.on("data", (chunk) => {
    serverOutput = (serverOutput + chunk).slice(-8000);
  });
  return await new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => {
      reject(new Error(`no "listening" line from ${bin} within 20s\n${serverOutput}`));
    }, 20_000);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${bin}: ${err.message}`));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${bin} exited early (code ${code}, signal ${signal})\n${serverOutput}`));
    });
    child.stdout.on("data", (chunk) => {
      buffered += chunk;
      serverOutput = (serverOutput + chunk).slice(-8000);
      const match = /listening http=(\S+) socket=(\S+)/.exec(buffered);
      if (match) {
        clearTimeout(timer);
        resolve(match[2]);
      }
    });
  });
}

before(async () => {
  const raw = process.env.CONFORMANCE_URL || (await startServer());
  endpoint = toEndpoint(raw);
});

after(async () => {
  if (serverProcess && serverProcess.exitCode === null) {
    const exited = new Promise((resolve) => serverProcess.once("exit", resolve));
    serverProcess.kill("SIGINT"); // the server shuts down gracefully on Ctrl-C
    await Promise.race([exited, delay(3000)]);
    if (serverProcess.exitCode === null) serverProcess.kill("SIGKILL");
  }
});

// ---------------------------------------------------------------------------
// URLs and HTTP long-polling helpers

function pollingUrl(query = "EIO=4&transport=polling") {
  return `${endpoint}?${query}`;
}

function websocketUrl(query = "EIO=4&transport=websocket") {
  return `${endpoint.replace(/^http/, "ws")}?${query}`;
}

async function request(method, url, body, headers = {}) {
  const res = await fetch(url, {
    method,
    body,
    headers,
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** Splits a long-polling payload; binary packets ("b<base64>") become Buffers. */
function decodePayload(text) {
  if (text === "") return [];
  return text
    .split(RECORD_SEPARATOR)
    .map((p) => (p.startsWith("b") ? Buffer.from(p.slice(1), "base64") : p));
}

function parseOpenPacket(text) {
  assert.equal(typeof text, "string", "the open packet must be a text frame");
  assert.equal(text[0], "0", `expected an open packet, got ${JSON.stringify(text)}`);
  return JSON.parse(text.slice(1));
}

function assertOpenPacketFields(handshake, upgrades) {
  assert.deepEqual(Object.keys(handshake).sort(), [
    "maxPayload",
    "pingInterval",
    "pingTimeout",
    "sid",
    "upgrades",
  ]);
  assert.equal(typeof handshake.sid, "string");
  assert.ok(handshake.sid.length > 0, "sid must not be empty");
  assert.deepEqual(handshake.upgrades, upgrades);
  assert.equal(handshake.pingInterval, PING_INTERVAL);
  assert.equal(handshake.pingTimeout, PING_TIMEOUT);
  assert.equal(handshake.maxPayload, MAX_PAYLOAD);
}

class PollingSession {
  constructor(sid) {
    this.sid = sid;
    this.pending = [];
  }

  static async open() {
    const res = await request("GET", pollingUrl());
    assert.equal(res.status, 200, `handshake failed: ${res.status} ${res.text}`);
    const handshake = parseOpenPacket(res.text);
    const session = new PollingSession(handshake.sid);
    session.handshake = handshake;
    return session;
  }

  get url() {
    return pollingUrl(`EIO=4&transport=polling&sid=${encodeURIComponent(this.sid)}`);
  }

  poll() {
    return request("GET", this.url);
  }

  push(body) {
    return request("POST", this.url, body);
  }

  /**
   * Waits until the server has sent its first heartbeat ping on this fresh session and
   * answers it, so that later assertions do not depend on when the first ping is sent
   * (some servers ping right after the handshake, others after pingInterval).
   */
  async answerFirstPing() {
    const res = await this.poll();
    assert.equal(res.status, 200);
    assert.equal(res.text, "2", "the only packet expected on an idle session is a ping");
    const pong = await this.push("3");
    assert.equal(pong.status, 200);
  }

  /** Returns the next packet that is not a ping, answering pings on the way. */
  async next(timeoutMs = 3000) {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.length === 0) {
      if (Date.now() > deadline) throw new Error("timed out waiting for a polling packet");
      const res = await this.poll();
      assert.equal(res.status, 200, `poll failed with HTTP ${res.status}`);
      for (const packet of decodePayload(res.text)) {
        if (packet === "2") {
          const pong = await this.push("3");
          assert.equal(pong.status, 200);
        } else {
          this.pending.push(packet);
        }
      }
    }
    return this.pending.shift();
  }
}

// ---------------------------------------------------------------------------
// WebSocket helper

const openClients = new Set();

class Client {
  /**
   * @param {string} url
   * @param {{ answerPings?: boolean, deliverPings?: boolean }} options
   *   answerPings: reply "3" to every "2" (default true)
   *   deliverPings: also hand pings to next() (default false)
   */
  constructor(url, { answerPings = true, deliverPings = false } = {}) {
    this.answerPings = answerPings;
    this.deliverPings = deliverPings;
    this.queue = [];
    this.waiters = [];
    this.pingTimes = [];
    this.isClosed = false;
    this.openedAt = Date.now();
    this.ws = new WebSocket(url);
    openClients.add(this);

    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("unexpected-response", (_req, res) => {
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode }));
      });
      this.ws.once("error", reject);
      this.ws.once("close", () => reject(new Error("closed before open")));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.once("close", (code, reason) => {
        this.isClosed = true;
        this.closedAt = Date.now();
        for (const waiter of this.waiters.splice(0)) waiter.reject(new Error("connection closed"));
        resolve({ code, reason: reason.toString() });
      });
    });
    // A refused upgrade (non-101 answer) is reported through "unexpected-response"; abort the
    // handshake so that "close" is emitted as for any other failure.
    this.ws.on("error", () => {});
    this.ws.on("unexpected-response", (_req, res) => {
      this.refusedStatus = res.statusCode;
      this.ws.terminate();
    });

    this.ws.on("message", (data, isBinary) => {
      const packet = isBinary ? Buffer.from(data) : data.toString();
      if (packet === "2") {
        this.pingTimes.push(Date.now());
        if (this.answerPings && this.ws.readyState === WebSocket.OPEN) this.ws.send("3");
        if (!this.deliverPings) return;
      }
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(packet);
      else this.queue.push(packet);
    });
  }

  send(data) {
    this.ws.send(data);
  }

  next(timeoutMs = 2000) {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    if (this.isClosed) return Promise.reject(new Error("connection closed"));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no packet within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Asserts that no (non-ping) packet arrives for `ms` milliseconds. */
  async expectSilence(ms) {
    const packet = await this.next(ms).catch((err) => {
      if (/no packet within/.test(err.message)) return undefined;
      throw err;
    });
    assert.equal(packet, undefined, `unexpected packet ${JSON.stringify(packet)}`);
  }

  /** Resolves when the server closes the connection (or refuses it); fails after timeoutMs. */
  async expectClose(timeoutMs = 2000) {
    if (this.isClosed) return;
    const timeout = delay(timeoutMs).then(() => {
      throw new Error(`connection still open after ${timeoutMs} ms`);
    });
    const refused = this.opened.then(
      () => new Promise(() => {}),
      () => undefined,
    );
    await Promise.race([this.closed, refused, timeout]);
  }

  close() {
    openClients.delete(this);
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.terminate();
    }
  }
}

afterEach(() => {
  for (const client of openClients) client.close();
});

/** Opens a websocket-only Engine.IO session and returns the client and the open packet. */
async function openWebSocket(options) {
  const client = new Client(websocketUrl(), options);
  const handshake = parseOpenPacket(await client.next());
  return { client, handshake };
}

function connectPacket(nsp, auth) {
  const prefix = nsp === "/" ? "40" : `40${nsp},`;
  return auth === undefined ? prefix : prefix + JSON.stringify(auth);
}

function nspPrefix(nsp) {
  return nsp === "/" ? "" : `${nsp},`;
}

/** Asserts a CONNECT reply for `nsp` and returns its payload. */
function assertConnected(packet, nsp) {
  const prefix = `40${nspPrefix(nsp)}`;
  assert.equal(typeof packet, "string");
  assert.ok(packet.startsWith(prefix), `expected CONNECT for ${nsp}, got ${JSON.stringify(packet)}`);
  const payload = JSON.parse(packet.slice(prefix.length));
  assert.deepEqual(Object.keys(payload), ["sid"]);
  assert.equal(typeof payload.sid, "string");
  assert.ok(payload.sid.length > 0);
  return payload;
}

function authEvent(nsp, auth) {
  return `42${nspPrefix(nsp)}${JSON.stringify(["auth", auth])}`;
}

/** Websocket session connected to the Socket.IO namespace `nsp` (auth event consumed). */
async function connectSocketIo(nsp = "/", auth) {
  const { client } = await openWebSocket();
  client.send(connectPacket(nsp, auth));
  assertConnected(await client.next(), nsp);
  assert.equal(await client.next(), authEvent(nsp, auth ?? {}));
  return client;
}

const placeholder = (num) => ({ _placeholder: true, num });

// ---------------------------------------------------------------------------

describe("Engine.IO handshake", () => {
  test("long-polling handshake returns an open packet with the configured values", async () => {
    const res = await request("GET", pollingUrl());
    assert.equal(res.status, 200);
    assertOpenPacketFields(parseOpenPacket(res.text), ["websocket"]);
  });

  test("every handshake gets a distinct sid", async () => {
    const a = await PollingSession.open();
    const b = await PollingSession.open();
    assert.notEqual(a.sid, b.sid);
  });

  test("websocket handshake returns an open packet without upgrades", async () => {
    const { handshake } = await openWebSocket();
    assertOpenPacketFields(handshake, []);
  });

  test("missing or invalid EIO is rejected with HTTP 400", async () => {
    for (const query of ["transport=polling", "EIO=abc&transport=polling", "EIO=&transport=polling"]) {
      const res = await request("GET", pollingUrl(query));
      assert.equal(res.status, 400, `query ${query}`);
    }
  });

  test("Engine.IO v3 is not offered (EIO=3 rejected with HTTP 400)", async () => {
    const res = await request("GET", pollingUrl("EIO=3&transport=polling"));
    assert.equal(res.status, 400);
  });

  test("missing or unknown transport is rejected with HTTP 400", async () => {
    for (const query of ["EIO=4", "EIO=4&transport=abc", "EIO=4&transport="]) {
      const res = await request("GET", pollingUrl(query));
      assert.equal(res.status, 400, `query ${query}`);
    }
  });

  test("POST or PUT without a sid is rejected with HTTP 400", async () => {
    for (const method of ["POST", "PUT"]) {
      const res = await request(method, pollingUrl(), "40");
      assert.equal(res.status, 400, `method ${method}`);
    }
  });

  test("unknown sid is rejected with HTTP 400 for GET and POST", async () => {
    const url = pollingUrl(`EIO=4&transport=polling&sid=${UNKNOWN_SID}`);
    assert.equal((await request("GET", url)).status, 400);
    assert.equal((await request("POST", url, "3")).status, 400);
  });

  test("a malformed sid is rejected with HTTP 400, not treated as a new handshake", async () => {
    const url = pollingUrl("EIO=4&transport=polling&sid=not-a-real-session");
    const res = await request("GET", url);
    assert.equal(res.status, 400, `got ${res.status} ${res.text}`);
  });

  test("websocket with invalid EIO or transport never gets an open packet", async () => {
    for (const query of ["transport=websocket", "EIO=abc&transport=websocket", "EIO=4", "EIO=4&transport=abc"]) {
      const client = new Client(websocketUrl(query));
      await client.expectClose(2000);
      assert.equal(client.queue.length, 0, `query ${query} produced ${JSON.stringify(client.queue)}`);
      client.close();
    }
  });

  test("websocket with an unknown sid is refused", async () => {
    const client = new Client(websocketUrl(`EIO=4&transport=websocket&sid=${UNKNOWN_SID}`));
    await client.expectClose(2000);
    assert.equal(client.queue.length, 0);
  });

  test("cross-origin requests are allowed (CORS)", async () => {
    const origin = "http://example.test";
    const preflight = await request("OPTIONS", pollingUrl(), undefined, {
      Origin: origin,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "content-type",
    });
    assert.ok(preflight.status >= 200 && preflight.status < 300, `preflight status ${preflight.status}`);
    assert.ok(
      ["*", origin].includes(preflight.headers.get("access-control-allow-origin")),
      `preflight allow-origin: ${preflight.headers.get("access-control-allow-origin")}`,
    );
    const res = await request("GET", pollingUrl(), undefined, { Origin: origin });
    assert.equal(res.status, 200);
    assert.ok(["*", origin].includes(res.headers.get("access-control-allow-origin")));
  });
});

describe("Engine.IO heartbeat", () => {
  test("long-polling: ping/pong keeps the session alive", async () => {
    const session = await PollingSession.open();
    for (let round = 0; round < 3; round++) {
      const res = await session.poll();
      assert.equal(res.status, 200);
      assert.equal(res.text, "2");
      const pong = await session.push("3");
      assert.equal(pong.status, 200);
      assert.equal(pong.text, "ok");
    }
  });

  test("long-polling: session is closed when no pong arrives", async () => {
    const session = await PollingSession.open();
    await delay(PING_INTERVAL + PING_TIMEOUT + 150);
    const res = await session.poll();
    assert.equal(res.status, 400);
  });

  test("websocket: pings arrive every pingInterval while pongs are sent", async () => {
    const { client } = await openWebSocket({ answerPings: true });
    const deadline = Date.now() + 3000;
    while (client.pingTimes.length < 4 && Date.now() < deadline) await delay(20);
    assert.ok(client.pingTimes.length >= 4, `only ${client.pingTimes.length} pings in 3s`);
    assert.equal(client.isClosed, false);
    const gaps = client.pingTimes.slice(1).map((t, i) => t - client.pingTimes[i]);
    for (const gap of gaps.slice(1)) {
      assert.ok(gap >= PING_INTERVAL - 60 && gap <= PING_INTERVAL + 700, `ping gaps ${gaps}`);
    }
  });

  test("websocket: connection is closed when no pong arrives", async () => {
    const { client } = await openWebSocket({ answerPings: false });
    await client.expectClose(PING_INTERVAL + PING_TIMEOUT + 1500);
    assert.ok(client.pingTimes.length >= 1, "a ping must precede the timeout");
    const waited = client.closedAt - client.pingTimes[0];
    assert.ok(waited >= PING_TIMEOUT - 50, `closed ${waited} ms after the ping`);
  });
});

describe("Engine.IO packets and sessions", () => {
  test("long-polling: a malformed packet closes the session (HTTP 400)", async () => {
    const session = await PollingSession.open();
    const res = await session.push("abc").catch(() => ({ status: 400 }));
    assert.equal(res.status, 400);
    assert.equal((await session.poll()).status, 400);
  });

  test("long-polling: two concurrent GETs close the session", async () => {
    const session = await PollingSession.open();
    await session.answerFirstPing();
    const [first, second] = await Promise.all([session.poll(), delay(30).then(() => session.poll())]);
    assert.equal(first.status, 200);
    for (const packet of decodePayload(first.text)) {
      assert.ok(["1", "6"].includes(packet), `first poll returned ${JSON.stringify(first.text)}`);
    }
    assert.ok([400, 500].includes(second.status), `second poll status ${second.status}`);
    assert.equal((await session.poll()).status, 400);
  });

  test("long-polling: a close packet ends the pending poll and the session", async () => {
    const session = await PollingSession.open();
    await session.answerFirstPing();
    const [pending, closing] = await Promise.all([session.poll(), delay(30).then(() => session.push("1"))]);
    assert.equal(closing.status, 200);
    assert.equal(pending.status, 200);
    assert.ok(["6", ""].includes(pending.text), `pending poll returned ${JSON.stringify(pending.text)}`);
    assert.equal((await session.poll()).status, 400);
  });

  test("long-polling: a payload larger than maxPayload is refused with HTTP 413", async () => {
    const session = await PollingSession.open();
    const res = await session.push("4" + "x".repeat(MAX_PAYLOAD + 10)).catch(() => ({ status: 413 }));
    assert.equal(res.status, 413);
  });

  test("websocket: a malformed packet closes the connection", async () => {
    const { client } = await openWebSocket();
    client.send("abc");
    await client.expectClose();
  });

  test("websocket: a close packet closes the connection", async () => {
    const { client } = await openWebSocket();
    client.send("1");
    await client.expectClose();
  });
});

describe("Engine.IO upgrade", () => {
  async function probeUpgrade() {
    const session = await PollingSession.open();
    await session.answerFirstPing();
    const client = new Client(websocketUrl(`EIO=4&transport=websocket&sid=${session.sid}`));
    await client.opened;
    client.send("2probe");
    assert.equal(await client.next(), "3probe");
    return { session, client };
  }

  test("polling -> websocket upgrade: probe, noop for the poll, then traffic on websocket", async () => {
    const { session, client } = await probeUpgrade();
    const res = await session.poll();
    assert.equal(res.status, 200);
    const packets = decodePayload(res.text).filter((p) => p !== "2");
    assert.deepEqual(packets, ["6"], `poll during upgrade returned ${JSON.stringify(res.text)}`);
    client.send("5");
    client.send(connectPacket("/"));
    assertConnected(await client.next(), "/");
    assert.equal(await client.next(), authEvent("/", {}));
  });

  test("after the upgrade, polling requests with the same sid are refused", async () => {
    const { session, client } = await probeUpgrade();
    client.send("5");
    // a Socket.IO round trip over the websocket proves that "5" has been processed
    client.send(connectPacket("/"));
    assertConnected(await client.next(), "/");
    assert.equal((await session.poll()).status, 400);
    assert.equal((await session.push("3")).status, 400);
  });

  test("after the upgrade, a second websocket with the same sid is refused", async () => {
    const { session, client } = await probeUpgrade();
    client.send("5");
    client.send(connectPacket("/"));
    assertConnected(await client.next(), "/");
    assert.equal(await client.next(), authEvent("/", {}));

    const intruder = new Client(websocketUrl(`EIO=4&transport=websocket&sid=${session.sid}`));
    await intruder.expectClose(2000);

    client.send('42["message","still here",1,2]');
    assert.equal(await client.next(), '42["message-back","still here",1,2]');
  });

  test("a Socket.IO session started over polling continues over websocket", async () => {
    const session = await PollingSession.open();
    assert.equal((await session.push(connectPacket("/", { via: "polling" }))).status, 200);
    assertConnected(await session.next(), "/");
    assert.equal(await session.next(), authEvent("/", { via: "polling" }));

    const client = new Client(websocketUrl(`EIO=4&transport=websocket&sid=${session.sid}`));
    await client.opened;
    client.send("2probe");
    assert.equal(await client.next(), "3probe");
    client.send("5");
    client.send('42["message","upgraded",true,null]');
    assert.equal(await client.next(), '42["message-back","upgraded",true,null]');
  });
});

describe("Socket.IO connect", () => {
  for (const [nsp, auth] of [
    ["/", undefined],
    ["/", { token: "123" }],
    ["/custom", undefined],
    ["/custom", { token: "abc", nested: { n: 1, list: [true, null] } }],
  ]) {
    const label = `${nsp} ${auth === undefined ? "without" : "with"} auth`;
    test(`connect to ${label}: CONNECT reply with a sid, then the auth event`, async () => {
      const { client } = await openWebSocket();
      client.send(connectPacket(nsp, auth));
      assertConnected(await client.next(), nsp);
      assert.equal(await client.next(), authEvent(nsp, auth ?? {}));
    });
  }

  test('"/custom," with a trailing comma and no payload is accepted', async () => {
    const { client } = await openWebSocket();
    client.send("40/custom,");
    assertConnected(await client.next(), "/custom");
    assert.equal(await client.next(), authEvent("/custom", {}));
  });

  test("both namespaces can be joined on one connection", async () => {
    const client = await connectSocketIo("/", { a: 1 });
    client.send(connectPacket("/custom", { b: 2 }));
    assertConnected(await client.next(), "/custom");
    assert.equal(await client.next(), authEvent("/custom", { b: 2 }));
    client.send('42/custom,["message","to custom",1,2]');
    assert.equal(await client.next(), '42/custom,["message-back","to custom",1,2]');
    client.send('42["message","to main",1,2]');
    assert.equal(await client.next(), '42["message-back","to main",1,2]');
  });

  test("connect over long-polling", async () => {
    const session = await PollingSession.open();
    const res = await session.push(connectPacket("/custom", { token: "p" }));
    assert.equal(res.status, 200);
    assertConnected(await session.next(), "/custom");
    assert.equal(await session.next(), authEvent("/custom", { token: "p" }));
  });

  test("unknown namespace gets a CONNECT_ERROR", async () => {
    const { client } = await openWebSocket();
    client.send("40/random");
    assert.equal(await client.next(), '44/random,{"message":"Invalid namespace"}');
  });

  test("a malformed CONNECT packet closes the connection", async () => {
    const { client } = await openWebSocket();
    client.send("4abc");
    await client.expectClose();
  });

  test("no CONNECT within the connect timeout closes the connection", async () => {
    const { client } = await openWebSocket({ answerPings: true });
    await client.expectClose(CONNECT_TIMEOUT + 2000);
    const lifetime = client.closedAt - client.openedAt;
    assert.ok(lifetime >= CONNECT_TIMEOUT - 300, `closed after ${lifetime} ms, before the connect timeout`);
  });
});

describe("Socket.IO disconnect", () => {
  test("DISCONNECT from / is silent and keeps the Engine.IO connection open", async () => {
    const client = await connectSocketIo("/");
    client.send("41");
    const pingsBefore = client.pingTimes.length;
    await client.expectSilence(PING_INTERVAL * 2 + 100);
    assert.equal(client.isClosed, false);
    assert.ok(client.pingTimes.length > pingsBefore, "heartbeat must continue after the disconnect");
  });

  test("DISCONNECT from /custom keeps / working on the same connection", async () => {
    const client = await connectSocketIo("/");
    client.send("40/custom");
    assertConnected(await client.next(), "/custom");
    assert.equal(await client.next(), authEvent("/custom", {}));
    client.send("41/custom");
    client.send('42["message","message to main namespace",1,2]');
    assert.equal(await client.next(), '42["message-back","message to main namespace",1,2]');
  });
});

describe("Socket.IO events", () => {
  test("message -> message-back with the same arguments", async () => {
    const client = await connectSocketIo("/");
    client.send('42["message",1,"2",{"3":[true]}]');
    assert.equal(await client.next(), '42["message-back",1,"2",{"3":[true]}]');
  });

  test("message with a single argument", async () => {
    const client = await connectSocketIo("/");
    client.send('42["message","only"]');
    assert.equal(await client.next(), '42["message-back","only"]');
  });

  test("message on /custom is answered on /custom", async () => {
    const client = await connectSocketIo("/custom", { x: 1 });
    client.send('42/custom,["message",{"a":[1,2,{"b":null}]},"z",-1.5]');
    assert.equal(await client.next(), '42/custom,["message-back",{"a":[1,2,{"b":null}]},"z",-1.5]');
  });

  test("message-with-ack -> ACK with the same arguments and ack id", async () => {
    const client = await connectSocketIo("/");
    client.send('42456["message-with-ack",1,"2",{"3":[false]}]');
    assert.equal(await client.next(), '43456[1,"2",{"3":[false]}]');
  });

  test("message-with-ack on /custom", async () => {
    const client = await connectSocketIo("/custom");
    client.send('42/custom,7["message-with-ack","a","b","c"]');
    assert.equal(await client.next(), '43/custom,7["a","b","c"]');
  });

  test("message with binary attachments is echoed with its attachments", async () => {
    const client = await connectSocketIo("/");
    client.send(`452-${JSON.stringify(["message", placeholder(0), placeholder(1)])}`);
    client.send(Uint8Array.from([1, 2, 3]));
    client.send(Uint8Array.from([4, 5, 6]));
    assert.equal(await client.next(), `452-${JSON.stringify(["message-back", placeholder(0), placeholder(1)])}`);
    assert.deepEqual(await client.next(), Buffer.from([1, 2, 3]));
    assert.deepEqual(await client.next(), Buffer.from([4, 5, 6]));
  });

  test("message-with-ack with binary attachments -> BINARY_ACK", async () => {
    const client = await connectSocketIo("/");
    client.send(`452-789${JSON.stringify(["message-with-ack", placeholder(0), placeholder(1)])}`);
    client.send(Uint8Array.from([1, 2, 3]));
    client.send(Uint8Array.from([4, 5, 6]));
    assert.equal(await client.next(), `462-789${JSON.stringify([placeholder(0), placeholder(1)])}`);
    assert.deepEqual(await client.next(), Buffer.from([1, 2, 3]));
    assert.deepEqual(await client.next(), Buffer.from([4, 5, 6]));
  });

  test("several packets in one long-polling POST are all handled", async () => {
    const session = await PollingSession.open();
    assert.equal((await session.push(connectPacket("/"))).status, 200);
    assertConnected(await session.next(), "/");
    assert.equal(await session.next(), authEvent("/", {}));
    const body = [
      '42["message","first",1,2]',
      "3",
      '42["message","second",3,4]',
      '4211["message-with-ack","third",5,6]',
    ].join(RECORD_SEPARATOR);
    const res = await session.push(body);
    assert.equal(res.status, 200);
    assert.equal(res.text, "ok");
    // handlers may run concurrently, so only the set of replies is checked
    const replies = [await session.next(), await session.next(), await session.next()];
    assert.deepEqual(replies.sort(), [
      '42["message-back","first",1,2]',
      '42["message-back","second",3,4]',
      '4311["third",5,6]',
    ]);
  });

  test("binary attachments over long-polling (base64 'b' packets)", async () => {
    const session = await PollingSession.open();
    assert.equal((await session.push(connectPacket("/"))).status, 200);
    assertConnected(await session.next(), "/");
    assert.equal(await session.next(), authEvent("/", {}));
    const header = `451-${JSON.stringify(["message", placeholder(0), "text", 3])}`;
    const body = [header, "b" + Buffer.from([9, 8, 7, 255]).toString("base64")].join(RECORD_SEPARATOR);
    assert.equal((await session.push(body)).status, 200);
    assert.equal(await session.next(), `451-${JSON.stringify(["message-back", placeholder(0), "text", 3])}`);
    assert.deepEqual(await session.next(), Buffer.from([9, 8, 7, 255]));
  });

  test("a large message within maxPayload is echoed over websocket", async () => {
    const client = await connectSocketIo("/");
    const big = "x".repeat(512 * 1024);
    client.send("42" + JSON.stringify(["message", big, 1, 2]));
    assert.equal(await client.next(5000), "42" + JSON.stringify(["message-back", big, 1, 2]));
  });

  test("events without a handler are ignored and the connection stays usable", async () => {
    const client = await connectSocketIo("/");
    client.send('42["no-such-event",1]');
    client.send('42["message","after unknown",1,2]');
    assert.equal(await client.next(), '42["message-back","after unknown",1,2]');
  });
});

describe("Socket.IO server-to-client acknowledgements", () => {
  test("emit-with-ack: server asks for an ack and re-emits the ack arguments", async () => {
    const client = await connectSocketIo("/");
    client.send('42["emit-with-ack",1,"2",{"3":[true]}]');
    const request = await client.next();
    const match = /^42(\d+)(\[.*)$/.exec(request);
    assert.ok(match, `expected an EVENT with an ack id, got ${JSON.stringify(request)}`);
    assert.equal(match[2], '["emit-with-ack",1,"2",{"3":[true]}]');
    client.send(`43${match[1]}["answer",{"n":7},[null]]`);
    assert.equal(await client.next(), '42["emit-with-ack","answer",{"n":7},[null]]');
  });

  test("emit-with-ack on /custom uses the namespace for the request and the ack", async () => {
    const client = await connectSocketIo("/custom");
    client.send('42/custom,["emit-with-ack","x"]');
    const request = await client.next();
    const match = /^42\/custom,(\d+)(\[.*)$/.exec(request);
    assert.ok(match, `expected an EVENT with an ack id on /custom, got ${JSON.stringify(request)}`);
    assert.equal(match[2], '["emit-with-ack","x"]');
    client.send(`43/custom,${match[1]}["y"]`);
    assert.equal(await client.next(), '42/custom,["emit-with-ack","y"]');
  });

  test("emit-with-ack with binary data: BINARY_EVENT request answered by a BINARY_ACK", async () => {
    const client = await connectSocketIo("/");
    client.send(`451-${JSON.stringify(["emit-with-ack", placeholder(0), "t"])}`);
    client.send(Uint8Array.from([10, 20, 30]));
    const request = await client.next();
    const match = /^451-(\d+)(\[.*)$/.exec(request);
    assert.ok(match, `expected a BINARY_EVENT with an ack id, got ${JSON.stringify(request)}`);
    assert.deepEqual(JSON.parse(match[2]), ["emit-with-ack", placeholder(0), "t"]);
    assert.deepEqual(await client.next(), Buffer.from([10, 20, 30]));
    client.send(`461-${match[1]}${JSON.stringify([placeholder(0), 2])}`);
    client.send(Uint8Array.from([40, 50]));
    assert.equal(await client.next(), `451-${JSON.stringify(["emit-with-ack", placeholder(0), 2])}`);
    assert.deepEqual(await client.next(), Buffer.from([40, 50]));
  });
});

describe("Socket.IO malformed packets", () => {
  for (const [what, packet] of [
    ["unknown packet type", "4abc"],
    ["payload that is not an array", "42{}"],
    ["non-numeric ack id", '42abc["message-with-ack",1,"2",{"3":[false]}]'],
  ]) {
    test(`${what} closes the connection`, async () => {
      const client = await connectSocketIo("/");
      client.send(packet);
      await client.expectClose();
    });
  }
});
