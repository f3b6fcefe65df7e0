/**
 * `dump --page-server`: the dump is made as always (the pages spooled in its directory while the
 * task is frozen), then its pagemaps and pages go to the page server and leave the directory. The
 * connection is made, and the server's parent checked, before the task is touched: an unreachable
 * server or one without the chain's parent fails the dump with the task untouched.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { PARENT_HASHES } from '../images/index.js';
import { PageServerClient, SENT_PREFIX, dropSentImages } from '../page-server/client.js';
import { DumpError } from '../shared/dump-error.js';
import { writeManifest } from '../images/cryo-manifest.js';
import type { DumpResult } from './events.js';

export interface PageServerTarget { address: string; port: number }

export async function dumpToPageServer<O extends { pid: number; dir: string; prevImagesDir?: string }>(
  opts: O, ps: PageServerTarget, pageSize: number, dumpTree: (o: O) => Promise<DumpResult>,
): Promise<DumpResult> {
  let client: PageServerClient;
  try {
    client = await PageServerClient.connect(ps.address, ps.port);
  } catch (e) {
    throw new DumpError('FAILED', (e as Error).message);
  }
  let res: DumpResult;
  try {
    if (opts.prevImagesDir !== undefined && !(await client.hasParent(opts.pid))) {
      throw new DumpError('FAILED', `the page server at ${ps.address}:${ps.port} has no parent dump of task ${opts.pid}: start it with --prev-images-dir naming the directory it received the previous dump into`);
    }
    res = await dumpTree(opts);
  } catch (e) {
    client.abort();
    if (e instanceof DumpError) throw e;
    throw new DumpError('FAILED', `page server ${ps.address}:${ps.port}: ${(e as Error).message}`, { cause: e });
  }
  const pagemaps = res.images.filter((n) => /^pagemap-(shmem-)?\d+\.img$/.test(n));
  const pages = res.images.filter((n) => /^pages-\d+\.img$/.test(n));
  let sent = 0;
  try {
    for (const p of pagemaps) sent += await client.sendImage(path.join(opts.dir, p), pageSize);
    await client.close();
  } catch (e) {
    client.abort();
    throw new DumpError('FAILED', `the dump of task ${opts.pid} is complete in ${opts.dir}, but sending its pages to the page server at ${ps.address}:${ps.port} failed (${(e as Error).message}); the pages stay in ${opts.dir}`, { cause: e });
  }
  dropSentImages(opts.dir, pagemaps, pages);
  // The parent's pages are on the server, which records their hashes itself.
  rmSync(path.join(opts.dir, PARENT_HASHES), { force: true });
  // The manifest again, without what left: the pages (and the parent's hashes) are the server's, not checked here.
  const elsewhere = [...pagemaps, ...pages, ...pagemaps.map((n) => SENT_PREFIX + n), ...(opts.prevImagesDir !== undefined ? [PARENT_HASHES] : [])];
  try {
    writeManifest(opts.dir, { elsewhere });
  } catch (e) {
    throw new DumpError('FAILED', `the pages of task ${opts.pid} are on the page server, but writing ${opts.dir}'s manifest again failed: ${(e as Error).message}`, { cause: e });
  }
  const images = res.images.filter((n) => !pages.includes(n) && n !== PARENT_HASHES).map((n) => (pagemaps.includes(n) ? SENT_PREFIX + n : n));
  return { ...res, images, pagesSent: sent };
}
