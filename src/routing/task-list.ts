import type pg from 'pg';
import type { SqlNames } from '../db/names.js';
import type { TaskRow } from '../db/types.js';
import { type BulkAction, type BulkResult, type BulkSelection, bulkTaskAction, countTasks, listTaskPage, type TaskCountResult, type TaskCounts, type TaskFilter, type TaskListQuery, type TaskRowPage } from '../task-list.js';
import { clusterNumberOfId } from './id-range.js';

/** The database of one cluster a courier works on: what code writing its own SQL (the HTTP API) needs. */
export interface ClusterDatabase {
  /** `default` for the courier's own connection, else the name in `clusters`. */
  name: string;
  /** 0 for the courier's own connection, else the cluster's `number`: its task ids are `number × 2^56 + n`. */
  number: number;
  /** The cluster's pool (its primary). */
  pool: pg.Pool;
  /** Quoted names of the schema's objects on that cluster. */
  names: SqlNames;
}

/** The database whose id range holds `id` (the first, the courier's own, for ids of no routed cluster). */
export function databaseOfTask(dbs: readonly ClusterDatabase[], id: string): ClusterDatabase {
  const number = /^[1-9][0-9]{0,18}$/.test(id) ? clusterNumberOfId(id) : 0;
  return dbs.find((d) => d.number === number) ?? (dbs[0] as ClusterDatabase);
}

const bigintOrder = (a: string, b: string) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

/** Compares two rows in a sort's order (the order of `listTaskPage`'s ORDER BY, to the millisecond for `run_at`). */
function compare(sort: TaskListQuery['sort'], a: TaskRow, b: TaskRow): number {
  if (sort === 'oldest') return bigintOrder(String(a.id), String(b.id));
  if (sort === 'priority') return a.priority - b.priority || a.run_at.getTime() - b.run_at.getTime() || bigintOrder(String(a.id), String(b.id));
  return bigintOrder(String(b.id), String(a.id));
}

/**
 * {@link listTaskPage} over every cluster: each is read with the same filter,
 * sort, cursor and limit, and the pages are merged in the sort's order. Ids are
 * unique across clusters, so the cursor of the last row kept continues on every
 * cluster. With one database it is exactly `listTaskPage`.
 */
export async function listTaskPageAcross(dbs: readonly ClusterDatabase[], q: TaskListQuery): Promise<TaskRowPage> {
  if (dbs.length === 1) return listTaskPage((dbs[0] as ClusterDatabase).pool, (dbs[0] as ClusterDatabase).names, q);
  const pages = await Promise.all(dbs.map((d) => listTaskPage(d.pool, d.names, q)));
  const all = pages.flatMap((p) => p.rows).sort((a, b) => compare(q.sort, a, b));
  const rows = all.slice(0, q.limit);
  const last = rows.at(-1);
  let nextCursor: string | null = null;
  if (last && (all.length > q.limit || pages.some((p) => p.nextCursor !== null))) {
    // run_at to the millisecond (rows carry no microseconds): a later page may repeat a row of the same millisecond, never skip one.
    nextCursor = q.sort === 'priority' ? `${last.priority}.${last.run_at.getTime() * 1000}.${last.id}` : String(last.id);
  }
  return { rows, nextCursor };
}

/** {@link countTasks} summed over every cluster. */
export async function countTasksAcross(dbs: readonly ClusterDatabase[], filter: Omit<TaskFilter, 'status'>): Promise<TaskCountResult> {
  const parts = await Promise.all(dbs.map((d) => countTasks(d.pool, d.names, filter)));
  const counts: TaskCounts = { ...(parts[0] as TaskCountResult).counts };
  for (const part of parts.slice(1)) for (const [k, n] of Object.entries(part.counts)) counts[k] = (counts[k] ?? 0) + n;
  return { counts, approximate: parts.some((p) => p.approximate) };
}

/** {@link bulkTaskAction} on every cluster: listed ids each on its own cluster, a filter on all; the results add up. */
export async function bulkTaskActionAcross(dbs: readonly ClusterDatabase[], action: BulkAction, selection: BulkSelection, options: { dryRun?: boolean } = {}): Promise<BulkResult> {
  if (dbs.length === 1) return bulkTaskAction((dbs[0] as ClusterDatabase).pool, (dbs[0] as ClusterDatabase).names, action, selection, options);
  const jobs: [ClusterDatabase, BulkSelection][] =
    'ids' in selection
      ? dbs.map((d): [ClusterDatabase, BulkSelection] => [d, { ids: selection.ids.filter((id) => databaseOfTask(dbs, id) === d) }]).filter(([, s]) => 'ids' in s && s.ids.length > 0)
      : dbs.map((d) => [d, selection]);
  const sum: BulkResult = { action, count: 0, dryRun: options.dryRun ?? false, batches: 0, skipped: 0 };
  for (const [d, s] of jobs) {
    const got = await bulkTaskAction(d.pool, d.names, action, s, options);
    sum.count += got.count;
    sum.batches += got.batches;
    sum.skipped += got.skipped;
  }
  return sum;
}
