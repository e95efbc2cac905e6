import type pg from 'pg';
import type { SqlNames } from '../db/names.js';
import { inTransaction } from '../db/pool.js';

/** At most one statistics check per this many ms. */
const CHECK_EVERY_MS = 5000;

/**
 * Re-analyses the task table when its statistics are stale (never analysed, or
 * many rows changed since). Without fresh statistics the planner can misjudge a
 * freshly filled table and sort every queued row on each claim instead of
 * walking the claim index. One process at a time (advisory lock); returns whether
 * it analysed.
 */
export async function analyzeIfStale(pool: pg.Pool, names: SqlNames): Promise<boolean> {
  // Activity counters reach pg_stat with a delay; the table's size does not.
  const { rows } = await pool.query<{ live: string; modified: string; never: boolean; bytes: string }>(
    `SELECT n_live_tup AS live, n_mod_since_analyze AS modified,
            last_analyze IS NULL AND last_autoanalyze IS NULL AS never, pg_relation_size(relid) AS bytes
       FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'tasks'`,
    [names.schemaName],
  );
  const row = rows[0];
  if (!row) return false;
  const stale = (row.never && Number(row.bytes) > 65_536) || Number(row.modified) > Math.max(1000, 0.2 * Number(row.live));
  if (!stale) return false;
  return inTransaction(pool, async (client) => {
    const { rows: lock } = await client.query<{ won: boolean }>('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS won', [`pgcourier.analyze:${names.schemaName}`]);
    if (lock[0]?.won) await client.query(`ANALYZE ${names.tasks}`);
    return lock[0]?.won ?? false;
  });
}

/** Options of {@link StatsWatch}. */
export interface StatsWatchOptions {
  pool: pg.Pool;
  names: SqlNames;
  onAnalysed(): void;
  onError(err: Error): void;
}

/**
 * The statistics check: runs whenever a claim was slow (the processor asks),
 * at most once per five seconds. Not at start: autovacuum keeps the statistics of
 * a busy table fresh, a worker's start would otherwise analyse a queue table (whose
 * rows all change) almost every time, and a plan misjudged from stale statistics
 * shows as a slow claim at once. Never throws.
 */
export class StatsWatch {
  readonly #opts: StatsWatchOptions;
  #lastCheck = 0;
  #running: Promise<void> | undefined;

  constructor(opts: StatsWatchOptions) {
    this.#opts = opts;
  }

  async stop(): Promise<void> {
    await this.#running;
  }

  /** Analyses the task table if its statistics are stale (rate-limited). */
  check(): Promise<void> {
    if (this.#running || Date.now() - this.#lastCheck < CHECK_EVERY_MS) return this.#running ?? Promise.resolve();
    this.#lastCheck = Date.now();
    this.#running = analyzeIfStale(this.#opts.pool, this.#opts.names)
      .then((analysed) => {
        if (analysed) this.#opts.onAnalysed();
      })
      .catch((err: Error) => this.#opts.onError(err))
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }
}
