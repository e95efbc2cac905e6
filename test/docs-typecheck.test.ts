// Every ```ts block of README.md and docs/** is type-checked against the sources, so a
// renamed option or an undeclared name in the docs fails the suite. Markers on the line
// right before a block (HTML comments, invisible on GitHub):
//   <!-- ts: skip NAME -->      a deliberately partial block; NAME must be listed in SKIPPED
//   <!-- ts: prelude NAME -->   the block continues from a PRELUDES entry (e.g. an existing `courier`)
//   <!-- ts: file NAME.ts -->   the block is file NAME.ts, which later blocks of the page may import
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generatePrismaClient } from './helpers/prisma.js';

const root = join(import.meta.dirname, '..');

/** Blocks skipped on purpose, by the name of their marker. */
const SKIPPED = new Set(['emailjs-provider-options']);

/** What a `prelude` marker puts before its block. */
const PRELUDES: Record<string, string> = {
  courier: "import { createCourier } from 'pgcourier';\nconst courier = createCourier();\n",
  messaging: "import { createCourier } from 'pgcourier';\nimport { messages } from 'pgcourier/messages';\nconst courier = createCourier({ plugins: [messages()] });\n",
  // A Prisma client generated from test/helpers/prisma.ts's schema (model Order { id, total }).
  prisma: "import { createCourier } from 'pgcourier';\nimport { PrismaClient } from '../prisma/client/client.js';\nconst courier = createCourier();\n",
};

interface Block {
  doc: string;
  line: number;
  code: string;
  marker: { kind: 'skip' | 'prelude' | 'file'; name: string } | undefined;
}

/** The ```ts blocks of one markdown file, with the marker on the line before each. */
function tsBlocks(doc: string, text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ts\s*$/.test(lines[i] as string)) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    if (end === -1) throw new Error(`${doc}:${i + 1}: unterminated code block`);
    const m = /^<!-- ts: (skip|prelude|file) (\S+) -->$/.exec((lines[i - 1] ?? '').trim());
    blocks.push({ doc, line: i + 2, code: lines.slice(i + 1, end).join('\n'), marker: m ? { kind: m[1] as 'skip', name: m[2] as string } : undefined });
    i = end;
  }
  return blocks;
}

function markdownFiles(): string[] {
  const docs = readdirSync(join(root, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.md') && !f.startsWith('api'))
    .map((f) => join('docs', f));
  return ['README.md', ...docs.sort()];
}

const blocks = markdownFiles().flatMap((f) => tsBlocks(f, readFileSync(join(root, f), 'utf8')));
const workDir = mkdtempSync(join(root, 'test', '.docs-typecheck-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('docs compile', () => {
  it('finds the blocks, and skips exactly the blocks named in SKIPPED', () => {
    expect(blocks.length).toBeGreaterThan(15);
    const skipped = blocks.filter((b) => b.marker?.kind === 'skip').map((b) => b.marker?.name);
    expect(new Set(skipped)).toEqual(SKIPPED);
    for (const b of blocks) if (b.marker?.kind === 'prelude') expect(PRELUDES, `${b.doc}:${b.line}`).toHaveProperty(b.marker.name);
  });

  it('every other ```ts block of README.md and docs/** type-checks', () => {
    const files: Array<{ path: string; block: Block; offset: number }> = [];
    blocks.forEach((block, i) => {
      if (block.marker?.kind === 'skip') return;
      const dir = join(workDir, block.doc.replaceAll(/[/.]/g, '_'));
      mkdirSync(dir, { recursive: true });
      const prelude = block.marker?.kind === 'prelude' ? (PRELUDES[block.marker.name] as string) : '';
      const name = block.marker?.kind === 'file' ? block.marker.name : `block_${i}.ts`;
      const path = join(dir, name);
      // `export {}` makes each block a module, so top-level await and local names are per block.
      writeFileSync(path, `${prelude}${block.code}\nexport {};\n`);
      files.push({ path, block, offset: prelude.split('\n').length - 1 });
    });
    if (blocks.some((b) => b.marker?.kind === 'prelude' && b.marker.name === 'prisma')) generatePrismaClient(join(workDir, 'prisma'));
    writeFileSync(
      join(workDir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../tsconfig.json',
        compilerOptions: {
          noEmit: true,
          rootDir: '../..',
          paths: { pgcourier: ['../../src/index.ts'], 'pgcourier/*': ['../../src/*/index.ts'] },
        },
        include: ['**/*.ts'],
      }),
    );
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', join(workDir, 'tsconfig.json'), '--pretty', 'false'], { encoding: 'utf8' });
    // Report each error at its line in the markdown file.
    const errors = r.stdout
      .split('\n')
      .filter((l) => l.includes('error TS'))
      .map((l) => {
        const m = /^(.*?)\((\d+),(\d+)\): (.*)$/.exec(l);
        const file = m && files.find((f) => join(root, m[1] as string) === f.path || m[1] === f.path || join(workDir, relative(workDir, m[1] as string)) === f.path);
        return file && m ? `${file.block.doc}:${file.block.line + Number(m[2]) - 1 - file.offset}: ${m[4]}` : l;
      });
    expect(errors).toEqual([]);
    expect(r.status).toBe(0);
  }, 180_000);
});
