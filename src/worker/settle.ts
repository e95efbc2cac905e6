import { type PgQueryable, runPrepared } from '../db/pool.js';

/** How many error entries a task keeps. */
export const ERROR_HISTORY = 20;

/** A finished attempt, identified by task id and lease token. */
export interface Fence {
  id: string;
  token: string;
}

/** Outcome of an attempt, as written to the row. */
export type Settlement =
  | (Fence & { kind: 'succeeded'; result: string })
  | (Fence & { kind: 'retry'; delay: number; error: string })
  | (Fence & { kind: 'failed'; error: string })
  | (Fence & { kind: 'deferred'; delay: number; error: string | null })
  | (Fence & { kind: 'released'; error: string })
  | (Fence & { kind: 'postponed'; delay: number });

/** SQL that appends an error entry (`err`, an SQL expression) for the current attempt, keeping the last ERROR_HISTORY. */
export const appendError = (err: string) =>
  `CASE WHEN ${err} IS NULL THEN t.errors
        ELSE (CASE WHEN jsonb_array_length(t.errors) >= ${ERROR_HISTORY} THEN t.errors - 0 ELSE t.errors END)
             || jsonb_build_array(jsonb_build_object('attempt', t.attempts, 'message', ${err}, 'at', now())) END`;

/**
 * Marks attempts succeeded. Each row must still be `running` under the same lease
 * token; returns the ids that matched (the others lost their lease).
 */
export async function completeTasks(db: PgQueryable, table: string, items: Array<Fence & { result: string }>): Promise<Set<string>> {
  const { rows } = await runPrepared<{ id: string }>(
    db,
    `UPDATE ${table} AS t
        SET status = 'succeeded', result = v.result, finished_at = now(), updated_at = now(),
            locked_by = NULL, locked_until = NULL
       FROM unnest($1::bigint[], $2::uuid[], $3::jsonb[]) AS v(id, token, result)
      WHERE t.id = v.id AND t.lease_token = v.token AND t.status = 'running'
     RETURNING t.id`,
    [items.map((i) => i.id), items.map((i) => i.token), items.map((i) => i.result)],
  );
  return new Set(rows.map((r) => String(r.id)));
}

/**
 * Ends attempts that did not succeed, in one statement:
 * - `retry`: back to queued after `delay` seconds (the attempt counts);
 * - `failed`: final;
 * - `deferred`: back to queued after exactly `delay` seconds, not counted against max_retries;
 * - `released`: back to queued now, not counted against max_retries (the worker stopped);
 * - `postponed`: the handler never ran (no rate-limit grant): back to queued after
 *   `delay` seconds with the attempt number given back.
 * Attempt numbers stay unique per run either way.
 * Fenced like {@link completeTasks}; returns the ids that matched.
 */
export async function endAttempts(db: PgQueryable, table: string, items: Array<Exclude<Settlement, { kind: 'succeeded' }>>): Promise<Set<string>> {
  const { rows } = await runPrepared<{ id: string }>(
    db,
    `UPDATE ${table} AS t
        SET status = CASE WHEN v.kind = 'failed' THEN 'failed' ELSE 'queued' END,
            deferrals = CASE WHEN v.kind IN ('deferred', 'released') THEN t.deferrals + 1 ELSE t.deferrals END,
            attempts = CASE WHEN v.kind = 'postponed' THEN t.attempts - 1 ELSE t.attempts END,
            run_at = CASE WHEN v.kind = 'failed' THEN t.run_at ELSE now() + make_interval(secs => v.delay) END,
            finished_at = CASE WHEN v.kind = 'failed' THEN now() END,
            last_error = coalesce(v.error, t.last_error),
            errors = ${appendError('v.error')},
            locked_by = NULL, locked_until = NULL, updated_at = now()
       FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::float8[], $5::text[]) AS v(id, token, kind, delay, error)
      WHERE t.id = v.id AND t.lease_token = v.token AND t.status = 'running'
     RETURNING t.id`,
    [
      items.map((i) => i.id),
      items.map((i) => i.token),
      items.map((i) => i.kind),
      items.map((i) => ('delay' in i ? i.delay : 0)),
      items.map((i) => ('error' in i ? i.error : null)),
    ],
  );
  return new Set(rows.map((r) => String(r.id)));
}

/** Writes settlements, succeeded ones and the rest in one statement each. */
export async function settle(db: PgQueryable, table: string, items: Settlement[]): Promise<Set<string>> {
  const done = items.filter((i): i is Extract<Settlement, { kind: 'succeeded' }> => i.kind === 'succeeded');
  const ended = items.filter((i): i is Exclude<Settlement, { kind: 'succeeded' }> => i.kind !== 'succeeded');
  const [a, b] = await Promise.all([
    done.length ? completeTasks(db, table, done) : new Set<string>(),
    ended.length ? endAttempts(db, table, ended) : new Set<string>(),
  ]);
  return new Set([...a, ...b]);
}
