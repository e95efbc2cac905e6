import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import pg from 'pg';
import type { BenchPayload, Peer, PeerInstance } from '../types.js';

const SCHEMA = 'graphile_worker';
const silent = new Logger(() => () => {});

/**
 * graphile-worker with the batching its performance page recommends: a local
 * queue (size 500) and batched completion and failure (delay 0).
 */
export const graphileWorker: Peer = {
  name: 'graphile-worker',
  settings: 'run({ concurrentJobs: c, maxPoolSize: max(10, c + 2), pollInterval: 2000, localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 }); addJobs for bulk',
  keepsHistory: false,
  // A task's return value is not stored: completed jobs are deleted.
  keepsResults: false,
  reference: false,
  async open(connectionString) {
    const utils = await makeWorkerUtils({ connectionString, schema: SCHEMA, logger: silent });
    await utils.migrate();
    const admin = new pg.Pool({ connectionString, max: 1 });
    admin.on('error', () => {});
    const count = async () => Number((await admin.query(`SELECT /* bench */ count(*) AS n FROM ${SCHEMA}._private_jobs`)).rows[0].n);
    const instance: PeerInstance = {
      async enqueueOne(payload) {
        await utils.addJob('noop', payload);
      },
      async enqueueMany(payloads) {
        await utils.addJobs(payloads.map((payload) => ({ identifier: 'noop', payload })));
      },
      async startConsumer({ concurrency, handler }) {
        const runner = await run({
          noHandleSignals: true,
          crontab: '',
          taskList: {
            noop: async (payload) => {
              await handler(payload as BenchPayload);
            },
          },
          preset: {
            worker: {
              connectionString,
              schema: SCHEMA,
              logger: silent,
              concurrentJobs: concurrency,
              maxPoolSize: Math.max(10, concurrency + 2),
              pollInterval: 2000,
              localQueue: { size: 500 },
              completeJobBatchDelay: 0,
              failJobBatchDelay: 0,
            },
          },
        });
        return { stop: () => runner.stop() };
      },
      // Completed jobs are deleted, so every row left is unfinished.
      outstanding: count,
      stored: count,
      async close() {
        await utils.release();
        await admin.end();
      },
    };
    return instance;
  },
};
