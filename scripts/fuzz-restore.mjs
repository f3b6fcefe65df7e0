#!/usr/bin/env node
// The restore fuzzer's long run (issue 15): COUNT hostile images mutated from dumps of a few test
// programs through restore (test/fuzz/). Prints each finding, each failure after the point of no
// return (what preflight could still learn to refuse), the counts every 500 cases and at the end;
// exit 1 on a finding.
// usage (after npm run build and node scripts/build-test-programs.mjs):
//   node scripts/fuzz-restore.mjs [COUNT] [SEED] [PROGRAM,...]      (10000, 15, the default six)
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { runFuzz } = await import(path.join(here, '..', 'dist/test/fuzz/fuzz-driver.js'));
const [count = '10000', seed = '15', programs] = process.argv.slice(2);

const started = Date.now();
const seen = { cases: 0, restored: 0, refused: 0, 'failed-after-start': 0, finding: 0 };
const counts = () => `${seen.cases} cases (seed ${seed}): ${seen.restored} restored, ${seen.refused} refused, `
  + `${seen['failed-after-start']} failed after the point of no return (nothing left), ${seen.finding} findings; ${Math.round((Date.now() - started) / 1000)} s`;
const s = await runFuzz({
  seed: Number(seed), count: Number(count), programs: programs?.split(','),
  onCase: (r) => {
    seen.cases++;
    seen[r.outcome]++;
    if (r.outcome === 'finding') console.log(`FINDING case ${r.i} (${r.program}: ${r.mutations.join('; ')}): ${r.line}`);
    if (r.outcome === 'failed-after-start') console.log(`AFTER-START case ${r.i} (${r.program}: ${r.mutations.join('; ')}): ${r.line}`);
    if (seen.cases % 500 === 0) console.error(counts());
  },
});
console.log(counts());
process.exitCode = s.findings.length > 0 ? 1 : 0;
