import pg from 'pg';
import { type ZodType, z } from 'zod';
import { isTaskId } from './db/task-id.js';
import { ValidationError } from './errors.js';
import { flowEnqueueShape } from './flow/options.js';

/** Postgres identifier rules for schema names: validated, never concatenated raw. */
export const identifierSchema = z
  .string()
  .regex(/^(?!pg_)[a-z_][a-z0-9_]{0,56}$/, 'must be a lower-case SQL identifier of at most 57 characters (letters, digits, _), not starting with pg_');

/** Queue names: printable, short, no quoting surprises. */
export const queueNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1-128 characters of letters, digits, _ . : -');

/** Task names follow the same rule as queue names. */
export const taskNameSchema = queueNameSchema;

/** Longest duration any option takes: a year. Longer ones overflow Postgres intervals once backed off. */
export const MAX_SECONDS = 31_536_000;
/** Longest duration a Node timer can wait (2^31 - 1 ms), rounded down. */
export const MAX_TIMER_SECONDS = 2_000_000;

const seconds = (what: string) => z.number({ error: `must be a number of seconds (${what})` }).finite();

/** Retry and scheduling defaults of a task; each may be overridden per enqueue. */
export const taskDefaultsSchema = z
  .object({
    queue: queueNameSchema.describe('Named queue (default `default`).').optional(),
    priority: z.int('must be an integer from 1 (highest) to 10 (lowest)').min(1, 'must be an integer from 1 (highest) to 10 (lowest)').max(10, 'must be an integer from 1 (highest) to 10 (lowest)').describe('1 = highest … 10 = lowest (default 5).').optional(),
    maxRetries: z.int('must be an integer >= 0').min(0, 'must be an integer >= 0').max(1000, 'must be at most 1000').describe('Retries after the first attempt (default 3): attempts = 1 + maxRetries.').optional(),
    retryDelay: seconds('>= 0').min(0, 'must be a number of seconds >= 0').max(MAX_SECONDS, 'must be at most a year (31536000 seconds)').describe('Seconds; base of the exponential backoff with jitter (default 60).').optional(),
    timeout: seconds('> 0').positive('must be a number of seconds > 0').max(MAX_SECONDS, 'must be at most a year (31536000 seconds)').describe('Seconds a run may take; then `ctx.signal` aborts and the attempt fails (default none).').optional(),
    backoff: z
      .enum(['exponential', 'linear', 'fixed'], 'must be "exponential", "linear" or "fixed" (a function of the attempt is accepted by defineTask only)')
      .describe('Curve of the delay between attempts: `exponential` (default), `linear` or `fixed`; defineTask also takes `(attempt) => seconds`.')
      .optional(),
    maxDelay: seconds('>= 0').min(0, 'must be a number of seconds >= 0').max(MAX_SECONDS, 'must be at most a year (31536000 seconds)').describe('Seconds; the longest delay between attempts (default an hour, or retryDelay when larger).').optional(),
  })
  .strict();

/** A task id as the API hands them out: a string of digits. */
export const taskIdSchema = z.string('must be a task id (a string of digits)').regex(/^[1-9][0-9]{0,18}$/, 'must be a task id (a string of digits)');

/** What a dependent does when a parent fails or is cancelled. */
export const edgePolicySchema = z.enum(['fail', 'run', 'skip'], 'must be "fail", "run" or "skip"');

/** Options of one enqueue call. */
export const enqueueOptionsSchema = taskDefaultsSchema
  .extend({
    runAt: z
      .union([z.date(), z.iso.datetime({ offset: true }), z.number().finite()], 'must be a Date, an ISO-8601 string or epoch milliseconds')
      .refine((v) => typeof v !== 'number' || v >= MIN_EPOCH_MS, 'must be epoch milliseconds; this number looks like epoch seconds (use delay for seconds from now, or multiply by 1000)')
      .transform((v) => (v instanceof Date ? v : new Date(v)))
      .refine((d) => !Number.isNaN(d.getTime()), 'must be a valid date')
      .refine((d) => d.getUTCFullYear() >= 1 && d.getUTCFullYear() <= 9999, 'must be a date between the years 1 and 9999')
      .describe('Do not start before this time: a Date, an ISO-8601 string or epoch milliseconds (a number below 10^11, i.e. epoch seconds, is refused).'),
    delay: seconds('>= 0').min(0, 'must be a number of seconds >= 0').max(MAX_SECONDS, 'must be at most a year (31536000 seconds)').describe('Do not start before this many seconds from now. Not together with `runAt`.'),
    key: z.string().min(1, 'must be a non-empty string').max(512, 'must be at most 512 characters').refine((k) => !k.includes('\u0000') && k.isWellFormed(), 'must not contain NUL characters or lone surrogates').describe('Dedup key: while a task of this name and key is queued or running, enqueue returns its id.').optional(),
    keyMode: z.enum(['keep', 'replace'], 'must be "keep" or "replace"').describe('With `key`: `keep` the queued task (default) or `replace` its payload and options.').optional(),
    tx: z.unknown().describe("The caller's open transaction: a `pg` client inside BEGIN, or a transaction of Kysely, Drizzle, Prisma, Knex, TypeORM, Sequelize, MikroORM or postgres.js.").optional(),
    ...flowEnqueueShape,
    dependsOn: z
      .array(z.union([taskIdSchema, z.object({ id: taskIdSchema, onFailure: edgePolicySchema.optional() }).strict()], 'must be a task id or { id, onFailure }'), 'must be an array of task ids')
      .min(1, 'must name at least one task')
      .max(1000, 'must name at most 1000 tasks')
      .describe('Parent task ids (or `{ id, onFailure }`): the task waits until they have all finished.')
      .optional(),
  })
  .partial()
  .strict();

/** Numbers below this (the year 1973 in milliseconds, the year 5138 in seconds) are taken for epoch seconds and refused as `runAt`. */
export const MIN_EPOCH_MS = 1e11;

/** Filters of `TaskManager.list()`. */
export const listTasksSchema = z
  .object({
    queue: queueNameSchema.optional(),
    status: z.enum(['waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled'], 'must be one of waiting, queued, running, succeeded, failed, cancelled').optional(),
    name: taskNameSchema.optional(),
    createdAfter: z.coerce.date('must be a date').optional(),
    createdBefore: z.coerce.date('must be a date').optional(),
    retrying: z.boolean('must be true or false').optional(),
    limit: z.int('must be an integer from 1 to 500').min(1, 'must be an integer from 1 to 500').max(500, 'must be an integer from 1 to 500').default(50),
    cursor: z.string().refine(isTaskId, 'must be a cursor returned by a previous call').optional(),
  })
  .strict();

/** Options of `courier.start()`. */
export const startOptionsSchema = z
  .object({
    concurrency: z.int('must be an integer from 1 to 1000').min(1, 'must be an integer from 1 to 1000').max(1000, 'must be an integer from 1 to 1000').describe('Handlers running at once in this process.').default(10),
    queues: z.array(queueNameSchema).min(1, 'must name at least one queue').describe('Queues to serve (default: all).').optional(),
    pollInterval: seconds('> 0')
      .min(0.01, 'must be at least 0.01 seconds')
      .max(3600, 'must be at most 3600 seconds')
      .describe('Seconds between polls for due tasks (default: 2 while the LISTEN connection is down, 15 while NOTIFY wakes the worker).')
      .optional(),
    lease: seconds('>= 0.5').min(0.5, 'must be at least 0.5 seconds').max(86_400, 'must be at most 86400 seconds').describe('Seconds a claimed task stays leased without renewal; renewed every third of it.').default(30),
    batchSize: z.int('must be an integer from 1 to 1000').min(1, 'must be an integer from 1 to 1000').max(1000, 'must be an integer from 1 to 1000').describe('Most tasks claimed per statement (default concurrency + prefetch, at most 1000).').optional(),
    prefetch: z.int('must be an integer from 0 to 1000').min(0, 'must be an integer from 0 to 1000').max(1000, 'must be an integer from 0 to 1000').describe('Most claimed tasks held ready beyond concurrency (default 1000; fewer while tasks are slow).').optional(),
    handleSignals: z.boolean('must be true or false').describe('Stop gracefully on SIGTERM/SIGINT.').default(false),
    schedules: z.boolean('must be true or false').describe('Fire cron schedules from this process.').default(true),
    cleanup: z.boolean('must be true or false').describe('Ensure the hourly built-in cleanup schedule exists.').default(true),
    waitForDatabase: seconds('>= 0').min(0, 'must be a number of seconds >= 0').max(MAX_TIMER_SECONDS, 'must be at most 2000000 seconds').describe('Seconds to wait, with backoff, for Postgres to accept connections (default 0: fail at once).').default(0),
  })
  .strict();

/** Options of `courier.stop()`. */
export const stopOptionsSchema = z
  .object({ grace: seconds('>= 0').min(0, 'must be a number of seconds >= 0').max(MAX_TIMER_SECONDS, 'must be at most 2000000 seconds').describe('Seconds to let running handlers finish before aborting them.').default(30) })
  .strict();

/** Options of `createCourier()`. */
export const courierOptionsSchema = z
  .object({
    connectionString: z.string('must be a postgres:// connection string').min(1, 'must be a postgres:// connection string').describe('postgres:// URL (default: env DATABASE_URL). Ignored when `pool` is given.').optional(),
    pool: z.custom<pg.Pool>((v) => v instanceof pg.Pool, 'must be a pg.Pool').describe('An existing pg.Pool; the courier never ends it.').optional(),
    schema: identifierSchema.describe('Postgres schema holding the tables (env PGCOURIER_SCHEMA).').default('pgcourier'),
    logger: z.custom<unknown>((v) => typeof v === 'object' && v !== null && typeof (v as { info?: unknown }).info === 'function', 'must be a pino logger').describe('A pino logger (default: silent).').optional(),
    registry: z.unknown().describe('A TaskRegistry to share (default: a new one).').optional(),
    poolSize: z.int('must be an integer from 1 to 1000').min(1).max(1000).describe('Connections in the pool the courier creates (default 10, raised by start() to 4 + concurrency / 4, at most 50).').optional(),
    plugins: z
      .array(z.custom<object>((v) => typeof v === 'object' && v !== null && typeof (v as { setup?: unknown }).setup === 'function', 'must be a plugin such as messages({ providers })'), 'must be an array of plugins')
      .describe('Plugins, e.g. `messages({ providers })` from `pgcourier/messages`.')
      .optional(),
    migrate: z.boolean('must be true or false').describe('Create or upgrade the schema before the first statement (default false).').optional(),
    hosts: z
      .array(
        z.union([z.string().min(1), z.object({ host: z.string().min(1), port: z.int().min(1).max(65_535).optional() }).strict()], 'must be "host:port" strings or { host, port } objects'),
        'must be an array of "host:port" strings or { host, port } objects',
      )
      .min(1, 'must name at least one server')
      .max(32, 'must name at most 32 servers')
      .describe('Servers in place of the connection string\'s, tried in order; the writable one is used.')
      .optional(),
    listenConnectionString: z.string('must be a postgres:// connection string').min(1, 'must be a postgres:// connection string').describe('A direct connection for LISTEN when the main one goes through a transaction-mode pooler.').optional(),
    preparedStatements: z.boolean('must be true or false').describe('Named prepared statements (default true); false behind a transaction-mode pooler.').optional(),
    readConnectionString: z.string('must be a postgres:// connection string').min(1, 'must be a postgres:// connection string').describe('A replica for status, lists and metrics.').optional(),
    // Checked field by field in routing/options.ts (it needs this module's schemas).
    clusters: z
      .record(z.string(), z.unknown(), 'must be an object of cluster name to { number, queues, connectionString }')
      .describe('Other Postgres clusters and the queues on each: `{ [name]: { number, queues, connectionString, … } }`; the rest stay on this connection.')
      .optional(),
  })
  .strict();

/**
 * Why `url` is not a usable Postgres connection string, in words that never
 * repeat it (it may hold a password), or `null` when it is one. Several hosts
 * (`postgres://u:p@h1:5432,h2:5433/db`) are allowed.
 */
export function connectionStringProblem(url: string): string | null {
  const m = /^(postgres|postgresql):\/\/([^/?#]*)([/?#].*)?$/is.exec(url);
  if (!m) {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
    return scheme && scheme.length <= 20 ? `must be a postgres:// or postgresql:// URL, not ${scheme}://` : 'must be a postgres:// or postgresql:// URL such as postgres://user:password@localhost:5432/db';
  }
  const authority = m[2] as string;
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? '' : authority.slice(0, at);
  const hosts = authority.slice(at + 1);
  try {
    decodeURIComponent(userinfo);
    decodeURIComponent(m[3] ?? '');
  } catch {
    return 'has a malformed %-escape (encode special characters of the user and password with encodeURIComponent)';
  }
  for (const host of hosts.split(',')) {
    if (!/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]@]*)(:\d{1,5})?$/.test(host)) return 'has a malformed host:port part (a password with @, : or / must be encoded with encodeURIComponent)';
    const port = Number(/:(\d+)$/.exec(host)?.[1] ?? 5432);
    if (port < 1 || port > 65_535) return 'has a port outside 1-65535';
  }
  return null;
}

/**
 * `true` when two object types name exactly the same fields, else a type naming
 * the difference. With {@link Check} it keeps a hand-written option interface and
 * its zod schema in step at compile time.
 */
export type SameFields<A, B> = [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never]
  ? true
  : { onlyInInterface: Exclude<keyof A, keyof B>; onlyInSchema: Exclude<keyof B, keyof A> };

/** Compiles only when `T` is `true`. */
export type Check<T extends true> = T;

/** Environment variables pgcourier reads. */
export const envSchema = z.object({
  DATABASE_URL: z.string().min(1).describe('Connection string used when no connectionString or pool is given.').optional(),
  PGCOURIER_SCHEMA: identifierSchema.describe('Schema used when no schema option is given.').optional(),
});

/** Reads pgcourier's environment variables, failing with the variable named. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): z.infer<typeof envSchema> {
  return parse(envSchema, { DATABASE_URL: env.DATABASE_URL || undefined, PGCOURIER_SCHEMA: env.PGCOURIER_SCHEMA || undefined }, 'environment');
}

/**
 * Parses `value` with `schema`, turning the first zod issue into a
 * {@link ValidationError} that names the field and never echoes the value.
 */
export function parse<S extends ZodType>(schema: S, value: unknown, where: string, prefix?: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter(Boolean).join('.') || 'options';
  let expected = issue?.message ?? 'is invalid';
  if (issue?.code === 'unrecognized_keys') {
    return fail(where, [prefix, ...issue.path.map(String), ...issue.keys].filter(Boolean).join('.'), 'is not a known option');
  }
  if (!/^(must|is) /.test(expected)) expected = `is invalid: ${expected}`;
  return fail(where, path, expected);
}

function fail(where: string, field: string, expected: string): never {
  throw new ValidationError(where, field, expected);
}
