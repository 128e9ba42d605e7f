// examples/node-express as several worker processes behind one port, with node:cluster:
//
//   REDIS_URL=redis://127.0.0.1:6379 WORKERS=4 node examples/node-express/cluster.mjs
//
// The primary forks WORKERS (default 4) processes of app.mjs; each starts its engine with
// `workers: true` (app.mjs decides by `cluster.isWorker`). Node's cluster shares PORT
// between them (the primary accepts and hands each connection to a worker in turn), and
// the engine routes an Engine.IO polling request or websocket upgrade to the worker that
// holds its session, so the page and its sockets work whatever worker a connection reaches.
// With SOCKET_PORT set, each worker binds the engine's own port with SO_REUSEPORT and the
// kernel spreads the connections.
//
// Environment: app.mjs's, plus WORKERS. REDIS_URL (or a redis:// or redis-cluster://
// SESSION_STORE_URL) is required: the workers share sessions, and reach each other's
// sockets, through Redis. What the primary adds to the workers' environment:
//   - SESSION_SECRET: one random secret for all workers when unset (cookies, tokens and the
//     workers' routing tags must verify on every worker); set it when several machines
//     or restarts share the sessions.
//   - SOCKET_PORT: a free port picked here when it is 0, since SO_REUSEPORT shares a port
//     number, and each worker's own bind of port 0 would get a different one.
// PORT=0 needs nothing: in node:cluster, listen(0) in every worker shares the one port the
// primary picks.
//
// The primary prints `listening http=<url> socket=<url>` once every worker listens (they
// tell it over IPC), forwards SIGTERM and SIGINT to the workers and exits once they all
// have (a worker still running 5 s later is killed). A worker that dies before the line
// stops the launch (exit 1); one that dies later is replaced.
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** How long workers get to close after the signal before they are killed. */
const STOP_GRACE_MS = 5_000;

function fail(message) {
  console.error(`cluster.mjs: ${message}`);
  process.exit(1);
}

const WORKERS = Number(process.env.WORKERS ?? 4);
if (!Number.isInteger(WORKERS) || WORKERS < 1) fail(`WORKERS=${process.env.WORKERS}: expected a whole number ≥ 1`);

// app.mjs's store: SESSION_STORE_URL, else REDIS_URL.
const storeVariable = process.env.SESSION_STORE_URL ? 'SESSION_STORE_URL' : process.env.REDIS_URL ? 'REDIS_URL' : null;
const store = storeVariable && process.env[storeVariable];
if (!/^redis(-cluster)?:\/\//.test(store ?? '')) {
  const what = store
    ? `${storeVariable}=${store} is not a redis:// or redis-cluster:// URL`
    : 'set REDIS_URL (e.g. redis://127.0.0.1:6379)';
  fail(`${what}: the workers share sessions and reach each other's sockets through Redis`);
}

/** A free port on `host`, for SOCKET_PORT=0. */
function freePort(host) {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const env = {
  SESSION_SECRET: process.env.SESSION_SECRET || randomBytes(32).toString('hex'),
  ...(process.env.SOCKET_PORT === '0' ? { SOCKET_PORT: String(await freePort('127.0.0.1')) } : {}),
};

cluster.setupPrimary({ exec: fileURLToPath(new URL('./app.mjs', import.meta.url)) });

/** The workers not yet exited, by id (cluster.workers may still list one that has). */
const alive = new Map();
/** Each worker's `{ http, socket }` once it listens, by worker id. */
const listening = new Map();
let announced = false;
let stopping = false;

cluster.on('message', (worker, message) => {
  if (!message?.listening) return;
  listening.set(worker.id, message.listening);
  if (announced || listening.size < WORKERS) return;
  announced = true;
  const [first, ...others] = [...listening.values()];
  // Every worker serves the same ports; anything else is a bug worth stopping for.
  const differs = others.find((urls) => urls.http !== first.http || urls.socket !== first.socket);
  if (differs) {
    console.error(`cluster.mjs: workers listen on different URLs: ${JSON.stringify([...listening.values()])}`);
    stop('SIGTERM', 1);
    return;
  }
  console.log(`listening http=${first.http} socket=${first.socket}`);
});

function fork() {
  const worker = cluster.fork(env);
  alive.set(worker.id, worker);
}

let exitCode = 0;
cluster.on('exit', (worker, code, signal) => {
  alive.delete(worker.id);
  listening.delete(worker.id);
  if (!stopping) {
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (!announced) {
      console.error(`cluster.mjs: worker ${worker.process.pid} exited (${how}) before listening`);
      stop('SIGTERM', 1);
    } else {
      console.error(`cluster.mjs: worker ${worker.process.pid} exited (${how}); starting another`);
      fork();
    }
  } else if (code) {
    exitCode = 1;
  }
  if (stopping && alive.size === 0) process.exit(exitCode);
});

/** Signals every worker and exits once they are all gone. */
function stop(signal, code = 0) {
  exitCode ||= code;
  if (stopping) return;
  stopping = true;
  if (alive.size === 0) process.exit(exitCode);
  for (const worker of alive.values()) worker.process.kill(signal);
  setTimeout(() => {
    exitCode = 1;
    for (const worker of alive.values()) worker.process.kill('SIGKILL');
  }, STOP_GRACE_MS).unref();
}

process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

for (let i = 0; i < WORKERS; i++) fork();
