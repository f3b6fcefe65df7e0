// cryo check-images DIR: DIR's images (and those of the dumps it builds on) against their manifests,
// one line per problem; exit 0 when all match, 1 on any problem, 2 when DIR has no manifest.
import path from 'node:path';
import { statSync } from 'node:fs';
import { UsageError, type Command } from '../command.js';
import { specs } from './specs.js';
import { CRYO_MANIFEST_IMAGE, ManifestError, checkManifest, readManifest } from '../../images/cryo-manifest.js';
import { parentDir } from '../../images/page-chain.js';

export const checkImagesCommand: Command = {
  ...specs.checkImages,
  run(args) {
    if (args.length !== 1 || args[0]!.startsWith('-')) throw new UsageError('takes one argument: the dump directory');
    const dir = args[0]!;
    try {
      if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    } catch (e) {
      process.stderr.write(`cryo: check-images: ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}: give the directory a dump wrote\n`);
      return 2;
    }
    const problems: string[] = [];
    let images = 0;
    let bytes = 0;
    const seen = new Set<string>();
    let d: string | undefined = path.resolve(dir);
    for (; d !== undefined && !seen.has(d); d = parentOf(d, problems)) {
      seen.add(d);
      try {
        const found = checkManifest(d);
        if (found === undefined) {
          if (seen.size === 1) {
            process.stderr.write(`cryo: check-images: ${dir} has no ${CRYO_MANIFEST_IMAGE} (a dump by CRIU or an older cryo): nothing to check it against\n`);
            return 2;
          }
          problems.push(`${d} (a parent dump) has no ${CRYO_MANIFEST_IMAGE}: it is not checked`);
          continue;
        }
        problems.push(...found);
        for (const e of readManifest(d) ?? []) if (!e.elsewhere) { images++; bytes += e.size; }
      } catch (e) {
        problems.push(e instanceof ManifestError ? e.message : `${d}: ${(e as Error).message}`);
      }
    }
    if (problems.length > 0) {
      for (const p of problems) process.stdout.write(`${p}\n`);
      return 1;
    }
    const chain = seen.size > 1 ? ` in ${seen.size} dumps of a chain` : '';
    process.stdout.write(`OK: ${images} images${chain} (${bytes} bytes) are as the dump wrote them\n`);
    return 0;
  },
};

function parentOf(d: string, problems: string[]): string | undefined {
  try {
    return parentDir(d);
  } catch (e) {
    problems.push((e as Error).message);
    return undefined;
  }
}
