// rseq, the robust futex list and clear_child_tid come back: test/programs/rt-thread.c is
// dumped, restored and checks them on SIGTERM; edited core images prove each check notices.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { hostArch } from '../../src/arch/index.js';

/** The core image's thread_info field on this architecture ('thread_info', 'ti_ppc64', ...). */
const tiField = (await hostArch()).threadInfoField;

let d: Dumped | undefined;
after(() => cleanupDumped(d));

test('rseq registration, robust futex list, clear_child_tid', async () => {
  d = await startAndDump('rt-thread');
  const core = `core-${d.pid}.img`;
  const th = (e: MessageValue[]) => e[0]!.thread_core as MessageValue;
  assert.equal(await restoreAndFinish(d), 'PASS');
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, core, (e) => { delete th(e).rseq_entry; })),
    /^FAIL: the rseq area's cpu_id is -2 after restore/);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, core, (e) => { th(e).futex_rla = (th(e).futex_rla as bigint) + 64n; })),
    /^FAIL: robust list 0x[0-9a-f]+\/24, want/);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, core, (e) => {
    (e[0]![tiField] as MessageValue).clear_tid_addr = BigInt(d!.target.ready.ctid!) + 4n;
  })), /^FAIL: clear_child_tid 0x[0-9a-f]+, want/);
});
