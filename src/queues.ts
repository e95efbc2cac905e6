import type pg from 'pg';
import { z } from 'zod';
import { type Check, parse, queueNameSchema, type SameFields } from './config.js';
import type { SqlNames } from './db/names.js';
import type { Queryable } from './db/pool.js';
import { SchemaGuard } from './db/schema-guard.js';
import { NotFoundError, ValidationError } from './errors.js';
import { parseRate, type Rate, type RateLimitSpec } from './limits/rate-limiter.js';

/** Settings of a named queue, shared by every worker process. */
export interface QueueSettings {
  /** Queue name. */
  name: string;
  /** Paused queues start no new tasks on any process. */
  paused: boolean;
  /** Most tasks of the queue running at once across all processes, or `null` for no limit. */
  concurrency: number | null;
  /** Cluster-wide start rate, or `null` for none. */
  rateLimit: Rate | null;
  /** Most tasks of one group running at once across all processes (a default and caps per tier), or `null` for no limit. */
  groupConcurrency: GroupConcurrency | null;
  /** Start rate per group, or `null` for none. */
  groupRateLimit: Rate | null;
  /** Whether claims rotate among groups with due work; `null` means yes (the default). */
  fair: boolean | null;
  /** Queue that receives this queue's tasks once they fail for good, or `null`. */
  deadLetter: string | null;
  /** When the settings last changed. */
  updatedAt: Date;
}

/** What {@link Courier.configureQueue} accepts; omitted fields keep their value, `null` clears. */
export interface QueueOptions {
  /** Most tasks running at once across all processes; `null` removes the limit. */
  concurrency?: number | null;
  /** Cluster-wide start rate (e.g. `'5/s'`); `null` removes it. */
  rateLimit?: RateLimitSpec | null;
  /** Pause or resume. */
  paused?: boolean;
  /**
   * Most tasks of one group (see the enqueue option `group`) running at once across
   * all processes: a number for every group, or `{ default, tiers: { gold: 20 } }`
   * where a group's tier (the enqueue option `groupTier`) picks its cap and
   * `default` (optional: no cap) covers the rest. `null` removes the caps.
   */
  groupConcurrency?: number | { default?: number; tiers: Record<string, number> } | null;
  /** Start rate per group (e.g. `'5/s'` per tenant), through the cluster-wide limiter; `null` removes it. */
  groupRateLimit?: RateLimitSpec | null;
  /** Rotate claims among groups with due work (default `true`); `false` claims in priority, run_at order, caps still held. `null` resets. */
  fair?: boolean | null;
  /**
   * A queue name: tasks of this queue that fail for good move there, still
   * `failed`, keeping their attempts and errors; `courier.redrive()` moves them
   * back. `null` removes it.
   */
  deadLetter?: string | null;
}

/** Per-group caps in normal form. */
export interface GroupConcurrency {
  /** Cap of a group whose tier has none of its own, or `null` for no cap. */
  default: number | null;
  /** Caps per tier. */
  tiers: Record<string, number>;
}

const capSchema = z.int('must be an integer >= 1').min(1, 'must be an integer >= 1').max(100_000, 'must be at most 100000');

const queueOptionsSchema = z
  .object({
    concurrency: z.int('must be an integer >= 1 or null').min(1, 'must be an integer >= 1 or null').max(100_000).nullable().optional(),
    rateLimit: z.unknown().optional(),
    paused: z.boolean('must be true or false').optional(),
    groupConcurrency: z
      .union(
        [
          capSchema,
          z.object({ default: capSchema.optional(), tiers: z.record(z.string().min(1).max(100), capSchema) }, 'must be a number or { default?, tiers }').strict(),
        ],
        'must be an integer >= 1, { default?, tiers: { [tier]: n } } or null',
      )
      .nullable()
      .optional(),
    groupRateLimit: z.unknown().optional(),
    fair: z.boolean('must be true, false or null').nullable().optional(),
    deadLetter: queueNameSchema.nullable().optional(),
  })
  .strict();

// Compile-time: QueueOptions names exactly the fields queueOptionsSchema validates.
type _QueueOptionsMatch = Check<SameFields<QueueOptions, z.input<typeof queueOptionsSchema>>>;

interface QueueRow {
  name: string;
  paused: boolean;
  concurrency: number | null;
  rate_limit: number | null;
  rate_per: number | null;
  group_concurrency: number | null;
  group_tiers: Record<string, number> | null;
  group_rate_limit: number | null;
  group_rate_per: number | null;
  fair: boolean | null;
  dead_letter: string | null;
  updated_at: Date;
}

/** Reads and changes queue settings (the `queues` table). */
export class QueueAdmin {
  readonly #pool: pg.Pool;
  readonly #names: SqlNames;
  readonly #guard: SchemaGuard;
  readonly #registeredQueues: () => Iterable<string>;

  /**
   * Queue settings of one schema; statements run through `guard` (automatic migration, NotMigratedError).
   * `registeredQueues` lists the queues of the tasks this process registered (they exist before their first task).
   *
   * @internal
   */
  constructor(pool: pg.Pool, names: SqlNames, guard: SchemaGuard = new SchemaGuard(names.schemaName), registeredQueues: () => Iterable<string> = () => []) {
    this.#pool = pool;
    this.#names = names;
    this.#guard = guard;
    this.#registeredQueues = registeredQueues;
  }

  /** Creates or updates a queue's settings; takes effect on every process (limits within seconds). */
  async configure(name: string, options: QueueOptions): Promise<QueueSettings> {
    const queue = parse(queueNameSchema, name, 'configureQueue', 'name');
    const o = parse(queueOptionsSchema, options ?? {}, 'configureQueue');
    const rate = o.rateLimit === undefined || o.rateLimit === null ? o.rateLimit : parseRate(o.rateLimit, 'configureQueue');
    const groupRate = o.groupRateLimit === undefined || o.groupRateLimit === null ? o.groupRateLimit : parseRate(o.groupRateLimit, 'configureQueue', 'groupRateLimit');
    if (o.deadLetter === queue) throw new ValidationError('configureQueue', 'deadLetter', 'must name another queue, not the queue itself');
    const gc = o.groupConcurrency;
    const groupCap = typeof gc === 'number' ? gc : (gc?.default ?? null);
    const groupTiers = typeof gc === 'object' && gc !== null ? JSON.stringify(gc.tiers) : null;
    const { rows } = await this.#guard.run(() => this.#pool.query<QueueRow>(
      `INSERT INTO ${this.#names.queues} AS q (name, paused, concurrency, rate_limit, rate_per, group_concurrency, group_tiers, group_rate_limit, group_rate_per, fair, dead_letter)
       VALUES ($1, coalesce($2, false), $3, $5, $6, $8, $9::jsonb, $11, $12, $14, $16)
       ON CONFLICT (name) DO UPDATE SET
         paused = coalesce($2, q.paused),
         concurrency = CASE WHEN $4 THEN EXCLUDED.concurrency ELSE q.concurrency END,
         rate_limit = CASE WHEN $7 THEN EXCLUDED.rate_limit ELSE q.rate_limit END,
         rate_per = CASE WHEN $7 THEN EXCLUDED.rate_per ELSE q.rate_per END,
         group_concurrency = CASE WHEN $10 THEN EXCLUDED.group_concurrency ELSE q.group_concurrency END,
         group_tiers = CASE WHEN $10 THEN EXCLUDED.group_tiers ELSE q.group_tiers END,
         group_rate_limit = CASE WHEN $13 THEN EXCLUDED.group_rate_limit ELSE q.group_rate_limit END,
         group_rate_per = CASE WHEN $13 THEN EXCLUDED.group_rate_per ELSE q.group_rate_per END,
         fair = CASE WHEN $15 THEN EXCLUDED.fair ELSE q.fair END,
         dead_letter = CASE WHEN $17 THEN EXCLUDED.dead_letter ELSE q.dead_letter END,
         updated_at = now()
       RETURNING *`,
      [
        queue, o.paused ?? null, o.concurrency ?? null, o.concurrency !== undefined, rate?.limit ?? null, rate?.per ?? null, o.rateLimit !== undefined,
        groupCap, groupTiers, gc !== undefined, groupRate?.limit ?? null, groupRate?.per ?? null, o.groupRateLimit !== undefined,
        o.fair ?? null, o.fair !== undefined, o.deadLetter ?? null, o.deadLetter !== undefined,
      ],
    ));
    await this.#notify(queue, o.paused === false);
    return toSettings(rows[0] as QueueRow);
  }

  /**
   * Stops new starts of the queue's tasks on every process (running ones finish).
   * Throws {@link NotFoundError} for a queue that does not exist (see {@link queueExists}),
   * so a mistyped name creates nothing; `configure(name, { paused: true })` sets up a queue paused ahead of its first task.
   */
  async pause(name: string): Promise<QueueSettings> {
    await this.#mustExist(name, 'pauseQueue');
    return this.configure(name, { paused: true });
  }

  /** Lets the queue's tasks start again and wakes the workers; {@link NotFoundError} as {@link pause}. */
  async resume(name: string): Promise<QueueSettings> {
    await this.#mustExist(name, 'resumeQueue');
    return this.configure(name, { paused: false });
  }

  async #mustExist(name: string, where: string): Promise<void> {
    const queue = parse(queueNameSchema, name, where, 'name');
    if ([...this.#registeredQueues()].includes(queue)) return;
    if (await this.#guard.run(() => queueExists(this.#pool, this.#names, queue))) return;
    throw new NotFoundError(`${where}: queue "${queue}" does not exist (no task, no setting and no registered task uses it); configureQueue() creates a queue's settings ahead of its first task`);
  }

  /** Every queue with settings, by name. */
  async list(): Promise<QueueSettings[]> {
    const { rows } = await this.#guard.run(() => this.#pool.query<QueueRow>(`SELECT * FROM ${this.#names.queues} ORDER BY name`));
    return rows.map(toSettings);
  }

  /** Tells every worker to re-read queue settings and, when `wake`, wakes the queue's workers. */
  async #notify(queue: string, wake: boolean): Promise<void> {
    if (wake) await this.#pool.query('SELECT pg_notify($1, $2), pg_notify($1, $3)', [this.#names.channel, queue, QUEUES_CHANGED]);
    else await this.#pool.query('SELECT pg_notify($1, $2)', [this.#names.channel, QUEUES_CHANGED]);
  }
}

/**
 * Whether a queue exists in the database: it has settings or holds a task in any
 * state. (A queue named by a registered task exists too; callers add those.)
 */
export async function queueExists(db: Queryable, names: SqlNames, queue: string): Promise<boolean> {
  const { rows } = await db.query<{ found: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM ${names.queues} WHERE name = $1) OR EXISTS (SELECT 1 FROM ${names.tasks} WHERE queue = $1) AS found`,
    [queue],
  );
  return rows[0]?.found === true;
}

/** NOTIFY payload that tells workers queue settings changed (queue names cannot start with `#`). */
export const QUEUES_CHANGED = '#queues';

function toSettings(r: QueueRow): QueueSettings {
  return {
    name: r.name,
    paused: r.paused,
    concurrency: r.concurrency,
    rateLimit: r.rate_limit && r.rate_per ? { limit: r.rate_limit, per: r.rate_per } : null,
    groupConcurrency: r.group_concurrency === null && r.group_tiers === null ? null : { default: r.group_concurrency, tiers: r.group_tiers ?? {} },
    groupRateLimit: r.group_rate_limit && r.group_rate_per ? { limit: r.group_rate_limit, per: r.group_rate_per } : null,
    fair: r.fair,
    deadLetter: r.dead_letter,
    updatedAt: r.updated_at,
  };
}
