'use strict';
// `rt.attach(server)`: Socket.IO on the app's own `http.Server`, on its port. What is
// under the engine path goes to the engine, everything else to the listeners the server
// had (core decides which is which):
//   - a websocket upgrade: the connection is handed over whole — its descriptor and the
//     bytes Node already read of it — and Node lets go of it, so none of its messages
//     passes through JavaScript. A new connection whose first bytes are such an upgrade
//     is handed over before Node's HTTP parser sees it (`native.adoptConnection`); one
//     that Node parsed anyway (a head in several packets, an upgrade on a keep-alive
//     connection) reaches the same hand-over from the server's `upgrade` event;
//   - any other request (Engine.IO polling): forwarded, head and body in, the engine's
//     status, headers and body out; a long-poll is awaited.
// Once the server listens, the engine accepts on its socket instead of Node
// (`native.acceptOn`): it serves the websocket upgrades without Node doing anything for
// them, and passes every other connection, unread, to the server's own listeners. The
// two hand-overs above remain for servers Node keeps accepting for (see acceptForServer)
// and for upgrades Node parsed.
const http = require('node:http');
const cluster = require('node:cluster');
const net = require('node:net');
const tls = require('node:tls');
const { InvalidConfigError, InvalidValueError, call } = require('./errors');
const { keepAlive } = require('./keep-alive');

/** The `attach` refusal for a server that terminates TLS; quoted in README. */
const TLS_REFUSED =
  'invalid configuration: attach() takes a plain http.Server, not an https.Server: the engine ' +
  'serves the connections it adopts itself and cannot decrypt them. Terminate TLS in front of ' +
  "the app (a proxy or load balancer), or serve Socket.IO on the engine's own port " +
  '(SessionIo.start({ port })).';

/** The request head as the client sent it (Node keeps header bytes as latin1 text). */
function requestHead(req) {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  for (let i = 0; i < req.rawHeaders.length; i += 2) head += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
  return Buffer.from(`${head}\r\n`, 'latin1');
}

/**
 * Reads a request body up to `limit` bytes plus one; answers `[body, whole]`, `whole`
 * false when the client sent more (the rest is left unread).
 */
function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    const finish = (whole) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', reject);
      resolve([Buffer.concat(chunks), whole]);
    };
    const onData = (chunk) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        req.pause();
        finish(false);
      }
    };
    const onEnd = () => finish(true);
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', reject);
  });
}

let nextRequestId = 0;

/** Forwards one request under the engine path and writes the engine's answer. */
async function forward(native, req, res) {
  const id = (nextRequestId = (nextRequestId + 1) >>> 0);
  const [body, whole] = await readBody(req, native.maxBodyBytes);
  // A client that goes away before the answer gives its long-poll up.
  const onClose = () => {
    if (!res.writableFinished) native.cancelForward(id);
  };
  res.once('close', onClose);
  const answer = await native.forward(
    id,
    req.method,
    req.url,
    req.rawHeaders,
    body,
    req.socket.remoteAddress ?? null,
    req.socket.remotePort ?? 0,
  );
  res.off('close', onClose);
  if (res.destroyed) return;
  // The unread rest of an oversized body would be read as the next request.
  if (!whole) res.shouldKeepAlive = false;
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

/** Hands a websocket upgrade's connection to the engine. */
function adopt(native, req, socket, head) {
  const fd = socket._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    // Not a plain TCP socket (e.g. one some other code wrapped): nothing to hand over.
    socket.destroy();
    return;
  }
  const rest = socket.read();
  const alreadyRead = Buffer.concat([requestHead(req), head, ...(rest ? [rest] : [])]);
  try {
    call(() => native.adopt(fd, alreadyRead));
  } catch (err) {
    console.error('sessionio: could not hand a websocket connection to the engine:', err);
  }
  // Closes Node's descriptor only: the engine has its own duplicate of the connection.
  socket.destroy();
}

/**
 * Reads the first bytes of a new connection: the engine takes it whole when they are a
 * websocket upgrade under the engine path; otherwise they are put back and the server's
 * own `connection` listeners (Node's HTTP parser) get the connection as if nothing had
 * happened — also when it stays silent for core's wait (`native.firstBytesWaitMs`).
 */
function sortConnection(native, server, appConnections, socket, firstBytesWaitMs) {
  const toApp = (firstBytes) => {
    if (firstBytes) socket.unshift(firstBytes);
    for (const listener of appConnections) listener.call(server, socket);
  };
  const fd = socket._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    toApp(null);
    return;
  }
  let timer = null;
  const settle = () => {
    clearTimeout(timer);
    socket.off('readable', onReadable);
    socket.off('error', onError);
  };
  // Nobody else listens yet: an error here (a reset) is this connection's end.
  const onError = () => {
    settle();
    socket.destroy();
  };
  const onReadable = () => {
    settle();
    const firstBytes = socket.read();
    let taken = false;
    if (firstBytes) {
      try {
        taken = call(() => native.adoptConnection(fd, firstBytes));
      } catch (err) {
        console.error('sessionio: could not hand a websocket connection to the engine:', err);
        socket.destroy();
        return;
      }
    }
    // Closes Node's descriptor only: the engine has its own duplicate of the connection.
    if (taken) socket.destroy();
    else toApp(firstBytes);
  };
  timer = setTimeout(() => {
    settle();
    toApp(null);
  }, firstBytesWaitMs);
  socket.on('readable', onReadable);
  socket.on('error', onError);
}

/**
 * What net.Server keeps as its listening handle while the engine accepts on its socket:
 * what Node asks of its handle (the address, close, ref/unref) without accepting anything.
 */
class EngineAccepting {
  constructor(accepting, address, unref) {
    this.accepting = accepting;
    this.address = address;
    this.fd = -1;
    // The engine's threads do not keep Node's event loop alive; the listening server did.
    this.keepAlive = keepAlive();
    if (unref) this.keepAlive.unref();
  }

  getsockname(out) {
    Object.assign(out, this.address);
    return 0;
  }

  close(callback) {
    clearInterval(this.keepAlive);
    this.accepting.stop();
    if (typeof callback === 'function') process.nextTick(callback);
  }

  ref() {
    this.keepAlive.ref();
  }

  unref() {
    this.keepAlive.unref();
  }

  hasRef() {
    return this.keepAlive.hasRef();
  }

  /** The engine closes before its server: Node accepts on the socket again. */
  giveBack(server) {
    clearInterval(this.keepAlive);
    const fd = this.accepting.giveBack();
    server._handle = null;
    if (fd == null) return;
    // Node's listen keeps the server's ref()/unref() state (`server._unref`).
    server.listen({ fd });
  }
}

/**
 * Takes over accepting on `server`'s listening socket whenever it listens: the engine
 * accepts every new connection (on a duplicate of the socket), serves the websocket
 * upgrades under its path without Node seeing them, and passes every other connection,
 * its bytes unread, to the server's own `connection` listeners. Node's listening handle
 * is closed and replaced by an `EngineAccepting`. Servers whose socket is shared with
 * other processes (cluster workers), that cap their connections (`maxConnections`), or
 * that listen on a pipe keep Node's accept (and `sortConnection`). Returns what hands the
 * socket back to Node when the engine closes first.
 */
function acceptForServer(native, server, appConnections) {
  // A connection the engine accepted for the app: as net.Server would hand it over.
  const toApp = (fd) => {
    let socket;
    try {
      socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: server.allowHalfOpen });
    } catch (err) {
      console.error('sessionio: a connection accepted for the app could not be opened in Node:', err);
      return;
    }
    if (server.noDelay) socket.setNoDelay(true);
    if (server.keepAlive) socket.setKeepAlive(true, server.keepAliveInitialDelay * 1000);
    // net.Server's own count, so that getConnections() and close()'s 'close' event see it.
    socket.server = server;
    socket._server = server;
    server._connections++;
    for (const listener of appConnections) listener.call(server, socket);
  };
  const takeOver = () => {
    const handle = server._handle;
    const fd = handle?.fd;
    const address = server.address();
    if (typeof fd !== 'number' || fd < 0 || server.maxConnections != null || cluster.isWorker) return;
    if (address === null || typeof address !== 'object') return;
    let accepting;
    try {
      accepting = call(() => native.acceptOn(fd, toApp));
    } catch (err) {
      console.error("sessionio: the engine could not accept on the server's socket; Node accepts:", err);
      return;
    }
    handle.onconnection = null;
    handle.close();
    server._handle = new EngineAccepting(accepting, address, server._unref === true);
  };
  if (server.listening) takeOver();
  server.on('listening', takeOver);
  return () => {
    server.off('listening', takeOver);
    if (server._handle instanceof EngineAccepting) server._handle.giveBack(server);
  };
}

/**
 * Attaches `native` (a NativeSessionIo) to `server`. `onClose` runs when the server
 * closes. Returns what the engine calls when it closes first: Node accepts again.
 */
function attach(native, server, onClose) {
  if (server instanceof tls.Server) throw new InvalidConfigError(TLS_REFUSED, { status: 500 });
  if (!(server instanceof http.Server)) {
    throw new InvalidValueError('invalid value: attach() takes an http.Server (what app.listen() or http.createServer() returns)');
  }
  if (process.platform === 'win32') {
    throw new InvalidConfigError(
      "invalid configuration: attach() needs Unix socket descriptors; on Windows serve Socket.IO on the engine's own port (SessionIo.start({ port }))",
      { status: 500 },
    );
  }
  call(() => native.attach());

  const appConnections = server.listeners('connection');
  server.removeAllListeners('connection');
  const firstBytesWaitMs = native.firstBytesWaitMs;
  server.on('connection', (socket) => sortConnection(native, server, appConnections, socket, firstBytesWaitMs));
  const giveBack = acceptForServer(native, server, appConnections);

  const appRequests = server.listeners('request');
  server.removeAllListeners('request');
  server.on('request', (req, res) => {
    if (native.servesPath(req.url)) {
      forward(native, req, res).catch((err) => {
        console.error('sessionio: forwarding a request to the engine failed:', err);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('internal error');
      });
      return;
    }
    for (const listener of appRequests) listener.call(server, req, res);
  });

  const appUpgrades = server.listeners('upgrade');
  server.removeAllListeners('upgrade');
  server.on('upgrade', (req, socket, head) => {
    if (native.servesPath(req.url)) {
      adopt(native, req, socket, head);
      return;
    }
    // Node's own answer to an upgrade nobody listens for: close the connection.
    if (appUpgrades.length === 0) socket.destroy();
    for (const listener of appUpgrades) listener.call(server, req, socket, head);
  });

  server.once('close', onClose);
  return giveBack;
}

module.exports = { attach, TLS_REFUSED };
