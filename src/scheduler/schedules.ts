import type pg from 'pg';
import { z } from 'zod';
import { type Check, parse, queueNameSchema, type SameFields, taskDefaultsSchema, taskNameSchema } from '../config.js';
import type { SqlNames } from '../db/names.js';
import { SchemaGuard } from '../db/schema-guard.js';
import { UnknownTaskError, ValidationError } from '../errors.js';
import { serializePayload } from '../manager.js';
import type { TaskRegistry } from '../registry.js';
import { cronError, nextTick } from './cron.js';

/** Options of {@link Courier.schedule}. */
export interface ScheduleOptions {
  /** IANA time zone the cron expression is read in (default `UTC`). */
  timezone?: string;
  /**
   * Missed ticks to enqueue after downtime: `false`/`0` (default) skips them,
   * `true` enqueues up to 100, a number up to that many.
   */
  backfill?: boolean | number;
  /** Queue of the enqueued tasks. */
  queue?: string;
  /** Priority of the enqueued tasks. */
  priority?: number;
  /** Retries of the enqueued tasks. */
  maxRetries?: number;
  /** Seconds; backoff base of the enqueued tasks. */
  retryDelay?: number;
  /** Seconds; timeout of the enqueued tasks. */
  timeout?: number;
  /** Curve of the delay between attempts of each enqueued task (see `EnqueueOptions.backoff`). */
  backoff?: 'exponential' | 'linear' | 'fixed';
  /** Seconds; the longest delay between attempts of each enqueued task. */
  maxDelay?: number;
}

/** A stored schedule. */
export interface ScheduleInfo {
  /** Unique schedule name. */
  name: string;
  /** Cron expression (5 fields, or 6 with seconds first). */
  cron: string;
  /** Time zone. */
  timezone: string;
  /** Task enqueued on each tick. */
  task: string;
  /** Payload of each enqueued task. */
  payload: unknown;
  /** Enqueue options. */
  options: Omit<ScheduleOptions, 'timezone' | 'backfill'>;
  /** Missed ticks enqueued after downtime. */
  backfill: number;
  /** Paused schedules enqueue nothing. */
  paused: boolean;
  /** Next tick. */
  nextRunAt: Date;
  /** Most recent tick enqueued. */
  lastRunAt: Date | null;
}

const optionsSchema = taskDefaultsSchema
  .extend({
    queue: queueNameSchema.optional(),
    timezone: z.string().optional(),
    backfill: z.union([z.boolean(), z.int().min(0).max(1000)], 'must be true, false or a whole number of ticks from 0 to 1000').optional(),
  })
  .strict();

// Compile-time: ScheduleOptions names exactly the fields optionsSchema validates.
type _ScheduleOptionsMatch = Check<SameFields<ScheduleOptions, z.input<typeof optionsSchema>>>;

const scheduleNameSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1-128 characters of letters, digits, _ . : -');

/** A row of the `schedules` table. */
export interface ScheduleRow {
  name: string;
  cron: string;
  timezone: string;
  task: string;
  payload: unknown;
  options: ScheduleInfo['options'];
  backfill: number;
  paused: boolean;
  next_run_at: Date;
  last_run_at: Date | null;
}

/**
 * Creates, lists, pauses and removes cron schedules. Built by the courier; use
 * `courier.schedule()` and friends.
 */
export class ScheduleAdmin {
  readonly #pool: pg.Pool;
  readonly #channel: string;
  readonly #table: string;
  readonly #registry: TaskRegistry;
  readonly #guard: SchemaGuard;

  /**
   * Schedules of one schema; a schedule's task and payload are validated against `registry`.
   *
   * @internal
   */
  constructor(pool: pg.Pool, names: SqlNames, registry: TaskRegistry, guard: SchemaGuard = new SchemaGuard(names.schemaName)) {
    this.#pool = pool;
    this.#channel = names.channel;
    this.#table = names.schedules;
    this.#registry = registry;
    this.#guard = guard;
  }

  /**
   * Creates or replaces schedule `name`. A changed cron expression or time zone
   * restarts the schedule from now; otherwise its next tick is kept. The task
   * must be registered in this process (with or without its handler) and the
   * payload must pass its schema, exactly as for `enqueueTask`; nothing is
   * written otherwise.
   */
  async upsert(name: string, cron: string, task: string, payload: unknown = {}, options: ScheduleOptions = {}): Promise<ScheduleInfo> {
    const where = 'schedule';
    const scheduleName = parse(scheduleNameSchema, name, where, 'name');
    const taskName = parse(taskNameSchema, task, where, 'task');
    const { timezone = 'UTC', backfill = false, ...enqueue } = parse(optionsSchema, options ?? {}, where);
    const error = cronError(cron, timezone);
    if (error) throw new ValidationError(where, error.field, error.expected);
    const def = this.#registry.get(taskName);
    if (!def) throw new UnknownTaskError(taskName, where, 'task');
    if (def.payload) parse(def.payload, payload, where, 'payload');
    const json = serializePayload(payload, where, 'payload');
    const backfillTicks = backfill === true ? 100 : backfill === false ? 0 : backfill;
    const next = nextTick(cron, timezone, new Date());
    const { rows } = await this.#guard.run(() => this.#pool.query<ScheduleRow>(
      `INSERT INTO ${this.#table} AS s (name, cron, timezone, task, payload, options, backfill, next_run_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8)
       ON CONFLICT (name) DO UPDATE SET
         task = EXCLUDED.task, payload = EXCLUDED.payload, options = EXCLUDED.options, backfill = EXCLUDED.backfill,
         next_run_at = CASE WHEN (s.cron, s.timezone) = (EXCLUDED.cron, EXCLUDED.timezone) THEN s.next_run_at ELSE EXCLUDED.next_run_at END,
         cron = EXCLUDED.cron, timezone = EXCLUDED.timezone, updated_at = now()
       RETURNING *`,
      [scheduleName, cron, timezone, taskName, json, JSON.stringify(enqueue), backfillTicks, next],
    ));
    await this.#changed();
    return toInfo(rows[0] as ScheduleRow);
  }

  /** Every schedule, by name. */
  async list(): Promise<ScheduleInfo[]> {
    const { rows } = await this.#guard.run(() => this.#pool.query<ScheduleRow>(`SELECT * FROM ${this.#table} ORDER BY name`));
    return rows.map(toInfo);
  }

  /** Pauses (`true`) or resumes (`false`) a schedule; resuming skips the ticks missed while paused. Returns whether it exists. */
  async setPaused(name: string, paused: boolean): Promise<boolean> {
    const res = await this.#guard.run(() => this.#pool.query(`UPDATE ${this.#table} SET paused = $2, updated_at = now() WHERE name = $1`, [name, paused]));
    if (!paused && res.rowCount) await this.#restartFromNow(name);
    await this.#changed();
    return (res.rowCount ?? 0) > 0;
  }

  /** Deletes a schedule; returns whether it existed. */
  async remove(name: string): Promise<boolean> {
    const res = await this.#guard.run(() => this.#pool.query(`DELETE FROM ${this.#table} WHERE name = $1`, [name]));
    await this.#changed();
    return (res.rowCount ?? 0) > 0;
  }

  async #restartFromNow(name: string): Promise<void> {
    const { rows } = await this.#pool.query<{ cron: string; timezone: string }>(`SELECT cron, timezone FROM ${this.#table} WHERE name = $1`, [name]);
    const row = rows[0];
    if (!row) return;
    await this.#pool.query(`UPDATE ${this.#table} SET next_run_at = $2 WHERE name = $1`, [name, nextTick(row.cron, row.timezone, new Date())]);
  }

  /** Tells every worker to re-read the schedules. */
  async #changed(): Promise<void> {
    await this.#pool.query('SELECT pg_notify($1, $2)', [this.#channel, SCHEDULES_CHANGED]);
  }
}

/** NOTIFY payload meaning "schedules changed" ('#' never appears in a queue name). */
export const SCHEDULES_CHANGED = '#schedules';

function toInfo(r: ScheduleRow): ScheduleInfo {
  return {
    name: r.name,
    cron: r.cron,
    timezone: r.timezone,
    task: r.task,
    payload: r.payload,
    options: r.options,
    backfill: r.backfill,
    paused: r.paused,
    nextRunAt: r.next_run_at,
    lastRunAt: r.last_run_at,
  };
}
