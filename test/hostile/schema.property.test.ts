// Schema names are validated identifiers: hostile ones never reach SQL, and every
// name validation accepts works end to end (migrate, enqueue, LISTEN/NOTIFY, read).
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCourier, ValidationError } from '../../src/index.js';
import { databaseUrl, testPool } from '../helpers/db.js';
import { hostileString, nasty } from './arbitraries.js';

const RULE = /^[a-z_][a-z0-9_]{0,62}$/;
let admin: pg.Pool;

beforeAll(() => {
  admin = testPool();
});
afterAll(() => admin.end());

const schemaCount = async () => Number((await admin.query('SELECT count(*) AS n FROM pg_namespace')).rows[0].n);

/** Migrates, enqueues and runs one task in `schema`, then drops the schema again. */
async function roundTrip(schema: string): Promise<void> {
  const exists = (await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount;
  if (exists) return; // never touch a schema someone else owns
  const courier = createCourier({ connectionString: databaseUrl(), schema, poolSize: 2 });
  try {
    courier.registerTask('t', () => ({ ok: true }));
    await courier.migrate();
    const id = await courier.enqueueTask('t', {});
    expect(await courier.runOnce()).toBe(1);
    expect((await courier.getTask(id))?.status).toBe('succeeded');
  } finally {
    await courier.close({ grace: 0 });
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}

describe('schema names (property)', () => {
  it('anything that is not a lower-case identifier is a ValidationError naming "schema", before any SQL runs', async () => {
    const before = await schemaCount();
    fc.assert(
      fc.property(fc.oneof(hostileString(70), fc.tuple(fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/), nasty).map(([a, b]) => a + b)), (schema) => {
        fc.pre(!RULE.test(schema));
        let err: unknown;
        try {
          createCourier({ connectionString: databaseUrl(), schema });
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).field).toBe('schema');
      }),
      { numRuns: 300 },
    );
    expect(await schemaCount()).toBe(before);
  });

  it('ordinary identifiers (including SQL keywords) work end to end', async () => {
    for (const name of ['select', 'drop', 'user', 'table', 'order']) await roundTrip(`${name}_${Date.now().toString(36)}`);
    await roundTrip('select');
    await fc.assert(
      fc.asyncProperty(fc.stringMatching(/^[a-z_][a-z0-9_]{0,40}$/).filter((s) => !s.startsWith('pg_') && s !== 'public' && s !== 'pgcourier'), async (tail) => {
        await roundTrip(`hx_${tail}`.slice(0, 50));
      }),
      { numRuns: 8 },
    );
  });

  // Regression (src/config.ts identifierSchema): names the rule used to accept
  // but Postgres refuses. "pg_*" is reserved for system schemas (CREATE SCHEMA fails in
  // migrate); above 57 characters the NOTIFY channel "<schema>.tasks" exceeds 63 bytes, so
  // the insert trigger's pg_notify raises "channel name too long" on every enqueue.
  it('every schema name the validation accepts works, or is refused as "schema" up front', async () => {
    for (const schema of ['pg_courier', `hx_${'a'.repeat(55)}`, `hx_${'b'.repeat(60)}`]) {
      expect(RULE.test(schema)).toBe(true);
      let rejected = false;
      try {
        createCourier({ connectionString: databaseUrl(), schema });
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        rejected = true;
      }
      if (!rejected) await roundTrip(schema);
    }
  });
});
