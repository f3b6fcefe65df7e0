/**
 * `dump --page-server`: each process's pages stream to the page server while the task is frozen
 * (src/dump/page-sink.ts), so none is written or hashed here; pagemaps written to files (shared
 * memory's) are sent afterwards, then PS_IOV_CLOSE, all before the task is ended (or, with a
 * pre-dump, once it runs on): a failure there leaves it running. The connection is made, and the
 * server's parent checked, before the task is touched: an unreachable server or one without the
 * chain's parent fails the dump with the task untouched.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { PARENT_HASHES } from '../images/index.js';
import { PageReader } from '../images/pages.js';
import { PageServerClient, SENT_PREFIX, dropSentImages } from '../page-server/client.js';
import { DumpError } from '../shared/dump-error.js';
import { writeManifest } from '../images/cryo-manifest.js';
import type { DumpResult } from './events.js';

export interface PageServerTarget { address: string; port: number }

const isPagemap = (n: string) => /^pagemap-(shmem-)?\d+\.img$/.test(n);

/** The pages image a pagemap names (its head's pages_id). */
function pagesFileOf(pagemap: string): string {
  const r = new PageReader(pagemap);
  r.close();
  return path.basename(r.pagesPath);
}

export async function dumpToPageServer<O extends { pid: number; dir: string; prevImagesDir?: string; deliver?: (dir: string, images: readonly string[]) => Promise<void> }>(
  opts: O, ps: PageServerTarget, pageSize: number, dumpTree: (o: O, client: PageServerClient) => Promise<DumpResult>,
): Promise<DumpResult> {
  let client: PageServerClient;
  try {
    client = await PageServerClient.connect(ps.address, ps.port);
  } catch (e) {
    throw new DumpError('FAILED', (e as Error).message);
  }
  let sent = 0;
  // The images are complete: what is left goes, and the server confirms it has everything.
  const deliver = async (dir: string, images: readonly string[]): Promise<void> => {
    await opts.deliver?.(dir, images);
    try {
      // Pagemaps whose pages are in files here (not streamed).
      for (const n of images.filter((i) => isPagemap(i) && !client.sent.has(i))) sent += client.sendImage(path.join(dir, n), pageSize);
      client.close();
    } catch (e) {
      throw new Error(`sending its pages to the page server at ${ps.address}:${ps.port} failed: ${(e as Error).message}`, { cause: e });
    }
  };
  let res: DumpResult;
  try {
    if (opts.prevImagesDir !== undefined && !client.hasParent(opts.pid)) {
      throw new DumpError('FAILED', `the page server at ${ps.address}:${ps.port} has no parent dump of task ${opts.pid}: start it with --prev-images-dir naming the directory it received the previous dump into`);
    }
    res = await dumpTree({ ...opts, deliver }, client);
  } catch (e) {
    client.abort();
    if (e instanceof DumpError) throw e;
    throw new DumpError('FAILED', `page server ${ps.address}:${ps.port}: ${(e as Error).message}`, { cause: e });
  }
  const pagemaps = res.images.filter(isPagemap);
  // The pages files: those written here, and the ones the streamed pagemaps name (the server's).
  const pages = [...new Set([...res.images.filter((n) => /^pages-\d+\.img$/.test(n)), ...pagemaps.map((n) => pagesFileOf(path.join(opts.dir, n)))])];
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
  return { ...res, images, pagesSent: sent + res.pagesWritten };
}
