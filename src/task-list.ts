/**
 * Operator queries over the task table: a filtered, sorted, keyset-paged list,
 * counts per state for a filter, one task's full detail with its attempts as a
 * timeline, and bulk actions on a selection or on everything a filter matches.
 * The HTTP API and the dashboard use them; each bulk batch is one statement.
 */
import type pg from 'pg';
import { announceTasks } from './db/announce.js';
import type { SqlNames } from './db/names.js';
import { inTransaction, type Queryable } from './db/pool.js';
import { MAX_BIGINT } from './db/task-id.js';
import type { TaskErrorEntry, TaskRow } from './db/types.js';
import { ValidationError } from './errors.js';
import { type TaskInfo, toTaskInfo } from './task-info.js';

/** Final statuses: a task in one of them is done. Every other status is live. */
export const FINISHED_STATUSES = ['succeeded', 'failed', 'cancelled'] as const;

/** Live statuses, each reached through partial indexes (see `LIVE_SQL`); a status added to the table must be added here and there. */
export const LIVE_STATUSES = ['waiting', 'queued', 'running'] as const;

/**
 * States a list can be filtered by besides the table's statuses: parts of
 * `queued`. `delayed` waits for a future `runAt`; `retrying` waits for its
 * next attempt after a failed one.
 */
export const SUB_STATES = ['delayed', 'retrying'] as const;

/** How a task list is ordered. `priority` is the order workers claim in: priority, then due time, then id. */
export type TaskSort = 'newest' | 'oldest' | 'priority';

/** What a list, a count or a bulk action selects; every field is optional. */
export interface TaskFilter {
  queue?: string;
  name?: string;
  /** A status of the table (see {@link taskStatuses}) or a sub-state (`delayed`, `retrying`). */
  status?: string;
  /** Enqueued at or after. */
  createdAfter?: Date;
  /** Enqueued before. */
  createdBefore?: Date;
  /** Case-insensitive substring of the task's key or of its last error message; a task id matches that task. */
  search?: string;
}

/** One page request of {@link listTaskPage}. */
export interface TaskListQuery extends TaskFilter {
  sort?: TaskSort;
  /** Page size (the caller bounds it). */
  limit: number;
  /** `nextCursor` of the previous page with the same filter and sort. */
  cursor?: string;
}

/** One page of rows and the cursor of the next one (`null` on the last). */
export interface TaskRowPage {
  rows: TaskRow[];
  nextCursor: string | null;
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

const FINISHED_SQL = `status IN ('succeeded', 'failed', 'cancelled')`;

/**
 * Live rows (every status but the final ones), one arm per partial index that
 * holds them (plain claim, group claim, sequence, running, waiting), so
 * Postgres reaches them through those indexes (a BitmapOr) instead of scanning
 * the finished rows. A status added to the table later needs its arm here.
 */
const LIVE_SQL = `((status = 'queued' AND group_key IS NULL AND sequence_key IS NULL) OR (status = 'queued' AND group_key IS NOT NULL)
  OR (status IN ('queued', 'running') AND sequence_key IS NOT NULL) OR status = 'running' OR status = 'waiting')`;

/** The predicates of the sub-states of `queued`. */
const SUB_SQL: Record<(typeof SUB_STATES)[number], string> = {
  delayed: `status = 'queued' AND run_at > now() AND NOT (attempts > 0 AND last_error IS NOT NULL)`,
  retrying: `status = 'queued' AND attempts > 0 AND last_error IS NOT NULL`,
};

/** Which rows a statement reads: all, the finished ones (where the search index lives) or the live ones. */
type Part = 'all' | 'finished' | 'live';

const PART_SQL: Record<Exclude<Part, 'all'>, string> = { finished: FINISHED_SQL, live: LIVE_SQL };

/**
 * Appends the filter's predicates (and the part's) to `where`, pushing their
 * values onto `params` (each predicate is fixed text with its own parameter).
 * On the finished part the text search is written so the trigram index
 * (migration 040, partial on finished rows with a key or an error) applies.
 */
function filterSql(f: TaskFilter, params: unknown[], where: string[], part: Part = 'all'): void {
  const p = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (part !== 'all') where.push(PART_SQL[part]);
  if (f.queue !== undefined) where.push(`queue = ${p(f.queue)}`);
  if (f.name !== undefined) where.push(`name = ${p(f.name)}`);
  if (f.status === 'delayed' || f.status === 'retrying') where.push(SUB_SQL[f.status]);
  else if (f.status !== undefined) where.push(`status = ${p(f.status)}`);
  if (f.createdAfter !== undefined) where.push(`created_at >= ${p(f.createdAfter)}`);
  if (f.createdBefore !== undefined) where.push(`created_at < ${p(f.createdBefore)}`);
  if (f.search !== undefined && f.search !== '') {
    const pattern = p(`%${escapeLike(f.search)}%`);
    const byId = searchedId(f.search) !== null ? ` OR id = ${p(f.search)}::bigint` : '';
    const indexed = part === 'finished' ? '(key IS NOT NULL OR last_error IS NOT NULL) AND ' : '';
    where.push(`((${indexed}(key ILIKE ${pattern} OR last_error ILIKE ${pattern}))${byId})`);
  }
}

/** The task id a search text names, if it is one. */
function searchedId(search: string): string | null {
  return /^[1-9][0-9]{0,18}$/.test(search) && BigInt(search) <= MAX_BIGINT ? search : null;
}

interface Cursor {
  id: string;
  priority?: number;
  /** run_at in epoch microseconds (exact, unlike a JS Date). */
  runAt?: string;
}

function decodeCursor(cursor: string, sort: TaskSort, where: string): Cursor {
  const bad = () => new ValidationError(where, 'cursor', 'must be a cursor returned by a previous page with the same sort');
  const id = (s: string | undefined) => {
    if (!s || !/^[1-9][0-9]{0,18}$/.test(s) || BigInt(s) > MAX_BIGINT) throw bad();
    return s;
  };
  if (sort !== 'priority') return { id: id(cursor) };
  const m = /^([1-9]|10)\.(-?[0-9]{1,19})\.([0-9]{1,19})$/.exec(cursor);
  if (!m) throw bad();
  return { priority: Number(m[1]), runAt: m[2] as string, id: id(m[3]) };
}

const ORDER: Record<TaskSort, string> = {
  newest: 'id DESC',
  oldest: 'id ASC',
  priority: 'priority, run_at, id',
};

/**
 * One page of tasks matching the filter, in the given order. Keyset paging: a
 * page costs the same however deep it is, and pages stay stable while tasks
 * are added. `newest`/`oldest` walk the primary key; a filter on a live status
 * reads the live rows through their partial indexes. `priority` is the claim
 * order, so it lists live tasks only (all of them, or the status asked for);
 * finished tasks are listed newest or oldest first (a {@link ValidationError}
 * says so). A text search looks at the next {@link SEARCH_WINDOW} ids first (a
 * common match fills the page there) and past them through the trigram index
 * on finished rows (migration 040) and the live rows' indexes (a rare match).
 */
export async function listTaskPage(db: Queryable, names: SqlNames, q: TaskListQuery, where = 'listTasks'): Promise<TaskRowPage> {
  const sort = q.sort ?? 'newest';
  const finishedStatus = q.status !== undefined && (FINISHED_STATUSES as readonly string[]).includes(q.status);
  if (sort === 'priority' && finishedStatus) {
    throw new ValidationError(where, 'sort', `must be "newest" or "oldest" for ${q.status} tasks ("priority" is the claim order, so it lists live tasks)`);
  }
  const part: Part = sort === 'priority' || (q.status !== undefined && !finishedStatus) ? 'live' : finishedStatus ? 'finished' : 'all';
  const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor, sort, where);
  let rows: PageRow[];
  if (q.search === undefined || q.search === '' || sort === 'priority') {
    const params: unknown[] = [];
    const bounds = cursor ? [cursorSql(cursor, sort, params)] : [];
    rows = (await db.query<PageRow>(pageSql(names, q, part, bounds, params, ORDER[sort], q.limit + 1), params)).rows;
  } else {
    const desc = sort === 'newest';
    let edge: bigint;
    if (cursor) edge = BigInt(cursor.id);
    else {
      const { rows: ends } = await db.query<{ hi: string; lo: string }>(`SELECT coalesce(max(id) + 1, 1)::text AS hi, coalesce(min(id) - 1, 0)::text AS lo FROM ${names.tasks}`);
      edge = BigInt((desc ? ends[0]?.hi : ends[0]?.lo) ?? '0');
    }
    const far = desc ? edge - SEARCH_WINDOW : edge + SEARCH_WINDOW > MAX_BIGINT ? MAX_BIGINT : edge + SEARCH_WINDOW;
    const near: unknown[] = [String(edge), String(far)];
    const window = desc ? ['id < $1::bigint', 'id >= $2::bigint'] : ['id > $1::bigint', 'id <= $2::bigint'];
    rows = (await db.query<PageRow>(pageSql(names, q, part, window, near, ORDER[sort], q.limit + 1), near)).rows;
    const missing = q.limit + 1 - rows.length;
    if (missing > 0) {
      // Past the window: each part on its own index (`id + 0` keeps Postgres from walking the primary key through every row).
      const rest: unknown[] = [String(far)];
      const beyond = [desc ? 'id < $1::bigint' : 'id > $1::bigint'];
      const branches = (part === 'all' ? (['finished', 'live'] as const) : [part]).map((p) => `(${pageSql(names, q, p, beyond, rest, desc ? '(id + 0) DESC' : '(id + 0)', missing)})`);
      const more = await db.query<PageRow>(`SELECT * FROM (${branches.join(' UNION ALL ')}) AS m ORDER BY ${ORDER[sort]} LIMIT ${missing}`, rest);
      rows = [...rows, ...more.rows];
    }
  }
  const page = rows.slice(0, q.limit);
  const last = page.at(-1);
  let nextCursor: string | null = null;
  if (rows.length > q.limit && last) nextCursor = sort === 'priority' ? `${last.priority}.${last.cursor_us}.${last.id}` : String(last.id);
  return { rows: page.map(({ cursor_us: _c, ...row }) => row as TaskRow), nextCursor };
}

/** Ids a text search reads by primary key before it turns to the indexes (about 10 ms of rows). */
export const SEARCH_WINDOW = 20_000n;

type PageRow = TaskRow & { cursor_us: string };

/** A page statement over one part: `bounds` and the filter, in `order`, at most `limit` rows (values pushed onto `params`). */
function pageSql(names: SqlNames, f: TaskFilter, part: Part, bounds: string[], params: unknown[], order: string, limit: number): string {
  const where = [...bounds];
  filterSql(f, params, where, part);
  params.push(limit);
  return `SELECT *, (extract(epoch FROM run_at) * 1000000)::bigint::text AS cursor_us FROM ${names.tasks}
    ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT $${params.length}`;
}

/** The keyset condition of a cursor, its values pushed onto `params`. */
function cursorSql(c: Cursor, sort: TaskSort, params: unknown[]): string {
  params.push(c.id);
  const id = `$${params.length}::bigint`;
  if (sort === 'newest') return `id < ${id}`;
  if (sort === 'oldest') return `id > ${id}`;
  params.push(c.priority, c.runAt);
  return `(priority, run_at, id) > ($${params.length - 1}::smallint, 'epoch'::timestamptz + $${params.length}::bigint * interval '1 microsecond', ${id})`;
}

/** Counts of {@link countTasks}: every status of the table, the sub-states of `queued`, and the total. */
export type TaskCounts = Record<string, number> & { total: number };

/** What {@link countTasks} returns. */
export interface TaskCountResult {
  counts: TaskCounts;
  /** Whether some counts are the planner's estimates, because counting them exactly took longer than the budget. */
  approximate: boolean;
}

/** Postgres' code for a statement cancelled by `statement_timeout`. */
const QUERY_CANCELED = '57014';

/**
 * Counts of the tasks a filter matches (its `status` ignored), per status and
 * sub-state. Live and finished rows are counted apart, each exactly when the
 * planner expects at most 50,000 rows and counting takes less than `budgetMs`
 * (default 50 ms), else from the planner's row estimates (`approximate: true`),
 * so a count over millions of finished rows stays as cheap as a page.
 * `budgetMs: 0` estimates without counting. Every status the table allows appears, with 0 when none matches.
 */
export async function countTasks(pool: pg.Pool, names: SqlNames, filter: Omit<TaskFilter, 'status'>, options: { budgetMs?: number } = {}): Promise<TaskCountResult> {
  const budget = Math.max(0, Math.round(options.budgetMs ?? 50));
  const f: TaskFilter = { ...filter, status: undefined };
  const [live, finished, statuses] = await Promise.all([
    exactOrEstimated(pool, names, f, 'live', budget),
    exactOrEstimated(pool, names, f, 'finished', budget),
    taskStatuses(pool, names),
  ]);
  const counts: TaskCounts = { total: 0 };
  for (const s of [...statuses, ...SUB_STATES]) counts[s] = 0;
  for (const [status, n] of [...live.counts, ...finished.counts]) {
    counts[status] = (counts[status] ?? 0) + n;
    if (!(SUB_STATES as readonly string[]).includes(status)) counts.total += n;
  }
  return { counts, approximate: live.approximate || finished.approximate };
}

/** Estimated rows above which a part is not counted exactly (counting them would take far longer than the budget anyway). */
const EXACT_COUNT_MAX = 50_000;

/**
 * Counts per status (and sub-state, on the live part) of one part: the
 * planner's estimates first (a millisecond), then, when they are small enough
 * to count, exact counts within the budget.
 */
async function exactOrEstimated(pool: pg.Pool, names: SqlNames, filter: TaskFilter, part: 'live' | 'finished', budgetMs: number): Promise<{ counts: [string, number][]; approximate: boolean }> {
  const kinds = part === 'live' ? [...LIVE_STATUSES, ...SUB_STATES] : [...FINISHED_STATUSES];
  const estimates = await Promise.all(
    kinds.map(async (kind): Promise<[string, number]> => {
      const params: unknown[] = [];
      const conditions: string[] = [];
      // Without the part's predicate: the planner estimates a plain `status = …` from its statistics, an OR of index arms poorly.
      filterSql({ ...filter, status: kind }, params, conditions);
      const { rows } = await pool.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(
        `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${names.tasks} WHERE ${conditions.join(' AND ')}`,
        params,
      );
      // The planner never estimates fewer than one row: one means about none.
      const estimate = Math.round(rows[0]?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? 0);
      return [kind, estimate <= 1 ? 0 : estimate];
    }),
  );
  const estimatedRows = estimates.filter(([kind]) => !(SUB_STATES as readonly string[]).includes(kind)).reduce((sum, [, n]) => sum + n, 0);
  if (budgetMs > 0 && estimatedRows <= EXACT_COUNT_MAX) {
    const exact = await countExactly(pool, names, filter, part, budgetMs);
    if (exact) return { counts: exact, approximate: false };
  }
  return { counts: estimates, approximate: true };
}

/** Exact counts of one part, or `null` when counting takes longer than `budgetMs` (the statement is cancelled). */
async function countExactly(pool: pg.Pool, names: SqlNames, filter: TaskFilter, part: 'live' | 'finished', budgetMs: number): Promise<[string, number][] | null> {
  const params: unknown[] = [];
  const conditions: string[] = [];
  filterSql(filter, params, conditions, part);
  const sub = part === 'live' ? `, count(*) FILTER (WHERE ${SUB_SQL.delayed}) AS delayed, count(*) FILTER (WHERE ${SUB_SQL.retrying}) AS retrying` : '';
  try {
    const rows = await inTransaction(pool, async (client) => {
      await client.query(`SET LOCAL statement_timeout = ${budgetMs}`);
      const { rows } = await client.query<{ status: string; n: string; delayed?: string; retrying?: string }>(
        `SELECT status, count(*) AS n${sub} FROM ${names.tasks} WHERE ${conditions.join(' AND ')} GROUP BY status`,
        params,
      );
      return rows;
    });
    const counts: [string, number][] = [];
    for (const r of rows) {
      counts.push([r.status, Number(r.n)]);
      if (part === 'live') counts.push(['delayed', Number(r.delayed)], ['retrying', Number(r.retrying)]);
    }
    return counts;
  } catch (err) {
    if ((err as { code?: string }).code === QUERY_CANCELED) return null;
    throw err;
  }
}

const statusCache = new Map<string, { at: number; statuses: Promise<string[]> }>();

/**
 * The statuses the task table allows, in the order its CHECK constraint lists
 * them (read from the catalog, cached for a minute), so a status added by a
 * migration shows up without a code change here.
 */
export function taskStatuses(db: Queryable, names: SqlNames): Promise<string[]> {
  const hit = statusCache.get(names.schemaName);
  if (hit && Date.now() - hit.at < 60_000) return hit.statuses;
  const statuses = db
    .query<{ def: string }>(
      `SELECT pg_get_constraintdef(c.oid) AS def
         FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
        WHERE n.nspname = $1 AND r.relname = 'tasks' AND c.contype = 'c' AND pg_get_constraintdef(c.oid) ~ '\\mstatus\\M'
        ORDER BY c.oid LIMIT 1`,
      [names.schemaName],
    )
    .then(({ rows }) => {
      const found = [...(rows[0]?.def ?? '').matchAll(/'([a-z_]+)'/g)].map((m) => m[1] as string);
      return found.length > 0 ? found : ['queued', 'running', ...FINISHED_STATUSES];
    });
  statuses.catch(() => statusCache.delete(names.schemaName));
  statusCache.set(names.schemaName, { at: Date.now(), statuses });
  return statuses;
}

/** One attempt of a task, reconstructed from its error history and its current row. */
export interface TaskAttempt {
  /** Attempt number (`ctx.attempt`); numbering restarts after a manual retry. */
  attempt: number;
  /** `failed` for an attempt that ended in an error; else the task's status for its latest attempt. */
  outcome: string;
  /** When the attempt started, when known (recorded with errors since this version, and for the latest attempt). */
  startedAt: Date | null;
  /** When it ended (the error's time, or the task's `finishedAt`). */
  endedAt: Date | null;
  /** Milliseconds between start and end, when both are known. */
  durationMs: number | null;
  /** The worker (`locked_by`) that ran it, when known. */
  worker: string | null;
  /** Error message and stack of a failed attempt. */
  error: { message: string; stack?: string } | null;
}

/** The attempts of a task as a timeline, oldest first: one per stored error, then the latest when it did not end in one of them. */
export function attemptTimeline(row: TaskRow): TaskAttempt[] {
  const out: TaskAttempt[] = row.errors.map((e: TaskErrorEntry) => {
    const startedAt = e.startedAt ? new Date(e.startedAt) : null;
    const endedAt = new Date(e.at);
    const error: { message: string; stack?: string } = { message: e.message };
    if (e.stack !== undefined) error.stack = e.stack;
    return {
      attempt: e.attempt,
      outcome: 'failed',
      startedAt,
      endedAt,
      durationMs: startedAt ? endedAt.getTime() - startedAt.getTime() : null,
      worker: e.worker ?? null,
      error,
    };
  });
  const lastError = row.errors.at(-1);
  // The latest attempt is already listed when it ended in the last stored error.
  const latestListed = lastError !== undefined && row.started_at !== null && new Date(lastError.at) >= row.started_at;
  if (row.started_at && !latestListed) {
    const ended = row.status === 'running' ? null : row.finished_at;
    out.push({
      attempt: row.attempts,
      outcome: row.status === 'queued' ? 'interrupted' : row.status,
      startedAt: row.started_at,
      endedAt: ended,
      durationMs: ended ? ended.getTime() - row.started_at.getTime() : null,
      worker: row.status === 'running' ? row.locked_by : null,
      error: null,
    });
  }
  return out;
}

/** The row of task `id` (an id as {@link isTaskId} accepts), or `null`. */
export async function getTaskRow(db: Queryable, names: SqlNames, id: string): Promise<TaskRow | null> {
  const { rows } = await db.query<TaskRow>(`SELECT * FROM ${names.tasks} WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/** Everything about one task: {@link TaskInfo}, its attempts as a timeline, its retry policy and who runs it now. */
export interface TaskDetail extends TaskInfo, TaskLinks {
  attemptTimeline: TaskAttempt[];
  retryPolicy: { maxRetries: number; retryDelay: number; backoff: string | null; maxDelay: number | null; timeout: number | null };
  updatedAt: Date;
  /** The worker running it now (`null` unless running). */
  worker: string | null;
}

/** Where a task belongs: its workflow or batch and step, and the queue it was dead-lettered from. */
export interface TaskLinks {
  /** Workflow or batch id, or `null`. */
  workflowId: string | null;
  /** Step name in its workflow, or `null`. */
  step: string | null;
  /** Queue it came from when dead-lettered (`redrive` moves it back there), or `null`. */
  deadFrom: string | null;
}

/** The {@link TaskLinks} of a row. */
export function taskLinks(row: TaskRow): TaskLinks {
  return { workflowId: row.workflow_id === null ? null : String(row.workflow_id), step: row.step, deadFrom: row.dead_from };
}

/** The {@link TaskDetail} of a row. */
export function taskDetail(row: TaskRow): TaskDetail {
  return {
    ...toTaskInfo(row),
    attemptTimeline: attemptTimeline(row),
    retryPolicy: { maxRetries: row.max_retries, retryDelay: row.retry_delay, backoff: row.backoff, maxDelay: row.max_delay, timeout: row.timeout },
    updatedAt: row.updated_at,
    worker: row.status === 'running' ? row.locked_by : null,
    ...taskLinks(row),
  };
}

/** Actions a bulk request can take. */
export type BulkAction = 'cancel' | 'retry' | 'promote' | 'delete';

/** What a bulk action touches: listed ids, or every task a filter matches. */
export type BulkSelection = { ids: string[] } | { filter: TaskFilter };

/** Outcome of {@link bulkTaskAction}. */
export interface BulkResult {
  action: BulkAction;
  /** Rows the action applies to (a dry run only counts them) or touched. */
  count: number;
  /** Whether nothing was changed. */
  dryRun: boolean;
  /** Statements it took. */
  batches: number;
  /** Failed or cancelled tasks not retried because another live task holds their key. */
  skipped: number;
}

/** Which rows an action applies to. Cancel takes any live status (queued, running and any added later). */
const ELIGIBLE: Record<BulkAction, string> = {
  cancel: `NOT ${FINISHED_SQL}`,
  retry: `status IN ('failed', 'cancelled')`,
  promote: `status = 'queued' AND run_at > now()`,
  delete: FINISHED_SQL,
};

/** The write of each action over the locked rows `sel`; returns `id` and `queue`. */
function writeSql(action: BulkAction, table: string): string {
  switch (action) {
    case 'cancel':
      return `UPDATE ${table} AS t SET status = 'cancelled', finished_at = now(), updated_at = now(), locked_by = NULL, locked_until = NULL
                FROM sel WHERE t.id = sel.id AND NOT t.${FINISHED_SQL} RETURNING t.id, t.queue`;
    case 'retry':
      return `UPDATE ${table} AS t SET status = 'queued', attempts = 0, deferrals = 0, run_at = now(), finished_at = NULL, updated_at = now()
                FROM sel WHERE t.id = sel.id AND t.status IN ('failed', 'cancelled') RETURNING t.id, t.queue`;
    case 'promote':
      return `UPDATE ${table} AS t SET run_at = now(), updated_at = now()
                FROM sel WHERE t.id = sel.id AND t.status = 'queued' AND t.run_at > now() RETURNING t.id, t.queue`;
    case 'delete':
      return `DELETE FROM ${table} AS t USING sel WHERE t.id = sel.id AND t.${FINISHED_SQL} RETURNING t.id, t.queue`;
  }
}

/**
 * Applies `action` to the selected tasks that are in a state it accepts, in
 * batches of at most `batchSize` rows, newest first; each batch is one
 * statement that locks its rows (skipping rows another transaction holds),
 * changes them and wakes their queues. With `dryRun`, counts the rows it would
 * touch and changes nothing. Retrying skips tasks whose key another live task
 * holds (`skipped`).
 */
export async function bulkTaskAction(
  db: Queryable,
  names: SqlNames,
  action: BulkAction,
  selection: BulkSelection,
  options: { dryRun?: boolean; batchSize?: number } = {},
): Promise<BulkResult> {
  const params: unknown[] = [];
  const conditions: string[] = [ELIGIBLE[action]];
  if ('ids' in selection) {
    params.push(selection.ids);
    conditions.push(`id = ANY($${params.length}::bigint[])`);
  } else filterSql(selection.filter, params, conditions);
  const result: BulkResult = { action, count: 0, dryRun: options.dryRun === true, batches: 0, skipped: 0 };
  if (options.dryRun) {
    const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${names.tasks} WHERE ${conditions.join(' AND ')}`, params);
    result.count = Number(rows[0]?.n ?? 0);
    result.batches = 1;
    return result;
  }
  const size = options.batchSize ?? 500;
  // A retried task must not take a key another live task holds (the unique index would refuse the batch).
  const keyFree = `(key IS NULL OR NOT EXISTS (SELECT 1 FROM ${names.tasks} l WHERE l.name = c.name AND l.key = c.key AND l.status IN ('queued', 'running')))`;
  let after: string | null = null;
  for (;;) {
    const values = [...params, after, size, names.channel];
    const n = params.length;
    const statement = `WITH c AS (
         SELECT id, name, key FROM ${names.tasks}
          WHERE ${conditions.join(' AND ')} AND ($${n + 1}::bigint IS NULL OR id < $${n + 1}::bigint)
          ORDER BY id DESC LIMIT $${n + 2}
          FOR UPDATE SKIP LOCKED
       ), sel AS (SELECT id FROM c ${action === 'retry' ? `WHERE ${keyFree}` : ''}),
       done AS (${writeSql(action, names.tasks)}),
       woken AS (${action === 'delete' || action === 'cancel' ? `SELECT $${n + 3}::text WHERE false` : `SELECT pg_notify($${n + 3}, q.queue) FROM (SELECT DISTINCT queue FROM done) AS q`})
       SELECT (SELECT count(*) FROM c) AS scanned, (SELECT min(id) FROM c)::text AS last,
              (SELECT count(*) FROM c) - (SELECT count(*) FROM sel) AS skipped,
              coalesce((SELECT array_agg(id::text) FROM done), '{}') AS ids,
              (SELECT count(*) FROM woken) AS woken`;
    let rows: { scanned: string; last: string | null; skipped: string; ids: string[] }[];
    try {
      ({ rows } = await db.query(statement, values));
    } catch (err) {
      // Two tasks of this batch with the same key, or a live one enqueued meanwhile:
      // leave keyed tasks out of this batch rather than fail the request.
      if ((err as { code?: string }).code !== '23505' || action !== 'retry') throw err;
      ({ rows } = await db.query(statement.replace(`WHERE ${keyFree}`, 'WHERE key IS NULL'), values));
    }
    const row = rows[0];
    result.batches++;
    if (!row) break;
    result.count += row.ids.length;
    result.skipped += Number(row.skipped);
    if (action === 'cancel' && row.ids.length > 0) await announceTasks(db, names, 'cancelled', row.ids).catch(() => {});
    if (Number(row.scanned) < size || row.last === null) break;
    after = row.last;
  }
  return result;
}
