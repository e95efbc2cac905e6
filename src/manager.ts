import type pg from 'pg';
import { enqueueOptionsSchema, listTasksSchema, parse } from './config.js';
import { announceTasks } from './db/announce.js';
import { JsonLossError, stringifyLossless, unstorableInJsonb } from './db/json.js';
import { type SqlNames, sqlNames } from './db/names.js';
import { type Queryable, runPrepared } from './db/pool.js';
import { SchemaGuard } from './db/schema-guard.js';
import { isTaskId } from './db/task-id.js';
import { transactionQueryable } from './db/tx/index.js';
import type { TaskRow, TaskStatus } from './db/types.js';
import type { EnqueueRow } from './enqueue-row.js';
import { ConflictError, NotFoundError, StateError, UnknownTaskError, ValidationError } from './errors.js';
import type { CourierEvents } from './events.js';
import { flowRow, insertFlowRows } from './flow/enqueue.js';
import type { TaskDefinition, TaskRegistry } from './registry.js';
import { type TaskInfo, toTaskInfo } from './task-info.js';
import { currentTracing, loadTracing } from './tracing.js';
import { type EdgePolicy, type GraphNode, parentRefs } from './workflow/graph.js';
import { insertGraph } from './workflow/insert.js';

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
  /**
   * Curve of the delay between attempts: `'exponential'` (doubles from
   * `retryDelay`, with jitter), `'linear'` or `'fixed'` (default: the task's, else
   * exponential). A function of the attempt is accepted by `defineTask` only.
   */
  backoff?: 'exponential' | 'linear' | 'fixed';
  /** Seconds; the longest delay between attempts (default: the task's, else an hour or `retryDelay` when larger). */
  maxDelay?: number;
  /**
   * Do not start before this time: a Date, an ISO-8601 string or epoch
   * **milliseconds**. A number that looks like epoch seconds (below 10^11) is
   * refused; use `delay` for "seconds from now".
   */
  runAt?: Date | string | number;
  /** Do not start before this many seconds from now (by the database's clock). Not together with `runAt`. */
  delay?: number;
  /** Dedup key: while a task of this name and key is queued or running, enqueue returns its id. */
  key?: string;
  /** With `key` (an error without it): `'keep'` (default) leaves the queued task as is; `'replace'` overwrites its payload and options. */
  keyMode?: 'keep' | 'replace';
  /**
   * The caller's open transaction: the task exists only if it commits. A `pg`
   * client inside `BEGIN`, or the transaction object of Kysely, Drizzle
   * (node-postgres or postgres.js), Prisma (the `$transaction` client), Knex,
   * TypeORM (EntityManager or QueryRunner), Sequelize, MikroORM (EntityManager) or
   * postgres.js (`sql.begin`). An object that shows it is outside a transaction (a
   * pool, a database or ORM instance, a finished transaction) is refused: the task
   * would commit at once.
   */
  tx?: unknown;
  /** Group of the task (a tenant id, say): the queue's `groupConcurrency`, `groupRateLimit` and fair claiming apply per group. */
  group?: string;
  /** With `group`: the group's tier, which picks its cap from the queue's `groupConcurrency.tiers`. */
  groupTier?: string;
  /** FIFO key: tasks of one queue with the same sequence run one at a time, in enqueue order (not with `group`). */
  sequence?: string;
  /**
   * While a task of this name and debounce `key` is queued, enqueue updates that
   * task instead of adding one and returns its id: the last payload and options
   * win. The task runs `seconds` after the first enqueue (`mode: 'replace'`) or
   * after the last one (`mode: 'extend'`, the default). `enqueueTask` only; not with `key`, `runAt` or `delay`.
   */
  debounce?: { key: string; seconds: number; mode?: 'replace' | 'extend' };
  /**
   * At most one task of this name and `key` per window of `seconds` (windows
   * aligned to the epoch); a later enqueue in the same window is dropped and
   * returns the existing task's id, whatever its state. `enqueueTask` only.
   */
  throttle?: { key: string; seconds: number };
  /** Seconds; with `key`: one task per key per window of this length, whatever its state (instead of one live task per key). `enqueueTask` only. */
  keyWindow?: number;
  /**
   * Parent task ids: the task is `waiting` (never claimed) until every parent has
   * finished, then `queued`; its handler reads the parents' results as
   * `ctx.parents`. Give `{ id, onFailure }` to choose what a parent's failure or
   * cancellation does to it: `'fail'` (default), `'run'` (run anyway) or `'skip'`
   * (cancel it). Not together with `key`.
   */
  dependsOn?: Array<string | { id: string; onFailure?: EdgePolicy }>;
}

/**
 * One item of {@link TaskManager.enqueueMany}. Given a definition as `name`,
 * the payload is typed by it: `{ name: sendWelcome, payload: { userId: 1 } }`.
 */
export type EnqueueItem<P = unknown> = {
  /** Task name (or its definition, which types `payload`). */
  name: string | TaskDefinition<P, string, any>;
  /** Payload for the task. */
  payload?: P;
  /** Per-item options; `tx` and `keyMode` are taken from the call instead. */
  options?: Omit<EnqueueOptions, 'tx' | 'keyMode'>;
};

/**
 * The items of an `enqueueMany` call, each checked against its own definition:
 * `[{ name: a, payload: pa }, { name: b, payload: pb }]` with `pa` typed by `a`
 * and `pb` by `b`.
 */
export type EnqueueItems<T extends readonly unknown[]> = { [K in keyof T]: T[K] extends { name: TaskDefinition<infer P, string, any> } ? EnqueueItem<P> : EnqueueItem<any> };

/** Counts of one queue, the origin systems' status shape. */
export interface QueueCounts {
  /** Tasks whose parents have not all finished (`dependsOn`). */
  waiting: number;
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
  /** `run_at` of the oldest task that is due and still waiting (how long the backlog has waited), or `null`. */
  oldestQueuedAt: Date | null;
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
  /** Only tasks whose last attempt failed and that wait for their retry (with `status: 'queued'`, the retrying ones). */
  retrying?: boolean;
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
  /** A replica for `list` and `queueStatus` (default: `pool`). */
  readPool?: pg.Pool;
  schema: string;
  registry: TaskRegistry;
  /** Receives `task:enqueued`. */
  events?: CourierEvents;
  /**
   * Runs each statement after the pending automatic migration and turns "relation does not exist" into NotMigratedError.
   *
   * @internal
   */
  guard?: SchemaGuard;
  /**
   * Refuses a workflow step or batch member (a row of {@link TaskManager.prepareRow}) this manager's database must not hold: with `clusters`, one whose queue is routed elsewhere.
   *
   * @internal
   */
  checkGraphRow?: (row: EnqueueRow, where: string, prefix: string) => void;
}

const MAX_PAYLOAD_BYTES = 1024 * 1024;
// Built once: deriving zod schemas per item dominated the cost of a large enqueueMany.
const callOptionsSchema = enqueueOptionsSchema.pick({ tx: true, keyMode: true });
const itemOptionsSchema = enqueueOptionsSchema.omit({ tx: true, keyMode: true });

type Row = EnqueueRow;

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
  readonly #names: SqlNames;
  readonly #table: string;
  readonly #guard: SchemaGuard;

  /** Builds a manager over a courier (or its parts). */
  constructor(source: ManagerDeps | { manager: TaskManager }) {
    this.#deps = 'manager' in source ? source.manager.#deps : source;
    this.#names = sqlNames(this.#deps.schema);
    this.#table = this.#names.tasks;
    this.#guard = this.#deps.guard ?? new SchemaGuard(this.#deps.schema);
  }

  /**
   * Enqueues one task and returns its id. Validates the name, payload and options
   * first: a {@link ValidationError} names the field and nothing is written.
   */
  async enqueueTask<P>(task: TaskDefinition<P, string, any>, payload: P, options?: EnqueueOptions): Promise<string>;
  async enqueueTask(name: string, payload?: unknown, options?: EnqueueOptions): Promise<string>;
  async enqueueTask(task: string | TaskDefinition<any, string, any>, payload?: unknown, options: EnqueueOptions = {}): Promise<string> {
    if (currentTracing() === undefined) await loadTracing();
    const checked = isEmptyOptions(options) ? NO_OPTIONS : parse(enqueueOptionsSchema, options, 'enqueueTask');
    assertOneStart(checked, 'enqueueTask', '');
    if (checked.keyMode !== undefined && checked.key === undefined) throw new ValidationError('enqueueTask', 'keyMode', 'must be given only together with key');
    const row = this.#row(task, payload, checked, 'enqueueTask');
    const runner = this.#runner(checked.tx, 'enqueueTask');
    if (checked.dependsOn) return (await this.#insertDependents([row], [{ label: 'options', parents: parentRefs(checked.dependsOn) }], runner, 'enqueueTask'))[0] as string;
    const [id] = await this.#guard.run(() => this.#insert([row], checked.keyMode ?? 'keep', runner));
    this.#deps.events?.emit('task:enqueued', { ids: [id as string] });
    return id as string;
  }

  /**
   * Enqueues many tasks in one INSERT statement (one NOTIFY per queue) and returns
   * their ids in input order. All items are validated before anything is written.
   */
  async enqueueMany<const T extends readonly EnqueueItem<any>[]>(items: T & EnqueueItems<T>, options: { tx?: unknown; keyMode?: 'keep' | 'replace' } = {}): Promise<string[]> {
    if (!Array.isArray(items)) throw new ValidationError('enqueueMany', 'items', 'must be an array');
    if (currentTracing() === undefined) await loadTracing();
    const common = parse(callOptionsSchema, options ?? {}, 'enqueueMany');
    const rows = (items as readonly EnqueueItem[]).map((item, i) => {
      if (typeof item !== 'object' || item === null) throw new ValidationError('enqueueMany', `items.${i}`, 'must be { name, payload, options? }');
      const opts = item.options === undefined ? {} : parse(itemOptionsSchema, item.options, 'enqueueMany', `items.${i}.options`);
      assertOneStart(opts, 'enqueueMany', `items.${i}.options.`);
      return this.#row(item.name, item.payload, opts, 'enqueueMany', `items.${i}.`, true);
    });
    if (rows.length === 0) return [];
    const keyMode = common.keyMode ?? 'keep';
    if (common.keyMode !== undefined && rows.every((r) => r.key === null)) throw new ValidationError('enqueueMany', 'keyMode', 'must be given only when some item has options.key');
    if (keyMode === 'replace') assertDistinctKeys(rows);
    const runner = this.#runner(common.tx, 'enqueueMany');
    const nodes = (items as readonly EnqueueItem[]).map((item, i): GraphNode => ({ label: `items.${i}.options`, parents: parentRefs(item.options?.dependsOn ?? []) }));
    if (nodes.some((n) => n.parents.length > 0)) return this.#insertDependents(rows, nodes, runner, 'enqueueMany');
    const ids = await this.#guard.run(() => this.#insert(rows, keyMode, runner));
    this.#deps.events?.emit('task:enqueued', { ids });
    return ids;
  }

  /**
   * The task with this id, or `null`. Given the task's definition, the result is
   * typed by it (and a task of another name is refused).
   *
   * @example
   * ```ts
   * const info = await manager.get(id, sendWelcome); // info?.result is typed by sendWelcome's handler
   * ```
   */
  async get<P, R>(id: string, task: TaskDefinition<P, string, R>): Promise<TaskInfo<P, Awaited<R>> | null>;
  async get(id: string): Promise<TaskInfo | null>;
  async get(id: string, task?: TaskDefinition<any, string, any>): Promise<TaskInfo | null> {
    if (!isTaskId(id)) return null;
    const { rows } = await this.#guard.run(() => this.#deps.pool.query<TaskRow>(`SELECT * FROM ${this.#table} WHERE id = $1`, [id]));
    const info = rows[0] ? toTaskInfo(rows[0]) : null;
    if (info && task && info.name !== task.name) throw new ValidationError('getTask', 'id', `names a "${info.name.slice(0, 200)}" task, not "${task.name}"`);
    return info;
  }

  /**
   * Cancels a queued or running task. A running handler's result is then dropped
   * (its lease no longer matches) and its `ctx.signal` aborts at the next lease
   * renewal. Returns `false` when the task was already finished or does not exist.
   */
  async cancel(id: string): Promise<boolean> {
    if (!isTaskId(id)) return false;
    const res = await this.#guard.run(() =>
      this.#deps.pool.query(
        `UPDATE ${this.#table}
            SET status = 'cancelled', finished_at = now(), updated_at = now(), locked_by = NULL, locked_until = NULL
          WHERE id = $1 AND status IN ('waiting', 'queued', 'running')`,
        [id],
      ),
    );
    // Cluster-wide `task:cancelled` and waitForTask wake-up (db/announce.ts); at-most-once,
    // so a failed announcement does not fail the cancel, which has committed.
    if ((res.rowCount ?? 0) > 0) await announceTasks(this.#deps.pool, this.#names, 'cancelled', [id]).catch(() => {});
    return (res.rowCount ?? 0) > 0;
  }

  /**
   * Puts a failed or cancelled task back in its queue to run now, with its attempt
   * count reset (deferrals included; its error history is kept). Returns `false`
   * when the task is not failed/cancelled or does not exist.
   */
  async retry(id: string): Promise<boolean> {
    if (!isTaskId(id)) return false;
    try {
      const { rows } = await this.#guard.run(() =>
        this.#deps.pool.query(
          `WITH r AS (
             UPDATE ${this.#table} SET status = 'queued', attempts = 0, deferrals = 0, run_at = now(), finished_at = NULL, updated_at = now(), dependents = NULL
              WHERE id = $1 AND status IN ('failed', 'cancelled')
              RETURNING queue)
           SELECT pg_notify($2, queue) FROM r`,
          [id, this.#names.channel],
        ),
      );
      return rows.length > 0;
    } catch (err) {
      if ((err as { code?: string }).code === '23505') {
        throw new ConflictError(`task ${id} cannot be retried: another task with the same key is queued or running`);
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
    // Each filter is a fixed predicate with its own parameter; absent ones are NULL and drop out.
    const { rows } = await this.#guard.run(() =>
      (this.#deps.readPool ?? this.#deps.pool).query<TaskRow>(
        `SELECT * FROM ${this.#table}
          WHERE ($1::text IS NULL OR queue = $1)
            AND ($2::text IS NULL OR status = $2)
            AND ($3::text IS NULL OR name = $3)
            AND ($4::timestamptz IS NULL OR created_at >= $4)
            AND ($5::timestamptz IS NULL OR created_at < $5)
            AND ($6::bigint IS NULL OR id < $6)
            AND (NOT $7::boolean OR (attempts > 0 AND last_error IS NOT NULL))
          ORDER BY id DESC
          LIMIT $8`,
        [f.queue ?? null, f.status ?? null, f.name ?? null, f.createdAfter ?? null, f.createdBefore ?? null, f.cursor ?? null, f.retrying ?? false, f.limit + 1],
      ),
    );
    const page = rows.slice(0, f.limit);
    return { tasks: page.map(toTaskInfo), nextCursor: rows.length > f.limit ? String(page.at(-1)?.id) : null };
  }

  /**
   * Counts per status per queue and in total, with 24-hour activity, last update
   * and the `run_at` of the oldest due task still waiting.
   */
  async queueStatus(): Promise<QueueStatus> {
    const [{ rows }, { rows: oldest }] = await this.#guard.run(() => Promise.all([
      (this.#deps.readPool ?? this.#deps.pool).query<{ queue: string; status: TaskStatus; n: string; recent: string; updated: Date | null }>(
        `SELECT queue, status, count(*) AS n,
                count(*) FILTER (WHERE created_at > now() - interval '24 hours') AS recent,
                max(updated_at) AS updated
           FROM ${this.#table} GROUP BY queue, status`,
      ),
      // Delayed tasks (run_at in the future) are not waiting.
      (this.#deps.readPool ?? this.#deps.pool).query<{ queue: string; oldest: Date }>(
        `SELECT queue, min(run_at) AS oldest FROM ${this.#table} WHERE status = 'queued' AND run_at <= now() GROUP BY queue`,
      ),
    ]));
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
    for (const r of oldest) {
      for (const c of [queues[r.queue] ?? emptyCounts(), total]) {
        if (!c.oldestQueuedAt || r.oldest < c.oldestQueuedAt) c.oldestQueuedAt = r.oldest;
      }
    }
    return { queues, total };
  }

  /**
   * Makes a delayed or retrying task due now (its attempts stay as they are) and
   * wakes the workers. Throws {@link NotFoundError} when no task has this id and
   * {@link StateError} when it is not queued (running or finished).
   *
   * @example
   * ```ts
   * const id = await manager.enqueueTask('send_welcome', { userId: 1 }, { delay: 3600 });
   * await manager.promote(id); // runs as soon as a worker is free
   * ```
   */
  async promote(id: string): Promise<void> {
    const checkedId = taskId(id, 'promote');
    const { rows } = await this.#guard.run(() =>
      this.#deps.pool.query<{ status: TaskStatus | null; promoted: boolean }>(
        `WITH t AS (SELECT status FROM ${this.#table} WHERE id = $1),
              p AS (UPDATE ${this.#table} SET run_at = least(run_at, now()), updated_at = now()
                     WHERE id = $1 AND status = 'queued'
                     RETURNING queue),
              n AS (SELECT pg_notify($2, queue) FROM p)
         SELECT (SELECT status FROM t) AS status, EXISTS (SELECT FROM p) AS promoted, (SELECT count(*) FROM n) AS notified`,
        [checkedId, this.#names.channel],
      ),
    );
    const row = rows[0];
    if (!row?.status) throw new NotFoundError(`promote: no task has id ${checkedId}`);
    if (!row.promoted) throw new StateError(`promote: task ${checkedId} is ${row.status === 'queued' ? 'no longer queued' : row.status}; only queued tasks can be promoted`);
  }

  /**
   * Deletes a finished (succeeded or failed) or cancelled task for good. Throws
   * {@link NotFoundError} when no task has this id and {@link StateError} when it
   * is queued or running (cancel it first).
   *
   * @example
   * ```ts
   * await manager.deleteTask(id);
   * ```
   */
  async deleteTask(id: string): Promise<void> {
    const checkedId = taskId(id, 'deleteTask');
    const { rows } = await this.#guard.run(() =>
      this.#deps.pool.query<{ status: TaskStatus | null; deleted: boolean }>(
        `WITH t AS (SELECT status FROM ${this.#table} WHERE id = $1),
              d AS (DELETE FROM ${this.#table} WHERE id = $1 AND status IN ('succeeded', 'failed', 'cancelled') RETURNING id)
         SELECT (SELECT status FROM t) AS status, EXISTS (SELECT FROM d) AS deleted`,
        [checkedId],
      ),
    );
    const row = rows[0];
    if (!row?.status) throw new NotFoundError(`deleteTask: no task has id ${checkedId}`);
    if (!row.deleted) throw new StateError(`deleteTask: task ${checkedId} is ${row.status}; only finished or cancelled tasks can be deleted (cancel it first)`);
  }

  /** Inserts tasks with parents in one transaction (workflow/insert.ts). */
  async #insertDependents(rows: Row[], nodes: GraphNode[], runner: Queryable, where: string): Promise<string[]> {
    const { ids } = await this.#guard.run(() => insertGraph(this.#deps.pool, runner, this.#names, { rows, nodes, where }));
    this.#deps.events?.emit('task:enqueued', { ids });
    return ids;
  }

  /**
   * Validates one task for a workflow or batch: the row to insert, or a
   * {@link ValidationError} naming `prefix` + field.
   *
   * @internal
   */
  prepareRow(task: string | TaskDefinition<any, string, any>, payload: unknown, options: unknown, where: string, prefix: string): Row {
    const opts = options === undefined ? {} : parse(itemOptionsSchema, options, where, `${prefix}options`);
    assertOneStart(opts, where, `${prefix}options.`);
    const row = this.#row(task, payload, opts, where, prefix);
    this.#deps.checkGraphRow?.(row, where, prefix);
    return row;
  }

  /**
   * Runs `insert` with this manager's pool, the caller's transaction (`tx`, or the
   * pool when undefined) and schema names, then emits `task:enqueued`.
   *
   * @internal
   */
  async insertWith<T extends { ids: string[] }>(tx: unknown, where: string, insert: (pool: pg.Pool, runner: Queryable, names: SqlNames) => Promise<T>): Promise<T> {
    if (currentTracing() === undefined) await loadTracing();
    const runner = this.#runner(tx, where);
    const out = await this.#guard.run(() => insert(this.#deps.pool, runner, this.#names));
    this.#deps.events?.emit('task:enqueued', { ids: out.ids });
    return out;
  }

  #runner(tx: unknown, where: string): Queryable {
    return tx === undefined ? this.#deps.pool : transactionQueryable(tx, where);
  }

  #row(task: string | TaskDefinition<any, string, any>, payload: unknown, options: ReturnType<typeof enqueueOptionsSchema.parse>, where: string, prefix = '', many = false): Row {
    const name = typeof task === 'string' ? task : task?.name;
    if (typeof name !== 'string') throw new ValidationError(where, `${prefix}name`, 'must be a task name or definition');
    const def = this.#deps.registry.get(name);
    if (!def) throw new UnknownTaskError(name, where, `${prefix}name`);
    if (def.payload) parse(def.payload, payload, where, `${prefix}payload`);
    const flow = flowRow(withDerivedGroup(def, payload, options, where, prefix), where, many ? `${prefix}options.` : prefix, many);
    return {
      queue: options.queue ?? def.queue ?? 'default',
      name,
      payload: serializePayload(payload, where, `${prefix}payload`),
      priority: options.priority ?? def.priority ?? 5,
      maxRetries: options.maxRetries ?? def.maxRetries ?? 3,
      retryDelay: options.retryDelay ?? def.retryDelay ?? 60,
      timeout: options.timeout ?? def.timeout ?? null,
      runAt: options.runAt ?? null,
      delay: options.delay ?? null,
      key: options.keyWindow === undefined ? (options.key ?? null) : null,
      backoff: options.backoff ?? null,
      maxDelay: options.maxDelay ?? null,
      flow,
      traceparent: currentTracing()?.traceparent() ?? null,
    };
  }

  async #insert(rows: Row[], keyMode: 'keep' | 'replace', runner: Queryable): Promise<string[]> {
    const [only] = rows;
    if (rows.length === 1 && only && only.key === null && only.flow === null && runner === this.#deps.pool) return [await this.#insertOne(only)];
    if (rows.some((r) => r.flow !== null)) return this.#matchIds(rows, await insertFlowRows(runner, this.#names, rows, keyMode), runner);
    const onConflict =
      keyMode === 'replace'
        ? `DO UPDATE SET payload = EXCLUDED.payload, queue = EXCLUDED.queue, priority = EXCLUDED.priority,
             max_retries = EXCLUDED.max_retries, retry_delay = EXCLUDED.retry_delay, timeout = EXCLUDED.timeout,
             backoff = EXCLUDED.backoff, max_delay = EXCLUDED.max_delay,
             run_at = EXCLUDED.run_at, updated_at = now()
           WHERE tasks.status = 'queued'`
        : 'DO NOTHING';
    const { text, values } = bulkInsertSql(this.#table, rows, onConflict);
    const { rows: inserted } = await runner.query<{ id: string; name: string; key: string | null }>(text, values);
    return this.#matchIds(rows, inserted, runner);
  }

  /**
   * The common case, one task without a key on the courier's own pool: a prepared
   * single-row INSERT, planned once per connection (no conflict handling needed).
   */
  async #insertOne(row: Row): Promise<string> {
    // The statement announces its task itself (the payload the insert trigger would
    // send) and marks its transaction, this one statement, so that the trigger,
    // which costs more than the rest of the insert, skips it (migration 045).
    const { rows } = await runPrepared<{ id: string }>(
      this.#deps.pool,
      `WITH ins AS (
         INSERT INTO ${this.#table} (queue, name, payload, priority, max_retries, retry_delay, timeout, run_at, backoff, max_delay, traceparent)
         VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, coalesce($8::timestamptz, now() + make_interval(secs => coalesce($9::float8, 0))), $10, $11, $12)
         RETURNING id, queue, run_at
       )
       SELECT id, set_config('pgcourier.inline_notify', 'on', true) AS inline,
              pg_notify($13, CASE WHEN run_at <= now() THEN queue ELSE queue || ' ' || floor(extract(epoch FROM run_at) * 1000)::bigint END) AS notified
         FROM ins`,
      [row.queue, row.name, row.payload, row.priority, row.maxRetries, row.retryDelay, row.timeout, row.runAt, row.delay, row.backoff, row.maxDelay, row.traceparent ?? null, this.#names.channel],
    );
    return String(rows[0]?.id);
  }

  /**
   * New rows get ascending ids in input order; an input whose key collided gets
   * the id of the live task holding that key.
   */
  async #matchIds(rows: Row[], returned: { id: string; name: string; key: string | null }[], runner: Queryable): Promise<string[]> {
    const byKey = new Map(returned.filter((r) => r.key !== null).map((r) => [`${r.name}\0${r.key}`, r.id]));
    // Ids are positive decimals without leading zeros: shorter is smaller, else compare as text.
    const fresh = returned.filter((r) => r.key === null).sort((a, b) => a.id.length - b.id.length || (a.id < b.id ? -1 : 1));
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

/** The options with the group and tier the definition derives from the payload, where the enqueue gave none. */
function withDerivedGroup<O extends { group?: string | undefined; groupTier?: string | undefined }>(def: TaskDefinition<any, string, any>, payload: unknown, options: O, where: string, prefix: string): O {
  if (!def.group && !def.groupTier) return options;
  const derive = (field: 'group' | 'groupTier'): string | undefined => {
    if (options[field] !== undefined) return options[field];
    const value = def[field]?.(payload);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value.length === 0 || value.length > 200) {
      throw new ValidationError(where, `${prefix}payload`, `must give the definition's ${field} resolver a string of 1-200 characters (it returned ${typeof value === 'string' ? `${value.length} characters` : typeof value})`);
    }
    return value;
  };
  const group = derive('group');
  return { ...options, group, groupTier: group === undefined ? options.groupTier : derive('groupTier') };
}

function emptyCounts(): QueueCounts {
  return { waiting: 0, queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, total: 0, last24h: 0, lastUpdated: null, oldestQueuedAt: null };
}

function assertOneStart(options: { runAt?: unknown; delay?: unknown }, where: string, prefix: string): void {
  if (options.runAt !== undefined && options.delay !== undefined) throw new ValidationError(where, `${prefix}delay`, 'must not be given together with runAt (pick one)');
}

function taskId(id: unknown, where: string): string {
  if (!isTaskId(id)) throw new ValidationError(where, 'id', 'must be a task id (a string of digits)');
  return id;
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

/** Parsed empty enqueue options, shared: most calls pass none. */
const NO_OPTIONS: ReturnType<typeof enqueueOptionsSchema.parse> = enqueueOptionsSchema.parse({});

function isEmptyOptions(options: EnqueueOptions | undefined): boolean {
  if (options === undefined || options === null) return true;
  if (typeof options !== 'object' || Object.getPrototypeOf(options) !== Object.prototype) return false;
  for (const _ in options) return false;
  return true;
}

/** JSON-encodes a payload, rejecting what Postgres jsonb or JSON cannot hold. */
export function serializePayload(payload: unknown, where: string, field: string): string {
  let json: string | undefined;
  try {
    json = stringifyLossless(payload === undefined ? {} : payload);
  } catch (err) {
    if (err instanceof JsonLossError) throw new ValidationError(where, [field, ...err.path].join('.'), `must be JSON-representable; it is ${err.what}`);
    throw new ValidationError(where, field, `must be JSON-serialisable (${(err as Error).name === 'RangeError' ? 'nested too deeply' : (err as Error).message})`);
  }
  if (json === undefined) throw new ValidationError(where, field, 'must be JSON-serialisable');
  const unstorable = unstorableInJsonb(json);
  if (unstorable) throw new ValidationError(where, field, `must not contain ${unstorable} (Postgres jsonb cannot store them)`);
  if (Buffer.byteLength(json) > MAX_PAYLOAD_BYTES) throw new ValidationError(where, field, `must be at most ${MAX_PAYLOAD_BYTES} bytes as JSON`);
  return json;
}

/** The columns of a bulk insert: the unnest alias, its SQL type and the value of a row. */
const BULK_COLUMNS: ReadonlyArray<readonly [alias: string, type: string, value: (r: Row) => unknown]> = [
  ['q', 'text', (r) => r.queue],
  ['n', 'text', (r) => r.name],
  ['p', 'jsonb', (r) => r.payload],
  ['pr', 'smallint', (r) => r.priority],
  ['mr', 'int', (r) => r.maxRetries],
  ['rd', 'float8', (r) => r.retryDelay],
  ['t', 'float8', (r) => r.timeout],
  ['ra', 'timestamptz', (r) => r.runAt],
  ['k', 'text', (r) => r.key],
  ['d', 'float8', (r) => r.delay],
  ['b', 'text', (r) => r.backoff],
  ['md', 'float8', (r) => r.maxDelay],
  ['tp', 'text', (r) => r.traceparent ?? null],
];

/**
 * The INSERT of a batch of plain rows. A column whose value is the same in every row
 * (the queue, the options a batch shares, the many nulls) is sent once as a scalar
 * instead of an array of copies: serialising a dozen arrays per batch was most of the
 * client's cost of a bulk enqueue.
 */
function bulkInsertSql(table: string, rows: Row[], onConflict: string): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const arrays: string[] = [];
  const aliases: string[] = [];
  const expr: Record<string, string> = {};
  for (const [alias, type, value] of BULK_COLUMNS) {
    const first = value(rows[0] as Row);
    // The payload stays an array whatever its values: unnest's rows are the batch's rows.
    const same = alias !== 'p' && (first === null || typeof first !== 'object') && rows.every((r) => value(r) === first);
    if (same) {
      values.push(first);
      expr[alias] = `$${values.length}::${type}`;
    } else {
      values.push(rows.map(value));
      arrays.push(`$${values.length}::${type}[]`);
      aliases.push(alias);
      expr[alias] = `v.${alias}`;
    }
  }
  return {
    text: `INSERT INTO ${table} (queue, name, payload, priority, max_retries, retry_delay, timeout, run_at, key, backoff, max_delay, traceparent)
       SELECT ${expr.q}, ${expr.n}, ${expr.p}, ${expr.pr}, ${expr.mr}, ${expr.rd}, ${expr.t},
              coalesce(${expr.ra}, now() + make_interval(secs => coalesce(${expr.d}, 0))), ${expr.k}, ${expr.b}, ${expr.md}, ${expr.tp}
         FROM unnest(${arrays.join(', ')}) AS v(${aliases.join(', ')})
       ON CONFLICT (name, key) WHERE key IS NOT NULL AND status IN ('queued', 'running') ${onConflict}
       RETURNING id, name, key`,
    values,
  };
}
