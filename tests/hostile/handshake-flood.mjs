// The half-open Engine.IO handshake attack (issue 15, finding 1), runnable on its own:
//
//   node hostile/handshake-flood.mjs [--seconds 60] [--connections 32] \
//        [--server 'exec target/release/rust-counter']
//
// One attacker, from 127.0.0.2, loops `GET /socket.io/?EIO=4&transport=polling` (no cookie)
// over `connections` keep-alive connections for `seconds`; meanwhile a bystander, from
// 127.0.0.1, keeps one session and every 100 ms opens a socket with the official client
// (handshake latency), sends `POST /incr` (latency) and closes the socket. Prints the
// server's RSS (idle, peak, end), the attacker's answers by status, and the bystander's
// p50/p99/max; `flood()` returns the same figures for tests/hostile/pending.test.mjs.

import http from "node:http";
import { performance } from "node:perf_hooks";
import { io } from "socket.io-client";
import { startHostile, rssKb } from "./lib.mjs";
import { newSession, sleep } from "../e2e/harness.mjs";

const ATTACKER_ADDRESS = "127.0.0.2";

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

/** One keep-alive connection's loop of Engine.IO handshakes until `deadline`. */
async function attackLoop(server, agent, deadline, statuses) {
  while (performance.now() < deadline) {
    const status = await new Promise((resolve) => {
      const req = http.get(
        { host: "127.0.0.1", port: server.port, path: "/socket.io/?EIO=4&transport=polling", agent },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode));
          res.on("error", () => resolve("error"));
        },
      );
      req.setTimeout(10_000, () => req.destroy());
      req.on("error", () => resolve("error"));
    });
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
}

/** The bystander: one session; a socket opened, an increment, the socket closed, again. */
async function bystanderLoop(server, deadline, figures) {
  const session = await newSession(server.http);
  while (performance.now() < deadline) {
    const started = performance.now();
    const socket = io(server.socket, {
      transports: ["polling", "websocket"],
      reconnection: false,
      timeout: 10_000,
      extraHeaders: { cookie: session.cookie },
    });
    try {
      await new Promise((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      });
      figures.handshake.push(performance.now() - started);
      const at = performance.now();
      await session.incr();
      figures.incr.push(performance.now() - at);
    } catch (e) {
      // socket.io-client puts the failed request's status (or its network error) in
      // `description`: say which, so a failure can be told from a refusal.
      const cause = e?.description?.message ?? e?.description;
      figures.failures.push(`${String(e?.message ?? e)}${cause === undefined ? "" : ` (${cause})`}`);
    } finally {
      socket.close();
    }
    await sleep(100);
  }
}

/**
 * Runs the attack against `server` (from startHostile) for `seconds`; answers
 * { rss: {idleKb, peakKb, endKb}, attacker: {status: count}, handshake, incr, failures }.
 */
export async function flood(server, { seconds = 60, connections = 32 } = {}) {
  const idleKb = rssKb(server);
  const deadline = performance.now() + seconds * 1000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections, localAddress: ATTACKER_ADDRESS });
  const statuses = new Map();
  const figures = { handshake: [], incr: [], failures: [] };
  let peakKb = idleKb;
  const sampler = setInterval(() => {
    try {
      peakKb = Math.max(peakKb, rssKb(server));
    } catch {
      // the server exited: reported by the caller's checks
    }
  }, 250);
  try {
    await Promise.all([
      ...Array.from({ length: connections }, () => attackLoop(server, agent, deadline, statuses)),
      bystanderLoop(server, deadline, figures),
    ]);
  } finally {
    clearInterval(sampler);
    agent.destroy();
  }
  peakKb = Math.max(peakKb, rssKb(server));
  return {
    rss: { idleKb, peakKb, endKb: rssKb(server) },
    attacker: Object.fromEntries(statuses),
    handshake: summary(figures.handshake),
    incr: summary(figures.incr),
    failures: figures.failures,
  };
}

export function describeFlood(seconds, connections, f) {
  const ms = (s) => `p50 ${s.p50?.toFixed(1)} ms, p99 ${s.p99?.toFixed(1)} ms, max ${s.max?.toFixed(1)} ms (n=${s.n})`;
  return [
    `handshake flood: ${seconds} s, ${connections} keep-alive connections from ${ATTACKER_ADDRESS}`,
    `  server RSS: idle ${(f.rss.idleKb / 1024).toFixed(1)} MB, peak ${(f.rss.peakKb / 1024).toFixed(1)} MB (+${((f.rss.peakKb - f.rss.idleKb) / 1024).toFixed(1)} MB), end ${(f.rss.endKb / 1024).toFixed(1)} MB`,
    `  attacker answers: ${JSON.stringify(f.attacker)}`,
    `  bystander socket handshake: ${ms(f.handshake)}`,
    `  bystander POST /incr: ${ms(f.incr)}`,
    `  bystander failures: ${f.failures.length}${f.failures.length ? ` (${f.failures.slice(0, 3).join("; ")})` : ""}`,
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const seconds = Number(arg("seconds", "60"));
  const connections = Number(arg("connections", "32"));
  const command = arg("server", undefined);
  if (command) process.env.SESSIONIO_EXAMPLE = command;
  const server = await startHostile({});
  try {
    console.log(`server: ${process.env.SESSIONIO_EXAMPLE ?? "target/debug/rust-counter"}`);
    console.log(describeFlood(seconds, connections, await flood(server, { seconds, connections })));
  } finally {
    await server.stop();
  }
  process.exit(0);
}
