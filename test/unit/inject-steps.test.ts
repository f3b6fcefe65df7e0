// src/inject/steps.ts: code written as steps runs alone or in lockstep across tasks. Here the
// steps run alone (`alone`: no task needed); a shared count stands for CRYO_FAULT's points, which
// fail from point N on, as a dump's do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSteps, runStepsTogether, type Steps } from '../../src/inject/steps.js';

/** Points counted in the order they run; from `failFrom` on each fails. */
function points(failFrom: number) {
  let n = 0;
  const ran: string[] = [];
  return {
    ran,
    step: (who: string) => ({
      alone: (): bigint => {
        const k = ++n;
        ran.push(`${who}@${k}`);
        if (k >= failFrom) throw new Error(`point ${k}`);
        return BigInt(k);
      },
    }),
  };
}

function* three(p: ReturnType<typeof points>, who: string): Steps<bigint> {
  let sum = 0n;
  for (let i = 0; i < 3; i++) sum += yield p.step(who);
  return sum;
}

test('runSteps gives each step its result and returns what the code returns', () => {
  const p = points(Infinity);
  assert.equal(runSteps(three(p, 'a')), 1n + 2n + 3n);
});

test('runStepsTogether runs round by round: the next step of each, in order', () => {
  const p = points(Infinity);
  assert.deepEqual(runStepsTogether([three(p, 'a'), three(p, 'b')]), [1n + 3n + 5n, 2n + 4n + 6n]);
  assert.deepEqual(p.ran, ['a@1', 'b@2', 'a@3', 'b@4', 'a@5', 'b@6']);
});

test('a failed round throws the first point that failed, not the first task that failed (later rounds fail later points)', () => {
  // Round 1: a@1 b@2 c@3 (c fails); round 2: a@4 (fails), b@5 (fails).
  const p = points(3);
  assert.throws(() => runStepsTogether([three(p, 'a'), three(p, 'b'), three(p, 'c')]), /^Error: point 3$/);
  assert.deepEqual(p.ran, ['a@1', 'b@2', 'c@3', 'a@4', 'b@5'], 'every one ran until it failed');
});

test('a failure the code catches is no failure; a failed step comes before code that threw after its step in the same round', () => {
  function* shrugs(p: ReturnType<typeof points>): Steps<string> {
    try { yield p.step('a'); } catch { /* shrugged off */ }
    return 'a ended';
  }
  function* throwsAfter(): Steps<never> {
    yield { alone: () => 0n };
    throw new Error('b threw after its step');
  }
  assert.throws(() => runStepsTogether([shrugs(points(1)), throwsAfter()]), /b threw after its step/);
  // b's step ran first, then c's failed; b's code after its step ran after both steps.
  assert.throws(() => runStepsTogether<bigint>([throwsAfter(), three(points(1), 'c')]), /^Error: point 1$/);
});
