import type pg from 'pg';
import type { SqlNames } from '../db/names.js';

/**
 * Dead row versions (beyond those the last vacuum left) that make a busy worker
 * vacuum the task table. Each task leaves two (claimed, finished) and one dead
 * entry in the claim index, which every claim walks from its start until a vacuum
 * removes it: at 15,000 tasks/s a claim walked ~1,900 index pages (~3 ms) after
 * 30 s, more than the claim's own work, and autovacuum looks at a database only
 * once a minute by default.
 */
export const VACUUM_DEAD_ROWS = 100_000;
/** Tasks one worker claims between two looks at the table's dead rows. */
export const VACUUM_CHECK_CLAIMS = 10_000;
/** At most one look per this many ms per worker. */
const CHECK_EVERY_MS = 1000;
/**
 * Ms without a look after one failed: a vacuum that a role's `statement_timeout`
 * cancels would otherwise be retried, and reported, every second of a busy drain.
 */
export const VACUUM_RETRY_AFTER_ERROR_MS = 10 * 60_000;

/**
 * The worker's vacuum sleeps this long each time it has done `vacuum_cost_limit`
 * worth of work (autovacuum's default pace). Unthrottled, it took one core for
 * 75–135 ms at a time, and the claims, completions and enqueues beside it waited
 * for that core: at 15,000 tasks/s on two cores, the tasks that started over 20 ms
 * after their enqueue were ~3.6 times as many (medians of six alternated 30 s runs).
 */
export const VACUUM_COST_DELAY_MS = 2;

/** What {@link vacuumIfBloated} found, and did. */
export interface VacuumCheck {
  /** Dead row versions counted in the table's statistics before. */
  dead: number;
  /** Whether it vacuumed. */
  vacuumed: boolean;
  /** Whether this role may vacuum the table (owner or superuser). */
  permitted: boolean;
  /** Dead row versions the statistics count after the vacuum (those it could not remove yet). */
  left: number;
}

/**
 * Vacuums the task table when at least `deadRows` more dead row versions than
 * `floor` have piled up and this role may vacuum it. `SKIP_LOCKED` leaves it alone
 * while another vacuum (autovacuum, another worker) runs; index cleanup is forced, as
 * the claim index is what this is for; the table's end is not truncated, which would
 * lock out claims and inserts while it does; and it runs in one process at
 * autovacuum's pace, as autovacuum does (a manual VACUUM otherwise starts parallel
 * workers for the indexes, which took every core of a two-core machine and stalled
 * the claims for its length, and never pauses: see {@link VACUUM_COST_DELAY_MS}).
 */
export async function vacuumIfBloated(pool: pg.Pool, names: SqlNames, floor = 0, deadRows = VACUUM_DEAD_ROWS): Promise<VacuumCheck> {
  const read = async () => {
    const { rows } = await pool.query<{ dead: string; permitted: boolean }>(
      `SELECT s.n_dead_tup AS dead, pg_has_role(c.relowner, 'USAGE') OR r.rolsuper AS permitted
         FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid, pg_roles AS r
        WHERE s.relid = $1::regclass AND r.rolname = current_user`,
      [names.tasks],
    );
    return { dead: Number(rows[0]?.dead ?? 0), permitted: rows[0]?.permitted ?? false };
  };
  const { dead, permitted } = await read();
  if (!permitted || dead - floor < deadRows) return { dead, vacuumed: false, permitted, left: floor };
  const client = await pool.connect();
  try {
    await client.query(`SET vacuum_cost_delay = '${VACUUM_COST_DELAY_MS}ms'`);
    await client.query(`VACUUM (INDEX_CLEANUP ON, TRUNCATE OFF, SKIP_LOCKED, PARALLEL 0) ${names.tasks}`);
  } finally {
    // The setting must not follow the connection back into the pool; one that cannot reset it is closed.
    client.release(await client.query('RESET vacuum_cost_delay').then(() => undefined, (err: Error) => err));
  }
  return { dead, vacuumed: true, permitted, left: (await read()).dead };
}

/** Options of {@link VacuumWatch}. */
export interface VacuumWatchOptions {
  pool: pg.Pool;
  names: SqlNames;
  onVacuumed(dead: number): void;
  onError(err: Error): void;
}

/**
 * The busy worker's vacuum: counts the tasks this worker claims and, every
 * {@link VACUUM_CHECK_CLAIMS} of them, looks at the table's dead rows and vacuums
 * when {@link vacuumIfBloated} says so. An idle worker never looks, so it costs an
 * idle worker nothing; a role that may not vacuum the table stops looking after the
 * first time; after an error it waits {@link VACUUM_RETRY_AFTER_ERROR_MS}. Never throws.
 */
export class VacuumWatch {
  readonly #opts: VacuumWatchOptions;
  #claimed = 0;
  /** No look before this time (ms since the epoch). */
  #notBefore = 0;
  #floor = 0;
  #permitted = true;
  #running: Promise<void> | undefined;

  constructor(opts: VacuumWatchOptions) {
    this.#opts = opts;
  }

  /** Counts `n` claimed tasks; checks the table when enough have been claimed since the last check. */
  claimed(n: number): void {
    this.#claimed += n;
    if (!this.#permitted || this.#running || this.#claimed < VACUUM_CHECK_CLAIMS || Date.now() < this.#notBefore) return;
    this.#claimed = 0;
    this.#notBefore = Date.now() + CHECK_EVERY_MS;
    this.#running = vacuumIfBloated(this.#opts.pool, this.#opts.names, this.#floor)
      .then((check) => {
        this.#permitted = check.permitted;
        this.#floor = check.vacuumed ? check.left : Math.min(this.#floor, check.dead);
        if (check.vacuumed) this.#opts.onVacuumed(check.dead);
      })
      .catch((err: Error) => {
        this.#notBefore = Date.now() + VACUUM_RETRY_AFTER_ERROR_MS;
        this.#opts.onError(err);
      })
      .finally(() => {
        this.#running = undefined;
      });
  }

  /** Waits for a check in progress. */
  async stop(): Promise<void> {
    await this.#running;
  }
}
