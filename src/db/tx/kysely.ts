import type pg from 'pg';
import { asResult, refuse, type TxAdapter, toPgText } from './adapter.js';

/** A Kysely transaction (`db.transaction().execute(async (trx) => …)` or a controlled one). */
export const kysely: TxAdapter = {
  matches: (tx) => typeof (tx as { executeQuery?: unknown }).executeQuery === 'function',
  open(tx) {
    if (tx.isTransaction === false) return refuse('must be a Kysely transaction (db.transaction().execute(async (trx) => …)), not the Kysely instance itself');
    return {
      async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []) {
        // Loaded only when a caller hands us a Kysely transaction.
        const { CompiledQuery } = await import('kysely');
        const out = await tx.executeQuery(CompiledQuery.raw(text, values.map(toPgText)));
        return asResult<R>(out.rows);
      },
    };
  },
};
