// Bench helper, run by notify.mjs in a child process (so that receiving does not compete
// with the measured calls for the bench's JavaScript thread): opens N websocket clients
// of one session and counts the "tick" events they receive.
import { io } from 'socket.io-client';

const [url, token, count] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const sockets = [];
let received = 0;

for (let i = 0; i < count; i++) {
  const socket = io(url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
  socket.on('tick', () => received++);
  sockets.push(
    new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    }),
  );
  // A few at a time: a thousand simultaneous handshakes only measure the accept queue.
  if (i % 50 === 49) await Promise.all(sockets.slice(-50));
}
const connected = await Promise.all(sockets);
process.send({ ready: connected.length });

process.on('message', (msg) => {
  if (msg === 'report') {
    for (const s of connected) s.disconnect();
    process.send({ received }, () => process.exit(0));
  }
});
