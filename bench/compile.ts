import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let tree: Promise<string | null> | undefined;

/**
 * Compiles src/ and bench/ to plain JavaScript once per run, so worker
 * processes run as users run the package (no TypeScript loader, whose own
 * memory would swamp the RSS figure). The tree mirrors the repo and links
 * package.json, migrations/ and node_modules/, so relative paths still hold.
 * Resolves to `null` (run through tsx instead) when esbuild is not there.
 */
export function compiledTree(): Promise<string | null> {
  tree ??= (async () => {
    try {
      const esbuild = await import('esbuild');
      const out = mkdtempSync(join(tmpdir(), 'pgcourier-bench-'));
      process.once('exit', () => rmSync(out, { recursive: true, force: true }));
      await esbuild.build({
        absWorkingDir: ROOT,
        entryPoints: ['src/**/*.ts', 'bench/**/*.ts'],
        outdir: out,
        outbase: '.',
        format: 'esm',
        platform: 'node',
        target: 'node20',
        logLevel: 'silent',
      });
      for (const link of ['package.json', 'migrations', 'node_modules']) symlinkSync(join(ROOT, link), join(out, link));
      return out;
    } catch {
      return null;
    }
  })();
  return tree;
}
