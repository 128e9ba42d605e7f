// Test harness for the sessionio example contract.
//
// - startServer(): runs the example under test as a child process, waits for its
//   `listening http=<url> socket=<url>` line and returns { http, socket, stop() }.
// - HTTP helpers: cookie parsing and a tiny per-session cookie holder, since
//   Node's global fetch keeps no cookies.
// - Socket.IO helpers: connect / expect a connect_error / wait for an event, all
//   bounded in time so that no test can hang.

import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { existsSync } from "node:fs";
import { createHmac, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { io } from "socket.io-client";

/** Repository root (tests/e2e/ -> tests/ -> repo root). */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Default server binary: ../target/debug/rust-counter relative to tests/. */
export const DEFAULT_EXAMPLE = fileURLToPath(
  new URL("../../target/debug/rust-counter", import.meta.url),
);

// The session cookie's format. By default sessionio's own (`sessionio.sid`); with
// `SESSIONIO_COOKIE=express`, express-session's (`connect.sid`), for an example that keeps
// express-session (examples/node-express-session). Every test that reads or forges a
// cookie goes through the helpers below, so the same tests run against both.
const COOKIE_FORMATS = {
  sessionio: {
    name: "sessionio.sid",
    /** `<22-char base64url id>.<43-char base64url HMAC-SHA256 signature>` */
    valueRe: /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/,
    valueFormat: "<22-char id>.<43-char sig>",
    idLength: 22,
    /** random bytes in an id: 16 (128 bits) */
    idBytes: 16,
  },
  express: {
    name: "connect.sid",
    /**
     * `s%3A<32-char url-safe id>.<43-char base64 HMAC-SHA256 signature, no padding>`, as the
     * `cookie` package URL-encodes it (`:` -> `%3A`, `+` -> `%2B`, `/` -> `%2F`).
     */
    valueRe: /^s%3A[A-Za-z0-9_-]{32}\.(?:[A-Za-z0-9]|%2B|%2F){43}$/,
    valueFormat: "s%3A<32-char id>.<43-char base64 sig>",
    idLength: 32,
    /** random bytes in an id: express-session's default genid is uid-safe's uid(24) */
    idBytes: 24,
  },
  tower: {
    name: "counter.sid",
    /**
     * tower-sessions' signed cookie (tower-cookies' `signed` jar):
     * `<44-char base64 HMAC-SHA256 of name + id, padded><22-char base64url id>`.
     */
    valueRe: /^[A-Za-z0-9+/]{43}=[A-Za-z0-9_-]{22}$/,
    valueFormat: "<44-char base64 sig><22-char id>",
    idLength: 22,
    idBytes: 16,
  },
};
/** `sessionio` (default), `express` (`SESSIONIO_COOKIE=express`) or `tower` (`SESSIONIO_COOKIE=tower`). */
export const COOKIE_FORMAT = process.env.SESSIONIO_COOKIE || "sessionio";
if (!Object.hasOwn(COOKIE_FORMATS, COOKIE_FORMAT)) {
  throw new Error(`SESSIONIO_COOKIE=${COOKIE_FORMAT}: expected one of ${Object.keys(COOKIE_FORMATS).join(", ")}`);
}
const FORMAT = COOKIE_FORMATS[COOKIE_FORMAT];
const EXPRESS = COOKIE_FORMAT === "express";
const TOWER = COOKIE_FORMAT === "tower";
/** Length of a signature as hmacSignature() spells it. */
export const SIGNATURE_LENGTH = TOWER ? 44 : 43;

export const COOKIE_NAME = FORMAT.name;
export const COOKIE_VALUE_RE = FORMAT.valueRe;
/** COOKIE_VALUE_RE in words, for messages. */
export const COOKIE_VALUE_FORMAT = FORMAT.valueFormat;
/** Length of a session id the server makes. */
export const SESSION_ID_LENGTH = FORMAT.idLength;
/**
 * The secret the server signs with, given to it as SESSION_SECRET: SESSIONIO_COOKIE_SECRET,
 * else (express format) a random one per test run, so that tests can sign cookies with the
 * right key; unset (sessionio format) leaves the server its own default.
 */
export const COOKIE_SECRET =
  process.env.SESSIONIO_COOKIE_SECRET || (EXPRESS ? randomBytes(32).toString("hex") : undefined);

/**
 * The id and the signature of a session cookie value (express-session's: URL-decoded,
 * without its `s:`, split at the last "."); null when the value is not in the format.
 */
export function splitCookieValue(value) {
  let v = value;
  if (EXPRESS) {
    try {
      v = decodeURIComponent(value);
    } catch {
      return null;
    }
    if (!v.startsWith("s:")) return null;
    v = v.slice(2);
  }
  if (TOWER) {
    if (v.length <= SIGNATURE_LENGTH) return null;
    return { id: v.slice(SIGNATURE_LENGTH), sig: v.slice(0, SIGNATURE_LENGTH) };
  }
  const dot = v.lastIndexOf(".");
  if (dot < 0) return null;
  return { id: v.slice(0, dot), sig: v.slice(dot + 1) };
}

/** The cookie value for `id` and `sig` in the server's format (inverse of splitCookieValue). */
export function joinCookieValue(id, sig) {
  if (TOWER) return `${sig}${id}`;
  return EXPRESS ? encodeURIComponent(`s:${id}.${sig}`) : `${id}.${sig}`;
}

/**
 * HMAC-SHA256 of `message` under `key`, spelled as the server's cookies spell signatures:
 * base64url (sessionio), base64 without `=` padding (express-session's cookie-signature), or
 * padded base64 (tower-cookies).
 */
export function hmacSignature(key, message) {
  const mac = createHmac("sha256", key).update(message);
  if (TOWER) return mac.digest("base64");
  return EXPRESS ? mac.digest("base64").replace(/=+$/, "") : mac.digest("base64url");
}

/**
 * The value of a cookie for session `id` signed with `key` as express-session signs it
 * (cookie-signature: `s:<id>.<HMAC-SHA256(key, id) in base64, no padding>`, URL-encoded).
 * Only for the express format: sessionio's signing scheme is its own business.
 */
export function expressSignedValue(id, key) {
  if (!EXPRESS) throw new Error("expressSignedValue() needs SESSIONIO_COOKIE=express");
  return joinCookieValue(id, hmacSignature(key, id));
}

/** A random, well-formed session id, as the server makes them (never issued by it). */
export function randomSessionId() {
  return randomBytes(FORMAT.idBytes).toString("base64url");
}

const STARTUP_TIMEOUT_MS = 60_000;
/** A last-resort bound for one describe block; every await inside has its own, shorter one. */
export const SUITE_TIMEOUT_MS = 150_000;
const STOP_GRACE_MS = 3_000;
const LISTEN_RE = /^listening http=(\S+) socket=(\S+)\s*$/;

/** Every child still running, so that they are killed even if the test process exits abruptly. */
const running = new Set();
process.on("exit", () => {
  for (const child of running) killGroup(child, "SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    for (const child of running) killGroup(child, "SIGKILL");
    process.exit(128 + (sig === "SIGINT" ? 2 : 15));
  });
}

function killGroup(child, signal) {
  try {
    // The child was spawned detached: it leads its own process group, so this
    // reaches `sh` and the server it started.
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

function shellQuote(s) {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * Start the example under test.
 *
 * @param {object} [opts]
 * @param {number} [opts.ttlMs=60000] SESSION_TTL_MS given to the server
 * @param {Record<string,string>} [opts.env] extra environment
 * @param {import('node:test').TestContext} [opts.t] when given, the server is stopped in t.after()
 * @returns {Promise<{http: string, socket: string, origin: string, stop: () => Promise<void>, stderr: () => string, exited: () => boolean, pid: number}>}
 */
export async function startServer({ ttlMs = 60_000, env = {}, t } = {}) {
  // Two-port examples (Express/FastAPI/Flask beside the Socket.IO server) need their
  // real HTTP port up front to build their Origin allow-list, so pick both ports here.
  const [port, socketPort] = await freePorts(2);
  let command = process.env.SESSIONIO_EXAMPLE;
  if (!command) {
    if (!existsSync(DEFAULT_EXAMPLE)) {
      throw new Error(
        `example server not found at ${DEFAULT_EXAMPLE}: build it with ` +
          "`cargo build -p rust-counter` or set SESSIONIO_EXAMPLE to a shell command",
      );
    }
    command = shellQuote(DEFAULT_EXAMPLE);
  }

  const child = spawn("sh", ["-c", command], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PORT: String(port),
      // SESSIONIO_ONE_PORT=1: the example serves Socket.IO on its HTTP port (Node's
      // attach, the ASGI mount), which it does when SOCKET_PORT is unset.
      ...(process.env.SESSIONIO_ONE_PORT ? {} : { SOCKET_PORT: String(socketPort) }),
      SESSION_TTL_MS: String(ttlMs),
      ...(COOKIE_SECRET !== undefined ? { SESSION_SECRET: COOKIE_SECRET } : {}),
      ...env,
    },
  });
  running.add(child);

  let stderr = "";
  let stdoutRest = "";
  const MAX_LOG = 64 * 1024;
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => {
    stderr += d;
    if (stderr.length > MAX_LOG) stderr = stderr.slice(-MAX_LOG);
  });

  let exited = false;
  let exitInfo = "";
  const exitPromise = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      exited = true;
      exitInfo = signal ? `signal ${signal}` : `code ${code}`;
      running.delete(child);
      resolve();
    });
  });

  const stop = async () => {
    if (exited) return;
    killGroup(child, "SIGTERM");
    let timer;
    const killed = await Promise.race([
      exitPromise.then(() => false),
      new Promise((r) => (timer = setTimeout(() => r(true), STOP_GRACE_MS))),
    ]);
    clearTimeout(timer);
    if (killed) {
      killGroup(child, "SIGKILL");
      await exitPromise;
    }
  };
  if (t) t.after(stop);

  let urls;
  try {
    urls = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `server did not print "listening http=<url> socket=<url>" within ` +
                `${STARTUP_TIMEOUT_MS} ms (command: ${command})\n--- stderr ---\n${stderr}`,
            ),
          ),
        STARTUP_TIMEOUT_MS,
      );
      child.stdout.setEncoding("utf8");
      let found = false;
      child.stdout.on("data", (d) => {
        // Keep draining stdout for the server's whole life so it never blocks on a full pipe.
        if (found) return;
        stdoutRest += d;
        const lines = stdoutRest.split("\n");
        stdoutRest = lines.pop();
        for (const line of lines) {
          const m = LISTEN_RE.exec(line.trim());
          if (m) {
            found = true;
            clearTimeout(timer);
            resolve({ http: m[1].replace(/\/$/, ""), socket: m[2].replace(/\/$/, "") });
            return;
          }
        }
      });
      exitPromise.then(() => {
        clearTimeout(timer);
        reject(
          new Error(
            `server exited (${exitInfo}) before printing its listening line ` +
              `(command: ${command})\n--- stderr ---\n${stderr}`,
          ),
        );
      });
    });
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    ...urls,
    origin: new URL(urls.http).origin,
    stop,
    stderr: () => stderr,
    exited: () => exited,
    /** Pid of the spawned `sh -c` (the server is it or its child); for /proc readings. */
    pid: child.pid,
  };
}

/**
 * `n` distinct free loopback ports. Each is found by listening on port 0; all are held
 * open until every one is known, so the same port is never returned twice.
 */
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = createServer();
      servers.push(srv);
      await new Promise((resolve, reject) => {
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", resolve);
      });
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r()))));
  }
}

// ---------------------------------------------------------------------------
// time helpers

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.now();

/** Race `promise` against a timeout that rejects with `message`. */
export function withTimeout(promise, ms, message) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${message}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Poll `check` until it returns truthy, or fail after `ms`. */
export async function waitUntil(check, ms, message, every = 25) {
  const deadline = now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (now() > deadline) throw new Error(`timeout after ${ms} ms: ${message}`);
    await sleep(every);
  }
}

// ---------------------------------------------------------------------------
// HTTP helpers

const HTTP_TIMEOUT_MS = 10_000;

/** fetch with a timeout and a clear error. */
export async function request(url, init = {}) {
  try {
    return await fetch(url, {
      redirect: "manual",
      ...init,
      signal: AbortSignal.timeout(init.timeoutMs ?? HTTP_TIMEOUT_MS),
    });
  } catch (e) {
    throw new Error(`${init.method ?? "GET"} ${url} failed: ${e.message}`, { cause: e });
  }
}

/** Parse one Set-Cookie header into { name, value, attrs } (attribute names lower-cased). */
export function parseSetCookie(header) {
  const [pair, ...rest] = header.split(";");
  const eq = pair.indexOf("=");
  const attrs = {};
  for (const part of rest) {
    const p = part.trim();
    if (!p) continue;
    const i = p.indexOf("=");
    if (i < 0) attrs[p.toLowerCase()] = true;
    else attrs[p.slice(0, i).trim().toLowerCase()] = p.slice(i + 1).trim();
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attrs, raw: header };
}

/** All Set-Cookie headers of `res` for the session cookie. */
export function sessionSetCookies(res) {
  return res.headers
    .getSetCookie()
    .map(parseSetCookie)
    .filter((c) => c.name === COOKIE_NAME);
}

/** True when the Set-Cookie clears the cookie (Max-Age=0 or an Expires in the past). */
export function isClearing(c) {
  if (c.attrs["max-age"] !== undefined) return Number(c.attrs["max-age"]) <= 0;
  if (typeof c.attrs.expires === "string") return Date.parse(c.attrs.expires) < Date.now();
  return false;
}

/**
 * The session Set-Cookies of a response (from HttpClient.send) to a request made with the
 * cookie `value` that do not keep that session: every one for sessionio, which sets the
 * cookie only for a new session. express-session with `rolling: true` (the example's
 * setting, so that activity renews the browser's cookie) sends the same cookie again on
 * every response, with a later expiry, and so does tower-sessions with `always_save` (the
 * tower example's setting, for the same reason); only one with another value, or a
 * clearing one, counts there.
 */
export function newSessionCookies(r, value) {
  if (!EXPRESS && !TOWER) return r.setCookies;
  return r.setCookies.filter((c) => c.value !== value || isClearing(c));
}

/**
 * One browser-like client of the HTTP app: keeps the session cookie.
 */
export class HttpClient {
  constructor(base, cookieValue) {
    this.base = base;
    this.cookieValue = cookieValue ?? null;
  }
  /** `<COOKIE_NAME>=<value>` for a `cookie` header, or null. */
  get cookie() {
    return this.cookieValue ? `${COOKIE_NAME}=${this.cookieValue}` : null;
  }
  async send(method, path, { headers = {}, keepCookie = true, body: requestBody } = {}) {
    const h = { ...headers };
    if (this.cookie) h.cookie = this.cookie;
    const startedAt = now();
    const res = await request(this.base + path, {
      method,
      headers: h,
      ...(requestBody !== undefined ? { body: requestBody } : {}),
    });
    // the response's arrival (its head): an upper bound of when the server handled it
    const at = now();
    const body = await res.text();
    if (keepCookie) {
      for (const c of sessionSetCookies(res)) {
        if (!isClearing(c)) this.cookieValue = c.value;
      }
    }
    return { res, status: res.status, body, setCookies: sessionSetCookies(res), startedAt, at };
  }
  get(path = "/") {
    return this.send("GET", path);
  }
  post(path, opts) {
    return this.send("POST", path, opts);
  }
  /** POST /incr and return the new count as a number (asserting status 200). */
  async incr() {
    const r = await this.post("/incr");
    if (r.status !== 200) throw new Error(`POST /incr answered ${r.status}: ${r.body}`);
    return Number(r.body);
  }
  async token() {
    const r = await this.get("/token");
    if (r.status !== 200) throw new Error(`GET /token answered ${r.status}: ${r.body}`);
    return r.body.trim();
  }
}

/** A new session: GET / without cookie, keep the Set-Cookie. */
export async function newSession(base) {
  const c = new HttpClient(base);
  const r = await c.get("/");
  if (r.status !== 200 || !c.cookieValue) {
    throw new Error(`GET / did not create a session (status ${r.status}, set-cookie ${r.res.headers.getSetCookie()})`);
  }
  return c;
}

// ---------------------------------------------------------------------------
// Socket.IO helpers

/** The two ways the suite connects: websocket only, and the default polling-then-upgrade. */
export const TRANSPORTS = [
  { name: "websocket", opts: { transports: ["websocket"] } },
  { name: "polling+upgrade", opts: {} },
];

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Keeps every client a test opened, so that they are all closed in after().
 */
export class Clients {
  constructor() {
    this.sockets = new Set();
  }
  /**
   * Create a client (not awaited). Options:
   *   transport: an entry of TRANSPORTS (default websocket)
   *   cookie: full cookie header value (e.g. `${COOKIE_NAME}=...`)
   *   token: auth.token
   *   headers: extra headers (e.g. { Origin })
   *   reconnection: default false
   */
  open(url, { transport = TRANSPORTS[0], cookie, token, headers = {}, reconnection = false, ...rest } = {}) {
    const extraHeaders = { ...headers };
    if (cookie) extraHeaders.cookie = cookie;
    const socket = io(url, {
      path: "/socket.io/",
      forceNew: true,
      reconnection,
      reconnectionDelay: 100,
      reconnectionDelayMax: 500,
      timeout: CONNECT_TIMEOUT_MS,
      extraHeaders,
      ...(token !== undefined ? { auth: { token } } : {}),
      ...transport.opts,
      ...rest,
    });
    this.sockets.add(socket);
    recordEvents(socket);
    return socket;
  }
  /** Open and await `connect`; a connect_error or a timeout fails with a clear message. */
  async connect(url, opts = {}) {
    const socket = this.open(url, opts);
    await awaitConnect(socket, opts.label ?? describeOpts(opts));
    return socket;
  }
  /** Open and await `connect_error`; returns the error. Connecting fails the test. */
  async connectError(url, opts = {}) {
    const socket = this.open(url, { ...opts, reconnection: false });
    const label = opts.label ?? describeOpts(opts);
    const err = await withTimeout(
      new Promise((resolve, reject) => {
        socket.once("connect", () =>
          reject(new Error(`expected a connect_error but the socket connected (${label})`)),
        );
        socket.once("connect_error", resolve);
      }),
      CONNECT_TIMEOUT_MS,
      `neither connect nor connect_error (${label})`,
    );
    socket.disconnect();
    return err;
  }
  closeAll() {
    for (const s of this.sockets) {
      s.io.reconnection(false);
      s.disconnect();
    }
    this.sockets.clear();
  }
}

function describeOpts(o) {
  const parts = [`transport=${(o.transport ?? TRANSPORTS[0]).name}`];
  if (o.cookie) parts.push("cookie");
  if (o.token !== undefined) parts.push("token");
  if (o.headers && Object.keys(o.headers).length) parts.push(`headers=${JSON.stringify(o.headers)}`);
  return parts.join(" ");
}

/**
 * The HTTP status of a `connect_error` that is a transport error: a request refused
 * before the Socket.IO CONNECT (e.g. a foreign Origin at the Engine.IO handshake).
 * websocket → "Unexpected server response: 403"; polling → `description` 403.
 */
export function refusedStatus(err) {
  if (typeof err.description === "number") return err.description;
  const m = /Unexpected server response: (\d+)/.exec(err.description?.message ?? "");
  return m ? Number(m[1]) : undefined;
}

/**
 * What a transport error's `description` and `context` say (an HTTP status and the
 * answer's body, or the request's own error), for a failure message: " [400 {…}]".
 */
function transportDetail(err) {
  const parts = [];
  const status = refusedStatus(err);
  const cause = err.description?.message ?? err.description?.error?.message;
  if (status !== undefined) parts.push(String(status));
  else if (cause) parts.push(cause);
  const body = err.context?.responseText;
  if (typeof body === "string" && body !== "") parts.push(body.slice(0, 200));
  return parts.length > 0 ? ` [${parts.join(" ")}]` : "";
}

export async function awaitConnect(socket, label = "") {
  if (socket.connected) return;
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", (err) =>
        reject(new Error(`connect_error "${err.message}"${transportDetail(err)} while connecting (${label})`)),
      );
    }),
    CONNECT_TIMEOUT_MS,
    `socket did not connect (${label})`,
  );
}

/**
 * Record every received event with its arrival time on `socket.received`
 * (array of { event, args, at }) and the disconnect on `socket.disconnects`.
 */
function recordEvents(socket) {
  socket.received = [];
  socket.disconnects = [];
  socket.onAny((event, ...args) => socket.received.push({ event, args, at: now() }));
  socket.on("disconnect", (reason) => socket.disconnects.push({ reason, at: now() }));
}

/** Values of all "current count" events received so far. */
export function counts(socket) {
  return socket.received.filter((e) => e.event === "current count").map((e) => e.args[0]);
}

/** Wait (bounded) until `socket` has received `event` with args satisfying `pred`. */
export function waitForEvent(socket, event, { timeout = 5_000, pred = () => true, label = "" } = {}) {
  const seen = socket.received.find((e) => e.event === event && pred(...e.args));
  if (seen) return Promise.resolve(seen.args);
  let handler;
  return withTimeout(
    new Promise((resolve) => {
      handler = (...args) => {
        if (pred(...args)) resolve(args);
      };
      socket.on(event, handler);
    }),
    timeout,
    `event "${event}" not received ${label}`,
  ).finally(() => socket.off(event, handler));
}

/** Wait (bounded) for the socket's disconnect; resolves { reason, at }. */
export function waitForDisconnect(socket, { timeout = 5_000, label = "" } = {}) {
  if (socket.disconnects.length) return Promise.resolve(socket.disconnects[0]);
  return withTimeout(
    new Promise((resolve) => socket.once("disconnect", (reason) => resolve({ reason, at: now() }))),
    timeout,
    `socket was not disconnected ${label}`,
  );
}

/** emit with an ack, bounded in time. */
export function emitWithAck(socket, event, ...args) {
  return socket.timeout(10_000).emitWithAck(event, ...args).catch((e) => {
    throw new Error(`no ack for "${event}" within 10000 ms (${e.message})`);
  });
}

/** Wait (bounded) until the default transport has upgraded to websocket. */
export function waitForUpgrade(socket, timeout = 5_000) {
  return waitUntil(
    () => socket.io.engine?.transport?.name === "websocket",
    timeout,
    `transport did not upgrade to websocket (still ${socket.io.engine?.transport?.name})`,
  );
}

export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
