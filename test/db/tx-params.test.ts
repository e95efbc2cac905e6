// The pure parts of the tx adapters: parameters as Postgres text, and Knex's `?`
// placeholders from `$n`, checked against the real Knex on the test database.
import knexFactory from 'knex';
import { describe, expect, it } from 'vitest';
import { toPgText } from '../../src/db/tx/adapter.js';
import { transactionQueryable } from '../../src/db/tx/index.js';
import { toKnexBindings } from '../../src/db/tx/knex.js';
import { databaseUrl } from '../helpers/db.js';

describe('toPgText', () => {
  it('writes scalars, dates, objects and (nested) arrays in Postgres input syntax', () => {
    expect(toPgText(null)).toBeNull();
    expect(toPgText(undefined)).toBeNull();
    expect(toPgText(1.5)).toBe('1.5');
    expect(toPgText('plain')).toBe('plain');
    expect(toPgText(new Date('2030-01-02T03:04:05.678Z'))).toBe('2030-01-02T03:04:05.678Z');
    expect(toPgText({ a: [1] })).toBe('{"a":[1]}');
    expect(toPgText(['a', null, 'b "c" \\ d', '', 'NULL', [1, 2]])).toBe('{"a",NULL,"b \\"c\\" \\\\ d","","NULL",{"1","2"}}');
  });
});

describe('toKnexBindings', () => {
  it('binds $n in order of appearance, leaves $n in quoted text alone and escapes every literal ?', () => {
    expect(toKnexBindings(`SELECT $2, $1, $2, '$1 ?', "a$1", x ? y`, ['one', 'two'])).toEqual({
      sql: `SELECT ?, ?, ?, '$1 \\?', "a$1", x \\? y`,
      bindings: ['two', 'one', 'two'],
    });
  });

  it('runs through the real Knex: repeated parameters, a jsonb ? operator and quoted placeholders', async () => {
    const knex = knexFactory({ client: 'pg', connection: databaseUrl(), pool: { min: 0, max: 1 } });
    try {
      const rows = await knex.transaction(async (trx) => {
        const q = transactionQueryable(trx, 'test');
        return (await q.query(`SELECT '{"a": 1}'::jsonb ? 'a' AS has, $1::text AS v, $2::int[] AS list, $1::text || '!' AS again, 'lit $2 ?' AS lit`, ['x', [1, null, 3]])).rows;
      });
      expect(rows).toEqual([{ has: true, v: 'x', list: [1, null, 3], again: 'x!', lit: 'lit $2 ?' }]);
    } finally {
      await knex.destroy();
    }
  });
});
