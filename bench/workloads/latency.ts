import { now, percentile, sleep, until } from '../stats.js';
import { Tracker } from '../tracker.js';
import { inFreshDatabase, settled, sleepUntil } from './common.js';
import type { Measurement, Workload } from './workload.js';

/** Percentile rows of one set of enqueue→start delays. */
export function latencyRows(prefix: string, delays: number[], error: string | undefined): Measurement[] {
  const marks: Array<[string, number]> = [['p50', 50], ['p95', 95], ['p99', 99], ['max', 100]];
  return marks.map(([label, p]) => ({
    row: `${prefix} ${label}`,
    unit: 'ms',
    better: 'lower' as const,
    value: percentile(delays, p),
    ...(error ? { error } : {}),
  }));
}

/** An idle worker gets one job every 20 ms; the delay from enqueue to handler start is measured. */
export const latency: Workload = {
  name: 'latency',
  description: 'idle worker (concurrency 10), one enqueue every 20 ms: enqueue→start percentiles',
  run: (ctx) =>
    inFreshDatabase(ctx, async (instance) => {
      const { latencySeconds, latencyEveryMs } = ctx.sizes;
      const n = Math.round((latencySeconds * 1000) / latencyEveryMs);
      const tracker = new Tracker(n, { latency: true });
      const consumer = await instance.startConsumer({ concurrency: 10, handler: tracker.handler() });
      let error: string | undefined;
      try {
        await sleep(1_000); // let start-up queries settle: the worker is idle when the first job arrives
        const start = now();
        for (let i = 0; i < n; i++) {
          await sleepUntil(start + i * latencyEveryMs);
          await instance.enqueueOne({ i, t: now() });
        }
        await until(() => tracker.finished >= n, 30_000, 'every job to run');
        await settled(instance);
      } catch (err) {
        error = (err as Error).message;
      }
      await consumer.stop();
      error ??= tracker.verify() ?? undefined;
      return latencyRows('latency enqueue→start', tracker.latencies(), error);
    }),
};
