// Helpers of the hostile-client tests: raw Engine.IO v4 / Socket.IO v5 websocket clients
// (`ws`), raw HTTP over `node:net` (heads that fetch refuses to send: huge, repeated or
// non-UTF-8 headers), the "everyone else is still served" check, and /proc readings of the
// server. Every wait is bounded.

import assert from "node:assert/strict";
import net from "node:net";
import { readFileSync, readdirSync } from "node:fs";
import WebSocket from "ws";
import {
  startServer,
  newSession,
  waitForEvent,
  withTimeout,
  sleep,
  now,
  TRANSPORTS,
} from "../e2e/harness.mjs";

export const RS = "\x1e"; // Engine.IO polling record separator
/** A text frame the server sends when it closes a session on a bad packet. */
export const EIO_CLOSE = "1";
export const TOO_MANY = "too many connections for this session";

// ---------------------------------------------------------------------------
// the server

/**
 * Start `target/debug/rust-counter` (or SESSIONIO_EXAMPLE) with `env`; stopped in t.after
 * when `t` is given. Adds `pid` (the server process itself, for /proc), `port`.
 */
export async function startHostile(env = {}, t) {
  const server = await startServer({ env, t });
  server.serverPid = resolveServerPid(server.pid);
  server.port = Number(new URL(server.http).port);
  return server;
}

/** The harness spawns `sh -c <command>`: the server is that shell or its only child. */
function resolveServerPid(pid) {
  for (let depth = 0; depth < 4; depth++) {
    let comm;
    try {
      comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch {
      return pid;
    }
    if (!["sh", "dash", "bash"].includes(comm)) return pid;
    const kids = childrenOf(pid);
    if (kids.length !== 1) return pid;
    pid = kids[0];
  }
  return pid;
}

function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    const kids = [];
    for (const d of readdirSync("/proc")) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, "utf8");
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        if (ppid === pid) kids.push(Number(d));
      } catch {
        /* gone */
      }
    }
    return kids;
  }
}

/** VmRSS of the server process, in KiB. */
export function rssKb(server) {
  const status = readFileSync(`/proc/${server.serverPid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)[1]);
}

/** The server is running and has not panicked. */
export function assertAlive(server) {
  assert.equal(server.exited(), false, `the server exited\n--- stderr ---\n${server.stderr()}`);
  assert.doesNotMatch(server.stderr(), /panicked/, "the server's stderr shows a panic");
}

/** GET /metrics as { name or name{labels}: number }. */
export async function metrics(server) {
  const res = await fetch(`${server.http}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const out = {};
  for (const line of (await res.text()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

export const refusedMetric = (reason) => `sessionio_handshakes_refused_total{reason="${reason}"}`;

/**
 * Everyone else is still served: a new session (GET /), the official socket.io-client
 * connects with its cookie, POST /incr, and the socket receives "current count" with the
 * new value. Then the server is alive and has not panicked.
 */
export async function assertServesOthers(server, clients, { transport = TRANSPORTS[0], label = "" } = {}) {
  assertAlive(server);
  const s = await newSession(server.http);
  const socket = await clients.connect(server.socket, { transport, cookie: s.cookie, label: `bystander ${label}` });
  const n = await s.incr();
  assert.equal(n, 1, "a bystander's fresh session counts from 1");
  await waitForEvent(socket, "current count", { pred: (v) => v === n, timeout: 5_000, label: `(bystander ${label})` });
  socket.disconnect();
  clients.sockets.delete(socket);
  assertAlive(server);
}

// ---------------------------------------------------------------------------
// raw Engine.IO websocket client

/** Every raw client a test opened, terminated by closeRaw(). */
const openRaw = new Set();
export function closeRaw() {
  for (const c of openRaw) c.terminate();
  openRaw.clear();
}

export const wsUrl = (server, query = "EIO=4&transport=websocket") =>
  `${server.socket.replace(/^http/, "ws")}/socket.io/?${query}`;

/**
 * One raw Engine.IO v4 websocket. Messages other than pings are queued; pings are answered
 * (unless `answerPings` is false). `closed` resolves with { code, reason, at } when the
 * connection ends; a refused upgrade resolves `closed` with { status, body, at }.
 */
export class RawSocket {
  constructor(url, { headers = {}, answerPings = true, perMessageDeflate = false } = {}) {
    this.queue = [];
    this.waiters = [];
    this.pings = 0;
    this.firstPing = new Promise((resolve) => {
      this.onFirstPing = resolve;
    });
    this.isClosed = false;
    this.openedAt = now();
    this.ws = new WebSocket(url, { headers, perMessageDeflate, maxPayload: 256 * 1024 * 1024 });
    openRaw.add(this);
    this.closed = new Promise((resolve) => {
      this.ws.on("unexpected-response", (_req, res) => {
        const chunks = [];
        res.on("data", (d) => chunks.push(d));
        const done = () => {
          this.finish({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("latin1") }, resolve);
          this.ws.terminate();
        };
        res.on("end", done);
        res.on("error", done);
        res.on("close", done);
      });
      this.ws.on("close", (code, reason) => this.finish({ code, reason: reason.toString() }, resolve));
    });
    this.ws.on("error", (e) => {
      this.error = e;
    });
    this.ws.on("message", (data, isBinary) => {
      const packet = isBinary ? Buffer.from(data) : data.toString();
      if (packet === "2") {
        this.pings++;
        this.onFirstPing();
        if (this.answerPings !== false && this.ws.readyState === WebSocket.OPEN) this.ws.send("3");
        return;
      }
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(packet);
      else this.queue.push(packet);
    });
    this.answerPings = answerPings;
  }

  finish(info, resolve) {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeInfo = { ...info, at: now() };
    for (const w of this.waiters.splice(0)) w.reject(new Error(`connection closed (${JSON.stringify(info).slice(0, 200)})`));
    resolve(this.closeInfo);
  }

  /** The next packet (not a ping), within `ms`. */
  next(ms = 3_000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.isClosed) return Promise.reject(new Error(`connection closed (${JSON.stringify(this.closeInfo).slice(0, 200)})`));
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
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no packet within ${ms} ms`));
      }, ms);
      this.waiters.push(waiter);
    });
  }

  /** Waits for the Engine.IO open packet and returns its JSON. */
  async handshake(ms = 5_000) {
    const p = await this.next(ms);
    assert.equal(typeof p, "string");
    assert.ok(p.startsWith("0{"), `expected an open packet, got ${JSON.stringify(p).slice(0, 200)}`);
    return JSON.parse(p.slice(1));
  }

  /**
   * Resolves once the engine's first ping came. The engine starts the task that writes to a
   * websocket only after the open packet, and that task writes the first ping at once. A
   * packet that ends the session before the task has started ends the connection without a
   * close frame (engineioxide 0.17.9, src/transport/ws.rs, forward_to_socket: "session closed
   * before starting the ws writer" returns without `tx.close()`), so a test that expects the
   * close frame sends its packet after this.
   */
  writerStarted(ms = 5_000) {
    return withTimeout(this.firstPing, ms, `no ping within ${ms} ms`);
  }

  /** Sends CONNECT to "/" and returns the answer: `40{"sid":…}` or `44{"message":…}`. */
  async connectNs(packet = "40", ms = 5_000) {
    this.send(packet);
    return this.next(ms);
  }

  send(data, { binary = false } = {}) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data, { binary });
  }

  /** Resolves { code, reason, at } (or { status, body, at }) when the connection ends. */
  expectClose(ms = 3_000, label = "") {
    return withTimeout(this.closed, ms, `connection still open after ${ms} ms ${label}`);
  }

  /** Packets received (not pings) until `ms` passes or the connection ends. */
  async drain(ms) {
    await Promise.race([this.closed, sleep(ms)]);
    return this.queue.splice(0);
  }

  /** Stop reading from the TCP socket: the kernel buffers fill, the server's writes stall. */
  pause() {
    this.ws._socket.pause();
  }

  terminate() {
    openRaw.delete(this);
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
  }
}

/** A raw websocket with the session cookie, handshaken and connected to "/". */
export async function connectedRaw(server, cookie, opts = {}) {
  const sock = new RawSocket(wsUrl(server), { headers: cookie ? { cookie } : {}, ...opts });
  await sock.handshake();
  const reply = await sock.connectNs();
  assert.match(reply, /^40\{"sid":"[^"]+"\}$/, `CONNECT was not accepted: ${JSON.stringify(reply)}`);
  return sock;
}

// ---------------------------------------------------------------------------
// raw HTTP

/** A request head from lines (strings are written as latin1 bytes, Buffers as they are). */
export function head(lines) {
  const parts = [];
  for (const l of lines) {
    parts.push(Buffer.isBuffer(l) ? l : Buffer.from(l, "latin1"), Buffer.from("\r\n"));
  }
  parts.push(Buffer.from("\r\n"));
  return Buffer.concat(parts);
}

/** A websocket upgrade request head for `path`, with `extra` header lines. */
export function wsUpgradeHead(path, extra = []) {
  return head([
    `GET ${path} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    ...extra,
  ]);
}

/**
 * Sends `bytes` on a new TCP connection (from `localAddress`, another 127.x address, when
 * given) and reads one HTTP response (head, and a body of content-length bytes). Resolves
 * { status, reason, headers: {name: [values]}, body, setCookies } or
 * { status: null, closed: true } when the server closes without answering.
 */
export function rawHttp(server, bytes, { timeout = 10_000, localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port: server.port, host: "127.0.0.1", localAddress });
    let buf = Buffer.alloc(0);
    let parsed = null;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no complete HTTP response within ${timeout} ms (got ${JSON.stringify(buf.toString("latin1").slice(0, 200))})`));
    }, timeout);
    const done = (v) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const tryParse = () => {
      if (!parsed) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const lines = buf.subarray(0, end).toString("latin1").split("\r\n");
        const m = /^HTTP\/1\.1 (\d{3}) ?(.*)$/.exec(lines[0]);
        if (!m) return done({ status: null, garbage: lines[0] });
        const headers = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(":");
          const k = l.slice(0, i).trim().toLowerCase();
          (headers[k] ??= []).push(l.slice(i + 1).trim());
        }
        parsed = { status: Number(m[1]), reason: m[2], headers, bodyStart: end + 4 };
      }
      const len = Number(parsed.headers["content-length"]?.[0] ?? NaN);
      const upgraded = parsed.status === 101;
      if (upgraded || (Number.isFinite(len) && buf.length - parsed.bodyStart >= len)) {
        const body = buf.subarray(parsed.bodyStart, parsed.bodyStart + (upgraded ? 0 : len)).toString("latin1");
        const { bodyStart, ...rest } = parsed;
        done({ ...rest, body, setCookies: rest.headers["set-cookie"] ?? [] });
      }
    };
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      tryParse();
    });
    sock.on("error", () => {});
    sock.on("close", () => {
      if (!parsed) return done({ status: null, closed: true, got: buf.toString("latin1").slice(0, 200) });
      const { bodyStart, ...rest } = parsed;
      done({ ...rest, body: buf.subarray(bodyStart).toString("latin1"), setCookies: rest.headers["set-cookie"] ?? [] });
    });
    sock.write(bytes);
  });
}

// ---------------------------------------------------------------------------
// polling

export const pollingUrl = (server, query = "EIO=4&transport=polling") => `${server.socket}/socket.io/?${query}`;

/** GET/POST on the polling endpoint, bounded; { status, text }. */
export async function poll(url, { method = "GET", body, headers = {}, timeout = 10_000 } = {}) {
  const res = await fetch(url, { method, body, headers, signal: AbortSignal.timeout(timeout) });
  return { status: res.status, text: await res.text() };
}

/** A polling Engine.IO session: { sid, url, open } (open: the handshake JSON). */
export async function pollingSession(server, cookie) {
  const r = await poll(pollingUrl(server), { headers: cookie ? { cookie } : {} });
  assert.equal(r.status, 200, `polling handshake: ${r.status} ${r.text}`);
  assert.ok(r.text.startsWith("0{"), r.text);
  const open = JSON.parse(r.text.slice(1));
  return { sid: open.sid, open, url: pollingUrl(server, `EIO=4&transport=polling&sid=${encodeURIComponent(open.sid)}`) };
}

/** Long-polls `url` until a packet other than a ping arrives (pings answered); that packet. */
export async function nextPolled(url, { headers = {}, tries = 10 } = {}) {
  for (let i = 0; i < tries; i++) {
    const packets = (await poll(url, { headers })).text.split(RS);
    const other = packets.find((p) => p !== "2");
    if (other !== undefined) return other;
    await poll(url, { method: "POST", body: "3", headers });
  }
  throw new Error(`only pings in ${tries} polls of ${url}`);
}

export const SID_UNKNOWN = '{"code":"1","message":"Session ID unknown"}';
