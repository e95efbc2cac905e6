import type pg from 'pg';
import { z } from 'zod';
import { parse, queueNameSchema, taskNameSchema } from '../config.js';
import type { SqlNames } from '../db/names.js';
import type { Queryable } from '../db/pool.js';
import { ConflictError } from '../errors.js';

/**
 * Which dead-lettered tasks {@link Courier.redrive} moves back; every field
 * narrows, and `{}` takes them all.
 */
export interface RedriveFilter {
  /** One task. */
  id?: string;
  /** These tasks. */
  ids?: string[];
  /** Only tasks in this dead-letter queue. */
  deadLetter?: string;
  /** Only tasks that came from (and go back to) this queue. */
  queue?: string;
  /** Only tasks of this name. */
  name?: string;
  /** At most this many, oldest first (default and maximum 10000 per call). */
  limit?: number;
}

const taskId = z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be a task id (a string of digits)');

export const redriveFilterSchema = z
  .object({
    id: taskId.optional(),
    ids: z.array(taskId, 'must be an array of task ids').max(10_000, 'must hold at most 10000 ids').optional(),
    deadLetter: queueNameSchema.optional(),
    queue: queueNameSchema.optional(),
    name: taskNameSchema.optional(),
    limit: z.int('must be an integer from 1 to 10000').min(1, 'must be an integer from 1 to 10000').max(10_000, 'must be an integer from 1 to 10000').optional(),
  }, 'must be an object')
  .strict();

/** Dead-lettered tasks a filter matches: $1 ids, $2 dead-letter queue, $3 origin queue, $4 name. */
const MATCHES = `dead_from IS NOT NULL AND status = 'failed'
            AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[]))
            AND ($2::text IS NULL OR queue = $2)
            AND ($3::text IS NULL OR dead_from = $3)
            AND ($4::text IS NULL OR name = $4)`;

function filterParams(filter: RedriveFilter): [string[] | null, string | null, string | null, string | null, number] {
  const f = parse(redriveFilterSchema, filter ?? {}, 'redrive');
  const ids = f.id !== undefined ? [f.id, ...(f.ids ?? [])] : (f.ids ?? null);
  return [ids, f.deadLetter ?? null, f.queue ?? null, f.name ?? null, f.limit ?? 10_000];
}

/** How many dead-lettered tasks {@link redrive} would move with this filter now (at most its `limit`). */
export async function countRedrivable(db: Queryable, names: SqlNames, filter: RedriveFilter = {}): Promise<number> {
  const params = filterParams(filter);
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 FROM ${names.tasks} WHERE ${MATCHES} LIMIT $5) AS m`, params);
  return rows[0]?.n ?? 0;
}

/**
 * Moves dead-lettered tasks (failed for good, then moved to their queue's
 * `deadLetter` queue) back to the queue they came from, to run again now with
 * their attempt count reset; their error history is kept. One statement; returns
 * how many moved and wakes the queues' workers.
 */
export async function redrive(pool: pg.Pool, names: SqlNames, filter: RedriveFilter = {}): Promise<number> {
  const params = filterParams(filter);
  try {
    const { rows } = await pool.query<{ n: string }>(
      `WITH picked AS (
         SELECT id FROM ${names.tasks}
          WHERE ${MATCHES}
          ORDER BY id
          LIMIT $5
          FOR UPDATE SKIP LOCKED
       ), moved AS (
         UPDATE ${names.tasks} AS t
            SET queue = t.dead_from, dead_from = NULL, status = 'queued', attempts = 0, deferrals = 0,
                run_at = now(), finished_at = NULL, locked_by = NULL, locked_until = NULL, updated_at = now()
          WHERE t.id IN (SELECT id FROM picked)
         RETURNING t.queue
       ), woke AS (
         SELECT pg_notify($6, q.queue) FROM (SELECT DISTINCT queue FROM moved) AS q
       )
       SELECT (SELECT count(*) FROM moved) AS n, (SELECT count(*) FROM woke) AS w`,
      [...params, names.channel],
    );
    return Number(rows[0]?.n ?? 0);
  } catch (err) {
    if ((err as { code?: string }).code === '23505') {
      throw new ConflictError('redrive: a task to move back has the same key as a task that is queued or running; redrive the others by id, or cancel that task first');
    }
    throw err;
  }
}
