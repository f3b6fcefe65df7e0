// The two ways dump moves pages write the same images: injected vmsplice into a pipe spliced into
// the file (big dumps), and process_vm_readv or /proc/PID/mem plus write (small ones, unreadable
// VMAs). test/programs/dump-state.c has a pattern region, an untouched page and a PROT_NONE page
// with data, so both paths meet in one vmsplice dump.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { dump } from '../../src/dump/index.js';
import { PageReader } from '../../src/images/index.js';
import { startTarget, type Target } from '../helpers/dump-target.js';

const PAGE = 4096;
let t: Target;
before(() => { t = startTarget('dump-state'); });
after(() => t?.cleanup());

async function dumpWith(env: Record<string, string | undefined>, name: string): Promise<string> {
  const saved: Record<string, string | undefined> = {};
  for (const k of ['CRYO_VMSPLICE_MIN_BYTES', 'CRYO_NO_VMSPLICE', 'CRYO_VMSPLICE_PIPES', 'CRYO_VMSPLICE_PIPE_BYTES']) saved[k] = process.env[k];
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  try {
    const dir = path.join(t.dir, name);
    await dump({ pid: t.pid, dir, leaveRunning: true });
    return dir;
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
}

test('vmsplice and process_vm_readv dumps write the same pagemap and pages', async () => {
  const spliced = await dumpWith({ CRYO_VMSPLICE_MIN_BYTES: '0', CRYO_NO_VMSPLICE: undefined }, 'spliced');
  // Pipes of two pages, three filled per stop of the task: runs split across pipes and batches.
  const small = await dumpWith({ CRYO_VMSPLICE_MIN_BYTES: '0', CRYO_NO_VMSPLICE: undefined, CRYO_VMSPLICE_PIPES: '3', CRYO_VMSPLICE_PIPE_BYTES: '8192' }, 'spliced-small');
  const read = await dumpWith({ CRYO_NO_VMSPLICE: '1' }, 'read');
  samePages(spliced, read);
  samePages(small, read);
  // The task ran on unharmed after all three.
  assert.equal(t.finish(), 'PASS');
});

function samePages(spliced: string, read: string): void {
  const pagemap = `pagemap-${t.pid}.img`;
  assert.ok(readFileSync(path.join(spliced, pagemap)).equals(readFileSync(path.join(read, pagemap))), 'the same pagemap');
  const a = readFileSync(path.join(spliced, 'pages-1.img'));
  const b = readFileSync(path.join(read, 'pages-1.img'));
  assert.equal(a.length, b.length);
  assert.ok(a.length > 0);
  // The program runs on between the dumps (its stack and libc's data change): compare the pages it
  // does not write, the pattern region (vmsplice) and the PROT_NONE page with data (read through
  // /proc/PID/mem in both dumps), page by page so a difference names its address.
  const region = BigInt(t.ready.region!);
  const hidden = BigInt(t.ready.hidden!);
  const stable = (va: bigint) => (va >= region && va < region + BigInt(Number(t.ready.pages) * PAGE)) || (va >= hidden && va < hidden + 2n * BigInt(PAGE));
  const differ: string[] = [];
  let compared = 0;
  for (const run of new PageReader(path.join(spliced, pagemap))) {
    for (let p = 0; run.offset >= 0 && p < run.nrPages; p++) {
      const va = run.vaddr + BigInt(p * PAGE);
      if (!stable(va)) continue;
      compared++;
      const o = run.offset + p * PAGE;
      if (!a.subarray(o, o + PAGE).equals(b.subarray(o, o + PAGE))) differ.push(`0x${va.toString(16)}`);
    }
  }
  assert.ok(compared >= Number(t.ready.pages), `compared ${compared} pages of the region and the PROT_NONE page`);
  assert.deepEqual(differ, [], `${spliced}: pages that differ: ${differ.join(' ')}`);
}
