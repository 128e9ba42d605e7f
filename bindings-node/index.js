'use strict';
// sessionio for Node.js: the Rust engine (Socket.IO server + sessions) behind a small
// idiomatic layer: Promises, camelCase, Express middleware, Error classes with codes.
const native = require('./lib/native').load();
const errors = require('./lib/errors');
const { Session } = require('./lib/session');
const { Socket, DEFAULT_ACK_TIMEOUT_MS } = require('./lib/socket');
const { middleware, guard } = require('./lib/express');
const { attach } = require('./lib/attach');
const { keepAlive } = require('./lib/keep-alive');

/**
 * express-session's `regenerate()` keeping the data (not the cookie), then `edit(session)`
 * and a `save()`: express-session's own calls, promisified.
 */
async function rotateExpressSession(req, edit) {
  const kept = Object.fromEntries(Object.entries(req.session).filter(([k]) => k !== 'cookie'));
  await new Promise((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
  Object.assign(req.session, kept);
  edit(req.session);
  await new Promise((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
}

const { call, HandlerError, InvalidValueError } = errors;

const messageOf = (err) => (err instanceof Error ? err.message : String(err));

/**
 * The outcome of a failed socket event (a handler or a `use` middleware that threw or
 * rejected). A `HandlerError`'s message, which the handler chose to send, is the ack's
 * `{ error }`: `[false, message]`. Anything else (a store error, a bug, a thrown
 * non-Error) is `[false, null, detail]`: the engine answers the client `internal error`
 * and logs the detail with an error id; the error itself, with its stack, is logged here.
 * @param {unknown} err what was thrown
 * @param {string} who e.g. `the handler of "incr"`
 */
function failedEvent(err, who) {
  if (err instanceof HandlerError) return [false, err.message];
  console.error(`sessionio: ${who} threw (the client was told "internal error"):`, err);
  return [false, null, `${who} threw: ${messageOf(err)}`];
}

function assertString(what, value) {
  if (typeof value !== 'string') throw new InvalidValueError(`invalid value: ${what} must be a string, got ${typeof value}`);
}

function assertFunction(what, value) {
  if (typeof value !== 'function') throw new InvalidValueError(`invalid value: ${what} must be a function`);
}

/** Calls `fn(...args, callback)` of an express-session store as a Promise. */
function storeCall(store, method, ...args) {
  return new Promise((resolve, reject) => {
    store[method](...args, (err, value) => (err ? reject(err) : resolve(value)));
  });
}

/**
 * `expressSession.store` is a JavaScript object: the engine reaches it through one
 * function, which this makes. Answers the options without the store (everything else goes
 * to the engine unchanged) and `{ call, hasTouch }` (that function, and whether the store
 * has the optional `touch`), or `null` when no store was given.
 */
function takeExpressStore(options) {
  const x = options.expressSession;
  if (x === null || typeof x !== 'object' || Array.isArray(x) || x.store == null) return [options, null];
  const { store, ...rest } = x;
  if (['get', 'set', 'destroy'].some((m) => typeof store[m] !== 'function')) {
    throw new errors.InvalidConfigError(
      'invalid configuration: option `expressSession.store` must be an express-session store (get, set, destroy)',
    );
  }
  // Never rejects: the engine gets [true, value] or [false, message].
  const call = async (op, sid, json) => {
    try {
      switch (op) {
        case 'get': {
          const session = await storeCall(store, 'get', sid);
          return [true, session == null ? null : JSON.stringify(session)];
        }
        case 'set':
          await storeCall(store, 'set', sid, JSON.parse(json));
          return [true];
        case 'touch':
          // Core asks for `touch` only when `hasTouch` said the store has it.
          await storeCall(store, 'touch', sid, JSON.parse(json));
          return [true];
        case 'destroy':
          await storeCall(store, 'destroy', sid);
          return [true];
        default:
          return [false, `unknown store operation ${op}`];
      }
    } catch (err) {
      return [false, messageOf(err)];
    }
  };
  return [{ ...options, expressSession: rest }, { call, hasTouch: typeof store.touch === 'function' }];
}

class SessionIo {
  #native;
  #keepAlive;
  #closing;
  #expressMode;
  /** For each server attached to: what hands its socket back to Node. */
  #attachedServers = [];

  /** Use `SessionIo.start(options)` or `SessionIo.create(options)`. */
  constructor(nativeEngine, expressMode = false) {
    this.#native = nativeEngine;
    this.#expressMode = expressMode;
    // The engine runs on its own threads, which Node does not see: like a listening
    // `http.Server`, an engine with its own port keeps the process alive until `close()`.
    // (An attached engine serves through the app's server, which does that itself.)
    if (nativeEngine.port != null) this.#keepAlive = keepAlive();
  }

  /** The field of an express session that holds its login (express-session mode, see `login`). */
  static LOGIN_KEY = native.LOGIN_KEY;

  /**
   * Checks the options, builds the engine and starts its Socket.IO server on a port of
   * its own (`port`, `host`).
   * @param {import('./index').StartOptions} [options]
   */
  static async start(options = {}) {
    return SessionIo.#build(native.start, options);
  }

  /**
   * Checks the options and builds the engine, without a port of its own: serve it on the
   * app's server with `attach(server)`. (`port` and `host` are not used.)
   * @param {import('./index').StartOptions} [options]
   */
  static async create(options = {}) {
    return SessionIo.#build(native.create, options);
  }

  static async #build(make, options) {
    const [nativeOptions, store] = takeExpressStore(options ?? {});
    const expressMode = options != null && options.expressSession != null;
    return new SessionIo(await call(() => make(nativeOptions, store?.call, store?.hasTouch)), expressMode);
  }

  /**
   * Serves Socket.IO on `server` (an `http.Server`: what `app.listen()` or
   * `http.createServer(app)` returns), on its port: requests and websocket upgrades under
   * the engine path go to the engine, the rest to the listeners the server already has
   * (attach after adding other `upgrade` listeners). Websocket connections are handed
   * to the engine whole. Closing the server closes the engine. An `https.Server` is
   * refused (`InvalidConfigError`): terminate TLS in front, or use `start({ port })`.
   * @param {import('node:http').Server} server
   * @returns {this}
   */
  attach(server) {
    const giveBack = attach(this.#native, server, () => {
      this.close().catch((err) => console.error('sessionio: closing the engine with its server failed:', err));
    });
    this.#attachedServers.push(giveBack);
    return this;
  }

  /** The port of the engine's own Socket.IO server; `null` for an engine made by `create`. */
  get port() {
    return this.#native.port;
  }

  /** The host address of the engine's own Socket.IO server; `null` without one. */
  get host() {
    return this.#native.host;
  }

  /** The engine's own Socket.IO server's URL, e.g. `http://127.0.0.1:3001`; `null` without one. */
  get url() {
    if (this.host == null) return null;
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${this.port}`;
  }

  /**
   * Express middleware: `req.session` (a `Session`) and `req.sessionId` from the cookie,
   * a new session (and its cookie) for a request without one. A refused cookie (forged,
   * expired, destroyed) is answered with the refusal's status and message and a clearing
   * cookie — or, with `{ optional: true }`, passed on with `req.session = null`.
   */
  express(options) {
    if (this.#expressMode) return guard(this.#native, options);
    return middleware(this.#native, options);
  }

  /** Emits `event` with `data` to every socket of the session; resolves how many it reached. */
  async notifySession(sessionId, event, data) {
    assertString('the session id', sessionId);
    assertString('the event name', event);
    return call(() => this.#native.notifySession(sessionId, event, data));
  }

  /** Deletes the session and disconnects its sockets; resolves how many. */
  async destroySession(sessionId) {
    assertString('the session id', sessionId);
    return call(() => this.#native.destroySession(sessionId));
  }

  /**
   * Emits `event` with `data` to every socket of every session logged in as `userId` (on
   * every linked process); resolves how many sockets it reached in this process.
   */
  async notifyUser(userId, event, data) {
    assertString('the user id', userId);
    assertString('the event name', event);
    return call(() => this.#native.notifyUser(userId, event, data));
  }

  /**
   * Destroys every session logged in as `userId` but `except` (a session id: the caller's
   * own, for "sign out my other devices"), as `destroySession` does; resolves how many
   * live sessions were destroyed.
   */
  async destroyUser(userId, { except } = {}) {
    assertString('the user id', userId);
    if (except != null) assertString('except (a session id)', except);
    return call(() => this.#native.destroyUser(userId, except ?? null));
  }

  /**
   * The live sessions logged in as `userId`, oldest login first: `{ handle, createdAt,
   * lastSeen, userAgent, address, sockets }`, each named by an opaque handle (never its
   * session id) for `destroyUserSession`.
   */
  async userSessions(userId) {
    assertString('the user id', userId);
    const list = await call(() => this.#native.userSessions(userId));
    return list.map((s) => ({ ...s, createdAt: new Date(s.createdAt), lastSeen: new Date(s.lastSeen) }));
  }

  /** Destroys the session of `userId` that `handle` names ("sign out that device"); resolves `false` when the user has none. */
  async destroyUserSession(userId, handle) {
    assertString('the user id', userId);
    assertString('the handle', handle);
    return call(() => this.#native.destroyUserSession(userId, handle));
  }

  /**
   * express-session mode: logs `req.session` (express-session's) in as `userId`. First a
   * new id with express-session's own `regenerate()` (against fixation: the old id's
   * sockets are disconnected after the response), the data kept; then the login in the
   * session (under `SessionIo.LOGIN_KEY`, with the request's User-Agent and address), saved,
   * and put in the engine's user index. The response sets the new `connect.sid`. A bad user
   * id (empty, over 256 bytes, control characters) changes nothing and rejects with an
   * `InvalidValueError`.
   */
  async login(req, userId) {
    this.#assertExpressSession(req, 'login');
    assertString('the user id', userId);
    const field = call(() => native.loginField(userId, req.headers['user-agent'] ?? null, req.socket?.remoteAddress ?? null));
    await rotateExpressSession(req, (session) => {
      session[native.LOGIN_KEY] = field;
    });
    await call(() => this.#native.indexLogin(req.session.id));
  }

  /**
   * express-session mode: logs `req.session` out of its user: the login removed and a new
   * id (`regenerate()`), the data kept.
   */
  async logout(req) {
    this.#assertExpressSession(req, 'logout');
    await rotateExpressSession(req, (session) => {
      delete session[native.LOGIN_KEY];
    });
  }

  /** express-session mode: the user `req.session` is logged in as (see `login`), or `null`. */
  userId(req) {
    this.#assertExpressSession(req, 'userId');
    return req.session[native.LOGIN_KEY]?.user_id ?? null;
  }

  #assertExpressSession(req, what) {
    if (!this.#expressMode) {
      throw new errors.InvalidConfigError(
        `invalid configuration: SessionIo#${what}(req) is for express-session mode; use req.session.${what}() with sessionio's own sessions`,
      );
    }
    if (req?.session == null || typeof req.session.regenerate !== 'function') {
      throw new errors.InvalidValueError(`invalid value: SessionIo#${what}(req) needs express-session's req.session (mount express-session first)`);
    }
  }

  /** `{ users, sessions }`: how many the store's user index holds. */
  async userIndexSize() {
    return call(() => this.#native.userIndexSize());
  }

  /** A signed token, valid `ttlMs`, for clients without the cookie: `io(url, { auth: { token } })`. */
  issueToken(sessionId, ttlMs) {
    assertString('the session id', sessionId);
    if (typeof ttlMs !== 'number') throw new InvalidValueError('invalid value: ttlMs must be a number of milliseconds');
    return call(() => this.#native.issueToken(sessionId, ttlMs));
  }

  /** A new, empty session. */
  async createSession() {
    return new Session(await call(() => this.#native.createSession()));
  }

  /** A handle on an existing, live session (`SessionNotFoundError`, `SessionExpiredError`). */
  async session(sessionId) {
    assertString('the session id', sessionId);
    return new Session(await call(() => this.#native.session(sessionId)));
  }

  /**
   * The handler of a socket event: `async (socket, ...args) => ackValue`. What it returns
   * answers the client's ack. If it throws a `HandlerError`, the ack is
   * `{ error: message }`; if it throws anything else, the ack is
   * `{ error: 'internal error' }` and the error is logged. Either way the server keeps
   * running. Register handlers before clients connect.
   */
  on(event, handler) {
    assertString('the event name', event);
    assertFunction('the handler', handler);
    this.#native.on(event, async (socket, args) => {
      try {
        const value = await handler(new Socket(socket), ...args);
        return value === undefined ? [true] : [true, value];
      } catch (err) {
        return failedEvent(err, `the handler of "${event}"`);
      }
    });
    return this;
  }

  /**
   * A per-event middleware, `async (socket, event, args) => {}`, run before every
   * handler in the order added; throwing stops the event, and the ack gets what a
   * handler's would (`{ error: message }` for a `HandlerError`, else `internal error`).
   */
  use(fn) {
    assertFunction('the middleware', fn);
    this.#native.use(async (socket, event, args) => {
      try {
        await fn(new Socket(socket), event, args);
        return [true];
      } catch (err) {
        return failedEvent(err, `a middleware (event "${event}")`);
      }
    });
    return this;
  }

  /** Runs `fn(socket)` for every accepted socket (already in its session's room). */
  onConnection(fn) {
    assertFunction('the connection callback', fn);
    this.#native.onConnection(async (socket) => {
      try {
        await fn(new Socket(socket));
        return [true];
      } catch (err) {
        console.error('sessionio: a connection callback threw:', err);
        return [false, messageOf(err)];
      }
    });
    return this;
  }

  /** `{ sockets, sessionsWithSockets }`. */
  stats() {
    return this.#native.stats();
  }

  /**
   * Every counter in the Prometheus text format (version 0.0.4): sockets, sessions,
   * handshakes refused by reason, notifications, store latency. Serve it to operators only.
   */
  metricsText() {
    return this.#native.metricsText();
  }

  /** Disconnects every socket and stops the server; afterwards the process can exit. */
  close() {
    // A server that outlives its engine goes on serving the app: Node accepts again.
    for (const giveBack of this.#attachedServers.splice(0)) giveBack();
    this.#closing ??= call(() => this.#native.close()).finally(() => clearInterval(this.#keepAlive));
    return this.#closing;
  }
}

module.exports = {
  SessionIo,
  Session,
  Socket,
  DEFAULT_ACK_TIMEOUT_MS,
  HandlerError,
  SessionIoError: errors.SessionIoError,
  InvalidConfigError: errors.InvalidConfigError,
  SessionNotFoundError: errors.SessionNotFoundError,
  SessionExpiredError: errors.SessionExpiredError,
  InvalidSessionIdError: errors.InvalidSessionIdError,
  StoreUnavailableError: errors.StoreUnavailableError,
  ConflictError: errors.ConflictError,
  InvalidValueError: errors.InvalidValueError,
  ServerError: errors.ServerError,
  TooManySessionsError: errors.TooManySessionsError,
  ErrorCode: errors.ErrorCode,
};
// `import sessionio from 'sessionio'` and TypeScript's default import see the same object.
module.exports.default = module.exports;
