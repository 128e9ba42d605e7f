// Type definitions for sessionio (the JS layer in index.js and lib/, over the native addon).

import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * What crosses the boundary with the engine: JSON-like values plus binary data.
 * Integers stay integers and fractions floats; object keys keep their order; `Buffer`s,
 * typed arrays and `ArrayBuffer`s travel as binary attachments and arrive as `Buffer`s;
 * `toJSON()` is honoured (a `Date` becomes its ISO string); `undefined` and functions are
 * left out of objects and become `null` in arrays; `NaN` and `±Infinity` become `null`.
 * Session data is JSON: binary values cannot be stored in a session.
 */
export type Value = null | boolean | number | string | Buffer | Value[] | { [key: string]: Value };

/**
 * Options of {@link SessionIo.start}: core's `Options` (sessionio::options) in camelCase.
 * The engine reads them: an unknown option is refused by its name, a value of the wrong
 * type names its option, and every bad value is an {@link InvalidConfigError}
 * (`ERR_INVALID_CONFIG`). `null` or a missing key means the default. Durations are given
 * in seconds (`ttl`) or in milliseconds (`ttlMs`), not both.
 */
export interface StartOptions {
  /** Port of the Socket.IO server; `0` (default) picks a free port. */
  port?: number;
  /** Address to bind, default `127.0.0.1` (`"::"` or `"0.0.0.0"` for every interface). */
  host?: string;
  /** The secret that signs cookies and tokens, at least 32 bytes. Required unless `secrets`. */
  secret?: string | Buffer;
  /** Secrets for rotation: the first signs, any verifies. Exclusive with `secret`. */
  secrets?: Array<string | Buffer>;
  /** Session cookie name, default `sessionio.sid`. */
  cookieName?: string;
  /** `Secure` cookie attribute, default `true`; turn off only for `http://localhost`. */
  cookieSecure?: boolean;
  /** `SameSite` cookie attribute, default `"lax"`; `"none"` requires `cookieSecure`. */
  sameSite?: 'lax' | 'strict' | 'none';
  /** `Path` cookie attribute, default `/`. */
  cookiePath?: string;
  /** `Domain` cookie attribute, default host-only. */
  cookieDomain?: string;
  /** Inactivity timeout in seconds (default 24 h); HTTP requests (and socket events) extend it. Or `ttlMs`. */
  ttl?: number;
  /** Inactivity timeout in milliseconds (default 86 400 000). Or `ttl`. */
  ttlMs?: number;
  /** Whether socket events extend the session like HTTP requests do, default `true`. */
  extendOnSocketActivity?: boolean;
  /**
   * Origins allowed to open sockets and make credentialed CORS requests, as browsers send
   * them (`http://localhost:3000`: scheme, host, port; no path, no `*`). Without it only
   * clients that send no `Origin` (non-browsers) may connect.
   */
  allowedOrigins?: string[];
  /**
   * The HTTP middleware refuses state-changing requests (POST, PUT, PATCH, DELETE, …) whose
   * `Origin` or `Sec-Fetch-Site` shows a site off the allow-list with 403 `origin not allowed`
   * (cross-site request forgery), default `true`.
   */
  csrfCheck?: boolean;
  /** Allows every origin, without credentials in CORS answers; sockets are then admitted by `auth.token` (or anonymously) only, never by the session cookie. Exclusive with `allowedOrigins`. */
  allowAnyOrigin?: boolean;
  /** Accept sockets with no cookie and no token (they have no session), default `false`. */
  allowAnonymous?: boolean;
  /** Read the handshake's `auth.token` as a token from `issueToken()`, default `true`. */
  tokenAuth?: boolean;
  /** Most sockets one session may have open at once, default 32. */
  maxConnectionsPerSession?: number;
  /** The largest data one session may hold, in bytes of JSON, default 65 536: a write past it throws `InvalidValueError` and writes nothing. */
  maxSessionBytes?: number;
  /**
   * Session store URL, default `memory://`; also `sqlite://<file>` and
   * `redis://<host>[:<port>][/<db>]`. A `redis://` store also links the engines of every
   * process on that Redis (see `adapter`).
   */
  store?: string;
  /**
   * How this engine reaches the engines of the app's other processes (socketioxide's Redis
   * adapter, Redis ≥ 7): `redis://<host>[:<port>][/<db>]` links them through that Redis,
   * so that `notifySession` and `destroySession` called in any process reach the session's
   * sockets in every process; `local://` links nothing. Default: the `store` URL when it
   * is `redis://…`, else `local://`. `start()` resolves once the adapter is subscribed
   * (at most 5 s, else a {@link StoreUnavailableError}).
   */
  adapter?: string;
  /**
   * One of several worker processes behind one port (`node:cluster`), default `false`:
   * `true` in every worker. A polling request or websocket upgrade of another worker's
   * Engine.IO session is passed to that worker (over loopback), whichever worker accepted
   * it; with `start({ port })` the port is bound with `SO_REUSEPORT`, so that every worker
   * binds it. Needs a `redis://` or `redis-cluster://` `store` and its adapter (else an
   * {@link InvalidConfigError}), and the same `secret` in every worker: cookies and the
   * workers' routing tags are signed with it.
   */
  workers?: boolean;
  /** Socket.IO request path, default `/socket.io`. */
  path?: string;
  /** Namespaces served, default `["/"]`. */
  namespaces?: string[];
  /** Engine.IO ping interval in seconds, default 25. Or `pingIntervalMs`. */
  pingInterval?: number;
  /** Engine.IO ping interval in milliseconds, default 25 000. Or `pingInterval`. */
  pingIntervalMs?: number;
  /** Engine.IO ping timeout in seconds, default 20. Or `pingTimeoutMs`. */
  pingTimeout?: number;
  /** Engine.IO ping timeout in milliseconds, default 20 000. Or `pingTimeout`. */
  pingTimeoutMs?: number;
  /** Time allowed between the Engine.IO handshake and the namespace connect, in seconds, default 10. Or `connectTimeoutMs`. */
  connectTimeout?: number;
  /** The same in milliseconds, default 10 000. Or `connectTimeout`. */
  connectTimeoutMs?: number;
  /** Largest accepted packet payload in bytes, default 1 000 000. */
  maxPayload?: number;
  /**
   * Outgoing packets queued per socket, default 1024. A notification waits up to 1 s for
   * room in a full queue; then the socket is disconnected (`io server disconnect`).
   */
  maxBufferSize?: number;
  /**
   * Bytes a websocket reads from the network at a time, default 1024: memory per idle
   * socket; larger messages still pass, up to `maxPayload`.
   */
  wsReadBufferSize?: number;
  /** Engine.IO sessions not yet connected to a namespace, in all, default 4096; past it a new handshake gets HTTP 503 `server busy`. */
  maxPendingHandshakes?: number;
  /** The same per client address (IPv4 address or IPv6 /64), default 256; past it HTTP 429 `too many pending handshakes`. */
  maxPendingHandshakesPerAddress?: number;
  /**
   * Most sessions the store may hold, default 1 000 000. A new session past it (a
   * request's first write or `save()`, `createSession()`) is refused with a
   * {@link TooManySessionsError} (`too many sessions`, `status` 503) and nothing is stored.
   * Not applied in express-session mode (express-session makes the sessions).
   */
  maxSessions?: number;
  /**
   * Keep your express-session: sockets are admitted by express-session's own cookie and
   * read and write express-session's sessions. `secret`/`secrets`, `store`, `cookieName`
   * and `ttl`/`ttlMs` do not apply (the cookie and the store are express-session's; expiry
   * follows the session's `cookie.expires`). Session ids in every call are
   * `req.session.id`. `express()` becomes a guard to mount before express-session.
   */
  expressSession?: ExpressSessionOptions;
}

/** The express-session the app already runs (see {@link StartOptions.expressSession}). */
export interface ExpressSessionOptions {
  /**
   * The store given to express-session (MemoryStore, connect-redis, any store with
   * get/set/destroy). Required unless `redisUrl` is given; with `redisUrl` it is not called.
   */
  store?: { get: Function; set: Function; destroy: Function; touch?: Function };
  /** express-session's `secret`, one or a list: the first signs, all are accepted (rotation). Required. */
  secret: string | Buffer | Array<string | Buffer>;
  /** express-session's `name`, default `connect.sid`. */
  name?: string;
  /**
   * With connect-redis: its Redis URL, so that the engine reads sessions there itself
   * (handshakes never call into JavaScript). `store` is then not called.
   */
  redisUrl?: string;
  /** connect-redis's key prefix, default `sess:`. */
  redisPrefix?: string;
}

/**
 * A live handle on one session. Reads go to the store and writes are atomic there:
 * there is nothing to `reload()` or `save()`, and concurrent writers never lose updates.
 */
export declare class Session {
  private constructor();
  /** The session id (also the name of the session's room). */
  readonly id: string;
  /** The value under `key`, or `undefined`. */
  get<T = Value>(key: string): Promise<T | undefined>;
  /** Stores `value` under `key` (JSON-like; `undefined` and Buffers are refused). */
  set(key: string, value: Value): Promise<void>;
  /** Removes `key`; resolves its former value. */
  remove<T = Value>(key: string): Promise<T | undefined>;
  /** Atomically adds `by` (default 1) to the integer under `key` (absent: 0); resolves the new value. */
  increment(key: string, by?: number): Promise<number>;
  /** All the session's data. */
  data(): Promise<Record<string, Value>>;
  /** When the session expires unless extended by activity. */
  expiresAt(): Promise<Date>;
  /**
   * One atomic transaction: `fn` edits `data` in place (it may be async); `update()`
   * resolves what `fn` returns. `fn` may run more than once (when another writer got there
   * first), always on the latest data; if it throws, nothing is written and `update()`
   * rejects with its error.
   */
  update<R = void>(fn: (data: Record<string, Value>) => R | Promise<R>): Promise<R>;
  /**
   * A new id for the same data (call it on login, against session fixation); the old id
   * stops working and its sockets are disconnected. In an HTTP request, `req.session`
   * becomes the new session and the response sets its cookie.
   */
  regenerate(): Promise<Session>;
  /**
   * Stores the session now if it is not stored yet, and has the response set its cookie
   * (nothing for a stored session). A request without a cookie gets a session that is
   * stored only by its first write (`set`, `increment`, `remove`, `update`, `regenerate`)
   * or `save()`: reads see empty data and store nothing, and the response sends no cookie.
   * Call it in the route of a page that opens a socket (the handshake needs the cookie).
   * Rejects with a {@link TooManySessionsError} at `maxSessions`.
   */
  save(): Promise<void>;
  /**
   * Logs the session in as `userId` and gives it a new id, as {@link Session.regenerate}
   * does: the data is kept, the old id stops working and its sockets are disconnected. In
   * an HTTP request, `req.session` becomes the new session and the response sets its
   * cookie. A bad user id (empty, over 256 bytes, control characters) rejects with an
   * {@link InvalidValueError}.
   */
  login(userId: string): Promise<Session>;
  /** Unbinds the session from its user and gives it a new id, as {@link Session.regenerate} does; the data is kept. */
  logout(): Promise<Session>;
  /** The user the session is logged in as (see {@link Session.login}), or `null`. */
  userId(): Promise<string | null>;
  /** Deletes the session and disconnects its sockets; resolves how many. In an HTTP request the response clears the cookie. */
  destroy(): Promise<number>;
  /** Emits `event` with `data` to every socket of the session; resolves how many it reached. */
  notify(event: string, data?: Value): Promise<number>;
}

/**
 * What the client sent when it connected (its first HTTP request and its `auth`), in the
 * engine's one shape, the same in every language sessionio serves.
 */
export interface Handshake {
  /** Lower-case header names; repeated headers joined (`cookie` with `; `, others with `, `). */
  headers: Record<string, string>;
  /** Query parameters; a repeated key gives an array of its values, in order. */
  query: Record<string, string | string[]>;
  /** The `auth` object of the client's connect packet (`null` without one). */
  auth: Record<string, Value> | null;
  /** When the socket connected, unix ms. */
  time: number;
  /** The client's address, `null` when the server does not know it. */
  address: { ip: string; port: number } | null;
}

/** How long `socket.emitWithAck()` waits for the client without `timeout()`, in ms: the engine's default (5000), the same in every language. */
export declare const DEFAULT_ACK_TIMEOUT_MS: number;

/** One connected Socket.IO client. */
export declare class Socket {
  private constructor();
  readonly id: string;
  /** The namespace, e.g. `/`. */
  readonly nsp: string;
  /** The session id, `null` for an anonymous socket. */
  readonly sessionId: string | null;
  /** The live session handle, `null` for an anonymous socket. */
  readonly session: Session | null;
  /** The user the session was logged in as when the socket connected (see {@link Session.login}), or `null`. */
  readonly userId: string | null;
  readonly handshake: Handshake;
  readonly connected: boolean;
  /** The rooms the socket joined (the engine's own rooms are not listed). */
  readonly rooms: Set<string>;
  /** Emits `event` to this socket; always `true`. */
  emit(event: string, ...args: Value[]): true;
  /**
   * Emits and resolves the client's ack (its first argument); rejects with a `ServerError`
   * after {@link DEFAULT_ACK_TIMEOUT_MS} (the engine's default, 5 s).
   */
  emitWithAck<T = Value>(event: string, ...args: Value[]): Promise<T>;
  /** `socket.timeout(ms).emitWithAck(...)`: the same with another time limit. */
  timeout(ms: number): { emitWithAck<T = Value>(event: string, ...args: Value[]): Promise<T> };
  /**
   * Joins one room or several. Names starting with `sessionio:` are the engine's own rooms
   * (each session's) and throw `InvalidValueError`.
   */
  join(rooms: string | string[]): void;
  /** Leaves a room; names starting with `sessionio:` throw `InvalidValueError`. */
  leave(room: string): void;
  /** Disconnects from the server side (the client does not reconnect). */
  disconnect(): this;
}

/** One live session of a user, as {@link SessionIo.userSessions} lists it. */
export interface UserSession {
  /** Names the session for {@link SessionIo.destroyUserSession}; never its session id. */
  handle: string;
  /** When the session logged in as the user. */
  createdAt: Date;
  /** Its last activity (to the precision its expiry moves with). */
  lastSeen: Date;
  /** The `User-Agent` of its login request, or of its latest socket's handshake; `null` when unknown. */
  userAgent: string | null;
  /** The client IP address of its login request, or of its latest socket's handshake; `null` when unknown. */
  address: string | null;
  /** Sockets connected to it now, on every linked process. */
  sockets: number;
}

/** An HTTP request that went through express-session (express-session mode's `req`). */
export interface ExpressSessionRequest extends IncomingMessage {
  /** express-session's session: its fields, `id`, `regenerate` and `save`. */
  session: {
    id: string;
    regenerate(callback: (err?: unknown) => void): void;
    save(callback: (err?: unknown) => void): void;
    [field: string]: unknown;
  };
}

/** An HTTP request after {@link SessionIo.express}. */
export interface SessionRequest extends IncomingMessage {
  /** The request's session; `null` only with `{ optional: true }` when the cookie was refused. */
  session: Session | null;
  sessionId: string | null;
  /** Why the cookie was refused (with `{ optional: true }`), else `null`. */
  sessionRefusal: { status: number; message: string } | null;
}

export interface ExpressOptions {
  /**
   * Pass requests whose cookie was refused on to the next handler (with
   * `req.session = null`, `req.sessionRefusal` set and the cookie cleared) instead of
   * answering the refusal. Default `false`.
   */
  optional?: boolean;
}

/** An Express (or `node:http`) middleware. */
export type SessionMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

export declare class SessionIo {
  private constructor();
  /** Checks the options, builds the engine and starts its Socket.IO server on a port of its own. */
  /** The field of an express session that holds its login (express-session mode): `"sessionio.login"`. */
  static readonly LOGIN_KEY: string;
  static start(options?: StartOptions): Promise<SessionIo>;
  /**
   * Checks the options and builds the engine without a port of its own: serve Socket.IO
   * on the app's server with `attach(server)`.
   */
  static create(options?: StartOptions): Promise<SessionIo>;
  /**
   * Serves Socket.IO on `server`'s port: requests and websocket upgrades under the engine
   * path go to the engine (websocket connections are handed over whole), the rest to the
   * server's other listeners. Closing the server closes the engine. An `https.Server` is
   * refused with an `InvalidConfigError` (terminate TLS in front, or use `start({ port })`).
   */
  attach(server: import('node:http').Server): this;
  /** The engine's own Socket.IO server's port; `null` for an engine made by `create`. */
  readonly port: number | null;
  /** The engine's own Socket.IO server's bound address; `null` without one. */
  readonly host: string | null;
  /** The engine's own Socket.IO server's URL, e.g. `http://127.0.0.1:3001`; `null` without one. */
  readonly url: string | null;
  /**
   * Express middleware: `req.session` and `req.sessionId` from the cookie, or, without
   * one, a new session that its first write or `save()` stores (the response then sets its
   * cookie; a route that does not write sends none). A refused cookie (forged, expired, destroyed) is
   * answered with its status (401/403/429/503), the message as a text body and a
   * clearing cookie, unless `optional`.
   */
  express(options?: ExpressOptions): SessionMiddleware;
  // In express-session mode, `express()` is a guard for before express-session's
  // middleware: a forged, unknown, destroyed or expired session cookie gets 401 and a
  // clearing cookie (express-session would make a new session silently); other requests
  // go on, and `req.session` is express-session's. A session that express-session's own
  // `regenerate()` or `destroy()` ends during a request loses its sockets once the
  // response is done.
  /**
   * Emits `event` with `data` to every socket of the session; resolves how many it reached
   * (0 for an unknown session). With the Redis adapter (see {@link StartOptions.adapter})
   * the sockets of every linked process are reached but only this process's are counted;
   * if Redis cannot be reached, this process's sockets still get the event and the Promise
   * rejects with a {@link StoreUnavailableError}.
   */
  notifySession(sessionId: string, event: string, data?: Value): Promise<number>;
  /**
   * Deletes the session and disconnects its sockets (they do not reconnect); resolves how
   * many. With the Redis adapter the sockets of every linked process are disconnected, and
   * only this process's are counted.
   */
  destroySession(sessionId: string): Promise<number>;
  /**
   * Emits `event` with `data` to every socket of every session logged in as `userId` (see
   * {@link Session.login}), in every linked process; resolves how many sockets it reached
   * in this process (0 for a user without sessions). A bad user id rejects with an
   * {@link InvalidValueError}, as in every call below.
   */
  notifyUser(userId: string, event: string, data?: Value): Promise<number>;
  /**
   * Destroys every session logged in as `userId` but `except` (a session id: the caller's
   * own, for "sign out my other devices"), as {@link SessionIo.destroySession} does: their
   * sockets are disconnected in every linked process and their cookies refused. Resolves
   * how many live sessions were destroyed.
   */
  destroyUser(userId: string, options?: { except?: string | null }): Promise<number>;
  /**
   * The live sessions logged in as `userId`, oldest login first ("your devices"), each
   * named by an opaque handle that is never its session id.
   */
  userSessions(userId: string): Promise<UserSession[]>;
  /**
   * Destroys the session of `userId` that `handle` (from {@link SessionIo.userSessions})
   * names: "sign out that device". Resolves `false` when the user has no such live session
   * (another user's handle names none of this user's).
   */
  destroyUserSession(userId: string, handle: string): Promise<boolean>;
  /** How many users and sessions the store's user index holds (also in {@link SessionIo.metricsText}). */
  userIndexSize(): Promise<{ users: number; sessions: number }>;
  /**
   * express-session mode: logs `req.session` (express-session's) in as `userId`: its own
   * `regenerate()` first (the data kept), then the login in the session under
   * {@link SessionIo.LOGIN_KEY} (with the request's User-Agent and address), saved, and
   * in the engine's user index. Rejects with an `InvalidValueError` for a bad user id, an
   * `InvalidConfigError` with sessionio's own sessions (use `req.session.login()`).
   */
  login(req: ExpressSessionRequest, userId: string): Promise<void>;
  /** express-session mode: the login removed from `req.session` and a new id, the data kept. */
  logout(req: ExpressSessionRequest): Promise<void>;
  /** express-session mode: the user `req.session` is logged in as, or `null`. */
  userId(req: ExpressSessionRequest): string | null;
  /** A signed token, valid `ttlMs`, for clients without the cookie: `io(url, { auth: { token } })`. */
  issueToken(sessionId: string, ttlMs: number): string;
  /** A new, empty session, stored at once; rejects with a {@link TooManySessionsError} at `maxSessions`. */
  createSession(): Promise<Session>;
  /** A handle on an existing live session; rejects with `SessionNotFoundError` or `SessionExpiredError`. */
  session(sessionId: string): Promise<Session>;
  /**
   * Handles a socket event. What the handler returns answers the client's ack. If it
   * throws a {@link HandlerError}, the ack is `{ error: message }`; if it throws anything
   * else, the ack is `{ error: 'internal error' }` and the error is logged. The server
   * keeps running. Register handlers before clients connect.
   */
  on(event: string, handler: (socket: Socket, ...args: Value[]) => unknown): this;
  /**
   * A per-event middleware, run before every handler; throwing stops the event (the ack
   * gets `{ error: message }` for a {@link HandlerError}, else `{ error: 'internal error' }`).
   */
  use(middleware: (socket: Socket, event: string, args: Value[]) => unknown): this;
  /** Runs for every accepted socket, after it joined its session's room. */
  onConnection(callback: (socket: Socket) => unknown): this;
  stats(): { sockets: number; sessionsWithSockets: number };
  /**
   * Every counter in the Prometheus text format (version 0.0.4): sockets, sessions,
   * handshakes refused by reason, notifications, store latency. Serve it to operators only.
   */
  metricsText(): string;
  /** Disconnects every socket and stops the server; afterwards the process exits by itself. */
  close(): Promise<void>;
}

/** The stable error codes. */
export declare const ErrorCode: {
  readonly INVALID_CONFIG: 'ERR_INVALID_CONFIG';
  readonly SESSION_NOT_FOUND: 'ERR_SESSION_NOT_FOUND';
  readonly SESSION_EXPIRED: 'ERR_SESSION_EXPIRED';
  readonly INVALID_SESSION_ID: 'ERR_INVALID_SESSION_ID';
  readonly STORE_UNAVAILABLE: 'ERR_STORE_UNAVAILABLE';
  readonly CONFLICT: 'ERR_CONFLICT';
  readonly INVALID_VALUE: 'ERR_INVALID_VALUE';
  readonly SERVER: 'ERR_SERVER';
  readonly TOO_MANY_SESSIONS: 'ERR_TOO_MANY_SESSIONS';
};
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * An error whose message a socket handler (or `use` middleware) chooses to send to the
 * client: `throw new HandlerError('not allowed')` acks `{ error: 'not allowed' }`. Anything
 * else thrown acks `{ error: 'internal error' }` and is logged; `options.cause` is not sent.
 */
export declare class HandlerError extends Error {
  constructor(message: string, options?: { cause?: unknown });
}

/** Every error of the engine: an `Error` with a stable `code`. */
export declare class SessionIoError extends Error {
  readonly code: ErrorCode;
  /**
   * The HTTP status the engine gives the error (401 not found or expired, 503 store
   * unavailable or too many sessions, 400 bad values, 409 conflict, 500 otherwise), on
   * errors from the engine; Express's error handler answers with it.
   */
  readonly status?: number;
}
/** A bad option of `SessionIo.start()`. */
export declare class InvalidConfigError extends SessionIoError {
  readonly code: 'ERR_INVALID_CONFIG';
}
/** No session has this id (never created, destroyed or regenerated). */
export declare class SessionNotFoundError extends SessionIoError {
  readonly code: 'ERR_SESSION_NOT_FOUND';
}
/** The session is past its expiry. */
export declare class SessionExpiredError extends SessionIoError {
  readonly code: 'ERR_SESSION_EXPIRED';
}
/** The text is not a session id. */
export declare class InvalidSessionIdError extends SessionIoError {
  readonly code: 'ERR_INVALID_SESSION_ID';
}
/** The session store cannot be reached. */
export declare class StoreUnavailableError extends SessionIoError {
  readonly code: 'ERR_STORE_UNAVAILABLE';
}
/** An update kept conflicting with concurrent writers and gave up. */
export declare class ConflictError extends SessionIoError {
  readonly code: 'ERR_CONFLICT';
}
/** A value of the wrong type (e.g. incrementing a string, a Buffer in a session, a Symbol). */
export declare class InvalidValueError extends SessionIoError {
  readonly code: 'ERR_INVALID_VALUE';
}
/** Binding or serving failed, or a socket operation failed (e.g. an ack timed out). */
export declare class ServerError extends SessionIoError {
  readonly code: 'ERR_SERVER';
}
/** A new session would pass `maxSessions`: nothing was stored. Message `too many sessions`, `status` 503. */
export declare class TooManySessionsError extends SessionIoError {
  readonly code: 'ERR_TOO_MANY_SESSIONS';
}

declare const sessionio: {
  SessionIo: typeof SessionIo;
  Session: typeof Session;
  Socket: typeof Socket;
  DEFAULT_ACK_TIMEOUT_MS: typeof DEFAULT_ACK_TIMEOUT_MS;
  HandlerError: typeof HandlerError;
  ErrorCode: typeof ErrorCode;
  SessionIoError: typeof SessionIoError;
  InvalidConfigError: typeof InvalidConfigError;
  SessionNotFoundError: typeof SessionNotFoundError;
  SessionExpiredError: typeof SessionExpiredError;
  InvalidSessionIdError: typeof InvalidSessionIdError;
  StoreUnavailableError: typeof StoreUnavailableError;
  ConflictError: typeof ConflictError;
  InvalidValueError: typeof InvalidValueError;
  ServerError: typeof ServerError;
  TooManySessionsError: typeof TooManySessionsError;
};
export default sessionio;
