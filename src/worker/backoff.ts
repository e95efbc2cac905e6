/** Longest backoff between attempts, in seconds (unless `retryDelay` itself is larger). */
export const MAX_BACKOFF_SECONDS = 3600;

/**
 * Seconds to wait after failed attempt number `attempt` (1-based): `retryDelay`
 * doubled per attempt, capped, times a jitter factor in [1, 1.25). The jitter
 * spreads retries of tasks that failed together yet keeps every delay longer than
 * the one before it (until the cap).
 */
export function backoffSeconds(attempt: number, retryDelay: number, random: () => number = Math.random): number {
  const cap = Math.max(MAX_BACKOFF_SECONDS, retryDelay);
  const exponential = retryDelay * 2 ** Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(cap, exponential) * (1 + random() * 0.25);
}

/** Named backoff curves; a definition may also give a function of the attempt number. */
export type BackoffKind = 'exponential' | 'linear' | 'fixed';

/** A backoff: a named curve, or `(attempt) => seconds` for the delay after failed attempt `attempt`. */
export type Backoff = BackoffKind | ((attempt: number) => number);

/**
 * Seconds to wait after failed attempt number `attempt` (1-based), by `backoff`:
 * - `exponential` (default): {@link backoffSeconds};
 * - `linear`: `retryDelay × attempt`, with the same jitter and cap;
 * - `fixed`: `retryDelay` every time, no jitter;
 * - a function: its value (a thrown error or a value that is not a finite number
 *   >= 0 falls back to exponential).
 * `maxDelay`, when given, caps every curve (jitter included).
 */
export function retryDelaySeconds(
  opts: { backoff: Backoff | null | undefined; attempt: number; retryDelay: number; maxDelay: number | null | undefined },
  random: () => number = Math.random,
): number {
  const { backoff, attempt, retryDelay, maxDelay } = opts;
  let delay: number;
  if (typeof backoff === 'function') {
    let value: unknown;
    try {
      value = backoff(attempt);
    } catch {
      value = undefined;
    }
    delay = typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : backoffSeconds(attempt, retryDelay, random);
  } else if (backoff === 'fixed') {
    delay = retryDelay;
  } else if (backoff === 'linear') {
    const cap = Math.max(MAX_BACKOFF_SECONDS, retryDelay);
    delay = Math.min(cap, retryDelay * Math.max(attempt, 1)) * (1 + random() * 0.25);
  } else {
    delay = backoffSeconds(attempt, retryDelay, random);
  }
  return maxDelay === null || maxDelay === undefined ? delay : Math.min(delay, maxDelay);
}
