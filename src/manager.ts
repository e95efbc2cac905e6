import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type pg from 'pg';
import { enqueueOptionsSchema, listTasksSchema, parse } from './config.js';
import { announceTasks } from './db/announce.js';
import { unstorableInJsonb } from './db/json.js';
import { sqlNames } from './db/names.js';
import { type Queryable, queryableOf, quoteIdent } from './db/pool.js';
import type { Database, TaskStatus } from './db/types.js';
import { CourierError, UnknownTaskError, ValidationError } from './errors.js';
import type { CourierEvents } from './events.js';
import type { TaskDefinition, TaskRegistry } from './registry.js';
import { type TaskInfo, type TaskRow, toTaskInfo } from './task-info.js';

/** Options of one enqueue. Durations are seconds. */
export interface EnqueueOptions {
  /** Queue to put the task on (default: the task's queue, else `'default'`). */
  queue?: string;
  /** 1 = highest … 10 = lowest (default: the task's, else 5). */
  priority?: number;
  /** Retries after the first attempt (default: the task's, else 3). */
  maxRetries?: number;
  /** Seconds; base of the exponential backoff (default: the task's, else 60). */
  retryDelay?: number;
  /** Seconds a run may take (default: the task's, else none). */
  timeout?: number;
  /** Do not start before this time (a Date, ISO-8601 string or epoch milliseconds). */
  runAt?: Date | string | number;
  /** Dedup key: while a task of this name and key is queued or running, enqueue returns its id. */
  key?: string;
  /** With `key`: `'keep'` (default) leaves the queued task as is; `'replace'` overwrites its payload and options. */
  keyMode?: 'keep' | 'replace';
  /** The caller's open transaction (a `pg` client inside `BEGIN`, or a Kysely transaction): the task exists only if it commits. */
  tx?: unknown;
}

/** One item of {@link TaskManager.enqueueMany}. */
export interface EnqueueItem {
  /** Task name (or its definition). */
  name: string | TaskDefinition<any>;
  /** Payload for the task. */
  payload?: unknown;
  /** Per-item options; `tx` and `keyMode` are taken from the call instead. */
  options?: Omit<EnqueueOptions, 'tx' | 'keyMode'>;
}

/** Counts of one queue, the origin systems' status shape. */
export interface QueueCounts {
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Every task in the queue, whatever its state. */
  total: number;
  /** Tasks enqueued in the last 24 hours. */
  last24h: number;
  /** When any task of the queue last changed, or `null` for an empty queue. */
  lastUpdated: Date | null;
}

/** What {@link TaskManager.queueStatus} returns. */
export interface QueueStatus {
  /** Counts per queue name. */
  queues: Record<string, QueueCounts>;
  /** Counts over all queues. */
  total: QueueCounts;
}

/** Filters of {@link TaskManager.list}; all optional. */
export interface ListTasksOptions {
  /** Only this queue. */
  queue?: string;
  /** Only this status. */
  status?: TaskStatus;
  /** Only this task name. */
  name?: string;
  /** Enqueued at or after this time. */
  createdAfter?: Date | string;
  /** Enqueued before this time. */
  createdBefore?: Date | string;
  /** Page size, 1–500 (default 50). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** One page of {@link TaskManager.list}. */
export interface TaskPage {
  /** Newest first. */
  tasks: TaskInfo[];
  /** Pass as `cursor` for the next page; `null` on the last page. */
  nextCursor: string | null;
}

/** The manager's view of the database; a courier builds it. */
export interface ManagerDeps {
  pool: pg.Pool;
  db: Kysely<Database>;
  schema: string;
  registry: TaskRegistry;
  /** Receives `task:enqueued`. */
  events?: CourierEvents;
}

const MAX_PAYLOAD_BYTES = 1024 * 1024;
// Built once: deriving zod schemas per item dominated the cost of a large enqueueMany.
const callOptionsSchema = enqueueOptionsSchema.pick({ tx: true, keyMode: true });
const itemOptionsSchema = enqueueOptionsSchema.omit({ tx: true, keyMode: true });

interface Row {
  queue: string;
  name: string;
  payload: string;
  priority: number;
  maxRetries: number;
  retryDelay: number;
  timeout: number | null;
  runAt: Date | null;
  key: string | null;
}

/**
 * Enqueues and inspects tasks. Every write is one statement; enqueue joins the
 * caller's transaction when given `tx`.
 *
 * @example
 * ```ts
 * const manager = courier.manager; // or new TaskManager(courier)
 * const id = await manager.enqueueTask('send_welcome', { userId: 1 }, { priority: 1 });
 * const info = await manager.get(id);
 * ```
 */
export class TaskManager {
  readonly #deps: ManagerDeps;
  readonly #table: string;

  /** Builds a manager over a courier (or its parts). */
  constructor(source: ManagerDeps | { manager: TaskManager }) {
    this.#deps = 'manager' in source ? source.manager.#deps : source;
    this.#table = `${quoteIdent(this.#deps.schema)}.tasks`;
  }

  /**
   * Enqueues one task and returns its id. Validates the name, payload and options
   * first: a {@link ValidationError} names the field and nothing is written.
   */
  async enqueueTask<P>(task: TaskDefinition<P>, payload: P, options?: EnqueueOptions): Promise<string>;
  async enqueueTask(name: string, payload?: unknown, options?: EnqueueOptions): Promise<string>;
  async enqueueTask(task: string | TaskDefinition<any>, payload?: unknown, options: EnqueueOptions = {}): Promise<string> {
    const checked = parse(enqueueOptionsSchema, options ?? {}, 'enqueueTask');
    const row = this.#row(task, payload, checked, 'enqueueTask');
    const [id] = await this.#insert([row], checked.keyMode ?? 'keep', this.#runner(checked.tx, 'enqueueTask'));
    this.#deps.events?.emit('task:enqueued', { ids: [id as string] });
    return id as string;
  }

  /**
   * Enqueues many tasks in one INSERT statement (one NOTIFY per queue) and returns
   * their ids in input order. All items are validated before anything is written.
   */
  async enqueueMany(items: EnqueueItem[], options: { tx?: unknown; keyMode?: 'keep' | 'replace' } = {}): Promise<string[]> {
    if (!Array.isArray(items)) throw new ValidationError('enqueueMany', 'items', 'must be an array');
    const common = parse(callOptionsSchema, options ?? {}, 'enqueueMany');
    const rows = items.map((item, i) => {
      if (typeof item !== 'object' || item === null) throw new ValidationError('enqueueMany', `items.${i}`, 'must be { name, payload, options? }');
      const opts = item.options === undefined ? {} : parse(itemOptionsSchema, item.options, 'enqueueMany', `items.${i}.options`);
      return this.#row(item.name, item.payload, opts, 'enqueueMany', `items.${i}.`);
    });
    if (rows.length === 0) return [];
    const keyMode = common.keyMode ?? 'keep';
    if (keyMode === 'replace') assertDistinctKeys(rows);
    const ids = await this.#insert(rows, keyMode, this.#runner(common.tx, 'enqueueMany'));
    this.#deps.events?.emit('task:enqueued', { ids });
    return ids;
  }

  /** The task with this id, or `null`. */
  async get(id: string): Promise<TaskInfo | null> {
    if (!isTaskId(id)) return null;
    const { rows } = await this.#deps.pool.query<TaskRow>(`SELECT * FROM ${this.#table} WHERE id = $1`, [id]);
    return rows[0] ? toTaskInfo(rows[0]) : null;
  }

  /**
   * Cancels a queued or running task. A running handler's result is then dropped
   * (its lease no longer matches) and its `ctx.signal` aborts at the next lease
   * renewal. Returns `false` when the task was already finished or does not exist.
   */
  async cancel(id: string): Promise<boolean> {
    if (!isTaskId(id)) return false;
    const res = await this.#deps.db
      .withSchema(this.#deps.schema)
      .updateTable('tasks')
      .set({ status: 'cancelled', finished_at: sql`now()`, updated_at: sql`now()`, locked_by: null, locked_until: null })
      .where('id', '=', id)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    // Cluster-wide `task:cancelled` and waitForTask wake-up (db/announce.ts); at-most-once,
    // so a failed announcement does not fail the cancel, which has committed.
    if (res.numUpdatedRows > 0n) await announceTasks(this.#deps.pool, sqlNames(this.#deps.schema), 'cancelled', [id]).catch(() => {});
    return res.numUpdatedRows > 0n;
  }

  /**
   * Puts a failed or cancelled task back in its queue to run now, with its attempt
   * count reset (its error history is kept). Returns `false` when the task is not
   * failed/cancelled or does not exist.
   */
  async retry(id: string): Promise<boolean> {
    if (!isTaskId(id)) return false;
    try {
      const res = await this.#deps.db
        .withSchema(this.#deps.schema)
        .updateTable('tasks')
        .set({ status: 'queued', attempts: 0, run_at: sql`now()`, finished_at: null, updated_at: sql`now()` })
        .where('id', '=', id)
        .where('status', 'in', ['failed', 'cancelled'])
        .executeTakeFirst();
      if (res.numUpdatedRows > 0n) await this.#deps.pool.query('SELECT pg_notify($1, queue) FROM ' + this.#table + ' WHERE id = $2', [`${this.#deps.schema}.tasks`, id]);
      return res.numUpdatedRows > 0n;
    } catch (err) {
      if ((err as { code?: string }).code === '23505') {
        throw new CourierError(`task ${id} cannot be retried: another task with the same key is queued or running`);
      }
      throw err;
    }
  }

  /**
   * Lists tasks newest first, filtered by queue, status, name and enqueue time, a
   * page at a time (keyset pagination: pages stay stable while tasks are added).
   */
  async list(options: ListTasksOptions = {}): Promise<TaskPage> {
    const f = parse(listTasksSchema, options ?? {}, 'listTasks');
    let q = this.#deps.db.withSchema(this.#deps.schema).selectFrom('tasks').selectAll().orderBy('id', 'desc').limit(f.limit + 1);
    if (f.queue) q = q.where('queue', '=', f.queue);
    if (f.status) q = q.where('status', '=', f.status);
    if (f.name) q = q.where('name', '=', f.name);
    if (f.createdAfter) q = q.where('created_at', '>=', f.createdAfter);
    if (f.createdBefore) q = q.where('created_at', '<', f.createdBefore);
    if (f.cursor) q = q.where('id', '<', f.cursor);
    const rows = (await q.execute()) as unknown as TaskRow[];
    const page = rows.slice(0, f.limit);
    return { tasks: page.map(toTaskInfo), nextCursor: rows.length > f.limit ? String(page.at(-1)?.id) : null };
  }

  /** Counts per status per queue and in total, with 24-hour activity and last update. */
  async queueStatus(): Promise<QueueStatus> {
    const { rows } = await this.#deps.pool.query<{ queue: string; status: TaskStatus; n: string; recent: string; updated: Date | null }>(
      `SELECT queue, status, count(*) AS n,
              count(*) FILTER (WHERE created_at > now() - interval '24 hours') AS recent,
              max(updated_at) AS updated
         FROM ${this.#table} GROUP BY queue, status`,
    );
    const queues: Record<string, QueueCounts> = {};
    const total = emptyCounts();
    for (const r of rows) {
      const q = (queues[r.queue] ??= emptyCounts());
      for (const c of [q, total]) {
        c[r.status] += Number(r.n);
        c.total += Number(r.n);
        c.last24h += Number(r.recent);
        if (r.updated && (!c.lastUpdated || r.updated > c.lastUpdated)) c.lastUpdated = r.updated;
      }
    }
    return { queues, total };
  }

  #runner(tx: unknown, where: string): Queryable {
    if (tx === undefined) return this.#deps.pool;
    const q = queryableOf(tx);
    if (!q) throw new ValidationError(where, 'tx', 'must be a pg client inside BEGIN or a Kysely transaction');
    return q;
  }

  #row(task: string | TaskDefinition<any>, payload: unknown, options: ReturnType<typeof enqueueOptionsSchema.parse>, where: string, prefix = ''): Row {
    const name = typeof task === 'string' ? task : task?.name;
    if (typeof name !== 'string') throw new ValidationError(where, `${prefix}name`, 'must be a task name or definition');
    const def = this.#deps.registry.get(name);
    if (!def) throw new UnknownTaskError(name, where, `${prefix}name`);
    if (def.payload) parse(def.payload, payload, where, `${prefix}payload`);
    return {
      queue: options.queue ?? def.queue ?? 'default',
      name,
      payload: serializePayload(payload, where, `${prefix}payload`),
      priority: options.priority ?? def.priority ?? 5,
      maxRetries: options.maxRetries ?? def.maxRetries ?? 3,
      retryDelay: options.retryDelay ?? def.retryDelay ?? 60,
      timeout: options.timeout ?? def.timeout ?? null,
      runAt: options.runAt ?? null,
      key: options.key ?? null,
    };
  }

  async #insert(rows: Row[], keyMode: 'keep' | 'replace', runner: Queryable): Promise<string[]> {
    const onConflict =
      keyMode === 'replace'
        ? `DO UPDATE SET payload = EXCLUDED.payload, queue = EXCLUDED.queue, priority = EXCLUDED.priority,
             max_retries = EXCLUDED.max_retries, retry_delay = EXCLUDED.retry_delay, timeout = EXCLUDED.timeout,
             run_at = EXCLUDED.run_at, updated_at = now()
           WHERE tasks.status = 'queued'`
        : 'DO NOTHING';
    const { rows: inserted } = await runner.query<{ id: string; name: string; key: string | null }>(
      `INSERT INTO ${this.#table} (queue, name, payload, priority, max_retries, retry_delay, timeout, run_at, key)
       SELECT q, n, p, pr, mr, rd, t, coalesce(ra, now()), k
         FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::smallint[], $5::int[], $6::float8[], $7::float8[], $8::timestamptz[], $9::text[])
           AS v(q, n, p, pr, mr, rd, t, ra, k)
       ON CONFLICT (name, key) WHERE key IS NOT NULL AND status IN ('queued', 'running') ${onConflict}
       RETURNING id, name, key`,
      [
        rows.map((r) => r.queue),
        rows.map((r) => r.name),
        rows.map((r) => r.payload),
        rows.map((r) => r.priority),
        rows.map((r) => r.maxRetries),
        rows.map((r) => r.retryDelay),
        rows.map((r) => r.timeout),
        rows.map((r) => r.runAt),
        rows.map((r) => r.key),
      ],
    );
    return this.#matchIds(rows, inserted, runner);
  }

  /**
   * New rows get ascending ids in input order; an input whose key collided gets
   * the id of the live task holding that key.
   */
  async #matchIds(rows: Row[], returned: { id: string; name: string; key: string | null }[], runner: Queryable): Promise<string[]> {
    const byKey = new Map(returned.filter((r) => r.key !== null).map((r) => [`${r.name}\0${r.key}`, r.id]));
    const fresh = returned.filter((r) => r.key === null).sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    const ids: string[] = [];
    const missing: number[] = [];
    let next = 0;
    for (const [i, row] of rows.entries()) {
      if (row.key === null) ids.push((fresh[next++] as { id: string }).id);
      else {
        const id = byKey.get(`${row.name}\0${row.key}`);
        ids.push(id ?? '');
        if (!id) missing.push(i);
      }
    }
    if (missing.length > 0) {
      const { rows: live } = await runner.query<{ id: string; name: string; key: string }>(
        `SELECT id, name, key FROM ${this.#table}
          WHERE (name, key) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND status IN ('queued', 'running')`,
        [missing.map((i) => rows[i]?.name), missing.map((i) => rows[i]?.key)],
      );
      const liveByKey = new Map(live.map((r) => [`${r.name}\0${r.key}`, r.id]));
      for (const i of missing) {
        const row = rows[i] as Row;
        const id = liveByKey.get(`${row.name}\0${row.key}`);
        // The holder finished between our insert and this read: try once more.
        ids[i] = id ?? (await this.#insert([row], 'keep', runner))[0] ?? '';
      }
    }
    return ids;
  }
}

function emptyCounts(): QueueCounts {
  return { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, total: 0, last24h: 0, lastUpdated: null };
}

function isTaskId(id: unknown): id is string {
  return typeof id === 'string' && /^[1-9][0-9]{0,18}$/.test(id);
}

function assertDistinctKeys(rows: Row[]): void {
  const seen = new Set<string>();
  for (const [i, r] of rows.entries()) {
    if (r.key === null) continue;
    const k = `${r.name}\0${r.key}`;
    if (seen.has(k)) throw new ValidationError('enqueueMany', `items.${i}.options.key`, 'must be unique within one call when keyMode is "replace"');
    seen.add(k);
  }
}

/** JSON-encodes a payload, rejecting what Postgres jsonb or JSON cannot hold. */
export function serializePayload(payload: unknown, where: string, field: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(payload === undefined ? {} : payload);
  } catch (err) {
    throw new ValidationError(where, field, `must be JSON-serialisable (${(err as Error).name === 'RangeError' ? 'nested too deeply' : (err as Error).message})`);
  }
  if (json === undefined) throw new ValidationError(where, field, 'must be JSON-serialisable');
  const unstorable = unstorableInJsonb(json);
  if (unstorable) throw new ValidationError(where, field, `must not contain ${unstorable} (Postgres jsonb cannot store them)`);
  if (Buffer.byteLength(json) > MAX_PAYLOAD_BYTES) throw new ValidationError(where, field, `must be at most ${MAX_PAYLOAD_BYTES} bytes as JSON`);
  return json;
}
