// The fault harness: a private Postgres per test file (so it may be restarted), real
// `pgcourier worker` child processes, and the audit that checks every task's fate
// from the database after a fault.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedPostgres } from '../../src/embedded.js';
import { type Courier, createCourier } from '../../src/index.js';
import { freshSchema, OWN_TASKS } from '../helpers/db.js';
import { spawnWorker, type WorkerProcess } from '../helpers/workers.js';

export const FAULT_TASKS = 'test/fixtures/faults-tasks.ts';

/** A Postgres this test file owns, with a pool for direct reads. */
export interface FaultServer {
  server: EmbeddedServer;
  /** Direct connection string (not through any proxy). */
  url: string;
  /** Direct pool for reads and audits; survives restarts (dead clients are dropped). */
  pool: pg.Pool;
  close(): Promise<void>;
}

/** Starts a private embedded Postgres for one test file. */
export async function startFaultServer(): Promise<FaultServer> {
  const server = await startEmbeddedPostgres();
  const pool = new pg.Pool({ connectionString: server.connectionString, max: 4 });
  pool.on('error', () => {});
  return {
    server,
    url: server.connectionString,
    pool,
    async close() {
      await pool.end().catch(() => {});
      await server.destroy();
    },
  };
}

/** One scenario's schema: migrated, with the audit tables, and an enqueuing courier. */
export interface Scenario {
  schema: string;
  /** Enqueue side (direct connection); knows the fixture's task names, runs nothing. */
  courier: Courier;
  close(): Promise<void>;
}

/** Creates a fresh schema on `server` with the audit tables the fixture writes to. */
export async function newScenario(server: FaultServer, prefix = 'f'): Promise<Scenario> {
  const schema = freshSchema(prefix);
  const courier = createCourier({ connectionString: server.url, schema, poolSize: 4 });
  await courier.migrate();
  await server.pool.query(`CREATE TABLE "${schema}".audit (
    task_id bigint NOT NULL, attempt integer NOT NULL, pid integer NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp(), UNIQUE (task_id, attempt))`);
  await server.pool.query(`CREATE TABLE "${schema}".audit_dupes (
    task_id bigint NOT NULL, attempt integer NOT NULL, pid integer NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp())`);
  for (const name of ['audited', 'hang', 'poison', 'flaky']) courier.registerTask(name, () => {});
  return { schema, courier, close: () => courier.close({ grace: 0 }) };
}

/** Enqueues `count` tasks of `name` in statements of 5,000; returns their ids. */
export async function enqueueBulk(courier: Courier, count: number, name = 'audited', payload: (i: number) => unknown = () => ({})): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 5000) {
    const n = Math.min(5000, count - i);
    ids.push(...(await courier.enqueueMany(Array.from({ length: n }, (_, j) => ({ name, payload: payload(i + j) })))));
  }
  return ids;
}

/** N real worker processes on the fault fixture; tracks who was killed. */
export class Fleet {
  /** Processes alive (not killed by us) right now. */
  live: WorkerProcess[] = [];
  /** Every process ever spawned. */
  all: WorkerProcess[] = [];
  /** PIDs we SIGKILLed. */
  readonly killed = new Set<number>();
  /** Every child spawned, started or not, so cleanup never leaks one. */
  readonly #children = new Set<ChildProcess>();
  readonly #opts: { engineUrl: string; auditUrl: string; schema: string; args: string[] };

  /**
   * @param opts.engineUrl what the engine connects to (Postgres, or a proxy in front of it)
   * @param opts.auditUrl where the fixture writes its audit (always the real Postgres)
   */
  constructor(opts: { engineUrl: string; auditUrl: string; schema: string; args: string[] }) {
    this.#opts = opts;
  }

  /** Spawns one worker and waits until it is listening. */
  async spawn(): Promise<WorkerProcess> {
    const w = await spawnWorker({
      databaseUrl: this.#opts.engineUrl,
      schema: this.#opts.schema,
      tasksFile: FAULT_TASKS,
      args: this.#opts.args,
      env: { AUDIT_DATABASE_URL: this.#opts.auditUrl },
      onSpawn: (child) => this.#children.add(child),
      startTimeoutMs: 90_000,
    });
    this.live.push(w);
    this.all.push(w);
    return w;
  }

  /** Spawns `n` workers at once. */
  async start(n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, () => this.spawn()));
  }

  /** SIGKILLs one random live worker; resolves with its pid once it is gone. */
  async killRandom(random: () => number = Math.random): Promise<number> {
    const victim = this.live[Math.floor(random() * this.live.length)] as WorkerProcess;
    const pid = victim.child.pid as number;
    this.killed.add(pid);
    this.live = this.live.filter((w) => w !== victim);
    victim.kill('SIGKILL');
    await victim.exited;
    return pid;
  }

  /** PIDs of the live workers. */
  pids(): number[] {
    return this.live.map((w) => w.child.pid as number);
  }

  /** Whether every live worker is still running (none exited on its own). */
  allAlive(): boolean {
    return this.live.every((w) => w.child.exitCode === null && w.child.signalCode === null);
  }

  /** Workers that exited although we never stopped or killed them, with the end of their log. */
  crashed(): string[] {
    return this.live
      .filter((w) => w.child.exitCode !== null || w.child.signalCode !== null)
      .map((w) => `pid ${w.child.pid} exited (${w.child.exitCode ?? w.child.signalCode}):\n${w.log().slice(-1200)}`);
  }

  /** SIGTERMs every live worker and returns their exit codes. */
  async stop(): Promise<Array<number | string | null>> {
    for (const w of this.live) w.kill('SIGTERM');
    const codes = await Promise.all(this.live.map((w) => w.exited));
    this.live = [];
    return codes;
  }

  /** Cleanup: SIGKILLs whatever is still running. */
  async destroy(): Promise<void> {
    const running = [...this.#children].filter((c) => c.exitCode === null && c.signalCode === null);
    for (const c of running) c.kill('SIGKILL');
    await Promise.all(running.map((c) => once(c, 'exit')));
    this.live = [];
  }

  /** Every worker's stderr (pino lines), concatenated. */
  logs(): string {
    return this.all.map((w) => w.log()).join('');
  }
}

/** How re-runs (several audited attempts of one task) are judged. */
export type RerunPolicy =
  /** No task may run twice; an attempt may be lost only as an unrun claim whose lease expired. */
  | 'none'
  /** A task may run again only after the worker running it was SIGKILLed (and rescue says so). */
  | 'killed'
  /** Every attempt that did not end the task must be explained by an entry in its error history. */
  | 'explained';

export interface AuditOptions {
  rerun: RerunPolicy;
  /** PIDs killed on purpose (for `rerun: 'killed'`). */
  killedPids?: Set<number>;
  /** The workers' poll interval in seconds: nothing may stay queued past its run_at for longer. */
  pollInterval: number;
  /** Final status every task must reach (default succeeded), or a function of the task's name. */
  status?: 'succeeded' | 'failed' | ((name: string) => 'succeeded' | 'failed');
}

export interface AuditReport {
  tasks: number;
  byStatus: Record<string, number>;
  /** Audit rows: handler runs that got as far as auditing. */
  runs: number;
  /** Tasks whose handler ran (audited) more than once. */
  rerunTasks: number;
  /** Attempts ended by crash rescue (lease expired). */
  rescuedAttempts: number;
  /** Attempts ended by an error (handler error, timeout, interrupted). */
  erroredAttempts: number;
  /** (task_id, attempt) pairs that ran twice: must be 0. */
  dupes: number;
  /** Running rows whose lease is gone: must be 0. */
  runningWithoutLease: number;
  /** Queued rows overdue by more than the poll interval: must be 0. */
  queuedOverdue: number;
  violations: string[];
  violationCount: number;
}

interface TaskRow {
  id: string;
  name: string;
  status: string;
  attempts: number;
  result: { attempt?: number; pid?: number } | null;
  errors: Array<{ attempt: number; message: string }>;
}

const LEASE_EXPIRED = /^lease expired: worker [^\s]*?:(\d+):[0-9a-f]+ stopped renewing it$/;

/**
 * Checks every task of the scenario's schema against what the audit table says
 * ran. See docs/reliability.md for the rules; returns every violation found.
 */
export async function auditFates(pool: pg.Pool, schema: string, opts: AuditOptions): Promise<AuditReport> {
  const s = `"${schema}"`;
  const wantedOf = typeof opts.status === 'function' ? opts.status : () => (opts.status as 'succeeded' | 'failed' | undefined) ?? 'succeeded';
  const { rows: tasks } = await pool.query<TaskRow>(`SELECT id::text, name, status, attempts, result, errors FROM ${s}.tasks WHERE ${OWN_TASKS} ORDER BY id`);
  const { rows: runs } = await pool.query<{ task_id: string; attempt: number; pid: number }>(`SELECT task_id::text, attempt, pid FROM ${s}.audit`);
  const dupes = Number((await pool.query(`SELECT count(*) AS n FROM ${s}.audit_dupes`)).rows[0].n);
  const { rows: health } = await pool.query<{ stuck: string; overdue: string }>(
    `SELECT count(*) FILTER (WHERE status = 'running' AND (locked_until IS NULL OR locked_until < now())) AS stuck,
            count(*) FILTER (WHERE status = 'queued' AND run_at < now() - make_interval(secs => $1)) AS overdue
       FROM ${s}.tasks`,
    [opts.pollInterval],
  );
  const runsByTask = new Map<string, Map<number, number>>();
  for (const r of runs) {
    let m = runsByTask.get(r.task_id);
    if (!m) runsByTask.set(r.task_id, (m = new Map()));
    m.set(r.attempt, r.pid);
  }
  const violations: string[] = [];
  const byStatus: Record<string, number> = {};
  let rerunTasks = 0;
  let rescuedAttempts = 0;
  let erroredAttempts = 0;
  for (const t of tasks) {
    byStatus[t.status] = (byStatus[t.status] ?? 0) + 1;
    const audited = runsByTask.get(t.id) ?? new Map<number, number>();
    runsByTask.delete(t.id);
    if (audited.size > 1) rerunTasks++;
    const bad = (why: string) => violations.push(`task ${t.id} (${t.status}, attempts ${t.attempts}): ${why}`);
    const wanted = wantedOf(t.name);
    if (t.status !== wanted) bad(`expected ${wanted}`);
    for (const a of audited.keys()) if (a > t.attempts || a < 1) bad(`audited attempt ${a} does not exist`);
    if (t.status === 'succeeded') {
      const pid = audited.get(t.attempts);
      if (pid === undefined) bad('the succeeding attempt left no audit row');
      else if (t.result?.attempt !== t.attempts || t.result?.pid !== pid) bad(`result ${JSON.stringify(t.result)} was not written by the attempt that ran last (pid ${pid})`);
    }
    // Every attempt before the last must have ended for a recorded reason.
    const last = t.status === 'succeeded' ? t.attempts - 1 : t.attempts;
    const oldestKept = Math.max(1, t.attempts - 19);
    for (let a = oldestKept; a <= last; a++) {
      const entries = t.errors.filter((e) => e.attempt === a);
      const rescue = entries.map((e) => LEASE_EXPIRED.exec(e.message)).find(Boolean);
      if (rescue) rescuedAttempts++;
      else if (entries.length > 0) erroredAttempts++;
      if (a === t.attempts && t.status !== 'succeeded') continue; // the final failure is the task's own outcome
      const ranBy = audited.get(a);
      if (entries.length === 0) {
        bad(`attempt ${a} ended without a recorded reason`);
        continue;
      }
      if (opts.rerun === 'none') {
        if (ranBy !== undefined) bad(`ran again after attempt ${a} (pid ${ranBy}) although no worker was killed: ${entries[0]?.message}`);
        else if (!rescue) bad(`attempt ${a} ended by "${entries[0]?.message}" although nothing should fail`);
      } else if (opts.rerun === 'killed') {
        const lostPid = rescue ? Number(rescue[1]) : undefined;
        if (!rescue) bad(`attempt ${a} ended by "${entries[0]?.message}", not by the death of its worker`);
        else if (!opts.killedPids?.has(lostPid as number)) bad(`attempt ${a} was rescued from pid ${lostPid}, which was never killed (a live worker lost its lease)`);
        else if (ranBy !== undefined && ranBy !== lostPid) bad(`attempt ${a} ran in pid ${ranBy} but its lease belonged to pid ${lostPid}`);
      }
    }
  }
  for (const [taskId] of runsByTask) violations.push(`audit row for unknown task ${taskId}`);
  if (dupes > 0) violations.push(`${dupes} (task_id, attempt) pairs ran twice`);
  const runningWithoutLease = Number(health[0]?.stuck);
  const queuedOverdue = Number(health[0]?.overdue);
  if (runningWithoutLease > 0) violations.push(`${runningWithoutLease} tasks are running without a live lease`);
  if (queuedOverdue > 0) violations.push(`${queuedOverdue} tasks are queued past their run_at by more than the poll interval`);
  return {
    tasks: tasks.length,
    byStatus,
    runs: runs.length,
    rerunTasks,
    rescuedAttempts,
    erroredAttempts,
    dupes,
    runningWithoutLease,
    queuedOverdue,
    violations: violations.slice(0, 25),
    violationCount: violations.length,
  };
}

/**
 * Samples, while a scenario runs, how long the oldest `running` row has been past
 * its lease (a dead worker's task waiting for rescue). Queries that fail while the
 * database is down are skipped.
 */
export function watchLeases(pool: pg.Pool, schema: string, everyMs = 500): { stop(): Promise<{ samples: number; maxOverdueSeconds: number }> } {
  let maxOverdueSeconds = 0;
  let samples = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const { rows } = await pool.query<{ overdue: number | null }>(
          `SELECT extract(epoch FROM now() - min(locked_until))::float8 AS overdue FROM "${schema}".tasks WHERE status = 'running'`,
        );
        samples++;
        maxOverdueSeconds = Math.max(maxOverdueSeconds, rows[0]?.overdue ?? 0);
      } catch {
        // database down (restart scenario): nothing to sample
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { samples, maxOverdueSeconds };
    },
  };
}

/** Counts the scenario's tasks per status ({@link OWN_TASKS}; direct read). */
export async function statusCounts(pool: pg.Pool, schema: string): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM "${schema}".tasks WHERE ${OWN_TASKS} GROUP BY status`);
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** Backends currently in LISTEN on the scenario's channel, with when they connected. */
export async function listeners(pool: pg.Pool, schema: string): Promise<Array<{ pid: number; backendStart: Date }>> {
  const { rows } = await pool.query<{ pid: number; backend_start: Date }>(
    `SELECT pid, backend_start FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()`,
    [`LISTEN "${schema}.tasks"`],
  );
  return rows.map((r) => ({ pid: r.pid, backendStart: r.backend_start }));
}

/**
 * Records one scenario's result: printed, and appended as a JSON line to
 * PGCOURIER_FAULTS_REPORT when set (docs/reliability.md quotes these lines).
 */
export function report(scenario: string, data: Record<string, unknown>): void {
  const line = JSON.stringify({ scenario, at: new Date().toISOString(), ...data });
  console.log(`[faults] ${line}`);
  if (process.env.PGCOURIER_FAULTS_REPORT) appendFileSync(process.env.PGCOURIER_FAULTS_REPORT, `${line}\n`);
}

/**
 * Polls `check` every `everyMs` until truthy or `timeoutMs` passes, then throws naming
 * `what`, followed by what `explain` says of the state it gave up in (CI shows only
 * the end of a run's output, where the error message is printed).
 */
export async function until<T>(check: () => Promise<T> | T, timeoutMs: number, what: string, everyMs = 200, explain?: () => Promise<string>): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value: T | undefined;
    try {
      value = await check();
    } catch {
      value = undefined; // e.g. the database is restarting
    }
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) {
      const why = explain ? await explain().catch((err: Error) => `(explaining failed: ${err.message})`) : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why ? `\n${why}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Free space where the embedded servers keep their data (a full disk stops Postgres). */
export function diskFree(): string {
  const fs = statfsSync(tmpdir());
  return `free in ${tmpdir()}: ${Math.round((fs.bavail * fs.bsize) / 2 ** 20)} MiB`;
}

/**
 * What a scenario that stopped making progress looks like, compactly: tasks per
 * status, a few unfinished tasks, the server's busy or waiting backends and the end
 * of each live worker's log.
 */
export async function explainStuck(pool: pg.Pool, schema: string, fleet?: Fleet): Promise<string> {
  const s = `"${schema}"`;
  const counts = await statusCounts(pool, schema);
  const { rows: unfinished } = await pool.query(
    `SELECT id, status, attempts, max_retries, deferrals, locked_by,
            round(extract(epoch FROM locked_until - now())::numeric, 1) AS lease_left_s,
            round(extract(epoch FROM run_at - now())::numeric, 1) AS run_in_s, left(last_error, 120) AS last_error
       FROM ${s}.tasks WHERE status <> 'succeeded' ORDER BY status, run_at LIMIT 8`,
  );
  const { rows: backends } = await pool.query(
    `SELECT pid, state, wait_event_type AS wtype, wait_event AS wait, round(extract(epoch FROM now() - query_start)::numeric, 1) AS for_s, left(query, 100) AS query
       FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND (state <> 'idle' OR wait_event_type = 'Lock')
      ORDER BY query_start LIMIT 12`,
  );
  const workers = (fleet?.live ?? []).map((w) => {
    const alive = w.child.exitCode === null && w.child.signalCode === null;
    return `worker ${w.child.pid} ${alive ? 'alive' : `exited ${w.child.exitCode ?? w.child.signalCode}`}:\n${w.log().slice(-800)}`;
  });
  return [
    `status counts: ${JSON.stringify(counts)}; ${diskFree()}`,
    `unfinished: ${unfinished.map((r) => JSON.stringify(r)).join('\n  ')}`,
    `backends: ${backends.map((r) => JSON.stringify(r)).join('\n  ')}`,
    ...workers,
  ].join('\n');
}
