import type pg from 'pg';
import { namedStatementsOff, runPrepared } from '../db/pool.js';

/**
 * Planner settings of the claim connection. The claim's one right plan is an
 * ordered walk of the claim index, locking rows as it goes until the batch is
 * full; sorting is how a misjudged plan goes wrong (every queued row read and
 * sorted). With sorts and sequential scans off, the walk is the plan Postgres
 * makes whatever it knows of the table, so one generic plan can serve every call.
 * JIT is off too: before Postgres 18 a disabled node adds a huge constant to the
 * plan's cost, which crossed `jit_above_cost` and compiled every claim (400 ms
 * each on a stock Postgres 15 built with LLVM).
 */
export const CLAIM_SESSION_SETTINGS = `SELECT set_config('plan_cache_mode', 'force_generic_plan', false),
                         set_config('enable_sort', 'off', false),
                         set_config('enable_seqscan', 'off', false),
                         set_config('jit', 'off', false)`;

/** Pools smaller than this keep every connection for everything else. */
const MIN_POOL_SIZE = 4;

/**
 * The connection a running worker's plain claim goes over: one client of the pool,
 * held while the worker runs, on which the claim is a prepared statement with one
 * generic plan (see {@link CLAIM_SESSION_SETTINGS}). Planning a claim for each call cost about
 * 0.7 ms of its ~1.3 ms at ten tasks (measured back to back on PG 18, at 20,000 and
 * 1,000,000 rows). A producer claims one batch at a time, so one connection is enough.
 *
 * The settings stay on this connection: it is closed, not returned to the pool.
 * An error also closes it, and the next claim opens a new one. Behind a
 * transaction-mode pooler (named statements off) or with a small pool, claims go
 * through the pool as before.
 */
export class ClaimConnection {
  readonly #pool: pg.Pool;
  #client: Promise<pg.PoolClient> | undefined;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Whether `pool` gets a claim connection of its own. */
  static suits(pool: pg.Pool): boolean {
    const max = (pool as unknown as { options?: { max?: number } }).options?.max ?? 10;
    return max >= MIN_POOL_SIZE && !namedStatementsOff(pool);
  }

  /** Runs the claim statement `text` on the held connection, opening it first if needed. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    const pending = (this.#client ??= this.#open());
    let client: pg.PoolClient;
    try {
      client = await pending;
    } catch (err) {
      if (this.#client === pending) this.#client = undefined;
      throw err;
    }
    try {
      return await runPrepared<R>(client, text, values ?? []);
    } catch (err) {
      this.#drop(pending, client, err as Error);
      throw err;
    }
  }

  /** Closes the held connection (its settings must not reach the pool's other users). */
  async close(): Promise<void> {
    const pending = this.#client;
    this.#client = undefined;
    const client = await pending?.catch(() => undefined);
    client?.release(true);
  }

  async #open(): Promise<pg.PoolClient> {
    const client = await this.#pool.connect();
    // A connection lost while idle is replaced before the next claim rather than failing it.
    const pending = this.#client;
    client.once('error', (err) => {
      if (pending) this.#drop(pending, client, err);
    });
    try {
      await client.query(CLAIM_SESSION_SETTINGS);
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
    return client;
  }

  #drop(pending: Promise<pg.PoolClient>, client: pg.PoolClient, err: Error): void {
    if (this.#client !== pending) return;
    this.#client = undefined;
    client.release(err);
  }
}
