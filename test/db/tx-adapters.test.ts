// `tx` with the transaction objects of every library people write to Postgres
// with, each the real package on the test database: a rolled-back enqueue leaves
// no task, a committed one is claimed and run by an idle worker woken by the
// NOTIFY that the commit releases (and not before), enqueueMany joins the
// transaction, parameters round-trip exactly as through `pg`, and objects that
// show they are outside a transaction are refused.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import { PrismaPg } from '@prisma/adapter-pg';
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js';
import knexFactory from 'knex';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import postgres from 'postgres';
import { Sequelize } from 'sequelize';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sqlNames } from '../../src/db/names.js';
import { type Courier, createCourier, defineTask, type EnqueueOptions, ValidationError } from '../../src/index.js';
import { databaseUrl, testCourier, testPool, waitFor } from '../helpers/db.js';
import { generatePrismaClient } from '../helpers/prisma.js';

/** One library's way to run a function in a transaction, and its objects that are not one. */
interface Harness {
  /** Runs `fn` in a transaction: commits when it returns, rolls back (and rethrows) when it throws. */
  inTransaction<T>(fn: (tx: unknown) => Promise<T>): Promise<T>;
  /** Objects of the library outside a transaction, each with a phrase of its refusal. */
  outside(): Promise<Array<[unknown, string]>>;
  close(): Promise<void>;
}

/** The generated Prisma client, as far as these tests use it. */
interface PrismaLike {
  $transaction<T>(fn: (tx: unknown) => Promise<T>, options?: { timeout?: number; maxWait?: number }): Promise<T>;
  $disconnect(): Promise<void>;
}

const prismaDir = join(import.meta.dirname, '..', `.prisma-${randomBytes(4).toString('hex')}`);

const HARNESSES: Record<string, () => Promise<Harness>> = {
  async pg() {
    const pool = new pg.Pool({ connectionString: databaseUrl(), max: 2 });
    return {
      async inTransaction(fn) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const out = await fn(client);
          await client.query('COMMIT');
          return out;
        } catch (err) {
          await client.query('ROLLBACK');
          throw err;
        } finally {
          client.release();
        }
      },
      async outside() {
        const client = await pool.connect();
        client.release();
        return [
          [pool, 'not the pool itself'],
          [client, 'run BEGIN'],
        ];
      },
      close: () => pool.end(),
    };
  },
  async kysely() {
    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: databaseUrl(), max: 2 }) }) });
    return {
      inTransaction: (fn) => db.transaction().execute((trx) => fn(trx)),
      outside: async () => [[db, 'not the Kysely instance']],
      close: () => db.destroy(),
    };
  },
  async 'drizzle (node-postgres)'() {
    const pool = new pg.Pool({ connectionString: databaseUrl(), max: 2 });
    const db = drizzleNodePg(pool);
    return {
      inTransaction: (fn) => db.transaction((tx) => fn(tx)),
      outside: async () => [[db, 'db.transaction(async (tx)']],
      close: () => pool.end(),
    };
  },
  async 'drizzle (postgres.js)'() {
    const sql = postgres(databaseUrl(), { max: 2, onnotice: () => {} });
    const db = drizzlePostgresJs(sql);
    return {
      inTransaction: (fn) => db.transaction((tx) => fn(tx)),
      outside: async () => [[db, 'not the database object']],
      close: () => sql.end(),
    };
  },
  async prisma() {
    const { PrismaClient } = (await import(generatePrismaClient(prismaDir))) as { PrismaClient: new (options: { adapter: PrismaPg }) => PrismaLike };
    const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl(), max: 2 }) });
    return {
      inTransaction: (fn) => prisma.$transaction((tx) => fn(tx), { timeout: 30_000, maxWait: 30_000 }),
      outside: async () => [[prisma, 'not the PrismaClient itself']],
      close: () => prisma.$disconnect(),
    };
  },
  async knex() {
    const knex = knexFactory({ client: 'pg', connection: databaseUrl(), pool: { min: 0, max: 2 } });
    return {
      inTransaction: (fn) => knex.transaction((trx) => fn(trx)),
      async outside() {
        const done = await knex.transaction();
        await done.commit();
        return [
          [knex, 'not the knex instance'],
          [done, 'already committed or rolled back'],
        ];
      },
      close: () => knex.destroy(),
    };
  },
  async 'typeorm (EntityManager)'() {
    const ds = await new DataSource({ type: 'postgres', url: databaseUrl(), poolSize: 2 }).initialize();
    return {
      inTransaction: (fn) => ds.transaction((manager) => fn(manager)),
      async outside() {
        const idle = ds.createQueryRunner();
        await idle.release();
        return [
          [ds, 'not the DataSource'],
          [ds.manager, 'not dataSource.manager'],
          [ds.createQueryRunner(), 'startTransaction() first'],
          [idle, 'released'],
        ];
      },
      close: () => ds.destroy(),
    };
  },
  async 'typeorm (QueryRunner)'() {
    const ds = await new DataSource({ type: 'postgres', url: databaseUrl(), poolSize: 2 }).initialize();
    return {
      async inTransaction(fn) {
        const runner = ds.createQueryRunner();
        await runner.startTransaction();
        try {
          const out = await fn(runner);
          await runner.commitTransaction();
          return out;
        } catch (err) {
          await runner.rollbackTransaction();
          throw err;
        } finally {
          await runner.release();
        }
      },
      outside: async () => [[ds.createQueryRunner(), 'startTransaction() first']],
      close: () => ds.destroy(),
    };
  },
  async 'sequelize (managed)'() {
    const seq = new Sequelize(databaseUrl(), { logging: false, pool: { max: 2 } });
    return {
      inTransaction: (fn) => seq.transaction((t) => fn(t)),
      async outside() {
        const done = await seq.transaction();
        await done.rollback();
        return [
          [seq, 'not the Sequelize instance'],
          [done, 'already rolled back'],
        ];
      },
      close: () => seq.close(),
    };
  },
  async 'sequelize (unmanaged)'() {
    const seq = new Sequelize(databaseUrl(), { logging: false, pool: { max: 2 } });
    return {
      async inTransaction(fn) {
        const t = await seq.transaction();
        try {
          const out = await fn(t);
          await t.commit();
          return out;
        } catch (err) {
          await t.rollback();
          throw err;
        }
      },
      async outside() {
        const done = await seq.transaction();
        await done.commit();
        return [[done, 'already committed']];
      },
      close: () => seq.close(),
    };
  },
  async 'mikro-orm'() {
    const orm = await MikroORM.init({ clientUrl: databaseUrl(), entities: [], discovery: { warnWhenNoEntities: false }, pool: { min: 0, max: 2 } });
    return {
      inTransaction: (fn) => orm.em.fork().transactional((em) => fn(em)),
      outside: async () => [[orm.em.fork(), 'outside a transaction']],
      close: () => orm.close(),
    };
  },
  async 'postgres.js'() {
    const sql = postgres(databaseUrl(), { max: 2, onnotice: () => {} });
    return {
      inTransaction: (fn) => sql.begin((tx) => fn(tx)) as Promise<never>,
      async outside() {
        const reserved = await sql.reserve();
        reserved.release();
        return [
          [sql, 'not the sql instance'],
          [reserved, 'reserved connection'],
        ];
      },
      close: () => sql.end(),
    };
  },
};

class Rollback extends Error {}

const record = defineTask({ name: 'record', payload: z.object({ n: z.number() }).passthrough(), handler: async (payload) => void runs.push({ payload, at: Date.now() }) });
const runs: Array<{ payload: unknown; at: number }> = [];

let producer: Courier;
let worker: Courier;
let observer: pg.Pool;

beforeAll(async () => {
  producer = await testCourier();
  producer.registerTask(defineTask({ name: 'record', payload: record.payload }));
  // An idle worker whose only prompt wake-up is the NOTIFY: it polls once an hour.
  worker = createCourier({ connectionString: databaseUrl(), schema: producer.schema });
  worker.registerTask(record);
  await worker.start({ concurrency: 2, pollInterval: 3600, schedules: false, cleanup: false });
  observer = testPool();
});

afterAll(async () => {
  await worker?.close({ grace: 0 });
  await producer?.close({ grace: 0 });
  await observer?.end();
  rmSync(prismaDir, { recursive: true, force: true });
});

/** Reads the task table from a connection of its own (outside any transaction). */
const visible = async (id: string) => (await observer.query(`SELECT 1 FROM "${producer.schema}".tasks WHERE id = $1`, [id])).rowCount === 1;

/**
 * Notifications on the wake-up channel delivered so far, and a probe: a NOTIFY
 * committed by another connection. Postgres delivers notifications in commit
 * order, so once the probe arrives, a wake-up sent before it would have arrived too.
 */
async function wakeUps() {
  const channel = sqlNames(producer.schema).channel;
  const client = new pg.Client({ connectionString: databaseUrl() });
  await client.connect();
  const seen: string[] = [];
  client.on('notification', (m) => seen.push(m.payload ?? ''));
  await client.query(`LISTEN "${channel}"`);
  return {
    seen,
    async probe(marker: string) {
      await observer.query('SELECT pg_notify($1, $2)', [channel, marker]);
      await waitFor(() => seen.includes(marker), 5000, `probe ${marker}`);
    },
    close: () => client.end(),
  };
}

for (const [library, make] of Object.entries(HARNESSES)) {
  describe(`tx: ${library}`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await make();
    }, 180_000);
    afterAll(async () => {
      await h?.close();
    });

    it('a task enqueued in a transaction that rolls back does not exist', async () => {
      let id = '';
      await expect(
        h.inTransaction(async (tx) => {
          id = await producer.enqueueTask(record, { n: 1 }, { tx });
          expect(await visible(id)).toBe(false);
          throw new Rollback();
        }),
      ).rejects.toBeInstanceOf(Rollback);
      expect(id).toMatch(/^\d+$/);
      expect(await producer.getTask(id)).toBeNull();
    });

    it('a committed task wakes the idle worker only after the commit, and runs', async () => {
      const listener = await wakeUps();
      try {
        const marker = randomBytes(6).toString('hex');
        let beforeCommit = 0;
        const id = await h.inTransaction(async (tx) => {
          const id = await producer.enqueueTask(record, { n: 2, marker }, { tx });
          await listener.probe(`before-commit-${marker}`);
          expect(listener.seen).toEqual([`before-commit-${marker}`]);
          expect(await visible(id)).toBe(false);
          beforeCommit = Date.now();
          return id;
        });
        await waitFor(() => listener.seen.includes('default'), 5000, 'the wake-up NOTIFY');
        const done = await waitFor(async () => ((await producer.getTask(id))?.status === 'succeeded' ? true : null), 10_000, 'the task to run');
        expect(done).toBe(true);
        const run = runs.find((r) => (r.payload as { marker?: string }).marker === marker);
        expect(run?.at).toBeGreaterThanOrEqual(beforeCommit);
      } finally {
        await listener.close();
      }
    });

    it('enqueueMany joins the transaction: none on rollback, all on commit', async () => {
      const items = [
        { name: record, payload: { n: 3 } },
        { name: record, payload: { n: 4 }, options: { key: `many-${library}-${randomBytes(4).toString('hex')}`, delay: 3600 } },
      ] as const;
      let lost: string[] = [];
      await expect(
        h.inTransaction(async (tx) => {
          lost = await producer.enqueueMany(items, { tx });
          throw new Rollback();
        }),
      ).rejects.toBeInstanceOf(Rollback);
      expect(lost).toHaveLength(2);
      for (const id of lost) expect(await producer.getTask(id)).toBeNull();
      const kept = await h.inTransaction(async (tx) => {
        const ids = await producer.enqueueMany(items, { tx });
        // The same key again in the same transaction returns the same task.
        const again = await producer.enqueueTask(record, { n: 5 }, { tx, key: items[1].options.key });
        expect(again).toBe(ids[1]);
        return ids;
      });
      expect((await producer.getTask(kept[1] as string))?.payload).toEqual({ n: 4 });
      await waitFor(async () => ((await producer.getTask(kept[0] as string))?.status === 'succeeded' ? true : null), 10_000, 'the first item to run');
      await producer.cancel(kept[1] as string);
    });

    it('parameters round-trip exactly as through pg (json, arrays, dates, keys)', async () => {
      const tricky = { n: 6, text: 'quote " backslash \\ comma , braces {} NULL \u2028 é 😀', list: [1, 'two', null, { deep: ['a,b', '"c"'] }], big: 1e21, neg: -0.000001, empty: '' };
      const key = `k "q" \\ {a,b} NULL ${library} ${randomBytes(4).toString('hex')}`;
      const runAt = new Date(Date.now() + 3_600_123);
      const options: EnqueueOptions = { key, runAt, priority: 2, maxRetries: 7, retryDelay: 1.5, timeout: 12.25, backoff: 'linear', maxDelay: 90, queue: 'tx-params' };
      const id = await h.inTransaction((tx) => producer.enqueueTask(record, tricky, { ...options, tx }));
      const viaPg = await producer.enqueueTask(record, tricky, { ...options, key: `${key} pg` });
      const [a, b] = await Promise.all([producer.getTask(id), producer.getTask(viaPg)]);
      expect(a?.payload).toEqual(tricky);
      expect(a?.runAt.getTime()).toBe(runAt.getTime());
      const { rows } = await observer.query(`SELECT id, key, payload::text AS payload, priority, max_retries, retry_delay, timeout, backoff, max_delay, queue, run_at FROM "${producer.schema}".tasks WHERE id IN ($1, $2) ORDER BY id`, [id, viaPg]);
      expect(rows[0].key).toBe(key);
      expect({ ...rows[0], id: 0, key: 0 }).toEqual({ ...rows[1], id: 0, key: 0 });
      expect({ ...a, id: 0, key: 0, createdAt: 0, updatedAt: 0 }).toEqual({ ...b, id: 0, key: 0, createdAt: 0, updatedAt: 0 });
      for (const t of [id, viaPg]) await producer.cancel(t);
    });

    it('refuses its objects that are outside a transaction, naming what to pass', async () => {
      for (const [object, phrase] of await h.outside()) {
        const err = await producer.enqueueTask(record, { n: 7 }, { tx: object }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ValidationError);
        expect(err).toMatchObject({ field: 'tx', expected: expect.stringContaining(phrase) });
      }
    });
  });
}

describe('tx: unrecognised objects', () => {
  it('are refused with a ValidationError naming every accepted kind', async () => {
    for (const tx of [{}, null, 42, 'BEGIN', () => {}, { execute() {} }]) {
      const err = await producer.enqueueTask(record, { n: 8 }, { tx }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      for (const name of ['pg client inside BEGIN', 'Kysely', 'Drizzle', 'Prisma', 'Knex', 'TypeORM', 'Sequelize', 'MikroORM', 'postgres.js']) {
        expect((err as ValidationError).expected).toContain(name);
      }
    }
  });
});

describe('tx: a key held by an open transaction', () => {
  /** Two clients: `a` enqueues first and holds the key; `b` enqueues the same key meanwhile. */
  async function race(isolation: string, end: 'COMMIT' | 'ROLLBACK') {
    const key = `held-${randomBytes(4).toString('hex')}`;
    const a = await producer.pool.connect();
    const b = await producer.pool.connect();
    try {
      await a.query('BEGIN');
      await b.query(`BEGIN ISOLATION LEVEL ${isolation}`);
      const pidB = (await b.query('SELECT pg_backend_pid() AS pid')).rows[0].pid; // b's snapshot is taken now, before a commits
      const first = await producer.enqueueTask(record, { n: 9 }, { tx: a, key, delay: 3600 });
      let settled = false;
      const second = producer.enqueueTask(record, { n: 10 }, { tx: b, key, delay: 3600 }).finally(() => void (settled = true));
      second.catch(() => {});
      // b waits at its insert for a's lock on the key.
      await waitFor(async () => (await observer.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'", [pidB])).rowCount === 1, 5000, 'b to wait on the key');
      expect(settled).toBe(false);
      await a.query(end);
      const outcome: { id?: string; code?: string } = await second.then(
        (id) => ({ id }),
        (err: { code?: string }) => ({ code: err.code }),
      );
      await b.query(outcome.id ? 'COMMIT' : 'ROLLBACK');
      return { first, outcome };
    } finally {
      a.release();
      b.release();
    }
  }

  it('READ COMMITTED: the other enqueuer waits, then gets the committed task, or inserts its own after a rollback', async () => {
    const committed = await race('READ COMMITTED', 'COMMIT');
    expect(committed.outcome).toEqual({ id: committed.first });
    const rolledBack = await race('READ COMMITTED', 'ROLLBACK');
    expect(rolledBack.outcome.id).toMatch(/^\d+$/);
    expect(rolledBack.outcome.id).not.toBe(rolledBack.first);
    expect(await producer.getTask(rolledBack.first)).toBeNull();
    for (const id of [committed.first, rolledBack.outcome.id as string]) await producer.cancel(id);
  });

  it('REPEATABLE READ: the waiting enqueuer fails with a serialization error once the holder commits', async () => {
    const r = await race('REPEATABLE READ', 'COMMIT');
    expect(r.outcome).toEqual({ code: '40001' });
    await producer.cancel(r.first);
  });
});
