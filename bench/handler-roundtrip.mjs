// A socket handler's round trip in every language: the example contract's socket event
// "incr" (increment the session's count in the store, notify the session's sockets, ack
// the new count), sent by 100 websocket sockets of one session at once, each waiting for
// its ack before sending the next, for a fixed time. Reports the ack latency p50 / p99 /
// max, acks per second, and checks that nothing was lost (the session's final count is
// the number of acks, every ack a distinct count).
//
//   node bench/handler-roundtrip.mjs [--seconds 10] [--sockets 100] [--out bench/out/handler-roundtrip.md] \
//     --server rust='exec target/release/rust-counter' --server ruby='exec ruby examples/ruby-sinatra/app.rb' …
//
// Each server is an example started with free PORT and SOCKET_PORT (Socket.IO on the
// engine's own port in every language) and MAX_CONNECTIONS_PER_SESSION, the example
// contract's environment; they run one after the other. socket.io-client
// comes from tests/node_modules (npm ci --prefix tests).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';

const require = createRequire(new URL('../tests/package.json', import.meta.url));
const { io } = require('socket.io-client');

const args = process.argv.slice(2);
const servers = [];
let seconds = 10;
let sockets = 100;
let out = null;
for (let i = 0; i < args.length; i += 2) {
  const [flag, value] = [args[i], args[i + 1]];
  if (flag === '--server') {
    const at = value.indexOf('=');
    servers.push({ name: value.slice(0, at), command: value.slice(at + 1) });
  } else if (flag === '--seconds') seconds = Number(value);
  else if (flag === '--sockets') sockets = Number(value);
  else if (flag === '--out') out = value;
  else throw new Error(`unknown option ${flag}`);
}
if (servers.length === 0) throw new Error('give at least one --server name=command');

/** A loopback port nothing listens on (at the time of the call). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function start(command) {
  const [port, socketPort] = [await freePort(), await freePort()];
  const child = spawn('sh', ['-c', command], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, PORT: String(port), SOCKET_PORT: String(socketPort), MAX_CONNECTIONS_PER_SESSION: String(sockets + 10) },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${command}: no listening line in 60 s`)), 60_000);
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      const m = /listening http=(\S+) socket=(\S+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolve({ child, http: m[1], socket: m[2] });
      }
    });
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}`)));
  });
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure({ name, command }) {
  const server = await start(command);
  try {
    const page = await fetch(`${server.http}/`);
    const cookie = page.headers.get('set-cookie').split(';')[0];
    const clients = await Promise.all(
      Array.from({ length: sockets }, () => {
        const socket = io(server.socket, {
          transports: ['websocket'],
          extraHeaders: { cookie, origin: server.http },
          reconnection: false,
          forceNew: true,
        });
        return new Promise((resolve, reject) => {
          socket.once('connect', () => resolve(socket));
          socket.once('connect_error', reject);
        });
      }),
    );
    const latencies = [];
    const counts = new Set();
    let lost = 0;
    const emit = (socket) =>
      new Promise((resolve) => {
        const sent = performance.now();
        socket.timeout(10_000).emit('incr', (err, n) => {
          if (err || typeof n !== 'number') lost++;
          else {
            latencies.push(performance.now() - sent);
            counts.add(n);
          }
          resolve();
        });
      });
    // Warm-up: one round.
    await Promise.all(clients.map(emit));
    latencies.length = 0;
    const warm = counts.size;
    const deadline = performance.now() + seconds * 1000;
    const started = performance.now();
    await Promise.all(
      clients.map(async (socket) => {
        while (performance.now() < deadline) await emit(socket);
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    const final = Number(await (await fetch(`${server.http}/incr`, { method: 'POST', headers: { cookie, origin: server.http } })).text());
    for (const socket of clients) socket.disconnect();
    latencies.sort((a, b) => a - b);
    const acks = latencies.length + warm;
    return {
      name,
      command,
      acks: latencies.length,
      perSecond: latencies.length / elapsed,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1],
      lostAcks: lost,
      // The HTTP increment after the run is the next count: every socket increment counted once.
      lostUpdates: acks + 1 - final,
      distinct: counts.size === acks,
    };
  } finally {
    process.kill(-server.child.pid, 'SIGTERM');
  }
}

const rows = [];
for (const server of servers) {
  const r = await measure(server);
  rows.push(r);
  console.error(
    `${r.name}: ${r.acks} acks, ${r.perSecond.toFixed(0)}/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ` +
      `lost acks ${r.lostAcks}, lost updates ${r.lostUpdates}`,
  );
}

const fmt = (ms) => `${ms.toFixed(2)} ms`;
let md = '## Socket handler round trip in every language\n\n';
md += `Command: \`node bench/handler-roundtrip.mjs --seconds ${seconds} --sockets ${sockets} ${servers
  .map((s) => `--server ${s.name}='${s.command}'`)
  .join(' ')}\` (run by \`bash bench/bindings.sh\`)\n\n`;
md += `${sockets} websocket sockets of one session each send the example contract's \`"incr"\` and wait for its ack before the next, for ${seconds} s: the handler increments the session's count in the store (memory), notifies the session's ${sockets} sockets and acks the new count. Latency runs from the emit to the ack.\n\n`;
md += '| example | acks | acks/s | ack p50 | ack p99 | max | lost acks | lost updates |\n|---|---:|---:|---:|---:|---:|---:|---:|\n';
for (const r of rows) {
  md += `| ${r.name} (\`${r.command}\`) | ${r.acks} | ${r.perSecond.toFixed(0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.lostAcks} | ${r.lostUpdates}${r.distinct ? '' : ' (repeated counts)'} |\n`;
}
if (out) writeFileSync(out, md);
else process.stdout.write(md);
