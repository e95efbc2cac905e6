import { drain, inFreshDatabase, statementsPerJob, throughput } from './common.js';
import type { Measurement, Workload } from './workload.js';

const CONCURRENCIES = [10, 50];

/** Pre-loaded no-op jobs drained by one process, at concurrency 10 and 50. */
export const drainNoop: Workload = {
  name: 'drain_noop',
  description: 'drain N pre-loaded no-op jobs in one process (concurrency 10 and 50); also counts statements per job',
  async run(ctx) {
    const n = ctx.sizes.drain;
    const out: Measurement[] = [];
    for (const concurrency of CONCURRENCIES) {
      const result = await inFreshDatabase(ctx, (instance, url) => drain(ctx, instance, url, { count: n, concurrency }));
      const row = `drain_noop c=${concurrency}`;
      out.push(throughput(`${row} (${n.toLocaleString('en-US')} jobs)`, result));
      out.push(statementsPerJob(`${row}: statements per job`, result, n));
      ctx.notes.profiles.push({ peer: ctx.peer.name, row, round: ctx.round, jobs: n, statements: result.statements.slice(0, 12) });
      if (concurrency === 10 && !result.error) {
        const rates = ctx.notes.drainRates.get(ctx.peer.name) ?? [];
        rates.push(result.rate);
        ctx.notes.drainRates.set(ctx.peer.name, rates);
      }
    }
    return out;
  },
};
