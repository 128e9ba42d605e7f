// A private redis-server for the cluster tests: its own free loopback port and its own
// temporary directory, with an append-only file fsynced at every write
// (`--appendonly yes --appendfsync always --save ''`), so that what it acknowledged
// survives a SIGKILL and a restart on the same port and directory.
//
//   const redis = await startRedis();      // { url, port, dir, kill(), restart(), stop(), alive() }
//   await redis.kill();                    // SIGKILL, waits for the exit
//   await redis.restart();                 // same port, same dir; resolves once PING answers PONG
//   await redis.stop();                    // kills it and removes its directory
//
// A Redis Cluster of three masters (no replicas), each node such a redis-server with
// `--cluster-enabled yes`, joined by `redis-cli --cluster create`:
//
//   const cluster = await startRedisCluster();  // { url: "redis-cluster://…", nodes: [redis…], stop() }
//   await cluster.nodes[1].kill();              // a master gone: its slots are down
//   await cluster.nodes[1].restart();           // back with its nodes.conf and AOF
//
// `startRedisForSuite()` is one or the other: a cluster when SESSIONIO_REDIS=cluster (the
// test command runs the two-node suites both ways).
//
// Every redis-server started here is killed, and every directory removed, when the test
// process exits, even abruptly (like the harness's `running` set). Every wait is bounded.

import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { connect } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts, now, sleep } from "../e2e/harness.mjs";

export const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? "redis-server";
const READY_TIMEOUT_MS = 15_000;
const EXIT_TIMEOUT_MS = 5_000;
const PING_TIMEOUT_MS = 500;
const MAX_LOG = 32 * 1024;

/** Every redis-server child still running, and every directory not yet removed. */
const running = new Set();
const dirs = new Set();
process.on("exit", () => {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch {
      /* already gone */
    }
  }
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  // The harness installs the same handlers (they exit the process, which runs "exit" above);
  // installing ours too keeps this file correct when used without the harness's handlers.
  process.once(sig, () => process.exit(128 + (sig === "SIGINT" ? 2 : 15)));
}

/**
 * One PING over a raw TCP connection: resolves "PONG" when Redis answers `+PONG`, else the
 * first line it answered (e.g. `-LOADING ...`) or the error; never takes more than `ms`.
 */
export function ping(port, ms = PING_TIMEOUT_MS) {
  return new Promise((resolve) => {
    let done = false;
    let buf = "";
    const sock = connect({ host: "127.0.0.1", port });
    const finish = (v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish(`no answer within ${ms} ms`), ms);
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d;
      const i = buf.indexOf("\r\n");
      if (i >= 0) finish(buf.slice(0, i) === "+PONG" ? "PONG" : buf.slice(0, i));
    });
    sock.on("error", (e) => finish(e.code ?? e.message));
    sock.on("close", () => finish(buf || "closed"));
  });
}

/**
 * Start a private redis-server.
 *
 * @param {object} [opts]
 * @param {import('node:test').TestContext} [opts.t] when given, stop() runs in t.after()
 */
export async function startRedis({ t, extraArgs = [], port: chosenPort } = {}) {
  const port = chosenPort ?? (await freePorts(1))[0];
  const dir = mkdtempSync(join(tmpdir(), "sessionio-redis-"));
  dirs.add(dir);
  const args = [
    "--port", String(port),
    "--bind", "127.0.0.1",
    "--dir", dir,
    "--appendonly", "yes",
    "--appendfsync", "always",
    "--save", "",
    "--daemonize", "no",
    "--logfile", "",
    ...extraArgs,
  ];

  let child = null;
  let exited = null; // promise resolved when the current child exits
  let log = "";

  const spawnOne = () => {
    const c = spawn(REDIS_BIN, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    running.add(c);
    for (const stream of [c.stdout, c.stderr]) {
      stream.setEncoding("utf8");
      stream.on("data", (d) => {
        log += d;
        if (log.length > MAX_LOG) log = log.slice(-MAX_LOG);
      });
    }
    let spawnError = null;
    c.on("error", (e) => {
      spawnError = e;
    });
    c.alive = true;
    exited = new Promise((resolve) => {
      c.on("close", (code, signal) => {
        c.alive = false;
        c.exitInfo = spawnError ? spawnError.message : signal ? `signal ${signal}` : `code ${code}`;
        running.delete(c);
        resolve();
      });
    });
    child = c;
  };

  const waitReady = async () => {
    const deadline = now() + READY_TIMEOUT_MS;
    let last = "";
    for (;;) {
      if (!child.alive) {
        throw new Error(`redis-server exited (${child.exitInfo}) before answering PING on port ${port}\n--- log ---\n${log}`);
      }
      last = await ping(port);
      if (last === "PONG") return;
      if (now() > deadline) {
        throw new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms (last: ${last})\n--- log ---\n${log}`);
      }
      await sleep(20);
    }
  };

  const waitExit = async (what) => {
    let timer;
    const ok = await Promise.race([
      exited.then(() => true),
      new Promise((r) => (timer = setTimeout(() => r(false), EXIT_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    if (!ok) throw new Error(`redis-server (pid ${child.pid}) did not exit within ${EXIT_TIMEOUT_MS} ms of ${what}`);
  };

  /** SIGKILL: no shutdown, no final save; only what the AOF already holds survives. */
  const kill = async () => {
    if (!child?.alive) return;
    child.kill("SIGKILL");
    await waitExit("SIGKILL");
  };

  /** Start again on the same port and directory (replays the AOF); resolves once PING answers. */
  const restart = async () => {
    if (child?.alive) throw new Error("redis-server is still running: kill() it before restart()");
    spawnOne();
    try {
      await waitReady();
    } catch (e) {
      await kill().catch(() => {});
      throw e;
    }
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      await kill();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    }
  };

  if (t) t.after(stop);

  spawnOne();
  try {
    await waitReady();
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    kill,
    restart,
    stop,
    alive: () => Boolean(child?.alive),
    pid: () => child?.pid,
    log: () => log,
  };
}

const run = promisify(execFile);

/** `redis-cli -p <port> <args…>`'s output, bounded. */
async function cli(port, ...args) {
  const { stdout } = await run("redis-cli", ["-p", String(port), ...args], { timeout: 10_000 });
  return stdout;
}

/** Waits until every node of `ports` reports `cluster_state:ok`, at most `ms`. */
export async function clusterOk(ports, ms = READY_TIMEOUT_MS) {
  const deadline = now() + ms;
  for (const port of ports) {
    for (;;) {
      const info = await cli(port, "cluster", "info").catch((e) => e.message);
      if (info.includes("cluster_state:ok")) break;
      if (now() > deadline) throw new Error(`cluster node ${port} not ok within ${ms} ms: ${info.slice(0, 200)}`);
      await sleep(50);
    }
  }
}

/**
 * Start a Redis Cluster of three masters. `nodeTimeoutMs` is the cluster's
 * `cluster-node-timeout` (how soon the others mark a silent master as failed).
 *
 * @param {object} [opts]
 * @param {import('node:test').TestContext} [opts.t] when given, stop() runs in t.after()
 */
export async function startRedisCluster({ t, nodeTimeoutMs = 2_000 } = {}) {
  const ports = await freePorts(3);
  const nodes = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (const port of ports) {
      nodes.push(
        await startRedis({
          port,
          extraArgs: [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", String(nodeTimeoutMs),
            // A master that is down leaves its slots down; the others keep serving theirs.
            "--cluster-require-full-coverage", "no",
          ],
        }),
      );
    }
    await run(
      "redis-cli",
      ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"],
      { timeout: 30_000 },
    );
    await clusterOk(ports);
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }
  if (t) t.after(stop);
  return {
    url: `redis-cluster://${ports.map((p) => `127.0.0.1:${p}`).join(",")}`,
    ports,
    nodes,
    stop,
    /** The master that holds `key`'s slot: its index in `nodes`. */
    async nodeOf(key) {
      const slot = Number((await cli(ports[0], "cluster", "keyslot", key)).trim());
      // CLUSTER NODES: `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <state> <slots…>`.
      for (const line of (await cli(ports[0], "cluster", "nodes")).trim().split("\n")) {
        const fields = line.split(" ");
        const port = Number(fields[1].split("@")[0].split(":")[1]);
        for (const range of fields.slice(8)) {
          const [start, end = start] = range.split("-").map(Number);
          if (start <= slot && slot <= end) return ports.indexOf(port);
        }
      }
      throw new Error(`no node owns slot ${slot} of ${key}`);
    },
  };
}

/** A Redis Cluster when SESSIONIO_REDIS=cluster, else one redis-server. */
export async function startRedisForSuite(opts = {}) {
  return process.env.SESSIONIO_REDIS === "cluster" ? startRedisCluster(opts) : startRedis(opts);
}
