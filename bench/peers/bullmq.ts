import { createPostgresBackend, Queue, Worker, withBackend } from 'bullmq';
import pg from 'pg';
import type { BenchPayload, Peer, PeerInstance } from '../types.js';
import { cloneFinishedRows } from './history.js';

const SCHEMA = 'bullmq';
const QUEUE = 'noop';
const Pg = withBackend(createPostgresBackend);

/** BullMQ on its Postgres backend: default job retention, worker concurrency = c. */
export const bullmqPg: Peer = {
  name: 'bullmq-pg',
  settings: "Postgres backend ({ connectionString, schema, max: 10 }); new Worker({ concurrency: c }) with defaults (completed jobs kept); addBulk for bulk",
  keepsHistory: true,
  keepsResults: true,
  reference: false,
  async open(connectionString) {
    const connection = { connectionString, schema: SCHEMA, migrate: true, max: 10 };
    const queue = new Pg.Queue<BenchPayload>(QUEUE, { connection });
    await queue.waitUntilReady();
    const admin = new pg.Pool({ connectionString, max: 1 });
    admin.on('error', () => {});
    const count = async (where: string) =>
      Number((await admin.query(`SELECT /* bench */ count(*) AS n FROM ${SCHEMA}.job WHERE queue = '${QUEUE}' ${where}`)).rows[0].n);
    const instance: PeerInstance = {
      async enqueueOne(payload) {
        await queue.add(QUEUE, payload);
      },
      async enqueueMany(payloads) {
        await queue.addBulk(payloads.map((data) => ({ name: QUEUE, data })));
      },
      async startConsumer({ concurrency, handler }) {
        const worker = new Pg.Worker<BenchPayload>(QUEUE, async (job) => handler(job.data), { connection, concurrency });
        worker.on('error', () => {});
        await worker.waitUntilReady();
        return { stop: () => worker.close() };
      },
      outstanding: () => count(`AND state NOT IN ('completed', 'failed')`),
      stored: () => count(''),
      storedResults: () => count(`AND state = 'completed' AND return_value ? 'pad'`),
      async preloadHistory(n) {
        await queue.add(QUEUE, { i: -1, t: 0 });
        const worker = new Pg.Worker<BenchPayload>(QUEUE, async () => {}, { connection });
        while ((await count(`AND state = 'completed'`)) === 0) await new Promise((r) => setTimeout(r, 20));
        await worker.close();
        await cloneFinishedRows(
          admin,
          `${SCHEMA}.job`,
          {
            template: `queue = '${QUEUE}' AND state = 'completed'`,
            set: {
              id: `'h' || g`,
              seq: `nextval('${SCHEMA}.job_seq')`,
              data: `jsonb_build_object('i', -g, 't', 0)`,
              added_at_ms: `(extract(epoch from now()) * 1000)::bigint - (g % 432000) * 1000 - 60000`,
              processed_at_ms: `(extract(epoch from now()) * 1000)::bigint - (g % 432000) * 1000 - 30000`,
              finished_at_ms: `(extract(epoch from now()) * 1000)::bigint - (g % 432000) * 1000`,
            },
          },
          n,
        );
      },
      async close() {
        await queue.close();
        await admin.end();
      },
    };
    return instance;
  },
};

/** BullMQ on Redis (only with REDIS_URL, and only where a Redis client package is installed). */
export const bullmqRedis: Peer = {
  name: 'bullmq-redis',
  settings: 'Redis backend ({ url: REDIS_URL }); new Worker({ concurrency: c }) with defaults; addBulk for bulk',
  keepsHistory: false,
  keepsResults: true,
  reference: false,
  workloads: ['enqueue_single', 'enqueue_bulk', 'drain_noop', 'drain_payload1k', 'drain_result1k', 'drain_io', 'latency', 'steady70', 'steady50'],
  async open() {
    const url = process.env.REDIS_URL;
    if (!url) throw new Error('bullmq-redis needs REDIS_URL');
    const connection = { url, maxRetriesPerRequest: null };
    const queue = new Queue<BenchPayload>(QUEUE, { connection });
    await queue.waitUntilReady();
    await queue.obliterate({ force: true });
    const counts = async (...types: Array<'waiting' | 'active' | 'delayed' | 'prioritized' | 'completed' | 'failed'>) =>
      Object.values(await queue.getJobCounts(...types)).reduce((a, b) => a + b, 0);
    const instance: PeerInstance = {
      async enqueueOne(payload) {
        await queue.add(QUEUE, payload);
      },
      async enqueueMany(payloads) {
        await queue.addBulk(payloads.map((data) => ({ name: QUEUE, data })));
      },
      async startConsumer({ concurrency, handler }) {
        const worker = new Worker<BenchPayload>(QUEUE, async (job) => handler(job.data), { connection, concurrency });
        worker.on('error', () => {});
        await worker.waitUntilReady();
        return { stop: () => worker.close() };
      },
      outstanding: () => counts('waiting', 'active', 'delayed', 'prioritized'),
      stored: () => counts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'),
      async close() {
        await queue.obliterate({ force: true });
        await queue.close();
      },
    };
    return instance;
  },
};
