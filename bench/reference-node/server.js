// The seed guide's app ("How to use with express-session"), unchanged in spirit:
// express + express-session (MemoryStore) + socket.io on one port, the session id as a
// room, reload/save in socket handlers, and the guide's periodic reload to notice expiry.
// It implements the example contract so the same load generator drives it.
"use strict";
const express = require("express");
const { createServer } = require("node:http");
const { Server } = require("socket.io");
const session = require("express-session");

const port = Number(process.env.PORT || 3000);
const ttlMs = Number(process.env.SESSION_TTL_MS || 30 * 60 * 1000);
const SESSION_RELOAD_INTERVAL = Number(process.env.SESSION_RELOAD_INTERVAL_MS || 30 * 1000);

const app = express();
const httpServer = createServer(app);

const sessionMiddleware = session({
  secret: process.env.SESSION_SECRET || "changeit",
  resave: true,
  saveUninitialized: true,
  rolling: true,
  cookie: { maxAge: ttlMs },
});

app.use(sessionMiddleware);

app.get("/", (req, res) => {
  res.type("html").send(`<!doctype html><p>Count: ${req.session.count || 0}</p>`);
});

app.post("/incr", (req, res) => {
  const session = req.session;
  session.count = (session.count || 0) + 1;
  res.status(200).end("" + session.count);
  io.to(session.id).emit("current count", session.count);
});

app.post("/logout", (req, res) => {
  const sessionId = req.session.id;
  req.session.destroy(() => {
    io.in(sessionId).disconnectSockets();
    res.status(204).end();
  });
});

const io = new Server(httpServer);
io.engine.use(sessionMiddleware);

io.on("connection", (socket) => {
  const req = socket.request;
  socket.join(req.session.id);

  socket.on("incr", (ack) => {
    req.session.reload((err) => {
      if (err) return socket.disconnect();
      req.session.count = (req.session.count || 0) + 1;
      req.session.save(() => {
        io.to(req.session.id).emit("current count", req.session.count);
        if (typeof ack === "function") ack(req.session.count);
      });
    });
  });

  const timer = setInterval(() => {
    socket.request.session.reload((err) => {
      if (err) socket.conn.close();
    });
  }, SESSION_RELOAD_INTERVAL);
  socket.on("disconnect", () => clearInterval(timer));
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening http=http://127.0.0.1:${port} socket=http://127.0.0.1:${port}`);
});
process.on("SIGTERM", () => process.exit(0));
