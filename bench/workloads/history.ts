import type { PeerInstance } from '../types.js';
import { drain, inFreshDatabase, throughput } from './common.js';
import type { Measurement, Workload } from './workload.js';

interface HistoryDb {
  url: string;
  instance: PeerInstance;
}

/**
 * drain_noop c=10 on a table already holding N finished jobs (preloaded once
 * per peer, then vacuumed and analysed as autovacuum would have), against a
 * fresh empty database, alternating the two in every round.
 */
export const history: Workload<HistoryDb | undefined> = {
  name: 'history',
  description: 'drain_noop c=10 with N finished jobs already in the table, against an empty table',
  async prepare(ctx) {
    const { peer } = ctx;
    if (!peer.keepsHistory) return undefined;
    const url = await ctx.server.freshDatabase(`${peer.name}_history`);
    const instance = await peer.open(url);
    const started = Date.now();
    await instance.preloadHistory?.(ctx.sizes.historyRows);
    ctx.log(`  ${peer.name}: ${ctx.sizes.historyRows.toLocaleString('en-US')} finished rows preloaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { url, instance };
  },
  async run(ctx, db) {
    if (!db) return [];
    const { historyDrain: n, historyRows } = ctx.sizes;
    const empty = await inFreshDatabase(ctx, (instance, url) => drain(ctx, instance, url, { count: n, concurrency: 10 }));
    const loaded = await drain(ctx, db.instance, db.url, { count: n, concurrency: 10 });
    const label = `history: drain_noop c=10 (${n.toLocaleString('en-US')} jobs)`;
    const rows: Measurement[] = [
      throughput(`${label}, empty table`, empty),
      throughput(`${label}, ${historyRows.toLocaleString('en-US')} finished rows`, loaded),
    ];
    const error = empty.error ?? loaded.error;
    rows.push({ row: 'history: with history / empty', unit: 'ratio', better: 'higher', value: loaded.rate / empty.rate, ...(error ? { error } : {}) });
    return rows;
  },
  async cleanup(ctx, db) {
    if (!db) return;
    await db.instance.close();
    await ctx.server.drop(db.url);
  },
};
