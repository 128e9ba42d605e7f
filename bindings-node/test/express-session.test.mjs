// express-session mode: sockets admitted by express-session's own cookie, sessions read
// and written in express-session's own store, `express()` as the guard before it.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import express from 'express';
import session from 'express-session';
import { SessionIo, InvalidConfigError, StoreUnavailableError } from '../index.mjs';
import { Clients, nextEvent, ack } from './helpers.mjs';

/** cookie-signature's sign(), URL-encoded as express-session sets it. */
function signedCookie(sid, secret) {
  const sig = createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '');
  return `connect.sid=${encodeURIComponent(`s:${sid}.${sig}`)}`;
}

/**
 * An express-session store whose every call answers a few ms later, as a database's does:
 * `get` answers what was stored when it answers, `set` stores when it answers, so calls
 * in flight interleave. `touch: 'absent'` leaves out the optional `touch`;
 * `touch: 'rewrites'` gives one that saves the whole session it is given, as `set` does.
 */
function asyncStore({ touch }) {
  const sessions = new Map();
  const later = (fn) => setTimeout(fn, 1);
  const store = {
    sessions,
    get: (sid, cb) => later(() => cb(null, sessions.has(sid) ? JSON.parse(sessions.get(sid)) : null)),
    set: (sid, session, cb) => later(() => cb(null, sessions.set(sid, JSON.stringify(session)) && undefined)),
    destroy: (sid, cb) => later(() => cb(null, sessions.delete(sid) && undefined)),
  };
  if (touch === 'rewrites') store.touch = store.set;
  return store;
}

describe('finding 4: express-session mode loses no update to a touch', () => {
  for (const touch of ['absent', 'rewrites']) {
    test(`finding 4: a store with touch ${touch}: 200 socket increments while another socket sends no-op events, 0 lost`, async (t) => {
      const store = asyncStore({ touch });
      const rt = await SessionIo.start({ port: 0, expressSession: { store, secret: 'finding 4 secret' } });
      t.after(() => rt.close());
      rt.on('incr', (socket) => socket.session.increment('count'));
      rt.on('noop', () => 'ok');
      const sid = `finding-4-${touch}`;
      const maxAge = 60_000;
      store.sessions.set(sid, JSON.stringify({ cookie: { originalMaxAge: maxAge, expires: new Date(Date.now() + maxAge) }, count: 0 }));
      const cookie = signedCookie(sid, 'finding 4 secret');
      const clients = new Clients(t);
      const counter = await clients.connect(rt.url, { cookie });
      const idler = await clients.connect(rt.url, { cookie });
      let counting = true;
      let noops = 0;
      const idling = (async () => {
        while (counting) {
          assert.equal(await ack(idler, 'noop'), 'ok');
          noops += 1;
        }
      })();
      let last;
      try {
        for (let i = 0; i < 200; i += 1) last = await ack(counter, 'incr');
      } finally {
        counting = false;
        await idling;
      }
      assert.ok(noops > 20, `only ${noops} no-op events ran beside the increments`);
      assert.equal(last, 200, `the last ack was ${last}: ${200 - last} of 200 increments lost`);
      assert.equal(JSON.parse(store.sessions.get(sid)).count, 200);
    });
  }
});

describe('express-session mode', () => {
  let rt;
  let server;
  let base;
  const store = new session.MemoryStore();

  before(async () => {
    rt = await SessionIo.start({ port: 0, expressSession: { store, secret: ['new secret', 'old secret'] } });
    rt.on('incr', async (socket) => {
      const count = await socket.session.increment('count');
      await socket.session.notify('current count', count);
      return count;
    });
    const app = express();
    app.use(rt.express());
    app.use(session({ store, secret: ['new secret', 'old secret'], resave: false, saveUninitialized: true }));
    app.get('/', (req, res) => res.type('text').send(`${req.session.id} ${req.session.count ?? 0}`));
    app.post('/incr', async (req, res) => {
      const count = await (await rt.session(req.session.id)).increment('count');
      await rt.notifySession(req.session.id, 'current count', count);
      res.type('text').send(String(count));
    });
    // express-session's own calls, which reach its store without sessionio.
    app.post('/regenerate', (req, res, next) =>
      req.session.regenerate((err) => (err ? next(err) : res.type('text').send(req.session.id))),
    );
    app.post('/destroy', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.status(204).end())));
    app.post('/logout', async (req, res) => {
      await rt.destroySession(req.session.id);
      res.clearCookie('connect.sid').status(204).end();
    });
    await new Promise((resolve) => {
      server = app.listen(0, '127.0.0.1', resolve);
    });
    base = `http://127.0.0.1:${server.address().port}`;
  });

  after(async () => {
    server.closeAllConnections();
    server.close();
    await rt.close();
  });

  const http = (method, path, cookie) =>
    fetch(base + path, { method, headers: cookie ? { cookie } : {}, signal: AbortSignal.timeout(5_000) });

  /** A session made by express-session: its id and the cookie it set. */
  async function newSession() {
    const res = await http('GET', '/');
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('connect.sid=')).split(';')[0];
    const [sid] = (await res.text()).split(' ');
    return { sid, cookie };
  }

  test('a socket joins the express session; HTTP and socket increments share its count', async (t) => {
    const clients = new Clients(t);
    const { sid, cookie } = await newSession();
    const a = await clients.connect(rt.url, { cookie });
    const b = await clients.connect(rt.url, { cookie });
    assert.equal(a.connected && b.connected, true);
    const seen = nextEvent(b, 'current count');
    assert.equal(await (await http('POST', '/incr', cookie)).text(), '1');
    assert.deepEqual(await seen, [1]);
    assert.equal(await ack(a, 'incr'), 2);
    // express-session reads what sessionio wrote.
    assert.equal(await (await http('GET', '/', cookie)).text(), `${sid} 2`);
    // The connect is awaited too: the test must not end with a handshake in flight.
    const socketSession = new Promise((resolve) => rt.onConnection((s) => resolve(s.sessionId)));
    await clients.connect(rt.url, { cookie });
    assert.equal(await socketSession, sid);
  });

  test("a cookie signed with the rotated-out secret still in the list is accepted; a tampered one is refused", async (t) => {
    const clients = new Clients(t);
    const { sid } = await newSession();
    const old = signedCookie(sid, 'old secret');
    await clients.connect(rt.url, { cookie: old });
    assert.equal((await http('POST', '/incr', old)).status, 200);
    const tampered = old.replace(/.(;|$)/, (m) => (m[0] === 'A' ? 'B' : 'A') + m.slice(1));
    assert.notEqual(tampered, old);
    const err = await clients.connectError(rt.url, { cookie: tampered });
    assert.equal(err.message, 'invalid session');
    const res = await http('POST', '/incr', tampered);
    assert.equal(res.status, 401);
    assert.equal(await res.text(), 'invalid session');
    assert.match(res.headers.get('set-cookie'), /^connect\.sid=;/);
    assert.equal((await clients.connectError(rt.url, { cookie: signedCookie(sid, 'unknown secret') })).message, 'invalid session');
  });

  test('finding 9: of several connect.sid cookies, the handshake and the guard judge the first, the one express-session reads', async (t) => {
    // What express-session alone makes of a request: the session it reads, or a new one.
    const bare = express();
    bare.use(session({ store, secret: ['new secret', 'old secret'], resave: false, saveUninitialized: true }));
    bare.get('/', (req, res) => res.type('text').send(req.session.id));
    const bareServer = await new Promise((resolve) => {
      const s = bare.listen(0, '127.0.0.1', () => resolve(s));
    });
    t.after(() => {
      bareServer.closeAllConnections();
      bareServer.close();
    });
    const expressSessionReads = async (cookie) => {
      const res = await fetch(`http://127.0.0.1:${bareServer.address().port}/`, { headers: { cookie }, signal: AbortSignal.timeout(5_000) });
      return res.text();
    };
    const storedSessions = () => new Promise((resolve, reject) => store.length((e, n) => (e ? reject(e) : resolve(n))));

    const clients = new Clients(t);
    const { sid, cookie: valid } = await newSession();
    const forged = signedCookie(sid, 'not a secret of this app');
    const cases = [
      [`${forged}; ${valid}`, false],
      [`connect.sid=garbage; ${valid}`, false],
      [`${valid}; ${forged}`, true],
      [`${valid}; connect.sid=garbage`, true],
    ];
    for (const [cookie, readsTheSession] of cases) {
      assert.equal((await expressSessionReads(cookie)) === sid, readsTheSession, `express-session alone: ${cookie}`);
      const before = await storedSessions();
      const res = await http('GET', '/', cookie);
      if (readsTheSession) {
        assert.equal(res.status, 200, cookie);
        assert.equal((await res.text()).split(' ')[0], sid, cookie);
        const socketSession = new Promise((resolve) => rt.onConnection((s) => resolve(s.sessionId)));
        await clients.connect(rt.url, { cookie });
        assert.equal(await socketSession, sid, cookie);
      } else {
        assert.equal(res.status, 401, cookie);
        assert.equal(await res.text(), 'invalid session', cookie);
        assert.match(res.headers.get('set-cookie'), /^connect\.sid=;/, cookie);
        assert.equal((await clients.connectError(rt.url, { cookie })).message, 'invalid session', cookie);
      }
      assert.equal(await storedSessions(), before, `no session minted: ${cookie}`);
    }
  });

  test("express-session's own req.session.regenerate() and destroy() disconnect the old id's sockets", async (t) => {
    const clients = new Clients(t);
    for (const path of ['/regenerate', '/destroy']) {
      const { sid, cookie } = await newSession();
      const sockets = [await clients.connect(rt.url, { cookie }), await clients.connect(rt.url, { cookie })];
      const gone = sockets.map((s) => nextEvent(s, 'disconnect'));
      const res = await http('POST', path, cookie);
      assert.equal(res.ok, true, `${path}: ${res.status}`);
      for (const reason of await Promise.all(gone)) assert.deepEqual(reason[0], 'io server disconnect', path);
      assert.equal((await clients.connectError(rt.url, { cookie })).message, 'invalid session', path);
      assert.equal((await http('GET', '/', cookie)).status, 401, path);
      if (path === '/regenerate') {
        // The new id's cookie is express-session's, and admits sockets.
        const fresh = res.headers.getSetCookie().find((c) => c.startsWith('connect.sid=')).split(';')[0];
        const newSid = await res.text();
        assert.notEqual(newSid, sid);
        const socketSession = new Promise((resolve) => rt.onConnection((s) => resolve(s.sessionId)));
        await clients.connect(rt.url, { cookie: fresh });
        assert.equal(await socketSession, newSid);
      }
    }
  });

  test("a token issued by one process verifies in another given the same express-session options, not in another app's", async (t) => {
    const clients = new Clients(t);
    const { sid } = await newSession();
    const token = rt.issueToken(sid, 60_000);
    // A second engine with the same options, as another process of the app: it has never
    // seen this session.
    const other = await SessionIo.start({ port: 0, expressSession: { store, secret: ['new secret', 'old secret'] } });
    t.after(() => other.close());
    const socketSession = new Promise((resolve) => other.onConnection((s) => resolve(s.sessionId)));
    await clients.connect(other.url, { token });
    assert.equal(await socketSession, sid);
    const otherApp = await SessionIo.start({ port: 0, expressSession: { store, secret: 'another app' } });
    t.after(() => otherApp.close());
    assert.equal((await clients.connectError(otherApp.url, { token })).message, 'invalid session');
  });

  test('logout destroys the session in the store and disconnects its sockets; the cookie is refused after', async (t) => {
    const clients = new Clients(t);
    const { sid, cookie } = await newSession();
    const socket = await clients.connect(rt.url, { cookie });
    const gone = nextEvent(socket, 'disconnect');
    assert.equal((await http('POST', '/logout', cookie)).status, 204);
    assert.equal((await gone)[0], 'io server disconnect');
    assert.equal(await new Promise((r) => store.get(sid, (e, s) => r(s))), undefined);
    assert.equal((await http('GET', '/', cookie)).status, 401);
    assert.equal((await clients.connectError(rt.url, { cookie })).message, 'invalid session');
  });

  test("the session's cookie.expires is its expiry: sockets get \"session expired\" then are disconnected", async (t) => {
    const clients = new Clients(t);
    const sid = 'short-lived-session';
    const expires = new Date(Date.now() + 600);
    await new Promise((r) => store.set(sid, { cookie: { originalMaxAge: 600, expires: expires.toISOString() } }, r));
    const socket = await clients.connect(rt.url, { cookie: signedCookie(sid, 'new secret') });
    const told = nextEvent(socket, 'session expired', 3_000);
    const gone = nextEvent(socket, 'disconnect', 3_000);
    await told;
    assert.ok(Date.now() >= expires.getTime(), 'told before the expiry');
    assert.ok(Date.now() - expires.getTime() < 1_000, `told ${Date.now() - expires.getTime()} ms late`);
    assert.equal((await gone)[0], 'io server disconnect');
  });

  test('a store that fails gives "store unavailable"; bad options are InvalidConfigError', async (t) => {
    const failing = {
      get: (sid, cb) => cb(new Error('database is down')),
      set: (sid, s, cb) => cb(new Error('database is down')),
      destroy: (sid, cb) => cb(new Error('database is down')),
    };
    const down = await SessionIo.start({ port: 0, expressSession: { store: failing, secret: 'x' } });
    t.after(() => down.close());
    const clients = new Clients(t);
    const err = await clients.connectError(down.url, { cookie: signedCookie('some-session', 'x') });
    assert.equal(err.message, 'store unavailable');
    await assert.rejects(down.session('some-session'), StoreUnavailableError);
    for (const expressSession of [
      { secret: 'x' },
      { store, secret: '' },
      { store, secret: [] },
      { store: {}, secret: 'x' },
      { store, secret: 'x', nope: 1 },
      { store, secret: 'x', redisPrefix: 'p:' },
      { store, secret: 'x', redisUrl: 'http://nope' },
    ]) {
      await assert.rejects(SessionIo.start({ port: 0, expressSession }), InvalidConfigError, JSON.stringify(Object.keys(expressSession)));
    }
    await assert.rejects(
      SessionIo.start({ port: 0, store: 'memory://', expressSession: { store, secret: 'x' } }),
      /exclusive/,
    );
  });
});
