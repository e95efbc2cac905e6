import type { SqlNames } from '../db/names.js';
import type { Queryable } from '../db/pool.js';
import { Periodic } from './service.js';

/** How long the rollup keeps minutes. */
export const HISTORY_HOURS = 24;
/**
 * Seconds the rollup stays behind the clock: a finishing statement stamps
 * `finished_at` when it starts and commits a moment later, so the newest
 * seconds are read live (see {@link readHistory}) until they are this old.
 */
export const HISTORY_LAG = 10;
/**
 * Seconds between rollups. Reads count the rows past the mark live, so a longer
 * interval costs freshness nothing; every worker tries the lock once per interval,
 * which is what an idle worker pays.
 */
const ROLLUP_INTERVAL = 60;

/**
 * Adds the tasks that finished since the last rollup (up to {@link HISTORY_LAG}
 * seconds ago) to the per-minute, per-queue counts, advances the mark and drops
 * minutes older than a day, in one statement. Reads finished rows through the
 * `finished_at` index only; one process at a time (advisory lock, as rescue).
 * Returns whether this call won the lock.
 */
export async function rollUpHistory(db: Queryable, names: SqlNames): Promise<boolean> {
  const history = names.table('task_history');
  const state = names.table('task_history_state');
  const { rows } = await db.query<{ won: boolean }>(
    `WITH lock AS (SELECT pg_try_advisory_xact_lock(hashtext($1)) AS won),
     span AS (
       SELECT s.since, greatest(s.since, now() - make_interval(secs => $2)) AS upto, (SELECT won FROM lock) AS won
         FROM (SELECT greatest((SELECT rolled_until FROM ${state}), now() - make_interval(hours => $3)) AS since) AS s
     ), counted AS (
       SELECT date_trunc('minute', t.finished_at) AS minute, t.queue,
              count(*) FILTER (WHERE t.status = 'succeeded') AS succeeded,
              count(*) FILTER (WHERE t.status = 'failed') AS failed
         FROM ${names.tasks} t, span
        WHERE span.won AND t.status IN ('succeeded', 'failed', 'cancelled')
          AND t.finished_at >= span.since AND t.finished_at < span.upto
        GROUP BY 1, 2
     ), added AS (
       INSERT INTO ${history} AS h (minute, queue, succeeded, failed)
       SELECT minute, queue, succeeded, failed FROM counted WHERE succeeded + failed > 0
       ON CONFLICT (minute, queue) DO UPDATE
         SET succeeded = h.succeeded + EXCLUDED.succeeded, failed = h.failed + EXCLUDED.failed
       RETURNING 1
     ), marked AS (
       INSERT INTO ${state} (id, rolled_until) SELECT true, upto FROM span WHERE won
       ON CONFLICT (id) DO UPDATE SET rolled_until = EXCLUDED.rolled_until
       RETURNING 1
     ), pruned AS (
       DELETE FROM ${history} WHERE minute < now() - make_interval(hours => $3) AND (SELECT won FROM span)
       RETURNING 1
     )
     SELECT (SELECT won FROM span) AS won, (SELECT count(*) FROM added) AS added, (SELECT count(*) FROM marked) AS marked, (SELECT count(*) FROM pruned) AS pruned`,
    [`pgcourier.history:${names.schemaName}`, HISTORY_LAG, HISTORY_HOURS],
  );
  return rows[0]?.won ?? false;
}

/** Per-minute counts of finished tasks, oldest minute first. */
export interface HistorySeries {
  succeeded: number[];
  failed: number[];
}

/** What {@link readHistory} returns. */
export interface TaskHistory {
  /** The first minute of the series. */
  start: Date;
  /** Seconds per point (60). */
  step: number;
  /** Counts over all queues. */
  total: HistorySeries;
  /** Counts per queue (queues with any finished task in the span). */
  queues: Record<string, HistorySeries>;
}

/**
 * Finished tasks per minute for the last `minutes` minutes (at most a day): the
 * rolled-up counts plus, for the seconds the rollup has not reached yet, a live
 * count over the `finished_at` index. Survives restarts and task cleanup.
 */
export async function readHistory(db: Queryable, names: SqlNames, minutes: number): Promise<TaskHistory> {
  const { rows } = await db.query<{ start: Date; minute: number; queue: string; succeeded: string; failed: string }>(
    `WITH span AS (
       SELECT date_trunc('minute', now()) - make_interval(mins => $1 - 1) AS start,
              coalesce((SELECT rolled_until FROM ${names.table('task_history_state')}), now() - make_interval(hours => $2)) AS mark
     ), rows AS (
       SELECT h.minute, h.queue, h.succeeded::bigint AS succeeded, h.failed::bigint AS failed
         FROM ${names.table('task_history')} h, span WHERE h.minute >= span.start
       UNION ALL
       SELECT date_trunc('minute', t.finished_at), t.queue,
              count(*) FILTER (WHERE t.status = 'succeeded'), count(*) FILTER (WHERE t.status = 'failed')
         FROM ${names.tasks} t, span
        WHERE t.status IN ('succeeded', 'failed', 'cancelled') AND t.finished_at >= greatest(span.mark, span.start)
        GROUP BY 1, 2
     )
     SELECT span.start, (extract(epoch FROM r.minute - span.start) / 60)::int AS minute, r.queue,
            sum(r.succeeded)::text AS succeeded, sum(r.failed)::text AS failed
       FROM span LEFT JOIN rows r ON true
      GROUP BY span.start, r.minute, r.queue`,
    [minutes, HISTORY_HOURS],
  );
  const empty = (): HistorySeries => ({ succeeded: new Array(minutes).fill(0), failed: new Array(minutes).fill(0) });
  const out: TaskHistory = { start: rows[0]?.start ?? new Date(), step: 60, total: empty(), queues: {} };
  for (const r of rows) {
    if (r.queue === null || r.minute === null || r.minute < 0 || r.minute >= minutes) continue;
    const q = (out.queues[r.queue] ??= empty());
    for (const s of [q, out.total]) {
      s.succeeded[r.minute] = (s.succeeded[r.minute] ?? 0) + Number(r.succeeded);
      s.failed[r.minute] = (s.failed[r.minute] ?? 0) + Number(r.failed);
    }
  }
  return out;
}

/** The history service: rolls finished tasks into the per-minute counts every minute (one process at a time). */
export class HistoryRollup extends Periodic {
  constructor(opts: { db: Queryable; names: SqlNames; onError: (err: Error) => void }) {
    super(
      ROLLUP_INTERVAL,
      async () => {
        await rollUpHistory(opts.db, opts.names);
      },
      opts.onError,
    );
  }
}
