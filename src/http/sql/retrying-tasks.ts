import type pg from 'pg';
import { quoteIdent } from '../../db/pool.js';
import type { TaskRow } from '../../task-info.js';

/** Queued tasks whose last attempt failed (waiting for their backoff), newest first. */
export async function retryingTasks(pool: pg.Pool, schema: string, limit: number): Promise<TaskRow[]> {
  const { rows } = await pool.query<TaskRow>(
    `SELECT *
       FROM ${quoteIdent(schema)}.tasks
      WHERE status = 'queued' AND attempts > 0 AND last_error IS NOT NULL
      ORDER BY id DESC
      LIMIT $1`,
    [limit],
  );
  return rows;
}
