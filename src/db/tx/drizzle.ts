import { refuse, type TxAdapter } from './adapter.js';

const ENTITY_KIND = Symbol.for('drizzle:entityKind');

/** Drizzle's class names of `tx` and its ancestors (`NodePgTransaction`, `PgTransaction`, `PgDatabase`, …). */
function kinds(tx: object): string[] {
  const out: string[] = [];
  for (let c = (tx as { constructor?: unknown }).constructor; typeof c === 'function'; c = Object.getPrototypeOf(c)) {
    const kind = (c as unknown as Record<symbol, unknown>)[ENTITY_KIND];
    if (typeof kind === 'string') out.push(kind);
  }
  return out;
}

/**
 * A Drizzle transaction (`db.transaction(async (tx) => …)`): its session holds the
 * driver's connection inside BEGIN, a `pg` client (node-postgres driver) or a
 * postgres.js transaction, which the other adapters run.
 */
export const drizzle: TxAdapter = {
  matches: (tx) => kinds(tx).includes('PgDatabase'),
  open(tx, inner) {
    const k = kinds(tx);
    if (!k.includes('PgTransaction')) return refuse('must be the transaction Drizzle passes to db.transaction(async (tx) => …), not the database object');
    const client = tx.session?.client;
    if (client === undefined || client === null) return refuse(`must be a Drizzle transaction over node-postgres or postgres.js (this one is ${k[0]})`);
    return inner(client);
  },
};
