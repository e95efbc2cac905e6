import type pg from 'pg';
import type { SqlNames } from '../db/names.js';
import { inTransaction } from '../db/pool.js';
import { ConflictError } from '../errors.js';

const BLOCK_BITS = 56n;

/** The number of the cluster whose sequence hands out `id` (0: the courier's own connection). */
export function clusterNumberOfId(id: string): number {
  return Number(BigInt(id) >> BLOCK_BITS);
}

/** First and last task id of cluster `number`: `number × 2^56` (1 for cluster 0) to `(number + 1) × 2^56 - 1`. */
export function idRangeOf(number: number): { first: bigint; last: bigint } {
  const base = BigInt(number) << BLOCK_BITS;
  return { first: base === 0n ? 1n : base, last: base + (1n << BLOCK_BITS) - 1n };
}

/**
 * Makes the task-id sequence of one cluster hand out only ids of its range, so
 * an id names its cluster. Idempotent: a read when the range is already set;
 * otherwise one transaction that locks the task table, refuses a cluster holding
 * ids outside the range (tasks enqueued before it was routed), and sets the
 * identity column's bounds.
 */
export async function reserveIdRange(pool: pg.Pool, names: SqlNames, cluster: string, number: number): Promise<void> {
  const { first, last } = idRangeOf(number);
  const bounds = `SELECT s.seqmin::text AS min, s.seqmax::text AS max, q.last_value::text AS last_value
    FROM pg_sequence s, ${sequenceOf(names)} q WHERE s.seqrelid = '${sequenceOf(names)}'::regclass`;
  const now = await pool.query<{ min: string; max: string }>(bounds);
  if (now.rows[0]?.min === String(first) && now.rows[0]?.max === String(last)) return;
  await inTransaction(pool, async (db) => {
    await db.query(`LOCK TABLE ${names.tasks} IN ACCESS EXCLUSIVE MODE`);
    const seq = (await db.query<{ min: string; max: string; last_value: string | null }>(bounds)).rows[0];
    if (seq?.min === String(first) && seq.max === String(last)) return;
    const held = (await db.query<{ lo: string | null; hi: string | null }>(`SELECT min(id)::text AS lo, max(id)::text AS hi FROM ${names.tasks}`)).rows[0];
    if (held?.lo && (BigInt(held.lo) < first || BigInt(held.hi as string) > last)) {
      throw new ConflictError(
        `cluster "${cluster}" (number ${number}) holds task ids ${held.lo}-${held.hi}, outside its range ${first}-${last}: tasks enqueued there before it was routed would be found on another cluster. Move them (see docs/scaling.md) or give this cluster the number its ids have.`,
      );
    }
    const restart = seq?.last_value === null || seq?.last_value === undefined || BigInt(seq.last_value) < first ? ` RESTART WITH ${first}` : '';
    await db.query(`ALTER TABLE ${names.tasks} ALTER COLUMN id SET MINVALUE ${first} SET MAXVALUE ${last} SET START WITH ${first}${restart}`);
  });
}

/** The identity sequence of the task table (named by migration 001's `GENERATED ALWAYS AS IDENTITY`). */
function sequenceOf(names: SqlNames): string {
  return names.table('tasks_id_seq');
}
