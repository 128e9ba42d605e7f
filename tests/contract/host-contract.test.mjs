// The host contract is core's, and every binding only maps it: the same handshake (a
// repeated query key, two Cookie headers, an auth object) reaches a Rust, a Node and a
// Python handler as the same JSON, and the same bad option gives the same error code and
// message in Node and Python.
//
// Needs target/debug/conformance (cargo build -p conformance), the Node addon
// (bindings-node, built by scripts/test-node.sh) and bindings-python/.venv (built by
// scripts/test-python.sh); scripts/test.sh runs this after both.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const python = path.join(root, 'bindings-python/.venv/bin/python');

const servers = {
  rust: [path.join(root, 'target/debug/conformance'), [], { PORT: '0' }],
  node: [process.execPath, [path.join(here, 'fixtures/node-echo.mjs')], {}],
  python: [python, [path.join(here, 'fixtures/python_echo.py')], {}],
};

const children = [];
after(() => {
  for (const child of children) child.kill('SIGTERM');
});

/** Starts one server and answers its Socket.IO URL (from its `listening … socket=<url>` line). */
function start(name) {
  const [command, args, env] = servers[name];
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} server did not start within 20 s: ${out}`)), 20_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /socket=(\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`${name} server exited with ${code}: ${out}`)));
  });
}

/** One Engine.IO polling request with exactly these request headers (two Cookie headers). */
function poll(url, method, body) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      method,
      setHost: false,
      headers: [
        'Host', 'contract.test',
        'Cookie', 'theme=dark',
        'Cookie', 'lang=fr',
        'X-Custom', 'one',
        'Content-Type', 'text/plain;charset=UTF-8',
        ...(body ? ['Content-Length', String(Buffer.byteLength(body))] : []),
      ],
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Connects over polling with `auth`, asks `handshake` with an ack, answers the ack's JSON. */
async function handshakeOf(base) {
  const query = 'tag=red&tag=blue&single=one&EIO=4&transport=polling';
  const open = await poll(`${base}/socket.io/?${query}`, 'GET');
  assert.equal(open.status, 200, open.text);
  const sid = JSON.parse(open.text.slice(1)).sid;
  const at = `${base}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;
  const auth = { user: 'ada', n: 1, nested: { ok: true } };
  assert.equal((await poll(at, 'POST', `40${JSON.stringify(auth)}`)).text, 'ok');
  const packets = [];
  const until = async (pred) => {
    for (let i = 0; i < 20; i++) {
      const found = packets.find(pred);
      if (found) return found;
      const r = await poll(at, 'GET');
      packets.push(...r.text.split('\x1e'));
    }
    throw new Error(`not received; got ${JSON.stringify(packets)}`);
  };
  await until((p) => p.startsWith('40'));
  assert.equal((await poll(at, 'POST', '421["handshake"]')).text, 'ok');
  const ack = await until((p) => p.startsWith('431'));
  return JSON.parse(ack.slice(3))[0];
}

test('the same handshake reaches a Rust, a Node and a Python handler as the same JSON', async () => {
  const seen = {};
  for (const name of Object.keys(servers)) {
    seen[name] = await handshakeOf(await start(name));
  }
  for (const [name, h] of Object.entries(seen)) {
    // Per connection: when, and the client's port.
    assert.equal(typeof h.time, 'number', `${name}: time is unix ms`);
    assert.ok(Math.abs(Date.now() - h.time) < 60_000, `${name}: time ${h.time}`);
    assert.equal(h.address.ip, '127.0.0.1', `${name}: address`);
    assert.equal(typeof h.address.port, 'number', `${name}: address.port`);
    h.time = 'checked';
    h.address.port = 'checked';
  }
  const expected = {
    headers: {
      host: 'contract.test',
      cookie: 'theme=dark; lang=fr',
      'x-custom': 'one',
      'content-type': 'text/plain;charset=UTF-8',
      connection: 'keep-alive',
    },
    query: { tag: ['red', 'blue'], single: 'one', EIO: '4', transport: 'polling' },
    auth: { user: 'ada', n: 1, nested: { ok: true } },
    time: 'checked',
    address: { ip: '127.0.0.1', port: 'checked' },
  };
  assert.deepEqual(seen.rust, expected, 'rust');
  assert.deepEqual(seen.node, seen.rust, 'node == rust');
  assert.deepEqual(seen.python, seen.rust, 'python == rust');
});

/** What a binding's start/constructor raises for these options. */
function optionError(name, options) {
  const [command, args] = servers[name];
  const out = execFileSync(command, [...args, 'bad-options'], {
    env: { ...process.env, SESSIONIO_OPTIONS: JSON.stringify(options) },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop());
}

test('the same bad option gives the same error code and message in Node and Python', () => {
  const cases = [
    [{ maxConnectionsPerSession: 0 }, { max_connections_per_session: 0 }],
    [{ allowedOrigins: ['https://*.example.com'] }, { allowed_origins: ['https://*.example.com'] }],
    [{ pingTimeoutMs: 0 }, { ping_timeout_ms: 0 }],
    [{ maxSessions: 0 }, { max_sessions: 0 }],
  ];
  for (const [fromNode, fromPython] of cases) {
    const node = optionError('node', fromNode);
    const py = optionError('python', fromPython);
    assert.equal(node.code, 'ERR_INVALID_CONFIG', JSON.stringify(node));
    assert.match(node.message, /^invalid configuration: /);
    assert.deepEqual(py, node, `${JSON.stringify(fromNode)}: python ${JSON.stringify(py)} node ${JSON.stringify(node)}`);
  }
});
