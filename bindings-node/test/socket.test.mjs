// Socket handlers in JavaScript: acks, thrown errors, middlewares, connection callbacks,
// the socket API, and values crossing the boundary both ways.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SessionIo, Socket, Session, HandlerError, InvalidValueError, ServerError, StoreUnavailableError, DEFAULT_ACK_TIMEOUT_MS } from '../index.mjs';
import { SECRET, Clients, connectSession, freePort, nextEvent, ack, sleep, withTimeout } from './helpers.mjs';

describe('socket handlers', () => {
  let rt;
  const connections = [];
  const middlewareSeen = [];
  const errors = [];
  let originalConsoleError;

  before(async () => {
    rt = await SessionIo.start({ secret: SECRET, allowAnonymous: true });
    // Handler errors are logged with console.error: capture them to assert on them.
    originalConsoleError = console.error;
    console.error = (...args) => errors.push(args);

    rt.use(async (socket, event, args) => {
      middlewareSeen.push({ event, args, id: socket.id });
      if (event === 'guarded' && args[0] === 'crash') throw new Error('middleware lookup failed: token table locked');
      if (event === 'guarded' && args[0] !== 'password') throw new HandlerError('forbidden');
    });
    rt.onConnection(async (socket) => {
      connections.push(socket);
      socket.emit('welcome', { id: socket.id, sessionId: socket.sessionId });
    });
    rt.on('echo', async (socket, ...args) => args);
    rt.on('echo1', (socket, value) => value);
    rt.on('incr', async (socket) => {
      const n = await socket.session.increment('count');
      await socket.session.notify('current count', n);
      return n;
    });
    rt.on('throws', async () => {
      throw new HandlerError('handler failed on purpose');
    });
    rt.on('throws sync', () => {
      throw new HandlerError('sync failure');
    });
    rt.on('rejects', () => Promise.reject(new HandlerError('rejected on purpose')));
    rt.on('throws with cause', async () => {
      throw new HandlerError('not allowed', { cause: new Error('row 42 locked by pid 1234') });
    });
    rt.on('leaks', async () => {
      throw new Error('db password=hunter2 host=10.0.0.5');
    });
    rt.on('leaks sync', () => {
      throw new TypeError('sync failure with internals');
    });
    rt.on('leaks rejected', () => Promise.reject(new Error('rejected with internals')));
    rt.on('throws string', async () => {
      // eslint-disable-next-line no-throw-literal
      throw 'plain string';
    });
    rt.on('own connection fails', async () => {
      // What a handler's own client library throws when its server is down.
      throw new Error('connect ECONNREFUSED 127.0.0.1:1');
    });
    rt.on('no ack value', async () => undefined);
    rt.on('unsendable', async () => Symbol('not a value'));
    rt.on('guarded', async () => 'let in');
    rt.on('whoami', async (socket) => ({
      id: socket.id,
      nsp: socket.nsp,
      sessionId: socket.sessionId,
      hasSession: socket.session instanceof Session,
      isSocket: socket instanceof Socket,
      connected: socket.connected,
      rooms: [...socket.rooms].sort(),
      handshake: socket.handshake,
    }));
    rt.on('join', async (socket, room) => {
      socket.join(room);
      socket.join([`${room}-a`, `${room}-b`]);
      socket.leave(`${room}-b`);
      return [...socket.rooms].sort();
    });
    rt.on('join reserved', async (socket, room) => {
      try {
        socket.join(room);
        return { joined: [...socket.rooms] };
      } catch (err) {
        return { invalidValue: err instanceof InvalidValueError, code: err.code, message: err.message, rooms: [...socket.rooms] };
      }
    });
    rt.on('ask client', async (socket, question) => socket.emitWithAck('question', question));
    rt.on('ask client briefly', async (socket) => socket.timeout(100).emitWithAck('question', 'no answer'));
    rt.on('ask client by default', async (socket) => {
      const started = Date.now();
      try {
        await socket.emitWithAck('question', 'no answer');
        return { answered: true };
      } catch (err) {
        return { waited: Date.now() - started, serverError: err instanceof ServerError };
      }
    });
    rt.on('kick me', async (socket) => {
      setTimeout(() => socket.disconnect(), 10);
      return 'bye';
    });
  });
  after(async () => {
    console.error = originalConsoleError;
    await rt.close();
  });

  test('a handler answers the ack; socket.session is the live session', async (t) => {
    const clients = new Clients(t);
    const s = await rt.createSession();
    const [a, b] = [await connectSession(clients, rt, s), await connectSession(clients, rt, s)];
    const onB = nextEvent(b, 'current count');
    assert.equal(await ack(a, 'incr'), 1);
    assert.deepEqual(await onB, [1]);
    assert.equal(await ack(b, 'incr'), 2);
    assert.equal(await s.get('count'), 2, 'the socket wrote through to the store');
  });

  test('100 concurrent socket increments lose nothing and every ack arrives', async (t) => {
    const clients = new Clients(t);
    const s = await rt.createSession();
    const socks = await Promise.all([1, 2, 3, 4].map(() => connectSession(clients, rt, s)));
    const acks = await Promise.all(Array.from({ length: 100 }, (_, i) => ack(socks[i % 4], 'incr')));
    assert.deepEqual([...acks].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i + 1));
    assert.equal(await s.get('count'), 100);
  });

  test('a handler throwing a HandlerError acks { error: message }, and the server keeps running', async (t) => {
    const clients = new Clients(t);
    const sock = await connectSession(clients, rt, await rt.createSession());
    errors.length = 0;
    assert.deepEqual(await ack(sock, 'throws'), { error: 'handler failed on purpose' });
    assert.deepEqual(await ack(sock, 'throws sync'), { error: 'sync failure' });
    assert.deepEqual(await ack(sock, 'rejects'), { error: 'rejected on purpose' });
    // The cause stays on the server: only the message was chosen for the client.
    assert.deepEqual(await ack(sock, 'throws with cause'), { error: 'not allowed' });
    assert.deepEqual(errors, [], 'a HandlerError is an answer the handler chose, not an error to log');
    assert.equal(sock.connected, true);
    assert.equal(await ack(sock, 'incr'), 1);
  });

  test('anything else thrown acks { error: "internal error" }; the detail (with its stack) is logged', async (t) => {
    const clients = new Clients(t);
    const sock = await connectSession(clients, rt, await rt.createSession());
    errors.length = 0;
    assert.deepEqual(await ack(sock, 'leaks'), { error: 'internal error' });
    assert.deepEqual(await ack(sock, 'leaks sync'), { error: 'internal error' });
    assert.deepEqual(await ack(sock, 'leaks rejected'), { error: 'internal error' });
    assert.deepEqual(await ack(sock, 'throws string'), { error: 'internal error' });
    assert.equal(errors.length, 4, 'each failure is logged once');
    for (const [i, event] of ['leaks', 'leaks sync', 'leaks rejected', 'throws string'].entries()) {
      assert.match(String(errors[i][0]), new RegExp(`^sessionio: the handler of "${event}" threw`));
    }
    const [, logged] = errors[0];
    assert.ok(logged instanceof Error);
    assert.equal(logged.message, 'db password=hunter2 host=10.0.0.5');
    assert.match(logged.stack, /socket\.test\.mjs/, 'the stack is logged with it');
    assert.ok(errors[1][1] instanceof TypeError);
    assert.equal(errors[2][1].message, 'rejected with internals');
    assert.equal(errors[3][1], 'plain string');
    assert.equal(sock.connected, true);
    assert.equal(await ack(sock, 'incr'), 1);
  });

  test('finding 3: internal error text reaches clients — a handler whose own connection failed (plain Error "connect ECONNREFUSED 127.0.0.1:1") acks { error: "internal error" } only', async (t) => {
    const clients = new Clients(t);
    const sock = await connectSession(clients, rt, await rt.createSession());
    errors.length = 0;
    const answer = await ack(sock, 'own connection fails');
    assert.deepEqual(answer, { error: 'internal error' });
    assert.doesNotMatch(JSON.stringify(answer), /ECONNREFUSED|127\.0\.0\.1/);
    assert.equal(errors.length, 1, 'the detail is logged on the server');
    assert.equal(errors[0][1].message, 'connect ECONNREFUSED 127.0.0.1:1');
  });

  test('a handler answering a value that cannot be sent acks { error: "internal error" }; the socket stays', async (t) => {
    const clients = new Clients(t);
    const sock = await connectSession(clients, rt, await rt.createSession());
    assert.deepEqual(await ack(sock, 'unsendable'), { error: 'internal error' });
    assert.equal(await ack(sock, 'echo1', 'still here'), 'still here');
  });

  test('a handler returning undefined acks with no arguments', async (t) => {
    const clients = new Clients(t);
    const sock = await connectSession(clients, rt, await rt.createSession());
    const args = await withTimeout(
      new Promise((resolve) => sock.emit('no ack value', (...a) => resolve(a))),
      5_000,
      'ack',
    );
    assert.deepEqual(args, []);
  });

  test('values round-trip: integers, floats, strings, nested objects in key order, arrays, null, booleans', async (t) => {
    const clients = new Clients(t);
    const sock = await connectSession(clients, rt, await rt.createSession());
    const value = {
      zeta: 1,
      alpha: -42,
      big: 2 ** 53 - 1,
      float: 1.5,
      tiny: -0.000123,
      text: 'héllo ✓ 👋',
      empty: '',
      nil: null,
      yes: true,
      no: false,
      list: [1, 'two', [3, [4]], { five: 5 }, null],
      nested: { b: { c: { d: [] } }, a: {} },
    };
    const echoed = await ack(sock, 'echo1', value);
    assert.deepEqual(echoed, value);
    assert.deepEqual(Object.keys(echoed), Object.keys(value), 'key order is kept');
    assert.deepEqual(Object.keys(echoed.nested), ['b', 'a']);
    // several arguments, in order
    assert.deepEqual(await ack(sock, 'echo', 1, 'x', null, [2]), [1, 'x', null, [2]]);
    for (const scalar of [0, -1, 3.25, 'a', true, null]) {
      assert.deepEqual(await ack(sock, 'echo1', scalar), scalar);
    }
  });

  test('Buffers travel as binary attachments both ways', async (t) => {
    const clients = new Clients(t);
    const sock = await connectSession(clients, rt, await rt.createSession());
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const echoed = await ack(sock, 'echo1', { file: bytes, name: 'f.bin', parts: [Buffer.from('ab')] });
    assert.ok(Buffer.isBuffer(echoed.file), `expected a Buffer, got ${typeof echoed.file}`);
    assert.deepEqual([...echoed.file], [...bytes]);
    assert.equal(echoed.name, 'f.bin');
    assert.equal(Buffer.from(echoed.parts[0]).toString(), 'ab');
  });

  test('a middleware sees every event; throwing stops the event with { error }', async (t) => {
    const clients = new Clients(t);
    const sock = await connectSession(clients, rt, await rt.createSession());
    middlewareSeen.length = 0;
    errors.length = 0;
    assert.deepEqual(await ack(sock, 'guarded', 'wrong'), { error: 'forbidden' });
    assert.equal(await ack(sock, 'guarded', 'password'), 'let in');
    assert.deepEqual(
      middlewareSeen.map((m) => [m.event, m.args]),
      [
        ['guarded', ['wrong']],
        ['guarded', ['password']],
      ],
    );
    assert.equal(middlewareSeen[0].id, sock.id);
    assert.deepEqual(errors, [], "a middleware's HandlerError is not logged");
    // A middleware that fails with anything else: internal error, logged.
    assert.deepEqual(await ack(sock, 'guarded', 'crash'), { error: 'internal error' });
    assert.equal(errors.length, 1);
    assert.match(String(errors[0][0]), /^sessionio: a middleware \(event "guarded"\) threw/);
    assert.equal(errors[0][1].message, 'middleware lookup failed: token table locked');
  });

  test('onConnection runs for every socket, which can emit to it', async (t) => {
    const clients = new Clients(t);
    const s = await rt.createSession();
    const sock = clients.open(rt.url, { token: rt.issueToken(s.id, 60_000) });
    const [welcome] = await nextEvent(sock, 'welcome');
    assert.deepEqual(welcome, { id: sock.id, sessionId: s.id });
    assert.ok(connections.some((c) => c.id === sock.id));
  });

  test('socket id, nsp, session, rooms and handshake (headers, query, auth, time, address)', async (t) => {
    const clients = new Clients(t);
    const s = await rt.createSession();
    const token = rt.issueToken(s.id, 60_000);
    const sock = await clients.connect(rt.url, {
      token,
      query: { room: 'lobby', tag: 'x y' },
      extraHeaders: { 'x-test': 'yes' },
    });
    const before = Date.now();
    const me = await ack(sock, 'whoami');
    assert.equal(me.id, sock.id);
    assert.equal(me.nsp, '/');
    assert.equal(me.sessionId, s.id);
    assert.equal(me.hasSession, true);
    assert.equal(me.isSocket, true);
    assert.equal(me.connected, true);
    assert.deepEqual(me.rooms, [], 'the engine\'s own rooms are not listed');
    const h = me.handshake;
    assert.equal(h.headers['x-test'], 'yes');
    assert.ok(h.headers.host.startsWith('127.0.0.1:'));
    assert.equal(h.query.room, 'lobby');
    assert.equal(h.query.tag, 'x y');
    assert.equal(h.query.EIO, '4');
    assert.deepEqual(h.auth, { token });
    assert.deepEqual(Object.keys(h).sort(), ['address', 'auth', 'headers', 'query', 'time']);
    assert.equal(h.address.ip, '127.0.0.1');
    assert.ok(Number.isInteger(h.address.port) && h.address.port > 0, `port ${h.address.port}`);
    assert.equal(typeof h.time, 'number', 'unix ms');
    assert.ok(Math.abs(h.time - before) < 5_000, `time ${h.time}`);
  });

  test('handshake: a repeated query key gives an array of its values in order (core\'s one shape)', async () => {
    const base = `${rt.url}/socket.io/?EIO=4&transport=polling`;
    const open = await (await fetch(`${base}&tag=a&one=1&tag=b`, { signal: AbortSignal.timeout(5_000) })).text();
    const { sid } = JSON.parse(open.slice(1));
    const poll = `${base}&sid=${encodeURIComponent(sid)}`;
    const post = await fetch(poll, { method: 'POST', body: '40', signal: AbortSignal.timeout(5_000) });
    assert.equal(await post.text(), 'ok');
    const reply = await (await fetch(poll, { signal: AbortSignal.timeout(5_000) })).text();
    // Packets are separated by \x1e (the engine may send a ping first).
    const connect = reply.split('\x1e').find((p) => p.startsWith('40'));
    assert.ok(connect, reply);
    const socketId = JSON.parse(connect.slice(2)).sid;
    let socket;
    for (let i = 0; i < 100 && !socket; i += 1) {
      socket = connections.find((c) => c.id === socketId);
      if (!socket) await sleep(20);
    }
    assert.ok(socket, 'the connection callback ran');
    const h = socket.handshake;
    assert.deepEqual(h.query, { EIO: '4', transport: 'polling', tag: ['a', 'b'], one: '1' });
    assert.equal(h.address.ip, '127.0.0.1');
    await fetch(poll, { method: 'POST', body: '1', signal: AbortSignal.timeout(5_000) });
  });

  test('an anonymous socket has no session', async (t) => {
    const clients = new Clients(t);
    const sock = await clients.connect(rt.url);
    const me = await ack(sock, 'whoami');
    assert.equal(me.sessionId, null);
    assert.equal(me.hasSession, false);
    errors.length = 0;
    assert.deepEqual(await ack(sock, 'incr'), { error: 'internal error' });
    assert.ok(errors[0][1] instanceof TypeError);
    assert.equal(errors[0][1].message, "Cannot read properties of null (reading 'increment')");
  });

  test('join, leave: the rooms the socket joined (the engine\'s own are not listed)', async (t) => {
    const clients = new Clients(t);
    const s = await rt.createSession();
    const sock = await connectSession(clients, rt, s);
    assert.deepEqual(await ack(sock, 'join', 'chat'), ['chat', 'chat-a']);
  });

  test('finding 10: join refuses the engine\'s room names with core\'s InvalidValueError; a session id is an ordinary room', async (t) => {
    const clients = new Clients(t);
    const s = await rt.createSession();
    const other = await rt.createSession();
    const sock = await connectSession(clients, rt, s);
    const theirs = await connectSession(clients, rt, other);
    for (const room of [`sessionio:session:${other.id}`, 'sessionio:anything']) {
      assert.deepEqual(await ack(sock, 'join reserved', room), {
        invalidValue: true,
        code: 'ERR_INVALID_VALUE',
        message: `invalid value: room names starting with "sessionio:" are reserved for the engine's own rooms: ${JSON.stringify(room)}`,
        rooms: [],
      });
    }
    // The other session's id joins a room of that name, which its notifications never reach.
    assert.deepEqual(await ack(sock, 'join reserved', other.id), { joined: [other.id] });
    const heard = [];
    sock.on('current count', (n) => heard.push(n));
    const theirsHeard = nextEvent(theirs, 'current count');
    assert.equal(await rt.notifySession(other.id, 'current count', 1), 1);
    assert.deepEqual(await theirsHeard, [1]);
    await sleep(200);
    assert.deepEqual(heard, [], 'a socket that joined another session\'s id got its notification');
  });

  test('emitWithAck waits for the client answer; a silent client times out', async (t) => {
    const clients = new Clients(t);
    const sock = await connectSession(clients, rt, await rt.createSession());
    sock.on('question', (q, answer) => {
      if (q !== 'no answer') answer({ answer: `${q}!` });
    });
    assert.deepEqual(await ack(sock, 'ask client', 'why'), { answer: 'why!' });
    errors.length = 0;
    // The time-out is a ServerError: not chosen for the client, so it sees internal error.
    assert.deepEqual(await ack(sock, 'ask client briefly'), { error: 'internal error' });
    assert.equal(errors.length, 1);
    assert.ok(errors[0][1] instanceof ServerError, `logged ${errors[0][1]}`);
    assert.match(errors[0][1].message, /server error/);
  });

  test('emitWithAck without timeout() waits the engine\'s default (DEFAULT_ACK_TIMEOUT_MS, 5 s)', async (t) => {
    assert.equal(DEFAULT_ACK_TIMEOUT_MS, 5_000, "core's DEFAULT_ACK_TIMEOUT");
    const clients = new Clients(t);
    const sock = await connectSession(clients, rt, await rt.createSession());
    sock.on('question', () => {});
    const out = await sock.timeout(DEFAULT_ACK_TIMEOUT_MS + 5_000).emitWithAck('ask client by default');
    assert.equal(out.serverError, true, JSON.stringify(out));
    assert.ok(out.waited >= DEFAULT_ACK_TIMEOUT_MS - 50, `gave up after ${out.waited} ms`);
    assert.ok(out.waited < DEFAULT_ACK_TIMEOUT_MS + 2_000, `gave up after ${out.waited} ms`);
  });

  test('socket.disconnect() disconnects from the server side', async (t) => {
    const clients = new Clients(t);
    const sock = await connectSession(clients, rt, await rt.createSession());
    const gone = nextEvent(sock, 'disconnect');
    assert.equal(await ack(sock, 'kick me'), 'bye');
    assert.equal((await gone)[0], 'io server disconnect');
  });

  test('an event with no handler is ignored (no ack), the socket stays', async (t) => {
    const clients = new Clients(t);
    const sock = await connectSession(clients, rt, await rt.createSession());
    sock.emit('nobody listens', 1);
    await sleep(100);
    assert.equal(sock.connected, true);
    assert.equal(await ack(sock, 'echo1', 7), 7);
  });

  test('registering with a wrong argument is an InvalidValueError', () => {
    assert.throws(() => rt.on('x', 'not a function'), { code: 'ERR_INVALID_VALUE' });
    assert.throws(() => rt.on(42, () => {}), { code: 'ERR_INVALID_VALUE' });
    assert.throws(() => rt.use(null), { code: 'ERR_INVALID_VALUE' });
    assert.throws(() => rt.onConnection({}), { code: 'ERR_INVALID_VALUE' });
  });
});

describe('socket handlers over a store that is down', () => {
  let rt;
  let sessionId;
  const errors = [];
  let originalConsoleError;

  before(async () => {
    // A well-formed id (ids do not depend on the engine), for a store nobody can reach.
    const memory = await SessionIo.start({ secret: SECRET });
    sessionId = (await memory.createSession()).id;
    await memory.close();
    const port = await freePort();
    rt = await SessionIo.start({
      secret: SECRET,
      store: `redis://127.0.0.1:${port}`,
      adapter: 'local://',
      allowAnonymous: true,
    });
    originalConsoleError = console.error;
    console.error = (...args) => errors.push(args);
    rt.on('read', async (socket, id) => (await rt.session(id)).get('x'));
    rt.on('incr', async (socket, id) => (await rt.session(id)).increment('count'));
    rt.on('create', async () => (await rt.createSession()).increment('count'));
  });
  after(async () => {
    console.error = originalConsoleError;
    await rt.close();
  });

  test('a handler that awaits a failing session operation acks { error: "internal error" }; the store error is logged', async (t) => {
    const clients = new Clients(t);
    const sock = await clients.connect(rt.url);
    for (const [event, args] of [
      ['read', [sessionId]],
      ['incr', [sessionId]],
      ['create', []],
    ]) {
      errors.length = 0;
      assert.deepEqual(await ack(sock, event, ...args), { error: 'internal error' }, event);
      assert.equal(errors.length, 1, event);
      const [prefix, logged] = errors[0];
      assert.match(String(prefix), new RegExp(`^sessionio: the handler of "${event}" threw`));
      assert.ok(logged instanceof StoreUnavailableError, `${event} logged ${logged}`);
      assert.equal(logged.code, 'ERR_STORE_UNAVAILABLE');
      assert.ok(logged.message.length > 0 && logged.stack.includes(logged.message));
    }
    assert.equal(sock.connected, true);
  });
});
