import { EventEmitter } from 'node:events';
import type pg from 'pg';
import type { Logger } from 'pino';
import { z } from 'zod';
import { MAX_TIMER_SECONDS, parse } from './config.js';
import { type Announcement, parseAnnouncement } from './db/announce.js';
import { type ListenSource, listenSourceOfPool } from './db/connections.js';
import { type SqlNames, sqlNames } from './db/names.js';
import type { SchemaGuard } from './db/schema-guard.js';
import { isTaskId } from './db/task-id.js';
import { NotFoundError, StateError, ValidationError, WaitTimeoutError } from './errors.js';
import type { CourierEvents } from './events.js';
import type { TaskDefinition } from './registry.js';
import { type TaskInfo, type TaskRow, toTaskInfo } from './task-info.js';
import { Listener } from './worker/listener.js';

/** A task event seen cluster-wide: which task, and which worker ran the attempt. */
export interface ClusterTaskEvent {
  /** Task id. */
  id: string;
  /** Task name. */
  name: string;
  /** Queue. */
  queue: string;
  /** Attempt number the event ends (for `task:cancelled`, the attempts made so far). */
  attempt: number;
  /** `workerId` of the process that ran the attempt; `null` for cancellations and lease rescues. */
  workerId: string | null;
}

/** Events of {@link ClusterEvents}, with their (deliberately small) payloads. Read the task for the rest. */
export interface ClusterEventMap {
  /** A task succeeded, in any process. */
  'task:succeeded': ClusterTaskEvent;
  /** A task failed for good (no retries left, a PermanentError, or its last lease expired). */
  'task:failed': ClusterTaskEvent & { error: string };
  /** An attempt failed (or its lease expired) and the task was put back to run again. */
  'task:retrying': ClusterTaskEvent & { error: string };
  /** A queued or running task was cancelled. */
  'task:cancelled': ClusterTaskEvent;
}

/** Names of {@link ClusterEventMap}. */
export type ClusterEventName = keyof ClusterEventMap;

/** Options of `courier.waitForTask(id, options)`. */
export interface WaitForTaskOptions {
  /** Seconds to wait before rejecting with a {@link WaitTimeoutError} (default 60, at most 2,000,000). */
  timeout?: number;
  /** Stops waiting when aborted: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What {@link ClusterEvents} needs from its courier. */
export interface ClusterEventsDeps {
  pool: pg.Pool;
  schema: string;
  /** This process's worker id: its own announcements are skipped (its local events already fired). */
  workerId: string;
  /** The courier's local events, forwarded so that cluster listeners see this process's tasks too. */
  events: CourierEvents;
  logger: Logger;
  /** Where the LISTEN connection goes (default: the pool's server); `null` re-reads waited tasks every second instead. */
  listen?: ListenSource | null;
  /** Turns "relation does not exist" into NotMigratedError (and runs an automatic migration first). */
  guard?: SchemaGuard;
}

/** The {@link TaskInfo} of a task of definition `D`: payload and result typed by it. */
export type TaskInfoOf<D> = D extends TaskDefinition<infer P, string, infer R> ? TaskInfo<P, Awaited<R>> : TaskInfo;

const EVENT_NAMES: readonly ClusterEventName[] = ['task:succeeded', 'task:failed', 'task:retrying', 'task:cancelled'];
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
/** Default seconds `waitForTask` waits. */
const DEFAULT_WAIT = 60;
/** Seconds between safety re-reads of waited tasks, in case a notification was missed. */
const SAFETY_INTERVAL = 5;
/** The same while the LISTEN connection is down. */
const SAFETY_INTERVAL_DISCONNECTED = 1;
/** Seconds the LISTEN connection stays open once nobody waits or listens. */
const IDLE_CLOSE = 10;
/** Seconds a listener's registration lives (workers announce only while one is live), and how often it is renewed. */
const REGISTRATION_TTL = 60;
const REGISTRATION_RENEW = 20;
/**
 * Seconds after registering until waited tasks are read once more: an outcome
 * statement that began before the registration committed does not announce, and
 * such a statement commits within moments.
 */
const REGISTRATION_SETTLE = 0.25;

const waitOptionsSchema = z
  .object({
    timeout: z
      .number('must be a number of seconds > 0')
      .positive('must be a number of seconds > 0')
      .max(MAX_TIMER_SECONDS, `must be at most ${MAX_TIMER_SECONDS} seconds`)
      .default(DEFAULT_WAIT),
    signal: z.instanceof(AbortSignal, { error: 'must be an AbortSignal' }).optional(),
  })
  .strict();

interface Waiter {
  id: string;
  resolve(info: TaskInfo): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  unabort?: () => void;
}

/**
 * Task events of the whole cluster (every process on the same schema), the
 * counterpart of BullMQ's QueueEvents: `task:succeeded`, `task:failed`,
 * `task:retrying` and `task:cancelled`, for tasks run by any process, this one
 * included, each delivered once. Reach it as `courier.clusterEvents`.
 *
 * Workers announce outcomes with NOTIFY from the statement that writes them,
 * while some process listens (the first listener opens a LISTEN connection and
 * registers it in the schema's `event_listeners` table; both end once nobody
 * listens, so a cluster without listeners pays nothing for events),
 * and the details in the payload are read in one query per notification. These
 * are **at-most-once notifications**: an event is lost when the LISTEN connection
 * is down at that moment (it reconnects by itself), and an outcome is announced
 * only by workers of this version. The tasks table stays the truth; read it
 * (`getTask`, `listTasks`) where every outcome must be seen.
 *
 * @example
 * ```ts
 * const off = courier.clusterEvents.on('task:failed', (e) => {
 *   console.error(`${e.name} ${e.id} failed on ${e.workerId}: ${e.error}`);
 * });
 * // later
 * off();
 * ```
 */
export class ClusterEvents {
  readonly #deps: ClusterEventsDeps;
  readonly #names: SqlNames;
  readonly #emitter = new EventEmitter();
  readonly #waiters = new Map<string, Set<Waiter>>();
  #listener: Listener | undefined;
  #starting: Promise<void> | undefined;
  #started = false;
  #closed = false;
  #safetyTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  /** Notifications are handled one after another, so events keep their order. */
  #chain: Promise<void> = Promise.resolve();

  /**
   * Built by the courier; use `courier.clusterEvents`.
   * @internal
   */
  constructor(deps: ClusterEventsDeps) {
    this.#deps = deps;
    this.#names = sqlNames(deps.schema);
    const { events, workerId } = deps;
    // This process's own outcomes come from its local events (they fire anyway);
    // its announcements are skipped, so nothing is seen twice.
    events.on('task:succeeded', (e) => this.#emit('task:succeeded', { id: e.id, name: e.name, queue: e.queue, attempt: e.attempt, workerId }));
    events.on('task:failed', (e) => this.#emit('task:failed', { id: e.id, name: e.name, queue: e.queue, attempt: e.attempt, workerId, error: e.error }));
    events.on('task:retrying', (e) => this.#emit('task:retrying', { id: e.id, name: e.name, queue: e.queue, attempt: e.attempt, workerId, error: e.error }));
  }

  /** Whether the LISTEN connection is up right now (it opens on first use). */
  get listening(): boolean {
    return this.#listener?.connected ?? false;
  }

  /**
   * Subscribes to a cluster-wide event and opens the LISTEN connection if it is
   * not open yet. Returns a function that unsubscribes.
   *
   * @example
   * ```ts
   * courier.clusterEvents.on('task:succeeded', (e) => console.log(`${e.name} ${e.id} done (attempt ${e.attempt})`));
   * ```
   */
  on<E extends ClusterEventName>(event: E, listener: (payload: ClusterEventMap[E]) => void): () => void {
    this.#check(event, listener, 'on');
    this.#emitter.on(event, listener);
    this.#demand();
    return () => this.off(event, listener);
  }

  /**
   * Subscribes for one occurrence. Returns a function that unsubscribes.
   *
   * @example
   * ```ts
   * courier.clusterEvents.once('task:cancelled', (e) => console.log(`${e.id} was cancelled`));
   * ```
   */
  once<E extends ClusterEventName>(event: E, listener: (payload: ClusterEventMap[E]) => void): () => void {
    this.#check(event, listener, 'once');
    const wrapped = (payload: ClusterEventMap[E]) => {
      this.off(event, wrapped);
      listener(payload);
    };
    this.#emitter.on(event, wrapped);
    this.#demand();
    return () => this.off(event, wrapped);
  }

  /**
   * Removes a listener; the LISTEN connection closes a little later once nobody listens or waits.
   *
   * @example
   * ```ts
   * const onFailed = (e: ClusterEventMap['task:failed']) => console.error(e.error);
   * courier.clusterEvents.on('task:failed', onFailed);
   * courier.clusterEvents.off('task:failed', onFailed);
   * ```
   */
  off<E extends ClusterEventName>(event: E, listener: (payload: ClusterEventMap[E]) => void): void {
    this.#emitter.off(event, listener);
    this.#relax();
  }

  /**
   * Resolves with the task's final {@link TaskInfo} (succeeded, failed or
   * cancelled), whichever process runs it; see `Courier.waitForTask`.
   */
  async waitFor(id: string, options: WaitForTaskOptions = {}): Promise<TaskInfo> {
    const { timeout, signal } = parse(waitOptionsSchema, options ?? {}, 'waitForTask');
    if (typeof id !== 'string' || id === '') throw new ValidationError('waitForTask', 'id', 'must be a task id (a non-empty string)');
    if (!isTaskId(id)) throw new NotFoundError(`task ${(id as string).slice(0, 100)} does not exist`);
    if (this.#closed) throw new StateError(`waitForTask: the courier is closed (task ${id})`);
    signal?.throwIfAborted();
    return new Promise<TaskInfo>((resolve, reject) => {
      const waiter: Waiter = {
        id,
        resolve,
        reject,
        timer: setTimeout(() => this.#finish(waiter, () => reject(new WaitTimeoutError(id, timeout))), timeout * 1000),
      };
      if (signal) {
        const onAbort = () => this.#finish(waiter, () => reject(signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.unabort = () => signal.removeEventListener('abort', onAbort);
      }
      let set = this.#waiters.get(id);
      if (!set) this.#waiters.set(id, (set = new Set()));
      set.add(waiter);
      this.#armSafety();
      // Listen first, read second: an outcome written after the read is announced
      // to a connection that already listens, so no wake-up is lost.
      this.#ensure()
        .then(() => this.#recheck([id], true))
        .catch((err: Error) => this.#finish(waiter, () => reject(err)));
    });
  }

  /** Stops listening and rejects pending waits with a {@link StateError}. Called by `courier.close()`. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#safetyTimer);
    clearTimeout(this.#idleTimer);
    clearInterval(this.#renewTimer);
    for (const set of [...this.#waiters.values()]) {
      for (const w of set) this.#finish(w, () => w.reject(new StateError(`waitForTask: the courier was closed while waiting for task ${w.id}`)));
    }
    this.#emitter.removeAllListeners();
    await this.#stopListening();
    await this.#chain;
  }

  #check(event: string, listener: unknown, where: string): void {
    if (!EVENT_NAMES.includes(event as ClusterEventName)) throw new ValidationError(`clusterEvents.${where}`, 'event', `must be one of ${EVENT_NAMES.join(', ')}`);
    if (typeof listener !== 'function') throw new ValidationError(`clusterEvents.${where}`, 'listener', 'must be a function');
  }

  /** Someone listens: make sure the LISTEN connection is (being) opened. */
  #demand(): void {
    if (this.#closed) return;
    void this.#ensure().catch(() => {});
  }

  #ensure(): Promise<void> {
    if (this.#closed) return Promise.reject(new StateError('the courier is closed'));
    clearTimeout(this.#idleTimer);
    if (!this.#starting) {
      const source = this.#deps.listen === undefined ? listenSourceOfPool(this.#deps.pool) : this.#deps.listen;
      if (source === null) {
        this.#starting = Promise.resolve();
        this.#armSafety();
        return this.#starting;
      }
      const listener = new Listener({
        source,
        channel: this.#names.events,
        logger: this.#deps.logger,
        onNotify: (payload) => this.#notified(payload),
        onConnect: () => {
          // A reconnection: whatever was announced meanwhile is lost (and the
          // registration may have expired); register again, then re-read the waited tasks.
          if (this.#listener === listener && this.#started) void this.#register().then(() => this.#recheck(), () => this.#recheck());
        },
      });
      this.#listener = listener;
      this.#started = false;
      this.#starting = listener
        .start()
        .then(() => this.#register())
        .then(() => {
          if (this.#listener !== listener) return;
          this.#started = true;
          clearInterval(this.#renewTimer);
          this.#renewTimer = setInterval(() => void this.#register(false).catch((err: Error) => this.#deps.logger.warn({ err: err.message }, 'renewing the cluster-events registration failed; trying again later')), REGISTRATION_RENEW * 1000);
          this.#renewTimer.unref();
          // Listening now: the safety re-read can slow down.
          this.#armSafety();
        });
    }
    return this.#starting;
  }

  /** Nobody waits or listens any more: close the connection after a while. */
  #relax(): void {
    if (this.#waiters.size > 0 || !this.#starting) return;
    if (EVENT_NAMES.some((e) => this.#emitter.listenerCount(e) > 0)) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => void this.#stopListening(), IDLE_CLOSE * 1000);
    this.#idleTimer.unref();
  }

  async #stopListening(): Promise<void> {
    const listener = this.#listener;
    this.#listener = undefined;
    this.#starting = undefined;
    this.#started = false;
    clearInterval(this.#renewTimer);
    await listener?.stop();
    if (listener) await this.#deps.pool.query(`DELETE FROM ${this.#names.eventListeners} WHERE id = $1`, [this.#deps.workerId]).catch(() => {});
  }

  /**
   * Writes (or renews) this process's row in the listeners table: outcome
   * statements announce only while some row is live, so a cluster where nobody
   * listens pays no NOTIFY. Expired rows of vanished processes are swept here too.
   * A first registration (`settle`) schedules one early re-read of the waited
   * tasks (see {@link REGISTRATION_SETTLE}).
   */
  async #register(settle = true): Promise<void> {
    const t = this.#names.eventListeners;
    const write = () =>
      this.#deps.pool.query(
        `WITH swept AS (DELETE FROM ${t} WHERE expires_at < now() - interval '1 hour')
         INSERT INTO ${t} (id, expires_at) VALUES ($1, now() + make_interval(secs => $2))
         ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
        [this.#deps.workerId, REGISTRATION_TTL],
      );
    await (this.#deps.guard ? this.#deps.guard.run(write) : write());
    if (settle && this.#waiters.size > 0) setTimeout(() => void this.#recheck(), REGISTRATION_SETTLE * 1000).unref();
  }

  #armSafety(): void {
    clearTimeout(this.#safetyTimer);
    if (this.#waiters.size === 0 || this.#closed) return;
    const seconds = this.listening ? SAFETY_INTERVAL : SAFETY_INTERVAL_DISCONNECTED;
    this.#safetyTimer = setTimeout(() => {
      void this.#recheck();
      this.#armSafety();
    }, seconds * 1000);
  }

  #finish(waiter: Waiter, settle: () => void): void {
    const set = this.#waiters.get(waiter.id);
    if (!set?.delete(waiter)) return;
    if (set.size === 0) this.#waiters.delete(waiter.id);
    clearTimeout(waiter.timer);
    waiter.unabort?.();
    settle();
    if (this.#waiters.size === 0) {
      clearTimeout(this.#safetyTimer);
      this.#relax();
    }
  }

  /**
   * Reads waited tasks (`ids`, default all) in one query and resolves the waiters
   * of those that are final; a task that no longer exists rejects its waiters.
   * A failed read throws only when `strict` (the first read of a wait); otherwise
   * the next notification or safety re-read tries again.
   */
  async #recheck(ids: string[] = [...this.#waiters.keys()], strict = false): Promise<void> {
    if (ids.length === 0) return;
    let rows: TaskRow[];
    try {
      const read = () => this.#deps.pool.query<TaskRow>(`SELECT * FROM ${this.#names.tasks} WHERE id = ANY($1::bigint[])`, [ids]);
      ({ rows } = await (this.#deps.guard ? this.#deps.guard.run(read) : read()));
    } catch (err) {
      if (strict) throw err;
      this.#deps.logger.warn({ err: (err as Error).message }, 're-reading waited tasks failed; trying again later');
      return;
    }
    const found = new Map(rows.map((r) => [String(r.id), r]));
    for (const id of ids) {
      const set = this.#waiters.get(id);
      if (!set) continue;
      const row = found.get(id);
      if (!row) {
        for (const w of [...set]) this.#finish(w, () => w.reject(new NotFoundError(`task ${id} does not exist`)));
      } else if (FINAL.has(row.status)) {
        const info = toTaskInfo(row);
        for (const w of [...set]) this.#finish(w, () => w.resolve(info));
      }
    }
  }

  #notified(payload: string): void {
    const announced = parseAnnouncement(payload);
    if (!announced) return;
    if (announced.kind !== 'retrying') {
      const waited = announced.ids.filter((id) => this.#waiters.has(id));
      if (waited.length > 0) void this.#recheck(waited).catch(() => {});
    }
    const event = `task:${announced.kind}` as ClusterEventName;
    // Own announcements already fired as local events (forwarded in the constructor).
    if (announced.publisher === this.#deps.workerId || this.#emitter.listenerCount(event) === 0) return;
    this.#chain = this.#chain.then(() => this.#announce(announced, event)).catch((err: Error) => this.#deps.logger.warn({ err: err.message }, 'reading the tasks of a cluster event failed; event dropped'));
  }

  /**
   * Reads what the event payloads need in one query (name, queue, and the error
   * stored for the announced attempt) and emits them in the announced order.
   */
  async #announce(a: Announcement, event: ClusterEventName): Promise<void> {
    if (this.#emitter.listenerCount(event) === 0) return;
    const { rows } = await this.#deps.pool.query<{ id: string; name: string; queue: string; attempt: number; error: string | null }>(
      `SELECT t.id::text, t.name, t.queue, v.attempt,
              coalesce((SELECT e.entry->>'message' FROM jsonb_array_elements(t.errors) WITH ORDINALITY AS e(entry, n)
                         WHERE e.entry->>'attempt' = v.attempt::text ORDER BY e.n DESC LIMIT 1), t.last_error) AS error
         FROM unnest($1::bigint[], $2::int[]) WITH ORDINALITY AS v(id, attempt, n)
         JOIN ${this.#names.tasks} AS t ON t.id = v.id
        ORDER BY v.n`,
      [a.ids, a.attempts],
    );
    for (const r of rows) {
      const base = { id: r.id, name: r.name, queue: r.queue, attempt: r.attempt, workerId: a.publisher };
      if (event === 'task:failed' || event === 'task:retrying') this.#emit(event, { ...base, error: r.error ?? '' });
      else this.#emit(event, base);
    }
  }

  #emit<E extends ClusterEventName>(event: E, payload: ClusterEventMap[E]): void {
    if (this.#closed || this.#emitter.listenerCount(event) === 0) return;
    for (const listener of this.#emitter.listeners(event)) {
      try {
        (listener as (p: ClusterEventMap[E]) => void)(payload);
      } catch {
        // Listeners are the host's code; a failure there must not stop the others.
      }
    }
  }
}
