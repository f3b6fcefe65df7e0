// node dist/src/cli/bundle.js [OUT]: writes OUT (default dist/cryo.mjs beside dist/src), one file
// holding cryo's CLI and every module it imports, so that Node compiles one module instead of
// about 200: the ESM loader's per-file work was most of cryo's start (measured: `cryo dump` of a
// small process spent ~200 ms loading modules, ~20 ms dumping). Works on tsc's output, whose
// import/export forms are few and regular; each module becomes a function run on first use, as
// the ESM loader would (dynamic import() stays lazy), and keeps its own import.meta.url.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const distRoot = path.resolve(here, '../..');

interface Mod { id: string; file: string; body: string; deps: string[] }

const NAMES = /\{([^}]*)\}/;
/** `a, b as c` -> [['a','a'], ['b','c']] (imported name, local name). */
function names(list: string): [string, string][] {
  return list.split(',').map((s) => s.trim()).filter((s) => s && !s.startsWith('type ')).map((s) => {
    const [a, b] = s.split(/\s+as\s+/);
    return [a!.trim(), (b ?? a!).trim()];
  });
}

function transform(file: string, ids: Map<string, string>, queue: string[]): Mod {
  const id = path.relative(distRoot, file);
  const deps: string[] = [];
  const head: string[] = [];
  const resolve = (spec: string): string | undefined => {
    if (!spec.startsWith('.')) return undefined;
    const f = path.resolve(path.dirname(file), spec);
    if (!ids.has(f)) { ids.set(f, path.relative(distRoot, f)); queue.push(f); }
    deps.push(ids.get(f)!);
    return ids.get(f)!;
  };
  const mod = (spec: string) => {
    const r = resolve(spec);
    return r !== undefined ? `__req(${JSON.stringify(r)})` : `__builtin(${JSON.stringify(spec)})`;
  };
  let src = readFileSync(file, 'utf8').replace(/\n\/\/# sourceMappingURL=.*$/, '').replace(/^#!.*\n/, '');
  let n = 0;
  const stmt = /^(import|export)\s[^;]*?;[ \t]*$/gm;
  src = src.replace(stmt, (s) => {
    let m: RegExpMatchArray | null;
    const one = s.replace(/\s+/g, ' ');
    if ((m = /^import type /.exec(one)) || (m = /^export type /.exec(one))) return '';
    if ((m = /^import \{([^}]*)\} from '([^']+)';$/.exec(one))) {
      const v = `__i${n++}`;
      const ns = names(m[1]!);
      if (ns.length === 0) return '';
      head.push(`var ${ns.map(([, l]) => l).join(', ')}; __bind(${mod(m[2]!)}, (${v}) => { ${ns.map(([a, l]) => `${l} = ${v}.${a};`).join(' ')} });`);
      return '';
    }
    if ((m = /^import (\w+) from '([^']+)';$/.exec(one))) { head.push(`var ${m[1]} = ${mod(m[2]!)}.default;`); return ''; }
    if ((m = /^import \* as (\w+) from '([^']+)';$/.exec(one))) { head.push(`var ${m[1]} = ${mod(m[2]!)};`); return ''; }
    if ((m = /^import '([^']+)';$/.exec(one))) { head.push(`${mod(m[1]!)};`); return ''; }
    if ((m = /^export \* from '([^']+)';$/.exec(one))) { head.push(`__star(__exports, ${mod(m[1]!)});`); return ''; }
    if ((m = /^export \* as (\w+) from '([^']+)';$/.exec(one))) { head.push(`__get(__exports, ${JSON.stringify(m[1])}, () => ${mod(m[2]!)});`); return ''; }
    if ((m = /^export \{([^}]*)\} from '([^']+)';$/.exec(one))) {
      const v = `__e${n++}`;
      head.push(`var ${v} = ${mod(m[2]!)};`, ...names(m[1]!).map(([a, l]) => `__get(__exports, ${JSON.stringify(l)}, () => ${v}.${a});`));
      return '';
    }
    if ((m = /^export \{([^}]*)\};$/.exec(one))) {
      head.push(...names(m[1]!).map(([a, l]) => `__get(__exports, ${JSON.stringify(l)}, () => ${a});`));
      return '';
    }
    return s; // a declaration: handled below
  });
  // export const/let/var/function/class/async function NAME
  src = src.replace(/^export (default )?((?:async )?function\*? ?|class |const |let |var )(\w+)/gm, (_s, def: string | undefined, kw: string, name: string) => {
    head.push(`__get(__exports, ${JSON.stringify(def ? 'default' : name)}, () => ${name});`);
    return `${kw}${name}`;
  });
  if (/^export /m.test(src)) throw new Error(`${id}: an export form the bundler does not know: ${/^export .*$/m.exec(src)![0]}`);
  src = src.replace(/\bimport\(\s*'(\.[^']+)'\s*\)/g, (_s, spec: string) => `Promise.resolve().then(() => ${mod(spec)})`);
  if (/\bimport\(/.test(src.replace(/\/\/.*$/gm, ''))) throw new Error(`${id}: a dynamic import() of something else than a relative path`);
  src = src.replace(/\bimport\.meta\.url\b/g, '__url');
  const url = JSON.stringify(pathToFileURL(file).href.slice(pathToFileURL(distRoot).href.length + 1));
  return { id, file, deps, body: `__def(${JSON.stringify(id)}, ${url}, function (__exports, __url) {\n${head.join('\n')}\n${src}\n});\n` };
}

const RUNTIME = `#!/usr/bin/env node
import { createRequire as __createRequire } from 'node:module';
const __nodeRequire = __createRequire(import.meta.url);
const __defs = new Map();
const __done = new Map();
const __pending = new Map();
function __def(id, url, fn) { __defs.set(id, { url: new URL(url, new URL('./', import.meta.url)).href, fn }); }
function __builtin(spec) { const m = __nodeRequire(spec); return m && m.default === undefined ? Object.assign(Object.create(m), { default: m }) : m; }
/** A named export: wins over one of the same name from export * (as in ESM). */
function __get(o, k, g) { Object.defineProperty(o, k, { get: g, enumerable: true, configurable: true }); }
function __star(o, m) { for (const k of Object.keys(m)) if (k !== 'default' && !Object.prototype.hasOwnProperty.call(o, k)) __get(o, k, () => m[k]); }
/** Binds imports now, or (inside an import cycle, before the other module ran) once it has run. */
function __bind(m, assign) { try { assign(m); } catch (e) { if (!(e instanceof ReferenceError)) throw e; } const p = __pending.get(m); if (p) p.push(assign); }
function __req(id) {
  const done = __done.get(id);
  if (done) return done;
  const d = __defs.get(id);
  if (!d) throw new Error('cryo bundle: no module ' + id);
  const ex = {};
  __done.set(id, ex);
  __pending.set(ex, []);
  d.fn(ex, d.url);
  for (const a of __pending.get(ex)) a(ex);
  __pending.delete(ex);
  return ex;
}
`;

function main(): void {
  const out = process.argv[2] ?? path.join(distRoot, 'cryo.mjs');
  const entry = path.join(distRoot, 'src/cli/main.js');
  const ids = new Map([[entry, path.relative(distRoot, entry)]]);
  const queue = [entry];
  const mods: Mod[] = [];
  while (queue.length > 0) mods.push(transform(queue.shift()!, ids, queue));
  // main.js awaits at top level: the bundle runs it as an async function.
  const text = RUNTIME + mods.map((m) => m.body.replace(/^__def\(("src\/cli\/main\.js"), (.*), function /m, '__def($1, $2, async function ')).join('')
    + `await __defs.get(${JSON.stringify(path.relative(distRoot, entry))}).fn({}, __defs.get(${JSON.stringify(path.relative(distRoot, entry))}).url);\n`;
  writeFileSync(out, text, { mode: 0o755 });
  process.stdout.write(`${path.relative(process.cwd(), out)}: ${mods.length} modules, ${text.length} bytes\n`);
}

main();
