import type pg from 'pg';
import { z } from 'zod';
import { type Check, parse, queueNameSchema, type SameFields } from './config.js';
import type { SqlNames } from './db/names.js';
import { SchemaGuard } from './db/schema-guard.js';
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
}

const queueOptionsSchema = z
  .object({
    concurrency: z.int('must be an integer >= 1 or null').min(1, 'must be an integer >= 1 or null').max(100_000).nullable().optional(),
    rateLimit: z.unknown().optional(),
    paused: z.boolean('must be true or false').optional(),
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
  updated_at: Date;
}

/** Reads and changes queue settings (the `queues` table). */
export class QueueAdmin {
  readonly #pool: pg.Pool;
  readonly #names: SqlNames;
  readonly #guard: SchemaGuard;

  /**
   * Queue settings of one schema; statements run through `guard` (automatic migration, NotMigratedError).
   *
   * @internal
   */
  constructor(pool: pg.Pool, names: SqlNames, guard: SchemaGuard = new SchemaGuard(names.schemaName)) {
    this.#pool = pool;
    this.#names = names;
    this.#guard = guard;
  }

  /** Creates or updates a queue's settings; takes effect on every process (limits within seconds). */
  async configure(name: string, options: QueueOptions): Promise<QueueSettings> {
    const queue = parse(queueNameSchema, name, 'configureQueue', 'name');
    const o = parse(queueOptionsSchema, options ?? {}, 'configureQueue');
    const rate = o.rateLimit === undefined || o.rateLimit === null ? o.rateLimit : parseRate(o.rateLimit, 'configureQueue');
    const { rows } = await this.#guard.run(() => this.#pool.query<QueueRow>(
      `INSERT INTO ${this.#names.queues} AS q (name, paused, concurrency, rate_limit, rate_per)
       VALUES ($1, coalesce($2, false), $3, $5, $6)
       ON CONFLICT (name) DO UPDATE SET
         paused = coalesce($2, q.paused),
         concurrency = CASE WHEN $4 THEN EXCLUDED.concurrency ELSE q.concurrency END,
         rate_limit = CASE WHEN $7 THEN EXCLUDED.rate_limit ELSE q.rate_limit END,
         rate_per = CASE WHEN $7 THEN EXCLUDED.rate_per ELSE q.rate_per END,
         updated_at = now()
       RETURNING *`,
      [queue, o.paused ?? null, o.concurrency ?? null, o.concurrency !== undefined, rate?.limit ?? null, rate?.per ?? null, o.rateLimit !== undefined],
    ));
    await this.#notify(queue, o.paused === false);
    return toSettings(rows[0] as QueueRow);
  }

  /** Stops new starts of the queue's tasks on every process (running ones finish). */
  async pause(name: string): Promise<QueueSettings> {
    return this.configure(name, { paused: true });
  }

  /** Lets the queue's tasks start again and wakes the workers. */
  async resume(name: string): Promise<QueueSettings> {
    return this.configure(name, { paused: false });
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

/** NOTIFY payload that tells workers queue settings changed (queue names cannot start with `#`). */
export const QUEUES_CHANGED = '#queues';

function toSettings(r: QueueRow): QueueSettings {
  return {
    name: r.name,
    paused: r.paused,
    concurrency: r.concurrency,
    rateLimit: r.rate_limit && r.rate_per ? { limit: r.rate_limit, per: r.rate_per } : null,
    updatedAt: r.updated_at,
  };
}
