import type pg from 'pg';
import { type PgQueryable, type Queryable, runPrepared } from '../db/pool.js';
import type { TaskRow } from '../task-info.js';

/** A claimed task: its row plus the lease token every later write must present. */
export type ClaimedTask = TaskRow & { lease_token: string; deferrals: number };

/** What to claim. */
export interface ClaimArgs {
  workerId: string;
  /** Task names this worker can run. */
  names: string[];
  /** Queues served, or `null` for all. */
  queues: string[] | null;
  /** Queues to leave alone (those with a cluster-wide concurrency cap, claimed separately). */
  exclude: string[];
  limit: number;
  /** Lease length in seconds. */
  lease: number;
}

/**
 * Claims up to `limit` runnable tasks in priority, run_at, id order, skipping rows
 * other workers hold and queues that are paused, and leases them to `workerId`.
 * `capped` limits the claim to what a queue's cluster-wide concurrency leaves free;
 * the caller must hold that queue's lock so the count it sees stays true.
 */
function claimSql(schema: string, capped: boolean): string {
  const t = `${schema}.tasks`;
  const limit = capped
    ? `least($4, greatest(0, $7 - (SELECT count(*) FROM ${t} WHERE status = 'running' AND queue = $6)))`
    : '$4';
  return `WITH picked AS (
       SELECT id FROM ${t} AS c
        WHERE status = 'queued' AND run_at <= now()
          AND name = ANY($2::text[])
          AND ($3::text[] IS NULL OR queue = ANY($3::text[]))
          AND ${capped ? 'queue = $6' : 'queue <> ALL($6::text[])'}
          AND NOT EXISTS (SELECT 1 FROM ${schema}.queues q WHERE q.name = c.queue AND q.paused)
        ORDER BY priority, run_at, id
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
     )
     UPDATE ${t} AS t
        SET status = 'running', attempts = t.attempts + 1, lease_token = gen_random_uuid(),
            locked_by = $1, locked_until = now() + make_interval(secs => $5),
            started_at = now(), updated_at = now()
       FROM picked
      WHERE t.id = picked.id
     RETURNING t.id, t.queue, t.name, t.payload, t.priority, t.status, t.attempts, t.deferrals, t.max_retries,
               t.retry_delay, t.timeout, t.run_at, t.key, t.lease_token, t.created_at, t.started_at`;
}

/** Claims one queued task by id, due or not (for `runTask` in tests). */
export async function claimTaskById(db: PgQueryable, schema: string, args: { workerId: string; id: string; lease: number }): Promise<ClaimedTask | undefined> {
  const t = `${schema}.tasks`;
  const { rows } = await runPrepared<ClaimedTask>(
    db,
    `UPDATE ${t}
        SET status = 'running', attempts = attempts + 1, lease_token = gen_random_uuid(),
            locked_by = $1, locked_until = now() + make_interval(secs => $3),
            started_at = now(), updated_at = now()
      WHERE id = $2 AND status = 'queued'
     RETURNING id, queue, name, payload, priority, status, attempts, deferrals, max_retries,
               retry_delay, timeout, run_at, key, lease_token, created_at, started_at`,
    [args.workerId, args.id, args.lease],
  );
  return rows[0];
}

/** Claims from every served queue except `exclude`. */
export async function claimTasks(db: Queryable, schema: string, args: ClaimArgs): Promise<ClaimedTask[]> {
  // Not prepared on purpose: a plan made for the actual names and queues keeps the
  // claim an ordered walk of the claim index; a generic plan can misjudge it.
  const { rows } = await db.query<ClaimedTask>(claimSql(schema, false), [
    args.workerId,
    args.names,
    args.queues,
    args.limit,
    args.lease,
    args.exclude,
  ]);
  return sortClaimed(rows);
}

/**
 * Claims from one queue whose running tasks are capped cluster-wide at
 * `concurrency`: a transaction-scoped advisory lock per queue serialises the
 * count-then-claim of all processes.
 */
export async function claimCappedTasks(
  pool: pg.Pool,
  schema: string,
  args: Omit<ClaimArgs, 'exclude'> & { queue: string; concurrency: number },
): Promise<ClaimedTask[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`pgcourier.queue:${schema}:${args.queue}`]);
    const { rows } = await client.query<ClaimedTask>(claimSql(schema, true), [
      args.workerId,
      args.names,
      args.queues,
      args.limit,
      args.lease,
      args.queue,
      args.concurrency,
    ]);
    await client.query('COMMIT');
    return sortClaimed(rows);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

// UPDATE … RETURNING does not keep the CTE's order.
function sortClaimed(rows: ClaimedTask[]): ClaimedTask[] {
  return rows.sort((a, b) => a.priority - b.priority || a.run_at.getTime() - b.run_at.getTime() || compareIds(a.id, b.id));
}

function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
