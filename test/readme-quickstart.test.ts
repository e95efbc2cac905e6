// The README's quick start, run as written (imports pointed at the sources): it must
// run its task to success and exit on its own right after, with nothing left open.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { databaseUrl, freshSchema, testPool } from './helpers/db.js';

const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(root, 'test', '.docs-quickstart-'));
const pool = testPool();
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await pool.end();
});

/** The first ```ts block after the "## Quick start" heading. */
function quickStart(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Quick start'));
  const m = /```ts\n([\s\S]*?)\n```/.exec(section);
  if (!m) throw new Error('README.md has no ```ts block under "## Quick start"');
  return m[1] as string;
}

it('the README quick start runs its task and exits on its own', async () => {
  const src = pathToFileURL(join(root, 'src', 'index.ts')).href;
  const file = join(dir, 'quickstart.ts');
  writeFileSync(file, quickStart().replaceAll("from 'pgcourier'", `from '${src}'`));
  const schema = freshSchema('quickstart');
  const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: root, env: { ...process.env, DATABASE_URL: databaseUrl(), PGCOURIER_SCHEMA: schema } });
  let stdout = '';
  let stderr = '';
  let printedAt = 0;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d;
    if (!printedAt && stdout.includes("status: 'succeeded'")) printedAt = Date.now();
  });
  child.stderr.on('data', (d: Buffer) => void (stderr += d));
  const code = await new Promise<number | null>((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (c) => {
      clearTimeout(killer);
      resolve(c);
    });
  });
  const exitedAt = Date.now();
  expect(stderr).toBe('');
  expect(code).toBe(0);
  expect(stdout).toMatch(/name: 'send_welcome'[\s\S]*status: 'succeeded'[\s\S]*result: \{ sent: true \}/);
  // Exits right after its last line: no pool or timer keeps the process alive (~10 s before).
  expect(exitedAt - printedAt).toBeLessThan(3000);
  const { rows } = await pool.query(`SELECT status FROM "${schema}".tasks WHERE name = 'send_welcome'`);
  expect(rows).toEqual([{ status: 'succeeded' }]);
}, 90_000);
