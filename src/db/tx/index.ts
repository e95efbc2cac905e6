import { ValidationError } from '../../errors.js';
import type { Queryable } from '../pool.js';
import type { Opened, TxAdapter } from './adapter.js';
import { drizzle } from './drizzle.js';
import { knex } from './knex.js';
import { kysely } from './kysely.js';
import { mikroOrm } from './mikro-orm.js';
import { pgClient } from './pg.js';
import { postgresJs } from './postgres-js.js';
import { prisma } from './prisma.js';
import { sequelize } from './sequelize.js';
import { typeorm } from './typeorm.js';

/** In order: the specific shapes first; TypeORM's and Sequelize's objects also have a `query` method, so `pg` comes last. */
const ADAPTERS: readonly TxAdapter[] = [drizzle, prisma, typeorm, sequelize, mikroOrm, knex, postgresJs, kysely, pgClient];

const ACCEPTED =
  'must be an open transaction: a pg client inside BEGIN, or the transaction object of Kysely, Drizzle (node-postgres or postgres.js), Prisma ($transaction client), Knex, TypeORM (EntityManager or QueryRunner), Sequelize, MikroORM (EntityManager) or postgres.js (sql.begin)';

function open(tx: unknown): Opened {
  if ((typeof tx !== 'object' && typeof tx !== 'function') || tx === null) return { refused: ACCEPTED };
  const adapter = ADAPTERS.find((a) => a.matches(tx));
  return adapter ? adapter.open(tx, open) : { refused: ACCEPTED };
}

/**
 * Turns the caller's transaction (the `tx` option) into a {@link Queryable} whose
 * statements run inside it, so the task exists only if it commits. Throws
 * {@link ValidationError} for an object no adapter accepts, and for one that
 * shows it is outside a transaction (a pool, a database object, a finished
 * transaction).
 */
export function transactionQueryable(tx: unknown, where: string): Queryable {
  const opened = open(tx);
  if ('refused' in opened) throw new ValidationError(where, 'tx', opened.refused);
  return opened;
}
