import type { Logger } from 'pino';
import type { z } from 'zod';
import { parse, taskDefaultsSchema, taskNameSchema } from './config.js';
import { ValidationError } from './errors.js';
import { parseRate, type Rate, type RateLimitSpec } from './limits/rate-limiter.js';
import { cronError } from './scheduler/cron.js';

/** What a handler receives besides its payload. */
export interface TaskContext {
  /** Id of the task being run. */
  taskId: string;
  /** Task name. */
  name: string;
  /** Queue the task was claimed from. */
  queue: string;
  /** 1 for the first run, 2 for the first retry, and so on. */
  attempt: number;
  /** Aborts when the task times out, its lease is lost, it is cancelled or the worker stops. */
  signal: AbortSignal;
  /** Logger bound to the task's id, name, queue and attempt. */
  logger: Logger;
  /**
   * Records progress readable through `getTask(id).progress`. Resolves `false` when
   * this attempt no longer owns the task (lease lost), `true` otherwise.
   */
  progress(current: number, total?: number): Promise<boolean>;
}

/** A task handler: its return value (JSON) becomes the task's `result`. */
export type TaskHandler<P = unknown> = (payload: P, ctx: TaskContext) => unknown | Promise<unknown>;

/** Defaults a task carries; every enqueue may override them. */
export interface TaskDefaults {
  /** Named queue (default `'default'`). */
  queue?: string;
  /** 1 = highest … 10 = lowest (default 5). */
  priority?: number;
  /** Retries after the first attempt (default 3): attempts = 1 + maxRetries. */
  maxRetries?: number;
  /** Base of the exponential backoff, in seconds (default 60). */
  retryDelay?: number;
  /** Seconds a run may take before `ctx.signal` aborts and the attempt fails. */
  timeout?: number;
}

/** Settings that belong to the task type, not to one enqueue. */
export interface TaskTypeOptions {
  /** Cluster-wide start rate of this task (e.g. `'5/s'`); a task without a grant waits without losing an attempt. */
  rateLimit?: RateLimitSpec;
  /** A cron expression (5 or 6 fields): the task is enqueued on that schedule while any processor runs. */
  cron?: string;
  /** Time zone of `cron` (IANA name, default UTC). */
  timezone?: string;
}

/** The full description of a task, as made by {@link defineTask}. */
export interface TaskDefinition<P = unknown, Name extends string = string> extends TaskDefaults {
  /** Cluster-wide start rate, normalised. */
  rateLimit?: Rate;
  /** Cron schedule declared with the task. */
  cron?: string;
  /** Time zone of `cron`. */
  timezone?: string;
  /** Unique task name, e.g. `send_welcome`. */
  name: Name;
  /** zod schema the payload must satisfy at enqueue and again before each run. */
  payload?: z.ZodType<P>;
  /** The function that does the work. */
  handler: TaskHandler<P>;
}

/** Input of {@link defineTask}. */
export interface DefineTaskInput<S extends z.ZodType | undefined, Name extends string> extends TaskDefaults, TaskTypeOptions {
  /** Unique task name, e.g. `send_welcome`. */
  name: Name;
  /** zod schema for the payload; its type flows into the handler and `enqueueTask`. */
  payload?: S;
  /** The function that does the work. */
  handler: TaskHandler<S extends z.ZodType ? z.output<S> : unknown>;
}

/**
 * Declares a task: name, payload schema, defaults and handler. Register it with
 * `courier.registerTask(def)`; pass it to `enqueueTask` for a typed payload.
 *
 * @example
 * ```ts
 * const sendWelcome = defineTask({
 *   name: 'send_welcome',
 *   payload: z.object({ userId: z.number() }),
 *   queue: 'email',
 *   async handler({ userId }, ctx) { ctx.logger.info({ userId }, 'welcome sent'); },
 * });
 * ```
 */
export function defineTask<S extends z.ZodType | undefined = undefined, Name extends string = string>(
  input: DefineTaskInput<S, Name>,
): TaskDefinition<S extends z.ZodType ? z.output<S> : unknown, Name> {
  const name = parse(taskNameSchema, input.name, 'defineTask', 'name');
  if (typeof input.handler !== 'function') throw new ValidationError('defineTask', 'handler', 'must be a function');
  const { payload, handler, name: _ignored, rateLimit, cron, timezone, ...defaults } = input;
  const checked = parse(taskDefaultsSchema, stripUndefined(defaults), 'defineTask');
  const type = stripUndefined({
    rateLimit: rateLimit === undefined ? undefined : parseRate(rateLimit, 'defineTask'),
    cron: cron === undefined ? undefined : parseCron(cron, timezone, 'defineTask'),
    timezone,
  });
  return Object.freeze({ ...checked, ...type, name, payload, handler }) as TaskDefinition<S extends z.ZodType ? z.output<S> : unknown, Name>;
}

function parseCron(cron: unknown, timezone: unknown, where: string): string {
  const error = cronError(cron, timezone);
  if (error) throw new ValidationError(where, error.field, error.expected);
  return cron as string;
}

function stripUndefined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The set of tasks a process knows. Enqueue validates against it; a worker claims
 * only the task names it holds.
 *
 * @example
 * ```ts
 * const registry = new TaskRegistry();
 * registry.register('resize_image', async ({ url }) => resize(url), { queue: 'media' });
 * registry.get('resize_image')?.queue; // 'media'
 * ```
 */
export class TaskRegistry {
  readonly #tasks = new Map<string, TaskDefinition>();

  /** Registers a definition, or a name with its handler and defaults. Re-registering a name replaces it. */
  register<P>(task: TaskDefinition<P>): TaskDefinition<P>;
  register<P = any>(name: string, handler: TaskHandler<P>, defaults?: TaskDefaults): TaskDefinition<P>;
  register(taskOrName: TaskDefinition | string, handler?: TaskHandler<any>, defaults: TaskDefaults = {}): TaskDefinition {
    const def = typeof taskOrName === 'string' ? defineTask({ ...defaults, name: taskOrName, handler: handler as TaskHandler }) : taskOrName;
    if (typeof taskOrName !== 'string') defineTask(def as DefineTaskInput<undefined, string>); // validates a hand-built object
    this.#tasks.set(def.name, def);
    return def;
  }

  /** The definition registered under `name`, or `undefined`. */
  get(name: string): TaskDefinition | undefined {
    return this.#tasks.get(name);
  }

  /** Every registered definition, in registration order. */
  list(): TaskDefinition[] {
    return [...this.#tasks.values()];
  }

  /** Registered task names. */
  names(): string[] {
    return [...this.#tasks.keys()];
  }
}
