import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import { type Logger, pino } from 'pino';
import { ClusterEvents, type WaitForTaskOptions } from './cluster-events.js';
import { courierOptionsSchema, parse, readEnv, startOptionsSchema, stopOptionsSchema } from './config.js';
import { migrate } from './db/migrate.js';
import { sqlNames } from './db/names.js';
import { createPool, quoteIdent, watchPool } from './db/pool.js';
import type { Database } from './db/types.js';
import { type DoctorCheck, diagnose } from './doctor.js';
import { ValidationError } from './errors.js';
import { CourierEvents } from './events.js';
import { type CourierHttpHandler, createHttpHandler, type HttpOptions } from './http/index.js';
import { createRateLimiter, type RateLimiter, type RateLimitSpec } from './limits/rate-limiter.js';
import { CronRunner } from './maintenance/cron.js';
import { listWorkers, type WorkerInfo } from './maintenance/heartbeat.js';
import { rescueExpiredLeases } from './maintenance/rescue.js';
import { type EnqueueItem, type EnqueueOptions, type ListTasksOptions, type QueueStatus, TaskManager, type TaskPage } from './manager.js';
import type { ProvidersConfig } from './messages/config.js';
import { Messages } from './messages/messages.js';
import { collectMetrics, countEvents, type Metrics, type ProcessCounters, renderPrometheus } from './metrics.js';
import { QueueAdmin, type QueueOptions, type QueueSettings } from './queues.js';
import { type TaskDefaults, type TaskDefinition, type TaskHandler, TaskRegistry } from './registry.js';
import { type CleanupOptions, cleanupTasks } from './scheduler/cleanup.js';
import { CLEANUP_SCHEDULE, CLEANUP_TASK, cleanupOptionsSchema, cleanupTask } from './scheduler/cleanup-task.js';
import { ScheduleAdmin, type ScheduleInfo, type ScheduleOptions } from './scheduler/schedules.js';
import type { TaskInfo } from './task-info.js';
import { Processor, type ProcessorHealth, type ProcessorSettings } from './worker/processor.js';

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
  /** Size of the pool the courier creates (default 10). */
  poolSize?: number;
  /** Message provider settings: SMTP, Resend, Twilio, WhatsApp, EmailJS; see {@link ProvidersConfig}. */
  providers?: ProvidersConfig;
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
   * next task without a round trip (default: the larger of 500 and 10 × concurrency, at most 1000; 0
   * claims only for free slots). The processor holds about 50 ms of work at the
   * observed run time, so slow tasks are not hoarded. Held tasks are leased;
   * `stop()` hands them back without using an attempt.
   */
  prefetch?: number;
  /** Stop gracefully on SIGTERM and SIGINT (default false). */
  handleSignals?: boolean;
  /** Fire cron schedules from this process (default true; any number of processes may). */
  schedules?: boolean;
  /** Ensure the hourly built-in `cleanup` schedule exists (default true; remove it with `removeSchedule('pgcourier.cleanup')`). */
  cleanup?: boolean;
}

/** Options of {@link Courier.stop}. */
export interface StopOptions {
  /** Seconds to wait for running handlers before aborting them (default 30). */
  grace?: number;
}

/** Options of {@link Courier.runOnce}. */
export interface RunOnceOptions {
  /** Most tasks to run (default 100). */
  limit?: number;
  /** Tasks run at once (default 1). */
  concurrency?: number;
}

/**
 * A task queue on one Postgres schema: registry, manager and processor wired
 * together. Create it with {@link createCourier}.
 */
export class Courier {
  /** Tasks this courier knows. */
  readonly registry: TaskRegistry;
  /** Enqueue and inspect tasks (also reachable through the courier's own methods). */
  readonly manager: TaskManager;
  /** The pool used for every statement. */
  readonly pool: pg.Pool;
  /** Typed Kysely instance over the pool and schema's tables. */
  readonly db: Kysely<Database>;
  /** Postgres schema holding the tables. */
  readonly schema: string;
  /** The logger given at creation (silent by default). */
  readonly logger: Logger;
  /** Identifies this process's processor in `locked_by`. */
  readonly workerId: string;
  /** Queue settings (pause, cluster-wide concurrency, rate limit). */
  readonly queues: QueueAdmin;
  /** Cron schedules. */
  readonly schedules: ScheduleAdmin;
  /** Typed events of this process: task lifecycle and background errors. */
  readonly events = new CourierEvents();
  /** Task outcomes of every process on this schema (at-most-once notifications); see {@link ClusterEvents}. */
  readonly clusterEvents: ClusterEvents;
  /** Messaging: email, SMS and WhatsApp senders, message tracking, bulk batches, provider webhooks. */
  readonly messages: Messages;
  readonly #ownsPool: boolean;
  readonly #counters: ProcessCounters;
  #processor: Processor | undefined;
  #signalHandler: (() => void) | undefined;

  /** Use {@link createCourier}. */
  constructor(options: CourierOptions = {}) {
    const env = readEnv();
    const opts = parse(courierOptionsSchema, { ...options, schema: options.schema ?? env.PGCOURIER_SCHEMA }, 'createCourier');
    this.logger = (opts.logger as Logger | undefined) ?? pino({ level: 'silent' });
    this.schema = opts.schema;
    if (opts.registry !== undefined && !(opts.registry instanceof TaskRegistry)) {
      throw new ValidationError('createCourier', 'registry', 'must be a TaskRegistry');
    }
    this.registry = (opts.registry as TaskRegistry | undefined) ?? new TaskRegistry();
    if (opts.pool) {
      this.pool = opts.pool;
      watchPool(this.pool, this.logger);
      this.#ownsPool = false;
    } else {
      const url = opts.connectionString ?? env.DATABASE_URL;
      if (!url) throw new ValidationError('createCourier', 'connectionString', 'is required (or pass `pool`, or set DATABASE_URL)');
      this.pool = createPool(url, this.logger, opts.poolSize ?? 10);
      this.#ownsPool = true;
    }
    this.db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: this.pool }) });
    this.manager = new TaskManager({ pool: this.pool, db: this.db, schema: this.schema, registry: this.registry, events: this.events });
    this.queues = new QueueAdmin(this.pool, this.schema);
    this.schedules = new ScheduleAdmin(this.pool, this.schema);
    this.#counters = countEvents(this.events);
    if (!this.registry.get(CLEANUP_TASK)) this.registry.register(cleanupTask((opts) => this.cleanup(opts)));
    this.workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.clusterEvents = new ClusterEvents({ pool: this.pool, schema: this.schema, workerId: this.workerId, events: this.events, logger: this.logger });
    this.messages = new Messages(this, options.providers);
  }

  /**
   * Creates or upgrades the schema. Idempotent and safe to call from many
   * processes at once. Returns the migration versions it applied.
   */
  migrate(): Promise<number[]> {
    return migrate(this.pool, this.schema);
  }

  /** Registers a task definition, or a name with its handler and defaults. */
  registerTask<P>(task: TaskDefinition<P>): TaskDefinition<P>;
  registerTask<P = any>(name: string, handler: TaskHandler<P>, defaults?: TaskDefaults): TaskDefinition<P>;
  registerTask(task: TaskDefinition | string, handler?: TaskHandler<any>, defaults?: TaskDefaults): TaskDefinition {
    return typeof task === 'string' ? this.registry.register(task, handler as TaskHandler<any>, defaults) : this.registry.register(task);
  }

  /** Enqueues one task; see {@link TaskManager.enqueueTask}. */
  enqueueTask<P>(task: TaskDefinition<P>, payload: P, options?: EnqueueOptions): Promise<string>;
  enqueueTask(name: string, payload?: unknown, options?: EnqueueOptions): Promise<string>;
  enqueueTask(task: string | TaskDefinition<any>, payload?: unknown, options?: EnqueueOptions): Promise<string> {
    return this.manager.enqueueTask(task as string, payload, options);
  }

  /** Enqueues many tasks in one statement; see {@link TaskManager.enqueueMany}. */
  enqueueMany(items: EnqueueItem[], options?: { tx?: unknown; keyMode?: 'keep' | 'replace' }): Promise<string[]> {
    return this.manager.enqueueMany(items, options);
  }

  /** The task with this id, or `null`. */
  getTask(id: string): Promise<TaskInfo | null> {
    return this.manager.get(id);
  }

  /**
   * Waits until the task is succeeded, failed or cancelled, whichever process runs
   * it, and resolves with its final {@link TaskInfo}. Woken by the NOTIFY that the
   * finishing statement sends (the first call opens a LISTEN connection), with a
   * slow re-read as a safety net. Rejects with a `WaitTimeoutError` naming the
   * id after `timeout` seconds (default 60), with a `NotFoundError` when the task
   * does not exist (or is deleted meanwhile), and with a `ValidationError` for bad
   * arguments. A failed task resolves too: check `status`.
   *
   * @example
   * ```ts
   * const id = await courier.enqueueTask('build_report', { month: '2026-01' });
   * const task = await courier.waitForTask(id, { timeout: 120 });
   * if (task.status === 'succeeded') console.log(task.result);
   * else console.error(task.status, task.lastError);
   * ```
   */
  waitForTask(id: string, options?: WaitForTaskOptions): Promise<TaskInfo> {
    return this.clusterEvents.waitFor(id, options);
  }

  /** Cancels a queued or running task; see {@link TaskManager.cancel}. */
  cancel(id: string): Promise<boolean> {
    return this.manager.cancel(id);
  }

  /** Re-queues a failed or cancelled task; see {@link TaskManager.retry}. */
  retry(id: string): Promise<boolean> {
    return this.manager.retry(id);
  }

  /** Lists tasks with filters, a page at a time; see {@link TaskManager.list}. */
  listTasks(options?: ListTasksOptions): Promise<TaskPage> {
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
    return this.queues.configure(name, options);
  }

  /** Stops new starts of a queue's tasks on every process within a claim cycle. */
  pauseQueue(name: string): Promise<QueueSettings> {
    return this.queues.pause(name);
  }

  /** Lets a paused queue's tasks start again and wakes the workers. */
  resumeQueue(name: string): Promise<QueueSettings> {
    return this.queues.resume(name);
  }

  /** Settings of every configured queue. */
  listQueues(): Promise<QueueSettings[]> {
    return this.queues.list();
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
    return createRateLimiter(this.pool, `${quoteIdent(this.schema)}.rate_limits`, key, spec);
  }

  /** Counts per status per queue; see {@link TaskManager.queueStatus}. */
  queueStatus(): Promise<QueueStatus> {
    return this.manager.queueStatus();
  }

  /**
   * Starts processing in this process: claims due tasks of the served queues into
   * `concurrency` slots, wakes on NOTIFY, polls as a fallback, renews leases and
   * rescues expired ones. Resolves once listening.
   */
  async start(options: StartOptions = {}): Promise<void> {
    const opts = parse(startOptionsSchema, options, 'start');
    if (this.#processor) throw new ValidationError('start', 'courier', 'is already started; call stop() first');
    for (const def of this.registry.list()) {
      if (def.cron) await this.schedules.upsert(def.name, def.cron, def.name, {}, { timezone: def.timezone });
    }
    if (opts.cleanup && this.registry.get(CLEANUP_TASK)) {
      await this.schedules.upsert(CLEANUP_SCHEDULE, '0 * * * *', CLEANUP_TASK, {}, { priority: 10 });
    }
    const processor = this.#newProcessor({
      concurrency: opts.concurrency,
      queues: opts.queues ?? null,
      pollInterval: opts.pollInterval ?? null,
      lease: opts.lease,
      batchSize: opts.batchSize,
      prefetch: opts.prefetch ?? Math.min(1000, Math.max(500, 10 * opts.concurrency)),
      schedules: opts.schedules,
    });
    this.#processor = processor;
    try {
      await processor.start();
    } catch (err) {
      // A failed start leaves nothing behind: the courier can be started again.
      await processor.stop(0).catch(() => {});
      this.#processor = undefined;
      throw err;
    }
    if (opts.handleSignals) {
      this.#signalHandler = () => {
        this.logger.info('signal received; stopping');
        void this.close();
      };
      process.once('SIGTERM', this.#signalHandler);
      process.once('SIGINT', this.#signalHandler);
    }
  }

  /**
   * Stops claiming, lets running handlers finish for up to `grace` seconds, then
   * aborts the rest through `ctx.signal` and puts their tasks back in the queue.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    const { grace } = parse(stopOptionsSchema, options, 'stop');
    const processor = this.#processor;
    if (!processor) return;
    await processor.stop(grace);
    this.#processor = undefined;
    if (this.#signalHandler) {
      process.off('SIGTERM', this.#signalHandler);
      process.off('SIGINT', this.#signalHandler);
      this.#signalHandler = undefined;
    }
  }

  /**
   * Runs due tasks inline, through the same claim and settle statements as the
   * processor, until `limit` ran or none is due. Returns how many ran.
   */
  async runOnce(options: RunOnceOptions = {}): Promise<number> {
    const limit = options.limit ?? 100;
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(limit) || limit < 1) throw new ValidationError('runOnce', 'limit', 'must be an integer >= 1');
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new ValidationError('runOnce', 'concurrency', 'must be an integer >= 1');
    return this.#newProcessor({ concurrency, queues: null, pollInterval: 1, lease: 30, prefetch: 0, schedules: false }).runInline(limit, concurrency);
  }

  /**
   * Runs one queued task by id inline, due or not, through the same run and
   * settle path. Returns `false` when the task was not queued.
   */
  async runTaskNow(id: string): Promise<boolean> {
    if (typeof id !== 'string' || !/^[1-9][0-9]{0,18}$/.test(id)) throw new ValidationError('runTaskNow', 'id', 'must be a task id');
    return this.#newProcessor({ concurrency: 1, queues: null, pollInterval: 1, lease: 30, prefetch: 0, schedules: false }).runOneInline(id);
  }

  /** Runs every due task inline until none is due (retries due later are left). Returns how many ran. */
  async drain(options: { concurrency?: number } = {}): Promise<number> {
    return this.runOnce({ limit: Number.MAX_SAFE_INTEGER, concurrency: options.concurrency ?? 1 });
  }

  /** Liveness of this process's processor, for readiness probes. */
  health(): ProcessorHealth {
    return (
      this.#processor?.health() ?? {
        ok: false,
        running: false,
        listening: false,
        claiming: false,
        beating: false,
        lastClaimAt: null,
        lastHeartbeatAt: null,
        active: 0,
      }
    );
  }

  /**
   * The HTTP API, provider webhooks and dashboard of this courier as one
   * web-standard `(Request) => Promise<Response>` handler, with a Node listener
   * (`.node`) for node:http, Express and Fastify, and `.routeHandlers` for
   * Next.js. Management endpoints need `auth`; webhooks are checked by their
   * provider's signature. The OpenAPI document is at `{basePath}/openapi.json`,
   * the dashboard at `{basePath}/`.
   *
   * @example
   * ```ts
   * const api = courier.http({ basePath: '/courier', auth: { token: process.env.COURIER_TOKEN! } });
   * http.createServer(api.node).listen(3000);
   * ```
   */
  http(options: HttpOptions): CourierHttpHandler {
    return createHttpHandler(this, options);
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
    return this.schedules.upsert(name, cron, task, payload, options);
  }

  /** Every cron schedule. */
  listSchedules(): Promise<ScheduleInfo[]> {
    return this.schedules.list();
  }

  /** Pauses a schedule; returns whether it exists. */
  pauseSchedule(name: string): Promise<boolean> {
    return this.schedules.setPaused(name, true);
  }

  /** Resumes a schedule from its next tick (ticks missed while paused are skipped); returns whether it exists. */
  resumeSchedule(name: string): Promise<boolean> {
    return this.schedules.setPaused(name, false);
  }

  /** Deletes a schedule; returns whether it existed. */
  removeSchedule(name: string): Promise<boolean> {
    return this.schedules.remove(name);
  }

  /**
   * Deletes finished tasks past their retention (default 7 days) in bounded
   * batches, and finished messages older than `olderThan`. Returns how many tasks
   * were deleted.
   */
  async cleanup(options: CleanupOptions = {}): Promise<number> {
    const opts = parse(cleanupOptionsSchema, options, 'cleanup');
    const deleted = await cleanupTasks(this.pool, this.schema, opts);
    // Messages follow the same retention (their own states decide what is finished).
    const messages = await this.messages.cleanup({ olderThan: opts.olderThan });
    if (messages.messages > 0) this.logger.info({ messages: messages.messages, batches: messages.batches }, 'deleted old messages');
    return deleted;
  }

  /** Per-queue gauges (counts, oldest queued age, throughput) and this process's counters. */
  metrics(): Promise<Metrics> {
    return collectMetrics(this.pool, this.schema, this.#counters);
  }

  /** {@link Courier.metrics} in the Prometheus text format, for a `/metrics` endpoint. */
  async metricsText(): Promise<string> {
    return renderPrometheus(await this.metrics());
  }

  /** Checks schema drift, task-table bloat, the vacuum horizon, the NOTIFY queue and stuck leases. */
  doctor(): Promise<DoctorCheck[]> {
    return diagnose(this.pool, this.schema);
  }

  /** Worker processes: live ones and those stopped or dead in the last hour. */
  workers(): Promise<WorkerInfo[]> {
    return listWorkers(this.pool, sqlNames(this.schema));
  }

  /**
   * Runs one round of background upkeep inline: rescues expired leases and
   * enqueues due cron ticks. For tests and scripts; workers do this on timers.
   */
  async runMaintenance(options: { now?: Date; catchUp?: boolean } = {}): Promise<{ rescued: number; scheduled: number }> {
    const names = sqlNames(this.schema);
    const rescued = await rescueExpiredLeases(this.pool, names);
    const cron = new CronRunner({ pool: this.pool, names, registry: this.registry, logger: this.logger, onError: () => {} });
    const scheduled = await cron.runDue(options.now, options.catchUp);
    return { rescued: rescued.length, scheduled };
  }

  /** Stops the processor (default grace) and ends the pool if the courier created it. */
  async close(options: StopOptions = {}): Promise<void> {
    await this.stop(options);
    await this.clusterEvents.close();
    if (this.#ownsPool) {
      // pool.end() waits for checked-out clients; a query hung on a dead server must not block exit.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.pool.end().catch(() => {}), new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
    }
  }

  #newProcessor(s: Omit<ProcessorSettings, 'batchSize'> & { batchSize?: number }): Processor {
    return new Processor(
      {
        pool: this.pool,
        schema: this.schema,
        events: this.events,
        registry: this.registry,
        logger: this.logger,
        workerId: this.workerId,
      },
      { ...s, batchSize: s.batchSize ?? Math.min(1000, s.concurrency + s.prefetch) },
    );
  }
}

/**
 * Creates a courier over `connectionString` (or `DATABASE_URL`) or an existing pool.
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
export function createCourier(options: CourierOptions = {}): Courier {
  return new Courier(options);
}
