import type { SqlNames } from '../db/names.js';
import type { Queryable } from '../db/pool.js';
import type { EnqueueRow } from '../enqueue-row.js';
import { ValidationError } from '../errors.js';
import { QUEUES_CHANGED as FLOWS_CHANGED } from '../queues.js';
import type { FlowOptions, FlowRow } from './options.js';

/**
 * The flow part of validated enqueue options, or `null` when there is none (the
 * plain path). Refuses combinations whose meaning would be unclear; `many` is
 * true for an item of `enqueueMany`, which takes groups and sequences only.
 */
export function flowRow(o: FlowOptions, where: string, prefix: string, many: boolean): FlowRow | null {
  if (o.group === undefined && o.groupTier === undefined && o.sequence === undefined && o.debounce === undefined && o.throttle === undefined && o.keyWindow === undefined) return null;
  const fail = (field: string, expected: string): never => {
    throw new ValidationError(where, `${prefix}${field}`, expected);
  };
  if (o.groupTier !== undefined && o.group === undefined) fail('groupTier', 'must be given only together with group');
  if (o.sequence !== undefined && o.group !== undefined) fail('sequence', 'must not be given together with group (a sequence already runs one task at a time)');
  if (many) {
    for (const f of ['debounce', 'throttle', 'keyWindow'] as const) if (o[f] !== undefined) fail(f, 'is taken by enqueueTask only (one task per call)');
  }
  if (o.debounce !== undefined) {
    for (const f of ['key', 'throttle', 'keyWindow', 'runAt', 'delay'] as const) if (o[f] !== undefined) fail(f, 'must not be given together with debounce (debounce sets the run time)');
  }
  if (o.throttle !== undefined && (o.key !== undefined || o.keyWindow !== undefined)) fail('throttle', 'must not be given together with key or keyWindow');
  if (o.keyWindow !== undefined) {
    if (o.key === undefined) fail('keyWindow', 'must be given only together with key');
    if (o.keyMode !== undefined) fail('keyMode', 'must not be given together with keyWindow (a window keeps its first task)');
  }
  const window = o.throttle ?? (o.keyWindow !== undefined ? { key: o.key as string, seconds: o.keyWindow } : null);
  return {
    group: o.group ?? null,
    groupTier: o.groupTier ?? null,
    sequence: o.sequence ?? null,
    debounce: o.debounce ? { key: o.debounce.key, seconds: o.debounce.seconds, mode: o.debounce.mode ?? 'extend' } : null,
    window,
  };
}

/**
 * Inserts rows of which some carry flow fields, in one statement: creates the
 * rows of new groups and sequences (telling workers, which claim flow tasks
 * only in queues that have some), then the tasks. Conflicts:
 * - a debounced row updates the queued task holding its key (the last payload
 *   wins; `extend` moves its run time, `replace` keeps it) and returns its id;
 * - a windowed row (throttle, keyWindow) returns the id of the task holding its
 *   key in the current window, whatever that task's state;
 * - a keyed row behaves as without flow fields (`keyMode`).
 * Debounced and windowed rows come one per call (`enqueueTask`).
 */
export async function insertFlowRows(
  runner: Queryable,
  names: SqlNames,
  rows: EnqueueRow[],
  keyMode: 'keep' | 'replace',
): Promise<Array<{ id: string; name: string; key: string | null }>> {
  const single = rows.length === 1 ? rows[0]?.flow : null;
  let onConflict: string;
  if (single?.debounce) {
    onConflict = `ON CONFLICT (name, debounce_key) WHERE status = 'queued' AND debounce_key IS NOT NULL DO UPDATE SET
        payload = EXCLUDED.payload, priority = EXCLUDED.priority, max_retries = EXCLUDED.max_retries,
        retry_delay = EXCLUDED.retry_delay, timeout = EXCLUDED.timeout, backoff = EXCLUDED.backoff,
        max_delay = EXCLUDED.max_delay, updated_at = now(),
        run_at = ${single.debounce.mode === 'extend' ? 'EXCLUDED.run_at' : 'tasks.run_at'}`;
  } else if (single?.window) {
    // A no-op update, so the statement returns the holder's id even when it
    // committed after this statement began.
    onConflict = 'ON CONFLICT (name, window_key, window_start) WHERE window_key IS NOT NULL DO UPDATE SET window_key = EXCLUDED.window_key';
  } else if (keyMode === 'replace') {
    onConflict = `ON CONFLICT (name, key) WHERE key IS NOT NULL AND status IN ('queued', 'running') DO UPDATE SET
        payload = EXCLUDED.payload, queue = EXCLUDED.queue, priority = EXCLUDED.priority,
        max_retries = EXCLUDED.max_retries, retry_delay = EXCLUDED.retry_delay, timeout = EXCLUDED.timeout,
        backoff = EXCLUDED.backoff, max_delay = EXCLUDED.max_delay, run_at = EXCLUDED.run_at, updated_at = now()
      WHERE tasks.status = 'queued'`;
  } else {
    onConflict = `ON CONFLICT (name, key) WHERE key IS NOT NULL AND status IN ('queued', 'running') DO NOTHING`;
  }
  const col = <T>(f: (r: EnqueueRow) => T) => rows.map(f);
  const flows = names.table('task_flows');
  const { rows: out } = await runner.query<{ id: string; name: string; key: string | null }>(
    `WITH v AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::smallint[], $5::int[], $6::float8[], $7::float8[],
                            $8::timestamptz[], $9::text[], $10::float8[], $11::text[], $12::float8[],
                            $13::text[], $14::text[], $15::text[], $16::text[], $17::float8[], $18::text[], $19::float8[], $22::text[])
         WITH ORDINALITY AS v(q, n, p, pr, mr, rd, t, ra, k, d, b, md, g, gt, s, dk, ds, wk, ws, tp, ord)
     ), wanted AS (
       SELECT DISTINCT ON (q, kind, key) q, kind, key, tier FROM (
         SELECT q, 'group' AS kind, g AS key, gt AS tier, ord FROM v WHERE g IS NOT NULL
         UNION ALL SELECT q, 'sequence', s, NULL, ord FROM v WHERE s IS NOT NULL) AS f
        ORDER BY q, kind, key, ord DESC
     ), created AS (
       INSERT INTO ${flows} (queue, kind, key, tier) SELECT q, kind, key, tier FROM wanted
       ON CONFLICT (queue, kind, key) DO NOTHING
       RETURNING 1
     ), retiered AS (
       UPDATE ${flows} AS f SET tier = w.tier FROM wanted w
        WHERE f.queue = w.q AND f.kind = w.kind AND f.key = w.key AND w.kind = 'group' AND f.tier IS DISTINCT FROM w.tier
       RETURNING 1
     ), inserted AS (
       INSERT INTO ${names.tasks} (queue, name, payload, priority, max_retries, retry_delay, timeout, run_at, key, backoff, max_delay,
                                   group_key, group_tier, sequence_key, debounce_key, window_key, window_start, traceparent)
       SELECT q, n, p, pr, mr, rd, t, coalesce(ra, now() + make_interval(secs => coalesce(d, ds, 0))), k, b, md,
              g, gt, s, dk, wk, CASE WHEN wk IS NOT NULL THEN to_timestamp(floor(extract(epoch FROM now()) / ws) * ws) END, tp
         FROM v ORDER BY ord
       ${onConflict}
       RETURNING id, name, key
     ), woke AS (
       SELECT pg_notify($20, $21) FROM (SELECT 1 FROM created LIMIT 1) AS c
     )
     SELECT id, name, key FROM inserted, (SELECT count(*) FROM woke) AS w, (SELECT count(*) FROM retiered) AS r`,
    [
      col((r) => r.queue),
      col((r) => r.name),
      col((r) => r.payload),
      col((r) => r.priority),
      col((r) => r.maxRetries),
      col((r) => r.retryDelay),
      col((r) => r.timeout),
      col((r) => r.runAt),
      col((r) => r.key),
      col((r) => r.delay),
      col((r) => r.backoff),
      col((r) => r.maxDelay),
      col((r) => r.flow?.group ?? null),
      col((r) => r.flow?.groupTier ?? null),
      col((r) => r.flow?.sequence ?? null),
      col((r) => r.flow?.debounce?.key ?? null),
      col((r) => r.flow?.debounce?.seconds ?? null),
      col((r) => r.flow?.window?.key ?? null),
      col((r) => r.flow?.window?.seconds ?? null),
      names.channel,
      FLOWS_CHANGED,
      col((r) => r.traceparent ?? null),
    ],
  );
  return out;
}


