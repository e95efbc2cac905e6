// Connection economy (one LISTEN connection per process, pools sized from
// concurrency) and reads routed to readConnectionString.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poolSizeFor } from '../../src/db/connections.js';
import { type Courier, createCourier } from '../../src/index.js';
import { databaseUrl, freshSchema, testCourier, testPool, waitFor } from '../helpers/db.js';

let direct: pg.Pool;
beforeAll(() => {
  direct = testPool();
});
afterAll(async () => {
  await direct.end();
});

/** Backends whose last statement was a LISTEN or UNLISTEN of one of these schemas' channels. */
async function listenBackends(schemas: string[]): Promise<number> {
  const { rows } = await direct.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query ~ '^(UN)?LISTEN "' AND substring(query from '"([^".]+)\\.') = ANY($1)`,
    [schemas],
  );
  return rows[0]?.n ?? 0;
}

describe('one LISTEN connection per process', () => {
  it('is shared by every courier of the process on the same database, and each is woken by its own channel', async () => {
    const couriers: Courier[] = [];
    const ran = new Map<string, string[]>();
    try {
      for (let i = 0; i < 3; i++) {
        const courier = await testCourier();
        couriers.push(courier);
        const mine: string[] = [];
        ran.set(courier.schema, mine);
        courier.registerTask('work', async (_p, ctx) => {
          mine.push(ctx.taskId);
        });
        // An hour between polls: only a notification wakes the worker.
        await courier.start({ concurrency: 2, pollInterval: 3600 });
      }
      const schemas = couriers.map((c) => c.schema);
      expect(await listenBackends(schemas)).toBe(1);
      // waitForTask listens on the events channel over the same connection.
      const first = couriers[0] as Courier;
      const id = await first.enqueueTask('work', {});
      await first.waitForTask(id, { timeout: 5 });
      expect(await listenBackends(schemas)).toBe(1);
      for (const courier of couriers) {
        const task = await courier.enqueueTask('work', {});
        await waitFor(() => ran.get(courier.schema)?.includes(task), 5000, `a NOTIFY-woken run in ${courier.schema}`);
      }
      // One courier leaves: the others keep their channels on the same connection.
      await (couriers.shift() as Courier).close();
      for (const courier of couriers) {
        const task = await courier.enqueueTask('work', {});
        await waitFor(() => ran.get(courier.schema)?.includes(task), 5000, `a NOTIFY-woken run in ${courier.schema} after another courier closed`);
      }
      expect(await listenBackends(schemas)).toBe(1);
    } finally {
      for (const courier of couriers) await courier.close();
    }
    await waitFor(async () => (await listenBackends([...ran.keys()])) === 0, 5000, 'the LISTEN connection to close with its last courier');
  });

  it('sizes the pool it creates from concurrency at start, unless poolSize is given', async () => {
    expect([1, 10, 40, 100, 1000].map(poolSizeFor)).toEqual([10, 10, 14, 29, 50]);
    const sized = await testCourier();
    const fixed = await testCourier({ poolSize: 3 });
    try {
      await sized.start({ concurrency: 100 });
      await fixed.start({ concurrency: 100 });
      expect((sized.pool as unknown as { options: pg.PoolConfig }).options.max).toBe(29);
      expect((fixed.pool as unknown as { options: pg.PoolConfig }).options.max).toBe(3);
    } finally {
      await sized.close();
      await fixed.close();
    }
  });
});

describe('readConnectionString', () => {
  let replicaUrl: string;
  const replicaDb = `ha_read_${process.pid}`;

  beforeAll(async () => {
    // A second database stands in for a replica: what the courier lists must come from there.
    await direct.query(`CREATE DATABASE ${replicaDb}`);
    const url = new URL(databaseUrl());
    url.pathname = `/${replicaDb}`;
    replicaUrl = url.toString();
  });
  afterAll(async () => {
    await direct.query(`DROP DATABASE IF EXISTS ${replicaDb} WITH (FORCE)`);
  });

  it('serves queueStatus, listTasks and metrics; getTask and writes stay on the primary', async () => {
    const schema = freshSchema();
    const replica = createCourier({ connectionString: replicaUrl, schema });
    await replica.migrate();
    replica.registerTask('on_replica', () => {});
    await replica.enqueueMany(Array.from({ length: 3 }, () => ({ name: 'on_replica', payload: {} })));
    await replica.close();
    const courier = createCourier({ connectionString: databaseUrl(), readConnectionString: replicaUrl, schema });
    try {
      await courier.migrate();
      courier.registerTask('on_primary', () => {});
      const id = await courier.enqueueTask('on_primary', {});
      expect((await courier.getTask(id))?.name).toBe('on_primary');
      expect((await courier.listTasks()).tasks.map((t) => t.name)).toEqual(['on_replica', 'on_replica', 'on_replica']);
      expect((await courier.queueStatus()).total.queued).toBe(3);
      const metrics = await courier.metrics();
      expect(JSON.stringify(metrics.queues)).toContain('"queued":3');
    } finally {
      await courier.close();
    }
  });

  it('names the field of a bad URL', () => {
    expect(() => createCourier({ connectionString: databaseUrl(), readConnectionString: 'http://x' })).toThrow(/readConnectionString/);
  });
});
