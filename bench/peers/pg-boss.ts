import pg from 'pg';
import { PgBoss } from 'pg-boss';
import type { BenchPayload, Peer, PeerInstance } from '../types.js';
import { cloneFinishedRows } from './history.js';

const SCHEMA = 'pgboss';
const QUEUE = 'noop';

/**
 * How pg-boss holds `concurrency` jobs in flight: one fetch loop taking batches
 * of `concurrency`. Measured against 2×c/2, 5×c/5 and c×1 loops at c=10 and
 * c=50, it was as fast or faster (docs/benchmarks.md).
 */
export function bossShape(concurrency: number): { localConcurrency: number; batchSize: number } {
  return { localConcurrency: 1, batchSize: concurrency };
}

/** pg-boss with batch fetch, LISTEN/NOTIFY wake-ups and burst fetching while batches come back full. */
export const pgBoss: Peer = {
  name: 'pg-boss',
  settings:
    'new PgBoss({ useListenNotify: true, max: 10 }); createQueue(notify: true); work({ batchSize: c, localConcurrency: 1, pollingIntervalSeconds: 0.5, burstWhenBatchFull: true }); insert() for bulk',
  keepsHistory: true,
  keepsResults: true,
  reference: false,
  async open(connectionString) {
    const boss = new PgBoss({ connectionString, schema: SCHEMA, useListenNotify: true, max: 10 });
    boss.on('error', () => {});
    await boss.start();
    await boss.createQueue(QUEUE, { notify: true });
    const admin = new pg.Pool({ connectionString, max: 1 });
    admin.on('error', () => {});
    const count = async (where: string) =>
      Number((await admin.query(`SELECT /* bench */ count(*) AS n FROM ${SCHEMA}.job WHERE name = '${QUEUE}' ${where}`)).rows[0].n);
    const instance: PeerInstance = {
      async enqueueOne(payload) {
        await boss.send(QUEUE, payload);
      },
      async enqueueMany(payloads) {
        await boss.insert(
          QUEUE,
          payloads.map((data) => ({ data })),
        );
      },
      async startConsumer({ concurrency, handler, results }) {
        const options = { ...bossShape(concurrency), pollingIntervalSeconds: 0.5, burstWhenBatchFull: true };
        // A batch handler's return value is stored only for a batch of one; per-job outputs
        // of a batch are what its documented `perJobResults` option is for.
        const id = results
          ? await boss.work<BenchPayload>(QUEUE, { ...options, perJobResults: true }, async (jobs) =>
              Promise.all(jobs.map(async (job) => ({ id: job.id, status: 'completed' as const, output: await handler(job.data) }))),
            )
          : await boss.work<BenchPayload>(QUEUE, options, async (jobs) => {
              await Promise.all(jobs.map((job) => handler(job.data)));
            });
        return { stop: () => boss.offWork(QUEUE, { id, wait: true }) };
      },
      outstanding: () => count(`AND state < 'completed'`),
      stored: () => count(''),
      storedResults: () => count(`AND state = 'completed' AND output ? 'pad'`),
      async preloadHistory(n) {
        await boss.send(QUEUE, { i: -1, t: 0 });
        const [job] = await boss.fetch(QUEUE);
        if (!job) throw new Error('pg-boss: no job to complete for the history template');
        await boss.complete(QUEUE, job.id);
        await cloneFinishedRows(
          admin,
          `${SCHEMA}.job`,
          {
            template: `name = '${QUEUE}' AND state = 'completed'`,
            set: {
              id: 'gen_random_uuid()',
              data: `jsonb_build_object('i', -g, 't', 0)`,
              created_on: `now() - (g % 432000) * interval '1 second' - interval '1 minute'`,
              started_on: `now() - (g % 432000) * interval '1 second' - interval '30 seconds'`,
              completed_on: `now() - (g % 432000) * interval '1 second'`,
              start_after: `now() - (g % 432000) * interval '1 second' - interval '1 minute'`,
            },
          },
          n,
        );
      },
      async close() {
        await boss.stop({ graceful: true, close: true, timeout: 10_000 });
        await admin.end();
      },
    };
    return instance;
  },
};
