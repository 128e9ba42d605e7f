// Bench helper for notify_bench.rb, run as a child process (so that receiving does not
// compete with the measured calls for Ruby's GVL): opens N websocket clients of one
// session (auth.token), prints `ready <n>`, counts the "tick" events they receive, and on
// a `report` line on stdin prints `received <n>` and exits. socket.io-client comes from
// tests/node_modules (npm ci --prefix tests).
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

const require = createRequire(new URL('../../../tests/package.json', import.meta.url));
const { io } = require('socket.io-client');

const [url, token, count] = [process.argv[2], process.argv[3], Number(process.argv[4])];
let received = 0;
const sockets = [];
const connecting = [];
for (let i = 0; i < count; i++) {
  const socket = io(url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
  socket.on('tick', () => received++);
  sockets.push(socket);
  connecting.push(
    new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    }),
  );
  // A few at a time: a thousand simultaneous handshakes only measure the accept queue.
  if (i % 50 === 49) await Promise.all(connecting.slice(-50));
}
await Promise.all(connecting);
console.log(`ready ${sockets.length}`);

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line === 'count') console.log(`received ${received}`);
  if (line === 'report') {
    for (const s of sockets) s.disconnect();
    console.log(`received ${received}`);
    process.exit(0);
  }
});
