// Runs an example against a throwaway embedded Postgres (or DATABASE_URL):
//   node --import tsx examples/run.ts <example>   e.g. express-server, transactional-enqueue
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../src/embedded.js';

const name = process.argv[2];
const file = name && join(import.meta.dirname, name.endsWith('.ts') ? name : `${name}.ts`);
if (!file || !existsSync(file)) {
  console.error('usage: node --import tsx examples/run.ts <example>  (a file in examples/)');
  process.exit(2);
}
const server = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres();
const child = spawn(process.execPath, ['--import', 'tsx', file, ...process.argv.slice(3)], {
  stdio: 'inherit',
  env: { ...process.env, DATABASE_URL: process.env.DATABASE_URL ?? server?.connectionString },
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
const code: number = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
await server?.destroy();
process.exit(code);
