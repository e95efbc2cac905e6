import { type Courier, type CourierOptions, createCourier } from './courier.js';
import type { EnqueueOptions } from './manager.js';
import { type RegisterOptions, type TaskDefaults, type TaskDefinition, type TaskHandler, TaskRegistry } from './registry.js';

/** The registry behind module-level {@link registerTask}; the CLI worker uses it too. */
export const defaultRegistry = new TaskRegistry();

let defaultOptions: CourierOptions = {};
let defaultCourier: Courier | undefined;

/**
 * Sets the options of the default courier used by module-level {@link enqueueTask}
 * (otherwise it reads `DATABASE_URL`). Call before the first enqueue.
 *
 * @example
 * ```ts
 * configure({ connectionString: process.env.DATABASE_URL, schema: 'jobs' });
 * await enqueueTask('send_email', { to: 'a@example.com' });
 * ```
 */
export function configure(options: CourierOptions): void {
  if (defaultCourier) throw new Error('configure() must be called before the default courier is first used');
  defaultOptions = options;
}

/**
 * The default courier behind module-level {@link enqueueTask}, created on first
 * use from {@link configure} or `DATABASE_URL`, over {@link defaultRegistry}.
 * Tasks registered with module-level {@link registerTask} run when this courier
 * runs them: call `start()` on it in your worker process (or run
 * `pgcourier worker --tasks ./tasks.js`, which uses the same registry), and
 * {@link closeDefaultCourier} before the process exits.
 *
 * @example
 * ```ts
 * registerTask('send_email', async ({ to }: { to: string }) => ({ sent: to }));
 * const courier = getDefaultCourier();
 * await courier.migrate();
 * await courier.start({ concurrency: 5 });
 * // … on shutdown:
 * await closeDefaultCourier();
 * ```
 */
export function getDefaultCourier(): Courier {
  defaultCourier ??= createCourier({ ...defaultOptions, registry: defaultRegistry });
  return defaultCourier;
}

/**
 * Stops and closes the default courier (if created), ending its pool so the
 * process can exit; the next use creates a fresh one.
 *
 * @example
 * ```ts
 * await enqueueTask('send_email', { to: 'a@example.com' });
 * await closeDefaultCourier(); // a script ends here instead of lingering on open connections
 * ```
 */
export async function closeDefaultCourier(): Promise<void> {
  const c = defaultCourier;
  defaultCourier = undefined;
  await c?.close();
}

/**
 * Registers a task in the default registry, in the origin systems' style. The
 * handler runs in whichever process starts the default courier
 * ({@link getDefaultCourier}) or runs `pgcourier worker` on the module.
 *
 * @example
 * ```ts
 * registerTask('send_email', async ({ to }: { to: string }) => ({ sent: to }), { queue: 'email', maxRetries: 3, retryDelay: 60 });
 * ```
 */
export function registerTask<P, N extends string, R>(task: TaskDefinition<P, N, R>, handler?: TaskHandler<P, R>, options?: RegisterOptions): TaskDefinition<P, N, R>;
export function registerTask<P = any>(name: string, handler: TaskHandler<P>, defaults?: TaskDefaults & RegisterOptions): TaskDefinition<P>;
export function registerTask(task: TaskDefinition | string, handler?: TaskHandler<any>, options?: TaskDefaults & RegisterOptions): TaskDefinition {
  return typeof task === 'string' ? defaultRegistry.register(task, handler as TaskHandler<any>, options) : defaultRegistry.register(task, handler, options);
}

/**
 * Enqueues a task on the default courier and returns its id.
 *
 * @example
 * ```ts
 * const id = await enqueueTask('send_email', { to: 'a@example.com' }, { priority: 1 });
 * ```
 */
export function enqueueTask<P>(task: TaskDefinition<P, string, any>, payload: P, options?: EnqueueOptions): Promise<string>;
export function enqueueTask(name: string, payload?: unknown, options?: EnqueueOptions): Promise<string>;
export function enqueueTask(task: string | TaskDefinition<any, string, any>, payload?: unknown, options?: EnqueueOptions): Promise<string> {
  return getDefaultCourier().enqueueTask(task as string, payload, options);
}
