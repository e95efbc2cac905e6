import type pg from 'pg';
import type { Logger } from 'pino';
import { quoteIdent } from '../db/pool.js';
import { LeaseLostError, ShutdownError } from '../errors.js';
import type { CourierEvents } from '../events.js';
import { acquireGrant, type Rate } from '../limits/rate-limiter.js';
import type { TaskDefinition, TaskRegistry } from '../registry.js';
import { CronRunner } from '../scheduler/cron-runner.js';
import { Maintenance } from '../scheduler/maintenance.js';
import { SCHEDULES_CHANGED } from '../scheduler/schedules.js';
import { analyzeIfStale } from '../scheduler/stats.js';
import { type ClaimedTask, claimCappedTasks, claimTaskById, claimTasks } from './claim.js';
import { describeError, executeTask, type Outcome, toSettlement } from './execute.js';
import { Heartbeat } from './heartbeat.js';
import { recordProgress, renewLeases } from './lease.js';
import { Listener } from './listener.js';
import { QueueLimitsCache } from './queue-settings.js';
import { type Fence, type Settlement, settle } from './settle.js';

/** Seconds between re-reads of queue limits. */
const LIMITS_REFRESH = 5;
/** A claim slower than this (ms) makes the processor check the table's statistics. */
const SLOW_CLAIM_MS = 20;
/** Prefetch aims to hold about this much work (ms of handler time per slot). */
const PREFETCH_HORIZON_MS = 50;
/** At most one statistics check per this many ms. */
const STATS_CHECK_EVERY_MS = 5000;

/** Settings of one processor (already validated); durations in seconds. */
export interface ProcessorSettings {
  concurrency: number;
  queues: string[] | null;
  pollInterval: number;
  lease: number;
  batchSize: number;
  /** Claimed tasks held beyond `concurrency`, ready for the next free slot. */
  prefetch: number;
  /** Fire cron schedules from this process (default true). */
  schedules: boolean;
}

/** Liveness of a processor, for readiness probes. */
export interface ProcessorHealth {
  /** Running, listening, claiming and heartbeating. */
  ok: boolean;
  /** Started and not stopped. */
  running: boolean;
  /** The LISTEN connection is up. */
  listening: boolean;
  /** The claim loop ran within a few poll intervals. */
  claiming: boolean;
  /** The heartbeat was written within three intervals. */
  beating: boolean;
  /** Last claim statement. */
  lastClaimAt: Date | null;
  /** Last heartbeat written. */
  lastHeartbeatAt: Date | null;
  /** Handlers running now. */
  active: number;
}

/** What a processor needs from its courier. */
export interface ProcessorDeps {
  pool: pg.Pool;
  schema: string;
  registry: TaskRegistry;
  logger: Logger;
  workerId: string;
  events: CourierEvents;
}

interface Inflight {
  fence: Fence;
  task: ClaimedTask;
  controller: AbortController;
  /** The handler was started (a prefetched task waits in the buffer until then). */
  started: boolean;
  /** The handler has returned; only its settlement is pending. */
  handlerDone: boolean;
  /** Given back at shutdown or lost: whatever the handler returns is dropped. */
  abandoned: boolean;
}


/**
 * The claim loop: claims due tasks into free slots, runs their handlers, batches
 * their settlements into single statements, renews their leases, and wakes on
 * NOTIFY with a poll fallback. The same claim/run/settle path serves inline runs.
 */
export class Processor {
  readonly #deps: ProcessorDeps;
  readonly #settings: ProcessorSettings;
  readonly #inflight = new Map<string, Inflight>();
  /** Claimed, leased tasks waiting for a free slot, in claim order. */
  #buffer: Inflight[] = [];
  #active = 0;
  #state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  #dirty = true;
  #claiming = false;
  #claimFailures = 0;
  #pollTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #pending: Array<{ settlement: Settlement; resolve: (matched: boolean) => void }> = [];
  #flushScheduled = false;
  #flushing = new Set<Promise<void>>();
  #idleWaiters: Array<() => void> = [];
  #listener: Listener | undefined;
  #maintenance: Maintenance | undefined;
  #lastClaimAt = 0;
  readonly #schemaSql: string;
  readonly #limits: QueueLimitsCache;
  #limitsTimer: NodeJS.Timeout | undefined;
  #cron: CronRunner | undefined;
  #heartbeat: Heartbeat | undefined;
  #lastHeartbeatAt = 0;
  #lastStatsCheck = 0;
  /** During stop(): when to stop trying to write (the leases expire then anyway). */
  #giveUpAt = Number.POSITIVE_INFINITY;
  /** Moving average of handler run time (ms), which sizes the prefetch. */
  #avgRunMs = 1;

  constructor(deps: ProcessorDeps, settings: ProcessorSettings) {
    this.#deps = deps;
    this.#settings = settings;
    this.#schemaSql = quoteIdent(deps.schema);
    this.#limits = new QueueLimitsCache(deps.pool, `${this.#schemaSql}.queues`);
  }

  /** Handlers running now. */
  get active(): number {
    return this.#active;
  }

  /** Liveness for readiness probes. */
  health(): ProcessorHealth {
    const running = this.#state === 'running';
    const listening = this.#listener?.connected ?? false;
    // Alive = each loop did its job within a few of its own intervals.
    const now = Date.now();
    const claiming = running && (this.#capacity() <= 0 || now - this.#lastClaimAt < Math.max(3 * this.#settings.pollInterval, 5) * 1000);
    const beating = running && now - this.#lastHeartbeatAt < 3 * this.#beatInterval() * 1000;
    return {
      ok: running && listening && claiming && beating,
      running,
      listening,
      claiming,
      beating,
      lastClaimAt: this.#lastClaimAt ? new Date(this.#lastClaimAt) : null,
      lastHeartbeatAt: this.#lastHeartbeatAt ? new Date(this.#lastHeartbeatAt) : null,
      active: this.#active,
    };
  }

  /** Seconds between heartbeats and lease renewals. */
  #beatInterval(): number {
    return this.#settings.lease / 3;
  }

  /** Starts listening, polling, maintenance and claiming. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new Error('processor already started');
    this.#state = 'running';
    const { pool, schema, logger } = this.#deps;
    await this.#limits.refresh();
    await this.#checkStats();
    this.#limitsTimer = setInterval(() => {
      this.#limits.refresh().catch((err: Error) => this.#reportError(err, 'refreshing queue limits'));
    }, LIMITS_REFRESH * 1000);
    const served = this.#settings.queues ? new Set(this.#settings.queues) : null;
    this.#listener = new Listener({
      connection: (pool as unknown as { options: pg.ClientConfig }).options,
      channel: `${schema}.tasks`,
      logger,
      onNotify: (queue) => {
        if (queue === SCHEDULES_CHANGED) this.#cron?.refresh();
        else if (!served || served.has(queue)) this.#poke();
      },
      onConnect: () => this.#poke(),
    });
    this.#heartbeat = new Heartbeat(pool, schema, this.#deps.workerId);
    await this.#heartbeat.register({ queues: this.#settings.queues, concurrency: this.#settings.concurrency, interval: this.#beatInterval() });
    this.#lastHeartbeatAt = Date.now();
    await this.#listener.start();
    this.#pollTimer = setInterval(() => this.#poke(), this.#settings.pollInterval * 1000);
    // One timer renews leases and heartbeats; it runs whether or not tasks run.
    this.#leaseTimer = setInterval(() => void this.#beat(), this.#beatInterval() * 1000);
    if (this.#settings.schedules) {
      this.#cron = new CronRunner({ pool, schema, registry: this.#deps.registry, logger, onError: (err) => this.#reportError(err, 'cron') });
      this.#cron.start();
    }
    this.#maintenance = new Maintenance({
      db: pool,
      schema,
      table: `${this.#schemaSql}.tasks`,
      logger,
      onRescued: (ids) => {
        this.#deps.events.emit('task:rescued', { ids });
        this.#poke();
      },
      onError: (err) => this.#reportError(err, 'maintenance'),
    });
    this.#maintenance.start(Math.min(30, Math.max(0.25, this.#settings.lease / 2)));
    this.#poke();
  }

  /**
   * Stops claiming, waits up to `grace` seconds for running handlers, then aborts
   * the rest through their signal and gives their tasks back to the queue (the
   * interrupted run does not count against maxRetries). Resolves once every write is done.
   */
  async stop(grace: number): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'idle') {
      this.#state = 'stopped';
      return;
    }
    if (this.#state === 'stopping') return this.#waitIdle();
    this.#state = 'stopping';
    clearInterval(this.#pollTimer);
    clearInterval(this.#limitsTimer);
    clearTimeout(this.#retryTimer);
    // Nothing below may hang on an unreachable database: each wait is bounded, and
    // what cannot be written is left to lease expiry and rescue elsewhere.
    const bound = (grace + this.#settings.lease) * 1000;
    this.#giveUpAt = Date.now() + bound;
    await within(Promise.all([this.#listener?.stop(), this.#maintenance?.stop(), this.#cron?.stop()]), this.#giveUpAt);
    // Prefetched tasks never started: hand them straight back, attempt and all.
    for (const entry of this.#buffer.splice(0)) {
      entry.abandoned = true;
      void this.#settle({ ...entry.fence, kind: 'postponed', delay: 0 }).finally(() => this.#forget(entry));
    }
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([this.#waitIdle(), new Promise((r) => (graceTimer = setTimeout(r, grace * 1000)))]);
    clearTimeout(graceTimer);
    const interrupted = [...this.#inflight.values()].filter((e) => e.started && !e.handlerDone && !e.abandoned);
    for (const entry of interrupted) {
      entry.abandoned = true;
      entry.controller.abort(new ShutdownError('worker is stopping'));
      void this.#settle({ ...entry.fence, kind: 'released', error: 'interrupted: worker stopped before the handler finished' }).finally(() => this.#forget(entry));
    }
    if (interrupted.length) this.#deps.logger.warn({ count: interrupted.length }, 'released tasks still running at shutdown');
    await within(this.#drainWrites(), this.#giveUpAt);
    clearInterval(this.#leaseTimer);
    this.#leaseTimer = undefined;
    await within(
      this.#heartbeat?.stopped().catch((err: Error) => this.#reportError(err, 'recording the stop')),
      this.#giveUpAt,
    );
    this.#state = 'stopped';
  }

  /**
   * Runs due tasks inline until `limit` have run or none is due: claims up to
   * `concurrency` at a time through the same claim, run and settle path as the
   * loop. Returns how many ran.
   */
  async runInline(limit: number, concurrency: number): Promise<number> {
    await this.#limits.refresh();
    let ran = 0;
    while (ran < limit) {
      const batch = await this.#claim(Math.min(concurrency, limit - ran));
      if (batch.length === 0) break;
      await Promise.all(batch.map((task) => this.#launch(this.#track(task))));
      ran += batch.length;
    }
    await this.#drainWrites();
    clearInterval(this.#leaseTimer);
    this.#leaseTimer = undefined;
    return ran;
  }

  /** Runs one queued task by id inline (due or not); `false` when it was not queued. */
  async runOneInline(id: string): Promise<boolean> {
    await this.#limits.refresh();
    const task = await claimTaskById(this.#deps.pool, this.#schemaSql, { workerId: this.#deps.workerId, id, lease: this.#settings.lease });
    if (task) await this.#launch(this.#track(task));
    await this.#drainWrites();
    clearInterval(this.#leaseTimer);
    this.#leaseTimer = undefined;
    return task !== undefined;
  }

  /**
   * How many more tasks this processor may claim: free slots plus prefetch room.
   * The room covers about PREFETCH_HORIZON_MS of work at the observed run time, so
   * quick tasks are claimed hundreds per statement while slow ones are not hoarded
   * away from other workers; `prefetch` caps it.
   */
  #capacity(): number {
    const room = Math.min(this.#settings.prefetch, Math.ceil((this.#settings.concurrency * PREFETCH_HORIZON_MS) / Math.max(this.#avgRunMs, 0.05)));
    return this.#settings.concurrency + room - this.#active - this.#buffer.length;
  }

  /** Starts buffered tasks while slots are free. */
  #pump(): void {
    while (this.#state === 'running' && this.#active < this.#settings.concurrency && this.#buffer.length > 0) {
      void this.#launch(this.#buffer.shift() as Inflight);
    }
  }

  /** Marks that runnable tasks may exist and claims if a slot is free. */
  #poke(): void {
    this.#dirty = true;
    this.#wake();
  }

  #wake(): void {
    if (this.#state !== 'running' || this.#claiming || !this.#dirty || this.#capacity() <= 0) return;
    void this.#claimLoop();
  }

  async #claimLoop(): Promise<void> {
    this.#claiming = true;
    try {
      while (this.#state === 'running' && this.#dirty && this.#capacity() > 0) {
        this.#dirty = false;
        const want = Math.min(this.#capacity(), this.#settings.batchSize);
        const tasks = await this.#claim(want);
        if (tasks.length === want) this.#dirty = true;
        this.#buffer.push(...tasks.map((task) => this.#track(task)));
        this.#pump();
      }
      this.#claimFailures = 0;
    } catch (err) {
      this.#dirty = true;
      this.#claimFailures++;
      const delay = Math.min(5000, 100 * 2 ** Math.min(this.#claimFailures, 6));
      this.#reportError(err as Error, 'claim', { retryInMs: delay });
      clearTimeout(this.#retryTimer);
      this.#retryTimer = setTimeout(() => this.#wake(), delay);
    } finally {
      this.#claiming = false;
    }
  }

  /**
   * Claims up to `limit` tasks: queues with a cluster-wide cap first (each under
   * its lock, so caps hold), then every other served queue.
   */
  async #claim(limit: number): Promise<ClaimedTask[]> {
    const names = this.#deps.registry.names();
    if (names.length === 0 || limit <= 0) return [];
    const startedAt = performance.now();
    const base = { workerId: this.#deps.workerId, names, queues: this.#settings.queues, lease: this.#settings.lease };
    const capped = this.#limits.capped(this.#settings.queues);
    const tasks: ClaimedTask[] = [];
    for (const { queue, concurrency } of capped) {
      if (tasks.length >= limit) break;
      tasks.push(...(await claimCappedTasks(this.#deps.pool, this.#schemaSql, { ...base, limit: limit - tasks.length, queue, concurrency })));
    }
    if (tasks.length < limit) {
      tasks.push(...(await claimTasks(this.#deps.pool, this.#schemaSql, { ...base, limit: limit - tasks.length, exclude: capped.map((c) => c.queue) })));
    }
    this.#lastClaimAt = Date.now();
    if (performance.now() - startedAt > SLOW_CLAIM_MS) void this.#checkStats();
    return tasks;
  }

  /** Refreshes stale planner statistics (rate-limited; never throws). */
  async #checkStats(): Promise<void> {
    if (Date.now() - this.#lastStatsCheck < STATS_CHECK_EVERY_MS) return;
    this.#lastStatsCheck = Date.now();
    try {
      if (await analyzeIfStale(this.#deps.pool, this.#deps.schema)) this.#deps.logger.debug('analysed the task table (statistics were stale)');
    } catch (err) {
      this.#reportError(err as Error, 'refreshing table statistics');
    }
  }

  /** Takes the queue's and the task's rate-limit grants; the wait in seconds when one is refused. */
  async #rateWait(task: ClaimedTask, def: TaskDefinition): Promise<number> {
    const rates: Array<[string, Rate]> = [];
    const queueRate = this.#limits.get(task.queue)?.rateLimit;
    if (queueRate) rates.push([`queue:${task.queue}`, queueRate]);
    if (def.rateLimit) rates.push([`task:${task.name}`, def.rateLimit]);
    for (const [key, rate] of rates) {
      const got = await acquireGrant(this.#deps.pool, `${this.#schemaSql}.rate_limits`, key, rate);
      // A little jitter keeps the postponed tasks from all coming back at once.
      if (!got.granted) return got.retryAfter * (1 + Math.random() * 0.2);
    }
    return 0;
  }

  #reportError(error: Error, context: string, extra: Record<string, unknown> = {}): void {
    this.#deps.logger.warn({ err: describeError(error), ...extra }, `${context} failed`);
    this.#deps.events.emit('worker:error', { error, context });
  }

  /** Registers a claimed task: its lease is renewed from now until it is settled. */
  #track(task: ClaimedTask): Inflight {
    const id = String(task.id);
    const entry: Inflight = { fence: { id, token: task.lease_token }, task, controller: new AbortController(), started: false, handlerDone: false, abandoned: false };
    this.#inflight.set(id, entry);
    this.#ensureLeaseTimer();
    return entry;
  }

  #forget(entry: Inflight): void {
    this.#inflight.delete(entry.fence.id);
    if (this.#active === 0 && this.#inflight.size === 0) for (const w of this.#idleWaiters.splice(0)) w();
  }

  async #launch(entry: Inflight): Promise<void> {
    const { task, fence } = entry;
    const id = fence.id;
    entry.started = true;
    this.#active++;
    const logger = this.#deps.logger.child({ taskId: id, task: task.name, queue: task.queue, attempt: task.attempts });
    const started = Date.now();
    const settlement = await this.#run(task, entry, logger).catch(
      (err: Error): Settlement => toSettlement(task, { kind: 'error', permanent: false, message: describeError(err) }),
    );
    entry.handlerDone = true;
    this.#active--;
    this.#avgRunMs = this.#avgRunMs * 0.9 + (Date.now() - started) * 0.1;
    if (entry.abandoned) {
      logger.warn('dropping the result of an attempt whose lease is gone');
    } else {
      if (settlement.kind === 'retry' || settlement.kind === 'failed') logger.warn({ err: settlement.error, next: settlement.kind }, 'task attempt failed');
      const written = this.#settle(settlement);
      // The slot is free now; the outcome is written in the next batch.
      this.#pump();
      this.#wake();
      if (!(await written)) logger.warn({ outcome: settlement.kind }, 'lease lost before the outcome was written; outcome dropped');
      else this.#announce(task, settlement, Date.now() - started);
    }
    this.#forget(entry);
    this.#pump();
    this.#wake();
  }

  /** Gates on rate limits, then runs the handler; resolves the attempt's settlement. */
  async #run(task: ClaimedTask, entry: Inflight, logger: Logger): Promise<Settlement> {
    const def = this.#deps.registry.get(task.name);
    if (!def) return toSettlement(task, { kind: 'error', permanent: false, message: `task "${task.name}" is not registered in this worker` });
    const wait = await this.#rateWait(task, def);
    if (wait > 0) return { ...entry.fence, kind: 'postponed', delay: wait };
    const base = { id: entry.fence.id, name: task.name, queue: task.queue, attempt: task.attempts };
    this.#deps.events.emit('task:started', base);
    const outcome: Outcome = await executeTask(
      def,
      task,
      { taskId: entry.fence.id, name: task.name, queue: task.queue, attempt: task.attempts, logger, progress: (current, total) => this.#progress(entry, current, total) },
      entry.controller,
      logger,
    );
    return toSettlement(task, outcome);
  }

  #announce(task: ClaimedTask, s: Settlement, durationMs: number): void {
    const base = { id: s.id, name: task.name, queue: task.queue, attempt: task.attempts };
    const events = this.#deps.events;
    if (s.kind === 'succeeded') events.emit('task:succeeded', { ...base, durationMs });
    else if (s.kind === 'failed') events.emit('task:failed', { ...base, error: s.error });
    else if (s.kind === 'retry') events.emit('task:retrying', { ...base, error: s.error, delay: s.delay });
  }

  async #progress(entry: Inflight, current: number, total?: number): Promise<boolean> {
    if (!Number.isFinite(current) || (total !== undefined && !Number.isFinite(total))) {
      throw new TypeError('progress(current, total?) takes finite numbers');
    }
    if (entry.abandoned || entry.handlerDone) return false;
    return recordProgress(this.#deps.pool, `${this.#schemaSql}.tasks`, entry.fence, { current, total: total ?? null });
  }

  /** Queues a settlement for the next batched write; resolves whether its fence matched. */
  #settle(settlement: Settlement): Promise<boolean> {
    return new Promise((resolve) => {
      this.#pending.push({ settlement, resolve });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#startFlush());
      }
    });
  }

  #startFlush(): void {
    this.#flushScheduled = false;
    const batch = this.#pending.splice(0);
    if (batch.length === 0) return;
    const p = this.#flush(batch).finally(() => this.#flushing.delete(p));
    this.#flushing.add(p);
  }

  /** Writes a batch, retrying through connection loss: an unwritten success would run again. */
  async #flush(batch: Array<{ settlement: Settlement; resolve: (matched: boolean) => void }>): Promise<void> {
    for (let failures = 0; ; failures++) {
      try {
        const matched = await settle(this.#deps.pool, `${this.#schemaSql}.tasks`, batch.map((b) => b.settlement));
        for (const b of batch) b.resolve(matched.has(b.settlement.id));
        await this.#wakeCappedQueues(batch.map((b) => b.settlement.id));
        return;
      } catch (err) {
        if (isDataError(err)) return this.#flushApart(batch, err as Error);
        if (Date.now() > this.#giveUpAt) {
          this.#deps.logger.error({ err: describeError(err), count: batch.length }, 'stopping without writing these outcomes: their leases expire and rescue runs them again');
          for (const b of batch) b.resolve(false);
          return;
        }
        this.#deps.logger.warn({ err: describeError(err), count: batch.length }, 'writing task outcomes failed; retrying');
        await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  /**
   * Postgres refused the batch's data (not the connection): write each outcome on
   * its own so one unstorable outcome cannot hold the others back; the culprit is
   * failed with an error saying why, which is always storable.
   */
  async #flushApart(batch: Array<{ settlement: Settlement; resolve: (matched: boolean) => void }>, err: Error): Promise<void> {
    if (batch.length > 1) {
      await Promise.all(batch.map((b) => this.#flush([b])));
      return;
    }
    const [only] = batch as [{ settlement: Settlement; resolve: (matched: boolean) => void }];
    const { id, token, kind } = only.settlement;
    if (kind === 'failed' && only.settlement.error.startsWith(UNSTORABLE)) {
      this.#reportError(err, 'writing an outcome');
      only.resolve(false);
      return;
    }
    const error = `${UNSTORABLE} (${describeError(err).slice(0, 200)})`;
    await this.#flush([{ settlement: { id, token, kind: 'failed', error }, resolve: only.resolve }]);
  }

  /** A finished task of a capped queue frees a cluster-wide slot: tell every worker. */
  async #wakeCappedQueues(ids: string[]): Promise<void> {
    const queues = new Set<string>();
    for (const id of ids) {
      const queue = this.#inflight.get(id)?.task.queue;
      if (queue && this.#limits.get(queue)?.concurrency) queues.add(queue);
    }
    if (queues.size === 0) return;
    await this.#deps.pool
      .query('SELECT pg_notify($1, q) FROM unnest($2::text[]) AS q', [`${this.#deps.schema}.tasks`, [...queues]])
      .catch((err: Error) => this.#reportError(err, 'notifying capped queues'));
  }

  async #drainWrites(): Promise<void> {
    while (this.#pending.length > 0 || this.#flushing.size > 0 || this.#flushScheduled) {
      if (this.#pending.length > 0) this.#startFlush();
      await Promise.all(this.#flushing);
      await new Promise((r) => setImmediate(r));
    }
  }

  #waitIdle(): Promise<void> {
    if (this.#active === 0 && this.#inflight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #ensureLeaseTimer(): void {
    if (this.#leaseTimer) return;
    this.#leaseTimer = setInterval(() => void this.#renew(), (this.#settings.lease * 1000) / 3);
    this.#leaseTimer.unref();
  }

  async #beat(): Promise<void> {
    await Promise.all([
      this.#renew(),
      this.#heartbeat?.beat(this.#active).then(
        () => void (this.#lastHeartbeatAt = Date.now()),
        (err: Error) => this.#reportError(err, 'heartbeat'),
      ),
    ]);
  }

  async #renew(): Promise<void> {
    const entries = [...this.#inflight.values()].filter((e) => !e.abandoned);
    if (entries.length === 0) return;
    try {
      const alive = await renewLeases(this.#deps.pool, `${this.#schemaSql}.tasks`, entries.map((e) => e.fence), this.#settings.lease);
      for (const entry of entries) {
        if (alive.has(entry.fence.id) || entry.handlerDone || entry.abandoned) continue;
        entry.abandoned = true;
        if (!entry.started) {
          this.#buffer = this.#buffer.filter((e) => e !== entry);
          this.#forget(entry);
          continue;
        }
        entry.controller.abort(new LeaseLostError('lease lost: the task was cancelled, rescued or finished elsewhere'));
        this.#deps.logger.warn({ taskId: entry.fence.id }, 'lease lost; aborting the handler');
      }
    } catch (err) {
      this.#reportError(err as Error, 'lease renewal');
    }
  }
}

/** Waits for `promise`, but not past the epoch-ms `deadline`. */
async function within(promise: Promise<unknown> | undefined, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))))]);
  clearTimeout(timer);
}

/** Prefix of the error recorded when an outcome could not be stored. */
const UNSTORABLE = 'the outcome could not be stored';

/** SQLSTATE class 22 (data exception) or 54 (program limit): retrying the same data cannot help. */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('54'));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
