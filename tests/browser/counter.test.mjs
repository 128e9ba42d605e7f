// Browser end-to-end test of the Rust counter example, in a real Chromium.
//
// - Uses Debian's chromium (/usr/bin/chromium, `apt-get install chromium`) driven by
//   playwright-core; no browser is ever downloaded.
// - Server: target/debug/rust-counter (override with RUST_COUNTER_BIN), or the shell
//   command in SESSIONIO_BROWSER_EXAMPLE (run from the repository root, e.g.
//   `node examples/node-express/app.mjs`: another example on one port), started with
//   PORT=0; its `listening http=<url> socket=<url>` line gives the URL.
// - Every wait is bounded so that nothing can hang.
//
// Run: cd tests && node --test browser/

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { chromium } from "playwright-core";

const SERVER_BIN =
  process.env.RUST_COUNTER_BIN ??
  fileURLToPath(new URL("../../target/debug/rust-counter", import.meta.url));
const EXAMPLE = process.env.SESSIONIO_BROWSER_EXAMPLE;
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = fileURLToPath(new URL("../.artifacts/", import.meta.url));

const WAIT_MS = 10_000;
const STARTUP_MS = 15_000;
const LISTEN_RE = /^listening http=(\S+) socket=(\S+)\s*$/m;

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// ---------------------------------------------------------------- server

const servers = new Set();
process.on("exit", () => {
  for (const child of servers) {
    try {
      child.kill("SIGKILL");
    } catch {
      /* gone */
    }
  }
});

/** Start rust-counter; resolves to { url, stop(), output() }. */
function startServer(extraEnv = {}) {
  if (!EXAMPLE && !existsSync(SERVER_BIN)) {
    throw new Error(`${SERVER_BIN} missing: run \`cargo build -p rust-counter\` in the repo root`);
  }
  const env = { ...process.env, PORT: "0", ...extraEnv };
  // `exec`: the shell becomes the example, so that stop() signals the example itself.
  const child = EXAMPLE
    ? spawn("sh", ["-c", `exec ${EXAMPLE}`], { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] })
    : spawn(SERVER_BIN, [], { env, stdio: ["ignore", "pipe", "pipe"] });
  servers.add(child);
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => {
    err += d;
  });
  const stop = () =>
    new Promise((resolve) => {
      servers.delete(child);
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const hard = setTimeout(() => child.kill("SIGKILL"), 3_000);
      child.once("exit", () => {
        clearTimeout(hard);
        resolve();
      });
      child.kill("SIGTERM");
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`server did not print its listening line within ${STARTUP_MS} ms\nstdout: ${out}\nstderr: ${err}`));
    }, STARTUP_MS);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (code ${code}, signal ${signal})\nstdout: ${out}\nstderr: ${err}`));
    });
    child.stdout.on("data", (d) => {
      out += d;
      const m = LISTEN_RE.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1].replace(/\/?$/, "/"), stop, output: () => out + err });
      }
    });
  });
}

// ---------------------------------------------------------------- page helpers

const state = (page) => page.evaluate(() => document.body.dataset.state);
const text = (page, sel) => page.locator(sel).textContent({ timeout: WAIT_MS });

async function waitState(page, wanted, label = "page") {
  try {
    await page.waitForFunction((s) => document.body.dataset.state === s, wanted, { timeout: WAIT_MS });
  } catch (e) {
    const got = await state(page).catch(() => "?");
    const status = await text(page, "#status").catch(() => "?");
    throw new Error(`${label}: state never became "${wanted}" (state="${got}", status="${status}")`, { cause: e });
  }
}

async function waitCount(page, wanted, label = "page") {
  try {
    await page.waitForFunction(
      (n) => document.getElementById("count").textContent.trim() === String(n),
      wanted,
      { timeout: WAIT_MS },
    );
  } catch (e) {
    const got = await text(page, "#count").catch(() => "?");
    throw new Error(`${label}: #count never showed ${wanted} (shows "${got}")`, { cause: e });
  }
}

/**
 * Click in a tab. Bring it to the front first: Chromium throttles requestAnimationFrame in
 * background tabs, which makes Playwright's actionability checks take ~2 s there.
 */
async function click(page, sel) {
  await page.bringToFront();
  await page.click(sel, { timeout: WAIT_MS });
}

/** Collect console errors and page errors, for the failure messages. */
function watch(page, label) {
  page.on("pageerror", (e) => console.log(`[${label}] pageerror: ${e.message}`));
  page.on("console", (m) => {
    // The server has no /favicon.ico; Chromium's 404 for it is noise.
    if (m.type() === "error" && !/favicon\.ico/.test(m.location()?.url ?? ""))
      console.log(`[${label}] console.error: ${m.text()}`);
  });
  return page;
}

// ---------------------------------------------------------------- suite

let browser;
let server;
let ctxA;
let tab1;
let tab2;

before(async () => {
  server = await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    timeout: 30_000,
  });
  ctxA = await browser.newContext({ viewport: { width: 640, height: 360 } });
  ctxA.setDefaultTimeout(WAIT_MS);
  ctxA.setDefaultNavigationTimeout(WAIT_MS);
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
});

test("two tabs of one session connect", { timeout: 30_000 }, async () => {
  tab1 = watch(await ctxA.newPage(), "tab1");
  await tab1.goto(server.url);
  await waitState(tab1, "connected", "tab1");
  // Open the second tab once the first one has its session cookie, so both share it.
  tab2 = watch(await ctxA.newPage(), "tab2");
  await tab2.goto(server.url);
  await waitState(tab2, "connected", "tab2");

  const cookies = await ctxA.cookies(server.url);
  assert.equal(cookies.filter((c) => c.name === "sessionio.sid").length, 1, "one session cookie in the shared jar");
  assert.equal((await text(tab1, "#count")).trim(), "0");
  assert.equal((await text(tab2, "#count")).trim(), "0");
});

test("increments reach the other tab live", { timeout: 30_000 }, async () => {
  await click(tab1, "#http-incr");
  await waitCount(tab1, 1, "tab1 (after its own HTTP incr)");
  await waitCount(tab2, 1, "tab2 (live update from tab1's HTTP incr)");

  await click(tab2, "#socket-incr");
  await waitCount(tab2, 2, "tab2 (after its own socket incr)");
  await waitCount(tab1, 2, "tab1 (live update from tab2's socket incr)");

  // Neither tab was reloaded: both still on the same socket connection.
  assert.equal(await state(tab1), "connected");
  assert.equal(await state(tab2), "connected");

  mkdirSync(ARTIFACTS, { recursive: true });
  const shots = [
    [tab1, path.join(ARTIFACTS, "two-tabs-tab1.png")],
    [tab2, path.join(ARTIFACTS, "two-tabs-tab2.png")],
  ];
  for (const [page, file] of shots) {
    await page.screenshot({ path: file, timeout: WAIT_MS });
    console.log(`screenshot: ${file}`);
  }
});

test("another session does not see those counts", { timeout: 30_000 }, async () => {
  const ctxB = await browser.newContext();
  try {
    const other = watch(await ctxB.newPage(), "other-session");
    await other.goto(server.url, { timeout: WAIT_MS });
    await waitState(other, "connected", "other session");
    assert.equal((await text(other, "#count")).trim(), "0");

    await click(tab1, "#http-incr");
    await waitCount(tab1, 3, "tab1");
    await waitCount(tab2, 3, "tab2");
    // Give a stray broadcast time to arrive, then check it did not.
    await other.waitForTimeout(500);
    assert.equal((await text(other, "#count")).trim(), "0", "other session's count stays 0");
    assert.equal(await state(other), "connected");
  } finally {
    await ctxB.close();
  }
});

test("logout in one tab disconnects the other; restart gives a new session", { timeout: 30_000 }, async () => {
  await click(tab1, "#logout");
  await waitState(tab1, "logged-out", "tab1");
  assert.equal((await text(tab1, "#status")).trim(), "logged out");
  assert.equal(await tab1.locator("#restart").isVisible(), true, "#restart shown in tab1");

  await waitState(tab2, "disconnected", "tab2");
  assert.equal((await text(tab2, "#status")).trim(), "disconnected: io server disconnect");

  const sid = async () => (await ctxA.cookies(server.url)).find((c) => c.name === "sessionio.sid")?.value;
  const sidBefore = await sid();
  // "disconnected" is not a state that shows #restart; use tab1's button.
  await Promise.all([
    tab1.waitForEvent("load", { timeout: WAIT_MS }),
    click(tab1, "#restart"),
  ]);
  await waitState(tab1, "connected", "tab1 after restart");
  await waitCount(tab1, 0, "tab1 after restart");
  assert.equal(await tab1.locator("#restart").isVisible(), false, "#restart hidden again");
  const sidAfter = await sid();
  assert.ok(sidAfter, "a new session cookie was set");
  assert.notEqual(sidAfter, sidBefore, "restart started a different session");
});

test("an idle session expires (SESSION_TTL_MS=1500)", { timeout: 30_000 }, async () => {
  const short = await startServer({ SESSION_TTL_MS: "1500" });
  const ctx = await browser.newContext();
  try {
    const page = watch(await ctx.newPage(), "expiry");
    await page.goto(short.url, { timeout: WAIT_MS });
    await waitState(page, "connected", "expiry page");
    const t0 = Date.now();
    await page.waitForTimeout(2_500);
    await waitState(page, "expired", "expiry page");
    const elapsed = Date.now() - t0;
    assert.equal((await text(page, "#status")).trim(), "session expired");
    assert.equal(await page.locator("#restart").isVisible(), true, "#restart shown after expiry");
    console.log(`expired observed ${elapsed} ms after connect`);

    const file = path.join(ARTIFACTS, "expired.png");
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: file, timeout: WAIT_MS });
    console.log(`screenshot: ${file}`);
  } finally {
    await ctx.close();
    await short.stop();
  }
});
