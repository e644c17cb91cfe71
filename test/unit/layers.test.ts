// The layer rule, read from the imports themselves: a module imports only from its own layer or the layers
// listed under it below, and no chain of imports leads back to where it started. CONTRIBUTING.md draws
// the same picture; change both together.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(new URL(import.meta.url).pathname), '../..');

/** Layer -> the layers it may import from (besides itself). Lowest first. */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  'src/wire': [],
  'src/peer': ['src/wire'],
  'src/testbed': ['src/wire', 'src/peer'],
  'src/lab': ['src/wire', 'src/peer', 'src/testbed'],
  'src/targets': ['src/wire', 'src/peer', 'src/testbed', 'src/lab'],
  labs: ['src/wire', 'src/peer', 'src/testbed', 'src/lab'],
  'src/inspect': ['src/wire', 'src/lab'],
  'src/report': ['src/wire', 'src/lab', 'src/inspect'],
  'src/export': ['src/wire', 'src/peer', 'src/testbed', 'src/lab', 'src/report'],
  'src/matrix': ['src/wire', 'src/testbed', 'src/lab', 'src/targets', 'labs', 'src/report'],
  'src/serve': ['src/wire', 'src/peer', 'src/testbed', 'src/lab', 'src/targets', 'labs', 'src/report', 'src/inspect'],
  'src/cli': ['src/wire', 'src/peer', 'src/testbed', 'src/lab', 'src/targets', 'labs', 'src/inspect', 'src/report', 'src/export', 'src/matrix', 'src/serve'],
  // The entry points: the CLI's main and the package's index.
  'src/top': ['src/wire', 'src/peer', 'src/testbed', 'src/lab', 'src/targets', 'labs', 'src/inspect', 'src/report', 'src/export', 'src/matrix', 'src/serve', 'src/cli'],
};

function layerOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'labs') return 'labs';
  if (parts[0] === 'src' && parts.length === 2) return 'src/top';
  return `${parts[0]}/${parts[1]}`;
}

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

/** Relative imports of a module (static, type-only, re-exports and dynamic import()), as repo paths. */
function importsOf(file: string, runtimeOnly = false): string[] {
  let src = readFileSync(join(ROOT, file), 'utf8');
  // `import type` is erased at run time: it orders no module loading, so it cannot make a load cycle.
  if (runtimeOnly) src = src.replace(/(?:^|\n)\s*(?:import|export) type\b[^;]*;/g, '\n');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"](\.[^'"]+)['"]/g)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    out.push(relative(ROOT, normalize(join(ROOT, dirname(file), spec))).replace(/\.js$/, '.ts'));
  }
  return out;
}

/** Imports that go to a layer their module may not use. */
function upward(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const bad: string[] = [];
  for (const [f, deps] of graph) {
    const from = layerOf(f);
    for (const d of deps) {
      const to = layerOf(d);
      if (to !== from && !MAY_IMPORT[from]?.includes(to)) bad.push(`${f} -> ${d} (${from} may import ${MAY_IMPORT[from]?.join(', ') || 'nothing'})`);
    }
  }
  return bad;
}

/** Every import cycle met by a depth-first walk, as "a -> b -> a". */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const found: string[] = [];
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      found.push([...path.slice(path.indexOf(f)), f].join(' -> '));
      return;
    }
    state.set(f, 'open');
    for (const d of graph.get(f) ?? []) if (graph.has(d)) visit(d, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
  return found;
}

const files = [...tsFiles('src'), ...tsFiles('labs')];
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const runtimeGraph = new Map(files.map((f) => [f, importsOf(f, true)]));

describe('layers', () => {
  it('every module is in a declared layer', () => {
    const unknown = files.filter((f) => !(layerOf(f) in MAY_IMPORT));
    expect(unknown, 'add its folder to MAY_IMPORT (and to CONTRIBUTING.md)').toEqual([]);
  });

  it('no module imports from a higher layer', () => {
    expect(upward(graph)).toEqual([]);
  });

  it('every relative import resolves to a module of the tree', () => {
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${f} -> ${d}`));
    expect(missing).toEqual([]);
  });

  it('no import cycles among the imports that load modules (type-only imports are erased)', () => {
    expect(cycles(runtimeGraph)).toEqual([]);
  });

  it('the checks see a planted upward import and a planted cycle', () => {
    // A check that cannot fail is no check: the same rules over a made-up graph.
    const planted = new Map([
      ['src/wire/a.ts', ['src/lab/b.ts']],
      ['src/lab/b.ts', ['src/lab/c.ts']],
      ['src/lab/c.ts', ['src/lab/b.ts', 'src/wire/a.ts']],
    ]);
    expect(upward(planted)).toEqual([expect.stringMatching(/^src\/wire\/a.ts -> src\/lab\/b.ts/)]);
    expect(cycles(planted)).toEqual(['src/lab/b.ts -> src/lab/c.ts -> src/lab/b.ts', 'src/wire/a.ts -> src/lab/b.ts -> src/lab/c.ts -> src/wire/a.ts']);
    expect(importsOf('test/unit/layers.test.ts')).toEqual([]);
  });
});
