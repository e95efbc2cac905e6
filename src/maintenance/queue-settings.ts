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
  /** Cap per group without a tier cap, or null. */
  groupCap?: number | null;
  /** Caps per group tier, or null. */
  groupTiers?: Record<string, number> | null;
  /** Start rate per group, or null. */
  groupRateLimit?: Rate | null;
  /** Rotate claims among groups (null: the default, yes). */
  fair?: boolean | null;
}

/** A queue with groups or sequences and how to claim from it. */
export interface FlowQueue {
  queue: string;
  groupCap: number | null;
  tiers: Record<string, number> | null;
  fair: boolean;
  queueCap: number | null;
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
  readonly #flows: string;
  readonly #periodic: Periodic;
  #limits = new Map<string, QueueLimits>();
  /** Queues that have groups or sequences (rows in task_flows). */
  #flowQueues = new Set<string>();

  constructor(db: Queryable, names: SqlNames, onError: (err: Error) => void = () => {}) {
    this.#db = db;
    this.#table = names.queues;
    this.#flows = names.table('task_flows');
    this.#periodic = new Periodic(FALLBACK_REFRESH, () => this.refresh(), onError);
  }

  /** Reads the limits now, then keeps them fresh. */
  async start(): Promise<void> {
    await this.refresh();
    this.#periodic.start(false);
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
    // One statement: one connection and one round trip (this read gates a worker's first claim).
    const { rows } = await this.#db.query<{ limits: QueueLimitRow[] | null; flows: string[] | null }>(
      `SELECT (SELECT json_agg(q) FROM (
                 SELECT name, concurrency, rate_limit, rate_per, group_concurrency, group_tiers, group_rate_limit, group_rate_per, fair FROM ${this.#table}
                  WHERE concurrency IS NOT NULL OR rate_limit IS NOT NULL OR group_concurrency IS NOT NULL OR group_tiers IS NOT NULL
                     OR group_rate_limit IS NOT NULL OR fair IS NOT NULL) AS q) AS limits,
              (SELECT array_agg(DISTINCT queue) FROM ${this.#flows}) AS flows`,
    );
    const row = rows[0];
    this.#limits = new Map((row?.limits ?? []).map((r) => [r.name, toLimits(r)]));
    this.#flowQueues = new Set(row?.flows ?? []);
  }

  /** Queues with groups or sequences among `served` (all when null), with how to claim from each. */
  flowQueues(served: string[] | null): FlowQueue[] {
    const out: FlowQueue[] = [];
    for (const queue of this.#flowQueues) {
      if (served && !served.includes(queue)) continue;
      const l = this.#limits.get(queue);
      out.push({ queue, groupCap: l?.groupCap ?? null, tiers: l?.groupTiers ?? null, fair: l?.fair ?? true, queueCap: l?.concurrency ?? null });
    }
    return out;
  }

  /** Whether `queue` has groups or sequences. */
  hasFlows(queue: string): boolean {
    return this.#flowQueues.has(queue);
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

interface QueueLimitRow {
  name: string;
  concurrency: number | null;
  rate_limit: number | null;
  rate_per: number | null;
  group_concurrency: number | null;
  group_tiers: Record<string, number> | null;
  group_rate_limit: number | null;
  group_rate_per: number | null;
  fair: boolean | null;
}

function toLimits(r: QueueLimitRow): QueueLimits {
  return {
    concurrency: r.concurrency,
    rateLimit: r.rate_limit && r.rate_per ? { limit: r.rate_limit, per: r.rate_per } : null,
    groupCap: r.group_concurrency,
    groupTiers: r.group_tiers,
    groupRateLimit: r.group_rate_limit && r.group_rate_per ? { limit: r.group_rate_limit, per: r.group_rate_per } : null,
    fair: r.fair,
  };
}
