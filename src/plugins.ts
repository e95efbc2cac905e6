/**
 * The plugin interface: how a feature such as messaging (`pgcourier/messages`)
 * adds tables, tasks, an API and background work to a courier without the core
 * knowing it. Modelled on Oban's plugins: a name, its own migrations, what it
 * registers, start and stop, and a share of the core cleanup.
 *
 * @module
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { SqlNames } from './db/names.js';
import type { CourierEvents } from './events.js';
import type { RateLimiter, RateLimitSpec } from './limits/rate-limiter.js';
import type { EnqueueOptions } from './manager.js';
import type { TaskRegistry } from './registry.js';

/**
 * One SQL file of a plugin. Versions share the core's numbering (they are recorded
 * in the same `migrations` table), so each plugin owns a range: messaging owns
 * 20–39 (the core uses 1–19 and continues at 40). A courier refuses two
 * migrations with the same version.
 */
export interface PluginMigration {
  /** Version recorded in the `migrations` table, unique across the core and every plugin. */
  readonly version: number;
  /** Name recorded beside the version, e.g. `020_messages`. */
  readonly name: string;
  /** Reads the SQL; unqualified names resolve to the courier's schema. */
  sql(): Promise<string>;
}

/** What a plugin gets from its courier when it is set up. */
export interface PluginHost {
  /** The courier's pool. */
  readonly pool: pg.Pool;
  /** The courier's schema (unquoted, a validated identifier). */
  readonly schema: string;
  /** Pre-quoted names of the schema's objects; `names.table('x')` for the plugin's own tables. */
  readonly names: SqlNames;
  /** The courier's logger. */
  readonly logger: Logger;
  /** The courier's task registry: register the plugin's tasks here. */
  readonly registry: TaskRegistry;
  /** The courier's events. */
  readonly events: CourierEvents;
  /** Enqueues a task through the courier (the same validation, transactions with `tx`). */
  enqueueTask(name: string, payload: unknown, options?: EnqueueOptions): Promise<string>;
  /** A cross-process rate limiter kept in the courier's schema. */
  rateLimiter(key: string, spec: RateLimitSpec): RateLimiter;
}

/** Counts a plugin reports from a cleanup run, e.g. `{ messages: 120, batches: 2 }`. */
export type PluginCleanupReport = Record<string, number>;

/**
 * Contributions other entries read from a set-up plugin, keyed by entry. Entries
 * declare their key by module augmentation (`pgcourier/http` adds `http`), so the
 * core depends on none of them.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by module augmentation in other entries.
export interface PluginExtensions {}

/** What {@link CourierPlugin.setup} returns: the plugin, live on one courier. */
export interface PluginInstance<Api> {
  /** The API reachable as `courier[name]`. */
  readonly api: Api;
  /** Runs when `courier.start()` starts processing. */
  start?(): Promise<void>;
  /** Runs when `courier.stop()` has stopped processing. */
  stop?(): Promise<void>;
  /** Releases what the plugin holds; runs on `courier.close()`. */
  close?(): Promise<void>;
  /** Deletes the plugin's finished rows older than `olderThan` seconds; runs inside `courier.cleanup()`. */
  cleanup?(options: { olderThan: number }): Promise<PluginCleanupReport>;
  /** Contributions to other entries, such as HTTP routes. */
  readonly extensions?: PluginExtensions;
}

/**
 * A plugin: give it to `createCourier({ plugins: [...] })`. Its API appears on the
 * courier under its `name`, typed.
 *
 * @example
 * ```ts
 * import { createCourier, type CourierPlugin } from 'pgcourier';
 *
 * const audit: CourierPlugin<'audit', { count(): Promise<number> }> = {
 *   name: 'audit',
 *   setup(host) {
 *     return { api: { count: async () => (await host.pool.query(`SELECT count(*)::int AS n FROM ${host.names.tasks}`)).rows[0].n } };
 *   },
 * };
 * const courier = createCourier({ connectionString: process.env.DATABASE_URL, plugins: [audit] });
 * await courier.audit.count();
 * ```
 */
export interface CourierPlugin<Name extends string = string, Api = unknown> {
  /** Lower-case name; the API is reachable as `courier[name]`. */
  readonly name: Name;
  /** The plugin's SQL files, applied by `courier.migrate()` after the core's. */
  readonly migrations?: readonly PluginMigration[];
  /** Sets the plugin up on one courier: registers its tasks and returns its API. */
  setup(host: PluginHost): PluginInstance<Api>;
}

/** The API a plugin type adds to the courier. */
export type PluginApi<P> = P extends CourierPlugin<string, infer Api> ? Api : never;

/** The members a list of plugins adds to a courier: `{ [name]: api }`. */
export type PluginApis<P extends readonly CourierPlugin<string, unknown>[]> = {
  readonly [K in P[number] as K['name']]: PluginApi<K>;
};
