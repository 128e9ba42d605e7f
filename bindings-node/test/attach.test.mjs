// rt.attach(server): Socket.IO on the app's own http.Server. The app's routes and other
// upgrade listeners are untouched, bad requests under the engine path get the engine's
// answers, an https.Server is refused, and closing either side lets the process exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { createHook } from 'node:async_hooks';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { InvalidConfigError, InvalidValueError, SessionIo } from '../index.mjs';
import { Clients, SECRET, withTimeout } from './helpers.mjs';

/**
 * An engine attached to a new http.Server whose app answers `app <url>`, listening.
 * `nodeAccepts`: the server caps its connections (`maxConnections`), so Node keeps
 * accepting and hands the engine's connections over itself.
 */
async function attached(t, { upgrade, nodeAccepts = false } = {}) {
  const rt = await SessionIo.create({ secret: SECRET, allowAnonymous: true });
  rt.on('echo', async (_socket, value) => value);
  const server = http.createServer((req, res) => res.end(`app ${req.url}`));
  if (nodeAccepts) server.maxConnections = 1_000;
  if (upgrade) server.on('upgrade', upgrade);
  rt.attach(server);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    server.close();
    server.closeAllConnections();
    await rt.close();
  });
  return { rt, server, url: `http://127.0.0.1:${server.address().port}` };
}

/** Sends raw bytes on a new connection; resolves everything the server wrote before closing. */
function rawExchange(port, bytes, ms = 3_000) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (d) => {
        data += d;
        // One complete response is enough.
        if (/\r\n\r\n/.test(data)) {
          const length = /content-length: (\d+)/i.exec(data);
          const head = data.indexOf('\r\n\r\n') + 4;
          if (!length || data.length - head >= Number(length[1])) {
            socket.destroy();
            resolve(data);
          }
        }
      });
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    }),
    ms,
    'raw exchange',
  );
}

test('an engine made by create() has no port of its own', async () => {
  const rt = await SessionIo.create({ secret: SECRET });
  try {
    assert.equal(rt.port, null);
    assert.equal(rt.host, null);
    assert.equal(rt.url, null);
  } finally {
    await rt.close();
  }
});

test('Socket.IO on the app server: websocket, polling and polling→upgrade', async (t) => {
  const { url } = await attached(t);
  const clients = new Clients(t);
  for (const transports of [['websocket'], ['polling'], ['polling', 'websocket']]) {
    const socket = await clients.connect(url, { transports });
    assert.deepEqual(await socket.timeout(5_000).emitWithAck('echo', { n: 1, s: 'é' }), { n: 1, s: 'é' });
    if (transports.length === 2 && socket.io.engine.transport.name !== 'websocket') {
      await withTimeout(new Promise((resolve) => socket.io.engine.once('upgrade', resolve)), 5_000, 'upgrade');
    }
    assert.equal(socket.io.engine.transport.name, transports.at(-1));
  }
});

test("the app's routes and other upgrade listeners are untouched", async (t) => {
  const upgrades = [];
  const { server, url } = await attached(t, {
    upgrade: (req, socket) => {
      upgrades.push(req.url);
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: app\r\nConnection: Upgrade\r\n\r\nhello');
    },
  });
  for (const path of ['/', '/socket.iox', '/api/socket.io/', '/health?x=/socket.io/']) {
    const res = await fetch(url + path);
    assert.equal(await res.text(), `app ${path}`);
  }
  const answer = await rawExchange(
    server.address().port,
    'GET /app-ws HTTP/1.1\r\nHost: x\r\nUpgrade: app\r\nConnection: Upgrade\r\n\r\n',
  );
  assert.match(answer, /^HTTP\/1\.1 101 [\s\S]*hello$/);
  assert.deepEqual(upgrades, ['/app-ws']);
});

test('with no upgrade listener of its own, an upgrade off the engine path is closed, as Node does', async (t) => {
  const { server } = await attached(t);
  const answer = await rawExchange(
    server.address().port,
    'GET /other HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
  );
  assert.equal(answer, '');
});

test('bad requests under the engine path get the engine’s answers, and the server goes on', async (t) => {
  const { server, url } = await attached(t);
  const port = server.address().port;
  const cases = [
    // An Engine.IO version the engine does not speak.
    [`${url}/socket.io/?EIO=3&transport=polling`, {}, 400],
    // A session that does not exist.
    [`${url}/socket.io/?EIO=4&transport=polling&sid=nope`, {}, 400],
    // A foreign site's page.
    [`${url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'https://evil.example' } }, 403],
  ];
  for (const [target, init, status] of cases) {
    const res = await fetch(target, init);
    assert.equal(res.status, status, `${target}: ${await res.text()}`);
  }
  // An oversized polling body (past max_payload): the engine's answer, then the
  // connection closes (the rest of the body is never read).
  const open = await (await fetch(`${url}/socket.io/?EIO=4&transport=polling`)).text();
  const sid = JSON.parse(open.slice(1)).sid;
  const big = await fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
    method: 'POST',
    body: 'x'.repeat(2_000_000),
  });
  assert.equal(big.status, 413);
  // A websocket upgrade with a session id that does not exist, and garbage after a head.
  const refused = await rawExchange(
    port,
    'GET /socket.io/?EIO=4&transport=websocket&sid=nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n' +
      'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  assert.match(refused, /^HTTP\/1\.1 400 /);
  const garbage = await rawExchange(
    port,
    'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u0000\u0001garbage',
  );
  assert.match(garbage, /^HTTP\/1\.1 4\d\d /);
  // Still serving.
  assert.equal(await (await fetch(`${url}/`)).text(), 'app /');
  const clients = new Clients(t);
  await clients.connect(url);
});

/** Writes `parts` on a new connection, `pauseMs` apart; resolves what was read once it matches `until`. */
function rawSession(port, parts, until, pauseMs = 100) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', async () => {
        for (const part of parts) {
          socket.write(part);
          await new Promise((r) => setTimeout(r, pauseMs));
        }
      });
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (d) => {
        data += d;
        if (until.test(data)) {
          socket.destroy();
          resolve(data);
        }
      });
      socket.on('end', () => reject(new Error(`closed after ${JSON.stringify(data)}`)));
      socket.on('error', reject);
    }),
    5_000,
    'raw session',
  );
}

const WEBSOCKET_HEAD =
  'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n' +
  'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
/** The 101 answer and the Engine.IO open packet in a websocket text frame. */
const ENGINE_OPENED = /^HTTP\/1\.1 101 [\s\S]*\r\n\r\n\x81.0\{"sid":"[^"]+"/;

for (const [accepting, nodeAccepts] of [['the engine accepts', false], ['Node accepts (maxConnections)', true]]) {
test(`${accepting}: a websocket upgrade is handed over whether its head comes at once, in pieces, or after a request`, async (t) => {
  const { server } = await attached(t, { nodeAccepts });
  const port = server.address().port;
  // Which upgrades Node's HTTP parser saw (this listener runs before attach's own).
  const parsedByNode = [];
  server.prependListener('upgrade', (req) => parsedByNode.push(req.url));
  // At once: taken before Node parses anything.
  assert.match(await rawSession(port, [WEBSOCKET_HEAD], ENGINE_OPENED), ENGINE_OPENED);
  assert.deepEqual(parsedByNode, []);
  // In pieces: Node parses the head, and its upgrade event hands the connection over.
  const cut = WEBSOCKET_HEAD.indexOf('Upgrade');
  assert.match(await rawSession(port, [WEBSOCKET_HEAD.slice(0, cut), WEBSOCKET_HEAD.slice(cut)], ENGINE_OPENED), ENGINE_OPENED);
  // After an app request on the same keep-alive connection.
  const both = await rawSession(port, ['GET /first HTTP/1.1\r\nHost: x\r\n\r\n', WEBSOCKET_HEAD], /\x81.0\{"sid":/);
  assert.match(both, /^HTTP\/1\.1 200 [\s\S]*app \/first[\s\S]*HTTP\/1\.1 101 /);
  const target = '/socket.io/?EIO=4&transport=websocket';
  assert.deepEqual(parsedByNode, [target, target]);
});

test(`${accepting}: a connection silent for longer than the engine waits, or not speaking HTTP, is still the app server’s`, async (t) => {
  const { server } = await attached(t, { nodeAccepts });
  const port = server.address().port;
  // Node's HTTP server takes it after the engine's 1 s wait, and answers the request.
  const late = await rawSession(port, ['', 'GET /late HTTP/1.1\r\nHost: x\r\n\r\n'], /app \/late/, 1_500);
  assert.match(late, /^HTTP\/1\.1 200 /);
  // Bytes that are no HTTP: Node's own answer.
  const garbage = await rawExchange(port, '\u0016\u0003\u0001 not http\r\n\r\n');
  assert.match(garbage, /^HTTP\/1\.1 400 Bad Request/);
});
}

/** Counts the TCP sockets Node creates while `run` runs (its own client's included). */
async function tcpSocketsCreated(run) {
  let created = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === 'TCPWRAP') created++;
    },
  }).enable();
  try {
    await run();
  } finally {
    hook.disable();
  }
  return created;
}

test("the engine accepts on the server's socket: a websocket costs Node no socket, an app request does", async (t) => {
  const { server } = await attached(t);
  const port = server.address().port;
  assert.equal(server.listening, true);
  assert.equal(server.address().address, '127.0.0.1');
  // One socket: the raw client's own.
  const websocket = await tcpSocketsCreated(() => rawSession(port, [WEBSOCKET_HEAD], ENGINE_OPENED));
  assert.equal(websocket, 1);
  // Two: the client's, and the one the app's connection arrives on.
  const app = await tcpSocketsCreated(() => rawExchange(port, 'GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
  assert.equal(app, 2);
  await new Promise((resolve) => server.getConnections((err, n) => resolve(assert.equal(err ?? n, 0))));
});

test('one engine accepts on two servers: each serves its websockets and its app; closing one closes the engine, and the other goes on as an app server', async () => {
  const rt = await SessionIo.create({ secret: SECRET, allowAnonymous: true });
  const servers = ['a', 'b'].map((name) => http.createServer((req, res) => res.end(`${name} ${req.url}`)));
  try {
    for (const server of servers) {
      rt.attach(server);
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    }
    const [a, b] = servers.map((server) => server.address().port);
    for (const [port, name] of [[a, 'a'], [b, 'b']]) {
      assert.match(await rawSession(port, [WEBSOCKET_HEAD], ENGINE_OPENED), ENGINE_OPENED);
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/page`)).text(), `${name} /page`);
    }
    await new Promise((resolve) => {
      servers[0].close(resolve);
      servers[0].closeAllConnections();
    });
    await assert.rejects(fetch(`http://127.0.0.1:${a}/gone`));
    // The engine closed with server a; server b accepts for itself again.
    await withTimeout(rt.close(), 5_000, 'the engine did not close');
    assert.equal(servers[1].listening, true);
    assert.equal(await (await fetch(`http://127.0.0.1:${b}/page`)).text(), 'b /page');
    assert.equal(await (await fetch(`http://127.0.0.1:${b}/socket.io/?EIO=4&transport=polling`)).text(), 'b /socket.io/?EIO=4&transport=polling');
  } finally {
    for (const server of servers) {
      server.close();
      server.closeAllConnections();
    }
    await rt.close();
  }
});

test('an engine closed before its server: the server goes on serving the app on its port, and closes', async () => {
  const rt = await SessionIo.create({ secret: SECRET, allowAnonymous: true });
  const server = http.createServer((req, res) => res.end(`app ${req.url}`));
  rt.attach(server);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await rt.close();
  assert.equal(server.listening, true);
  assert.deepEqual(server.address().port, port);
  const res = await fetch(`http://127.0.0.1:${port}/after`);
  assert.equal(await res.text(), 'app /after');
  // The engine's path is the app's now: the app answers it.
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling`)).text(), 'app /socket.io/?EIO=4&transport=polling');
  await new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
  await assert.rejects(fetch(`http://127.0.0.1:${port}/gone`));
});

test('a polling client that goes away gives its long-poll up: the next poll gets what follows', async (t) => {
  const { server, url } = await attached(t);
  const opened = await (await fetch(`${url}/socket.io/?EIO=4&transport=polling`)).text();
  const poll = `${url}/socket.io/?EIO=4&transport=polling&sid=${JSON.parse(opened.slice(1)).sid}`;
  // The engine's first ping goes with the first poll; after it, a poll waits.
  assert.equal(await (await fetch(poll)).text(), '2');
  const abandoned = connect(server.address().port, '127.0.0.1');
  abandoned.write(`GET ${new URL(poll).pathname}${new URL(poll).search} HTTP/1.1\r\nHost: x\r\n\r\n`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  abandoned.destroy();
  await new Promise((resolve) => setTimeout(resolve, 300));
  // Had the abandoned poll still waited in the engine, it would take the CONNECT's
  // answer, and the next poll would wait for the next ping, 25 s away.
  assert.equal(await (await fetch(poll, { method: 'POST', body: '40' })).text(), 'ok');
  const answer = await withTimeout(fetch(poll).then((r) => r.text()), 5_000, 'the next poll');
  assert.match(answer, /^40\{"sid":/);
});

test('an https.Server is refused with the documented error; a non-server with a clear one', async () => {
  const rt = await SessionIo.create({ secret: SECRET });
  try {
    const server = https.createServer({});
    assert.throws(
      () => rt.attach(server),
      (err) =>
        err instanceof InvalidConfigError &&
        err.code === 'ERR_INVALID_CONFIG' &&
        err.message ===
          'invalid configuration: attach() takes a plain http.Server, not an https.Server: the engine ' +
            'serves the connections it adopts itself and cannot decrypt them. Terminate TLS in front of ' +
            "the app (a proxy or load balancer), or serve Socket.IO on the engine's own port " +
            '(SessionIo.start({ port })).',
    );
    assert.equal(server.listenerCount('request'), 0, 'nothing was installed on the refused server');
    assert.throws(() => rt.attach({}), InvalidValueError);
  } finally {
    await rt.close();
  }
});

const fixture = fileURLToPath(new URL('./fixtures/attach-close.mjs', import.meta.url));

for (const closing of ['server', 'engine']) {
  test(`closing the ${closing} releases every adopted connection and the process exits within 1 s`, async () => {
    const child = spawn(process.execPath, [fixture, closing], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise((resolve) =>
      child.on('exit', (code) => resolve({ code, at: performance.timeOrigin + performance.now() })),
    );
    const { code, at } = await withTimeout(exited, 15_000, 'the process did not exit').finally(() =>
      child.kill('SIGKILL'),
    );
    assert.equal(code, 0, stderr);
    const closed = /closed ([\d.]+)/.exec(stdout);
    assert.ok(closed, stdout);
    const afterCloseMs = at - Number(closed[1]);
    console.log(`exit after closing the ${closing}: ${afterCloseMs.toFixed(1)} ms`);
    assert.ok(afterCloseMs < 1_000, `exited ${afterCloseMs} ms after closing`);
  });
}
