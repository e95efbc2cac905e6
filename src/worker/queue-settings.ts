import type { Queryable } from '../db/pool.js';
import type { Rate } from '../limits/rate-limiter.js';

/** The queue limits a processor needs in its hot path. */
export interface QueueLimits {
  concurrency: number | null;
  rateLimit: Rate | null;
}

/**
 * A processor's copy of the queues that carry a cluster-wide concurrency cap or
 * rate limit, refreshed on a timer (pauses need no copy: the claim checks them).
 */
export class QueueLimitsCache {
  readonly #db: Queryable;
  readonly #table: string;
  #limits = new Map<string, QueueLimits>();

  constructor(db: Queryable, table: string) {
    this.#db = db;
    this.#table = table;
  }

  /** Re-reads the limits. */
  async refresh(): Promise<void> {
    const { rows } = await this.#db.query<{ name: string; concurrency: number | null; rate_limit: number | null; rate_per: number | null }>(
      `SELECT name, concurrency, rate_limit, rate_per FROM ${this.#table}
        WHERE concurrency IS NOT NULL OR rate_limit IS NOT NULL`,
    );
    this.#limits = new Map(
      rows.map((r) => [r.name, { concurrency: r.concurrency, rateLimit: r.rate_limit && r.rate_per ? { limit: r.rate_limit, per: r.rate_per } : null }]),
    );
  }

  /** Limits of `queue`, if any. */
  get(queue: string): QueueLimits | undefined {
    return this.#limits.get(queue);
  }

  /** Queues with a concurrency cap, among `served` (all when null). */
  capped(served: string[] | null): Array<{ queue: string; concurrency: number }> {
    const out: Array<{ queue: string; concurrency: number }> = [];
    for (const [queue, l] of this.#limits) {
      if (l.concurrency !== null && (!served || served.includes(queue))) out.push({ queue, concurrency: l.concurrency });
    }
    return out;
  }
}
