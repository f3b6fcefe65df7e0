// The module layers of src/ and their order: a module imports only from its own layer or a lower
// one, and no chain of imports (static, type-only or dynamic) comes back to where it started.
// Reads the TypeScript sources, so type-only imports count too.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/paths.js';

/**
 * Lowest first. Layers of one rank may not import each other. A module belongs to the first
 * layer whose pattern matches its path under src/.
 */
const LAYERS: readonly { name: string; rank: number; match: RegExp }[] = [
  // Fault injection's counter (CRYO_FAULT): imports nothing; proc, images and inject count their points in it.
  { name: 'fault', rank: 0, match: /^fault\.ts$/ },
  { name: 'sys', rank: 1, match: /^sys\// },
  { name: 'images', rank: 2, match: /^images\// },
  { name: 'proc', rank: 2, match: /^proc\// },
  { name: 'arch', rank: 3, match: /^arch\// },
  { name: 'progress', rank: 3, match: /^progress\.ts$/ },
  { name: 'inject', rank: 4, match: /^inject\// },
  { name: 'shared', rank: 5, match: /^shared\// },
  { name: 'files', rank: 6, match: /^files\// },
  // The page-server protocol and its two ends: dump sends through it.
  { name: 'page-server', rank: 6, match: /^page-server\// },
  { name: 'dump', rank: 7, match: /^dump\// },
  { name: 'restore', rank: 7, match: /^restore\// },
  { name: 'check', rank: 7, match: /^check\// },
  { name: 'demo', rank: 8, match: /^demo\// },
  // `cryo lazy-pages`: serves what restore --lazy-pages left out.
  { name: 'lazy-pages', rank: 8, match: /^lazy-pages\// },
  { name: 'index', rank: 9, match: /^index\.ts$/ },
  { name: 'cli', rank: 9, match: /^cli\// },
];

const srcDir = path.join(repoRoot, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [path.relative(srcDir, p)] : [];
  });
}

interface Edge { to: string; kind: 'static' | 'type' | 'dynamic' }

/** The relative imports of a source file, resolved to paths under src/. */
function importsOf(file: string): Edge[] {
  const text = readFileSync(path.join(srcDir, file), 'utf8');
  const out: Edge[] = [];
  const re = /(?:^|[;\s])(?:import|export)\s+(type\s+)?(?:[\w*{}\s,$]*?\s+from\s+)?['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) {
    const spec = m[2] ?? m[3]!;
    const to = path.normalize(path.join(path.dirname(file), spec)).replace(/\.js$/, '.ts');
    out.push({ to, kind: m[3] !== undefined ? 'dynamic' : m[1] !== undefined ? 'type' : 'static' });
  }
  return out;
}

function layerOf(file: string) {
  const l = LAYERS.find((x) => x.match.test(file));
  if (!l) throw new Error(`src/${file} is in no layer: add it to LAYERS in test/unit/layers.test.ts`);
  return l;
}

const files = sources(srcDir).sort();
const graph = new Map(files.map((f) => [f, importsOf(f)]));

/** Import chains that come back to where they started (each cycle once, from its smallest module). */
export function findCycles(g: ReadonlyMap<string, readonly Edge[]>): string[][] {
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const { to } of g.get(f) ?? []) {
      if (state.get(to) === 'open') {
        const c = stack.slice(stack.indexOf(to));
        const start = c.indexOf([...c].sort()[0]!);
        const key = [...c.slice(start), ...c.slice(0, start)].join(' -> ');
        if (!seen.has(key)) { seen.add(key); cycles.push(key.split(' -> ')); }
      } else if (!state.has(to)) {
        visit(to);
      }
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of g.keys()) if (!state.has(f)) visit(f);
  return cycles;
}

test('every module of src/ is in a layer and every relative import names a module that exists', () => {
  for (const f of files) layerOf(f);
  const missing = [...graph].flatMap(([f, es]) => es.filter((e) => !graph.has(e.to)).map((e) => `src/${f} imports src/${e.to}`));
  assert.deepEqual(missing, []);
});

test('every import points to the same layer or a lower one', () => {
  const wrong: string[] = [];
  for (const [f, edges] of graph) {
    const from = layerOf(f);
    for (const e of edges) {
      const to = layerOf(e.to);
      if (to.rank > from.rank || (to.rank === from.rank && to.name !== from.name)) {
        wrong.push(`src/${f} (${from.name}) imports src/${e.to} (${to.name})${e.kind === 'static' ? '' : `, ${e.kind}`}`);
      }
    }
  }
  assert.deepEqual(wrong, [], `${wrong.length} imports point up or sideways`);
});

test('no import cycle, counting type-only and dynamic imports', () => {
  const cycles = findCycles(graph).map((c) => [...c, c[0]].map((f) => `src/${f}`).join(' -> '));
  assert.deepEqual(cycles, [], `${cycles.length} cycles`);
});

test('the cycle finder finds a cycle through a type-only import, and the layer check sees an upward import', () => {
  const g = new Map<string, Edge[]>([
    ['a.ts', [{ to: 'b.ts', kind: 'static' }]],
    ['b.ts', [{ to: 'c.ts', kind: 'static' }]],
    ['c.ts', [{ to: 'a.ts', kind: 'type' }]],
    ['d.ts', [{ to: 'a.ts', kind: 'static' }]],
  ]);
  assert.deepEqual(findCycles(g), [['a.ts', 'b.ts', 'c.ts']]);
  g.set('c.ts', []);
  assert.deepEqual(findCycles(g), []);
  assert.ok(layerOf('files/x.ts').rank > layerOf('shared/x.ts').rank);
  assert.equal(layerOf('sys/syscalls/x86_64.ts').name, 'sys');
  assert.equal(layerOf('arch/x86_64/index.ts').name, 'arch');
});
