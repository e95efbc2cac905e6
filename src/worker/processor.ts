import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { ListenSource } from '../db/connections.js';
import { type SqlNames, sqlNames } from '../db/names.js';
import { LeaseLostError, ShutdownError } from '../errors.js';
import type { CourierEvents } from '../events.js';
import { CronRunner } from '../maintenance/cron.js';
import { Heartbeat } from '../maintenance/heartbeat.js';
import { HistoryRollup } from '../maintenance/history.js';
import { QueueLimitsCache } from '../maintenance/queue-settings.js';
import { Rescuer } from '../maintenance/rescue.js';
import { StatsWatch } from '../maintenance/stats.js';
import { VacuumWatch } from '../maintenance/vacuum.js';
import { QUEUES_CHANGED } from '../queues.js';
import type { TaskRegistry } from '../registry.js';
import { SCHEDULES_CHANGED } from '../scheduler/schedules.js';
import { Attempt, type Phase } from './attempt.js';
import { type ClaimedTask, claimCappedTasks, claimFlowTasks, claimTaskById, claimTasks } from './claim.js';
import { Completer } from './completer.js';
import { describeError, Executor } from './executor.js';
import { LeaseKeeper, recordProgress } from './lease.js';
import { Listener } from './listener.js';
import { Producer } from './producer.js';
import type { Settlement } from './settle.js';

/**
 * A claim slower than this (ms) and than {@link SLOW_CLAIM_MS_PER_TASK} per task it
 * returned makes the processor check the table's statistics: a plan misjudged from
 * stale statistics sorts every queued row whatever the batch, while a large batch on
 * a busy machine is merely slow in proportion.
 */
const SLOW_CLAIM_MS = 50;
const SLOW_CLAIM_MS_PER_TASK = 0.2;
/**
 * Slow claims in a row that trigger the check. A misjudged plan is slow on every
 * claim; one slow claim is often just a cold start (a new connection's first plan
 * while the worker's other connections open), and an ANALYZE then costs the drain
 * a third of a second of one core.
 */
const SLOW_CLAIMS_IN_A_ROW = 3;
/** Default seconds between polls while the LISTEN connection is down. */
const POLL_INTERVAL = 2;
/** Default seconds between polls while it is up: NOTIFY wakes the worker then. */
const LISTENING_POLL_INTERVAL = 15;

/** Settings of one processor (already validated); durations in seconds. */
export interface ProcessorSettings {
  concurrency: number;
  queues: string[] | null;
  /** Seconds between polls, or null for the defaults (fast while LISTEN is down, slow while up). */
  pollInterval: number | null;
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
  /** The claim loop is not failing and ran within a few poll intervals. */
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
  /** Where the LISTEN connection goes, or `null` to poll only (behind a transaction pooler without `listenConnectionString`). */
  listen: ListenSource | null;
}

/**
 * One worker process's task runner: wires the producer (claims into a buffer),
 * the executor (runs handlers), the completer (writes outcomes in batches), the
 * lease keeper, the LISTEN connection and the maintenance services, and owns
 * start, stop and health. `runInline` and `runOneInline` use the same claim, run
 * and settle path.
 */
export class Processor {
  readonly #deps: ProcessorDeps;
  readonly #settings: ProcessorSettings;
  readonly #names: SqlNames;
  /** Every attempt whose lease this process holds: buffered, running or settling. */
  readonly #attempts = new Map<string, Attempt>();
  #active = 0;
  /** Attempts whose outcome waits for the completer. */
  #settling = 0;
  #state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  #idleWaiters: Array<() => void> = [];
  readonly #limits: QueueLimitsCache;
  readonly #stats: StatsWatch;
  readonly #vacuum: VacuumWatch;
  readonly #producer: Producer;
  readonly #executor: Executor;
  readonly #completer: Completer;
  readonly #leases: LeaseKeeper;
  /** `null` in poll-only mode. */
  #listener: Listener | null | undefined;
  #heartbeat: Heartbeat | undefined;
  #rescuer: Rescuer | undefined;
  #history: HistoryRollup | undefined;
  #cron: CronRunner | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  /** How far due times of the database's clock are ahead of ours, less the uncertainty (ms; see databaseClockLead). */
  #clockLead = 0;
  /** The start-up steps, while {@link Processor.start} runs them. */
  #starting: Promise<void> | undefined;
  /** Consecutive slow claims (see {@link SLOW_CLAIMS_IN_A_ROW}). */
  #slowClaims = 0;

  constructor(deps: ProcessorDeps, settings: ProcessorSettings) {
    this.#deps = deps;
    this.#settings = settings;
    const names = sqlNames(deps.schema);
    this.#names = names;
    const { pool, logger } = deps;
    const report = (context: string) => (err: Error) => this.#reportError(err, context);
    this.#limits = new QueueLimitsCache(pool, names, report('refreshing queue settings'));
    this.#stats = new StatsWatch({ pool, names, onAnalysed: () => logger.debug('analysed the task table (statistics were stale)'), onError: report('refreshing table statistics') });
    this.#vacuum = new VacuumWatch({ pool, names, onVacuumed: (dead) => logger.debug({ dead }, 'vacuumed the task table (dead rows piled up)'), onError: report('vacuuming the task table') });
    this.#producer = new Producer({
      concurrency: settings.concurrency,
      prefetch: settings.prefetch,
      batchSize: settings.batchSize,
      claim: (limit) => this.#claim(limit),
      busy: () => this.#active,
      backlog: () => this.#settling,
      onClaimed: (attempts, late) => this.#claimed(attempts, late),
      onError: (err, context, extra) => this.#reportError(err, context, extra),
    });
    this.#executor = new Executor({
      pool,
      names,
      registry: deps.registry,
      limits: this.#limits,
      logger,
      events: deps.events,
      progress: (attempt, current, total) => recordProgress(pool, names, attempt.fence, { current, total }),
    });
    this.#completer = new Completer({ pool, names, logger, workerId: deps.workerId, isCapped: (queue) => this.#limits.isCapped(queue) || this.#limits.hasFlows(queue), onError: (err, context) => this.#reportError(err, context) });
    this.#leases = new LeaseKeeper({
      pool,
      names,
      lease: settings.lease,
      held: () => [...this.#attempts.values()],
      onLost: (attempt) => this.#lost(attempt),
      onError: report('lease renewal'),
    });
  }

  /** Handlers running now. */
  get active(): number {
    return this.#active;
  }

  /** Liveness for readiness probes. */
  health(): ProcessorHealth {
    const running = this.#state === 'running';
    const listening = this.#listener?.connected ?? false;
    const pollOnly = this.#listener === null;
    const now = Date.now();
    const lastClaimAt = this.#producer.lastClaimAt;
    // Alive = each loop did its job within a few of its own intervals.
    const claiming =
      running &&
      this.#producer.mode !== 'backoff' &&
      (this.#producer.mode === 'full' || now - lastClaimAt < Math.max(3 * this.#pollInterval(), 5) * 1000);
    const lastBeat = this.#heartbeat?.lastBeatAt ?? 0;
    const beating = running && now - lastBeat < 3 * this.#beatInterval() * 1000;
    return {
      ok: running && (listening || pollOnly) && claiming && beating,
      running,
      listening,
      claiming,
      beating,
      lastClaimAt: lastClaimAt ? new Date(lastClaimAt) : null,
      lastHeartbeatAt: lastBeat ? new Date(lastBeat) : null,
      active: this.#active,
    };
  }

  /**
   * Starts claiming, listening, polling and maintenance. The first claim needs only
   * the queue limits, so it goes out right after them; the clock reading, the
   * worker's registration and the LISTEN connection follow while it runs (the
   * connection's first `onConnect` claims again, so nothing announced before it is missed).
   */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new Error('processor already started');
    this.#state = 'running';
    this.#starting = this.#startUp();
    await this.#starting;
  }

  /** The steps of {@link Processor.start}; a stop meanwhile ends them early (and waits for them). */
  async #startUp(): Promise<void> {
    const { pool, logger, registry } = this.#deps;
    const names = this.#names;
    const report = (context: string) => (err: Error) => this.#reportError(err, context);
    await this.#limits.start();
    if (this.#state !== 'running') return;
    this.#leases.start();
    this.#producer.start();
    const served = this.#settings.queues ? new Set(this.#settings.queues) : null;
    const listen = this.#deps.listen;
    this.#listener = listen && new Listener({
      source: listen,
      channel: names.channel,
      logger,
      onNotify: (payload) => this.#notified(payload, served),
      onConnect: () => {
        // Whatever was announced while the connection was down is re-read now.
        this.#producer.recover();
        this.#producer.poke();
        this.#limits.changed();
        this.#cron?.refresh();
      },
    });
    this.#heartbeat = new Heartbeat({
      db: pool,
      names,
      workerId: this.#deps.workerId,
      queues: this.#settings.queues,
      concurrency: this.#settings.concurrency,
      interval: this.#beatInterval(),
      running: () => this.#active,
      onError: report('heartbeat'),
    });
    const listener = this.#listener;
    await Promise.all([
      this.#heartbeat.start(),
      // Due times announced by NOTIFY are read against the database's clock: learn its lead first.
      databaseClockLead(pool).then((lead) => {
        this.#clockLead = lead;
        return listener?.start();
      }),
    ]);
    if (this.#state !== 'running') return;
    this.#armPoll(); // its interval depends on the LISTEN connection
    if (this.#settings.schedules) {
      this.#cron = new CronRunner({ pool, names, registry, logger, onError: report('cron') });
      this.#cron.start();
    }
    this.#rescuer = new Rescuer({
      db: pool,
      names,
      logger,
      interval: Math.min(30, Math.max(0.25, this.#settings.lease / 2)),
      onRescued: (rescued) => {
        this.#deps.events.emit('task:rescued', { ids: rescued.map((r) => r.id) });
        this.#producer.poke();
      },
      onError: report('maintenance'),
    });
    this.#rescuer.start();
    this.#history = new HistoryRollup({ db: pool, names, onError: report('rolling up task history') });
    this.#history.start();
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
    clearTimeout(this.#pollTimer);
    // Nothing below may hang on an unreachable database: each wait is bounded, and
    // what cannot be written is left to lease expiry and rescue elsewhere.
    const giveUpAt = Date.now() + (grace + this.#settings.lease) * 1000;
    this.#completer.giveUpAt(giveUpAt);
    // Tasks run before start() resolves, so a stop can come while it is still registering
    // the worker and connecting LISTEN: let those steps end, then stop what they started.
    await within(this.#starting?.catch(() => {}), giveUpAt);
    // Claimed tasks that never started go straight back, attempt and all.
    for (const attempt of this.#producer.drain()) this.#handBack(attempt);
    await within(
      Promise.all([this.#producer.settled(), this.#listener?.stop(), this.#rescuer?.stop(), this.#history?.stop(), this.#cron?.stop(), this.#limits.stop(), this.#stats.stop(), this.#vacuum.stop()]),
      giveUpAt,
    );
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([this.#waitIdle(), new Promise((r) => (graceTimer = setTimeout(r, grace * 1000)))]);
    clearTimeout(graceTimer);
    let interrupted = 0;
    for (const attempt of this.#attempts.values()) {
      if (attempt.phase !== 'running') continue;
      interrupted++;
      attempt.phase = 'dropped';
      attempt.abort(new ShutdownError('worker is stopping'));
      this.#completer.add({ ...attempt.fence, kind: 'released', error: 'interrupted: worker stopped before the handler finished' }, attempt.task.queue, () => this.#forget(attempt));
    }
    if (interrupted > 0) this.#deps.logger.info({ count: interrupted }, 'handed back tasks still running when the grace period ended');
    await within(this.#completer.flushed(), giveUpAt);
    this.#leases.stop();
    await within(
      this.#heartbeat?.stop().catch((err: Error) => this.#reportError(err, 'recording the stop')),
      giveUpAt,
    );
    this.#producer.stop();
    this.#state = 'stopped';
  }

  /**
   * Runs due tasks inline until `limit` have run or none is due: claims up to
   * `concurrency` at a time through the same claim, run and settle path as the
   * loop. Returns how many ran.
   */
  async runInline(limit: number, concurrency: number): Promise<number> {
    await this.#limits.refresh();
    this.#leases.start();
    try {
      let ran = 0;
      while (ran < limit) {
        const batch = await this.#claim(Math.min(concurrency, limit - ran));
        if (batch.length === 0) break;
        await Promise.all(batch.map((task) => this.#runToEnd(task)));
        ran += batch.length;
      }
      await this.#completer.flushed();
      return ran;
    } finally {
      this.#leases.stop();
    }
  }

  /** Runs one queued task by id inline (due or not); `false` when it was not queued. */
  async runOneInline(id: string): Promise<boolean> {
    await this.#limits.refresh();
    const task = await claimTaskById(this.#deps.pool, this.#names, { workerId: this.#deps.workerId, id, lease: this.#settings.lease, token: randomUUID() });
    if (!task) return false;
    this.#leases.start();
    try {
      await this.#runToEnd(task);
      await this.#completer.flushed();
      return true;
    } finally {
      this.#leases.stop();
    }
  }

  /** Runs a claimed task and resolves once its outcome is written. */
  #runToEnd(task: ClaimedTask): Promise<void> {
    const attempt = new Attempt(task);
    this.#attempts.set(task.id, attempt);
    return new Promise((resolve) => void this.#launch(attempt, resolve));
  }

  #pollInterval(): number {
    return this.#settings.pollInterval ?? (this.#listener?.connected ? LISTENING_POLL_INTERVAL : POLL_INTERVAL);
  }

  /** The safety-net poll: often while the LISTEN connection is down, rarely while it is up. */
  #armPoll(): void {
    clearTimeout(this.#pollTimer);
    if (this.#state !== 'running') return;
    this.#pollTimer = setTimeout(() => {
      this.#producer.poke();
      this.#armPoll();
    }, this.#pollInterval() * 1000);
  }

  /** Seconds between heartbeats. */
  #beatInterval(): number {
    return this.#settings.lease / 3;
  }

  /**
   * A NOTIFY on the task channel: `#schedules` or `#queues` (settings changed), a
   * queue name (tasks are due there now), or a queue name and an epoch-ms time
   * (a task there becomes due then).
   */
  #notified(payload: string, served: Set<string> | null): void {
    if (payload === SCHEDULES_CHANGED) {
      this.#cron?.refresh();
      return;
    }
    if (payload === QUEUES_CHANGED) {
      this.#limits.changed();
      return;
    }
    const space = payload.indexOf(' ');
    const queue = space < 0 ? payload : payload.slice(0, space);
    if (served && !served.has(queue)) return;
    if (space < 0) {
      this.#producer.poke();
      return;
    }
    const at = Number(payload.slice(space + 1));
    // The due time is the database's clock; the timer runs on ours.
    if (Number.isFinite(at)) this.#producer.wakeAt(at - this.#clockLead);
  }

  /**
   * Claims up to `limit` tasks: groups and sequences first, then queues with a
   * cluster-wide cap (each under its lock, so caps hold), then every other served queue.
   */
  async #claim(limit: number): Promise<ClaimedTask[]> {
    const names = this.#deps.registry.runnableNames();
    if (names.length === 0 || limit <= 0) return [];
    const startedAt = performance.now();
    const base = { workerId: this.#deps.workerId, names, queues: this.#settings.queues, lease: this.#settings.lease, token: randomUUID() };
    const capped = this.#limits.capped(this.#settings.queues);
    let tasks: ClaimedTask[] = [];
    // Groups and sequences first (one statement per queue that has any; none without).
    for (const flow of this.#limits.flowQueues(this.#settings.queues)) {
      if (tasks.length >= limit) break;
      tasks = tasks.concat(await claimFlowTasks(this.#deps.pool, this.#names, { ...base, ...flow, limit: limit - tasks.length }));
    }
    for (const { queue, concurrency } of capped) {
      if (tasks.length >= limit) break;
      tasks = tasks.concat(await claimCappedTasks(this.#deps.pool, this.#names, { ...base, limit: limit - tasks.length, queue, concurrency }));
    }
    if (tasks.length < limit) {
      const rest = await claimTasks(this.#deps.pool, this.#names, { ...base, limit: limit - tasks.length, exclude: capped.map((c) => c.queue) });
      tasks = tasks.length === 0 ? rest : tasks.concat(rest);
    }
    const took = performance.now() - startedAt;
    this.#slowClaims = took > SLOW_CLAIM_MS && took > SLOW_CLAIM_MS_PER_TASK * tasks.length ? this.#slowClaims + 1 : 0;
    if (this.#slowClaims >= SLOW_CLAIMS_IN_A_ROW) void this.#stats.check();
    if (tasks.length > 0) this.#vacuum.claimed(tasks.length);
    return tasks;
  }

  #claimed(attempts: Attempt[], late: boolean): void {
    for (const attempt of attempts) this.#attempts.set(attempt.task.id, attempt);
    if (late || this.#state !== 'running') {
      for (const attempt of attempts) this.#handBack(attempt);
      return;
    }
    this.#pump();
  }

  /** Starts buffered tasks while slots are free. */
  #pump(): void {
    while (this.#state === 'running' && this.#active < this.#settings.concurrency) {
      const attempt = this.#producer.take();
      if (!attempt) return;
      void this.#launch(attempt);
    }
  }

  /** Runs one attempt and hands its outcome to the completer; `written` is called once that is done. */
  async #launch(attempt: Attempt, written?: () => void): Promise<void> {
    attempt.phase = 'running';
    this.#active++;
    this.#heartbeat?.changed();
    const started = performance.now();
    const settlement = await this.#executor.run(attempt);
    this.#active--;
    this.#producer.finished(performance.now() - started);
    if ((attempt.phase as Phase) === 'dropped') {
      // The lease is gone (lost, or handed back at shutdown): the outcome is not ours to write.
      this.#deps.logger.debug({ taskId: attempt.task.id }, 'dropped the outcome of an attempt whose lease is gone');
      this.#forget(attempt);
      written?.();
    } else {
      attempt.phase = 'settling';
      this.#settling++;
      this.#completer.add(settlement, attempt.task.queue, (matched) => {
        this.#settling--;
        this.#settled(attempt, settlement, matched, performance.now() - started);
        written?.();
        this.#producer.written();
      });
    }
    this.#heartbeat?.changed();
    this.#pump();
  }

  #settled(attempt: Attempt, s: Settlement, matched: boolean, durationMs: number): void {
    this.#forget(attempt);
    const { task } = attempt;
    if (!matched) {
      this.#deps.logger.warn({ taskId: task.id, outcome: s.kind }, 'lease lost before the outcome was written; outcome dropped');
      return;
    }
    if (s.kind === 'retry' || s.kind === 'failed') {
      this.#deps.logger.warn({ taskId: task.id, task: task.name, queue: task.queue, attempt: task.attempt, err: s.error, next: s.kind }, 'task attempt failed');
    }
    if ('delay' in s && this.#state === 'running') this.#producer.wakeAt(Date.now() + s.delay * 1000);
    const events = this.#deps.events;
    if (s.kind === 'succeeded') {
      if (events.hasListeners('task:succeeded')) events.emit('task:succeeded', { id: task.id, name: task.name, queue: task.queue, attempt: task.attempt, durationMs });
    } else if (s.kind === 'failed') {
      if (events.hasListeners('task:failed')) events.emit('task:failed', { id: task.id, name: task.name, queue: task.queue, attempt: task.attempt, error: s.error });
    } else if (s.kind === 'retry') {
      if (events.hasListeners('task:retrying')) events.emit('task:retrying', { id: task.id, name: task.name, queue: task.queue, attempt: task.attempt, error: s.error, delay: s.delay });
    }
  }

  /** Gives a claimed task that never started back to its queue, attempt and all. */
  #handBack(attempt: Attempt): void {
    attempt.phase = 'dropped';
    this.#completer.add({ ...attempt.fence, kind: 'postponed', delay: 0 }, attempt.task.queue, () => this.#forget(attempt));
  }

  /** Renewal found the lease gone: the task was cancelled, rescued or finished elsewhere. */
  #lost(attempt: Attempt): void {
    if (this.#attempts.get(attempt.task.id) !== attempt) return;
    if (attempt.phase === 'buffered') {
      attempt.phase = 'dropped';
      this.#forget(attempt);
    } else if (attempt.phase === 'running') {
      attempt.phase = 'dropped';
      attempt.abort(new LeaseLostError('lease lost: the task was cancelled, rescued or finished elsewhere'));
      this.#deps.logger.warn({ taskId: attempt.task.id }, 'lease lost; aborting the handler');
    }
  }

  #forget(attempt: Attempt): void {
    if (this.#attempts.get(attempt.task.id) === attempt) this.#attempts.delete(attempt.task.id);
    if (this.#active === 0 && this.#attempts.size === 0) for (const w of this.#idleWaiters.splice(0)) w();
  }

  #waitIdle(): Promise<void> {
    if (this.#active === 0 && this.#attempts.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #reportError(error: Error, context: string, extra: Record<string, unknown> = {}): void {
    this.#deps.logger.warn({ err: describeError(error), ...extra }, `${context} failed`);
    this.#deps.events.emit('worker:error', { error, context });
  }
}

/**
 * How much later than this process's clock a due time of the database's clock
 * should wake it, in ms: the clock offset, plus half the round trip of the best of
 * three readings (the uncertainty), so a wake-up is never early. An early one would
 * claim nothing and leave the task to the next poll.
 */
async function databaseClockLead(pool: pg.Pool): Promise<number> {
  let best = { rtt: Number.POSITIVE_INFINITY, lead: 0 };
  for (let i = 0; i < 3; i++) {
    const sent = performance.now();
    const wall = Date.now();
    const { rows } = await pool.query<{ ms: number }>('SELECT extract(epoch FROM clock_timestamp())::float8 * 1000 AS ms');
    const rtt = performance.now() - sent;
    const ms = Number(rows[0]?.ms);
    if (Number.isFinite(ms) && rtt < best.rtt) best = { rtt, lead: ms - (wall + rtt / 2) };
  }
  return Number.isFinite(best.rtt) ? best.lead - best.rtt / 2 - 1 : 0;
}

/** Waits for `promise`, but not past the epoch-ms `deadline`. */
async function within(promise: Promise<unknown> | undefined, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))))]);
  clearTimeout(timer);
}
