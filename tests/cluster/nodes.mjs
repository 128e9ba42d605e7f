// Several example servers ("nodes") on one Redis: same SESSION_SECRET (a cookie signed by
// one is valid on the other), SESSION_STORE_URL=redis://… (shared sessions, and the Redis
// adapter that links the nodes' Socket.IO servers), and each node's ALLOWED_ORIGINS lists
// every node's origins, so that a page served by A may open its socket on B.
//
// The ports are chosen here, before any node starts, because each node's allow-list needs
// the others' origins; they are passed as PORT (which overrides the harness's choice).

import { freePorts, startServer } from "../e2e/harness.mjs";

export const CLUSTER_SECRET = "the cluster tests' shared secret: at least 64 bytes, as a tower-sessions Key needs";

/**
 * Start `n` nodes on `redisUrl`, concurrently. If one fails to start, those that started
 * are stopped before the error is thrown.
 *
 * @returns {Promise<Array<{http: string, socket: string, origin: string, stop: () => Promise<void>, stderr: () => string, exited: () => boolean, name: string}>>}
 */
export async function startNodes({ redisUrl, n = 2, ttlMs = 60_000, env = {}, t } = {}) {
  const ports = await freePorts(n);
  const origins = ports.flatMap((p) => [`http://127.0.0.1:${p}`, `http://localhost:${p}`]).join(",");
  const common = {
    SESSION_STORE_URL: redisUrl,
    SESSION_SECRET: CLUSTER_SECRET,
    ALLOWED_ORIGINS: origins,
    ...env,
  };
  const results = await Promise.allSettled(
    ports.map((port) => startServer({ ttlMs, env: { ...common, PORT: String(port) }, t })),
  );
  const failed = results.find((r) => r.status === "rejected");
  if (failed) {
    await Promise.all(results.filter((r) => r.status === "fulfilled").map((r) => r.value.stop()));
    throw failed.reason;
  }
  return results.map((r, i) => Object.assign(r.value, { name: String.fromCharCode(65 + i) }));
}

/** Throws when a node exited or printed a panic on stderr. */
export function assertHealthy(nodes) {
  for (const node of nodes) {
    if (node.exited()) throw new Error(`node ${node.name} exited\n--- stderr ---\n${node.stderr()}`);
    if (/panicked/.test(node.stderr())) {
      throw new Error(`node ${node.name} panicked\n--- stderr ---\n${node.stderr()}`);
    }
  }
}

/** The count shown by GET / (the page embeds it in `<span id="count">N</span>`). */
export function pageCount(html) {
  const m = /<span id="count">(-?\d+)<\/span>/.exec(html);
  if (!m) throw new Error(`GET / page has no count: ${html.slice(0, 200)}`);
  return Number(m[1]);
}
