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
