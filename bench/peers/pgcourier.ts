import pg from 'pg';
import { createCourier } from '../../src/index.js';
import type { BenchPayload, JobHandler, Peer, PeerInstance } from '../types.js';
import { cloneFinishedRows } from './history.js';

const SCHEMA = 'pgcourier';
const TABLE = `${SCHEMA}.tasks`;

/** pgcourier through its public API, with its documented defaults (prefetch, batch size and poll interval). */
export const pgcourier: Peer = {
  name: 'pgcourier',
  settings: 'createCourier({ poolSize: 10 }); start({ concurrency }) (defaults: prefetch 1000 within ~50 ms of work, claims refill the buffer when half empty, one completion write in flight; polls every 15 s while LISTEN is up); enqueueMany for bulk',
  keepsHistory: true,
  keepsResults: true,
  reference: false,
  async open(connectionString) {
    let handler: JobHandler | undefined;
    const courier = createCourier({ connectionString, schema: SCHEMA, poolSize: 10 });
    courier.registerTask('noop', async (payload: BenchPayload) => {
      // What the handler returns is the task's result (undefined is stored as null, as for any task).
      return await handler?.(payload);
    });
    await courier.migrate();
    const admin = new pg.Pool({ connectionString, max: 1 });
    admin.on('error', () => {});
    const count = async (where: string) => Number((await admin.query(`SELECT /* bench */ count(*) AS n FROM ${TABLE} ${where}`)).rows[0].n);
    const instance: PeerInstance = {
      async enqueueOne(payload) {
        await courier.enqueueTask('noop', payload);
      },
      async enqueueMany(payloads) {
        await courier.enqueueMany(payloads.map((payload) => ({ name: 'noop', payload })));
      },
      async startConsumer(options) {
        handler = options.handler;
        await courier.start({ concurrency: options.concurrency });
        return { stop: () => courier.stop({ grace: 5 }) };
      },
      outstanding: () => count(`WHERE status IN ('queued', 'running')`),
      stored: () => count(''),
      storedResults: () => count(`WHERE status = 'succeeded' AND result ? 'pad'`),
      async preloadHistory(n) {
        // A real finished task is the template, so the rows have exactly the shape pgcourier writes.
        await courier.enqueueTask('noop', { i: -1, t: 0 });
        await courier.runOnce({ limit: 1 });
        await cloneFinishedRows(admin, TABLE, {
          template: `status = 'succeeded'`,
          set: {
            payload: `jsonb_build_object('i', -g, 't', 0)`,
            created_at: `now() - (g % 432000) * interval '1 second' - interval '1 minute'`,
            started_at: `now() - (g % 432000) * interval '1 second' - interval '30 seconds'`,
            finished_at: `now() - (g % 432000) * interval '1 second'`,
            updated_at: `now() - (g % 432000) * interval '1 second'`,
            run_at: `now() - (g % 432000) * interval '1 second' - interval '1 minute'`,
          },
        }, n);
      },
      async close() {
        await courier.close({ grace: 5 });
        await admin.end();
      },
    };
    return instance;
  },
};
