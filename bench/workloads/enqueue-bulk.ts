import { now } from '../stats.js';
import { inFreshDatabase, payloads } from './common.js';
import type { Workload } from './workload.js';

/** Bulk enqueue through each peer's batch API. */
export const enqueueBulk: Workload = {
  name: 'enqueue_bulk',
  description: 'enqueue N jobs in batches through the bulk API',
  run: (ctx) =>
    inFreshDatabase(ctx, async (instance) => {
      const { enqueueBulk: n, bulkBatch: batch } = ctx.sizes;
      // Payloads are built before the clock starts: only the enqueue is timed.
      const batches = [];
      for (let from = 0; from < n; from += batch) batches.push(payloads(from, Math.min(batch, n - from)));
      const start = now();
      for (const b of batches) await instance.enqueueMany(b);
      const seconds = (now() - start) / 1000;
      const stored = await instance.stored();
      const error = stored === n ? undefined : `${stored} jobs stored for ${n} enqueued`;
      const row = `enqueue_bulk (${n.toLocaleString('en-US')}, batches of ${batch.toLocaleString('en-US')})`;
      return [{ row, unit: 'jobs/s', better: 'higher', value: n / seconds, ...(error ? { error } : {}) }];
    }),
};
