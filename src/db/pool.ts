import { createHash } from 'node:crypto';
import type { CompiledQuery } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';

/** Anything that runs a parameterised statement: a `pg.Pool`, a `pg.Client` or a pool client. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** A `pg` pool or client: what the hot path runs its prepared statements on. */
export interface PgQueryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>>;
}

/**
 * Runs a batch statement planned for its actual arguments (an unnamed statement).
 * Statements that name their rows by `id = ANY($1)` need it: a prepared statement
 * switches to a generic plan after five runs, and the generic plan cannot know the
 * array is short, so on a large table it scans the whole table for every batch.
 */
export function runPlanned<R extends pg.QueryResultRow>(db: PgQueryable, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
  return db.query<R>({ text, values });
}

/**
 * Runs `text` as a named prepared statement: each connection parses and plans it
 * once. The name is derived from the text, so different schemas never collide.
 */
export function runPrepared<R extends pg.QueryResultRow>(db: PgQueryable, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
  return db.query<R>({ name: `pgcourier_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`, text, values });
}

/** A Kysely transaction or database object, as far as we need it. */
interface KyselyLike {
  executeQuery(query: CompiledQuery): Promise<{ rows: unknown[] }>;
}

/** Creates the pool pgcourier owns; errors of idle clients are logged, never fatal. */
export function createPool(connectionString: string, logger: Logger, max = 10): pg.Pool {
  // A connect that never completes (server gone, packets dropped) must fail, not hang.
  const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 10_000 });
  watchPool(pool, logger);
  return pool;
}

/**
 * A connection the server ends emits 'error' on its client; with no listener that
 * kills the process. The pool listens only while a client is idle, so every client
 * also gets a listener of its own for the time it is checked out (a transaction,
 * Kysely, migrate): the query in flight fails as usual and the pool drops the client.
 */
export function watchPool(pool: pg.Pool, logger: Logger): void {
  if (pool.listenerCount('error') === 0) {
    pool.on('error', (err) => logger.warn({ err: err.message }, 'idle database connection lost'));
  }
  pool.on('connect', (client) => {
    client.on('error', (err) => logger.warn({ err: err.message }, 'database connection lost'));
  });
}

/**
 * Turns the caller's transaction (`tx` option) into a {@link Queryable}: a `pg`
 * client inside `BEGIN`, or a Kysely transaction.
 */
export function queryableOf(tx: unknown): Queryable | undefined {
  if (tx === undefined || tx === null) return undefined;
  const candidate = tx as Partial<Queryable & KyselyLike>;
  if (typeof candidate.executeQuery === 'function') {
    const kysely = candidate as KyselyLike;
    return {
      async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []) {
        // Loaded only when a caller hands us a Kysely transaction: the core does not import Kysely.
        const { CompiledQuery } = await import('kysely');
        const out = await kysely.executeQuery(CompiledQuery.raw(text, values));
        return { rows: out.rows as R[], rowCount: out.rows.length, command: '', oid: 0, fields: [] };
      },
    };
  }
  if (typeof candidate.query === 'function') return candidate as Queryable;
  return undefined;
}

/** Quotes a validated identifier for SQL text. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
