'use strict';
// `Socket`: one connected Socket.IO client, as handlers and connection callbacks see it.
const { call, InvalidValueError } = require('./errors');
const { Session } = require('./session');

const native = require('./native').load();

/**
 * How long `emitWithAck` waits for the client by default, in ms (Socket.IO's own has no
 * limit): the engine's default, the same in every language.
 */
const DEFAULT_ACK_TIMEOUT_MS = native.defaultAckTimeoutMs();

class Socket {
  #native;
  #session;

  constructor(native) {
    this.#native = native;
  }

  /** The socket id. */
  get id() {
    return this.#native.id;
  }

  /** The namespace, e.g. `/`. */
  get nsp() {
    return this.#native.namespace;
  }

  /** The session id, or `null` for an anonymous socket. */
  get sessionId() {
    return this.#native.sessionId ?? null;
  }

  /** The user the session was logged in as when the socket connected (see `Session#login`), or `null`. */
  get userId() {
    return this.#native.userId ?? null;
  }

  /** The live session handle (no reload/save needed), or `null` for an anonymous socket. */
  get session() {
    if (this.#session === undefined) {
      const native = this.#native.session;
      this.#session = native ? new Session(native) : null;
    }
    return this.#session;
  }

  /** `{ headers, query, auth, time, address }` of the connection (the engine's shape). */
  get handshake() {
    return this.#native.handshake();
  }

  /** Whether the socket is still connected. */
  get connected() {
    return this.#native.connected;
  }

  /** The rooms it joined, as a `Set` (the engine's own rooms are not listed). */
  get rooms() {
    return new Set(this.#native.rooms);
  }

  /** Emits `event` to this socket; Buffers travel as binary. */
  emit(event, ...args) {
    if (typeof event !== 'string') throw new InvalidValueError('invalid value: the event name must be a string');
    call(() => this.#native.emit(event, args));
    return true;
  }

  /**
   * Emits and resolves the client's ack (its first argument); rejects with a
   * `ServerError` after `DEFAULT_ACK_TIMEOUT_MS` (the engine's default, 5 s).
   */
  emitWithAck(event, ...args) {
    return this.#emitWithAck(undefined, event, args);
  }

  /** `socket.timeout(ms).emitWithAck(event, ...args)`, as in Socket.IO. */
  timeout(ms) {
    if (!Number.isSafeInteger(ms) || ms <= 0 || ms > 2 ** 32 - 1) {
      throw new InvalidValueError(`invalid value: the timeout must be a positive integer of milliseconds, got ${ms}`);
    }
    return { emitWithAck: (event, ...args) => this.#emitWithAck(ms, event, args) };
  }

  /** `ms` undefined: the engine's default. */
  async #emitWithAck(ms, event, args) {
    if (typeof event !== 'string') throw new InvalidValueError('invalid value: the event name must be a string');
    const reply = await call(() => this.#native.emitWithAck(event, args, ms));
    return reply[0];
  }

  /** Joins one room or several; names starting with `sessionio:` are the engine's and throw `InvalidValueError`. */
  join(rooms) {
    for (const room of Array.isArray(rooms) ? rooms : [rooms]) call(() => this.#native.join(room));
  }

  /** Leaves a room; names starting with `sessionio:` throw `InvalidValueError`. */
  leave(room) {
    call(() => this.#native.leave(room));
  }

  /** Disconnects the socket from the server side (the client does not reconnect). */
  disconnect() {
    this.#native.disconnect();
    return this;
  }
}

module.exports = { Socket, DEFAULT_ACK_TIMEOUT_MS };
