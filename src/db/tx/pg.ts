import { refuse, type TxAdapter } from './adapter.js';

/**
 * A `pg` client (or any client with pg's `query(text, values)`), run as is. A
 * client reports its transaction status after each statement: 'I' means no BEGIN.
 */
export const pgClient: TxAdapter = {
  matches: (tx) => typeof (tx as { query?: unknown }).query === 'function',
  open(tx) {
    if (typeof tx.connect === 'function' && 'totalCount' in tx && 'idleCount' in tx) return refuse('must be a client checked out of the pool and inside BEGIN, not the pool itself');
    // Only 'I' is trusted: a failed statement rejects before the server reports 'E'.
    if (typeof tx.getTransactionStatus === 'function' && tx.getTransactionStatus() === 'I') {
      return refuse('must be inside a transaction: run BEGIN on this client first (otherwise the task would commit at once)');
    }
    return tx;
  },
};
