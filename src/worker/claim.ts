import type pg from 'pg';
import type { SqlNames } from '../db/names.js';
import { inTransaction, type PgQueryable, type Queryable, runPrepared } from '../db/pool.js';
import { notMigratedError } from '../db/schema-guard.js';
import { retriesLeftSql } from '../db/task-sql.js';

/**
 * A claimed task: only what running and settling it needs. Every claim statement
 * leases its tasks under one fresh `token`; later writes for the attempt match
 * `id AND token AND status = 'running'`.
 */
export interface ClaimedTask {
  id: string;
  name: string;
  queue: string;
  payload: unknown;
  /** This attempt's number (1-based). */
  attempt: number;
  /** Retries left if this attempt fails (`<= 0`: it fails for good). */
  retriesLeft: number;
  /** Base of the backoff, seconds. */
  retryDelay: number;
  /** Seconds the handler may run, or null. */
  timeout: number | null;
  /** Backoff curve given at enqueue, or null for the definition's. */
  backoff: 'exponential' | 'linear' | 'fixed' | null;
  /** Longest delay between attempts given at enqueue, or null. */
  maxDelay: number | null;
  /** The lease token of this attempt. */
  token: string;
  /** The task's group, set by the flow claim only (for the per-group rate limit). */
  group?: string | null;
}

/** What to claim. */
export interface ClaimArgs {
  workerId: string;
  /** Task names this worker has handlers for. */
  names: string[];
  /** Queues served, or `null` for all. */
  queues: string[] | null;
  /** Queues to leave alone (those with a cluster-wide concurrency cap, claimed separately). */
  exclude: string[];
  limit: number;
  /** Lease length in seconds. */
  lease: number;
  /** The lease token of this claim. */
  token: string;
}

/** A claimed row's columns after its attempt number, as {@link ClaimedTask} names them. */
const AFTER_ATTEMPT = `retries_left AS "retriesLeft", retry_delay AS "retryDelay", timeout, backoff, max_delay AS "maxDelay"`;
const COLUMNS = `id, name, queue, payload, attempts AS attempt, ${AFTER_ATTEMPT}`;

/**
 * Claims up to `limit` runnable tasks of one queue whose running tasks are capped
 * cluster-wide (`$6`) at `$8`, in priority, run_at, id order, skipping rows other
 * workers hold and leaving the queue alone while it is paused; leases them to
 * `$1`. The caller must hold that queue's lock so the count it sees stays true.
 * Grouped and sequenced rows are the flow claim's ({@link claimFlowTasks}); the
 * claim index leaves them out, and so does this statement. Planned for each call;
 * the plain claim, `claim_tasks()` of migration 046, has the same shape (change both
 * together). The rows come back in claim order (UPDATE … RETURNING alone does not
 * keep it). The UPDATE finds the picked rows through the primary key
 * (`id = ANY(ARRAY(…))`): joined to the CTE instead, the planner may hash-join it
 * against a scan of the whole table. Paused queues are left out through a hashed
 * subplan (`NOT IN`), not a join: with no statistics yet, Postgres 18 hash-joined
 * every queued row to the queues table and sorted them all (2.7 s for a 60-task
 * claim on 1,000,000 rows).
 */
function cappedClaimSql(names: SqlNames): string {
  const t = names.tasks;
  return `WITH picked AS (
       SELECT id FROM ${t} AS c
        WHERE status = 'queued' AND run_at <= now()
          AND group_key IS NULL AND sequence_key IS NULL
          AND name = ANY($2::text[])
          AND ($3::text[] IS NULL OR queue = ANY($3::text[]))
          AND queue = $6
          AND queue NOT IN (SELECT name FROM ${names.queues} WHERE paused)
        ORDER BY priority, run_at, id
        LIMIT least($4, greatest(0, $8 - (SELECT count(*) FROM ${t} WHERE status = 'running' AND queue = $6)))
        FOR UPDATE SKIP LOCKED
     ), claimed AS (
     UPDATE ${t} AS t
        SET status = 'running', attempts = t.attempts + 1, lease_token = $7::uuid,
            locked_by = $1, locked_until = now() + make_interval(secs => $5),
            started_at = now(), updated_at = now()
      WHERE t.id = ANY (ARRAY(SELECT id FROM picked))
     RETURNING t.id, t.name, t.queue, t.payload, t.attempts, ${retriesLeftSql('t')} AS retries_left,
               t.retry_delay, t.timeout, t.backoff, t.max_delay, t.priority, t.run_at
     )
     SELECT ${COLUMNS} FROM claimed ORDER BY priority, run_at, id`;
}

function withToken(rows: ClaimedTask[], token: string): ClaimedTask[] {
  for (const row of rows) row.token = token;
  return rows;
}

/** Claims one queued task by id, due or not (for `runTaskNow` and tests). */
export async function claimTaskById(
  db: PgQueryable,
  names: SqlNames,
  args: { workerId: string; id: string; lease: number; token: string },
): Promise<ClaimedTask | undefined> {
  const { rows } = await runPrepared<ClaimedTask>(
    db,
    `WITH claimed AS (
       UPDATE ${names.tasks} AS t
          SET status = 'running', attempts = t.attempts + 1, lease_token = $4::uuid,
              locked_by = $1, locked_until = now() + make_interval(secs => $3),
              started_at = now(), updated_at = now()
        WHERE t.id = $2 AND t.status = 'queued'
       RETURNING t.id, t.name, t.queue, t.payload, t.attempts, ${retriesLeftSql('t')} AS retries_left, t.retry_delay, t.timeout, t.backoff, t.max_delay
     )
     SELECT ${COLUMNS} FROM claimed`,
    [args.workerId, args.id, args.lease, args.token],
  );
  return withToken(rows, args.token)[0];
}

/**
 * Claims up to `limit` runnable tasks of every served queue except `exclude`, in
 * priority, run_at, id order, skipping rows other workers hold and queues that are
 * paused, and leases them to `workerId`: one call of `claim_tasks()` (migration
 * 046), whose cached generic plan is an ordered walk of the claim index whatever
 * the table's statistics say.
 */
export async function claimTasks(db: PgQueryable, names: SqlNames, args: ClaimArgs): Promise<ClaimedTask[]> {
  const { rows } = await runPrepared<ClaimedTask>(
    db,
    `SELECT id, name, queue, payload, attempt, ${AFTER_ATTEMPT}
       FROM ${names.schema}.claim_tasks($1, $2::text[], $3::text[], $4, $5, $6::text[], $7::uuid)`,
    [args.workerId, args.names, args.queues, args.limit, args.lease, args.exclude, args.token],
  ).catch((err: unknown) => {
    throw notMigratedError(err, names.schemaName) ?? err; // a schema migrated before 046
  });
  return withToken(rows, args.token);
}

/**
 * Claims from one queue whose running tasks are capped cluster-wide at
 * `concurrency`: a transaction-scoped advisory lock per queue serialises the
 * count-then-claim of all processes.
 */
export async function claimCappedTasks(
  pool: pg.Pool,
  names: SqlNames,
  args: Omit<ClaimArgs, 'exclude'> & { queue: string; concurrency: number },
): Promise<ClaimedTask[]> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`pgcourier.queue:${names.schemaName}:${args.queue}`]);
    const { rows } = await client.query<ClaimedTask>(cappedClaimSql(names), [
      args.workerId,
      args.names,
      args.queues,
      args.limit,
      args.lease,
      args.queue,
      args.token,
      args.concurrency,
    ]);
    return withToken(rows, args.token);
  });
}

/** How to claim from one queue that has groups or sequences (see migrations/013). */
export interface FlowClaimArgs extends Omit<ClaimArgs, 'exclude' | 'queues'> {
  queue: string;
  /** Cap of a group without a tier cap, or null for none. */
  groupCap: number | null;
  /** Caps per tier, or null. */
  tiers: Record<string, number> | null;
  /** Rotate among groups (else priority, run_at, id order). */
  fair: boolean;
  /** The queue's cluster-wide cap, or null. */
  queueCap: number | null;
}

/**
 * Claims due tasks of the groups and sequences of one queue through the SQL
 * function `claim_flow_tasks`: it locks the flow rows it serves (skipping those
 * other claimers hold) and then counts and picks under those locks, so group caps
 * and sequence order hold across processes. One round trip.
 */
export async function claimFlowTasks(db: Queryable, names: SqlNames, args: FlowClaimArgs): Promise<ClaimedTask[]> {
  const { rows } = await db.query<ClaimedTask & { group_key: string | null }>(
    `SELECT id, name, queue, payload, attempt, retries_left AS "retriesLeft", retry_delay AS "retryDelay", timeout, backoff,
            max_delay AS "maxDelay", group_key
       FROM ${names.schema}.claim_flow_tasks($1, $2::text[], $3, $4, $5, $6::uuid, $7, $8::jsonb, $9, $10, $11)`,
    [
      args.queue,
      args.names,
      args.limit,
      args.workerId,
      args.lease,
      args.token,
      args.groupCap,
      args.tiers === null ? null : JSON.stringify(args.tiers),
      args.fair,
      args.queueCap,
      `pgcourier.queue:${names.schemaName}:${args.queue}`,
    ],
  );
  for (const row of rows) {
    row.id = String(row.id);
    row.group = row.group_key;
    row.token = args.token;
  }
  return rows;
}
