import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/db/connections.js';
import { type Courier, createCourier } from '../../src/index.js';
import { VACUUM_CHECK_CLAIMS, VACUUM_DEAD_ROWS, VacuumWatch, vacuumIfBloated } from '../../src/maintenance/vacuum.js';
import { silentLogger } from '../../src/silent-logger.js';
import { databaseUrl, freshSchema, testPool, waitFor } from '../helpers/db.js';

// A database of this file's own: what a vacuum may remove depends on the oldest
// transaction of any session of the same database, and other test files run beside.
const database = `vacuum_${randomBytes(4).toString('hex')}`;
const url = new URL(databaseUrl());
url.pathname = `/${database}`;
const admin = testPool();
beforeAll(async () => {
  await admin.query(`CREATE DATABASE ${database}`);
});
afterAll(async () => {
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.end();
});

const open: Courier[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close({ grace: 0 })));
});

/** A migrated courier whose task table autovacuum leaves alone, so every vacuum seen here is the worker's. */
async function make({ autovacuum = false } = {}): Promise<Courier> {
  const c = createCourier({ connectionString: url.toString(), schema: freshSchema() });
  open.push(c);
  await c.migrate();
  if (!autovacuum) await c.pool.query(`ALTER TABLE ${c.names.tasks} SET (autovacuum_enabled = false)`);
  return c;
}

async function tableStats(c: Courier): Promise<{ dead: number; vacuums: number }> {
  const { rows } = await c.pool.query(`SELECT n_dead_tup AS dead, vacuum_count AS vacuums FROM pg_stat_user_tables WHERE relid = '${c.names.tasks}'::regclass`);
  return { dead: Number(rows[0].dead), vacuums: Number(rows[0].vacuums) };
}

/**
 * Leaves `n` dead rows in the task table, each with a dead entry in the claim index
 * (queued rows, then deleted), and waits until the statistics count them: a backend
 * reports its counts at most once a second, so the same connection polls.
 */
async function deadQueuedRows(c: Courier, n: number): Promise<void> {
  const client = await c.pool.connect();
  try {
    await client.query(`INSERT INTO ${c.names.tasks} (name, payload) SELECT 'gone', '{}' FROM generate_series(1, $1)`, [n]);
    await client.query(`DELETE FROM ${c.names.tasks} WHERE name = 'gone'`);
    await waitFor(async () => {
      await new Promise((r) => setTimeout(r, 200));
      const { rows } = await client.query(`SELECT n_dead_tup AS dead FROM pg_stat_user_tables WHERE relid = '${c.names.tasks}'::regclass`);
      return Number(rows[0].dead) >= n;
    }, 15_000, `${n} dead rows in the statistics`);
  } finally {
    client.release();
  }
}

/** Index pages an empty claim reads: the walk over the claim index's dead entries. */
async function claimWalkPages(c: Courier): Promise<number> {
  const client = await c.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL enable_seqscan = off');
    await client.query('SET LOCAL enable_sort = off');
    const { rows } = await client.query(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT id FROM ${c.names.tasks}
        WHERE status = 'queued' AND run_at <= now() AND group_key IS NULL AND sequence_key IS NULL
        ORDER BY priority, run_at, id LIMIT 10 FOR UPDATE SKIP LOCKED`,
    );
    return rows[0]['QUERY PLAN'][0].Plan['Shared Hit Blocks'] + rows[0]['QUERY PLAN'][0].Plan['Shared Read Blocks'];
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

describe('the task table’s upkeep', () => {
  it('the task table has its own autovacuum settings and is never truncated by a vacuum', async () => {
    const c = await make({ autovacuum: true });
    const { rows } = await c.pool.query(`SELECT reloptions FROM pg_class WHERE oid = '${c.names.tasks}'::regclass`);
    expect(rows[0].reloptions).toEqual(
      expect.arrayContaining(['autovacuum_vacuum_scale_factor=0.01', 'autovacuum_vacuum_cost_delay=0', 'vacuum_truncate=false']),
    );
  });

  it('vacuumIfBloated vacuums past the threshold, and the claim no longer walks the dead entries', async () => {
    const c = await make();
    await deadQueuedRows(c, 20_000);
    const walkBefore = await claimWalkPages(c);
    expect(walkBefore).toBeGreaterThan(40);
    const before = await tableStats(c);

    const below = await vacuumIfBloated(c.pool, c.names, 0, 50_000);
    expect(below).toMatchObject({ vacuumed: false, permitted: true });
    // Past the threshold, but not past it beyond what the last vacuum left.
    expect(await vacuumIfBloated(c.pool, c.names, 15_000, 10_000)).toMatchObject({ vacuumed: false });
    expect((await tableStats(c)).vacuums).toBe(before.vacuums);

    const done = await vacuumIfBloated(c.pool, c.names, 0, 10_000);
    expect(done).toMatchObject({ vacuumed: true, permitted: true });
    expect(done.dead).toBeGreaterThanOrEqual(20_000);
    // Before Postgres 15 a vacuum's counts reach the statistics a moment later, so `left` may still be the old count.
    expect(done.left).toBeLessThanOrEqual(done.dead);
    await waitFor(async () => {
      const after = await tableStats(c);
      return after.vacuums === before.vacuums + 1 && after.dead < 1000;
    }, 5000, 'one vacuum, and the dead rows gone from the statistics');
    expect(await claimWalkPages(c)).toBeLessThan(5);
  });

  it('the vacuum pauses at autovacuum’s pace, and the setting does not go back into the pool with its connection', async () => {
    const c = await make();
    await deadQueuedRows(c, 20_000);
    const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
    try {
      const pid = (await pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      let settled = false;
      const vacuum = vacuumIfBloated(pool, c.names, 0, 1).finally(() => {
        settled = true;
      });
      // An unthrottled vacuum never waits on `VacuumDelay`; a throttled one spends most of its time there.
      const waits = new Set<string>();
      while (!settled) {
        const { rows } = await admin.query('SELECT wait_event FROM pg_stat_activity WHERE pid = $1 AND query LIKE $2', [pid, 'VACUUM%']);
        if (rows[0]?.wait_event) waits.add(rows[0].wait_event);
      }
      expect(await vacuum).toMatchObject({ vacuumed: true });
      expect([...waits]).toContain('VacuumDelay');
      const after = await pool.query('SELECT pg_backend_pid() AS pid, current_setting($1) AS delay', ['vacuum_cost_delay']);
      expect(after.rows[0]).toEqual({ pid, delay: '0' });
    } finally {
      await pool.end();
    }
  });

  it('a vacuum whose connection is cut fails with that error, and the pool goes on with a fresh connection', async () => {
    const c = await make();
    await deadQueuedRows(c, 20_000);
    // The worker's kind of pool, whose connections report their loss instead of throwing it.
    const pool = createPool(url.toString(), silentLogger(), 1);
    try {
      const pid = (await pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      const vacuum = vacuumIfBloated(pool, c.names, 0, 1).then(
        () => undefined,
        (err: Error) => err,
      );
      await waitFor(async () => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE $2', [pid, 'VACUUM%'])).rowCount === 1, 10_000, 'the vacuum to run');
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      // The vacuum's own failure, not the reset's that follows it on the dead connection.
      expect((await vacuum)?.message).toMatch(/terminat/i);
      const after = await pool.query('SELECT pg_backend_pid() AS pid, current_setting($1) AS delay', ['vacuum_cost_delay']);
      expect(after.rows[0].pid).not.toBe(pid);
      expect(after.rows[0].delay).toBe('0');
    } finally {
      await pool.end();
    }
  });

  it('a role that does not own the table does not vacuum it, and says so', async () => {
    const c = await make();
    await deadQueuedRows(c, 2_000);
    const tag = randomBytes(4).toString('hex');
    const role = `vacuum_${tag}`;
    const asRole = new URL(url);
    asRole.username = role;
    asRole.password = `pw-${tag}`;
    const pool = new pg.Pool({ connectionString: asRole.toString(), max: 1 });
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw-${tag}'`);
      await c.pool.query(`GRANT USAGE ON SCHEMA ${c.names.schema} TO ${role}`);
      const before = await tableStats(c);
      expect(await vacuumIfBloated(pool, c.names, 0, 1)).toMatchObject({ vacuumed: false, permitted: false });
      expect((await tableStats(c)).vacuums).toBe(before.vacuums);
    } finally {
      await pool.end();
      await c.pool.query(`DROP OWNED BY ${role}`);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
    }
  });

  it(`a busy worker vacuums the table once ${VACUUM_DEAD_ROWS.toLocaleString('en-US')} dead rows have piled up, after ${VACUUM_CHECK_CLAIMS.toLocaleString('en-US')} claims`, async () => {
    const c = await make();
    await deadQueuedRows(c, VACUUM_DEAD_ROWS);
    const walkBefore = await claimWalkPages(c);
    expect(walkBefore, 'index pages an empty claim walks before').toBeGreaterThan(200);
    const before = await tableStats(c);
    let ran = 0;
    c.registerTask('noop', () => void ran++);
    await c.start({ concurrency: 10 });
    // Fewer claims than a check needs: the worker does not look.
    await c.enqueueMany(Array.from({ length: VACUUM_CHECK_CLAIMS / 2 }, () => ({ name: 'noop', payload: {} })));
    await waitFor(() => ran === VACUUM_CHECK_CLAIMS / 2, 30_000, 'the first half');
    expect((await tableStats(c)).vacuums, 'vacuums after the first half').toBe(before.vacuums);
    await c.enqueueMany(Array.from({ length: VACUUM_CHECK_CLAIMS / 2 }, () => ({ name: 'noop', payload: {} })));
    await waitFor(() => ran === VACUUM_CHECK_CLAIMS, 30_000, 'the second half');
    await waitFor(async () => (await tableStats(c)).vacuums === before.vacuums + 1, 15_000, 'the worker’s vacuum');
    // The dead rows from before are gone; entries of the last claims may stay, if a
    // statement of the worker's that began before they were claimed still ran.
    expect(await claimWalkPages(c), 'index pages an empty claim walks after').toBeLessThan(walkBefore / 4);
  });

  it('after a failed vacuum the watch waits before it tries again, instead of failing every second of a drain', async () => {
    const c = await make();
    await deadQueuedRows(c, VACUUM_DEAD_ROWS);
    // A real failure: a role whose statement_timeout is shorter than the vacuum of 100,000 dead rows.
    const timingOut = new pg.Pool({ connectionString: url.toString(), max: 1, options: '-c statement_timeout=5' });
    const errors: Error[] = [];
    const watch = new VacuumWatch({ pool: timingOut, names: c.names, onVacuumed: () => {}, onError: (err) => errors.push(err) });
    try {
      watch.claimed(VACUUM_CHECK_CLAIMS);
      await watch.stop();
      expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/statement timeout/)]);
      // Past the one-second spacing of looks, with enough claims again: still no second try.
      await new Promise((r) => setTimeout(r, 1100));
      watch.claimed(VACUUM_CHECK_CLAIMS);
      await watch.stop();
      expect(errors).toHaveLength(1);
    } finally {
      await timingOut.end();
    }
  });
});
