// `rt.express()`: the engine's sessions in an Express app (cookie in, Set-Cookie out,
// refusals answered with their status and message).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import express from 'express';
import { SessionIo, Session } from '../index.mjs';
import { SECRET, COOKIE_NAME, Clients, sessionCookieHeader, nextEvent } from './helpers.mjs';

/** One HTTP client that keeps the session cookie, like a browser. */
class Browser {
  constructor(base) {
    this.base = base;
    this.cookie = null;
  }
  async send(method, path, { cookie = this.cookie, headers = {} } = {}) {
    const res = await fetch(this.base + path, {
      method,
      headers: cookie ? { ...headers, cookie } : headers,
      signal: AbortSignal.timeout(5_000),
    });
    const setCookies = res.headers.getSetCookie().filter((c) => c.startsWith(`${COOKIE_NAME}=`));
    for (const c of setCookies) this.cookie = /Max-Age=0/i.test(c) ? null : sessionCookieHeader(c);
    return { status: res.status, body: await res.text(), setCookies, type: res.headers.get('content-type') };
  }
}

describe('express middleware', () => {
  let rt;
  let server;
  let base;
  before(async () => {
    rt = await SessionIo.start({ secret: SECRET, cookieSecure: false, ttlMs: 60_000 });
    const app = express();
    app.post('/logout', rt.express({ optional: true }), async (req, res) => {
      if (req.session) await req.session.destroy();
      res.json({ refusal: req.sessionRefusal, session: req.session, sessionId: req.sessionId });
    });
    app.use(rt.express());
    app.get('/whoami', (req, res) => {
      res.json({ sessionId: req.sessionId, isSession: req.session instanceof Session, same: req.session.id === req.sessionId });
    });
    app.get('/page', async (req, res) => {
      await req.session.save();
      res.type('text').send(req.sessionId);
    });
    app.post('/incr', async (req, res) => {
      const n = await req.session.increment('count');
      await req.session.notify('current count', n);
      res.type('text').send(String(n));
    });
    app.post('/login', async (req, res) => {
      const before = req.sessionId;
      const next = await req.session.regenerate();
      await req.session.set('user', 'ada');
      res.json({ before, after: req.sessionId, returned: next.id });
    });
    app.post('/destroy-after-create', async (req, res) => {
      await req.session.destroy();
      res.status(204).end();
    });
    server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${server.address().port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rt.close();
  });

  test('finding 2: a request without cookie that does not write the session gets no Set-Cookie and stores nothing', async () => {
    const capped = await SessionIo.start({ secret: SECRET, cookieSecure: false, ttlMs: 60_000, maxSessions: 1 });
    const app = express().use(capped.express());
    app.get('/health', (req, res) => res.type('text').send('ok'));
    app.get('/count', async (req, res) => res.type('text').send(String((await req.session.get('count')) ?? 0)));
    app.post('/incr', async (req, res) => res.type('text').send(String(await req.session.increment('count'))));
    // Express 5 hands a rejected route to the error handler: answer the engine's status.
    app.use((err, req, res, next) => res.status(err.status ?? 500).type('text').send(err.message));
    const srv = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const url = `http://127.0.0.1:${srv.address().port}`;
      for (let i = 0; i < 20; i++) {
        for (const path of ['/health', '/count']) {
          const r = await new Browser(url).send('GET', path);
          assert.equal(r.status, 200, `${path}: ${r.body}`);
          assert.deepEqual(r.setCookies, [], `GET ${path} without cookie set a cookie`);
        }
      }
      // Had those requests stored sessions, maxSessions: 1 would refuse this one.
      const writer = new Browser(url);
      const first = await writer.send('POST', '/incr');
      assert.equal(first.body, '1');
      assert.equal(first.setCookies.length, 1, 'the first write sets the cookie');
      const refused = await new Browser(url).send('POST', '/incr');
      assert.equal(refused.status, 503);
      assert.equal(refused.body, 'too many sessions');
      assert.deepEqual(refused.setCookies, []);
      await assert.rejects(capped.createSession(), (err) => {
        assert.equal(err.name, 'TooManySessionsError');
        assert.equal(err.code, 'ERR_TOO_MANY_SESSIONS');
        assert.equal(err.status, 503);
        assert.equal(err.message, 'too many sessions');
        return true;
      });
      assert.equal((await writer.send('POST', '/incr')).body, '2', 'the stored session is served');
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
      await capped.close();
    }
  });

  test('a request without cookie gets a new session, stored with its cookie by save(); the cookie brings it back', async () => {
    const b = new Browser(base);
    const read = await b.send('GET', '/whoami');
    assert.equal(read.status, 200);
    assert.deepEqual(read.setCookies, [], 'a request that only reads gets no cookie');
    const first = await b.send('GET', '/page');
    assert.equal(first.status, 200);
    assert.equal(first.setCookies.length, 1);
    assert.match(first.setCookies[0], /^sessionio\.sid=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}; /);
    assert.match(first.setCookies[0], /HttpOnly/);
    assert.match(first.setCookies[0], /SameSite=Lax/);
    assert.doesNotMatch(first.setCookies[0], /Secure/);
    const second = await b.send('GET', '/whoami');
    assert.equal(second.setCookies.length, 0, 'a valid cookie gets no new cookie');
    const me = JSON.parse(second.body);
    assert.deepEqual(me, { sessionId: first.body, isSession: true, same: true });
  });

  test('cross-site request forgery: a POST from a foreign Origin or with Sec-Fetch-Site: cross-site gets 403 "origin not allowed", nothing written, the cookie kept', async () => {
    const b = new Browser(base);
    assert.equal((await b.send('POST', '/incr')).body, '1');
    for (const headers of [{ origin: 'http://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }]) {
      const refused = await b.send('POST', '/incr', { headers });
      assert.deepEqual([refused.status, refused.body, refused.setCookies], [403, 'origin not allowed', []], JSON.stringify(headers));
    }
    const sameOrigin = await b.send('POST', '/incr', { headers: { origin: 'http://evil.example', 'sec-fetch-site': 'same-origin' } });
    assert.equal(sameOrigin.body, '2');
    assert.equal((await b.send('GET', '/whoami', { headers: { origin: 'http://evil.example' } })).status, 200);
  });

  test('req.session writes are atomic and notify the session\'s sockets', async (t) => {
    const clients = new Clients(t);
    const b = new Browser(base);
    await b.send('GET', '/page');
    const sock = await clients.connect(rt.url, { cookie: b.cookie });
    const notified = nextEvent(sock, 'current count');
    const bodies = await Promise.all(Array.from({ length: 20 }, () => b.send('POST', '/incr')));
    assert.deepEqual(bodies.map((r) => Number(r.body)).sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.equal(typeof (await notified)[0], 'number');
    assert.equal((await b.send('POST', '/incr')).body, '21');
  });

  for (const [label, cookie] of [
    ['garbage', `${COOKIE_NAME}=garbage`],
    ['forged', `${COOKIE_NAME}=AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`],
  ]) {
    test(`a ${label} cookie is refused: 401 "invalid session", text body, clearing cookie`, async () => {
      const r = await new Browser(base).send('GET', '/whoami', { cookie });
      assert.equal(r.status, 401);
      assert.equal(r.body, 'invalid session');
      assert.match(r.type, /^text\/plain/);
      assert.equal(r.setCookies.length, 1);
      assert.match(r.setCookies[0], /Max-Age=0/);
    });
  }

  test('a destroyed session\'s cookie is refused; optional routes pass it on with req.sessionRefusal', async () => {
    const b = new Browser(base);
    await b.send('POST', '/incr');
    const old = b.cookie;
    const out = await b.send('POST', '/logout');
    assert.equal(out.status, 200);
    assert.deepEqual(JSON.parse(out.body), { refusal: null, session: null, sessionId: null });
    assert.equal(out.setCookies.length, 1);
    assert.match(out.setCookies[0], /Max-Age=0/, 'destroy() clears the cookie');
    const refused = await b.send('POST', '/incr', { cookie: old });
    assert.equal(refused.status, 401);
    assert.equal(refused.body, 'invalid session');
    const optional = await b.send('POST', '/logout', { cookie: old });
    assert.equal(optional.status, 200);
    assert.deepEqual(JSON.parse(optional.body).refusal, { status: 401, message: 'invalid session' });
    assert.match(optional.setCookies[0], /Max-Age=0/);
  });

  test('an expired session\'s cookie is refused with 401 "session expired"', async (t) => {
    const short = await SessionIo.start({ secret: SECRET, cookieSecure: false, ttlMs: 100 });
    t.after(() => short.close());
    const app = express().use(short.express()).get('/', async (req, res) => {
      await req.session.save();
      res.send(req.sessionId);
    });
    const srv = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    t.after(() => new Promise((r) => (srv.closeAllConnections(), srv.close(r))));
    const b = new Browser(`http://127.0.0.1:${srv.address().port}`);
    await b.send('GET', '/');
    const cookie = b.cookie;
    await new Promise((r) => setTimeout(r, 200));
    const r = await b.send('GET', '/', { cookie });
    assert.equal(r.status, 401);
    assert.equal(r.body, 'session expired');
    assert.match(r.setCookies[0], /Max-Age=0/);
  });

  test('regenerate() moves req.session to a new id, sets its cookie and disconnects the old id\'s sockets', async (t) => {
    const clients = new Clients(t);
    const b = new Browser(base);
    await b.send('POST', '/incr');
    const oldCookie = b.cookie;
    const sock = await clients.connect(rt.url, { cookie: oldCookie });
    const kicked = nextEvent(sock, 'disconnect');
    const r = await b.send('POST', '/login');
    const body = JSON.parse(r.body);
    assert.notEqual(body.after, body.before);
    assert.equal(body.returned, body.after);
    assert.equal(r.setCookies.length, 1);
    assert.ok(r.setCookies[0].startsWith(`${COOKIE_NAME}=${body.after}.`), r.setCookies[0]);
    assert.equal((await kicked)[0], 'io server disconnect');
    assert.equal((await b.send('POST', '/incr')).body, '2', 'the data followed the new id');
    const newCookie = b.cookie;
    assert.equal((await new Browser(base).send('GET', '/whoami', { cookie: oldCookie })).status, 401);
    const again = await clients.connect(rt.url, { cookie: newCookie });
    assert.equal(again.connected, true);
  });

  test('node:http, res.end() without writeHead: the engine\'s final cookie replaces an earlier one, other cookies stay', async (t) => {
    const mw = rt.express();
    const srv = createServer((req, res) => {
      mw(req, res, async () => {
        res.setHeader('set-cookie', ['theme=dark', `${COOKIE_NAME}=stale`]);
        if (req.url === '/login') await req.session.regenerate();
        res.end(req.sessionId);
      });
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    t.after(() => new Promise((r) => (srv.closeAllConnections(), srv.close(r))));
    const res = await fetch(`http://127.0.0.1:${srv.address().port}/login`, { signal: AbortSignal.timeout(5_000) });
    const id = await res.text();
    const cookies = res.headers.getSetCookie();
    assert.equal(cookies.length, 2, cookies.join(' | '));
    assert.equal(cookies[0], 'theme=dark');
    assert.ok(cookies[1].startsWith(`${COOKIE_NAME}=${id}.`), 'the regenerated session\'s cookie, not the first one');
  });

  test('a session never stored and destroyed in its request sends no cookie; a stored one is cleared', async () => {
    const r = await new Browser(base).send('POST', '/destroy-after-create');
    assert.equal(r.status, 204);
    assert.deepEqual(r.setCookies, []);
    const b = new Browser(base);
    await b.send('GET', '/page');
    const stored = await b.send('POST', '/destroy-after-create');
    assert.equal(stored.setCookies.length, 1);
    assert.match(stored.setCookies[0], /Max-Age=0/);
  });
});
