// chooseVdso refuses a vDSO mapping no kernel has before it allocates its bytes (the restore
// fuzzer's case: a vDSO stretched to 45 TB by an edited mapping made Buffer.alloc throw).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Arch } from '../../src/arch/types.js';
import { RestoreError } from '../../src/shared/restore-error.js';
import type { RestoreImages } from '../../src/shared/restore-images.js';
import { VMA } from '../../src/shared/vma-kinds.js';
import { chooseVdso } from '../../src/restore/vdso-choice.js';

test('a vDSO mapping of 1 TiB is refused as damaged, not read', () => {
  const start = 0x7f0000000000n;
  const img = { pid: 7, mm: { vmas: [{ start, end: start + (1n << 40n), status: VMA.VDSO }] } } as unknown as RestoreImages;
  const own = { size: 8192n, dataSize: 16384n, bytes: () => assert.fail('cryo\'s own vDSO is not read') };
  assert.throws(() => chooseVdso(img, {} as Arch, own), (e: unknown) => e instanceof RestoreError && e.code === 'IMAGE_INCONSISTENT'
    && /mm-7\.img: the vDSO mapping at 0x7f0000000000 is 1099511627776 bytes, and no vDSO is larger than 16777216/.test(e.message));
});
