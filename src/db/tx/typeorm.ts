import type pg from 'pg';
import { asResult, type Opened, refuse, type TxAdapter, toPgText } from './adapter.js';

const ENTITY_MANAGER = Symbol.for('EntityManager');
const DATA_SOURCE = Symbol.for('DataSource');

function isQueryRunner(tx: any): boolean {
  return typeof tx.startTransaction === 'function' && typeof tx.commitTransaction === 'function' && typeof tx.query === 'function' && 'isTransactionActive' in tx;
}

/** A QueryRunner inside `startTransaction()`, on the postgres driver. */
function openRunner(runner: any): Opened {
  const type = runner.connection?.options?.type;
  if (type !== undefined && type !== 'postgres') return refuse(`must be a TypeORM transaction on the "postgres" driver, not "${type}"`);
  if (runner.isReleased) return refuse('is a TypeORM QueryRunner that has been released');
  if (!runner.isTransactionActive) return refuse('must be inside a transaction: call queryRunner.startTransaction() first (otherwise the task would commit at once)');
  return {
    async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []) {
      const res = await runner.query(text, values.map(toPgText), true);
      return asResult<R>(res.records);
    },
  };
}

/**
 * TypeORM: the EntityManager of a transaction (`dataSource.transaction(async
 * (manager) => …)`, bound to its QueryRunner) or a QueryRunner after
 * `startTransaction()`. `dataSource.manager` has no QueryRunner: each of its
 * statements commits on its own.
 */
export const typeorm: TxAdapter = {
  matches: (tx) => {
    const marker = (tx as { '@instanceof'?: unknown })['@instanceof'];
    return marker === ENTITY_MANAGER || marker === DATA_SOURCE || isQueryRunner(tx);
  },
  open(tx) {
    if (tx['@instanceof'] === DATA_SOURCE) return refuse('must be the EntityManager of a TypeORM transaction (dataSource.transaction(async (manager) => …)) or a QueryRunner inside startTransaction(), not the DataSource');
    if (tx['@instanceof'] === ENTITY_MANAGER) {
      if (!tx.queryRunner) return refuse('must be the EntityManager TypeORM passes to dataSource.transaction(async (manager) => …), not dataSource.manager (each of its statements commits at once)');
      return openRunner(tx.queryRunner);
    }
    return openRunner(tx);
  },
};
