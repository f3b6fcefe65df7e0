// The one-file CLI (node scripts/bundle.mjs -> dist/cryo.mjs, built by esbuild from the sources):
// it answers like the modules do, and a whole checkpoint and restore (cryo demo) runs through it,
// started from another directory (the native addon is found from the bundle's place, not the cwd).
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fixturesDir } from '../helpers/paths.js';
import { onlyOn } from '../helpers/arch-only.js';

const skip = onlyOn(['x64'], 'fixtures dumped on x86_64');

const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundler = path.join(distRoot, '..', 'scripts', 'bundle.mjs');
const bundle = path.join(distRoot, 'cryo.mjs');
const modules = path.join(distRoot, 'src/cli/main.js');

const run = (cli: string, args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

before(() => {
  const r = spawnSync(process.execPath, [bundler], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(bundle));
  assert.match(readFileSync(bundle, 'utf8'), /^#!\/usr\/bin\/env node\n/);
});

test('the bundle answers as the modules do (help, an image command, a usage error)', { skip }, () => {
  for (const args of [['--help'], ['info', path.join(fixturesDir, 'single', 'inventory.img')], ['dump', '-t', 'x'], ['nosuch']]) {
    const a = run(bundle, args);
    const b = run(modules, args);
    assert.deepEqual([a.status, a.stdout, a.stderr], [b.status, b.stdout, b.stderr], `cryo ${args.join(' ')}`);
  }
});

test('cryo demo (dump, restore, the program carries on and passes) runs through the bundle', { skip }, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [bundle, 'demo'], { timeout: 60_000, cwd: '/' });
  assert.match(stdout, /\| PASS: counted to \d+, 2 MiB of state intact/);
});
