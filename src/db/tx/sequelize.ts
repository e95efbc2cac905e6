import type pg from 'pg';
import { asResult, refuse, type TxAdapter, toPgText } from './adapter.js';

/**
 * A Sequelize (v6) Transaction, managed (`sequelize.transaction(async (t) => …)`)
 * or unmanaged (`await sequelize.transaction()`). Each statement passes
 * `{ transaction }` and binds `$1`-style parameters.
 */
export const sequelize: TxAdapter = {
  matches: (tx) => {
    const t = tx as { sequelize?: { query?: unknown }; commit?: unknown; rollback?: unknown; define?: unknown; query?: unknown; transaction?: unknown };
    const transaction = typeof t.sequelize?.query === 'function' && typeof t.commit === 'function' && typeof t.rollback === 'function';
    const instance = typeof t.define === 'function' && typeof t.query === 'function' && typeof t.transaction === 'function';
    return transaction || instance;
  },
  open(tx) {
    if (typeof tx.define === 'function') return refuse('must be a Sequelize Transaction (the t of sequelize.transaction(async (t) => …)), not the Sequelize instance');
    if (tx.finished) return refuse(`is a Sequelize transaction that has already ${tx.finished === 'commit' ? 'committed' : 'rolled back'}`);
    const dialect = typeof tx.sequelize.getDialect === 'function' ? tx.sequelize.getDialect() : 'postgres';
    if (dialect !== 'postgres') return refuse(`must be a Sequelize transaction on the "postgres" dialect, not "${dialect}"`);
    return {
      async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []) {
        const rows = await tx.sequelize.query(text, { bind: values.map(toPgText), transaction: tx, type: 'SELECT', raw: true });
        return asResult<R>(rows);
      },
    };
  },
};
