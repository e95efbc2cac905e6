import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Courier, createCourier } from '../../src/index.js';
import { freshSchema, OWN_TASKS } from '../helpers/db.js';
import { explainStuck, type FaultServer, report, startFaultServer, statusCounts, until } from './harness.js';

const POOL = 5;
const CONCURRENCY = 50;
const PARENTS = 2000;

let server: FaultServer;
let courier: Courier | undefined;

beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(async () => {
  await courier?.close({ grace: 0 });
  await server?.close();
});

describe('pool exhaustion', () => {
  it(`concurrency ${CONCURRENCY} on a pool of ${POOL} connections completes without deadlock`, async () => {
    const c = createCourier({ connectionString: server.url, schema: freshSchema('pool'), poolSize: POOL });
    courier = c;
    await c.migrate();
    const runs = new Map<string, number[]>();
    const record = (id: string, attempt: number) => runs.set(id, [...(runs.get(id) ?? []), attempt]);
    // Every handler competes with the engine for the same five connections: progress
    // writes, a checked-out client, and an enqueue of a child task.
    c.registerTask('parent', async (_p, ctx) => {
      record(ctx.taskId, ctx.attempt);
      expect(await ctx.progress(1, 3)).toBe(true);
      const client = await c.pool.connect();
      try {
        await client.query('SELECT pg_sleep(0.002)');
      } finally {
        client.release();
      }
      expect(await ctx.progress(2, 3)).toBe(true);
      await c.enqueueTask('child', { parent: ctx.taskId });
      await ctx.progress(3, 3);
      return { attempt: ctx.attempt };
    });
    c.registerTask('child', async (_p, ctx) => {
      record(ctx.taskId, ctx.attempt);
      await c.pool.query('SELECT 1');
    });

    let maxTotal = 0;
    let maxWaiting = 0;
    const sampler = setInterval(() => {
      maxTotal = Math.max(maxTotal, c.pool.totalCount);
      maxWaiting = Math.max(maxWaiting, c.pool.waitingCount);
    }, 5);
    const started = Date.now();
    try {
      await c.enqueueMany(Array.from({ length: PARENTS }, () => ({ name: 'parent', payload: {} })));
      // A short lease: renewals starved by the queue for connections would show as rescues.
      await c.start({ concurrency: CONCURRENCY, lease: 3, pollInterval: 0.5 });
      await until(async () => (await statusCounts(server.pool, c.schema)).succeeded === PARENTS * 2, 240_000, 'parents and children to succeed', 250, () => explainStuck(server.pool, c.schema));
    } finally {
      clearInterval(sampler);
    }
    const seconds = (Date.now() - started) / 1000;
    await c.stop({ grace: 5 });
    const { rows } = await server.pool.query<{ attempts: number; n: string }>(`SELECT attempts, count(*) AS n FROM "${c.schema}".tasks WHERE ${OWN_TASKS} GROUP BY attempts`);
    report('pool-exhaustion', { pool: POOL, concurrency: CONCURRENCY, tasks: PARENTS * 2, seconds, maxPoolConnections: maxTotal, maxWaitingForConnection: maxWaiting, attempts: rows });

    expect(await statusCounts(server.pool, c.schema)).toEqual({ succeeded: PARENTS * 2 });
    expect(rows).toEqual([{ attempts: 1, n: String(PARENTS * 2) }]); // no lease lost, nothing re-run
    expect(runs.size).toBe(PARENTS * 2);
    expect([...runs.values()].every((a) => a.length === 1)).toBe(true);
    expect(maxTotal).toBeLessThanOrEqual(POOL);
    // The pool really was exhausted (callers queued for a connection).
    expect(maxWaiting).toBeGreaterThan(CONCURRENCY / 2);
  }, 300_000);
});
