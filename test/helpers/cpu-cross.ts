// CPU-feature refusals on a real smaller CPU, for the guest runner's cross boots (scripts/test-arch.mjs
// --cross A:B+MACHINE:FILE runs FILE twice). The first boot (CRYO_CROSS=dump) dumps each case's task on
// the full CPU; the second (CRYO_CROSS=restore, the smaller machine) must refuse each in one line naming
// what it lacks and leave nothing behind: once by the dumping CPU's feature words (cryo-cpu.img), once by
// the task's own state alone (a copy without cryo-cpu.img, as from CRIU). Skipped anywhere else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startTarget } from './dump-target.js';
import { becomeSubreaper, nothingLeftBehind, waitGone } from './restore-env.js';
import { dumpTask, restoreTask } from './cryo-ops.js';
import { sleepSync } from '../../src/sys/index.js';
import { CRYO_CPU_IMAGE } from '../../src/images/cryo-cpu.js';
import { CRYO_MANIFEST_IMAGE } from '../../src/images/cryo-manifest.js';

/** A task to dump on the full CPU, and what the smaller CPU must say: by the feature words, and by the task's state alone. */
export interface CrossCase { name: string; args: string[]; words: RegExp; state: RegExp }
interface Dump { name: string; pid: number; images: string }

const CROSS_DIR = '/tmp/cryo-cross';

/** The two tests of a cross file: `what` names the features (in the test names). */
export function cpuCrossTests(what: string, cases: readonly CrossCase[]): void {
  const mode = process.env.CRYO_CROSS;
  test(`${what} across machines: the dumps on the full CPU`, { skip: mode !== 'dump' && 'only in the guest runner\'s cross boots' }, async () => {
    becomeSubreaper();
    const dumps: Dump[] = [];
    const carry = [CROSS_DIR];
    for (const c of cases) {
      const t = startTarget(c.name, c.args);
      sleepSync(1000); // the programs load their registers right after READY
      const images = path.join(t.dir, 'images');
      await dumpTask({ pid: t.pid, dir: images });
      assert.ok(waitGone(t.pid), `dumped task ${t.pid} is gone`);
      dumps.push({ name: c.name, pid: t.pid, images });
      carry.push(t.dir);
    }
    mkdirSync(CROSS_DIR, { recursive: true });
    writeFileSync(path.join(CROSS_DIR, 'dumps.json'), JSON.stringify(dumps));
    writeFileSync(path.join(CROSS_DIR, 'carry'), `${carry.join('\n')}\n`);
  });

  test(`${what} across machines: each refused on the smaller CPU, naming the feature`, { skip: mode !== 'restore' && 'only in the guest runner\'s cross boots' }, async () => {
    const dumps = JSON.parse(readFileSync(path.join(CROSS_DIR, 'dumps.json'), 'utf8')) as Dump[];
    assert.equal(dumps.length, cases.length, 'every dump came over');
    becomeSubreaper();
    for (const [i, c] of cases.entries()) {
      const d = dumps[i]!;
      // This boot's own processes may hold the dumped PID: then it must be the same process after each refusal.
      const holder = (): string | undefined => (existsSync(`/proc/${d.pid}/stat`) ? readFileSync(`/proc/${d.pid}/stat`, 'utf8').split(' ').slice(21, 22)[0] : undefined);
      const before = holder();
      const stateOnly = `${d.images}-state`;
      rmSync(stateOnly, { recursive: true, force: true });
      cpSync(d.images, stateOnly, { recursive: true });
      // As from CRIU: no cryo-cpu.img, and no manifest (which would name the missing image first).
      rmSync(path.join(stateOnly, CRYO_CPU_IMAGE));
      rmSync(path.join(stateOnly, CRYO_MANIFEST_IMAGE));
      for (const [dir, want] of [[d.images, c.words], [stateOnly, c.state]] as const) {
        await assert.rejects(restoreTask({ dir }), (e: Error) => {
          assert.match(e.message, want);
          assert.equal(e.message.trim().split('\n').length, 1, `one line: ${e.message}`);
          console.log(`${c.name}${dir === stateOnly ? ' (no cryo-cpu.img)' : ''}: refused: ${e.message}`);
          return true;
        });
        if (before === undefined) assert.equal(nothingLeftBehind(d.pid), undefined);
        else assert.equal(holder(), before, `PID ${d.pid} is still the process that held it before`);
      }
    }
  });
}
