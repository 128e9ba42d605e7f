'use strict';
// Finds and loads the native addon (the Rust engine), in this order:
//   1. `SESSIONIO_NATIVE_PATH`, when set (an explicit file; nothing else is tried);
//   2. the prebuilt addon of this platform's package, e.g. `sessionio-linux-x64-gnu`, which
//      npm installs from sessionio's `optionalDependencies` (the napi-rs layout);
//   3. a local build beside package.json, e.g. `sessionio.linux-x64-gnu.node`, which
//      `scripts/install.js` writes when it builds from source;
//   4. a build from source now, when cargo is on PATH (npm skipped the install script).
// When none of them gives an addon, `load()` throws one `NativeAddonMissingError` that
// names the platform and says what to do.
const { existsSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const PKG_DIR = join(__dirname, '..');

/** Whether this Linux runs on musl (Alpine) rather than glibc. */
function isMusl() {
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl');
  } catch {
    // No ldd (e.g. a distroless image): ask Node which C library it runs on.
    return !process.report?.getReport()?.header?.glibcVersionRuntime;
  }
}

/**
 * This platform in napi-rs's naming: `linux-x64-gnu`, `linux-arm64-musl`,
 * `darwin-arm64`, `win32-x64-msvc`, …
 */
function platformName() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const abi = arch === 'arm' ? 'gnueabihf' : isMusl() ? 'musl' : 'gnu';
    return `linux-${arch}-${abi}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/** The npm package that holds this platform's prebuilt addon, e.g. `sessionio-linux-x64-gnu`. */
function prebuiltPackageName(platform = platformName()) {
  return `sessionio-${platform}`;
}

/** File name of the addon for this platform, e.g. `sessionio.linux-x64-gnu.node`. */
function nativeFileName(platform = platformName()) {
  return `sessionio.${platform}.node`;
}

/** Where a local build goes: beside package.json. */
function localBuildPath() {
  return join(PKG_DIR, nativeFileName());
}

/** The prebuilt addon's path, or `null` when this platform's package is not installed. */
function prebuiltPath() {
  try {
    return require.resolve(`${prebuiltPackageName()}/${nativeFileName()}`, { paths: [PKG_DIR] });
  } catch {
    return null;
  }
}

/** `cargo --version`'s output, or `null` when there is no cargo to run. */
function cargoVersion() {
  const cargo = process.env.CARGO || 'cargo';
  const result = spawnSync(cargo, ['--version'], { encoding: 'utf8' });
  return result.error || result.status !== 0 ? null : result.stdout.trim();
}

/** Whether this package lists a prebuilt package for `platform` (a published package does). */
function hasPrebuiltFor(platform) {
  const { optionalDependencies = {} } = require('../package.json');
  return Object.hasOwn(optionalDependencies, prebuiltPackageName(platform));
}

/** The error `load()` throws when no addon can be had; its texts are quoted in README. */
class NativeAddonMissingError extends Error {
  /** @param {string} [prebuiltFailure] why the installed prebuilt addon did not load */
  constructor(prebuiltFailure) {
    const platform = platformName();
    const { version } = require('../package.json');
    const prebuilt = prebuiltPackageName(platform);
    const fromSource =
      'Install Rust (https://rustup.rs) and sessionio builds the addon from source at its next install or require.';
    let why;
    if (prebuiltFailure) why = `the prebuilt addon of ${prebuilt} did not load (${prebuiltFailure})`;
    else if (hasPrebuiltFor(platform)) why = `its prebuilt package ${prebuilt} is not installed (were optional dependencies omitted?)`;
    else why = 'no prebuilt addon is published for this platform';
    const todo =
      !prebuiltFailure && hasPrebuiltFor(platform)
        ? `Install it with \`npm install ${prebuilt}@${version}\`, or install Rust (https://rustup.rs) ` +
          'and sessionio builds the addon from source at its next install or require.'
        : fromSource;
    const message = `sessionio: no native addon for ${platform}: ${why}, and cargo is not on PATH to build one from source. ${todo}`;
    super(message);
    this.name = 'NativeAddonMissingError';
    this.code = 'ERR_NATIVE_ADDON_MISSING';
    // The frames would all be this loader's: the message says everything.
    this.stack = `${this.name} [${this.code}]: ${message}`;
  }
}

/** Builds the addon from source with `scripts/install.js`; throws when that fails. */
function buildFromSource(why) {
  console.error(`sessionio: ${why}; building it from source with cargo now…`);
  const result = spawnSync(process.execPath, [join(PKG_DIR, 'scripts', 'install.js'), '--build'], {
    stdio: ['ignore', 2, 2],
  });
  if (result.status !== 0) {
    throw new Error(`sessionio: building the native addon failed (exit code ${result.status}); see the output above.`);
  }
}

/** Loads the addon (see the order at the top of this file). */
function load() {
  if (process.env.SESSIONIO_NATIVE_PATH) return require(process.env.SESSIONIO_NATIVE_PATH);
  let prebuiltFailure;
  const prebuilt = prebuiltPath();
  if (prebuilt) {
    try {
      return require(prebuilt);
    } catch (err) {
      // e.g. a C library older than the build's: try a local build before giving up.
      prebuiltFailure = err.message.split('\n')[0];
    }
  }
  const local = localBuildPath();
  if (!existsSync(local)) {
    if (cargoVersion() === null) throw new NativeAddonMissingError(prebuiltFailure);
    buildFromSource(
      prebuiltFailure
        ? `the prebuilt addon did not load (${prebuiltFailure})`
        : 'no native addon was installed (npm skipped the install script: ' +
            'approve it with `npm install-scripts approve sessionio`)',
    );
  }
  return require(local);
}

module.exports = {
  NativeAddonMissingError,
  cargoVersion,
  load,
  localBuildPath,
  nativeFileName,
  platformName,
  prebuiltPackageName,
  prebuiltPath,
};
