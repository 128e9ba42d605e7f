// Logout churn against example servers, one after the other: a few clients loop
// `GET /` (a fresh session) then `POST /logout` (its destroy), while a bystander session
// loops `GET /` and its latency is recorded. Every destroy leaves a tombstone for 30 s, so
// this shows what a growing tombstone set costs the requests that check it.
//
//   node bench/logout-loop.mjs [--seconds 10] [--clients 4] name=<server command> ...
//   e.g. node bench/logout-loop.mjs main=/tmp/rust-counter-main fix=target/debug/rust-counter
//
// Each command runs with `sh -c` and PORT=0 and must print `listening http=<url> ...`
// (the example contract). Prints one line per server: logouts per second (overall, first
// second, last second) and the bystander's GET / median, p99 and worst, in ms.
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";

function parseArgs(argv) {
  const opts = { seconds: 10, clients: 4, servers: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--seconds") opts.seconds = Number(argv[++i]);
    else if (a === "--clients") opts.clients = Number(argv[++i]);
    else if (a.includes("=")) {
      const at = a.indexOf("=");
      opts.servers.push({ name: a.slice(0, at), command: a.slice(at + 1) });
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!opts.servers.length) throw new Error("name at least one server: name=<command>");
  return opts;
}

/** Starts `command`; resolves its HTTP URL and a stop function. */
async function start(command) {
  const child = spawn("sh", ["-c", command], {
    env: { ...process.env, PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no listening line in 60 s\n${stderr}`)), 60_000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = /listening http=(\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`exited with ${code}\n${stderr}`)));
  });
  const stop = async () => {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    await sleep(200);
  };
  return { url, stop };
}

/** The `name=value` of the first Set-Cookie, for a Cookie header. */
function sessionCookie(res) {
  const set = res.headers.getSetCookie()[0];
  if (!set) throw new Error(`GET / set no cookie (status ${res.status})`);
  return set.split(";")[0];
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function run({ name, command }, { seconds, clients }) {
  const server = await start(command);
  try {
    const until = performance.now() + seconds * 1000;
    const perSecond = new Array(Math.ceil(seconds)).fill(0);
    const began = performance.now();
    let failures = 0;
    const churn = async () => {
      while (performance.now() < until) {
        const page = await fetch(`${server.url}/`);
        await page.arrayBuffer();
        const cookie = sessionCookie(page);
        const out = await fetch(`${server.url}/logout`, { method: "POST", headers: { cookie } });
        await out.arrayBuffer();
        if (out.status !== 204) failures++;
        const slot = Math.floor((performance.now() - began) / 1000);
        if (slot < perSecond.length) perSecond[slot]++;
      }
    };
    const bystander = async () => {
      const first = await fetch(`${server.url}/`);
      await first.arrayBuffer();
      const cookie = sessionCookie(first);
      const latencies = [];
      while (performance.now() < until) {
        const t0 = performance.now();
        const r = await fetch(`${server.url}/`, { headers: { cookie } });
        await r.arrayBuffer();
        if (r.status !== 200) failures++;
        latencies.push(performance.now() - t0);
        await sleep(5);
      }
      return latencies.sort((a, b) => a - b);
    };
    const [latencies] = await Promise.all([bystander(), ...Array.from({ length: clients }, churn)]);
    const total = perSecond.reduce((a, b) => a + b, 0);
    const fmt = (ms) => ms.toFixed(1);
    console.log(
      `${name}: ${(total / seconds).toFixed(0)} logouts/s (first second ${perSecond[0]}, last ${perSecond.at(-1)}), ` +
        `${total} in ${seconds} s by ${clients} clients; bystander GET / median ${fmt(quantile(latencies, 0.5))} ms, ` +
        `p99 ${fmt(quantile(latencies, 0.99))} ms, worst ${fmt(latencies.at(-1))} ms (${latencies.length} requests)` +
        (failures ? `; ${failures} unexpected statuses` : ""),
    );
  } finally {
    await server.stop();
  }
}

const opts = parseArgs(process.argv.slice(2));
for (const server of opts.servers) await run(server, opts);
