import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { type Courier, createCourier } from '../../src/index.js';
import { databaseUrl, freshSchema, testPool, waitFor } from '../helpers/db.js';

// A running worker claims over a connection of its own with changed planner
// settings (src/worker/claim-connection.ts): these tests cut it, stop it and
// starve it, for real.

const open: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

async function worker(options: { pool?: pg.Pool; poolSize?: number } = {}): Promise<{ courier: Courier; ran: string[] }> {
  const schema = freshSchema();
  const courier = createCourier(options.pool ? { pool: options.pool, schema } : { connectionString: databaseUrl(), schema, poolSize: options.poolSize });
  open.push({ close: () => courier.close({ grace: 1 }) });
  const ran: string[] = [];
  courier.registerTask('record', async (payload: { label: string }) => {
    ran.push(payload.label);
  });
  await courier.migrate();
  return { courier, ran };
}

/** Backends whose last statement was the plain claim of `schema`'s tasks. */
async function claimBackends(admin: pg.Pool, courier: Courier): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'WITH picked AS%' AND position($1 in query) > 0`,
    [courier.names.tasks],
  );
  return rows.map((r) => r.pid);
}

describe('the claim connection', () => {
  it('is replaced when its backend is terminated: the next task still runs, claimed on a new backend', async () => {
    const admin = testPool();
    open.push({ close: () => admin.end() });
    const { courier, ran } = await worker();
    await courier.start({ concurrency: 2 });
    await courier.enqueueTask('record', { label: 'before' });
    await waitFor(() => ran.includes('before'), 10_000, 'the first task');
    const [pid] = await waitFor(async () => {
      const pids = await claimBackends(admin, courier);
      return pids.length === 1 ? pids : null;
    }, 10_000, 'one claim backend');
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await courier.enqueueTask('record', { label: 'after' });
    await waitFor(() => ran.includes('after'), 10_000, 'the task enqueued after the cut');
    const now = await claimBackends(admin, courier);
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(pid);
  });

  it('is closed at stop: a pool the host lent keeps its default planner settings on every connection', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl(), max: 6 });
    pool.on('error', () => {});
    const { courier, ran } = await worker({ pool });
    await courier.start({ concurrency: 4 });
    await courier.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ name: 'record', payload: { label: `t${i}` } })));
    await waitFor(() => ran.length === 20, 10_000, 'twenty tasks');
    await courier.stop();
    // Check out every connection the pool has, at once, and read their settings.
    const clients = await Promise.all(Array.from({ length: pool.totalCount }, () => pool.connect()));
    try {
      expect(clients.length).toBeGreaterThan(0);
      for (const client of clients) {
        const { rows } = await client.query<{ sort: string; seq: string; mode: string }>(
          `SELECT current_setting('enable_sort') AS sort, current_setting('enable_seqscan') AS seq, current_setting('plan_cache_mode') AS mode`,
        );
        expect(rows[0]).toEqual({ sort: 'on', seq: 'on', mode: 'auto' });
      }
    } finally {
      for (const client of clients) client.release();
      await pool.end();
    }
  });

  it('is not held from a pool too small to spare it: a worker on a one-connection pool runs its tasks', async () => {
    const { courier, ran } = await worker({ poolSize: 1 });
    await courier.start({ concurrency: 2 });
    await courier.enqueueMany(Array.from({ length: 30 }, (_, i) => ({ name: 'record', payload: { label: `t${i}` } })));
    await waitFor(() => ran.length === 30, 10_000, 'thirty tasks');
    await courier.stop();
    const admin = testPool();
    open.push({ close: () => admin.end() });
    expect(await admin.query(`SELECT count(*)::int AS n FROM ${courier.names.tasks} WHERE status = 'succeeded'`).then((r) => r.rows[0].n)).toBe(30);
  });
});
