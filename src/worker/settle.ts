import { announceSql, IDS_PER_NOTIFICATION } from '../db/announce.js';
import type { SqlNames } from '../db/names.js';
import { type PgQueryable, runPlanned } from '../db/pool.js';
import { appendErrorSql, BATCH_FENCE_COLUMNS, batchFenceSql, deadLetterSetSql } from '../db/task-sql.js';

/** A finished attempt, identified by task id and lease token. */
export interface Fence {
  id: string;
  token: string;
}

/** An error of an attempt as stored: a one-line message and, where there is one, a bounded stack. */
export interface AttemptError {
  error: string;
  stack?: string | undefined;
}

/** The traceparent of a traced attempt's consumer span, stored as `run_traceparent` for its dependents' span links (tracing.ts). */
export interface RunSpan {
  runSpan?: string | undefined;
}

/** Outcome of an attempt, as written to the row. `result` is JSON text, or null for none. */
export type Settlement =
  | (Fence & RunSpan & { kind: 'succeeded'; result: string | null })
  | (Fence & AttemptError & { kind: 'retry'; delay: number })
  | (Fence & AttemptError & RunSpan & { kind: 'failed' })
  | (Fence & { kind: 'deferred'; delay: number; error: string | null })
  | (Fence & { kind: 'released'; error: string })
  | (Fence & { kind: 'postponed'; delay: number });

// Every fenced batch write finds its rows through the primary key and the lease
// fence of db/task-sql.ts (batchFenceSql); joined only, the planner hash-joins the
// batch against every running row, costing twice as much.
//
// Both statements announce what they wrote on the events channel (db/announce.ts)
// in the same statement: one notification per kind and 250 tasks, carrying ids,
// attempt numbers and the publishing worker's id only, sent at commit and never for an unmatched fence.
//
// A batch with a traced outcome (RunSpan) also writes run_traceparent, through an
// extra array; without one the statement is exactly the untraced one.

/**
 * Marks attempts succeeded. Each row must still be `running` under the same lease
 * token; returns the ids that matched (the others lost their lease) and announces
 * them as `succeeded` by `publisher` (a worker id).
 */
export async function completeTasks(db: PgQueryable, names: SqlNames, publisher: string, items: Array<Fence & RunSpan & { result: string | null }>): Promise<Set<string>> {
  // Ids (digits) and lease tokens (UUIDs) need no quoting, so their array literals
  // are written here rather than by pg's per-element serializer; results need it.
  // unnest pads a shorter array with NULLs, so no result at all is sent as '{}'.
  let ids = '';
  let tokens = '';
  let anyResult = false;
  let traced = false;
  for (const i of items) {
    ids += ids === '' ? i.id : `,${i.id}`;
    tokens += tokens === '' ? i.token : `,${i.token}`;
    if (i.result !== null) anyResult = true;
    if (i.runSpan) traced = true;
  }
  const results = anyResult ? items.map((i) => i.result) : '{}';
  const { rows } = await runPlanned<{ id: string }>(
    db,
    `WITH done AS (
     UPDATE ${names.tasks} AS t
        SET status = 'succeeded', result = v.result, finished_at = now(), updated_at = now(),
            locked_by = NULL, locked_until = NULL${traced ? ', run_traceparent = v.run_span' : ''}
       FROM unnest(${BATCH_FENCE_COLUMNS}, $3::jsonb[]${traced ? ', $6::text[]' : ''})
            WITH ORDINALITY AS v(id, token, running, result, ${traced ? 'run_span, ' : ''}n)
      WHERE ${batchFenceSql('t', 'v')}
     RETURNING t.id, t.attempts AS attempt, 'succeeded' AS kind, (v.n - 1) / ${IDS_PER_NOTIFICATION} AS chunk
     ), announced AS (${announceSql(names, 'done', '$4', '$5')})
     SELECT id FROM done, (SELECT count(*) FROM announced) AS a`,
    traced
      ? [`{${ids}}`, `{${tokens}}`, results, names.events, publisher, items.map((i) => i.runSpan ?? null)]
      : [`{${ids}}`, `{${tokens}}`, results, names.events, publisher],
  );
  return idSet(rows);
}

/**
 * Ends attempts that did not succeed, in one statement:
 * - `retry`: back to queued after `delay` seconds (the attempt counts);
 * - `failed`: final;
 * - `deferred`: back to queued after exactly `delay` seconds, not counted against max_retries;
 * - `released`: back to queued now, not counted against max_retries (the worker stopped);
 * - `postponed`: the handler never ran (no rate-limit grant, or the worker stopped
 *   before starting it): back to queued after `delay` seconds with the attempt
 *   number given back.
 * Attempt numbers stay unique per run either way.
 * Fenced like {@link completeTasks}; returns the ids that matched. `failed` and
 * `retry` are announced (as `failed` and `retrying`), the others are not.
 */
export async function endAttempts(db: PgQueryable, names: SqlNames, publisher: string, items: Array<Exclude<Settlement, { kind: 'succeeded' }>>): Promise<Set<string>> {
  const traced = items.some((i) => 'runSpan' in i && i.runSpan);
  const { rows } = await runPlanned<{ id: string }>(
    db,
    `WITH ended AS (
     UPDATE ${names.tasks} AS t
        SET status = CASE WHEN v.kind = 'failed' THEN 'failed' ELSE 'queued' END,
            deferrals = CASE WHEN v.kind IN ('deferred', 'released') THEN t.deferrals + 1 ELSE t.deferrals END,
            attempts = CASE WHEN v.kind = 'postponed' THEN t.attempts - 1 ELSE t.attempts END,
            run_at = CASE WHEN v.kind = 'failed' THEN t.run_at ELSE now() + make_interval(secs => v.delay) END,
            finished_at = CASE WHEN v.kind = 'failed' THEN now() END,
            last_error = coalesce(v.error, t.last_error),
            errors = ${appendErrorSql('t', 'v.error', 'v.stack')},
            locked_by = NULL, locked_until = NULL, updated_at = now(),
            ${deadLetterSetSql('t', names.queues, "v.kind = 'failed'")}${traced ? ', run_traceparent = coalesce(v.run_span, t.run_traceparent)' : ''}
       FROM unnest(${BATCH_FENCE_COLUMNS}, $3::text[], $4::float8[], $5::text[], $6::text[]${traced ? ', $9::text[]' : ''})
            WITH ORDINALITY AS v(id, token, running, kind, delay, error, stack, ${traced ? 'run_span, ' : ''}n)
      WHERE ${batchFenceSql('t', 'v')}
     RETURNING t.id, t.attempts AS attempt, CASE v.kind WHEN 'failed' THEN 'failed' WHEN 'retry' THEN 'retrying' END AS kind,
               (v.n - 1) / ${IDS_PER_NOTIFICATION} AS chunk
     ), announced AS (${announceSql(names, 'ended', '$7', '$8')})
     SELECT id FROM ended, (SELECT count(*) FROM announced) AS a`,
    [
      items.map((i) => i.id),
      items.map((i) => i.token),
      items.map((i) => i.kind),
      items.map((i) => ('delay' in i ? i.delay : 0)),
      items.map((i) => ('error' in i ? i.error : null)),
      items.map((i) => ('stack' in i ? (i.stack ?? null) : null)),
      names.events,
      publisher,
      ...(traced ? [items.map((i) => ('runSpan' in i ? (i.runSpan ?? null) : null))] : []),
    ],
  );
  return idSet(rows);
}

/** Writes settlements, succeeded ones and the rest in one statement each, announced as by `publisher`. */
export async function settle(db: PgQueryable, names: SqlNames, publisher: string, items: Settlement[]): Promise<Set<string>> {
  const done: Array<Extract<Settlement, { kind: 'succeeded' }>> = [];
  const ended: Array<Exclude<Settlement, { kind: 'succeeded' }>> = [];
  for (const item of items) {
    if (item.kind === 'succeeded') done.push(item);
    else ended.push(item);
  }
  if (ended.length === 0) return completeTasks(db, names, publisher, done);
  if (done.length === 0) return endAttempts(db, names, publisher, ended);
  const [a, b] = await Promise.all([completeTasks(db, names, publisher, done), endAttempts(db, names, publisher, ended)]);
  for (const id of b) a.add(id);
  return a;
}

function idSet(rows: Array<{ id: string }>): Set<string> {
  const out = new Set<string>();
  for (const r of rows) out.add(String(r.id));
  return out;
}
