// The Socket.IO guide's counter app ("How to use with express-session") on sessionio:
// Express serves the page and the HTTP routes on PORT, and the sessionio engine serves
// Socket.IO on the same server (`rt.attach(server)`) — or, with SOCKET_PORT set, on a
// port of its own — and both share one session store. No reload(), no save() after writes, no
// session-id rooms or per-socket timers by hand: the engine does those.
//
// Environment: PORT (default 3000), SOCKET_PORT (unset by default: one port), SESSION_TTL_MS
// (inactivity timeout, default 30 min), SESSION_SECRET (default: random at every start),
// ALLOWED_ORIGINS (comma-separated, besides this app's own), MAX_CONNECTIONS_PER_SESSION
// (default 32), TOKEN_TTL_MS (lifetime of the tokens GET /token issues, default 60 000),
// PING_INTERVAL_MS, PING_TIMEOUT_MS, CONNECT_TIMEOUT_MS, MAX_PAYLOAD, MAX_BUFFER_SIZE,
// MAX_PENDING_HANDSHAKES, MAX_PENDING_HANDSHAKES_PER_ADDRESS (engine tuning: core's defaults),
// MAX_SESSIONS (sessions the store may hold, default 1 000 000; past it a new
// session is answered 503 "too many sessions"), SESSION_STORE_URL (`memory://` by default, or `sqlite://<file>` to keep
// sessions across restarts), REDIS_URL (several processes on one Redis: sessions in it, and
// notifications and logouts reach the sockets of every process; same as
// SESSION_STORE_URL=redis://…; give every process the same SESSION_SECRET), METRICS_ALLOW
// (comma-separated client IPs served GET /metrics, default 127.0.0.1,::1).
//
// Several workers on one port: `REDIS_URL=redis://… node examples/node-express/cluster.mjs`
// forks WORKERS (default 4) processes of this app with node:cluster. As a cluster worker
// it passes `workers: true` to the engine (polling requests and upgrades reach the worker
// that holds their Engine.IO session, whichever worker accepted them; SOCKET_PORT is
// bound by every worker), tells the primary its URLs instead of printing them, and
// answers the socket event "worker" with its pid.
//
// Users across sessions: POST /login (form field `user`) logs the session in (a new id and
// cookie), POST /notify-user (text body) reaches every socket of every session of the user,
// GET /sessions lists them under opaque handles, DELETE /sessions/:handle signs one out,
// POST /logout-everywhere signs them all out.
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import express from 'express';
import { isIP } from 'node:net';
import { HandlerError, InvalidValueError, SessionIo, StoreUnavailableError, TooManySessionsError } from 'sessionio';

const PORT = Number(process.env.PORT ?? 3000);
const SOCKET_PORT = process.env.SOCKET_PORT ? Number(process.env.SOCKET_PORT) : null;
const TOKEN_TTL_MS = Number(process.env.TOKEN_TTL_MS ?? 60_000);
const INDEX = readFileSync(new URL('./public/index.html', import.meta.url), 'utf8');
const SOCKET_IO_JS = createRequire(import.meta.url).resolve('socket.io-client/dist/socket.io.js');

/** `{ option: Number(value) }` for each set environment variable of `names` (VAR → option). */
function numbersFromEnv(names) {
  return Object.fromEntries(
    Object.entries(names)
      .filter(([variable]) => process.env[variable])
      .map(([variable, option]) => [option, Number(process.env[variable])]),
  );
}

const options = {
  // Random per start is fine for a demo whose memory store forgets sessions at exit;
  // processes that share a store need the same SESSION_SECRET.
  secret: process.env.SESSION_SECRET ?? randomBytes(32).toString('hex'),
  // With Redis, start() also waits until this engine is linked to the others.
  store: process.env.SESSION_STORE_URL || process.env.REDIS_URL || undefined,
  ttlMs: Number(process.env.SESSION_TTL_MS ?? 30 * 60 * 1000),
  maxConnectionsPerSession: Number(process.env.MAX_CONNECTIONS_PER_SESSION ?? 32),
  ...(process.env.MAX_SESSIONS ? { maxSessions: Number(process.env.MAX_SESSIONS) } : {}),
  // Engine tuning, as examples/rust-counter reads it (the hostile-client tests set these).
  ...numbersFromEnv({
    PING_INTERVAL_MS: 'pingIntervalMs',
    PING_TIMEOUT_MS: 'pingTimeoutMs',
    CONNECT_TIMEOUT_MS: 'connectTimeoutMs',
    MAX_PAYLOAD: 'maxPayload',
    MAX_BUFFER_SIZE: 'maxBufferSize',
    MAX_PENDING_HANDSHAKES: 'maxPendingHandshakes',
    MAX_PENDING_HANDSHAKES_PER_ADDRESS: 'maxPendingHandshakesPerAddress',
  }),
  // Other sites' pages that may open sockets (the server's own page always may).
  allowedOrigins: (process.env.ALLOWED_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
  // The demo runs on http://localhost; a real deployment keeps Secure cookies.
  cookieSecure: false,
  // A worker of cluster.mjs shares its port(s) with the others (needs the Redis store).
  ...(cluster.isWorker ? { workers: true } : {}),
};
const rt =
  SOCKET_PORT == null
    ? await SessionIo.create(options)
    : await SessionIo.start({
        ...options,
        port: SOCKET_PORT,
        // The page comes from the Express port, another origin: it may open sockets, with cookies.
        allowedOrigins: [`http://localhost:${PORT}`, `http://127.0.0.1:${PORT}`, ...options.allowedOrigins],
      });

// Socket event "incr": atomic increment, ack with the new count, tell every tab.
rt.on('incr', async (socket) => {
  try {
    const count = await socket.session.increment('count');
    await socket.session.notify('current count', count);
    return count;
  } catch (err) {
    // Only a HandlerError's message reaches the client; anything else acks "internal
    // error" (and is logged). A store outage is worth saying, in the documented words.
    if (err instanceof StoreUnavailableError) throw new HandlerError('store unavailable', { cause: err });
    throw err;
  }
});

// Socket event "join" (a room name): the chat-room call of the Socket.IO guides; acks the
// socket's rooms, sorted. The engine's own room names (`sessionio:…`) are refused, and the
// refusal's message is the ack's error.
rt.on('join', async (socket, room) => {
  try {
    socket.join(room);
  } catch (err) {
    if (err instanceof InvalidValueError) throw new HandlerError(err.message, { cause: err });
    throw err;
  }
  return [...socket.rooms].sort();
});

// Under cluster.mjs, socket event "worker": the pid of the worker that holds the socket
// (tests/workers/workers.test.mjs shows one session's sockets spread over several).
if (cluster.isWorker) rt.on('worker', () => process.pid);

/** The client addresses served GET /metrics: the figures are the operator's, not the world's. */
const METRICS_ALLOW = new Set(
  (process.env.METRICS_ALLOW ?? '127.0.0.1,::1')
    .split(',')
    .map((ip) => ip.trim())
    .filter((ip) => isIP(ip)),
);

const app = express();
const session = rt.express();

// Sessions are created lazily: by their first write, or by save(). The page opens a
// socket, whose handshake needs the cookie, so GET / saves the session.
app.get('/', session, async (req, res) => {
  await req.session.save();
  const count = (await req.session.get('count')) ?? 0;
  res.type('html').send(INDEX.replace('{{COUNT}}', String(count)).replace('{{SOCKET_URL}}', rt.url ?? ''));
});

app.get('/assets/socket.io.js', (req, res) => res.sendFile(SOCKET_IO_JS));

// A health check: no session middleware, so no session and no cookie.
app.get('/health', (req, res) => res.type('text').send('ok'));

// Prometheus text, to the addresses of METRICS_ALLOW only. (Behind a proxy on the same host
// every client has the proxy's address: do not route /metrics there.)
app.get('/metrics', (req, res) => {
  const peer = (req.socket.remoteAddress ?? '').replace(/^::ffff:(?=\d+\.)/, '');
  if (!METRICS_ALLOW.has(peer)) return res.status(403).type('text').send('forbidden');
  res.type('text/plain; version=0.0.4').send(rt.metricsText());
});

app.post('/incr', session, async (req, res) => {
  const count = await req.session.increment('count');
  await req.session.notify('current count', count);
  res.type('text').send(String(count));
});

// Logging out always answers 204 and clears the cookie, even for a session that is
// already gone; a live session is destroyed and all its sockets are disconnected.
app.post('/logout', rt.express({ optional: true }), async (req, res) => {
  if (req.session) await req.session.destroy();
  res.status(204).end();
});

// A token for clients that cannot send the cookie (they pass it as `auth.token`).
app.get('/token', session, async (req, res) => {
  await req.session.save();
  res.type('text').send(rt.issueToken(req.sessionId, TOKEN_TTL_MS));
});

// POST /login with the form field `user`: logs the session in as that user (a real app
// checks a password first) under a new id, against fixation; the response carries the new
// cookie. A missing or bad user id (the engine's rule) is 400 with the reason.
app.post('/login', session, express.urlencoded({ extended: false }), async (req, res) => {
  // A repeated field gives an array: the first one counts, as in the other examples.
  const user = [req.body?.user].flat()[0];
  if (typeof user !== 'string') return res.status(400).type('text').send('the form field `user` is missing');
  try {
    await req.session.login(user);
  } catch (err) {
    if (err instanceof InvalidValueError) return res.status(400).type('text').send(err.message);
    throw err;
  }
  res.status(204).end();
});

/** The routes of a logged-in user: `req.user`, or 401 without a login. */
async function loggedIn(req, res, next) {
  req.user = await req.session.userId();
  if (req.user == null) return res.status(401).type('text').send('not logged in');
  next();
}

// POST /notify-user (text body): every socket of every session of the user gets
// "user message" with the text; answers how many sockets this process reached.
app.post('/notify-user', session, loggedIn, express.text({ type: () => true }), async (req, res) => {
  const reached = await rt.notifyUser(req.user, 'user message', req.body ?? '');
  res.type('text').send(String(reached));
});

// GET /sessions: the user's live sessions, each under a handle that is not its id (times
// as unix ms in the JSON).
app.get('/sessions', session, loggedIn, async (req, res) => {
  const list = await rt.userSessions(req.user);
  res.json(list.map((s) => ({ ...s, createdAt: s.createdAt.getTime(), lastSeen: s.lastSeen.getTime() })));
});

// DELETE /sessions/:handle: signs out the user's session of that handle ("that device").
app.delete('/sessions/:handle', session, loggedIn, async (req, res) => {
  if (await rt.destroyUserSession(req.user, req.params.handle)) return res.status(204).end();
  res.status(404).type('text').send('no such session');
});

// POST /logout-everywhere: destroys every session of the user, this one last (its cookie
// is cleared); answers how many.
app.post('/logout-everywhere', session, loggedIn, async (req, res) => {
  const others = await rt.destroyUser(req.user, { except: req.sessionId });
  await req.session.destroy();
  res.type('text').send(String(others + 1));
});

// Past MAX_SESSIONS a new session is refused: answer the engine's status and message.
app.use((err, req, res, next) => {
  if (!(err instanceof TooManySessionsError)) return next(err);
  res.status(err.status).type('text').send(err.message);
});

const server = app.listen(PORT, '127.0.0.1', () => {
  const http = `http://127.0.0.1:${server.address().port}`;
  // A cluster worker tells the primary, which prints one line once every worker listens.
  if (cluster.isWorker) process.send({ listening: { http, socket: rt.url ?? http } });
  else console.log(`listening http=${http} socket=${rt.url ?? http}`);
});
// One port: requests and websocket upgrades under /socket.io/ go to the engine.
if (SOCKET_PORT == null) rt.attach(server);

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  server.close();
  server.closeAllConnections();
  await rt.close();
  // The IPC channel to the primary would keep a worker alive.
  if (cluster.isWorker) cluster.worker.disconnect();
}
// A cluster worker may get the signal twice (from its process group and from the
// primary): the second must not kill it mid-shutdown. Alone, a second one still does.
const onSignal = cluster.isWorker ? 'on' : 'once';
process[onSignal]('SIGTERM', shutdown);
process[onSignal]('SIGINT', shutdown);
