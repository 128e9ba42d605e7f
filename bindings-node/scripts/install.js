#!/usr/bin/env node
'use strict';
// npm's `install` step. With this platform's prebuilt package installed (e.g.
// `sessionio-linux-x64-gnu`, an optional dependency) there is nothing to do. Otherwise it
// builds the native addon from source with cargo and copies it beside the JS loader
// (`sessionio.<platform>.node`, e.g. `sessionio.linux-x64-gnu.node`); with no cargo either,
// it fails with the loader's one message (NativeAddonMissingError). `--build` builds even
// when a prebuilt is there (the loader uses it after a prebuilt failed to load).
// Dependency-free on purpose: npm does not install a linked folder's own dependencies
// before running this.
//
// Environment:
//   SESSIONIO_CARGO_PROFILE  cargo profile, `release` by default (`dev` reuses a debug build)
//   SESSIONIO_SKIP_BUILD=1   do nothing (the addon is provided another way)
//   CARGO                    the cargo binary (default `cargo` on PATH)
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { NativeAddonMissingError, cargoVersion, localBuildPath, prebuiltPath } = require('../lib/native');

const PKG_DIR = path.resolve(__dirname, '..');
const CRATE = 'sessionio-node';
const LIB_TARGET = 'sessionio_node';

function fail(message) {
  console.error(`sessionio: ${message}`);
  process.exit(1);
}

/**
 * The Cargo manifest to build: this folder's, when it is a member of the sessionio
 * repository's workspace; else the workspace that `npm pack` put in `crate/`.
 */
function findManifest() {
  for (let dir = path.dirname(PKG_DIR); ; dir = path.dirname(dir)) {
    const root = path.join(dir, 'Cargo.toml');
    if (fs.existsSync(root)) {
      const text = fs.readFileSync(root, 'utf8');
      const member = path.relative(dir, PKG_DIR).split(path.sep).join('/');
      if (/^\[workspace\]/m.test(text) && text.includes(`"${member}"`)) {
        return path.join(PKG_DIR, 'Cargo.toml');
      }
    }
    if (path.dirname(dir) === dir) break;
  }
  const packed = path.join(PKG_DIR, 'crate', 'Cargo.toml');
  if (fs.existsSync(packed)) return packed;
  return fail(
    `cannot build the native addon: ${PKG_DIR} is neither the bindings-node folder of the ` +
      'sessionio repository nor a package made by `npm pack` (which ships the Rust sources in crate/).',
  );
}

function main() {
  if (process.env.SESSIONIO_SKIP_BUILD) return;
  const forced = process.argv.includes('--build');
  if (!forced && prebuiltPath()) return;
  const cargo = process.env.CARGO || 'cargo';
  if (cargoVersion() === null) {
    if (!forced && fs.existsSync(localBuildPath())) {
      console.error(`sessionio: no cargo to rebuild it; keeping the local build ${localBuildPath()}`);
      return;
    }
    console.error(new NativeAddonMissingError().message);
    process.exit(1);
  }
  const profile = process.env.SESSIONIO_CARGO_PROFILE || 'release';
  const manifest = findManifest();
  const args = ['build', '--manifest-path', manifest, '-p', CRATE, '--message-format=json-render-diagnostics'];
  if (profile === 'release') args.push('--release');
  else if (profile !== 'dev') args.push('--profile', profile);
  console.error(`sessionio: ${cargo} ${args.join(' ')}`);

  // Cargo's progress and diagnostics go to stderr; its JSON messages (stdout) name the
  // built library wherever the target directory is.
  const child = spawn(cargo, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let library = null;
  let rest = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop();
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const msg = JSON.parse(line);
      if (msg.reason === 'compiler-artifact' && msg.target?.name === LIB_TARGET) {
        library = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f)) ?? library;
      }
    }
  });
  child.on('error', (err) => fail(`could not run ${cargo}: ${err.message}`));
  child.on('close', (code) => {
    if (code !== 0) fail(`cargo build failed (exit code ${code}); see its output above.`);
    if (!library) fail('cargo built nothing named sessionio_node (no cdylib in its output).');
    const dest = localBuildPath();
    // Copy then rename: a process that has the old addon loaded keeps a valid file.
    const tmp = `${dest}.${process.pid}.tmp`;
    fs.copyFileSync(library, tmp);
    fs.renameSync(tmp, dest);
    console.error(`sessionio: built ${path.relative(PKG_DIR, dest)} (${profile}) from ${library}`);
    // A packed package builds in its own crate/target: hundreds of MB nobody reuses.
    const ownTarget = path.join(path.dirname(manifest), 'target');
    if (manifest !== path.join(PKG_DIR, 'Cargo.toml') && library.startsWith(ownTarget + path.sep)) {
      fs.rmSync(ownTarget, { recursive: true, force: true });
    }
  });
}

main();
