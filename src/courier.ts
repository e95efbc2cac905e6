import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { ClusterEvents, type TaskInfoOf, type WaitForTaskOptions } from './cluster-events.js';
import {
  type Check,
  courierOptionsSchema,
  type enqueueOptionsSchema,
  type listTasksSchema,
  parse,
  readEnv,
  type SameFields,
  startOptionsSchema,
  stopOptionsSchema,
} from './config.js';
import { type CourierConnections, courierConnections } from './db/connections.js';
import { migrate } from './db/migrate.js';
import { type SqlNames, sqlNames } from './db/names.js';
import { SchemaGuard } from './db/schema-guard.js';
import { isTaskId } from './db/task-id.js';
import { waitForDatabase } from './db/wait.js';
import { type DoctorCheck, diagnose } from './doctor.js';
import { ConflictError, StateError, ValidationError } from './errors.js';
import { CourierEvents } from './events.js';
import { type RedriveFilter, redrive } from './flow/redrive.js';
import { createRateLimiter, type RateLimiter, type RateLimitSpec } from './limits/rate-limiter.js';
import { CronRunner } from './maintenance/cron.js';
import { listWorkers, type WorkerInfo } from './maintenance/heartbeat.js';
import { rescueExpiredLeases } from './maintenance/rescue.js';
import { type EnqueueItem, type EnqueueItems, type EnqueueOptions, type ListTasksOptions, type QueueStatus, TaskManager, type TaskPage } from './manager.js';
import { collectMetrics, countEvents, type Metrics, type ProcessCounters, renderPrometheus } from './metrics.js';
import type { CourierPlugin, PluginApis, PluginExtensions, PluginHost, PluginInstance } from './plugins.js';
import { QueueAdmin, type QueueOptions, type QueueSettings } from './queues.js';
import { type RegisterOptions, type TaskDefaults, type TaskDefinition, type TaskHandler, TaskRegistry } from './registry.js';
import { ClusterRouting } from './routing/cluster-routing.js';
import type { ClusterOptions, RoutedClusterSpec } from './routing/options.js';
import type { ClusterDatabase } from './routing/task-list.js';
import { type CleanupOptions, cleanupTasks, DEFAULT_RETENTION_SECONDS } from './scheduler/cleanup.js';
import { CLEANUP_SCHEDULE, CLEANUP_TASK, cleanupOptionsSchema, cleanupTask } from './scheduler/cleanup-task.js';
import { ScheduleAdmin, type ScheduleInfo, type ScheduleOptions } from './scheduler/schedules.js';
import { silentLogger } from './silent-logger.js';
import type { TaskInfo } from './task-info.js';
import { loadTracing } from './tracing.js';
import { Processor, type ProcessorHealth, type ProcessorSettings } from './worker/processor.js';
import { type BatchOptions, type EnqueuedBatch, enqueueBatch } from './workflow/batch.js';
import { WorkflowBuilder } from './workflow/builder.js';
import { readWorkflow, type WorkflowInfo } from './workflow/read.js';

/** Options of {@link createCourier}. */
export interface CourierOptions {
  /** `postgres://` URL; defaults to `DATABASE_URL`. Ignored when `pool` is given. */
  connectionString?: string;
  /** An existing `pg.Pool` to use; the courier never ends it. */
  pool?: pg.Pool;
  /** Postgres schema holding pgcourier's tables (default `pgcourier`, or `PGCOURIER_SCHEMA`). */
  schema?: string;
  /** A pino logger; silent by default. */
  logger?: Logger;
  /** Registry of tasks to share; a new one by default. */
  registry?: TaskRegistry;
  /**
   * Size of the pool the courier creates (default 10; `start()` raises it to
   * 4 + concurrency / 4, at most 50: claims and settles are batched, so few
   * connections carry many slots).
   */
  poolSize?: number;
  /**
   * Plugins adding tables, tasks and an API, each reachable as `courier[plugin.name]`,
   * e.g. `plugins: [messages({ providers })]` from `pgcourier/messages`.
   */
  plugins?: readonly CourierPlugin<string, unknown>[];
  /**
   * Create or upgrade the schema by itself before its first statement (as
   * {@link Courier.migrate} would), instead of failing with
   * {@link NotMigratedError}. Default false: production usually migrates in a
   * deploy step (`pgcourier migrate`).
   */
  migrate?: boolean;
  /**
   * The servers to use in place of the connection string's, tried in order, as
   * `"host:port"` or `{ host, port }`: the same as naming several in the URL
   * (`postgres://u:p@h1:5432,h2:5433/db`). With several servers the courier's pool
   * connects only to the writable one (`target_session_attrs`, default
   * `read-write`; `primary` also works), checked as libpq does, and finds the new
   * one after a failover; the LISTEN connection follows. Not with `pool`: a pool
   * you pass is used as it is.
   */
  hosts?: (string | { host: string; port?: number })[];
  /**
   * A direct connection (not through a pooler) for LISTEN, when the main
   * connection goes through PgBouncer or another pooler in transaction mode, which
   * drops notifications. May name several hosts.
   */
  listenConnectionString?: string;
  /**
   * Named prepared statements for the hot statements (default true). Set false
   * behind a pooler in transaction mode without prepared-statement support
   * (PgBouncer before 1.21); without `listenConnectionString` the workers then poll
   * instead of LISTEN, which is logged once and shown by `doctor()`. A pooler that
   * mixes up named statements is also detected, and they are turned off.
   */
  preparedStatements?: boolean;
  /**
   * A read-only replica for `queueStatus()`, `listTasks()` and `metrics()` (and
   * the dashboard's lists), which then lag the primary by the replica's
   * replication delay. Everything else, and `getTask()`, reads the primary.
   */
  readConnectionString?: string;
  /**
   * Other Postgres clusters, each holding some of the queues (a tenant or a
   * traffic class on its own cluster); every queue no cluster names stays on this
   * courier's own connection (the `default` cluster, number 0). Enqueues go to the
   * queue's cluster, workers claim on every cluster holding a queue they serve,
   * and a task id names its cluster (each cluster hands out ids of its own range),
   * so `getTask`, `waitForTask`, `cancel` and the rest find it. Lists and counts
   * merge every cluster. No transaction spans clusters; workflows, batches,
   * schedules and plugins stay on the default cluster (a workflow step on a routed
   * queue is refused). See docs/scaling.md.
   *
   * @example
   * ```ts
   * createCourier({
   *   connectionString: process.env.DATABASE_URL,
   *   clusters: { eu: { number: 1, connectionString: process.env.EU_DATABASE_URL, queues: ['eu.*', 'reports'] } },
   * });
   * ```
   */
  clusters?: Record<string, ClusterOptions>;
}

/** Options of {@link Courier.start}. Durations are seconds. */
export interface StartOptions {
  /** Handlers run at once in this process (default 10). */
  concurrency?: number;
  /** Queues to serve (default: all). */
  queues?: string[];
  /**
   * Seconds between polls for due tasks. By default 2 while the LISTEN connection
   * is down and 15 while it is up: NOTIFY then wakes the worker for new tasks, and
   * for delayed ones at their `runAt` (enqueues announce when they become due), so
   * polling only catches what no notification announced.
   */
  pollInterval?: number;
  /** Seconds a claimed task stays leased without renewal (default 30); renewed every third of it. */
  lease?: number;
  /** Most tasks claimed per statement (default: `concurrency + prefetch`, at most 1000). */
  batchSize?: number;
  /**
   * Most claimed tasks held ready beyond `concurrency`, so a freed slot starts its
   * next task without a round trip (default 1000; 0 claims only for free slots). The processor holds about 50 ms of work at the
   * observed run time, so slow tasks are not hoarded. Held tasks are leased;
   * `stop()` hands them back without using an attempt.
   */
  prefetch?: number;
  /** Stop gracefully on SIGTERM and SIGINT (default false). */
  handleSignals?: boolean;
  /** Fire cron schedules from this process (default true; any number of processes may). */
  schedules?: boolean;
  /** Ensure the hourly built-in `pgcourier.cleanup` schedule exists (default true; remove it with `removeSchedule('pgcourier.cleanup')`). */
  cleanup?: boolean;
  /**
   * Seconds to wait for Postgres to accept connections before giving up (default
   * 0: fail at once). In containers the database often starts after the app:
   * `start({ waitForDatabase: 60 })` retries with backoff (0.5 s doubling to 5 s)
   * and logs each try at `warn`.
   */
  waitForDatabase?: number;
}

/** Options of {@link Courier.stop}. */
export interface StopOptions {
  /** Seconds to wait for running handlers before aborting them (default 30). */
  grace?: number;
}

// Compile-time: each option interface names exactly the fields its zod schema validates.
type _CourierOptionsMatch = Check<SameFields<CourierOptions, z.input<typeof courierOptionsSchema>>>;
type _StartOptionsMatch = Check<SameFields<StartOptions, z.input<typeof startOptionsSchema>>>;
type _StopOptionsMatch = Check<SameFields<StopOptions, z.input<typeof stopOptionsSchema>>>;
type _EnqueueOptionsMatch = Check<SameFields<EnqueueOptions, z.input<typeof enqueueOptionsSchema>>>;
type _ListTasksOptionsMatch = Check<SameFields<ListTasksOptions, z.input<typeof listTasksSchema>>>;

/** Options of {@link Courier.runOnce}. */
export interface RunOnceOptions {
  /** Most tasks to run (default 100). */
  limit?: number;
  /** Tasks run at once (default 1). */
  concurrency?: number;
}

// The events object each routed cluster's courier shares with its parent, keyed by the options it was made with.
const routedChildren = new WeakMap<CourierOptions, CourierEvents>();

/**
 * Tasks held ready beyond the slots by default. The processor holds at most about
 * 50 ms of work, so this bounds quick tasks only: their claims then take ~500 rows
 * per statement, which halved the commits (and sped up the drain by 6–23% against
 * 500 on an fsync'd Postgres; docs/benchmarks.md).
 */
const DEFAULT_PREFETCH = 1000;

/**
 * A task queue on one Postgres schema: registry, manager and processor wired
 * together. Create it with {@link createCourier}.
 */
export class Courier {
  /** Tasks this courier knows. */
  readonly registry: TaskRegistry;
  /** The task manager behind the courier's task methods; pass it to `new TaskManager(courier)` style code. */
  readonly manager: TaskManager;
  /** The pool used for every statement. */
  readonly pool: pg.Pool;
  /** Postgres schema holding the tables. */
  readonly schema: string;
  /** Pre-quoted SQL names of the schema's objects, built once: the one naming rule. */
  readonly names: SqlNames;
  /** The logger given at creation (silent by default). */
  readonly logger: Logger;
  /** Identifies this process's processor in `locked_by`. */
  readonly workerId: string;
  /** Typed events of this process: task lifecycle and background errors. */
  readonly events: CourierEvents;
  /** Task outcomes of every process on this schema (at-most-once notifications); see {@link ClusterEvents}. */
  readonly clusterEvents: ClusterEvents;
  readonly #queues: QueueAdmin;
  readonly #schedules: ScheduleAdmin;
  readonly #plugins: { plugin: CourierPlugin<string, unknown>; instance: PluginInstance<unknown> }[] = [];
  readonly #ownsPool: boolean;
  readonly #connections: CourierConnections;
  readonly #counters: ProcessCounters;
  readonly #guard: SchemaGuard;
  #processor: Processor | undefined;
  #signalHandler: (() => void) | undefined;
  readonly #routing: ClusterRouting<Courier> | undefined;
  readonly #routedChild: boolean;
  #clusterWorkers: Courier[] = [];

  /** Use {@link createCourier}. */
  constructor(options: CourierOptions = {}) {
    this.#routedChild = routedChildren.has(options);
    this.events = routedChildren.get(options) ?? new CourierEvents();
    const env = readEnv();
    const opts = parse(courierOptionsSchema, { ...options, schema: options.schema ?? env.PGCOURIER_SCHEMA }, 'createCourier');
    this.logger = (opts.logger as Logger | undefined) ?? silentLogger();
    this.schema = opts.schema;
    if (opts.registry !== undefined && !(opts.registry instanceof TaskRegistry)) {
      throw new ValidationError('createCourier', 'registry', 'must be a TaskRegistry');
    }
    this.registry = (opts.registry as TaskRegistry | undefined) ?? new TaskRegistry();
    this.#connections = courierConnections(opts, env.DATABASE_URL, this.logger);
    this.pool = this.#connections.pool;
    this.#ownsPool = this.#connections.ownsPool;
    this.names = sqlNames(this.schema);
    this.#guard = new SchemaGuard(this.schema, opts.migrate ? () => this.migrate() : undefined);
    this.manager = new TaskManager({ pool: this.pool, readPool: this.#connections.readPool, schema: this.schema, registry: this.registry, events: this.events, guard: this.#guard, checkGraphRow: (row, where, prefix) => this.#routing?.checkGraphRow(row.queue, where, prefix) });
    this.#queues = new QueueAdmin(this.pool, this.names, this.#guard, () => this.registry.list().map((d) => d.queue ?? 'default'));
    this.#schedules = new ScheduleAdmin(this.pool, this.names, this.registry, this.#guard);
    this.#counters = countEvents(this.events);
    if (!this.registry.get(CLEANUP_TASK)) this.registry.register(cleanupTask((opts) => this.cleanup(opts)));
    this.workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.clusterEvents = new ClusterEvents({ pool: this.pool, listen: this.#connections.listen, schema: this.schema, workerId: this.workerId, events: this.events, logger: this.logger, guard: this.#guard });
    for (const plugin of options.plugins ?? []) this.#install(plugin);
    if (opts.clusters) this.#routing = new ClusterRouting(opts.clusters, { pool: this.pool, names: this.names, registry: this.registry, guarded: (work) => this.#guard.run(work) }, (spec) => this.#clusterCourier(spec, opts.migrate));
    // OpenTelemetry, when installed, is imported in the background (see tracing.ts).
    void loadTracing();
  }

  /**
   * Creates or upgrades the schema: the core's migrations, then those of the
   * plugins this courier uses. Idempotent and safe to call from many processes at
   * once. Returns the migration versions it applied.
   *
   * @example
   * ```ts
   * const applied = await courier.migrate(); // [] when the schema is up to date
   * ```
   */
  migrate(): Promise<number[]> {
    const here = () => migrate(this.pool, this.schema, this.#pluginMigrations());
    return this.#routing ? this.#routing.migrate(here) : here();
  }

  /**
   * The contributions of this courier's plugins to another entry, e.g.
   * `extensions('http')` gives the routes `pgcourier/http` serves for them.
   *
   * @example
   * ```ts
   * const contributed = courier.extensions('http').flatMap((e) => e.routes);
   * ```
   */
  extensions<K extends keyof PluginExtensions>(key: K): NonNullable<PluginExtensions[K]>[] {
    return this.#plugins.flatMap(({ instance }) => {
      const value = instance.extensions?.[key];
      return value === undefined || value === null ? [] : [value as NonNullable<PluginExtensions[K]>];
    });
  }

  /**
   * Registers a task definition, or a name with its handler and defaults; see
   * {@link TaskRegistry.register} (a taken name throws {@link ConflictError}
   * unless `{ replace: true }`). A definition without a handler is
   * producer-only: this courier enqueues it but never claims it.
   *
   * @example
   * ```ts
   * courier.registerTask(sendWelcome);                           // a full definition
   * courier.registerTask(resizeImage, async ({ url }) => ({ url })); // a shared producer-only definition, with the handler
   * ```
   */
  registerTask<P, N extends string, R>(task: TaskDefinition<P, N, R>, handler?: TaskHandler<P, R>, options?: RegisterOptions): TaskDefinition<P, N, R>;
  registerTask<P = any>(name: string, handler: TaskHandler<P>, defaults?: TaskDefaults & RegisterOptions): TaskDefinition<P>;
  registerTask(task: TaskDefinition | string, handler?: TaskHandler<any>, options?: TaskDefaults & RegisterOptions): TaskDefinition {
    return typeof task === 'string' ? this.registry.register(task, handler as TaskHandler<any>, options) : this.registry.register(task, handler, options);
  }

  /**
   * Enqueues one task; see {@link TaskManager.enqueueTask}.
   *
   * @example
   * ```ts
   * const id = await courier.enqueueTask(sendWelcome, { userId: 1 }, { priority: 1, runAt: new Date(Date.now() + 60_000) });
   * // in the caller's transaction: the task exists only if it commits
   * await courier.enqueueTask('send_welcome', { userId: 2 }, { tx: client });
   * ```
   */
  enqueueTask<P>(task: TaskDefinition<P, string, any>, payload: P, options?: EnqueueOptions): Promise<string>;
  enqueueTask(name: string, payload?: unknown, options?: EnqueueOptions): Promise<string>;
  enqueueTask(task: string | TaskDefinition<any, string, any>, payload?: unknown, options?: EnqueueOptions): Promise<string> {
    if (this.#routing) return this.#routing.enqueueTask(task, payload, options, () => this.manager.enqueueTask(task as string, payload, options));
    return this.manager.enqueueTask(task as string, payload, options);
  }

  /**
   * Enqueues many tasks in one statement, each item typed by its definition; see {@link TaskManager.enqueueMany}.
   *
   * @example
   * ```ts
   * const ids = await courier.enqueueMany([
   *   { name: 'send_welcome', payload: { userId: 1 } },
   *   { name: 'send_welcome', payload: { userId: 2 }, options: { priority: 1 } },
   * ]);
   * ```
   */
  enqueueMany<const T extends readonly EnqueueItem<any>[]>(items: T & EnqueueItems<T>, options?: { tx?: unknown; keyMode?: 'keep' | 'replace' }): Promise<string[]> {
    if (this.#routing) return this.#routing.enqueueMany(items, options, (part) => this.manager.enqueueMany(part, options));
    return this.manager.enqueueMany(items, options);
  }

  /**
   * Starts a workflow: add named steps with `step(name, task, payload, { dependsOn })`,
   * then `enqueue()` writes the whole graph in one transaction; see {@link WorkflowBuilder}.
   *
   * @example
   * ```ts
   * const { id } = await courier
   *   .workflow('report')
   *   .step('fetch', fetchData, { month: '2026-01' })
   *   .step('render', renderReport, {}, { dependsOn: ['fetch'] })
   *   .enqueue();
   * ```
   */
  workflow(name?: string): WorkflowBuilder {
    return new WorkflowBuilder(this.manager, name);
  }

  /**
   * Enqueues tasks as a batch, with callbacks that run exactly once when the last
   * member finishes: `onComplete` always, `onSuccess` if all succeeded, `onFailure`
   * if some did not. A callback's payload gets the batch's counts and member ids
   * ({@link BatchSummary}). Progress is read with `getWorkflow(id)`.
   *
   * @example
   * ```ts
   * const batch = await courier.batch(
   *   clients.map((client) => ({ name: buildReport, payload: { client } })),
   *   { onComplete: { task: sendSummary, payload: { to: 'ops@example.com' } } },
   * );
   * ```
   */
  batch<const T extends readonly EnqueueItem<any>[]>(items: T & EnqueueItems<T>, options?: BatchOptions): Promise<EnqueuedBatch> {
    return enqueueBatch(this.manager, items, options);
  }

  /**
   * A workflow or batch with each step's state and counts by state, or `null`
   * when no workflow has this id.
   *
   * @example
   * ```ts
   * const wf = await courier.getWorkflow(id);
   * console.log(wf?.status, wf?.progress.succeeded, wf?.steps.map((s) => `${s.step}: ${s.status}`));
   * ```
   */
  getWorkflow(id: string): Promise<WorkflowInfo | null> {
    return this.#guard.run(() => readWorkflow(this.pool, this.names, id));
  }

  /**
   * The task with this id, or `null`; given its definition, typed by it.
   *
   * @example
   * ```ts
   * const info = await courier.getTask(id, sendWelcome);
   * if (info?.status === 'succeeded') console.log(info.result); // typed by sendWelcome's handler
   * ```
   */
  getTask<P, R>(id: string, task: TaskDefinition<P, string, R>): Promise<TaskInfo<P, Awaited<R>> | null>;
  getTask(id: string): Promise<TaskInfo | null>;
  getTask(id: string, task?: TaskDefinition<any, string, any>): Promise<TaskInfo | null> {
    const routed = this.#routing?.forId(id);
    if (routed) return task ? routed.getTask(id, task) : routed.getTask(id);
    return task ? this.manager.get(id, task) : this.manager.get(id);
  }

  /**
   * Waits until the task is succeeded, failed or cancelled, whichever process runs
   * it, and resolves with its final {@link TaskInfo}. Woken by the NOTIFY that the
   * finishing statement sends (the first call opens a LISTEN connection), with a
   * slow re-read as a safety net. Rejects with a `WaitTimeoutError` naming the
   * id after `timeout` seconds (default 60), with a `NotFoundError` when the task
   * does not exist (or is deleted meanwhile), and with a `ValidationError` for bad
   * arguments. A failed task resolves too: check `status`. Name the task's
   * definition as the type argument to type `payload` and `result`.
   *
   * @example
   * ```ts
   * const id = await courier.enqueueTask(buildReport, { month: '2026-01' });
   * const task = await courier.waitForTask<typeof buildReport>(id, { timeout: 120 });
   * if (task.status === 'succeeded') console.log(task.result); // typed by buildReport's handler
   * else console.error(task.status, task.lastError);
   * ```
   */
  waitForTask<D extends TaskDefinition<any, string, any> = TaskDefinition>(id: string, options?: WaitForTaskOptions): Promise<TaskInfoOf<D>> {
    const routed = this.#routing?.forId(id);
    return (routed ? routed.waitForTask(id, options) : this.clusterEvents.waitFor(id, options)) as Promise<TaskInfoOf<D>>;
  }

  /** Makes a delayed or retrying task due now; see {@link TaskManager.promote}. */
  promote(id: string): Promise<void> {
    return this.#routing?.forId(id)?.promote(id) ?? this.manager.promote(id);
  }

  /** Deletes a finished or cancelled task; see {@link TaskManager.deleteTask}. */
  deleteTask(id: string): Promise<void> {
    return this.#routing?.forId(id)?.deleteTask(id) ?? this.manager.deleteTask(id);
  }

  /**
   * Cancels a queued or running task; see {@link TaskManager.cancel}.
   *
   * @example
   * ```ts
   * if (!(await courier.cancel(id))) console.log('already finished');
   * ```
   */
  cancel(id: string): Promise<boolean> {
    return this.#routing?.forId(id)?.cancel(id) ?? this.manager.cancel(id);
  }

  /**
   * Re-queues a failed or cancelled task; see {@link TaskManager.retry}.
   *
   * @example
   * ```ts
   * await courier.retry(failedId); // runs again now, attempts reset
   * ```
   */
  retry(id: string): Promise<boolean> {
    return this.#routing?.forId(id)?.retry(id) ?? this.manager.retry(id);
  }

  /**
   * Lists tasks with filters, a page at a time; see {@link TaskManager.list}.
   *
   * @example
   * ```ts
   * const page = await courier.listTasks({ queue: 'email', status: 'failed', limit: 20 });
   * const next = page.nextCursor ? await courier.listTasks({ queue: 'email', status: 'failed', cursor: page.nextCursor }) : null;
   * const retrying = await courier.listTasks({ status: 'queued', retrying: true });
   * ```
   */
  listTasks(options?: ListTasksOptions): Promise<TaskPage> {
    if (this.#routing) return this.#routing.listTasks(options, () => this.manager.list(options));
    return this.manager.list(options);
  }

  /**
   * Sets a queue's cluster-wide limits: `concurrency` (most running at once across
   * all processes), `rateLimit` (e.g. `'100/m'`), `paused`.
   *
   * @example
   * ```ts
   * await courier.configureQueue('reports', { concurrency: 2 });
   * await courier.configureQueue('sms', { rateLimit: '3/s' });
   * ```
   */
  configureQueue(name: string, options: QueueOptions): Promise<QueueSettings> {
    return this.#routing?.forQueue(name)?.configureQueue(name, options) ?? this.#queues.configure(name, options);
  }

  /**
   * Stops new starts of a queue's tasks on every process within a claim cycle.
   * Throws `NotFoundError` (code `NOT_FOUND`) when the queue does not exist: no
   * settings, no task in any state and no task registered here uses it. To have
   * a queue paused before its first task, `configureQueue(name, { paused: true })`.
   *
   * @example
   * ```ts
   * await courier.pauseQueue('reports');
   * ```
   */
  pauseQueue(name: string): Promise<QueueSettings> {
    return this.#routing?.forQueue(name)?.pauseQueue(name) ?? this.#queues.pause(name);
  }

  /**
   * Lets a paused queue's tasks start again and wakes the workers. Throws
   * `NotFoundError` for a queue that does not exist, as {@link pauseQueue}.
   *
   * @example
   * ```ts
   * await courier.resumeQueue('reports');
   * ```
   */
  resumeQueue(name: string): Promise<QueueSettings> {
    return this.#routing?.forQueue(name)?.resumeQueue(name) ?? this.#queues.resume(name);
  }

  /**
   * Settings of every configured queue.
   *
   * @example
   * ```ts
   * const paused = (await courier.listQueues()).filter((q) => q.paused).map((q) => q.name);
   * ```
   */
  listQueues(): Promise<QueueSettings[]> {
    if (this.#routing) return this.#routing.listQueues(() => this.#queues.list());
    return this.#queues.list();
  }

  /**
   * Moves dead-lettered tasks back to the queue they came from, to run again now
   * (attempts reset, errors kept): one by `id`, those matching a filter, or all
   * with `{}`. Returns how many moved. See {@link QueueOptions.deadLetter}.
   *
   * @example
   * ```ts
   * await courier.configureQueue('email', { deadLetter: 'email.dead' });
   * // … after a provider outage:
   * const moved = await courier.redrive({ deadLetter: 'email.dead' });
   * ```
   */
  redrive(filter: RedriveFilter = {}): Promise<number> {
    return this.#guard.run(() => redrive(this.pool, this.names, filter));
  }

  /**
   * A sliding-window rate limiter kept in Postgres and shared by every process,
   * for senders that share a provider's limit.
   *
   * @example
   * ```ts
   * const limiter = courier.rateLimiter('twilio:+15550001', '3/s');
   * const got = await limiter.acquire();
   * if (!got.granted) return retryAfter(got.retryAfter);
   * ```
   */
  rateLimiter(key: string, spec: RateLimitSpec): RateLimiter {
    return createRateLimiter(this.pool, this.names.rateLimits, key, spec);
  }

  /**
   * Counts per status per queue; see {@link TaskManager.queueStatus}.
   *
   * @example
   * ```ts
   * const { queues, total } = await courier.queueStatus();
   * console.log(total.queued, queues.email?.oldestQueuedAt);
   * ```
   */
  queueStatus(): Promise<QueueStatus> {
    if (this.#routing) return this.#routing.queueStatus(() => this.manager.queueStatus());
    return this.manager.queueStatus();
  }

  /**
   * Starts processing in this process: claims due tasks of the served queues into
   * `concurrency` slots, wakes on NOTIFY, polls as a fallback, renews leases and
   * rescues expired ones. Resolves once listening.
   *
   * @example
   * ```ts
   * await courier.start({ concurrency: 10, queues: ['email', 'default'], lease: 60, handleSignals: true });
   * ```
   */
  async start(options: StartOptions = {}): Promise<void> {
    const opts = parse(startOptionsSchema, options, 'start');
    if (this.#processor) throw new StateError('start: the courier is already started; call stop() first');
    if (opts.waitForDatabase > 0) await waitForDatabase(this.pool, opts.waitForDatabase, this.logger);
    await this.#guard.ready(); // createCourier({ migrate: true }) migrates here at the latest
    await loadTracing();
    for (const def of this.registry.list()) {
      if (def.cron && !this.#routedChild) await this.#schedules.upsert(def.name, def.cron, def.name, {}, { timezone: def.timezone });
    }
    if (opts.cleanup && this.registry.get(CLEANUP_TASK)) {
      await this.#schedules.upsert(CLEANUP_SCHEDULE, '0 * * * *', CLEANUP_TASK, {}, { priority: 10 });
    }
    this.#connections.fitPool(opts.concurrency);
    const processor = this.#newProcessor({
      concurrency: opts.concurrency,
      queues: opts.queues ?? null,
      pollInterval: opts.pollInterval ?? null,
      lease: opts.lease,
      batchSize: opts.batchSize,
      prefetch: opts.prefetch ?? DEFAULT_PREFETCH,
      schedules: opts.schedules,
    });
    this.#processor = processor;
    try {
      await processor.start();
      for (const { instance } of this.#plugins) await instance.start?.();
    } catch (err) {
      // A failed start leaves nothing behind: the courier can be started again.
      await processor.stop(0).catch(() => {});
      this.#processor = undefined;
      throw this.#guard.translate(err);
    }
    if (opts.handleSignals) {
      this.#signalHandler = () => {
        this.logger.info('signal received; stopping');
        void this.close();
      };
      process.once('SIGTERM', this.#signalHandler);
      process.once('SIGINT', this.#signalHandler);
    }
    if (this.#routing) await this.#startClusters(options);
  }

  /**
   * Stops claiming, lets running handlers finish for up to `grace` seconds, then
   * aborts the rest through `ctx.signal` and puts their tasks back in the queue.
   *
   * @example
   * ```ts
   * await courier.stop({ grace: 10 });
   * ```
   */
  async stop(options: StopOptions = {}): Promise<void> {
    const { grace } = parse(stopOptionsSchema, options, 'stop');
    const processor = this.#processor;
    if (!processor) return;
    await Promise.all([processor.stop(grace), ...this.#clusterWorkers.splice(0).map((c) => c.stop({ grace }))]);
    this.#processor = undefined;
    for (const { instance } of this.#plugins) await instance.stop?.();
    if (this.#signalHandler) {
      process.off('SIGTERM', this.#signalHandler);
      process.off('SIGINT', this.#signalHandler);
      this.#signalHandler = undefined;
    }
  }

  /**
   * Runs due tasks inline, through the same claim and settle statements as the
   * processor, until `limit` ran or none is due. Returns how many ran.
   *
   * @example
   * ```ts
   * const ran = await courier.runOnce({ limit: 50, concurrency: 4 });
   * ```
   */
  async runOnce(options: RunOnceOptions = {}): Promise<number> {
    const limit = options.limit ?? 100;
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(limit) || limit < 1) throw new ValidationError('runOnce', 'limit', 'must be an integer >= 1');
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new ValidationError('runOnce', 'concurrency', 'must be an integer >= 1');
    const processor = this.#newProcessor({ concurrency, queues: null, pollInterval: 1, lease: 30, prefetch: 0, schedules: false });
    const here = () => this.#guard.run(() => processor.runInline(limit, concurrency));
    return this.#routing ? this.#routing.sum(here, (c) => c.runOnce(options)) : here();
  }

  /**
   * Runs one queued task by id inline, due or not, through the same run and
   * settle path. Returns `false` when the task was not queued.
   *
   * @example
   * ```ts
   * await courier.runTaskNow(id); // in a test: run this one task now, due or not
   * ```
   */
  async runTaskNow(id: string): Promise<boolean> {
    if (!isTaskId(id)) throw new ValidationError('runTaskNow', 'id', 'must be a task id');
    const routed = this.#routing?.forId(id);
    if (routed) return routed.runTaskNow(id);
    const processor = this.#newProcessor({ concurrency: 1, queues: null, pollInterval: 1, lease: 30, prefetch: 0, schedules: false });
    return this.#guard.run(() => processor.runOneInline(id));
  }

  /**
   * Runs every due task inline until none is due (retries due later are left). Returns how many ran.
   *
   * @example
   * ```ts
   * await courier.enqueueTask('send_welcome', { userId: 1 });
   * await courier.drain(); // every due task has run
   * ```
   */
  async drain(options: { concurrency?: number } = {}): Promise<number> {
    return this.runOnce({ limit: Number.MAX_SAFE_INTEGER, concurrency: options.concurrency ?? 1 });
  }

  /**
   * Liveness of this process's processor, for readiness probes.
   *
   * @example
   * ```ts
   * app.get('/ready', (_req, res) => res.status(courier.health().ok ? 200 : 503).end());
   * ```
   */
  health(): ProcessorHealth {
    const here =
      this.#processor?.health() ?? {
        ok: false,
        running: false,
        listening: false,
        claiming: false,
        beating: false,
        lastClaimAt: null,
        lastHeartbeatAt: null,
        active: 0,
      };
    return this.#routing && this.#processor ? this.#routing.health(here, this.#clusterWorkers) : here;
  }

  /**
   * Whether the database answers a trivial query, for liveness endpoints.
   *
   * @example
   * ```ts
   * if (!(await courier.ping())) console.error('database unreachable');
   * ```
   */
  ping(): Promise<boolean> {
    const here = () =>
      this.pool.query('SELECT 1').then(
        () => true,
        () => false,
      );
    return this.#routing ? this.#routing.ping(here) : here();
  }

  /**
   * Creates or replaces a cron schedule: each tick enqueues `task` with `payload`
   * exactly once, whichever of the running processors reaches it.
   *
   * @example
   * ```ts
   * await courier.schedule('nightly-report', '0 2 * * *', 'build_report', { kind: 'daily' }, { timezone: 'Europe/Paris' });
   * ```
   */
  schedule(name: string, cron: string, task: string, payload?: unknown, options?: ScheduleOptions): Promise<ScheduleInfo> {
    return this.#schedules.upsert(name, cron, task, payload, options);
  }

  /**
   * Every cron schedule.
   *
   * @example
   * ```ts
   * for (const s of await courier.listSchedules()) console.log(s.name, s.cron, s.nextRunAt);
   * ```
   */
  listSchedules(): Promise<ScheduleInfo[]> {
    return this.#schedules.list();
  }

  /**
   * Pauses a schedule; returns whether it exists.
   *
   * @example
   * ```ts
   * await courier.pauseSchedule('nightly-report');
   * ```
   */
  pauseSchedule(name: string): Promise<boolean> {
    return this.#schedules.setPaused(name, true);
  }

  /**
   * Resumes a schedule from its next tick (ticks missed while paused are skipped); returns whether it exists.
   *
   * @example
   * ```ts
   * await courier.resumeSchedule('nightly-report');
   * ```
   */
  resumeSchedule(name: string): Promise<boolean> {
    return this.#schedules.setPaused(name, false);
  }

  /**
   * Deletes a schedule; returns whether it existed.
   *
   * @example
   * ```ts
   * await courier.removeSchedule('pgcourier.cleanup'); // no hourly built-in cleanup
   * ```
   */
  removeSchedule(name: string): Promise<boolean> {
    return this.#schedules.remove(name);
  }

  /**
   * Deletes finished tasks past their retention (default 7 days) in bounded
   * batches, then lets each plugin delete its own finished rows older than
   * `olderThan` (messaging: finished messages). Returns how many tasks were deleted.
   *
   * @example
   * ```ts
   * const deleted = await courier.cleanup({ olderThan: 3 * 86_400, retention: { failed: 30 * 86_400 } });
   * ```
   */
  async cleanup(options: CleanupOptions = {}): Promise<number> {
    const opts = parse(cleanupOptionsSchema, options, 'cleanup');
    const deleted = await this.#guard.run(() => cleanupTasks(this.pool, this.names, opts));
    const elsewhere = this.#routing ? await this.#routing.sum(async () => 0, (c) => c.cleanup(options)) : 0;
    for (const { plugin, instance } of this.#plugins) {
      if (!instance.cleanup) continue;
      const report = await instance.cleanup({ olderThan: opts.olderThan ?? DEFAULT_RETENTION_SECONDS });
      if (Object.values(report).some((n) => n > 0)) this.logger.info({ plugin: plugin.name, ...report }, 'plugin cleanup deleted old rows');
    }
    return deleted + elsewhere;
  }

  /**
   * Per-queue gauges (counts, oldest queued age, throughput) and this process's counters.
   *
   * @example
   * ```ts
   * const m = await courier.metrics();
   * console.log(m.queues, m.process);
   * ```
   */
  metrics(): Promise<Metrics> {
    const here = () => this.#guard.run(() => collectMetrics(this.#connections.readPool ?? this.pool, this.names, this.#counters));
    return this.#routing ? this.#routing.metrics(here) : here();
  }

  /**
   * {@link Courier.metrics} in the Prometheus text format, for a `/metrics` endpoint.
   *
   * @example
   * ```ts
   * app.get('/metrics', async (_req, res) => res.type('text/plain').send(await courier.metricsText()));
   * ```
   */
  async metricsText(): Promise<string> {
    return renderPrometheus(await this.metrics());
  }

  /**
   * Checks schema drift, task-table bloat, the vacuum horizon, the NOTIFY queue and stuck leases.
   *
   * @example
   * ```ts
   * for (const check of await courier.doctor()) if (check.level !== 'ok') console.warn(check.name, check.detail);
   * ```
   */
  async doctor(): Promise<DoctorCheck[]> {
    const here = async () => [...(await diagnose(this.pool, this.names, this.#pluginMigrations())), ...this.#connections.checks()];
    return this.#routing ? this.#routing.doctor(here) : here();
  }

  /**
   * The database of each cluster this courier works on: its own connection first
   * (`default`, number 0), then each of `clusters`. For code that runs its own SQL
   * on the tables, such as the HTTP API's task lists.
   *
   * @example
   * ```ts
   * for (const db of courier.databases()) console.log(db.name, (await db.pool.query(`SELECT count(*) FROM ${db.names.tasks}`)).rows[0]);
   * ```
   */
  databases(): ClusterDatabase[] {
    const own: ClusterDatabase = { name: 'default', number: 0, pool: this.pool, names: this.names };
    return [own, ...(this.#routing?.router.members.map((m) => ({ name: m.name, number: m.number, pool: m.courier.pool, names: m.courier.names })) ?? [])];
  }

  /**
   * Worker processes: live ones and those stopped or dead in the last hour.
   *
   * @example
   * ```ts
   * const alive = (await courier.workers()).filter((w) => w.state === 'alive');
   * ```
   */
  workers(): Promise<WorkerInfo[]> {
    const here = () => this.#guard.run(() => listWorkers(this.pool, sqlNames(this.schema)));
    return this.#routing ? this.#routing.workers(here) : here();
  }

  /**
   * Runs one round of background upkeep inline: rescues expired leases and
   * enqueues due cron ticks. For tests and scripts; workers do this on timers.
   *
   * @example
   * ```ts
   * const { rescued, scheduled } = await courier.runMaintenance({ now: new Date(), catchUp: true });
   * ```
   */
  async runMaintenance(options: { now?: Date; catchUp?: boolean } = {}): Promise<{ rescued: number; scheduled: number }> {
    const here = () => this.#guard.run(async () => {
      const rescued = await rescueExpiredLeases(this.pool, this.names);
      const cron = new CronRunner({ pool: this.pool, names: this.names, registry: this.registry, logger: this.logger, onError: () => {} });
      const scheduled = await cron.runDue(options.now, options.catchUp);
      return { rescued: rescued.length, scheduled };
    });
    return this.#routing ? this.#routing.runMaintenance(here, options) : here();
  }

  /**
   * Stops the processor (default grace), closes the plugins and ends the pool if
   * the courier created it.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', () => void courier.close({ grace: 10 }));
   * ```
   */
  async close(options: StopOptions = {}): Promise<void> {
    await this.stop(options);
    await this.clusterEvents.close();
    for (const c of this.#routing?.couriers ?? []) await c.close(options);
    for (const { instance } of this.#plugins) await instance.close?.();
    // pool.end() waits for checked-out clients; a query hung on a dead server must not block exit.
    const owned = [...(this.#ownsPool ? [this.pool] : []), ...(this.#connections.readPool ? [this.#connections.readPool] : [])];
    if (owned.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(owned.map((p) => p.end().catch(() => {}))), new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
    }
  }

  #install(plugin: CourierPlugin<string, unknown>): void {
    if (typeof plugin?.name !== 'string' || !/^[a-z][a-zA-Z0-9]{0,31}$/.test(plugin.name) || typeof plugin.setup !== 'function') {
      throw new ValidationError('createCourier', 'plugins', 'must be plugins such as messages({ providers }) from pgcourier/messages');
    }
    if (plugin.name in this || this.#plugins.some((p) => p.plugin.name === plugin.name)) {
      throw new ConflictError(`createCourier: plugin name "${plugin.name}" is taken (a courier member or another plugin)`);
    }
    const host: PluginHost = {
      pool: this.pool,
      schema: this.schema,
      names: this.names,
      logger: this.logger,
      registry: this.registry,
      events: this.events,
      enqueueTask: (name, payload, options) => this.manager.enqueueTask(name, payload, options),
      rateLimiter: (key, spec) => this.rateLimiter(key, spec),
    };
    const instance = plugin.setup(host);
    Object.defineProperty(this, plugin.name, { value: instance.api, enumerable: true });
    this.#plugins.push({ plugin, instance });
  }

  /** The courier of one routed cluster: same schema, registry, logger and events; its own connections. */
  #clusterCourier(spec: RoutedClusterSpec, migrate: boolean | undefined): Courier {
    const { number: _number, queues: _queues, ...connection } = spec.options;
    const options: CourierOptions = { ...connection, schema: this.schema, logger: this.logger, registry: this.registry, migrate };
    routedChildren.set(options, this.events);
    return new Courier(options);
  }

  /** Starts a processor on every routed cluster holding a queue this worker serves (schedules stay on the default cluster). */
  async #startClusters(options: StartOptions): Promise<void> {
    const routing = this.#routing as ClusterRouting<Courier>;
    try {
      for (const member of routing.router.members) {
        if (!routing.router.serves(member, options.queues)) continue;
        await member.courier.start({ ...options, handleSignals: false, schedules: false, cleanup: false });
        this.#clusterWorkers.push(member.courier);
      }
    } catch (err) {
      await this.stop({ grace: 0 }).catch(() => {});
      throw err;
    }
  }

  #pluginMigrations() {
    return this.#plugins.flatMap(({ plugin }) => plugin.migrations ?? []);
  }

  #newProcessor(s: Omit<ProcessorSettings, 'batchSize'> & { batchSize?: number }): Processor {
    return new Processor(
      {
        pool: this.pool,
        schema: this.schema,
        events: this.events,
        // Producer-only tasks are never claimed: the processor sees only tasks with a handler.
        registry: this.registry.claimable(),
        logger: this.logger,
        workerId: this.workerId,
        listen: this.#connections.listen,
      },
      { ...s, batchSize: s.batchSize ?? Math.min(1000, s.concurrency + s.prefetch) },
    );
  }
}

/** A courier with the APIs of its plugins, e.g. `courier.messages` with `plugins: [messages()]`. */
export type CourierWith<P extends readonly CourierPlugin<string, unknown>[]> = Courier & PluginApis<P>;

/**
 * Creates a courier over `connectionString` (or `DATABASE_URL`) or an existing pool.
 * Each plugin's API is typed on the result under the plugin's name.
 *
 * @example
 * ```ts
 * const courier = createCourier({ connectionString: process.env.DATABASE_URL });
 * courier.registerTask(sendWelcome);
 * await courier.migrate();
 * await courier.enqueueTask('send_welcome', { userId: 1 });
 * await courier.start({ concurrency: 10 });
 * ```
 */
export function createCourier<const P extends readonly CourierPlugin<string, unknown>[] = []>(options: CourierOptions & { plugins?: P } = {}): CourierWith<P> {
  return new Courier(options) as CourierWith<P>;
}
