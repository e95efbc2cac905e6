/**
 * SQL fragments about a task row that several statements share, written once.
 * `t` is the alias of the task row in the statement.
 */

/** How many error entries a task keeps. */
export const ERROR_HISTORY = 20;

/**
 * Retries left if the current attempt fails: `1 + max_retries` counted runs are
 * allowed, and runs that were deferred (`retryAfter`) or released (shutdown) do not
 * count. The current attempt is already in `attempts`, so `<= 0` means "fail".
 */
export const retriesLeftSql = (t: string) => `(1 + ${t}.max_retries - (${t}.attempts - ${t}.deferrals))`;

/**
 * The leading `unnest` arguments of a fenced batch write, aliased `id, token,
 * running`: `$1` the task ids, `$2` their lease tokens, and a column of `'running'`
 * for {@link batchFenceSql}. Follow them with the statement's own arrays.
 */
export const BATCH_FENCE_COLUMNS = `$1::bigint[], $2::uuid[], array_fill('running'::text, ARRAY[cardinality($1::bigint[])])`;

/**
 * The WHERE of a fenced batch write joining task row `t` to `v`, unnested from
 * {@link BATCH_FENCE_COLUMNS}: the row must still run under the attempt's lease.
 * Rows are named by `t.id = ANY($1)` as well as through the join, so they are found
 * through the primary key. `status` is compared with the unnested `running` column,
 * a join clause rather than a condition on the row alone, which matters twice:
 * Postgres cannot match it to the predicate of `tasks_running_idx` (an entry for
 * every task claimed since the last vacuum, all of which a 500-task completion once
 * walked), and it does not shrink its estimate of the rows `t.id = ANY($1)` finds
 * to one, which planned the join as a nested loop that rescanned the whole batch
 * for every row (5.7 ms of a 122-task completion under steady load, against 0.4 ms
 * hashed).
 */
export const batchFenceSql = (t: string, v: string) =>
  `${t}.id = ANY($1::bigint[]) AND ${t}.id = ${v}.id AND ${t}.lease_token = ${v}.token AND ${t}.status = ${v}.running`;

/**
 * SET clauses that move a task failing for good (`failing`, an SQL condition) to
 * its queue's dead-letter queue, keeping the queue it came from in `dead_from`
 * (docs/decisions/0008). Part of every statement that fails tasks, so failing and
 * dead-lettering are one state change; rows that do not fail keep their queue.
 */
export const deadLetterSetSql = (t: string, queues: string, failing: string) => {
  const target = `(SELECT q.dead_letter FROM ${queues} q WHERE q.name = ${t}.queue AND q.dead_letter <> ${t}.queue AND ${t}.dead_from IS NULL)`;
  return `queue = CASE WHEN ${failing} THEN coalesce(${target}, ${t}.queue) ELSE ${t}.queue END,
            dead_from = CASE WHEN ${failing} AND ${target} IS NOT NULL THEN ${t}.queue ELSE ${t}.dead_from END`;
};

/**
 * Appends an error entry `{ attempt, message, stack?, at, startedAt?, worker? }` for the current attempt
 * (`message` and `stack` are SQL expressions; nothing is appended when `message`
 * is NULL), keeping the last {@link ERROR_HISTORY}.
 */
export const appendErrorSql = (t: string, message: string, stack = 'NULL::text') =>
  `CASE WHEN ${message} IS NULL THEN ${t}.errors
        ELSE (CASE WHEN jsonb_array_length(${t}.errors) >= ${ERROR_HISTORY} THEN ${t}.errors - 0 ELSE ${t}.errors END)
             || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object('attempt', ${t}.attempts, 'message', ${message}, 'stack', ${stack}, 'at', now(),
                                                                 'startedAt', ${t}.started_at, 'worker', ${t}.locked_by))) END`;
