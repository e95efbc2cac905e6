import type pg from 'pg';
import type { Logger } from 'pino';
import type { SqlNames } from '../db/names.js';
import type { TaskRegistry } from '../registry.js';
import { nextTick, ticksBetween } from '../scheduler/cron.js';
import type { ScheduleRow } from '../scheduler/schedules.js';
import type { Service } from './service.js';

/** Ticks younger than this are on time; older ones count as missed (see `backfill`). */
export const ON_TIME_SECONDS = 60;
/**
 * Longest wait between re-reads of the schedules when nothing is due: changes are
 * announced by NOTIFY, so this only heals a missed one.
 */
const REFRESH_MS = 60_000;

type DueRow = Omit<ScheduleRow, 'paused' | 'last_run_at'>;

/**
 * Enqueues the due ticks of every schedule. Runs in every processor: ticks are
 * inserted into `schedule_runs` with ON CONFLICT DO NOTHING in the same statement
 * that inserts their tasks, so a tick reached by several workers enqueues once.
 */
export class CronRunner implements Service {
  readonly #pool: pg.Pool;
  readonly #names: SqlNames;
  readonly #registry: TaskRegistry;
  readonly #logger: Logger;
  readonly #onError: (err: Error) => void;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #running: Promise<number> | undefined;

  constructor(opts: { pool: pg.Pool; names: SqlNames; registry: TaskRegistry; logger: Logger; onError: (err: Error) => void }) {
    this.#pool = opts.pool;
    this.#names = opts.names;
    this.#registry = opts.registry;
    this.#logger = opts.logger;
    this.#onError = opts.onError;
  }

  /** Starts firing at each schedule's next tick. */
  start(): void {
    this.#stopped = false;
    void this.#fire();
  }

  /** Stops the timer; waits for a run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** Schedules changed somewhere: re-read them now. */
  refresh(): void {
    if (!this.#stopped) void this.#fire();
  }

  /**
   * Enqueues every due tick as of `now`; returns how many tasks this call
   * enqueued. With `catchUp`, every tick since the last run counts as on time
   * (a test clock jumped forward; nothing was down).
   */
  async runDue(now = new Date(), catchUp = false): Promise<number> {
    if (this.#running) await this.#running;
    this.#running = this.#runDue(now, catchUp).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #fire(): Promise<void> {
    clearTimeout(this.#timer);
    try {
      await this.runDue();
      const { rows } = await this.#pool.query<{ next: Date | null }>(`SELECT min(next_run_at) AS next FROM ${this.#names.schedules} WHERE NOT paused`);
      const next = rows[0]?.next;
      const wait = next ? Math.max(0, next.getTime() - Date.now()) : REFRESH_MS;
      this.#arm(Math.min(wait, REFRESH_MS));
    } catch (err) {
      this.#onError(err as Error);
      this.#arm(1000);
    }
  }

  #arm(ms: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#fire(), ms);
    this.#timer.unref();
  }

  async #runDue(now: Date, catchUp: boolean): Promise<number> {
    const { rows } = await this.#pool.query<DueRow>(
      `SELECT name, cron, timezone, task, payload, options, backfill, next_run_at
         FROM ${this.#names.schedules} WHERE NOT paused AND next_run_at <= $1`,
      [now],
    );
    let enqueued = 0;
    for (const row of rows) enqueued += await this.#enqueueTicks(row, now, catchUp);
    return enqueued;
  }

  async #enqueueTicks(row: DueRow, now: Date, catchUp: boolean): Promise<number> {
    const ticks = ticksBetween(row.cron, row.timezone, new Date(row.next_run_at.getTime() - 1), now, 1000 + ON_TIME_SECONDS * 2);
    const onTimeFrom = catchUp ? Number.NEGATIVE_INFINITY : now.getTime() - ON_TIME_SECONDS * 1000;
    const missed = ticks.filter((t) => t.getTime() < onTimeFrom);
    const chosen = [...(row.backfill > 0 ? missed.slice(-row.backfill) : []), ...ticks.filter((t) => t.getTime() >= onTimeFrom)];
    if (missed.length > 0) this.#logger.info({ schedule: row.name, missed: missed.length, backfilled: Math.min(missed.length, row.backfill) }, 'schedule missed ticks while no worker ran');
    const next = nextTick(row.cron, row.timezone, now);
    const def = this.#registry.get(row.task);
    const o = row.options;
    const { rows: out } = await this.#pool.query<{ n: string }>(
      `WITH runs AS (
         INSERT INTO ${this.#names.scheduleRuns} (schedule, tick)
         SELECT $1, t FROM unnest($2::timestamptz[]) AS t
         ON CONFLICT DO NOTHING
         RETURNING tick
       ), inserted AS (
         INSERT INTO ${this.#names.tasks} (queue, name, payload, priority, max_retries, retry_delay, timeout, backoff, max_delay)
         SELECT $3, $4, $5::jsonb, $6, $7, $8, $9, $11, $12 FROM runs
         RETURNING id
       ), advanced AS (
         UPDATE ${this.#names.schedules}
            SET next_run_at = greatest(next_run_at, $10), last_run_at = greatest(last_run_at, (SELECT max(tick) FROM runs))
          WHERE name = $1
       )
       SELECT count(*) AS n FROM inserted`,
      [
        row.name,
        chosen,
        o.queue ?? def?.queue ?? 'default',
        row.task,
        JSON.stringify(row.payload),
        o.priority ?? def?.priority ?? 5,
        o.maxRetries ?? def?.maxRetries ?? 3,
        o.retryDelay ?? def?.retryDelay ?? 60,
        o.timeout ?? def?.timeout ?? null,
        next,
        o.backoff ?? null,
        o.maxDelay ?? null,
      ],
    );
    return Number(out[0]?.n ?? 0);
  }
}
