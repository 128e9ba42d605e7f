'use strict';
// The Express (or plain `node:http`) middleware: the engine resolves the request's
// cookie; this file only puts the answer on `req` and `res`.
const { call } = require('./errors');
const { Session } = require('./session');

/** Sets the session cookie of the response, replacing one set earlier in the request. */
function setSessionCookie(res, setCookie) {
  if (res.headersSent) {
    console.error('sessionio: the response was already sent; its session cookie could not be updated');
    return;
  }
  const name = setCookie.slice(0, setCookie.indexOf('=') + 1);
  const existing = res.getHeader('set-cookie');
  const others = (Array.isArray(existing) ? existing : existing == null ? [] : [String(existing)]).filter(
    (c) => !c.startsWith(name),
  );
  res.setHeader('set-cookie', [...others, setCookie]);
}

/** Answers a refused cookie: its status, and its message as the body, as for a refused
 * Socket.IO handshake. */
function answerRefusal(res, refusal) {
  res.statusCode = refusal.status;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(refusal.message);
  return undefined;
}

/**
 * @param {object} native the addon's engine
 * @param {{ optional?: boolean }} [options] `optional: true` lets refused requests through
 *   with `req.session = null` and `req.sessionRefusal = { status, message }`
 */
function middleware(native, { optional = false } = {}) {
  return async function sessionio(req, res, next) {
    let resolved;
    try {
      // A value at once for the memory store, else a Promise: `await` takes both.
      resolved = await call(() => native.httpSession(req.headers.cookie ?? null));
    } catch (err) {
      return next(err);
    }
    const setCookie = resolved.setCookie;
    if (setCookie) setSessionCookie(res, setCookie);
    if (resolved.status != null) {
      const refusal = { status: resolved.status, message: resolved.message };
      if (optional) {
        req.session = null;
        req.sessionId = null;
        req.sessionRefusal = refusal;
        return next();
      }
      return answerRefusal(res, refusal);
    }
    // regenerate() and destroy() change the cookie of this response; the engine says how.
    const requestSession = resolved.session;
    const onRenew = (next) => {
      req.session = next;
      req.sessionId = next ? next.id : null;
      const change = requestSession.cookieChange;
      if (change) setSessionCookie(res, change);
    };
    req.session = new Session(requestSession, onRenew);
    req.sessionId = req.session.id;
    req.sessionRefusal = null;
    return next();
  };
}

/**
 * express-session mode: a guard to put before express-session's middleware. A forged,
 * unknown, destroyed or expired session cookie is answered with the refusal (401 and a
 * clearing cookie) — express-session would silently make a new session instead. Requests
 * without a session cookie, or with a valid one, go on to express-session.
 * @param {object} native the addon's engine
 * @param {{ optional?: boolean }} [options] `optional: true` lets refused requests through
 *   with `req.sessionRefusal = { status, message }` (and the cookie cleared)
 */
function guard(native, { optional = false } = {}) {
  return async function sessionioGuard(req, res, next) {
    let refusal;
    try {
      refusal = await call(() => native.checkCookie(req.headers.cookie ?? null));
    } catch (err) {
      return next(err);
    }
    req.sessionRefusal = refusal ? { status: refusal.status, message: refusal.message } : null;
    if (!refusal) return next();
    if (refusal.setCookie) setSessionCookie(res, refusal.setCookie);
    if (optional) {
      // express-session must not read the refused cookie either.
      req.headers.cookie = undefined;
      return next();
    }
    return answerRefusal(res, refusal);
  };
}

module.exports = { middleware, guard };
