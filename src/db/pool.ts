import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';

/** Anything that runs a parameterised statement: a `pg.Pool`, a `pg.Client` or a pool client. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** A `pg` pool or client: what the hot path runs its prepared statements on. */
export interface PgQueryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>>;
}

/** Runs `fn` in a transaction on a client of `pool`: COMMIT when it resolves, ROLLBACK when it throws. */
export async function inTransaction<T>(pool: pg.Pool, fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
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
 * Where named statements are off ({@link disableNamedStatements}) it runs
 * unnamed; where a pooler turns out to mix them up (the statement "does not
 * exist" or "already exists" on the server connection it got), it runs the
 * statement again unnamed, which is safe as the failed one never executed, and
 * stays unnamed on `db` from then on.
 */
export async function runPrepared<R extends pg.QueryResultRow>(db: PgQueryable, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
  if (unnamedOnly.has(db)) return db.query<R>({ text, values });
  try {
    return await db.query<R>({ name: statementName(text), text, values });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if ((code !== '26000' && code !== '42P05') || !/prepared statement "pgcourier_/.test((err as Error).message)) throw err;
    unnamedOnly.add(db);
    return db.query<R>({ text, values });
  }
}

const unnamedOnly = new WeakSet<object>();

const statementNames = new Map<string, string>();

/** The prepared statement name of `text`, hashed once per text (a hot path: every enqueue). */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    if (statementNames.size >= 1000) statementNames.clear();
    name = `pgcourier_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    statementNames.set(text, name);
  }
  return name;
}

/**
 * Makes {@link runPrepared} send unnamed statements on `pool` and its clients: a
 * pooler in transaction mode (PgBouncer before 1.21) hands each transaction to any
 * server connection, where a statement prepared on another one does not exist.
 */
export function disableNamedStatements(pool: pg.Pool): void {
  unnamedOnly.add(pool);
  pool.on('connect', (client) => unnamedOnly.add(client));
}

/** Whether named prepared statements are off for `db` (by option or because a pooler mixed them up). */
export function namedStatementsOff(db: object): boolean {
  return unnamedOnly.has(db);
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

/** Quotes a validated identifier for SQL text. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
