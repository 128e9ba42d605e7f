// A process that starts the engine and closes it exits by itself within 1 s: the stored
// JavaScript callbacks are weak threadsafe functions and nothing else keeps Node alive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withTimeout, sleep } from './helpers.mjs';

const fixture = (name) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** Runs a fixture; resolves its stdout, exit code and the ms from "closed" to its exit. */
function run(name, args = []) {
  const child = spawn(process.execPath, [fixture(name), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return {
    child,
    done: new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        const exitedAt = performance.timeOrigin + performance.now();
        const m = /closed ([\d.]+)/.exec(stdout);
        resolve({ code, signal, stdout, stderr, afterCloseMs: m ? exitedAt - Number(m[1]) : NaN });
      }),
    ),
  };
}

for (const variant of ['idle', 'with-client']) {
  test(`after close() the process exits by itself within 1 s (${variant})`, async () => {
    const { child, done } = run('start-close.mjs', [variant]);
    const result = await withTimeout(done, 15_000, 'the process did not exit').finally(() => child.kill('SIGKILL'));
    assert.equal(result.code, 0, `exit code ${result.code} ${result.signal ?? ''}\n${result.stderr}`);
    assert.ok(Number.isFinite(result.afterCloseMs), `no "closed" line: ${result.stdout}`);
    console.log(`exit after close (${variant}): ${result.afterCloseMs.toFixed(1)} ms`);
    assert.ok(result.afterCloseMs < 1_000, `exited ${result.afterCloseMs} ms after close()`);
  });
}

test('a started engine keeps the process alive until it is closed', async () => {
  const { child, done } = run('start-only.mjs');
  try {
    await withTimeout(
      new Promise((resolve) => child.stdout.on('data', (d) => String(d).includes('listening') && resolve())),
      10_000,
      'the fixture did not start',
    );
    await sleep(1_500);
    assert.equal(child.exitCode, null, 'the process exited while its engine was running');
  } finally {
    child.kill('SIGTERM');
  }
  const result = await withTimeout(done, 5_000, 'SIGTERM did not stop it');
  assert.equal(result.signal, 'SIGTERM');
});
