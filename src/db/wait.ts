import type pg from 'pg';
import type { Logger } from 'pino';

/** Errors that mean "Postgres is not (yet) accepting connections", worth waiting out (PGCOURIER_NO_HOST: no server of several is writable yet). */
const NOT_UP_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', '57P03', 'PGCOURIER_NO_HOST']);

/** Whether `err` says the server is not reachable or still starting (not: wrong password, unknown database). */
export function isDatabaseNotUp(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && NOT_UP_CODES.has(code)) return true;
  return typeof message === 'string' && /timeout exceeded when trying to connect|Connection terminated|the database system is (starting up|shutting down)/.test(message);
}

/** Milliseconds before try `attempt + 1`: 0.5 s doubling up to 5 s. */
export function waitBackoffMs(attempt: number): number {
  return Math.min(5000, 500 * 2 ** (attempt - 1));
}

/**
 * Resolves once `pool` runs a statement, retrying with backoff for up to
 * `seconds` while Postgres is not up, and logging each failed try. Other errors
 * (authentication, unknown database) and the last failure are thrown.
 */
export async function waitForDatabase(pool: pg.Pool, seconds: number, logger: Logger): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      await pool.query('SELECT 1');
      if (attempt > 1) logger.info({ attempt }, 'database is up');
      return;
    } catch (err) {
      const left = deadline - Date.now();
      if (!isDatabaseNotUp(err) || left <= 0) throw err;
      const delay = Math.min(waitBackoffMs(attempt), left);
      logger.warn({ attempt, retryIn: delay / 1000, err: (err as Error).message }, 'database not reachable yet; waiting');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
