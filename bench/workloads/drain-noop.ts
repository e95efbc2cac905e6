import { drain, inFreshDatabase, PAD_1K, RESULT_1K, statementsPerJob, throughput } from './common.js';
import type { Measurement, Workload, WorkloadContext } from './workload.js';

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

/** drain_noop c=10 with something real in it: a 1 KB payload, or a 1 KB result stored with each job. */
function drainVariant(name: string, what: string, options: { pad?: string; result?: Record<string, unknown> }): Workload {
  const concurrency = 10;
  return {
    name,
    description: `drain N pre-loaded jobs in one process (concurrency ${concurrency}), ${what}`,
    async run(ctx: WorkloadContext) {
      // A peer that keeps no results has nothing to measure here; the table says "no result".
      if (options.result && !ctx.peer.keepsResults) return [];
      const n = ctx.sizes.drain;
      const result = await inFreshDatabase(ctx, (instance, url) => drain(ctx, instance, url, { count: n, concurrency, ...options }));
      const row = `${name} c=${concurrency}`;
      ctx.notes.profiles.push({ peer: ctx.peer.name, row, round: ctx.round, jobs: n, statements: result.statements.slice(0, 12) });
      return [throughput(`${row}, ${what} (${n.toLocaleString('en-US')} jobs)`, result), statementsPerJob(`${row}: statements per job`, result, n)];
    },
  };
}

export const drainPayload1k = drainVariant('drain_payload1k', '1 KB payload', { pad: PAD_1K });
export const drainResult1k = drainVariant('drain_result1k', 'handler returns a 1 KB result', { result: RESULT_1K as Record<string, unknown> });
