// The pages file is streamed: writing and reading back a few hundred MiB
// keeps the process's memory far below the file size.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { PE_LAZY, PE_PARENT, PE_PRESENT } from '../../src/images/flags.js';
import { ImageWriter, decodeImageFile } from '../../src/images/image.js';
import { PageReader } from '../../src/images/pages.js';
import { PageWriter, PagemapImageWriter } from '../../src/images/page-writer.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'cryo-pages-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A page's contents made from its address, so every page differs and can be checked. */
function fill(buf: Buffer, vaddr: bigint): void {
  const first = Number(vaddr >> 12n);
  for (let off = 0, page = first; off < buf.length; off += 4096, page++) {
    buf.fill(page & 0xff, off, off + 4096);
    buf.writeUInt32LE(page >>> 0, off);
    buf.writeUInt32LE(Math.floor(page / 2 ** 32), off + 4092);
  }
}

test('pagemap entries: merged runs, flags, both page-count fields', () => {
  const dir = path.join(tmp, 'small');
  const w = new PageWriter({ pagemapFile: path.join(dir, 'pagemap-7.img'), pagesFile: path.join(dir, 'pages-3.img'), pagesId: 3 });
  const a = Buffer.alloc(2 * 4096);
  fill(a, 0x1000n);
  w.addPages(0x1000n, a.subarray(0, 4096));
  w.addPages(0x2000n, a.subarray(4096)); // continues the run
  w.addRun(0x10000n, 5, PE_PARENT);
  const b = Buffer.alloc(4096);
  fill(b, 0x20000n);
  w.addPages(0x20000n, b, PE_PRESENT | PE_LAZY);
  w.close();
  assert.equal(statSync(path.join(dir, 'pages-3.img')).mode & 0o777, 0o600);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  const img = decodeImageFile(path.join(dir, 'pagemap-7.img'));
  assert.deepEqual(img.entries.map((e) => e.value), [
    { pages_id: 3 },
    { vaddr: 0x1000n, compat_nr_pages: 2, flags: PE_PRESENT, nr_pages: 2n },
    { vaddr: 0x10000n, compat_nr_pages: 5, flags: PE_PARENT, nr_pages: 5n },
    { vaddr: 0x20000n, compat_nr_pages: 1, flags: PE_PRESENT | PE_LAZY, nr_pages: 1n },
  ]);
  const r = new PageReader(path.join(dir, 'pagemap-7.img'));
  const runs = [...r];
  assert.deepEqual(runs.map((x) => x.offset), [0, -1, 8192]);
  assert.ok(r.read(runs[2].offset, 4096).equals(b));
  const pieces: Buffer[] = [];
  for (const c of r.chunks(runs[0], 4096)) pieces.push(Buffer.from(c.data)); // data is reused between pieces
  assert.ok(Buffer.concat(pieces).equals(a));
  r.close();
});

test('a 384 MiB pages file is written and read back with bounded memory', () => {
  const MiB = 1 << 20;
  const total = 384 * MiB;
  const dir = path.join(tmp, 'big');
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sample = (): void => { peak = Math.max(peak, process.memoryUsage().rss); };

  const w = new PageWriter({ pagemapFile: path.join(dir, 'pagemap-1.img'), pagesFile: path.join(dir, 'pages-1.img'), pagesId: 1 });
  const chunk = Buffer.alloc(4 * MiB);
  const base = 0x7f0000000000n;
  for (let off = 0; off < total; off += chunk.length) {
    // a hole every 64 MiB, so there are several runs
    const vaddr = base + BigInt(off) + BigInt(Math.floor(off / (64 * MiB)) * 4096);
    fill(chunk, vaddr);
    w.addPages(vaddr, chunk);
    sample();
  }
  w.close();
  assert.equal(statSync(path.join(dir, 'pages-1.img')).size, total);

  const r = new PageReader(path.join(dir, 'pagemap-1.img'));
  const expect = Buffer.alloc(MiB);
  let pages = 0;
  let runs = 0;
  for (const run of r) {
    runs++;
    for (const { vaddr, data } of r.chunks(run, MiB)) {
      fill(expect.subarray(0, data.length), vaddr);
      if (!data.equals(expect.subarray(0, data.length))) assert.fail(`page contents differ at ${vaddr.toString(16)}`);
      pages += data.length / 4096;
      sample();
    }
  }
  r.close();
  assert.equal(runs, 6);
  assert.equal(pages * 4096, total);
  const grew = peak - before;
  assert.ok(grew < 64 * MiB, `RSS grew by ${(grew / MiB).toFixed(1)} MiB for a ${total / MiB} MiB pages file`);
});

test('PagemapImageWriter writes the bytes ImageWriter writes; PageReader reads them as the generic decoder does', () => {
  const dir = path.join(tmp, 'fast');
  mkdirSync(dir, { recursive: true });
  const entries: [bigint, number, number][] = [
    [0x1000n, 1, PE_PRESENT], [0x7f0000000000n, 300, PE_PRESENT | PE_LAZY], [0x7f0000400000n, 2 ** 33, PE_PRESENT],
    [0x10000n, 0xffffffff, PE_PARENT], [(1n << 64n) - 4096n, 1, 0], [0n, 0, PE_PRESENT],
  ];
  const generic = path.join(dir, 'pagemap-1.img');
  const w = ImageWriter.create(generic, 'PAGEMAP');
  w.write({ pages_id: 300 });
  for (const [vaddr, n, flags] of entries) w.write({ vaddr, compat_nr_pages: n > 0xffffffff ? 0 : n, flags, nr_pages: BigInt(n) });
  w.close();
  const fast = path.join(dir, 'pagemap-2.img');
  const f = new PagemapImageWriter(fast, 300);
  for (const [vaddr, n, flags] of entries) f.add(vaddr, n, flags);
  f.close();
  assert.ok(readFileSync(fast).equals(readFileSync(generic)));
  const runs = [...new PageReader(fast)].map((r) => [r.vaddr, r.nrPages, r.flags]);
  assert.deepEqual(runs, entries);
  // An entry the fast reader does not know (in_parent, no flags; an unknown field) goes through the generic decoder.
  const odd = path.join(dir, 'pagemap-3.img');
  const o = ImageWriter.create(odd, 'PAGEMAP');
  o.write({ pages_id: 1 });
  o.write({ vaddr: 0x2000n, compat_nr_pages: 3, in_parent: true });
  o.write({ vaddr: 0x9000n, compat_nr_pages: 1 });
  o.close();
  assert.deepEqual([...new PageReader(odd)].map((r) => [r.vaddr, r.nrPages, r.flags, r.offset]), [[0x2000n, 3, PE_PARENT, -1], [0x9000n, 1, PE_PRESENT, 0]]);
  // A damaged file is reported by the generic decoder.
  writeFileSync(path.join(dir, 'pagemap-4.img'), readFileSync(generic).subarray(0, -3));
  assert.throws(() => [...new PageReader(path.join(dir, 'pagemap-4.img'))], /pagemap-4\.img/);
});

test('PageReader reads a pagemap rewritten since it last read it anew (the same length, other runs)', () => {
  const dir = path.join(tmp, 'again');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'pagemap-1.img');
  const write = (vaddr: bigint) => {
    const w = new PagemapImageWriter(file, 1);
    w.add(vaddr, 2, PE_PRESENT);
    w.close();
  };
  write(0x1000n);
  assert.deepEqual([...new PageReader(file)].map((r) => r.vaddr), [0x1000n]);
  assert.deepEqual([...new PageReader(file)].map((r) => r.vaddr), [0x1000n], 'read twice');
  write(0x3000n);
  assert.deepEqual([...new PageReader(file)].map((r) => r.vaddr), [0x3000n]);
});
