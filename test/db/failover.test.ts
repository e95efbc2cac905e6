// A courier on a multi-host connection string, across two real Postgres servers
// whose roles are switched under it: the writable one is made read-only (as a
// demoted primary is), the other writable; later the writable one is stopped.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedServer, startEmbeddedPostgres } from '../../src/embedded.js';
import { type Courier, createCourier } from '../../src/index.js';
import { freshSchema, OWN_TASKS, waitFor } from '../helpers/db.js';

let a: EmbeddedServer;
let b: EmbeddedServer;
let poolA: pg.Pool;
let poolB: pg.Pool;
const schema = freshSchema('ha');

async function setReadOnly(pool: pg.Pool, readOnly: boolean): Promise<void> {
  await pool.query(`ALTER SYSTEM SET default_transaction_read_only = ${readOnly ? 'on' : 'off'}`);
  await pool.query('SELECT pg_reload_conf()');
  // The reload is asynchronous: wait until a new session sees it.
  await waitFor(async () => (await pool.query<{ ro: string }>("SELECT current_setting('default_transaction_read_only') AS ro")).rows[0]?.ro === (readOnly ? 'on' : 'off'), 5000, 'reload');
}

/** Sessions LISTENing on the schema's task channel. */
async function listening(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1', [`LISTEN "${schema}.tasks"`]);
  return rows[0]?.n ?? 0;
}

/** Retries what a caller of a queue retries after a failover: the statement that met the old server. */
async function retrying<T>(work: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await work();
    } catch (err) {
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

beforeAll(async () => {
  [a, b] = await Promise.all([startEmbeddedPostgres(), startEmbeddedPostgres()]);
  poolA = new pg.Pool({ connectionString: a.connectionString, max: 2 });
  poolB = new pg.Pool({ connectionString: b.connectionString, max: 2 });
  poolA.on('error', () => {});
  poolB.on('error', () => {});
  for (const url of [a.connectionString, b.connectionString]) {
    const c = createCourier({ connectionString: url, schema });
    await c.migrate();
    await c.close();
  }
  // Ids are per server: keep B's apart so that "ran" tells the servers' tasks apart.
  await poolB.query(`SELECT setval(pg_get_serial_sequence('"${schema}".tasks', 'id'), 1000000)`);
  await setReadOnly(poolB, true);
}, 120_000);

afterAll(async () => {
  await poolA?.end().catch(() => {});
  await poolB?.end().catch(() => {});
  await Promise.all([a?.destroy(), b?.destroy()]);
});

describe('multi-host failover', () => {
  let courier: Courier;
  const ran: string[] = [];

  it('uses the writable server however the hosts are ordered, and LISTENs there', async () => {
    // B first: it is read-only, so the courier must pass over it to A.
    courier = createCourier({ connectionString: `postgres://postgres:pgcourier@127.0.0.1:${b.port},127.0.0.1:${a.port}/postgres`, schema });
    courier.registerTask('work', async (_p, ctx) => {
      ran.push(ctx.taskId);
    });
    // A long poll interval: only NOTIFY on the server in use wakes the worker quickly.
    await courier.start({ concurrency: 4, pollInterval: 3600 });
    const id = await courier.enqueueTask('work', {});
    await waitFor(() => ran.includes(id), 10_000, 'the task to run');
    expect((await poolA.query(`SELECT status FROM "${schema}".tasks WHERE id = $1`, [id])).rows[0]?.status).toBe('succeeded');
    expect((await poolB.query(`SELECT count(*)::int AS n FROM "${schema}".tasks`)).rows[0]?.n).toBe(0);
    expect(await listening(poolA)).toBe(1);
    expect(await listening(poolB)).toBe(0);
    const servers = (await courier.doctor()).find((c) => c.name === 'servers');
    expect(servers?.detail).toContain(`using 127.0.0.1:${a.port}`);
  });

  it('follows a switch of roles (SQLSTATE 25006 on the old server): writes, claims and LISTEN move', async () => {
    await setReadOnly(poolA, true);
    await setReadOnly(poolB, false);
    const switchedAt = Date.now();
    const id = await retrying(() => courier.enqueueTask('work', {}));
    expect((await poolB.query(`SELECT count(*)::int AS n FROM "${schema}".tasks WHERE id = $1`, [id])).rows[0]?.n).toBe(1);
    await waitFor(() => ran.includes(id), 15_000, 'the task on the new server to run');
    await waitFor(async () => (await listening(poolB)) === 1 && (await listening(poolA)) === 0, 10_000, 'LISTEN to move to the new server');
    // Woken by NOTIFY on B now (the poll interval is an hour): a fresh task runs promptly.
    const again = await courier.enqueueTask('work', {});
    await waitFor(() => ran.includes(again), 5000, 'a NOTIFY-woken run on the new server');
    expect(courier.health().ok).toBe(true);
    console.log(`[ha] role switch → first run on the new server: ${Date.now() - switchedAt} ms`);
  });

  it('follows the server going away (connection errors): back to the first one', async () => {
    await setReadOnly(poolA, false);
    await poolB.end();
    await b.stop();
    const id = await retrying(() => courier.enqueueTask('work', {}));
    expect((await poolA.query(`SELECT count(*)::int AS n FROM "${schema}".tasks WHERE id = $1`, [id])).rows[0]?.n).toBe(1);
    await waitFor(() => ran.includes(id), 15_000, 'the task to run after the server went away');
    await waitFor(async () => (await listening(poolA)) === 1, 10_000, 'LISTEN to come back to the first server');
    const again = await courier.enqueueTask('work', {});
    await waitFor(() => ran.includes(again), 5000, 'a NOTIFY-woken run');
  });

  it('ran every task exactly once', async () => {
    await courier.close({ grace: 5 });
    const { rows } = await poolA.query<{ id: string; attempts: number; status: string }>(`SELECT id::text, attempts, status FROM "${schema}".tasks WHERE ${OWN_TASKS}`); // not the hourly cleanup's task
    const onA = rows.map((r) => r.id);
    // Tasks of the B phase stayed on B (stopped now): 2 there, 3 on A.
    expect(onA).toHaveLength(3);
    expect(rows.every((r) => r.status === 'succeeded' && r.attempts === 1)).toBe(true);
    expect(new Set(ran).size).toBe(ran.length);
    expect(ran).toHaveLength(5);
  });

  it('takes the servers from the hosts option in place of the URL\'s', async () => {
    // The URL's host is a closed port; B (stopped) is listed first, A after it.
    const other = createCourier({ connectionString: 'postgres://postgres:pgcourier@127.0.0.1:1/postgres', hosts: [`127.0.0.1:${b.port}`, { host: '127.0.0.1', port: a.port }], schema });
    try {
      other.registerTask('work', async () => {});
      const id = await other.enqueueTask('work', {});
      expect((await poolA.query(`SELECT count(*)::int AS n FROM "${schema}".tasks WHERE id = $1 AND name = 'work'`, [id])).rows[0]?.n).toBe(1);
      expect((await other.doctor()).find((c) => c.name === 'servers')?.detail).toContain(`using 127.0.0.1:${a.port}`);
    } finally {
      await other.close();
    }
  });
});
