import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { databaseUrl } from './db.js';

const root = join(import.meta.dirname, '..', '..');

/** Runs the real CLI entry point against the test database and `schema`; `env` adds or unsets variables. */
export function runCli(schema: string, args: string[], env: Record<string, string | undefined> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, DATABASE_URL: databaseUrl(), PGCOURIER_SCHEMA: schema, ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
