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
  InvalidConfigError,
  SessionNotFoundError,
  SessionExpiredError,
  InvalidSessionIdError,
  StoreUnavailableError,
  ConflictError,
  InvalidValueError,
  ServerError,
  ErrorCode,
} from '../index.mjs';
import { fromNative } from '../lib/errors.js';
import { SECRET, Clients, connectSession, nextEvent, sleep } from './helpers.mjs';

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

  const badOptions = [
    [{}, /a secret is required/],
    [{ secret: 'short' }, /secret #1 is 5 bytes/],
    [{ secret: SECRET, secrets: [SECRET] }, /either `secret` or `secrets`/],
    [{ secret: SECRET, ttl: 1000 }, /unknown option `ttl`/],
    [{ secret: SECRET, ttlMs: '1000' }, /option `ttlMs` must be/],
    [{ secret: SECRET, ttlMs: 0 }, /ttl must be at least 1 ms/],
    [{ secret: SECRET, ttlMs: -5 }, /option `ttlMs` must be/],
    [{ secret: SECRET, port: 70_000 }, /option `port` must be/],
    [{ secret: SECRET, host: 'not an address' }, /option `host` must be/],
    [{ secret: SECRET, allowedOrigins: ['*'] }, /wildcard/],
    [{ secret: SECRET, allowedOrigins: 'http://a.test' }, /must be an array of strings/],
    [{ secret: SECRET, sameSite: 'none', cookieSecure: false }, /SameSite=None requires a Secure cookie/],
    [{ secret: SECRET, sameSite: 'sideways' }, /"lax", "strict" or "none"/],
    [{ secret: SECRET, store: 'mysql://db' }, /unknown store URL/],
    [{ secret: SECRET, maxConnectionsPerSession: 0 }, /at least 1/],
    [{ secret: SECRET, cookieSecure: 'yes' }, /must be a boolean/],
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
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const store = `sqlite://${join(dir, 'sessions.db')}`;

    const first = await SessionIo.start({ secret: SECRET, store });
    const session = await first.createSession();
    await session.set('user', 'ada');
    await first.close();

    const second = await SessionIo.start({ secret: SECRET, store });
    t.after(() => second.close());
    const again = await second.session(session.id);
    assert.equal(await again.get('user'), 'ada');
    await rejectsWith(SessionIo.start({ secret: SECRET, store: 'mysql://x' }), InvalidConfigError, 'ERR_INVALID_CONFIG', /unknown store URL/);
  });
});

describe('store option: redis', () => {
  test("store: 'redis://…' keeps sessions in Redis, shared by two engines", async (t) => {
    const { spawn } = await import('node:child_process');
    const { connect } = await import('node:net');
    const port = await new Promise((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port: p } = srv.address();
        srv.close(() => resolve(p));
      });
    });
    // Our own redis-server on a free port (Debian package redis-server; the test command installs it).
    const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => redis.once('exit', resolve));
    t.after(async () => {
      redis.kill('SIGKILL');
      await exited;
    });
    redis.once('error', (e) => assert.fail(`cannot run redis-server: ${e.message}`));
    for (let i = 0; ; i++) {
      const up = await new Promise((resolve) => {
        const c = connect(port, '127.0.0.1', () => {
          c.destroy();
          resolve(true);
        });
        c.once('error', () => resolve(false));
      });
      if (up) break;
      assert.ok(i < 100, 'redis-server did not listen within 5 s');
      await sleep(50);
    }
    const store = `redis://127.0.0.1:${port}`;
    const a = await SessionIo.start({ secret: SECRET, store });
    t.after(() => a.close());
    const b = await SessionIo.start({ secret: SECRET, store });
    t.after(() => b.close());
    const session = await a.createSession();
    await session.set('user', 'ada');
    assert.equal(await (await b.session(session.id)).increment('visits'), 1);
    assert.equal(await session.get('visits'), 1);
    assert.equal(await (await b.session(session.id)).get('user'), 'ada');
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
    };
    assert.deepEqual(Object.values(ErrorCode).sort(), Object.keys(expected).sort());
    for (const [code, cls] of Object.entries(expected)) {
      // The native message format the addon uses (see src/errors.rs).
      const err = fromNative(new Error(`[${code}] some message`));
      assert.ok(err instanceof cls, code);
      assert.equal(err.code, code);
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
    assert.equal(sessionio.default, cjs);
  });
});

async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}
