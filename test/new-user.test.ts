// What a new user trips over (issue 13): each bad input is refused with the field
// named and nothing written; each missing piece is there. All through the public API.
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Kysely, PostgresDialect } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { explainEmbeddedFailure, freePort } from '../src/embedded.js';
import { type Courier, createCourier, defineTask, NotFoundError, NotMigratedError, retryAfter, StateError, ValidationError } from '../src/index.js';
import { databaseUrl, freshSchema, testCourier, testPool } from './helpers/db.js';

let courier: Courier;
const pool = testPool();
const count = async (c: Courier) => Number((await c.pool.query(`SELECT count(*) AS n FROM "${c.schema}".tasks`)).rows[0].n);

beforeAll(async () => {
  courier = await testCourier();
  courier.registerTask('plain', (p) => p);
  courier.registerTask(defineTask({ name: 'typed', payload: z.object({ userId: z.number() }), handler: ({ userId }) => userId }));
});
afterAll(async () => {
  await courier.close({ grace: 0 });
  await pool.end();
});

describe('bug 2: schedules validate like enqueueTask', () => {
  it('an unknown task name and a payload failing the schema are refused; nothing is written', async () => {
    await expect(courier.schedule('s1', '* * * * *', 'nobody_runs_this')).rejects.toMatchObject({ name: 'UnknownTaskError', field: 'task' });
    await expect(courier.schedule('s2', '* * * * *', 'typed', { userId: 'one' })).rejects.toMatchObject({ field: 'payload.userId' });
    await expect(courier.schedule('s3', '* * * * *', 'plain', { n: Number.NaN })).rejects.toMatchObject({ field: 'payload.n' });
    expect(await courier.listSchedules()).toEqual([]);
    const ok = await courier.schedule('s4', '* * * * *', 'typed', { userId: 1 });
    expect(ok).toMatchObject({ task: 'typed', payload: { userId: 1 } });
    await courier.removeSchedule('s4');
  });
});

describe('bug 3: payloads JSON cannot carry are refused, not mangled', () => {
  it.each([
    [{ n: Number.NaN }, 'payload.n', /NaN/],
    [{ deep: { n: Number.POSITIVE_INFINITY } }, 'payload.deep.n', /Infinity/],
    [{ f: () => 1 }, 'payload.f', /function/],
    [{ list: [1, undefined] }, 'payload.list.1', /undefined in an array/],
    [{ s: Symbol('x') }, 'payload.s', /symbol/],
    [{ m: new Map([[1, 2]]) }, 'payload.m', /Map/],
    [[Number.NEGATIVE_INFINITY], 'payload.0', /-Infinity/],
  ])('%o is refused at %s', async (payload, field, what) => {
    const before = await count(courier);
    const err = await courier.enqueueTask('plain', payload).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err).toMatchObject({ field, expected: expect.stringMatching(what) });
    await expect(courier.enqueueMany([{ name: 'plain', payload }])).rejects.toMatchObject({ field: field.replace(/^payload/, 'items.0.payload') });
    expect(await count(courier)).toBe(before);
  });

  it('what JSON carries as is still goes through: dates, nested objects, undefined properties', async () => {
    const at = new Date('2026-01-02T03:04:05.000Z');
    const id = await courier.enqueueTask('plain', { at, nested: { a: [1, null, 'x'] }, gone: undefined });
    expect((await courier.getTask(id))?.payload).toEqual({ at: at.toISOString(), nested: { a: [1, null, 'x'] } });
  });
});

describe('bug 4: tx must be a transaction', () => {
  it('a pg client outside BEGIN is refused and nothing commits; inside BEGIN the task waits for COMMIT', async () => {
    const client = await pool.connect();
    try {
      const before = await count(courier);
      await expect(courier.enqueueTask('plain', {}, { tx: client })).rejects.toMatchObject({ field: 'tx', expected: expect.stringContaining('BEGIN') });
      await expect(courier.enqueueTask('plain', {}, { tx: pool })).rejects.toMatchObject({ field: 'tx', expected: expect.stringContaining('not the pool itself') });
      expect(await count(courier)).toBe(before);
      await client.query('BEGIN');
      const id = await courier.enqueueTask('plain', {}, { tx: client });
      expect(await courier.getTask(id)).toBeNull();
      await client.query('ROLLBACK');
      expect(await courier.getTask(id)).toBeNull();
    } finally {
      await client.query('ROLLBACK').catch(() => {});
      client.release();
    }
  });

  it('a Kysely instance that is not a transaction is refused', async () => {
    const db = new Kysely({ dialect: new PostgresDialect({ pool }) });
    await expect(courier.enqueueMany([{ name: 'plain', payload: {} }], { tx: db })).rejects.toMatchObject({ field: 'tx', expected: expect.stringContaining('Kysely transaction') });
    const id = await db.transaction().execute((trx) => courier.enqueueTask('plain', {}, { tx: trx }));
    expect(await courier.getTask(id)).toMatchObject({ status: 'queued' });
  });
});

describe('bug 5: runAt numbers are milliseconds; delay is seconds', () => {
  it('a runAt number that looks like epoch seconds is refused', async () => {
    const before = await count(courier);
    await expect(courier.enqueueTask('plain', {}, { runAt: Date.now() / 1000 + 60 })).rejects.toMatchObject({ field: 'runAt', expected: expect.stringContaining('epoch seconds') });
    await expect(courier.enqueueMany([{ name: 'plain', options: { runAt: 1_700_000_000 } }])).rejects.toMatchObject({ field: 'items.0.options.runAt' });
    expect(await count(courier)).toBe(before);
    const id = await courier.enqueueTask('plain', {}, { runAt: Date.now() + 60_000 });
    expect((await courier.getTask(id))?.runAt.getTime()).toBeGreaterThan(Date.now() + 50_000);
  });

  it('delay runs the task that many seconds from now, by the database clock; not together with runAt', async () => {
    const { rows } = await courier.pool.query<{ now: Date }>('SELECT now() AS now');
    const id = await courier.enqueueTask('plain', {}, { delay: 90 });
    const runAt = (await courier.getTask(id))?.runAt.getTime() ?? 0;
    expect(runAt - (rows[0]?.now.getTime() ?? 0)).toBeGreaterThanOrEqual(90_000);
    expect(runAt - Date.now()).toBeLessThanOrEqual(91_000);
    await expect(courier.enqueueTask('plain', {}, { delay: -1 })).rejects.toMatchObject({ field: 'delay' });
    await expect(courier.enqueueTask('plain', {}, { delay: 5, runAt: new Date() })).rejects.toMatchObject({ field: 'delay', expected: expect.stringContaining('runAt') });
    await expect(courier.enqueueMany([{ name: 'plain', options: { delay: 5, runAt: new Date() } }])).rejects.toMatchObject({ field: 'items.0.options.delay' });
    const [a, b] = await courier.enqueueMany([{ name: 'plain', options: { delay: 3600 } }, { name: 'plain' }]);
    expect((await courier.getTask(a as string))?.runAt.getTime()).toBeGreaterThan(Date.now() + 3_500_000);
    expect((await courier.getTask(b as string))?.runAt.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
  });
});

describe('bug 6: retry() resets deferrals with attempts', () => {
  it('a retried task that had been deferred gets exactly 1 + maxRetries attempts again', async () => {
    const c = await testCourier();
    let calls = 0;
    c.registerTask('deferred_then_fails', () => {
      calls++;
      if (calls === 1) return retryAfter(0);
      throw new Error(`boom ${calls}`);
    });
    const id = await c.enqueueTask('deferred_then_fails', {}, { maxRetries: 0, retryDelay: 0 });
    await c.drain();
    expect(await c.getTask(id)).toMatchObject({ status: 'failed', attempts: 2 }); // one deferral, one counted attempt
    expect(await c.retry(id)).toBe(true);
    await c.drain();
    // With deferrals left at 1 the retried task would run twice (1 - 1 = 0 counted attempts after the first).
    expect(await c.getTask(id)).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.stringContaining('boom 3') });
    expect(calls).toBe(3);
    await c.close();
  });
});

describe('keyMode and cleanup', () => {
  it('keyMode without key is an error', async () => {
    await expect(courier.enqueueTask('plain', {}, { keyMode: 'replace' })).rejects.toMatchObject({ field: 'keyMode', expected: expect.stringContaining('key') });
    await expect(courier.enqueueMany([{ name: 'plain' }], { keyMode: 'keep' })).rejects.toMatchObject({ field: 'keyMode' });
    expect(await courier.enqueueMany([{ name: 'plain', options: { key: 'k1' } }], { keyMode: 'replace' })).toHaveLength(1);
  });

  it('cleanup({ olderThan: 0 }) deletes every finished task and nothing else', async () => {
    const c = await testCourier();
    c.registerTask('t', () => 'done');
    const done = await c.enqueueTask('t', {});
    await c.drain();
    const queued = await c.enqueueTask('t', {}, { delay: 3600 });
    expect(await c.cleanup({ olderThan: 0 })).toBe(1);
    expect(await c.getTask(done)).toBeNull();
    expect(await c.getTask(queued)).toMatchObject({ status: 'queued' });
    await expect(c.cleanup({ olderThan: -1 })).rejects.toMatchObject({ field: 'olderThan' });
    // Schedule tick records (what stops two processes enqueueing one tick twice) outlive olderThan: 0.
    await c.schedule('every-minute', '* * * * *', 't');
    await c.pool.query(`UPDATE "${c.schema}".schedules SET next_run_at = date_trunc('minute', now())`);
    expect((await c.runMaintenance()).scheduled).toBe(1);
    await c.cleanup({ olderThan: 0 });
    const { rows } = await c.pool.query(`SELECT count(*)::int AS n FROM "${c.schema}".schedule_runs`);
    expect(rows[0].n).toBe(1);
    await c.close();
  });
});

describe('promote and deleteTask', () => {
  it('promote makes a delayed or retrying task due now; refuses running and finished tasks', async () => {
    const c = await testCourier();
    let calls = 0;
    c.registerTask('flaky', () => {
      if (++calls === 1) throw new Error('first try fails');
      return 'ok';
    });
    const delayed = await c.enqueueTask('flaky', {}, { delay: 3600 });
    expect(await c.drain()).toBe(0);
    await c.promote(delayed);
    expect(await c.drain()).toBe(1); // fails once, retries in ~60 s
    expect(await c.getTask(delayed)).toMatchObject({ status: 'queued', attempts: 1 });
    await c.promote(delayed);
    expect(await c.drain()).toBe(1);
    expect(await c.getTask(delayed)).toMatchObject({ status: 'succeeded', attempts: 2, result: 'ok' });
    await expect(c.promote(delayed)).rejects.toBeInstanceOf(StateError);
    await expect(c.promote(delayed)).rejects.toMatchObject({ code: 'INVALID_STATE', message: expect.stringContaining('succeeded') });
    await expect(c.promote('999999999')).rejects.toBeInstanceOf(NotFoundError);
    await expect(c.promote('abc')).rejects.toMatchObject({ field: 'id' });
    await c.close();
  });

  it('deleteTask removes a finished or cancelled task; refuses queued and running ones', async () => {
    const c = await testCourier();
    c.registerTask('t', () => 'done');
    const finished = await c.enqueueTask('t', {});
    await c.drain();
    const cancelled = await c.enqueueTask('t', {}, { delay: 60 });
    await c.cancel(cancelled);
    const queued = await c.enqueueTask('t', {}, { delay: 60 });
    await c.deleteTask(finished);
    await c.deleteTask(cancelled);
    expect(await c.getTask(finished)).toBeNull();
    expect(await c.getTask(cancelled)).toBeNull();
    await expect(c.deleteTask(queued)).rejects.toMatchObject({ code: 'INVALID_STATE', message: expect.stringContaining('cancel it first') });
    expect(await c.getTask(queued)).toMatchObject({ status: 'queued' });
    await expect(c.deleteTask(finished)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await c.close();
  });
});

describe('calls before migrate()', () => {
  it('every call fails with NotMigratedError (code NOT_MIGRATED) that says how to fix it', async () => {
    const c = createCourier({ connectionString: databaseUrl(), schema: freshSchema('unmigrated') });
    c.registerTask('t', () => {});
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['enqueueTask', () => c.enqueueTask('t', {})],
      ['enqueueMany', () => c.enqueueMany([{ name: 't' }])],
      ['getTask', () => c.getTask('1')],
      ['listTasks', () => c.listTasks()],
      ['cancel', () => c.cancel('1')],
      ['retry', () => c.retry('1')],
      ['promote', () => c.promote('1')],
      ['deleteTask', () => c.deleteTask('1')],
      ['queueStatus', () => c.queueStatus()],
      ['configureQueue', () => c.configureQueue('q', { concurrency: 1 })],
      ['listQueues', () => c.listQueues()],
      ['schedule', () => c.schedule('s', '* * * * *', 't')],
      ['listSchedules', () => c.listSchedules()],
      ['cleanup', () => c.cleanup()],
      ['workers', () => c.workers()],
      ['metrics', () => c.metrics()],
      ['runOnce', () => c.runOnce()],
      ['runMaintenance', () => c.runMaintenance()],
      ['start', () => c.start({ schedules: false, cleanup: false })],
      ['start with schedules', () => c.start()],
    ];
    for (const [what, call] of calls) {
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, what).toBeInstanceOf(NotMigratedError);
      expect(err, what).toMatchObject({ code: 'NOT_MIGRATED', message: expect.stringContaining('migrate') });
    }
    expect(c.health().running).toBe(false);
    await c.close();
  });

  it('createCourier({ migrate: true }) migrates before its first statement, once', async () => {
    const schema = freshSchema('auto');
    const c = createCourier({ connectionString: databaseUrl(), schema, migrate: true });
    c.registerTask('t', () => 'ran');
    const [a, b] = await Promise.all([c.enqueueTask('t', {}), c.enqueueTask('t', {})]);
    expect(await c.drain()).toBe(2);
    expect(await c.getTask(a as string)).toMatchObject({ status: 'succeeded', result: 'ran' });
    expect(await c.getTask(b as string)).toMatchObject({ status: 'succeeded' });
    expect(await c.migrate()).toEqual([]);
    await c.close();
    const s = createCourier({ connectionString: databaseUrl(), schema: freshSchema('auto'), migrate: true });
    await s.start({ pollInterval: 1, schedules: false, cleanup: false }); // the processor's own statements come first
    expect(s.health().running).toBe(true);
    await s.close();
    expect(() => createCourier({ connectionString: databaseUrl(), migrate: 'yes' as never })).toThrow(expect.objectContaining({ field: 'migrate' }));
  });
});

describe('connection strings', () => {
  it.each([
    ['not a url', /postgres:\/\/ or postgresql:\/\/ URL/],
    ['mysql://admin:s3cret-pw@db.example.com/app', /not mysql:\/\//],
    ['postgres://admin:s3cret/pw@db.example.com/app', /host:port/],
    ['postgres://admin:s3cret%zz@db.example.com/app', /%-escape/],
    ['postgres://admin:s3cret-pw@db.example.com:70000/app', /port/],
  ])('%s is refused up front, without echoing it', (url, expected) => {
    const err = (() => {
      try {
        createCourier({ connectionString: url });
      } catch (e) {
        return e as ValidationError;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect(err?.field).toBe('connectionString');
    expect(err?.message).toMatch(expected);
    expect(err?.message).not.toContain('s3cret');
  });

  it('DATABASE_URL is checked the same way, and named', () => {
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = 'mysql://u:s3cret@h/db';
    try {
      expect(() => createCourier()).toThrow(expect.objectContaining({ field: 'DATABASE_URL', message: expect.not.stringContaining('s3cret') }));
    } finally {
      process.env.DATABASE_URL = saved;
    }
  });

  it('several hosts are accepted', () => {
    const c = createCourier({ connectionString: 'postgres://u:p@h1:5432,h2:5433/db?target_session_attrs=read-write' });
    void c.close();
  });
});

/** A logger whose `warn` lines can be awaited. */
function recordingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      for (const w of waiters.splice(0)) w();
      done();
    },
  });
  const nextLine = () => new Promise<void>((resolve) => waiters.push(resolve));
  return { logger: pino({ level: 'info' }, stream), lines, nextLine };
}

/** Forwards 127.0.0.1:`port` to the test database once started. */
function forwarder(port: number): { listen(): Promise<void>; close(): Promise<void> } {
  const target = new URL(databaseUrl());
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  return {
    listen: () =>
      new Promise((resolve) => {
        server = createServer((client) => {
          const upstream = tcpConnect(Number(target.port), target.hostname);
          for (const s of [client, upstream]) {
            sockets.add(s);
            s.on('error', () => {});
            s.on('close', () => sockets.delete(s));
          }
          client.pipe(upstream).pipe(client);
        });
        server.listen(port, '127.0.0.1', () => resolve());
      }),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        if (server) server.close(() => resolve());
        else resolve();
      }),
  };
}

describe('start() waits for Postgres', () => {
  it('with waitForDatabase it retries with backoff, logging each try, and starts once Postgres is up', async () => {
    const port = await freePort();
    const target = new URL(databaseUrl());
    target.host = `127.0.0.1:${port}`;
    const { logger, lines, nextLine } = recordingLogger();
    const migrated = await testCourier();
    await migrated.close();
    const c = createCourier({ connectionString: target.toString(), schema: migrated.schema, logger });
    c.registerTask('plain', (p) => p);
    const started = c.start({ waitForDatabase: 60, pollInterval: 0.1 });
    while (!lines.some((l) => l.msg === 'database not reachable yet; waiting')) await nextLine();
    const proxy = forwarder(port);
    await proxy.listen();
    await started;
    const waits = lines.filter((l) => l.msg === 'database not reachable yet; waiting');
    expect(waits[0]).toMatchObject({ level: 40, attempt: 1, retryIn: 0.5 });
    expect(JSON.stringify(lines)).not.toContain(target.password);
    const succeeded = new Promise<string>((resolve) => c.events.on('task:succeeded', (e) => resolve(e.id)));
    const id = await c.enqueueTask('plain', { up: true });
    expect(await succeeded).toBe(id);
    await c.close();
    await proxy.close();
  });

  it('gives up after the bounded time with the connection error; without the option it fails at once', async () => {
    const port = await freePort();
    const { logger, lines } = recordingLogger();
    const c = createCourier({ connectionString: `postgres://u:p@127.0.0.1:${port}/db`, schema: courier.schema, logger });
    const t0 = Date.now();
    await expect(c.start({ waitForDatabase: 1.2 })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(lines.filter((l) => l.msg === 'database not reachable yet; waiting').map((l) => l.attempt)).toEqual([1, 2]);
    lines.length = 0;
    await expect(c.start()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(lines.filter((l) => l.msg === 'database not reachable yet; waiting')).toEqual([]);
    await expect(c.start({ waitForDatabase: -1 })).rejects.toMatchObject({ field: 'waitForDatabase' });
    await c.close();
  });
});

describe('embedded Postgres as root', () => {
  it('EACCES names the folder the server user cannot enter and how to fix it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgcourier-eacces-'));
    const closed = join(dir, 'home');
    await mkdir(join(closed, 'project', 'node_modules'), { recursive: true });
    await chmod(dir, 0o755);
    await chmod(closed, 0o700);
    const spawnError = Object.assign(new Error(`spawn ${join(closed, 'project', 'node_modules', 'initdb')} EACCES`), { code: 'EACCES', path: join(closed, 'project', 'node_modules', 'initdb') });
    const explained = (await explainEmbeddedFailure(spawnError, true)) as Error;
    expect(explained.message).toContain(`cannot read the folder ${closed}`);
    expect(explained.message).toContain(`chmod o+rx ${closed}`);
    expect(explained.message).toMatch(/non-root user|DATABASE_URL/);
    expect(explained.cause).toBe(spawnError);
    expect(await explainEmbeddedFailure(spawnError, false)).toBe(spawnError);
    const other = new Error('initdb: invalid locale');
    expect(await explainEmbeddedFailure(other, true)).toBe(other);
    await rm(dir, { recursive: true, force: true });
  });
});
