import type { SqlNames } from '../db/names.js';
import type { Queryable } from '../db/pool.js';

/** Finished task states. */
export type FinishedStatus = 'succeeded' | 'failed' | 'cancelled';

/** Options of a cleanup run. Durations are seconds. */
export interface CleanupOptions {
  /** Delete finished tasks older than this many seconds (default 7 days; 0 deletes every finished task). */
  olderThan?: number;
  /** Which finished states to delete (default all three). */
  statuses?: FinishedStatus[];
  /** Per-state retention in seconds, overriding `olderThan` for that state. */
  retention?: Partial<Record<FinishedStatus, number>>;
  /** Rows per DELETE statement (default 5000): bounded so no lock is held long. */
  batchSize?: number;
  /** Called after each batch with the running total. */
  onProgress?: (deleted: number) => void;
}

/** Schedule tick records are kept at least this long (a day). */
const MIN_TICK_RETENTION_SECONDS = 86_400;

/** Default retention: 7 days. */
export const DEFAULT_RETENTION_SECONDS = 7 * 86_400;

/**
 * Deletes finished tasks past their retention in bounded batches, oldest first,
 * skipping rows another session holds; also prunes old schedule ticks and workers
 * that stopped or died long ago. Returns how many tasks it deleted.
 */
export async function cleanupTasks(db: Queryable, names: SqlNames, options: CleanupOptions = {}): Promise<number> {
  const olderThan = options.olderThan ?? DEFAULT_RETENTION_SECONDS;
  const batch = options.batchSize ?? 5000;
  let deleted = 0;
  for (const status of options.statuses ?? (['succeeded', 'failed', 'cancelled'] as const)) {
    const keep = options.retention?.[status] ?? olderThan;
    for (;;) {
      const res = await db.query(
        `DELETE FROM ${names.tasks} WHERE id IN (
           SELECT id FROM ${names.tasks}
            WHERE status = $1 AND finished_at <= now() - make_interval(secs => $2)
            ORDER BY finished_at
            LIMIT $3
            FOR UPDATE SKIP LOCKED)`,
        [status, keep, batch],
      );
      deleted += res.rowCount ?? 0;
      options.onProgress?.(deleted);
      if ((res.rowCount ?? 0) < batch) break;
    }
  }
  // Tick records keep racing processes from enqueueing a tick twice: kept a day at least, whatever olderThan says.
  await db.query(`DELETE FROM ${names.scheduleRuns} WHERE tick < now() - make_interval(secs => greatest($1, ${MIN_TICK_RETENTION_SECONDS}))`, [olderThan]);
  await db.query(`DELETE FROM ${names.workers} WHERE last_heartbeat < now() - interval '1 day'`);
  return deleted;
}
