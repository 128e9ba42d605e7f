// Several workers behind one port (the engine's `workers` option): one session's sockets
// held by different workers of one launcher, and Engine.IO polling requests reaching
// workers that do not hold their session.
//
// SESSIONIO_EXAMPLE is the launcher, a shell command that starts several worker processes
// of an example on the harness's PORT (and SOCKET_PORT, unless SESSIONIO_ONE_PORT=1), e.g.
// `exec node examples/node-express/cluster.mjs`. What it must do besides the example
// contract: read REDIS_URL (this file starts its own redis-server and passes its URL),
// print the listening line once every worker listens, and answer the socket event
// "worker" with an id of the worker process that holds the socket (its pid).
//
// Which worker a connection reaches is the port's choice: node:cluster's primary hands
// the connections to the workers round-robin, SO_REUSEPORT (the engine's own port) picks
// by a hash of the client's address and port. The tests do not steer a socket to a worker;
// they open sockets until a transport's are on two workers at least. With SO_REUSEPORT over
// 4 workers, all 8 on one has a chance of 4 × (1/4)^8 ≈ 1 in 16 000 (far less for the ~20
// requests of the polling test, each on a new connection). Round-robin can deal every
// handshake to one worker when opening a socket takes a multiple of 4 connections each
// time, so between tries one more connection shifts it.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import {
  startServer,
  newSession,
  Clients,
  TRANSPORTS,
  emitWithAck,
  waitForEvent,
  waitForDisconnect,
  waitForUpgrade,
  withTimeout,
  sleep,
  SUITE_TIMEOUT_MS,
} from "../e2e/harness.mjs";
import { startRedis } from "../cluster/redis.mjs";
import { loginAs, notifyUser, listSessions } from "../users/users.mjs";

if (!process.env.SESSIONIO_EXAMPLE) {
  throw new Error(
    "tests/workers/workers.test.mjs needs SESSIONIO_EXAMPLE set to a multi-worker launcher, " +
      'e.g. SESSIONIO_EXAMPLE="exec node examples/node-express/cluster.mjs"',
  );
}

/** Sockets of one session per transport: enough to land on several workers. */
const SOCKETS_PER_TRANSPORT = 8;
/** The most sockets per transport opened to see them spread (2 × 14 < the cap of 32). */
const MAX_PER_TRANSPORT = 14;
/** How long a notification may take to reach a socket held by another worker. */
const CROSS_WORKER_MS = 5_000;
/** How long "no event arrives" is watched for, once the expected ones arrived. */
const QUIET_MS = 300;
/** How much of the launcher's stderr a failure shows. */
const STDERR_TAIL = 4_000;
/** Engine.IO polling's record separator. */
const RS = "\x1e";

/**
 * One request on a connection of its own (`agent: false`: a new connection, closed after
 * the answer), so that each request of a polling session reaches the workers in turn
 * (node:cluster) or by its own hash (SO_REUSEPORT), and never rides a kept-alive one.
 */
function onNewConnection(url, { method = "GET", body, cookie } = {}) {
  const headers = { ...(cookie ? { cookie } : {}) };
  if (body !== undefined) {
    headers["content-type"] = "text/plain;charset=UTF-8";
    headers["content-length"] = Buffer.byteLength(body);
  }
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = httpRequest(url, { method, headers, agent: false }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode, text }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    }),
    10_000,
    `${method} ${url}`,
  );
}

describe("Several workers on one port: one session over many workers", { timeout: SUITE_TIMEOUT_MS }, () => {
  let redis;
  let server;
  const clients = new Clients();
  before(async () => {
    redis = await startRedis();
    server = await startServer({ env: { REDIS_URL: redis.url } });
  });
  afterEach(() => clients.closeAll());
  after(async () => {
    clients.closeAll();
    try {
      await server?.stop();
    } finally {
      await redis?.stop();
    }
  });

  /**
   * A test whose failure carries the end of the launcher's stderr (every worker's log:
   * a worker that died, a refusal the engine logged), which the harness otherwise keeps.
   */
  function workersTest(name, fn) {
    test(name, async (t) => {
      try {
        await fn(t);
      } catch (e) {
        const log = server?.stderr().slice(-STDERR_TAIL) ?? "";
        if (e instanceof Error && log !== "") e.message += `\n--- the launcher's stderr, last ${log.length} characters ---\n${log}`;
        throw e;
      }
    });
  }

  /**
   * At least `perTransport` sockets of `jar` over each transport (polling ones upgraded:
   * the upgrade is a new connection, often to another worker than the one holding the
   * session, and must reach that one); each with the pid of the worker holding it, as its
   * handlers (the event "worker") see it. Opened one after another, and more (up to
   * `MAX_PER_TRANSPORT`) while a transport's sockets all sit on one worker: how a port
   * spreads connections is the server's business (an asyncio server on one shared socket
   * may take a burst on the worker that wakes first), and the test needs them spread.
   */
  async function openSockets(jar, perTransport, { spread = true } = {}) {
    const sockets = [];
    const open = async (transport) => {
      const socket = await clients.connect(server.socket, { transport, cookie: jar.cookie });
      if (transport.opts.transports === undefined) await waitForUpgrade(socket);
      const s = { transport, socket, worker: await emitWithAck(socket, "worker") };
      sockets.push(s);
      return s;
    };
    for (const transport of TRANSPORTS) {
      const mine = [];
      for (let i = 0; i < perTransport; i++) mine.push(await open(transport));
      while (spread && new Set(mine.map((s) => s.worker)).size < 2 && mine.length < MAX_PER_TRANSPORT) {
        // node:cluster's primary deals connections round-robin, and a socket's opening
        // can take the same number of connections each time, so that every handshake
        // lands on the same worker: one more connection (an unknown session's request,
        // refused with nothing allocated) moves the next handshake to another.
        await onNewConnection(`${server.socket}/socket.io/?EIO=4&transport=polling&sid=unknown`);
        await sleep(20);
        mine.push(await open(transport));
      }
    }
    return sockets;
  }

  /** Asserts that `sockets` are held by at least two workers. */
  function assertSpread(sockets, what) {
    const workers = new Set(sockets.map((s) => s.worker));
    assert.ok(workers.size >= 2, `the ${sockets.length} ${what} are all held by worker ${[...workers]}`);
  }


  workersTest(`${SOCKETS_PER_TRANSPORT} sockets per transport of one session sit on several workers; POST /incr, socket incr and POST /logout reach every one`, async () => {
    const session = await newSession(server.http);
    const sockets = await openSockets(session, SOCKETS_PER_TRANSPORT);
    for (const transport of TRANSPORTS) {
      assertSpread(
        sockets.filter((s) => s.transport === transport),
        `${transport.name} sockets of one session`,
      );
    }

    // With sockets on several workers, whichever worker answers the HTTP request, some of
    // the sockets are held by others: they hear it through the Redis adapter.
    assert.equal(await session.incr(), 1);
    for (const { transport, socket, worker } of sockets) {
      await waitForEvent(socket, "current count", {
        timeout: CROSS_WORKER_MS,
        pred: (n) => n === 1,
        label: `after POST /incr (${transport.name} socket on worker ${worker})`,
      });
    }
    // A socket's own event, on its worker: the other workers' sockets hear it too.
    assert.equal(await emitWithAck(sockets.at(-1).socket, "incr"), 2);
    for (const { transport, socket, worker } of sockets) {
      await waitForEvent(socket, "current count", {
        timeout: CROSS_WORKER_MS,
        pred: (n) => n === 2,
        label: `after socket incr on worker ${sockets.at(-1).worker} (${transport.name} socket on worker ${worker})`,
      });
    }

    const logout = await session.post("/logout");
    assert.equal(logout.status, 204, `POST /logout answered ${logout.status}: ${logout.body}`);
    for (const { transport, socket, worker } of sockets) {
      const { reason } = await waitForDisconnect(socket, {
        timeout: CROSS_WORKER_MS,
        label: `after POST /logout (${transport.name} socket on worker ${worker})`,
      });
      assert.equal(reason, "io server disconnect", `${transport.name} socket on worker ${worker}`);
    }
  });

  workersTest("a user's two sessions with sockets on several workers: GET /sessions counts them all, POST /notify-user reaches them all and no other user's, POST /logout-everywhere kicks them all", async () => {
    const user = `ada-workers-${Date.now()}`;
    const { client: phone } = await loginAs(server.http, user);
    const { client: laptop } = await loginAs(server.http, user);
    const { client: other } = await loginAs(server.http, `bob-workers-${Date.now()}`);
    const PER_TRANSPORT = SOCKETS_PER_TRANSPORT / 2;
    const onPhone = await openSockets(phone, PER_TRANSPORT);
    const onLaptop = await openSockets(laptop, PER_TRANSPORT);
    const mine = [...onPhone, ...onLaptop];
    const theirs = await openSockets(other, 1, { spread: false });
    assertSpread(mine, "sockets of the user's two sessions");

    // The list's socket counts are the store's, kept by every worker.
    const list = await listSessions(laptop);
    assert.deepEqual(
      list.map((e) => e.sockets).sort((a, b) => a - b),
      [onPhone.length, onLaptop.length].sort((a, b) => a - b),
      `GET /sessions: ${JSON.stringify(list)}`,
    );

    // The answer counts the sockets of the worker that served the request only (the
    // adapter does not report the others'), so it is not checked; the events are.
    await notifyUser(laptop, "hello, every worker");
    for (const { transport, socket, worker } of mine) {
      const [text] = await waitForEvent(socket, "user message", {
        timeout: CROSS_WORKER_MS,
        label: `(${transport.name} socket on worker ${worker})`,
      });
      assert.equal(text, "hello, every worker");
    }
    await sleep(QUIET_MS);
    for (const { socket } of theirs) {
      assert.deepEqual(socket.received.filter((e) => e.event === "user message"), [], "another user's socket got it");
    }

    const r = await laptop.post("/logout-everywhere");
    assert.equal(r.status, 200, `POST /logout-everywhere answered ${r.status}: ${r.body}`);
    assert.equal(Number(r.body), 2, "sessions signed out");
    for (const { transport, socket, worker } of mine) {
      const { reason } = await waitForDisconnect(socket, {
        timeout: CROSS_WORKER_MS,
        label: `after POST /logout-everywhere (${transport.name} socket on worker ${worker})`,
      });
      assert.equal(reason, "io server disconnect", `${transport.name} socket on worker ${worker}`);
    }
    await sleep(QUIET_MS);
    assert.ok(theirs.every(({ socket }) => socket.connected), "another user's socket was kicked");
    await notifyUser(other, "still here");
    for (const { socket } of theirs) await waitForEvent(socket, "user message", { pred: (t) => t === "still here" });
  });

  workersTest("a polling session whose every request comes on a new connection is served by the worker that holds it: connect, acks, notifications, logout", async () => {
    const session = await newSession(server.http);
    const base = `${server.socket}/socket.io/?EIO=4&transport=polling`;
    const { cookie } = session;
    const open = await onNewConnection(base, { cookie });
    assert.equal(open.status, 200, `polling handshake: ${open.status} ${open.text}`);
    assert.match(open.text, /^0\{/);
    const url = `${base}&sid=${encodeURIComponent(JSON.parse(open.text.slice(1)).sid)}`;
    let requests = 1;

    const send = async (packet) => {
      requests++;
      const r = await onNewConnection(url, { method: "POST", body: packet, cookie });
      assert.deepEqual(r, { status: 200, text: "ok" }, `POST ${packet} (request ${requests})`);
    };
    /**
     * Long-polls (each poll a new connection, pings answered) until a packet matching each
     * of `wanted` (a string, or a RegExp) arrived.
     */
    const receive = async (wanted) => {
      const missing = [...wanted];
      const seen = [];
      for (let tries = 0; missing.length > 0; tries++) {
        assert.ok(tries < 10, `still waiting for ${missing.map(String)}; got ${JSON.stringify(seen)}`);
        requests++;
        const r = await onNewConnection(url, { cookie });
        assert.equal(r.status, 200, `poll (request ${requests}) answered ${r.status} ${r.text}`);
        for (const packet of r.text.split(RS)) {
          seen.push(packet);
          if (packet === "2") await send("3");
          const i = missing.findIndex((w) => (typeof w === "string" ? w === packet : w.test(packet)));
          if (i >= 0) missing.splice(i, 1);
        }
      }
    };

    await send("40");
    await receive([/^40\{"sid":/]);
    await send('420["worker"]');
    await receive([/^430\[\d+\]$/]);

    // Notifications from HTTP (any worker) and acks of the socket's own events, each poll
    // and each send on a new connection.
    for (let n = 1; n <= 6; n++) {
      if (n % 2) {
        assert.equal(await session.incr(), n);
        await receive([`42["current count",${n}]`]);
      } else {
        await send(`42${n}["incr"]`);
        await receive([`43${n}[${n}]`, `42["current count",${n}]`]);
      }
    }

    const logout = await session.post("/logout");
    assert.equal(logout.status, 204, `POST /logout answered ${logout.status}: ${logout.body}`);
    // The logout's DISCONNECT for the namespace, from the session's worker.
    await receive(["41"]);
  });
});
