import pg from 'pg';
import type { BenchPayload, Consumer, JobHandler, Peer, PeerInstance } from '../types.js';
import { cloneFinishedRows } from './history.js';

const TABLE = 'raw.jobs';

/**
 * The reference: the smallest claim-and-complete loop in plain SQL with the
 * batching pgcourier uses (claim up to the free slots in one statement, mark
 * every completion of an event-loop turn done in one statement). Finished rows
 * stay (status 2), as pgcourier keeps them. A handler's result, when there is
 * one (drain_result1k), is written by the same completion statement. No lease, retry or wake-up logic:
 * it polls every 10 ms when idle, so it only takes part in throughput rows.
 */
export const rawSql: Peer = {
  name: 'raw-sql',
  settings:
    'UPDATE … WHERE id IN (SELECT … ORDER BY id LIMIT free FOR UPDATE SKIP LOCKED) RETURNING; UPDATE … SET status = 2 WHERE id = ANY($1) per event-loop turn (with results: UPDATE … SET status = 2, result = v.result FROM unnest($1, $2) v)',
  keepsHistory: true,
  keepsResults: true,
  reference: true,
  workloads: ['enqueue_single', 'enqueue_bulk', 'drain_noop', 'drain_payload1k', 'drain_result1k', 'drain_io', 'drain_2proc', 'drain_2proc_backlog', 'history', 'memory'],
  async open(connectionString) {
    const pool = new pg.Pool({ connectionString, max: 10 });
    pool.on('error', () => {});
    await pool.query(`
      CREATE SCHEMA IF NOT EXISTS raw;
      CREATE TABLE IF NOT EXISTS ${TABLE} (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        payload jsonb NOT NULL,
        status smallint NOT NULL DEFAULT 0,
        result jsonb
      );
      CREATE INDEX IF NOT EXISTS jobs_queued_idx ON ${TABLE} (id) WHERE status = 0;`);
    const count = async (where: string) => Number((await pool.query(`SELECT /* bench */ count(*) AS n FROM ${TABLE} ${where}`)).rows[0].n);
    const instance: PeerInstance = {
      async enqueueOne(payload) {
        await pool.query(`INSERT INTO ${TABLE} (payload) VALUES ($1)`, [payload]);
      },
      async enqueueMany(payloads) {
        await pool.query(`INSERT INTO ${TABLE} (payload) SELECT unnest($1::jsonb[])`, [payloads.map((p) => JSON.stringify(p))]);
      },
      startConsumer: async ({ concurrency, handler, results }) => rawConsumer(pool, concurrency, handler, results ?? false),
      outstanding: () => count('WHERE status < 2'),
      stored: () => count(''),
      storedResults: () => count(`WHERE status = 2 AND result ? 'pad'`),
      async preloadHistory(n) {
        await pool.query(`INSERT INTO ${TABLE} (payload, status) VALUES ('{"i":-1,"t":0}', 2)`);
        await cloneFinishedRows(pool, TABLE, { template: 'status = 2', set: { payload: `jsonb_build_object('i', -g, 't', 0)` } }, n);
      },
      close: () => pool.end(),
    };
    return instance;
  },
};

function rawConsumer(pool: pg.Pool, concurrency: number, handler: JobHandler, results: boolean): Consumer {
  let active = 0;
  let claiming = false;
  let claimQueued = false;
  let stopped = false;
  let idleTimer: NodeJS.Timeout | undefined;
  let done: string[] = [];
  let doneResults: string[] = [];
  const writes = new Set<Promise<unknown>>();

  const flush = () => {
    const ids = done;
    done = [];
    const values = doneResults;
    doneResults = [];
    const p = (
      results
        ? pool.query(`UPDATE ${TABLE} AS j SET status = 2, result = v.result FROM unnest($1::bigint[], $2::jsonb[]) AS v(id, result) WHERE j.id = v.id`, [ids, values])
        : pool.query(`UPDATE ${TABLE} SET status = 2 WHERE id = ANY($1::bigint[])`, [ids])
    ).finally(() => writes.delete(p));
    writes.add(p);
  };
  // Completions of one event-loop turn free their slots before the next claim, so batches stay full.
  const queueClaim = () => {
    if (claimQueued) return;
    claimQueued = true;
    setImmediate(() => {
      claimQueued = false;
      void claim();
    });
  };
  const run = async (row: { id: string; payload: BenchPayload }) => {
    const result = await handler(row.payload);
    if (results) doneResults.push(JSON.stringify(result ?? null));
    if (done.push(row.id) === 1) setImmediate(flush);
    active--;
    queueClaim();
  };
  const claim = async (): Promise<void> => {
    if (claiming || stopped || active >= concurrency) return;
    claiming = true;
    const want = concurrency - active;
    let got = 0;
    try {
      const { rows } = await pool.query<{ id: string; payload: BenchPayload }>(
        `UPDATE ${TABLE} SET status = 1
          WHERE id IN (SELECT id FROM ${TABLE} WHERE status = 0 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
          RETURNING id, payload`,
        [want],
      );
      got = rows.length;
      active += got;
      for (const row of rows) void run(row);
    } finally {
      claiming = false;
    }
    if (got === want) queueClaim();
    else if (active === 0 && !stopped) idleTimer = setTimeout(() => void claim(), 10);
  };
  void claim();
  return {
    async stop() {
      stopped = true;
      clearTimeout(idleTimer);
      while (active > 0 || done.length > 0 || writes.size > 0) {
        await Promise.all(writes);
        await new Promise((r) => setImmediate(r));
      }
    },
  };
}
