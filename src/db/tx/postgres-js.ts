import type pg from 'pg';
import { asResult, refuse, type TxAdapter, toPgText } from './adapter.js';

/**
 * A postgres.js (porsager) transaction, the `tx` of `sql.begin(async (tx) => …)`:
 * it has `savepoint`; the root `sql` has `begin`; a reserved connection has
 * neither and cannot tell whether it is inside BEGIN.
 */
export const postgresJs: TxAdapter = {
  matches: (tx) => typeof tx === 'function' && typeof (tx as { unsafe?: unknown }).unsafe === 'function',
  open(tx) {
    if (typeof tx.begin === 'function') return refuse('must be the transaction postgres.js passes to sql.begin(async (tx) => …), not the sql instance');
    if (typeof tx.savepoint !== 'function') return refuse('must be the transaction postgres.js passes to sql.begin(async (tx) => …); a reserved connection cannot show that it is inside BEGIN');
    return {
      async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []) {
        return asResult<R>(await tx.unsafe(text, values.map(toPgText)));
      },
    };
  },
};
