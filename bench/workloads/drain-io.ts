import { sleep } from '../stats.js';
import { drain, inFreshDatabase, throughput } from './common.js';
import type { Workload } from './workload.js';

const CONCURRENCY = 100;

/** Pre-loaded jobs that each await a timer, as an I/O-bound handler would. */
export const drainIo: Workload = {
  name: 'drain_io',
  description: 'drain N pre-loaded jobs that each await 20 ms, concurrency 100',
  async run(ctx) {
    const { drainIo: n, ioMs } = ctx.sizes;
    const result = await inFreshDatabase(ctx, (instance, url) => drain(ctx, instance, url, { count: n, concurrency: CONCURRENCY, work: () => sleep(ioMs) }));
    const ideal = (CONCURRENCY * 1000) / ioMs;
    return [{ ...throughput(`drain_io c=${CONCURRENCY}, ${ioMs} ms jobs (${n.toLocaleString('en-US')})`, result), detail: { ideal } }];
  },
};
