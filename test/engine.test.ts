import { Kysely, PostgresDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadMigrations } from '../src/db/migrate.js';
import { type Courier, defineTask, PermanentError, retryAfter } from '../src/index.js';
import { testCourier, waitFor } from './helpers/db.js';

let courier: Courier;
const runs: Array<{ id: string; attempt: number; at: number }> = [];

beforeAll(async () => {
  courier = await testCourier();
  courier.registerTask('record', async (_p, ctx) => {
    runs.push({ id: ctx.taskId, attempt: ctx.attempt, at: Date.now() });
    return { ok: true, attempt: ctx.attempt };
  });
});
afterAll(async () => {
  await courier.close({ grace: 0 });
});

const taskCount = async () => Number((await courier.pool.query(`SELECT count(*) AS n FROM "${courier.schema}".tasks`)).rows[0].n);

describe('enqueue and read', () => {
  it('stores the task with defaults and returns an opaque string id', async () => {
    const id = await courier.enqueueTask('record', { a: 1 });
    expect(typeof id).toBe('string');
    const task = await courier.getTask(id);
    expect(task).toMatchObject({ id, name: 'record', queue: 'default', payload: { a: 1 }, priority: 5, status: 'queued', attempts: 0, maxRetries: 3, result: null, errors: [] });
    expect(task?.createdAt).toBeInstanceOf(Date);
    expect(await courier.getTask('999999999')).toBeNull();
    expect(await courier.getTask('not-an-id')).toBeNull();
    await courier.cancel(id);
  });

  it('runs a task to succeeded with its result and timestamps', async () => {
    const id = await courier.enqueueTask('record', {});
    expect(await courier.runOnce({ limit: 10 })).toBe(1);
    const task = await courier.getTask(id);
    expect(task).toMatchObject({ status: 'succeeded', attempts: 1, result: { ok: true, attempt: 1 } });
    expect(task?.startedAt).toBeInstanceOf(Date);
    expect(task?.finishedAt?.getTime()).toBeGreaterThanOrEqual(task?.startedAt?.getTime() ?? Infinity);
  });

  it('enqueueMany writes every task in one statement and returns ids in input order', async () => {
    const ids = await courier.enqueueMany(Array.from({ length: 50 }, (_, i) => ({ name: 'record', payload: { i }, options: { priority: 1 + (i % 10) } })));
    expect(ids).toHaveLength(50);
    for (const [i, id] of ids.entries()) expect((await courier.getTask(id))?.payload).toEqual({ i });
    expect(await courier.drain()).toBe(50);
  });
});

describe('transactional enqueue', () => {
  it('a rolled-back pg transaction leaves no task; a committed one runs', async () => {
    const before = await taskCount();
    const client = await courier.pool.connect();
    try {
      await client.query('BEGIN');
      const lost = await courier.enqueueTask('record', { tx: 'rollback' }, { tx: client });
      await client.query('ROLLBACK');
      expect(await courier.getTask(lost)).toBeNull();
      expect(await taskCount()).toBe(before);

      await client.query('BEGIN');
      const kept = await courier.enqueueTask('record', { tx: 'commit' }, { tx: client });
      expect(await courier.getTask(kept)).toBeNull(); // invisible outside until commit
      await client.query('COMMIT');
      await courier.drain();
      expect((await courier.getTask(kept))?.status).toBe('succeeded');
    } finally {
      client.release();
    }
  });

  it('joins a Kysely transaction', async () => {
    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: courier.pool }) });
    const before = await taskCount();
    await expect(
      db.transaction().execute(async (trx) => {
        await courier.enqueueTask('record', { k: 1 }, { tx: trx });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await taskCount()).toBe(before);
    const id = await db.transaction().execute((trx) => courier.enqueueTask('record', { k: 2 }, { tx: trx }));
    expect((await courier.getTask(id))?.status).toBe('queued');
    await courier.drain();
  });
});

describe('validation', () => {
  const bad: Array<[string, () => Promise<unknown>, string]> = [
    ['unknown task', () => courier.enqueueTask('nope', {}), 'name'],
    ['priority 0', () => courier.enqueueTask('record', {}, { priority: 0 }), 'priority'],
    ['priority 11', () => courier.enqueueTask('record', {}, { priority: 11 }), 'priority'],
    ['fractional priority', () => courier.enqueueTask('record', {}, { priority: 2.5 }), 'priority'],
    ['negative maxRetries', () => courier.enqueueTask('record', {}, { maxRetries: -1 }), 'maxRetries'],
    ['bad runAt', () => courier.enqueueTask('record', {}, { runAt: 'tomorrow-ish' }), 'runAt'],
    ['invalid Date', () => courier.enqueueTask('record', {}, { runAt: new Date('x') }), 'runAt'],
    ['unknown option', () => courier.enqueueTask('record', {}, { prio: 1 } as never), 'prio'],
    ['bad queue name', () => courier.enqueueTask('record', {}, { queue: "x'; drop table" }), 'queue'],
    ['NUL in payload', () => courier.enqueueTask('record', { s: 'a\u0000b' }), 'payload'],
    ['non-JSON payload', () => courier.enqueueTask('record', { n: 1n }), 'payload'],
    ['bad tx', () => courier.enqueueTask('record', {}, { tx: {} }), 'tx'],
  ];
  for (const [what, call, field] of bad) {
    it(`rejects ${what} naming "${field}" and writes nothing`, async () => {
      const before = await taskCount();
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ name: expect.stringMatching(/ValidationError|UnknownTaskError/), field });
      expect((err as Error).message).toContain(field);
      expect(await taskCount()).toBe(before);
    });
  }

  it('checks payloads against the task schema, naming the path', async () => {
    courier.registerTask(defineTask({ name: 'typed', payload: z.object({ userId: z.number() }), handler: () => {} }));
    const err = await courier.enqueueTask('typed', { userId: 'x' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ValidationError', field: 'payload.userId' });
    const before = await taskCount();
    await expect(courier.enqueueMany([{ name: 'record', payload: {} }, { name: 'typed', payload: {} }])).rejects.toMatchObject({ field: 'items.1.payload.userId' });
    await expect(courier.enqueueMany([{ name: 'record', payload: {} }, { name: 'nope', payload: {} }])).rejects.toMatchObject({ name: 'UnknownTaskError', field: 'items.1.name' });
    await expect(courier.enqueueMany([{ name: 'record', payload: {}, options: { prio: 1 } as never }])).rejects.toMatchObject({ field: 'items.0.options.prio' });
    expect(await taskCount()).toBe(before);
  });
});

describe('order', () => {
  it('runs by priority, then run_at, then id; delayed tasks never start early', async () => {
    const c = await testCourier();
    const order: string[] = [];
    c.registerTask('o', (p: { tag: string }) => void order.push(p.tag));
    const past = (s: number) => new Date(Date.now() - s * 1000);
    await c.enqueueTask('o', { tag: 'p5-old' }, { priority: 5, runAt: past(20) });
    await c.enqueueTask('o', { tag: 'p5-new' }, { priority: 5, runAt: past(10) });
    await c.enqueueTask('o', { tag: 'p1-a' }, { priority: 1, runAt: past(5) });
    await c.enqueueTask('o', { tag: 'p1-b' }, { priority: 1, runAt: past(5) });
    await c.enqueueTask('o', { tag: 'p10' }, { priority: 10, runAt: past(100) });
    const runAt = new Date(Date.now() + 1500);
    const delayed = await c.enqueueTask('o', { tag: 'delayed' }, { priority: 1, runAt });
    await c.drain();
    expect(order).toEqual(['p1-a', 'p1-b', 'p5-old', 'p5-new', 'p10']);
    expect((await c.getTask(delayed))?.status).toBe('queued');
    await c.start({ pollInterval: 0.05 });
    await waitFor(async () => (await c.getTask(delayed))?.status === 'succeeded', 5000);
    expect((await c.getTask(delayed))?.startedAt?.getTime()).toBeGreaterThanOrEqual(runAt.getTime());
    await c.close();
  });
});

describe('retries', () => {
  it('a task that always throws runs 1 + maxRetries times with growing delays, then fails with its errors', async () => {
    const c = await testCourier();
    const starts: number[] = [];
    c.registerTask('boom', () => {
      starts.push(Date.now());
      throw new Error(`boom ${starts.length}`);
    });
    const id = await c.enqueueTask('boom', {}, { maxRetries: 3, retryDelay: 0.2 });
    await c.start({ pollInterval: 0.02 });
    await waitFor(async () => (await c.getTask(id))?.status === 'failed', 10_000);
    expect(await c.getTask(id)).toMatchObject({ attempts: 4, lastError: 'Error: boom 4' });
    await c.close();
    expect(starts).toHaveLength(4);
    const gaps = starts.slice(1).map((t, i) => t - (starts[i] as number));
    expect(gaps[0]).toBeGreaterThanOrEqual(200);
    expect(gaps[1]).toBeGreaterThan(gaps[0] as number);
    expect(gaps[2]).toBeGreaterThan(gaps[1] as number);
  });

  it('backoff at enqueue (fixed) and on the definition (a function), with maxDelay: the stored run_at of each retry follows it', async () => {
    const c = await testCourier();
    c.registerTask('boom', () => {
      throw new Error('boom');
    });
    c.registerTask(
      defineTask({
        name: 'curved',
        retryDelay: 100,
        maxDelay: 250,
        backoff: (attempt) => attempt * 100,
        handler: () => {
          throw new Error('curved');
        },
      }),
    );
    // The delay a retry got is run_at − the failed attempt's end; read it right after each attempt.
    const delays = async (id: string, attempts: number) => {
      const out: number[] = [];
      for (let i = 0; i < attempts; i++) {
        await c.runTaskNow(id);
        const { rows } = await c.pool.query<{ wait: number }>(`SELECT extract(epoch FROM run_at - updated_at)::float8 AS wait FROM ${c.names.tasks} WHERE id = $1`, [id]);
        out.push(Math.round(rows[0]?.wait ?? -1));
      }
      return out;
    };
    const fixed = await c.enqueueTask('boom', {}, { maxRetries: 5, retryDelay: 30, backoff: 'fixed' });
    expect(await delays(fixed, 3)).toEqual([30, 30, 30]);
    const linear = await c.enqueueTask('boom', {}, { maxRetries: 5, retryDelay: 30, backoff: 'linear', maxDelay: 70 });
    const lin = await delays(linear, 3);
    expect(lin[0]).toBeGreaterThanOrEqual(30);
    expect(lin[0]).toBeLessThanOrEqual(38);
    expect(lin[1]).toBeGreaterThanOrEqual(60);
    expect(lin[2]).toBe(70);
    const curved = await c.enqueueTask('curved', {}, { maxRetries: 5 });
    expect(await delays(curved, 3)).toEqual([100, 200, 250]);
    await expect(c.enqueueTask('boom', {}, { backoff: ((n: number) => n) as never })).rejects.toMatchObject({ name: 'ValidationError', field: 'backoff' });
    await expect(c.enqueueTask('boom', {}, { backoff: 'cubic' as never })).rejects.toMatchObject({ name: 'ValidationError', field: 'backoff' });
    await c.close();
  });

  it('records attempts and the bounded error history', async () => {
    const c = await testCourier();
    c.registerTask('boom', (_p, ctx) => {
      throw new Error(`failure on attempt ${ctx.attempt}`);
    });
    const id = await c.enqueueTask('boom', {}, { maxRetries: 2, retryDelay: 0 });
    await c.drain();
    const task = await c.getTask(id);
    expect(task).toMatchObject({ status: 'failed', attempts: 3, lastError: 'Error: failure on attempt 3' });
    expect(task?.errors.map((e) => e.attempt)).toEqual([1, 2, 3]);
    expect(task?.finishedAt).toBeInstanceOf(Date);
    await c.close();
  });

  it('PermanentError fails at once', async () => {
    let calls = 0;
    courier.registerTask('permanent', () => {
      calls++;
      throw new PermanentError('no such user');
    });
    const id = await courier.enqueueTask('permanent', {}, { maxRetries: 5, retryDelay: 0 });
    await courier.drain();
    expect(calls).toBe(1);
    expect(await courier.getTask(id)).toMatchObject({ status: 'failed', attempts: 1, lastError: 'PermanentError: no such user' });
  });

  it('retryAfter reschedules exactly without using up a retry', async () => {
    let calls = 0;
    courier.registerTask('limited', () => {
      calls++;
      if (calls === 1) return retryAfter(2);
      if (calls === 2) throw retryAfter(0);
      return 'done';
    });
    const before = Date.now();
    const id = await courier.enqueueTask('limited', {}, { maxRetries: 0 });
    await courier.runOnce({ limit: 1 });
    const deferred = await courier.getTask(id);
    expect(deferred).toMatchObject({ status: 'queued', attempts: 1 });
    expect(deferred?.runAt.getTime()).toBeGreaterThanOrEqual(before + 2000 - 50);
    expect(deferred?.runAt.getTime()).toBeLessThan(Date.now() + 2000 + 50);
    await courier.pool.query(`UPDATE "${courier.schema}".tasks SET run_at = now() WHERE id = $1`, [id]);
    await courier.drain();
    expect(await courier.getTask(id)).toMatchObject({ status: 'succeeded', attempts: 3, result: 'done' });
    expect(calls).toBe(3);
  });
});

describe('handler context', () => {
  it('records progress and aborts ctx.signal on timeout, freeing the slot', async () => {
    courier.registerTask('slow', async (_p, ctx) => {
      await ctx.progress(1, 3);
      await new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
    });
    courier.registerTask('hang', () => new Promise(() => {}));
    const slow = await courier.enqueueTask('slow', {}, { timeout: 0.2, maxRetries: 0 });
    const hang = await courier.enqueueTask('hang', {}, { timeout: 0.2, maxRetries: 0 });
    await courier.drain();
    expect(await courier.getTask(slow)).toMatchObject({ status: 'failed', progress: { current: 1, total: 3 }, lastError: 'TaskTimeoutError: timed out after 0.2s' });
    expect(await courier.getTask(hang)).toMatchObject({ status: 'failed', lastError: 'TaskTimeoutError: timed out after 0.2s' });
  });

  it('fails cleanly on a result that is not JSON or too large', async () => {
    courier.registerTask('bigint', () => 1n);
    courier.registerTask('huge', () => 'x'.repeat(2 * 1024 * 1024));
    courier.registerTask('sync-throw', () => {
      throw 'plain string';
    });
    const a = await courier.enqueueTask('bigint', {});
    const b = await courier.enqueueTask('huge', {});
    const c = await courier.enqueueTask('sync-throw', {}, { maxRetries: 0 });
    await courier.drain();
    expect((await courier.getTask(a))?.lastError).toMatch(/not JSON-serialisable/);
    expect((await courier.getTask(b))?.lastError).toMatch(/limited to 1048576 bytes/);
    expect(await courier.getTask(c)).toMatchObject({ status: 'failed', lastError: 'plain string' });
  });
});

describe('dedup keys, cancel, retry, queue status', () => {
  it('keeps or replaces the live task with the same key', async () => {
    const a = await courier.enqueueTask('record', { v: 1 }, { key: 'k1' });
    const b = await courier.enqueueTask('record', { v: 2 }, { key: 'k1' });
    expect(b).toBe(a);
    expect((await courier.getTask(a))?.payload).toEqual({ v: 1 });
    const c = await courier.enqueueTask('record', { v: 3 }, { key: 'k1', keyMode: 'replace', priority: 2 });
    expect(c).toBe(a);
    expect(await courier.getTask(a)).toMatchObject({ payload: { v: 3 }, priority: 2 });
    const many = await courier.enqueueMany([
      { name: 'record', payload: {}, options: { key: 'k1' } },
      { name: 'record', payload: {} },
      { name: 'record', payload: {}, options: { key: 'k2' } },
      { name: 'record', payload: {}, options: { key: 'k2' } },
    ]);
    expect(many[0]).toBe(a);
    expect(many[2]).toBe(many[3]);
    expect(new Set(many).size).toBe(3);
    await courier.drain();
    const d = await courier.enqueueTask('record', { v: 4 }, { key: 'k1' });
    expect(d).not.toBe(a); // the key is free once the task finished
    await courier.drain();
  });

  it('cancels queued tasks and retries failed ones', async () => {
    const id = await courier.enqueueTask('record', {});
    expect(await courier.cancel(id)).toBe(true);
    expect(await courier.cancel(id)).toBe(false);
    expect(await courier.runOnce()).toBe(0);
    expect((await courier.getTask(id))?.status).toBe('cancelled');
    expect(await courier.retry(id)).toBe(true);
    await courier.drain();
    expect(await courier.getTask(id)).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(await courier.retry(id)).toBe(false);
  });

  it('counts per queue and status', async () => {
    const c = await testCourier();
    c.registerTask('t', () => {});
    await c.enqueueMany([
      { name: 't', payload: {}, options: { queue: 'a' } },
      { name: 't', payload: {}, options: { queue: 'a' } },
      { name: 't', payload: {}, options: { queue: 'b' } },
    ]);
    await c.runOnce({ limit: 1 });
    const s = await c.queueStatus();
    expect(s.queues.a).toMatchObject({ queued: 1, succeeded: 1, total: 2, last24h: 2 });
    expect(s.queues.b).toMatchObject({ queued: 1, total: 1 });
    expect(s.total).toMatchObject({ queued: 2, succeeded: 1, total: 3 });
    await c.close();
  });
});

describe('migrations', () => {
  it('two concurrent migrate() calls both succeed and a second run is a no-op', async () => {
    const c = await testCourier();
    const schema = `${c.schema}_m`;
    const a = (await import('../src/index.js')).createCourier({ pool: c.pool, schema });
    const b = (await import('../src/index.js')).createCourier({ pool: c.pool, schema });
    const [ra, rb] = await Promise.all([a.migrate(), b.migrate()]);
    const all = (await loadMigrations()).map((m) => m.version);
    expect(all.length).toBeGreaterThan(1);
    // One caller applied everything, the other found nothing left to do.
    expect([ra, rb].sort((x, y) => x.length - y.length)).toEqual([[], all]);
    expect(await a.migrate()).toEqual([]);
    await c.close();
  });
});

describe('list', () => {
  it('filters and pages newest first with a stable cursor', async () => {
    const c = await testCourier();
    c.registerTask('t', () => {});
    c.registerTask('u', () => {});
    const ids = await c.enqueueMany(Array.from({ length: 7 }, (_, i) => ({ name: i % 2 ? 'u' : 't', payload: { i }, options: { queue: i < 5 ? 'a' : 'b' } })));
    const first = await c.listTasks({ queue: 'a', limit: 2 });
    expect(first.tasks.map((t) => t.id)).toEqual([ids[4], ids[3]]);
    const second = await c.listTasks({ queue: 'a', limit: 2, cursor: first.nextCursor ?? undefined });
    expect(second.tasks.map((t) => t.id)).toEqual([ids[2], ids[1]]);
    const last = await c.listTasks({ queue: 'a', limit: 2, cursor: second.nextCursor ?? undefined });
    expect(last).toMatchObject({ nextCursor: null, tasks: [{ id: ids[0] }] });
    expect((await c.listTasks({ name: 'u' })).tasks).toHaveLength(3);
    expect((await c.listTasks({ status: 'succeeded' })).tasks).toHaveLength(0);
    expect((await c.listTasks({ createdAfter: new Date(Date.now() + 60_000) })).tasks).toHaveLength(0);
    await expect(c.listTasks({ status: 'done' as never })).rejects.toMatchObject({ field: 'status' });
    await expect(c.listTasks({ limit: 0 })).rejects.toMatchObject({ field: 'limit' });
    await expect(c.listTasks({ cursor: "1'" })).rejects.toMatchObject({ field: 'cursor' });
    await c.close();
  });
});
