import { statementDelta } from '../postgres.js';
import { sleep } from '../stats.js';
import type { Consumer, PeerInstance } from '../types.js';
import type { Measurement, Workload, WorkloadContext } from './workload.js';

/**
 * Idle workers of every peer, each peer in its own database, all in the same
 * window (idle workers hardly load the machine, and pg_stat_statements counts
 * per database): statements per second each idle worker causes.
 */
export const idle: Workload = {
  name: 'idle',
  description: '4 idle workers (concurrency 10) for a while: statements per second per worker (pg_stat_statements)',
  run() {
    throw new Error('idle runs all peers together');
  },
  async runTogether(ctxs: WorkloadContext[]) {
    const first = ctxs[0];
    if (!first) return [];
    const { idleSeconds, idleWorkers } = first.sizes;
    const setups = await Promise.all(
      ctxs.map(async (ctx) => {
        const url = await ctx.server.freshDatabase(ctx.peer.name);
        const instances: PeerInstance[] = [];
        const consumers: Consumer[] = [];
        for (let w = 0; w < idleWorkers; w++) {
          const instance = await ctx.peer.open(url);
          instances.push(instance);
          consumers.push(await instance.startConsumer({ concurrency: 10, handler: () => undefined }));
        }
        return { ctx, url, instances, consumers };
      }),
    );
    await sleep(Math.min(5, idleSeconds) * 1000); // start-up statements are not idle ones
    const before = await Promise.all(setups.map((s) => first.server.statements(s.url)));
    await sleep(idleSeconds * 1000);
    const after = await Promise.all(setups.map((s) => first.server.statements(s.url)));
    const out: Measurement[][] = [];
    for (let k = 0; k < setups.length; k++) {
      const delta = statementDelta(before[k] ?? new Map(), after[k] ?? new Map());
      const calls = delta.reduce((a, d) => a + d.calls, 0);
      out.push([
        {
          row: `idle: statements/s per idle worker (${idleWorkers} workers, ${idleSeconds} s)`,
          unit: 'statements/s',
          better: 'lower',
          value: calls / idleSeconds / idleWorkers,
          detail: { statements: delta.slice(0, 8).map((d) => ({ calls: d.calls, query: d.query.replace(/\s+/g, ' ').slice(0, 120) })) },
        },
      ]);
    }
    await Promise.all(
      setups.map(async (s) => {
        await Promise.all(s.consumers.map((c) => c.stop()));
        await Promise.all(s.instances.map((i) => i.close()));
        await s.ctx.server.drop(s.url);
      }),
    );
    return out;
  },
};
