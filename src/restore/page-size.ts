// The page size a dump was made with. CRIU's pagemap counts pages without saying how big they are,
// and kernels of one architecture differ (Debian's ppc64el: 64 KiB pages on 6.1, 4 KiB on 6.12):
// every present page is in the pages image, so its size over the pages counted is the page size.
// Restoring pages of a larger size than this kernel's is plain (the mappings are aligned to both);
// a smaller one is refused, since the dumped mappings need not be aligned to this kernel's pages.
import { statSync } from 'node:fs';
import { PageReader } from '../images/pages.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { RestoreError } from '../shared/restore-error.js';

const known = new WeakMap<RestoreImages, number>();

export function dumpPageSize(img: RestoreImages, hostPageSize: number): number {
  const had = known.get(img);
  if (had !== undefined) return had;
  let pages: number;
  let file: string;
  const reader = new PageReader(img.pagemapFile, undefined, hostPageSize);
  try {
    pages = reader.facts().presentPages;
    file = reader.pagesPath;
  } finally {
    reader.close();
  }
  let size = 0;
  try { size = statSync(file).size; } catch { /* checkPages says it is missing */ }
  let page = hostPageSize;
  if (pages > 0 && size % pages === 0) {
    const each = size / pages;
    // A power of two between 4 KiB and 1 MiB, else the file is damaged and checkPages says so.
    if (each !== hostPageSize && each >= 4096 && each <= 1 << 20 && (each & (each - 1)) === 0) page = each;
  }
  if (page < hostPageSize) {
    throw new RestoreError('UNSUPPORTED', `process ${img.pid} was dumped with ${page}-byte pages, this kernel uses ${hostPageSize}: restore it on a kernel with pages of at most ${page} bytes`);
  }
  known.set(img, page);
  return page;
}
