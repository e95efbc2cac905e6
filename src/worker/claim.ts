import type { Queryable } from '../db/pool.js';
import type { TaskRow } from '../task-info.js';

/** A claimed task: its row plus the lease token every later write must present. */
export type ClaimedTask = TaskRow & { lease_token: string; deferrals: number };

/**
 * Claims up to `limit` runnable tasks in priority, run_at, id order, skipping rows
 * other workers hold, and leases them to `workerId` for `lease` seconds. Only task
 * names this worker can run, from the queues it serves (all when `queues` is null).
 */
export async function claimTasks(
  db: Queryable,
  table: string,
  args: { workerId: string; names: string[]; queues: string[] | null; limit: number; lease: number },
): Promise<ClaimedTask[]> {
  const { rows } = await db.query<ClaimedTask>(
    `WITH picked AS (
       SELECT id FROM ${table}
        WHERE status = 'queued' AND run_at <= now()
          AND name = ANY($2::text[])
          AND ($3::text[] IS NULL OR queue = ANY($3::text[]))
        ORDER BY priority, run_at, id
        LIMIT $4
        FOR UPDATE SKIP LOCKED
     )
     UPDATE ${table} AS t
        SET status = 'running', attempts = t.attempts + 1, lease_token = gen_random_uuid(),
            locked_by = $1, locked_until = now() + make_interval(secs => $5),
            started_at = now(), updated_at = now()
       FROM picked
      WHERE t.id = picked.id
     RETURNING t.id, t.queue, t.name, t.payload, t.priority, t.status, t.attempts, t.deferrals, t.max_retries,
               t.retry_delay, t.timeout, t.run_at, t.key, t.lease_token, t.created_at, t.started_at`,
    [args.workerId, args.names, args.queues, args.limit, args.lease],
  );
  // UPDATE … RETURNING does not keep the CTE's order.
  return rows.sort((a, b) => a.priority - b.priority || a.run_at.getTime() - b.run_at.getTime() || compareIds(a.id, b.id));
}

function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
