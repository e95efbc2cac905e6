import { mean, median, now, percentile, sleep, until } from '../stats.js';
import { Tracker } from '../tracker.js';
import type { BenchPayload } from '../types.js';
import { drain, inFreshDatabase, settled } from './common.js';
import type { Workload, WorkloadContext } from './workload.js';

const TICK_MS = 10;

/** The peer's drain_noop c=10 rate of this run, or a drain measured now when that workload did not run. */
async function drainRate(ctx: WorkloadContext): Promise<number> {
  const rates = ctx.notes.drainRates.get(ctx.peer.name);
  if (rates?.length) return median(rates);
  const result = await inFreshDatabase(ctx, (instance, url) => drain(ctx, instance, url, { count: ctx.sizes.drain, concurrency: 10 }));
  if (result.error) throw new Error(`steady: measuring the drain rate failed: ${result.error}`);
  // Kept for the other steady load of this run, so both share one drain rate.
  ctx.notes.drainRates.set(ctx.peer.name, [result.rate]);
  return result.rate;
}

/**
 * Producer and consumer in one process: every 10 ms the producer enqueues what
 * keeps it at `percent`% of the peer's drain rate (one call, bulk when more than
 * one job is due), for the whole duration; enqueue→start delay and queue depth
 * (enqueued − finished) are recorded.
 */
function steadyAt(percent: number): Workload<number> {
  const LOAD = percent / 100;
  return {
  name: `steady${percent}`,
  description: `producer at ${percent}% of the peer’s drain_noop c=10 rate and a consumer (c=10) together: latency and queue depth`,
  prepare: drainRate,
  run: (ctx, rate) =>
    inFreshDatabase(ctx, async (instance) => {
      const seconds = ctx.sizes.steadySeconds;
      const perSecond = rate * LOAD;
      const n = Math.ceil(perSecond * seconds) + 1;
      const tracker = new Tracker(n, { latency: true });
      const consumer = await instance.startConsumer({ concurrency: 10, handler: tracker.handler() });
      const depths: number[] = [];
      let enqueued = 0;
      let error: string | undefined;
      try {
        await sleep(500);
        const start = now();
        const end = start + seconds * 1000;
        for (let tick = now(); tick < end; tick = now()) {
          const due = Math.min(n, Math.floor(((tick - start) / 1000) * perSecond) + 1) - enqueued;
          if (due > 0) {
            const t = now();
            const batch: BenchPayload[] = Array.from({ length: due }, (_, k) => ({ i: enqueued + k, t }));
            await (due === 1 ? instance.enqueueOne(batch[0] as BenchPayload) : instance.enqueueMany(batch));
            enqueued += due;
          }
          depths.push(enqueued - tracker.finished);
          await sleep(Math.max(0, TICK_MS - (now() - tick)));
        }
        await until(() => tracker.finished >= enqueued, 60_000, 'the backlog to drain');
        await settled(instance);
      } catch (err) {
        error = (err as Error).message;
      }
      await consumer.stop();
      // Only the jobs actually enqueued are expected.
      const ran = tracker.runs.subarray(0, enqueued);
      if (!error && (ran.some((r) => r !== 1) || tracker.started !== enqueued)) error = `${tracker.started} runs for ${enqueued} jobs, not each exactly once`;
      const delays = tracker.latencies();
      // Jobs enqueued after the first second: the run without the code paths warming up.
      const warm = Array.from(tracker.delays?.subarray(Math.ceil(perSecond), enqueued) ?? []).filter(Number.isFinite);
      const extra = error ? { error } : {};
      const label = `steady @${percent}% of drain rate (${seconds} s)`;
      return [
        { row: `${label} p50`, unit: 'ms', better: 'lower', value: percentile(delays, 50), ...extra },
        { row: `${label} p99`, unit: 'ms', better: 'lower', value: percentile(delays, 99), ...extra },
        { row: `${label} p99 after the first second`, unit: 'ms', better: 'lower', value: percentile(warm, 99), ...extra },
        { row: `${label} mean depth`, unit: 'jobs', better: 'lower', value: mean(depths), ...extra },
        { row: `${label} max depth`, unit: 'jobs', better: 'lower', value: Math.max(...depths), ...extra },
        { row: `${label} offered load`, unit: 'jobs/s', better: 'info', value: enqueued / seconds, detail: { drainRate: rate } },
      ];
    }),
};
}

export const steady70 = steadyAt(70);
export const steady50 = steadyAt(50);
