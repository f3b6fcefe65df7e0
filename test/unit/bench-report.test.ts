// The bench's pure parts: median and spread, ratios and their text, the table, the JSON shape and targets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, ratio, summarize } from '../../bench/stats.js';
import { formatRatio, formatSummary, MiB, renderTable } from '../../bench/format.js';
import { judgeTargets, renderReport, toolResult, type BenchReport, type WorkloadResult } from '../../bench/report.js';
import { parseCriuVersion } from '../../bench/tools.js';

test('median of odd and even counts, unsorted input left alone', () => {
  const xs = [5, 1, 3];
  assert.equal(median(xs), 3);
  assert.deepEqual(xs, [5, 1, 3]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), RangeError);
});

test('summarize gives median, min, max and n; nothing for no samples', () => {
  assert.deepEqual(summarize([10, 30, 20]), { n: 3, median: 20, min: 10, max: 30 });
  assert.equal(summarize([]), null);
});

test('ratio of medians; missing or zero denominators give null', () => {
  assert.equal(ratio(summarize([12]), summarize([10])), 1.2);
  assert.equal(ratio(null, summarize([10])), null);
  assert.equal(ratio(summarize([1]), summarize([0])), null);
});

test('formatting of summaries and ratios', () => {
  assert.equal(formatSummary(summarize([350, 371, 390])), '371 (350-390)');
  assert.equal(formatSummary(summarize([2 * MiB]), 1 / MiB), '2.00');
  assert.equal(formatSummary(null), '-');
  assert.equal(formatRatio(1.234), '1.23x');
  assert.equal(formatRatio(12.34), '12.3x');
  assert.equal(formatRatio(null), '-');
  assert.equal(formatRatio(Infinity), '-');
});

test('renderTable aligns columns, numbers to the right', () => {
  const t = renderTable(['name', 'ms'], [['a', '5'], ['bbb', '120']]).split('\n');
  assert.deepEqual(t, ['name   ms', '----  ---', 'a       5', 'bbb   120']);
});

test('criu --version parsing', () => {
  assert.deepEqual(parseCriuVersion('Version: 4.2\n'), [4, 2]);
  assert.deepEqual(parseCriuVersion('Version: 3.17.1\nGitID: v3.17'), [3, 17]);
  assert.equal(parseCriuVersion('criu: command not found'), null);
});

function workload(name: string, cryo: { d: number; r: number; f: number; peak: number }, criu: { d: number; r: number; f: number }): WorkloadResult {
  const floor = toolResult('floor', [{ dumpMs: 100, restoreMs: 50 }, { dumpMs: 110, restoreMs: 60 }], undefined);
  return {
    name, description: name, taskBytes: 1,
    results: [
      floor,
      toolResult('cryo', [{ dumpMs: cryo.d, restoreMs: cryo.r, frozenMs: cryo.f, peakRssBytes: cryo.peak, imageBytes: 10 }], floor),
      toolResult('criu', [{ dumpMs: criu.d, restoreMs: criu.r, frozenMs: criu.f, peakRssBytes: 1, imageBytes: 10 }], floor),
    ],
  };
}

test('toolResult: ratios to the floor, status from the samples', () => {
  const w = workload('anon-1g', { d: 126, r: 55, f: 5, peak: MiB }, { d: 200, r: 100, f: 10 });
  const c = w.results[1]!;
  assert.equal(c.status, 'ok');
  assert.equal(c.dumpVsFloor, 126 / 105);
  assert.equal(c.restoreVsFloor, 1);
  const un = toolResult('cryo', [{ note: 'unsupported: x' }, { note: 'unsupported: x' }], w.results[0], true);
  assert.equal(un.status, 'unsupported');
  assert.equal(un.note, 'unsupported: x (2 of 2 runs)');
  assert.equal(toolResult('criu', [], undefined).status, 'skipped');
  assert.equal(toolResult('cryo', [{ dumpMs: 1 }], undefined).status, 'partial');
});

test('targets: met, not met, undecided', () => {
  const ws = [
    workload('anon-1g', { d: 120, r: 70, f: 5, peak: 250 * MiB }, { d: 200, r: 100, f: 10 }),
    workload('small', { d: 50, r: 50, f: 1, peak: MiB }, { d: 40, r: 40, f: 1 }),
  ];
  const t = Object.fromEntries(judgeTargets(ws).map((x) => [x.name, x.met]));
  assert.deepEqual(t, {
    'anon-1g: dump, restore, frozen <= 0.8x CRIU': true, // 0.60x, 0.70x, 0.50x
    'small: dump, restore, frozen <= 0.8x CRIU': false, // 1.25x
    '1 GiB: restore <= 1.0x the single-core floor': false, // 70 / 55 (floor medians 105 and 55)
    'cryo peak memory < 200 MiB': false,
    'image size <= CRIU': true,
    'small: dump+restore <= CRIU': false,
  });
  const edge = judgeTargets([workload('anon-1g', { d: 160, r: 55, f: 8, peak: MiB }, { d: 200, r: 100, f: 10 })]);
  assert.equal(edge.find((x) => x.name.startsWith('anon-1g'))!.met, true, '0.8x itself is met');
  assert.equal(edge.find((x) => x.name.startsWith('1 GiB'))!.met, true, '1.0x the floor itself is met');
  const slow = judgeTargets([workload('anon-1g', { d: 120, r: 70, f: 9, peak: MiB }, { d: 200, r: 100, f: 10 })]);
  assert.equal(slow.find((x) => x.name.startsWith('anon-1g'))!.met, false, 'frozen 0.9x alone fails it');
  assert.ok(judgeTargets([]).every((x) => x.met === null || x.name === 'cryo peak memory < 200 MiB'));
});

test('the JSON round-trips and the text names every workload, tool and target', () => {
  const workloads = [workload('anon-1g', { d: 126, r: 66, f: 5, peak: MiB }, { d: 200, r: 100, f: 10 })];
  const rep: BenchReport = {
    schema: 'cryo-bench/1', date: '2026-01-01T00:00:00.000Z', command: 'npm run bench', runs: 2,
    machine: { kernel: '6.18', cpus: 2, memBytes: 1, node: 'v20' },
    method: { preconditioning: 'p', frozen: 'f', peakMemory: 'm', cryo: 'c' },
    tools: [{ name: 'criu', available: true, version: '4.2' }],
    startup: { nodeMs: summarize([50]), cryoCliMs: summarize([80]) },
    workloads, targets: judgeTargets(workloads),
  };
  assert.deepEqual(JSON.parse(JSON.stringify(rep)), rep);
  const text = renderReport(rep);
  for (const s of ['anon-1g', 'floor', 'cryo', 'criu', 'anon-1g: dump, restore, frozen <= 0.8x CRIU', '1.20x', '0.63x']) assert.ok(text.includes(s), s);
});
