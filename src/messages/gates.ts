/**
 * Provider gates: a send rate (the courier's sliding-window rate limiter) and a
 * pause (`provider_gates.paused_until`), both in Postgres so every worker process
 * honours them.
 */
import type { Queryable } from '../db/pool.js';
import type { Acquired, RateLimiter, RateLimitSpec } from '../limits/rate-limiter.js';
import type { MessageNames } from './names.js';

/** Creates (or returns) the cross-process limiter for a key. */
export type LimiterFactory = (key: string, spec: RateLimitSpec) => RateLimiter;

const UNIT = { s: 1, m: 60, h: 3600 } as const;

/** `'3/s'` or `{ limit, per }` as `{ limit, per }`, with `margin` seconds added to the window. */
export function widenRate(spec: RateLimitSpec, margin: number): { limit: number; per: number } {
  const rate = typeof spec === 'string' ? { limit: Number(spec.split('/')[0]), per: UNIT[spec.split('/')[1] as keyof typeof UNIT] } : spec;
  return { limit: rate.limit, per: rate.per + margin };
}

/** Pause and rate of provider gates. */
export class Gates {
  readonly #db: Queryable;
  readonly #names: MessageNames;
  readonly #limiter: LimiterFactory;
  readonly #margin: number;
  readonly #maxWait: number;
  readonly #cache = new Map<string, RateLimiter>();

  constructor(opts: { db: Queryable; names: MessageNames; limiter: LimiterFactory; margin: number; maxWait: number }) {
    this.#db = opts.db;
    this.#names = opts.names;
    this.#limiter = opts.limiter;
    this.#margin = opts.margin;
    this.#maxWait = opts.maxWait;
  }

  /** Seconds the gate stays paused (0 when open). */
  async pausedFor(key: string): Promise<number> {
    const { rows } = await this.#db.query<{ left: number | null }>(
      `SELECT extract(epoch FROM paused_until - now())::float8 AS left FROM ${this.#names.gates} WHERE key = $1 AND paused_until > now()`,
      [key],
    );
    return Math.max(0, rows[0]?.left ?? 0);
  }

  /**
   * Pauses the gate for `seconds` (never shortening a longer pause). Returns true
   * when this call started the pause, so exactly one process reports it.
   */
  async pause(key: string, seconds: number, reason: string): Promise<boolean> {
    const { rows } = await this.#db.query<{ fresh: boolean }>(
      `INSERT INTO ${this.#names.gates} AS g (key, paused_until, paused_at, reason)
       VALUES ($1, now() + make_interval(secs => $2), now(), $3)
       ON CONFLICT (key) DO UPDATE
          SET paused_at = CASE WHEN g.paused_until IS NULL OR g.paused_until <= now() THEN now() ELSE g.paused_at END,
              paused_until = greatest(coalesce(g.paused_until, '-infinity'), EXCLUDED.paused_until),
              reason = EXCLUDED.reason, updated_at = now()
       RETURNING paused_at = now() AS fresh`,
      [key, seconds, reason.slice(0, 500)],
    );
    return rows[0]?.fresh ?? false;
  }

  /** Lifts a pause. */
  async resume(key: string): Promise<void> {
    await this.#db.query(`UPDATE ${this.#names.gates} SET paused_until = NULL, updated_at = now() WHERE key = $1`, [key]);
  }

  /** Gates paused now, with the seconds left and the reason. */
  async paused(): Promise<Array<{ key: string; seconds: number; reason: string | null }>> {
    const { rows } = await this.#db.query<{ key: string; left: number; reason: string | null }>(
      `SELECT key, extract(epoch FROM paused_until - now())::float8 AS left, reason FROM ${this.#names.gates} WHERE paused_until > now() ORDER BY key`,
    );
    return rows.map((r) => ({ key: r.key, seconds: r.left, reason: r.reason }));
  }

  /**
   * Takes one send slot under the gate's rate. Waits in-process (abortable) while
   * the wait is short, at most `maxWait` seconds in all; then reports how long the
   * caller should defer.
   */
  async acquire(key: string, spec: RateLimitSpec, signal?: AbortSignal): Promise<Acquired> {
    let limiter = this.#cache.get(key);
    if (!limiter) {
      limiter = this.#limiter(`gate:${key}`.slice(0, 200), widenRate(spec, this.#margin));
      this.#cache.set(key, limiter);
    }
    const deadline = Date.now() + this.#maxWait * 1000;
    for (;;) {
      const got = await limiter.acquire();
      if (got.granted) return got;
      // Spread waiters a little so they do not all retry at the same instant.
      const wait = got.retryAfter + Math.random() * Math.min(0.05, got.retryAfter);
      if (signal?.aborted || Date.now() + wait * 1000 > deadline) return { granted: false, retryAfter: wait };
      await sleep(wait, signal);
    }
  }
}

function sleep(seconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, seconds * 1000);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
