import type pg from 'pg';
import { asResult, refuse, type TxAdapter, toPgText } from './adapter.js';

/**
 * Rewrites `$1`-style parameters to Knex's `?` placeholders, with the bindings in
 * order of appearance (a parameter used twice is bound twice). A `$1` inside quoted
 * text is left alone. Every other `?` is escaped, inside quotes too: Knex binds a
 * bare `?` wherever it stands.
 */
export function toKnexBindings(text: string, values: readonly unknown[]): { sql: string; bindings: unknown[] } {
  const bindings: unknown[] = [];
  const sql = text.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\$(\d+)|\?/g, (match, n: string | undefined) => {
    if (n === undefined) return match.replaceAll('?', '\\?');
    bindings.push(values[Number(n) - 1]);
    return '?';
  });
  return { sql, bindings };
}

/** A Knex transaction (`knex.transaction(async (trx) => …)` or `await knex.transaction()`). */
export const knex: TxAdapter = {
  matches: (tx) => typeof tx === 'function' && typeof (tx as { raw?: unknown }).raw === 'function' && typeof (tx as { transaction?: unknown }).transaction === 'function',
  open(tx) {
    if (tx.isTransaction !== true) return refuse('must be the transaction Knex passes to knex.transaction(async (trx) => …), not the knex instance');
    if (typeof tx.isCompleted === 'function' && tx.isCompleted()) return refuse('is a Knex transaction that has already committed or rolled back');
    return {
      async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []) {
        const { sql, bindings } = toKnexBindings(text, values.map(toPgText));
        const res = await tx.raw(sql, bindings);
        return asResult<R>(Array.isArray(res) ? res : res.rows);
      },
    };
  },
};
