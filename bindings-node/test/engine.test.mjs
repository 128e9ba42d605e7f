// The engine's host API from JavaScript: start options, sessions, notify/destroy, tokens,
// and every error code with its class.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import * as sessionio from '../index.mjs';
import {
  SessionIo,
  Session,
  SessionIoError,
  HandlerError,
  InvalidConfigError,
  SessionNotFoundError,
  SessionExpiredError,
  InvalidSessionIdError,
  StoreUnavailableError,
  ConflictError,
  InvalidValueError,
  ServerError,
  TooManySessionsError,
  ErrorCode,
} from '../index.mjs';
import { fromNative } from '../lib/errors.js';
import { SECRET, Clients, connectSession, freePort, nextEvent, sessionCookieHeader, sleep } from './helpers.mjs';

/** Asserts that `promise` rejects with an instance of `cls` whose code is `code`. */
async function rejectsWith(promise, cls, code, message) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${err?.name}: ${err?.message}`);
    assert.ok(err instanceof SessionIoError && err instanceof Error);
    assert.equal(err.code, code);
    assert.equal(err.name, cls.name);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('SessionIo.start', () => {
  test('starts on 127.0.0.1 and a free port; port, host and url describe it', async (t) => {
    const rt = await SessionIo.start({ secret: SECRET });
    t.after(() => rt.close());
    assert.equal(rt.host, '127.0.0.1');
    assert.ok(Number.isInteger(rt.port) && rt.port > 0);
    assert.equal(rt.url, `http://127.0.0.1:${rt.port}`);
    // Socket.IO answers its Engine.IO handshake there.
    const res = await fetch(`${rt.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^0\{"sid":/);
    assert.deepEqual(rt.stats(), { sockets: 0, sessionsWithSockets: 0 });
    // The engine's counters, as Prometheus text.
    const metrics = rt.metricsText().split('\n');
    assert.ok(metrics.includes('# TYPE sessionio_sockets_connected gauge'), metrics.join('\n'));
    assert.ok(metrics.includes('sessionio_sockets_connected 0'));
  });

  test('an explicit port, path and every documented option are accepted', async (t) => {
    const port = await freePort();
    const rt = await SessionIo.start({
      port,
      host: '127.0.0.1',
      secrets: [SECRET, Buffer.alloc(32, 7)],
      cookieName: 'app.sid',
      cookieSecure: false,
      sameSite: 'strict',
      cookiePath: '/',
      cookieDomain: 'example.test',
      ttlMs: 60_000,
      extendOnSocketActivity: false,
      allowedOrigins: ['http://localhost:3000'],
      allowAnonymous: true,
      tokenAuth: true,
      maxConnectionsPerSession: 4,
      store: 'memory://',
      adapter: 'local://',
      path: '/rt',
      namespaces: ['/', '/admin'],
      pingIntervalMs: 10_000,
      pingTimeoutMs: 5_000,
      connectTimeoutMs: 5_000,
      maxPayload: 100_000,
      maxBufferSize: 256,
    });
    t.after(() => rt.close());
    assert.equal(rt.port, port);
    const res = await fetch(`${rt.url}/rt/?EIO=4&transport=polling`);
    assert.equal(res.status, 200);
  });

  test('durations are taken in seconds too (ttl, pingInterval, pingTimeout, connectTimeout)', async (t) => {
    const rt = await SessionIo.start({ secret: SECRET, ttl: 60, pingInterval: 10.5, pingTimeout: 4, connectTimeout: 5 });
    t.after(() => rt.close());
    const res = await fetch(`${rt.url}/socket.io/?EIO=4&transport=polling`);
    const open = JSON.parse((await res.text()).slice(1));
    assert.equal(open.pingInterval, 10_500);
    assert.equal(open.pingTimeout, 4_000);
  });

  const badOptions = [
    [{}, /a secret is required/],
    [{ secret: 'short' }, /secret #1 is 5 bytes/],
    [{ secret: SECRET, secrets: [SECRET] }, /either secret or secrets/],
    [{ secret: SECRET, ttlMsec: 1000 }, /unknown option `ttlMsec`/],
    [{ secret: SECRET, ttl: 1, ttlMs: 1000 }, /give either ttl or ttl_ms, not both/],
    [{ secret: SECRET, expressSession: { store: undefined, secret: 'x', nope: 1 } }, /unknown option `expressSession.nope`/],
    [{ secret: SECRET, ttlMs: '1000' }, /option `ttlMs`: invalid type/],
    [{ secret: SECRET, ttlMs: 0 }, /ttl must be at least 1 ms/],
    [{ secret: SECRET, ttlMs: -5 }, /option `ttlMs`: invalid value/],
    [{ secret: SECRET, port: 70_000 }, /option `port`: invalid value/],
    [{ secret: SECRET, host: 'not an address' }, /host must be an IP address/],
    [{ secret: SECRET, allowedOrigins: ['*'] }, /wildcard/],
    [{ secret: SECRET, allowedOrigins: 'http://a.test' }, /option `allowedOrigins`: invalid type/],
    [{ secret: SECRET, sameSite: 'none', cookieSecure: false }, /SameSite=None requires a Secure cookie/],
    [{ secret: SECRET, sameSite: 'sideways' }, /"lax", "strict" or "none"/],
    [{ secret: SECRET, store: 'mysql://db' }, /unknown store URL/],
    [{ secret: SECRET, adapter: 'mysql://x' }, /unknown adapter URL "mysql:\/\/x"; supported: redis:\/\/<host>\[:<port>\]\[\/<db>\], local:\/\//],
    [{ secret: SECRET, adapter: 'redis://' }, /unknown adapter URL "redis:\/\/"/],
    [{ secret: SECRET, adapter: 'memory://' }, /unknown adapter URL "memory:\/\/"/],
    [{ secret: SECRET, workers: true }, /workers\(true\) needs a redis:\/\//],
    [{ secret: SECRET, adapter: 6379 }, /option `adapter`: invalid type/],
    [{ secret: SECRET, maxConnectionsPerSession: 0 }, /at least 1/],
    [{ secret: SECRET, maxSessions: 0 }, /max_sessions must be at least 1/],
    [{ secret: SECRET, cookieSecure: 'yes' }, /option `cookieSecure`: invalid type/],
  ];
  for (const [options, message] of badOptions) {
    test(`refuses ${JSON.stringify(options)} with InvalidConfigError`, async () => {
      await rejectsWith(SessionIo.start(options), InvalidConfigError, 'ERR_INVALID_CONFIG', message);
    });
  }

  test('options that are not an object are an InvalidConfigError', async () => {
    await rejectsWith(SessionIo.start('secret'), InvalidConfigError, 'ERR_INVALID_CONFIG');
  });

  test('a port in use is a ServerError', async (t) => {
    const busy = createServer();
    await new Promise((r) => busy.listen(0, '127.0.0.1', r));
    t.after(() => busy.close());
    await rejectsWith(
      SessionIo.start({ secret: SECRET, port: busy.address().port }),
      ServerError,
      'ERR_SERVER',
      /bind 127\.0\.0\.1:\d+/,
    );
  });
});

describe('store option', () => {
  test("store: 'sqlite://…' keeps sessions across engines; an unknown scheme is an InvalidConfigError", async (t) => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'sessionio-node-sqlite-'));
    // The engines are closed before their database's folder is removed: an open engine
    // may still write SQLite's journal there (and keeps the process alive).
    const engines = [];
    t.after(async () => {
      await Promise.all(engines.map((e) => e.close()));
      rmSync(dir, { recursive: true, force: true });
    });
    const store = `sqlite://${join(dir, 'sessions.db')}`;

    const first = await SessionIo.start({ secret: SECRET, store });
    engines.push(first);
    const session = await first.createSession();
    await session.set('user', 'ada');
    await first.close();

    const second = await SessionIo.start({ secret: SECRET, store });
    engines.push(second);
    const again = await second.session(session.id);
    assert.equal(await again.get('user'), 'ada');
    await rejectsWith(SessionIo.start({ secret: SECRET, store: 'mysql://x' }), InvalidConfigError, 'ERR_INVALID_CONFIG', /unknown store URL/);
  });
});

describe('store option: redis, and the adapter that links engines', () => {
  let redis;
  let redisUrl;
  before(async () => {
    const { spawn } = await import('node:child_process');
    const { connect } = await import('node:net');
    const port = await freePort();
    // Our own redis-server on a free port (Debian package redis-server; the test command installs it).
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    const failed = new Promise((_, reject) => redis.once('error', (e) => reject(new Error(`cannot run redis-server: ${e.message}`))));
    failed.catch(() => {});
    for (let i = 0; ; i++) {
      const up = await Promise.race([
        failed,
        new Promise((resolve) => {
          const c = connect(port, '127.0.0.1', () => {
            c.destroy();
            resolve(true);
          });
          c.once('error', () => resolve(false));
        }),
      ]);
      if (up) break;
      assert.ok(i < 100, 'redis-server did not listen within 5 s');
      await sleep(50);
    }
    redisUrl = `redis://127.0.0.1:${port}`;
  });
  after(async () => {
    if (!redis || redis.exitCode !== null || redis.signalCode !== null) return;
    const exited = new Promise((resolve) => redis.once('exit', resolve));
    redis.kill('SIGKILL');
    await exited;
  });

  /** Two engines started with the same `options` (and SECRET), closed when the test ends. */
  async function pair(t, options) {
    const a = await SessionIo.start({ secret: SECRET, ...options });
    t.after(() => a.close());
    const b = await SessionIo.start({ secret: SECRET, ...options });
    t.after(() => b.close());
    return [a, b];
  }

  /** A new session of `rt` through its Express middleware, and its cookie (`name=value`). */
  async function newCookie(rt) {
    const req = { method: 'GET', headers: {} };
    const headers = new Map();
    const res = { getHeader: (n) => headers.get(n), setHeader: (n, v) => headers.set(n, v), writeHead: () => res };
    await new Promise((resolve, reject) => rt.express()(req, res, (err) => (err ? reject(err) : resolve())));
    // A new session is stored by its first write or save(); the middleware copies the
    // engine's Set-Cookie when the response starts.
    await req.session.save();
    res.writeHead(200);
    const [setCookie] = headers.get('set-cookie');
    return { sessionId: req.sessionId, cookie: sessionCookieHeader(setCookie) };
  }

  /** Every event `socket` receives, in order. */
  function record(socket) {
    const events = [];
    socket.onAny((event, ...args) => events.push([event, ...args]));
    return events;
  }

  test("store: 'redis://…' keeps sessions in Redis, shared by two engines", async (t) => {
    const [a, b] = await pair(t, { store: redisUrl });
    const session = await a.createSession();
    await session.set('user', 'ada');
    assert.equal(await (await b.session(session.id)).increment('visits'), 1);
    assert.equal(await session.get('visits'), 1);
    assert.equal(await (await b.session(session.id)).get('user'), 'ada');
  });

  test("with store: 'redis://…', notifySession on one engine reaches a socket of the other (counted 0 there)", async (t) => {
    const [a, b] = await pair(t, { store: redisUrl });
    const { sessionId, cookie } = await newCookie(a);
    const clients = new Clients(t);
    const socket = await clients.connect(b.url, { cookie });
    assert.deepEqual(b.stats(), { sockets: 1, sessionsWithSockets: 1 });
    assert.deepEqual(a.stats(), { sockets: 0, sessionsWithSockets: 0 });

    const got = nextEvent(socket, 'current count');
    assert.equal(await a.notifySession(sessionId, 'current count', { n: 7, from: 'a', tags: ['x', 1] }), 0);
    assert.deepEqual(await got, [{ n: 7, from: 'a', tags: ['x', 1] }]);
    // The engine that has the socket counts it (and reaches it once, not twice).
    const events = record(socket);
    assert.equal(await b.notifySession(sessionId, 'current count', 8), 1);
    await nextEvent(socket, 'current count');
    await sleep(100);
    assert.deepEqual(events, [['current count', 8]]);
  });

  test("with store: 'redis://…', destroySession on one engine disconnects the other's sockets", async (t) => {
    const [a, b] = await pair(t, { store: redisUrl });
    const { sessionId, cookie } = await newCookie(a);
    const { cookie: otherCookie } = await newCookie(a);
    const clients = new Clients(t);
    const sockets = [await clients.connect(b.url, { cookie }), await clients.connect(b.url, { cookie })];
    const other = await clients.connect(b.url, { cookie: otherCookie });
    const gone = sockets.map((s) => nextEvent(s, 'disconnect'));
    assert.equal(await a.destroySession(sessionId), 0);
    for (const [reason] of await Promise.all(gone)) assert.equal(reason, 'io server disconnect');
    await sleep(100);
    assert.ok(other.connected, "another session's socket stays connected");
    assert.deepEqual(b.stats(), { sockets: 1, sessionsWithSockets: 1 });
    const refused = await clients.connectError(b.url, { cookie });
    assert.equal(refused.message, 'invalid session');
  });

  test("adapter: 'redis://…' links engines whose store is not Redis", async (t) => {
    const [a, b] = await pair(t, { store: 'memory://', adapter: redisUrl });
    // The session lives in b's memory store only; a notifies it by id.
    const { sessionId, cookie } = await newCookie(b);
    const clients = new Clients(t);
    const socket = await clients.connect(b.url, { cookie });
    const got = nextEvent(socket, 'news');
    assert.equal(await a.notifySession(sessionId, 'news', 'from a'), 0);
    assert.deepEqual(await got, ['from a']);
  });

  test("adapter: 'local://' keeps notifySession and destroySession on their own engine", async (t) => {
    const [a, b] = await pair(t, { store: redisUrl, adapter: 'local://' });
    const { sessionId, cookie } = await newCookie(a);
    const clients = new Clients(t);
    const socket = await clients.connect(b.url, { cookie });
    const events = record(socket);
    let disconnected = false;
    socket.on('disconnect', () => {
      disconnected = true;
    });
    assert.equal(await a.notifySession(sessionId, 'current count', 1), 0);
    await sleep(500);
    assert.deepEqual(events, [], "a's notification must not cross to b");
    // b itself reaches it: the silence above is not a broken socket.
    const got = nextEvent(socket, 'current count');
    assert.equal(await b.notifySession(sessionId, 'current count', 2), 1);
    assert.deepEqual(await got, [2]);
    assert.deepEqual(events, [['current count', 2]]);

    assert.equal(await a.destroySession(sessionId), 0);
    await sleep(500);
    assert.ok(socket.connected && !disconnected, "a's destroySession must not disconnect b's socket");
    // The record is gone from the shared store all the same.
    await rejectsWith(b.session(sessionId), SessionNotFoundError, 'ERR_SESSION_NOT_FOUND');
  });

  test('an adapter whose Redis does not answer fails start() with StoreUnavailableError (within 5 s)', async () => {
    const port = await freePort();
    const started = Date.now();
    await rejectsWith(
      SessionIo.start({ secret: SECRET, adapter: `redis://127.0.0.1:${port}` }),
      StoreUnavailableError,
      'ERR_STORE_UNAVAILABLE',
      /redis adapter: not subscribed within 5000 ms/,
    );
    assert.ok(Date.now() - started < 7_000);
  });
});

describe('sessions from the host', () => {
  let rt;
  before(async () => {
    rt = await SessionIo.start({ secret: SECRET });
  });
  after(() => rt.close());

  test('createSession, get/set/remove/increment/data round-trip', async () => {
    const s = await rt.createSession();
    assert.ok(s instanceof Session);
    assert.match(s.id, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(await s.get('missing'), undefined);
    assert.equal(await s.increment('count'), 1);
    assert.equal(await s.increment('count', 41), 42);
    assert.equal(await s.increment('count', -2), 40);
    await s.set('user', { name: 'ada', roles: ['admin'], age: 36, ratio: 0.5, none: null });
    assert.deepEqual(await s.get('user'), { name: 'ada', roles: ['admin'], age: 36, ratio: 0.5, none: null });
    assert.deepEqual(Object.keys(await s.data()), ['count', 'user']);
    assert.deepEqual(await s.remove('user'), { name: 'ada', roles: ['admin'], age: 36, ratio: 0.5, none: null });
    assert.equal(await s.remove('user'), undefined);
    assert.deepEqual(await s.data(), { count: 40 });
    const again = await rt.session(s.id);
    assert.equal(await again.get('count'), 40);
  });

  test('expiresAt is about ttl ahead', async () => {
    const s = await rt.createSession();
    const at = await s.expiresAt();
    assert.ok(at instanceof Date);
    assert.ok(Math.abs(at.getTime() - (Date.now() + 24 * 3600 * 1000)) < 5_000, `expires at ${at.toISOString()}`);
  });

  test('update runs a transaction: edits in place, resolves its result', async () => {
    const s = await rt.createSession();
    await s.set('items', ['a']);
    const length = await s.update(async (data) => {
      data.items.push('b');
      data.touched = true;
      return data.items.length;
    });
    assert.equal(length, 2);
    assert.deepEqual(await s.data(), { items: ['a', 'b'], touched: true });
    assert.equal(await s.update((data) => void (data.n = 1)), undefined);
    assert.equal(await s.get('n'), 1);
  });

  test('update loses no concurrent update (50 at once)', async () => {
    const s = await rt.createSession();
    await Promise.all(
      Array.from({ length: 50 }, () =>
        s.update(async (data) => {
          await sleep(1);
          data.n = (data.n ?? 0) + 1;
        }),
      ),
    );
    assert.equal(await s.get('n'), 50);
  });

  test('an update function that throws writes nothing and rejects with its own error', async () => {
    const s = await rt.createSession();
    await s.set('n', 1);
    const mine = new RangeError('no thanks');
    await assert.rejects(
      s.update((data) => {
        data.n = 99;
        throw mine;
      }),
      (err) => err === mine,
    );
    assert.equal(await s.get('n'), 1);
  });

  test('ERR_CONFLICT: an update that another writer always beats gives up', async () => {
    const s = await rt.createSession();
    let runs = 0;
    await rejectsWith(
      s.update(async () => {
        runs++;
        await s.increment('other');
      }),
      ConflictError,
      'ERR_CONFLICT',
      /gave up after 64 attempts/,
    );
    assert.equal(runs, 64);
  });

  test('regenerate keeps the data under a new id; the old id is gone', async () => {
    const s = await rt.createSession();
    await s.set('user', 'ada');
    const next = await s.regenerate();
    assert.notEqual(next.id, s.id);
    assert.equal(await next.get('user'), 'ada');
    await rejectsWith(rt.session(s.id), SessionNotFoundError, 'ERR_SESSION_NOT_FOUND');
  });

  test('ERR_SESSION_NOT_FOUND: a destroyed session, from every method', async () => {
    const s = await rt.createSession();
    assert.equal(await s.destroy(), 0);
    await rejectsWith(rt.session(s.id), SessionNotFoundError, 'ERR_SESSION_NOT_FOUND', /^session not found$/);
    await rejectsWith(s.get('x'), SessionNotFoundError, 'ERR_SESSION_NOT_FOUND');
    await rejectsWith(s.set('x', 1), SessionNotFoundError, 'ERR_SESSION_NOT_FOUND');
    await rejectsWith(s.increment('x'), SessionNotFoundError, 'ERR_SESSION_NOT_FOUND');
    await rejectsWith(s.update(() => {}), SessionNotFoundError, 'ERR_SESSION_NOT_FOUND');
    await rejectsWith(s.regenerate(), SessionNotFoundError, 'ERR_SESSION_NOT_FOUND');
  });

  test('ERR_INVALID_SESSION_ID: text that is not a session id', async () => {
    for (const id of ['', 'nope', 'x'.repeat(22) + '=', '../../etc']) {
      await rejectsWith(rt.session(id), InvalidSessionIdError, 'ERR_INVALID_SESSION_ID', /^invalid session id$/);
      await rejectsWith(rt.notifySession(id, 'e', 1), InvalidSessionIdError, 'ERR_INVALID_SESSION_ID');
      await rejectsWith(rt.destroySession(id), InvalidSessionIdError, 'ERR_INVALID_SESSION_ID');
      assert.throws(() => rt.issueToken(id, 1000), InvalidSessionIdError);
    }
  });

  test('ERR_INVALID_VALUE: wrong types and values', async () => {
    const s = await rt.createSession();
    await s.set('name', 'ada');
    await rejectsWith(s.increment('name'), InvalidValueError, 'ERR_INVALID_VALUE', /`name` is not an integer/);
    await rejectsWith(s.increment('n', 1.5), InvalidValueError, 'ERR_INVALID_VALUE');
    await s.set('big', Number.MAX_SAFE_INTEGER);
    await s.increment('big', Number.MAX_SAFE_INTEGER);
    await s.set('max', 9_007_199_254_740_991);
    await rejectsWith(s.set('bytes', Buffer.from('x')), InvalidValueError, 'ERR_INVALID_VALUE', /cannot be stored in a session/);
    await rejectsWith(s.set('sym', Symbol('x')), InvalidValueError, 'ERR_INVALID_VALUE', /Symbol/);
    await rejectsWith(s.set('nothing', undefined), InvalidValueError, 'ERR_INVALID_VALUE', /use remove/);
    await rejectsWith(s.set(42, 'x'), InvalidValueError, 'ERR_INVALID_VALUE');
    const cyclic = {};
    cyclic.self = cyclic;
    await rejectsWith(s.set('cyclic', cyclic), InvalidValueError, 'ERR_INVALID_VALUE', /nested deeper/);
    await rejectsWith(s.update((d) => void (d.huge = 10n ** 30n)), InvalidValueError, 'ERR_INVALID_VALUE', /BigInt/);
    assert.throws(() => rt.issueToken(s.id, 0), (e) => e instanceof InvalidValueError && /ttl must be positive/.test(e.message));
    assert.throws(() => rt.issueToken(s.id, '1000'), InvalidValueError);
    await rejectsWith(rt.notifySession(s.id, 42, 1), InvalidValueError, 'ERR_INVALID_VALUE');
    assert.deepEqual(Object.keys(await s.data()), ['name', 'big', 'max'], 'a refused write wrote something');
  });

  test('ERR_SESSION_EXPIRED: a session past its ttl', async (t) => {
    const short = await SessionIo.start({ secret: SECRET, ttlMs: 100 });
    t.after(() => short.close());
    const s = await short.createSession();
    await sleep(200);
    await rejectsWith(s.get('x'), SessionExpiredError, 'ERR_SESSION_EXPIRED', /^session expired$/);
    await rejectsWith(short.session(s.id), SessionExpiredError, 'ERR_SESSION_EXPIRED');
    await rejectsWith(s.increment('x'), SessionExpiredError, 'ERR_SESSION_EXPIRED');
  });

  test('notifySession reaches every socket of the session and answers how many', async (t) => {
    const clients = new Clients(t);
    const s = await rt.createSession();
    const other = await rt.createSession();
    assert.equal(await rt.notifySession(s.id, 'ping', 1), 0, 'a session without sockets reaches 0');
    const a = await connectSession(clients, rt, s);
    const b = await connectSession(clients, rt, s);
    const o = await connectSession(clients, rt, other);
    let otherGot = 0;
    o.on('news', () => otherGot++);
    const got = Promise.all([nextEvent(a, 'news'), nextEvent(b, 'news')]);
    assert.equal(await rt.notifySession(s.id, 'news', { n: 1, text: 'hi' }), 2);
    assert.deepEqual(await got, [[{ n: 1, text: 'hi' }], [{ n: 1, text: 'hi' }]]);
    assert.equal(await s.notify('news', 'via the session'), 2);
    assert.equal(await rt.notifySession(s.id, 'news'), 2, 'data is optional');
    await sleep(100);
    assert.equal(otherGot, 0, 'another session was notified');
    assert.ok(rt.stats().sockets >= 3);
  });

  test('destroySession disconnects every socket of the session and answers how many', async (t) => {
    const clients = new Clients(t);
    const s = await rt.createSession();
    const sockets = [await connectSession(clients, rt, s), await connectSession(clients, rt, s)];
    const reasons = Promise.all(sockets.map((sock) => nextEvent(sock, 'disconnect').then(([reason]) => reason)));
    assert.equal(await rt.destroySession(s.id), 2);
    assert.deepEqual(await reasons, ['io server disconnect', 'io server disconnect']);
    assert.equal(await rt.destroySession(s.id), 0, 'destroying again disconnects nobody');
    await rejectsWith(rt.session(s.id), SessionNotFoundError, 'ERR_SESSION_NOT_FOUND');
  });

  test('issueToken: a token connects to its session; a destroyed session refuses it', async (t) => {
    const clients = new Clients(t);
    const s = await rt.createSession();
    const token = rt.issueToken(s.id, 60_000);
    assert.equal(typeof token, 'string');
    assert.ok(token.length > 40);
    const sock = await clients.connect(rt.url, { token });
    assert.ok(sock.connected);
    await s.destroy();
    const err = await clients.connectError(rt.url, { token });
    assert.equal(err.message, 'invalid session');
    const expired = rt.issueToken((await rt.createSession()).id, 1);
    await sleep(20);
    assert.equal((await clients.connectError(rt.url, { token: expired })).message, 'session expired');
  });
});

describe('errors', () => {
  test('every engine code has its exported class', () => {
    const expected = {
      ERR_INVALID_CONFIG: InvalidConfigError,
      ERR_SESSION_NOT_FOUND: SessionNotFoundError,
      ERR_SESSION_EXPIRED: SessionExpiredError,
      ERR_INVALID_SESSION_ID: InvalidSessionIdError,
      ERR_STORE_UNAVAILABLE: StoreUnavailableError,
      ERR_CONFLICT: ConflictError,
      ERR_INVALID_VALUE: InvalidValueError,
      ERR_SERVER: ServerError,
      ERR_TOO_MANY_SESSIONS: TooManySessionsError,
    };
    assert.deepEqual(Object.values(ErrorCode).sort(), Object.keys(expected).sort());
    for (const [code, cls] of Object.entries(expected)) {
      // The native message format the addon uses (see src/errors.rs).
      const err = fromNative(new Error(`[${code} 503] some message`));
      assert.ok(err instanceof cls, code);
      assert.equal(err.code, code);
      assert.equal(err.status, 503);
      assert.equal(err.message, 'some message');
      assert.equal(sessionio[cls.name], cls);
    }
    const plain = new TypeError('unrelated');
    assert.equal(fromNative(plain), plain, 'other errors pass through');
  });

  test('the CommonJS and ESM entries export the same classes', async () => {
    const { createRequire } = await import('node:module');
    const cjs = createRequire(import.meta.url)('../index.js');
    assert.equal(cjs.SessionIo, SessionIo);
    assert.equal(cjs.InvalidConfigError, InvalidConfigError);
    assert.equal(cjs.HandlerError, HandlerError);
    assert.equal(sessionio.default, cjs);
  });

  test('HandlerError is a plain Error carrying the message for the client (no code), with an optional cause', () => {
    const cause = new Error('the detail that stays on the server');
    const err = new HandlerError('not allowed', { cause });
    assert.ok(err instanceof Error);
    assert.ok(!(err instanceof SessionIoError), 'a HandlerError is not an engine error');
    assert.equal(err.name, 'HandlerError');
    assert.equal(err.message, 'not allowed');
    assert.equal(err.cause, cause);
    assert.equal(err.code, undefined);
    assert.match(err.stack, /^HandlerError: not allowed/);
  });
});
