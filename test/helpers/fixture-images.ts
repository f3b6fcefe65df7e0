// The CRIU 4.2 fixture images that have crit JSON beside them (all but raw pages-*.img).

import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fixturesDir } from './paths.js';

export const fixtureNames = ['single', 'threads', 'tree', 'fdkinds', 'vector'] as const;

export interface FixtureImage {
  /** Fixture name, e.g. 'tree'. */
  name: string;
  /** Image file name, e.g. 'core-18485.img'. */
  file: string;
  /** Absolute path of the image. */
  image: string;
  /** crit 4.2 --pretty output. */
  prettyJson: string;
  /** crit 4.2 plain output. */
  plainJson: string;
}

export function fixtureImages(): FixtureImage[] {
  const out: FixtureImage[] = [];
  for (const name of fixtureNames) {
    for (const file of readdirSync(path.join(fixturesDir, name)).sort()) {
      if (file.startsWith('pages-')) continue;
      out.push({
        name,
        file,
        image: path.join(fixturesDir, name, file),
        prettyJson: path.join(fixturesDir, `${name}.json`, `${file}.json`),
        plainJson: path.join(fixturesDir, `${name}.plain.json`, `${file}.json`),
      });
    }
  }
  return out;
}
