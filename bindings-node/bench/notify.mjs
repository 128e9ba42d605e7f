// How much a `notifySession` call costs from JavaScript: calls/s and µs per call, awaited
// one after the other, (a) for a session with no sockets and (b) for a session with 1000
// connected websocket sockets in its room (clients in a child process).
//
// Build the release addon first:
//   cd bindings-node && SESSIONIO_CARGO_PROFILE=release node scripts/install.js && node bench/notify.mjs
// `--json <path>` also writes the figures for bench/run.sh (BENCHMARKS.md).
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SessionIo } from '../index.mjs';

const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 1000);
const CALLS_EMPTY = Number(process.env.BENCH_CALLS_EMPTY ?? 200_000);
// Fewer calls to the full room: each one is SOCKETS messages for the clients to read.
const CALLS_ROOM = Number(process.env.BENCH_CALLS_ROOM ?? 500);

async function measure(calls, fn) {
  for (let i = 0; i < Math.min(1000, calls / 10); i++) await fn(i); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await fn(i);
  const ns = Number(process.hrtime.bigint() - start);
  return { calls, ms: ns / 1e6, perSecond: calls / (ns / 1e9), usPerCall: ns / 1e3 / calls };
}

const rt = await SessionIo.start({
  secret: 'bench secret of at least thirty-two bytes!',
  maxConnectionsPerSession: SOCKETS + 10,
  maxBufferSize: 4096,
});
const rows = [];
try {
  const empty = await rt.createSession();
  let reached = -1;
  const a = await measure(CALLS_EMPTY, async (i) => {
    reached = await rt.notifySession(empty.id, 'tick', { n: i });
  });
  if (reached !== 0) throw new Error(`a session without sockets reached ${reached}`);
  rows.push(['no sockets', 0, a]);

  const full = await rt.createSession();
  const child = fork(fileURLToPath(new URL('./clients.mjs', import.meta.url)), [
    rt.url,
    rt.issueToken(full.id, 10 * 60_000),
    String(SOCKETS),
  ]);
  const ready = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.ready));
    child.once('exit', (code) => reject(new Error(`clients exited (${code})`)));
  });
  if (ready !== SOCKETS) throw new Error(`only ${ready} sockets connected`);
  const b = await measure(CALLS_ROOM, async (i) => {
    reached = await rt.notifySession(full.id, 'tick', { n: i });
  });
  if (reached !== SOCKETS) throw new Error(`the room reached ${reached} of ${SOCKETS} sockets`);
  // Let the clients drain, then ask them what arrived.
  await new Promise((r) => setTimeout(r, 2_000));
  child.send('report');
  const { received } = await new Promise((resolve) => child.once('message', resolve));
  const expected = SOCKETS * (CALLS_ROOM + Math.min(1000, CALLS_ROOM / 10));
  rows.push([`${SOCKETS} sockets in the room`, SOCKETS, b, `${received} of ${expected} events received`]);
} finally {
  await rt.close();
}

console.log('| session | sockets reached per call | calls | total ms | calls/s | µs per call |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const [name, sockets, r] of rows) {
  console.log(
    `| ${name} | ${sockets} | ${r.calls} | ${r.ms.toFixed(0)} | ${Math.round(r.perSecond).toLocaleString('en-US')} | ${r.usPerCall.toFixed(2)} |`,
  );
}
for (const row of rows) if (row[3]) console.log(`\n${row[0]}: ${row[3]}`);
console.log(
  `\nnode ${process.version}, ${process.platform}-${process.arch}; each call awaited before the next. Command:\n` +
    '  cd bindings-node && SESSIONIO_CARGO_PROFILE=release node scripts/install.js && node bench/notify.mjs',
);

const jsonAt = process.argv.indexOf('--json');
if (jsonAt > 0) {
  // The call with no socket is the one the ≤ 5 µs target is about.
  const figures = rows.map(([label, sockets, r]) => ({
    label: `notifySession from Node, ${label}`,
    us_per_call: r.usPerCall,
    calls_per_s: r.perSecond,
    target_us: sockets === 0 ? 5 : null,
  }));
  writeFileSync(
    process.argv[jsonAt + 1],
    JSON.stringify(
      {
        title: 'notifySession call cost from Node',
        command: 'bindings-node/bench/notify.mjs on a release build of the addon (run by bash bench/bindings.sh)',
        figures,
      },
      null,
      2,
    ),
  );
}
