#!/usr/bin/env node
// The `cryo` executable (scripts/bundle.mjs copies it to dist/cryo-cli.cjs, the package's bin; dist/cryo.mjs
// imports it): a CommonJS script, as Node's ES-module loader would add 9 ms to every command. It runs the one-file CLI
// dist/cryo.cjs with a V8 code cache, so that Node does not compile its 1 MB of JavaScript on
// every command. The cache (dist/cryo-<node version>-<arch>.cache) is made by `npm run build`, at
// install, or by the first command that finds none. A cache is used only for the bundle file it
// was made from (its size and ctime, which every write of the file changes); V8 refuses one from
// another V8 or with other flags, and one whose bytes changed (its checksum, which V8 verifies only
// when asked). A refused or unreadable cache costs the compile, and never changes what cryo does.
//   CRYO_CODE_CACHE=off     neither read nor write the cache
//   CRYO_CODE_CACHE=build   compile the whole bundle, write its cache and exit (build and install)
//   CRYO_CODE_CACHE=report  say on stderr what became of the cache (tests)
'use strict';
const { closeSync, fstatSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const path = require('node:path');
const { setFlagsFromString } = require('node:v8');
const { Script } = require('node:vm');

const bundle = path.join(__dirname, 'cryo.cjs');
const cacheFile = path.join(__dirname, `cryo-${process.version}-${process.arch}.cache`);
const mode = process.env.CRYO_CODE_CACHE ?? '';

const fd = openSync(bundle, 'r');
const st = fstatSync(fd, { bigint: true });
// esbuild writes ASCII only (scripts/bundle.mjs checks): latin1 is the cheapest exact decoding.
const source = readFileSync(fd, 'latin1');
closeSync(fd);
// The first line of the cache file: which bundle file it was made from.
const header = `cryo code cache of ${st.size} bytes changed at ${st.ctimeNs} ns\n`;
// Strict, as the ES modules it was built from.
const wrapped = `(function (exports, require, module, __filename, __dirname) {"use strict";${source}\n})`;
// --expose-gc: contexts made from now on have gc() (src/shared/scavenge.ts); the main one has none.
setFlagsFromString('--verify-snapshot-checksum --expose-gc');

/** The cache's V8 data when it was made from this bundle file; else why not. */
function readCache() {
  let file;
  try {
    file = readFileSync(cacheFile);
  } catch {
    return 'missing';
  }
  return file.length > header.length && file.toString('latin1', 0, header.length) === header ? file.subarray(header.length) : 'stale';
}

/** Writes the cache whole or not at all (a rename); where cryo may not write, there is none. */
function writeCache(data) {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, Buffer.concat([Buffer.from(header, 'latin1'), data]), { mode: 0o644 });
    renameSync(tmp, cacheFile);
  } catch {
    rmSync(tmp, { force: true });
  }
}

if (mode === 'build') {
  // Every function compiled now (not only those one command runs) goes into the cache.
  setFlagsFromString('--no-lazy');
  const script = new Script(wrapped, { filename: bundle });
  setFlagsFromString('--lazy');
  writeCache(script.createCachedData());
} else {
  const cached = mode === 'off' ? 'off' : readCache();
  const script = new Script(wrapped, { filename: bundle, cachedData: typeof cached === 'string' ? undefined : cached });
  const state = typeof cached === 'string' ? cached : script.cachedDataRejected ? 'rejected by V8' : 'used';
  if (mode === 'report') process.stderr.write(`cryo: code cache ${state}\n`);
  // What this command compiled is cached for the next one.
  if (state !== 'used' && state !== 'off') process.once('exit', () => writeCache(script.createCachedData()));
  const bundleRequire = createRequire(bundle);
  script.runInThisContext()({}, bundleRequire, { exports: {}, require: bundleRequire }, bundle, __dirname);
}
