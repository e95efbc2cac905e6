import { z } from 'zod';
import { parse } from '../config.js';
import type { Queryable } from '../db/pool.js';
import { ValidationError } from '../errors.js';

/** A rate: `'5/s'`, `'100/m'`, `'1000/h'`, or `{ limit, per }` with `per` in seconds. */
export type RateLimitSpec = `${number}/${'s' | 'm' | 'h'}` | { limit: number; per: number };

/** A rate in normal form: at most `limit` grants in any window of `per` seconds. */
export interface Rate {
  /** Grants allowed per window. */
  limit: number;
  /** Window length in seconds. */
  per: number;
}

/** Result of {@link RateLimiter.acquire}. */
export type Acquired =
  | {
      granted: true;
      /**
       * Moves this grant's time to now. Call it right before the limited action when
       * work (a database write, say) separates the grant from the action, so the
       * window counts actions rather than grants. Only ever makes the limit stricter.
       */
      markStart(): Promise<void>;
    }
  | { granted: false; retryAfter: number };

/** A limiter shared by every process on the database. */
export interface RateLimiter {
  /** The limiter's key. */
  readonly key: string;
  /** The normalised rate. */
  readonly rate: Rate;
  /** Takes one grant, or says how many seconds until one frees up. */
  acquire(): Promise<Acquired>;
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3600 } as const;

const rateSchema = z.union(
  [
    z
      .string()
      .regex(/^\d+\/[smh]$/, 'must look like "5/s", "100/m" or "1000/h"')
      .transform((s) => {
        const [n, unit] = s.split('/') as [string, keyof typeof UNIT_SECONDS];
        return { limit: Number(n), per: UNIT_SECONDS[unit] };
      }),
    z.object({ limit: z.number(), per: z.number() }).strict(),
  ],
  'must be "N/s", "N/m", "N/h" or { limit, per }',
).pipe(
  z.object({
    limit: z.int('must have an integer limit from 1 to 10000').min(1, 'must have a limit >= 1').max(10_000, 'must have a limit <= 10000'),
    per: z.number().positive('must have a window (per) > 0 seconds').max(86_400, 'must have a window of at most a day'),
  }),
);

/** Parses a {@link RateLimitSpec}; the error names `field`. */
export function parseRate(spec: unknown, where: string, field = 'rateLimit'): Rate {
  return parse(rateSchema, spec, where, field);
}

/**
 * One grant under a sliding window kept in Postgres: the row holds the times of
 * the last `limit` grants; a grant is allowed when fewer exist or the oldest of
 * them left the window. The row lock of the upsert serialises callers, so no
 * window of `per` seconds ever holds more than `limit` grants, across processes.
 * The window is stretched by 1% (at least 50 ms) so that handler starts, which
 * trail their grants by a few milliseconds, keep to the limit too.
 */
export async function acquireGrant(db: Queryable, table: string, key: string, rate: Rate): Promise<Acquired> {
  const window = rate.per + Math.max(rate.per * 0.01, 0.05);
  const { rows } = await db.query<{ granted: string | null; wait: number | null }>(
    `WITH current AS (SELECT grants FROM ${table} WHERE key = $1),
     taken AS (
       INSERT INTO ${table} AS r (key, grants) VALUES ($1, ARRAY[clock_timestamp()])
       ON CONFLICT (key) DO UPDATE
         SET grants = r.grants[greatest(1, cardinality(r.grants) - $2 + 2):] || clock_timestamp(),
             updated_at = now()
         WHERE cardinality(r.grants) < $2
            OR r.grants[cardinality(r.grants) - $2 + 1] <= clock_timestamp() - make_interval(secs => $3)
       RETURNING (r.grants[cardinality(r.grants)])::text AS granted
     )
     SELECT (SELECT granted FROM taken) AS granted,
            (SELECT extract(epoch FROM c.grants[cardinality(c.grants) - $2 + 1] + make_interval(secs => $3) - clock_timestamp())
               FROM current c)::float8 AS wait`,
    [key, rate.limit, window],
  );
  const row = rows[0];
  const at = row?.granted;
  // The grant's time as text keeps its microseconds, so markStart finds exactly it.
  if (at) return { granted: true, markStart: () => restampGrant(db, table, key, at) };
  // The wait comes from the statement's snapshot: a hint, re-checked on the next try.
  return { granted: false, retryAfter: Math.min(window, Math.max(0.01, row?.wait ?? 0.01)) };
}

/** Replaces one grant time with now, keeping the array in time order. */
async function restampGrant(db: Queryable, table: string, key: string, at: string): Promise<void> {
  await db.query(
    `UPDATE ${table}
        SET grants = ARRAY(SELECT g FROM unnest(array_replace(grants, $2::timestamptz, clock_timestamp())) AS g ORDER BY g)
      WHERE key = $1`,
    [key, at],
  );
}

/** Builds a {@link RateLimiter} over the courier's `rate_limits` table. */
export function createRateLimiter(db: Queryable, table: string, key: string, spec: RateLimitSpec | Rate): RateLimiter {
  const rate = parseRate(spec, 'rateLimiter');
  if (typeof key !== 'string' || key.length === 0 || key.length > 200) {
    throw new ValidationError('rateLimiter', 'key', 'must be a string of 1-200 characters');
  }
  return { key, rate, acquire: () => acquireGrant(db, table, key, rate) };
}
