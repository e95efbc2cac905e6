import { readFile } from 'node:fs/promises';
import { collectRuns, WorkerChild } from '../child.js';
import type { BenchServer } from '../postgres.js';
import { sleep, until } from '../stats.js';
import { Tracker } from '../tracker.js';
import { drainTimeout, inFreshDatabase, preload, settled } from './common.js';
import type { Measurement, Workload, WorkloadContext } from './workload.js';

/** Worker processes per step. */
export const PROCESS_COUNTS = [1, 2, 4, 8];
const CONCURRENCY = 10;

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS = 100;

/**
 * CPU seconds the whole Postgres server has used: the postmaster (its own time and
 * that of its exited children, e.g. backends of closed connections) plus every live
 * child. `undefined` when the server is not a local process we can read in /proc.
 */
async function serverCpuSeconds(server: BenchServer): Promise<number | undefined> {
  try {
    const { rows } = await server.admin.query<{ pid: number }>('/* bench */ SELECT pg_backend_pid() AS pid');
    const backend = await stat(rows[0]?.pid as number);
    const postmaster = backend.ppid;
    const main = await stat(postmaster);
    let total = main.utime + main.stime + main.cutime + main.cstime;
    const { readdir } = await import('node:fs/promises');
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const s = await stat(Number(entry)).catch(() => undefined);
      if (s && s.ppid === postmaster) total += s.utime + s.stime;
    }
    return total / TICKS;
  } catch {
    return undefined;
  }
}

async function stat(pid: number): Promise<{ ppid: number; utime: number; stime: number; cutime: number; cstime: number }> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command (which may hold spaces) in parentheses.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]), cutime: Number(f[13]), cstime: Number(f[14]) };
}

/** Samples the connections open to `database` until stopped; returns the most seen at once. */
function peakConnections(server: BenchServer, database: string): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await server.admin
        .query<{ n: number }>('/* bench */ SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database])
        .catch(() => ({ rows: [{ n: 0 }] }));
      peak = Math.max(peak, rows[0]?.n ?? 0);
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

async function step(ctx: WorkloadContext, processes: number): Promise<Measurement[]> {
  return inFreshDatabase(ctx, async (instance, url) => {
    const n = ctx.sizes.workersScaling;
    await preload(instance, n);
    const children = await Promise.all(Array.from({ length: processes }, () => WorkerChild.spawn(ctx.peer.name, url, CONCURRENCY, n)));
    const tracker = new Tracker(n);
    let error: string | undefined;
    let lastEnd = Number.NaN;
    let cpu: number | undefined;
    let calls = 0;
    let peak = 0;
    try {
      await Promise.all(children.map((c) => c.ready()));
      const before = await ctx.server.statements(url);
      const cpuBefore = await serverCpuSeconds(ctx.server);
      const connections = peakConnections(ctx.server, new URL(url).pathname.slice(1));
      for (const c of children) c.go();
      await until(() => children.reduce((a, c) => a + c.finished, 0) >= n, drainTimeout(n), `${n} jobs to run in ${processes} processes`, 10);
      await settled(instance);
      const cpuAfter = await serverCpuSeconds(ctx.server);
      peak = await connections.stop();
      const after = await ctx.server.statements(url);
      for (const [id, s] of after) calls += s.calls - (before.get(id)?.calls ?? 0);
      if (cpuBefore !== undefined && cpuAfter !== undefined) cpu = cpuAfter - cpuBefore;
      ({ lastEnd, error } = await collectRuns(children, tracker));
    } catch (err) {
      error = (err as Error).message;
    } finally {
      for (const c of children) c.kill();
    }
    const row = (what: string) => `workers_scaling ${processes}×c=${CONCURRENCY}: ${what}`;
    const failed = error ? { error } : {};
    const out: Measurement[] = [
      { row: row('throughput'), unit: 'jobs/s', better: 'higher', value: n / ((lastEnd - tracker.firstStart) / 1000), ...failed },
      { row: row('statements per job'), unit: 'statements/job', better: 'lower', value: calls / n, ...failed },
      { row: row('connections (peak)'), unit: 'connections', better: 'lower', value: peak, ...failed },
    ];
    if (cpu !== undefined) out.push({ row: row('Postgres CPU per job'), unit: 'CPU ms/job', better: 'lower', value: (cpu * 1000) / n, ...failed });
    return out;
  });
}

/**
 * The same pre-loaded no-op jobs drained by 1, 2, 4 and 8 worker processes of
 * concurrency 10 on one Postgres: throughput, statements and server CPU per job,
 * and the connections the processes held (peak).
 */
export const workersScaling: Workload = {
  name: 'workers_scaling',
  description: 'drain N pre-loaded no-op jobs with 1, 2, 4 and 8 worker processes (concurrency 10 each): jobs/s, statements/job, Postgres CPU ms/job, peak connections',
  async run(ctx) {
    const out: Measurement[] = [];
    for (const processes of PROCESS_COUNTS) out.push(...(await step(ctx, processes)));
    return out;
  },
};
