// The task list's paths for big tables (migration 040): text search reads a
// window of ids first and then the trigram index on finished rows and the live
// rows' indexes; counts are exact within a time budget, else estimates. Each
// path is checked against one plain statement over every row.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Courier, createCourier } from '../../src/index.js';
import { countTasks, FINISHED_STATUSES, LIVE_STATUSES, listTaskPage, SEARCH_WINDOW, type TaskListQuery, taskStatuses } from '../../src/task-list.js';
import { databaseUrl, testCourier, testPool } from '../helpers/db.js';

let courier: Courier;
const ROWS = Number(SEARCH_WINDOW) + 5_000;

beforeAll(async () => {
  courier = await testCourier();
  const t = courier.names.tasks;
  // Old matches (past the window from the newest end), a window of non-matching rows, then a few new matches;
  // finished and live rows of two queues. Rows g % 1000 = 7 carry key "cust-<g>"; g % 997 = 3 failed with "gateway timeout".
  await courier.pool.query(
    `INSERT INTO ${t} (queue, name, status, attempts, key, last_error, finished_at, run_at)
     SELECT CASE WHEN g % 2 = 0 THEN 'even' ELSE 'odd' END, 'scan',
            CASE WHEN g % 997 = 3 THEN 'failed' WHEN g % 50 = 1 THEN 'queued' ELSE 'succeeded' END,
            CASE WHEN g % 997 = 3 THEN 1 ELSE 0 END,
            CASE WHEN g % 1000 = 7 AND (g < 3000 OR g > $1 - 2000) THEN 'cust-' || g END,
            CASE WHEN g % 997 = 3 AND (g < 3000 OR g > $1 - 2000) THEN 'gateway timeout ' || g END,
            CASE WHEN g % 50 = 1 THEN NULL ELSE now() END,
            now() + CASE WHEN g % 50 = 1 THEN interval '1 hour' ELSE interval '0' END
       FROM generate_series(1, $1::int) AS g`,
    [ROWS],
  );
  await courier.pool.query(`ANALYZE ${t}`);
});
afterAll(() => courier.close());

/** Every page of a query, walked by cursor. */
async function walk(q: Omit<TaskListQuery, 'limit' | 'cursor'>, limit: number): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await listTaskPage(courier.pool, courier.names, { ...q, limit, cursor });
    out.push(...page.rows.map((r) => String(r.id)));
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
  }
  throw new Error('too many pages');
}

/** The same search as one statement over every row. */
async function plain(text: string, where = 'true', order = 'id DESC'): Promise<string[]> {
  const { rows } = await courier.pool.query<{ id: string }>(
    `SELECT id FROM ${courier.names.tasks} WHERE (key ILIKE $1 OR last_error ILIKE $1) AND ${where} ORDER BY ${order}`,
    [`%${text}%`],
  );
  return rows.map((r) => r.id);
}

describe('text search on a big table', () => {
  it('reaches every status of the table: the finished ones and the live ones the index arms cover', async () => {
    expect([...(await taskStatuses(courier.pool, courier.names))].sort()).toEqual([...FINISHED_STATUSES, ...LIVE_STATUSES].sort());
  });

  it('has the trigram index (pg_trgm ships with embedded Postgres and Debian\'s postgresql packages)', async () => {
    const { rows } = await courier.pool.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'tasks_search_idx'`, [courier.schema]);
    expect(rows[0]?.indexdef).toMatch(/gin_trgm_ops/);
  });

  it('finds matches inside and past the window, in order, page by page, as one plain statement would', async () => {
    const keys = await plain('cust-');
    expect(keys).toHaveLength(5);
    expect(keys.some((id) => BigInt(id) < BigInt(ROWS) - SEARCH_WINDOW)).toBe(true); // some lie past the window
    expect(await walk({ search: 'cust-' }, 2)).toEqual(keys);
    expect(await walk({ search: 'CUST-', sort: 'oldest' }, 3)).toEqual([...keys].reverse());
    expect(await walk({ search: 'timeout' }, 4)).toEqual(await plain('timeout'));
    expect(await walk({ search: 'timeout', queue: 'odd', status: 'failed' }, 2)).toEqual(await plain('timeout', `queue = 'odd' AND status = 'failed'`));
    expect(await walk({ search: 'cust-7' }, 50)).toEqual(await plain('cust-7'));
  });

  it('finds live matches too, and a task by its id', async () => {
    const [live] = (await courier.pool.query<{ id: string }>(`SELECT id FROM ${courier.names.tasks} WHERE status = 'queued' AND id < 100 ORDER BY id LIMIT 1`)).rows;
    await courier.pool.query(`UPDATE ${courier.names.tasks} SET key = 'live-needle' WHERE id = $1`, [live?.id]);
    expect(await walk({ search: 'live-needle' }, 10)).toEqual([live?.id]);
    expect(await walk({ search: 'needle', status: 'queued', sort: 'priority' }, 10)).toEqual([live?.id]);
    expect(await walk({ search: 'needle', status: 'succeeded' }, 10)).toEqual([]);
    expect(await walk({ search: '12' }, 500)).toContain('12');
  });

  it('refuses the priority sort for finished tasks, naming the field', async () => {
    await expect(listTaskPage(courier.pool, courier.names, { status: 'failed', sort: 'priority', limit: 5 })).rejects.toMatchObject({ field: 'sort' });
  });

  it('lists a live status in claim order through the live indexes', async () => {
    await courier.pool.query(`UPDATE ${courier.names.tasks} SET priority = 1 + id % 7, run_at = now() + make_interval(secs => 3600 + id % 13) WHERE status = 'queued'`);
    const { rows } = await courier.pool.query<{ id: string }>(`SELECT id FROM ${courier.names.tasks} WHERE status = 'queued' ORDER BY priority, run_at, id`);
    expect(await walk({ status: 'queued', sort: 'priority' }, 97)).toEqual(rows.map((r) => r.id));
  });
});

describe('counts on a big table', () => {
  it('are exact within the budget, and say so', async () => {
    const got = await countTasks(courier.pool, courier.names, { queue: 'odd' }, { budgetMs: 60_000 });
    const { rows } = await courier.pool.query<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM ${courier.names.tasks} WHERE queue = 'odd' GROUP BY status`);
    expect(got.approximate).toBe(false);
    for (const r of rows) expect(got.counts[r.status]).toBe(Number(r.n));
    expect(got.counts.total).toBe(rows.reduce((s, r) => s + Number(r.n), 0));
    expect(got.counts.delayed).toBe(got.counts.queued);
  });

  it('are the planner\'s estimates when exact counting is not allowed the time, flagged approximate', async () => {
    const got = await countTasks(courier.pool, courier.names, {}, { budgetMs: 0 });
    expect(got.approximate).toBe(true);
    // ANALYZE sampled the table: the estimates are near the truth (succeeded ~97%, queued 2%).
    expect(got.counts.total).toBeGreaterThan(ROWS * 0.8);
    expect(got.counts.total).toBeLessThan(ROWS * 1.2);
    expect(got.counts.succeeded).toBeGreaterThan(ROWS * 0.8);
    expect(got.counts.queued).toBeGreaterThan(ROWS * 0.01);
    expect(got.counts.queued).toBeLessThan(ROWS * 0.04);
    expect(got.counts.running).toBe(0);
    expect(Object.keys(got.counts)).toEqual(expect.arrayContaining(['waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'delayed', 'retrying', 'total']));
  });
});

describe('without pg_trgm', () => {
  it('migrates without the trigram index when the extension cannot be created, and search still finds by scanning', async () => {
    const tag = randomBytes(4).toString('hex');
    const db = `no_trgm_${tag}`;
    const role = `courier_${tag}`;
    const admin = testPool();
    await admin.query(`CREATE DATABASE ${db}`);
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw-${tag}'`);
    const url = new URL(databaseUrl());
    url.pathname = `/${db}`;
    // A client, not a pool: its end() resolves once the connection is closed, so the
    // forced DROP DATABASE below cannot terminate a connection that is still ending.
    const owner = new pg.Client({ connectionString: url.toString() });
    await owner.connect();
    let plain: Courier | undefined;
    try {
      // pg_trgm cannot be created in either place the migration tries: a function of its own name is in the way
      // (as where the server lacks the extension or the role may not create it).
      await owner.query(`GRANT CREATE ON DATABASE ${db} TO ${role}`);
      await owner.query(`CREATE SCHEMA courier AUTHORIZATION ${role}`);
      for (const schema of ['public', 'courier']) await owner.query(`CREATE FUNCTION ${schema}.show_trgm(text) RETURNS text[] LANGUAGE sql AS 'SELECT NULL::text[]'`);
      const asRole = new URL(url);
      asRole.username = role;
      asRole.password = `pw-${tag}`;
      plain = createCourier({ connectionString: asRole.toString(), schema: 'courier' });
      await plain.migrate();
      const { rows: ext } = await owner.query(`SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'`);
      expect(ext).toEqual([]);
      const { rows: idx } = await owner.query(`SELECT indexname FROM pg_indexes WHERE schemaname = 'courier' AND indexname IN ('tasks_search_idx', 'tasks_waiting_idx')`);
      expect(idx.map((r) => r.indexname)).toEqual(['tasks_waiting_idx']);
      await plain.pool.query(`INSERT INTO ${plain.names.tasks} (name, status, key, finished_at) VALUES ('x', 'succeeded', 'invoice-981', now()), ('x', 'failed', NULL, now())`);
      const page = await listTaskPage(plain.pool, plain.names, { search: 'INVOICE-98', limit: 10 });
      expect(page.rows.map((r) => r.key)).toEqual(['invoice-981']);
    } finally {
      await plain?.close();
      await owner.end();
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });
});
