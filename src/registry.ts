import type { Logger } from 'pino';
import type { z } from 'zod';
import { parse, taskDefaultsSchema, taskNameSchema } from './config.js';
import { ConflictError, PermanentError, ValidationError } from './errors.js';
import { parseRate, type Rate, type RateLimitSpec } from './limits/rate-limiter.js';
import { cronError } from './scheduler/cron.js';
import type { Backoff } from './worker/backoff.js';

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
  /**
   * Results of the task's succeeded parents (`dependsOn`, workflow edges), keyed by
   * the parent's step name in its workflow, else by its task id; `{}` without
   * parents. Read from the database on first use, so tasks that never read it pay nothing.
   *
   * @example
   * ```ts
   * async handler(_payload, ctx) {
   *   const totals = Object.values(await ctx.parents) as number[];
   *   return totals.reduce((a, b) => a + b, 0);
   * }
   * ```
   */
  readonly parents: Promise<Record<string, unknown>>;
}

/** A task handler: its return value (JSON) becomes the task's `result`. */
export type TaskHandler<P = unknown, R = unknown> = (payload: P, ctx: TaskContext) => R | Promise<R>;

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
  /**
   * Curve of the delay between attempts, from `retryDelay`: `'exponential'`
   * (default; doubles, with jitter), `'linear'`, `'fixed'`, or on a definition a
   * function `(attempt) => seconds` of the failed attempt's number.
   */
  backoff?: Backoff;
  /** Seconds; the longest delay between attempts (default an hour, or `retryDelay` when larger). */
  maxDelay?: number;
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
export interface TaskDefinition<P = unknown, Name extends string = string, R = unknown> extends TaskDefaults {
  /** Cluster-wide start rate, normalised. */
  rateLimit?: Rate;
  /** Cron schedule declared with the task. */
  cron?: string;
  /** Time zone of `cron`. */
  timezone?: string;
  /** Derives the group of a task from its payload when the enqueue gives none. */
  group?: (payload: P) => string | null | undefined;
  /** Derives the group's tier from the payload when the enqueue gives none. */
  groupTier?: (payload: P) => string | null | undefined;
  /** Unique task name, e.g. `send_welcome`. */
  name: Name;
  /** zod schema the payload must satisfy at enqueue and again before each run. */
  payload?: z.ZodType<P>;
  /**
   * The function that does the work. A definition made without one is
   * producer-only: it validates enqueues, no courier claims its tasks, and this
   * function fails permanently if anything calls it.
   */
  handler: TaskHandler<P, R>;
}

/** Input of {@link defineTask}. */
export interface DefineTaskInput<S extends z.ZodType | undefined, Name extends string, R = unknown> extends TaskDefaults, TaskTypeOptions {
  /** Unique task name, e.g. `send_welcome`. Names starting with `pgcourier.` are reserved for built-in tasks. */
  name: Name;
  /** zod schema for the payload; its type flows into the handler and `enqueueTask`. */
  payload?: S;
  /**
   * The function that does the work. Leave it out for a producer-only
   * definition: a web process enqueues typed, validated tasks without importing
   * the handler; the worker registers the same definition with its handler
   * (`courier.registerTask(def, handler)`).
   */
  handler?: TaskHandler<S extends z.ZodType ? z.output<S> : unknown, R>;
  /**
   * Derives the group (a tenant id, say) from the payload, for enqueues that give
   * no `group`: `group: (p) => p.accountId`. See the queue setting `groupConcurrency`.
   */
  group?: (payload: PayloadOf<S>) => string | null | undefined;
  /** Derives the group's tier from the payload, for enqueues that give no `groupTier`. */
  groupTier?: (payload: PayloadOf<S>) => string | null | undefined;
}

/** Payload type of a schema given to {@link defineTask} (`unknown` without one). */
export type PayloadOf<S extends z.ZodType | undefined> = S extends z.ZodType ? z.output<S> : unknown;

/** Options of {@link TaskRegistry.register}. */
export interface RegisterOptions {
  /** Replace a task already registered under the same name instead of throwing {@link ConflictError}. */
  replace?: boolean;
}

/** Prefix of built-in task names; user task names may not start with it. */
export const RESERVED_PREFIX = 'pgcourier.';

/**
 * Declares a task: name, payload schema, defaults and handler. Register it with
 * `courier.registerTask(def)`; pass it to `enqueueTask` for a typed payload.
 * Without `handler` the definition is producer-only (see {@link DefineTaskInput.handler}).
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
export function defineTask<S extends z.ZodType | undefined = undefined, Name extends string = string, R = unknown>(
  input: DefineTaskInput<S, Name, R>,
): TaskDefinition<PayloadOf<S>, Name, R> {
  const def = buildDefinition(input);
  if (def.name.startsWith(RESERVED_PREFIX)) throw new ValidationError('defineTask', 'name', `must not start with "${RESERVED_PREFIX}" (reserved for built-in tasks)`);
  return def;
}

/** Definitions made without a handler: registered and enqueued, never claimed. */
const producerOnly = new WeakSet<TaskDefinition<any, string, any>>();
/** Built-in definitions: the only ones allowed a `pgcourier.` name. */
const builtins = new WeakSet<TaskDefinition<any, string, any>>();
/** A definition registered with a handler → the producer-only definition it completes. */
const completes = new WeakMap<TaskDefinition<any, string, any>, TaskDefinition<any, string, any>>();

/**
 * Declares a built-in task (name `pgcourier.*`).
 *
 * @internal
 */
export function defineBuiltinTask<S extends z.ZodType | undefined, Name extends string, R>(input: DefineTaskInput<S, Name, R>): TaskDefinition<PayloadOf<S>, Name, R> {
  const def = buildDefinition(input);
  if (!def.name.startsWith(RESERVED_PREFIX)) throw new Error(`built-in task names start with ${RESERVED_PREFIX}`);
  builtins.add(def);
  return def;
}

function buildDefinition<S extends z.ZodType | undefined, Name extends string, R>(input: DefineTaskInput<S, Name, R>): TaskDefinition<PayloadOf<S>, Name, R> {
  const where = 'defineTask';
  if (typeof input !== 'object' || input === null) throw new ValidationError(where, 'options', 'must be an object with at least a name');
  const name = parse(taskNameSchema, input.name, where, 'name');
  if (input.handler !== undefined && typeof input.handler !== 'function') throw new ValidationError(where, 'handler', 'must be a function (or left out for a producer-only task)');
  const { payload, handler, name: _ignored, rateLimit, cron, timezone, group, groupTier, ...defaults } = input;
  for (const [field, fn] of [['group', group], ['groupTier', groupTier]] as const) {
    if (fn !== undefined && typeof fn !== 'function') throw new ValidationError(where, field, 'must be a function of the payload returning a string');
  }
  // A backoff function stays on the definition: it cannot travel through Postgres.
  const backoffFn = typeof defaults.backoff === 'function' ? defaults.backoff : undefined;
  const checked = { ...parse(taskDefaultsSchema, stripUndefined({ ...defaults, backoff: backoffFn ? undefined : defaults.backoff }), where), ...(backoffFn ? { backoff: backoffFn } : {}) };
  if (payload !== undefined && typeof (payload as { safeParse?: unknown } | null)?.safeParse !== 'function') throw new ValidationError(where, 'payload', 'must be a zod schema');
  const type = stripUndefined({
    rateLimit: rateLimit === undefined ? undefined : parseRate(rateLimit, where),
    cron: cron === undefined ? undefined : parseCron(cron, timezone, where),
    timezone,
    group,
    groupTier,
  });
  const def = Object.freeze({ ...checked, ...type, name, payload, handler: handler ?? missingHandler(name) }) as TaskDefinition<PayloadOf<S>, Name, R>;
  if (!handler) producerOnly.add(def);
  return def;
}

function missingHandler(name: string): TaskHandler<any, never> {
  return () => {
    throw new PermanentError(`task "${name}" was defined without a handler (producer-only): register the definition with its handler in the worker`);
  };
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
 * only the tasks whose handler it holds ({@link TaskRegistry.runnableNames}).
 *
 * @example
 * ```ts
 * const registry = new TaskRegistry();
 * registry.register('resize_image', async ({ url }: { url: string }) => ({ resized: url }), { queue: 'media' });
 * registry.get('resize_image')?.queue; // 'media'
 * ```
 */
export class TaskRegistry {
  #tasks = new Map<string, TaskDefinition>();
  #claimableOnly = false;

  /**
   * Registers a definition, or a name with its handler and defaults. A name
   * that is taken throws {@link ConflictError} unless `{ replace: true }` is
   * given (registering the very same definition again is a no-op). Names
   * starting with `pgcourier.` are reserved for built-in tasks.
   *
   * Given a definition and a `handler`, registers that definition with the
   * handler: how a worker runs a producer-only definition it shares with the
   * web process. It may take the place of that same producer-only definition
   * without `replace`.
   *
   * @example
   * ```ts
   * // shared.ts: imported by the web process and the worker
   * export const resize = defineTask({ name: 'resize', payload: z.object({ url: z.string() }) });
   * // worker.ts
   * registry.register(resize, async ({ url }) => ({ resized: url }));
   * ```
   */
  register<P, N extends string, R>(task: TaskDefinition<P, N, R>, handler?: TaskHandler<P, R>, options?: RegisterOptions): TaskDefinition<P, N, R>;
  register<P = any>(name: string, handler: TaskHandler<P>, defaults?: TaskDefaults & RegisterOptions): TaskDefinition<P>;
  register(taskOrName: TaskDefinition | string, handler?: TaskHandler<any>, options: (TaskDefaults & RegisterOptions) | RegisterOptions = {}): TaskDefinition {
    const { replace = false, ...defaults } = (options ?? {}) as TaskDefaults & RegisterOptions;
    if (typeof replace !== 'boolean') throw new ValidationError('registerTask', 'replace', 'must be true or false');
    const def = this.#definition(taskOrName, handler, defaults);
    const taken = this.#tasks.get(def.name);
    if (taken === def) return def;
    if (taken && !replace && completes.get(def) !== taken) {
      throw new ConflictError(`registerTask: a task named "${def.name}" is already registered; pass { replace: true } to replace it on purpose`);
    }
    this.#tasks.set(def.name, def);
    return def;
  }

  #definition(taskOrName: TaskDefinition | string, handler: TaskHandler<any> | undefined, defaults: TaskDefaults): TaskDefinition {
    if (typeof taskOrName === 'string') return defineTask({ ...defaults, name: taskOrName, handler: requireHandler(handler) });
    if (typeof taskOrName !== 'object' || taskOrName === null) throw new ValidationError('registerTask', 'task', 'must be a task name or a definition made by defineTask');
    if (handler !== undefined) {
      const completed = defineTask({ ...taskOrName, handler: requireHandler(handler) } as DefineTaskInput<undefined, string>);
      completes.set(completed, taskOrName);
      return completed;
    }
    if (builtins.has(taskOrName) || producerOnly.has(taskOrName)) return taskOrName;
    // A hand-built object: validated; kept as given unless it lacks a handler.
    const built = defineTask(taskOrName as DefineTaskInput<undefined, string>);
    return producerOnly.has(built) ? built : taskOrName;
  }

  /** The definition registered under `name`, or `undefined`. */
  get(name: string): TaskDefinition | undefined {
    return this.#tasks.get(name);
  }

  /** Every registered definition, in registration order. */
  list(): TaskDefinition[] {
    return [...this.#tasks.values()];
  }

  /**
   * Registered task names (producer-only ones included). On the view the
   * courier hands its worker, only the names with a handler.
   */
  names(): string[] {
    return this.#claimableOnly ? this.runnableNames() : [...this.#tasks.keys()];
  }

  /** Names of the registered tasks that have a handler: the only ones a worker of this process may claim. */
  runnableNames(): string[] {
    return [...this.#tasks.values()].filter((def) => !producerOnly.has(def)).map((def) => def.name);
  }

  /**
   * A live view of this registry whose {@link TaskRegistry.names} lists only
   * runnable tasks: what the courier hands its processor, so producer-only
   * tasks are never claimed.
   *
   * @internal
   */
  claimable(): TaskRegistry {
    const view = new TaskRegistry();
    view.#tasks = this.#tasks;
    view.#claimableOnly = true;
    return view;
  }
}

function requireHandler(handler: unknown): TaskHandler<any> {
  if (typeof handler !== 'function') throw new ValidationError('registerTask', 'handler', 'must be a function');
  return handler as TaskHandler<any>;
}
