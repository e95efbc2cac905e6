import type { SqlNames } from '../db/names.js';
import type { Queryable } from '../db/pool.js';
import type { Rate } from '../limits/rate-limiter.js';
import { Periodic, type Service } from './service.js';

/** Seconds between re-reads when no change was announced (a missed NOTIFY heals by then). */
const FALLBACK_REFRESH = 60;

/** The queue limits a processor needs in its hot path. */
export interface QueueLimits {
  concurrency: number | null;
  rateLimit: Rate | null;
}

/**
 * A processor's copy of the queues that carry a cluster-wide concurrency cap or
 * rate limit (pauses need no copy: the claim checks them). Re-read when a change
 * is announced by NOTIFY, on every (re)connection of the LISTEN connection, and
 * once a minute as a fallback.
 */
export class QueueLimitsCache implements Service {
  readonly #db: Queryable;
  readonly #table: string;
  readonly #periodic: Periodic;
  #limits = new Map<string, QueueLimits>();

  constructor(db: Queryable, names: SqlNames, onError: (err: Error) => void = () => {}) {
    this.#db = db;
    this.#table = names.queues;
    this.#periodic = new Periodic(FALLBACK_REFRESH, () => this.refresh(), onError);
  }

  /** Reads the limits now, then keeps them fresh. */
  async start(): Promise<void> {
    await this.refresh();
    this.#periodic.start();
  }

  stop(): Promise<void> {
    return this.#periodic.stop();
  }

  /** Settings changed somewhere: re-read them (never throws). */
  changed(): void {
    void this.#periodic.run();
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

  /** Whether `queue` has a cluster-wide concurrency cap. */
  isCapped(queue: string): boolean {
    return (this.#limits.get(queue)?.concurrency ?? null) !== null;
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
