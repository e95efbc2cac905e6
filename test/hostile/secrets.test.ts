// The database password never reaches logs or error messages: not on a bad password,
// not on unreachable or malformed URLs, not while a worker keeps failing to connect,
// not when handlers fail.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import type pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Courier, createCourier } from '../../src/index.js';
import { databaseUrl, freshSchema, testPool, waitFor } from '../helpers/db.js';

/** A pino logger at trace level writing into memory. */
function memoryLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'trace' }, stream), text: () => lines.join('') };
}

const role = `secret_${randomBytes(4).toString('hex')}`;
// Distinctive, with URL-special characters (percent-encoded in the URL).
const password = `Pw-${randomBytes(9).toString('base64url')}!#`;
let admin: pg.Pool;
let goodUrl: string;

beforeAll(async () => {
  admin = testPool();
  await admin.query(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`);
  const u = new URL(databaseUrl());
  u.username = role;
  u.password = encodeURIComponent(password);
  goodUrl = u.toString();
});
afterAll(async () => {
  await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
  await admin.end();
});

const encoded = () => encodeURIComponent(password);
/** Every way the password could show: raw and URL-encoded. */
function expectNoSecret(text: string, where: string): void {
  expect(text.includes(password), `${where} contains the password`).toBe(false);
  expect(text.includes(encoded()), `${where} contains the URL-encoded password`).toBe(false);
}

function describeThrown(err: unknown): string {
  const e = err as Error;
  return [e?.message, e?.stack, inspect(err, { depth: 5 }), JSON.stringify(err) ?? ''].join('\n');
}

describe('secrets stay out of logs and errors', () => {
  it('a wrong password: migrate, enqueue and start fail without echoing it', async () => {
    const wrong = new URL(goodUrl);
    wrong.password = encodeURIComponent(`${password}-wrong`);
    const mem = memoryLogger();
    const courier = createCourier({ connectionString: wrong.toString(), schema: freshSchema('sec'), logger: mem.logger });
    courier.registerTask('t', () => {});
    const errors: unknown[] = [];
    await courier.migrate().catch((e: unknown) => errors.push(e));
    await courier.enqueueTask('t', {}).catch((e: unknown) => errors.push(e));
    await courier.start({ pollInterval: 0.1, lease: 1 }).catch((e: unknown) => errors.push(e));
    await courier.close({ grace: 0 });
    expect(errors).toHaveLength(3);
    for (const e of errors) {
      expect((e as Error).message).toMatch(/password authentication failed/);
      expectNoSecret(describeThrown(e), 'a thrown error');
    }
    expectNoSecret(mem.text(), 'the log');
  });

  it('a running worker whose password stops working logs its reconnect failures without echoing it', async () => {
    const mem = memoryLogger();
    const courier = createCourier({ connectionString: goodUrl, schema: freshSchema('sec'), logger: mem.logger });
    await courier.migrate();
    courier.registerTask('t', () => {});
    await courier.start({ pollInterval: 0.1, lease: 1 });
    try {
      // Rotate the password under the worker and drop its connections.
      await admin.query(`ALTER ROLE ${role} PASSWORD '${password}-rotated'`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
      await waitFor(() => /LISTEN connection failed/.test(mem.text()) && /password authentication failed/.test(mem.text()), 20_000, 'reconnect failures to be logged');
      // The enqueue side fails the same way. A backend still authenticating during the
      // first sweep can escape it, so sweep again now that every reconnect fails.
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
      const err = await courier.enqueueTask('t', {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/password authentication failed|Connection terminated|terminating connection/);
      expectNoSecret(describeThrown(err), 'the enqueue error');
    } finally {
      await admin.query(`ALTER ROLE ${role} PASSWORD '${password}'`);
      await courier.close({ grace: 0 });
      await admin.query(`DROP SCHEMA IF EXISTS "${courier.schema}" CASCADE`);
    }
    expectNoSecret(mem.text(), 'the log');
  });

  it('unreachable hosts and malformed URLs fail without echoing the password', async () => {
    const urls = [
      `postgres://${role}:${encoded()}@127.0.0.1:1/postgres`,
      `postgres://${role}:${password}@127.0.0.1:notaport/postgres`,
      `postgres://${role}:${password}@[::1/postgres`,
    ];
    for (const url of urls) {
      const mem = memoryLogger();
      // A malformed URL fails up front (createCourier); an unreachable host at the first statement.
      const err = await (async () => {
        const courier = createCourier({ connectionString: url, schema: freshSchema('sec'), logger: mem.logger });
        try {
          await courier.migrate();
        } finally {
          await courier.close({ grace: 0 });
        }
      })().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, url).toBeInstanceOf(Error);
      expectNoSecret((err as Error).message, `the error message for ${url}`);
      expectNoSecret(mem.text(), `the log for ${url}`);
    }
  });

  it('failing handlers (errors, pg errors, timeouts) log nothing secret', async () => {
    const mem = memoryLogger();
    const courier: Courier = createCourier({ connectionString: goodUrl, schema: freshSchema('sec'), logger: mem.logger });
    await courier.migrate();
    courier.registerTask('fails', () => {
      throw new Error('upstream said 503 (nothing secret here)');
    });
    courier.registerTask('pg_fails', async () => {
      await courier.pool.query('SELECT * FROM no_such_table_anywhere');
    });
    courier.registerTask('slow', () => new Promise(() => {}), { timeout: 0.2 });
    const ids = [
      await courier.enqueueTask('fails', {}, { maxRetries: 0 }),
      await courier.enqueueTask('pg_fails', {}, { maxRetries: 0 }),
      await courier.enqueueTask('slow', {}, { maxRetries: 0 }),
    ];
    await courier.start({ pollInterval: 0.1 });
    await waitFor(async () => (await Promise.all(ids.map((id) => courier.getTask(id)))).every((t) => t?.status === 'failed'), 20_000, 'the handlers to fail');
    const tasks = await Promise.all(ids.map((id) => courier.getTask(id)));
    await courier.close({ grace: 0 });
    expect(tasks.map((t) => t?.lastError)).toEqual([
      'Error: upstream said 503 (nothing secret here)',
      expect.stringMatching(/no_such_table_anywhere/),
      'TaskTimeoutError: timed out after 0.2s',
    ]);
    expect(mem.text()).toMatch(/task attempt failed/);
    expectNoSecret(mem.text(), 'the log');
    expectNoSecret(JSON.stringify(tasks), 'the stored task errors');
    await admin.query(`DROP SCHEMA IF EXISTS "${courier.schema}" CASCADE`);
  });
});
