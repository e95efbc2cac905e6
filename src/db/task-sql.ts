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
 * Appends an error entry `{ attempt, message, stack?, at, startedAt?, worker? }` for the current attempt
 * (`message` and `stack` are SQL expressions; nothing is appended when `message`
 * is NULL), keeping the last {@link ERROR_HISTORY}.
 */
export const appendErrorSql = (t: string, message: string, stack = 'NULL::text') =>
  `CASE WHEN ${message} IS NULL THEN ${t}.errors
        ELSE (CASE WHEN jsonb_array_length(${t}.errors) >= ${ERROR_HISTORY} THEN ${t}.errors - 0 ELSE ${t}.errors END)
             || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object('attempt', ${t}.attempts, 'message', ${message}, 'stack', ${stack}, 'at', now(),
                                                                 'startedAt', ${t}.started_at, 'worker', ${t}.locked_by))) END`;
