import { type Courier, type CourierOptions, createCourier } from './courier.js';
import type { EnqueueOptions } from './manager.js';
import { type TaskDefaults, type TaskDefinition, type TaskHandler, TaskRegistry } from './registry.js';

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
 * The default courier, created on first use from {@link configure} or `DATABASE_URL`.
 *
 * @example
 * ```ts
 * await getDefaultCourier().migrate();
 * ```
 */
export function getDefaultCourier(): Courier {
  defaultCourier ??= createCourier({ ...defaultOptions, registry: defaultRegistry });
  return defaultCourier;
}

/**
 * Closes the default courier (if created) so the next use starts afresh.
 *
 * @example
 * ```ts
 * afterAll(() => closeDefaultCourier());
 * ```
 */
export async function closeDefaultCourier(): Promise<void> {
  const c = defaultCourier;
  defaultCourier = undefined;
  await c?.close();
}

/**
 * Registers a task in the default registry, in the origin systems' style.
 *
 * @example
 * ```ts
 * registerTask('send_email', async ({ to }) => sendMail(to), { queue: 'email', maxRetries: 3, retryDelay: 60 });
 * ```
 */
export function registerTask<P>(task: TaskDefinition<P>): TaskDefinition<P>;
export function registerTask<P = any>(name: string, handler: TaskHandler<P>, defaults?: TaskDefaults): TaskDefinition<P>;
export function registerTask(task: TaskDefinition | string, handler?: TaskHandler<any>, defaults?: TaskDefaults): TaskDefinition {
  return typeof task === 'string' ? defaultRegistry.register(task, handler as TaskHandler<any>, defaults) : defaultRegistry.register(task);
}

/**
 * Enqueues a task on the default courier and returns its id.
 *
 * @example
 * ```ts
 * const id = await enqueueTask('send_email', { to: 'a@example.com' }, { priority: 1 });
 * ```
 */
export function enqueueTask(name: string, payload?: unknown, options?: EnqueueOptions): Promise<string> {
  return getDefaultCourier().enqueueTask(name, payload, options);
}
