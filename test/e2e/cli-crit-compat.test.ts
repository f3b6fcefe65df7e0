// Debian's crit 3.17 reads what cryo encodes: encode each fixture JSON with
// the cryo CLI, decode it with /usr/bin/crit, compare with the saved output.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fixtureImages } from '../helpers/fixture-images.js';
import { runCryo } from '../helpers/cryo-cli.js';
import { PageWriter } from '../../src/images/page-writer.js';
import { PE_PRESENT } from '../../src/images/flags.js';
import { onlyOn } from '../helpers/arch-only.js';
import { toolSkip } from '../helpers/required-tool.js';

const CRIT = '/usr/bin/crit';
const skip = onlyOn(['x64'], 'fixtures dumped on x86_64') || toolSkip(`${CRIT} (Debian's crit 3.17)`, existsSync(CRIT), 'Debian package criu');

const tmp = mkdtempSync(path.join(os.tmpdir(), 'cryo-crit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

for (const fx of fixtureImages()) {
  test(`crit 3.17 decodes cryo's encoding of ${fx.name}/${fx.file}`, { skip }, () => {
    const out = path.join(tmp, `${fx.name}-${fx.file}`);
    const enc = runCryo(['encode', '-i', fx.prettyJson, '-o', out]);
    assert.equal(enc.status, 0, enc.stderr.toString());
    const dec = spawnSync(CRIT, ['decode', '-i', out, '--pretty'], { encoding: 'utf8' });
    assert.equal(dec.status, 0, dec.stderr);
    const old = fx.prettyJson.replace(/\.json$/, '.crit-3.17.json');
    const want = readFileSync(existsSync(old) ? old : fx.prettyJson, 'utf8');
    assert.equal(dec.stdout, want);
  });
}

test('crit 3.17 reads the page counts of a pagemap written by PageWriter', { skip }, () => {
  const w = new PageWriter({ pagemapFile: path.join(tmp, 'pagemap-1.img'), pagesFile: path.join(tmp, 'pages-1.img'), pagesId: 1 });
  w.addPages(0x400000n, Buffer.alloc(3 * 4096, 1));
  w.addPages(0x7f0000000000n, Buffer.alloc(4096, 2), PE_PRESENT | 2);
  w.close();
  const dec = spawnSync(CRIT, ['decode', '-i', path.join(tmp, 'pagemap-1.img')], { encoding: 'utf8' });
  assert.equal(dec.status, 0, dec.stderr);
  const doc = JSON.parse(dec.stdout) as { entries: Record<string, number>[] };
  assert.deepEqual(doc.entries.map((e) => e.nr_pages), [undefined, 3, 1]);
});
