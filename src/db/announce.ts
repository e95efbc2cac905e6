/**
 * Cluster-wide task events on the wire: the statements that finish, retry or
 * cancel tasks announce it on the `${schema}.events` channel, in the same
 * statement (so nothing is announced that did not commit). A notification carries
 * only a kind, task ids with the attempt number each event ends, and the
 * publishing worker's id, never task data:
 *
 *     <kind> <id>.<attempt>,<id>.<attempt>,… <publisher>
 *
 * `kind` is `succeeded`, `failed`, `retrying` or `cancelled`; `publisher` is the
 * `workerId` of the process that ran the attempt, or empty when no process emits
 * a local event for it (cancellation, lease rescue). Ids are chunked so that a
 * payload stays well below Postgres's 8000-byte limit.
 */
import type { SqlNames } from './names.js';
import type { Queryable } from './pool.js';

/** What a notification on the events channel announces. */
export type AnnouncedKind = 'succeeded' | 'failed' | 'retrying' | 'cancelled';

/** Tasks per notification: 250 ids of up to 19 digits with an attempt number stay under 7000 bytes. */
export const IDS_PER_NOTIFICATION = 250;

/** A parsed notification of the events channel. */
export interface Announcement {
  kind: AnnouncedKind;
  ids: string[];
  /** Attempt number of each id (same order). */
  attempts: number[];
  /** `workerId` of the process that published it, or `null` (no local event fired anywhere). */
  publisher: string | null;
}

const KINDS = new Set<string>(['succeeded', 'failed', 'retrying', 'cancelled']);

/** Parses a notification payload; `null` for anything that is not one (a newer or foreign format). */
export function parseAnnouncement(payload: string): Announcement | null {
  const a = payload.indexOf(' ');
  const b = a < 0 ? -1 : payload.indexOf(' ', a + 1);
  if (b < 0) return null;
  const kind = payload.slice(0, a);
  if (!KINDS.has(kind)) return null;
  const ids: string[] = [];
  const attempts: number[] = [];
  for (const item of payload.slice(a + 1, b).split(',')) {
    const m = /^([1-9][0-9]{0,18})\.([0-9]{1,9})$/.exec(item);
    if (!m) return null;
    ids.push(m[1] as string);
    attempts.push(Number(m[2]));
  }
  const publisher = payload.slice(b + 1);
  return { kind: kind as AnnouncedKind, ids, attempts, publisher: publisher === '' ? null : publisher };
}

/**
 * A `SELECT` for a data-modifying CTE that announces the rows of `rows`: a CTE with
 * columns `id`, `attempt`, `kind` (an {@link AnnouncedKind}, or NULL for rows that
 * announce nothing) and `chunk` (rows of one chunk share a notification; give at
 * most {@link IDS_PER_NOTIFICATION} rows the same chunk, e.g. `(n - 1) / 250` over
 * an ordinality). One `pg_notify` per kind and chunk, and none at all unless some
 * process listens (a live row in `names.eventListeners`, checked once per
 * statement). `channel` and `publisher` are SQL expressions (parameters).
 * Reference it from the main query (for example `(SELECT count(*) FROM announced)`)
 * or Postgres never runs it.
 */
export function announceSql(names: SqlNames, rows: string, channel: string, publisher: string): string {
  return `SELECT pg_notify(${channel}, kind || ' ' || string_agg(id || '.' || attempt, ',') || ' ' || ${publisher})
       FROM ${rows} WHERE kind IS NOT NULL AND EXISTS (SELECT 1 FROM ${names.eventListeners} WHERE expires_at > now())
      GROUP BY kind, chunk`;
}

/**
 * Announces `kind` for tasks whose change is already written, in a statement of
 * its own (for writes that do not announce themselves, such as cancellation):
 * call it after the write, with the ids it changed. `publisher` is the `workerId`
 * of a process that emitted the matching local event itself, else omit it.
 *
 * @example
 * ```ts
 * if (cancelledIds.length > 0) await announceTasks(pool, names, 'cancelled', cancelledIds);
 * ```
 */
export async function announceTasks(db: Queryable, names: SqlNames, kind: AnnouncedKind, ids: string[], publisher = ''): Promise<void> {
  if (ids.length === 0) return;
  await db.query(
    `WITH announced_rows AS (
       SELECT id, attempts AS attempt, $2::text AS kind, (row_number() OVER () - 1) / ${IDS_PER_NOTIFICATION} AS chunk
         FROM ${names.tasks} WHERE id = ANY($3::bigint[]))
     ${announceSql(names, 'announced_rows', '$1', '$4')}`,
    [names.events, kind, ids, publisher],
  );
}
