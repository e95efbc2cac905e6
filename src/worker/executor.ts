import type pg from 'pg';
import type { Logger } from 'pino';
import { storableText, unstorableInJsonb } from '../db/json.js';
import type { SqlNames } from '../db/names.js';
import { PermanentError, RetryAfter, TaskTimeoutError } from '../errors.js';
import type { CourierEvents } from '../events.js';
import { acquireGrant } from '../limits/rate-limiter.js';
import type { QueueLimitsCache } from '../maintenance/queue-settings.js';
import type { TaskContext, TaskDefaults, TaskDefinition, TaskRegistry } from '../registry.js';
import { currentTracing, type SpanOutcome, TraceLinkReader, type Tracing } from '../tracing.js';
import { loadParents } from '../workflow/parents.js';
import type { Attempt } from './attempt.js';
import { retryDelaySeconds } from './backoff.js';
import type { ClaimedTask } from './claim.js';
import type { Settlement } from './settle.js';

/** Largest handler result we store, as JSON. */
export const MAX_RESULT_BYTES = 1024 * 1024;
const MAX_ERROR_CHARS = 4000;
const MAX_STACK_CHARS = 4000;
const MAX_STACK_LINES = 30;

/** What a handler run came to, before the retry decision. */
export type Outcome =
  | { kind: 'succeeded'; result: string | null }
  | { kind: 'error'; message: string; stack?: string | undefined; permanent: boolean }
  | { kind: 'deferred'; delay: number; message: string | null };

/** What an executor needs from its processor. */
export interface ExecutorDeps {
  pool: pg.Pool;
  names: SqlNames;
  registry: TaskRegistry;
  limits: QueueLimitsCache;
  logger: Logger;
  events: CourierEvents;
  /** Records progress for a running attempt; `false` once its lease is gone. */
  progress(attempt: Attempt, current: number, total: number | null): Promise<boolean>;
}

/**
 * Runs claimed attempts: takes their rate-limit grants, runs the handler, and
 * turns what happened into the {@link Settlement} the completer writes.
 */
export class Executor {
  readonly #deps: ExecutorDeps;
  #traceLinks: TraceLinkReader | undefined;

  constructor(deps: ExecutorDeps) {
    this.#deps = deps;
  }

  /** Runs one attempt to its settlement. Never throws. */
  run(attempt: Attempt): Promise<Settlement> {
    const tracing = currentTracing();
    return tracing?.active() ? this.#runTraced(attempt, tracing) : this.#run(attempt);
  }

  /**
   * Runs the attempt in a consumer span linked to the span that enqueued the task
   * and to its parents' run spans; a final outcome carries the span, for its dependents.
   */
  #runTraced(attempt: Attempt, tracing: Tracing): Promise<Settlement> {
    const { task } = attempt;
    this.#traceLinks ??= new TraceLinkReader(this.#deps.pool, this.#deps.names);
    const reader = this.#traceLinks;
    return tracing.consume(task, () => reader.read(task.id), async (end, runSpan) => {
      const settlement = await this.#run(attempt);
      end(spanOutcome(settlement));
      return runSpan && (settlement.kind === 'succeeded' || settlement.kind === 'failed') ? { ...settlement, runSpan } : settlement;
    });
  }

  async #run(attempt: Attempt): Promise<Settlement> {
    const { task } = attempt;
    try {
      const def = this.#deps.registry.get(task.name);
      if (!def?.handler) return toSettlement(task, { kind: 'error', permanent: false, message: `task "${task.name}" has no handler in this worker` }, def);
      const wait = await this.#rateWait(task, def);
      if (wait > 0) return { id: task.id, token: task.token, kind: 'postponed', delay: wait };
      const events = this.#deps.events;
      if (events.hasListeners('task:started')) events.emit('task:started', { id: task.id, name: task.name, queue: task.queue, attempt: task.attempt });
      const outcome = await executeTask(def, attempt, new Context(attempt, this.#deps));
      return toSettlement(task, outcome, def);
    } catch (err) {
      return toSettlement(task, { kind: 'error', permanent: false, message: describeError(err), stack: stackOf(err) }, this.#deps.registry.get(task.name));
    }
  }

  /** Takes the queue's and the task's rate-limit grants; the wait in seconds when one is refused. */
  async #rateWait(task: ClaimedTask, def: TaskDefinition): Promise<number> {
    const limits = this.#deps.limits.get(task.queue);
    const queueRate = limits?.rateLimit;
    const groupRate = task.group ? limits?.groupRateLimit : null;
    if (!queueRate && !def.rateLimit && !groupRate) return 0;
    const table = this.#deps.names.rateLimits;
    for (const [key, rate] of [
      [`queue:${task.queue}`, queueRate],
      [`group:${task.queue}:${task.group}`, groupRate],
      [`task:${task.name}`, def.rateLimit],
    ] as const) {
      if (!rate) continue;
      const got = await acquireGrant(this.#deps.pool, table, key, rate);
      // A little jitter keeps the postponed tasks from all coming back at once.
      if (!got.granted) return got.retryAfter * (1 + Math.random() * 0.2);
    }
    return 0;
  }
}

function spanOutcome(s: Settlement): SpanOutcome {
  switch (s.kind) {
    case 'succeeded':
      return { kind: 'succeeded' };
    case 'retry':
      return { kind: 'retry', error: s.error, delay: s.delay };
    case 'failed':
      return { kind: 'failed', error: s.error };
    default:
      return { kind: 'other', detail: s.kind };
  }
}

/** The handler's `ctx`: the signal and the child logger are made only when read. */
class Context implements TaskContext {
  readonly taskId: string;
  readonly name: string;
  readonly queue: string;
  readonly attempt: number;
  readonly #run: Attempt;
  readonly #deps: ExecutorDeps;
  #logger: Logger | undefined;
  #parents: Promise<Record<string, unknown>> | undefined;

  constructor(run: Attempt, deps: ExecutorDeps) {
    this.taskId = run.task.id;
    this.name = run.task.name;
    this.queue = run.task.queue;
    this.attempt = run.task.attempt;
    this.#run = run;
    this.#deps = deps;
  }

  get signal(): AbortSignal {
    return this.#run.signal;
  }

  get logger(): Logger {
    this.#logger ??= this.#deps.logger.child({ taskId: this.taskId, task: this.name, queue: this.queue, attempt: this.attempt });
    return this.#logger;
  }

  get parents(): Promise<Record<string, unknown>> {
    this.#parents ??= loadParents(this.#deps.pool, this.#deps.names, this.taskId);
    return this.#parents;
  }

  progress(current: number, total?: number): Promise<boolean> {
    if (!Number.isFinite(current) || (total !== undefined && !Number.isFinite(total))) {
      return Promise.reject(new TypeError('progress(current, total?) takes finite numbers'));
    }
    if (this.#run.phase !== 'running') return Promise.resolve(false);
    return this.#deps.progress(this.#run, current, total ?? null);
  }
}

/**
 * Runs one handler to an {@link Outcome}. Never throws: a sync throw, a rejected
 * promise, a non-JSON or oversized result and a timeout each become an outcome.
 * On timeout the outcome is final even if the handler ignores its signal.
 */
export async function executeTask(def: TaskDefinition, attempt: Attempt, ctx: TaskContext): Promise<Outcome> {
  let cancelTimer: (() => void) | undefined;
  try {
    const { task } = attempt;
    let payload: unknown = task.payload;
    if (def.payload) {
      const parsed = def.payload.safeParse(task.payload);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return { kind: 'error', permanent: true, message: `payload no longer matches the task's schema at "${['payload', ...(issue?.path ?? []).map(String)].join('.')}": ${issue?.message}` };
      }
      payload = parsed.data;
    }
    const handler = def.handler as (payload: unknown, ctx: TaskContext) => unknown;
    let value = handler(payload, ctx);
    const timeout = task.timeout;
    if (timeout) {
      value = await Promise.race([
        value,
        new Promise<never>((_, reject) => {
          cancelTimer = after(timeout * 1000, () => {
            const err = new TaskTimeoutError(`timed out after ${timeout}s`);
            attempt.abort(err);
            reject(err);
          });
        }),
      ]);
    } else if (isThenable(value)) {
      value = await value;
    }
    if (value instanceof RetryAfter) return { kind: 'deferred', delay: value.seconds, message: null };
    return encodeResult(value);
  } catch (err) {
    if (err instanceof RetryAfter) return { kind: 'deferred', delay: err.seconds, message: null };
    return { kind: 'error', permanent: err instanceof PermanentError, message: describeError(err), stack: stackOf(err) };
  } finally {
    cancelTimer?.();
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** Node timers overflow past 2^31 - 1 ms; longer waits are chained. Returns a canceller. */
export function after(ms: number, fn: () => void): () => void {
  const MAX = 2_147_483_647;
  let timer: NodeJS.Timeout;
  const arm = (left: number) => {
    timer = setTimeout(() => (left > MAX ? arm(left - MAX) : fn()), Math.min(left, MAX));
  };
  arm(ms);
  return () => clearTimeout(timer);
}

function encodeResult(value: unknown): Outcome {
  if (value === undefined) return { kind: 'succeeded', result: null };
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    return { kind: 'error', permanent: true, message: `handler returned a value that is not JSON-serialisable: ${describeError(err)}` };
  }
  if (json === undefined) return { kind: 'succeeded', result: null };
  const unstorable = unstorableInJsonb(json);
  if (unstorable) return { kind: 'error', permanent: true, message: `handler returned a value with ${unstorable}, which Postgres jsonb cannot store` };
  // A UTF-16 code unit is at most 3 bytes of UTF-8: short results need no count.
  if (json.length * 3 > MAX_RESULT_BYTES) {
    const bytes = Buffer.byteLength(json);
    if (bytes > MAX_RESULT_BYTES) {
      return { kind: 'error', permanent: true, message: `handler returned ${bytes} bytes of JSON; results are limited to ${MAX_RESULT_BYTES} bytes` };
    }
  }
  return { kind: 'succeeded', result: json };
}

/** A readable one-line description of anything thrown. */
export function describeError(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : typeof err === 'string' ? err : safeString(err);
  const clean = storableText(text);
  return clean.length > MAX_ERROR_CHARS ? `${clean.slice(0, MAX_ERROR_CHARS).toWellFormed()}…` : clean;
}

/** The stack of a thrown Error, bounded in lines and characters; undefined for anything else. */
export function stackOf(err: unknown): string | undefined {
  if (!(err instanceof Error) || typeof err.stack !== 'string') return undefined;
  const lines = storableText(err.stack).split('\n').slice(0, MAX_STACK_LINES).join('\n');
  return lines.length > MAX_STACK_CHARS ? `${lines.slice(0, MAX_STACK_CHARS).toWellFormed()}…` : lines;
}

function safeString(value: unknown): string {
  try {
    return `non-error thrown: ${JSON.stringify(value) ?? String(value)}`;
  } catch {
    return `non-error thrown: ${Object.prototype.toString.call(value)}`;
  }
}

/**
 * Decides retry or fail for an outcome of the task's current attempt; a retry
 * waits by the task's backoff and cap (given at enqueue), else the definition's.
 */
export function toSettlement(task: ClaimedTask, outcome: Outcome, defaults?: TaskDefaults, random: () => number = Math.random): Settlement {
  const { id, token } = task;
  switch (outcome.kind) {
    case 'succeeded':
      return { id, token, kind: 'succeeded', result: outcome.result };
    case 'deferred':
      return { id, token, kind: 'deferred', delay: outcome.delay, error: outcome.message };
    case 'error':
      if (outcome.permanent || task.retriesLeft <= 0) return { id, token, kind: 'failed', error: outcome.message, stack: outcome.stack };
      return {
        id,
        token,
        kind: 'retry',
        error: outcome.message,
        stack: outcome.stack,
        delay: retryDelaySeconds({ backoff: task.backoff ?? defaults?.backoff, attempt: task.attempt, retryDelay: task.retryDelay, maxDelay: task.maxDelay ?? defaults?.maxDelay }, random),
      };
  }
}
