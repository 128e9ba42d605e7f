// Installing what scripts/package.sh wrote to dist/, on a machine without Rust: run these
// with `cargo` and `rustc` off PATH (scripts/test-package.sh does). Each test installs into
// a new temporary folder or venv.
//
// Environment: SESSIONIO_DIST (default <repo>/dist), PYTHON (default python3.11).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = process.env.SESSIONIO_DIST ?? join(REPO, 'dist');
const PYTHON = process.env.PYTHON ?? 'python3.11';
const { version } = JSON.parse(readFileSync(join(REPO, 'bindings-node', 'package.json'), 'utf8'));
const PLATFORM = 'linux-x64-gnu';
const MAIN_TGZ = join(DIST, `sessionio-${version}.tgz`);
const PLATFORM_TGZ = join(DIST, `sessionio-${PLATFORM}-${version}.tgz`);

// The loader's two messages (bindings-node/lib/native.js), as README quotes them.
const MISSING_PREBUILT =
  `sessionio: no native addon for ${PLATFORM}: its prebuilt package sessionio-${PLATFORM} is not ` +
  'installed (were optional dependencies omitted?), and cargo is not on PATH to build one from ' +
  `source. Install it with \`npm install sessionio-${PLATFORM}@${version}\`, or install Rust ` +
  '(https://rustup.rs) and sessionio builds the addon from source at its next install or require.';
const NO_PREBUILT_PUBLISHED =
  `sessionio: no native addon for ${PLATFORM}: no prebuilt addon is published for this platform, ` +
  'and cargo is not on PATH to build one from source. Install Rust (https://rustup.rs) and ' +
  'sessionio builds the addon from source at its next install or require.';
// bindings-python/build_backend/sessionio_build.py
const MISSING_CARGO_PIP =
  'sessionio: building sessionio from source needs Rust, but `cargo` is not on PATH. Install the ' +
  'prebuilt wheel instead (`pip install --only-binary sessionio sessionio`; wheels exist for ' +
  'CPython >= 3.11 on manylinux x86_64), or install Rust (https://rustup.rs) and run pip again.';

/** Runs a command; answers its exit code, output and wall time. */
function run(command, args, options = {}) {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 300_000, ...options });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, seconds };
}

function ok(command, args, options) {
  const result = run(command, args, options);
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** A new empty npm project in a temporary folder (removed after the test). */
function npmProject(t) {
  const dir = mkdtempSync(join(tmpdir(), 'sessionio-install-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  ok('npm', ['init', '-y'], { cwd: dir });
  return dir;
}

const NPM_QUIET = ['--no-audit', '--no-fund', '--loglevel=error'];

test('the machine has no cargo and no rustc on PATH', () => {
  for (const tool of ['cargo', 'rustc']) {
    const found = run('sh', ['-c', `command -v ${tool}`]);
    assert.notEqual(found.status, 0, `${tool} is on PATH at ${found.stdout.trim()}`);
  }
});

test('the two tarballs exist', () => {
  assert.ok(existsSync(MAIN_TGZ), `${MAIN_TGZ} is missing: run scripts/package.sh`);
  assert.ok(existsSync(PLATFORM_TGZ), `${PLATFORM_TGZ} is missing: run scripts/package.sh`);
});

test('prebuilt: npm install of the two tarballs, then require and import run an engine', (t) => {
  const dir = npmProject(t);
  const install = ok('npm', ['install', PLATFORM_TGZ, MAIN_TGZ, ...NPM_QUIET], { cwd: dir });
  t.diagnostic(`npm install of the two tarballs: ${install.seconds.toFixed(2)} s`);
  // Nothing was built: the addon is the platform package's.
  assert.ok(!existsSync(join(dir, 'node_modules', 'sessionio', `sessionio.${PLATFORM}.node`)));
  assert.ok(existsSync(join(dir, 'node_modules', `sessionio-${PLATFORM}`, `sessionio.${PLATFORM}.node`)));

  const script = (load) =>
    `${load}
    const rt = await SessionIo.start({ port: 0, secret: 'x'.repeat(32) });
    const session = await rt.createSession();
    await session.set('count', 41);
    console.log(await session.increment('count'));
    await rt.close();`;
  const required = ok(
    'node',
    ['-e', `(async () => { ${script("const { SessionIo } = require('sessionio');")} })()`],
    { cwd: dir },
  );
  assert.equal(required.stdout.trim(), '42');
  const imported = ok('node', ['--input-type=module', '-e', script("import { SessionIo } from 'sessionio';")], {
    cwd: dir,
  });
  assert.equal(imported.stdout.trim(), '42');

  const bare = ok('node', ['-e', ''], { cwd: dir });
  const cold = ok('node', ['-e', "require('sessionio')"], { cwd: dir });
  t.diagnostic(`cold node -e "require('sessionio')": ${cold.seconds.toFixed(3)} s (node -e "": ${bare.seconds.toFixed(3)} s)`);
});

test('the loader takes the prebuilt before a local build, and a local build when the prebuilt does not load', (t) => {
  const dir = npmProject(t);
  ok('npm', ['install', PLATFORM_TGZ, MAIN_TGZ, ...NPM_QUIET], { cwd: dir });
  const prebuilt = join(dir, 'node_modules', `sessionio-${PLATFORM}`, `sessionio.${PLATFORM}.node`);
  const local = join(dir, 'node_modules', 'sessionio', `sessionio.${PLATFORM}.node`);
  writeFileSync(local, readFileSync(prebuilt));
  const loaded = () =>
    run('node', ['-e', "require('sessionio'); console.log(Object.keys(require.cache).filter((f) => f.endsWith('.node')).join())"], {
      cwd: dir,
    });

  assert.equal(loaded().stdout.trim(), prebuilt);
  writeFileSync(prebuilt, 'not an ELF file');
  assert.equal(loaded().stdout.trim(), local);
  rmSync(local);
  const failed = loaded();
  assert.equal(failed.status, 1);
  const expected =
    `sessionio: no native addon for ${PLATFORM}: the prebuilt addon of sessionio-${PLATFORM} did not load (${prebuilt}: `;
  assert.ok(failed.stderr.includes(expected), failed.stderr);
  assert.ok(
    failed.stderr.includes(
      '), and cargo is not on PATH to build one from source. Install Rust (https://rustup.rs) and ' +
        'sessionio builds the addon from source at its next install or require.',
    ),
    failed.stderr,
  );
});

test('no prebuilt and no cargo: npm install fails with the one message', (t) => {
  const dir = npmProject(t);
  const install = run('npm', ['install', '--omit=optional', MAIN_TGZ, ...NPM_QUIET], { cwd: dir });
  assert.notEqual(install.status, 0, 'the install succeeded with no addon');
  assert.ok(install.stderr.includes(MISSING_PREBUILT), install.stderr);
});

test('no prebuilt and no cargo: require and import fail with the one message, no loader frames', (t) => {
  const dir = npmProject(t);
  ok('npm', ['install', '--omit=optional', '--ignore-scripts', MAIN_TGZ, ...NPM_QUIET], { cwd: dir });
  for (const args of [['-e', "require('sessionio')"], ['--input-type=module', '-e', "import 'sessionio'"]]) {
    const loaded = run('node', args, { cwd: dir });
    assert.equal(loaded.status, 1, loaded.stderr);
    assert.ok(loaded.stderr.includes(`NativeAddonMissingError [ERR_NATIVE_ADDON_MISSING]: ${MISSING_PREBUILT}`), loaded.stderr);
    assert.doesNotMatch(loaded.stderr, /^\s+at .*native\.js/m);
  }

  // A platform with no published package: the message says so and only offers Rust.
  const manifest = join(dir, 'node_modules', 'sessionio', 'package.json');
  const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
  delete pkg.optionalDependencies;
  writeFileSync(manifest, JSON.stringify(pkg));
  const unpublished = run('node', ['-e', "require('sessionio')"], { cwd: dir });
  assert.equal(unpublished.status, 1);
  assert.ok(unpublished.stderr.includes(NO_PREBUILT_PUBLISHED), unpublished.stderr);
});

/** A new venv in a temporary folder; answers its python. */
function venv(t) {
  const dir = mkdtempSync(join(tmpdir(), 'sessionio-venv-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  ok(PYTHON, ['-m', 'venv', join(dir, 'venv')]);
  return join(dir, 'venv', 'bin', 'python');
}

const PIP_QUIET = ['--disable-pip-version-check', '--no-cache-dir', '--quiet'];

test('wheel: pip install into a new venv needs no build, and the engine runs', (t) => {
  const wheels = readdirSync(DIST).filter((f) => f.startsWith(`sessionio-${version}-cp311-abi3-manylinux_`));
  assert.equal(wheels.length, 1, `one abi3 manylinux wheel in ${DIST}: ${wheels}`);
  const python = venv(t);
  const install = ok(python, ['-m', 'pip', 'install', ...PIP_QUIET, join(DIST, wheels[0])]);
  t.diagnostic(`pip install ${wheels[0]} into a new venv: ${install.seconds.toFixed(2)} s`);

  const check = ok(python, [
    '-c',
    `import sessionio, sys
with sessionio.SessionIo(secret="x" * 32, port=0) as rt:
    session = rt.create_session_sync()
    session.set_sync("count", 41)
    print(session.increment_sync("count"), sessionio.__file__.startswith(sys.prefix))`,
  ]);
  assert.equal(check.stdout.trim(), '42 True');
  const bare = ok(python, ['-c', '']);
  const cold = ok(python, ['-c', 'import sessionio']);
  t.diagnostic(`cold python -c "import sessionio": ${cold.seconds.toFixed(3)} s (python -c "": ${bare.seconds.toFixed(3)} s)`);
});

test('sdist without cargo: pip install stops at once with the one message', (t) => {
  const python = venv(t);
  const install = run(python, ['-m', 'pip', 'install', ...PIP_QUIET, join(DIST, `sessionio-${version}.tar.gz`)]);
  assert.notEqual(install.status, 0, 'the sdist installed without cargo');
  assert.ok(install.stdout.concat(install.stderr).includes(MISSING_CARGO_PIP), install.stderr);
  t.diagnostic(`pip install of the sdist failed after ${install.seconds.toFixed(2)} s`);
});
