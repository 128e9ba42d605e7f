'use strict';
// The Express (or plain `node:http`) middleware: the engine judges the request's site
// (cross-site request forgery), resolves its cookie and decides the response's
// Set-Cookie; this file only puts the answer on `req` and copies the engine's header
// value onto `res`.
const { call } = require('./errors');
const { Session } = require('./session');

/**
 * Puts the engine's `Set-Cookie` value on the response, in place of one with the same
 * cookie name put there before (by another sessionio middleware of the same request).
 */
function copySetCookie(res, value) {
  const name = value.slice(0, value.indexOf('=') + 1);
  const existing = res.getHeader('set-cookie');
  const others = (Array.isArray(existing) ? existing : existing == null ? [] : [String(existing)]).filter(
    (c) => !c.startsWith(name),
  );
  res.setHeader('set-cookie', [...others, value]);
}

/**
 * Copies `outcome.setCookie()` onto the response when it starts: `res.writeHead` is
 * wrapped once (`res.end()`, `res.write()` and Express's `send` go through it too), so
 * the value read is the engine's final one, after any `regenerate()` or `destroy()` of
 * the request.
 */
function copyAtResponseStart(res, outcome) {
  const writeHead = res.writeHead;
  res.writeHead = function writeHeadWithSessionCookie(...args) {
    res.writeHead = writeHead;
    const value = outcome.setCookie();
    if (value != null) copySetCookie(res, value);
    return writeHead.apply(this, args);
  };
}

/** Answers a refused cookie: its status, and its message as the body, as for a refused
 * Socket.IO handshake. */
function answerRefusal(res, refusal) {
  res.statusCode = refusal.status;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(refusal.message);
  return undefined;
}

/** The engine's cross-site request forgery check: the refusal to answer, or null. */
function crossSiteRefusal(native, req) {
  return native.checkRequestSite(
    req.method,
    req.headers.origin ?? null,
    req.headers['sec-fetch-site'] ?? null,
    req.headers.host ?? null,
  );
}

/**
 * @param {object} native the addon's engine
 * @param {{ optional?: boolean }} [options] `optional: true` lets refused requests through
 *   with `req.session = null` and `req.sessionRefusal = { status, message }`
 */
function middleware(native, { optional = false } = {}) {
  return async function sessionio(req, res, next) {
    const forged = crossSiteRefusal(native, req);
    if (forged) return answerRefusal(res, forged);
    let outcome;
    try {
      // A value at once for the memory store, else a Promise: `await` takes both. The
      // client (User-Agent, address) goes along: a login() records it for the user's list.
      outcome = await call(() =>
        native.httpRequest(req.headers.cookie ?? null, req.headers['user-agent'] ?? null, req.socket?.remoteAddress ?? null),
      );
    } catch (err) {
      return next(err);
    }
    copyAtResponseStart(res, outcome);
    if (outcome.status != null) {
      const refusal = { status: outcome.status, message: outcome.message };
      if (optional) {
        req.session = null;
        req.sessionId = null;
        req.sessionRefusal = refusal;
        return next();
      }
      return answerRefusal(res, refusal);
    }
    // regenerate() gives the request a new session handle, destroy() none.
    const onReplace = (replacement) => {
      req.session = replacement;
      req.sessionId = replacement ? replacement.id : null;
    };
    req.session = new Session(outcome.session, onReplace);
    req.sessionId = req.session.id;
    req.sessionRefusal = null;
    return next();
  };
}

/**
 * After the response: when express-session's own `req.session.regenerate()` or
 * `destroy()` ended the request's session (they call the store directly, not sessionio),
 * the engine disconnects that session's sockets if the store no longer has it.
 */
function disconnectIfEnded(native, req, res, sessionId) {
  res.once('close', () => {
    // Without express-session on the route (no `req.sessionID`), or with its session
    // still in place, there is nothing to ask the store.
    if (req.sessionID === undefined || (req.sessionID === sessionId && req.session != null)) return;
    // `call` may answer at once (or throw) rather than with a Promise.
    Promise.resolve()
      .then(() => call(() => native.disconnectIfGone(sessionId)))
      .catch((err) => {
        console.error('sessionio: the sockets of an ended express session were not disconnected:', err);
      });
  });
}

/**
 * express-session mode: a guard to put before express-session's middleware. A forged,
 * unknown, destroyed or expired session cookie is answered with the refusal (401 and the
 * engine's clearing cookie) — express-session would silently make a new session instead.
 * Requests without a session cookie, or with a valid one, go on to express-session; a
 * session that express-session regenerates or destroys during the request loses its
 * sockets when the response is done.
 * @param {object} native the addon's engine
 * @param {{ optional?: boolean }} [options] `optional: true` lets refused requests through
 *   with `req.sessionRefusal = { status, message }` (and the cookie cleared)
 */
function guard(native, { optional = false } = {}) {
  return async function sessionioGuard(req, res, next) {
    const forged = crossSiteRefusal(native, req);
    if (forged) return answerRefusal(res, forged);
    let checked;
    try {
      checked = await call(() => native.checkCookie(req.headers.cookie ?? null));
    } catch (err) {
      return next(err);
    }
    const { refusal, sessionId } = checked;
    req.sessionRefusal = refusal ? { status: refusal.status, message: refusal.message } : null;
    if (sessionId != null) disconnectIfEnded(native, req, res, sessionId);
    if (!refusal) return next();
    if (refusal.setCookie != null) copySetCookie(res, refusal.setCookie);
    if (optional) {
      // express-session must not read the refused cookie either.
      req.headers.cookie = undefined;
      return next();
    }
    return answerRefusal(res, refusal);
  };
}

module.exports = { middleware, guard };
