// A real PgBouncer (Debian's `pgbouncer` package, installed by .ci/run) in front of a
// test Postgres, in transaction mode: each transaction may get another server
// connection, so session state and named prepared statements do not survive.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/embedded.js';

/** Where `pgbouncer` is, or `undefined` when the package is not installed. */
export function pgbouncerBinary(): string | undefined {
  for (const candidate of ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer']) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A running PgBouncer. */
export interface Bouncer {
  /** `postgres://` URL of the database through the pooler. */
  url: string;
  port: number;
  /** Server connections PgBouncer keeps per database/user pair. */
  poolSize: number;
  stop(): Promise<void>;
}

/**
 * Starts PgBouncer in `transaction` mode in front of the Postgres of `serverUrl`
 * (`postgres://user:password@127.0.0.1:port/db`), listening on 127.0.0.1 only.
 * As root it drops to the `postgres` OS user (PgBouncer refuses to run as root).
 */
export async function startPgbouncer(serverUrl: string, options: { poolSize?: number } = {}): Promise<Bouncer> {
  const binary = pgbouncerBinary();
  if (!binary) throw new Error('pgbouncer is not installed (apt-get install -y pgbouncer)');
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username);
  const password = decodeURIComponent(server.password);
  const database = server.pathname.slice(1) || 'postgres';
  const poolSize = options.poolSize ?? 10;
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'pgcourier-bouncer-'));
  await chmod(dir, 0o777);
  const ini = join(dir, 'pgbouncer.ini');
  await writeFile(join(dir, 'users.txt'), `"${user}" "${password}"\n`);
  await writeFile(
    ini,
    `[databases]
${database} = host=${server.hostname} port=${server.port} dbname=${database}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = plain
auth_file = ${join(dir, 'users.txt')}
pool_mode = transaction
default_pool_size = ${poolSize}
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits,options
server_reset_query =
logfile = ${join(dir, 'pgbouncer.log')}
pidfile = ${join(dir, 'pgbouncer.pid')}
`,
  );
  for (const f of ['users.txt', 'pgbouncer.ini']) await chmod(join(dir, f), 0o644);
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(binary, [...(asRoot ? ['-u', 'postgres'] : []), ini], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = once(child, 'exit');
  try {
    await waitForPort(port, 10_000, () => child.exitCode !== null);
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`pgbouncer did not start: ${(err as Error).message}\n${stderr}`);
  }
  return {
    url: `postgres://${server.username}:${server.password}@127.0.0.1:${port}/${database}`,
    port,
    poolSize,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, timeoutMs: number, gaveUp: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (gaveUp()) throw new Error('the process exited');
    if (Date.now() > deadline) throw new Error(`port ${port} not open after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
