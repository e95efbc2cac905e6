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
 * The `status = 'running'` fence of a statement that names its rows by id. It is
 * compared under the "C" collation (text equality is the same under every
 * deterministic collation) so that Postgres cannot infer the predicate of
 * `tasks_running_idx` from it: the rows are then found through the primary key,
 * never by walking the running index, which holds an entry for every task claimed
 * since the last vacuum (hundreds of thousands on a busy table; with statistics
 * that predate them, a 500-task completion walked all of them).
 */
export const runningFenceSql = (t: string) => `${t}.status = 'running' COLLATE "C"`;

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
