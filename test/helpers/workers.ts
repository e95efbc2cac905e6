import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type pg from 'pg';

const root = join(import.meta.dirname, '..', '..');

/** A `pgcourier worker` child process running the real CLI. */
export interface WorkerProcess {
  child: ChildProcess;
  /** Everything the process wrote to stderr (its pino log). */
  log(): string;
  /** Resolves with the exit code (or signal) once the process ends. */
  exited: Promise<number | string | null>;
  kill(signal?: NodeJS.Signals): void;
}

/** Creates the audit table the fixture tasks write to. */
export async function createAuditTable(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`CREATE TABLE "${schema}".audit (
    task_id bigint NOT NULL, attempt integer NOT NULL, pid integer NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp(), UNIQUE (task_id, attempt))`);
}

/**
 * Spawns `pgcourier worker --tasks test/fixtures/tasks.ts …` and waits until it is listening.
 * `tasksFile` (relative to the repository) replaces the task module; `env` adds variables.
 */
export async function spawnWorker(opts: {
  databaseUrl: string;
  schema: string;
  args?: string[];
  tasksFile?: string;
  env?: Record<string, string>;
  /** Called with the child as soon as it is spawned, before it is listening (for cleanup). */
  onSpawn?: (child: ChildProcess) => void;
  /** Give up (SIGKILL the child and reject) if it is not listening after this many ms (default: wait). */
  startTimeoutMs?: number;
}): Promise<WorkerProcess> {
  const tasksFile = join(root, opts.tasksFile ?? join('test', 'fixtures', 'tasks.ts'));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'src', 'cli.ts'), 'worker', '--tasks', tasksFile, ...(opts.args ?? [])],
    { cwd: root, env: { ...process.env, ...opts.env, DATABASE_URL: opts.databaseUrl, PGCOURIER_SCHEMA: opts.schema }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  opts.onSpawn?.(child);
  let stderr = '';
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string | null);
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('worker started')) resolve();
    };
    child.stderr?.on('data', onData);
    void exited.then((code) => reject(new Error(`worker exited (${code}) before starting:\n${stderr}`)));
    if (opts.startTimeoutMs !== undefined) {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`worker not listening after ${opts.startTimeoutMs} ms:\n${stderr}`));
      }, opts.startTimeoutMs);
      void exited.finally(() => clearTimeout(timer));
      child.stderr?.on('data', () => {
        if (stderr.includes('worker started')) clearTimeout(timer);
      });
    }
  });
  return { child, log: () => stderr, exited, kill: (signal = 'SIGTERM') => void child.kill(signal) };
}
