import type { Queryable } from '../db/pool.js';
import { appendError } from './settle.js';

const LEASE_LOST = `'lease expired: worker ' || coalesce(t.locked_by, '?') || ' stopped renewing it'`;

/**
 * Returns tasks whose lease expired (their worker died or hung) to `queued`, or
 * fails them when that lost attempt was their last. The claim already counted
 * the attempt. Runs only if this session wins the schema's rescue advisory lock,
 * so concurrent workers never rescue twice; lock and update are one statement.
 */
export async function rescueExpiredLeases(db: Queryable, table: string, lockKey: string, limit = 1000): Promise<Array<{ id: string; status: string }>> {
  const { rows } = await db.query<{ id: string; status: string }>(
    `WITH lock AS (SELECT pg_try_advisory_xact_lock(hashtext($1)) AS won),
     expired AS (
       SELECT id FROM ${table}
        WHERE status = 'running' AND locked_until < now() AND (SELECT won FROM lock)
        ORDER BY locked_until
        LIMIT $2
        FOR UPDATE SKIP LOCKED
     )
     UPDATE ${table} AS t
        SET status = CASE WHEN t.attempts - t.deferrals > t.max_retries THEN 'failed' ELSE 'queued' END,
            finished_at = CASE WHEN t.attempts - t.deferrals > t.max_retries THEN now() END,
            run_at = now(),
            last_error = ${LEASE_LOST},
            errors = ${appendError(LEASE_LOST)},
            locked_by = NULL, locked_until = NULL, updated_at = now()
       FROM expired
      WHERE t.id = expired.id
     RETURNING t.id, t.status`,
    [lockKey, limit],
  );
  return rows.map((r) => ({ id: String(r.id), status: r.status }));
}
