// Download sizes and install / cold-start times of what scripts/package.sh wrote to dist/.
// Writes a Markdown section (BENCHMARKS.md appends it) and prints it.
//
//   node bench/install.mjs [--dist dist] [--out bench/out/install.md] [--runs 5]
//
// Every timing is the median of `--runs` runs, each in a new folder or venv; the cold
// start figures come with the bare interpreter's start beside them, from the same run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    dist: { type: 'string', default: join(REPO, 'dist') },
    out: { type: 'string', default: join(REPO, 'bench', 'out', 'install.md') },
    runs: { type: 'string', default: '5' },
  },
});
const DIST = resolve(values.dist);
const RUNS = Number(values.runs);
const PYTHON = process.env.PYTHON ?? 'python3.11';
const { version } = JSON.parse(readFileSync(join(REPO, 'bindings-node', 'package.json'), 'utf8'));

function run(command, args, options = {}) {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.error || result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed: ${result.error ?? result.stderr}`);
  }
  return seconds;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;
const ms = (seconds) => `${(seconds * 1000).toFixed(0)} ms`;

/** Runs `measure(dir)` in `RUNS` new temporary folders; answers the median. */
function medianOver(measure) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'sessionio-bench-install-'));
    try {
      times.push(measure(dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return median(times);
}

const files = readdirSync(DIST);
const find = (test, what) => {
  const name = files.find(test);
  if (!name) throw new Error(`no ${what} in ${DIST}: run scripts/package.sh`);
  return join(DIST, name);
};
const platformTgz = find((f) => /^sessionio-[a-z0-9]+-[a-z0-9]+(-[a-z]+)?-/.test(f) && f.endsWith(`-${version}.tgz`), 'platform package');
const mainTgz = find((f) => f === `sessionio-${version}.tgz`, 'npm package');
const wheel = find((f) => f.startsWith(`sessionio-${version}-`) && f.endsWith('.whl'), 'wheel');
const sdist = find((f) => f === `sessionio-${version}.tar.gz`, 'sdist');
const crate = find((f) => f === `sessionio-${version}.crate`, 'crate');

// The unpacked binaries: the .node inside the platform tarball, the .so inside the wheel.
const unpacked = mkdtempSync(join(tmpdir(), 'sessionio-bench-unpacked-'));
run('tar', ['-xzf', platformTgz, '-C', unpacked]);
const addon = readdirSync(join(unpacked, 'package')).find((f) => f.endsWith('.node'));
const addonBytes = statSync(join(unpacked, 'package', addon)).size;
run(PYTHON, ['-m', 'zipfile', '-e', wheel, join(unpacked, 'wheel')]);
const moduleFile = readdirSync(join(unpacked, 'wheel', 'sessionio')).find((f) => f.endsWith('.so'));
const moduleBytes = statSync(join(unpacked, 'wheel', 'sessionio', moduleFile)).size;
rmSync(unpacked, { recursive: true, force: true });

const npmInstall = medianOver((dir) => {
  run('npm', ['init', '-y'], { cwd: dir });
  return run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', platformTgz, mainTgz], { cwd: dir });
});
const pipInstall = medianOver((dir) => {
  run(PYTHON, ['-m', 'venv', join(dir, 'venv')]);
  return run(join(dir, 'venv', 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--no-cache-dir', '--disable-pip-version-check', wheel]);
});

// Cold starts: one install of each, then RUNS starts of the bare interpreter and RUNS with
// the import, interleaved.
const coldDir = mkdtempSync(join(tmpdir(), 'sessionio-bench-cold-'));
run('npm', ['init', '-y'], { cwd: coldDir });
run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', platformTgz, mainTgz], { cwd: coldDir });
run(PYTHON, ['-m', 'venv', join(coldDir, 'venv')]);
const python = join(coldDir, 'venv', 'bin', 'python');
run(python, ['-m', 'pip', 'install', '--quiet', '--no-cache-dir', '--disable-pip-version-check', wheel]);
const starts = { node: [], nodeImport: [], python: [], pythonImport: [] };
for (let i = 0; i < RUNS; i++) {
  starts.node.push(run('node', ['-e', ''], { cwd: coldDir }));
  starts.nodeImport.push(run('node', ['-e', "require('sessionio')"], { cwd: coldDir }));
  starts.python.push(run(python, ['-c', '']));
  starts.pythonImport.push(run(python, ['-c', 'import sessionio']));
}
// Where Python's import time goes: `-X importtime` of one more cold import.
const importtime = spawnSync(python, ['-X', 'importtime', '-c', 'import sessionio'], { encoding: 'utf8' }).stderr;
const cumulativeUs = (module) => {
  const fields = importtime.split('\n').map((l) => l.split('|')).find((f) => f.length === 3 && f[2].trim() === module);
  return fields ? Number(fields[1]) : NaN;
};
const asyncioUs = cumulativeUs('asyncio');
const sessionioUs = cumulativeUs('sessionio');
rmSync(coldDir, { recursive: true, force: true });

const name = (path) => path.slice(DIST.length + 1);
const size = (path) => mb(statSync(path).size);
const markdown = `## Install size and cold start

Generated by \`bash scripts/package.sh && node bench/install.mjs\` (release builds, stripped; every time is the median of ${RUNS} runs, each install into a new folder or venv).

| artifact | size |
|---|---|
| \`${name(platformTgz)}\` (npm, the prebuilt addon) | ${size(platformTgz)} |
| └ \`${addon}\` unpacked | ${mb(addonBytes)} |
| \`${name(mainTgz)}\` (npm, JS + Rust sources for source builds) | ${size(mainTgz)} |
| \`${name(wheel)}\` (PyPI) | ${size(wheel)} |
| └ \`sessionio/${moduleFile}\` unpacked | ${mb(moduleBytes)} |
| \`${name(sdist)}\` (PyPI sdist) | ${size(sdist)} |
| \`${name(crate)}\` (crates.io) | ${size(crate)} |

| step | time |
|---|---|
| \`npm install\` of the two tarballs into a new project | ${ms(npmInstall)} |
| \`pip install\` of the wheel into a new venv | ${ms(pipInstall)} |
| \`node -e "require('sessionio')"\` (bare \`node -e ""\`) | ${ms(median(starts.nodeImport))} (${ms(median(starts.node))}) |
| \`python -c "import sessionio"\` (bare \`python -c ""\`) | ${ms(median(starts.pythonImport))} (${ms(median(starts.python))}) |

Of Python's import, \`python -X importtime\` gives ${(sessionioUs / 1000).toFixed(0)} ms to \`sessionio\` in all, of which ${(asyncioUs / 1000).toFixed(0)} ms is \`asyncio\` (which an ASGI app imports anyway).
`;
mkdirSync(dirname(values.out), { recursive: true });
writeFileSync(values.out, markdown);
process.stdout.write(markdown);
