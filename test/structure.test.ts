// The layout's rule: no file of src/ imports its way back to itself, and the core
// (src/ outside messages/ and http/) imports neither messaging nor HTTP.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = join(import.meta.dirname, '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Relative imports of each file (static, type-only and dynamic), as absolute .ts paths. */
function graph(): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const file of sources(src)) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'|import\('(\.{1,2}\/[^']+)'\)|declare module '(\.{1,2}\/[^']+)'/g)].map((m) =>
      resolve(dirname(file), (m[1] ?? m[2] ?? m[3]) as string).replace(/\.js$/, '.ts'),
    );
    edges.set(file, targets);
  }
  return edges;
}

describe('structure of src/', () => {
  it('has no import circle', () => {
    const edges = graph();
    const state = new Map<string, 'open' | 'done'>();
    const circles: string[] = [];
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      stack.push(file);
      for (const next of edges.get(file) ?? []) {
        if (!edges.has(next)) continue;
        if (state.get(next) === 'open') circles.push([...stack.slice(stack.indexOf(next)), next].map((f) => relative(src, f)).join(' -> '));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of edges.keys()) if (!state.has(file)) visit(file);
    expect(circles).toEqual([]);
  });

  it('the core imports nothing from messages/ or http/', () => {
    const offending = [...graph()]
      .filter(([file]) => !/^(messages|http)[/\\]/.test(relative(src, file)))
      .flatMap(([file, targets]) => targets.filter((t) => /[/\\]src[/\\](messages|http)[/\\]/.test(t)).map((t) => `${relative(src, file)} -> ${relative(src, t)}`));
    expect(offending).toEqual([]);
  });
});
