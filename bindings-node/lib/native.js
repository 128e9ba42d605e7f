'use strict';
// Loads the native addon that `scripts/install.js` builds with cargo.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

/** File name of the addon for this platform, e.g. `sessionio.linux-x64.node`. */
function nativeFileName() {
  return `sessionio.${process.platform}-${process.arch}.node`;
}

/** Where the addon is: `SESSIONIO_NATIVE_PATH`, else beside package.json. */
function nativePath() {
  return process.env.SESSIONIO_NATIVE_PATH || join(__dirname, '..', nativeFileName());
}

/**
 * Builds the addon now when the install step did not (npm may skip dependencies'
 * install scripts that the app has not approved).
 */
function buildMissing(path) {
  console.error(
    `sessionio: the native addon is missing (${path}): npm skipped its install script ` +
      '(approve it with `npm install-scripts approve sessionio`). Building it now with cargo…',
  );
  const result = spawnSync(process.execPath, [join(__dirname, '..', 'scripts', 'install.js')], {
    stdio: ['ignore', 2, 2],
  });
  if (result.status !== 0) {
    throw new Error(`sessionio: building the native addon failed (exit code ${result.status}); see the output above.`);
  }
}

function load() {
  const path = nativePath();
  if (!process.env.SESSIONIO_NATIVE_PATH && !existsSync(path)) buildMissing(path);
  return require(path);
}

module.exports = { nativeFileName, nativePath, load };
