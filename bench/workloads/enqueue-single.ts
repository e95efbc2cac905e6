import { now } from '../stats.js';
import { inFreshDatabase } from './common.js';
import type { Workload } from './workload.js';

/** Sequential single enqueues: one awaited call per job. */
export const enqueueSingle: Workload = {
  name: 'enqueue_single',
  description: 'enqueue N jobs one at a time, each call awaited before the next',
  run: (ctx) =>
    inFreshDatabase(ctx, async (instance) => {
      const n = ctx.sizes.enqueueSingle;
      const start = now();
      for (let i = 0; i < n; i++) await instance.enqueueOne({ i, t: now() });
      const seconds = (now() - start) / 1000;
      const stored = await instance.stored();
      const error = stored === n ? undefined : `${stored} jobs stored for ${n} enqueued`;
      return [{ row: `enqueue_single (${n.toLocaleString('en-US')})`, unit: 'jobs/s', better: 'higher', value: n / seconds, ...(error ? { error } : {}) }];
    }),
};
