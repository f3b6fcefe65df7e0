// The one-file CLI (node scripts/bundle.mjs -> dist/cryo.cjs, built by esbuild from the sources, run
// by dist/cryo-cli.cjs, the package's bin, with a V8 code cache; dist/cryo.mjs imports that): it answers like the modules do, a whole checkpoint and
// restore (cryo demo) runs through it, started from another directory (the native addon is found
// from the bundle's place, not the cwd), and a missing, stale or corrupt cache changes nothing.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fixturesDir } from '../helpers/paths.js';
import { onlyOn } from '../helpers/arch-only.js';

const skip = onlyOn(['x64'], 'fixtures dumped on x86_64');

const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundler = path.join(distRoot, '..', 'scripts', 'bundle.mjs');
const bundle = path.join(distRoot, 'cryo-cli.cjs');
const esmEntry = path.join(distRoot, 'cryo.mjs');
const script = path.join(distRoot, 'cryo.cjs');
const modules = path.join(distRoot, 'src/cli/main.js');

const cache = path.join(distRoot, `cryo-${process.version}-${process.arch}.cache`);

const run = (cli: string, args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env });

before(() => {
  const r = spawnSync(process.execPath, [bundler], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const bin of [bundle, esmEntry]) assert.match(readFileSync(bin, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  assert.ok(existsSync(cache), 'the build makes the code cache');
});

test('the bundle answers as the modules do (help, an image command, a usage error)', { skip }, () => {
  for (const args of [['--help'], ['info', path.join(fixturesDir, 'single', 'inventory.img')], ['dump', '-t', 'x'], ['nosuch']]) {
    const b = run(modules, args);
    for (const cli of [bundle, esmEntry]) {
      const a = run(cli, args);
      assert.deepEqual([a.status, a.stdout, a.stderr], [b.status, b.stdout, b.stderr], `${path.basename(cli)} ${args.join(' ')}`);
    }
  }
});

test('cryo demo (dump, restore, the program carries on and passes) runs through the bundle', { skip }, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [bundle, 'demo'], { timeout: 60_000, cwd: '/' });
  assert.match(stdout, /\| PASS: counted to \d+, 2 MiB of state intact/);
});

test('the code cache is used; a missing, stale or corrupt one is made again and changes no answer', { skip }, () => {
  const report = { ...process.env, CRYO_CODE_CACHE: 'report' };
  const args = ['info', path.join(fixturesDir, 'single', 'inventory.img')];
  const expected = run(modules, args);
  const answer = (state: string) => {
    const r = run(bundle, args, report);
    assert.deepEqual([r.status, r.stdout, r.stderr], [expected.status, expected.stdout, `cryo: code cache ${state}\n${expected.stderr}`], state);
  };
  answer('used');
  const whole = readFileSync(cache);
  const corrupt = Buffer.from(whole);
  for (let i = corrupt.length >> 1; i < corrupt.length; i += 4099) corrupt[i]! ^= 0x5a;
  for (const [state, spoil] of [
    ['missing', () => rmSync(cache)],
    ['rejected by V8', () => writeFileSync(cache, corrupt)],
    ['rejected by V8', () => writeFileSync(cache, whole.subarray(0, whole.length >> 1))],
    ['stale', () => utimesSync(script, new Date(), new Date())],
  ] as const) {
    spoil();
    answer(state);
    answer('used');
  }
  const rebuilt = spawnSync(process.execPath, [bundle], { env: { ...process.env, CRYO_CODE_CACHE: 'build' } });
  assert.equal(rebuilt.status, 0);
});
