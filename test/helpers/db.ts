import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { type CourierOptions, type CourierPlugin, type CourierWith, createCourier } from '../../src/index.js';
import { RESERVED_PREFIX } from '../../src/registry.js';

/** Connection string of the run's test Postgres. */
export function databaseUrl(): string {
  return inject('databaseUrl');
}

/**
 * SQL condition for a test's own tasks, leaving out pgcourier's built-in ones
 * (`pgcourier.*`): a started worker keeps the hourly cleanup schedule, so a test that
 * runs across the top of an hour also holds a `pgcourier.cleanup` task.
 */
export const OWN_TASKS = `name NOT LIKE '${RESERVED_PREFIX}%'`;

/** A fresh schema name, so test files (and tests) never share tables. */
export function freshSchema(prefix = 't'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** A migrated courier on its own schema, with its plugins' APIs typed. */
export async function testCourier<const P extends readonly CourierPlugin<string, unknown>[] = []>(options: CourierOptions & { plugins?: P } = {}): Promise<CourierWith<P>> {
  const courier = createCourier<P>({ connectionString: databaseUrl(), schema: freshSchema(), ...options });
  await courier.migrate();
  return courier;
}

/** A plain pool on the test database, for reading tables directly. */
export function testPool(): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl(), max: 4 });
  pool.on('error', () => {});
  return pool;
}

/** Polls `check` every 20 ms until it returns truthy or `timeoutMs` passes. */
export async function waitFor<T>(check: () => Promise<T> | T, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
