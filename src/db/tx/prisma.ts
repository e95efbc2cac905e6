import type pg from 'pg';
import { asResult, refuse, type TxAdapter, toPgText } from './adapter.js';

/**
 * Prisma's interactive transaction client (`prisma.$transaction(async (tx) => …)`),
 * through its raw query API with positional parameters. The transaction client
 * lacks `$connect`; the PrismaClient itself has it.
 */
export const prisma: TxAdapter = {
  matches: (tx) => typeof (tx as { $queryRawUnsafe?: unknown }).$queryRawUnsafe === 'function',
  open(tx) {
    if (typeof tx.$connect === 'function') return refuse('must be the client Prisma passes to prisma.$transaction(async (tx) => …), not the PrismaClient itself');
    return {
      async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []) {
        return asResult<R>(await tx.$queryRawUnsafe(text, ...values.map(toPgText)));
      },
    };
  },
};
