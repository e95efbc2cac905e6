import { WorkerChild, workerCommand } from '../child.js';
import { until } from '../stats.js';
import { Tracker } from '../tracker.js';
import { drainTimeout, inFreshDatabase, preload, settled } from './common.js';
import type { Workload } from './workload.js';

const MB = 1024 * 1024;

/** One worker process (concurrency 10) works through N pre-loaded jobs; its peak RSS is reported. */
export const memory: Workload = {
  name: 'memory',
  description: 'one worker process (concurrency 10) runs N jobs: peak RSS (only with --only=memory)',
  run: (ctx) =>
    inFreshDatabase(ctx, async (instance, url) => {
      const n = ctx.sizes.memoryTasks;
      await preload(instance, n, 5_000);
      const child = await WorkerChild.spawn(ctx.peer.name, url, 10, n);
      const { runtime } = await workerCommand();
      const tracker = new Tracker(n);
      let error: string | undefined;
      let base = Number.NaN;
      let peak = Number.NaN;
      let seconds = Number.NaN;
      try {
        await child.ready();
        child.go();
        let reported = 0;
        await until(
          () => {
            if (child.finished - reported >= n / 10) {
              reported = child.finished;
              ctx.log(`    ${ctx.peer.name}: ${child.finished.toLocaleString('en-US')} jobs, RSS ${(child.rss / MB).toFixed(0)} MB, heap ${(child.heapUsed / MB).toFixed(0)} MB`);
            }
            return child.finished >= n;
          },
          drainTimeout(n) * 2,
          `${n} jobs to run`,
          50,
        );
        await settled(instance, 120_000);
        const result = await child.stop();
        tracker.merge(result.runs, result.started, result.firstStart);
        await child.exited();
        base = result.baseRss / MB;
        peak = result.peakRss / MB;
        seconds = (result.lastEnd - result.firstStart) / 1000;
        error = tracker.verify() ?? undefined;
      } catch (err) {
        error = (err as Error).message;
      } finally {
        child.kill();
      }
      const label = `memory: worker running ${n.toLocaleString('en-US')} jobs`;
      const extra = error ? { error } : {};
      return [
        { row: `${label}, RSS before the first job`, unit: 'MB', better: 'lower', value: base, ...extra, detail: { runtime } },
        { row: `${label}, peak RSS`, unit: 'MB', better: 'lower', value: peak, ...extra },
        { row: `${label}, throughput`, unit: 'jobs/s', better: 'higher', value: n / seconds, ...extra },
      ];
    }),
};
