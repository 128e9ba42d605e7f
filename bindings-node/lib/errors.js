'use strict';
// The engine's errors as `Error` subclasses with a stable `code`.
//
// Native errors carry the engine's code and HTTP status in their message
// (`[ERR_… 503] text`, see src/errors.rs); `fromNative` turns them into these classes.

class SessionIoError extends Error {
  /**
   * @param {string} message
   * @param {string} code
   * @param {ErrorOptions & { status?: number }} [options] `status`: the HTTP status the
   *   engine gives this error (Express's error handler answers with `err.status`)
   */
  constructor(message, code, options) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    if (options?.status !== undefined) this.status = options.status;
  }
}

/**
 * An error whose message a socket event handler (or a `use` middleware) chose to send to
 * the client: throwing `new HandlerError('not allowed')` answers the ack with
 * `{ error: 'not allowed' }`. Anything else a handler throws is reported to the client as
 * `internal error` only (its detail goes to the log), so that store errors, connection
 * details and the like never leak. `options.cause` stays on the server.
 */
class HandlerError extends Error {
  /**
   * @param {string} message what the client is told
   * @param {ErrorOptions} [options]
   */
  constructor(message, options) {
    super(message, options);
    this.name = 'HandlerError';
  }
}

const CODES = {
  ERR_INVALID_CONFIG: 'InvalidConfigError',
  ERR_SESSION_NOT_FOUND: 'SessionNotFoundError',
  ERR_SESSION_EXPIRED: 'SessionExpiredError',
  ERR_INVALID_SESSION_ID: 'InvalidSessionIdError',
  ERR_STORE_UNAVAILABLE: 'StoreUnavailableError',
  ERR_CONFLICT: 'ConflictError',
  ERR_INVALID_VALUE: 'InvalidValueError',
  ERR_SERVER: 'ServerError',
  ERR_TOO_MANY_SESSIONS: 'TooManySessionsError',
};

const classes = {};
const byCode = {};
for (const [code, name] of Object.entries(CODES)) {
  // A named class per code, so that `instanceof` and stack traces read well.
  const cls = {
    [name]: class extends SessionIoError {
      constructor(message, options) {
        super(message, code, options);
      }
    },
  }[name];
  classes[name] = cls;
  byCode[code] = cls;
}

/** The stable codes, e.g. `ErrorCode.SESSION_NOT_FOUND === 'ERR_SESSION_NOT_FOUND'`. */
const ErrorCode = Object.freeze(
  Object.fromEntries(Object.keys(CODES).map((code) => [code.slice(4), code])),
);

const PREFIXED = /^\[(ERR_[A-Z_]+) (\d{3})\] ([\s\S]*)$/;
// What Node-API reports when an argument has the wrong JavaScript type.
const NAPI_TYPE_CODES = new Set([
  'InvalidArg',
  'ObjectExpected',
  'StringExpected',
  'NameExpected',
  'FunctionExpected',
  'NumberExpected',
  'BooleanExpected',
  'ArrayExpected',
  'BigintExpected',
]);

/** Maps an error thrown by the native addon to a `SessionIoError` subclass. */
function fromNative(err) {
  if (!(err instanceof Error) || err instanceof SessionIoError) return err;
  const m = PREFIXED.exec(err.message);
  if (m && byCode[m[1]]) return new byCode[m[1]](m[3], { status: Number(m[2]) });
  if (NAPI_TYPE_CODES.has(err.code)) return new classes.InvalidValueError(`invalid value: ${err.message}`);
  return err;
}

/** Calls `fn`; maps what it throws or rejects with. */
function call(fn) {
  let result;
  try {
    result = fn();
  } catch (err) {
    throw fromNative(err);
  }
  if (result && typeof result.then === 'function') {
    return result.then(undefined, (err) => {
      throw fromNative(err);
    });
  }
  return result;
}

module.exports = { SessionIoError, HandlerError, ErrorCode, ...classes, fromNative, call };
