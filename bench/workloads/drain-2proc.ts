import { collectRuns, WorkerChild } from '../child.js';
import { until } from '../stats.js';
import { Tracker } from '../tracker.js';
import { drainTimeout, inFreshDatabase, preload, settled } from './common.js';
import type { Sizes, Workload } from './workload.js';

const PROCESSES = 2;
const CONCURRENCY = 10;

/**
 * Pre-loaded no-op jobs drained by two worker processes at once, `size(ctx.sizes)`
 * of them; `name` labels the workload and its row.
 */
function drainInTwoProcesses(name: string, description: string, size: (sizes: Sizes) => number): Workload {
  return {
    name,
    description,
    run: (ctx) =>
      inFreshDatabase(ctx, async (instance, url) => {
        const n = size(ctx.sizes);
        await preload(instance, n);
        const children = await Promise.all(Array.from({ length: PROCESSES }, () => WorkerChild.spawn(ctx.peer.name, url, CONCURRENCY, n)));
        const tracker = new Tracker(n);
        let error: string | undefined;
        let lastEnd = Number.NaN;
        try {
          await Promise.all(children.map((c) => c.ready()));
          for (const c of children) c.go();
          await until(() => children.reduce((a, c) => a + c.finished, 0) >= n, drainTimeout(n), `${n} jobs to run in ${PROCESSES} processes`, 10);
          await settled(instance);
          ({ lastEnd, error } = await collectRuns(children, tracker));
        } catch (err) {
          error = (err as Error).message;
        } finally {
          for (const c of children) c.kill();
        }
        const row = `${name} ${PROCESSES}×c=${CONCURRENCY} (${n.toLocaleString('en-US')} jobs)`;
        return [{ row, unit: 'jobs/s', better: 'higher', value: n / ((lastEnd - tracker.firstStart) / 1000), ...(error ? { error } : {}) }];
      }),
  };
}

/** A short two-process drain (20,000 jobs: under a second for the quickest peers). */
export const drain2proc = drainInTwoProcesses('drain_2proc', 'drain N pre-loaded no-op jobs with 2 worker processes (concurrency 10 each)', (s) => s.drain2proc);

/**
 * The same over a backlog ten times larger, which takes the quickest peers several
 * seconds: what a queue sustains once dead row versions of claimed and finished jobs
 * pile up in its indexes, which a sub-second drain never reaches.
 */
export const drain2procBacklog = drainInTwoProcesses(
  'drain_2proc_backlog',
  'drain a backlog of N pre-loaded no-op jobs with 2 worker processes (concurrency 10 each)',
  (s) => s.drain2procBacklog,
);
