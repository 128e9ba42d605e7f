// Users across sessions from JavaScript: Session#login/logout/userId, the engine's calls on
// every session of a user (notifyUser, userSessions, destroyUserSession, destroyUser,
// userIndexSize), socket.userId, and the Express middleware reporting the client.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import { SessionIo, Session, SessionIoError, InvalidConfigError, InvalidValueError, SessionNotFoundError } from '../index.mjs';
import { SECRET, COOKIE_NAME, Clients, connectSession, nextEvent, ack, sleep, sessionCookieHeader } from './helpers.mjs';

/** Asserts that `promise` rejects with an instance of `cls` whose code is `code`. */
async function rejectsWith(promise, cls, code, message) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${err?.name}: ${err?.message}`);
    assert.ok(err instanceof SessionIoError);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

let users = 0;
/** A user id no other test uses (the engine is shared). */
const newUser = (name = 'ada') => `${name}-${process.pid}-${++users}`;

describe('users across sessions', () => {
  let rt;
  before(async () => {
    rt = await SessionIo.start({ secret: SECRET, ttlMs: 60_000 });
    rt.on('whoami', (socket) => ({ userId: socket.userId, sessionId: socket.sessionId }));
  });
  after(() => rt.close());

  /** A stored session logged in as `user`, with `data` set before the login. */
  async function loggedIn(user, data = {}) {
    const s = await rt.createSession();
    for (const [k, v] of Object.entries(data)) await s.set(k, v);
    return s.login(user);
  }

  test('login() gives the session a new id bound to the user; the data is kept and the old id is gone', async () => {
    const user = newUser();
    const s = await rt.createSession();
    await s.set('count', 3);
    assert.equal(await s.userId(), null);
    const next = await s.login(user);
    assert.ok(next instanceof Session);
    assert.notEqual(next.id, s.id);
    assert.equal(await next.userId(), user);
    assert.equal(await next.get('count'), 3);
    await rejectsWith(rt.session(s.id), SessionNotFoundError, 'ERR_SESSION_NOT_FOUND');
    await rejectsWith(s.userId(), SessionNotFoundError, 'ERR_SESSION_NOT_FOUND');
    assert.equal(await (await rt.session(next.id)).userId(), user);
  });

  test('logout() gives a new id, unbinds the user and keeps the data; the session leaves the user\'s list', async () => {
    const user = newUser();
    const s = await loggedIn(user, { count: 5 });
    assert.equal((await rt.userSessions(user)).length, 1);
    const out = await s.logout();
    assert.notEqual(out.id, s.id);
    assert.equal(await out.userId(), null);
    assert.equal(await out.get('count'), 5);
    await rejectsWith(rt.session(s.id), SessionNotFoundError, 'ERR_SESSION_NOT_FOUND');
    assert.deepEqual(await rt.userSessions(user), []);
  });

  test('a login closes the old id\'s sockets; a socket of the new id has socket.userId, one of a session without login null', async (t) => {
    const clients = new Clients(t);
    const user = newUser();
    const s = await rt.createSession();
    const before = await connectSession(clients, rt, s);
    assert.deepEqual(await ack(before, 'whoami'), { userId: null, sessionId: s.id });
    const kicked = nextEvent(before, 'disconnect');
    const next = await s.login(user);
    assert.equal((await kicked)[0], 'io server disconnect');
    const after = await connectSession(clients, rt, next);
    assert.deepEqual(await ack(after, 'whoami'), { userId: user, sessionId: next.id });
  });

  test('notifyUser() reaches every socket of every session of the user and none of another user\'s; resolves the count', async (t) => {
    const clients = new Clients(t);
    const user = newUser();
    const phone = await loggedIn(user);
    const laptop = await loggedIn(user);
    const other = await loggedIn(newUser('bob'));
    const mine = [
      await connectSession(clients, rt, phone),
      await connectSession(clients, rt, phone),
      await connectSession(clients, rt, laptop),
    ];
    const theirs = await connectSession(clients, rt, other);
    const got = [];
    theirs.on('user message', (m) => got.push(m));
    const received = mine.map((s) => nextEvent(s, 'user message'));
    assert.equal(await rt.notifyUser(user, 'user message', { text: 'hello' }), 3);
    for (const r of received) assert.deepEqual(await r, [{ text: 'hello' }]);
    await sleep(200);
    assert.deepEqual(got, []);
    assert.equal(await rt.notifyUser(newUser('nobody'), 'user message', 'x'), 0);
  });

  test('userSessions() lists the user\'s live sessions, oldest first, under handles that are not session ids', async (t) => {
    const user = newUser();
    const t0 = Date.now();
    const first = await loggedIn(user);
    await sleep(5);
    const second = await loggedIn(user);
    const list = await rt.userSessions(user);
    assert.equal(list.length, 2);
    for (const entry of list) {
      assert.deepEqual(Object.keys(entry).sort(), ['address', 'createdAt', 'handle', 'lastSeen', 'sockets', 'userAgent']);
      assert.equal(typeof entry.handle, 'string');
      assert.ok(entry.handle.length >= 16, entry.handle);
      for (const id of [first.id, second.id]) {
        assert.notEqual(entry.handle, id);
        assert.ok(!id.includes(entry.handle) && !entry.handle.includes(id));
      }
      assert.ok(entry.createdAt instanceof Date && entry.lastSeen instanceof Date);
      assert.ok(entry.createdAt.getTime() >= t0 - 1_000 && entry.createdAt.getTime() <= Date.now() + 1_000);
      assert.ok(entry.lastSeen.getTime() >= entry.createdAt.getTime());
      // Made outside any HTTP request: no client to show.
      assert.equal(entry.userAgent, null);
      assert.equal(entry.address, null);
      assert.equal(entry.sockets, 0);
    }
    assert.notEqual(list[0].handle, list[1].handle);
    assert.ok(list[0].createdAt <= list[1].createdAt, 'oldest login first');
    // The sockets column counts the connected ones.
    const clients = new Clients(t);
    await connectSession(clients, rt, second);
    await connectSession(clients, rt, second);
    const again = await rt.userSessions(user);
    assert.deepEqual(again.map((e) => e.handle), list.map((e) => e.handle), 'handles are stable');
    assert.deepEqual(again.map((e) => e.sockets), [0, 2]);
    assert.deepEqual(await rt.userSessions(newUser('nobody')), []);
  });

  test('destroyUserSession() signs out that session (its sockets too): true; false for an unknown handle or another user\'s', async (t) => {
    const clients = new Clients(t);
    const user = newUser();
    const phone = await loggedIn(user);
    const laptop = await loggedIn(user);
    const bob = newUser('bob');
    await loggedIn(bob);
    const phoneSocket = await connectSession(clients, rt, phone);
    // Logins of the same millisecond list in no set order: the phone's has the socket.
    const phoneEntry = (await rt.userSessions(user)).find((e) => e.sockets === 1);
    assert.ok(phoneEntry);
    assert.equal(await rt.destroyUserSession(bob, phoneEntry.handle), false, "another user's handle");
    assert.equal(await rt.destroyUserSession(user, 'no-such-handle-at-all'), false);
    const kicked = nextEvent(phoneSocket, 'disconnect');
    assert.equal(await rt.destroyUserSession(user, phoneEntry.handle), true);
    assert.equal((await kicked)[0], 'io server disconnect');
    await rejectsWith(rt.session(phone.id), SessionNotFoundError, 'ERR_SESSION_NOT_FOUND');
    assert.equal(await rt.destroyUserSession(user, phoneEntry.handle), false, 'already signed out');
    const left = await rt.userSessions(user);
    assert.equal(left.length, 1);
    assert.equal(await laptop.userId(), user, 'the other session is untouched');
    assert.equal((await rt.userSessions(bob)).length, 1);
  });

  test('destroyUser() destroys every session of the user but `except`; resolves how many', async (t) => {
    const clients = new Clients(t);
    const user = newUser();
    const sessions = [await loggedIn(user), await loggedIn(user), await loggedIn(user)];
    const bob = newUser('bob');
    const bobs = await loggedIn(bob);
    const kicked = nextEvent(await connectSession(clients, rt, sessions[0]), 'disconnect');
    const kept = await connectSession(clients, rt, sessions[2]);
    assert.equal(await rt.destroyUser(user, { except: sessions[2].id }), 2);
    assert.equal((await kicked)[0], 'io server disconnect');
    for (const s of sessions.slice(0, 2)) await rejectsWith(rt.session(s.id), SessionNotFoundError, 'ERR_SESSION_NOT_FOUND');
    assert.equal(kept.connected, true);
    assert.equal(await sessions[2].userId(), user);
    assert.equal((await rt.userSessions(user)).length, 1);
    assert.equal(await rt.destroyUser(user), 1);
    assert.deepEqual(await rt.userSessions(user), []);
    assert.equal(await rt.destroyUser(user), 0);
    assert.equal(await bobs.userId(), bob, 'another user is untouched');
  });

  test('userIndexSize() counts the users and sessions of the user index', async () => {
    const before = await rt.userIndexSize();
    assert.ok(Number.isInteger(before.users) && Number.isInteger(before.sessions));
    const user = newUser();
    const a = await loggedIn(user);
    await loggedIn(user);
    assert.deepEqual(await rt.userIndexSize(), { users: before.users + 1, sessions: before.sessions + 2 });
    await a.destroy();
    assert.deepEqual(await rt.userIndexSize(), { users: before.users + 1, sessions: before.sessions + 1 });
    await rt.destroyUser(user);
    assert.deepEqual(await rt.userIndexSize(), before);
  });

  test('a bad user id is an InvalidValueError (ERR_INVALID_VALUE, status 400) from every call, and changes nothing', async () => {
    const s = await rt.createSession();
    for (const bad of ['', 'u'.repeat(257), 'a\nb', 'nul\u0000']) {
      const invalid = (p) => rejectsWith(p, InvalidValueError, 'ERR_INVALID_VALUE', /user id/);
      await invalid(s.login(bad));
      await invalid(rt.notifyUser(bad, 'e', 1));
      await invalid(rt.userSessions(bad));
      await invalid(rt.destroyUser(bad));
      await invalid(rt.destroyUserSession(bad, 'h'));
      await assert.rejects(s.login(bad), (err) => err.status === 400);
    }
    // The longest user id is 256 bytes.
    assert.equal(await (await (await rt.createSession()).login('u'.repeat(256))).userId(), 'u'.repeat(256));
    // Not a string: refused in JavaScript with the same class.
    for (const call of [() => s.login(42), () => rt.notifyUser(null, 'e'), () => rt.userSessions({}), () => rt.destroyUser(1)]) {
      await rejectsWith(call(), InvalidValueError, 'ERR_INVALID_VALUE');
    }
    await rejectsWith(rt.destroyUser('ada', { except: 7 }), InvalidValueError, 'ERR_INVALID_VALUE');
    await rejectsWith(rt.destroyUserSession('ada', null), InvalidValueError, 'ERR_INVALID_VALUE');
    // The session was not rotated by the refused logins.
    assert.equal(await (await rt.session(s.id)).userId(), null);
  });
});

describe('users across sessions through the Express middleware', () => {
  let rt;
  let server;
  let base;
  before(async () => {
    rt = await SessionIo.start({ secret: SECRET, cookieSecure: false, ttlMs: 60_000 });
    const app = express().use(rt.express());
    app.post('/login', express.urlencoded({ extended: false }), async (req, res) => {
      const before = req.sessionId;
      const returned = await req.session.login(req.body.user);
      res.json({ before, after: req.sessionId, returned: returned.id, userId: await req.session.userId() });
    });
    app.post('/logout-user', async (req, res) => {
      const before = req.sessionId;
      await req.session.logout();
      res.json({ before, after: req.sessionId, userId: await req.session.userId() });
    });
    app.get('/me', async (req, res) => res.json({ userId: await req.session.userId(), sessionId: req.sessionId }));
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

  async function send(method, path, { cookie, body, headers = {} } = {}) {
    const res = await fetch(base + path, {
      method,
      body,
      headers: { ...headers, ...(cookie ? { cookie } : {}), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      signal: AbortSignal.timeout(5_000),
    });
    const setCookies = res.headers.getSetCookie().filter((c) => c.startsWith(`${COOKIE_NAME}=`));
    return { status: res.status, text: await res.text(), setCookies };
  }

  test('req.session.login() moves req.session to the new id and the response sets its cookie; the old cookie is refused', async () => {
    const user = newUser();
    const r = await send('POST', '/login', { body: `user=${user}`, headers: { 'user-agent': 'phone-browser/1.0' } });
    assert.equal(r.status, 200, r.text);
    const body = JSON.parse(r.text);
    assert.notEqual(body.after, body.before);
    assert.equal(body.returned, body.after);
    assert.equal(body.userId, user);
    assert.equal(r.setCookies.length, 1);
    assert.ok(r.setCookies[0].startsWith(`${COOKIE_NAME}=${body.after}.`), r.setCookies[0]);
    const cookie = sessionCookieHeader(r.setCookies[0]);
    assert.deepEqual(JSON.parse((await send('GET', '/me', { cookie })).text), { userId: user, sessionId: body.after });

    // A second login of a logged-in session: the old cookie is refused.
    const again = await send('POST', '/login', { cookie, body: `user=${user}`, headers: { 'user-agent': 'phone-browser/1.1' } });
    const rotated = JSON.parse(again.text);
    assert.equal(rotated.before, body.after);
    assert.equal((await send('GET', '/me', { cookie })).status, 401);
    assert.equal((await send('GET', '/me', { cookie: sessionCookieHeader(again.setCookies[0]) })).status, 200);
  });

  test('the middleware reports the request\'s User-Agent and address: the login\'s are listed', async () => {
    const user = newUser();
    await send('POST', '/login', { body: `user=${user}`, headers: { 'user-agent': 'phone-browser/1.0' } });
    await send('POST', '/login', { body: `user=${user}`, headers: { 'user-agent': 'laptop-browser/2.0' } });
    const list = await rt.userSessions(user);
    assert.deepEqual(list.map((e) => e.userAgent).sort(), ['laptop-browser/2.0', 'phone-browser/1.0']);
    // Node gives the client address as the socket has it; the engine shows the IP.
    for (const e of list) assert.equal(e.address, '127.0.0.1');
  });

  test('a bad user id rejects req.session.login() with an InvalidValueError and keeps the session and its cookie', async () => {
    const app = express().use(rt.express());
    app.post('/login', express.urlencoded({ extended: false }), async (req, res) => {
      try {
        await req.session.login(req.body.user);
        res.status(204).end();
      } catch (err) {
        res.status(err instanceof InvalidValueError ? 400 : 500).type('text').send(`${err.code}: ${err.message}`);
      }
    });
    const srv = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const r = await fetch(`http://127.0.0.1:${srv.address().port}/login`, {
        method: 'POST',
        body: 'user=',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        signal: AbortSignal.timeout(5_000),
      });
      assert.equal(r.status, 400);
      assert.match(await r.text(), /^ERR_INVALID_VALUE: invalid value: a user id has 1 to 256 bytes/);
      assert.deepEqual(r.headers.getSetCookie(), [], 'a refused login stores no session');
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  });

  test('req.session.logout() moves req.session to a new id without a user, and the response sets its cookie', async () => {
    const user = newUser();
    const login = await send('POST', '/login', { body: `user=${user}` });
    const cookie = sessionCookieHeader(login.setCookies[0]);
    const r = await send('POST', '/logout-user', { cookie });
    const body = JSON.parse(r.text);
    assert.notEqual(body.after, body.before);
    assert.equal(body.userId, null);
    assert.equal(r.setCookies.length, 1);
    assert.ok(r.setCookies[0].startsWith(`${COOKIE_NAME}=${body.after}.`), r.setCookies[0]);
    assert.equal((await send('GET', '/me', { cookie })).status, 401);
    assert.deepEqual(await rt.userSessions(user), []);
  });
});

describe("users across sessions: express-session mode's calls", () => {
  test('login(req)/logout(req)/userId(req) are for express-session mode: with sessionio\'s own sessions they name the Session methods instead', async () => {
    const rt = await SessionIo.create({ secret: SECRET });
    try {
      const req = { session: { regenerate() {}, save() {} }, headers: {}, socket: {} };
      for (const call of [() => rt.login(req, 'ada'), () => rt.logout(req)]) {
        await rejectsWith(call(), InvalidConfigError, 'ERR_INVALID_CONFIG', /req\.session\.(login|logout)\(\)/);
      }
      assert.throws(() => rt.userId(req), (err) => err instanceof InvalidConfigError);
      assert.equal(SessionIo.LOGIN_KEY, 'sessionio.login');
    } finally {
      await rt.close();
    }
  });
});
