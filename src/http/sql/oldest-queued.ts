import type pg from 'pg';
import { quoteIdent } from '../../db/pool.js';

/**
 * `run_at` of the oldest task that is due and still waiting, per queue: how long
 * the backlog has waited. Delayed tasks (run_at in the future) are not waiting.
 */
export async function oldestQueuedAt(pool: pg.Pool, schema: string): Promise<Map<string, Date>> {
  const { rows } = await pool.query<{ queue: string; oldest: Date }>(
    `SELECT queue, min(run_at) AS oldest
       FROM ${quoteIdent(schema)}.tasks
      WHERE status = 'queued' AND run_at <= now()
      GROUP BY queue`,
  );
  return new Map(rows.map((r) => [r.queue, r.oldest]));
}
