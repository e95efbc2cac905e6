import type pg from 'pg';
import type { Queryable } from '../pool.js';

/** What an adapter returns: a {@link Queryable} inside the caller's transaction, or why the object is refused (a phrase completing `"tx" …`). */
export type Opened = Queryable | { refused: string };

/**
 * How one library's transaction object becomes a {@link Queryable}. Detected by
 * shape only: pgcourier imports none of these libraries.
 */
export interface TxAdapter {
  /** Whether `tx` is one of this library's objects (a transaction or not). */
  matches(tx: object): boolean;
  /**
   * A Queryable running inside `tx`'s transaction, or why `tx` is not one. `inner`
   * opens an object the library wraps (Drizzle's driver client, MikroORM's Knex
   * transaction) with every adapter.
   */
  open(tx: any, inner: (wrapped: unknown) => Opened): Opened;
}

/** A refusal: `tx` is this library's object but not an open transaction. */
export function refuse(refused: string): Opened {
  return { refused };
}

/**
 * A parameter in Postgres's text input syntax, the form `pg` sends it in: arrays
 * as array literals (elements quoted and escaped), dates as ISO-8601, objects as
 * JSON. The statements cast every parameter (`$1::text[]`, `$3::jsonb[]`), so text
 * reads back the same through every driver, whatever types the driver would infer.
 */
export function toPgText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return `{${value.map(arrayElement).join(',')}}`;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function arrayElement(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (Array.isArray(value)) return toPgText(value) as string;
  return `"${(toPgText(value) as string).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** Rows as `pg` returns them: int8 as a string (Prisma and some postgres.js settings give a bigint). */
export function asResult<R extends pg.QueryResultRow>(rows: readonly Record<string, unknown>[]): pg.QueryResult<R> {
  const out = rows.map((row) => {
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) copy[k] = typeof v === 'bigint' ? v.toString() : v;
    return copy as R;
  });
  return { rows: out, rowCount: out.length, command: '', oid: 0, fields: [] };
}
