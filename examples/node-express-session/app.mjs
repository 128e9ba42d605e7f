// The Socket.IO guide's counter app ("How to use with express-session"), keeping its
// express-session as it is: express-session still makes, loads, saves and expires the
// sessions, in its own store (MemoryStore, or connect-redis with REDIS_URL) and with its
// own `connect.sid` cookie. sessionio serves Socket.IO on SOCKET_PORT and reads that same
// cookie and store: a socket is admitted by the cookie, joins its session's room, is told
// "session expired" and disconnected when express-session's session expires, and its
// writes are atomic. No io.engine.use(sessionMiddleware), no reload()/save() from socket
// handlers, no session-id rooms or reload timers by hand. See README.md for the diff.
//
// Environment: PORT (default 3000), SOCKET_PORT (default 3001), SESSION_TTL_MS (the
// cookie's maxAge: inactivity timeout, default 30 min), SESSION_SECRET (default: random at
// every start), SESSION_SECRETS (comma-separated, for rotation: the first signs, all are
// accepted; instead of SESSION_SECRET), ALLOWED_ORIGINS (comma-separated, besides this
// app's own), MAX_CONNECTIONS_PER_SESSION (default 32), TOKEN_TTL_MS (lifetime of the
// tokens GET /token issues, default 60 000), REDIS_URL (connect-redis as
// express-session's store, which sessionio reads directly, and sessionio's processes
// linked through that Redis; give every process the same secret).
//
// Users across sessions: POST /login (form field `user`) logs express-session's session in
// with rt.login(req, user) (express-session's regenerate(), then the login in the session
// and the engine's user index), POST /notify-user, GET /sessions, DELETE /sessions/:handle
// and POST /logout-everywhere as in the other examples.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import express from 'express';
import session from 'express-session';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { HandlerError, InvalidValueError, SessionIo, StoreUnavailableError } from 'sessionio';

const PORT = Number(process.env.PORT ?? 3000);
const SOCKET_PORT = Number(process.env.SOCKET_PORT ?? 3001);
const TTL_MS = Number(process.env.SESSION_TTL_MS ?? 30 * 60 * 1000);
const TOKEN_TTL_MS = Number(process.env.TOKEN_TTL_MS ?? 60_000);
const REDIS_URL = process.env.REDIS_URL || undefined;
const COOKIE_NAME = 'connect.sid'; // express-session's default `name`
const INDEX = readFileSync(new URL('./public/index.html', import.meta.url), 'utf8');
const SOCKET_IO_JS = createRequire(import.meta.url).resolve('socket.io-client/dist/socket.io.js');

// Random per start is fine for a demo whose memory store forgets sessions at exit;
// processes that share a store need the same secret(s).
const SECRETS = process.env.SESSION_SECRETS
  ? process.env.SESSION_SECRETS.split(',').map((s) => s.trim()).filter(Boolean)
  : [process.env.SESSION_SECRET || randomBytes(32).toString('hex')];

let redis;
let store;
if (REDIS_URL) {
  redis = createClient({ url: REDIS_URL });
  redis.on('error', (err) => console.error(`redis: ${err.message}`));
  await redis.connect();
  store = new RedisStore({ client: redis }); // keys `sess:<id>`
} else {
  store = new session.MemoryStore();
}

const sessionMiddleware = session({
  secret: SECRETS,
  resave: false, // sessionio writes the session itself; a resave would overwrite its writes
  saveUninitialized: true, // GET / sets the cookie before the page opens its socket
  store,
  rolling: true, // every response renews the cookie: HTTP activity keeps the session alive
  cookie: { maxAge: TTL_MS, httpOnly: true, sameSite: 'lax' },
});

const rt = await SessionIo.start({
  port: SOCKET_PORT,
  // express-session's store, secret(s) and cookie name; with connect-redis, its Redis,
  // which the engine then reads itself.
  expressSession: { store, secret: SECRETS, name: COOKIE_NAME, ...(REDIS_URL ? { redisUrl: REDIS_URL } : {}) },
  // With Redis, start() also waits until this engine is linked to the others.
  ...(REDIS_URL ? { adapter: REDIS_URL } : {}),
  maxConnectionsPerSession: Number(process.env.MAX_CONNECTIONS_PER_SESSION ?? 32),
  // The page comes from the Express port: its Origin may open sockets, with cookies.
  allowedOrigins: [
    `http://localhost:${PORT}`,
    `http://127.0.0.1:${PORT}`,
    ...(process.env.ALLOWED_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
  ],
  // The demo runs on http://localhost; a real deployment keeps Secure cookies.
  cookieSecure: false,
});

// Socket event "incr": atomic increment in express-session's session, ack with the new
// count, tell every tab.
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

const app = express();

app.get('/assets/socket.io.js', (req, res) => res.sendFile(SOCKET_IO_JS));

// A health check, mounted before express-session: no session, no cookie.
app.get('/health', (req, res) => res.type('text').send('ok'));

// Logging out always answers 204 and clears the cookie, even for a session that is
// already gone (the guard then lets the request through with `req.sessionRefusal` set and
// the cookie cleared); a live session is destroyed and all its sockets are disconnected.
app.post('/logout', rt.express({ optional: true }), sessionMiddleware, async (req, res) => {
  await rt.destroySession(req.session.id); // store.destroy() and disconnect its sockets
  // express-session forgets it too: no save, no touch, no Set-Cookie of its own.
  await new Promise((resolve, reject) => req.session.destroy((err) => (err ? reject(err) : resolve())));
  // Max-Age=0 (Express 5's res.clearCookie() sends only a past Expires)
  if (!req.sessionRefusal) res.cookie(COOKIE_NAME, '', { path: '/', maxAge: 0, httpOnly: true, sameSite: 'lax' });
  res.status(204).end();
});

// A forged, unknown, destroyed or expired connect.sid is answered 401 with a clearing
// cookie (express-session alone would quietly start a new session).
app.use(rt.express());
app.use(sessionMiddleware);

app.get('/', (req, res) => {
  const count = req.session.count ?? 0;
  res.type('html').send(INDEX.replace('{{COUNT}}', String(count)).replace('{{SOCKET_URL}}', rt.url));
});

app.post('/incr', async (req, res) => {
  // A session express-session has just made (the request had no cookie) reaches its
  // store when the response ends (saveUninitialized); save it now, for sessionio to find.
  if (!hasSessionCookie(req)) {
    await new Promise((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
  }
  // Atomic in the store: no lost update between concurrent requests and sockets.
  const count = await (await rt.session(req.session.id)).increment('count');
  await rt.notifySession(req.session.id, 'current count', count);
  res.type('text').send(String(count));
});

// A token for clients that cannot send the cookie (they pass it as `auth.token`).
app.get('/token', (req, res) => {
  res.type('text').send(rt.issueToken(req.session.id, TOKEN_TTL_MS));
});

// POST /login with the form field `user`: express-session's own regenerate() (against
// fixation), then the login in the session and the engine's user index. A missing or bad
// user id (the engine's rule) is 400 with the reason.
app.post('/login', express.urlencoded({ extended: false }), async (req, res) => {
  // A repeated field gives an array: the first one counts, as in the other examples.
  const user = [req.body?.user].flat()[0];
  if (typeof user !== 'string') return res.status(400).type('text').send('the form field `user` is missing');
  try {
    await rt.login(req, user);
  } catch (err) {
    if (err instanceof InvalidValueError) return res.status(400).type('text').send(err.message);
    throw err;
  }
  res.status(204).end();
});

/** The routes of a logged-in user: `req.user`, or 401 without a login. */
function loggedIn(req, res, next) {
  req.user = rt.userId(req);
  if (req.user == null) return res.status(401).type('text').send('not logged in');
  next();
}

// POST /notify-user (text body): every socket of every session of the user gets
// "user message" with the text; answers how many sockets this process reached.
app.post('/notify-user', loggedIn, express.text({ type: () => true }), async (req, res) => {
  const reached = await rt.notifyUser(req.user, 'user message', req.body ?? '');
  res.type('text').send(String(reached));
});

// GET /sessions: the user's live sessions, each under a handle that is not its id.
app.get('/sessions', loggedIn, async (req, res) => {
  const list = await rt.userSessions(req.user);
  res.json(list.map((s) => ({ ...s, createdAt: s.createdAt.getTime(), lastSeen: s.lastSeen.getTime() })));
});

// DELETE /sessions/:handle: signs out the user's session of that handle ("that device").
app.delete('/sessions/:handle', loggedIn, async (req, res) => {
  if (await rt.destroyUserSession(req.user, req.params.handle)) return res.status(204).end();
  res.status(404).type('text').send('no such session');
});

// POST /logout-everywhere: every other session of the user through the engine, this one as
// POST /logout does; answers how many.
app.post('/logout-everywhere', loggedIn, async (req, res) => {
  const others = await rt.destroyUser(req.user, { except: req.session.id });
  await rt.destroySession(req.session.id);
  await new Promise((resolve, reject) => req.session.destroy((err) => (err ? reject(err) : resolve())));
  res.cookie(COOKIE_NAME, '', { path: '/', maxAge: 0, httpOnly: true, sameSite: 'lax' });
  res.type('text').send(String(others + 1));
});

/** Whether the request came with a session cookie (past the guard: a live session's). */
function hasSessionCookie(req) {
  return (req.headers.cookie ?? '').split(';').some((c) => c.trim().startsWith(`${COOKIE_NAME}=`));
}

const server = app.listen(PORT, '127.0.0.1', () => {
  console.log(`listening http=http://127.0.0.1:${PORT} socket=${rt.url}`);
});

async function shutdown() {
  server.close();
  server.closeAllConnections();
  await rt.close();
  await redis?.close();
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
