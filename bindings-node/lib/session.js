'use strict';
// `Session`: a live handle on one session. Every read goes to the store and every write
// is atomic there (the engine's handle), so there is no `reload()`; `save()` only stores
// a session that is not stored yet.
const { call, InvalidValueError } = require('./errors');

const assertKey = (key) => {
  if (typeof key !== 'string') throw new InvalidValueError(`invalid value: a session key must be a string, got ${typeof key}`);
};

class Session {
  #native;
  #onReplace;

  /**
   * @param {object} native the addon's session handle
   * @param {(replacement: Session | null) => void} [onReplace] told of `regenerate()`
   *   (the new session) and `destroy()` (null): the HTTP middleware moves `req.session`
   *   with it (the response's cookie is the engine's business)
   */
  constructor(native, onReplace) {
    this.#native = native;
    this.#onReplace = onReplace;
  }

  /** The session id (also the name of the session's room). */
  get id() {
    return this.#native.id;
  }

  /** The value under `key`, or `undefined`. */
  async get(key) {
    assertKey(key);
    return call(() => this.#native.get(key));
  }

  /** Stores `value` (JSON-like: no Buffers) under `key`. */
  async set(key, value) {
    assertKey(key);
    if (value === undefined) throw new InvalidValueError('invalid value: undefined cannot be stored; use remove(key)');
    await call(() => this.#native.set(key, value));
  }

  /** Removes `key`; resolves its former value (or `undefined`). */
  async remove(key) {
    assertKey(key);
    return call(() => this.#native.remove(key));
  }

  /** Atomically adds `by` (default 1) to the integer under `key`; resolves the new value. */
  async increment(key, by = 1) {
    assertKey(key);
    if (!Number.isSafeInteger(by)) {
      throw new InvalidValueError(`invalid value: the increment must be a safe integer, got ${by}`);
    }
    return call(() => this.#native.increment(key, by));
  }

  /** All the session's data, as a plain object. */
  async data() {
    return call(() => this.#native.data());
  }

  /** When the session expires (unless extended by activity), as a `Date`. */
  async expiresAt() {
    return new Date(await call(() => this.#native.expiresAt()));
  }

  /**
   * One atomic transaction: `fn(data)` edits `data` in place (it may be async) and what
   * it returns is what `update()` resolves to. It may run more than once when another
   * writer got there first, always on the latest data. If it throws, nothing is written
   * and `update()` rejects with that error.
   */
  async update(fn) {
    if (typeof fn !== 'function') throw new InvalidValueError('invalid value: update() needs a function');
    let failed = false;
    let failure;
    const transaction = async (data) => {
      try {
        const result = await fn(data);
        return result === undefined ? [true, data] : [true, data, result];
      } catch (err) {
        failed = true;
        failure = err;
        return [false];
      }
    };
    try {
      return await call(() => this.#native.update(transaction));
    } catch (err) {
      if (failed) throw failure;
      throw err;
    }
  }

  /**
   * Stores the session now if it is not stored yet, and has the response set its cookie
   * (nothing for a stored session). A request without a cookie gets a session that only
   * its first write or `save()` stores: call it in the route of a page that opens a
   * socket. Rejects with a `TooManySessionsError` at `maxSessions`.
   */
  async save() {
    await call(() => this.#native.save());
  }

  /**
   * Gives the session a new id (call it on login, against session fixation); the data
   * is kept, the old id stops working and its sockets are disconnected. Resolves the new
   * session; in an HTTP request `req.session` becomes it and the response sets its cookie.
   */
  async regenerate() {
    return this.#replaceWith(await call(() => this.#native.regenerate()));
  }

  /**
   * Logs the session in as `userId` and gives it a new id, as `regenerate()` does (the old
   * id stops working, its sockets are disconnected, the data is kept). Resolves the new
   * session; in an HTTP request `req.session` becomes it and the response sets its cookie.
   * A bad user id (empty, over 256 bytes, control characters) rejects with an
   * `InvalidValueError`.
   */
  async login(userId) {
    if (typeof userId !== 'string') throw new InvalidValueError(`invalid value: the user id must be a string, got ${typeof userId}`);
    return this.#replaceWith(await call(() => this.#native.login(userId)));
  }

  /** Unbinds the session from its user and gives it a new id, as `regenerate()` does; the data is kept. */
  async logout() {
    return this.#replaceWith(await call(() => this.#native.logout()));
  }

  /** The user the session is logged in as (see `login()`), or `null`. */
  async userId() {
    return (await call(() => this.#native.userId())) ?? null;
  }

  /** The new session of a rotation: the HTTP middleware moves `req.session` to it. */
  #replaceWith(native) {
    const next = new Session(native, this.#onReplace);
    this.#onReplace?.(next);
    return next;
  }

  /**
   * Deletes the session and disconnects its sockets; resolves how many. In an HTTP
   * request the response clears the cookie.
   */
  async destroy() {
    const disconnected = await call(() => this.#native.destroy());
    this.#onReplace?.(null);
    return disconnected;
  }

  /** Emits `event` with `data` to every socket of this session; resolves how many. */
  async notify(event, data) {
    if (typeof event !== 'string') throw new InvalidValueError('invalid value: the event name must be a string');
    return call(() => this.#native.notify(event, data));
  }
}

module.exports = { Session };
