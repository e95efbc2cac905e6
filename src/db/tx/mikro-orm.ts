import { refuse, type TxAdapter } from './adapter.js';

/**
 * A MikroORM EntityManager inside a transaction (`em.transactional(async (em) =>
 * …)` or after `em.begin()`): its transaction context is the driver's transaction
 * (a Knex transaction on MikroORM 6), which the Knex adapter runs.
 */
export const mikroOrm: TxAdapter = {
  matches: (tx) => {
    const em = tx as { getTransactionContext?: unknown; getConnection?: unknown; fork?: unknown };
    return typeof em.getTransactionContext === 'function' && typeof em.getConnection === 'function' && typeof em.fork === 'function';
  },
  open(tx, inner) {
    const ctx = tx.getTransactionContext();
    if (ctx === undefined || ctx === null) return refuse('must be the EntityManager MikroORM passes to em.transactional(async (em) => …) (or one after em.begin()); this one is outside a transaction');
    return inner(ctx);
  },
};
