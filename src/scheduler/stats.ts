import type pg from 'pg';
import { quoteIdent } from '../db/pool.js';

/**
 * Re-analyses the task table when its statistics are stale (never analysed, or
 * many rows changed since). Without fresh statistics the planner can misjudge a
 * freshly filled table and sort every queued row on each claim instead of
 * walking the claim index. One process at a time (advisory lock); returns whether
 * it analysed.
 */
export async function analyzeIfStale(pool: pg.Pool, schema: string): Promise<boolean> {
  // Activity counters reach pg_stat with a delay; the table's size does not.
  const { rows } = await pool.query<{ live: string; modified: string; never: boolean; bytes: string }>(
    `SELECT n_live_tup AS live, n_mod_since_analyze AS modified,
            last_analyze IS NULL AND last_autoanalyze IS NULL AS never, pg_relation_size(relid) AS bytes
       FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'tasks'`,
    [schema],
  );
  const row = rows[0];
  if (!row) return false;
  const stale = (row.never && Number(row.bytes) > 65_536) || Number(row.modified) > Math.max(1000, 0.2 * Number(row.live));
  if (!stale) return false;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows: lock } = await client.query<{ won: boolean }>('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS won', [`pgcourier.analyze:${schema}`]);
    if (lock[0]?.won) await client.query(`ANALYZE ${quoteIdent(schema)}.tasks`);
    await client.query('COMMIT');
    return lock[0]?.won ?? false;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
