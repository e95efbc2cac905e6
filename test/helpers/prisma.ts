import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** The schema of the Prisma client the tests and the docs' snippets use: one model, on a table of the test's schema. */
const SCHEMA = `generator client {
  provider = "prisma-client"
  output   = "./client"
}

datasource db {
  provider = "postgresql"
}

model Order {
  id    Int @id @default(autoincrement())
  total Int
  @@map("orders")
}
`;

/**
 * Runs \`prisma generate\` into \`dir\`/client (a TypeScript client). Prisma 7's CLI
 * fetches its schema engine at start even for \`generate\`, which does not use it;
 * with no network that download fails, so PRISMA_SCHEMA_ENGINE_BINARY names a
 * placeholder and the CLI skips it. Returns the path of \`client.ts\`.
 */
export function generatePrismaClient(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'schema.prisma'), SCHEMA);
  writeFileSync(join(dir, 'prisma.config.ts'), "import { defineConfig } from 'prisma/config';\nexport default defineConfig({ schema: 'schema.prisma' });\n");
  const cli = createRequire(import.meta.url).resolve('prisma/build/index.js');
  const r = spawnSync(process.execPath, [cli, 'generate'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' },
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`prisma generate failed (${r.status}): ${r.stderr || r.stdout}`);
  return join(dir, 'client', 'client.ts');
}
