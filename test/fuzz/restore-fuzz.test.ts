// Hostile images (issue 15): images mutated structure-aware from real dumps of six test programs
// (test/fuzz/mutate.ts) go through restore (test/fuzz/campaign.ts): each case must end in a
// restored task or in cryo's one-line refusal, with no crash, no hang, no process left and
// nothing written outside what the images name. CI runs a fixed seed and CRYO_FUZZ_CASES cases
// (300 by default); `node scripts/fuzz-restore.mjs 10000` is the long run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFuzz } from './fuzz-driver.js';

test('hostile images: no crash, hang, stray process or stray write; every refusal one line', async () => {
  const count = Number(process.env.CRYO_FUZZ_CASES ?? 300);
  const s = await runFuzz({ seed: 15, count });
  assert.equal(s.cases, count, 'every case ran');
  assert.deepEqual(s.findings.map((f) => `case ${f.i} (${f.program}: ${f.mutations.join('; ')}): ${f.line}`), []);
  // The mutations reach past the framing checks: some restores pass preflight and run.
  assert.ok(s.outcomes.restored > 0 && s.outcomes.refused > 0, JSON.stringify(s.outcomes));
});
