// Shared helpers of the binding's tests: Socket.IO clients that are always closed, and a
// time limit on every wait.
import { createServer } from 'node:net';
import { io } from 'socket.io-client';

export const SECRET = 'test secret of at least thirty-two bytes';
export const COOKIE_NAME = 'sessionio.sid';

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Name=value of a Set-Cookie header (what the browser sends back). */
export function sessionCookieHeader(setCookie) {
  return setCookie.split(';')[0];
}

/** A socket of `session`, authenticated with a token from the engine. */
export function connectSession(clients, rt, session, opts = {}) {
  return clients.connect(rt.url, { token: rt.issueToken(session.id, 60_000), ...opts });
}

/** Opens Socket.IO clients and closes them all when the test ends. */
export class Clients {
  constructor(t) {
    this.sockets = [];
    t.after(() => this.closeAll());
  }
  open(url, { cookie, token, ...rest } = {}) {
    const socket = io(url, {
      forceNew: true,
      reconnection: false,
      transports: ['websocket'],
      timeout: 5_000,
      extraHeaders: cookie ? { cookie } : {},
      ...(token !== undefined ? { auth: { token } } : {}),
      ...rest,
    });
    this.sockets.push(socket);
    return socket;
  }
  async connect(url, opts) {
    const socket = this.open(url, opts);
    await withTimeout(
      new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', (e) => reject(new Error(`connect_error: ${e.message}`)));
      }),
      5_000,
      'socket connect',
    );
    return socket;
  }
  async connectError(url, opts) {
    const socket = this.open(url, opts);
    return withTimeout(
      new Promise((resolve, reject) => {
        socket.once('connect', () => reject(new Error('expected a connect_error, the socket connected')));
        socket.once('connect_error', resolve);
      }),
      5_000,
      'connect_error',
    );
  }
  closeAll() {
    for (const s of this.sockets) s.disconnect();
    this.sockets = [];
  }
}

/** Waits (bounded) for one `event` on a client socket; resolves its arguments. */
export function nextEvent(socket, event, ms = 5_000) {
  return withTimeout(new Promise((resolve) => socket.once(event, (...args) => resolve(args))), ms, `event "${event}"`);
}

export const ack = (socket, event, ...args) => socket.timeout(5_000).emitWithAck(event, ...args);

/** A loopback TCP port that nothing listens on (just now). */
export async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}
